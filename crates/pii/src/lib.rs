//! Personal-information protection (PIPL) for linli.
//!
//! ID numbers and phone numbers are never stored in clear. Each value is
//!
//! - **encrypted** with AES-256-GCM under a numbered key, bound by its associated data to the
//!   column it belongs in (an ID number's ciphertext does not decrypt as a phone), and
//! - **found** by a keyed hash (HMAC-SHA256 under a separate lookup key) of its normalized form,
//!   kept in its own column, so "who has this phone number" is an index lookup, not a decrypt
//!   of every row.
//!
//! The keys live outside the database: in the environment variable `LINLI_PII_KEYS` or in a key
//! file (see [`Keyring::load`]), in the text format described at [`Keyring::parse`]. A database
//! copied without its keys reveals no ID number and no phone.
//!
//! Keys rotate without downtime: add a new `key<N>` (the highest number is used for new
//! writes), re-encrypt the old rows in batches with [`Keyring::reencrypt_for`] where
//! [`Keyring::needs_rotation`] says so, then drop the old key. The lookup key cannot rotate
//! that way (every hash would change); [`Keyring::fingerprint`] lets the store refuse to start
//! with a lookup key other than the one its data was hashed with.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use aes_gcm::aead::{AeadInPlace, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce, Tag};
use hmac::{Hmac, Mac};
use rand::rngs::OsRng;
use rand::RngCore;
use sha2::Sha256;

/// The environment variable that holds the key material, which wins over the key file.
pub const ENV_VAR: &str = "LINLI_PII_KEYS";

/// The field names used as associated data and as the lookup hash's domain.
pub const FIELD_ID_NUMBER: &str = "id_number";
pub const FIELD_PHONE: &str = "phone";

const KEY_LEN: usize = 32;
const ID_LEN: usize = 4;
const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;
/// The bytes an encrypted value takes besides its plaintext: key id, nonce, tag.
pub const OVERHEAD: usize = ID_LEN + NONCE_LEN + TAG_LEN;

const KEYGEN_HINT: &str = "generate a fresh set with `linli pii keygen`";

type HmacSha256 = Hmac<Sha256>;

/// The keys: numbered encryption keys, the number used for new writes, and the lookup key.
///
/// Its `Debug` output names the key numbers and the fingerprint, never a key.
#[derive(Clone)]
pub struct Keyring {
    keys: BTreeMap<u32, Entry>,
    current: u32,
    lookup_key: [u8; KEY_LEN],
    lookup_mac: HmacSha256,
}

/// One encryption key, with its cipher ready (the AES key schedule is computed once).
#[derive(Clone)]
struct Entry {
    key: [u8; KEY_LEN],
    cipher: Aes256Gcm,
}

/// Where [`Keyring::load`] found the keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    /// The environment variable [`ENV_VAR`].
    Env,
    /// An existing key file.
    File(PathBuf),
    /// A key file just generated: the caller should warn loudly that it must be backed up,
    /// since the personal data cannot be read without it.
    Created(PathBuf),
}

