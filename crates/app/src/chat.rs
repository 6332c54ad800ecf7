//! Wiring of the chat (`weir-server-chat`) into the HTTP listener: its
//! settings from `[chat]`, the moderation check, which is the API's own
//! ([`ApiAuth`]: console session cookie or bearer token) so that chat
//! moderation needs the same credential as the other mutating API calls,
//! and `weir chat-token`, which mints join tokens from the config's secret.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use axum::http::HeaderMap;
use bytes::Bytes;
use parking_lot::Mutex;
use tokio_util::sync::CancellationToken;
use weir_api::ApiAuth;
use weir_cluster::Cluster;
use weir_hub::Hub;
use weir_media::StreamKey;
use weir_server_chat::{
    Authorizer, ChatConfig, ChatServer, IdSlot, Relay, RelayFuture, RelayMsg, TokenKey,
};

use crate::cli::ChatTokenArgs;
use crate::config::{secs, ChatSection, Config};

/// The adapter's settings from `[chat]`.
pub fn settings(c: &ChatSection) -> weir_server_chat::Config {
    weir_server_chat::Config {
        chat: ChatConfig {
            history: c.history,
            rate_per_sec: c.rate,
            burst: c.burst,
            max_text: c.max_text,
            banned_words: c.banned_words.clone(),
            max_members: c.max_members,
        },
        heartbeat_timeout: secs(c.heartbeat_timeout_secs),
        send_queue: c.send_queue,
        write_pacing: std::time::Duration::from_millis(c.write_pacing_ms),
        tokens: token_key(c),
        public_url: (!c.public_url.is_empty()).then(|| c.public_url.clone()),
        ..weir_server_chat::Config::default()
    }
}

/// The join-token key, if `[chat] token_secret` is set.
fn token_key(c: &ChatSection) -> Option<TokenKey> {
    (!c.token_secret.is_empty()).then(|| TokenKey::new(c.token_secret.as_bytes()))
}

/// Builds the chat server; its router goes into the HTTP listener.
/// Moderation and token minting are guarded by `auth`, the API's check;
/// with no API credential configured they are off (403).
/// `id_slot` is this node's share of message ids (the cluster's).
pub fn server(
    cfg: &Config,
    hub: Hub,
    shutdown: CancellationToken,
    auth: &ApiAuth,
    id_slot: IdSlot,
) -> anyhow::Result<ChatServer> {
    let authorize: Option<Authorizer> = auth.enabled().then(|| {
        let auth = auth.clone();
        Arc::new(move |headers: &HeaderMap| auth.allows(headers)) as Authorizer
    });
    Ok(ChatServer::new(
        hub,
        weir_server_chat::Config {
            id_slot,
            ..settings(&cfg.chat)
        },
        shutdown,
        authorize,
    )?)
}

/// Id slots of a cluster's chat: every node holds one (claimed in Redis),
/// so at most this many nodes chat with ids that never collide.
pub const CHAT_ID_SLOTS: u32 = 256;
/// Messages (chat, deletes, mutes) a room's shared history keeps in Redis
/// for nodes that open the room later.
const SHARED_HISTORY: usize = 300;

/// The chat's relay over the cluster bus: room `app/stream` is channel
/// `chat:app/stream`, its shared history the list `history:app/stream`.
struct ClusterRelay {
    cluster: Cluster,
}

fn channel(room: &StreamKey) -> String {
    format!("chat:{room}")
}

impl Relay for ClusterRelay {
    fn open(&self, room: &StreamKey) {
        self.cluster.open(&channel(room));
    }

    fn close(&self, room: &StreamKey) {
        self.cluster.close(&channel(room));
    }

    fn send(&self, room: &StreamKey, msg: Bytes) {
        let kept = RelayMsg::decode(&msg).is_ok_and(|m| m.kept());
        let history = format!("history:{room}");
        let keep = kept.then_some((history.as_str(), SHARED_HISTORY));
        self.cluster.publish(&channel(room), &msg, keep);
    }

    fn remote_members(&self, room: &StreamKey) -> usize {
        self.cluster.room_members_elsewhere(room)
    }

    fn connected(&self) -> bool {
        self.cluster.connected()
    }

    fn history(&self, room: &StreamKey) -> RelayFuture<Vec<Bytes>> {
        let cluster = self.cluster.clone();
        let list = format!("history:{room}");
        Box::pin(async move { cluster.list(&list).await })
    }

