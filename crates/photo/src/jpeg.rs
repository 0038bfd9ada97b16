//! JPEG: walk the marker segments, keep what decoding and colour need, drop the rest.
//!
//! The entropy-coded data is copied byte for byte, so the pixels are exactly those of the
//! upload. Kept: SOI, APP0 JFIF (without its thumbnail), APP2 ICC_PROFILE, APP14 Adobe,
//! DQT, DHT, DAC, SOFn, DRI, DNL, SOS with its scan data, RSTn, EOI. Everything else is
//! dropped: a whitelist, because a new vendor segment is more likely to hold personal data
//! than to be needed for display.

use crate::{corrupt, Cleaned, PhotoError};

const EXIF_HEADER: &[u8] = b"Exif\0\0";
const TAG_ORIENTATION: u16 = 0x0112;
const TYPE_SHORT: u16 = 3;

pub(crate) fn clean(b: &[u8]) -> Result<Cleaned, PhotoError> {
    if !b.starts_with(&[0xFF, 0xD8]) {
        return Err(corrupt("missing JPEG start-of-image marker"));
    }
    // The output is never much larger than the input (at most one 36-byte Exif segment
    // replaces a larger one), so the input length bounds this allocation.
    let mut out = Vec::with_capacity(b.len());
    out.extend_from_slice(&[0xFF, 0xD8]);

    let mut pos = 2;
    let mut dims: Option<(u32, u32)> = None;
    let mut seen_scan = false;
    let mut seen_exif = false;
    let mut seen_jfif = false;

    loop {
        if pos >= b.len() {
            return Err(corrupt("missing EOI marker: the JPEG ends early"));
        }
        if b[pos] != 0xFF {
            return Err(corrupt(format!("expected a JPEG marker at offset {pos}")));
        }
        // Any number of 0xFF fill bytes may precede a marker.
        let mut m = pos + 1;
        while m < b.len() && b[m] == 0xFF {
            m += 1;
        }
        let Some(&marker) = b.get(m) else {
            return Err(corrupt("missing EOI marker: the JPEG ends early"));
        };
        let seg_start = m - 1;
        pos = m + 1;

        match marker {
            0xD9 => {
                if !seen_scan {
                    return Err(corrupt(format!(
                        "EOI at offset {seg_start} before any image data"
                    )));
                }
                // Anything after EOI (vendor trailers, appended files, extra MPF images)
                // is dropped with it.
                out.extend_from_slice(&[0xFF, 0xD9]);
                break;
            }
            0xD8 => {
                return Err(corrupt(format!("second SOI marker at offset {seg_start}")));
            }
            0x00 => {
                return Err(corrupt(format!(
                    "stuffed byte outside image data at offset {seg_start}"
                )));
            }
            // Stand-alone markers without a length field.
            0x01 | 0xD0..=0xD7 => {
                out.extend_from_slice(&[0xFF, marker]);
                continue;
            }
            _ => {}
        }

        let Some(len_bytes) = b.get(pos..pos + 2) else {
            return Err(corrupt(format!(
                "segment 0xFF{marker:02X} at offset {seg_start} is cut off"
            )));
        };
        let len = usize::from(u16::from_be_bytes([len_bytes[0], len_bytes[1]]));
        if len < 2 {
            return Err(corrupt(format!(
                "segment 0xFF{marker:02X} at offset {seg_start} has an invalid length {len}"
            )));
        }
        let end = pos + len;
        if end > b.len() {
            return Err(corrupt(format!(
                "segment 0xFF{marker:02X} at offset {seg_start} runs past the end of the file"
            )));
        }
        let segment = &b[seg_start..end];
        let payload = &b[pos + 2..end];
        pos = end;

        match marker {
            // APP0: only JFIF is kept, rewritten without its thumbnail (a thumbnail can
            // show what was cropped out of the photo). JFXX and others are dropped below.
            0xE0 if !seen_jfif && payload.len() >= 14 && payload.starts_with(b"JFIF\0") => {
                seen_jfif = true;
                out.extend_from_slice(&[0xFF, 0xE0, 0x00, 0x10]);
                out.extend_from_slice(&payload[..12]);
                out.extend_from_slice(&[0, 0]);
            }
            // APP1: Exif or XMP. Dropped, except that the orientation of the first Exif
            // segment is written back, or phone photos would display sideways.
            0xE1 if !seen_exif && payload.starts_with(EXIF_HEADER) => {
                seen_exif = true;
                match exif_orientation(&payload[EXIF_HEADER.len()..]) {
                    Some(o) if o != 1 => out.extend_from_slice(&minimal_exif(o)),
                    _ => {}
                }
            }
            // APP2: colour profiles change how the photo looks; FlashPix and MPF (extra
            // images) do not belong in an upload.
            0xE2 if payload.starts_with(b"ICC_PROFILE\0") => out.extend_from_slice(segment),
            // APP14 Adobe says how to convert YCCK/CMYK to colour; dropping it would change
            // the colours of such files. Only its fixed 12 bytes are kept.
            0xEE if payload.len() >= 12 && payload.starts_with(b"Adobe") => {
                out.extend_from_slice(&[0xFF, 0xEE, 0x00, 0x0E]);
                out.extend_from_slice(&payload[..12]);
            }
            // Every other APPn (APP1 XMP, APP2 FlashPix/MPF, APP13 IPTC/Photoshop, ...) and
            // COM comments.
            0xE0..=0xEF | 0xFE => {}
            // Tables and restart interval: needed to decode.
            0xDB | 0xC4 | 0xCC | 0xDD | 0xDC => out.extend_from_slice(segment),
            // Start of frame, any coding process.
            0xC0..=0xC3 | 0xC5..=0xC7 | 0xC9..=0xCB | 0xCD..=0xCF => {
                let frame = read_sof(payload, seg_start)?;
                // A hierarchical JPEG has several frames; the first one gives the size.
                dims.get_or_insert(frame);
                out.extend_from_slice(segment);
            }
            0xDA => {
                if dims.is_none() {
                    return Err(corrupt(format!(
                        "scan at offset {seg_start} before any frame header"
                    )));
                }
                out.extend_from_slice(segment);
                let scan_end = entropy_end(b, pos)?;
                out.extend_from_slice(&b[pos..scan_end]);
                pos = scan_end;
                seen_scan = true;
            }
            // Reserved and extension markers (JPGn, DHP, EXP, ...): not needed by baseline or
            // progressive decoders, and could carry anything.
            _ => {}
        }
    }

    let (width, height) = dims.unwrap_or((0, 0));
    Ok(Cleaned {
        bytes: out,
        width,
        height,
    })
}

