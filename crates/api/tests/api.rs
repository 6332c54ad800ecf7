//! The API's routes against a real hub with a synthetic publisher and
//! registered clients: JSON views, auth, `/stat` structure, `/metrics`.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use axum::Router;
use bytes::Bytes;
use futures_util::FutureExt;
use http_body_util::BodyExt;
use serde_json::Value;
use tower::ServiceExt;
use weir_api::{ApiAuth, ApiContext, AppHooks, AuthConfig, Playback};
use weir_hub::{Action, ClientHandle, ClientInfo, Hub, HubConfig, Publisher, Role};
use weir_media::{Codec, Frame, StreamKey, TrackKind};

struct Hooks;

impl AppHooks for Hooks {
    fn version(&self) -> String {
        "9.9.9-test".into()
    }
    fn playback(&self, key: &StreamKey) -> Vec<Playback> {
        vec![Playback {
            format: "fmp4",
            url: format!("/{key}.mp4"),
        }]
    }
}

/// The AVC record ffmpeg's libx264 sends for 640x360 (Constrained
/// Baseline 3.0) and an AAC-LC 44100 Hz stereo AudioSpecificConfig.
const AVC: &[u8] = &[
    0x01, 0x42, 0xc0, 0x1e, 0xff, 0xe1, 0x00, 0x19, 0x67, 0x42, 0xc0, 0x1e, 0xda, 0x02, 0x80, 0xbf,
    0xe5, 0xc0, 0x44, 0x00, 0x00, 0x03, 0x00, 0x04, 0x00, 0x00, 0x03, 0x00, 0xf2, 0x3c, 0x58, 0xba,
    0x80, 0x01, 0x00, 0x04, 0x68, 0xce, 0x0f, 0xc8,
];
const ASC: &[u8] = &[0x12, 0x10];

/// A frame at `dts` ms.
fn frame(
    kind: TrackKind,
    codec: Codec,
    dts: i64,
    key: bool,
    config: bool,
    data: &'static [u8],
) -> Frame {
    Frame {
        kind,
        codec,
        dts_us: dts * 1000,
        cts_us: 0,
        key,
        config,
        data: Bytes::from_static(data),
    }
}

/// A hub with `live/test` published by an "rtmp" client and watched by one
/// "rtmp" and one "http-flv" player.
struct Fixture {
    hub: Hub,
    publisher: Option<Publisher>,
    clients: Vec<ClientHandle>,
}

fn addr(port: u16) -> SocketAddr {
    ([127, 0, 0, 1], port).into()
}

fn fixture() -> Fixture {
    let hub = Hub::new(HubConfig::default());
    let key = StreamKey::new("live", "test").unwrap();
    let pub_client = hub.clients().register(ClientInfo {
        protocol: "rtmp",
        addr: addr(5000),
        role: None,
    });
    pub_client.set_stream(key.clone(), Role::Publish);
    pub_client.add_in(10_000);
    // The open gate answers at once.
    let admission = hub
        .admit(&pub_client, Action::Publish, &key, "")
        .now_or_never()
        .unwrap()
        .unwrap();
    let mut publisher = hub.publish(&admission).unwrap();
    publisher.send(frame(TrackKind::Video, Codec::H264, 0, true, true, AVC));
    publisher.send(frame(TrackKind::Audio, Codec::Aac, 0, false, true, ASC));
    for i in 0..60 {
        publisher.send(frame(
            TrackKind::Video,
            Codec::H264,
            i * 33,
            i % 30 == 0,
            false,
            b"0123456789",
        ));
        publisher.send(frame(
            TrackKind::Audio,
            Codec::Aac,
            i * 23,
            false,
            false,
            b"abc",
        ));
    }
    let mut clients = vec![pub_client];
    for (protocol, port) in [("rtmp", 5001), ("http-flv", 5002)] {
        let c = hub.clients().register(ClientInfo {
            protocol,
            addr: addr(port),
            role: Some(Role::Play),
        });
        c.set_stream(key.clone(), Role::Play);
        c.add_out(5000);
        c.add_dropped(1);
        clients.push(c);
    }
    Fixture {
        hub,
        publisher: Some(publisher),
        clients,
    }
}

