//! [`LowLatency`]: fMP4 parts in, LL-HLS playlists, parts and segments out.

use std::collections::VecDeque;
use std::fmt::Write;
use std::time::Duration;

use bytes::{Bytes, BytesMut};

/// Most parts in one segment, whatever their durations say: bounds memory
/// for a source whose clock stands still.
const MAX_PARTS_PER_SEGMENT: usize = 2_000;
/// A segment this close (µs) to its target length counts as long enough,
/// so that rounding of frame durations does not push a cut a GOP later.
const CUT_SLACK_US: i64 = 10_000;
/// `CAN-SKIP-UNTIL` in target durations: the least the spec allows.
const SKIP_TARGETS: u64 = 6;
/// Parts are listed for the segments that end within this many target
/// durations of the live edge (the spec's minimum), not for older ones.
const PART_LISTED_TARGETS: i64 = 3;

/// Settings of a [`LowLatency`] playlist.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LlConfig {
    /// Longest part, `PART-TARGET`: parts are fMP4 fragments of at most
    /// this much media time.
    pub part_target: Duration,
    /// Shortest segment: a segment ends at the first independent part
    /// (keyframe) once it is this long; `EXT-X-TARGETDURATION` starts here.
    pub segment: Duration,
    /// Longest segment: ended at the next part even without a keyframe,
    /// so that memory stays bounded for a source with rare keyframes.
    pub max_segment: Duration,
    /// Media time the playlist covers.
    pub window: Duration,
    /// Finished segments held past the playlist's window, for players
    /// that fetched an older playlist.
    pub extra_kept: usize,
    /// Prepended to every media file name (`{prefix}p{n}.m4s`): makes the
    /// names of one producer unique, so they can be cached as immutable.
    pub prefix: String,
}

impl Default for LlConfig {
    fn default() -> Self {
        LlConfig {
            part_target: Duration::from_millis(200),
            segment: Duration::from_secs(2),
            max_segment: Duration::from_secs(10),
            window: Duration::from_secs(30),
            extra_kept: 3,
            prefix: String::new(),
        }
    }
}

/// One fMP4 fragment, handed to [`LowLatency::push_part`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartIn {
    /// `moof` + `mdat`.
    pub data: Bytes,
    /// Decode time of its first sample, µs.
    pub dts_us: i64,
    /// Media time it covers, µs.
    pub duration_us: i64,
    /// It starts with a keyframe (every part of an audio-only stream).
    pub independent: bool,
    /// Wall-clock time it was made, ms since the Unix epoch: anchors
    /// `#EXT-X-PROGRAM-DATE-TIME` (later times follow the media clock).
    pub wall_ms: i64,
}

/// A media file of a [`LowLatency`] playlist, by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LlFile {
    /// `{prefix}init{v}.mp4`: version `v` of the init segment.
    Init(u64),
    /// `{prefix}s{msn}.m4s`: a whole segment.
    Segment(u64),
    /// `{prefix}p{n}.m4s`: part `n`, numbered across segments.
    Part(u64),
}

impl LlFile {
    /// Reads a file name made with `prefix`; `None` for any other name.
    pub fn parse(prefix: &str, name: &str) -> Option<LlFile> {
        let rest = name.strip_prefix(prefix)?;
        let num = |s: &str| {
            (!s.is_empty() && s.len() <= 20 && s.bytes().all(|b| b.is_ascii_digit()))
                .then(|| s.parse().ok())
                .flatten()
        };
        if let Some(v) = rest
            .strip_prefix("init")
            .and_then(|r| r.strip_suffix(".mp4"))
        {
            return num(v).map(LlFile::Init);
        }
        let stem = rest.strip_suffix(".m4s")?;
        if let Some(msn) = stem.strip_prefix('s') {
            return num(msn).map(LlFile::Segment);
        }
        num(stem.strip_prefix('p')?).map(LlFile::Part)
    }

    fn name(self, prefix: &str) -> String {
        match self {
            LlFile::Init(v) => format!("{prefix}init{v}.mp4"),
            LlFile::Segment(msn) => format!("{prefix}s{msn}.m4s"),
            LlFile::Part(n) => format!("{prefix}p{n}.m4s"),
        }
    }
}

/// The answer to a blocking playlist request (`_HLS_msn`, `_HLS_part`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Blocking {
    /// The playlist has what was asked for: answer now.
    Ready,
    /// Not yet: hold the request until the playlist changes.
    Wait,
    /// Further ahead than the spec lets a client ask (more than two
    /// segments, or more parts than the Advance Part Limit): answer
    /// `400 Bad Request` at once.
    TooFar,
}

