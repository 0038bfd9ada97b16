//! Reading origins (`id,lon,lat`) and facilities (`id,type,lon,lat`) from CSV. The header
//! names the columns (any order; other columns are ignored). Every bad row is reported with
//! its line, and a file with any bad row is refused whole.

use std::collections::HashMap;
use std::path::Path;

use rayon::prelude::*;

use crate::error::{io, AccessError, Problem, Result};
use crate::fasthash::FastSet;
use crate::geo::valid_position;
use crate::network::line_chunks;

/// A point from a CSV file: an origin (no type) or a facility.
#[derive(Debug, Clone, PartialEq)]
pub struct Place {
    pub id: String,
    pub kind: Option<String>,
    pub lon: f64,
    pub lat: f64,
}

/// Origins: columns `id`, `lon`, `lat`.
pub fn read_origins(path: &Path) -> Result<Vec<Place>> {
    let bytes = std::fs::read(path).map_err(io(path))?;
    parse(path, &bytes, false)
}

/// Facilities: columns `id`, `type`, `lon`, `lat`.
pub fn read_facilities(path: &Path) -> Result<Vec<Place>> {
    let bytes = std::fs::read(path).map_err(io(path))?;
    parse(path, &bytes, true)
}

pub fn parse(path: &Path, bytes: &[u8], typed: bool) -> Result<Vec<Place>> {
    match plain_places(bytes, typed) {
        Some(places) => Ok(places),
        None => parse_checked(path, bytes, typed),
    }
}

fn columns(typed: bool) -> &'static [&'static str] {
    if typed {
        &["id", "type", "lon", "lat"]
    } else {
        &["id", "lon", "lat"]
    }
}

/// One row of a plain file: id, type, lon, lat, borrowed from the file.
type PlainRow<'a> = (&'a str, Option<&'a str>, f64, f64);

/// The places of a plain file (a header of printable ASCII, then rows with no quotes, no
/// bare carriage returns, no empty lines, every row valid and every id new), read in
/// parallel pieces; `None` at the first thing out of the ordinary, for [`parse_checked`]
/// to read the file again and report every bad row. The CSV reader's records, and a
/// string hash of every id, took a tenth of a large command's time.
fn plain_places(bytes: &[u8], typed: bool) -> Option<Vec<Place>> {
    let header_end = bytes.iter().position(|&b| b == b'\n')?;
    let header = bytes[..header_end]
        .strip_suffix(b"\r")
        .unwrap_or(&bytes[..header_end]);
    // Printable ASCII (and tabs) only: then trimming spaces and tabs is all the trimming
    // the checked reader does, and a byte-order mark goes to it.
    if !header
        .iter()
        .all(|&b| b == b'\t' || (b' '..=b'~').contains(&b) && b != b'"')
    {
        return None;
    }
    let names: Vec<&[u8]> = header
        .split(|&b| b == b',')
        .map(crate::network::trim_blanks)
        .collect();
    let at: Vec<usize> = columns(typed)
        .iter()
        .map(|c| {
            names
                .iter()
                .position(|h| h.eq_ignore_ascii_case(c.as_bytes()))
        })
        .collect::<Option<_>>()?;
    let (c_id, c_type, c_lon, c_lat) = if typed {
        (at[0], Some(at[1]), at[2], at[3])
    } else {
        (at[0], None, at[1], at[2])
    };
    let chunks: Vec<Vec<PlainRow>> = line_chunks(&bytes[header_end + 1..])
        .par_iter()
        .map(|chunk| {
            let mut rows = Vec::with_capacity(chunk.len() / 32 + 1);
            let mut cells: Vec<&str> = Vec::new();
            for line in chunk.split(|&b| b == b'\n') {
                let line = line.strip_suffix(b"\r").unwrap_or(line);
                if line.is_empty() || line.iter().any(|&b| b == b'"' || b == b'\r') {
                    return None;
                }
                cells.clear();
                cells.extend(std::str::from_utf8(line).ok()?.split(',').map(str::trim));
                let cell = |c: usize| cells.get(c).copied().unwrap_or("");
                let number = |c: usize| cell(c).parse::<f64>().ok().filter(|x| x.is_finite());
                let (id, kind) = (cell(c_id), c_type.map(cell));
                let (lon, lat) = (number(c_lon)?, number(c_lat)?);
                if id.is_empty() || kind == Some("") || !valid_position(lon, lat) {
                    return None;
                }
                rows.push((id, kind, lon, lat));
            }
            Some(rows)
        })
        .collect::<Option<_>>()?;
    let count = chunks.iter().map(Vec::len).sum();
    let mut seen: FastSet<&str> = FastSet::with_capacity_and_hasher(count, Default::default());
    let mut places = Vec::with_capacity(count);
    for &(id, kind, lon, lat) in chunks.iter().flatten() {
        if !seen.insert(id) {
            return None;
        }
        places.push(Place {
            id: id.to_string(),
            kind: kind.map(str::to_string),
            lon,
            lat,
        });
    }
    Some(places)
}

