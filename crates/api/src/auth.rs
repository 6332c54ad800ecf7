//! Who may kick and drop: the console's login session or the API token.
//!
//! The console password is stored only as an argon2 hash in the config
//! (`weir passwd` prints one). A login creates a random session id kept in
//! memory and sent as an `HttpOnly; SameSite=Strict` cookie (`Secure` and
//! named `__Host-weir_session` when the console is reached over HTTPS):
//! scripts cannot read it and other *sites* cannot make the browser send it.
//! `SameSite` does not cover other *origins* of the same site (another port
//! of the host, a sibling subdomain), so a mutating call authenticated by
//! the cookie also needs the browser's word that it comes from this origin
//! (`Sec-Fetch-Site: same-origin`/`none`, or an `Origin` naming this host);
//! see [`origin`](crate::origin). Scripts and tools use
//! `Authorization: Bearer <api_token>`, which no other page can make a
//! browser send, so it needs no such check.
//!
//! Logins are throttled by [`crate::login`] so that a flood of wrong
//! passwords from one place cannot keep the operator out.
//!
//! Reads (stats, `/stat`, `/metrics`, pages) need no credential, like
//! nginx-rtmp's `/stat`: they are what monitoring scrapes.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, SaltString};
use argon2::Argon2;
use axum::extract::{ConnectInfo, State as AxState};
use axum::http::{header, Extensions, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Form, Json};
use parking_lot::Mutex;
use rand::RngCore;
use serde::Deserialize;
use serde_json::json;
use weir_api_error::ApiError;
use weir_hub::log::peer as loggable;
use weir_hub::LogThrottle;

use crate::login::{LoginGate, Verifier};
use crate::origin::{site, Site};
use crate::{AuthConfig, State};

/// Cookie that carries the session id over plain HTTP.
const COOKIE: &str = "weir_session";
/// The same over HTTPS: the `__Host-` prefix makes browsers accept it only
/// with `Secure`, `Path=/` and no `Domain`, so a sibling subdomain cannot
/// plant or shadow it.
const HOST_COOKIE: &str = "__Host-weir_session";
/// How long a login lasts.
const SESSION_TTL: Duration = Duration::from_secs(12 * 3600);
/// Most sessions kept; the oldest go first beyond that.
const MAX_SESSIONS: usize = 256;
/// A failed login holds its address's and user name's login slots this
/// long (not the hashing slot), so guessing from one address runs at a few
/// attempts per second at most while others log in unhindered.
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

/// Compares secrets in time independent of where they differ.
pub(crate) fn same_secret(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Logged-in console sessions.
#[derive(Default)]
pub(crate) struct Sessions {
    /// Session id to expiry.
    live: Mutex<HashMap<String, Instant>>,
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

/// The session ids in the request's cookies (the HTTPS and the plain
/// name); any of them may be the valid one.
fn session_cookies(headers: &HeaderMap) -> impl Iterator<Item = &str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| {
            let pair = pair.trim();
            pair.strip_prefix(HOST_COOKIE)
                .or_else(|| pair.strip_prefix(COOKIE))?
                .strip_prefix('=')
        })
}

/// Whether the browser reached the console over HTTPS: the login request's
/// `Origin` is an `https://` one (what the browser itself sees, also
/// behind a TLS-terminating proxy), or a proxy says
/// `X-Forwarded-Proto: https`. Either header is taken from anyone: it only
/// decides the attributes of the cookie sent back to that same requester,
/// who gains nothing by lying (a `Secure` cookie over plain HTTP is just
/// not stored).
fn over_https(headers: &HeaderMap) -> bool {
    let origin_https = headers
        .get(header::ORIGIN)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|o| o.starts_with("https://"));
    let proxy_https = headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|p| p.trim().eq_ignore_ascii_case("https"));
    origin_https || proxy_https
}

