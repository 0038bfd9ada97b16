//! Care (关爱): the devices in the homes of key elderly, and what they send.
//!
//! A device sends readings as JSON, `{"ts": RFC 3339, "kind": …, "value": …, "seq": n}`, over
//! MQTT (topic `linli/v1/devices/{device_id}/events`) or HTTP. This module knows the kinds of
//! device and of reading, which device may send which reading, and turns one payload into a
//! [`Reading`] or a [`Problem`] that says why it is refused: the refusal's code is what the
//! operator's counts are kept by.

use chrono::DateTime;
use serde_json::Value;

use crate::Problem;

/// The largest payload read: a reading is a few dozen bytes.
pub const MAX_PAYLOAD: usize = 4096;
/// The longest device id: short enough for an MQTT username and a topic level.
pub const MAX_DEVICE_ID: usize = 64;
/// How far ahead of linli's clock a reading's time may be (a device's clock runs fast).
pub const MAX_AHEAD_MS: i64 = 5 * 60 * 1000;
/// How far back a reading's time may be: a device that was offline delivers what it kept,
/// and a month of readings replayed is accepted; a time decades past is a broken clock.
pub const MAX_BEHIND_MS: i64 = 90 * 24 * 3600 * 1000;

/// The kinds of device a household may have.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DeviceKind {
    /// SOS button (一键呼叫).
    Sos,
    /// Smoke detector (烟感).
    Smoke,
    /// Gas detector (燃气报警器).
    Gas,
    /// Door contact (门磁).
    Door,
    /// Infrared motion sensor (红外人体感应).
    Motion,
    /// Bed sensor (离床感应), which may also measure heart and breath rate.
    Bed,
    /// Vital-sign monitor (生命体征监测).
    Vitals,
}

impl DeviceKind {
    pub const ALL: [DeviceKind; 7] = [
        DeviceKind::Sos,
        DeviceKind::Smoke,
        DeviceKind::Gas,
        DeviceKind::Door,
        DeviceKind::Motion,
        DeviceKind::Bed,
        DeviceKind::Vitals,
    ];

    pub fn code(self) -> &'static str {
        match self {
            DeviceKind::Sos => "sos",
            DeviceKind::Smoke => "smoke",
            DeviceKind::Gas => "gas",
            DeviceKind::Door => "door",
            DeviceKind::Motion => "motion",
            DeviceKind::Bed => "bed",
            DeviceKind::Vitals => "vitals",
        }
    }

    /// The translation key of the kind's name.
    pub fn name_key(self) -> &'static str {
        match self {
            DeviceKind::Sos => "care.device.sos",
            DeviceKind::Smoke => "care.device.smoke",
            DeviceKind::Gas => "care.device.gas",
            DeviceKind::Door => "care.device.door",
            DeviceKind::Motion => "care.device.motion",
            DeviceKind::Bed => "care.device.bed",
            DeviceKind::Vitals => "care.device.vitals",
        }
    }

    pub fn parse(code: &str) -> Result<DeviceKind, Problem> {
        DeviceKind::ALL
            .into_iter()
            .find(|k| k.code() == code.trim())
            .ok_or_else(|| {
                Problem::new("care_unknown_device_kind", "care.unknown_device_kind")
                    .arg("value", code)
                    .arg("options", DeviceKind::ALL.map(DeviceKind::code).join(", "))
                    .field("kind")
            })
    }

    /// Whether a device of this kind sends readings of `kind`: its own, and every device its
    /// heartbeat and battery level.
    pub fn sends(self, kind: ReadingKind) -> bool {
        use ReadingKind as R;
        match kind {
            R::Heartbeat | R::Battery => true,
            R::Sos => self == DeviceKind::Sos,
            R::Smoke => self == DeviceKind::Smoke,
            R::Gas => self == DeviceKind::Gas,
            R::Door => self == DeviceKind::Door,
            R::Motion => self == DeviceKind::Motion,
            R::Bed => self == DeviceKind::Bed,
            R::HeartRate | R::BreathRate => {
                matches!(self, DeviceKind::Bed | DeviceKind::Vitals)
            }
        }
    }
}

