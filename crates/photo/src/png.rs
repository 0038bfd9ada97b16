//! PNG: verify every chunk, keep the ones that affect display, drop text and metadata.
//!
//! Kept chunks are copied unchanged (with their own CRC), so the image data is untouched.

use crate::{corrupt, Cleaned, PhotoError, PNG_SIGNATURE};

/// The critical chunks a standard decoder knows. An unknown critical chunk means the file
/// cannot be displayed by standard decoders, so it is refused rather than passed on.
const CRITICAL: &[&[u8; 4]] = &[b"IHDR", b"PLTE", b"IDAT", b"IEND"];

/// Ancillary chunks that change how the image looks (colour, transparency, density,
/// animation) and carry no personal data. Everything else ancillary is dropped: tEXt,
/// zTXt, iTXt, eXIf, tIME, and any private or future chunk.
const KEPT_ANCILLARY: &[&[u8; 4]] = &[
    b"tRNS", b"gAMA", b"cHRM", b"sRGB", b"iCCP", b"cICP", b"mDCV", b"cLLI", b"pHYs", b"sBIT",
    b"bKGD", b"acTL", b"fcTL", b"fdAT",
];

/// The PNG specification caps chunk lengths at 2^31 - 1.
const MAX_CHUNK_LEN: u32 = 0x7FFF_FFFF;

pub(crate) fn clean(b: &[u8]) -> Result<Cleaned, PhotoError> {
    if !b.starts_with(PNG_SIGNATURE) {
        return Err(corrupt("bad PNG signature"));
    }
    let mut out = Vec::with_capacity(b.len());
    out.extend_from_slice(PNG_SIGNATURE);

    let mut pos = PNG_SIGNATURE.len();
    let mut dims: Option<(u32, u32)> = None;
    let mut seen_idat = false;

    loop {
        let Some(head) = b.get(pos..pos + 8) else {
            return Err(corrupt(format!(
                "missing IEND chunk: the PNG ends early at offset {pos}"
            )));
        };
        let len = u32::from_be_bytes([head[0], head[1], head[2], head[3]]);
        let ctype: [u8; 4] = [head[4], head[5], head[6], head[7]];
        let name = String::from_utf8_lossy(&ctype).into_owned();
        if !ctype.iter().all(u8::is_ascii_alphabetic) {
            return Err(corrupt(format!("invalid chunk type at offset {pos}")));
        }
        if len > MAX_CHUNK_LEN {
            return Err(corrupt(format!(
                "chunk {name} at offset {pos} has an invalid length"
            )));
        }
        // Checked against the input before the data is touched: `len` is untrusted.
        let data_start = pos + 8;
        let end = usize::try_from(len)
            .ok()
            .and_then(|l| data_start.checked_add(l))
            .and_then(|e| e.checked_add(4))
            .filter(|&e| e <= b.len())
            .ok_or_else(|| {
                corrupt(format!(
                    "chunk {name} at offset {pos} runs past the end of the file"
                ))
            })?;
        let data_end = end - 4;
        let stored_crc = u32::from_be_bytes([
            b[data_end],
            b[data_end + 1],
            b[data_end + 2],
            b[data_end + 3],
        ]);
        if crc32(&b[pos + 4..data_end]) != stored_crc {
            return Err(corrupt(format!("bad CRC in chunk {name} at offset {pos}")));
        }
        let data = &b[data_start..data_end];
        let chunk = &b[pos..end];

        if dims.is_none() && &ctype != b"IHDR" {
            return Err(corrupt("the first PNG chunk is not IHDR"));
        }
        match &ctype {
            b"IHDR" => {
                if dims.is_some() {
                    return Err(corrupt(format!("second IHDR chunk at offset {pos}")));
                }
                if data.len() != 13 {
                    return Err(corrupt("IHDR chunk has the wrong length"));
                }
                let width = u32::from_be_bytes([data[0], data[1], data[2], data[3]]);
                let height = u32::from_be_bytes([data[4], data[5], data[6], data[7]]);
                dims = Some((width, height));
                out.extend_from_slice(chunk);
            }
            b"IDAT" => {
                seen_idat = true;
                out.extend_from_slice(chunk);
            }
            b"IEND" => {
                if !seen_idat {
                    return Err(corrupt("PNG has no IDAT chunk"));
                }
                out.extend_from_slice(chunk);
                // Data after IEND is dropped: nothing reads it but someone hid it there.
                break;
            }
            t if CRITICAL.contains(&t) || KEPT_ANCILLARY.contains(&t) => {
                out.extend_from_slice(chunk)
            }
            // Bit 5 of the first letter clear (uppercase) marks a critical chunk.
            t if t[0].is_ascii_uppercase() => {
                return Err(corrupt(format!(
                    "unknown critical chunk {name} at offset {pos}"
                )));
            }
            _ => {}
        }
        pos = end;
    }

    let (width, height) = dims.unwrap_or((0, 0));
    // PNG caps both dimensions at 2^31 - 1.
    if width > MAX_CHUNK_LEN || height > MAX_CHUNK_LEN {
        return Err(corrupt(
            "IHDR declares a width or height above the PNG limit",
        ));
    }
    Ok(Cleaned {
        bytes: out,
        width,
        height,
    })
}

/// CRC-32 (ISO-HDLC, as PNG uses) with a table built at compile time.
fn crc32(data: &[u8]) -> u32 {
    const TABLE: [u32; 256] = {
        let mut table = [0u32; 256];
        let mut n = 0;
        while n < 256 {
            let mut c = n as u32;
            let mut k = 0;
            while k < 8 {
                c = if c & 1 != 0 {
                    0xEDB8_8320 ^ (c >> 1)
                } else {
                    c >> 1
                };
                k += 1;
            }
            table[n] = c;
            n += 1;
        }
        table
    };
    let mut c = 0xFFFF_FFFFu32;
    for &byte in data {
        c = TABLE[((c ^ u32::from(byte)) & 0xFF) as usize] ^ (c >> 8);
    }
    c ^ 0xFFFF_FFFF
}

#[cfg(test)]
mod tests {
    use super::crc32;

    #[test]
    fn crc_matches_known_values() {
        assert_eq!(crc32(b""), 0);
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
        assert_eq!(crc32(b"IEND"), 0xAE42_6082);
    }
}
