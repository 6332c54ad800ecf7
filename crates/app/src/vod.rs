//! `[vod]`: files served under `/vod/` (docs/vod.md), and the routes.

use std::path::PathBuf;

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
}

impl Default for VodSection {
    fn default() -> Self {
        VodSection {
            enabled: true,
            root: PathBuf::new(),
            segment_secs: 2.0,
        }
    }
}

/// The stream every file of the VOD root counts as for the access check:
/// `[auth.apps.vod.play]` decides who may fetch them.
pub const VOD_KEY: (&str, &str) = ("vod", "files");

/// The `/vod/` routes, or `None` when `[vod] enabled = false`. A
/// recording is fetched as a player of its stream (its play rules and
/// callbacks apply) and only if the recorder lists it; a file of the VOD
/// root as a player of [`VOD_KEY`].
pub fn routes(
    cfg: &Config,
    hub: &weir_hub::Hub,
    recorder: &weir_record::Recorder,
) -> anyhow::Result<Option<axum::Router>> {
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
    let recorder = recorder.clone();
    let mounts = vec![
        weir_server_vod::Mount {
            prefix: String::new(),
            root,
            key_of: std::sync::Arc::new(move |_| Some(vod_key.clone())),
        },
        // What the recorder writes; its sidecars and any other file there
        // are not recordings, and are not served.
        weir_server_vod::Mount {
            prefix: "recordings".into(),
            root: crate::recordings::dir(cfg),
            key_of: std::sync::Arc::new(move |id| recorder.get(id)?.key()),
        },
    ];
    let segment_target = std::time::Duration::try_from_secs_f64(v.segment_secs)
        .context("[vod] segment_secs must be a positive number of seconds")?;
    Ok(Some(weir_server_vod::router(
        hub.clone(),
        weir_server_vod::VodConfig {
            mounts,
            segment_target,
            ..weir_server_vod::VodConfig::default()
        },
    )))
}
