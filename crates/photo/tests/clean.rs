//! `clean` on real files made by `tests/fixtures/make_fixtures.py` (Pillow, piexif,
//! pillow-heif). The `image` crate, an independent decoder, checks that every cleaned file
//! still decodes to the same pixels.

use std::io::Cursor;

use image::metadata::Orientation;
use image::{ImageDecoder, ImageReader};
use linli_photo::{clean, CleanImage, Format, Limits, PhotoError};

fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn clean_ok(name: &str) -> (Vec<u8>, CleanImage) {
    let original = fixture(name);
    let cleaned = clean(&original, &Limits::default())
        .unwrap_or_else(|e| panic!("{name} was refused: {e} ({})", e.code()));
    (original, cleaned)
}

fn count(hay: &[u8], needle: &[u8]) -> usize {
    hay.windows(needle.len()).filter(|w| *w == needle).count()
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    count(hay, needle) > 0
}

/// The IFD0 entry that points to the GPS IFD (tag 0x8825, type LONG, count 1), in both
/// byte orders. Eight bytes rather than the bare tag, which could occur by chance in
/// compressed data.
const GPS_POINTER_BE: [u8; 8] = [0x88, 0x25, 0, 4, 0, 0, 0, 1];
const GPS_POINTER_LE: [u8; 8] = [0x25, 0x88, 4, 0, 1, 0, 0, 0];

/// Strings the fixtures plant in Exif, XMP, IPTC, comments, text chunks and trailers.
const PERSONAL: &[&[u8]] = &[
    b"LinliTestCam",
    b"LTC Model-X 9000",
    b"Zhang San",
    b"Building 7",
    b"SN-0042-LINLI",
    b"MAKERNOTE",
    b"http://ns.adobe.com/xap",
    b"TRAILER-GPS",
    b"Photoshop 3.0",
    b"2024:05:01",
];

fn has_gps(b: &[u8]) -> bool {
    contains(b, &GPS_POINTER_BE) || contains(b, &GPS_POINTER_LE)
}

/// Asserts the original carried the planted metadata (so the test means something) and
/// the cleaned file carries none of it.
fn assert_scrubbed(original: &[u8], cleaned: &[u8]) {
    assert!(has_gps(original), "fixture lacks the GPS pointer");
    assert!(!has_gps(cleaned), "GPS pointer survived");
    assert!(
        contains(original, b"LinliTestCam"),
        "fixture lacks the make"
    );
    for s in PERSONAL {
        assert!(
            !contains(cleaned, s),
            "{:?} survived cleaning",
            String::from_utf8_lossy(s)
        );
    }
}

/// Decodes with the `image` crate and checks dimensions and, where given, that the pixels
/// equal those of the original (the cleaner must not touch image data).
fn assert_same_pixels(original: &[u8], img: &CleanImage) {
    let after = image::load_from_memory(&img.bytes).expect("cleaned image decodes");
    assert_eq!((after.width(), after.height()), (img.width, img.height));
    let before = image::load_from_memory(original).expect("original decodes");
    assert_eq!(before.to_rgba8(), after.to_rgba8(), "pixels changed");
}

fn decoder_orientation(bytes: &[u8]) -> Orientation {
    let mut decoder = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .expect("format")
        .into_decoder()
        .expect("decoder");
    decoder.orientation().expect("orientation")
}

/// (marker, payload) of every JPEG segment before the first scan.
fn jpeg_header_segments(b: &[u8]) -> Vec<(u8, Vec<u8>)> {
    let mut segs = Vec::new();
    let mut pos = 2;
    while b[pos + 1] != 0xDA {
        let len = usize::from(u16::from_be_bytes([b[pos + 2], b[pos + 3]]));
        segs.push((b[pos + 1], b[pos + 4..pos + 2 + len].to_vec()));
        pos += 2 + len;
    }
    segs
}

fn png_chunk_types(b: &[u8]) -> Vec<String> {
    let mut types = Vec::new();
    let mut pos = 8;
    while pos < b.len() {
        let len = u32::from_be_bytes([b[pos], b[pos + 1], b[pos + 2], b[pos + 3]]) as usize;
        types.push(String::from_utf8_lossy(&b[pos + 4..pos + 8]).into_owned());
        pos += 12 + len;
    }
    types
}

fn webp_chunks(b: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut chunks = Vec::new();
    let mut pos = 12;
    while pos < b.len() {
        let len = u32::from_le_bytes([b[pos + 4], b[pos + 5], b[pos + 6], b[pos + 7]]) as usize;
        let name = String::from_utf8_lossy(&b[pos..pos + 4]).into_owned();
        chunks.push((name, b[pos + 8..pos + 8 + len].to_vec()));
        pos += 8 + len + len % 2;
    }
    chunks
}

