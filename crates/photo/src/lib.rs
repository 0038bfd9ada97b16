//! Checks and cleans photos uploaded by residents and workers, before anyone else can
//! download them.
//!
//! A phone photo carries far more than pixels. Its Exif block holds the GPS position where
//! it was taken (for a photo of a leaking pipe, that is where the resident lives), the
//! camera make, model and serial number, the owner's name, the time, and often a thumbnail
//! of the photo as it was *before* it was cropped. XMP packets, IPTC records, comments and
//! PNG text chunks carry the same kind of data. Under PIPL such data is personal
//! information; the platform does not need it, so it must not pass on to whoever views the
//! photo.
//!
//! [`clean`] decides the format from the bytes themselves (never from a file name or a
//! client-sent type), accepts only JPEG, PNG and WebP, and rebuilds the file without its
//! metadata **losslessly**: container structures are rewritten, pixels are never decoded or
//! re-encoded, so quality is kept and no decoder bug can be reached here.
//!
//! What is removed:
//! - JPEG: APP1 (Exif, XMP), APP2 other than ICC profiles (FlashPix, MPF extra images),
//!   APP3..APP15 (APP13 is IPTC/Photoshop) except the fixed 12-byte Adobe APP14 colour
//!   transform, COM comments, any non-JFIF APP0, the JFIF thumbnail, and everything after
//!   EOI (vendor trailers, appended files). Exif
//!   Orientation is the exception: phones store rotation there, so when it is not 1 a
//!   minimal Exif segment holding only that tag is written back, otherwise photos would
//!   show sideways.
//! - PNG: `eXIf`, `tEXt`, `zTXt`, `iTXt`, `tIME` and every unknown ancillary chunk;
//!   display-relevant chunks (colour, transparency, density, animation) are kept.
//! - WebP: `EXIF`, `XMP ` and unknown chunks; the VP8X flags and RIFF size are fixed up.
//!
//! Anything malformed (a length running past the end, a bad CRC, a missing end marker) is
//! refused as [`PhotoError::Corrupt`] rather than passed on: a file this crate cannot walk
//! completely is a file whose metadata it cannot vouch for.
//!
//! [`PhotoStore`] then keeps cleaned photos on disk under their SHA-256.

mod jpeg;
mod png;
mod store;
mod webp;

use std::fmt;

pub use store::{PhotoStore, StoredPhoto};

/// Upper bounds checked before any work is done, so a hostile upload cannot make the
/// server parse or later decode an enormous image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest accepted upload, in bytes; checked before parsing.
    pub max_bytes: usize,
    /// Largest accepted width × height; checked once the header has been read, since a
    /// few kilobytes can declare a gigapixel image that would exhaust memory when decoded.
    pub max_pixels: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_bytes: 10 * 1024 * 1024,
            max_pixels: 50_000_000,
        }
    }
}

/// An accepted image format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    Jpeg,
    Png,
    Webp,
}

