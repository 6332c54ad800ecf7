//! The `[auth]` section of the configuration file, and its checked form.

use std::collections::BTreeMap;
use std::time::Duration;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use crate::AccessError;

/// How a publish or play request proves it may go ahead.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Anybody.
    Open,
    /// Only clients on this machine (127.0.0.0/8, ::1): the default for
    /// publishing, so a fresh server on the internet is not a free relay.
    Loopback,
    /// The URL carries `?key=` with one of the rule's `keys`.
    Keys,
    /// The URL carries `?expires=UNIX&sign=HEX` where `sign` is
    /// HMAC-SHA256(secret, "{app}/{stream}:{expires}") and `expires` is
    /// not past.
    Signed,
    /// Nobody.
    Deny,
}

/// The rule for one action (publish or play) of one app.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RuleConfig {
    /// Which proof is needed.
    pub mode: Mode,
    /// Accepted `?key=` values, with `mode = "keys"`.
    pub keys: Vec<String>,
    /// HMAC secret, with `mode = "signed"`.
    pub secret: String,
    /// Only these addresses or networks ("10.0.0.0/8", "192.0.2.7"); empty
    /// means any.
    pub allow: Vec<String>,
    /// Never these addresses or networks; checked before `allow`.
    pub deny: Vec<String>,
}

impl RuleConfig {
    fn with_mode(mode: Mode) -> Self {
        RuleConfig {
            mode,
            keys: Vec::new(),
            secret: String::new(),
            allow: Vec::new(),
            deny: Vec::new(),
        }
    }
}

impl Default for RuleConfig {
    fn default() -> Self {
        Self::with_mode(Mode::Open)
    }
}

/// Rules and callbacks of one app.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AppConfig {
    /// Who may publish (default: loopback only).
    pub publish: RuleConfig,
    /// Who may play (default: anybody).
    pub play: RuleConfig,
    /// POSTed when an RTMP client connects (fire and forget).
    pub on_connect: String,
    /// POSTed before a publish is allowed; 2xx allows, anything else or no
    /// answer within the timeout refuses.
    pub on_publish: String,
    /// POSTed when a publisher stops (fire and forget).
    pub on_unpublish: String,
    /// POSTed before a viewer is served; 2xx allows.
    pub on_play: String,
    /// POSTed when a viewer stops (fire and forget).
    pub on_stop: String,
    /// POSTed when a recording file of the app's streams is closed (fire
    /// and forget), with its path and times: for uploads to object storage.
    pub on_record_done: String,
}

impl Default for AppConfig {
    fn default() -> Self {
        AppConfig {
            publish: RuleConfig::with_mode(Mode::Loopback),
            play: RuleConfig::with_mode(Mode::Open),
            on_connect: String::new(),
            on_publish: String::new(),
            on_unpublish: String::new(),
            on_play: String::new(),
            on_stop: String::new(),
            on_record_done: String::new(),
        }
    }
}

/// `[auth]`: a default for every app, and apps with their own rules (an
/// app's entry replaces the default entirely).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthConfig {
    /// Rules of apps without an entry in `apps`.
    pub default: AppConfig,
    /// Rules per app name.
    pub apps: BTreeMap<String, AppConfig>,
    /// How long `on_publish` / `on_play` may take before the request is
    /// refused, and each notification attempt may take.
    pub hook_timeout_secs: f64,
    /// Extra attempts for a failed notification (`on_connect`,
    /// `on_unpublish`, `on_stop`), a second apart.
    pub hook_retries: u32,
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            default: AppConfig::default(),
            apps: BTreeMap::new(),
            hook_timeout_secs: 3.0,
            hook_retries: 2,
        }
    }
}

/// A rule with its networks parsed.
#[derive(Debug, Clone)]
pub(crate) struct Rule {
    pub(crate) mode: Mode,
    pub(crate) keys: Vec<String>,
    pub(crate) secret: String,
    pub(crate) allow: Vec<IpNet>,
    pub(crate) deny: Vec<IpNet>,
    /// The deciding callback (`on_publish` / `on_play`), if any.
    pub(crate) hook: Option<String>,
}

/// An app's checked rules.
#[derive(Debug, Clone)]
pub(crate) struct AppRules {
    pub(crate) publish: Rule,
    pub(crate) play: Rule,
    pub(crate) on_connect: Option<String>,
    pub(crate) on_unpublish: Option<String>,
    pub(crate) on_stop: Option<String>,
    pub(crate) on_record_done: Option<String>,
}

/// The whole checked configuration.
#[derive(Debug, Clone)]
pub(crate) struct Rules {
    pub(crate) default: AppRules,
    pub(crate) apps: BTreeMap<String, AppRules>,
    pub(crate) hook_timeout: Duration,
    pub(crate) hook_retries: u32,
}

impl Rules {
    pub(crate) fn app(&self, app: &str) -> &AppRules {
        self.apps.get(app).unwrap_or(&self.default)
    }
}

impl AuthConfig {
    /// Checks every rule (networks parse, a signed rule has a secret, a
    /// keys rule has keys, hook URLs are http(s)).
    pub(crate) fn compile(&self) -> Result<Rules, AccessError> {
        if !(self.hook_timeout_secs > 0.0 && self.hook_timeout_secs <= 300.0) {
            return Err(AccessError::Config {
                app: "*".into(),
                what: format!(
                    "hook_timeout_secs must be in (0, 300], not {}",
                    self.hook_timeout_secs
                ),
            });
        }
        let apps = self
            .apps
            .iter()
            .map(|(name, app)| Ok((name.clone(), compile_app(name, app)?)))
            .collect::<Result<_, AccessError>>()?;
        Ok(Rules {
            default: compile_app("default", &self.default)?,
            apps,
            hook_timeout: Duration::from_secs_f64(self.hook_timeout_secs),
            hook_retries: self.hook_retries,
        })
    }

