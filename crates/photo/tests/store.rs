//! `PhotoStore` on a real directory: round trip, idempotent put, path safety.

use std::fs;
use std::io::ErrorKind;

use linli_photo::{clean, Format, Limits, PhotoStore};
use sha2::{Digest, Sha256};

fn cleaned(name: &str) -> linli_photo::CleanImage {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    let bytes = fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    clean(&bytes, &Limits::default()).expect("fixture is accepted")
}

fn files_under(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir).expect("read_dir") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            out.extend(files_under(&path));
        } else {
            out.push(path);
        }
    }
    out
}

#[test]
fn put_then_read_round_trips() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let root = tmp.path().join("photos");
    let store = PhotoStore::open(&root).expect("open creates the directory");
    assert!(root.is_dir());

    for (name, format) in [
        ("exif_gps_orient6.jpg", Format::Jpeg),
        ("text_exif.png", Format::Png),
        ("exif_xmp.webp", Format::Webp),
    ] {
        let img = cleaned(name);
        let stored = store.put(&img).expect("put");
        let sha = hex::encode(Sha256::digest(&img.bytes));
        assert_eq!(stored.sha256, sha);
        assert_eq!(stored.format, format);
        assert_eq!(stored.bytes, img.bytes.len() as u64);
        assert_eq!((stored.width, stored.height), (img.width, img.height));

        let path = root
            .join(&sha[0..2])
            .join(&sha[2..4])
            .join(format!("{sha}.{}", format.ext()));
        assert!(path.is_file(), "{path:?}");
        assert_eq!(store.read(&sha, format).expect("read"), img.bytes);
    }
    // No temporary files are left behind.
    let files = files_under(&root);
    assert_eq!(files.len(), 3, "{files:?}");
}

#[test]
fn second_put_is_a_no_op() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let store = PhotoStore::open(tmp.path()).expect("open");
    let img = cleaned("exif_gps_orient6.jpg");
    let first = store.put(&img).expect("put");
    let path = files_under(tmp.path()).pop().expect("one file");
    let modified = fs::metadata(&path)
        .and_then(|m| m.modified())
        .expect("mtime");

    let second = store.put(&img).expect("put again");
    assert_eq!(first, second);
    assert_eq!(files_under(tmp.path()), vec![path.clone()]);
    let again = fs::metadata(&path)
        .and_then(|m| m.modified())
        .expect("mtime");
    assert_eq!(modified, again, "the file was not rewritten");
}

#[test]
fn put_repairs_a_truncated_file() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let store = PhotoStore::open(tmp.path()).expect("open");
    let img = cleaned("text_exif.png");
    let stored = store.put(&img).expect("put");
    let path = files_under(tmp.path()).pop().expect("one file");
    fs::write(&path, &img.bytes[..10]).expect("truncate");
    store.put(&img).expect("put again");
    assert_eq!(
        store.read(&stored.sha256, Format::Png).expect("read"),
        img.bytes
    );
}

#[test]
fn crafted_ids_are_refused() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let store = PhotoStore::open(tmp.path().join("photos")).expect("open");
    // A file outside the store that a traversal would reach.
    fs::write(tmp.path().join("secret.jpg"), b"secret").expect("write");
    let a64 = "a".repeat(64);
    for id in [
        "../../etc/passwd",
        "../secret",
        "",
        &"A".repeat(64),
        &"a".repeat(63),
        &"a".repeat(65),
        &format!("{}/..", "a".repeat(61)),
        &format!("{}\0", "a".repeat(63)),
        &format!("../{}", &a64[3..]),
    ] {
        let err = store.read(id, Format::Jpeg).expect_err(id);
        assert_eq!(err.kind(), ErrorKind::InvalidInput, "{id:?}");
    }
}

#[test]
fn absent_photo_is_not_found() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let store = PhotoStore::open(tmp.path()).expect("open");
    let err = store
        .read(&"0".repeat(64), Format::Png)
        .expect_err("absent");
    assert_eq!(err.kind(), ErrorKind::NotFound);
    // Stored as JPEG, asked for as PNG.
    let img = cleaned("exif_gps_orient6.jpg");
    let stored = store.put(&img).expect("put");
    let err = store
        .read(&stored.sha256, Format::Png)
        .expect_err("wrong format");
    assert_eq!(err.kind(), ErrorKind::NotFound);
}

#[test]
fn tampered_file_is_refused_on_read() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let store = PhotoStore::open(tmp.path()).expect("open");
    let img = cleaned("lossy.webp");
    let stored = store.put(&img).expect("put");
    let path = files_under(tmp.path()).pop().expect("one file");
    let mut bytes = fs::read(&path).expect("read");
    bytes[20] ^= 1;
    fs::write(&path, bytes).expect("write");
    let err = store
        .read(&stored.sha256, Format::Webp)
        .expect_err("tampered");
    assert_eq!(err.kind(), ErrorKind::InvalidData);
}
