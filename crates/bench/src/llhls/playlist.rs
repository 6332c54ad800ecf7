//! The few LL-HLS media playlist tags a simulated viewer needs: where the
//! segments start (`#EXT-X-MEDIA-SEQUENCE`, `#EXT-X-SKIP`), the parts of
//! each segment (`#EXT-X-PART`), whether a segment is finished
//! (`#EXTINF`), the next part (`#EXT-X-PRELOAD-HINT`), the init segment
//! (`#EXT-X-MAP`) and what the server allows (`#EXT-X-SERVER-CONTROL`).
//!
//! Server input is never trusted: unknown tags are ignored, malformed
//! ones are skipped, and nothing here panics.

/// One `#EXT-X-PART`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Part {
    pub(crate) uri: String,
    /// Seconds (`DURATION`); 0 when missing or malformed.
    pub(crate) duration: f64,
    pub(crate) independent: bool,
}

/// One media segment as listed: its parts (if the server lists them) and
/// whether it is finished (an `#EXTINF` and URI followed its parts).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Segment {
    pub(crate) msn: u64,
    pub(crate) parts: Vec<Part>,
    pub(crate) complete: bool,
}

/// What a viewer reads from a media playlist.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Playlist {
    /// `#EXT-X-MEDIA-SEQUENCE`: the first segment's number, skipped or not.
    pub(crate) media_sequence: u64,
    /// `#EXT-X-SKIP:SKIPPED-SEGMENTS` of a delta update.
    pub(crate) skipped: u64,
    /// `CAN-SKIP-UNTIL` seconds, when the server allows delta updates.
    pub(crate) can_skip_until: Option<f64>,
    /// `CAN-BLOCK-RELOAD=YES`.
    pub(crate) can_block_reload: bool,
    /// The last `#EXT-X-MAP` URI.
    pub(crate) map_uri: Option<String>,
    /// Listed segments, oldest first; the last one may be open (parts
    /// only).
    pub(crate) segments: Vec<Segment>,
    /// `#EXT-X-PRELOAD-HINT:TYPE=PART` URI.
    pub(crate) preload_hint: Option<String>,
    /// `#EXT-X-ENDLIST`.
    pub(crate) ended: bool,
}

/// A part's place in the stream: segment number and index in it.
pub(crate) type PartPos = (u64, usize);

impl Playlist {
    /// Parses a media playlist; `None` if it does not start with
    /// `#EXTM3U`.
    pub(crate) fn parse(text: &str) -> Option<Playlist> {
        let mut lines = text.lines().map(str::trim);
        if lines.next()? != "#EXTM3U" {
            return None;
        }
        let mut p = Playlist::default();
        // The segment being listed: parts seen so far, until its URI line.
        let mut parts: Vec<Part> = Vec::new();
        let mut extinf = false;
        for line in lines {
            if line.is_empty() {
                continue;
            }
            let Some(tag) = line.strip_prefix('#') else {
                // A URI line: it ends a segment only after an #EXTINF.
                if extinf {
                    p.push_segment(std::mem::take(&mut parts), true);
                    extinf = false;
                }
                continue;
            };
            let (name, value) = tag.split_once(':').unwrap_or((tag, ""));
            match name {
                "EXT-X-MEDIA-SEQUENCE" => {
                    p.media_sequence = value.trim().parse().unwrap_or(0);
                }
                "EXT-X-SKIP" => {
                    p.skipped = attr(value, "SKIPPED-SEGMENTS")
                        .and_then(|v| v.parse().ok())
                        .unwrap_or(0);
                }
                "EXT-X-SERVER-CONTROL" => {
                    p.can_block_reload = attr(value, "CAN-BLOCK-RELOAD") == Some("YES");
                    p.can_skip_until = attr(value, "CAN-SKIP-UNTIL")
                        .and_then(|v| v.parse::<f64>().ok())
                        .filter(|v| v.is_finite() && *v > 0.0);
                }
                "EXT-X-MAP" => {
                    if let Some(uri) = attr(value, "URI") {
                        p.map_uri = Some(uri.to_owned());
                    }
                }
                "EXT-X-PART" => {
                    if let Some(uri) = attr(value, "URI") {
                        parts.push(Part {
                            uri: uri.to_owned(),
                            duration: attr(value, "DURATION")
                                .and_then(|v| v.parse::<f64>().ok())
                                .filter(|v| v.is_finite() && *v >= 0.0)
                                .unwrap_or(0.0),
                            independent: attr(value, "INDEPENDENT") == Some("YES"),
                        });
                    }
                }
                "EXTINF" => extinf = true,
                "EXT-X-PRELOAD-HINT" if attr(value, "TYPE") == Some("PART") => {
                    p.preload_hint = attr(value, "URI").map(str::to_owned);
                }
                "EXT-X-ENDLIST" => p.ended = true,
                _ => {}
            }
        }
        if !parts.is_empty() {
            p.push_segment(parts, false);
        }
        Some(p)
    }