/// The only Exif the cleaner may write: big-endian TIFF, IFD0 with Orientation alone.
fn minimal_exif(orientation: u8) -> Vec<u8> {
    let mut e = b"Exif\0\0MM\x00\x2a\x00\x00\x00\x08\x00\x01".to_vec();
    e.extend_from_slice(&[
        0x01,
        0x12,
        0,
        3,
        0,
        0,
        0,
        1,
        0,
        orientation,
        0,
        0,
        0,
        0,
        0,
        0,
    ]);
    e
}

#[test]
fn jpeg_loses_exif_xmp_iptc_comment_and_trailer_but_keeps_orientation() {
    let (original, img) = clean_ok("exif_gps_orient6.jpg");
    assert_eq!(img.format, Format::Jpeg);
    assert_eq!((img.width, img.height), (96, 64));

    let before = jpeg_header_segments(&original);
    let markers: Vec<u8> = before.iter().map(|s| s.0).collect();
    for m in [0xE1, 0xED, 0xFE] {
        assert!(markers.contains(&m), "fixture lacks segment 0xFF{m:02X}");
    }
    assert!(contains(&original, b"COM secret"));

    let b = &img.bytes;
    assert_scrubbed(&original, b);
    assert!(!contains(b, b"COM secret"));
    assert_eq!(count(b, b"Exif\0\0"), 1, "exactly the minimal Exif remains");

    let after = jpeg_header_segments(b);
    let app1: Vec<_> = after.iter().filter(|s| s.0 == 0xE1).collect();
    assert_eq!(app1.len(), 1);
    assert_eq!(app1[0].1, minimal_exif(6));
    for (m, _) in &after {
        assert!(!matches!(m, 0xE3..=0xED | 0xFE), "segment 0xFF{m:02X} kept");
    }
    // The colour profile is kept byte for byte.
    let icc = |segs: &[(u8, Vec<u8>)]| {
        segs.iter()
            .find(|s| s.0 == 0xE2 && s.1.starts_with(b"ICC_PROFILE\0"))
            .map(|s| s.1.clone())
    };
    assert!(icc(&before).is_some());
    assert_eq!(icc(&before), icc(&after));
    assert!(after[0].0 == 0xE0 && after[0].1.starts_with(b"JFIF\0"));
    // Nothing after EOI.
    assert!(b.ends_with(&[0xFF, 0xD9]));
    assert!(!original.ends_with(&[0xFF, 0xD9]));

    assert_same_pixels(&original, &img);
    assert_eq!(decoder_orientation(b), Orientation::Rotate90);
}

#[test]
fn jpeg_with_orientation_1_gets_no_exif_at_all() {
    let (original, img) = clean_ok("orient1_progressive.jpg");
    assert_eq!((img.width, img.height), (40, 30));
    assert!(
        contains(&original, b"Exif\0\0II*\0"),
        "little-endian fixture"
    );
    assert!(jpeg_header_segments(&img.bytes).iter().any(|s| s.0 == 0xC2));
    assert_scrubbed(&original, &img.bytes);
    assert!(!contains(&img.bytes, b"Exif"));
    assert!(!jpeg_header_segments(&img.bytes).iter().any(|s| s.0 == 0xE1));
    assert_same_pixels(&original, &img);
    assert_eq!(decoder_orientation(&img.bytes), Orientation::NoTransforms);
}

#[test]
fn jpeg_little_endian_orientation_and_restart_markers() {
    let (original, img) = clean_ok("orient8_le_restart.jpg");
    assert_eq!((img.width, img.height), (30, 20));
    assert!(contains(&original, b"Exif\0\0II*\0"));
    // The restart interval survives, and so do the RST markers inside the scan.
    assert!(jpeg_header_segments(&img.bytes).iter().any(|s| s.0 == 0xDD));
    assert!(contains(&img.bytes, &[0xFF, 0xD0]));
    assert_scrubbed(&original, &img.bytes);
    assert_eq!(count(&img.bytes, b"Exif\0\0"), 1);
    assert!(contains(&img.bytes, &minimal_exif(8)));
    assert_same_pixels(&original, &img);
    assert_eq!(decoder_orientation(&img.bytes), Orientation::Rotate270);
}

