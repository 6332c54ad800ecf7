//! RTSP player over TCP interleaved, with weir-rtsp's sans-IO message
//! decoder, SDP reader and depacketizers: DESCRIBE, one SETUP per track
//! (RTP on channel 2i, RTCP on 2i+1, what ffmpeg and GStreamer ask for),
//! PLAY; then either every RTP packet is depacketized into access units
//! (measuring player) or bytes are only counted (cheap player).

use bytes::BytesMut;
use weir_rtsp::depacketize::{AccessUnit, Depacketizer};
use weir_rtsp::message::{Decoder, Item, Limits, Message, Method, Request, Response};
use weir_rtsp::rtp::Packet;
use weir_rtsp::sdp::{Codec, SessionDescription};

use super::ProbeError;
use crate::marker::{aac_frame_key, avc_nal_key, Kind, Seen};

/// Where the exchange is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    /// DESCRIBE sent.
    Describe,
    /// SETUP of this track sent.
    Setup(usize),
    /// PLAY sent.
    Play,
    /// The server answered PLAY.
    Playing,
}

/// One track the player set up.
struct Track {
    kind: Kind,
    /// `None` for a codec the player does not key (its bytes still count).
    depacketizer: Option<Depacketizer>,
    /// Whether the codec's frames are H.264 (keyed by NAL units) rather
    /// than AAC (keyed as one raw frame).
    avc: bool,
}

/// RTSP play state.
pub(crate) struct RtspProbe {
    url: String,
    parse: bool,
    step: Step,
    cseq: u32,
    decoder: Decoder,
    buf: BytesMut,
    session: Option<String>,
    /// Content-Base (or the URL) against which track controls resolve.
    base: String,
    /// SETUP URLs of the SDP's tracks, in order.
    controls: Vec<String>,
    /// By RTP channel / 2.
    tracks: Vec<Option<Track>>,
    units: Vec<AccessUnit>,
}

impl RtspProbe {
    /// A player of `url` (`rtsp://host:port/app/stream?query`); `parse`
    /// depacketizes every packet instead of only counting after PLAY.
    pub(crate) fn new(url: &str, parse: bool) -> Self {
        RtspProbe {
            url: url.to_owned(),
            parse,
            step: Step::Describe,
            cseq: 0,
            decoder: Decoder::new(Limits::default()),
            buf: BytesMut::new(),
            session: None,
            base: url.to_owned(),
            controls: Vec::new(),
            tracks: Vec::new(),
            units: Vec::new(),
        }
    }

    pub(crate) fn start(&mut self, reply: &mut Vec<u8>) {
        let mut req = self.request(Method::Describe, self.url.clone());
        req.headers.append("Accept", "application/sdp");
        req.write(reply);
    }

    pub(crate) fn playing(&self) -> bool {
        self.step == Step::Playing
    }

    pub(crate) fn feed(
        &mut self,
        data: &[u8],
        reply: &mut Vec<u8>,
        seen: &mut Vec<Seen>,
    ) -> Result<(), ProbeError> {
        if self.playing() && !self.parse {
            return Ok(());
        }
        self.buf.extend_from_slice(data);
        loop {
            // A counting player stops reading once the server said PLAY.
            if self.playing() && !self.parse {
                self.buf.clear();
                return Ok(());
            }
            let item = self
                .decoder
                .decode(&mut self.buf)
                .map_err(|e| ProbeError::Rtsp(e.to_string()))?;
            match item {
                None => return Ok(()),
                Some(Item::Message(Message::Response(r))) => self.on_response(&r, reply)?,
                // Server requests (keep-alives) need no answer from a
                // player that is about to be torn down anyway.
                Some(Item::Message(Message::Request(_))) => {}
                Some(Item::Interleaved { channel, data }) => {
                    // Odd channels carry RTCP, which no measurement needs.
                    if channel % 2 == 1 || !self.parse {
                        continue;
                    }
                    let Some(Some(track)) = self.tracks.get_mut(usize::from(channel / 2)) else {
                        continue;
                    };
                    let Some(depacketizer) = track.depacketizer.as_mut() else {
                        continue;
                    };
                    let packet =
                        Packet::parse(data).map_err(|e| ProbeError::Rtsp(e.to_string()))?;
                    self.units.clear();
                    // A malformed packet drops its access unit and is
                    // counted by the depacketizer: the frame shows up as
                    // missing, not as an error of the player.
                    let _ = depacketizer.handle_packet(&packet, &mut self.units);
                    for unit in self.units.drain(..) {
                        let key = if track.avc {
                            avc_nal_key(unit.units.iter().map(|u| &u[..]))
                        } else {
                            unit.units.iter().find_map(|u| aac_frame_key(u))
                        };
                        seen.extend(key.map(|k| (track.kind, k)));
                    }
                }
            }
        }
    }

