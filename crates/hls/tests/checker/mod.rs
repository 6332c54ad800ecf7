//! An independent LL-HLS media playlist reader and rule checker (std only),
//! used by weir-hls's tests and, through `#[path]`, by the app's e2e test
//! against the live server. It knows the spec's rules, not weir's code;
//! the only weir convention it relies on is that part URIs end in
//! `p{n}.m4s` with `n` counting parts across segments.
#![allow(dead_code)]

/// One part line.
#[derive(Debug, Clone, PartialEq)]
pub struct Part {
    pub duration: f64,
    pub uri: String,
    pub independent: bool,
}

/// One segment: finished (`duration` and `uri`) or the open one (parts only).
#[derive(Debug, Clone, PartialEq)]
pub struct Segment {
    pub msn: u64,
    pub duration: Option<f64>,
    pub uri: Option<String>,
    pub parts: Vec<Part>,
    pub pdt: Option<String>,
    pub map: Option<String>,
    pub discontinuity: bool,
}

/// A parsed media playlist.
#[derive(Debug, Clone, Default)]
pub struct Playlist {
    pub version: u32,
    pub target: u64,
    pub part_target: f64,
    pub part_hold_back: f64,
    pub can_block: bool,
    pub can_skip_until: Option<f64>,
    pub media_sequence: u64,
    pub discontinuity_sequence: u64,
    pub skipped: u64,
    pub segments: Vec<Segment>,
    pub preload_hint: Option<String>,
    pub ended: bool,
}

fn attr<'a>(list: &'a str, name: &str) -> Option<&'a str> {
    // Attribute lists here have no commas inside quoted values.
    list.split(',').find_map(|kv| {
        let (k, v) = kv.split_once('=')?;
        (k == name).then(|| v.trim_matches('"'))
    })
}

fn num<T: std::str::FromStr>(s: Option<&str>, what: &str) -> Result<T, String> {
    s.and_then(|v| v.parse().ok())
        .ok_or_else(|| format!("bad or missing {what}: {s:?}"))
}

/// The part number `n` of a URI ending in `p{n}.m4s`.
pub fn part_number(uri: &str) -> Option<u64> {
    let stem = uri.strip_suffix(".m4s")?;
    let i = stem.rfind('p')?;
    stem[i + 1..].parse().ok()
}

