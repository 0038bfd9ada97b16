//! WebP: rebuild the RIFF container with only the chunks needed to display the image.
//!
//! Kept: VP8X (with its EXIF and XMP flags cleared), VP8, VP8L, ALPH, ANIM, ANMF and ICCP.
//! Dropped: EXIF, XMP and any unknown chunk, at the top level and inside animation frames.
//! The compressed image data is copied unchanged.

use crate::{corrupt, Cleaned, PhotoError};

/// VP8X flag bits (RFC 9649, section 2.7): |Rsv|Rsv|ICC|Alpha|EXIF|XMP|Anim|R|.
const FLAG_EXIF: u8 = 0x08;
const FLAG_XMP: u8 = 0x04;

/// Size of the fixed ANMF header (position, size, duration, flags) before its sub-chunks.
const ANMF_HEADER_LEN: usize = 16;

struct Chunk<'a> {
    fourcc: [u8; 4],
    data: &'a [u8],
    offset: usize,
}

impl Chunk<'_> {
    fn name(&self) -> String {
        String::from_utf8_lossy(&self.fourcc).trim_end().to_owned()
    }
}

pub(crate) fn clean(b: &[u8]) -> Result<Cleaned, PhotoError> {
    if b.len() < 12 || &b[0..4] != b"RIFF" || &b[8..12] != b"WEBP" {
        return Err(corrupt("bad RIFF/WEBP header"));
    }
    let riff_size = u32::from_le_bytes([b[4], b[5], b[6], b[7]]);
    let riff_end = usize::try_from(riff_size)
        .ok()
        .and_then(|s| s.checked_add(8))
        .filter(|&e| e <= b.len())
        .ok_or_else(|| corrupt("the RIFF size runs past the end of the file"))?;
    if riff_end < 12 {
        return Err(corrupt("the RIFF size is too small"));
    }
    // Bytes after the RIFF end are not part of the image and are dropped.
    let chunks = parse_chunks(b, 12, riff_end)?;
    let Some(first) = chunks.first() else {
        return Err(corrupt("the WebP file has no chunks"));
    };

    let (width, height) = match &first.fourcc {
        b"VP8X" => {
            let d = first.data;
            if d.len() < 10 {
                return Err(corrupt("the VP8X chunk is too short"));
            }
            (1 + u24_le(&d[4..7]), 1 + u24_le(&d[7..10]))
        }
        b"VP8 " => vp8_dims(first)?,
        b"VP8L" => vp8l_dims(first)?,
        _ => {
            return Err(corrupt(format!(
                "the first WebP chunk is {} instead of VP8, VP8L or VP8X",
                first.name()
            )))
        }
    };
    let extended = &first.fourcc == b"VP8X";

    let mut out = Vec::with_capacity(b.len());
    out.extend_from_slice(b"RIFF\0\0\0\0WEBP");
    let mut has_image = false;
    for (i, c) in chunks.iter().enumerate() {
        match &c.fourcc {
            b"VP8X" if i == 0 => {
                let mut d = c.data.to_vec();
                d[0] &= !(FLAG_EXIF | FLAG_XMP);
                write_chunk(&mut out, b"VP8X", &d);
            }
            b"VP8 " => {
                // Validates the frame header even when VP8X gave the size.
                vp8_dims(c)?;
                has_image = true;
                write_chunk(&mut out, &c.fourcc, c.data);
            }
            b"VP8L" => {
                vp8l_dims(c)?;
                has_image = true;
                write_chunk(&mut out, &c.fourcc, c.data);
            }
            b"ANMF" if extended => {
                let frame = clean_anmf(b, c)?;
                has_image = true;
                write_chunk(&mut out, b"ANMF", &frame);
            }
            b"ALPH" | b"ANIM" | b"ICCP" if extended => write_chunk(&mut out, &c.fourcc, c.data),
            // EXIF, XMP, unknown chunks, a second VP8X, and extended-only chunks in a simple
            // file (which decoders ignore there).
            _ => {}
        }
    }
    if !has_image {
        return Err(corrupt("the WebP file has no image data"));
    }
    // The output is no larger than the input, whose RIFF size fitted in 32 bits.
    let size =
        u32::try_from(out.len() - 8).map_err(|_| corrupt("the cleaned WebP file is too large"))?;
    out[4..8].copy_from_slice(&size.to_le_bytes());
    Ok(Cleaned {
        bytes: out,
        width,
        height,
    })
}

