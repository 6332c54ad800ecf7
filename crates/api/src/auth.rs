//! Who may kick and drop: the console's login session or the API token.
//!
//! The console password is stored only as an argon2 hash in the config
//! (`weir passwd` prints one). A login creates a random session id kept in
//! memory and sent as an `HttpOnly; SameSite=Strict` cookie: scripts cannot
//! read it and other sites cannot make the browser send it, which is what
//! protects the mutating calls from cross-site requests. Scripts and tools
//! use `Authorization: Bearer <api_token>` instead.
//!
//! Reads (stats, `/stat`, `/metrics`, pages) need no credential, like
//! nginx-rtmp's `/stat`: they are what monitoring scrapes.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use axum::extract::State as AxState;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Form, Json};
use parking_lot::Mutex;
use rand::RngCore;
use serde::Deserialize;
use serde_json::json;
use tokio::sync::Semaphore;
use weir_api_error::ApiError;

use crate::{AuthConfig, State};

/// Cookie that carries the session id.
const COOKIE: &str = "weir_session";
/// How long a login lasts.
const SESSION_TTL: Duration = Duration::from_secs(12 * 3600);
/// Most sessions kept; the oldest go first beyond that.
const MAX_SESSIONS: usize = 256;
/// A failed login holds the verification slot this long, so guessing runs
/// at a few attempts per second at most.
const FAILURE_DELAY: Duration = Duration::from_millis(300);

/// Hashes `password` with argon2id (default parameters, random salt) into
/// the PHC string the config's `console_password_hash` expects.
pub fn hash_password(password: &str) -> Result<String, String> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| format!("cannot hash password: {e}"))
}

/// Checks that `hash` is a PHC string argon2 can verify against, so a
/// mangled config fails at start-up rather than at the first login.
pub fn check_password_hash(hash: &str) -> Result<(), String> {
    PasswordHash::new(hash)
        .map(|_| ())
        .map_err(|e| format!("console_password_hash is not a valid argon2 hash: {e}"))
}

fn verify(hash: &str, password: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|parsed| {
        Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok()
    })
}

/// Compares secrets in time independent of where they differ.
fn same_secret(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Logged-in console sessions and the login throttle.
pub(crate) struct Sessions {
    /// Session id to expiry.
    live: Mutex<HashMap<String, Instant>>,
    /// One password verification at a time: argon2 is deliberately
    /// expensive, and this bounds both CPU and guessing rate.
    verifying: Semaphore,
}

impl Default for Sessions {
    fn default() -> Self {
        Sessions {
            live: Mutex::new(HashMap::new()),
            verifying: Semaphore::new(1),
        }
    }
}

impl Sessions {
    fn create(&self) -> String {
        let mut raw = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut raw);
        let id: String = raw.iter().map(|b| format!("{b:02x}")).collect();
        let now = Instant::now();
        let mut live = self.live.lock();
        live.retain(|_, expiry| *expiry > now);
        if live.len() >= MAX_SESSIONS {
            if let Some(oldest) = live.iter().min_by_key(|(_, e)| **e).map(|(k, _)| k.clone()) {
                live.remove(&oldest);
            }
        }
        live.insert(id.clone(), now + SESSION_TTL);
        id
    }

    fn valid(&self, id: &str) -> bool {
        self.live
            .lock()
            .get(id)
            .is_some_and(|expiry| *expiry > Instant::now())
    }

    fn remove(&self, id: &str) {
        self.live.lock().remove(id);
    }
}

/// The session id in the request's cookies, if any.
fn session_cookie(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|pair| pair.trim().strip_prefix(COOKIE)?.strip_prefix('='))
}

/// The check every mutating call makes: the console's session cookie or
/// the API token. Cloning is cheap (one `Arc`), so the app can hand the
/// same check, with the same login sessions, to other routes it guards
/// with these credentials (chat moderation, chat tokens), and a console
/// login works there too.
#[derive(Clone)]
pub struct ApiAuth {
    inner: Arc<AuthInner>,
}

struct AuthInner {
    config: AuthConfig,
    sessions: Sessions,
}

impl std::fmt::Debug for ApiAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiAuth")
            .field("console_user", &self.inner.config.console_user)
            .field("enabled", &self.enabled())
            .finish_non_exhaustive()
    }
}

impl ApiAuth {
    /// A check for these credentials, with no one logged in yet.
    pub fn new(config: AuthConfig) -> Self {
        ApiAuth {
            inner: Arc::new(AuthInner {
                config,
                sessions: Sessions::default(),
            }),
        }
    }

    /// Whether any credential is configured: without one, mutating calls
    /// are off (403) rather than open.
    pub fn enabled(&self) -> bool {
        let c = &self.inner.config;
        c.console_password_hash.is_some() || c.api_token.is_some()
    }

