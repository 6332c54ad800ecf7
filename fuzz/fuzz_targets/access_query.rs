//! Fuzzes the access checks that read what a peer puts in its URL: the
//! query string (`?key=`, `?expires=&sign=`), the stream key, and the
//! peer's address against allow/deny networks.
//!
//! The first input byte picks publish or play and the peer address; the
//! rest is `{app}/{stream}?{query}` as a client sends it. One [`Access`]
//! with every kind of rule (signed, keys, loopback, deny, networks) and no
//! callbacks is built once; without callbacks every verdict must be ready
//! at the first poll, so no runtime is needed. Errors (refusals) are fine;
//! panics are bugs, and so is a request allowed without the credential
//! its rule asks for, or a genuine credential refused.

#![no_main]

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::OnceLock;
use std::task::{Context, Poll, Waker};
use std::time::{SystemTime, UNIX_EPOCH};

use libfuzzer_sys::fuzz_target;
use weir_access::{sign, Access, AppConfig, AuthConfig, Mode, RuleConfig};
use weir_hub::{AccessRequest, Action, Denied, Gate};
use weir_media::StreamKey;

const SECRET: &str = "fuzz-secret-0123456789";
const KEYS: [&str; 2] = ["k1", "s3cr=t&ключ"];
/// Never allowed, whatever the rule.
const DENIED_NET: &str = "192.0.2.0/28";
/// Far enough ahead that the honest signature never expires while fuzzing.
const FAR: u64 = 4_102_444_800;

const ADDRS: [&str; 8] = [
    "127.0.0.1:1",
    "[::1]:2",
    "[::ffff:127.0.0.1]:3",
    "192.0.2.5:4",
    "[::ffff:192.0.2.5]:5",
    "198.51.100.7:6",
    "[2001:db8::7]:7",
    "10.9.8.7:8",
];

fn rule(mode: Mode) -> RuleConfig {
    RuleConfig {
        mode,
        keys: KEYS.iter().map(|k| k.to_string()).collect(),
        secret: SECRET.into(),
        allow: Vec::new(),
        deny: vec![DENIED_NET.into()],
    }
}

/// Apps: the default (signed publish, keys play), `open` (open play,
/// nobody publishes), `lo` (loopback publish, play only from 10/8 and
/// loopback).
fn access() -> &'static Access {
    static ACCESS: OnceLock<Access> = OnceLock::new();
    ACCESS.get_or_init(|| {
        let app = |publish, play| AppConfig {
            publish,
            play,
            ..AppConfig::default()
        };
        let mut lo_play = rule(Mode::Open);
        lo_play.allow = vec!["10.0.0.0/8".into(), "127.0.0.1".into(), "::1".into()];
        let cfg = AuthConfig {
            default: app(rule(Mode::Signed), rule(Mode::Keys)),
            apps: BTreeMap::from([
                ("open".into(), app(rule(Mode::Deny), rule(Mode::Open))),
                ("lo".into(), app(rule(Mode::Loopback), lo_play)),
            ]),
            ..AuthConfig::default()
        };
        Access::new(&cfg).expect("valid config")
    })
}

fn verdict(req: &AccessRequest) -> Result<(), Denied> {
    let mut fut = access().check(req);
    match fut.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(v) => v,
        Poll::Pending => panic!("a verdict without callbacks must be ready"),
    }
}

fn first(query: &str, name: &str) -> Option<String> {
    form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fuzz_target!(|data: &[u8]| {
    let Some((&control, input)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(input) else {
        return;
    };
    let (path, query) = text.split_once('?').unwrap_or((text, ""));
    let Ok(key) = StreamKey::parse(path) else {
        return;
    };
    let action = if control & 1 == 0 {
        Action::Publish
    } else {
        Action::Play
    };
    let addr: SocketAddr = ADDRS[usize::from(control >> 1) % ADDRS.len()]
        .parse()
        .unwrap();
    let ip = match addr.ip() {
        std::net::IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(addr.ip(), Into::into),
        v4 => v4,
    };
    let denied = DENIED_NET.parse::<ipnet::IpNet>().unwrap().contains(&ip);
    let mut req = AccessRequest {
        action,
        key: key.clone(),
        client_id: u64::from(control),
        addr,
        protocol: "fuzz",
        query: query.to_owned(),
    };
    let before = now();
    let got = verdict(&req);
    access().ended(&req);

    let mode = match (key.app(), action) {
        ("open", Action::Publish) => Mode::Deny,
        ("open", Action::Play) => Mode::Open,
        ("lo", Action::Publish) => Mode::Loopback,
        ("lo", Action::Play) => Mode::Open,
        (_, Action::Publish) => Mode::Signed,
        (_, Action::Play) => Mode::Keys,
    };
    let lo_play_allowed =
        ip.is_loopback() || "10.0.0.0/8".parse::<ipnet::IpNet>().unwrap().contains(&ip);
    let address_ok = !denied && (key.app() != "lo" || action == Action::Publish || lo_play_allowed);
    if !address_ok {
        assert!(got.is_err(), "{addr} passed its address lists");
        return;
    }
    // What a genuine client of this rule would add to the same query.
    let honest = match mode {
        Mode::Open => {
            assert!(got.is_ok(), "open rule refused: {got:?}");
            return;
        }
        Mode::Deny => {
            assert!(got.is_err(), "deny rule allowed");
            return;
        }
        Mode::Loopback => {
            assert_eq!(got.is_ok(), ip.is_loopback(), "loopback rule for {addr}");
            return;
        }
        Mode::Keys => {
            if got.is_ok() {
                let given = first(query, "key").expect("allowed without ?key=");
                assert!(KEYS.contains(&given.as_str()), "allowed key {given:?}");
            }
            format!(
                "key={}&{query}",
                form_urlencoded::byte_serialize(KEYS[1].as_bytes()).collect::<String>()
            )
        }
        Mode::Signed => {
            if got.is_ok() {
                let expires: u64 = first(query, "expires")
                    .and_then(|e| e.parse().ok())
                    .expect("allowed without a valid ?expires=");
                let given = first(query, "sign").expect("allowed without &sign=");
                assert_eq!(given.to_ascii_lowercase(), sign(SECRET, &key, expires));
                assert!(expires >= before, "allowed an expired signature");
            }
            format!("expires={FAR}&sign={}&{query}", sign(SECRET, &key, FAR))
        }
    };
    req.query = honest;
    assert_eq!(
        verdict(&req),
        Ok(()),
        "genuine credential refused: {}",
        req.query
    );
});