/// Splits `b[start..end]` into RIFF chunks, checking every size against `end` before use.
/// An odd-sized chunk is followed by one padding byte, which must be there.
fn parse_chunks(b: &[u8], start: usize, end: usize) -> Result<Vec<Chunk<'_>>, PhotoError> {
    let mut chunks = Vec::new();
    let mut pos = start;
    while pos < end {
        if end - pos < 8 {
            return Err(corrupt(format!("chunk header at offset {pos} is cut off")));
        }
        let fourcc = [b[pos], b[pos + 1], b[pos + 2], b[pos + 3]];
        let size = u32::from_le_bytes([b[pos + 4], b[pos + 5], b[pos + 6], b[pos + 7]]);
        let name = || String::from_utf8_lossy(&fourcc).trim_end().to_owned();
        let data_start = pos + 8;
        let data_end = usize::try_from(size)
            .ok()
            .and_then(|s| data_start.checked_add(s))
            .filter(|&e| e <= end)
            .ok_or_else(|| {
                corrupt(format!(
                    "chunk {} at offset {pos} runs past the end of its container",
                    name()
                ))
            })?;
        let padded_end = data_end + (data_end - data_start) % 2;
        if padded_end > end {
            return Err(corrupt(format!(
                "chunk {} at offset {pos} lacks its padding byte",
                name()
            )));
        }
        chunks.push(Chunk {
            fourcc,
            data: &b[data_start..data_end],
            offset: pos,
        });
        pos = padded_end;
    }
    Ok(chunks)
}

/// Rebuilds an animation frame with only its image sub-chunks.
fn clean_anmf(file: &[u8], c: &Chunk<'_>) -> Result<Vec<u8>, PhotoError> {
    if c.data.len() < ANMF_HEADER_LEN {
        return Err(corrupt(format!(
            "ANMF chunk at offset {} is too short",
            c.offset
        )));
    }
    let data_start = c.offset + 8;
    let subs = parse_chunks(
        file,
        data_start + ANMF_HEADER_LEN,
        data_start + c.data.len(),
    )?;
    let mut frame = c.data[..ANMF_HEADER_LEN].to_vec();
    let mut has_image = false;
    for s in &subs {
        match &s.fourcc {
            b"VP8 " => {
                vp8_dims(s)?;
                has_image = true;
            }
            b"VP8L" => {
                vp8l_dims(s)?;
                has_image = true;
            }
            b"ALPH" => {}
            _ => continue,
        }
        write_chunk(&mut frame, &s.fourcc, s.data);
    }
    if !has_image {
        return Err(corrupt(format!(
            "ANMF chunk at offset {} has no image data",
            c.offset
        )));
    }
    Ok(frame)
}

fn write_chunk(out: &mut Vec<u8>, fourcc: &[u8; 4], data: &[u8]) {
    out.extend_from_slice(fourcc);
    // Every chunk comes from an input whose RIFF size fitted in 32 bits.
    out.extend_from_slice(&(data.len() as u32).to_le_bytes());
    out.extend_from_slice(data);
    if data.len() % 2 == 1 {
        out.push(0);
    }
}

fn u24_le(b: &[u8]) -> u32 {
    u32::from(b[0]) | u32::from(b[1]) << 8 | u32::from(b[2]) << 16
}

/// Size from a VP8 key frame header: 3-byte frame tag, start code 9D 01 2A, then 14-bit
/// width and height (the top two bits are a scaling hint).
fn vp8_dims(c: &Chunk<'_>) -> Result<(u32, u32), PhotoError> {
    let d = c.data;
    if d.len() < 10 {
        return Err(corrupt(format!(
            "VP8 chunk at offset {} is too short",
            c.offset
        )));
    }
    if d[0] & 1 != 0 || d[3..6] != [0x9D, 0x01, 0x2A] {
        return Err(corrupt(format!(
            "VP8 chunk at offset {} does not start with a key frame",
            c.offset
        )));
    }
    let width = u32::from(u16::from_le_bytes([d[6], d[7]]) & 0x3FFF);
    let height = u32::from(u16::from_le_bytes([d[8], d[9]]) & 0x3FFF);
    Ok((width, height))
}

/// Size from a VP8L header: signature 0x2F, then 14 bits width-1, 14 bits height-1,
/// 1 alpha bit and a 3-bit version that must be 0.
fn vp8l_dims(c: &Chunk<'_>) -> Result<(u32, u32), PhotoError> {
    let d = c.data;
    if d.len() < 5 || d[0] != 0x2F {
        return Err(corrupt(format!(
            "VP8L chunk at offset {} has a bad header",
            c.offset
        )));
    }
    let bits = u32::from_le_bytes([d[1], d[2], d[3], d[4]]);
    if bits >> 29 != 0 {
        return Err(corrupt(format!(
            "VP8L chunk at offset {} has an unknown version",
            c.offset
        )));
    }
    Ok(((bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1))
}
