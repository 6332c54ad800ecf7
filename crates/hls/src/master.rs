//! Multivariant ("master") playlists: one entry per rendition of a stream,
//! for players that pick by bandwidth (hls.js ABR, Safari).
//!
//! Written here rather than with `m3u8-rs`: the playlist is a few lines of
//! `#EXT-X-STREAM-INF` whose attributes are all known numbers and
//! RFC 6381 strings, and the crate's writer would add a dependency for
//! what `format!` does.

use std::fmt::Write;

/// One variant stream of a multivariant playlist.
#[derive(Debug, Clone, PartialEq)]
pub struct Variant {
    /// Its media playlist, relative to the multivariant playlist.
    pub uri: String,
    /// Peak bits per second (`BANDWIDTH`, required by the spec).
    pub bandwidth: u64,
    /// Average bits per second (`AVERAGE-BANDWIDTH`), when known.
    pub average_bandwidth: Option<u64>,
    /// Picture size (`RESOLUTION`), when known.
    pub resolution: Option<(u32, u32)>,
    /// RFC 6381 codec strings of its tracks (`CODECS`), e.g. `avc1.64001f`.
    pub codecs: Vec<String>,
    /// Frames per second (`FRAME-RATE`), when known.
    pub frame_rate: Option<f64>,
    /// A name players may show (`NAME`, an Apple extension hls.js reads).
    pub name: Option<String>,
}

/// The multivariant playlist of `variants`, in the order given (players
/// start with the first: put the one most viewers can play first).
/// `independent`: every segment of every variant starts with a keyframe
/// (`#EXT-X-INDEPENDENT-SEGMENTS`), true for weir's segmenters.
pub fn render(variants: &[Variant], independent: bool) -> String {
    let mut out = String::from("#EXTM3U\n#EXT-X-VERSION:7\n");
    if independent {
        out.push_str("#EXT-X-INDEPENDENT-SEGMENTS\n");
    }
    for v in variants {
        let _ = write!(out, "#EXT-X-STREAM-INF:BANDWIDTH={}", v.bandwidth.max(1));
        if let Some(avg) = v.average_bandwidth {
            let _ = write!(out, ",AVERAGE-BANDWIDTH={}", avg.max(1));
        }
        if let Some((w, h)) = v.resolution.filter(|(w, h)| *w > 0 && *h > 0) {
            let _ = write!(out, ",RESOLUTION={w}x{h}");
        }
        let codecs: Vec<&str> = v
            .codecs
            .iter()
            .map(String::as_str)
            .filter(|c| is_attribute_safe(c))
            .collect();
        if !codecs.is_empty() {
            let _ = write!(out, ",CODECS=\"{}\"", codecs.join(","));
        }
        if let Some(fps) = v.frame_rate.filter(|f| f.is_finite() && *f > 0.0) {
            let _ = write!(out, ",FRAME-RATE={fps:.3}");
        }
        if let Some(name) = v.name.as_deref().filter(|n| is_attribute_safe(n)) {
            let _ = write!(out, ",NAME=\"{name}\"");
        }
        out.push('\n');
        out.push_str(&v.uri);
        out.push('\n');
    }
    out
}

/// Text that can sit inside a quoted attribute: no quote, comma-free
/// names aside, no line break.
fn is_attribute_safe(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_graphic() && b != b'"' && b != b',')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn variant(uri: &str, bw: u64, h: u32) -> Variant {
        Variant {
            uri: uri.into(),
            bandwidth: bw,
            average_bandwidth: Some(bw * 8 / 10),
            resolution: Some((h * 16 / 9, h)),
            codecs: vec!["avc1.64001f".into(), "mp4a.40.2".into()],
            frame_rate: Some(30.0),
            name: Some(format!("{h}p")),
        }
    }

    #[test]
    fn renders_every_attribute_in_order() {
        let text = render(
            &[
                variant("../cam.m3u8", 2_500_000, 720),
                variant("../cam_low.m3u8", 400_000, 180),
            ],
            true,
        );
        assert_eq!(
            text,
            "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-INDEPENDENT-SEGMENTS\n\
             #EXT-X-STREAM-INF:BANDWIDTH=2500000,AVERAGE-BANDWIDTH=2000000,RESOLUTION=1280x720,\
             CODECS=\"avc1.64001f,mp4a.40.2\",FRAME-RATE=30.000,NAME=\"720p\"\n../cam.m3u8\n\
             #EXT-X-STREAM-INF:BANDWIDTH=400000,AVERAGE-BANDWIDTH=320000,RESOLUTION=320x180,\
             CODECS=\"avc1.64001f,mp4a.40.2\",FRAME-RATE=30.000,NAME=\"180p\"\n../cam_low.m3u8\n"
        );
    }

    #[test]
    fn unknowns_and_unsafe_text_are_left_out() {
        let v = Variant {
            uri: "a.m3u8".into(),
            bandwidth: 0,
            average_bandwidth: None,
            resolution: Some((0, 0)),
            codecs: vec!["avc1\"x".into(), String::new()],
            frame_rate: Some(f64::NAN),
            name: Some("a\nb".into()),
        };
        assert_eq!(
            render(&[v], false),
            "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-STREAM-INF:BANDWIDTH=1\na.m3u8\n"
        );
    }
}
