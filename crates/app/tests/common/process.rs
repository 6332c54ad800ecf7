//! A guard for every process a test starts (the server and each client), so
//! that a failing or panicking test never leaves an encoder or player running,
//! and so that a failure shows what each process said on stderr.

use std::fs::{self, File};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// One line of a child's stdout with the moment the test read it: players
/// print one line per packet, so arrival times tell whether a stream kept
/// flowing during a given window, not only how much arrived in total.
pub type Line = (Instant, String);

/// Where a child's standard output goes.
pub enum Stdout {
    /// Discarded.
    Null,
    /// Read line by line on a thread and time-stamped on arrival.
    Lines,
    /// A pipe that nobody reads: once it fills, the child blocks in write and
    /// stops reading its socket. This is how a test makes a stalled player.
    Unread,
}

/// A running child process, killed when the guard is dropped.
pub struct Proc {
    name: String,
    child: Child,
    stderr_path: PathBuf,
    lines: Arc<Mutex<Vec<Line>>>,
    reader: Option<JoinHandle<()>>,
    /// Held only to keep the pipe open (see [`Stdout::Unread`]).
    _unread: Option<ChildStdout>,
    status: Option<ExitStatus>,
}

impl Proc {
    /// Starts `cmd` with stdin closed and stderr written to `<log_dir>/<name>.stderr`.
    pub fn spawn(name: &str, log_dir: &Path, mut cmd: Command, stdout: Stdout) -> Proc {
        let stderr_path = log_dir.join(format!("{name}.stderr"));
        let stderr = File::create(&stderr_path)
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", stderr_path.display()));
        cmd.stdin(Stdio::null()).stderr(stderr);
        match stdout {
            Stdout::Null => cmd.stdout(Stdio::null()),
            Stdout::Lines | Stdout::Unread => cmd.stdout(Stdio::piped()),
        };
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name} ({cmd:?}): {e}"));
        let lines = Arc::new(Mutex::new(Vec::new()));
        let mut reader = None;
        let mut unread = None;
        match stdout {
            Stdout::Null => {}
            Stdout::Lines => {
                let out = child.stdout.take().expect("piped stdout");
                let sink = Arc::clone(&lines);
                reader = Some(thread::spawn(move || {
                    for line in BufReader::new(out).lines() {
                        let Ok(line) = line else { break };
                        sink.lock().unwrap().push((Instant::now(), line));
                    }
                }));
            }
            Stdout::Unread => unread = child.stdout.take(),
        }
        Proc {
            name: name.to_string(),
            child,
            stderr_path,
            lines,
            reader,
            _unread: unread,
            status: None,
        }
    }

    /// The process id, for looking the child's sockets up in /proc.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The exit status if the child has exited (never blocks).
    pub fn try_status(&mut self) -> Option<ExitStatus> {
        if self.status.is_none() {
            self.status = self.child.try_wait().expect("try_wait");
        }
        self.status
    }

    /// Whether the child is still running.
    pub fn is_running(&mut self) -> bool {
        self.try_status().is_none()
    }

    /// Waits at most `timeout` for the child to exit.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.try_status() {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits at most `timeout` for the child to exit, failing the test if it does not.
    pub fn expect_exit(&mut self, timeout: Duration) -> ExitStatus {
        match self.wait_exit(timeout) {
            Some(status) => status,
            None => panic!(
                "{} still running after {timeout:?}; stderr tail:\n{}",
                self.name,
                self.stderr_tail(30)
            ),
        }
    }

    /// Fails the test (with the child's stderr) if the child has exited.
    pub fn assert_running(&mut self, why: &str) {
        if let Some(status) = self.try_status() {
            panic!(
                "{} exited ({status}) but {why}; stderr tail:\n{}",
                self.name,
                self.stderr_tail(30)
            );
        }
    }

    /// Asks the child to finish cleanly (SIGINT: ffmpeg, rtmpdump and
    /// `gst-launch-1.0 -e` then close their output files properly), waits up
    /// to `grace`, then kills it.
    pub fn stop(&mut self, grace: Duration) {
        if self.is_running() {
            // bash's builtin kill: always present, unlike procps' kill binary.
            let sent = Command::new("bash")
                .args(["-c", &format!("kill -INT {}", self.pid())])
                .status();
            if !matches!(sent, Ok(s) if s.success()) && self.is_running() {
                panic!("cannot send SIGINT to {}: {sent:?}", self.name);
            }
            if self.wait_exit(grace).is_none() {
                self.kill();
            }
        }
    }

    /// Kills the child (SIGKILL) and reaps it.
    pub fn kill(&mut self) {
        if self.is_running() {
            // Errors mean it exited meanwhile; the wait below reaps it either way.
            let _ = self.child.kill();
            self.status = self.child.wait().ok();
        }
    }

    /// Everything read from stdout so far. Once the child has exited this
    /// waits for the reader to drain the pipe, so nothing printed is missed.
    pub fn lines(&mut self) -> Vec<Line> {
        if self.try_status().is_some() {
            if let Some(reader) = self.reader.take() {
                reader.join().expect("stdout reader thread");
            }
        }
        self.lines.lock().unwrap().clone()
    }

    /// The child's whole stderr so far.
    pub fn stderr_text(&self) -> String {
        fs::read_to_string(&self.stderr_path).unwrap_or_default()
    }

    /// The last `n` lines of the child's stderr, for failure messages.
    pub fn stderr_tail(&self, n: usize) -> String {
        tail(&self.stderr_text(), n)
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
        if thread::panicking() {
            let tail = self.stderr_tail(40);
            if !tail.trim().is_empty() {
                eprintln!("---- {} stderr (last 40 lines) ----\n{tail}", self.name);
            }
        }
    }
}

/// The last `n` lines of `text`.
pub fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// A process's resident set size in KiB, from /proc/PID/status (the test
/// fails if it cannot be read: a memory bound must never pass on a 0).
pub fn rss_kib(pid: u32) -> u64 {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).expect("read /proc status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS in /proc status")
}