/// What is wrong with the key material or the key file, and how to fix it.
///
/// Messages never quote key material.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("the PII key material has no lookup key: add an item `lookup:<64 hex characters>` (the key of the search hashes); {KEYGEN_HINT}")]
    MissingLookup,
    #[error("the PII key material has no encryption key: add an item `key1:<64 hex characters>`; {KEYGEN_HINT}")]
    NoKeys,
    #[error("item {item} of the PII key material (`{name}`) is not understood: each item is `lookup:<64 hex>`, `key<N>:<64 hex>` or `current:<N>`, separated by new lines, `;` or `,`")]
    BadItem { item: usize, name: String },
    #[error("item {item} of the PII key material: `{name}` is not a key number; keys are named key1, key2, … (a whole number from 1 up)")]
    BadKeyNumber { item: usize, name: String },
    #[error("{name} (item {item} of the PII key material) is not hexadecimal: character {position} is not 0-9 or a-f; each key is 64 hex characters; {KEYGEN_HINT}")]
    BadHex {
        item: usize,
        name: String,
        position: usize,
    },
    #[error("{name} (item {item} of the PII key material) has {chars} hex characters ({bytes} bytes); each key must be 32 bytes, 64 hex characters; {KEYGEN_HINT}")]
    WrongLength {
        item: usize,
        name: String,
        chars: usize,
        bytes: usize,
    },
    #[error("{name} appears twice in the PII key material (items {first} and {item}); keep one")]
    Duplicate {
        name: String,
        first: usize,
        item: usize,
    },
    #[error("item {item} of the PII key material: `current:` must be followed by a key number, e.g. `current:2`")]
    BadCurrent { item: usize },
    #[error("current:{current} names key{current}, which the PII key material does not hold (it holds {held}); add key{current} or correct `current:`")]
    CurrentMissing { current: u32, held: String },
    #[error("{ENV_VAR} is set but empty; put the key material in it (`linli pii keygen` prints a set) or unset it to use the key file")]
    EmptyEnv,
    #[error("no PII keys: {ENV_VAR} is not set and the key file {} does not exist; create it with `linli pii keygen > {}` (and back it up) or set {ENV_VAR}", path.display(), path.display())]
    NotFound { path: PathBuf },
    #[error("the PII key file {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("in the PII key file {}: {source}", path.display())]
    InFile {
        path: PathBuf,
        #[source]
        source: Box<KeyError>,
    },
}

/// Why an encrypted value could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PiiError {
    #[error("this row is encrypted with key {id}, which the configured keyring does not hold; add key{id} back to the key material")]
    UnknownKey { id: u32 },
    #[error("an encrypted value failed authentication: it was altered, belongs to another field, or key{id} in the key material is not the key it was encrypted with")]
    Tampered { id: u32 },
    #[error("an encrypted value is truncated: {len} bytes, at least {OVERHEAD} expected")]
    Truncated { len: usize },
    #[error("an encrypted value decrypted to bytes that are not UTF-8 text")]
    NotText,
}

impl fmt::Debug for Keyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Keyring")
            .field("keys", &self.keys.keys().collect::<Vec<_>>())
            .field("current", &self.current)
            .field("fingerprint", &self.fingerprint())
            .finish_non_exhaustive()
    }
}

impl Keyring {
    /// A keyring from raw keys. `current` defaults to the highest key number.
    pub fn new(
        lookup: [u8; KEY_LEN],
        keys: impl IntoIterator<Item = (u32, [u8; KEY_LEN])>,
        current: Option<u32>,
    ) -> Result<Keyring, KeyError> {
        let keys: BTreeMap<u32, Entry> = keys
            .into_iter()
            .map(|(id, key)| {
                let cipher = Aes256Gcm::new(&key.into());
                (id, Entry { key, cipher })
            })
            .collect();
        let Some(&highest) = keys.keys().next_back() else {
            return Err(KeyError::NoKeys);
        };
        let current = current.unwrap_or(highest);
        if !keys.contains_key(&current) {
            return Err(KeyError::CurrentMissing {
                current,
                held: held(&keys),
            });
        }
        let lookup_mac =
            <HmacSha256 as Mac>::new_from_slice(&lookup).expect("HMAC takes keys of any length");
        Ok(Keyring {
            keys,
            current,
            lookup_key: lookup,
            lookup_mac,
        })
    }

    /// A fresh keyring: a random `key1` and a random lookup key, from the operating system's
    /// random source.
    pub fn generate() -> Keyring {
        let mut key = [0u8; KEY_LEN];
        let mut lookup = [0u8; KEY_LEN];
        OsRng.fill_bytes(&mut key);
        OsRng.fill_bytes(&mut lookup);
        Keyring::new(lookup, [(1, key)], None).expect("one key, current")
    }