/// The kinds of reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReadingKind {
    Sos,
    Smoke,
    Gas,
    Door,
    Motion,
    Bed,
    HeartRate,
    BreathRate,
    Heartbeat,
    Battery,
}

impl ReadingKind {
    pub const ALL: [ReadingKind; 10] = [
        ReadingKind::Sos,
        ReadingKind::Smoke,
        ReadingKind::Gas,
        ReadingKind::Door,
        ReadingKind::Motion,
        ReadingKind::Bed,
        ReadingKind::HeartRate,
        ReadingKind::BreathRate,
        ReadingKind::Heartbeat,
        ReadingKind::Battery,
    ];

    pub fn code(self) -> &'static str {
        match self {
            ReadingKind::Sos => "sos",
            ReadingKind::Smoke => "smoke",
            ReadingKind::Gas => "gas",
            ReadingKind::Door => "door",
            ReadingKind::Motion => "motion",
            ReadingKind::Bed => "bed",
            ReadingKind::HeartRate => "heart_rate",
            ReadingKind::BreathRate => "breath_rate",
            ReadingKind::Heartbeat => "heartbeat",
            ReadingKind::Battery => "battery",
        }
    }

    pub fn parse(code: &str) -> Option<ReadingKind> {
        ReadingKind::ALL.into_iter().find(|k| k.code() == code)
    }

    /// What a value of this kind looks like, for the refusal that says how to fix one.
    fn expected(self) -> &'static str {
        match self {
            ReadingKind::Sos => "true (or no value)",
            ReadingKind::Smoke | ReadingKind::Gas | ReadingKind::Motion => "true or false",
            ReadingKind::Door => "\"open\" or \"closed\" (or true for open)",
            ReadingKind::Bed => "\"in\" or \"out\" (or true for in bed)",
            ReadingKind::HeartRate => "beats per minute, 0 to 300",
            ReadingKind::BreathRate => "breaths per minute, 0 to 100",
            ReadingKind::Heartbeat => "no value",
            ReadingKind::Battery => "per cent, 0 to 100",
        }
    }

    /// The stored number for a sent value: 1 or 0 for the on/off kinds (alarm, open, moving,
    /// in bed), the measure itself for the others, none for a heartbeat.
    fn value(self, v: Option<&Value>) -> Option<Option<f64>> {
        let flag = |v: Option<&Value>| match v? {
            Value::Bool(b) => Some(Some(f64::from(u8::from(*b)))),
            Value::Number(n) => match n.as_f64()? {
                x if x == 0.0 || x == 1.0 => Some(Some(x)),
                _ => None,
            },
            _ => None,
        };
        let within = |v: Option<&Value>, max: f64| {
            let x = v?.as_f64()?;
            (x.is_finite() && (0.0..=max).contains(&x)).then_some(Some(x))
        };
        match self {
            ReadingKind::Sos => match v {
                None | Some(Value::Null) | Some(Value::Bool(true)) => Some(Some(1.0)),
                Some(Value::Number(n)) if n.as_f64() == Some(1.0) => Some(Some(1.0)),
                _ => None,
            },
            ReadingKind::Smoke | ReadingKind::Gas | ReadingKind::Motion => flag(v),
            ReadingKind::Door => match v {
                Some(Value::String(s)) if s == "open" => Some(Some(1.0)),
                Some(Value::String(s)) if s == "closed" => Some(Some(0.0)),
                other => flag(other),
            },
            ReadingKind::Bed => match v {
                Some(Value::String(s)) if s == "in" => Some(Some(1.0)),
                Some(Value::String(s)) if s == "out" => Some(Some(0.0)),
                other => flag(other),
            },
            ReadingKind::HeartRate => within(v, 300.0),
            ReadingKind::BreathRate => within(v, 100.0),
            ReadingKind::Battery => within(v, 100.0),
            ReadingKind::Heartbeat => match v {
                None | Some(Value::Null) => Some(None),
                _ => None,
            },
        }
    }
}