/// Width and height from a start-of-frame payload.
fn read_sof(payload: &[u8], offset: usize) -> Result<(u32, u32), PhotoError> {
    let bad = || corrupt(format!("frame header at offset {offset} is too short"));
    if payload.len() < 6 {
        return Err(bad());
    }
    let components = usize::from(payload[5]);
    if payload.len() < 6 + 3 * components {
        return Err(bad());
    }
    let height = u32::from(u16::from_be_bytes([payload[1], payload[2]]));
    let width = u32::from(u16::from_be_bytes([payload[3], payload[4]]));
    Ok((width, height))
}

/// The offset of the marker that ends the entropy-coded data starting at `start`.
///
/// Inside scan data 0xFF is followed by 0x00 (a stuffed byte), by RST0..RST7, or by more
/// 0xFF fill bytes; any other byte after 0xFF is the next marker.
fn entropy_end(b: &[u8], start: usize) -> Result<usize, PhotoError> {
    let truncated = || corrupt("missing EOI marker: the image data is cut off");
    let mut i = start;
    loop {
        let Some(k) = b[i..].iter().position(|&c| c == 0xFF) else {
            return Err(truncated());
        };
        let ff = i + k;
        let Some(&next) = b.get(ff + 1) else {
            return Err(truncated());
        };
        match next {
            0x00 | 0xD0..=0xD7 => i = ff + 2,
            0xFF => i = ff + 1,
            _ => return Ok(ff),
        }
    }
}

