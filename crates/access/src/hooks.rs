//! HTTP callbacks to the user's web application, the nginx-rtmp / SRS
//! habit: `on_publish` and `on_play` decide (2xx allows), `on_connect`,
//! `on_unpublish` and `on_stop` only inform.

use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use tokio::sync::Semaphore;
use tracing::{debug, warn};
use weir_hub::log::peer as loggable;
use weir_hub::{AccessRequest, ConnectInfo, Denied};

/// Most notifications in flight at once; more are dropped (and logged)
/// rather than queued without bound when the web application is down.
const MAX_IN_FLIGHT: usize = 256;

/// The JSON body of every callback.
#[derive(Debug, Serialize)]
pub(crate) struct Body<'a> {
    /// `on_connect`, `on_publish`, `on_unpublish`, `on_play`, `on_stop`.
    action: &'static str,
    client_id: u64,
    /// The peer's IP address.
    ip: String,
    /// The peer's address with port.
    addr: String,
    protocol: &'static str,
    app: &'a str,
    /// Empty for `on_connect`.
    stream: &'a str,
    /// The raw query string the client gave, without `?`.
    query: &'a str,
    /// The query string's parameters, decoded (the first of repeated names).
    params: serde_json::Map<String, serde_json::Value>,
    /// The URL the client says it connected to, for `on_connect`: RTMP's
    /// `tcUrl`, hence the name nginx-rtmp and SRS users' scripts know.
    #[serde(skip_serializing_if = "Option::is_none")]
    tc_url: Option<&'a str>,
}

impl<'a> Body<'a> {
    pub(crate) fn for_request(action: &'static str, req: &'a AccessRequest) -> Self {
        let mut params = serde_json::Map::new();
        for (k, v) in form_urlencoded::parse(req.query.as_bytes()) {
            params
                .entry(k.into_owned())
                .or_insert_with(|| serde_json::Value::String(v.into_owned()));
        }
        Body {
            action,
            client_id: req.client_id,
            ip: req.addr.ip().to_string(),
            addr: req.addr.to_string(),
            protocol: req.protocol,
            app: req.key.app(),
            stream: req.key.stream(),
            query: &req.query,
            params,
            tc_url: None,
        }
    }

    pub(crate) fn for_connect(info: &'a ConnectInfo) -> Self {
        Body {
            action: "on_connect",
            client_id: info.client_id,
            ip: info.addr.ip().to_string(),
            addr: info.addr.to_string(),
            protocol: info.protocol,
            app: &info.app,
            stream: "",
            query: "",
            params: serde_json::Map::new(),
            tc_url: info.url.as_deref(),
        }
    }
}

/// Sends callbacks.
#[derive(Clone)]
pub(crate) struct Hooks {
    http: reqwest::Client,
    timeout: Duration,
    retries: u32,
    in_flight: Arc<Semaphore>,
}

impl Hooks {
    pub(crate) fn new(timeout: Duration, retries: u32) -> Self {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .user_agent(concat!("weir/", env!("CARGO_PKG_VERSION")))
            .build()
            .unwrap_or_default();
        Hooks {
            http,
            timeout,
            retries,
            in_flight: Arc::new(Semaphore::new(MAX_IN_FLIGHT)),
        }
    }

    /// POSTs `body` to `url`; a 2xx answer within the timeout allows.
    pub(crate) async fn decide(&self, url: &str, body: &Body<'_>) -> Result<(), Denied> {
        let timed_out = || {
            Denied::new(format!(
                "{} callback timed out after {:?}",
                body.action, self.timeout
            ))
        };
        // The client's own timeout covers connect and body; this one also
        // covers a server that accepts and never answers.
        let sent = tokio::time::timeout(self.timeout, self.http.post(url).json(body).send()).await;
        match sent {
            Err(_) => Err(timed_out()),
            Ok(Err(e)) if e.is_timeout() => Err(timed_out()),
            Ok(Err(e)) => Err(Denied::new(format!(
                "{} callback failed: {}",
                body.action,
                loggable(&e.to_string())
            ))),
            Ok(Ok(resp)) if resp.status().is_success() => Ok(()),
            Ok(Ok(resp)) => Err(Denied::new(format!(
                "{} callback answered {}",
                body.action,
                resp.status().as_u16()
            ))),
        }
    }

    /// POSTs `body` to `url` in the background, retrying a failure up to
    /// `retries` times. Needs a tokio runtime; without one (the process is
    /// ending) the notification is skipped.
    pub(crate) fn notify(&self, url: &str, body: &Body<'_>) {
        if let Ok(payload) = serde_json::to_vec(body) {
            self.notify_json(url, body.action, payload);
        }
    }

    /// [`Hooks::notify`] with a body of the caller's (`on_record_done`).
    pub(crate) fn notify_json(&self, url: &str, action: &'static str, payload: Vec<u8>) {
        let Ok(rt) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let Ok(permit) = self.in_flight.clone().try_acquire_owned() else {
            warn!(
                url = %loggable(url),
                action,
                "callback dropped: {MAX_IN_FLIGHT} already in flight"
            );
            return;
        };
        let (http, url, retries) = (self.http.clone(), url.to_owned(), self.retries);
        rt.spawn(async move {
            for attempt in 0..=retries {
                if attempt > 0 {
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
                let sent = http
                    .post(&url)
                    .header(reqwest::header::CONTENT_TYPE, "application/json")
                    .body(payload.clone())
                    .send()
                    .await;
                match sent {
                    Ok(resp) if resp.status().is_success() => {
                        debug!(url = %loggable(&url), action, "callback delivered");
                        break;
                    }
                    Ok(resp) => warn!(
                        url = %loggable(&url),
                        action,
                        status = resp.status().as_u16(),
                        attempt,
                        "callback refused"
                    ),
                    Err(e) => warn!(
                        url = %loggable(&url),
                        action,
                        error = %loggable(&e.to_string()),
                        attempt,
                        "callback failed"
                    ),
                }
            }
            drop(permit);
        });
    }
}
