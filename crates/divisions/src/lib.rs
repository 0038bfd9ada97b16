//! China's administrative divisions, province to community, built into the binary.
//!
//! The tables in `data/` are the National Bureau of Statistics' division codes (统计用区划代码)
//! in the layout of the public dataset modood/Administrative-divisions-of-China; see
//! `data/SOURCES.md`. They are public code data, compressed as shipped (about 5 MB) and
//! decoded on demand, so the binary carries the whole country without a download.

use std::io::Read;

const PROVINCES: &[u8] = include_bytes!("../data/provinces.csv");
const CITIES: &[u8] = include_bytes!("../data/cities.csv");
const AREAS: &[u8] = include_bytes!("../data/areas.csv");
const STREETS_GZ: &[u8] = include_bytes!("../data/streets.csv.gz");
const VILLAGES_GZ: &[u8] = include_bytes!("../data/villages.csv.gz");

/// Row counts of the shipped tables, for progress bars and checks.
pub const COUNTS: [usize; 5] = [31, 342, 2_978, 41_352, 620_573];

/// One division: its code (2, 4, 6, 9 or 12 digits) and its official name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Division {
    pub code: String,
    pub name: String,
}

#[derive(Debug, thiserror::Error)]
pub enum DivisionsError {
    #[error("built-in division table {table}: {source}")]
    Csv {
        table: &'static str,
        #[source]
        source: csv::Error,
    },
    #[error("built-in division table {table} could not be decompressed: {source}")]
    Gzip {
        table: &'static str,
        #[source]
        source: std::io::Error,
    },
}

/// The five tables, top level first: (name, level 1–5).
pub const TABLES: [&str; 5] = ["provinces", "cities", "areas", "streets", "villages"];

fn raw(table: &'static str) -> Result<Vec<u8>, DivisionsError> {
    let (bytes, gz) = match table {
        "provinces" => (PROVINCES, false),
        "cities" => (CITIES, false),
        "areas" => (AREAS, false),
        "streets" => (STREETS_GZ, true),
        _ => (VILLAGES_GZ, true),
    };
    if !gz {
        return Ok(bytes.to_vec());
    }
    let mut out = Vec::with_capacity(bytes.len() * 6);
    flate2::read::GzDecoder::new(bytes)
        .read_to_end(&mut out)
        .map_err(|source| DivisionsError::Gzip { table, source })?;
    Ok(out)
}

/// Reads one table (by its index in [`TABLES`]), keeping rows whose code starts with
/// `prefix` (or whose code is a prefix of it, so that a district's ancestors come along).
pub fn read_table(index: usize, prefix: &str) -> Result<Vec<Division>, DivisionsError> {
    let table = TABLES[index];
    let data = raw(table)?;
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .from_reader(&data[..]);
    let mut out = Vec::with_capacity(if prefix.is_empty() { COUNTS[index] } else { 64 });
    let mut record = csv::StringRecord::new();
    while reader
        .read_record(&mut record)
        .map_err(|source| DivisionsError::Csv { table, source })?
    {
        let code = record.get(0).unwrap_or("");
        let keep = prefix.is_empty() || code.starts_with(prefix) || prefix.starts_with(code);
        if keep {
            out.push(Division {
                code: code.to_string(),
                name: record.get(1).unwrap_or("").to_string(),
            });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_have_the_documented_counts_and_codes_nest() {
        let mut previous = std::collections::HashSet::new();
        for (i, n) in COUNTS.iter().enumerate() {
            let rows = read_table(i, "").expect("table reads");
            assert_eq!(rows.len(), *n, "{}", TABLES[i]);
            let digits = [2, 4, 6, 9, 12][i];
            let parent_digits = [0, 2, 4, 6, 9][i];
            let mut codes = std::collections::HashSet::with_capacity(rows.len());
            for r in &rows {
                assert_eq!(r.code.len(), digits, "{r:?}");
                assert!(!r.name.is_empty(), "{r:?}");
                if i > 0 {
                    assert!(previous.contains(&r.code[..parent_digits]), "orphan {r:?}");
                }
                codes.insert(r.code.clone());
            }
            previous = codes;
        }
    }

    #[test]
    fn a_prefix_keeps_the_subtree_and_its_ancestors() {
        let streets = read_table(3, "330102").unwrap();
        assert_eq!(streets.len(), 14);
        let cities = read_table(1, "330102").unwrap();
        assert_eq!(
            cities,
            vec![Division {
                code: "3301".into(),
                name: "杭州市".into()
            }]
        );
        assert_eq!(read_table(4, "330102").unwrap().len(), 203);
    }
}
