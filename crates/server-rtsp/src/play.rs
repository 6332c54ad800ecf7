//! Players: the stream's shared RTP packets out to one player, over its
//! TCP connection (interleaved) or to its UDP ports.

use std::net::SocketAddr;

use bytes::Bytes;
use weir_media::TrackKind;
use weir_netio::write_all_vectored;

use crate::conn::{Conn, End};
use crate::muxer::{Rtp, AUDIO_CHANNEL, VIDEO_CHANNEL};

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
        for entry in batch.drain(..) {
            let Rtp::Media { kind, packets, .. } = entry else {
                continue;
            };
            let (Some(dest), fixed) = (match kind {
                TrackKind::Video => (ch.video, VIDEO_CHANNEL),
                TrackKind::Audio => (ch.audio, AUDIO_CHANNEL),
                TrackKind::Data => (None, 0),
            }) else {
                continue;
            };
            let wanted = match dest {
                Dest::Tcp(channel) => channel,
                Dest::Udp(rtp, rtcp) => {
                    let Some(udp) = &self.shared.udp else {
                        continue;
                    };
                    for p in packets.iter() {
                        let is_rtcp = p[1] != fixed;
                        let to = if is_rtcp { rtcp } else { rtp };
                        if udp.send(is_rtcp, to, &p[4..]) {
                            self.client.add_out((p.len() - 4) as u64);
                        }
                    }
                    continue;
                }
            };
            for p in packets.iter() {
                if wanted == fixed {
                    out.push(p.clone());
                } else {
                    // A player that chose other channel numbers gets its own
                    // 4-byte frame header; the packet itself stays shared.
                    let Ok(mut head) = <[u8; 4]>::try_from(p.get(..4).unwrap_or_default()) else {
                        continue;
                    };
                    head[1] = wanted + (head[1] - fixed);
                    out.push(Bytes::copy_from_slice(&head));
                    out.push(p.slice(4..));
                }
            }
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
