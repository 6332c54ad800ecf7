//! RTSP helpers shared by the RTSP end-to-end tests.

use std::net::TcpStream;
use std::thread::sleep;
use std::time::{Duration, Instant};

use super::http::counter;
use super::probe::{self, Analysis};
use super::server::Server;

/// How long a stream may take to become playable after its publisher starts.
pub const PLAYABLE: Duration = Duration::from_secs(20);
/// ffmpeg/ffprobe options for RTP interleaved on the RTSP connection.
pub const TCP: &[&str] = &["-rtsp_transport", "tcp"];
/// ffmpeg/ffprobe options for RTP over UDP unicast.
pub const UDP: &[&str] = &["-rtsp_transport", "udp"];

/// Waits (bounded) until the server's RTSP port accepts connections: the
/// harness only waits for RTMP.
pub fn wait_rtsp(srv: &Server) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(("127.0.0.1", srv.rtsp_port())).is_err() {
        assert!(Instant::now() < deadline, "RTSP port never opened");
        sleep(Duration::from_millis(50));
    }
}

/// Polls ffprobe with `opts` until `url` plays video (bounded by
/// [`PLAYABLE`]).
pub fn wait_playable(srv: &Server, url: &str, opts: &[&str]) {
    let deadline = Instant::now() + PLAYABLE;
    loop {
        let mut player = probe::spawn_player_with(srv.dir(), "wait-playable", url, 1, opts);
        let ok = player
            .wait_exit(Duration::from_secs(15))
            .is_some_and(|s| s.success())
            && Analysis::of(&mut player).video_count() > 0;
        if ok {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{url} did not become playable within {PLAYABLE:?}; server log:\n{}",
            srv.log()
        );
        sleep(Duration::from_millis(300));
    }
}

/// The value of `weir_connection_errors_total{protocol="rtsp",kind="KIND"}`
/// (0 when the series is absent).
pub fn rtsp_errors(srv: &Server, kind: &str) -> u64 {
    let series = format!("weir_connection_errors_total{{protocol=\"rtsp\",kind=\"{kind}\"}}");
    counter(srv.http_port(), &series)
}
