//! Instants as people in China read them: UTC+8 all year (China keeps no summer time).
//! Every page, answer and export shows time through here.

use chrono::{DateTime, FixedOffset, SecondsFormat};

const CHINA: FixedOffset = match FixedOffset::east_opt(8 * 3600) {
    Some(offset) => offset,
    None => panic!("UTC+8 is a valid offset"),
};

/// `ms` (since 1970) in China's time, in a chrono `format`; "" for an instant chrono
/// cannot represent.
pub(crate) fn format(ms: i64, format: &str) -> String {
    DateTime::from_timestamp_millis(ms)
        .map(|t| t.with_timezone(&CHINA).format(format).to_string())
        .unwrap_or_default()
}

/// `ms` as RFC 3339 with China's offset, to the second.
pub(crate) fn rfc3339(ms: i64) -> String {
    DateTime::from_timestamp_millis(ms)
        .map(|t| {
            t.with_timezone(&CHINA)
                .to_rfc3339_opts(SecondsFormat::Secs, false)
        })
        .unwrap_or_default()
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
    }
}
