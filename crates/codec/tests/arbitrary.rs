//! Property tests: no input makes a parser panic, and whatever parses as an
//! `AudioSpecificConfig` either gets a well-formed ADTS header or an error.

use bytes::Bytes;
use proptest::prelude::*;
use weir_codec::aac::{adts_header, parse_asc, ADTS_HEADER_SIZE};
use weir_codec::avc::{parse_avc_config, parse_sps};
use weir_codec::hevc::{parse_hevc_config, parse_hevc_sps};

proptest! {
    #[test]
    fn arbitrary_input_never_panics(data in proptest::collection::vec(any::<u8>(), 0..96)) {
        let bytes = Bytes::from(data.clone());
        if let Ok(c) = parse_avc_config(&bytes) {
            c.sps.iter().for_each(|s| drop(parse_sps(s)));
        }
        if let Ok(c) = parse_hevc_config(&bytes) {
            c.sps.iter().for_each(|s| drop(parse_hevc_sps(s)));
            let _ = c.codec_string();
        }
        let _ = parse_sps(&data);
        let _ = parse_hevc_sps(&data);
        if let Ok(asc) = parse_asc(&data) {
            if let Ok(h) = adts_header(&asc, data.len()) {
                prop_assert_eq!(&h[..2], &[0xFF, 0xF1]);
                let len = usize::from(h[3] & 3) << 11 | usize::from(h[4]) << 3 | usize::from(h[5] >> 5);
                prop_assert_eq!(len, data.len() + ADTS_HEADER_SIZE);
            }
        }
    }

    #[test]
    fn sps_shaped_input_never_panics(
        hevc in any::<bool>(),
        rest in proptest::collection::vec(any::<u8>(), 0..64),
    ) {
        // With a valid NAL header, so the bitstream parsers are reached.
        let header: &[u8] = if hevc { &[0x42, 0x01] } else { &[0x67] };
        let nal = [header, &rest].concat();
        let _ = parse_sps(&nal);
        let _ = parse_hevc_sps(&nal);
    }
}