/// A part asked for by number (a preload hint is fetched before its part
/// exists).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PartState {
    /// Made: its bytes.
    Ready(Bytes),
    /// The next part or one shortly after: hold the request.
    Wait,
    /// Gone from memory, or too far ahead to wait for.
    Missing,
}

#[derive(Debug)]
struct Part {
    n: u64,
    duration_us: i64,
    independent: bool,
    data: Bytes,
}

#[derive(Debug)]
struct Seg {
    msn: u64,
    parts: Vec<Part>,
    duration_us: i64,
    /// `#EXT-X-PROGRAM-DATE-TIME`, ms since the epoch.
    pdt_ms: i64,
    /// Version of the init segment its parts need.
    init: u64,
    discontinuity: bool,
    /// The whole segment, once finished.
    data: Option<Bytes>,
}

/// The LL-HLS state of one stream: init segments, parts grouped into
/// segments, the window, and the playlist as full or delta update. Sans-IO:
/// parts and their wall-clock times are passed in.
#[derive(Debug)]
pub struct LowLatency {
    cfg: LlConfig,
    /// Init segment versions still needed, oldest first.
    inits: VecDeque<(u64, Bytes)>,
    done: VecDeque<Seg>,
    open: Option<Seg>,
    next_msn: u64,
    next_part: u64,
    /// `#EXT-X-TARGETDURATION`, seconds: grows when a segment is longer.
    target_s: u64,
    /// `PART-TARGET`, µs: grows when a part is longer (a single frame
    /// longer than the configured target).
    part_target_us: i64,
    evicted_discontinuities: u64,
    pending_discontinuity: bool,
    /// Wall clock (ms) and media time (µs) of the first part since the
    /// last (re)start.
    anchor: Option<(i64, i64)>,
    ended: bool,
}

fn us(d: Duration) -> i64 {
    i64::try_from(d.as_micros()).unwrap_or(i64::MAX)
}

impl LowLatency {
    /// An empty playlist.
    pub fn new(cfg: LlConfig) -> Self {
        let part_target_us = us(cfg.part_target).max(1_000);
        let target_s = round_secs(us(cfg.segment)).max(1);
        LowLatency {
            cfg,
            inits: VecDeque::new(),
            done: VecDeque::new(),
            open: None,
            next_msn: 0,
            next_part: 0,
            target_s,
            part_target_us,
            evicted_discontinuities: 0,
            pending_discontinuity: false,
            anchor: None,
            ended: false,
        }
    }

    /// A new init segment (`ftyp` + `moov`). The same bytes again change
    /// nothing; different ones end the open segment, and the next segment
    /// gets its own `#EXT-X-MAP` and `#EXT-X-DISCONTINUITY`.
    pub fn set_init(&mut self, data: Bytes) {
        if self.inits.back().is_some_and(|(_, d)| *d == data) {
            return;
        }
        let version = self.inits.back().map_or(0, |(v, _)| v + 1);
        if !self.inits.is_empty() {
            self.discontinuity();
        }
        self.inits.push_back((version, data));
    }

    /// Adds a part; ends the open segment first when the part starts with
    /// a keyframe and the segment is long enough, or when the segment has
    /// reached `max_segment` whatever the part is. A part before any init
    /// segment is dropped (nothing could play it). Pushing after
    /// [`LowLatency::end`] resumes the stream after a discontinuity.
    pub fn push_part(&mut self, part: PartIn) {
        let Some(&(init, _)) = self.inits.back() else {
            return;
        };
        if self.ended {
            self.ended = false;
            self.discontinuity();
        }
        let duration = part.duration_us.max(0);
        if let Some(open) = &self.open {
            let long_enough = open.duration_us + CUT_SLACK_US >= us(self.cfg.segment);
            let too_long = open.duration_us.saturating_add(duration) > us(self.cfg.max_segment)
                || open.parts.len() >= MAX_PARTS_PER_SEGMENT;
            if (part.independent && long_enough) || too_long || open.init != init {
                self.finish_open();
            }
        }
        let (anchor_wall, anchor_dts) = *self.anchor.get_or_insert((part.wall_ms, part.dts_us));
        let open = self.open.get_or_insert_with(|| {
            let seg = Seg {
                msn: self.next_msn,
                parts: Vec::new(),
                duration_us: 0,
                pdt_ms: anchor_wall.saturating_add(part.dts_us.saturating_sub(anchor_dts) / 1000),
                init,
                discontinuity: std::mem::take(&mut self.pending_discontinuity),
                data: None,
            };
            self.next_msn += 1;
            seg
        });
        open.parts.push(Part {
            n: self.next_part,
            duration_us: duration,
            independent: part.independent,
            data: part.data,
        });
        open.duration_us = open.duration_us.saturating_add(duration);
        self.next_part += 1;
        self.part_target_us = self.part_target_us.max(duration);
        // The playlist must announce a target that covers the segment
        // being written, before it is finished.
        self.target_s = self.target_s.max(round_secs(open.duration_us));
    }

