//! One benchmark run: publish, warm up, ramp players, measure a window,
//! report.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use indicatif::{ProgressBar, ProgressStyle};
use tokio::runtime::Handle;
use tokio::task::JoinHandle;

use crate::player::{self, state, Measure, Slot, Target};
use crate::procstat::{self, TreeUsage};
use crate::publisher::{self, PublishCounters};
use crate::report::{keeps_up, Dist, Report, ServerCost};
use crate::source::{self, Generate, Source};
use crate::Args;

/// How often memory is sampled and the progress bar redrawn.
const SAMPLE_EVERY: Duration = Duration::from_millis(250);

/// How long the publisher may take to get Publish.Start.
const PUBLISH_TIMEOUT: Duration = Duration::from_secs(15);

/// Runs the benchmark described by `args`.
pub(crate) fn run(args: &Args) -> anyhow::Result<Report> {
    anyhow::ensure!(args.players > 0, "--players must be at least 1");
    anyhow::ensure!(args.ramp > 0.0, "--ramp must be positive");
    anyhow::ensure!(args.duration > 0.0, "--duration must be positive");
    anyhow::ensure!(
        (0.0..=1.0).contains(&args.keep_up),
        "--keep-up is a ratio between 0 and 1"
    );
    let play_url = args
        .play_url
        .clone()
        .unwrap_or_else(|| args.publish_url.clone());
    let target = Arc::new(Target::parse(&play_url)?);
    let source = Arc::new(load_source(args)?);
    if let Some(limit) = procstat::open_files_limit() {
        if (args.players as u64) + 64 > limit {
            eprintln!(
                "warning: {} players need more open files than the limit of {limit} (raise it with ulimit -n)",
                args.players
            );
        }
    }

    // Counting players get a runtime (and thread) of their own.
    let load = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let load_handle = load.handle().clone();
    std::thread::Builder::new()
        .name("players".into())
        .spawn(move || load.block_on(std::future::pending::<()>()))?;
    let measure_rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    measure_rt.block_on(drive(args, play_url, target, source, load_handle))
}

pub(crate) fn load_source(args: &Args) -> anyhow::Result<Source> {
    let path = match &args.input {
        Some(p) => p.clone(),
        None => source::generate(
            &Generate {
                bitrate_bps: args.bitrate,
                seconds: args.gen_seconds.max(2),
                width: args.gen_size.0,
                height: args.gen_size.1,
                fps: 30,
                gop_secs: args.gen_gop,
            },
            &args.cache_dir,
        )?,
    };
    source::load(&path)
}

/// Server usage samples over a run.
struct ServerWatch {
    pid: u32,
    idle: TreeUsage,
    peak_pages: u64,
}

impl ServerWatch {
    fn sample(&mut self) -> Option<TreeUsage> {
        let u = procstat::sample_tree(self.pid)?;
        self.peak_pages = self.peak_pages.max(u.rss_pages);
        Some(u)
    }
}

