//! Open311 GeoReport v2 at /open311/v2/ over HTTP against the demo district, on both
//! databases: every JSON answer is validated against the spec's JSON Schemas
//! (tests/open311/schema), every XML answer is parsed and must carry the same values as the
//! JSON one; errors come in the spec's format with the right status and store nothing; and
//! a real outside client, the PyPI package georeport, files and reads requests
//! (tests/open311/client_test.py).
//!
//! Demo accounts: jumin (resident), wangge (grid 330102001051001), shegong (community
//! 330102001051).

mod common;

use std::path::PathBuf;

use common::{on_each_backend, App, Resp};
use linli_store::events::EventFilter;
use linli_store::registry::Page;
use linli_store::Actor;
use serde_json::{json, Value};

const GRID: &str = "330102001051001";
/// A spot inside 上城区 by 清波门, where the tests register their own building.
const SPOT: [f64; 2] = [120.1640, 30.2420];
/// Tian'anmen: far outside every district this database has.
const BEIJING: [f64; 2] = [116.3975, 39.9087];

fn repo() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}

// ---------------------------------------------------------------------------------------
// The spec's JSON Schemas

/// The validators for the three kinds of answer the schemas describe.
struct Schemas {
    services: jsonschema::Validator,
    definition: jsonschema::Validator,
    requests: jsonschema::Validator,
}

/// Where the schema files are registered: they have no `$id`, and `requests.json` refers to
/// `request.json` (and `services.json` to `service.json`) relatively, so all five live under
/// one base and each validator starts from a `$ref` to its file.
const SCHEMA_BASE: &str = "https://schemas.open311.test/georeport-v2/";

fn schemas() -> Schemas {
    let dir = repo().join("tests/open311/schema");
    let mut builder = jsonschema::Registry::new();
    for file in [
        "request.json",
        "requests.json",
        "service.json",
        "services.json",
        "service-definition.json",
    ] {
        let path = dir.join(file);
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("reading the schema {}: {e}", path.display()));
        let schema: Value = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("the schema {file} is not JSON: {e}"));
        builder = builder
            .add(format!("{SCHEMA_BASE}{file}"), schema)
            .unwrap_or_else(|e| panic!("registering {file}: {e}"));
    }
    let registry = builder.prepare().expect("the schemas resolve");
    let validator = |file: &str| {
        jsonschema::options()
            .with_registry(&registry)
            // date-time and uri are checked, not just noted.
            .should_validate_formats(true)
            .build(&json!({"$ref": format!("{SCHEMA_BASE}{file}")}))
            .unwrap_or_else(|e| panic!("building the validator for {file}: {e}"))
    };
    let s = Schemas {
        services: validator("services.json"),
        definition: validator("service-definition.json"),
        requests: validator("requests.json"),
    };
    // The wiring is real: a broken request fails, through the $ref into request.json.
    let broken = json!([{"service_request_id": "1", "status": "pending", "service_code": "x",
        "requested_datetime": "yesterday"}]);
    assert!(
        s.requests.iter_errors(&broken).count() >= 2,
        "the request schema rejects a bad status and a bad date-time"
    );
    assert!(!s.services.is_valid(&json!([{"service_code": "x"}])));
    s
}

