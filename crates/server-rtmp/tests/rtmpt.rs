//! RTMPT on the adapter alone: the routes served by a bare axum server
//! next to the RTMP listener, a publisher over RTMP and players over
//! `weir_rtmp_client::rtmpt` (the client side), and the bad input the
//! tunnel must survive.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Request, StatusCode};
use axum::Router;
use common::*;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;
use weir_hub::{Hub, HubConfig};
use weir_rtmp::message::type_id;
use weir_rtmp_client::rtmpt::connect as rtmpt_connect;
use weir_rtmp_client::{Client, Options};
use weir_server_rtmp::{Config, RtmpServer, RtmptConfig};

/// An RTMP listener and an HTTP listener with the RTMPT routes.
struct Both {
    hub: Hub,
    rtmp: SocketAddr,
    http: SocketAddr,
    routes: Router,
    shutdown: CancellationToken,
}

impl Drop for Both {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

async fn start(config: Config) -> Both {
    let hub = Hub::new(HubConfig::default());
    let shutdown = CancellationToken::new();
    let server = RtmpServer::new(hub.clone(), config, shutdown.clone());
    let rtmp_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let rtmp = rtmp_listener.local_addr().unwrap();
    tokio::spawn(server.clone().run(rtmp_listener, None));
    let routes = server.rtmpt_routes(false);
    let http_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let http = http_listener.local_addr().unwrap();
    let app = routes
        .clone()
        .into_make_service_with_connect_info::<SocketAddr>();
    tokio::spawn(async move { axum::serve(http_listener, app).await });
    Both {
        hub,
        rtmp,
        http,
        routes,
        shutdown,
    }
}

/// A POST straight into the routes (no socket), from `peer`.
async fn post(
    routes: &Router,
    peer: SocketAddr,
    path: &str,
    body: Vec<u8>,
) -> (StatusCode, Vec<u8>) {
    let mut req = Request::post(path)
        .header("content-type", "application/x-fcs")
        .body(Body::from(body))
        .unwrap();
    req.extensions_mut().insert(ConnectInfo(peer));
    let resp = routes.clone().oneshot(req).await.unwrap();
    let status = resp.status();
    let body = axum::body::to_bytes(resp.into_body(), usize::MAX)
        .await
        .unwrap();
    (status, body.to_vec())
}

fn rtmpt_clients(hub: &Hub) -> usize {
    hub.clients()
        .list()
        .iter()
        .filter(|c| c.protocol == "rtmpt")
        .count()
}

/// A player over RTMPT gets the stream a publisher sends over RTMP, and is
/// listed with protocol `rtmpt`.
#[tokio::test]
async fn a_player_over_rtmpt_gets_the_stream() {
    let s = start(Config::default()).await;
    let mut publisher = bounded(Client::connect(
        &format!("rtmp://{}/live/t", s.rtmp),
        weir_rtmp::client::ClientMode::Publish,
        &Options::default(),
    ))
    .await
    .unwrap();
    send_headers(&mut publisher, 0).await;
    publisher
        .send_media(type_id::VIDEO, 0, video(true, 1, 100))
        .await
        .unwrap();
    let stream = bounded(rtmpt_connect("127.0.0.1", s.http.port(), WAIT))
        .await
        .unwrap();
    let tc_url = format!("rtmpt://{}/live", s.http);
    let mut player = bounded(Player::over(stream, &tc_url, "t")).await;
    player.until_frame(1).await;
    for n in 2..40 {
        publisher
            .send_media(type_id::VIDEO, n * 40, video(n % 10 == 0, n, 20_000))
            .await
            .unwrap();
    }
    let seen = player.until_frame(39).await;
    let frames: Vec<u32> = seen
        .iter()
        .filter_map(|g| match g {
            Got::Video(n, _) => Some(*n),
            _ => None,
        })
        .collect();
    assert_eq!(frames, (2..40).collect::<Vec<_>>(), "every frame, in order");
    assert_eq!(rtmpt_clients(&s.hub), 1);
}

/// Unknown sessions are 404, a body over the limit 413, a replayed
/// sequence number 400 (and the session goes on), garbage RTMP inside the
/// tunnel ends only that session.
#[tokio::test]
async fn bad_requests() {
    let s = start(Config {
        rtmpt: RtmptConfig {
            max_body_bytes: 64 * 1024,
            ..RtmptConfig::default()
        },
        ..Config::default()
    })
    .await;
    let peer: SocketAddr = "127.0.0.1:5000".parse().unwrap();
    let r = &s.routes;
    assert_eq!(
        post(r, peer, "/idle/nosuch/1", vec![0]).await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        post(r, peer, "/send/no%20such/1", vec![0]).await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        post(r, peer, "/close/nosuch/1", vec![0]).await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        post(r, peer, "/fcs/ident2", vec![0]).await.0,
        StatusCode::NOT_FOUND
    );
    let (status, body) = post(r, peer, "/open/1", vec![0]).await;
    assert_eq!(status, StatusCode::OK);
    let id = String::from_utf8(body).unwrap().trim().to_owned();
    assert_eq!(id.len(), 16);
    let big = vec![3u8; 64 * 1024 + 1];
    assert_eq!(
        post(r, peer, &format!("/send/{id}/1"), big).await.0,
        StatusCode::PAYLOAD_TOO_LARGE
    );
    // C0 + C1: the server answers S0 S1 S2.
    let mut c0c1 = vec![3u8];
    c0c1.extend_from_slice(&[0u8; 1536]);
    let (status, body) = post(r, peer, &format!("/send/{id}/5"), c0c1).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body[0], 1, "data flowed: poll again at once");
    let mut got = body.len() - 1;
    let mut seq = 6;
    while got < 1 + 1536 * 2 {
        let (status, body) = post(r, peer, &format!("/idle/{id}/{seq}"), vec![0]).await;
        assert_eq!(status, StatusCode::OK);
        got += body.len() - 1;
        seq += 1;
    }
    assert_eq!(got, 1 + 1536 * 2, "S0 S1 S2");
    let (status, _) = post(r, peer, &format!("/idle/{id}/5"), vec![0]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "a replayed number");
    let (status, body) = post(r, peer, &format!("/idle/{id}/{seq}"), vec![0]).await;
    assert_eq!(status, StatusCode::OK, "the session survives it");
    assert!(body[0] > 1, "nothing flowed: the interval grows");
    // C2, then garbage: the session ends, and only it.
    let other = post(r, peer, "/open/1", vec![0]).await.1;
    let other = String::from_utf8(other).unwrap().trim().to_owned();
    let mut garbage = vec![0u8; 1536];
    garbage.extend_from_slice(&[0xC7; 4096]);
    seq += 1;
    post(r, peer, &format!("/send/{id}/{seq}"), garbage).await;
    let gone = bounded(async {
        loop {
            seq += 1;
            if post(r, peer, &format!("/idle/{id}/{seq}"), vec![0]).await.0 == StatusCode::NOT_FOUND
            {
                break;
            }
        }
    });
    gone.await;
    let (status, _) = post(r, peer, &format!("/idle/{other}/1"), vec![0]).await;
    assert_eq!(status, StatusCode::OK, "the other session is untouched");
    assert_eq!(
        post(r, peer, &format!("/close/{other}/2"), vec![0]).await.0,
        StatusCode::OK
    );
    assert_eq!(
        post(r, peer, &format!("/idle/{other}/3"), vec![0]).await.0,
        StatusCode::NOT_FOUND
    );
}

