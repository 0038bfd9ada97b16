//! Reading the MyLA311 CSV files: both layouts (33 capitalised columns with
//! `MM/DD/YYYY hh:mm:ss AM|PM` times, and requests.csv's 24 lowercase columns with
//! `M/D/YY H:MM` times), found by header name so that column order never matters.
//!
//! Los Angeles clock readings are taken as the same readings in China time (UTC+8), so that
//! the tickets' days and hours of the day line up in linli's China-time figures.

use std::collections::HashMap;
use std::path::Path;

use anyhow::{bail, Context, Result};
use chrono::NaiveDateTime;
use linli_core::china_time;

/// What became of a ticket in Los Angeles, as the replay will repeat it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Closed (or referred out) at this moment.
    Close(i64),
    /// Cancelled at this moment: the reporter withdraws it.
    Withdraw(i64),
    /// Still open in the source (or closed without a date): stays open.
    Open,
}

/// One ticket, as read.
#[derive(Debug, Clone, PartialEq)]
pub struct Ticket {
    /// Index of the file in the replay's list.
    pub file: usize,
    /// The line its record starts on (1 is the header).
    pub line: u64,
    pub sr: String,
    pub request_type: String,
    pub status: String,
    pub request_source: String,
    pub created_ms: i64,
    /// As written, even when before `created_ms` (a flagged row).
    pub closed_ms: Option<i64>,
    /// The neighbourhood council's name (or "NC <number>" when only the number is there).
    pub council: Option<String>,
    /// WGS-84 longitude and latitude.
    pub location: Option<(f64, f64)>,
}

impl Ticket {
    /// Closed before it was created in the source.
    pub fn flagged(&self) -> bool {
        self.closed_ms.is_some_and(|c| c < self.created_ms)
    }

    /// The replay's rule for the end of a ticket. A flagged row ends at its creation
    /// (handling time 0): linli cannot close before it received, and dropping the closure
    /// would turn a closed ticket into an open one.
    pub fn outcome(&self) -> Outcome {
        let Some(closed) = self.closed_ms else {
            return Outcome::Open;
        };
        let at = closed.max(self.created_ms);
        match self.status.trim().to_ascii_lowercase().as_str() {
            "closed" | "referred out" => Outcome::Close(at),
            "cancelled" => Outcome::Withdraw(at),
            _ => Outcome::Open,
        }
    }
}

/// A row left out, with why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejected {
    pub line: u64,
    pub reason: String,
}

/// One file, read.
#[derive(Debug, Clone, Default)]
pub struct FileRead {
    pub name: String,
    /// Data rows in the file (header excluded), rejected ones included.
    pub rows: usize,
    pub tickets: Vec<Ticket>,
    pub rejected: Vec<Rejected>,
}

/// Parses a MyLA311 time as a China-time instant (ms since the epoch).
pub fn parse_time(s: &str) -> Option<i64> {
    let s = s.trim();
    let upper = s.to_ascii_uppercase();
    // The AM/PM suffix tells the layouts apart: without it, `%Y` would read requests.csv's
    // "20" as the year 20.
    let formats: &[&str] = if upper.ends_with("AM") || upper.ends_with("PM") {
        &["%m/%d/%Y %I:%M:%S %p", "%m/%d/%Y %I:%M %p"]
    } else {
        &["%m/%d/%y %H:%M", "%m/%d/%y %H:%M:%S"]
    };
    let t = formats
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(&upper, f).ok())?;
    // A two-digit year that chrono placed outside the data's era is a misread, not a date.
    if !(1990..=2100).contains(&chrono::Datelike::year(&t.date())) {
        return None;
    }
    Some(china_time::from_reading(t))
}

/// `POINT (lon lat)` (the 2018 file) or `(lat, lon)` (the 2017 file) → (lon, lat).
pub fn parse_location(s: &str) -> Option<(f64, f64)> {
    let s = s.trim();
    if let Some(rest) = s.strip_prefix("POINT") {
        let inner = rest.trim().strip_prefix('(')?.strip_suffix(')')?;
        let mut it = inner.split_whitespace();
        let lon = it.next()?.parse().ok()?;
        let lat = it.next()?.parse().ok()?;
        return checked(lon, lat);
    }
    let inner = s.strip_prefix('(')?.strip_suffix(')')?;
    let (lat, lon) = inner.split_once(',')?;
    checked(lon.trim().parse().ok()?, lat.trim().parse().ok()?)
}

/// A usable position: finite, on the globe, and not the (0, 0) that stands for "none".
fn checked(lon: f64, lat: f64) -> Option<(f64, f64)> {
    let ok = lon.is_finite()
        && lat.is_finite()
        && (-180.0..=180.0).contains(&lon)
        && (-90.0..=90.0).contains(&lat)
        && (lon != 0.0 || lat != 0.0);
    ok.then_some((lon, lat))
}

/// Column positions by lowercased header name.
struct Columns(HashMap<String, usize>);