/// One accepted reading.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Reading {
    /// The device's own sequence number: (device, seq) is unique, so a reading sent twice
    /// (QoS 1 redelivers) is stored once.
    pub seq: i64,
    /// When the device saw it, milliseconds since the epoch.
    pub ts_ms: i64,
    pub kind: ReadingKind,
    /// See [`ReadingKind`]'s stored values.
    pub value: Option<f64>,
}

/// The topics' common prefix; the version is part of the topic so that a later payload
/// format can live beside this one.
const TOPIC_PREFIX: &str = "linli/v1/devices/";
const TOPIC_SUFFIX: &str = "/events";

/// The one topic device `id` publishes to.
pub fn device_topic(id: &str) -> String {
    format!("{TOPIC_PREFIX}{id}{TOPIC_SUFFIX}")
}

/// The filter that matches every device's topic.
pub const DEVICE_TOPICS: &str = "linli/v1/devices/+/events";

/// The device id a topic names, if it is a device's topic.
pub fn device_of_topic(topic: &str) -> Option<&str> {
    let id = topic
        .strip_prefix(TOPIC_PREFIX)?
        .strip_suffix(TOPIC_SUFFIX)?;
    (!id.is_empty() && !id.contains('/')).then_some(id)
}

/// Whether `id` may name a device: 1 to 64 letters, digits, `-`, `_` or `.` (it is the
/// device's MQTT username and one level of its topic, where `/`, `+` and `#` mean more).
pub fn check_device_id(id: &str) -> Result<(), Problem> {
    let fine = !id.is_empty()
        && id.len() <= MAX_DEVICE_ID
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if fine {
        Ok(())
    } else {
        Err(Problem::new("care_bad_device_id", "care.bad_device_id")
            .arg("value", id.chars().take(80).collect::<String>())
            .arg("max", MAX_DEVICE_ID)
            .field("device_id"))
    }
}