    /// The publisher changed: ends the open segment and marks the next one
    /// with `#EXT-X-DISCONTINUITY`; program date-times start over from the
    /// next part's wall clock.
    pub fn discontinuity(&mut self) {
        self.finish_open();
        if self.next_msn > 0 {
            self.pending_discontinuity = true;
        }
        self.anchor = None;
    }

    /// The stream stopped: ends the open segment and the playlist
    /// (`#EXT-X-ENDLIST`). Every blocking request is then answered at once.
    pub fn end(&mut self) {
        self.finish_open();
        self.ended = true;
    }

    /// The stream has ended (and nothing was pushed since).
    pub fn ended(&self) -> bool {
        self.ended
    }

    /// `#EXT-X-TARGETDURATION`.
    pub fn target_duration(&self) -> Duration {
        Duration::from_secs(self.target_s)
    }

    /// `PART-TARGET`.
    pub fn part_target(&self) -> Duration {
        Duration::from_micros(u64::try_from(self.part_target_us).unwrap_or(0))
    }

    /// Parts a client may ask for ahead of the newest one: three target
    /// durations' worth, the spec's Advance Part Limit.
    fn advance_part_limit(&self) -> u64 {
        if self.part_target_us < 1_000_000 {
            let parts = (3_000_000 + self.part_target_us - 1) / self.part_target_us;
            u64::try_from(parts).unwrap_or(3)
        } else {
            3
        }
    }

    /// The newest part as (its segment's MSN, its index in that segment):
    /// what another rendition's playlist reports of this one
    /// (`#EXT-X-RENDITION-REPORT`'s `LAST-MSN` and `LAST-PART`). `None`
    /// before the first part.
    pub fn last_part(&self) -> Option<(u64, u64)> {
        let with_parts = |s: &Seg| {
            let n = s.parts.len() as u64;
            (n > 0).then(|| (s.msn, n - 1))
        };
        self.open
            .as_ref()
            .and_then(with_parts)
            .or_else(|| self.done.back().and_then(with_parts))
    }

    /// Whether a request with `_HLS_msn=msn` (and `_HLS_part=part`) can be
    /// answered now, must wait, or asks too far ahead.
    pub fn blocking(&self, msn: u64, part: Option<u64>) -> Blocking {
        if self.ended {
            return Blocking::Ready;
        }
        // Segments below this are finished.
        let complete_below = self.open.as_ref().map_or(self.next_msn, |o| o.msn);
        let last = self.last_part();
        let last_msn = last.map_or(self.next_msn, |(m, _)| m);
        if msn > last_msn.saturating_add(2) {
            return Blocking::TooFar;
        }
        if msn < complete_below {
            return Blocking::Ready;
        }
        let Some(p) = part else {
            return Blocking::Wait;
        };
        let limit = self.advance_part_limit();
        match last {
            Some((m, last_part)) if m == msn => {
                if p <= last_part {
                    Blocking::Ready
                } else if p - last_part > limit {
                    Blocking::TooFar
                } else {
                    Blocking::Wait
                }
            }
            _ if p >= limit => Blocking::TooFar,
            _ => Blocking::Wait,
        }
    }

    /// Part `n`, if held; [`PartState::Wait`] for a part not made yet but
    /// within the Advance Part Limit (a preload hint's request).
    pub fn part(&self, n: u64) -> PartState {
        let found = self
            .find_segment(n)
            .and_then(|s| s.parts.iter().find(|p| p.n == n));
        match found {
            Some(p) => PartState::Ready(p.data.clone()),
            None if !self.ended
                && n >= self.next_part
                && n - self.next_part < self.advance_part_limit() =>
            {
                PartState::Wait
            }
            None => PartState::Missing,
        }
    }