impl Columns {
    fn new(header: &csv::StringRecord) -> Columns {
        Columns(
            header
                .iter()
                .enumerate()
                .map(|(i, h)| {
                    (
                        h.trim().trim_start_matches('\u{feff}').to_ascii_lowercase(),
                        i,
                    )
                })
                .collect(),
        )
    }

    fn get<'r>(&self, row: &'r csv::StringRecord, name: &str) -> &'r str {
        self.0
            .get(name)
            .and_then(|i| row.get(*i))
            .map_or("", str::trim)
    }

    fn require(&self, names: &[&str], file: &str) -> Result<()> {
        for n in names {
            if !self.0.contains_key(*n) {
                bail!("{file}: line 1: no column {n:?} in the header");
            }
        }
        Ok(())
    }
}

fn location_of(cols: &Columns, row: &csv::StringRecord) -> Option<(f64, f64)> {
    let lat = cols.get(row, "latitude").parse::<f64>().ok();
    let lon = cols.get(row, "longitude").parse::<f64>().ok();
    lon.zip(lat)
        .and_then(|(lon, lat)| checked(lon, lat))
        .or_else(|| parse_location(cols.get(row, "location")))
}

fn council_of(cols: &Columns, row: &csv::StringRecord) -> Option<String> {
    let name = cols.get(row, "ncname");
    let number = cols.get(row, "nc");
    if !name.is_empty() {
        Some(name.to_string())
    } else if !number.is_empty() && number != "0" {
        Some(format!("NC {number}"))
    } else {
        None
    }
}

/// One record → a ticket, or why it cannot be replayed.
fn ticket_of(
    cols: &Columns,
    row: &csv::StringRecord,
    file: usize,
    line: u64,
) -> std::result::Result<Ticket, String> {
    let created_text = cols.get(row, "createddate");
    let created_ms =
        parse_time(created_text).ok_or_else(|| format!("CreatedDate {created_text:?}"))?;
    let closed_text = cols.get(row, "closeddate");
    let closed_ms = if closed_text.is_empty() {
        None
    } else {
        Some(parse_time(closed_text).ok_or_else(|| format!("ClosedDate {closed_text:?}"))?)
    };
    Ok(Ticket {
        file,
        line,
        sr: cols.get(row, "srnumber").to_string(),
        request_type: cols.get(row, "requesttype").to_string(),
        status: cols.get(row, "status").to_string(),
        request_source: cols.get(row, "requestsource").to_string(),
        created_ms,
        closed_ms,
        council: council_of(cols, row),
        location: location_of(cols, row),
    })
}

/// Reads one CSV from any reader; `name` is used in messages. A record that is not valid
/// CSV or UTF-8, or whose times do not parse, is rejected with its line, never fatal.
pub fn read_from(reader: impl std::io::Read, name: &str, file: usize) -> Result<FileRead> {
    let mut csv = csv::ReaderBuilder::new().flexible(true).from_reader(reader);
    let header = csv
        .headers()
        .with_context(|| format!("{name}: line 1: reading the header"))?
        .clone();
    let cols = Columns::new(&header);
    cols.require(&["createddate", "requesttype"], name)?;
    let mut out = FileRead {
        name: name.to_string(),
        ..FileRead::default()
    };
    let mut record = csv::ByteRecord::new();
    loop {
        let line = csv.position().line();
        match csv.read_byte_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => {
                out.rows += 1;
                out.rejected.push(Rejected {
                    line,
                    reason: format!("not CSV: {e}"),
                });
                continue;
            }
        }
        out.rows += 1;
        let line = record.position().map_or(line, |p| p.line());
        let row = match csv::StringRecord::from_byte_record(record.clone()) {
            Ok(r) => r,
            Err(e) => {
                out.rejected.push(Rejected {
                    line,
                    reason: format!("not UTF-8: {e}"),
                });
                continue;
            }
        };
        match ticket_of(&cols, &row, file, line) {
            Ok(t) => out.tickets.push(t),
            Err(reason) => out.rejected.push(Rejected {
                line,
                reason: format!("unparseable {reason}"),
            }),
        }
    }
    Ok(out)
}