impl Format {
    /// The MIME type to serve the cleaned file with.
    pub fn mime(self) -> &'static str {
        match self {
            Format::Jpeg => "image/jpeg",
            Format::Png => "image/png",
            Format::Webp => "image/webp",
        }
    }

    /// The file extension used on disk and in downloads.
    pub fn ext(self) -> &'static str {
        match self {
            Format::Jpeg => "jpg",
            Format::Png => "png",
            Format::Webp => "webp",
        }
    }

    /// A stable name for a database column; [`Format::parse`] reads it back.
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Jpeg => "jpeg",
            Format::Png => "png",
            Format::Webp => "webp",
        }
    }

    /// The inverse of [`Format::as_str`]; exact match only, so a stored value cannot
    /// silently mean two things.
    pub fn parse(s: &str) -> Option<Format> {
        match s {
            "jpeg" => Some(Format::Jpeg),
            "png" => Some(Format::Png),
            "webp" => Some(Format::Webp),
            _ => None,
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A photo whose metadata has been removed, ready to be stored and served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CleanImage {
    pub bytes: Vec<u8>,
    pub format: Format,
    pub width: u32,
    pub height: u32,
}

/// Why an upload was refused. [`PhotoError::code`] gives a stable machine-readable code;
/// the `Display` text is a short English sentence for logs and users.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PhotoError {
    #[error("the file is empty")]
    Empty,
    #[error("the file is {size} bytes, more than the limit of {max} bytes")]
    TooLarge { size: usize, max: usize },
    #[error("the file is not a JPEG, PNG or WebP image")]
    NotAnImage,
    #[error("{format} images are not accepted; upload a JPEG, PNG or WebP photo")]
    Unsupported { format: &'static str },
    #[error("the image is damaged: {detail}")]
    Corrupt { detail: String },
    #[error("the image is {width}x{height} pixels, more than the limit of {max} pixels")]
    TooManyPixels { width: u32, height: u32, max: u64 },
}

impl PhotoError {
    /// A stable snake_case code for API responses and metrics.
    pub fn code(&self) -> &'static str {
        match self {
            PhotoError::Empty => "photo_empty",
            PhotoError::TooLarge { .. } => "photo_too_large",
            PhotoError::NotAnImage => "photo_not_image",
            PhotoError::Unsupported { .. } => "photo_unsupported",
            PhotoError::Corrupt { .. } => "photo_corrupt",
            PhotoError::TooManyPixels { .. } => "photo_too_many_pixels",
        }
    }
}

/// Shorthand used by the format modules.
pub(crate) fn corrupt(detail: impl Into<String>) -> PhotoError {
    PhotoError::Corrupt {
        detail: detail.into(),
    }
}

/// What a format module returns: the rebuilt file and the dimensions from its header.
pub(crate) struct Cleaned {
    pub bytes: Vec<u8>,
    pub width: u32,
    pub height: u32,
}

/// Checks `bytes` and returns the same image without identifying metadata, or the reason
/// it was refused.
pub fn clean(bytes: &[u8], limits: &Limits) -> Result<CleanImage, PhotoError> {
    if bytes.is_empty() {
        return Err(PhotoError::Empty);
    }
    // Before any parsing: the cost of everything below grows with the input.
    if bytes.len() > limits.max_bytes {
        return Err(PhotoError::TooLarge {
            size: bytes.len(),
            max: limits.max_bytes,
        });
    }
    let format = sniff(bytes)?;
    let cleaned = match format {
        Format::Jpeg => jpeg::clean(bytes)?,
        Format::Png => png::clean(bytes)?,
        Format::Webp => webp::clean(bytes)?,
    };
    if cleaned.width == 0 || cleaned.height == 0 {
        return Err(corrupt(format!(
            "the {} header declares a size of {}x{}",
            format.as_str(),
            cleaned.width,
            cleaned.height
        )));
    }
    if u64::from(cleaned.width) * u64::from(cleaned.height) > limits.max_pixels {
        return Err(PhotoError::TooManyPixels {
            width: cleaned.width,
            height: cleaned.height,
            max: limits.max_pixels,
        });
    }
    Ok(CleanImage {
        bytes: cleaned.bytes,
        format,
        width: cleaned.width,
        height: cleaned.height,
    })
}

const PNG_SIGNATURE: &[u8; 8] = b"\x89PNG\r\n\x1a\n";

/// Decides the format from magic bytes. Formats that are recognised but refused get
/// `Unsupported`, so the user can be told to convert rather than that the file is not a
/// picture.
fn sniff(b: &[u8]) -> Result<Format, PhotoError> {
    if b.starts_with(&[0xFF, 0xD8, 0xFF]) {
        return Ok(Format::Jpeg);
    }
    if b.starts_with(PNG_SIGNATURE) {
        return Ok(Format::Png);
    }
    if b.len() >= 12 && &b[0..4] == b"RIFF" && &b[8..12] == b"WEBP" {
        return Ok(Format::Webp);
    }
    let unsupported = |format| Err(PhotoError::Unsupported { format });
    if b.starts_with(b"GIF87a") || b.starts_with(b"GIF89a") {
        return unsupported("GIF");
    }
    // Classic TIFF and BigTIFF, both byte orders (also the container of most raw formats).
    if [b"II*\0", b"MM\0*", b"II+\0", b"MM\0+"]
        .iter()
        .any(|m| b.starts_with(&m[..]))
    {
        return unsupported("TIFF");
    }
    if let Some(brand) = iso_bmff_image_brand(b) {
        return unsupported(brand);
    }
    if is_bmp(b) {
        return unsupported("BMP");
    }
    if is_svg(b) {
        return unsupported("SVG");
    }
    Err(PhotoError::NotAnImage)
}

/// HEIC/HEIF/AVIF are ISO-BMFF files whose `ftyp` box names an image brand; a video with
/// an `ftyp` box (MP4, MOV) is not an image at all.
fn iso_bmff_image_brand(b: &[u8]) -> Option<&'static str> {
    if b.len() < 16 || &b[4..8] != b"ftyp" {
        return None;
    }
    let box_len = u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize;
    // Major brand at 8..12, minor version at 12..16, compatible brands after.
    let end = box_len.clamp(12, b.len());
    let mut brands = vec![&b[8..12]];
    let mut i = 16;
    while i + 4 <= end {
        brands.push(&b[i..i + 4]);
        i += 4;
    }
    let heif: &[&[u8]] = &[
        b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"mif1", b"msf1", b"heif",
    ];
    let avif: &[&[u8]] = &[b"avif", b"avis"];
    // AVIF first: AVIF files also list the generic "mif1" brand.
    if brands.iter().any(|br| avif.contains(br)) {
        Some("AVIF")
    } else if brands.iter().any(|br| heif.contains(br)) {
        Some("HEIC/HEIF")
    } else {
        None
    }
}

/// "BM" alone is too weak (a text file may start with it), so the DIB header size must be
/// one of the known values as well.
fn is_bmp(b: &[u8]) -> bool {
    if b.len() < 18 || !b.starts_with(b"BM") {
        return false;
    }
    let dib = u32::from_le_bytes([b[14], b[15], b[16], b[17]]);
    matches!(dib, 12 | 16 | 40 | 52 | 56 | 64 | 108 | 124)
}

/// SVG is XML text and may carry script, so it is refused outright; it is recognised
/// only to give a clearer message.
fn is_svg(b: &[u8]) -> bool {
    let b = b.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(b);
    let start = b.iter().position(|c| !c.is_ascii_whitespace());
    let Some(start) = start else { return false };
    if b[start] != b'<' {
        return false;
    }
    let head = &b[start..b.len().min(start + 4096)];
    head.windows(4).any(|w| w.eq_ignore_ascii_case(b"<svg"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_names_round_trip() {
        for f in [Format::Jpeg, Format::Png, Format::Webp] {
            assert_eq!(Format::parse(f.as_str()), Some(f));
        }
        assert_eq!(Format::parse("JPEG"), None);
        assert_eq!(Format::parse("gif"), None);
    }

    #[test]
    fn mp4_is_not_an_image() {
        let mut mp4 = vec![0, 0, 0, 0x18];
        mp4.extend_from_slice(b"ftypisom\0\0\0\0isomiso2");
        assert_eq!(sniff(&mp4), Err(PhotoError::NotAnImage));
    }

    #[test]
    fn bm_text_is_not_bmp() {
        assert_eq!(
            sniff(b"BMW owners club minutes"),
            Err(PhotoError::NotAnImage)
        );
    }
}