    /// Checks the section without building anything (for `check-config`).
    pub fn check(&self) -> Result<(), AccessError> {
        self.compile().map(|_| ())
    }

    /// A one-line summary of who may publish, for the startup log.
    pub fn publish_summary(&self) -> String {
        let describe = |rule: &RuleConfig| match rule.mode {
            Mode::Open => "anybody",
            Mode::Loopback => "loopback clients only",
            Mode::Keys => "clients with a stream key",
            Mode::Signed => "signed URLs",
            Mode::Deny => "nobody",
        };
        let mut out = format!("publishing: {}", describe(&self.default.publish));
        if !self.default.on_publish.is_empty() {
            out.push_str(" + on_publish callback");
        }
        for (name, app) in &self.apps {
            out.push_str(&format!("; app {name}: {}", describe(&app.publish)));
        }
        out
    }
}

fn compile_app(name: &str, app: &AppConfig) -> Result<AppRules, AccessError> {
    let url = |what: &str, url: &str| -> Result<Option<String>, AccessError> {
        if url.is_empty() {
            return Ok(None);
        }
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(AccessError::Config {
                app: name.into(),
                what: format!("{what} must be an http:// or https:// URL, not {url:?}"),
            });
        }
        Ok(Some(url.to_owned()))
    };
    Ok(AppRules {
        publish: compile_rule(
            name,
            "publish",
            &app.publish,
            url("on_publish", &app.on_publish)?,
        )?,
        play: compile_rule(name, "play", &app.play, url("on_play", &app.on_play)?)?,
        on_connect: url("on_connect", &app.on_connect)?,
        on_unpublish: url("on_unpublish", &app.on_unpublish)?,
        on_stop: url("on_stop", &app.on_stop)?,
        on_record_done: url("on_record_done", &app.on_record_done)?,
    })
}

fn compile_rule(
    app: &str,
    action: &str,
    rule: &RuleConfig,
    hook: Option<String>,
) -> Result<Rule, AccessError> {
    let err = |what: String| AccessError::Config {
        app: app.into(),
        what: format!("{action}: {what}"),
    };
    match rule.mode {
        Mode::Keys if rule.keys.iter().all(String::is_empty) => {
            return Err(err("mode \"keys\" needs a non-empty `keys` list".into()))
        }
        Mode::Signed if rule.secret.len() < 16 => {
            return Err(err(
                "mode \"signed\" needs a `secret` of at least 16 characters".into(),
            ))
        }
        _ => {}
    }
    let nets = |list: &[String]| -> Result<Vec<IpNet>, AccessError> {
        list.iter()
            .map(|s| {
                parse_net(s).ok_or_else(|| err(format!("{s:?} is not an address or CIDR network")))
            })
            .collect()
    };
    Ok(Rule {
        mode: rule.mode,
        keys: rule
            .keys
            .iter()
            .filter(|k| !k.is_empty())
            .cloned()
            .collect(),
        secret: rule.secret.clone(),
        allow: nets(&rule.allow)?,
        deny: nets(&rule.deny)?,
        hook,
    })
}

/// `"10.0.0.0/8"` or a single address (`"192.0.2.7"`, `"::1"`).
pub(crate) fn parse_net(s: &str) -> Option<IpNet> {
    let s = s.trim();
    s.parse::<IpNet>()
        .ok()
        .or_else(|| s.parse::<std::net::IpAddr>().ok().map(IpNet::from))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_publish_loopback_and_play_open() {
        let rules = AuthConfig::default().compile().unwrap();
        assert_eq!(rules.app("live").publish.mode, Mode::Loopback);
        assert_eq!(rules.app("live").play.mode, Mode::Open);
    }

    #[test]
    fn an_app_entry_replaces_the_default() {
        let cfg: AuthConfig =
            toml_like(r#"{"apps":{"live":{"publish":{"mode":"keys","keys":["k"]}}}}"#);
        let rules = cfg.compile().unwrap();
        assert_eq!(rules.app("live").publish.mode, Mode::Keys);
        assert_eq!(rules.app("other").publish.mode, Mode::Loopback);
    }

    #[test]
    fn bad_rules_are_refused_with_the_app_named() {
        for (json, needle) in [
            (r#"{"default":{"publish":{"mode":"keys"}}}"#, "keys"),
            (
                r#"{"apps":{"tv":{"play":{"mode":"signed","secret":"short"}}}}"#,
                "tv",
            ),
            (r#"{"default":{"play":{"deny":["10.0.0.0/33"]}}}"#, "CIDR"),
            (r#"{"default":{"on_play":"ftp://x"}}"#, "on_play"),
            (r#"{"hook_timeout_secs":0}"#, "hook_timeout"),
        ] {
            let err = toml_like(json).compile().unwrap_err().to_string();
            assert!(err.contains(needle), "{json}: {err}");
        }
    }

    #[test]
    fn networks_and_single_addresses_parse() {
        assert!(parse_net("10.0.0.0/8")
            .unwrap()
            .contains(&"10.2.3.4".parse::<std::net::IpAddr>().unwrap()));
        assert_eq!(parse_net("192.0.2.7").unwrap().prefix_len(), 32);
        assert_eq!(parse_net("::1").unwrap().prefix_len(), 128);
        assert!(parse_net("nope").is_none());
    }

    fn toml_like(json: &str) -> AuthConfig {
        serde_json::from_str(json).unwrap()
    }
}
