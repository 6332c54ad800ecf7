//! A web application for HTTP callbacks (`on_publish`, `on_record_done`...).

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// A tiny web application for the callbacks: answers by path (`/yes` 200,
/// `/no` 403, `/slow` never) and records `(path, body)` of each call.
pub struct Hooks {
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// Every call: path and JSON body.
    pub calls: Arc<Mutex<Vec<(String, serde_json::Value)>>>,
}

impl Hooks {
    /// Listens on a free port until the test ends.
    pub fn start() -> Hooks {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let calls = Arc::new(Mutex::new(Vec::new()));
        let record = calls.clone();
        thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(mut conn) = conn else { return };
                let record = record.clone();
                thread::spawn(move || {
                    let _ = conn.set_read_timeout(Some(Duration::from_secs(5)));
                    let mut buf = Vec::new();
                    let mut chunk = [0u8; 4096];
                    let (path, body) = loop {
                        let Ok(n) = conn.read(&mut chunk) else { return };
                        if n == 0 {
                            return;
                        }
                        buf.extend_from_slice(&chunk[..n]);
                        let text = String::from_utf8_lossy(&buf).to_string();
                        let Some(end) = text.find("\r\n\r\n") else {
                            continue;
                        };
                        let len = text[..end]
                            .lines()
                            .find_map(|l| {
                                l.to_ascii_lowercase()
                                    .strip_prefix("content-length:")
                                    .map(|v| v.trim().parse::<usize>().unwrap_or(0))
                            })
                            .unwrap_or(0);
                        if buf.len() >= end + 4 + len {
                            let path = text.split_whitespace().nth(1).unwrap_or("").to_owned();
                            let body = serde_json::from_slice(&buf[end + 4..end + 4 + len])
                                .unwrap_or_default();
                            break (path, body);
                        }
                    };
                    record.lock().unwrap().push((path.clone(), body));
                    let status = match path.as_str() {
                        "/no" => "403 Forbidden",
                        "/slow" => {
                            thread::sleep(Duration::from_secs(30));
                            return;
                        }
                        _ => "200 OK",
                    };
                    let _ = conn.write_all(
                        format!(
                            "HTTP/1.1 {status}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
                        )
                        .as_bytes(),
                    );
                });
            }
        });
        Hooks { base, calls }
    }

    /// `action:app` of every call so far.
    pub fn actions(&self) -> Vec<String> {
        self.calls
            .lock()
            .unwrap()
            .iter()
            .map(|(_, b)| {
                format!(
                    "{}:{}",
                    b["action"].as_str().unwrap_or("?"),
                    b["app"].as_str().unwrap_or("?")
                )
            })
            .collect()
    }

    /// Waits for an `action:app` call.
    pub fn wait_for(&self, action: &str, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        while !self.actions().iter().any(|a| a == action) {
            assert!(
                Instant::now() < deadline,
                "no {action} callback in {:?}",
                self.actions()
            );
            thread::sleep(Duration::from_millis(50));
        }
    }
}
