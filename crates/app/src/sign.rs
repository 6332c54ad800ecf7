//! `weir sign`: prints a URL with a signature that `mode = "signed"`
//! accepts, for an encoder's settings or a viewer's link.

use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context};
use weir_access::Mode;
use weir_media::StreamKey;

use crate::cli::{SignAction, SignArgs};
use crate::config::Config;

/// Runs `weir sign`.
pub fn run(args: SignArgs) -> anyhow::Result<()> {
    let (key, _) = key_of(&args.url)?;
    let action = args.action.unwrap_or(if args.url.starts_with("rtmp") {
        SignAction::Publish
    } else {
        SignAction::Play
    });
    let secret = match (&args.secret, &args.config) {
        (Some(secret), _) => secret.clone(),
        (None, config) => {
            let cfg = Config::load(config.as_deref())?;
            let app = cfg.auth.apps.get(key.app()).unwrap_or(&cfg.auth.default);
            let rule = match action {
                SignAction::Publish => &app.publish,
                SignAction::Play => &app.play,
            };
            if rule.mode != Mode::Signed {
                bail!(
                    "{} of app {} is not mode = \"signed\" in the config; pass --secret to sign anyway",
                    action.as_str(),
                    key.app()
                );
            }
            rule.secret.clone()
        }
    };
    let expires = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .context("clock before 1970")?
        .as_secs()
        + args.ttl_secs;
    println!("{}", signed_url(&args.url, &key, &secret, expires));
    Ok(())
}

/// The stream key a URL addresses: its first two path segments, the
/// second without a `.flv`/`.m3u8`/`.mp4` extension; and the query.
fn key_of(url: &str) -> anyhow::Result<(StreamKey, Option<&str>)> {
    let (_, rest) = url
        .split_once("://")
        .with_context(|| format!("{url} is not a URL"))?;
    let (path, query) = match rest.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (rest, None),
    };
    let mut segments = path.split('/').skip(1);
    let (Some(app), Some(stream)) = (segments.next(), segments.next()) else {
        bail!("{url} has no /app/stream path");
    };
    let stream = [".flv", ".m3u8", ".mp4"]
        .iter()
        .find_map(|ext| stream.strip_suffix(ext))
        .unwrap_or(stream);
    Ok((StreamKey::new(app, stream)?, query))
}

fn signed_url(url: &str, key: &StreamKey, secret: &str, expires: u64) -> String {
    let sep = if url.contains('?') { '&' } else { '?' };
    format!(
        "{url}{sep}expires={expires}&sign={}",
        weir_access::sign(secret, key, expires)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_come_from_the_path_of_any_scheme() {
        for url in [
            "rtmp://h:1935/live/cam",
            "http://h:8080/live/cam.flv",
            "https://h/live/cam.m3u8?x=1",
            "ws://h/live/cam.mp4",
        ] {
            assert_eq!(key_of(url).unwrap().0.to_string(), "live/cam", "{url}");
        }
        assert!(key_of("rtmp://h/live").is_err());
        assert!(key_of("nonsense").is_err());
    }

    #[test]
    fn the_signature_is_appended_to_the_query() {
        let key = StreamKey::new("live", "cam").unwrap();
        let url = signed_url("rtmp://h/live/cam", &key, "s", 5);
        assert!(
            url.starts_with("rtmp://h/live/cam?expires=5&sign="),
            "{url}"
        );
        let url = signed_url("http://h/live/cam.flv?a=1", &key, "s", 5);
        assert!(
            url.starts_with("http://h/live/cam.flv?a=1&expires=5&sign="),
            "{url}"
        );
    }
}