    /// Parses key material.
    ///
    /// The text is a list of items separated by new lines, `;` or `,`; blank items and lines
    /// starting with `#` are ignored. Each item is `name:value` (`name=value` is accepted too):
    ///
    /// - `lookup:<64 hex characters>`: the 32-byte key of the search hashes (exactly one);
    /// - `key<N>:<64 hex characters>`: encryption key number N (N from 1 up; at least one);
    /// - `current:<N>`: the key used for new writes; without it, the highest-numbered key.
    ///
    /// Keys are written in hexadecimal (upper or lower case), 64 characters for 32 bytes.
    ///
    /// ```text
    /// lookup:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08
    /// key1:60303ae22b998861bce3b28f33eec1be758a213c86c93c076dbe9f558c11c752
    /// ```
    pub fn parse(text: &str) -> Result<Keyring, KeyError> {
        let mut lookup: Option<([u8; KEY_LEN], usize)> = None;
        let mut keys: BTreeMap<u32, ([u8; KEY_LEN], usize)> = BTreeMap::new();
        let mut current: Option<(u32, usize)> = None;
        let items = text
            .lines()
            .filter(|line| !line.trim_start().starts_with('#'))
            .flat_map(|line| line.split([';', ',']))
            .map(str::trim)
            .filter(|item| !item.is_empty());
        for (i, raw) in items.enumerate() {
            let item = i + 1;
            let Some((name, value)) = raw.split_once([':', '=']) else {
                return Err(KeyError::BadItem {
                    item,
                    name: safe_name(raw),
                });
            };
            let name = name.trim().to_ascii_lowercase();
            let value = value.trim();
            if name == "lookup" {
                if let Some((_, first)) = lookup {
                    return Err(KeyError::Duplicate { name, first, item });
                }
                lookup = Some((decode_key(item, &name, value)?, item));
            } else if name == "current" {
                if let Some((_, first)) = current {
                    return Err(KeyError::Duplicate { name, first, item });
                }
                let n = value
                    .strip_prefix("key")
                    .unwrap_or(value)
                    .parse::<u32>()
                    .map_err(|_| KeyError::BadCurrent { item })?;
                current = Some((n, item));
            } else if let Some(number) = name.strip_prefix("key") {
                let id = match number.parse::<u32>() {
                    Ok(id) if id >= 1 && !number.starts_with('+') => id,
                    _ => {
                        return Err(KeyError::BadKeyNumber {
                            item,
                            name: safe_name(&name),
                        })
                    }
                };
                let name = format!("key{id}");
                if let Some(&(_, first)) = keys.get(&id) {
                    return Err(KeyError::Duplicate { name, first, item });
                }
                keys.insert(id, (decode_key(item, &name, value)?, item));
            } else {
                return Err(KeyError::BadItem {
                    item,
                    name: safe_name(&name),
                });
            }
        }
        let Some((lookup, _)) = lookup else {
            return Err(KeyError::MissingLookup);
        };
        Keyring::new(
            lookup,
            keys.into_iter().map(|(id, (key, _))| (id, key)),
            current.map(|(n, _)| n),
        )
    }

    /// The key material as text that [`Keyring::parse`] reads back: one item a line, with
    /// `current:` only when it is not the highest-numbered key.
    pub fn to_text(&self) -> String {
        let mut out = format!("lookup:{}\n", hex::encode(self.lookup_key));
        for (id, entry) in &self.keys {
            out.push_str(&format!("key{id}:{}\n", hex::encode(entry.key)));
        }
        if Some(&self.current) != self.keys.keys().next_back() {
            out.push_str(&format!("current:{}\n", self.current));
        }
        out
    }

    /// Loads the keys: from `env_value` (the value of [`ENV_VAR`]) if given, else from `file`,
    /// else, when `create_if_missing`, from a freshly generated key file written to `file`
    /// (mode 0600 on Unix, written to a temporary name and then linked into place, so a crash
    /// never leaves half a key file and a file another process created first is never
    /// overwritten).
    pub fn load(
        env_value: Option<&str>,
        file: &Path,
        create_if_missing: bool,
    ) -> Result<(Keyring, KeySource), KeyError> {
        if let Some(value) = env_value {
            if value.trim().is_empty() {
                return Err(KeyError::EmptyEnv);
            }
            return Ok((Keyring::parse(value)?, KeySource::Env));
        }
        match read_key_file(file)? {
            Some(keyring) => Ok((keyring, KeySource::File(file.to_path_buf()))),
            None if !create_if_missing => Err(KeyError::NotFound {
                path: file.to_path_buf(),
            }),
            None => {
                let keyring = Keyring::generate();
                let text = format!(
                    "# linli PII keys, generated by linli. Without this file the ID numbers and\n\
                     # phones in the database cannot be read: back it up, apart from the database.\n{}",
                    keyring.to_text()
                );
                if write_new_file(file, text.as_bytes()).map_err(|source| KeyError::Io {
                    path: file.to_path_buf(),
                    source,
                })? {
                    Ok((keyring, KeySource::Created(file.to_path_buf())))
                } else {
                    // Another process created the file first: use its keys.
                    let keyring = read_key_file(file)?.ok_or_else(|| KeyError::NotFound {
                        path: file.to_path_buf(),
                    })?;
                    Ok((keyring, KeySource::File(file.to_path_buf())))
                }
            }
        }
    }