/// Reads `dir/name`.
pub fn read_file(dir: &Path, name: &str, file: usize) -> Result<FileRead> {
    let path = dir.join(name);
    let f = std::fs::File::open(&path).with_context(|| format!("opening {}", path.display()))?;
    read_from(std::io::BufReader::new(f), name, file)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> i64 {
        chrono::NaiveDate::from_ymd_opt(y, mo, d)
            .and_then(|d| d.and_hms_opt(h, mi, s))
            .map(china_time::from_reading)
            .expect("a valid test date")
    }

    #[test]
    fn both_time_layouts_read_as_china_time() {
        assert_eq!(
            parse_time("12/31/2017 11:59:58 PM"),
            Some(ms(2017, 12, 31, 23, 59, 58))
        );
        assert_eq!(
            parse_time("01/01/2018 12:00:09 AM"),
            Some(ms(2018, 1, 1, 0, 0, 9))
        );
        assert_eq!(parse_time("1/1/20 0:05"), Some(ms(2020, 1, 1, 0, 5, 0)));
        assert_eq!(
            parse_time("12/13/20 15:54"),
            Some(ms(2020, 12, 13, 15, 54, 0))
        );
        // Midnight in China time is 16:00 UTC the day before.
        assert_eq!(
            parse_time("1/2/20 0:00").map(linli_core::events::kpi::china_day),
            Some(linli_core::events::kpi::day_of(
                chrono::NaiveDate::from_ymd_opt(2020, 1, 2).expect("date")
            ))
        );
        for bad in [
            "",
            "13/45/2018 10:00:00 AM",
            "yesterday",
            "1/1/2020 0:05",
            "2018-01-01",
        ] {
            assert_eq!(parse_time(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn points_and_pairs() {
        assert_eq!(
            parse_location("POINT (-118.294017712 34.0676390557)"),
            Some((-118.294017712, 34.0676390557))
        );
        assert_eq!(
            parse_location("(34.073216645, -118.266861909)"),
            Some((-118.266861909, 34.073216645))
        );
        assert_eq!(parse_location("POINT (0 0)"), None);
        assert_eq!(parse_location("POINT (abc 1)"), None);
        assert_eq!(parse_location(""), None);
    }

    const LONG: &str = "SRNumber,CreatedDate,RequestType,Status,RequestSource,ClosedDate,Latitude,Longitude,Location,NC,NCName\n\
        1-1,01/01/2018 12:00:09 AM,Bulky Items,Closed,Call,01/06/2018 10:18:29 AM,,,POINT (-118.29 34.06),55,WILSHIRE CENTER - KOREATOWN NC\n\
        1-2,01/02/2018 10:00:00 AM,Graffiti Removal,Closed,Mobile App,01/01/2018 09:00:00 AM,34.1,-118.2,,,\n\
        1-3,not a date,Other,Open,Call,,,,,,\n\
        1-4,01/03/2018 10:00:00 AM,Other,Cancelled,Call,01/03/2018 11:00:00 AM,,,,7,\n";

    #[test]
    fn rows_are_read_flagged_and_rejected_with_their_lines() {
        let read = read_from(LONG.as_bytes(), "long.csv", 0).expect("reads");
        assert_eq!(read.rows, 4);
        assert_eq!(read.tickets.len(), 3);
        assert_eq!(read.rejected.len(), 1);
        assert_eq!(read.rejected[0].line, 4);
        assert!(read.rejected[0].reason.contains("CreatedDate"));

        let first = &read.tickets[0];
        assert_eq!(first.line, 2);
        assert_eq!(first.location, Some((-118.29, 34.06)));
        assert_eq!(
            first.council.as_deref(),
            Some("WILSHIRE CENTER - KOREATOWN NC")
        );
        assert!(!first.flagged());
        assert!(matches!(first.outcome(), Outcome::Close(_)));

        // Closed an hour before it was created: flagged, closed at its creation.
        let second = &read.tickets[1];
        assert!(second.flagged());
        assert_eq!(second.outcome(), Outcome::Close(second.created_ms));
        assert_eq!(second.location, Some((-118.2, 34.1)));
        assert_eq!(second.council, None);

        let fourth = &read.tickets[2];
        assert_eq!(fourth.council.as_deref(), Some("NC 7"));
        assert!(matches!(fourth.outcome(), Outcome::Withdraw(_)));
    }

    #[test]
    fn the_short_layout_and_a_bad_closing_date() {
        let csv = "srnumber,requesttype,status,createddate,closeddate,requestsource,latitude,longitude,nc,ncname\n\
            1-9,Bulky Items,Closed,1/1/20 0:05,1/2/20 8:43,Call,34.19,-118.49,19,LAKE BALBOA NC\n\
            1-10,Bulky Items,Closed,1/1/20 0:06,someday,Call,34.19,-118.49,19,LAKE BALBOA NC\n\
            1-11,Bulky Items,Open,1/1/20 0:07,,Call,,,,\n";
        let read = read_from(csv.as_bytes(), "requests.csv", 2).expect("reads");
        assert_eq!(read.rows, 3);
        assert_eq!(read.tickets.len(), 2);
        assert_eq!(read.rejected[0].line, 3);
        assert!(read.rejected[0].reason.contains("ClosedDate"));
        assert_eq!(read.tickets[0].file, 2);
        assert_eq!(
            read.tickets[0]
                .closed_ms
                .map(|c| c - read.tickets[0].created_ms),
            Some((32 * 60 + 38) * 60_000)
        );
        assert_eq!(read.tickets[1].outcome(), Outcome::Open);
    }

    #[test]
    fn a_header_without_the_needed_columns_is_an_error_naming_the_file() {
        let err = read_from("a,b\n1,2\n".as_bytes(), "odd.csv", 0).expect_err("no columns");
        assert!(err.to_string().contains("odd.csv"));
    }
}