/// 10,000 sessions opened and never polled: the table holds them all
/// (each an RTMP connection waiting for its handshake), they expire after
/// the idle timeout, and the places they took in the limits come back.
/// Past the connection limit an open is refused with 503.
#[tokio::test]
async fn ten_thousand_unpolled_sessions_expire() {
    const N: usize = 10_000;
    let s = start(Config {
        max_connections: N,
        handshake_timeout: Duration::from_secs(120),
        rtmpt: RtmptConfig {
            idle_timeout: Duration::from_secs(4),
            ..RtmptConfig::default()
        },
        ..Config::default()
    })
    .await;
    let r = &s.routes;
    for i in 0..N {
        let peer = SocketAddr::from(([127, 0, (i >> 8) as u8, i as u8], 4000));
        let (status, _) = post(r, peer, "/open/1", vec![0]).await;
        assert_eq!(status, StatusCode::OK, "open {i}");
    }
    let peer: SocketAddr = "127.0.0.1:1".parse().unwrap();
    assert_eq!(
        post(r, peer, "/open/1", vec![0]).await.0,
        StatusCode::SERVICE_UNAVAILABLE,
        "over max_connections"
    );
    // Every session's connection task registers it, then it expires.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let mut peak = 0;
    loop {
        let listed = rtmpt_clients(&s.hub);
        peak = peak.max(listed);
        if listed == 0 && peak > 0 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{listed} sessions left after 60 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(peak >= N * 9 / 10, "at most {peak} sessions listed at once");
    let (status, _) = post(r, peer, "/open/1", vec![0]).await;
    assert_eq!(status, StatusCode::OK, "places come back");
    let expired = s
        .hub
        .clients()
        .errors()
        .iter()
        .find(|e| e.protocol == "rtmpt" && e.kind == "idle_timeout")
        .map_or(0, |e| e.count);
    assert_eq!(expired, N as u64);
}
