//! Publishers: RTP from the client (interleaved on its connection, or
//! datagrams routed from the shared UDP ports) through the track's
//! depacketizer to the hub.

use bytes::Bytes;
use weir_rtsp::rtp::Packet;

use crate::conn::Conn;
use crate::udp::UdpIn;

impl Conn {
    /// An interleaved packet on a set-up channel: a publisher's media, or
    /// RTCP (a player's receiver reports: activity only).
    pub(crate) fn on_interleaved(&mut self, track: usize, rtcp: bool, data: Bytes) {
        let (Some(publisher), Some(tracks), false) = (
            self.publisher.as_mut(),
            self.stream.announced.as_mut(),
            rtcp,
        ) else {
            return;
        };
        let Some(Some(track)) = tracks.get_mut(track) else {
            return;
        };
        let packet = match Packet::parse(data) {
            Ok(p) => p,
            Err(_) => {
                self.shared.hub.clients().count_error("rtsp", "bad_rtp");
                return;
            }
        };
        if track.on_packet(&packet, &mut self.frames).is_err() {
            self.shared.hub.clients().count_error("rtsp", "bad_rtp");
        }
        for frame in self.frames.drain(..) {
            publisher.send(frame);
        }
    }

    /// A datagram of a UDP publisher: RTP goes through the track's reorder
    /// buffer to its depacketizer; RTCP only shows the session is alive.
    pub(crate) fn on_udp(&mut self, datagram: UdpIn) {
        let (Some(publisher), Some(tracks), false) = (
            self.publisher.as_mut(),
            self.stream.announced.as_mut(),
            datagram.rtcp,
        ) else {
            return;
        };
        let (Some(Some(track)), Some(reorder)) = (
            tracks.get_mut(datagram.track),
            self.stream.reorder.get_mut(datagram.track),
        ) else {
            return;
        };
        match Packet::parse(datagram.data) {
            Ok(p) => reorder.push(p),
            Err(_) => {
                self.shared.hub.clients().count_error("rtsp", "bad_rtp");
                return;
            }
        }
        while let Some(p) = reorder.pop() {
            if track.on_packet(&p, &mut self.frames).is_err() {
                self.shared.hub.clients().count_error("rtsp", "bad_rtp");
            }
        }
        for frame in self.frames.drain(..) {
            publisher.send(frame);
        }
    }
}