/// [`parse`] through the CSV reader, row by row, reporting every bad row.
pub fn parse_checked(path: &Path, bytes: &[u8], typed: bool) -> Result<Vec<Place>> {
    let columns = columns(typed);
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .from_reader(bytes);
    let header = reader
        .headers()
        .map_err(|e| AccessError::NotCsv {
            path: path.to_path_buf(),
            detail: e.to_string(),
        })?
        .clone();
    let at: Vec<Option<usize>> = columns
        .iter()
        .map(|c| {
            header.iter().position(|h| {
                h.trim()
                    .trim_start_matches('\u{feff}')
                    .eq_ignore_ascii_case(c)
            })
        })
        .collect();
    if at.iter().any(Option::is_none) {
        return Err(AccessError::BadHeader {
            path: path.to_path_buf(),
            expected: columns.join(","),
            found: header.iter().collect::<Vec<_>>().join(","),
        });
    }
    let col = |name: &str| at[columns.iter().position(|c| *c == name).unwrap_or(0)].unwrap_or(0);
    let (c_id, c_lon, c_lat) = (col("id"), col("lon"), col("lat"));
    let c_type = typed.then(|| col("type"));

    let mut places = Vec::new();
    let mut problems = Vec::new();
    let mut first_line_of: HashMap<String, usize> = HashMap::new();
    for (i, row) in reader.records().enumerate() {
        let line = i + 2;
        let row = match row {
            Ok(r) => r,
            Err(e) => {
                problems.push(Problem {
                    at: format!("line {line}"),
                    what: e.to_string(),
                });
                continue;
            }
        };
        let cell = |c: usize| row.get(c).unwrap_or("").trim();
        let mut bad = |column: &str, what: String| {
            problems.push(Problem {
                at: format!("line {line}, column {column}"),
                what,
            })
        };
        let id = cell(c_id);
        if id.is_empty() {
            bad("id", "the id is empty".into());
        } else if let Some(first) = first_line_of.get(id) {
            bad(
                "id",
                format!("the id {id:?} is already on line {first}; ids must be unique"),
            );
        }
        let kind = c_type.map(|c| cell(c).to_string());
        if kind.as_deref() == Some("") {
            bad("type", "the type is empty".into());
        }
        let number = |c: usize| cell(c).parse::<f64>().ok().filter(|x| x.is_finite());
        let (lon, lat) = (number(c_lon), number(c_lat));
        match (lon, lat) {
            (Some(lon), Some(lat)) if valid_position(lon, lat) => {
                if !id.is_empty() && !first_line_of.contains_key(id) && kind.as_deref() != Some("")
                {
                    first_line_of.insert(id.to_string(), line);
                    places.push(Place {
                        id: id.to_string(),
                        kind,
                        lon,
                        lat,
                    });
                }
            }
            _ => {
                for (name, c, v, range) in [
                    ("lon", c_lon, lon, -180.0..=180.0),
                    ("lat", c_lat, lat, -90.0..=90.0),
                ] {
                    if !v.is_some_and(|v| range.contains(&v)) {
                        bad(
                            name,
                            format!(
                                "{:?} is not a WGS-84 {} in degrees ({}…{})",
                                cell(c),
                                if name == "lon" {
                                    "longitude"
                                } else {
                                    "latitude"
                                },
                                range.start(),
                                range.end()
                            ),
                        );
                    }
                }
            }
        }
    }
    if !problems.is_empty() {
        return Err(AccessError::BadRows {
            path: path.to_path_buf(),
            problems,
        });
    }
    Ok(places)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_columns_in_any_order_and_reports_every_bad_row() {
        let p = Path::new("f.csv");
        let ok = parse(
            p,
            b"lat,lon,type,id,name\n30.2,120.1,school,a,x\n30.3,120.2,park,b,y\n",
            true,
        )
        .expect("valid");
        assert_eq!(ok.len(), 2);
        assert_eq!(ok[1].kind.as_deref(), Some("park"));
        assert_eq!((ok[0].lon, ok[0].lat), (120.1, 30.2));

        let bad = parse(
            p,
            b"id,lon,lat\na,120.1,30.2\nb,abc,30\na,120,30\nc,120,95\n,1,1\n",
            false,
        )
        .expect_err("bad rows");
        let text = bad.to_string();
        assert!(
            text.contains("line 3, column lon: \"abc\" is not a WGS-84 longitude"),
            "{text}"
        );
        assert!(
            text.contains("line 4, column id: the id \"a\" is already on line 2"),
            "{text}"
        );
        assert!(text.contains("line 5, column lat"), "{text}");
        assert!(
            text.contains("line 6, column id: the id is empty"),
            "{text}"
        );

        assert!(plain_places(
            b"id,lon,lat\r\n\xe7\xa4\xbe\xe5\x8c\xba 1 ,120.1, 30.2\r\n",
            false
        )
        .is_some());
        assert!(plain_places(b"id,lon,lat\na,120.1,30.2\na,120.1,30.2\n", false).is_none());

        let header = parse(p, b"name,x,y\n", false).expect_err("header");
        assert!(
            header
                .to_string()
                .contains("must name the columns id,lon,lat"),
            "{header}"
        );
    }
}