    fn push_segment(&mut self, parts: Vec<Part>, complete: bool) {
        let msn = self.media_sequence.saturating_add(self.skipped);
        let msn = msn.saturating_add(self.segments.len() as u64);
        self.segments.push(Segment {
            msn,
            parts,
            complete,
        });
    }

    /// The newest listed part.
    pub(crate) fn last_part(&self) -> Option<(PartPos, &Part)> {
        self.segments
            .iter()
            .rev()
            .find_map(|s| Some(((s.msn, s.parts.len().checked_sub(1)?), s.parts.last()?)))
    }

    /// Listed parts after `after`, oldest first; `None` if `after` is no
    /// longer listed (or never was), so the viewer cannot tell what it
    /// missed.
    pub(crate) fn parts_after(&self, after: PartPos) -> Option<Vec<(PartPos, &Part)>> {
        let (msn, idx) = after;
        let seg = self.segments.iter().find(|s| s.msn == msn)?;
        if idx >= seg.parts.len() {
            return None;
        }
        Some(
            self.segments
                .iter()
                .filter(|s| s.msn >= msn)
                .flat_map(|s| {
                    s.parts
                        .iter()
                        .enumerate()
                        .map(move |(i, p)| ((s.msn, i), p))
                })
                .filter(|&(pos, _)| pos > after)
                .collect(),
        )
    }

    /// The blocking reload directives for the part after `last`: the next
    /// index in its segment, or the first part of the next segment once
    /// the segment is finished.
    pub(crate) fn next_wanted(&self, last: PartPos) -> PartPos {
        let finished = self
            .segments
            .iter()
            .find(|s| s.msn == last.0)
            .is_some_and(|s| s.complete && last.1 + 1 >= s.parts.len());
        if finished {
            (last.0.saturating_add(1), 0)
        } else {
            (last.0, last.1 + 1)
        }
    }
}