#[test]
fn png_loses_text_exif_time_and_private_chunks() {
    let (original, img) = clean_ok("text_exif.png");
    assert_eq!(img.format, Format::Png);
    assert_eq!((img.width, img.height), (40, 30));
    let before = png_chunk_types(&original);
    for t in ["tEXt", "zTXt", "iTXt", "eXIf", "tIME", "prVt"] {
        assert!(before.iter().any(|c| c == t), "fixture lacks {t}");
    }
    assert_eq!(
        png_chunk_types(&img.bytes),
        ["IHDR", "gAMA", "pHYs", "IDAT", "IEND"]
    );
    assert_scrubbed(&original, &img.bytes);
    assert!(!contains(&img.bytes, b"Exif\0\0"));
    assert_same_pixels(&original, &img);
}

#[test]
fn webp_loses_exif_and_xmp_chunks_and_flags() {
    let (original, img) = clean_ok("exif_xmp.webp");
    assert_eq!(img.format, Format::Webp);
    assert_eq!((img.width, img.height), (50, 34));

    let before = webp_chunks(&original);
    let names = |c: &[(String, Vec<u8>)]| c.iter().map(|x| x.0.clone()).collect::<Vec<_>>();
    assert!(names(&before).contains(&"EXIF".to_owned()));
    assert!(names(&before).contains(&"XMP ".to_owned()));
    assert!(
        before.iter().any(|c| c.1.len() % 2 == 1),
        "fixture has an odd-sized chunk, so padding is exercised"
    );
    assert_eq!(
        before[0].1[0] & 0x0C,
        0x0C,
        "fixture sets the EXIF and XMP flags"
    );

    let after = webp_chunks(&img.bytes);
    assert_eq!(names(&after), ["VP8X", "ICCP", "ALPH", "VP8 "]);
    let flags = after[0].1[0];
    assert_eq!(flags & 0x0C, 0, "EXIF and XMP flags cleared");
    assert_eq!(flags & 0x30, 0x30, "ICC and alpha flags kept");
    let riff = u32::from_le_bytes([img.bytes[4], img.bytes[5], img.bytes[6], img.bytes[7]]);
    assert_eq!(riff as usize, img.bytes.len() - 8);
    // Kept chunks are byte-identical.
    for (name, data) in &after[1..] {
        assert!(before.iter().any(|(n, d)| n == name && d == data));
    }

    assert_scrubbed(&original, &img.bytes);
    assert!(!contains(&img.bytes, b"Exif\0\0"));
    assert!(!contains(&img.bytes, b"EXIF"));
    assert!(!contains(&img.bytes, b"XMP "));
    assert_same_pixels(&original, &img);
}

#[test]
fn simple_webp_without_metadata_is_unchanged() {
    for (name, dims) in [("lossless.webp", (33, 17)), ("lossy.webp", (45, 23))] {
        let (original, img) = clean_ok(name);
        assert_eq!((img.width, img.height), dims, "{name}");
        assert_eq!(img.bytes, original, "{name}");
        assert_same_pixels(&original, &img);
    }
}

#[test]
fn animated_webp_is_kept() {
    let (original, img) = clean_ok("animated.webp");
    assert_eq!((img.width, img.height), (24, 16));
    assert_eq!(img.bytes, original);
    let decoded = image::load_from_memory(&img.bytes).expect("decodes");
    assert_eq!((decoded.width(), decoded.height()), (24, 16));
}

#[test]
fn cleaning_is_idempotent() {
    for name in VALID {
        let (_, once) = clean_ok(name);
        let twice = clean(&once.bytes, &Limits::default()).expect("cleaned output is accepted");
        assert_eq!(once, twice, "{name}");
    }
}

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

fn refuse(bytes: &[u8]) -> PhotoError {
    refuse_with(bytes, &Limits::default())
}

fn refuse_with(bytes: &[u8], limits: &Limits) -> PhotoError {
    match clean(bytes, limits) {
        Ok(img) => panic!("accepted as {:?} {}x{}", img.format, img.width, img.height),
        Err(e) => e,
    }
}

fn assert_corrupt(bytes: &[u8], detail_part: &str) {
    match refuse(bytes) {
        e @ PhotoError::Corrupt { .. } => {
            assert_eq!(e.code(), "photo_corrupt");
            let PhotoError::Corrupt { detail } = &e else {
                unreachable!()
            };
            assert!(
                detail.contains(detail_part),
                "detail {detail:?} lacks {detail_part:?}"
            );
        }
        e => panic!("expected Corrupt, got {e:?}"),
    }
}

