//! `weir serve` as a test fixture: each test gets its own server on free
//! loopback ports with its own data directory, so tests run in parallel.

use std::fs;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use tempfile::TempDir;

use super::process::{Proc, Stdout};

/// How long a server may take to accept connections on a loaded 2-core machine.
const READY_TIMEOUT: Duration = Duration::from_secs(20);

/// A port that was free a moment ago. Another process may take it before the
/// server binds it; [`Server::start_with_config`] retries in that case.
pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    listener.local_addr().expect("local_addr").port()
}

/// An even UDP port that was free a moment ago with the next one free
/// too: RTSP's RTP and RTCP ports. Clients (ffmpeg among them) send their
/// RTCP to the RTP port + 1 whatever `server_port` says, as RFC 3550 §11
/// expects, so the pair must be adjacent.
pub fn free_udp_pair() -> (u16, u16) {
    for _ in 0..100 {
        let socket = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind udp 127.0.0.1:0");
        let port = socket.local_addr().expect("local_addr").port();
        let rtp = port & !1;
        let free = |p: u16| std::net::UdpSocket::bind(("127.0.0.1", p)).is_ok();
        drop(socket);
        if rtp < u16::MAX - 1 && free(rtp) && free(rtp + 1) {
            return (rtp, rtp + 1);
        }
    }
    panic!("no adjacent pair of free UDP ports");
}

/// A running `weir serve`, killed on drop. On a failing test its stderr tail
/// is printed and its directory (data, config, every client's stderr) is kept.
pub struct Server {
    proc: Proc,
    rtmp_port: u16,
    http_port: u16,
    rtsp_port: u16,
    dir: Option<TempDir>,
}

impl Server {
    /// Starts a server with the default configuration.
    pub fn start() -> Server {
        Server::start_with_config("")
    }

    /// Starts a server with `config` (TOML, as for `--config`) and waits until
    /// its RTMP port accepts connections.
    pub fn start_with_config(config: &str) -> Server {
        Server::start_on("127.0.0.1", config)
    }

    /// Like [`Server::start_with_config`], listening on `host` (e.g.
    /// `0.0.0.0` to be reached through a non-loopback address).
    pub fn start_on(host: &str, config: &str) -> Server {
        let dir = tempfile::Builder::new()
            .prefix("weir-e2e-")
            .tempdir()
            .expect("temp dir");
        let mut last_log = String::new();
        for attempt in 1..=3 {
            match try_start(dir.path(), host, config, attempt) {
                Ok((proc, rtmp_port, http_port, rtsp_port)) => {
                    return Server {
                        proc,
                        rtmp_port,
                        http_port,
                        rtsp_port,
                        dir: Some(dir),
                    }
                }
                // Lost the race for a free port: pick new ports.
                Err(log) if log.to_lowercase().contains("in use") => last_log = log,
                Err(log) => panic!("weir serve exited before it was ready; stderr:\n{log}"),
            }
        }
        panic!("weir serve could not bind free ports in 3 attempts; stderr:\n{last_log}");
    }

    /// `rtmp://127.0.0.1:PORT/live/{key}` on this server.
    pub fn rtmp_url(&self, key: &str) -> String {
        format!("rtmp://127.0.0.1:{}/live/{key}", self.rtmp_port)
    }

    /// `rtsp://127.0.0.1:PORT/live/{key}` on this server.
    pub fn rtsp_url(&self, key: &str) -> String {
        format!("rtsp://127.0.0.1:{}/live/{key}", self.rtsp_port)
    }

    /// The RTSP port.
    pub fn rtsp_port(&self) -> u16 {
        self.rtsp_port
    }

    /// `http://127.0.0.1:PORT` of this server's HTTP listener.
    pub fn http_base(&self) -> String {
        format!("http://127.0.0.1:{}", self.http_port)
    }

    /// The HTTP port.
    pub fn http_port(&self) -> u16 {
        self.http_port
    }

    /// The server's process id (to read its CPU time in /proc).
    pub fn pid(&self) -> u32 {
        self.proc.pid()
    }

    /// The RTMP port, to find this server's sockets in /proc/net/tcp.
    pub fn rtmp_port(&self) -> u16 {
        self.rtmp_port
    }

    /// The test's scratch directory: clients write their logs and files here.
    pub fn dir(&self) -> &Path {
        self.dir.as_ref().expect("server dir").path()
    }

    /// What the server has logged so far.
    pub fn log(&self) -> String {
        self.proc.stderr_text()
    }

