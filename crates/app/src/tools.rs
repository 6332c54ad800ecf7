//! `weir publish` and `weir play`: RTMP clients on weir's own stack.

use std::time::Duration;

use anyhow::Context;
use tracing::info;
use weir_rtmp_client::{flv, Options};

use crate::cli::{PlayArgs, PublishArgs};

/// Publishes an FLV file, paced by its timestamps.
pub async fn publish(args: PublishArgs) -> anyhow::Result<()> {
    let opts = Options {
        digest_handshake: args.digest_handshake,
        tls_ca: args.tls_ca.clone(),
        ..Options::default()
    };
    let stats = flv::publish_file(&args.file, &args.url, args.looping, &opts)
        .await
        .with_context(|| format!("publishing {} to {}", args.file.display(), args.url))?;
    info!(
        tags = stats.tags,
        bytes = stats.bytes,
        loops = stats.loops,
        "publish done"
    );
    Ok(())
}

/// Plays a stream into an FLV file (or stdout).
pub async fn play(args: PlayArgs) -> anyhow::Result<()> {
    let opts = Options {
        digest_handshake: args.digest_handshake,
        tls_ca: args.tls_ca.clone(),
        ..Options::default()
    };
    let duration = args.duration.map(Duration::from_secs_f64);
    let stats = if args.output.as_os_str() == "-" {
        let mut out = tokio::io::stdout();
        flv::play_to(&args.url, &mut out, duration, &opts).await
    } else {
        let mut out = tokio::io::BufWriter::new(
            tokio::fs::File::create(&args.output)
                .await
                .with_context(|| format!("creating {}", args.output.display()))?,
        );
        flv::play_to(&args.url, &mut out, duration, &opts).await
    }
    .with_context(|| format!("playing {}", args.url))?;
    info!(
        video = stats.video,
        audio = stats.audio,
        data = stats.data,
        bytes = stats.bytes,
        "play done"
    );
    Ok(())
}

/// `weir passwd`: reads a password from stdin (asking twice, without echo,
/// on a terminal) and prints its argon2 hash for `[api]
/// console_password_hash`. The password itself is never stored.
pub fn passwd() -> anyhow::Result<()> {
    use std::io::{BufRead, IsTerminal, Write};
    let stdin = std::io::stdin();
    let interactive = stdin.is_terminal();
    let read = |prompt: &str| -> anyhow::Result<String> {
        if interactive {
            eprint!("{prompt}");
            std::io::stderr().flush()?;
        }
        let mut line = String::new();
        stdin.lock().read_line(&mut line)?;
        if interactive {
            eprintln!();
        }
        Ok(line.trim_end_matches(['\r', '\n']).to_owned())
    };
    // Terminal echo off while typing; `stty` reads the terminal on stdin.
    let echo = |on: bool| {
        if interactive {
            let _ = std::process::Command::new("stty")
                .arg(if on { "echo" } else { "-echo" })
                .status();
        }
    };
    echo(false);
    let first = read("Console password: ");
    let second = if interactive {
        read("Again: ")
    } else {
        Ok(String::new())
    };
    echo(true);
    let password = first?;
    anyhow::ensure!(!password.is_empty(), "empty password");
    anyhow::ensure!(!interactive || second? == password, "the passwords differ");
    let hash = weir_api::hash_password(&password).map_err(anyhow::Error::msg)?;
    println!("{hash}");
    Ok(())
}
