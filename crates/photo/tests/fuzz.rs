//! `clean` must never panic, whatever it is given: arbitrary bytes, bytes behind a valid
//! magic number (so the format parsers, not the sniffer, see them), and random mutations
//! and truncations of the real fixtures. What it accepts must be a fixed point: cleaning
//! a cleaned file changes nothing.

use linli_photo::{clean, Limits};
use proptest::prelude::*;

const VALID: &[&str] = &[
    "exif_gps_orient6.jpg",
    "orient1_progressive.jpg",
    "orient8_le_restart.jpg",
    "text_exif.png",
    "exif_xmp.webp",
    "lossless.webp",
    "lossy.webp",
    "animated.webp",
];

fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Whatever is accepted has sane dimensions and cleans to itself.
fn check(bytes: &[u8]) {
    let limits = Limits::default();
    if let Ok(img) = clean(bytes, &limits) {
        assert!(img.width > 0 && img.height > 0);
        assert!(u64::from(img.width) * u64::from(img.height) <= limits.max_pixels);
        // At most one minimal Exif segment (36 bytes) is ever added.
        assert!(img.bytes.len() <= bytes.len() + 36);
        let again = clean(&img.bytes, &limits).expect("a cleaned file is accepted again");
        assert_eq!(again, img);
    }
}

#[derive(Debug, Clone)]
enum Edit {
    Set(usize, u8),
    Insert(usize, Vec<u8>),
    Remove(usize, usize),
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        4 => (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Edit::Set(i, b)),
        1 => (any::<usize>(), prop::collection::vec(any::<u8>(), 1..16))
            .prop_map(|(i, v)| Edit::Insert(i, v)),
        1 => (any::<usize>(), 1usize..64).prop_map(|(i, n)| Edit::Remove(i, n)),
    ]
}

fn apply(mut b: Vec<u8>, edits: &[Edit]) -> Vec<u8> {
    for e in edits {
        if b.is_empty() {
            break;
        }
        match e {
            Edit::Set(i, v) => {
                let i = i % b.len();
                b[i] = *v;
            }
            Edit::Insert(i, v) => {
                let i = i % (b.len() + 1);
                b.splice(i..i, v.iter().copied());
            }
            Edit::Remove(i, n) => {
                let i = i % b.len();
                let end = (i + n).min(b.len());
                b.drain(i..end);
            }
        }
    }
    b
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4096))]

    #[test]
    fn arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..2048)) {
        check(&bytes);
    }

    #[test]
    fn arbitrary_bytes_behind_magic(
        magic in prop::sample::select(vec![
            &b"\xFF\xD8\xFF"[..],
            &b"\xFF\xD8\xFF\xE1\x00\x10Exif\0\0MM\0\x2a"[..],
            &b"\x89PNG\r\n\x1a\n"[..],
            &b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR"[..],
            &b"RIFF\x00\x01\x00\x00WEBPVP8X"[..],
            &b"RIFF\x00\x01\x00\x00WEBPVP8L"[..],
            &b"RIFF\x00\x01\x00\x00WEBPVP8 "[..],
        ]),
        tail in prop::collection::vec(any::<u8>(), 0..512),
    ) {
        let mut bytes = magic.to_vec();
        bytes.extend_from_slice(&tail);
        check(&bytes);
    }

    #[test]
    fn mutated_fixtures(
        which in 0..VALID.len(),
        edits in prop::collection::vec(edit(), 1..8),
    ) {
        check(&apply(fixture(VALID[which]), &edits));
    }

    #[test]
    fn truncated_fixtures(which in 0..VALID.len(), keep in any::<prop::sample::Index>()) {
        let b = fixture(VALID[which]);
        let n = keep.index(b.len());
        check(&b[..n]);
    }
}