    /// The number of the key used for new writes.
    pub fn current_key_id(&self) -> u32 {
        self.current
    }

    /// The numbers of the keys held, ascending.
    pub fn key_ids(&self) -> Vec<u32> {
        self.keys.keys().copied().collect()
    }

    /// Encrypts `plain` with no associated data. Prefer [`Keyring::encrypt_for`].
    pub fn encrypt(&self, plain: &str) -> Vec<u8> {
        self.encrypt_for("", plain)
    }

    /// Decrypts what [`Keyring::encrypt`] made.
    pub fn decrypt(&self, blob: &[u8]) -> Result<String, PiiError> {
        self.decrypt_for("", blob)
    }

    /// Encrypts `plain` under the current key for the column `field` (e.g. [`FIELD_PHONE`]).
    ///
    /// Layout: 4-byte big-endian key number ‖ 12-byte random nonce ‖ ciphertext ‖ 16-byte tag,
    /// with `field` as associated data. Nonces come from the thread's CSPRNG (reseeded from
    /// the operating system); random 96-bit nonces stay safe for billions of values per key.
    pub fn encrypt_for(&self, field: &str, plain: &str) -> Vec<u8> {
        let entry = &self.keys[&self.current];
        let mut nonce = [0u8; NONCE_LEN];
        rand::thread_rng().fill_bytes(&mut nonce);
        let mut out = Vec::with_capacity(OVERHEAD + plain.len());
        out.extend_from_slice(&self.current.to_be_bytes());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(plain.as_bytes());
        let tag = entry
            .cipher
            .encrypt_in_place_detached(
                Nonce::from_slice(&nonce),
                field.as_bytes(),
                &mut out[ID_LEN + NONCE_LEN..],
            )
            .expect("AES-GCM encrypts any value shorter than 64 GiB");
        out.extend_from_slice(&tag);
        out
    }

    /// Decrypts a value of the column `field`.
    pub fn decrypt_for(&self, field: &str, blob: &[u8]) -> Result<String, PiiError> {
        let id = blob_key_id(blob).ok_or(PiiError::Truncated { len: blob.len() })?;
        if blob.len() < OVERHEAD {
            return Err(PiiError::Truncated { len: blob.len() });
        }
        let entry = self.keys.get(&id).ok_or(PiiError::UnknownKey { id })?;
        let nonce = Nonce::from_slice(&blob[ID_LEN..ID_LEN + NONCE_LEN]);
        let (body, tag) = blob[ID_LEN + NONCE_LEN..].split_at(blob.len() - OVERHEAD);
        let mut plain = body.to_vec();
        entry
            .cipher
            .decrypt_in_place_detached(nonce, field.as_bytes(), &mut plain, Tag::from_slice(tag))
            .map_err(|_| PiiError::Tampered { id })?;
        String::from_utf8(plain).map_err(|_| PiiError::NotText)
    }

    /// Whether `blob` is encrypted under a key other than the current one (or is unreadable),
    /// so a rotation should re-encrypt it.
    pub fn needs_rotation(&self, blob: &[u8]) -> bool {
        blob_key_id(blob) != Some(self.current)
    }

    /// Decrypts `blob` and encrypts it again under the current key.
    pub fn reencrypt_for(&self, field: &str, blob: &[u8]) -> Result<Vec<u8>, PiiError> {
        let plain = self.decrypt_for(field, blob)?;
        Ok(self.encrypt_for(field, &plain))
    }

