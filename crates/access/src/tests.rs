//! The gate against a tiny callback server on loopback.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use weir_hub::{Action, Gate, Hub, HubConfig};
use weir_media::StreamKey;

use super::*;

/// What the callback server does with each request.
#[derive(Clone, Copy)]
enum Answer {
    Status(u16),
    Hang,
}

/// Serves `answer` to every request and sends each request's JSON body to
/// the returned channel.
async fn callback_server(answer: Answer) -> (String, mpsc::UnboundedReceiver<serde_json::Value>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = listener.accept().await else {
                return;
            };
            let tx = tx.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                let body = loop {
                    let Ok(n) = sock.read(&mut chunk).await else {
                        return;
                    };
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    let text = String::from_utf8_lossy(&buf).to_string();
                    if let Some(end) = text.find("\r\n\r\n") {
                        let len: usize = text
                            .lines()
                            .find_map(|l| {
                                l.to_ascii_lowercase()
                                    .strip_prefix("content-length:")
                                    .map(|v| v.trim().parse().unwrap_or(0))
                            })
                            .unwrap_or(0);
                        if buf.len() >= end + 4 + len {
                            break buf[end + 4..end + 4 + len].to_vec();
                        }
                    }
                };
                let _ = tx.send(serde_json::from_slice(&body).unwrap_or_default());
                match answer {
                    Answer::Hang => tokio::time::sleep(Duration::from_secs(60)).await,
                    Answer::Status(code) => {
                        let resp = format!(
                            "HTTP/1.1 {code} X\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
                        );
                        let _ = sock.write_all(resp.as_bytes()).await;
                    }
                }
            });
        }
    });
    (url, rx)
}

fn request(action: Action, addr: &str, query: &str) -> AccessRequest {
    AccessRequest {
        action,
        key: StreamKey::new("live", "cam").unwrap(),
        client_id: 7,
        addr: addr.parse::<SocketAddr>().unwrap(),
        protocol: "rtmp",
        query: query.into(),
    }
}

fn with_hooks(url: &str, timeout: f64) -> AuthConfig {
    AuthConfig {
        default: AppConfig {
            publish: RuleConfig::default(),
            on_publish: url.into(),
            on_unpublish: url.into(),
            on_play: url.into(),
            on_stop: url.into(),
            on_connect: url.into(),
            ..AppConfig::default()
        },
        hook_timeout_secs: timeout,
        ..AuthConfig::default()
    }
}

#[tokio::test]
async fn a_2xx_callback_allows_and_gets_the_request() {
    let (url, mut bodies) = callback_server(Answer::Status(204)).await;
    let access = Access::new(&with_hooks(&url, 3.0)).unwrap();
    let req = request(Action::Publish, "192.0.2.9:4000", "token=abc&x=1");
    assert_eq!(access.check(&req).await, Ok(()));
    let body = bodies.recv().await.unwrap();
    assert_eq!(body["action"], "on_publish");
    assert_eq!(body["app"], "live");
    assert_eq!(body["stream"], "cam");
    assert_eq!(body["ip"], "192.0.2.9");
    assert_eq!(body["protocol"], "rtmp");
    assert_eq!(body["client_id"], 7);
    assert_eq!(body["params"]["token"], "abc");
    assert_eq!(body["query"], "token=abc&x=1");
}

#[tokio::test]
async fn a_refusing_or_silent_callback_denies() {
    let (url, _bodies) = callback_server(Answer::Status(403)).await;
    let access = Access::new(&with_hooks(&url, 3.0)).unwrap();
    let err = access
        .check(&request(Action::Play, "192.0.2.9:4000", ""))
        .await
        .unwrap_err();
    assert!(
        err.reason.contains("on_play callback answered 403"),
        "{err}"
    );

    let (url, _bodies) = callback_server(Answer::Hang).await;
    let access = Access::new(&with_hooks(&url, 0.3)).unwrap();
    let started = std::time::Instant::now();
    let err = access
        .check(&request(Action::Play, "192.0.2.9:4000", ""))
        .await
        .unwrap_err();
    assert!(err.reason.contains("timed out"), "{err}");
    assert!(started.elapsed() < Duration::from_secs(3));

    // Nobody listening: refused too.
    let access = Access::new(&with_hooks("http://127.0.0.1:9/none", 1.0)).unwrap();
    assert!(access
        .check(&request(Action::Play, "192.0.2.9:4000", ""))
        .await
        .is_err());
}

#[tokio::test]
async fn local_checks_come_before_the_callback() {
    let (url, mut bodies) = callback_server(Answer::Status(200)).await;
    let mut cfg = with_hooks(&url, 3.0);
    cfg.default.publish = RuleConfig {
        mode: Mode::Keys,
        keys: vec!["k".into()],
        ..RuleConfig::default()
    };
    let access = Access::new(&cfg).unwrap();
    assert!(access
        .check(&request(Action::Publish, "192.0.2.9:1", "key=wrong"))
        .await
        .is_err());
    assert!(access
        .check(&request(Action::Publish, "192.0.2.9:1", "key=k"))
        .await
        .is_ok());
    // Only the request with the right key reached the web application.
    assert_eq!(bodies.recv().await.unwrap()["params"]["key"], "k");
    assert!(bodies.try_recv().is_err());
}

#[tokio::test]
async fn sessions_ending_and_connects_are_notified_through_the_hub() {
    let (url, mut bodies) = callback_server(Answer::Status(200)).await;
    let access = Access::new(&with_hooks(&url, 3.0)).unwrap();
    let hub = Hub::with_gate(HubConfig::default(), Arc::new(access));
    let key = StreamKey::new("live", "cam").unwrap();
    let addr = "192.0.2.9:1".parse().unwrap();
    let (_client, admission) = hub
        .admit_new_client(addr, "rtmp", Action::Play, &key, "")
        .await
        .unwrap();
    assert_eq!(bodies.recv().await.unwrap()["action"], "on_play");
    drop(admission);
    let stop = tokio::time::timeout(Duration::from_secs(5), bodies.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stop["action"], "on_stop");
    hub.connected(&ConnectInfo {
        client_id: 3,
        addr: "192.0.2.9:1".parse().unwrap(),
        protocol: "rtmp",
        app: "live".into(),
        url: Some("rtmp://h/live".into()),
    });
    let connect = tokio::time::timeout(Duration::from_secs(5), bodies.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(connect["action"], "on_connect");
    assert_eq!(connect["tc_url"], "rtmp://h/live");
}

#[tokio::test]
async fn failed_notifications_are_retried_a_bounded_number_of_times() {
    let (url, mut bodies) = callback_server(Answer::Status(500)).await;
    let mut cfg = with_hooks(&url, 1.0);
    cfg.hook_retries = 2;
    let access = Access::new(&cfg).unwrap();
    access.ended(&request(Action::Publish, "192.0.2.9:1", ""));
    for _ in 0..3 {
        let body = tokio::time::timeout(Duration::from_secs(5), bodies.recv())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(body["action"], "on_unpublish");
    }
    // No fourth attempt.
    assert!(
        tokio::time::timeout(Duration::from_millis(1500), bodies.recv())
            .await
            .is_err()
    );
}

#[test]
fn the_default_lets_only_loopback_publish() {
    let access = Access::new(&AuthConfig::default()).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        assert!(access
            .check(&request(Action::Publish, "127.0.0.1:1", ""))
            .await
            .is_ok());
        assert!(access
            .check(&request(Action::Publish, "198.51.100.1:1", ""))
            .await
            .is_err());
        assert!(access
            .check(&request(Action::Play, "198.51.100.1:1", ""))
            .await
            .is_ok());
    });
}
