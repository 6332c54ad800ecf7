//! Boxes the reader never uses are renamed `free` before `mp4-atom`
//! decodes a `moov` or `moof`, so that a hostile one cannot cost memory
//! or time. `mp4-atom` 0.17 decodes `sgpd` entries of an unknown grouping
//! type as zero bytes each, so a count of 2^32 fills memory without
//! reading a byte (found by the `mp4_index` fuzz target); sample groups,
//! sub-sample and auxiliary info, user data and encryption boxes are of no
//! use to an index either.

/// Containers whose children are walked (plain boxes: no version/flags).
const CONTAINERS: [&[u8; 4]; 10] = [
    b"moov", b"trak", b"mdia", b"minf", b"stbl", b"mvex", b"edts", b"dinf", b"moof", b"traf",
];

/// Boxes renamed `free`, wherever they sit among those containers.
const UNUSED: [&[u8; 4]; 10] = [
    b"sgpd", b"sbgp", b"subs", b"saiz", b"saio", b"senc", b"udta", b"meta", b"pssh", b"uuid",
];

/// Renames the unused boxes inside `bytes` (one whole box, header
/// included) to `free`, in place. Malformed sizes end the walk of their
/// container: `mp4-atom` reports them when it decodes.
pub(crate) fn prune(bytes: &mut [u8]) {
    walk(bytes, 0, 0);
}

/// Walks the boxes laid end to end in `bytes`, `depth` containers deep.
fn walk(bytes: &mut [u8], depth: usize, mut at: usize) {
    // Deeper than the deepest real tree (moov/trak/mdia/minf/stbl): a
    // crafted nesting gets no further.
    const MAX_DEPTH: usize = 8;
    while let Some((header, size)) = header(&bytes[at..]) {
        let kind: [u8; 4] = bytes[at + 4..at + 8].try_into().expect("8 bytes checked");
        if UNUSED.contains(&&kind) {
            bytes[at + 4..at + 8].copy_from_slice(b"free");
        } else if CONTAINERS.contains(&&kind) && depth < MAX_DEPTH {
            walk(&mut bytes[at..at + size], depth + 1, header);
        }
        at += size;
    }
}

/// Header length and total size of the box at the start of `b`, if it
/// is whole.
fn header(b: &[u8]) -> Option<(usize, usize)> {
    let size = u32::from_be_bytes(b.get(..4)?.try_into().ok()?);
    let (header, size) = match size {
        0 => (8, b.len() as u64),
        1 => (16, u64::from_be_bytes(b.get(8..16)?.try_into().ok()?)),
        n => (8, u64::from(n)),
    };
    let size = usize::try_from(size).ok()?;
    (size >= header && size <= b.len()).then_some((header, size))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bx(kind: &[u8; 4], body: &[u8]) -> Vec<u8> {
        let mut v = ((body.len() + 8) as u32).to_be_bytes().to_vec();
        v.extend_from_slice(kind);
        v.extend_from_slice(body);
        v
    }

    #[test]
    fn renames_unused_boxes_at_any_depth_and_nothing_else() {
        let sgpd = bx(
            b"sgpd",
            &[0, 0, 0, 0, b'x', b'x', b'x', b'x', 0xff, 0xff, 0xff, 0xff],
        );
        let stsz = bx(b"stsz", &[0; 12]);
        let stbl = bx(b"stbl", &[sgpd.clone(), stsz.clone()].concat());
        let minf = bx(b"minf", &stbl);
        let mdia = bx(b"mdia", &minf);
        let trak = bx(b"trak", &mdia);
        let mut moov = bx(b"moov", &[trak, bx(b"udta", &[1, 2, 3])].concat());
        let before = moov.clone();
        prune(&mut moov);
        assert_eq!(moov.len(), before.len());
        let text = String::from_utf8_lossy(&moov).into_owned();
        assert!(!text.contains("sgpd") && !text.contains("udta"), "{text:?}");
        assert!(text.contains("stsz") && text.contains("stbl"));
        assert_eq!(moov.windows(4).filter(|w| w == b"free").count(), 2);
    }

    #[test]
    fn bad_sizes_stop_the_walk_without_panicking() {
        for mut bytes in [
            bx(b"moov", &[0, 0, 0, 99, b's', b'g', b'p', b'd']),
            bx(
                b"moov",
                &[
                    0, 0, 0, 1, b'm', b'o', b'o', b'v', 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0,
                ],
            ),
            bx(b"moov", &[0, 0, 0, 3]),
            vec![0, 0, 0, 1],
            Vec::new(),
        ] {
            prune(&mut bytes);
        }
    }
}
