//! What goes into a recording file, as bytes to append and patches to
//! apply at the end: no file I/O here, so it is tested alone.

use bytes::{Bytes, BytesMut};
use weir_amf0::Value;
use weir_fmp4::{Fmp4Config, Fmp4Muxer, Fmp4Output};
use weir_media::{Frame, TrackKind};

use crate::config::Format;
use crate::error::RecordError;

/// Bytes to write at an offset of a finished file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Patch {
    /// Where, from the start of the file.
    pub(crate) offset: u64,
    /// What.
    pub(crate) bytes: Vec<u8>,
}

/// A frame the file cannot take: the fMP4 track set or configs changed,
/// so the file ends and the next starts with the stream's new configs.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Restart;

/// One recording file's muxer.
pub(crate) enum FileMux {
    /// Fragmented MP4: the live muxer, with longer fragments.
    Fmp4 {
        /// Boxed: the muxer is large next to the FLV variant.
        mux: Box<Fmp4Muxer>,
        /// The init segment went out (a second one means a new file).
        init_written: bool,
    },
    /// FLV: a header, an `onMetaData` of ours, then every tag.
    Flv {
        started: bool,
        /// Where `duration` and `filesize` of our `onMetaData` sit.
        duration_at: u64,
        filesize_at: u64,
    },
}

/// The `onMetaData` an FLV recording starts with: `duration` and
/// `filesize` are zero until [`FileMux::finish`] patches them in place.
fn flv_metadata() -> Bytes {
    let mut body = BytesMut::new();
    weir_amf0::encode_all(
        [
            &Value::String("onMetaData".into()),
            &Value::ecma_array([
                ("duration", Value::Number(0.0)),
                ("filesize", Value::Number(0.0)),
            ]),
        ],
        &mut body,
    );
    body.freeze()
}

/// The offset of the number that follows property `name` in an encoded
/// AMF0 object body.
fn number_offset(body: &[u8], name: &str) -> Option<u64> {
    let mut key = (name.len() as u16).to_be_bytes().to_vec();
    key.extend_from_slice(name.as_bytes());
    key.push(0x00); // number marker
    let at = body.windows(key.len()).position(|w| w == key)?;
    Some((at + key.len()) as u64)
}

impl FileMux {
    pub(crate) fn new(format: Format, fragment_ms: u32) -> Self {
        match format {
            Format::Fmp4 => FileMux::Fmp4 {
                mux: Box::new(Fmp4Muxer::new(Fmp4Config {
                    max_fragment_ms: fragment_ms,
                    ..Fmp4Config::default()
                })),
                init_written: false,
            },
            Format::Flv => FileMux::Flv {
                started: false,
                duration_at: 0,
                filesize_at: 0,
            },
        }
    }

    /// Muxes one frame (timestamps already relative to the file's start),
    /// appending what it makes to `out`, the bytes waiting to be written:
    /// FLV tags are built there directly, fMP4 fragments copied there once.
    pub(crate) fn push(
        &mut self,
        frame: &Frame,
        out: &mut BytesMut,
    ) -> Result<Result<(), Restart>, RecordError> {
        match self {
            FileMux::Fmp4 { mux, init_written } => {
                let outputs = mux
                    .push(frame)
                    .map_err(|e| RecordError::Mux(e.to_string()))?;
                return Ok(fmp4_outputs(outputs, init_written, out));
            }
            FileMux::Flv {
                started,
                duration_at,
                filesize_at,
            } => {
                // The publisher's own `onMetaData` would be a second one
                // at t=0, with a stale duration: ours says it all.
                if frame.kind == TrackKind::Data {
                    return Ok(Ok(()));
                }
                if !*started {
                    *started = true;
                    // The file's first bytes: offsets count from here.
                    debug_assert!(out.is_empty());
                    out.extend_from_slice(&weir_flv::FLV_HEADER_AV);
                    let meta = flv_metadata();
                    let body_at = (out.len() + weir_flv::TAG_HEADER_SIZE) as u64;
                    *duration_at = body_at + number_offset(&meta, "duration").unwrap_or(0);
                    *filesize_at = body_at + number_offset(&meta, "filesize").unwrap_or(0);
                    weir_flv::write_tag(weir_flv::TagType::Script as u8, 0, &[&meta], out);
                }
                weir_flv::write_frame_tag(frame, out);
            }
        }
        Ok(Ok(()))
    }