async fn drive(
    args: &Args,
    play_url: String,
    target: Arc<Target>,
    source: Arc<Source>,
    load: Handle,
) -> anyhow::Result<Report> {
    let measure = Arc::new(Measure::default());
    let counters = Arc::new(PublishCounters::default());
    let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
    let mut publisher: JoinHandle<anyhow::Result<()>> = tokio::spawn(publisher::run(
        args.publish_url.clone(),
        source.clone(),
        measure.markers.clone(),
        counters.clone(),
        move || {
            let _ = ready_tx.send(());
        },
    ));
    match tokio::time::timeout(PUBLISH_TIMEOUT, ready_rx).await {
        Ok(Ok(())) => {}
        Ok(Err(_)) => return Err(publisher_error(&mut publisher).await),
        Err(_) => bail!("publisher got no Publish.Start within {PUBLISH_TIMEOUT:?}"),
    }
    tokio::time::sleep(Duration::from_secs_f64(args.warmup)).await;
    check_publisher(&mut publisher).await?;

    let ticks = procstat::clock_ticks() as f64;
    let page = procstat::page_size();
    let mut server = match args.server_pid {
        Some(pid) => {
            let idle = procstat::sample_tree(pid)
                .with_context(|| format!("server pid {pid} not found in /proc"))?;
            Some(ServerWatch {
                pid,
                idle,
                peak_pages: idle.rss_pages,
            })
        }
        None => None,
    };

    let bar = progress(args);
    bar.set_length(args.players as u64);
    bar.set_message(format!("ramping {} players", target.protocol()));
    let slots: Vec<Arc<Slot>> = (0..args.players).map(|_| Arc::default()).collect();
    let stride = (args.players / args.measuring.max(1)).max(1);
    let mut measuring = 0;
    let ramp_start = tokio::time::Instant::now();
    let mut last_sample = ramp_start;
    for (i, slot) in slots.iter().enumerate() {
        let due = ramp_start + Duration::from_secs_f64(i as f64 / args.ramp);
        tokio::time::sleep_until(due).await;
        let parse = i % stride == 0 && measuring < args.measuring;
        let task = player::run(target.clone(), parse, slot.clone(), measure.clone());
        if parse {
            measuring += 1;
            tokio::spawn(task);
        } else {
            load.spawn(task);
        }
        bar.set_position(i as u64 + 1);
        if due.duration_since(last_sample) >= SAMPLE_EVERY {
            last_sample = due;
            if let Some(s) = server.as_mut() {
                s.sample();
            }
            check_publisher(&mut publisher).await?;
        }
    }
    bar.set_message("settling");
    tokio::time::sleep(Duration::from_secs_f64(args.settle)).await;
    check_publisher(&mut publisher).await?;

    // The window.
    let before: Vec<u64> = slots
        .iter()
        .map(|s| s.bytes.load(Ordering::Relaxed))
        .collect();
    let pub_before = counters.bytes.load(Ordering::Relaxed);
    let server_before = server.as_mut().and_then(|s| s.sample());
    let tool_before = procstat::self_cpu_ticks();
    let start = Instant::now();
    measure.window_open.store(true, Ordering::Relaxed);
    let window = Duration::from_secs_f64(args.duration);
    bar.set_length((window.as_secs_f64() * 10.0) as u64);
    bar.set_position(0);
    let mut last_bytes: u64 = before.iter().sum();
    let mut last_at = start;
    while start.elapsed() < window {
        tokio::time::sleep(SAMPLE_EVERY.min(window.saturating_sub(start.elapsed()))).await;
        if let Some(s) = server.as_mut() {
            s.sample();
        }
        check_publisher(&mut publisher).await?;
        let bytes: u64 = slots.iter().map(|s| s.bytes.load(Ordering::Relaxed)).sum();
        let now = Instant::now();
        let mbps =
            (bytes - last_bytes) as f64 * 8.0 / (now - last_at).as_secs_f64().max(1e-3) / 1e6;
        (last_bytes, last_at) = (bytes, now);
        let playing = count(&slots, state::PLAYING);
        bar.set_position((start.elapsed().as_secs_f64() * 10.0) as u64);
        bar.set_message(format!("{playing} playing, {mbps:.0} Mbit/s"));
    }
    measure.window_open.store(false, Ordering::Relaxed);
    let window_s = start.elapsed().as_secs_f64();
    let tool_ticks = procstat::self_cpu_ticks() - tool_before;
    let server_after = server.as_mut().and_then(|s| s.sample());
    let expected = counters.bytes.load(Ordering::Relaxed) - pub_before;
    let received: Vec<u64> = slots
        .iter()
        .zip(&before)
        .map(|(s, b)| s.bytes.load(Ordering::Relaxed) - b)
        .collect();
    bar.finish_and_clear();

    let playing = count(&slots, state::PLAYING);
    let cost = match (&server, server_before, server_after) {
        (Some(w), Some(b), Some(a)) => {
            let cpu_s = a.cpu_ticks.saturating_sub(b.cpu_ticks) as f64 / ticks;
            let mib = |pages: u64| (pages * page) as f64 / (1024.0 * 1024.0);
            let per_player = w.peak_pages.saturating_sub(w.idle.rss_pages) * page;
            Some(ServerCost {
                pid: w.pid,
                cpu_s,
                cpu_busy_pct: cpu_s / window_s * 100.0,
                cpu_ms_per_player_s: cpu_s * 1000.0 / (playing.max(1) as f64 * window_s),
                idle_rss_mib: mib(w.idle.rss_pages),
                peak_rss_mib: mib(w.peak_pages),
                rss_per_player_kib: per_player as f64 / 1024.0 / playing.max(1) as f64,
            })
        }
        (Some(w), _, _) => bail!("server pid {} exited during the run", w.pid),
        _ => None,
    };
    let latency = std::mem::take(&mut *measure.latency_us.lock());
    let latency_audio = std::mem::take(&mut *measure.latency_audio_us.lock());
    let first = std::mem::take(&mut *measure.first_frame_us.lock());
    let errors = std::mem::take(&mut *measure.errors.lock());
    let llhls = matches!(*target, Target::Llhls(_)).then(|| measure.llhls.stats(window_s, playing));
    Ok(Report {
        label: args.label.clone(),
        protocol: target.protocol().into(),
        play_url,
        source: source.path.display().to_string(),
        source_kbps: source.bitrate_bps as f64 / 1000.0,
        players: args.players,
        measuring_players: measuring,
        playing,
        failed: count(&slots, state::FAILED),
        keeping_up: received
            .iter()
            .filter(|&&r| keeps_up(r, expected, args.keep_up))
            .count(),
        keep_up_ratio: args.keep_up,
        window_s,
        stream_kbps: expected as f64 * 8.0 / window_s / 1000.0,
        expected_bytes_per_player: expected,
        delivered_mbps: received.iter().sum::<u64>() as f64 * 8.0 / window_s / 1e6,
        latency: Dist::from_us(latency),
        unmatched_frames: measure.unmatched.load(Ordering::Relaxed),
        latency_audio: Dist::from_us(latency_audio),
        unmatched_audio_frames: measure.unmatched_audio.load(Ordering::Relaxed),
        first_frame: Dist::from_us(first),
        server: cost,
        tool_cpu_pct: tool_ticks as f64 / ticks / window_s * 100.0,
        publisher_max_late_ms: counters.max_late_us.load(Ordering::Relaxed) as f64 / 1000.0,
        errors,
        llhls,
    })
}

fn count(slots: &[Arc<Slot>], st: u8) -> usize {
    slots
        .iter()
        .filter(|s| s.state.load(Ordering::Relaxed) == st)
        .count()
}

fn progress(args: &Args) -> ProgressBar {
    if args.quiet {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(0);
    if let Ok(style) = ProgressStyle::with_template("{spinner} {elapsed_precise} [{bar:30}] {msg}")
    {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.enable_steady_tick(Duration::from_millis(200));
    bar
}

/// Fails the run if the publisher stopped: without it nothing measured
/// means anything.
async fn check_publisher(task: &mut JoinHandle<anyhow::Result<()>>) -> anyhow::Result<()> {
    if task.is_finished() {
        return Err(publisher_error(task).await);
    }
    Ok(())
}

async fn publisher_error(task: &mut JoinHandle<anyhow::Result<()>>) -> anyhow::Error {
    match task.await {
        Ok(Ok(())) => anyhow::anyhow!("publisher stopped"),
        Ok(Err(e)) => e.context("publisher failed"),
        Err(e) => anyhow::anyhow!("publisher task failed: {e}"),
    }
}
