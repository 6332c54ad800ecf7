//! Rendering of the live media playlist (RFC 8216, version 3).

use std::fmt::Write;

use crate::Segment;

/// Everything a playlist says besides its segments.
pub(crate) struct Header {
    /// `#EXT-X-TARGETDURATION`, whole seconds.
    pub(crate) target: u64,
    /// `#EXT-X-MEDIA-SEQUENCE`: sequence number of the first segment.
    pub(crate) media_sequence: u64,
    /// `#EXT-X-DISCONTINUITY-SEQUENCE`: discontinuities no longer listed.
    pub(crate) discontinuity_sequence: u64,
    /// Append `#EXT-X-ENDLIST`: the stream is over.
    pub(crate) ended: bool,
}

/// Renders the playlist; `uri` names a segment by sequence number.
pub(crate) fn render<'a>(
    header: &Header,
    segments: impl Iterator<Item = &'a Segment>,
    uri: impl Fn(u64) -> String,
) -> String {
    let mut m3u8 = String::with_capacity(512);
    // Writing to a String cannot fail.
    let _ = write!(
        m3u8,
        "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:{}\n#EXT-X-MEDIA-SEQUENCE:{}\n",
        header.target, header.media_sequence
    );
    if header.discontinuity_sequence > 0 {
        let _ = writeln!(
            m3u8,
            "#EXT-X-DISCONTINUITY-SEQUENCE:{}",
            header.discontinuity_sequence
        );
    }
    for seg in segments {
        if seg.discontinuity {
            m3u8.push_str("#EXT-X-DISCONTINUITY\n");
        }
        let ms = seg.duration.as_millis();
        let _ = write!(
            m3u8,
            "#EXTINF:{}.{:03},\n{}\n",
            ms / 1000,
            ms % 1000,
            uri(seg.seq)
        );
    }
    if header.ended {
        m3u8.push_str("#EXT-X-ENDLIST\n");
    }
    m3u8
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use bytes::Bytes;

    use super::*;

    #[test]
    fn renders_every_tag() {
        let seg = |seq, ms, discontinuity| Segment {
            seq,
            duration: Duration::from_millis(ms),
            first_dts_us: 0,
            discontinuity,
            data: Bytes::new(),
        };
        let segs = [seg(7, 2002, false), seg(8, 1500, true)];
        let header = Header {
            target: 3,
            media_sequence: 7,
            discontinuity_sequence: 2,
            ended: true,
        };
        let text = render(&header, segs.iter(), |n| format!("s-{n}.ts"));
        assert_eq!(
            text,
            "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:3\n#EXT-X-MEDIA-SEQUENCE:7\n\
             #EXT-X-DISCONTINUITY-SEQUENCE:2\n#EXTINF:2.002,\ns-7.ts\n#EXT-X-DISCONTINUITY\n\
             #EXTINF:1.500,\ns-8.ts\n#EXT-X-ENDLIST\n"
        );
    }
}