#[test]
fn empty_upload() {
    let e = refuse(b"");
    assert_eq!(e, PhotoError::Empty);
    assert_eq!(e.code(), "photo_empty");
}

#[test]
fn size_limit_is_checked_before_parsing() {
    let jpeg = fixture("exif_gps_orient6.jpg");
    let limits = Limits {
        max_bytes: jpeg.len() - 1,
        ..Limits::default()
    };
    let e = refuse_with(&jpeg, &limits);
    assert_eq!(
        e,
        PhotoError::TooLarge {
            size: jpeg.len(),
            max: jpeg.len() - 1
        }
    );
    assert_eq!(e.code(), "photo_too_large");
    // Size is checked first: even garbage gets TooLarge, not NotAnImage.
    let garbage = vec![0u8; 100];
    let small = Limits {
        max_bytes: 99,
        ..Limits::default()
    };
    assert_eq!(refuse_with(&garbage, &small).code(), "photo_too_large");
    // Exactly at the limit is fine.
    let exact = Limits {
        max_bytes: jpeg.len(),
        ..Limits::default()
    };
    assert!(clean(&jpeg, &exact).is_ok());
}

#[test]
fn pixel_limit() {
    let jpeg = fixture("exif_gps_orient6.jpg");
    let at = Limits {
        max_pixels: 96 * 64,
        ..Limits::default()
    };
    assert!(clean(&jpeg, &at).is_ok());
    let below = Limits {
        max_pixels: 96 * 64 - 1,
        ..Limits::default()
    };
    let e = refuse_with(&jpeg, &below);
    assert_eq!(
        e,
        PhotoError::TooManyPixels {
            width: 96,
            height: 64,
            max: 96 * 64 - 1
        }
    );
    assert_eq!(e.code(), "photo_too_many_pixels");
    for name in [
        "text_exif.png",
        "exif_xmp.webp",
        "lossless.webp",
        "lossy.webp",
    ] {
        let tiny = Limits {
            max_pixels: 10,
            ..Limits::default()
        };
        assert_eq!(
            refuse_with(&fixture(name), &tiny).code(),
            "photo_too_many_pixels"
        );
    }
}

#[test]
fn default_limits() {
    let l = Limits::default();
    assert_eq!(l.max_bytes, 10 * 1024 * 1024);
    assert_eq!(l.max_pixels, 50_000_000);
}

#[test]
fn not_images() {
    let exe = std::fs::read(std::env::current_exe().expect("test binary path")).expect("read");
    let dos_exe = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00This program cannot be run in DOS mode.";
    let inputs: Vec<(&str, Vec<u8>)> = vec![
        ("pdf", fixture("tiny.pdf")),
        (
            "text",
            b"Dear committee, the lift is broken again.".to_vec(),
        ),
        ("dos exe renamed .jpg", dos_exe.to_vec()),
        ("this test binary", exe[..4096.min(exe.len())].to_vec()),
        ("fixture script", fixture("make_fixtures.py")),
        ("riff wave", b"RIFF\x24\0\0\0WAVEfmt ".to_vec()),
        ("html", b"<!doctype html><p>hello</p>".to_vec()),
    ];
    for (what, bytes) in inputs {
        let e = refuse(&bytes);
        assert_eq!(e, PhotoError::NotAnImage, "{what}");
        assert_eq!(e.code(), "photo_not_image");
    }
}

#[test]
fn recognised_but_unsupported_formats() {
    for (name, format) in [
        ("image.gif", "GIF"),
        ("image.bmp", "BMP"),
        ("image.tiff", "TIFF"),
        ("image.heic", "HEIC/HEIF"),
        ("script.svg", "SVG"),
    ] {
        let e = refuse(&fixture(name));
        assert_eq!(e, PhotoError::Unsupported { format }, "{name}");
        assert_eq!(e.code(), "photo_unsupported");
    }
    // SVG behind a BOM and leading whitespace is still caught.
    let mut svg = b"\xEF\xBB\xBF\n  ".to_vec();
    svg.extend_from_slice(&fixture("script.svg"));
    assert_eq!(refuse(&svg).code(), "photo_unsupported");
}

#[test]
fn truncated_jpeg() {
    assert_corrupt(&fixture("truncated.jpg"), "EOI");
    let jpeg = fixture("exif_gps_orient6.jpg");
    // Cut in the headers, and right before EOI.
    assert_corrupt(&jpeg[..1000], "past the end");
    let eoi = jpeg.len() - b"TRAILER-GPS:31.2304,121.4737".len() - 2;
    assert_eq!(&jpeg[eoi..eoi + 2], &[0xFF, 0xD9]);
    assert_corrupt(&jpeg[..eoi], "EOI");
    assert_corrupt(&jpeg[..3], "EOI");
}