/// The value of `name` in an attribute list (`A=1,B="x,y"`), unquoted.
fn attr<'a>(list: &'a str, name: &str) -> Option<&'a str> {
    let mut rest = list;
    while !rest.is_empty() {
        let (key, after) = rest.split_once('=')?;
        let (value, next) = match after.strip_prefix('"') {
            Some(quoted) => {
                let end = quoted.find('"')?;
                let next = quoted[end + 1..].trim_start_matches(',');
                (&quoted[..end], next)
            }
            None => match after.split_once(',') {
                Some((v, next)) => (v, next),
                None => (after, ""),
            },
        };
        if key.trim() == name {
            return Some(value.trim());
        }
        rest = next;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What weir writes (crates/hls/src/low_latency.rs): one finished
    /// segment with its parts, one open segment, a preload hint.
    const LIVE: &str = "#EXTM3U\n#EXT-X-VERSION:9\n#EXT-X-TARGETDURATION:2\n\
#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,CAN-SKIP-UNTIL=12.0,PART-HOLD-BACK=0.6\n\
#EXT-X-PART-INF:PART-TARGET=0.2\n#EXT-X-MEDIA-SEQUENCE:7\n\
#EXT-X-MAP:URI=\"a1-init0.mp4\"\n\
#EXT-X-PROGRAM-DATE-TIME:2026-12-03T10:00:00.000Z\n\
#EXTINF:2.0,\na1-s7.m4s\n\
#EXT-X-PROGRAM-DATE-TIME:2026-12-03T10:00:02.000Z\n\
#EXT-X-PART:DURATION=0.2,URI=\"a1-p10.m4s\",INDEPENDENT=YES\n\
#EXT-X-PART:DURATION=0.2,URI=\"a1-p11.m4s\"\n\
#EXTINF:0.4,\na1-s8.m4s\n\
#EXT-X-PROGRAM-DATE-TIME:2026-12-03T10:00:02.400Z\n\
#EXT-X-PART:DURATION=0.2,URI=\"a1-p12.m4s\",INDEPENDENT=YES\n\
#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"a1-p13.m4s\"\n";

    #[test]
    fn reads_weirs_live_playlist() {
        let p = Playlist::parse(LIVE).unwrap();
        assert_eq!(p.media_sequence, 7);
        assert_eq!(p.skipped, 0);
        assert!(p.can_block_reload);
        assert_eq!(p.can_skip_until, Some(12.0));
        assert_eq!(p.map_uri.as_deref(), Some("a1-init0.mp4"));
        assert_eq!(p.preload_hint.as_deref(), Some("a1-p13.m4s"));
        assert!(!p.ended);
        let msns: Vec<(u64, usize, bool)> = p
            .segments
            .iter()
            .map(|s| (s.msn, s.parts.len(), s.complete))
            .collect();
        assert_eq!(msns, [(7, 0, true), (8, 2, true), (9, 1, false)]);
        assert_eq!(
            p.segments[1].parts[0],
            Part {
                uri: "a1-p10.m4s".into(),
                duration: 0.2,
                independent: true
            }
        );
        assert!(!p.segments[1].parts[1].independent);
        let (pos, last) = p.last_part().unwrap();
        assert_eq!((pos, last.uri.as_str()), ((9, 0), "a1-p12.m4s"));
    }

    #[test]
    fn next_part_and_what_is_new() {
        let p = Playlist::parse(LIVE).unwrap();
        // Segment 8 is finished: after its last part comes 9.0.
        assert_eq!(p.next_wanted((8, 1)), (9, 0));
        assert_eq!(p.next_wanted((8, 0)), (8, 1));
        // Segment 9 is open: its next part.
        assert_eq!(p.next_wanted((9, 0)), (9, 1));
        // Unknown segments: the next index.
        assert_eq!(p.next_wanted((42, 3)), (42, 4));
        let uris = |v: Vec<(PartPos, &Part)>| -> Vec<String> {
            v.into_iter().map(|(_, p)| p.uri.clone()).collect()
        };
        assert_eq!(
            uris(p.parts_after((8, 0)).unwrap()),
            ["a1-p11.m4s", "a1-p12.m4s"]
        );
        assert_eq!(uris(p.parts_after((9, 0)).unwrap()), Vec::<String>::new());
        // Gone from the list, or beyond it: the viewer must resync.
        assert!(p.parts_after((7, 0)).is_none());
        assert!(p.parts_after((6, 2)).is_none());
        assert!(p.parts_after((9, 1)).is_none());
    }

    #[test]
    fn delta_update_numbers_segments_after_the_skip() {
        let text = "#EXTM3U\n#EXT-X-MEDIA-SEQUENCE:100\n\
#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,CAN-SKIP-UNTIL=12.0\n\
#EXT-X-SKIP:SKIPPED-SEGMENTS=5\n\
#EXTINF:2.0,\nx-s105.m4s\n\
#EXT-X-PART:DURATION=0.2,URI=\"x-p1.m4s\"\n\
#EXT-X-ENDLIST\n";
        let p = Playlist::parse(text).unwrap();
        assert_eq!(p.skipped, 5);
        let msns: Vec<u64> = p.segments.iter().map(|s| s.msn).collect();
        assert_eq!(msns, [105, 106]);
        assert!(p.ended);
        assert_eq!(p.preload_hint, None);
    }

    #[test]
    fn bad_input_is_skipped_not_fatal() {
        assert_eq!(Playlist::parse(""), None);
        assert_eq!(Playlist::parse("<html>"), None);
        let text = "#EXTM3U\n#EXT-X-MEDIA-SEQUENCE:-3\n#EXT-X-SKIP:SKIPPED-SEGMENTS=x\n\
#EXT-X-SERVER-CONTROL:CAN-SKIP-UNTIL=NaN,CAN-BLOCK-RELOAD\n\
#EXT-X-PART:DURATION=abc,URI=\"unterminated\n#EXT-X-PART:URI=\"p.m4s\",DURATION=-1\n\
#EXT-X-PART:DURATION=0.2\n#EXT-X-PRELOAD-HINT:TYPE=MAP,URI=\"i.mp4\"\n#EXTINF\n\n\
#EXT-X-MEDIA-SEQUENCE:18446744073709551615\n#EXT-X-SKIP:SKIPPED-SEGMENTS=18446744073709551615\n\
#EXT-X-PART:URI=\"q.m4s\"\n";
        let p = Playlist::parse(text).unwrap();
        assert_eq!(p.can_skip_until, None);
        assert!(!p.can_block_reload);
        assert_eq!(p.preload_hint, None);
        assert_eq!(p.segments.len(), 1);
        let parts = &p.segments[0].parts;
        assert_eq!(parts.len(), 2);
        assert_eq!((parts[0].uri.as_str(), parts[0].duration), ("p.m4s", 0.0));
        assert_eq!(p.segments[0].msn, u64::MAX, "saturates");
        assert_eq!(p.next_wanted((u64::MAX, 1)), (u64::MAX, 2));
    }

    #[test]
    fn attribute_lists() {
        assert_eq!(attr("A=1,B=\"x,y\",C=YES", "B"), Some("x,y"));
        assert_eq!(attr("A=1,B=\"x,y\",C=YES", "C"), Some("YES"));
        assert_eq!(attr("A=1", "B"), None);
        assert_eq!(attr("A", "A"), None);
        assert_eq!(attr("B=\"open", "B"), None);
        assert_eq!(attr("", "A"), None);
    }
}
