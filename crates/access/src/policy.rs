//! The local part of a decision: address lists, stream keys and signed
//! URLs. Pure functions of the request, the rule and the current time, so
//! that every case is a plain unit test.

use std::net::IpAddr;

use hmac::{Hmac, Mac};
use sha2::Sha256;
use weir_hub::{AccessRequest, Denied};
use weir_media::StreamKey;

use crate::config::{Mode, Rule};

type HmacSha256 = Hmac<Sha256>;

/// The value of the first `name=` parameter of a query string, decoded.
pub(crate) fn param(query: &str, name: &str) -> Option<String> {
    form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// An IPv4 peer seen through a dual-stack socket (`::ffff:1.2.3.4`) is
/// judged by its IPv4 address, so that "10.0.0.0/8" matches it.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// Checks `req` against `rule` at `now` (Unix seconds). The deciding
/// callback, if the rule has one, is the caller's next step.
pub(crate) fn decide(rule: &Rule, req: &AccessRequest, now: u64) -> Result<(), Denied> {
    let ip = canonical(req.addr.ip());
    if rule.deny.iter().any(|net| net.contains(&ip)) {
        return Err(Denied::new(format!("address {ip} is denied")));
    }
    if !rule.allow.is_empty() && !rule.allow.iter().any(|net| net.contains(&ip)) {
        return Err(Denied::new(format!("address {ip} is not allowed")));
    }
    match rule.mode {
        Mode::Open => Ok(()),
        Mode::Loopback if ip.is_loopback() => Ok(()),
        Mode::Loopback => Err(Denied::new(format!(
            "{} is allowed only from this machine (configure [auth] to allow others)",
            req.action.as_str()
        ))),
        Mode::Deny => Err(Denied::new(format!("{} is disabled", req.action.as_str()))),
        Mode::Keys => {
            let given = param(&req.query, "key").ok_or_else(|| Denied::new("missing ?key="))?;
            // Compare MACs of the keys rather than the keys: the time taken
            // then says nothing about how much of a key was right.
            let digest = |s: &str| {
                let mut mac =
                    HmacSha256::new_from_slice(b"weir key comparison").expect("any length");
                mac.update(s.as_bytes());
                mac.finalize().into_bytes()
            };
            let given = digest(&given);
            if rule.keys.iter().any(|k| digest(k) == given) {
                Ok(())
            } else {
                Err(Denied::new("wrong stream key"))
            }
        }
        Mode::Signed => check_signature(&rule.secret, &req.key, &req.query, now),
    }
}

/// The signature of `key` valid until `expires`: lowercase hex of
/// HMAC-SHA256(secret, "{app}/{stream}:{expires}").
pub fn sign(secret: &str, key: &StreamKey, expires: u64) -> String {
    hex::encode(mac(secret, key, expires).finalize().into_bytes())
}

fn mac(secret: &str, key: &StreamKey, expires: u64) -> HmacSha256 {
    let mut mac = HmacSha256::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(format!("{key}:{expires}").as_bytes());
    mac
}

fn check_signature(secret: &str, key: &StreamKey, query: &str, now: u64) -> Result<(), Denied> {
    let expires = param(query, "expires").ok_or_else(|| Denied::new("missing ?expires="))?;
    let expires: u64 = expires
        .parse()
        .map_err(|_| Denied::new("expires is not a Unix time"))?;
    let sign = param(query, "sign").ok_or_else(|| Denied::new("missing &sign="))?;
    let sign = hex::decode(sign).map_err(|_| Denied::new("sign is not hex"))?;
    // Verify first so that an expired URL with a forged signature and an
    // expired genuine one are told apart in the logs.
    mac(secret, key, expires)
        .verify_slice(&sign)
        .map_err(|_| Denied::new("bad signature"))?;
    if expires < now {
        return Err(Denied::new(format!(
            "signature expired {} s ago",
            now - expires
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::parse_net;
    use weir_hub::Action;

    const SECRET: &str = "0123456789abcdef-secret";

    fn rule(mode: Mode) -> Rule {
        Rule {
            mode,
            keys: vec!["k1".into(), "k2".into()],
            secret: SECRET.into(),
            allow: Vec::new(),
            deny: Vec::new(),
            hook: None,
        }
    }

    fn req(addr: &str, query: &str) -> AccessRequest {
        AccessRequest {
            action: Action::Publish,
            key: StreamKey::new("live", "cam").unwrap(),
            client_id: 1,
            addr: addr.parse().unwrap(),
            protocol: "rtmp",
            query: query.into(),
        }
    }

    #[test]
    fn loopback_allows_only_this_machine() {
        let r = rule(Mode::Loopback);
        assert!(decide(&r, &req("127.0.0.1:5000", ""), 0).is_ok());
        assert!(decide(&r, &req("[::1]:5000", ""), 0).is_ok());
        assert!(decide(&r, &req("[::ffff:127.0.0.1]:5000", ""), 0).is_ok());
        let err = decide(&r, &req("192.0.2.1:5000", ""), 0).unwrap_err();
        assert!(err.reason.contains("only from this machine"), "{err}");
    }

    #[test]
    fn keys_must_match_one_of_the_list() {
        let r = rule(Mode::Keys);
        assert!(decide(&r, &req("192.0.2.1:1", "key=k2"), 0).is_ok());
        assert!(decide(&r, &req("192.0.2.1:1", "a=b&key=k1"), 0).is_ok());
        assert_eq!(
            decide(&r, &req("192.0.2.1:1", "key=k3"), 0)
                .unwrap_err()
                .reason,
            "wrong stream key"
        );
        assert!(decide(&r, &req("192.0.2.1:1", ""), 0).is_err());
    }

    #[test]
    fn signed_urls_verify_and_expire() {
        let r = rule(Mode::Signed);
        let key = StreamKey::new("live", "cam").unwrap();
        let good = format!("expires=1000&sign={}", sign(SECRET, &key, 1000));
        assert!(decide(&r, &req("192.0.2.1:1", &good), 999).is_ok());
        assert!(decide(&r, &req("192.0.2.1:1", &good), 1000).is_ok());
        let late = decide(&r, &req("192.0.2.1:1", &good), 1060).unwrap_err();
        assert!(late.reason.contains("expired 60 s ago"), "{late}");
        // Another stream's signature, a changed expiry, another secret.
        let other = StreamKey::new("live", "cam2").unwrap();
        for q in [
            format!("expires=1000&sign={}", sign(SECRET, &other, 1000)),
            format!("expires=2000&sign={}", sign(SECRET, &key, 1000)),
            format!(
                "expires=1000&sign={}",
                sign("another-secret-xx", &key, 1000)
            ),
            "expires=1000&sign=zz".to_string(),
            "expires=soon&sign=00".to_string(),
            "sign=00".to_string(),
        ] {
            assert!(decide(&r, &req("192.0.2.1:1", &q), 0).is_err(), "{q}");
        }
    }

    #[test]
    fn signature_is_hmac_sha256_of_key_and_expiry() {
        // Independently computed with: printf 'live/cam:1000' |
        //   openssl dgst -sha256 -hmac 0123456789abcdef-secret
        let key = StreamKey::new("live", "cam").unwrap();
        assert_eq!(
            sign(SECRET, &key, 1000),
            "0ead1e030b9c38362ceaa6993e844396bb164795f7af3b9ff8523f39a99f59bc"
        );
    }

    #[test]
    fn deny_wins_over_allow_and_allow_limits() {
        let mut r = rule(Mode::Open);
        r.allow = vec![parse_net("10.0.0.0/8").unwrap()];
        r.deny = vec![parse_net("10.1.0.0/16").unwrap()];
        assert!(decide(&r, &req("10.2.0.1:1", ""), 0).is_ok());
        assert!(decide(&r, &req("[::ffff:10.2.0.1]:1", ""), 0).is_ok());
        assert!(decide(&r, &req("10.1.0.1:1", ""), 0)
            .unwrap_err()
            .reason
            .contains("denied"));
        assert!(decide(&r, &req("192.0.2.1:1", ""), 0)
            .unwrap_err()
            .reason
            .contains("not allowed"));
    }

    #[test]
    fn deny_mode_refuses_everybody() {
        assert!(decide(&rule(Mode::Deny), &req("127.0.0.1:1", ""), 0).is_err());
    }
}