    /// Kills the server with SIGKILL (no shutdown, no finalizing: a crash)
    /// and starts a new one on the same directory and data with `config`,
    /// on fresh ports.
    pub fn crash_and_restart(&mut self, config: &str) {
        self.proc.kill();
        let dir = self.dir().to_owned();
        for attempt in 10..13 {
            match try_start(&dir, "127.0.0.1", config, attempt) {
                Ok((proc, rtmp_port, http_port, rtsp_port)) => {
                    self.proc = proc;
                    self.rtmp_port = rtmp_port;
                    self.http_port = http_port;
                    self.rtsp_port = rtsp_port;
                    return;
                }
                Err(log) if log.to_lowercase().contains("in use") => {}
                Err(log) => panic!("weir serve did not restart; stderr:\n{log}"),
            }
        }
        panic!("weir serve could not bind free ports to restart");
    }

    /// Kills the server with SIGKILL (a node that dies without a word).
    pub fn kill_hard(&mut self) {
        self.proc.kill();
    }

    /// Fails the test if the server has died (it must survive every client).
    pub fn assert_running(&mut self) {
        self.proc.assert_running("the server must keep running");
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.proc.kill();
        if thread::panicking() {
            if let Some(dir) = self.dir.take() {
                eprintln!("---- test files kept in {} ----", dir.keep().display());
            }
        }
    }
}

/// Spawns `weir serve` on fresh ports and waits for its RTMP port. `Err`
/// carries the server's stderr when it exited before it was ready.
fn try_start(
    dir: &Path,
    host: &str,
    config: &str,
    attempt: u32,
) -> Result<(Proc, u16, u16, u16), String> {
    let rtmp_port = free_port();
    let mut http_port = free_port();
    while http_port == rtmp_port {
        http_port = free_port();
    }
    let mut rtsp_port = free_port();
    while rtsp_port == rtmp_port || rtsp_port == http_port {
        rtsp_port = free_port();
    }
    let (rtp_port, rtcp_port) = free_udp_pair();
    let data_dir = dir.join("data");
    fs::create_dir_all(&data_dir).expect("create data dir");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_weir"));
    cmd.arg("serve")
        .arg("--rtmp-listen")
        .arg(format!("{host}:{rtmp_port}"))
        .arg("--http-listen")
        .arg(format!("{host}:{http_port}"))
        .arg("--rtsp-listen")
        .arg(format!("{host}:{rtsp_port}"))
        .arg("--rtsp-rtp-port")
        .arg(rtp_port.to_string())
        .arg("--rtsp-rtcp-port")
        .arg(rtcp_port.to_string())
        .arg("--data-dir")
        .arg(&data_dir);
    // With [tls], RTSPS would listen on its fixed default port 8322, which
    // parallel tests cannot share: off unless the test names a port.
    if !config.contains("tls_listen") {
        cmd.arg("--rtsps-listen").arg("");
    }
    if !config.is_empty() {
        let path = dir.join("weir.toml");
        fs::write(&path, config).expect("write config");
        cmd.arg("--config").arg(path);
    }
    if std::env::var_os("RUST_LOG").is_none() {
        cmd.env("RUST_LOG", "info");
    }
    cmd.env("RUST_BACKTRACE", "1");
    let mut proc = Proc::spawn(&format!("weir-serve-{attempt}"), dir, cmd, Stdout::Null);
    let addr = SocketAddr::from(([127, 0, 0, 1], rtmp_port));
    let deadline = Instant::now() + READY_TIMEOUT;
    loop {
        if TcpStream::connect_timeout(&addr, Duration::from_millis(500)).is_ok() {
            return Ok((proc, rtmp_port, http_port, rtsp_port));
        }
        if proc.try_status().is_some() {
            return Err(proc.stderr_text());
        }
        if Instant::now() >= deadline {
            panic!(
                "weir serve did not accept connections on {addr} within {READY_TIMEOUT:?}; stderr:\n{}",
                proc.stderr_tail(40)
            );
        }
        thread::sleep(Duration::from_millis(50));
    }
}

/// An IPv4 address of this machine that is not loopback, for tests of
/// address-based rules: a client connecting to it is seen with that
/// address, not 127.0.0.1. A machine with only `lo` (a bare network
/// namespace) gets 198.18.0.1 (the benchmarking range) added to `lo`,
/// which needs root and iproute2.
pub fn non_loopback_address() -> String {
    let out = Command::new("hostname")
        .arg("-I")
        .output()
        .expect("hostname -I (Debian package hostname)");
    let found = String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .find(|a| {
            a.parse::<std::net::Ipv4Addr>()
                .is_ok_and(|ip| !ip.is_loopback())
        })
        .map(str::to_owned);
    if let Some(addr) = found {
        return addr;
    }
    const FALLBACK: &str = "198.18.0.1";
    let added = Command::new("ip")
        .args(["addr", "add", &format!("{FALLBACK}/32"), "dev", "lo"])
        .output()
        .expect("ip (Debian package iproute2)");
    let err = String::from_utf8_lossy(&added.stderr);
    assert!(
        added.status.success() || err.contains("exists"),
        "this test needs a non-loopback IPv4 address; adding {FALLBACK} to lo failed: {err}"
    );
    FALLBACK.to_owned()
}