fn router(hub: &Hub, auth: AuthConfig) -> Router {
    weir_api::router(ApiContext {
        hub: hub.clone(),
        auth: ApiAuth::new(auth),
        started: Instant::now(),
        app: Arc::new(Hooks),
    })
}

struct Reply {
    status: StatusCode,
    headers: axum::http::HeaderMap,
    body: String,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
}

async fn call(
    app: &Router,
    method: &str,
    uri: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Reply {
    let mut req = Request::builder().method(method).uri(uri);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = app
        .clone()
        .oneshot(req.body(Body::from(body.to_owned())).unwrap())
        .await
        .unwrap();
    let status = resp.status();
    let headers = resp.headers().clone();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    Reply {
        status,
        headers,
        body: String::from_utf8_lossy(&bytes).into_owned(),
    }
}

async fn get(app: &Router, uri: &str) -> Reply {
    call(app, "GET", uri, &[], "").await
}

/// Posts the console login form as `admin` with `password`.
async fn login(app: &Router, password: &str) -> Reply {
    let form = [(
        header::CONTENT_TYPE.as_str(),
        "application/x-www-form-urlencoded",
    )];
    let body = format!("user=admin&password={password}");
    call(app, "POST", "/console/login", &form, &body).await
}

#[tokio::test]
async fn streams_show_codecs_viewers_and_publisher() {
    let f = fixture();
    let app = router(&f.hub, AuthConfig::default());
    let r = get(&app, "/api/v1/streams/live/test").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let s = r.json();
    assert_eq!(s["key"], "live/test");
    assert_eq!(s["live"], true);
    assert_eq!(s["video"]["codec"], "h264");
    assert_eq!(s["video"]["width"], 640);
    assert_eq!(s["video"]["height"], 360);
    assert_eq!(s["video"]["profile"], "Baseline");
    assert_eq!(s["video"]["level"], "3.0");
    assert_eq!(s["audio"]["codec"], "aac");
    assert_eq!(s["audio"]["sample_rate"], 44100);
    assert_eq!(s["audio"]["channels"], 2);
    assert_eq!(s["viewers"]["total"], 2);
    assert_eq!(s["viewers"]["by_protocol"]["rtmp"], 1);
    assert_eq!(s["viewers"]["by_protocol"]["http-flv"], 1);
    assert_eq!(s["dropped_frames"], 2);
    assert_eq!(s["keyframe_interval_ms"], 990);
    assert_eq!(s["publisher"]["protocol"], "rtmp");
    assert_eq!(s["publisher"]["address"], "127.0.0.1:5000");
    assert_eq!(s["playback"][0]["url"], "/live/test.mp4");
    assert!(s["bitrate_history"].is_array());

    let list = get(&app, "/api/v1/streams").await.json();
    assert_eq!(list["streams"].as_array().unwrap().len(), 1);

    let summary = get(&app, "/api/v1/summary").await.json();
    assert_eq!(summary["version"], "9.9.9-test");
    assert_eq!(summary["connections"]["rtmp"], 2);
    assert_eq!(summary["connections"]["http-flv"], 1);
    assert_eq!(summary["streams_live"], 1);
    assert!(summary["rss_bytes"].as_u64().unwrap() > 0);
}

#[tokio::test]
async fn errors_are_json_with_the_right_status() {
    let f = fixture();
    let app = router(&f.hub, AuthConfig::default());
    for (uri, status) in [
        ("/api/v1/streams/live/nope", StatusCode::NOT_FOUND),
        ("/api/v1/streams/live/bad%20name", StatusCode::BAD_REQUEST),
        ("/api/v1/clients/abc", StatusCode::BAD_REQUEST),
        ("/api/v1/clients/999", StatusCode::NOT_FOUND),
        ("/api/v1/clients?per_page=0", StatusCode::BAD_REQUEST),
        ("/api/v1/clients?per_page=5000", StatusCode::BAD_REQUEST),
        ("/api/v1/nothing", StatusCode::NOT_FOUND),
    ] {
        let r = get(&app, uri).await;
        assert_eq!(r.status, status, "{uri}: {}", r.body);
        let j = r.json();
        assert!(
            j["error"].as_str().is_some_and(|e| !e.is_empty()),
            "{uri}: {j}"
        );
        assert_eq!(j["status"], status.as_u16());
    }
}

#[tokio::test]
async fn clients_are_paged() {
    let f = fixture();
    let app = router(&f.hub, AuthConfig::default());
    let p1 = get(&app, "/api/v1/clients?page=1&per_page=2").await.json();
    assert_eq!(
        (p1["total"].as_u64(), p1["pages"].as_u64()),
        (Some(3), Some(2))
    );
    let ids: Vec<u64> = p1["clients"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_u64().unwrap())
        .collect();
    assert_eq!(ids, [f.clients[0].id(), f.clients[1].id()]);
    assert_eq!(p1["clients"][0]["role"], "publish");
    assert_eq!(p1["clients"][0]["bytes_in"], 10_000);
    let p2 = get(&app, "/api/v1/clients?page=2&per_page=2").await.json();
    assert_eq!(p2["clients"][0]["protocol"], "http-flv");
    assert_eq!(p2["clients"][0]["stream"], "test");
    let p3 = get(&app, "/api/v1/clients?page=3&per_page=2").await.json();
    assert_eq!(p3["clients"].as_array().unwrap().len(), 0);
}

#[tokio::test]
async fn mutations_are_off_without_credentials() {
    let f = fixture();
    let app = router(&f.hub, AuthConfig::default());
    let id = f.clients[1].id();
    let r = call(&app, "DELETE", &format!("/api/v1/clients/{id}"), &[], "").await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(r.json()["error"].as_str().unwrap().contains("weir passwd"));
    let r = call(
        &app,
        "DELETE",
        "/api/v1/streams/live/test",
        &[("authorization", "Bearer x")],
        "",
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = get(&app, "/control/drop/publisher?app=live&name=test").await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(f.hub.is_live(&StreamKey::new("live", "test").unwrap()));
    let s = get(&app, "/console/session").await.json();
    assert_eq!(s["login_enabled"], false);
}

#[tokio::test]
async fn token_authorizes_kick_and_drop() {
    let f = fixture();
    let auth = AuthConfig {
        api_token: Some("tok3n".into()),
        ..AuthConfig::default()
    };
    let app = router(&f.hub, auth);
    let id = f.clients[1].id();
    let uri = format!("/api/v1/clients/{id}");
    let r = call(&app, "DELETE", &uri, &[], "").await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(r.headers.get(header::WWW_AUTHENTICATE).unwrap(), "Bearer");
    let r = call(
        &app,
        "DELETE",
        &uri,
        &[("authorization", "Bearer wrong")],
        "",
    )
    .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let r = call(
        &app,
        "DELETE",
        &uri,
        &[("authorization", "Bearer tok3n")],
        "",
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    // The handle sees the kick.
    tokio::time::timeout(std::time::Duration::from_secs(1), f.clients[1].kicked())
        .await
        .expect("client kicked");

    let r = call(
        &app,
        "DELETE",
        "/api/v1/streams/live/test",
        &[("authorization", "Bearer tok3n")],
        "",
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert!(!f.hub.is_live(&StreamKey::new("live", "test").unwrap()));
    let r = call(
        &app,
        "DELETE",
        "/api/v1/streams/live/test",
        &[("authorization", "Bearer tok3n")],
        "",
    )
    .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn console_login_sets_a_strict_cookie_that_authorizes() {
    let f = fixture();
    let auth = AuthConfig {
        console_user: "admin".into(),
        console_password_hash: Some(weir_api::hash_password("pw").unwrap()),
        api_token: None,
    };
    let app = router(&f.hub, auth);
    let r = login(&app, "nope").await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert!(r.headers.get(header::SET_COOKIE).is_none());
    let r = login(&app, "pw").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let cookie = r
        .headers
        .get(header::SET_COOKIE)
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    let pair = cookie.split(';').next().unwrap().to_owned();

    let s = call(&app, "GET", "/console/session", &[("cookie", &pair)], "")
        .await
        .json();
    assert_eq!(
        (s["login_enabled"].as_bool(), s["logged_in"].as_bool()),
        (Some(true), Some(true))
    );
    let id = f.clients[2].id();
    let uri = format!("/api/v1/clients/{id}");
    assert_eq!(
        call(&app, "DELETE", &uri, &[], "").await.status,
        StatusCode::UNAUTHORIZED
    );
    // The cookie alone, or from a page of another origin, is refused:
    // only the console's own pages may use it (CSRF).
    for browser in [
        vec![("cookie", pair.as_str())],
        vec![("cookie", pair.as_str()), ("sec-fetch-site", "same-site")],
        vec![
            ("cookie", pair.as_str()),
            ("origin", "http://localhost:9999"),
            ("host", "localhost:8080"),
        ],
    ] {
        let r = call(&app, "DELETE", &uri, &browser, "").await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{browser:?}: {}", r.body);
    }
    let same_origin = [("cookie", pair.as_str()), ("sec-fetch-site", "same-origin")];
    let r = call(&app, "DELETE", &uri, &same_origin, "").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);

    let r = call(&app, "POST", "/console/logout", &[("cookie", &pair)], "").await;
    assert_eq!(r.status, StatusCode::OK);
    let r = call(&app, "DELETE", &uri, &same_origin, "").await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "logged out");
}

#[tokio::test]
async fn control_drop_behaves_like_nginx_rtmp() {
    let f = fixture();
    let auth = AuthConfig {
        api_token: Some("t".into()),
        ..AuthConfig::default()
    };
    let app = router(&f.hub, auth);
    let bearer = [("authorization", "Bearer t")];
    let r = call(
        &app,
        "GET",
        "/control/drop/client?app=live&name=test&addr=10.0.0.1",
        &bearer,
        "",
    )
    .await;
    assert_eq!((r.status, r.body.as_str()), (StatusCode::OK, "0"));
    let r = call(
        &app,
        "GET",
        "/control/drop/subscriber?app=live&name=test&addr=127.0.0.1",
        &bearer,
        "",
    )
    .await;
    assert_eq!((r.status, r.body.as_str()), (StatusCode::OK, "2"));
    // HEAD never drops, even with the token.
    let r = call(
        &app,
        "HEAD",
        "/control/drop/publisher?app=live&name=test",
        &bearer,
        "",
    )
    .await;
    assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED);
    assert!(f.hub.is_live(&StreamKey::new("live", "test").unwrap()));
    let r = call(
        &app,
        "GET",
        "/control/drop/publisher?app=live&name=test",
        &bearer,
        "",
    )
    .await;
    assert_eq!((r.status, r.body.as_str()), (StatusCode::OK, "1"));
    assert!(!f.hub.is_live(&StreamKey::new("live", "test").unwrap()));
    let r = call(&app, "GET", "/control/drop/publisher", &bearer, "").await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let r = call(
        &app,
        "GET",
        "/control/drop/everything?app=live&name=test",
        &bearer,
        "",
    )
    .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}

/// Every element path (`rtmp/server/application/...`) of an XML document.
fn element_paths(xml: &str) -> BTreeSet<String> {
    let doc = roxmltree::Document::parse(xml).unwrap_or_else(|e| panic!("bad XML ({e}):\n{xml}"));
    let mut out = BTreeSet::new();
    for node in doc.descendants().filter(|n| n.is_element()) {
        let mut names: Vec<&str> = node
            .ancestors()
            .filter(|n| n.is_element())
            .map(|n| n.tag_name().name())
            .collect();
        names.reverse();
        out.insert(names.join("/"));
    }
    out
}

#[tokio::test]
async fn stat_has_nginx_rtmp_structure() {
    let f = fixture();
    let app = router(&f.hub, AuthConfig::default());
    let r = get(&app, "/stat").await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.headers[header::CONTENT_TYPE]
        .to_str()
        .unwrap()
        .starts_with("text/xml"));
    let ours = element_paths(&r.body);
    let nginx = element_paths(include_str!("../testdata/nginx-rtmp-stat.xml"));
    let missing: Vec<_> = nginx.difference(&ours).collect();
    let extra: Vec<_> = ours.difference(&nginx).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "missing {missing:?}, extra {extra:?}\n{}",
        r.body
    );

    let doc = roxmltree::Document::parse(&r.body).unwrap();
    let text = |path: &str| -> Vec<String> {
        doc.descendants()
            .filter(|n| n.is_element() && n.tag_name().name() == path)
            .map(|n| n.text().unwrap_or("").to_owned())
            .collect()
    };
    assert_eq!(text("width"), ["640"]);
    assert_eq!(text("sample_rate"), ["44100"]);
    assert_eq!(text("channels"), ["2"]);
    assert_eq!(text("profile"), ["Baseline", "LC"]);
    assert_eq!(text("compat"), ["192"]);
    assert_eq!(text("nclients"), ["3", "3"]);
    assert_eq!(text("address"), ["127.0.0.1", "127.0.0.1", "127.0.0.1"]);
}

