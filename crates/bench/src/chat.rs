//! Chat mode (`--chat-url`): how fast does a chat server deliver a comment
//! to every member of a big room, and what does that cost it?
//!
//! N members (`-n`) connect to one room, ramped at `-r` per second; every
//! member pings every 10 s (with its own phase) like a browser client.
//! `--chat-senders` of them each send `--chat-rate` messages per second,
//! phases spread evenly. A message's text carries its send instant on this
//! process's monotonic clock, so every member that receives it knows its
//! delivery latency without any clock sync; all members measure (a
//! substring scan per frame, cheap next to the WebSocket decode). The
//! server's CPU comes from /proc for `--server-pid`'s process tree, as in
//! the media mode.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use parking_lot::Mutex;
use serde::Serialize;
use tokio::sync::watch;
use tokio_tungstenite::tungstenite::Message;

use crate::procstat;
use crate::Args;

/// Application heartbeat period, as `chat.js` uses it.
const PING_EVERY: Duration = Duration::from_secs(10);
/// Time after the last send for deliveries still in flight.
const GRACE: Duration = Duration::from_secs(2);

/// What a chat run measured.
#[derive(Debug, Serialize)]
pub(crate) struct ChatReport {
    label: String,
    url: String,
    members: usize,
    connected: usize,
    failed: usize,
    closed_by_server: usize,
    senders: usize,
    rate_per_sender: f64,
    seconds: f64,
    sent: u64,
    expected_deliveries: u64,
    delivered: u64,
    latency_ms_p50: f64,
    latency_ms_p90: f64,
    latency_ms_p99: f64,
    latency_ms_max: f64,
    server_cpu_percent: Option<f64>,
    server_rss_mb: Option<f64>,
    tool_cpu_percent: f64,
}

impl ChatReport {
    fn summary(&self) -> String {
        let cpu = self
            .server_cpu_percent
            .map_or("n/a (no --server-pid)".into(), |c| {
                format!("{c:.1}% of one core")
            });
        let rss = self
            .server_rss_mb
            .map_or("n/a".into(), |m| format!("{m:.1} MB"));
        format!(
            "chat {url}: {connected}/{members} members ({failed} failed, {closed} closed by the server)\n\
             {senders} senders x {rate}/s for {secs:.1} s: {sent} sent, {delivered}/{expected} deliveries\n\
             delivery latency: p50 {p50:.2} ms, p90 {p90:.2} ms, p99 {p99:.2} ms, max {max:.2} ms\n\
             server: cpu {cpu}, rss {rss}; this tool: cpu {tool:.1}%\n",
            url = self.url,
            connected = self.connected,
            members = self.members,
            failed = self.failed,
            closed = self.closed_by_server,
            senders = self.senders,
            rate = self.rate_per_sender,
            secs = self.seconds,
            sent = self.sent,
            delivered = self.delivered,
            expected = self.expected_deliveries,
            p50 = self.latency_ms_p50,
            p90 = self.latency_ms_p90,
            p99 = self.latency_ms_p99,
            max = self.latency_ms_max,
            tool = self.tool_cpu_percent,
        )
    }
}

/// Counters every member task shares.
struct Shared {
    epoch: Instant,
    /// Messages sent with a send instant in [window_start_us, window_end_us).
    window_start_us: AtomicU64,
    window_end_us: AtomicU64,
    connected: AtomicUsize,
    failed: AtomicUsize,
    closed: AtomicUsize,
    sent: AtomicU64,
    latencies: Mutex<Vec<u32>>,
}

impl Shared {
    fn now_us(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_micros()).unwrap_or(u64::MAX)
    }

    fn in_window(&self, t_us: u64) -> bool {
        t_us >= self.window_start_us.load(Ordering::Relaxed)
            && t_us < self.window_end_us.load(Ordering::Relaxed)
    }
}

/// Runs chat mode, prints the report.
pub(crate) fn main(args: &Args, url: &str) -> anyhow::Result<()> {
    anyhow::ensure!(args.players > 0, "-n must be at least 1");
    anyhow::ensure!(
        args.chat_senders <= args.players,
        "--chat-senders must be at most -n"
    );
    anyhow::ensure!(args.chat_rate > 0.0, "--chat-rate must be positive");
    anyhow::ensure!(args.ramp > 0.0, "--ramp must be positive");
    raise_open_files(args.players as u64 + 256);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let report = runtime.block_on(run(args, url))?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", report.summary());
    }
    std::process::exit(0)
}