/// The `Set-Cookie` value for session `id` (empty and `Max-Age=0` to
/// clear), `Secure` with the `__Host-` name over HTTPS.
fn cookie(id: &str, max_age: u64, https: bool) -> String {
    let (name, secure) = if https {
        (HOST_COOKIE, "; Secure")
    } else {
        (COOKIE, "")
    };
    format!("{name}={id}; Path=/; HttpOnly; SameSite=Strict{secure}; Max-Age={max_age}")
}

/// Why a request may not mutate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Refusal {
    /// No valid session cookie or token.
    NoCredential,
    /// A valid session cookie, but the browser did not say the request
    /// comes from a page of this origin: maybe another site's page.
    CrossOrigin,
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
    /// Checks passwords against the configured hash (`None`: no valid
    /// hash configured, every login fails).
    verifier: Option<Arc<Verifier>>,
    /// Who may try a login now.
    gate: LoginGate,
    /// Failed and throttled logins, logged once a minute per address.
    log: LogThrottle,
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
        let verifier = config
            .console_password_hash
            .as_deref()
            .and_then(|h| Verifier::new(h).ok())
            .map(Arc::new);
        ApiAuth {
            inner: Arc::new(AuthInner {
                config,
                sessions: Sessions::default(),
                verifier,
                gate: LoginGate::default(),
                log: LogThrottle::default(),
            }),
        }
    }

    /// Whether any credential is configured: without one, mutating calls
    /// are off (403) rather than open.
    pub fn enabled(&self) -> bool {
        let c = &self.inner.config;
        c.console_password_hash.is_some() || c.api_token.is_some()
    }

    /// Whether the request may mutate: it carries the API token, or a
    /// valid session cookie and the browser's word that it comes from a
    /// page of this origin (cross-origin pages cannot use the login).
    pub fn allows(&self, headers: &HeaderMap) -> bool {
        self.check(headers).is_ok()
    }

    fn check(&self, headers: &HeaderMap) -> Result<(), Refusal> {
        let auth = &self.inner.config;
        let bearer = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        let token_ok = match (bearer, &auth.api_token) {
            (Some(given), Some(token)) => same_secret(given.trim().as_bytes(), token.as_bytes()),
            _ => false,
        };
        if token_ok {
            return Ok(());
        }
        if !self.logged_in(headers) {
            return Err(Refusal::NoCredential);
        }
        if site(headers) == Site::Same {
            Ok(())
        } else {
            Err(Refusal::CrossOrigin)
        }
    }

    fn logged_in(&self, headers: &HeaderMap) -> bool {
        self.inner.config.console_password_hash.is_some()
            && session_cookies(headers).any(|id| self.inner.sessions.valid(id))
    }

    fn config(&self) -> &AuthConfig {
        &self.inner.config
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
    match auth.check(headers) {
        Ok(()) => Ok(()),
        Err(Refusal::NoCredential) => Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "log into the console or send Authorization: Bearer <api_token>",
        )),
        Err(Refusal::CrossOrigin) => Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "the console login only works from the console's own pages \
             (this request did not come from this origin); scripts send \
             Authorization: Bearer <api_token>",
        )),
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

/// The caller's address, as the HTTP listener recorded it (unspecified
/// when the router runs without one, as in unit tests).
fn peer_ip(ext: &Extensions) -> IpAddr {
    ext.get::<ConnectInfo<SocketAddr>>()
        .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |c| c.0.ip())
}

