//! A content-addressed store for cleaned photos.
//!
//! A photo lives at `root/ab/cd/<sha256>.<ext>`, named by the SHA-256 of its cleaned
//! bytes: the same photo uploaded twice is stored once, a name never points at different
//! content, and the two directory levels keep any one directory small.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::{CleanImage, Format};

/// Where cleaned photos are kept on disk.
#[derive(Debug, Clone)]
pub struct PhotoStore {
    root: PathBuf,
}

/// What the database needs to record about a stored photo.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredPhoto {
    /// Lowercase hex SHA-256 of the stored bytes.
    pub sha256: String,
    pub format: Format,
    /// File size in bytes.
    pub bytes: u64,
    pub width: u32,
    pub height: u32,
}

impl PhotoStore {
    /// Opens the store at `root`, creating the directory if needed.
    pub fn open(root: impl Into<PathBuf>) -> io::Result<PhotoStore> {
        let root = root.into();
        fs::create_dir_all(&root)?;
        Ok(PhotoStore { root })
    }

    /// The directory the store was opened at.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Stores a cleaned image under its SHA-256 and returns what to record about it.
    ///
    /// The bytes go to a temporary file in the target directory, are fsync'd, then renamed
    /// into place, so a reader never sees a half-written photo and a crash leaves either
    /// nothing or the whole file. Storing the same bytes again changes nothing.
    pub fn put(&self, img: &CleanImage) -> io::Result<StoredPhoto> {
        let sha256 = hex::encode(Sha256::digest(&img.bytes));
        let stored = StoredPhoto {
            sha256,
            format: img.format,
            bytes: img.bytes.len() as u64,
            width: img.width,
            height: img.height,
        };
        let path = self.path_for(&stored.sha256, img.format);
        // Same name means same content: a complete file of the right size is this photo.
        if let Ok(meta) = fs::metadata(&path) {
            if meta.is_file() && meta.len() == stored.bytes {
                return Ok(stored);
            }
        }
        let dir = path
            .parent()
            .ok_or_else(|| io::Error::other("photo path has no parent directory"))?;
        fs::create_dir_all(dir)?;
        let mut tmp = tempfile::Builder::new()
            .prefix(".upload-")
            .suffix(".tmp")
            .tempfile_in(dir)?;
        tmp.write_all(&img.bytes)?;
        tmp.as_file().sync_all()?;
        // Rename over any existing (e.g. truncated by an earlier crash) file: the content
        // for this name is fixed, so replacing it is always correct.
        tmp.persist(&path).map_err(|e| e.error)?;
        sync_dir(dir)?;
        Ok(stored)
    }

    /// Reads a stored photo back. `sha256` must be 64 lowercase hex characters, so no
    /// caller-supplied value can reach outside the store; an absent photo is `NotFound`,
    /// and content that no longer matches its name is `InvalidData`.
    pub fn read(&self, sha256: &str, format: Format) -> io::Result<Vec<u8>> {
        if !is_sha256_hex(sha256) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "a photo id must be 64 lowercase hex characters",
            ));
        }
        let bytes = fs::read(self.path_for(sha256, format))?;
        // Catches disk corruption or tampering before the photo is served.
        if hex::encode(Sha256::digest(&bytes)) != sha256 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "stored photo does not match its SHA-256",
            ));
        }
        Ok(bytes)
    }

    /// `root/ab/cd/<sha>.<ext>`; only called with a validated or computed hash.
    fn path_for(&self, sha256: &str, format: Format) -> PathBuf {
        self.root
            .join(&sha256[0..2])
            .join(&sha256[2..4])
            .join(format!("{sha256}.{}", format.ext()))
    }
}

fn is_sha256_hex(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f'))
}

/// Makes the rename durable: on Unix a rename is only on disk once its directory is synced.
#[cfg(unix)]
fn sync_dir(dir: &Path) -> io::Result<()> {
    fs::File::open(dir)?.sync_all()
}

#[cfg(not(unix))]
fn sync_dir(_dir: &Path) -> io::Result<()> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::is_sha256_hex;

    #[test]
    fn sha_validation() {
        assert!(is_sha256_hex(&"a".repeat(64)));
        assert!(!is_sha256_hex(&"A".repeat(64)));
        assert!(!is_sha256_hex(&"a".repeat(63)));
        assert!(!is_sha256_hex("../../etc/passwd"));
        assert!(!is_sha256_hex(&format!("{}/..", "a".repeat(61))));
    }
}