/// Raises the soft open-files limit to the hard one (each member is a
/// socket), warning if even that is too low.
fn raise_open_files(need: u64) {
    use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};
    let lim = getrlimit(Resource::Nofile);
    let hard = lim.maximum;
    if lim.current.is_some_and(|c| c < need) {
        let raised = Rlimit {
            current: hard,
            maximum: hard,
        };
        if let Err(e) = setrlimit(Resource::Nofile, raised) {
            eprintln!("warning: cannot raise the open files limit: {e}");
        }
    }
    if hard.is_some_and(|h| h < need) {
        eprintln!("warning: {need} open files needed, the hard limit is {hard:?} (raise it with ulimit -Hn)");
    }
}

async fn run(args: &Args, url: &str) -> anyhow::Result<ChatReport> {
    let shared = Arc::new(Shared {
        epoch: Instant::now(),
        window_start_us: AtomicU64::new(u64::MAX),
        window_end_us: AtomicU64::new(u64::MAX),
        connected: AtomicUsize::new(0),
        failed: AtomicUsize::new(0),
        closed: AtomicUsize::new(0),
        sent: AtomicU64::new(0),
        latencies: Mutex::new(Vec::new()),
    });
    let (stop_tx, stop_rx) = watch::channel(false);
    let (send_tx, send_rx) = watch::channel(false);
    let mut tasks = Vec::with_capacity(args.players);
    let ramp_gap = Duration::from_secs_f64(1.0 / args.ramp);
    let sender_every = args.players / args.chat_senders.max(1);
    for i in 0..args.players {
        let sender = (args.chat_senders > 0
            && i % sender_every == 0
            && i / sender_every < args.chat_senders)
            .then(|| {
                let slot = i / sender_every;
                let period = 1.0 / args.chat_rate;
                (
                    slot,
                    period,
                    period * slot as f64 / args.chat_senders as f64,
                )
            });
        let task = member(
            i,
            url.to_owned(),
            sender,
            shared.clone(),
            stop_rx.clone(),
            send_rx.clone(),
        );
        tasks.push(tokio::spawn(task));
        tokio::time::sleep(ramp_gap).await;
    }
    // Wait for the ramp to land, then settle.
    let deadline = Instant::now() + Duration::from_secs(60);
    while shared.connected.load(Ordering::Relaxed) + shared.failed.load(Ordering::Relaxed)
        < args.players
        && Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_secs_f64(args.settle)).await;
    if !args.quiet {
        eprintln!(
            "{} members connected ({} failed); measuring for {} s",
            shared.connected.load(Ordering::Relaxed),
            shared.failed.load(Ordering::Relaxed),
            args.duration
        );
    }

    let server_before = args.server_pid.and_then(procstat::sample_tree);
    let tool_before = procstat::self_cpu_ticks();
    let t0 = Instant::now();
    shared
        .window_start_us
        .store(shared.now_us(), Ordering::Relaxed);
    let _ = send_tx.send(true);
    tokio::time::sleep(Duration::from_secs_f64(args.duration)).await;
    shared
        .window_end_us
        .store(shared.now_us(), Ordering::Relaxed);
    let _ = send_tx.send(false);
    tokio::time::sleep(GRACE).await;
    let wall = t0.elapsed().as_secs_f64();
    let server_after = args.server_pid.and_then(procstat::sample_tree);
    let tool_after = procstat::self_cpu_ticks();
    let _ = stop_tx.send(true);
    for t in tasks {
        let _ = tokio::time::timeout(Duration::from_secs(5), t).await;
    }

    let ticks = procstat::clock_ticks() as f64;
    let server_cpu_percent = match (server_before, server_after) {
        (Some(a), Some(b)) => Some((b.cpu_ticks - a.cpu_ticks) as f64 / ticks / wall * 100.0),
        _ => None,
    };
    let server_rss_mb =
        server_after.map(|u| (u.rss_pages * procstat::page_size()) as f64 / (1 << 20) as f64);
    let mut lat = std::mem::take(&mut *shared.latencies.lock());
    lat.sort_unstable();
    let pct = |p: f64| -> f64 {
        if lat.is_empty() {
            return f64::NAN;
        }
        let i = ((lat.len() as f64 - 1.0) * p).round() as usize;
        f64::from(lat[i.min(lat.len() - 1)]) / 1000.0
    };
    let connected = shared.connected.load(Ordering::Relaxed);
    let sent = shared.sent.load(Ordering::Relaxed);
    Ok(ChatReport {
        label: args.label.clone(),
        url: url.to_owned(),
        members: args.players,
        connected,
        failed: shared.failed.load(Ordering::Relaxed),
        closed_by_server: shared.closed.load(Ordering::Relaxed),
        senders: args.chat_senders,
        rate_per_sender: args.chat_rate,
        seconds: args.duration,
        sent,
        expected_deliveries: sent * connected as u64,
        delivered: lat.len() as u64,
        latency_ms_p50: pct(0.50),
        latency_ms_p90: pct(0.90),
        latency_ms_p99: pct(0.99),
        latency_ms_max: pct(1.0),
        server_cpu_percent,
        server_rss_mb,
        tool_cpu_percent: (tool_after - tool_before) as f64 / ticks / wall * 100.0,
    })
}

