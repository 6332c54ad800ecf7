//! Ingest mode (`--publishers N`): N publishers of the same source, each
//! on its own stream (`{publish-url}-1` ... `-N`), and no players. For
//! costs that grow with streams, not viewers: recording (`weir serve
//! --record`), HLS `always_on`. Reports the server's CPU per stream-second
//! and what it wrote to storage (`/proc/PID/io` `write_bytes`) against
//! what it received: the write amplification.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

use crate::marker::Markers;
use crate::procstat;
use crate::publisher::{self, PublishCounters};
use crate::Args;

/// How long all publishers may take to get Publish.Start.
const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// Runs `--publishers N` and prints its report.
pub(crate) fn main(args: &Args, publishers: usize) -> anyhow::Result<()> {
    anyhow::ensure!(publishers > 0, "--publishers must be at least 1");
    let pid = args
        .server_pid
        .context("--publishers needs --server-pid: it measures the server")?;
    let source = Arc::new(crate::run::load_source(args)?);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let counters = Arc::new(PublishCounters::default());
        let markers = Arc::new(Markers::default());
        let (ready_tx, mut ready_rx) = tokio::sync::mpsc::unbounded_channel();
        let mut tasks = Vec::new();
        for i in 1..=publishers {
            let ready = ready_tx.clone();
            tasks.push(tokio::spawn(publisher::run(
                format!("{}-{i}", args.publish_url),
                source.clone(),
                markers.clone(),
                counters.clone(),
                move || {
                    let _ = ready.send(());
                },
            )));
            // Spread the keyframes: every stream starting at once would
            // write every file at the same instant.
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let deadline = tokio::time::Instant::now() + READY_TIMEOUT;
        for _ in 0..publishers {
            match tokio::time::timeout_at(deadline, ready_rx.recv()).await {
                Ok(Some(())) => {}
                _ => bail!("not every publisher got Publish.Start within {READY_TIMEOUT:?}"),
            }
        }
        tokio::time::sleep(Duration::from_secs_f64(args.warmup)).await;
        let ticks = procstat::clock_ticks() as f64;
        let before = procstat::sample_tree(pid).context("server pid not found")?;
        let io_before = procstat::write_bytes(pid).context("reading /proc/PID/io")?;
        let sent_before = counters.bytes.load(Ordering::Relaxed);
        let start = Instant::now();
        tokio::time::sleep(Duration::from_secs_f64(args.duration)).await;
        let window = start.elapsed().as_secs_f64();
        let after = procstat::sample_tree(pid).context("server exited during the run")?;
        let io_after = procstat::write_bytes(pid).context("reading /proc/PID/io")?;
        let sent = counters.bytes.load(Ordering::Relaxed) - sent_before;
        for t in &tasks {
            if t.is_finished() {
                bail!("a publisher stopped during the run");
            }
        }
        let cpu_s = after.cpu_ticks.saturating_sub(before.cpu_ticks) as f64 / ticks;
        let written = io_after.saturating_sub(io_before);
        let mib = |pages: u64| (pages * procstat::page_size()) as f64 / (1024.0 * 1024.0);
        println!(
            "ingest: {publishers} streams of {:.0} kbit/s for {window:.1} s{}\n\
             server CPU {:.1} % of a core, {:.3} ms per stream-second; RSS {:.1} MiB\n\
             received {:.1} MB, written to storage {:.1} MB: write amplification {:.3}",
            sent as f64 * 8.0 / window / 1000.0 / publishers as f64,
            if args.label.is_empty() {
                String::new()
            } else {
                format!(" ({})", args.label)
            },
            cpu_s / window * 100.0,
            cpu_s * 1000.0 / (publishers as f64 * window),
            mib(after.rss_pages),
            sent as f64 / 1e6,
            written as f64 / 1e6,
            written as f64 / sent.max(1) as f64,
        );
        Ok(())
    })?;
    // Hundreds of sockets: let the OS tear them down.
    std::process::exit(0)
}