    fn endpoint(&self, _room: &StreamKey) -> Option<String> {
        self.cluster.chat_endpoint()
    }
}

/// Makes `chat` one of the cluster's chat servers when the node is in a
/// cluster; returns what hands other nodes' messages to it.
pub fn join_cluster(chat: ChatServer, cluster: &Cluster) -> (ChatServer, weir_cluster::Deliver) {
    let chat = if cluster.enabled() {
        chat.with_relay(Arc::new(ClusterRelay {
            cluster: cluster.clone(),
        }))
    } else {
        chat
    };
    let receiver = chat.clone();
    let trouble = Mutex::new(None::<Instant>);
    let deliver: weir_cluster::Deliver = Arc::new(move |channel: &str, payload: Bytes| {
        let Some(room) = channel
            .strip_prefix("chat:")
            .and_then(weir_cluster::node::parse_key)
        else {
            return;
        };
        if let Err(e) = receiver.deliver(&room, &payload) {
            // Counted by the chat (`relay_errors`); logged once a minute.
            let mut last = trouble.lock();
            if last.is_none_or(|t| t.elapsed() >= Duration::from_secs(60)) {
                *last = Some(Instant::now());
                tracing::warn!(%room, error = %e, "chat: a message from another node was refused (one line a minute)");
            }
        }
    });
    (chat, deliver)
}

/// `weir chat-token`: prints a join token for a user in a room, signed with
/// `--secret` or the config's `[chat] token_secret`.
pub fn token_command(args: ChatTokenArgs) -> anyhow::Result<()> {
    let secret = match (&args.secret, &args.config) {
        (Some(secret), _) => secret.clone(),
        (None, config) => Config::load(config.as_deref())?.chat.token_secret,
    };
    anyhow::ensure!(
        !secret.is_empty(),
        "no token secret: pass --secret (or WEIR_CHAT_TOKEN_SECRET) or a --config with [chat] token_secret"
    );
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .context("the system clock is before 1970")?
        .as_secs();
    println!(
        "{}",
        mint(&secret, &args.room, &args.user, args.ttl_secs, now)?
    );
    Ok(())
}

/// The token for `user` in `room` (`app/stream`), valid `ttl_secs` from
/// `now` (unix seconds). The name is checked against the default nickname
/// rules, so a token is never minted for a name the room would refuse.
fn mint(secret: &str, room: &str, user: &str, ttl_secs: u64, now: u64) -> anyhow::Result<String> {
    let (app, stream) = room
        .split_once('/')
        .with_context(|| format!("room {room:?} must be app/stream"))?;
    let key = StreamKey::new(app, stream).with_context(|| format!("room {room:?}"))?;
    anyhow::ensure!(
        (1..=weir_server_chat::MAX_TOKEN_TTL_SECS).contains(&ttl_secs),
        "--ttl-secs must be between 1 and {}",
        weir_server_chat::MAX_TOKEN_TTL_SECS
    );
    anyhow::ensure!(
        user.trim() == user && !user.is_empty(),
        "the user name must not be empty or start or end with spaces"
    );
    // The default nickname rules; banned words are the server's business
    // (it checks them again on join).
    weir_server_chat::Rules::new(&ChatConfig::default())?
        .check_nick(user)
        .map_err(|e| anyhow::anyhow!("user {user:?}: {e}"))?;
    Ok(TokenKey::new(secret.as_bytes()).sign(&key.to_string(), user, now + ttl_secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minted_tokens_verify_for_their_room_and_user_only() {
        let token = mint("s3cret", "live/test", "alice", 60, 1_000).unwrap();
        assert!(token.starts_with("1060."), "{token}");
        let key = TokenKey::new(b"s3cret");
        assert!(key.verify("live/test", "alice", &token, 1_000).is_ok());
        assert!(key.verify("live/test", "bob", &token, 1_000).is_err());
        assert!(key.verify("live/test", "alice", &token, 1_060).is_err());
        assert!(mint("s3cret", "nostream", "alice", 60, 0).is_err());
        assert!(mint("s3cret", "live/test", "guest-1", 60, 0).is_err());
        assert!(mint("s3cret", "live/test", " alice", 60, 0).is_err());
        assert!(mint("s3cret", "live/test", "alice", 0, 0).is_err());
    }
}