    /// The held segment holding part `n`.
    fn find_segment(&self, n: u64) -> Option<&Seg> {
        if let Some(o) = self.open.as_ref().filter(|o| o.parts[0].n <= n) {
            return Some(o);
        }
        let i = self.done.partition_point(|s| s.parts[0].n <= n);
        i.checked_sub(1).and_then(|i| self.done.get(i))
    }

    /// A finished segment's bytes (its parts, concatenated), while held.
    pub fn segment(&self, msn: u64) -> Option<Bytes> {
        let first = self.done.front()?.msn;
        let seg = self
            .done
            .get(usize::try_from(msn.checked_sub(first)?).ok()?)?;
        seg.data.clone()
    }

    /// Version `v` of the init segment, while a held segment needs it.
    pub fn init(&self, version: u64) -> Option<Bytes> {
        self.inits
            .iter()
            .find(|(v, _)| *v == version)
            .map(|(_, d)| d.clone())
    }

    /// Ends the open segment: its bytes become one buffer, which its parts
    /// then slice (a part and its segment share memory); old segments and
    /// the init segments only they needed are dropped.
    fn finish_open(&mut self) {
        let Some(mut seg) = self.open.take() else {
            return;
        };
        let len = seg.parts.iter().map(|p| p.data.len()).sum();
        let mut buf = BytesMut::with_capacity(len);
        for p in &seg.parts {
            buf.extend_from_slice(&p.data);
        }
        let data = buf.freeze();
        let mut at = 0;
        for p in &mut seg.parts {
            let end = at + p.data.len();
            p.data = data.slice(at..end);
            at = end;
        }
        seg.data = Some(data);
        self.done.push_back(seg);
        let keep = self.done.len() - self.window_start() + self.cfg.extra_kept;
        while self.done.len() > keep {
            if let Some(old) = self.done.pop_front() {
                self.evicted_discontinuities += u64::from(old.discontinuity);
            }
        }
        if let Some(first) = self.done.front().map(|s| s.init) {
            while self.inits.len() > 1 && self.inits.front().is_some_and(|(v, _)| *v < first) {
                self.inits.pop_front();
            }
        }
    }

    /// Index in `done` of the first segment the playlist lists: the newest
    /// finished segments that, with the open one, cover the window.
    fn window_start(&self) -> usize {
        let mut covered = self.open.as_ref().map_or(0, |o| o.duration_us);
        let mut start = self.done.len();
        while start > 0 && covered < us(self.cfg.window) {
            start -= 1;
            covered += self.done[start].duration_us;
        }
        start
    }

