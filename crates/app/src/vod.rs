//! `[vod]`: files served under `/vod/` (docs/vod.md), and the routes.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use serde::{Deserialize, Serialize};

use crate::config::Config;

/// `[vod]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct VodSection {
    /// Serve `/vod/`.
    pub enabled: bool,
    /// Directory served at `/vod/`; empty means `{data_dir}/vod`. Created
    /// if missing. `{data_dir}/recordings` is served at `/vod/recordings/`
    /// whatever this says.
    pub root: PathBuf,
    /// HLS VOD segments last at least this long, where keyframes allow.
    pub segment_secs: f64,
    /// Longest time range `GET /api/v1/recordings/get` stitches (400
    /// beyond).
    pub max_range_secs: u64,
    /// Most media bytes one such range may read (413 beyond): it is made
    /// in memory.
    pub max_range_bytes: u64,
}

impl Default for VodSection {
    fn default() -> Self {
        VodSection {
            enabled: true,
            root: PathBuf::new(),
            segment_secs: 2.0,
            max_range_secs: 24 * 3600,
            max_range_bytes: 512 << 20,
        }
    }
}

/// The stream every file of the VOD root counts as for the access check:
/// `[auth.apps.vod.play]` decides who may fetch them.
pub const VOD_KEY: (&str, &str) = ("vod", "files");

/// The files `/vod/` and `rtmp://HOST/vod/` play, or `None` when
/// `[vod] enabled = false`. A recording is played as a player of its
/// stream (its play rules and callbacks apply) and only if the recorder
/// lists it; a file of the VOD root as a player of [`VOD_KEY`]. A time
/// range of a stream's recordings (`GET /api/v1/recordings/get`) is
/// stitched from the MP4 files the recorder lists for it.
pub fn library(
    cfg: &Config,
    recorder: &weir_record::Recorder,
) -> anyhow::Result<Option<Arc<weir_server_vod::Library>>> {
    let v = &cfg.vod;
    if !v.enabled {
        return Ok(None);
    }
    let root = if v.root.as_os_str().is_empty() {
        cfg.server.data_dir.join("vod")
    } else {
        v.root.clone()
    };
    std::fs::create_dir_all(&root)
        .with_context(|| format!("creating the VOD root {}", root.display()))?;
    let vod_key = weir_media::StreamKey::new(VOD_KEY.0, VOD_KEY.1)?;
    let recordings = recorder.clone();
    let recorder = recorder.clone();
    let mounts = vec![
        weir_server_vod::Mount {
            prefix: String::new(),
            root,
            key_of: Arc::new(move |_| Some(vod_key.clone())),
        },
        // What the recorder writes; its sidecars and any other file there
        // are not recordings, and are not served.
        weir_server_vod::Mount {
            prefix: "recordings".into(),
            root: crate::recordings::dir(cfg),
            key_of: Arc::new(move |id| recorder.get(id)?.key()),
        },
    ];
    let segment_target = std::time::Duration::try_from_secs_f64(v.segment_secs)
        .context("[vod] segment_secs must be a positive number of seconds")?;
    if v.max_range_secs == 0 || v.max_range_bytes == 0 {
        anyhow::bail!("[vod] max_range_secs and max_range_bytes must be more than 0");
    }
    let stitched: weir_server_vod::Recordings = Arc::new(move |key, from, to| {
        let filter = weir_record::Filter {
            app: Some(key.app().to_owned()),
            stream: Some(key.stream().to_owned()),
            from: Some(from),
            to: Some(to),
        };
        recordings
            .list(&filter)
            .into_iter()
            // FLV recordings have no MP4 index to cut.
            .filter(|r| r.format == "mp4")
            .map(|r| weir_server_vod::RecordedFile {
                path: recordings.path_of(&r.id),
                start: r.start,
            })
            .collect()
    });
    Ok(Some(Arc::new(weir_server_vod::Library::new(
        weir_server_vod::VodConfig {
            mounts,
            segment_target,
            recordings: Some(stitched),
            max_range: std::time::Duration::from_secs(v.max_range_secs),
            max_range_bytes: v.max_range_bytes,
            ..weir_server_vod::VodConfig::default()
        },
    ))))
}

/// The `/vod/` routes over `library`.
pub fn routes(hub: &weir_hub::Hub, library: Arc<weir_server_vod::Library>) -> axum::Router {
    weir_server_vod::router(hub.clone(), library)
}

/// The library as RTMP VOD sees it: the same paths, files and streams as
/// `/vod/`.
pub fn rtmp_files(library: Arc<weir_server_vod::Library>) -> weir_server_rtmp::VodFiles {
    weir_server_rtmp::VodFiles(Arc::new(RtmpFiles(library)))
}

struct RtmpFiles(Arc<weir_server_vod::Library>);

impl weir_server_rtmp::VodLibrary for RtmpFiles {
    fn locate(
        &self,
        path: &str,
    ) -> Result<(PathBuf, weir_media::StreamKey), weir_server_rtmp::VodRefused> {
        use weir_server_rtmp::VodRefused;
        self.0.locate(path).map_err(|e| match e {
            weir_server_vod::VodHttpError::BadPath(why) => VodRefused::BadPath(why.into()),
            _ => VodRefused::NotFound,
        })
    }

    fn index(&self, file: &std::path::Path) -> weir_server_rtmp::IndexFuture {
        let library = self.0.clone();
        let file = file.to_path_buf();
        Box::pin(async move { library.index(&file).await.map_err(|e| e.to_string()) })
    }
}
