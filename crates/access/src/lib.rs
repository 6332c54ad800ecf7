//! Who may publish and play.
//!
//! [`Access`] is weir's [`weir_hub::Gate`]: every adapter asks the hub
//! ([`weir_hub::Hub::admit`]) before a client publishes or plays, and the
//! hub asks this. Per app (`[auth.apps.NAME]`, else `[auth.default]`) and
//! per action, a request passes when
//!
//! 1. its address is in no `deny` network and, if `allow` is set, in one
//!    of the `allow` networks;
//! 2. it satisfies the rule's [`Mode`]: open, loopback only (the default
//!    for publishing), a static stream key (`?key=`), or a signed URL
//!    (`?expires=UNIX&sign=HMAC-SHA256(secret, "{app}/{stream}:{expires}")`,
//!    see [`sign`]);
//! 3. and, if the app has an `on_publish` / `on_play` callback, the web
//!    application answers it with a 2xx within the timeout.
//!
//! The local checks run first so that a request without credentials never
//! costs the web application a call. `on_connect`, `on_unpublish` and
//! `on_stop` are notifications, sent in the background with bounded
//! retries.

#![warn(missing_docs, unreachable_pub)]

mod config;
mod hooks;
mod policy;

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use weir_hub::{AccessRequest, Action, ConnectInfo, Gate, Verdict};

pub use config::{AppConfig, AuthConfig, Mode, RuleConfig};
pub use policy::sign;

use config::Rules;
use hooks::{Body, Hooks};

/// A configuration the access checks cannot run with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AccessError {
    /// A rule of `app` is unusable.
    #[error("[auth] app {app}: {what}")]
    Config {
        /// The app (`default` for `[auth.default]`).
        app: String,
        /// What is wrong.
        what: String,
    },
}

/// The policy from `[auth]`, as the hub's gate.
#[derive(Clone)]
pub struct Access {
    rules: Arc<Rules>,
    hooks: Hooks,
}

impl Access {
    /// Sends `on_record_done` (if the app of `app` has one) with `body`,
    /// the recording's JSON (`action` is set to `on_record_done`).
    pub fn record_done(&self, app: &str, mut body: serde_json::Map<String, serde_json::Value>) {
        if let Some(url) = &self.rules.app(app).on_record_done {
            body.insert("action".into(), "on_record_done".into());
            if let Ok(payload) = serde_json::to_vec(&body) {
                self.hooks.notify_json(url, "on_record_done", payload);
            }
        }
    }

    /// Checks `cfg` and builds the gate.
    pub fn new(cfg: &AuthConfig) -> Result<Self, AccessError> {
        let rules = cfg.compile()?;
        let hooks = Hooks::new(rules.hook_timeout, rules.hook_retries);
        Ok(Access {
            rules: Arc::new(rules),
            hooks,
        })
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl Gate for Access {
    fn check(&self, req: &AccessRequest) -> Verdict {
        let app = self.rules.app(req.key.app());
        let (rule, action) = match req.action {
            Action::Publish => (&app.publish, "on_publish"),
            Action::Play => (&app.play, "on_play"),
        };
        if let Err(denied) = policy::decide(rule, req, unix_now()) {
            return Box::pin(std::future::ready(Err(denied)));
        }
        let Some(url) = rule.hook.clone() else {
            return Box::pin(std::future::ready(Ok(())));
        };
        let hooks = self.hooks.clone();
        let req = req.clone();
        Box::pin(async move { hooks.decide(&url, &Body::for_request(action, &req)).await })
    }

    fn password_keys(&self, req: &AccessRequest) -> Vec<String> {
        let app = self.rules.app(req.key.app());
        let rule = match req.action {
            Action::Publish => &app.publish,
            Action::Play => &app.play,
        };
        match rule.mode {
            Mode::Keys => rule.keys.clone(),
            _ => Vec::new(),
        }
    }

    fn connected(&self, info: &ConnectInfo) {
        if let Some(url) = &self.rules.app(&info.app).on_connect {
            self.hooks.notify(url, &Body::for_connect(info));
        }
    }

    fn ended(&self, req: &AccessRequest) {
        let app = self.rules.app(req.key.app());
        let (url, action) = match req.action {
            Action::Publish => (&app.on_unpublish, "on_unpublish"),
            Action::Play => (&app.on_stop, "on_stop"),
        };
        if let Some(url) = url {
            self.hooks.notify(url, &Body::for_request(action, req));
        }
    }
}

#[cfg(test)]
mod tests;