/// One member: connects, pings, maybe sends, measures every chat frame.
async fn member(
    index: usize,
    url: String,
    sender: Option<(usize, f64, f64)>,
    shared: Arc<Shared>,
    mut stop: watch::Receiver<bool>,
    mut sending: watch::Receiver<bool>,
) {
    let Ok(Ok((ws, _))) = tokio::time::timeout(
        Duration::from_secs(30),
        tokio_tungstenite::connect_async(&url),
    )
    .await
    else {
        shared.failed.fetch_add(1, Ordering::Relaxed);
        return;
    };
    shared.connected.fetch_add(1, Ordering::Relaxed);
    let (mut tx, mut rx) = ws.split();
    let phase = Duration::from_millis((index as u64 * 7919) % 10_000);
    let mut ping = tokio::time::interval_at(tokio::time::Instant::now() + phase, PING_EVERY);
    let (slot, period, offset) = sender.unwrap_or((0, 3600.0, 0.0));
    let mut send = tokio::time::interval(Duration::from_secs_f64(period));
    let mut seq = 0u64;
    let mut mine: Vec<u32> = Vec::new();
    let mut active = false;
    loop {
        tokio::select! {
            _ = stop.changed() => break,
            _ = sending.changed(), if sender.is_some() => {
                active = *sending.borrow();
                if active {
                    let start = tokio::time::Instant::now() + Duration::from_secs_f64(offset);
                    send = tokio::time::interval_at(start, Duration::from_secs_f64(period));
                }
            }
            _ = send.tick(), if active => {
                let at = shared.now_us();
                let text = format!("b {slot} {seq} {at}");
                seq += 1;
                let frame = serde_json::json!({"type": "chat", "text": text}).to_string();
                if tx.send(Message::Text(frame.into())).await.is_err() {
                    break;
                }
                if shared.in_window(at) {
                    shared.sent.fetch_add(1, Ordering::Relaxed);
                }
            }
            _ = ping.tick() => {
                if tx.send(Message::Text(r#"{"type":"ping"}"#.into())).await.is_err() {
                    break;
                }
            }
            msg = rx.next() => match msg {
                Some(Ok(Message::Text(t))) => {
                    if let Some(sent_us) = sent_at(&t) {
                        if shared.in_window(sent_us) {
                            let us = shared.now_us().saturating_sub(sent_us);
                            mine.push(u32::try_from(us).unwrap_or(u32::MAX));
                        }
                    }
                }
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => {
                    if !*stop.borrow() {
                        shared.closed.fetch_add(1, Ordering::Relaxed);
                    }
                    break;
                }
                Some(Ok(_)) => {}
            },
        }
    }
    shared.latencies.lock().extend_from_slice(&mine);
}

/// The send instant in a benchmark chat frame (`"text":"b SLOT SEQ MICROS"`).
fn sent_at(frame: &str) -> Option<u64> {
    let start = frame.find(r#""text":"b "#)? + r#""text":"b "#.len();
    let rest = &frame[start..];
    let end = rest.find('"')?;
    rest[..end].split(' ').nth(2)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn send_instant_is_found_in_the_frame() {
        let f = r#"{"type":"chat","id":5,"user":"guest-3","text":"b 4 17 123456","ts":1}"#;
        assert_eq!(sent_at(f), Some(123_456));
        assert_eq!(sent_at(r#"{"type":"chat","text":"hello"}"#), None);
        assert_eq!(sent_at(r#"{"type":"pong","ts":1}"#), None);
    }
}
