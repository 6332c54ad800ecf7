//! Publishers' media (interleaved on the connection, or datagrams routed
//! from the shared UDP ports) through [`crate::publish::Publishing`] to
//! the hub, and players' RTCP receiver reports into their statistics.

use std::time::Instant;

use bytes::Bytes;

use crate::conn::Conn;
use crate::publish::BadPacket;
use crate::udp::UdpIn;

impl Conn {
    /// An interleaved packet on a set-up channel.
    pub(crate) fn on_interleaved(&mut self, track: usize, rtcp: bool, data: Bytes) {
        self.on_packet(Instant::now(), track, rtcp, false, data);
    }

    /// A datagram routed to this session from the shared UDP ports.
    pub(crate) fn on_udp(&mut self, now: Instant, datagram: UdpIn) {
        self.client.add_in(datagram.data.len() as u64);
        self.on_packet(now, datagram.track, datagram.rtcp, true, datagram.data);
    }

    fn on_packet(&mut self, now: Instant, track: usize, rtcp: bool, udp: bool, data: Bytes) {
        let result = match (&mut self.stream.publishing, &mut self.reports) {
            (Some(p), _) if rtcp => p.on_rtcp(now, track, &data),
            (Some(p), _) => p.on_rtp(now, track, data, udp, &mut self.frames),
            (None, Some(reports)) if rtcp => match reports.on_rtcp(track, &data) {
                Ok(true) => {
                    self.report_stats();
                    Ok(())
                }
                Ok(false) => Ok(()),
                Err(()) => Err(BadPacket::Rtcp),
            },
            // A player's RTP (NAT keep-alives) or anything before a
            // session: nothing to do.
            _ => Ok(()),
        };
        self.count(result);
        self.send_frames();
    }

    /// Delivers what a UDP publisher's reorder buffers release by `now`.
    pub(crate) fn publish_released(&mut self, now: Instant) {
        if let Some(p) = &mut self.stream.publishing {
            let result = p.handle_timeout(now, &mut self.frames);
            self.count(result);
            self.send_frames();
        }
    }

    fn count(&self, result: Result<(), BadPacket>) {
        let kind = match result {
            Ok(()) => return,
            Err(BadPacket::Rtp) => "bad_rtp",
            Err(BadPacket::Rtcp) => "bad_rtcp",
        };
        self.shared.hub.clients().count_error("rtsp", kind);
    }

    fn send_frames(&mut self) {
        match &mut self.publisher {
            Some(publisher) => {
                for frame in self.frames.drain(..) {
                    publisher.send(frame);
                }
            }
            None => self.frames.clear(),
        }
    }
}