/// Reads a playlist; errors on malformed lines.
pub fn parse(text: &str) -> Result<Playlist, String> {
    let mut lines = text.lines();
    if lines.next() != Some("#EXTM3U") {
        return Err("no #EXTM3U first".into());
    }
    let mut pl = Playlist::default();
    let mut cur = Segment {
        msn: 0,
        duration: None,
        uri: None,
        parts: Vec::new(),
        pdt: None,
        map: None,
        discontinuity: false,
    };
    let mut map: Option<String> = None;
    let mut pending_extinf: Option<f64> = None;
    let mut msn_set = false;
    for line in lines {
        let (tag, value) = line.split_once(':').unwrap_or((line, ""));
        match tag {
            "#EXT-X-VERSION" => pl.version = num(Some(value), "version")?,
            "#EXT-X-TARGETDURATION" => pl.target = num(Some(value), "target")?,
            "#EXT-X-SERVER-CONTROL" => {
                pl.can_block = attr(value, "CAN-BLOCK-RELOAD") == Some("YES");
                pl.part_hold_back = num(attr(value, "PART-HOLD-BACK"), "PART-HOLD-BACK")?;
                pl.can_skip_until = attr(value, "CAN-SKIP-UNTIL").and_then(|v| v.parse().ok());
            }
            "#EXT-X-PART-INF" => pl.part_target = num(attr(value, "PART-TARGET"), "PART-TARGET")?,
            "#EXT-X-MEDIA-SEQUENCE" => {
                pl.media_sequence = num(Some(value), "media sequence")?;
                msn_set = true;
            }
            "#EXT-X-DISCONTINUITY-SEQUENCE" => {
                pl.discontinuity_sequence = num(Some(value), "discontinuity sequence")?
            }
            "#EXT-X-SKIP" => pl.skipped = num(attr(value, "SKIPPED-SEGMENTS"), "SKIPPED-SEGMENTS")?,
            "#EXT-X-MAP" => map = attr(value, "URI").map(str::to_owned),
            "#EXT-X-DISCONTINUITY" => cur.discontinuity = true,
            "#EXT-X-PROGRAM-DATE-TIME" => cur.pdt = Some(value.to_owned()),
            "#EXT-X-PART" => cur.parts.push(Part {
                duration: num(attr(value, "DURATION"), "part DURATION")?,
                uri: attr(value, "URI").ok_or("part without URI")?.to_owned(),
                independent: attr(value, "INDEPENDENT") == Some("YES"),
            }),
            "#EXTINF" => {
                pending_extinf = Some(num(value.split(',').next(), "EXTINF")?);
            }
            "#EXT-X-PRELOAD-HINT" => {
                if attr(value, "TYPE") != Some("PART") {
                    return Err(format!("preload hint of another type: {line}"));
                }
                pl.preload_hint = attr(value, "URI").map(str::to_owned);
            }
            "#EXT-X-ENDLIST" => pl.ended = true,
            _ if line.starts_with('#') || line.is_empty() => {}
            _ => {
                if !msn_set {
                    return Err("segment before #EXT-X-MEDIA-SEQUENCE".into());
                }
                let duration = pending_extinf.take().ok_or("segment URI without #EXTINF")?;
                let msn = pl.media_sequence + pl.skipped + pl.segments.len() as u64;
                let next = Segment {
                    msn: 0,
                    duration: None,
                    uri: None,
                    parts: Vec::new(),
                    pdt: None,
                    map: None,
                    discontinuity: false,
                };
                let mut seg = std::mem::replace(&mut cur, next);
                seg.msn = msn;
                seg.duration = Some(duration);
                seg.uri = Some(line.to_owned());
                seg.map = map.clone();
                pl.segments.push(seg);
            }
        }
    }
    if !cur.parts.is_empty() {
        cur.msn = pl.media_sequence + pl.skipped + pl.segments.len() as u64;
        cur.map = map;
        pl.segments.push(cur);
    }
    Ok(pl)
}

/// Checks the rules every LL-HLS playlist must follow.
pub fn check(pl: &Playlist) -> Result<(), String> {
    let eps = 1e-6;
    if pl.version < 6 {
        return Err(format!("version {} too old for LL-HLS", pl.version));
    }
    if !pl.can_block {
        return Err("no CAN-BLOCK-RELOAD=YES".into());
    }
    if pl.part_target <= 0.0 || pl.part_target.is_nan() {
        return Err("no PART-TARGET".into());
    }
    if pl.part_hold_back + eps < 3.0 * pl.part_target {
        return Err(format!(
            "PART-HOLD-BACK {} < 3 x PART-TARGET {}",
            pl.part_hold_back, pl.part_target
        ));
    }
    if let Some(skip) = pl.can_skip_until {
        if skip + eps < 6.0 * pl.target as f64 {
            return Err(format!("CAN-SKIP-UNTIL {skip} < 6 x target {}", pl.target));
        }
    }
    if pl.skipped > 0 && pl.version < 9 {
        return Err("EXT-X-SKIP needs version 9".into());
    }
    let mut last_part: Option<u64> = None;
    for (i, seg) in pl.segments.iter().enumerate() {
        let open = seg.duration.is_none();
        if open && i + 1 != pl.segments.len() {
            return Err(format!("segment {} without EXTINF before the end", seg.msn));
        }
        if seg.map.is_none() {
            return Err(format!("segment {} without EXT-X-MAP", seg.msn));
        }
        if seg.pdt.is_none() {
            return Err(format!(
                "segment {} without EXT-X-PROGRAM-DATE-TIME",
                seg.msn
            ));
        }
        if let Some(d) = seg.duration {
            if d.round() as u64 > pl.target {
                return Err(format!(
                    "segment {} lasts {d} s, over the target {}",
                    seg.msn, pl.target
                ));
            }
            if !seg.parts.is_empty() {
                let sum: f64 = seg.parts.iter().map(|p| p.duration).sum();
                if (sum - d).abs() > 0.002 {
                    return Err(format!(
                        "segment {} lasts {d} s, its parts {sum} s",
                        seg.msn
                    ));
                }
            }
        }
        for part in &seg.parts {
            if part.duration > pl.part_target + eps {
                return Err(format!(
                    "part {} lasts {} s, over PART-TARGET {}",
                    part.uri, part.duration, pl.part_target
                ));
            }
            let n = part_number(&part.uri).ok_or_else(|| format!("part URI {}", part.uri))?;
            if let Some(prev) = last_part {
                if n != prev + 1 {
                    return Err(format!("part {n} follows part {prev}"));
                }
            }
            last_part = Some(n);
        }
        if seg.parts.is_empty() && last_part.is_some() {
            return Err(format!(
                "segment {} lists no parts after one that did",
                seg.msn
            ));
        }
    }
    match (&pl.preload_hint, pl.ended) {
        (Some(_), true) => return Err("preload hint in an ended playlist".into()),
        (None, false) => return Err("no EXT-X-PRELOAD-HINT".into()),
        (Some(hint), false) => {
            let n = part_number(hint).ok_or_else(|| format!("hint URI {hint}"))?;
            if let Some(prev) = last_part {
                if n != prev + 1 {
                    return Err(format!("preload hint names part {n} after part {prev}"));
                }
            }
        }
        (None, true) => {}
    }
    Ok(())
}

