//! Wiring of the recorder (`weir-record`): where its files go, what an
//! ended file tells the outside world (`on_record_done`), and how the API
//! shows a recording.

use std::sync::Arc;

use tokio_util::sync::CancellationToken;
use weir_api::RecordingView;
use weir_hub::Hub;
use weir_record::{RecordDone, Recorder, Recording};

use crate::config::Config;

/// Where recordings live: the data dir's `recordings/`, served over HTTP
/// as `/vod/recordings/...`.
pub fn dir(cfg: &Config) -> std::path::PathBuf {
    cfg.server.data_dir.join("recordings")
}

/// Opens the catalog and starts the recorders `[record]` asks for; every
/// closed file is POSTed to its app's `on_record_done`, if any.
pub fn start(
    cfg: &Config,
    hub: &Hub,
    access: Arc<weir_access::Access>,
    shutdown: &CancellationToken,
) -> anyhow::Result<Recorder> {
    let on_done = Arc::new(move |done: &RecordDone| {
        let r = &done.recording;
        let mut body = serde_json::Map::new();
        body.insert("app".into(), r.app.clone().into());
        body.insert("stream".into(), r.stream.clone().into());
        body.insert("id".into(), r.id.clone().into());
        body.insert("path".into(), done.path.display().to_string().into());
        body.insert("start".into(), rfc3339(r.start).into());
        body.insert("end".into(), rfc3339(r.end()).into());
        body.insert("duration_secs".into(), r.duration_secs.into());
        body.insert("bytes".into(), r.bytes.into());
        body.insert("format".into(), r.format.into());
        body.insert("url".into(), format!("/vod/recordings/{}", r.id).into());
        access.record_done(&r.app, body);
    });
    let recorder = Recorder::start(
        hub.clone(),
        cfg.record.clone(),
        &dir(cfg),
        Some(on_done),
        shutdown.clone(),
    )?;
    if cfg.record.enabled {
        tracing::info!(
            dir = %dir(cfg).display(),
            format = cfg.record.format.extension(),
            "recording published streams"
        );
    }
    Ok(recorder)
}

fn rfc3339(t: chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// A recording as the API lists it: `url` and `hls_url` on this HTTP
/// listener (relative, like the live playback URLs), `rtmp_url` under
/// `rtmp` (`rtmp://host:port`) when RTMP VOD plays it.
pub fn view(r: &Recording, rtmp: Option<&str>) -> RecordingView {
    let mp4 = r.format == "mp4";
    RecordingView {
        id: r.id.clone(),
        app: r.app.clone(),
        stream: r.stream.clone(),
        start: rfc3339(r.start),
        duration_secs: (r.duration_secs * 1000.0).round() / 1000.0,
        bytes: r.bytes,
        format: r.format,
        url: format!("/vod/recordings/{}", r.id),
        hls_url: mp4.then(|| format!("/vod/recordings/{}.m3u8", r.id)),
        rtmp_url: rtmp
            .filter(|_| mp4)
            .map(|base| format!("{base}/vod/recordings/{}", r.id)),
        recording: r.recording,
        complete: r.complete,
    }
}