    fn request(&mut self, method: Method, uri: String) -> Request {
        self.cseq += 1;
        let mut req = Request::new(method, uri, self.cseq);
        req.headers.append("User-Agent", "weir-bench");
        if let Some(id) = &self.session {
            req.headers.append("Session", id.clone());
        }
        req
    }

    fn on_response(&mut self, r: &Response, reply: &mut Vec<u8>) -> Result<(), ProbeError> {
        if r.status != 200 {
            return Err(ProbeError::RtspStatus(r.status));
        }
        if r.headers.cseq() != Some(self.cseq) {
            return Err(ProbeError::Rtsp("answer to a request not sent".into()));
        }
        match self.step {
            Step::Describe => {
                let sdp = SessionDescription::parse(&r.body)
                    .map_err(|e| ProbeError::Rtsp(format!("DESCRIBE answer: {e}")))?;
                if let Some(base) = r.headers.get("Content-Base") {
                    self.base = base.trim().to_owned();
                }
                self.controls = sdp
                    .media
                    .iter()
                    .map(|m| m.control_url(&self.base))
                    .collect();
                self.tracks = sdp.media.iter().map(track_of).collect();
                if self.controls.is_empty() {
                    return Err(ProbeError::Rtsp("DESCRIBE answer has no track".into()));
                }
                self.setup(0, reply);
            }
            Step::Setup(i) => {
                if self.session.is_none() {
                    let header = r
                        .headers
                        .get("Session")
                        .ok_or_else(|| ProbeError::Rtsp("SETUP answer has no Session".into()))?;
                    // `id;timeout=60`: only the id goes back.
                    let id = header.split(';').next().unwrap_or("").trim();
                    self.session = Some(id.to_owned());
                }
                if i + 1 < self.controls.len() {
                    self.setup(i + 1, reply);
                } else {
                    self.step = Step::Play;
                    let mut req = self.request(Method::Play, self.base.clone());
                    req.headers.append("Range", "npt=0.000-");
                    req.write(reply);
                }
            }
            Step::Play => self.step = Step::Playing,
            Step::Playing => {}
        }
        Ok(())
    }

    fn setup(&mut self, i: usize, reply: &mut Vec<u8>) {
        self.step = Step::Setup(i);
        let mut req = self.request(Method::Setup, self.controls[i].clone());
        let rtp = 2 * i;
        req.headers.append(
            "Transport",
            format!("RTP/AVP/TCP;unicast;interleaved={rtp}-{}", rtp + 1),
        );
        req.write(reply);
    }
}

