//! Care's entries of the translation table (see [`crate::i18n`]).

use crate::i18n::Entry;

pub static TABLE: &[Entry] = &[
    ("care.device.sos", "一键呼叫", "SOS button"),
    ("care.device.smoke", "烟感", "Smoke detector"),
    ("care.device.gas", "燃气报警器", "Gas detector"),
    ("care.device.door", "门磁", "Door contact"),
    ("care.device.motion", "红外人体感应", "Infrared motion sensor"),
    ("care.device.bed", "离床感应", "Bed sensor"),
    ("care.device.vitals", "生命体征监测", "Vital-sign monitor"),
    ("care.unknown_device_kind", "未知的设备类型“{value}”；可选：{options}。", "Unknown device kind “{value}”; use one of: {options}."),
    ("care.bad_device_id", "设备编号“{value}”无效：应为 1–{max} 个字母、数字、“-”、“_”或“.”。", "Device id “{value}” is invalid: use 1 to {max} letters, digits, “-”, “_” or “.”."),
    ("care.device_taken", "设备编号“{value}”已登记，不能重复登记。", "Device id “{value}” is already registered."),
    ("care.household_not_found", "没有编号为 {value} 的户。", "There is no household {value}."),
    ("care.unknown_device", "未登记的设备“{value}”：请先登记设备（POST /api/v1/care/devices）。", "Unknown device “{value}”: register it first (POST /api/v1/care/devices)."),
    ("care.wrong_credential", "设备“{value}”的凭证不正确。", "Wrong credential for device “{value}”."),
    ("care.no_credentials", "缺少设备凭证：请用 HTTP Basic 认证，用户名为设备编号，密码为设备凭证。", "No device credentials: use HTTP Basic, the device id as user name and its credential as password."),
    ("care.batch_too_large", "一次提交了 {count} 条读数：每次最多 {max} 条。", "{count} readings in one request: at most {max} per request."),
    ("care.too_large", "数据过大（{size} 字节）：每条读数不超过 {max} 字节。", "Too large ({size} bytes): a reading is at most {max} bytes."),
    ("care.malformed", "不是有效的 JSON：{detail}", "Not valid JSON: {detail}"),
    ("care.not_an_object", "读数应为 JSON 对象：{\"ts\", \"kind\", \"value\", \"seq\"}。", "A reading is a JSON object: {\"ts\", \"kind\", \"value\", \"seq\"}."),
    ("care.missing_field", "缺少字段“{field}”。", "The field “{field}” is missing."),
    ("care.unknown_kind", "未知的读数类型 {value}；可选：{options}。", "Unknown reading kind {value}; use one of: {options}."),
    ("care.kind_not_sent", "{device} 类设备不发送 {kind} 读数。", "A {device} device does not send {kind} readings."),
    ("care.bad_seq", "序号 {value} 无效：应为 0 或正整数，每台设备递增。", "Sequence number {value} is invalid: use a whole number of 0 or more, rising per device."),
    ("care.bad_time", "时间 {value} 无效：应为 RFC 3339 格式，如 2026-11-24T08:00:00+08:00。", "Time {value} is invalid: use RFC 3339, such as 2026-11-24T08:00:00+08:00."),
    ("care.future_time", "时间 {value} 晚于当前时间 {minutes} 分钟以上：请校准设备时钟。", "Time {value} is more than {minutes} minutes ahead of now: set the device's clock."),
    ("care.past_time", "时间 {value} 早于 {days} 天前：请校准设备时钟。", "Time {value} is more than {days} days ago: set the device's clock."),
    ("care.bad_value", "{kind} 读数的值 {value} 无效：应为 {expected}。", "Value {value} is invalid for a {kind} reading: use {expected}."),
    ("care.provision_failed", "设备“{value}”已登记，但未能在 MQTT 服务器上开通账号：{detail}。请检查服务器后重置凭证（POST /api/v1/care/devices/{value}/credential）。", "Device “{value}” is registered, but its account could not be made on the MQTT broker: {detail}. Check the broker, then reset the credential (POST /api/v1/care/devices/{value}/credential)."),
    ("care.bad_rule", "规则“{field}”的设置无效：应为 {expected}。", "The rule setting “{field}” is invalid: use {expected}."),
];