    /// Appends what the muxer holds back (fMP4's last video frame) to
    /// `out`.
    pub(crate) fn finish(&mut self, out: &mut BytesMut) -> Result<(), RecordError> {
        if let FileMux::Fmp4 { mux, init_written } = self {
            let outputs = mux.finish().map_err(|e| RecordError::Mux(e.to_string()))?;
            // A restart cannot come from flushing: no new configs.
            let _ = fmp4_outputs(outputs, init_written, out);
        }
        Ok(())
    }

    /// In-place fixes for a file that ended cleanly: FLV's `duration`
    /// and `filesize`. fMP4 needs none: players read its fragments.
    pub(crate) fn patches(&self, duration_secs: f64, size: u64) -> Vec<Patch> {
        match self {
            FileMux::Flv {
                started: true,
                duration_at,
                filesize_at,
            } if *duration_at > 0 => vec![
                Patch {
                    offset: *duration_at,
                    bytes: duration_secs.to_be_bytes().to_vec(),
                },
                Patch {
                    offset: *filesize_at,
                    bytes: (size as f64).to_be_bytes().to_vec(),
                },
            ],
            _ => Vec::new(),
        }
    }
}

/// Appends fMP4 output: the first init segment and fragments; a later
/// init segment (new tracks or configs) asks for a new file, and what
/// follows it belongs there.
fn fmp4_outputs(
    outputs: Vec<Fmp4Output>,
    init_written: &mut bool,
    out: &mut BytesMut,
) -> Result<(), Restart> {
    for output in outputs {
        match output {
            Fmp4Output::Init(init) if !*init_written => {
                *init_written = true;
                out.extend_from_slice(&init);
            }
            Fmp4Output::Init(_) => return Err(Restart),
            Fmp4Output::Fragment { data, .. } => out.extend_from_slice(&data),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use weir_media::Codec;

    fn frame(
        kind: TrackKind,
        codec: Codec,
        ms: i64,
        key: bool,
        config: bool,
        data: &[u8],
    ) -> Frame {
        Frame {
            kind,
            codec,
            dts_us: ms * 1000,
            cts_us: 0,
            key,
            config,
            data: Bytes::copy_from_slice(data),
        }
    }

    #[test]
    fn flv_metadata_is_patched_in_place() {
        let mut mux = FileMux::new(Format::Flv, 1000);
        let mut out = BytesMut::new();
        let aac = frame(TrackKind::Audio, Codec::Aac, 0, false, true, &[0x12, 0x10]);
        for f in [
            aac,
            frame(TrackKind::Audio, Codec::Aac, 23, false, false, &[1, 2, 3]),
        ] {
            assert_eq!(mux.push(&f, &mut out).unwrap(), Ok(()));
        }
        let mut file = out.to_vec();
        let size = file.len() as u64;
        for p in mux.patches(12.5, size) {
            let at = p.offset as usize;
            file[at..at + 8].copy_from_slice(&p.bytes);
        }
        // Read it back with weir's own FLV demuxer and AMF0 decoder.
        let mut demux = weir_flv::Demuxer::new(1 << 20);
        demux.push(&file);
        let tag = demux.poll().unwrap().unwrap();
        let values = weir_amf0::decode_all(&tag.body).unwrap();
        assert_eq!(
            values[1].get("duration").and_then(Value::as_number),
            Some(12.5)
        );
        assert_eq!(
            values[1].get("filesize").and_then(Value::as_number),
            Some(size as f64)
        );
        let audio = demux.poll().unwrap().unwrap();
        assert_eq!(audio.tag_type, weir_flv::TagType::Audio);
    }
}