/// Reads the Orientation tag from IFD0 of an Exif TIFF block. Every offset is checked;
/// a malformed block just yields `None` (the block is dropped anyway).
fn exif_orientation(tiff: &[u8]) -> Option<u16> {
    let big_endian = match tiff.get(0..2)? {
        b"MM" => true,
        b"II" => false,
        _ => return None,
    };
    let u16_at = |o: usize| -> Option<u16> {
        let s = tiff.get(o..o.checked_add(2)?)?;
        let a = [s[0], s[1]];
        Some(if big_endian {
            u16::from_be_bytes(a)
        } else {
            u16::from_le_bytes(a)
        })
    };
    let u32_at = |o: usize| -> Option<u32> {
        let s = tiff.get(o..o.checked_add(4)?)?;
        let a = [s[0], s[1], s[2], s[3]];
        Some(if big_endian {
            u32::from_be_bytes(a)
        } else {
            u32::from_le_bytes(a)
        })
    };
    if u16_at(2)? != 42 {
        return None;
    }
    let ifd0 = usize::try_from(u32_at(4)?).ok()?;
    let count = usize::from(u16_at(ifd0)?);
    for k in 0..count {
        let entry = ifd0.checked_add(2 + 12 * k)?;
        if u16_at(entry)? != TAG_ORIENTATION {
            continue;
        }
        if u16_at(entry + 2)? != TYPE_SHORT || u32_at(entry + 4)? != 1 {
            return None;
        }
        let value = u16_at(entry + 8)?;
        return (1..=8).contains(&value).then_some(value);
    }
    None
}

/// A complete APP1 segment whose Exif holds only IFD0 with one entry, Orientation.
/// Big-endian TIFF: header (8) + entry count (2) + one entry (12) + next-IFD offset (4).
fn minimal_exif(orientation: u16) -> Vec<u8> {
    let [hi, lo] = orientation.to_be_bytes();
    let mut seg = vec![0xFF, 0xE1, 0x00, 0x22];
    seg.extend_from_slice(EXIF_HEADER);
    seg.extend_from_slice(b"MM\x00\x2A\x00\x00\x00\x08");
    seg.extend_from_slice(&[0x00, 0x01]);
    seg.extend_from_slice(&[0x01, 0x12, 0x00, 0x03, 0x00, 0x00, 0x00, 0x01, hi, lo, 0, 0]);
    seg.extend_from_slice(&[0, 0, 0, 0]);
    seg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minimal_exif_reads_back() {
        for o in 1..=8 {
            let seg = minimal_exif(o);
            assert_eq!(seg.len(), 2 + 0x22);
            assert_eq!(exif_orientation(&seg[4 + EXIF_HEADER.len()..]), Some(o));
        }
    }

    #[test]
    fn little_endian_orientation() {
        let tiff = [
            b'I', b'I', 42, 0, 8, 0, 0, 0, 1, 0, 0x12, 0x01, 3, 0, 1, 0, 0, 0, 6, 0, 0, 0, 0, 0, 0,
            0,
        ];
        assert_eq!(exif_orientation(&tiff), Some(6));
    }

    #[test]
    fn hostile_ifd_offsets_give_none() {
        let tiff = [b'M', b'M', 0, 42, 0xFF, 0xFF, 0xFF, 0xF0];
        assert_eq!(exif_orientation(&tiff), None);
        let tiff = [b'M', b'M', 0, 42, 0, 0, 0, 8, 0xFF, 0xFF];
        assert_eq!(exif_orientation(&tiff), None);
    }
}
