//! Wiring of the chat (`weir-server-chat`) into the HTTP listener: its
//! settings from `[chat]`, and the moderation check, which is the API's
//! bearer token so that chat moderation needs the same credential as the
//! other mutating API calls.

use std::sync::Arc;

use axum::http::{header, HeaderMap};
use tokio_util::sync::CancellationToken;
use weir_hub::Hub;
use weir_server_chat::{Authorizer, ChatConfig, ChatServer};

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
        ..weir_server_chat::Config::default()
    }
}

/// Builds the chat server; its router goes into the HTTP listener.
pub fn server(cfg: &Config, hub: Hub, shutdown: CancellationToken) -> anyhow::Result<ChatServer> {
    let authorize: Option<Authorizer> = (!cfg.api.api_token.is_empty()).then(|| {
        let token = cfg.api.api_token.clone();
        Arc::new(move |headers: &HeaderMap| bearer_matches(headers, &token)) as Authorizer
    });
    Ok(ChatServer::new(
        hub,
        settings(&cfg.chat),
        shutdown,
        authorize,
    )?)
}

/// `Authorization: Bearer <token>` with the configured token, compared in
/// constant time.
fn bearer_matches(headers: &HeaderMap, token: &str) -> bool {
    let Some(given) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
    else {
        return false;
    };
    let (a, b) = (given.trim().as_bytes(), token.as_bytes());
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_token_must_match_exactly() {
        let mut h = HeaderMap::new();
        assert!(!bearer_matches(&h, "s3cret"));
        h.insert(header::AUTHORIZATION, "Bearer s3cret".parse().unwrap());
        assert!(bearer_matches(&h, "s3cret"));
        assert!(!bearer_matches(&h, "s3cre"));
        h.insert(header::AUTHORIZATION, "Basic s3cret".parse().unwrap());
        assert!(!bearer_matches(&h, "s3cret"));
    }
}