    /// The search hash of a normalized value of `field`:
    /// HMAC-SHA256(lookup key, field ‖ 0x00 ‖ normalized).
    pub fn lookup(&self, field: &str, normalized: &str) -> [u8; 32] {
        let mut mac = self.lookup_mac.clone();
        mac.update(field.as_bytes());
        mac.update(&[0]);
        mac.update(normalized.as_bytes());
        mac.finalize().into_bytes().into()
    }

    /// [`Keyring::lookup`] in lower-case hex.
    pub fn lookup_hex(&self, field: &str, normalized: &str) -> String {
        hex::encode(self.lookup(field, normalized))
    }

    /// A short check value of the lookup key (16 hex characters), safe to store and to log:
    /// two keyrings with the same fingerprint hash values alike.
    pub fn fingerprint(&self) -> String {
        let mut mac = self.lookup_mac.clone();
        mac.update(b"linli-keycheck");
        hex::encode(&mac.finalize().into_bytes()[..8])
    }
}

/// The key number an encrypted value names, if it is long enough to name one.
pub fn blob_key_id(blob: &[u8]) -> Option<u32> {
    let id: [u8; ID_LEN] = blob.get(..ID_LEN)?.try_into().ok()?;
    Some(u32::from_be_bytes(id))
}

fn held<T>(keys: &BTreeMap<u32, T>) -> String {
    keys.keys()
        .map(|id| format!("key{id}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// An item's name for an error message: the text before any separator, cut short, so that a
/// key pasted without its name is not echoed into a log.
fn safe_name(raw: &str) -> String {
    let name: String = raw.chars().take(12).collect();
    if name.len() < raw.len() {
        format!("{name}…")
    } else {
        name
    }
}

fn decode_key(item: usize, name: &str, value: &str) -> Result<[u8; KEY_LEN], KeyError> {
    if let Some(position) = value.chars().position(|c| !c.is_ascii_hexdigit()) {
        return Err(KeyError::BadHex {
            item,
            name: name.to_string(),
            position: position + 1,
        });
    }
    if value.len() != 2 * KEY_LEN {
        return Err(KeyError::WrongLength {
            item,
            name: name.to_string(),
            chars: value.len(),
            bytes: value.len() / 2,
        });
    }
    let mut key = [0u8; KEY_LEN];
    hex::decode_to_slice(value, &mut key).expect("64 hex digits");
    Ok(key)
}

/// The keyring in `path`, or None when there is no such file.
fn read_key_file(path: &Path) -> Result<Option<Keyring>, KeyError> {
    match std::fs::read_to_string(path) {
        Ok(text) => Keyring::parse(&text)
            .map(Some)
            .map_err(|source| KeyError::InFile {
                path: path.to_path_buf(),
                source: Box::new(source),
            }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(KeyError::Io {
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// Writes `bytes` to `path` unless it exists: to a temporary file beside it (mode 0600 on
/// Unix), flushed to disk, then linked into place. Returns false when `path` already existed.
fn write_new_file(path: &Path, bytes: &[u8]) -> std::io::Result<bool> {
    use std::io::Write;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&dir)?;
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "keys".into());
    let tmp = dir.join(format!(".{file_name}.{}.tmp", std::process::id()));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let result = (|| {
        let mut f = options.open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        drop(f);
        match std::fs::hard_link(&tmp, path) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
            // A file system without hard links: rename, which is atomic but would replace a
            // file created in the meantime, so look first.
            Err(_) if !path.exists() => std::fs::rename(&tmp, path).map(|()| true),
            Err(_) => Ok(false),
        }
    })();
    let _ = std::fs::remove_file(&tmp);
    #[cfg(unix)]
    if let Ok(d) = std::fs::File::open(&dir) {
        let _ = d.sync_all();
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_keys() {
        let k = Keyring::generate();
        let dbg = format!("{k:?}");
        assert!(!dbg.contains(&hex::encode(k.lookup_key)));
        assert!(!dbg.contains(&hex::encode(k.keys[&1].key)));
        assert!(dbg.contains("current: 1"), "{dbg}");
    }
}
