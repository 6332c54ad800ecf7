//! The CRC-32 that MPEG-2 PSI sections end with.
//!
//! It is the plain (non-reflected) CRC-32 with polynomial 0x04C11DB7,
//! initial value 0xFFFFFFFF and no final XOR. That differs from the zlib
//! CRC-32, which is why we carry our own rather than a general crate.

/// Byte-at-a-time lookup table, built at compile time.
const TABLE: [u32; 256] = build_table();

const fn build_table() -> [u32; 256] {
    let mut table = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut crc = (i as u32) << 24;
        let mut bit = 0;
        while bit < 8 {
            crc = if crc & 0x8000_0000 != 0 {
                (crc << 1) ^ 0x04C1_1DB7
            } else {
                crc << 1
            };
            bit += 1;
        }
        table[i] = crc;
        i += 1;
    }
    table
}

/// CRC-32/MPEG-2 of `data`. A section including its trailing CRC checks
/// to 0, which is how the tests verify our tables.
pub(crate) fn crc32_mpeg2(data: &[u8]) -> u32 {
    data.iter().fold(0xFFFF_FFFF, |crc, &b| {
        (crc << 8) ^ TABLE[usize::from((crc >> 24) as u8 ^ b)]
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_value() {
        // The catalogued check value of CRC-32/MPEG-2.
        assert_eq!(crc32_mpeg2(b"123456789"), 0x0376_E6E7);
    }

    #[test]
    fn section_with_its_crc_checks_to_zero() {
        let mut data = b"some section bytes".to_vec();
        let crc = crc32_mpeg2(&data);
        data.extend_from_slice(&crc.to_be_bytes());
        assert_eq!(crc32_mpeg2(&data), 0);
    }
}