    /// The media playlist: in full, or with `skip` as a delta update whose
    /// segments older than `CAN-SKIP-UNTIL` are replaced by `#EXT-X-SKIP`.
    pub fn playlist(&self, skip: bool) -> String {
        let start = self.window_start();
        let listed: Vec<&Seg> = self
            .done
            .iter()
            .skip(start)
            .chain(self.open.as_ref())
            .collect();
        let slid_out = self
            .done
            .iter()
            .take(start)
            .filter(|s| s.discontinuity)
            .count() as u64;
        let total: i64 = listed.iter().map(|s| s.duration_us).sum();
        let skip_until_us = i64::try_from(SKIP_TARGETS * self.target_s * 1_000_000).unwrap_or(0);
        let mut skipped = 0;
        if skip {
            let mut end = 0;
            for s in listed.iter().take_while(|s| s.data.is_some()) {
                end += s.duration_us;
                if total - end < skip_until_us {
                    break;
                }
                skipped += 1;
            }
        }
        let p = &self.cfg.prefix;
        let mut m3u8 = String::with_capacity(256 + 64 * listed.len());
        let part_target = secs(self.part_target_us);
        // Writing to a String cannot fail.
        let _ = write!(
            m3u8,
            "#EXTM3U\n#EXT-X-VERSION:9\n#EXT-X-TARGETDURATION:{}\n\
             #EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,CAN-SKIP-UNTIL={}.0,PART-HOLD-BACK={}\n\
             #EXT-X-PART-INF:PART-TARGET={part_target}\n#EXT-X-MEDIA-SEQUENCE:{}\n",
            self.target_s,
            SKIP_TARGETS * self.target_s,
            secs(3 * self.part_target_us),
            listed.first().map_or(self.next_msn, |s| s.msn),
        );
        let disc_seq = self.evicted_discontinuities + slid_out;
        if disc_seq > 0 {
            let _ = writeln!(m3u8, "#EXT-X-DISCONTINUITY-SEQUENCE:{disc_seq}");
        }
        if skipped > 0 {
            let _ = writeln!(m3u8, "#EXT-X-SKIP:SKIPPED-SEGMENTS={skipped}");
        }
        let parts_from = total - PART_LISTED_TARGETS * 1_000_000 * self.target_s as i64;
        let mut end = listed
            .iter()
            .take(skipped)
            .map(|s| s.duration_us)
            .sum::<i64>();
        let mut map = None;
        for seg in listed.iter().skip(skipped) {
            end += seg.duration_us;
            if seg.discontinuity {
                m3u8.push_str("#EXT-X-DISCONTINUITY\n");
            }
            if map != Some(seg.init) {
                map = Some(seg.init);
                let _ = writeln!(
                    m3u8,
                    "#EXT-X-MAP:URI=\"{}\"",
                    LlFile::Init(seg.init).name(p)
                );
            }
            let _ = writeln!(m3u8, "#EXT-X-PROGRAM-DATE-TIME:{}", iso8601(seg.pdt_ms));
            if seg.data.is_none() || end > parts_from {
                for part in &seg.parts {
                    let _ = writeln!(
                        m3u8,
                        "#EXT-X-PART:DURATION={},URI=\"{}\"{}",
                        secs(part.duration_us),
                        LlFile::Part(part.n).name(p),
                        if part.independent {
                            ",INDEPENDENT=YES"
                        } else {
                            ""
                        }
                    );
                }
            }
            if seg.data.is_some() {
                let _ = write!(
                    m3u8,
                    "#EXTINF:{},\n{}\n",
                    secs(seg.duration_us),
                    LlFile::Segment(seg.msn).name(p)
                );
            }
        }
        if self.ended {
            m3u8.push_str("#EXT-X-ENDLIST\n");
        } else if !self.inits.is_empty() {
            let _ = writeln!(
                m3u8,
                "#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"{}\"",
                LlFile::Part(self.next_part).name(p)
            );
        }
        m3u8
    }
}

/// Whole seconds, rounded to the nearest: the spec compares a segment's
/// rounded `#EXTINF` with the target duration.
fn round_secs(us: i64) -> u64 {
    u64::try_from((us + 500_000) / 1_000_000).unwrap_or(0)
}

/// Seconds with at least three and at most six decimals: `0.2`,
/// `0.200` → `0.200`, `0.0333667` → `0.033367`.
fn secs(us: i64) -> String {
    let us = us.max(0);
    let mut s = format!("{}.{:06}", us / 1_000_000, us % 1_000_000);
    while s.len() > s.find('.').map_or(0, |i| i + 4) && s.ends_with('0') {
        s.pop();
    }
    s
}

/// `YYYY-MM-DDTHH:MM:SS.mmmZ` of ms since the epoch (proleptic Gregorian,
/// Howard Hinnant's days-to-civil).
fn iso8601(ms: i64) -> String {
    let days = ms.div_euclid(86_400_000);
    let in_day = ms.rem_euclid(86_400_000);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        in_day / 3_600_000,
        in_day / 60_000 % 60,
        in_day / 1000 % 60,
        in_day % 1000
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_times_and_durations() {
        assert_eq!(iso8601(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(iso8601(1_796_319_815_123), "2026-12-03T17:43:35.123Z");
        assert_eq!(iso8601(951_782_400_000), "2000-02-29T00:00:00.000Z");
        assert_eq!(secs(200_000), "0.200");
        assert_eq!(secs(2_002_000), "2.002");
        assert_eq!(secs(33_367), "0.033367");
        assert_eq!(secs(1_500_010), "1.50001");
        assert_eq!(round_secs(2_499_999), 2);
        assert_eq!(round_secs(2_500_000), 3);
    }

    #[test]
    fn file_names_round_trip_and_refuse_others() {
        for f in [LlFile::Init(0), LlFile::Segment(17), LlFile::Part(u64::MAX)] {
            assert_eq!(LlFile::parse("k2-", &f.name("k2-")), Some(f));
        }
        for bad in [
            "k2-p.m4s",
            "k2-px.m4s",
            "k3-p1.m4s",
            "k2-q1.m4s",
            "k2-init1.m4s",
            "k2-p-1.m4s",
            "k2-p99999999999999999999.m4s",
            "k2-s1.mp4",
        ] {
            assert_eq!(LlFile::parse("k2-", bad), None, "{bad}");
        }
    }
}