/// Checks a delta update against the full playlist of the same moment.
pub fn check_delta(full: &Playlist, delta: &Playlist) -> Result<(), String> {
    check(delta)?;
    if delta.media_sequence != full.media_sequence {
        return Err(format!(
            "delta starts at MSN {}, full at {}",
            delta.media_sequence, full.media_sequence
        ));
    }
    if delta.discontinuity_sequence != full.discontinuity_sequence {
        return Err("delta and full disagree on DISCONTINUITY-SEQUENCE".into());
    }
    if delta.skipped as usize + delta.segments.len() != full.segments.len() {
        return Err(format!(
            "delta skips {} and lists {}, full lists {}",
            delta.skipped,
            delta.segments.len(),
            full.segments.len()
        ));
    }
    let tail = &full.segments[delta.skipped as usize..];
    for (d, f) in delta.segments.iter().zip(tail) {
        if d.msn != f.msn || d.uri != f.uri || d.duration != f.duration || d.parts != f.parts {
            return Err(format!("delta segment {} differs from the full one", d.msn));
        }
    }
    if delta.skipped > 0 {
        let skip = full
            .can_skip_until
            .ok_or("skipped without CAN-SKIP-UNTIL")?;
        let kept: f64 = delta
            .segments
            .iter()
            .map(|s| {
                s.duration
                    .unwrap_or_else(|| s.parts.iter().map(|p| p.duration).sum())
            })
            .sum();
        if kept < skip - 1e-6 {
            return Err(format!(
                "skipped segments within CAN-SKIP-UNTIL {skip} of the end"
            ));
        }
    }
    if delta.preload_hint != full.preload_hint || delta.ended != full.ended {
        return Err("delta and full differ at the live edge".into());
    }
    Ok(())
}

/// Checks that `next`, fetched after `prev`, continues it: MSNs never go
/// back, a segment keeps its URI and duration, part numbers continue.
pub fn check_follows(prev: &Playlist, next: &Playlist) -> Result<(), String> {
    if next.media_sequence < prev.media_sequence {
        return Err("media sequence went back".into());
    }
    for p in prev.segments.iter().filter(|s| s.uri.is_some()) {
        if let Some(n) = next.segments.iter().find(|n| n.msn == p.msn) {
            if n.uri != p.uri || n.duration != p.duration {
                return Err(format!("segment {} changed between reloads", p.msn));
            }
        }
    }
    let last = |pl: &Playlist| {
        pl.segments
            .iter()
            .flat_map(|s| &s.parts)
            .filter_map(|p| part_number(&p.uri))
            .max()
    };
    if let (Some(a), Some(b)) = (last(prev), last(next)) {
        if b < a {
            return Err(format!("newest part went back from {a} to {b}"));
        }
    }
    let newest = |pl: &Playlist| pl.segments.last().map(|s| s.msn);
    if newest(next) < newest(prev) {
        return Err("newest segment went back".into());
    }
    Ok(())
}
