//! Reading origins (`id,lon,lat`) and facilities (`id,type,lon,lat`) from CSV. The header
//! names the columns (any order; other columns are ignored). Every bad row is reported with
//! its line, and a file with any bad row is refused whole.

use std::collections::HashMap;
use std::path::Path;

use crate::error::{io, AccessError, Problem, Result};
use crate::geo::valid_position;

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
    let columns: &[&str] = if typed {
        &["id", "type", "lon", "lat"]
    } else {
        &["id", "lon", "lat"]
    };
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

        let header = parse(p, b"name,x,y\n", false).expect_err("header");
        assert!(
            header
                .to_string()
                .contains("must name the columns id,lon,lat"),
            "{header}"
        );
    }
}
