use linli_pii::{
    blob_key_id, KeyError, KeySource, Keyring, PiiError, FIELD_ID_NUMBER, FIELD_PHONE,
};
use proptest::prelude::*;

const LOOKUP: &str = "lookup:000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
const KEY1: &str = "key1:1111111111111111111111111111111111111111111111111111111111111111";
const KEY2: &str = "key2:2222222222222222222222222222222222222222222222222222222222222222";

fn ring(items: &[&str]) -> Keyring {
    Keyring::parse(&items.join("\n")).expect("valid key material")
}

#[test]
fn round_trip() {
    let k = ring(&[LOOKUP, KEY1]);
    let blob = k.encrypt_for(FIELD_ID_NUMBER, "330102199001011234");
    assert_eq!(blob.len(), linli_pii::OVERHEAD + 18);
    assert_eq!(blob_key_id(&blob), Some(1));
    assert_eq!(
        k.decrypt_for(FIELD_ID_NUMBER, &blob).unwrap(),
        "330102199001011234"
    );
    // Random nonces: the same value encrypts differently each time.
    assert_ne!(blob, k.encrypt_for(FIELD_ID_NUMBER, "330102199001011234"));
    assert_eq!(k.decrypt(&k.encrypt("")).unwrap(), "");
    assert_eq!(
        k.decrypt(&k.encrypt("张三 13800138000")).unwrap(),
        "张三 13800138000"
    );
}

#[test]
fn wrong_field_fails() {
    let k = ring(&[LOOKUP, KEY1]);
    let blob = k.encrypt_for(FIELD_ID_NUMBER, "330102199001011234");
    assert_eq!(
        k.decrypt_for(FIELD_PHONE, &blob),
        Err(PiiError::Tampered { id: 1 })
    );
}

#[test]
fn tampered_byte_fails() {
    let k = ring(&[LOOKUP, KEY1]);
    let blob = k.encrypt_for(FIELD_PHONE, "13800138000");
    for i in 4..blob.len() {
        let mut bad = blob.clone();
        bad[i] ^= 0x01;
        assert_eq!(
            k.decrypt_for(FIELD_PHONE, &bad),
            Err(PiiError::Tampered { id: 1 }),
            "byte {i}"
        );
    }
    assert_eq!(
        k.decrypt_for(FIELD_PHONE, &blob[..20]),
        Err(PiiError::Truncated { len: 20 })
    );
    assert_eq!(
        k.decrypt_for(FIELD_PHONE, &blob[..2]),
        Err(PiiError::Truncated { len: 2 })
    );
    // The same number under another key fails authentication.
    let other = ring(&[
        LOOKUP,
        "key1:3333333333333333333333333333333333333333333333333333333333333333",
    ]);
    assert_eq!(
        other.decrypt_for(FIELD_PHONE, &blob),
        Err(PiiError::Tampered { id: 1 })
    );
}

#[test]
fn unknown_key_fails_with_message() {
    let k2 = ring(&[LOOKUP, KEY2]);
    let blob = k2.encrypt_for(FIELD_PHONE, "13800138000");
    let k1 = ring(&[LOOKUP, KEY1]);
    let err = k1.decrypt_for(FIELD_PHONE, &blob).unwrap_err();
    assert_eq!(err, PiiError::UnknownKey { id: 2 });
    let msg = err.to_string();
    assert!(
        msg.contains("encrypted with key 2, which the configured keyring does not hold")
            && msg.contains("add key2 back"),
        "{msg}"
    );
}

#[test]
fn rotation() {
    let old = ring(&[LOOKUP, KEY1]);
    let blob = old.encrypt_for(FIELD_ID_NUMBER, "11010519491231002X");
    assert!(!old.needs_rotation(&blob));

    let both = ring(&[LOOKUP, KEY1, KEY2]);
    assert_eq!(both.current_key_id(), 2);
    assert!(both.needs_rotation(&blob));
    let new_blob = both.reencrypt_for(FIELD_ID_NUMBER, &blob).unwrap();
    assert!(!both.needs_rotation(&new_blob));
    assert_eq!(blob_key_id(&new_blob), Some(2));

    let only2 = ring(&[LOOKUP, KEY2]);
    assert_eq!(
        only2.decrypt_for(FIELD_ID_NUMBER, &new_blob).unwrap(),
        "11010519491231002X"
    );
    assert_eq!(
        only2.decrypt_for(FIELD_ID_NUMBER, &blob),
        Err(PiiError::UnknownKey { id: 1 })
    );
    // A reencrypt under the wrong field is refused rather than re-sealed.
    assert!(both.reencrypt_for(FIELD_PHONE, &blob).is_err());
    // Lookups do not depend on the encryption keys.
    assert_eq!(
        old.lookup(FIELD_PHONE, "13800138000"),
        only2.lookup(FIELD_PHONE, "13800138000")
    );
    assert_eq!(old.fingerprint(), only2.fingerprint());
}