    /// Whether the request carries a valid session cookie or API token.
    pub fn allows(&self, headers: &HeaderMap) -> bool {
        let auth = &self.inner.config;
        let bearer = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        let token_ok = match (bearer, &auth.api_token) {
            (Some(given), Some(token)) => same_secret(given.trim().as_bytes(), token.as_bytes()),
            _ => false,
        };
        token_ok || self.logged_in(headers)
    }

    fn logged_in(&self, headers: &HeaderMap) -> bool {
        self.inner.config.console_password_hash.is_some()
            && session_cookie(headers).is_some_and(|id| self.inner.sessions.valid(id))
    }

    fn config(&self) -> &AuthConfig {
        &self.inner.config
    }

    fn sessions(&self) -> &Sessions {
        &self.inner.sessions
    }
}

/// Lets a mutating call through if it carries a valid session cookie or
/// API token: 403 when no credential is configured at all (the mutating
/// API is off), 401 when the request has none that is valid.
pub(crate) fn authorize(state: &State, headers: &HeaderMap) -> Result<(), ApiError> {
    let auth = &state.ctx.auth;
    if !auth.enabled() {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "the mutating API is off: set [api] console_password_hash (run `weir passwd`) \
             or [api] api_token in the config",
        ));
    }
    if auth.allows(headers) {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "log into the console or send Authorization: Bearer <api_token>",
        ))
    }
}

/// `GET /console/session`: what the console page should show. The user
/// name only to its session: to anyone else it is half a login.
pub(crate) async fn session(AxState(state): AxState<Arc<State>>, headers: HeaderMap) -> Response {
    let auth = state.ctx.auth.config();
    let logged_in = state.ctx.auth.logged_in(&headers);
    Json(json!({
        "login_enabled": auth.console_password_hash.is_some(),
        "logged_in": logged_in,
        "user": logged_in.then_some(&auth.console_user),
        "version": state.ctx.app.version(),
    }))
    .into_response()
}

/// The console's login form.
#[derive(Deserialize)]
pub(crate) struct LoginForm {
    user: String,
    password: String,
}

/// `POST /console/login` (form `user`, `password`): sets the session
/// cookie on success.
pub(crate) async fn login(
    AxState(state): AxState<Arc<State>>,
    Form(form): Form<LoginForm>,
) -> Result<Response, ApiError> {
    let auth = &state.ctx.auth;
    let Some(hash) = auth.config().console_password_hash.clone() else {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "console login is off: no password configured (run `weir passwd`)",
        ));
    };
    let Ok(_permit) = auth.sessions().verifying.acquire().await else {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "shutting down",
        ));
    };
    let user_ok = same_secret(form.user.as_bytes(), auth.config().console_user.as_bytes());
    let password = form.password;
    let password_ok = tokio::task::spawn_blocking(move || verify(&hash, &password))
        .await
        .unwrap_or(false);
    if !(user_ok && password_ok) {
        tokio::time::sleep(FAILURE_DELAY).await;
        tracing::warn!("console login failed");
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "wrong user or password",
        ));
    }
    let id = auth.sessions().create();
    let cookie = format!(
        "{COOKIE}={id}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}",
        SESSION_TTL.as_secs()
    );
    let mut resp = Json(json!({ "logged_in": true })).into_response();
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        resp.headers_mut().insert(header::SET_COOKIE, v);
    }
    Ok(resp)
}

/// `POST /console/logout`: forgets the session and clears the cookie.
pub(crate) async fn logout(AxState(state): AxState<Arc<State>>, headers: HeaderMap) -> Response {
    if let Some(id) = session_cookie(&headers) {
        state.ctx.auth.sessions().remove(id);
    }
    let mut resp = Json(json!({ "logged_in": false })).into_response();
    resp.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_static("weir_session=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0"),
    );
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_verify_and_reject() {
        let hash = hash_password("s3cret").unwrap();
        assert!(hash.starts_with("$argon2id$"));
        check_password_hash(&hash).unwrap();
        assert!(verify(&hash, "s3cret"));
        assert!(!verify(&hash, "s3cret "));
        assert!(!verify("not a hash", "s3cret"));
        assert!(check_password_hash("not a hash").is_err());
    }

    #[test]
    fn finds_the_session_cookie_among_others() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; weir_session=abc; b=2"),
        );
        assert_eq!(session_cookie(&h), Some("abc"));
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("weir_sessionx=abc"),
        );
        assert_eq!(session_cookie(&h), None);
    }

    #[test]
    fn sessions_expire_and_are_bounded() {
        let s = Sessions::default();
        let ids: Vec<String> = (0..MAX_SESSIONS + 5).map(|_| s.create()).collect();
        assert_eq!(s.live.lock().len(), MAX_SESSIONS);
        assert!(s.valid(ids.last().unwrap()));
        s.remove(ids.last().unwrap());
        assert!(!s.valid(ids.last().unwrap()));
        assert!(same_secret(b"abc", b"abc"));
        assert!(!same_secret(b"abc", b"abd"));
        assert!(!same_secret(b"abc", b"ab"));
    }
}
