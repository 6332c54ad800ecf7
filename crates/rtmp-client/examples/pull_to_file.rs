//! Plays a stream from an RTMP server into an FLV file, as
//! `rtmpdump -r URL -o FILE` or srs_librtmp's play sample would.
//!
//! ```text
//! cargo run -p weir-rtmp-client --example pull_to_file -- rtmp://127.0.0.1/live/test out.flv 10
//! ```
//!
//! The third argument, optional, stops after that many seconds.

use std::time::Duration;

use weir_rtmp_client::{flv, Options};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let (Some(url), Some(file)) = (args.next(), args.next()) else {
        eprintln!("usage: pull_to_file rtmp[s|e]://host[:port]/app/stream OUT.flv [SECONDS]");
        std::process::exit(2);
    };
    let duration = args
        .next()
        .map(|s| s.parse::<f64>().map(Duration::from_secs_f64))
        .transpose()?;
    let mut out = tokio::io::BufWriter::new(tokio::fs::File::create(&file).await?);
    let stats = flv::play_to(&url, &mut out, duration, &Options::default()).await?;
    println!(
        "received {} video, {} audio and {} data messages ({} bytes)",
        stats.video, stats.audio, stats.data, stats.bytes
    );
    Ok(())
}
