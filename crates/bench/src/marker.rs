//! Matching a frame a player received to the instant the publisher sent it.
//!
//! Servers may rewrite timestamps (rebase them to zero per player, or to
//! their own clock), so a frame is recognised by its content instead: a
//! hash of its length and of its first and last 32 coded bytes. The
//! publisher records the instant just before it writes each frame; a player
//! looks the key up on arrival. Looping the same file sends the same frames
//! again, and the newest send instant wins, which is the right one for any
//! player less than a loop behind.

use std::collections::{HashMap, VecDeque};
use std::hash::{Hash, Hasher};
use std::time::Instant;

use parking_lot::Mutex;

/// Bytes hashed at each end of the coded payload.
const SPAN: usize = 32;

/// FLV video codec id of H.264 (AVC), whose tag bodies carry a 5-byte
/// header (frame type, packet type, composition time) before the NAL units.
const CODEC_AVC: u8 = 7;

/// Content key of one video frame.
pub(crate) type FrameKey = u64;

/// The key of a video tag body, or `None` for what is not a coded frame
/// (sequence headers, end of sequence, empty bodies): those are sent once
/// or cached by servers and say nothing about latency.
///
/// For AVC the 5-byte tag header is left out of the hash, because a server
/// that re-creates it from its own frame model may encode the composition
/// time differently while passing the NAL units through untouched.
pub(crate) fn frame_key(body: &[u8]) -> Option<FrameKey> {
    let first = *body.first()?;
    if first & 0x80 != 0 {
        // Enhanced RTMP: the packet type sits in the low nibble; 1 and 3
        // are coded frames, everything else is configuration or metadata.
        if !matches!(first & 0x0f, 1 | 3) {
            return None;
        }
    } else if first & 0x0f == CODEC_AVC {
        if body.get(1) != Some(&1) {
            return None;
        }
    } else if first >> 4 == 5 {
        // Frame type 5: a video info/command frame, not a picture.
        return None;
    }
    let coded = if first & 0x80 == 0 && first & 0x0f == CODEC_AVC {
        body.get(5..)?
    } else {
        body
    };
    if coded.is_empty() {
        return None;
    }
    let mut h = std::collections::hash_map::DefaultHasher::new();
    coded.len().hash(&mut h);
    coded[..coded.len().min(SPAN)].hash(&mut h);
    coded[coded.len().saturating_sub(SPAN)..].hash(&mut h);
    Some(h.finish())
}

/// Most keys remembered: far more than the frames of any looped file a
/// benchmark uses, so eviction only bounds memory for huge inputs.
const MAX_KEYS: usize = 1 << 16;

/// Send instants by frame key, shared by the publisher and the players
/// that measure latency.
#[derive(Default)]
pub(crate) struct Markers {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    sent: HashMap<FrameKey, Instant>,
    /// Insertion order, for evicting the oldest keys.
    order: VecDeque<FrameKey>,
}

impl Markers {
    /// Records that the frame with `key` is being sent at `at`.
    pub(crate) fn sent(&self, key: FrameKey, at: Instant) {
        let mut inner = self.inner.lock();
        if inner.sent.insert(key, at).is_none() {
            inner.order.push_back(key);
            if inner.order.len() > MAX_KEYS {
                if let Some(old) = inner.order.pop_front() {
                    inner.sent.remove(&old);
                }
            }
        }
    }

    /// When the frame with `key` was last sent.
    pub(crate) fn lookup(&self, key: FrameKey) -> Option<Instant> {
        self.inner.lock().sent.get(&key).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn avc(packet_type: u8, cts: u8, nal: &[u8]) -> Vec<u8> {
        let mut b = vec![0x27, packet_type, 0, 0, cts];
        b.extend_from_slice(nal);
        b
    }

    #[test]
    fn sequence_headers_and_empty_frames_have_no_key() {
        assert_eq!(frame_key(&avc(0, 0, b"config")), None);
        assert_eq!(frame_key(&avc(2, 0, b"")), None);
        assert_eq!(frame_key(&avc(1, 0, b"")), None);
        assert_eq!(frame_key(&[]), None);
        assert!(frame_key(&avc(1, 0, b"picture")).is_some());
    }

    #[test]
    fn avc_key_ignores_the_rewritable_header_but_not_the_content() {
        let nal: Vec<u8> = (0..200u8).collect();
        let a = frame_key(&avc(1, 0, &nal));
        assert_eq!(a, frame_key(&avc(1, 40, &nal)));
        let mut tail = nal.clone();
        *tail.last_mut().unwrap() ^= 1;
        assert_ne!(a, frame_key(&avc(1, 0, &tail)));
        assert_ne!(a, frame_key(&avc(1, 0, &nal[..199])));
    }

    #[test]
    fn newest_send_wins_and_memory_is_bounded() {
        let m = Markers::default();
        let t0 = Instant::now();
        let t1 = t0 + std::time::Duration::from_millis(5);
        m.sent(1, t0);
        m.sent(1, t1);
        assert_eq!(m.lookup(1), Some(t1));
        for k in 0..(MAX_KEYS as u64 + 10) {
            m.sent(k + 100, t0);
        }
        assert_eq!(m.lookup(1), None);
        assert!(m.inner.lock().sent.len() <= MAX_KEYS);
    }
}