/// Fails the test with every schema error, if there is any.
#[track_caller]
fn valid(v: &jsonschema::Validator, value: &Value, what: &str) {
    let errors: Vec<String> = v
        .iter_errors(value)
        .map(|e| format!("{e} (at {})", e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "{what}: not valid against the spec's schema:\n  {}\n{value:#}",
        errors.join("\n  ")
    );
}

// ---------------------------------------------------------------------------------------
// XML

/// Asserts that an XML answer parses and carries exactly the values of the JSON answer to
/// the same call: objects as elements with one child per field, lists as an element with
/// one child per item, null as an empty element.
#[track_caller]
fn same_as_json(xml: &Resp, json: &Value, root: &str) {
    assert_eq!(
        xml.header("content-type"),
        Some("text/xml; charset=utf-8"),
        "{}",
        xml.what
    );
    assert!(
        xml.text
            .starts_with("<?xml version=\"1.0\" encoding=\"utf-8\"?>"),
        "{}: the XML declaration",
        xml.what
    );
    let doc = roxmltree::Document::parse(&xml.text)
        .unwrap_or_else(|e| panic!("{}: not XML ({e}): {}", xml.what, xml.text));
    let top = doc.root_element();
    assert_eq!(
        top.tag_name().name(),
        root,
        "{}: the root element",
        xml.what
    );
    compare(json, top, &format!("{} {root}", xml.what));
}

fn compare(json: &Value, node: roxmltree::Node, path: &str) {
    let kids: Vec<roxmltree::Node> = node.children().filter(|c| c.is_element()).collect();
    let own_text = || {
        node.children()
            .filter(|c| c.is_text())
            .filter_map(|c| c.text())
            .collect::<String>()
    };
    match json {
        Value::Object(fields) => {
            assert_eq!(
                kids.len(),
                fields.len(),
                "{path}: XML has {:?}, JSON has {:?}",
                kids.iter().map(|k| k.tag_name().name()).collect::<Vec<_>>(),
                fields.keys().collect::<Vec<_>>()
            );
            for (k, v) in fields {
                let child = kids
                    .iter()
                    .find(|c| c.tag_name().name() == k)
                    .unwrap_or_else(|| panic!("{path}: no <{k}> in the XML"));
                compare(v, *child, &format!("{path}/{k}"));
            }
        }
        Value::Array(items) => {
            assert_eq!(kids.len(), items.len(), "{path}: number of items");
            for (i, (v, child)) in items.iter().zip(kids).enumerate() {
                compare(v, child, &format!("{path}[{i}]"));
            }
        }
        Value::Null => assert!(
            kids.is_empty() && own_text().is_empty(),
            "{path}: null is an empty element"
        ),
        Value::String(s) => assert_eq!(&own_text(), s, "{path}"),
        Value::Bool(b) => assert_eq!(own_text(), b.to_string(), "{path}"),
        Value::Number(n) => {
            let x: f64 = own_text()
                .parse()
                .unwrap_or_else(|e| panic!("{path}: {:?} is not a number: {e}", own_text()));
            assert_eq!(Some(x), n.as_f64(), "{path}");
        }
    }
}

// ---------------------------------------------------------------------------------------
// Calls

async fn get(app: &App, path: &str) -> Resp {
    app.with(
        &format!("GET {path}"),
        app.client().get(app.url(&format!("/open311/v2/{path}"))),
    )
    .await
}

async fn get_en(app: &App, path: &str) -> Resp {
    app.with(
        &format!("GET {path} (en)"),
        app.client()
            .get(app.url(&format!("/open311/v2/{path}")))
            .header("accept-language", "en-GB,en;q=0.9"),
    )
    .await
}

async fn post(app: &App, format: &str, form: &[(&str, String)]) -> Resp {
    app.with(
        &format!("POST requests.{format}"),
        app.client()
            .post(app.url(&format!("/open311/v2/requests.{format}")))
            .form(form),
    )
    .await
}

/// A JSON answer: its status and content type, and the body.
#[track_caller]
fn json_of(r: &Resp, status: u16) -> Value {
    r.status(status);
    assert_eq!(
        r.header("content-type"),
        Some("application/json"),
        "{}",
        r.what
    );
    r.json()
}

/// Asserts an error in the spec's format, in JSON or XML, and returns its descriptions.
#[track_caller]
fn spec_error(r: &Resp, status: u16) -> Vec<String> {
    r.status(status);
    if r.header("content-type") == Some("application/json") {
        let v = r.json();
        let list = v
            .as_array()
            .unwrap_or_else(|| panic!("{}: errors are a list: {}", r.what, r.text));
        assert!(!list.is_empty(), "{}: at least one error", r.what);
        list.iter()
            .map(|e| {
                assert_eq!(e["code"], status, "{}: {}", r.what, r.text);
                let d = e["description"].as_str().unwrap_or("").to_string();
                assert!(!d.trim().is_empty(), "{}: a description", r.what);
                d
            })
            .collect()
    } else {
        assert_eq!(
            r.header("content-type"),
            Some("text/xml; charset=utf-8"),
            "{}",
            r.what
        );
        let doc = roxmltree::Document::parse(&r.text)
            .unwrap_or_else(|e| panic!("{}: not XML ({e}): {}", r.what, r.text));
        let top = doc.root_element();
        assert_eq!(top.tag_name().name(), "errors", "{}", r.what);
        let errors: Vec<roxmltree::Node> =
            top.children().filter(|c| c.has_tag_name("error")).collect();
        assert!(!errors.is_empty(), "{}: at least one <error>", r.what);
        errors
            .iter()
            .map(|e| {
                let field = |name: &str| {
                    e.children()
                        .find(|c| c.has_tag_name(name))
                        .and_then(|c| c.text())
                        .unwrap_or("")
                        .to_string()
                };
                assert_eq!(field("code"), status.to_string(), "{}", r.what);
                let d = field("description");
                assert!(!d.trim().is_empty(), "{}: a description", r.what);
                d
            })
            .collect()
    }
}

async fn building(app: &App, token: &str) -> i64 {
    let r = app
        .post(
            token,
            "/api/v1/buildings",
            &json!({"region": GRID, "name": "开放接口测试楼", "address": "清波街", "lon": SPOT[0], "lat": SPOT[1]}),
        )
        .await;
    r.status(201);
    r.json()["id"].as_i64().expect("building id")
}

async fn api_key(app: &App, name: &str) -> String {
    app.store
        .create_api_key(&Actor::system("test"), name)
        .await
        .expect("an API key")
        .1
}

async fn event_count(app: &App) -> i64 {
    app.store
        .events(&EventFilter::default(), Page::new(None, Some(1)))
        .await
        .expect("events")
        .1
}

async fn act(app: &App, token: &str, id: i64, body: Value) {
    app.post(token, &format!("/api/v1/events/{id}/actions"), &body)
        .await
        .status(200);
}

fn s(v: &str) -> String {
    v.to_string()
}

/// Percent-encodes a query value (a `+` in a zone must not become a space).
fn urlencode(v: &str) -> String {
    url::form_urlencoded::byte_serialize(v.as_bytes()).collect()
}

// ---------------------------------------------------------------------------------------
// Tests

#[tokio::test]
async fn discovery_services_and_definitions_follow_the_spec() {
    let schemas = schemas();
    on_each_backend(|app| {
        let schemas = &schemas;
        async move {
            // Discovery: the address from the request's Host, both formats.
            let r = get(&app, "discovery.json").await;
            let d = json_of(&r, 200);
            let ep = &d["endpoints"][0];
            assert_eq!(ep["specification"], "http://wiki.open311.org/GeoReport_v2");
            assert_eq!(ep["url"], format!("{}/open311/v2", app.base));
            assert_eq!(ep["formats"], json!(["text/xml", "application/json"]));
            assert_eq!(r.header("access-control-allow-origin"), Some("*"));
            same_as_json(&get(&app, "discovery.xml").await, &d, "discovery");

            // Services: one per active category, named in the caller's language.
            let r = get(&app, "services.json").await;
            let services = json_of(&r, 200);
            valid(&schemas.services, &services, "services.json");
            same_as_json(&get(&app, "services.xml").await, &services, "services");
            let list = services.as_array().expect("a list");
            let active = app
                .store
                .categories()
                .await
                .expect("categories")
                .iter()
                .filter(|c| c.active)
                .count();
            assert_eq!(list.len(), active);
            let find = |list: &[Value], code: &str| {
                list.iter()
                    .find(|s| s["service_code"] == code)
                    .cloned()
                    .unwrap_or_else(|| panic!("service {code}"))
            };
            let lift = find(list, "property.lift");
            assert_eq!(lift["service_name"], "电梯故障");
            assert_eq!(lift["group"], "物业管理");
            assert_eq!(lift["metadata"], true);
            assert_eq!(lift["type"], "realtime");
            assert_eq!(lift["description"], "首先由社区受理，限 24 小时内办结。");
            assert_eq!(
                find(list, "env")["group"],
                "环境卫生",
                "a top group is its own group"
            );
            assert_eq!(find(list, "env.dumping")["metadata"], false);
            let en = json_of(&get_en(&app, "services.json").await, 200);
            valid(&schemas.services, &en, "services.json in English");
            let lift_en = find(en.as_array().expect("list"), "property.lift");
            assert_eq!(lift_en["service_name"], "Lift out of order");
            assert_eq!(lift_en["group"], "Property management");
            let by_param = json_of(&get(&app, "services.json?locale=en").await, 200);
            assert_eq!(
                by_param, en,
                "?locale=en is the same as Accept-Language: en"
            );

            // Every service's definition is valid; those with attributes say what they are.
            for svc in list {
                let code = svc["service_code"].as_str().expect("code");
                let def = json_of(&get(&app, &format!("services/{code}.json")).await, 200);
                valid(&schemas.definition, &def, &format!("services/{code}.json"));
                assert_eq!(def["service_code"], code);
                let n = def["attributes"].as_array().expect("attributes").len();
                assert_eq!(
                    svc["metadata"],
                    n > 0,
                    "{code}: metadata says whether it has attributes"
                );
            }
            let path = "services/property.lift";
            let def = json_of(&get(&app, &format!("{path}.json")).await, 200);
            same_as_json(
                &get(&app, &format!("{path}.xml")).await,
                &def,
                "service_definition",
            );
            let attrs = def["attributes"].as_array().expect("attributes");
            assert_eq!(attrs[0]["code"], "building_no");
            assert_eq!(attrs[0]["datatype"], "string");
            assert_eq!(attrs[0]["required"], true);
            assert_eq!(attrs[0]["order"], 1);
            assert_eq!(attrs[1]["code"], "people_trapped");
            assert_eq!(attrs[1]["datatype"], "singlevaluelist");
            assert_eq!(
                attrs[1]["values"],
                json!([{"key": "yes", "name": "有人被困"}, {"key": "no", "name": "无人被困"}])
            );
            let noise = json_of(&get(&app, "services/noise.json").await, 200);
            same_as_json(
                &get(&app, "services/noise.xml").await,
                &noise,
                "service_definition",
            );
            assert_eq!(noise["attributes"][0]["code"], "time_of_day");
            assert_eq!(
                noise["attributes"][0]["values"][1]["name"],
                "夜间（22:00–次日 6:00）"
            );
            let leak = json_of(&get_en(&app, "services/dispute.leak.json").await, 200);
            assert_eq!(leak["attributes"][0]["code"], "floor");
            assert_eq!(leak["attributes"][0]["datatype"], "number");
            assert_eq!(
                leak["attributes"][0]["description"],
                "On which floor is the leak?"
            );

            // What does not exist is the spec's 404, in the format asked for.
            let e = spec_error(&get(&app, "services/nope.json").await, 404);
            assert!(e[0].contains("nope"), "{e:?}");
            spec_error(&get(&app, "services/nope.xml").await, 404);
            spec_error(&get(&app, "services.html").await, 404);
            spec_error(&get(&app, "nothing.json").await, 404);
            let e = spec_error(&get(&app, "services.json?locale=fr").await, 400);
            assert!(e[0].contains("locale"), "{e:?}");
            let e = spec_error(
                &get(&app, "services.json?jurisdiction_id=110101").await,
                404,
            );
            assert!(e[0].contains("110101"), "{e:?}");
            json_of(
                &get(&app, "services.json?jurisdiction_id=330102").await,
                200,
            );
            let e = spec_error(&get(&app, "services.json?color=red").await, 400);
            assert!(
                e[0].contains("color") && e[0].contains("jurisdiction_id"),
                "{e:?}"
            );
            app
        }
    })
    .await;
}

/// The ids of a request list, in order.
fn ids(list: &Value) -> Vec<String> {
    list.as_array()
        .expect("a list")
        .iter()
        .map(|r| r["service_request_id"].as_str().expect("an id").to_string())
        .collect()
}

#[tokio::test]
async fn requests_are_filed_read_and_listed_showing_only_what_is_public() {
    let schemas = schemas();
    on_each_backend(|app| {
        let schemas = &schemas;
        async move {
            let key = api_key(&app, "测试客户端").await;
            let jumin = app.token("jumin").await;
            let wangge = app.token("wangge").await;
            let shegong = app.token("shegong").await;
            let building_id = building(&app, &shegong).await;

            // A lift report through Open311, with its attributes and a contact.
            let r = post(
                &app,
                "json",
                &[
                    ("api_key", key.clone()),
                    ("service_code", s("property.lift")),
                    ("lat", SPOT[1].to_string()),
                    ("long", SPOT[0].to_string()),
                    ("address_string", s("清波街 开放接口测试楼")),
                    ("description", s("电梯停在5楼不动了")),
                    ("attribute[building_no]", s("3幢2单元")),
                    ("attribute[people_trapped]", s("yes")),
                    ("first_name", s("三")),
                    ("last_name", s("张")),
                    ("phone", s("13812345678")),
                    ("email", s("zhang@example.cn")),
                    ("media_url", s("https://example.cn/p.jpg")),
                ],
            )
            .await;
            let created = json_of(&r, 200);
            let c = &created[0];
            let id: i64 = c["service_request_id"]
                .as_str()
                .and_then(|v| v.parse().ok())
                .expect("a numeric service_request_id");
            let token = format!("SJ{id:08}");
            assert_eq!(c["token"], token);
            assert_eq!(c["account_id"], Value::Null);
            let notice = c["service_notice"].as_str().expect("a notice");
            for part in [token.as_str(), "电子邮箱未保存", "media_url 所指的照片未下载"] {
                assert!(notice.contains(part), "the notice says {part}: {notice}");
            }

            // What the store keeps: an event from this client, the contact (the phone
            // encrypted, shown masked), the attributes.
            let ev = app.store.event(id).await.expect("read").expect("stored");
            assert_eq!(ev.source, linli_store::events::Source::Open311);
            assert_eq!(ev.category, "property.lift");
            assert_eq!(ev.contact_name.as_deref(), Some("张三"));
            assert_eq!(ev.contact_phone_masked.as_deref(), Some("138****5678"));
            assert_eq!(ev.address.as_deref(), Some("清波街 开放接口测试楼"));
            assert_eq!(
                app.store.event_attributes(id).await.expect("attributes"),
                Some(json!({"building_no": "3幢2单元", "people_trapped": "yes"}))
            );
            let flow = app.store.event_flow(id).await.expect("flow");
            assert_eq!(flow[0].actor_name, "Open311: 测试客户端");

            // The same in XML, placed by a registered building (address_id).
            let r = post(
                &app,
                "xml",
                &[
                    ("api_key", key.clone()),
                    ("service_code", s("dispute.leak")),
                    ("address_id", building_id.to_string()),
                    ("description", s("楼上漏水，天花板在滴水")),
                    ("attribute[floor]", s("5")),
                ],
            )
            .await;
            r.status(200);
            assert_eq!(r.header("content-type"), Some("text/xml; charset=utf-8"));
            let doc = roxmltree::Document::parse(&r.text).expect("XML");
            assert_eq!(doc.root_element().tag_name().name(), "service_requests");
            let field = |name: &str| {
                doc.descendants()
                    .find(|n| n.has_tag_name(name))
                    .and_then(|n| n.text())
                    .unwrap_or("")
                    .to_string()
            };
            let leak_id: i64 = field("service_request_id").parse().expect("an id");
            assert_eq!(field("token"), format!("SJ{leak_id:08}"));
            let leak = app.store.event(leak_id).await.expect("read").expect("stored");
            assert_eq!(leak.building_id, Some(building_id));
            assert_eq!(
                app.store.event_attributes(leak_id).await.expect("attributes"),
                Some(json!({"floor": 5}))
            );

            // A resident's report in linli's own pages, taken to closure by the grid and the
            // community; the community accepts the lift report with a note.
            let theirs_at = [120.164_37, 30.242_13];
            let r = app
                .post(
                    &jumin,
                    "/api/v1/events",
                    &json!({"category": "env.garbage", "description": "楼下垃圾没人清运，我家电话13900002222",
                        "lon": theirs_at[0], "lat": theirs_at[1]}),
                )
                .await;
            r.status(201);
            let resident_id = r.json()["event"]["id"].as_i64().expect("id");
            act(&app, &wangge, resident_id, json!({"action": "accept"})).await;
            act(&app, &wangge, resident_id, json!({"action": "report_back", "note": "已联系住户王某清运"})).await;
            act(&app, &shegong, resident_id, json!({"action": "verify"})).await;
            act(&app, &shegong, resident_id, json!({"action": "close"})).await;
            act(&app, &shegong, id, json!({"action": "accept", "note": "已通知维保单位"})).await;

            // One request: valid, its values, the same in XML, nothing of the reporter.
            let r = get(&app, &format!("requests/{id}.json")).await;
            let one = json_of(&r, 200);
            valid(&schemas.requests, &one, "requests/{id}.json");
            same_as_json(&get(&app, &format!("requests/{id}.xml")).await, &one, "service_requests");
            let req = &one[0];
            let ev = app.store.event(id).await.expect("read").expect("stored");
            let community = app
                .store
                .region(linli_core::RegionCode::parse("330102001051").expect("code"))
                .await
                .expect("region")
                .expect("the community");
            assert_eq!(req["service_request_id"], id.to_string());
            assert_eq!(req["status"], "open");
            assert_eq!(req["status_notes"], "办理中：已通知维保单位");
            assert_eq!(req["service_code"], "property.lift");
            assert_eq!(req["service_name"], "电梯故障");
            assert_eq!(req["description"], "电梯停在5楼不动了");
            assert_eq!(req["agency_responsible"], community.name.as_str());
            assert_eq!(req["address"], "清波街 开放接口测试楼");
            assert_eq!(req["lat"], SPOT[1]);
            assert_eq!(req["long"], SPOT[0]);
            assert_eq!(req["requested_datetime"], linli_server::events_api::rfc3339(ev.created_at));
            assert_eq!(req["updated_datetime"], linli_server::events_api::rfc3339(ev.updated_at));
            assert_eq!(req["expected_datetime"], linli_server::events_api::rfc3339(ev.due_at));
            assert!(req["requested_datetime"].as_str().expect("a date").ends_with("+08:00"));
            for secret in ["张三", "13812345678", "138****5678", "zhang@example.cn"] {
                assert!(!r.text.contains(secret), "{secret} is not published: {}", r.text);
            }
            // The swagger's singular path and the token as the id answer the same.
            assert_eq!(json_of(&get(&app, &format!("request/{id}.json")).await, 200), one);
            assert_eq!(json_of(&get(&app, &format!("requests/{token}.json")).await, 200), one);
            let en = json_of(&get_en(&app, &format!("requests/{id}.json")).await, 200);
            valid(&schemas.requests, &en, "requests/{id}.json in English");
            assert_eq!(en[0]["service_name"], "Lift out of order");
            assert_eq!(en[0]["status_notes"], "In hand: 已通知维保单位");

            // The resident's report is listed, but not their words, the handlers' notes, the
            // building, nor the place closer than about 100 m.
            let r = get(&app, &format!("requests/{resident_id}.json")).await;
            let theirs = json_of(&r, 200);
            valid(&schemas.requests, &theirs, "a resident's request");
            same_as_json(&get(&app, &format!("requests/{resident_id}.xml")).await, &theirs, "service_requests");
            let t = &theirs[0];
            let closed = app.store.event(resident_id).await.expect("read").expect("stored");
            assert_eq!(t["status"], "closed");
            assert_eq!(t["status_notes"], "已结案");
            assert_eq!(t["service_code"], "env.garbage");
            assert_eq!(t["description"], Value::Null);
            assert_eq!(t["address"], Value::Null);
            assert_eq!(t["address_id"], Value::Null);
            assert_eq!(t["lat"], 30.242);
            assert_eq!(t["long"], 120.164);
            assert_eq!(
                t["updated_datetime"],
                linli_server::events_api::rfc3339(closed.closed_at.expect("closed")),
                "a closed request's update is its closure"
            );
            for secret in ["13900002222", "王某", "没人清运"] {
                assert!(!r.text.contains(secret), "{secret} is not published: {}", r.text);
            }

            // Tokens lead to their request.
            let tk = json_of(&get(&app, &format!("tokens/{token}.json")).await, 200);
            assert_eq!(tk, json!([{"service_request_id": id.to_string(), "token": token}]));
            same_as_json(&get(&app, &format!("tokens/{token}.xml")).await, &tk, "service_requests");

            // The list: valid, newest first, the same in XML, filtered, paged.
            let all = json_of(&get(&app, "requests.json").await, 200);
            valid(&schemas.requests, &all, "requests.json");
            same_as_json(&get(&app, "requests.xml").await, &all, "service_requests");
            let order = ids(&all);
            let pos = |x: i64| order.iter().position(|v| *v == x.to_string());
            assert_eq!(pos(resident_id), Some(0), "newest first: {order:?}");
            assert_eq!(pos(leak_id), Some(1));
            assert_eq!(pos(id), Some(2));

            let open = json_of(&get(&app, "requests.json?status=open").await, 200);
            valid(&schemas.requests, &open, "requests.json?status=open");
            assert!(open.as_array().expect("list").iter().all(|r| r["status"] == "open"));
            assert!(ids(&open).contains(&id.to_string()) && !ids(&open).contains(&resident_id.to_string()));
            let closed_list = json_of(&get(&app, "requests.json?status=closed").await, 200);
            valid(&schemas.requests, &closed_list, "requests.json?status=closed");
            same_as_json(&get(&app, "requests.xml?status=closed").await, &closed_list, "service_requests");
            assert!(closed_list.as_array().expect("list").iter().all(|r| r["status"] == "closed"));
            assert_eq!(ids(&closed_list).first(), Some(&resident_id.to_string()));
            let both = json_of(&get(&app, "requests.json?status=open,closed").await, 200);
            assert_eq!(ids(&both), order, "open and closed are everything");

            let lifts = json_of(&get(&app, "requests.json?service_code=property.lift,dispute.leak").await, 200);
            valid(&schemas.requests, &lifts, "by service code");
            let lift_ids = ids(&lifts);
            assert!(lift_ids.contains(&id.to_string()) && lift_ids.contains(&leak_id.to_string()));
            assert!(lifts
                .as_array()
                .expect("list")
                .iter()
                .all(|r| r["service_code"] == "property.lift" || r["service_code"] == "dispute.leak"));

            // service_request_id overrides every other argument, as the spec says.
            let path = format!("requests.json?service_request_id={id},SJ{resident_id:08}&status=open&service_code=noise");
            let chosen = json_of(&get(&app, &path).await, 200);
            valid(&schemas.requests, &chosen, "by id");
            assert_eq!(ids(&chosen), vec![resident_id.to_string(), id.to_string()]);

            // Dates: ISO 8601 with a zone; the window holds what was made within it.
            let now = chrono::Utc::now();
            let fmt = |d: chrono::DateTime<chrono::Utc>| {
                d.with_timezone(&chrono::FixedOffset::east_opt(8 * 3600).expect("offset"))
                    .to_rfc3339_opts(chrono::SecondsFormat::Secs, false)
            };
            let window = format!(
                "requests.json?start_date={}&end_date={}",
                urlencode(&fmt(now - chrono::Duration::hours(1))),
                urlencode(&fmt(now + chrono::Duration::hours(1)))
            );
            let w = json_of(&get(&app, &window).await, 200);
            valid(&schemas.requests, &w, "a date window");
            assert!(ids(&w).starts_with(&[resident_id.to_string(), leak_id.to_string(), id.to_string()]));
            let later = format!("requests.json?start_date={}", urlencode(&fmt(now + chrono::Duration::hours(1))));
            let empty = json_of(&get(&app, &later).await, 200);
            valid(&schemas.requests, &empty, "an empty list");
            assert_eq!(empty, json!([]));
            same_as_json(&get(&app, &later.replace(".json", ".xml")).await, &empty, "service_requests");
            let old = json_of(&get(&app, "requests.json?end_date=2020-01-01T00:00:00Z").await, 200);
            assert_eq!(old, json!([]), "nothing was made in the 90 days before 2020");

            // Paging (the spec leaves it open): page and page_size, with the total in a header.
            let three = format!("service_request_id={id},{leak_id},{resident_id}");
            let r = get(&app, &format!("requests.json?{three}&page_size=2")).await;
            let first = json_of(&r, 200);
            assert_eq!(r.header("x-total-count"), Some("3"));
            assert_eq!(ids(&first), vec![resident_id.to_string(), leak_id.to_string()]);
            let second = json_of(&get(&app, &format!("requests.json?{three}&page_size=2&page=2")).await, 200);
            assert_eq!(ids(&second), vec![id.to_string()]);

            // A jurisdiction (a region code) narrows the list; the whole district holds all.
            let district = json_of(&get(&app, &format!("requests.json?{three}&jurisdiction_id=330102")).await, 200);
            assert_eq!(ids(&district).len(), 3);
            let other = json_of(&get(&app, &format!("requests.json?{three}&jurisdiction_id=330102003")).await, 200);
            assert_eq!(other, json!([]), "清波门 is not in 湖滨街道");
            app
        }
    })
    .await;
}

#[tokio::test]
async fn errors_come_in_the_spec_format_and_store_nothing() {
    on_each_backend(|app| async move {
        let key = api_key(&app, "错误测试").await;
        let before = event_count(&app).await;
        let at = |lat: f64, long: f64| vec![("lat", lat.to_string()), ("long", long.to_string())];
        let base = |service: &str| {
            let mut f = vec![
                ("api_key", key.clone()),
                ("service_code", s(service)),
                ("description", s("测试")),
            ];
            f.extend(at(SPOT[1], SPOT[0]));
            f
        };

        // No key, or a key that does not exist: 403, in either format.
        let mut no_key = base("noise");
        no_key.retain(|(k, _)| *k != "api_key");
        for format in ["json", "xml"] {
            let e = spec_error(&post(&app, format, &no_key).await, 403);
            assert!(e[0].contains("api_key"), "{e:?}");
        }
        let mut wrong = base("noise");
        wrong[0].1 = "0".repeat(64);
        let e = spec_error(&post(&app, "json", &wrong).await, 403);
        assert!(e[0].contains("api_key"), "{e:?}");

        // An unknown service, a point outside the district, an address alone.
        let e = spec_error(&post(&app, "json", &base("nope")).await, 400);
        assert!(
            e[0].contains("service_code") && e[0].contains("nope"),
            "{e:?}"
        );
        let mut outside = base("env.garbage");
        outside.truncate(3);
        outside.extend(at(BEIJING[1], BEIJING[0]));
        let e = spec_error(&post(&app, "xml", &outside).await, 400);
        assert!(
            e[0].contains("lat/long") && e[0].contains("不在本平台服务的辖区内"),
            "{e:?}"
        );
        let mut only_address = base("env.garbage");
        only_address.truncate(3);
        only_address.push(("address_string", s("清波街 3 号")));
        let e = spec_error(&post(&app, "json", &only_address).await, 400);
        assert!(
            e[0].contains("address_string") && e[0].contains("address_id"),
            "{e:?}"
        );
        let mut both = base("env.garbage");
        both.push(("address_id", s("1")));
        spec_error(&post(&app, "json", &both).await, 400);

        // Attributes: every problem at once, naming the attribute.
        let e = spec_error(&post(&app, "json", &base("property.lift")).await, 400);
        assert_eq!(e.len(), 2, "both required attributes are named: {e:?}");
        assert!(
            e[0].contains("attribute[building_no]") && e[1].contains("attribute[people_trapped]"),
            "{e:?}"
        );
        let mut lift = base("property.lift");
        lift.push(("attribute[building_no]", s("3幢")));
        lift.push(("attribute[people_trapped]", s("maybe")));
        lift.push(("attribute[colour]", s("red")));
        let e = spec_error(&post(&app, "json", &lift).await, 400);
        assert!(
            e.iter()
                .any(|d| d.contains("maybe") && d.contains("yes, no")),
            "{e:?}"
        );
        assert!(
            e.iter()
                .any(|d| d.contains("colour") && d.contains("building_no")),
            "{e:?}"
        );
        let mut leak = base("dispute.leak");
        leak.push(("attribute[floor]", s("三楼")));
        let e = spec_error(&post(&app, "json", &leak).await, 400);
        assert!(
            e[0].contains("attribute[floor]") && e[0].contains("-5"),
            "{e:?}"
        );
        let mut garbage = base("env.garbage");
        garbage.push(("attribute[garbage_kind][]", s("bulky")));
        garbage.push(("attribute[garbage_kind][]", s("nuclear")));
        let e = spec_error(&post(&app, "json", &garbage).await, 400);
        assert!(e[0].contains("nuclear"), "{e:?}");

        // The contact: a bad phone, a bad email, a media_url that is no address.
        let mut phone = base("noise");
        phone.push(("attribute[time_of_day]", s("night")));
        phone.push(("phone", s("12345")));
        let e = spec_error(&post(&app, "json", &phone).await, 400);
        assert!(e[0].starts_with("参数 phone："), "{e:?}");
        let mut contact = base("env.garbage");
        contact.push(("email", s("not-an-email")));
        contact.push(("media_url", s("javascript:alert(1)")));
        let e = spec_error(&post(&app, "json", &contact).await, 400);
        assert_eq!(e.len(), 2, "{e:?}");

        // What the endpoint does not take, or a body that is not a form.
        let mut extra = base("env.garbage");
        extra.push(("priority", s("high")));
        let e = spec_error(&post(&app, "json", &extra).await, 400);
        assert!(
            e[0].contains("priority") && e[0].contains("attribute[CODE]"),
            "{e:?}"
        );
        let r = app
            .with(
                "POST requests.json as JSON",
                app.client()
                    .post(app.url("/open311/v2/requests.json"))
                    .json(&json!({"api_key": key, "service_code": "env.garbage"})),
            )
            .await;
        let e = spec_error(&r, 415);
        assert!(e[0].contains("application/x-www-form-urlencoded"), "{e:?}");
        spec_error(
            &app.with(
                "POST services.json",
                app.client().post(app.url("/open311/v2/services.json")),
            )
            .await,
            405,
        );

        // In English when asked.
        let r = app
            .with(
                "POST requests.json (en)",
                app.client()
                    .post(app.url("/open311/v2/requests.json"))
                    .header("accept-language", "en")
                    .form(&base("nope")),
            )
            .await;
        let e = spec_error(&r, 400);
        assert!(
            e[0].starts_with("Parameter service_code: Unknown service_code"),
            "{e:?}"
        );

        // Reads: a bad date, a bad status, a too-long span, unknown ids and tokens.
        for format in ["json", "xml"] {
            let e = spec_error(
                &get(&app, &format!("requests.{format}?start_date=yesterday")).await,
                400,
            );
            assert!(
                e[0].contains("start_date") && e[0].contains("yesterday"),
                "{e:?}"
            );
            let e = spec_error(
                &get(
                    &app,
                    &format!("requests.{format}?start_date=2025-03-01T08:00:00"),
                )
                .await,
                400,
            );
            assert!(e[0].contains("ISO 8601"), "{e:?}");
            let e = spec_error(
                &get(&app, &format!("requests/99999999.{format}")).await,
                404,
            );
            assert!(e[0].contains("99999999"), "{e:?}");
            spec_error(
                &get(&app, &format!("tokens/SJ99999999.{format}")).await,
                404,
            );
        }
        let e = spec_error(&get(&app, "requests.json?status=pending").await, 400);
        assert!(e[0].contains("pending") && e[0].contains("open"), "{e:?}");
        let e = spec_error(
            &get(
                &app,
                "requests.json?start_date=2025-01-01T00:00:00Z&end_date=2025-06-01T00:00:00Z",
            )
            .await,
            400,
        );
        assert!(e[0].contains("90"), "{e:?}");
        spec_error(
            &get(
                &app,
                "requests.json?start_date=2025-02-01T00:00:00Z&end_date=2025-01-01T00:00:00Z",
            )
            .await,
            400,
        );
        spec_error(&get(&app, "requests.json?page_size=5000").await, 400);
        spec_error(
            &get(&app, "requests.json?service_request_id=abc").await,
            400,
        );
        spec_error(&get(&app, "requests/abc.json").await, 404);
        let e = spec_error(&get(&app, "requests.json?api_key=wrong").await, 403);
        assert!(e[0].contains("api_key"), "{e:?}");

        assert_eq!(
            event_count(&app).await,
            before,
            "no refused request stored anything"
        );
        app
    })
    .await;
}

/// Whether `python3` can import georeport (tests/open311/client_test.py needs it).
fn georeport_installed() -> bool {
    std::process::Command::new("python3")
        .args(["-c", "import georeport"])
        .output()
        .is_ok_and(|o| o.status.success())
}

#[tokio::test]
async fn a_real_open311_client_files_and_reads_requests() {
    if !georeport_installed() {
        let required = ["CI", "LINLI_REQUIRE_PG"]
            .iter()
            .any(|v| std::env::var_os(v).is_some());
        assert!(
            !required,
            "python3 cannot import georeport, which this test needs under CI: \
             pip install georeport==0.3.1 (.ci/run installs it)"
        );
        eprintln!(
            "SKIPPED a_real_open311_client_files_and_reads_requests: python3 cannot import georeport; \
             pip install georeport==0.3.1 to run it"
        );
        return;
    }
    on_each_backend(|app| async move {
        let shegong = app.token("shegong").await;
        // The client's default place is this building's spot.
        building(&app, &shegong).await;
        let key = api_key(&app, "georeport").await;
        let script = repo().join("tests/open311/client_test.py");
        let base = app.base.clone();
        // The client talks to the server running on this runtime: wait for it on the
        // blocking pool so the server keeps answering.
        let out = tokio::task::spawn_blocking(move || {
            std::process::Command::new("python3")
                .arg(&script)
                .args(["--base", &base, "--api-key", &key])
                .args([
                    "--lat",
                    &SPOT[1].to_string(),
                    "--long",
                    &SPOT[0].to_string(),
                ])
                .env("NO_PROXY", "127.0.0.1,localhost")
                .env("no_proxy", "127.0.0.1,localhost")
                .env_remove("GEOREPORT_API_KEY")
                .output()
        })
        .await
        .expect("the client ran to its end")
        .expect("python3 starts");
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        eprintln!("{stdout}{stderr}");
        assert!(
            out.status.success(),
            "[{:?}] georeport against linli failed:\n{stdout}\n{stderr}",
            app.backend
        );
        assert!(stdout.contains(" passed, 0 failed"), "{stdout}");
        app
    })
    .await;
}