/// Reads one payload sent by a device of kind `device` at `now_ms`.
pub fn parse_reading(device: DeviceKind, payload: &[u8], now_ms: i64) -> Result<Reading, Problem> {
    if payload.len() > MAX_PAYLOAD {
        return Err(Problem::new("care_too_large", "care.too_large")
            .arg("size", payload.len())
            .arg("max", MAX_PAYLOAD));
    }
    let json: Value = serde_json::from_slice(payload).map_err(|e| {
        Problem::new("care_malformed", "care.malformed").arg("detail", e.to_string())
    })?;
    let Value::Object(fields) = json else {
        return Err(Problem::new("care_not_an_object", "care.not_an_object"));
    };
    let missing = |field: &'static str| {
        Problem::new("care_missing_field", "care.missing_field")
            .arg("field", field)
            .field(field)
    };
    let kind_code = fields
        .get("kind")
        .ok_or_else(|| missing("kind"))?
        .as_str()
        .unwrap_or_default();
    let kind = ReadingKind::parse(kind_code).ok_or_else(|| {
        Problem::new("care_unknown_kind", "care.unknown_kind")
            .arg("value", fields["kind"].to_string())
            .arg(
                "options",
                ReadingKind::ALL.map(ReadingKind::code).join(", "),
            )
            .field("kind")
    })?;
    if !device.sends(kind) {
        return Err(Problem::new("care_kind_not_sent", "care.kind_not_sent")
            .arg("kind", kind.code())
            .arg("device", device.code())
            .field("kind"));
    }
    let seq = fields
        .get("seq")
        .ok_or_else(|| missing("seq"))?
        .as_i64()
        .filter(|s| *s >= 0)
        .ok_or_else(|| {
            Problem::new("care_bad_seq", "care.bad_seq")
                .arg("value", fields["seq"].to_string())
                .field("seq")
        })?;
    let ts_text = fields.get("ts").ok_or_else(|| missing("ts"))?;
    let ts_ms = ts_text
        .as_str()
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.timestamp_millis())
        .ok_or_else(|| {
            Problem::new("care_bad_time", "care.bad_time")
                .arg("value", ts_text.to_string())
                .field("ts")
        })?;
    if ts_ms > now_ms + MAX_AHEAD_MS {
        return Err(Problem::new("care_future_time", "care.future_time")
            .arg("value", ts_text.as_str().unwrap_or_default())
            .arg("minutes", MAX_AHEAD_MS / 60_000)
            .field("ts"));
    }
    if ts_ms < now_ms - MAX_BEHIND_MS {
        return Err(Problem::new("care_past_time", "care.past_time")
            .arg("value", ts_text.as_str().unwrap_or_default())
            .arg("days", MAX_BEHIND_MS / 86_400_000)
            .field("ts"));
    }
    let sent = fields.get("value");
    let value = kind.value(sent).ok_or_else(|| {
        Problem::new("care_bad_value", "care.bad_value")
            .arg("kind", kind.code())
            .arg(
                "value",
                sent.map(Value::to_string).unwrap_or_else(|| "—".into()),
            )
            .arg("expected", kind.expected())
            .field("value")
    })?;
    Ok(Reading {
        seq,
        ts_ms,
        kind,
        value,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_795_000_000_000; // 2026-11-18

    fn at(offset_ms: i64) -> String {
        DateTime::from_timestamp_millis(NOW + offset_ms)
            .expect("time")
            .to_rfc3339()
    }

    fn read(device: DeviceKind, json: &str) -> Result<Reading, &'static str> {
        parse_reading(device, json.as_bytes(), NOW).map_err(|p| p.code)
    }

    #[test]
    fn readings_of_every_kind_are_read_with_their_stored_values() {
        let ts = at(-1000);
        let cases: &[(DeviceKind, &str, &str, Option<f64>)] = &[
            (DeviceKind::Sos, "sos", "true", Some(1.0)),
            (DeviceKind::Sos, "sos", "null", Some(1.0)),
            (DeviceKind::Smoke, "smoke", "true", Some(1.0)),
            (DeviceKind::Gas, "gas", "false", Some(0.0)),
            (DeviceKind::Door, "door", "\"open\"", Some(1.0)),
            (DeviceKind::Door, "door", "\"closed\"", Some(0.0)),
            (DeviceKind::Motion, "motion", "1", Some(1.0)),
            (DeviceKind::Bed, "bed", "\"out\"", Some(0.0)),
            (DeviceKind::Bed, "heart_rate", "64", Some(64.0)),
            (DeviceKind::Vitals, "breath_rate", "15.5", Some(15.5)),
            (DeviceKind::Door, "heartbeat", "null", None),
            (DeviceKind::Motion, "battery", "87", Some(87.0)),
        ];
        for (seq, (device, kind, value, stored)) in cases.iter().enumerate() {
            let json = format!(r#"{{"ts":"{ts}","kind":"{kind}","value":{value},"seq":{seq}}}"#);
            let r = read(*device, &json).unwrap_or_else(|e| panic!("{json}: {e}"));
            assert_eq!(r.kind.code(), *kind);
            assert_eq!(r.value, *stored, "{json}");
            assert_eq!(r.seq, seq as i64);
            assert_eq!(r.ts_ms, NOW - 1000);
        }
        // A heartbeat needs no value at all.
        let json = format!(r#"{{"ts":"{ts}","kind":"heartbeat","seq":7}}"#);
        assert_eq!(read(DeviceKind::Sos, &json).map(|r| r.value), Ok(None));
    }

    #[test]
    fn bad_payloads_are_refused_each_with_its_reason() {
        let ts = at(0);
        let cases: &[(DeviceKind, String, &str)] = &[
            (DeviceKind::Door, "{not json".into(), "care_malformed"),
            (DeviceKind::Door, "[1,2]".into(), "care_not_an_object"),
            (
                DeviceKind::Door,
                format!(r#"{{"ts":"{ts}","seq":1}}"#),
                "care_missing_field",
            ),
            (
                DeviceKind::Door,
                format!(r#"{{"ts":"{ts}","kind":"door","value":"open"}}"#),
                "care_missing_field",
            ),
            (
                DeviceKind::Door,
                r#"{"kind":"door","value":"open","seq":1}"#.to_string(),
                "care_missing_field",
            ),
            (
                DeviceKind::Door,
                format!(r#"{{"ts":"{ts}","kind":"window","seq":1}}"#),
                "care_unknown_kind",
            ),
            (
                DeviceKind::Door,
                format!(r#"{{"ts":"{ts}","kind":"smoke","value":true,"seq":1}}"#),
                "care_kind_not_sent",
            ),
            (
                DeviceKind::Door,
                format!(r#"{{"ts":"{ts}","kind":"door","value":"open","seq":-1}}"#),
                "care_bad_seq",
            ),
            (
                DeviceKind::Door,
                format!(r#"{{"ts":"{ts}","kind":"door","value":"open","seq":"7"}}"#),
                "care_bad_seq",
            ),
            (
                DeviceKind::Door,
                r#"{"ts":"yesterday","kind":"door","value":"open","seq":1}"#.into(),
                "care_bad_time",
            ),
            (
                DeviceKind::Door,
                format!(
                    r#"{{"ts":"{}","kind":"door","value":"open","seq":1}}"#,
                    at(MAX_AHEAD_MS + 1000)
                ),
                "care_future_time",
            ),
            (
                DeviceKind::Door,
                r#"{"ts":"1999-01-01T00:00:00Z","kind":"door","value":"open","seq":1}"#.into(),
                "care_past_time",
            ),
            (
                DeviceKind::Door,
                format!(r#"{{"ts":"{ts}","kind":"door","value":"ajar","seq":1}}"#),
                "care_bad_value",
            ),
            (
                DeviceKind::Door,
                format!(r#"{{"ts":"{ts}","kind":"door","seq":1}}"#),
                "care_bad_value",
            ),
            (
                DeviceKind::Vitals,
                format!(r#"{{"ts":"{ts}","kind":"heart_rate","value":"64","seq":1}}"#),
                "care_bad_value",
            ),
            (
                DeviceKind::Vitals,
                format!(r#"{{"ts":"{ts}","kind":"heart_rate","value":900,"seq":1}}"#),
                "care_bad_value",
            ),
            (
                DeviceKind::Smoke,
                format!(r#"{{"ts":"{ts}","kind":"smoke","value":2,"seq":1}}"#),
                "care_bad_value",
            ),
            (
                DeviceKind::Smoke,
                format!(r#"{{"ts":"{ts}","kind":"battery","value":-3,"seq":1}}"#),
                "care_bad_value",
            ),
            (
                DeviceKind::Sos,
                format!(r#"{{"ts":"{ts}","kind":"heartbeat","value":5,"seq":1}}"#),
                "care_bad_value",
            ),
            (
                DeviceKind::Door,
                format!(
                    r#"{{"ts":"{ts}","kind":"door","value":"{}","seq":1}}"#,
                    "x".repeat(MAX_PAYLOAD)
                ),
                "care_too_large",
            ),
        ];
        for (device, json, code) in cases {
            assert_eq!(read(*device, json), Err(*code), "{json}");
        }
    }

    #[test]
    fn a_device_topic_names_its_device() {
        assert_eq!(device_topic("door-1"), "linli/v1/devices/door-1/events");
        assert_eq!(device_of_topic(&device_topic("door-1")), Some("door-1"));
        for not_one in [
            "linli/v1/devices//events",
            "linli/v1/devices/a/b/events",
            "linli/v2/devices/a/events",
            "linli/v1/devices/a/status",
        ] {
            assert_eq!(device_of_topic(not_one), None, "{not_one}");
        }
    }

    #[test]
    fn device_ids_are_topic_levels_and_usernames() {
        for good in ["sos-0001", "A.b_c", &"x".repeat(MAX_DEVICE_ID)] {
            assert!(check_device_id(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "a/b",
            "a+b",
            "#",
            "门磁1",
            "a b",
            &"x".repeat(MAX_DEVICE_ID + 1),
        ] {
            assert!(check_device_id(bad).is_err(), "{bad}");
        }
        assert!(DeviceKind::parse("door").is_ok());
        assert_eq!(
            DeviceKind::parse("window").map_err(|p| p.code),
            Err("care_unknown_device_kind")
        );
    }
}