/// Series of one metric name in a scrape.
fn series<'a>(
    scrape: &'a prometheus_parse::Scrape,
    name: &str,
) -> Vec<&'a prometheus_parse::Sample> {
    scrape.samples.iter().filter(|s| s.metric == name).collect()
}

fn value(s: &prometheus_parse::Sample) -> f64 {
    match s.value {
        prometheus_parse::Value::Counter(v)
        | prometheus_parse::Value::Gauge(v)
        | prometheus_parse::Value::Untyped(v) => v,
        ref other => panic!("unexpected value {other:?}"),
    }
}

fn parse_metrics(text: &str) -> prometheus_parse::Scrape {
    let lines = text.lines().map(|l| Ok(l.to_owned()));
    prometheus_parse::Scrape::parse(lines).unwrap_or_else(|e| panic!("bad metrics ({e}):\n{text}"))
}

#[tokio::test]
async fn metrics_parse_and_forget_ended_streams() {
    let mut f = fixture();
    let app = router(&f.hub, AuthConfig::default());
    let r = get(&app, "/metrics").await;
    assert_eq!(r.status, StatusCode::OK);
    let scrape = parse_metrics(&r.body);
    let viewers = series(&scrape, "weir_stream_viewers");
    assert_eq!(viewers.len(), 2, "{}", r.body);
    assert!(viewers
        .iter()
        .all(|s| s.labels.get("stream") == Some("test") && value(s) == 1.0));
    let conns = series(&scrape, "weir_connections");
    let rtmp = conns
        .iter()
        .find(|s| s.labels.get("protocol") == Some("rtmp"))
        .unwrap();
    assert_eq!(value(rtmp), 2.0);
    let traffic = series(&scrape, "weir_traffic_bytes_total");
    assert!(traffic
        .iter()
        .any(|s| s.labels.get("direction") == Some("in") && value(s) == 10_000.0));
    assert_eq!(series(&scrape, "weir_streams").len(), 1, "{}", r.body);
    assert!(!series(&scrape, "weir_process_resident_memory_bytes").is_empty());

    // The publisher and its viewers leave: no series names the stream,
    // and the byte counters keep what the clients sent.
    drop(f.publisher.take());
    f.clients.clear();
    let text = get(&app, "/metrics").await.body;
    let scrape = parse_metrics(&text);
    assert!(
        scrape
            .samples
            .iter()
            .all(|s| s.labels.get("stream").is_none()),
        "{text}"
    );
    let traffic = series(&scrape, "weir_traffic_bytes_total");
    assert!(traffic
        .iter()
        .any(|s| s.labels.get("direction") == Some("in") && value(s) == 10_000.0));
}

