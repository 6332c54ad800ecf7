//! Players: the stream's shared RTP packets out to one player, over its
//! TCP connection (interleaved) or to its UDP ports.
//!
//! A plain-TCP player on the fixed channels (what ffmpeg, GStreamer and
//! VLC ask for) that has caught up parks with the stream's write pass, as
//! RTMP and HTTP-FLV viewers do: the muxer task then writes each entry's
//! shared bytes to its socket in one `sendmsg`, with no wakeup of this
//! task per frame. It comes back here when its socket is full, and
//! whenever the session writes (a response to a keep-alive), which
//! reclaims it first.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use weir_media::TrackKind;
use weir_netio::{Pick, Picker, SocketSink};

use crate::conn::{Conn, End};
use crate::muxer::{channel_of, route, Rtp};

/// Where a player's packets of one track go.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Dest {
    /// Interleaved on this RTP channel (RTCP on the next).
    Tcp(u8),
    /// To these RTP and RTCP addresses.
    Udp(SocketAddr, SocketAddr),
}

/// A player's destinations per track kind.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Channels {
    pub(crate) video: Option<Dest>,
    pub(crate) audio: Option<Dest>,
}

impl Conn {
    /// Sends a batch of the stream's packets to this player.
    pub(crate) async fn write_batch(&mut self, batch: &mut Vec<Rtp>) -> Result<(), End> {
        let ch = self.channels;
        let mut out: Vec<Bytes> = Vec::new();
        let mut sent = 0u64;
        let whole = self.takes_wire();
        for entry in batch.drain(..) {
            let Rtp::Media {
                packets, wire, rtp, ..
            } = entry
            else {
                continue;
            };
            if whole {
                if !wire.is_empty() {
                    sent += u64::from(rtp);
                    out.push(wire);
                }
                continue;
            }
            for p in packets.iter() {
                // Routed by channel: a keyframe's entry also carries the
                // other track's sender report.
                let Some((kind, is_rtcp)) = route(p) else {
                    continue;
                };
                let dest = match kind {
                    TrackKind::Video => ch.video,
                    TrackKind::Audio => ch.audio,
                    TrackKind::Data => None,
                };
                match (dest, channel_of(kind)) {
                    (Some(Dest::Udp(rtp, rtcp)), _) => {
                        let Some(udp) = &self.shared.udp else {
                            continue;
                        };
                        let to = if is_rtcp { rtcp } else { rtp };
                        if udp.send(is_rtcp, to, &p[4..]) {
                            self.client.add_out((p.len() - 4) as u64);
                            sent += u64::from(!is_rtcp);
                        }
                    }
                    (Some(Dest::Tcp(wanted)), Some(fixed)) => {
                        sent += u64::from(!is_rtcp);
                        if wanted == fixed {
                            out.push(p.clone());
                        } else {
                            // A player that chose other channel numbers gets
                            // its own 4-byte frame header; the packet itself
                            // stays shared.
                            let mut head = [p[0], p[1], p[2], p[3]];
                            head[1] = wanted + (head[1] - fixed);
                            out.push(Bytes::copy_from_slice(&head));
                            out.push(p.slice(4..));
                        }
                    }
                    _ => {}
                }
            }
        }
        if let Some(reports) = &self.reports {
            reports.add_sent(sent);
        }
        if out.is_empty() && self.pending.is_empty() {
            return Ok(());
        }
        let mut all = std::mem::take(&mut self.pending);
        all.append(&mut out);
        self.write_out(all).await
    }

    /// Parks a caught-up TCP player with the stream's write pass, when the
    /// stream's shared bytes are exactly what it needs: plain TCP, every
    /// track of the stream set up on its fixed interleaved channels. Any
    /// other player (UDP, multicast, other channel numbers, one track of
    /// two, RTSPS) keeps writing from its own task.
    pub(crate) fn try_park(&mut self) {
        if !self.pending.is_empty() || !self.takes_wire() {
            return;
        }
        let (Some(socket), Some(reports)) = (&self.parks_on, &self.reports) else {
            return;
        };
        let picker = Parked {
            sent: reports.sent_counter(),
        };
        let sink = SocketSink::new(socket.clone(), picker, self.client.out_counter());
        self.feed.try_park(&[], |_| Some(sink));
    }
}

impl Conn {
    /// Whether this player takes every entry's wire bytes as they are:
    /// interleaved, every track of the stream set up on its fixed channel.
    fn takes_wire(&self) -> bool {
        let wants = |kind: TrackKind| self.stream.described.iter().any(|d| d.0 == kind);
        let fixed = |dest: Option<Dest>, kind: TrackKind| match dest {
            None => !wants(kind),
            Some(Dest::Tcp(channel)) => wants(kind) && Some(channel) == channel_of(kind),
            Some(Dest::Udp(..)) => false,
        };
        let ch = self.channels;
        fixed(ch.video, TrackKind::Video)
            && fixed(ch.audio, TrackKind::Audio)
            && (ch.video.is_some() || ch.audio.is_some())
    }
}

/// What a parked player writes of each entry: its whole wire bytes (the
/// fixed channels are the player's own), nothing for headers and
/// publisher boundaries. Counts the RTP packets it hands out for the
/// player's statistics (a short write's rest is counted again: rare, and
/// the figure is for monitoring).
pub(crate) struct Parked {
    sent: Arc<AtomicU64>,
}

impl Picker<Rtp> for Parked {
    fn pick<'a>(&self, entry: &'a Rtp) -> Pick<'a> {
        match entry {
            Rtp::Media { wire, rtp, .. } if !wire.is_empty() => {
                self.sent.fetch_add(u64::from(*rtp), Ordering::Relaxed);
                Pick::Write(wire)
            }
            _ => Pick::Skip,
        }
    }
}