#[test]
fn jpeg_length_past_the_end() {
    let mut jpeg = fixture("exif_gps_orient6.jpg");
    // The APP1 Exif segment at offset 20 claims 65535 bytes.
    assert_eq!(&jpeg[20..22], &[0xFF, 0xE1]);
    jpeg[22] = 0xFF;
    jpeg[23] = 0xFF;
    assert_corrupt(&jpeg, "offset 20 runs past the end");
}

#[test]
fn jpeg_zero_width_is_corrupt() {
    let mut jpeg = fixture("exif_gps_orient6.jpg");
    // Walk the segments: the Exif thumbnail holds an earlier FF C0 of its own.
    let mut sof = 2;
    while jpeg[sof + 1] != 0xC0 {
        sof += 2 + usize::from(u16::from_be_bytes([jpeg[sof + 2], jpeg[sof + 3]]));
    }
    // Marker(2) length(2) precision(1) height(2) width(2).
    jpeg[sof + 7] = 0;
    jpeg[sof + 8] = 0;
    assert_corrupt(&jpeg, "0x64");
}

#[test]
fn png_bad_crc() {
    assert_corrupt(&fixture("bad_crc.png"), "bad CRC in chunk IDAT");
}

#[test]
fn png_truncated_and_oversized_lengths() {
    let png = fixture("text_exif.png");
    assert_corrupt(&png[..png.len() - 12], "IEND");
    assert_corrupt(&png[..png.len() / 2], "past the end");
    // The first chunk after IHDR claims 2^31 - 1 bytes.
    let mut huge = png.clone();
    huge[33..37].copy_from_slice(&0x7FFF_FFFFu32.to_be_bytes());
    assert_corrupt(&huge, "offset 33 runs past the end");
    let mut invalid = png.clone();
    invalid[33..37].copy_from_slice(&0xFFFF_FFFFu32.to_be_bytes());
    assert_corrupt(&invalid, "invalid length");
    assert_corrupt(&png[..8], "IEND");
}

#[test]
fn webp_truncated_and_oversized_sizes() {
    let webp = fixture("exif_xmp.webp");
    assert_corrupt(&webp[..webp.len() - 1], "RIFF size");
    // Fix the RIFF size after cutting, so the chunk walk itself finds the damage.
    let mut cut = webp[..webp.len() - 1].to_vec();
    let n = (cut.len() - 8) as u32;
    cut[4..8].copy_from_slice(&n.to_le_bytes());
    assert_corrupt(&cut, "padding byte");
    let mut cut = webp[..1000].to_vec();
    cut[4..8].copy_from_slice(&992u32.to_le_bytes());
    assert_corrupt(&cut, "runs past the end");
    // The VP8X chunk at offset 12 claims 4 GiB.
    let mut huge = webp.clone();
    huge[16..20].copy_from_slice(&u32::MAX.to_le_bytes());
    assert_corrupt(&huge, "VP8X at offset 12 runs past the end");
    assert_corrupt(b"RIFF\x04\0\0\0WEBP", "no chunks");
}

#[test]
fn every_error_has_a_stable_code_and_message() {
    let all = [
        (PhotoError::Empty, "photo_empty"),
        (PhotoError::TooLarge { size: 2, max: 1 }, "photo_too_large"),
        (PhotoError::NotAnImage, "photo_not_image"),
        (
            PhotoError::Unsupported { format: "GIF" },
            "photo_unsupported",
        ),
        (PhotoError::Corrupt { detail: "x".into() }, "photo_corrupt"),
        (
            PhotoError::TooManyPixels {
                width: 1,
                height: 2,
                max: 1,
            },
            "photo_too_many_pixels",
        ),
    ];
    for (e, code) in all {
        assert_eq!(e.code(), code);
        assert!(!e.to_string().is_empty());
    }
}

#[test]
fn format_names() {
    for (f, s, mime, ext) in [
        (Format::Jpeg, "jpeg", "image/jpeg", "jpg"),
        (Format::Png, "png", "image/png", "png"),
        (Format::Webp, "webp", "image/webp", "webp"),
    ] {
        assert_eq!(f.as_str(), s);
        assert_eq!(f.mime(), mime);
        assert_eq!(f.ext(), ext);
        assert_eq!(Format::parse(s), Some(f));
    }
    assert_eq!(Format::parse("../jpeg"), None);
}
