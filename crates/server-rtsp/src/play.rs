//! Players: the stream's shared RTP packets out to one player, over its
//! TCP connection (interleaved) or to its UDP ports.

use std::net::SocketAddr;

use bytes::Bytes;
use weir_media::TrackKind;
use weir_netio::write_all_vectored;

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
        for entry in batch.drain(..) {
            let Rtp::Media { packets, .. } = entry else {
                continue;
            };
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
        if let Some(reports) = &mut self.reports {
            reports.add_sent(sent);
        }
        if out.is_empty() {
            return Ok(());
        }
        let timeout = self.shared.config.player_write_timeout;
        let writer = self.writer();
        let write = async {
            let n = write_all_vectored(writer, &mut out).await?;
            tokio::io::AsyncWriteExt::flush(writer).await.map(|()| n)
        };
        match tokio::time::timeout(timeout, write).await {
            Ok(Ok(n)) => {
                self.client.add_out(n);
                Ok(())
            }
            Ok(Err(e)) => Err(End::Io(e)),
            Err(_) => Err(End::Protocol(
                "slow_player",
                "player's socket accepted nothing in time".into(),
            )),
        }
    }
}
