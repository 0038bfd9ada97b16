//! What can go wrong reading a network or points, said so that the user can fix it.

use std::fmt;
use std::path::PathBuf;

/// One bad row or feature of an input file.
#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    /// Where: `line 12, column lat` for CSV, `feature 7, position 3` for GeoJSON.
    pub at: String,
    /// What is wrong and how to fix it.
    pub what: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.at, self.what)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AccessError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not an OpenStreetMap PBF file ({detail}); export one with osmium or download an extract (.osm.pbf)")]
    NotPbf { path: PathBuf, detail: String },
    #[error("{path} is not GeoJSON ({detail})")]
    NotGeoJson { path: PathBuf, detail: String },
    #[error("{path} is not CSV ({detail})")]
    NotCsv { path: PathBuf, detail: String },
    #[error("{path}: unknown network format; use .osm.pbf, .geojson (lines) or .csv (from_lon,from_lat,to_lon,to_lat,meters as `linli access graph` writes)")]
    UnknownFormat { path: PathBuf },
    #[error("{path}: the header must name the columns {expected}; found: {found}")]
    BadHeader {
        path: PathBuf,
        expected: String,
        found: String,
    },
    #[error("{path}: {count} bad rows, nothing was done:\n{list}", count = problems.len(), list = list(problems))]
    BadRows {
        path: PathBuf,
        problems: Vec<Problem>,
    },
    #[error("{path}: no walkable lines were found, so there is no network to walk on")]
    EmptyNetwork { path: PathBuf },
}

/// At most the first 50 problems, one per line, then how many more.
fn list(problems: &[Problem]) -> String {
    const SHOWN: usize = 50;
    let mut out: Vec<String> = problems
        .iter()
        .take(SHOWN)
        .map(|p| format!("  {p}"))
        .collect();
    if problems.len() > SHOWN {
        out.push(format!("  … and {} more", problems.len() - SHOWN));
    }
    out.join("\n")
}

pub type Result<T> = std::result::Result<T, AccessError>;

pub(crate) fn io(path: &std::path::Path) -> impl FnOnce(std::io::Error) -> AccessError + '_ {
    move |source| AccessError::Io {
        path: path.to_path_buf(),
        source,
    }
}
