//! Instants as people in China read them: UTC+8 all year (China keeps no summer time).
//! Every page, answer, export and figure's day reads time through here.

use chrono::{DateTime, FixedOffset, NaiveDateTime, SecondsFormat};

/// China's offset from UTC, in ms: days and months turn over at Beijing midnight.
pub const OFFSET_MS: i64 = 8 * 3_600_000;

const CHINA: FixedOffset = match FixedOffset::east_opt(8 * 3600) {
    Some(offset) => offset,
    None => panic!("UTC+8 is a valid offset"),
};

/// `ms` (since 1970) in China's time, in a chrono `format`; "" for an instant chrono
/// cannot represent.
pub fn format(ms: i64, format: &str) -> String {
    DateTime::from_timestamp_millis(ms)
        .map(|t| t.with_timezone(&CHINA).format(format).to_string())
        .unwrap_or_default()
}

/// `ms` as RFC 3339 with China's offset, to the second.
pub fn rfc3339(ms: i64) -> String {
    DateTime::from_timestamp_millis(ms)
        .map(|t| {
            t.with_timezone(&CHINA)
                .to_rfc3339_opts(SecondsFormat::Secs, false)
        })
        .unwrap_or_default()
}

/// The instant of a wall-clock reading in China.
pub fn from_reading(t: NaiveDateTime) -> i64 {
    t.and_utc().timestamp_millis() - OFFSET_MS
}

#[cfg(test)]
mod tests {
    #[test]
    fn instants_read_in_china_time() {
        // 2026-11-23 16:00 UTC is midnight in China.
        let ms = 1_795_449_600_000;
        assert_eq!(super::format(ms, "%Y-%m-%d %H:%M"), "2026-11-24 00:00");
        assert_eq!(super::rfc3339(ms), "2026-11-24T00:00:00+08:00");
        assert_eq!(super::format(i64::MAX, "%Y"), "");
        let midnight = chrono::NaiveDate::from_ymd_opt(2026, 11, 24)
            .and_then(|d| d.and_hms_opt(0, 0, 0))
            .expect("date");
        assert_eq!(super::from_reading(midnight), ms);
    }
}