/// What a measuring player does with a track: H.264 video and AAC audio
/// are keyed (that is what the publisher sends); other tracks only count.
fn track_of(media: &weir_rtsp::sdp::Media) -> Option<Track> {
    let (kind, avc) = match media.codec {
        Codec::H264(_) => (Kind::Video, true),
        Codec::Aac(_) | Codec::Latm(_) => (Kind::Audio, false),
        _ => return None,
    };
    Some(Track {
        kind,
        depacketizer: Depacketizer::new(media),
        avc,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use weir_rtsp::message::write_interleaved;
    use weir_rtsp::packetize::Packetizer;

    const URL: &str = "rtsp://h:8554/live/s";

    fn sdp_body() -> String {
        format!(
            "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=weir\r\nt=0 0\r\n\
             m=video 0 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\n\
             a=fmtp:96 packetization-mode=1\r\na=control:{URL}/trackID=0\r\n\
             m=audio 0 RTP/AVP 97\r\na=rtpmap:97 MPEG4-GENERIC/44100/2\r\n\
             a=fmtp:97 streamtype=5;profile-level-id=1;mode=AAC-hbr;sizelength=13;\
             indexlength=3;indexdeltalength=3;config=1210\r\na=control:{URL}/trackID=1\r\n"
        )
    }

    fn response(cseq: u32, headers: &[(&str, &str)], body: &str) -> Vec<u8> {
        let mut r = Response::new(200, Some(cseq));
        for (k, v) in headers {
            r.headers.append(*k, *v);
        }
        r.body = body.as_bytes().to_vec().into();
        let mut out = Vec::new();
        r.write(&mut out);
        out
    }

    /// The server side of a session: the answers to DESCRIBE, two SETUPs
    /// and PLAY, then `frames` H.264 access units (IDR first, sent with
    /// SPS and PPS in front, as weir does) each followed by an AAC frame,
    /// packetized at 200 bytes so that video spans FU-A fragments.
    /// Returns the wire bytes, what the player must send, and the keys it
    /// must report.
    fn session(frames: usize) -> (Vec<u8>, Vec<Vec<u8>>, Vec<Seen>) {
        let mut wire = Vec::new();
        wire.extend(response(1, &[("Content-Base", URL)], &sdp_body()));
        wire.extend(response(2, &[("Session", "ABC;timeout=60")], ""));
        wire.extend(response(3, &[("Session", "ABC")], ""));
        wire.extend(response(4, &[("Session", "ABC")], ""));
        let sdp = SessionDescription::parse(sdp_body().as_bytes()).unwrap();
        let mut video = Packetizer::new(&sdp.media[0].codec, 96, 1, 2, 3, 200).unwrap();
        let mut audio = Packetizer::new(&sdp.media[1].codec, 97, 4, 5, 6, 200).unwrap();
        let mut keys = Vec::new();
        for i in 0..frames {
            let nal_type = if i == 0 { 0x65 } else { 0x41 };
            let slice: Vec<u8> = std::iter::once(nal_type)
                .chain((0..700).map(|b| (b * 7 + i) as u8))
                .collect();
            let mut units: Vec<bytes::Bytes> = Vec::new();
            if i == 0 {
                units.push(vec![0x67, 0x64, 0, 0x1f].into());
                units.push(vec![0x68, 0xee].into());
            }
            units.push(slice.clone().into());
            keys.push((Kind::Video, avc_nal_key([&slice[..]]).unwrap()));
            let mut rtp = Vec::new();
            video.packetize(i as u64 * 3000, &units, &mut rtp).unwrap();
            for p in &rtp {
                write_interleaved(0, p, &mut wire).unwrap();
            }
            let aac = vec![0x21, 0x10, i as u8, 9];
            keys.push((Kind::Audio, aac_frame_key(&aac).unwrap()));
            let mut rtp = Vec::new();
            audio
                .packetize(i as u64 * 1024, &[aac.into()], &mut rtp)
                .unwrap();
            for p in &rtp {
                write_interleaved(2, p, &mut wire).unwrap();
            }
            // RTCP on the odd channel is skipped.
            write_interleaved(1, &[0x80, 200, 0, 1, 0, 0, 0, 1], &mut wire).unwrap();
        }
        let expected = vec![
            format!("DESCRIBE {URL} RTSP/1.0\r\n").into_bytes(),
            format!("SETUP {URL}/trackID=0 RTSP/1.0\r\n").into_bytes(),
            format!("SETUP {URL}/trackID=1 RTSP/1.0\r\n").into_bytes(),
            format!("PLAY {URL} RTSP/1.0\r\n").into_bytes(),
        ];
        (wire, expected, keys)
    }

    fn run(wire: &[u8], split: &[usize], parse: bool) -> (Vec<u8>, Vec<Seen>, bool) {
        let mut p = RtspProbe::new(URL, parse);
        let mut sent = Vec::new();
        p.start(&mut sent);
        let mut seen = Vec::new();
        let mut from = 0;
        for &to in split.iter().chain(std::iter::once(&wire.len())) {
            p.feed(&wire[from..to], &mut sent, &mut seen).unwrap();
            from = to;
        }
        (sent, seen, p.playing())
    }

    #[test]
    fn plays_and_keys_every_frame_across_every_split() {
        let (wire, requests, keys) = session(3);
        for at in 0..=wire.len() {
            let (sent, seen, playing) = run(&wire, &[at], true);
            assert!(playing);
            assert_eq!(seen, keys, "split at {at}");
            let text = String::from_utf8(sent).unwrap();
            let mut from = 0;
            for r in &requests {
                let r = std::str::from_utf8(r).unwrap();
                let i = text[from..]
                    .find(r)
                    .unwrap_or_else(|| panic!("{r} in {text}"));
                from += i + r.len();
            }
            assert!(text.contains("interleaved=2-3"));
            assert_eq!(text.matches("Session: ABC\r\n").count(), 2, "{text}");
        }
    }

    #[test]
    fn counting_player_stops_parsing_after_play() {
        let (wire, _, _) = session(2);
        let (_, seen, playing) = run(&wire, &[10, 500], false);
        assert!(playing);
        assert!(seen.is_empty());
    }

    #[test]
    fn refusals_and_garbage_are_errors_not_panics() {
        let mut p = RtspProbe::new(URL, true);
        p.start(&mut Vec::new());
        let mut r = Vec::new();
        Response::new(404, Some(1)).write(&mut r);
        let err = p.feed(&r, &mut Vec::new(), &mut Vec::new()).unwrap_err();
        assert!(matches!(err, ProbeError::RtspStatus(404)), "{err}");
        let mut p = RtspProbe::new(URL, true);
        p.start(&mut Vec::new());
        assert!(p
            .feed(b"HTTP/1.1 200 OK\r\n\r\n", &mut Vec::new(), &mut Vec::new())
            .is_err());
        let mut p = RtspProbe::new(URL, true);
        p.start(&mut Vec::new());
        let no_tracks = response(1, &[], "v=0\r\ns=x\r\n");
        assert!(p
            .feed(&no_tracks, &mut Vec::new(), &mut Vec::new())
            .is_err());
    }
}
