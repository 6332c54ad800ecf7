//! Pushes an FLV file to an RTMP server, paced by its timestamps, as
//! `ffmpeg -re -i FILE -c copy -f flv URL` or srs_librtmp's publish sample
//! would.
//!
//! ```text
//! cargo run -p weir-rtmp-client --example push_file -- in.flv rtmp://127.0.0.1/live/test
//! cargo run -p weir-rtmp-client --example push_file -- in.flv rtmpe://127.0.0.1/live/test
//! ```
//!
//! Any scheme the client speaks works (rtmp, rtmps, rtmpe); an enhanced
//! FLV (HEVC, AV1, Opus) is sent as it is.

use std::path::PathBuf;

use weir_rtmp_client::{flv, Options};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let (Some(file), Some(url)) = (args.next(), args.next()) else {
        eprintln!("usage: push_file FILE.flv rtmp[s|e]://host[:port]/app/stream");
        std::process::exit(2);
    };
    let stats = flv::publish_file(&PathBuf::from(file), &url, false, &Options::default()).await?;
    println!(
        "sent {} tags ({} bytes of payload)",
        stats.tags, stats.bytes
    );
    Ok(())
}