#[tokio::test]
async fn pages_and_assets_are_served() {
    let f = fixture();
    let app = router(&f.hub, AuthConfig::default());
    for uri in ["/", "/console", "/play/live/test"] {
        let r = get(&app, uri).await;
        assert_eq!(r.status, StatusCode::OK, "{uri}");
        assert!(r.body.contains("<!doctype html>"), "{uri}");
        assert!(
            r.headers.contains_key(header::CONTENT_SECURITY_POLICY),
            "{uri}"
        );
    }
    // The player page brings the chat client (served by weir-server-chat)
    // as files, which its `style-src 'self'` policy allows.
    let play = get(&app, "/play/live/test").await;
    assert!(play.body.contains(r#"<script src="/chat.js">"#));
    assert!(play.body.contains(r#"href="/chat.css""#));
    assert!(play.headers[header::CONTENT_SECURITY_POLICY]
        .to_str()
        .unwrap()
        .contains("style-src 'self'"));
    for asset in [
        "style.css",
        "common.js",
        "index.js",
        "play.js",
        "console.js",
        "chart.js",
    ] {
        let r = get(&app, &format!("/assets/{asset}")).await;
        assert_eq!(r.status, StatusCode::OK, "{asset}");
        assert_eq!(r.headers[header::CACHE_CONTROL], "no-cache", "{asset}");
    }
    // hls.js, vendored, under a versioned name: cached for good.
    let hls = get(&app, "/assets/hls-1.7.4.light.min.js").await;
    assert_eq!(hls.status, StatusCode::OK);
    assert_eq!(
        hls.headers[header::CONTENT_TYPE],
        "text/javascript; charset=utf-8"
    );
    assert_eq!(
        hls.headers[header::CACHE_CONTROL],
        "public, max-age=31536000, immutable"
    );
    assert!(hls.body.len() > 100_000 && hls.body.contains("lowLatencyMode"));
    // Its transmuxer worker is a `blob:` URL it makes; nothing else is
    // allowed from elsewhere.
    let csp = play.headers[header::CONTENT_SECURITY_POLICY]
        .to_str()
        .unwrap();
    assert!(csp.contains("worker-src blob:;"), "{csp}");
    assert!(csp.contains("script-src 'self';"), "{csp}");
    assert_eq!(
        get(&app, "/assets/nope.js").await.status,
        StatusCode::NOT_FOUND
    );
}

/// The app hands clones of one `ApiAuth` to the API and to other routes it
/// guards (chat moderation): a console login and the token work for both.
#[tokio::test]
async fn a_shared_api_auth_sees_console_logins_and_the_token() {
    let f = fixture();
    let auth = ApiAuth::new(AuthConfig {
        console_user: "admin".into(),
        console_password_hash: Some(weir_api::hash_password("pw").unwrap()),
        api_token: Some("tok".into()),
    });
    let app = weir_api::router(ApiContext {
        hub: f.hub.clone(),
        auth: auth.clone(),
        started: Instant::now(),
        app: Arc::new(Hooks),
    });
    let headers = |name: &str, value: &str| {
        let mut h = axum::http::HeaderMap::new();
        h.insert(
            axum::http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
            value.parse().unwrap(),
        );
        h
    };
    assert!(auth.enabled());
    assert!(auth.allows(&headers("authorization", "Bearer tok")));
    assert!(!auth.allows(&headers("authorization", "Bearer nope")));
    assert!(!auth.allows(&headers("cookie", "weir_session=forged")));
    let r = login(&app, "pw").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let cookie = r.headers.get(header::SET_COOKIE).unwrap().to_str().unwrap();
    let pair = cookie.split(';').next().unwrap().to_owned();
    let mut from_console = headers("cookie", &pair);
    from_console.insert("sec-fetch-site", "same-origin".parse().unwrap());
    assert!(auth.allows(&from_console));
    assert!(
        !auth.allows(&headers("cookie", &pair)),
        "no origin: no CSRF-able cookie use"
    );
    call(&app, "POST", "/console/logout", &[("cookie", &pair)], "").await;
    assert!(!auth.allows(&from_console));
    assert!(!ApiAuth::new(AuthConfig::default()).enabled());
}