#[test]
fn current_can_name_an_older_key() {
    let k = ring(&[LOOKUP, KEY1, KEY2, "current:1"]);
    assert_eq!(k.current_key_id(), 1);
    assert_eq!(blob_key_id(&k.encrypt("x")), Some(1));
    let again = Keyring::parse(&k.to_text()).unwrap();
    assert_eq!(again.current_key_id(), 1);
    assert!(k.to_text().contains("current:1"));
    assert!(!ring(&[LOOKUP, KEY1, KEY2]).to_text().contains("current"));
}

#[test]
fn separators_comments_and_case() {
    let text = format!(
        "# backed up 2025-01-01\n  {LOOKUP} ; {}\n\n,key2 = {}",
        KEY1.to_uppercase().replace("KEY1", "key1"),
        &KEY2[5..]
    );
    let k = Keyring::parse(&text).unwrap();
    assert_eq!(k.key_ids(), vec![1, 2]);
    assert_eq!(k.current_key_id(), 2);
}

fn parse_err(items: &[&str]) -> KeyError {
    Keyring::parse(&items.join(";")).unwrap_err()
}

#[test]
fn parse_errors() {
    let e = parse_err(&[KEY1]);
    assert!(matches!(e, KeyError::MissingLookup), "{e:?}");
    assert!(e.to_string().contains("lookup:<64 hex characters>"));

    let e = parse_err(&[LOOKUP]);
    assert!(matches!(e, KeyError::NoKeys), "{e:?}");

    let bad_hex = "key2:zz22222222222222222222222222222222222222222222222222222222222222";
    let e = parse_err(&[LOOKUP, KEY1, bad_hex]);
    assert!(
        matches!(e, KeyError::BadHex { item: 3, ref name, position: 1 } if name == "key2"),
        "{e:?}"
    );
    assert!(
        !e.to_string().contains("2222"),
        "must not echo key material"
    );

    let short = "key2:22222222222222222222222222222222222222222222222222222222222222";
    let e = parse_err(&[LOOKUP, KEY1, short]);
    assert_eq!(
        e.to_string(),
        "key2 (item 3 of the PII key material) has 62 hex characters (31 bytes); each key must be \
         32 bytes, 64 hex characters; generate a fresh set with `linli pii keygen`"
    );

    let e = parse_err(&[LOOKUP, KEY1, KEY1]);
    assert!(
        matches!(e, KeyError::Duplicate { ref name, first: 2, item: 3 } if name == "key1"),
        "{e:?}"
    );
    let e = parse_err(&[LOOKUP, KEY1, LOOKUP]);
    assert!(
        matches!(
            e,
            KeyError::Duplicate {
                first: 1,
                item: 3,
                ..
            }
        ),
        "{e:?}"
    );

    let e = parse_err(&[LOOKUP, KEY1, "current:2"]);
    assert!(
        matches!(e, KeyError::CurrentMissing { current: 2, .. }),
        "{e:?}"
    );
    assert!(e.to_string().contains("it holds key1"), "{e}");

    let e = parse_err(&[LOOKUP, KEY1, "current:two"]);
    assert!(matches!(e, KeyError::BadCurrent { item: 3 }), "{e:?}");

    let e = parse_err(&[
        LOOKUP,
        "key0:1111111111111111111111111111111111111111111111111111111111111111",
    ]);
    assert!(matches!(e, KeyError::BadKeyNumber { item: 2, .. }), "{e:?}");

    // A key pasted without its name is reported by item, without echoing it whole.
    let e = parse_err(&[LOOKUP, &KEY1[5..]]);
    assert!(matches!(e, KeyError::BadItem { item: 2, .. }), "{e:?}");
    assert!(!e.to_string().contains(&KEY1[5..]), "{e}");

    let e = parse_err(&[LOOKUP, "secret:00"]);
    assert!(matches!(e, KeyError::BadItem { item: 2, .. }), "{e:?}");
}

#[test]
fn generate_to_text_parse_round_trip() {
    let k = Keyring::generate();
    assert_eq!(k.key_ids(), vec![1]);
    let text = k.to_text();
    let again = Keyring::parse(&text).unwrap();
    assert_eq!(again.to_text(), text);
    assert_eq!(again.fingerprint(), k.fingerprint());
    let blob = k.encrypt_for(FIELD_PHONE, "13800138000");
    assert_eq!(
        again.decrypt_for(FIELD_PHONE, &blob).unwrap(),
        "13800138000"
    );
    assert_ne!(Keyring::generate().to_text(), text);
}

