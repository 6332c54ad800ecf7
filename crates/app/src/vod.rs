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

/// The `/vod/` routes, or `None` when `[vod] enabled = false`.
pub fn routes(cfg: &Config) -> anyhow::Result<Option<axum::Router>> {
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
    let mut mounts = vec![weir_server_vod::Mount {
        prefix: String::new(),
        root,
    }];
    // The recorder writes below {data_dir}/recordings; served only once
    // it exists, so that a server that never recorded creates nothing.
    let recordings = cfg.server.data_dir.join("recordings");
    mounts.push(weir_server_vod::Mount {
        prefix: "recordings".into(),
        root: recordings,
    });
    let segment_target = std::time::Duration::try_from_secs_f64(v.segment_secs)
        .context("[vod] segment_secs must be a positive number of seconds")?;
    Ok(Some(weir_server_vod::router(weir_server_vod::VodConfig {
        mounts,
        segment_target,
        ..weir_server_vod::VodConfig::default()
    })))
}