/// `POST /console/login` (form `user`, `password`): sets the session
/// cookie on success. Throttled by [`LoginGate`]: one attempt at a time
/// per address, a few per user name, a short global queue, `429` at once
/// beyond; a failure holds its slots for [`FAILURE_DELAY`].
pub(crate) async fn login(
    AxState(state): AxState<Arc<State>>,
    ext: Extensions,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Result<Response, ApiError> {
    let auth = &state.ctx.auth;
    let inner = &auth.inner;
    if inner.config.console_password_hash.is_none() {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "console login is off: no password configured (run `weir passwd`)",
        ));
    }
    if site(&headers) == Site::Other {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "log in from the console's own page",
        ));
    }
    let ip = peer_ip(&ext);
    let _ticket = match inner.gate.enter(ip, &form.user) {
        Ok(t) => t,
        Err(busy) => {
            if let Some(n) = inner
                .log
                .hit(ip, "console", "login_throttled", Instant::now())
            {
                tracing::warn!(
                    peer = %ip,
                    user = %loggable(&form.user),
                    limit = busy.as_str(),
                    unlogged = n,
                    "console login refused: too many at once (logged once a minute per address)"
                );
            }
            let mut resp = ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                format!(
                    "too many logins at once ({}); try again in a second",
                    busy.as_str()
                ),
            )
            .into_response();
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            return Ok(resp);
        }
    };
    let user_ok = same_secret(form.user.as_bytes(), inner.config.console_user.as_bytes());
    let password_ok = match &inner.verifier {
        Some(v) => v.check(form.password.into_bytes()).await,
        None => false,
    };
    if !(user_ok && password_ok) {
        if let Some(n) = inner.log.hit(ip, "console", "login_failed", Instant::now()) {
            tracing::warn!(
                peer = %ip,
                user = %loggable(&form.user),
                unlogged = n,
                "console login failed (logged once a minute per address)"
            );
        }
        tokio::time::sleep(FAILURE_DELAY).await;
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "wrong user or password",
        ));
    }
    tracing::info!(peer = %ip, "console login");
    let id = inner.sessions.create();
    let mut resp = Json(json!({ "logged_in": true })).into_response();
    if let Ok(v) = HeaderValue::from_str(&cookie(&id, SESSION_TTL.as_secs(), over_https(&headers)))
    {
        resp.headers_mut().insert(header::SET_COOKIE, v);
    }
    Ok(resp)
}

/// `POST /console/logout`: forgets the session and clears the cookie.
pub(crate) async fn logout(AxState(state): AxState<Arc<State>>, headers: HeaderMap) -> Response {
    if site(&headers) != Site::Other {
        for id in session_cookies(&headers) {
            state.ctx.auth.inner.sessions.remove(id);
        }
    }
    let mut resp = Json(json!({ "logged_in": false })).into_response();
    if let Ok(v) = HeaderValue::from_str(&cookie("", 0, over_https(&headers))) {
        resp.headers_mut().insert(header::SET_COOKIE, v);
    }
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
        assert!(check_password_hash("not a hash").is_err());
        assert!(Verifier::new("not a hash").is_err());
    }

    #[test]
    fn finds_the_session_cookie_among_others() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; weir_session=abc; b=2"),
        );
        assert_eq!(session_cookies(&h).collect::<Vec<_>>(), ["abc"]);
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("__Host-weir_session=def; weir_session=abc"),
        );
        assert_eq!(session_cookies(&h).collect::<Vec<_>>(), ["def", "abc"]);
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("weir_sessionx=abc"),
        );
        assert_eq!(session_cookies(&h).next(), None);
    }

    #[test]
    fn the_cookie_is_secure_and_host_prefixed_over_https() {
        let mut h = HeaderMap::new();
        assert!(!over_https(&h));
        assert_eq!(
            cookie("x", 5, over_https(&h)),
            "weir_session=x; Path=/; HttpOnly; SameSite=Strict; Max-Age=5"
        );
        h.insert(
            header::ORIGIN,
            HeaderValue::from_static("https://tv.example"),
        );
        assert!(over_https(&h));
        assert_eq!(
            cookie("x", 5, over_https(&h)),
            "__Host-weir_session=x; Path=/; HttpOnly; SameSite=Strict; Secure; Max-Age=5"
        );
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-proto", HeaderValue::from_static("HTTPS"));
        assert!(over_https(&h));
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