#[test]
fn load_creates_a_private_file_then_reads_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("keys").join("pii.keys");

    let e = Keyring::load(None, &path, false).unwrap_err();
    assert!(matches!(e, KeyError::NotFound { .. }), "{e:?}");

    let (k1, source) = Keyring::load(None, &path, true).unwrap();
    assert_eq!(source, KeySource::Created(path.clone()));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    // No temporary file is left behind.
    assert_eq!(
        std::fs::read_dir(path.parent().unwrap()).unwrap().count(),
        1
    );

    let (k2, source) = Keyring::load(None, &path, true).unwrap();
    assert_eq!(source, KeySource::File(path.clone()));
    assert_eq!(k1.to_text(), k2.to_text());

    // The environment wins over the file.
    let env = [LOOKUP, KEY1].join("\n");
    let (k3, source) = Keyring::load(Some(&env), &path, true).unwrap();
    assert_eq!(source, KeySource::Env);
    assert_ne!(k3.fingerprint(), k1.fingerprint());
    assert!(matches!(
        Keyring::load(Some("  "), &path, true),
        Err(KeyError::EmptyEnv)
    ));

    // A damaged file says which file.
    std::fs::write(&path, "lookup:00").unwrap();
    let e = Keyring::load(None, &path, true).unwrap_err();
    assert!(e.to_string().contains("pii.keys"), "{e}");
    assert!(matches!(e, KeyError::InFile { .. }));
}

#[test]
fn lookup_is_deterministic_and_differs_by_field() {
    let k = ring(&[LOOKUP, KEY1]);
    let a = k.lookup(FIELD_PHONE, "13800138000");
    assert_eq!(a, k.lookup(FIELD_PHONE, "13800138000"));
    assert_ne!(a, k.lookup(FIELD_ID_NUMBER, "13800138000"));
    assert_ne!(a, k.lookup(FIELD_PHONE, "13800138001"));
    // The 0x00 separator keeps ("ab", "c") and ("a", "bc") apart.
    assert_ne!(k.lookup("ab", "c"), k.lookup("a", "bc"));
    assert_eq!(k.lookup_hex(FIELD_PHONE, "13800138000"), hex_of(&a));
    assert_eq!(k.fingerprint().len(), 16);
    let other = ring(&[
        "lookup:ff0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
        KEY1,
    ]);
    assert_ne!(other.fingerprint(), k.fingerprint());
    assert_ne!(other.lookup(FIELD_PHONE, "13800138000"), a);
}

fn hex_of(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A rough speed check, not a timed test: run with
/// `cargo test --release -p linli-pii --test keyring -- --ignored --nocapture speed`.
#[test]
#[ignore]
fn speed() {
    let k = Keyring::generate();
    let values: Vec<String> = (0..1_000_000u64)
        .map(|i| format!("1{:010}", i * 7919 % 10_000_000_000))
        .collect();
    let t = std::time::Instant::now();
    let blobs: Vec<Vec<u8>> = values
        .iter()
        .map(|v| k.encrypt_for(FIELD_PHONE, v))
        .collect();
    let enc = t.elapsed();
    let t = std::time::Instant::now();
    for (b, v) in blobs.iter().zip(&values) {
        assert_eq!(&k.decrypt_for(FIELD_PHONE, b).unwrap(), v);
    }
    let dec = t.elapsed();
    let t = std::time::Instant::now();
    let mut x = 0u8;
    for v in &values {
        x ^= k.lookup(FIELD_PHONE, v)[0];
    }
    let look = t.elapsed();
    println!("1,000,000 phones: encrypt {enc:?}, decrypt {dec:?}, lookup hash {look:?} ({x})");
}

proptest! {
    #[test]
    fn parse_never_panics(text in "\\PC*") {
        let _ = Keyring::parse(&text);
    }

    #[test]
    fn parse_never_panics_on_near_misses(
        items in prop::collection::vec(
            prop_oneof![
                Just(LOOKUP.to_string()),
                Just(KEY1.to_string()),
                "(key|lookup|current|KEY)[0-9+-]{0,3}[:=][0-9a-fA-Fg ]{0,70}",
            ],
            0..5,
        ),
        sep in prop_oneof![Just("\n"), Just(";"), Just(","), Just("\r\n")],
    ) {
        let _ = Keyring::parse(&items.join(sep));
    }

    #[test]
    fn encrypt_decrypt_round_trips(field in "[a-z_]{0,12}", plain in "\\PC*") {
        let k = ring(&[LOOKUP, KEY1, KEY2]);
        let blob = k.encrypt_for(&field, &plain);
        prop_assert_eq!(k.decrypt_for(&field, &blob).unwrap(), plain);
    }
}
