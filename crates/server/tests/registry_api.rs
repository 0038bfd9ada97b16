//! The registry's HTTP API over the real application and both databases: records in and
//! out, masking, the audited reveal, exports, imports with bad rows, and the access rules.

mod common;

use common::{on_each_backend, App};
use linli_core::registry::idcard::check_character;
use linli_core::table::Table;
use serde_json::{json, Value};

const COMMUNITY: &str = "330102001051";
const GRID: &str = "330102001051001";

/// A valid ID number for someone born on `birth` (yyyymmdd), sequence `seq` (odd: male).
fn id_number(birth: &str, seq: u32) -> String {
    let first = format!("330102{birth}{seq:03}");
    let bytes: [u8; 17] = first.as_bytes().try_into().expect("17 digits");
    format!("{first}{}", check_character(&bytes))
}

async fn building(app: &App, token: &str, name: &str) -> i64 {
    let r = app
        .post(
            token,
            "/api/v1/buildings",
            &json!({"region": GRID, "name": name, "address": "劳动路1号", "lon": 120.16, "lat": 30.24, "floors": 6}),
        )
        .await;
    r.status(201);
    r.json()["id"].as_i64().expect("building id")
}

async fn household(app: &App, token: &str, building_id: i64, room: &str, tenure: &str) -> i64 {
    let r = app
        .post(
            token,
            "/api/v1/households",
            &json!({"building_id": building_id, "unit": "1", "room": room, "tenure": tenure}),
        )
        .await;
    r.status(201);
    r.json()["id"].as_i64().expect("household id")
}

/// A leader of 清波街道 (the demo's own leader heads another street).
async fn street_leader(app: &App) -> String {
    app.store
        .create_user(
            &linli_store::Actor::system("test"),
            linli_store::NewUser {
                username: "qingbo".into(),
                display_name: "清波街道书记".into(),
                password: common::PASSWORD.into(),
                role: linli_core::Role::Leader,
                scope: linli_core::Scope::parse("330102001").unwrap(),
            },
        )
        .await
        .expect("a street leader");
    app.token("qingbo").await
}

async fn bytes(app: &App, token: &str, path: &str) -> (u16, String, Vec<u8>) {
    let res = app
        .client()
        .get(app.url(path))
        .bearer_auth(token)
        .send()
        .await
        .expect("request");
    let status = res.status().as_u16();
    let ctype = res
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    (status, ctype, res.bytes().await.expect("body").to_vec())
}

#[tokio::test]
async fn residents_round_trip_masked_found_revealed_and_exported() {
    on_each_backend(|app| async move {
        let shegong = app.token("shegong").await;
        let leader = street_leader(&app).await;
        let b = building(&app, &shegong, "测试1幢").await;
        let h = household(&app, &shegong, b, "101", "自有").await;
        let id = id_number("19400105", 11);
        let r = app
            .post(
                &shegong,
                "/api/v1/residents",
                &json!({"household_id": h, "name": "王大爷", "id_number": id, "phone": "138-1234-5678",
                        "relation": "户主", "tags": ["独居", "party_member"]}),
            )
            .await;
        r.status(201);
        let body = r.json();
        let rid = body["id"].as_i64().unwrap();
        assert_eq!(body["id_number"], format!("330102********{}", &id[14..]));
        assert_eq!(body["phone"], "138****5678");
        assert_eq!(body["gender"], "male");
        assert_eq!(body["birth_date"], "1940-01-05");
        let tags: Vec<&str> = body["tags"].as_array().unwrap().iter().map(|t| t["tag"].as_str().unwrap()).collect();
        for t in ["age60", "age80", "living_alone", "party_member"] {
            assert!(tags.contains(&t), "{t} in {tags:?}");
        }
        assert!(!r.text.contains(&id), "the ID number never leaves in clear");

        // Registered once: the same ID again is a conflict naming the field.
        let again = app
            .post(&shegong, "/api/v1/residents", &json!({"household_id": h, "name": "冒名", "id_number": id}))
            .await;
        again.error(409, "id_registered", Some("id_number"));
        // Each way an ID number is wrong has its own message.
        let mut wrong = id.clone();
        wrong.replace_range(17..18, if id.ends_with('0') { "1" } else { "0" });
        app.post(&shegong, "/api/v1/residents", &json!({"household_id": h, "name": "甲", "id_number": wrong}))
            .await
            .error(400, "id_checksum", Some("id_number"));
        app.post(&shegong, "/api/v1/residents", &json!({"household_id": h, "name": "甲", "id_number": "33010219400105"}))
            .await
            .error(400, "id_length", Some("id_number"));
        app.post(&shegong, "/api/v1/residents", &json!({"household_id": h, "name": "甲", "id_number": id_number("19400105", 13), "gender": "女"}))
            .await
            .error(400, "gender_mismatch", Some("gender"));

        // Lists: repeatable tags, paginated, ordered; leaders read them too.
        let list = app.get(&leader, &format!("/api/v1/residents?region=330102001&tag=age80&tag=living_alone&building_id={b}")).await;
        list.status(200);
        assert_eq!(list.json()["total"], 1);
        assert_eq!(list.json()["items"][0]["name"], "王大爷");
        let none = app.get(&shegong, &format!("/api/v1/residents?region={GRID}&tag=under3&building_id={b}")).await;
        assert_eq!(none.json()["total"], 0);
        app.get(&shegong, "/api/v1/residents?tag=nonsense").await.error(400, "bad_tag", Some("tag"));
        let by_id = app.get(&shegong, &format!("/api/v1/residents?q={id}")).await;
        assert_eq!(by_id.json()["total"], 1);

        // Reveal: needs the permission and a reason; audited with who and why.
        app.post(&leader, &format!("/api/v1/residents/{rid}/reveal"), &json!({"field": "id_number", "reason": "核对"}))
            .await
            .status(403);
        app.post(&shegong, &format!("/api/v1/residents/{rid}/reveal"), &json!({"field": "id_number", "reason": ""}))
            .await
            .error(400, "reason_required", Some("reason"));
        let shown = app
            .post(&shegong, &format!("/api/v1/residents/{rid}/reveal"), &json!({"field": "id_number", "reason": "核对高龄津贴"}))
            .await;
        shown.status(200);
        assert_eq!(shown.json()["value"], id.as_str());
        let admin = app.token("admin").await;
        let audit = app.get(&admin, "/api/v1/audit?limit=20").await;
        let entry = audit.json()["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["action"] == "resident.reveal")
            .cloned()
            .expect("a reveal entry");
        assert_eq!(entry["username"], "shegong");
        assert_eq!(entry["after"]["reason"], "核对高龄津贴");
        assert!(!audit.text.contains(&id), "the audit log holds no identifier in clear");

        // Export: an .xlsx of the filtered list, masked, and audited.
        let (status, ctype, xlsx) = bytes(&app, &shegong, &format!("/api/v1/residents/export?region={COMMUNITY}&tag=age80&building_id={b}")).await;
        assert_eq!(status, 200);
        assert!(ctype.contains("spreadsheetml"), "{ctype}");
        let table = linli_sheet::read("export.xlsx", &xlsx).expect("the export reads back");
        assert_eq!(table.rows.len(), 1);
        assert_eq!(table.headers[0], "姓名");
        assert!(table.rows[0].cells.iter().any(|c| c == &format!("330102********{}", &id[14..])));
        let audit = app.get(&admin, "/api/v1/audit?limit=5").await;
        assert!(audit.json()["items"].as_array().unwrap().iter().any(|e| e["action"] == "residents.export" && e["after"]["rows"] == 1));

        // The region summary gains the registry's figures.
        let s = app.get(&leader, "/api/v1/regions/330102001/summary").await;
        s.status(200);
        let f = &s.json()["registry"];
        assert!(f["residents"].as_i64().unwrap() >= 1 && f["age80"].as_i64().unwrap() >= 1, "{f}");

        // Outside the area: a grid worker of grid 001 sees no resident elsewhere; a record id
        // outside answers 404 like a missing one.
        let other_grid_building = app
            .post(&shegong, "/api/v1/buildings", &json!({"region": "330102001051", "name": "社区直管楼", "address": "x"}))
            .await;
        other_grid_building.status(201);
        let wangge = app.token("wangge").await;
        app.get(&wangge, "/api/v1/residents?region=330102001052").await.status(403);
        let ob = other_grid_building.json()["id"].as_i64().unwrap();
        app.get(&wangge, &format!("/api/v1/buildings/{ob}")).await.status(404);
        app.get(&wangge, "/api/v1/buildings/99999999").await.status(404);
        app
    })
    .await;
}

#[tokio::test]
async fn imports_list_every_bad_row_and_write_nothing() {
    on_each_backend(|app| async move {
        let shegong = app.token("shegong").await;
        let b = building(&app, &shegong, "导入1幢").await;
        let good = id_number("19500505", 71);
        let mut bad = id_number("19600606", 73);
        bad.pop();
        bad.push(if bad.ends_with('1') { '2' } else { '1' });
        let csv = format!(
            "姓名,身份证号,手机号,楼栋,单元,室号,与户主关系,标签\n\
             甲,{good},13900001111,导入1幢,1,101,户主,独居\n\
             乙,{bad},,导入1幢,1,102,户主,\n\
             丙,{},,无此楼,1,103,户主,\n\
             丁,{good},,导入1幢,1,104,户主,\n",
            id_number("19700707", 75)
        );
        let url = app.url(&format!(
            "/api/v1/registry/residents/import?community={COMMUNITY}&name=r.csv"
        ));
        let post = |body: String| {
            app.client()
                .post(url.clone())
                .bearer_auth(&shegong)
                .body(body)
        };
        let r = app.with("import bad", post(csv.clone())).await;
        let e = r.error(422, "import_rejected", None);
        let rows: Vec<(i64, String)> = e["rows"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| {
                (
                    x["row"].as_i64().unwrap(),
                    x["field"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        assert_eq!(
            rows,
            vec![
                (3, "id_number".into()),
                (4, "building".into()),
                (5, "id_number".into())
            ],
            "{e}"
        );
        let list = app
            .get(
                &shegong,
                &format!("/api/v1/residents?region={COMMUNITY}&building_id={b}"),
            )
            .await;
        assert_eq!(list.json()["total"], 0, "nothing written");

        let fixed: String = csv.lines().take(2).map(|l| format!("{l}\n")).collect();
        let r = app.with("import fixed", post(fixed)).await;
        r.status(201);
        assert_eq!(
            r.json(),
            json!({"created": 1, "updated": 0, "households_created": 1})
        );
        let list = app
            .get(
                &shegong,
                &format!("/api/v1/residents?region={COMMUNITY}&tag=living_alone&building_id={b}"),
            )
            .await;
        assert_eq!(list.json()["total"], 1);

        // Templates: an .xlsx with the Chinese headers the import reads.
        let (status, _, xlsx) = bytes(&app, &shegong, "/api/v1/registry/residents/template").await;
        assert_eq!(status, 200);
        let t = linli_sheet::read("t.xlsx", &xlsx).unwrap();
        assert_eq!(&t.headers[..2], ["姓名", "身份证号"]);
        app.get(&shegong, "/api/v1/registry/cats/template")
            .await
            .status(404);
        // A leader may not import.
        let leader = street_leader(&app).await;
        let r = app
            .with(
                "leader import",
                app.client()
                    .post(url.clone())
                    .bearer_auth(&leader)
                    .body("姓名\n"),
            )
            .await;
        r.status(403);
        app
    })
    .await;
}

#[tokio::test]
async fn hubs_enforce_floor_areas_and_typology_is_served_and_editable() {
    on_each_backend(|app| async move {
        let shegong = app.token("shegong").await;
        let bad = app
            .post(
                &shegong,
                "/api/v1/hubs",
                &json!({"region": COMMUNITY, "name": "测试邻里坊", "kind": "分散式", "model": "3+x",
                        "functions": ["party_services"], "address": "x",
                        "spaces": [{"role": "main", "name": "主楼", "area_m2": 420.0}]}),
            )
            .await;
        bad.status(400);
        let problems = bad.json()["error"]["problems"].as_array().cloned().unwrap_or_default();
        assert!(problems.len() >= 2, "area and satellite and functions: {}", bad.text);
        assert!(bad.text.contains("500"), "the rule's figure is named: {}", bad.text);
        let good = app
            .post(
                &shegong,
                "/api/v1/hubs",
                &json!({"region": COMMUNITY, "name": "测试邻里坊", "kind": "clustered", "model": "3+x",
                        "functions": ["party_services", "public_services", "convenience_services", "邻里食堂"], "address": "清波街1号",
                        "spaces": [{"role": "main", "name": "综合楼", "area_m2": 1800.0}]}),
            )
            .await;
        good.status(201);
        assert_eq!(good.json()["area_m2"], 1800.0);
        let hub_id = good.json()["id"].as_i64().unwrap();
        let f = app
            .post(
                &shegong,
                "/api/v1/facilities",
                &json!({"region": GRID, "type": "elderly_day_care", "name": "清波日照中心", "floor_area_m2": 300.0, "hub_id": hub_id}),
            )
            .await;
        f.status(201);
        app.post(&shegong, "/api/v1/facilities", &json!({"region": GRID, "type": "spaceport", "name": "x"}))
            .await
            .error(400, "unknown_type", Some("type"));

        let types = app.get(&shegong, "/api/v1/facility-types").await;
        types.status(200);
        let items: Vec<Value> = types.json()["items"].as_array().cloned().unwrap();
        assert_eq!(items.len(), 20);
        let cats: std::collections::BTreeSet<&str> = items.iter().map(|t| t["category"].as_str().unwrap()).collect();
        assert_eq!(cats.len(), 8);
        let mut kg = items.iter().find(|t| t["code"] == "kindergarten").cloned().unwrap();
        kg["radius_m"] = json!(350);
        app.put(&shegong, "/api/v1/facility-types/kindergarten", &kg).await.status(403);
        let admin = app.token("admin").await;
        let r = app.put(&admin, "/api/v1/facility-types/kindergarten", &kg).await;
        r.status(200);
        assert_eq!(r.json()["radius_m"], 350);
        kg["radius_m"] = json!(5);
        app.put(&admin, "/api/v1/facility-types/kindergarten", &kg).await.error(400, "out_of_range", Some("radius_m"));

        // The OpenAPI document covers the registry.
        let doc = app.get(&admin, "/api/v1/openapi.json").await;
        for path in ["/api/v1/residents", "/api/v1/residents/{id}/reveal", "/api/v1/households", "/api/v1/buildings", "/api/v1/facilities", "/api/v1/hubs"] {
            assert!(doc.json()["paths"][path].is_object(), "{path} documented");
        }
        app
    })
    .await;
}

/// GET in a language: status and body bytes.
async fn bytes_in(app: &App, token: &str, path: &str, lang: &str) -> (u16, Vec<u8>) {
    let res = app
        .client()
        .get(app.url(path))
        .bearer_auth(token)
        .header("accept-language", lang)
        .send()
        .await
        .expect("request");
    let status = res.status().as_u16();
    (status, res.bytes().await.expect("body").to_vec())
}

/// An export read back: 200, an .xlsx, its table.
async fn export(app: &App, token: &str, path: &str, lang: &str) -> Table {
    let (status, xlsx) = bytes_in(app, token, path, lang).await;
    assert_eq!(status, 200, "{path}: {}", String::from_utf8_lossy(&xlsx));
    linli_sheet::read("export.xlsx", &xlsx).expect("the export reads back")
}

/// A table's rows as their cells, as wide as the header, in order.
fn cells(t: &Table) -> Vec<Vec<String>> {
    t.rows
        .iter()
        .map(|r| {
            (0..t.headers.len())
                .map(|i| r.cell(i).to_string())
                .collect()
        })
        .collect()
}

/// The row whose first cell is `first`.
fn row_of(t: &Table, first: &str) -> Vec<String> {
    cells(t)
        .into_iter()
        .find(|r| r[0] == first)
        .unwrap_or_else(|| panic!("no row {first} in {:?}", cells(t)))
}

/// A table written back as an .xlsx, every cell as text: what a user's edit saves.
fn workbook(t: &Table) -> Vec<u8> {
    let headers: Vec<&str> = t.headers.iter().map(String::as_str).collect();
    let mut w = linli_sheet::XlsxWriter::new("edited", &headers).expect("a workbook");
    for r in cells(t) {
        let row: Vec<linli_sheet::Cell> = r.into_iter().map(linli_sheet::Cell::Text).collect();
        w.push_row(&row).expect("a row");
    }
    w.finish().expect("the file")
}

async fn import_file(app: &App, token: &str, kind: &str, bytes: Vec<u8>) -> common::Resp {
    let url = app.url(&format!(
        "/api/v1/registry/{kind}/import?community={COMMUNITY}&name={kind}.xlsx"
    ));
    app.with(
        &format!("import {kind}"),
        app.client().post(url).bearer_auth(token).body(bytes),
    )
    .await
}

async fn total(app: &App, token: &str, path: &str) -> i64 {
    let r = app.get(token, path).await;
    r.status(200);
    r.json()["total"].as_i64().expect("a total")
}

/// Whether the audit log holds an export `action` of `rows` rows.
async fn audited(app: &App, action: &str, rows: i64) -> bool {
    let admin = app.token("admin").await;
    let audit = app.get(&admin, "/api/v1/audit?limit=50").await;
    audit.json()["items"]
        .as_array()
        .expect("entries")
        .iter()
        .any(|e| e["action"] == action && e["after"]["rows"] == rows)
}

#[tokio::test]
async fn buildings_and_households_export_in_the_import_columns_and_import_again() {
    on_each_backend(|app| async move {
        let shegong = app.token("shegong").await;
        let b1 = building(&app, &shegong, "导出1幢").await;
        let b2 = building(&app, &shegong, "导出2幢").await;
        household(&app, &shegong, b1, "101", "自有").await;
        household(&app, &shegong, b1, "102", "租住").await;
        household(&app, &shegong, b2, "201", "renter").await;

        // Buildings of the grid: the import's columns, then the community, row for row
        // what the list holds.
        let buildings = format!("/api/v1/buildings?region={GRID}");
        let listed = total(&app, &shegong, &buildings).await;
        let t = export(
            &app,
            &shegong,
            &format!("/api/v1/buildings/export?region={GRID}"),
            "zh-CN",
        )
        .await;
        assert_eq!(
            t.headers,
            [
                "楼栋",
                "地址",
                "经度",
                "纬度",
                "层数",
                "单元数",
                "网格",
                "社区代码"
            ]
        );
        assert_eq!(t.rows.len() as i64, listed);
        assert_eq!(
            row_of(&t, "导出1幢"),
            [
                "导出1幢",
                "劳动路1号",
                "120.16",
                "30.24",
                "6",
                "",
                GRID,
                COMMUNITY
            ]
        );
        assert!(
            audited(&app, "buildings.export", listed).await,
            "the export is audited"
        );
        let en = export(
            &app,
            &shegong,
            &format!("/api/v1/buildings/export?region={GRID}&q=导出"),
            "en",
        )
        .await;
        assert_eq!(
            en.headers,
            [
                "Building",
                "Address",
                "Longitude",
                "Latitude",
                "Floors",
                "Units",
                "Grid",
                "Community code"
            ]
        );
        assert_eq!(en.rows.len(), 2, "the text filter holds");

        // Imported again into its community, the file changes nothing.
        let community_buildings = format!("/api/v1/buildings?region={COMMUNITY}");
        let before = total(&app, &shegong, &community_buildings).await;
        let r = import_file(&app, &shegong, "buildings", workbook(&t)).await;
        r.status(201);
        assert_eq!(r.json()["created"], 0, "{}", r.text);
        assert_eq!(r.json()["updated"], listed);
        assert_eq!(total(&app, &shegong, &community_buildings).await, before);
        let again = export(
            &app,
            &shegong,
            &format!("/api/v1/buildings/export?region={GRID}"),
            "zh-CN",
        )
        .await;
        assert_eq!(cells(&again), cells(&t), "the records are as they were");

        // Households filtered by tenure, in English; the round trip of the English file.
        let renters = format!("/api/v1/households?region={GRID}&tenure=renter");
        let listed = total(&app, &shegong, &renters).await;
        assert!(listed >= 2);
        let h = export(
            &app,
            &shegong,
            &format!("/api/v1/households/export?region={GRID}&tenure=renter"),
            "en",
        )
        .await;
        assert_eq!(
            h.headers,
            [
                "Building",
                "Unit",
                "Room",
                "Tenure",
                "Size",
                "Community code"
            ]
        );
        assert_eq!(h.rows.len() as i64, listed);
        assert!(
            cells(&h).iter().all(|r| r[3] == "Rented"),
            "{:?}",
            cells(&h)
        );
        assert!(cells(&h).contains(
            &["导出1幢", "1", "102", "Rented", "", COMMUNITY]
                .map(String::from)
                .to_vec()
        ));
        assert!(audited(&app, "households.export", listed).await);
        let zh = export(
            &app,
            &shegong,
            &format!("/api/v1/households/export?building_id={b1}"),
            "zh-CN",
        )
        .await;
        assert_eq!(
            zh.headers,
            ["楼栋", "单元", "室号", "居住类型", "人数", "社区代码"]
        );
        assert_eq!(
            cells(&zh),
            [
                ["导出1幢", "1", "101", "自住", "", COMMUNITY],
                ["导出1幢", "1", "102", "租住", "", COMMUNITY]
            ]
        );
        let all = format!("/api/v1/households?region={COMMUNITY}");
        let before = total(&app, &shegong, &all).await;
        let r = import_file(&app, &shegong, "households", workbook(&h)).await;
        r.status(201);
        assert_eq!(r.json()["created"], 0, "{}", r.text);
        assert_eq!(r.json()["updated"], listed);
        assert_eq!(total(&app, &shegong, &all).await, before);
        assert_eq!(total(&app, &shegong, &renters).await, listed);
        let again = export(
            &app,
            &shegong,
            &format!("/api/v1/households/export?region={GRID}&tenure=renter"),
            "en",
        )
        .await;
        assert_eq!(cells(&again), cells(&h));

        // A row of another community is refused with its line; nothing of the file is written.
        let mut edited = t.clone();
        let at = edited
            .rows
            .iter()
            .position(|r| r.cell(0) == "导出2幢")
            .expect("the row");
        let other = edited
            .rows
            .iter()
            .position(|r| r.cell(0) == "导出1幢")
            .expect("the row");
        edited.rows[at].cells[7] = "330102001052".into();
        edited.rows[other].cells[1] = "改过的地址".into();
        let r = import_file(&app, &shegong, "buildings", workbook(&edited)).await;
        let e = r.error(422, "import_rejected", None);
        let rows = e["rows"].as_array().expect("rows");
        assert_eq!(rows.len(), 1, "{e}");
        assert_eq!(
            rows[0]["row"],
            at + 2,
            "the line in the file (header is line 1)"
        );
        assert_eq!(rows[0]["field"], "community");
        let m = rows[0]["message"].as_str().unwrap_or("");
        assert!(
            m.contains("该行属于社区 330102001052，不能导入到 330102001051"),
            "{m}"
        );
        let b = app.get(&shegong, &format!("/api/v1/buildings/{b1}")).await;
        assert_eq!(b.json()["address"], "劳动路1号", "nothing written");
        let mut edited = h.clone();
        edited.rows[0].cells[5] = "330102001052".into();
        let r = import_file(&app, &shegong, "households", workbook(&edited)).await;
        let e = r.error(422, "import_rejected", None);
        assert_eq!(e["rows"][0]["row"], 2);
        assert_eq!(e["rows"][0]["field"], "community");

        // The area: a grid worker may export his grid, not the community around it nor
        // another district; a resident account nothing.
        let wangge = app.token("wangge").await;
        let (status, _) = bytes_in(
            &app,
            &wangge,
            &format!("/api/v1/buildings/export?region={GRID}"),
            "zh",
        )
        .await;
        assert_eq!(status, 200);
        for path in [
            format!("/api/v1/buildings/export?region={COMMUNITY}"),
            format!("/api/v1/households/export?region={COMMUNITY}"),
            "/api/v1/households/export?region=330105".to_string(),
        ] {
            let (status, _) = bytes_in(&app, &wangge, &path, "zh").await;
            assert_eq!(status, 403, "{path}");
        }
        app.get(&shegong, "/api/v1/households/export?tenure=rich")
            .await
            .error(400, "bad_tenure", Some("tenure"));
        app
    })
    .await;
}

#[tokio::test]
async fn facilities_export_in_the_import_columns_and_import_again() {
    on_each_backend(|app| async move {
        let shegong = app.token("shegong").await;
        let hub = app
            .post(
                &shegong,
                "/api/v1/hubs",
                &json!({"region": COMMUNITY, "name": "导出测试邻里坊", "kind": "clustered", "model": "3+x",
                        "functions": ["party_services", "public_services", "convenience_services", "邻里食堂"], "address": "清波街1号",
                        "spaces": [{"role": "main", "name": "综合楼", "area_m2": 1600.0}]}),
            )
            .await;
        hub.status(201);
        let hub_id = hub.json()["id"].as_i64().expect("hub id");
        let mut ids = Vec::new();
        for body in [
            json!({"region": COMMUNITY, "type": "elderly_day_care", "name": "导出测试日照中心", "address": "清波街2号",
                   "lon": 120.165, "lat": 30.244, "floor_area_m2": 320.5, "hub_id": hub_id}),
            json!({"region": GRID, "type": "elderly_day_care", "name": "导出测试托老所"}),
            json!({"region": COMMUNITY, "type": "pharmacy", "name": "导出测试药房"}),
        ] {
            let r = app.post(&shegong, "/api/v1/facilities", &body).await;
            r.status(201);
            ids.push(r.json()["id"].as_i64().expect("facility id"));
        }
        let filter = format!(
            "region={COMMUNITY}&type=elderly_day_care&q={}",
            url::form_urlencoded::byte_serialize("导出测试".as_bytes()).collect::<String>()
        );
        let listed = total(&app, &shegong, &format!("/api/v1/facilities?{filter}")).await;
        assert_eq!(listed, 2);
        let t = export(&app, &shegong, &format!("/api/v1/facilities/export?{filter}"), "zh-CN").await;
        assert_eq!(t.headers, ["名称", "类型", "地址", "经度", "纬度", "建筑面积", "所属邻里坊", "社区代码"]);
        assert_eq!(t.rows.len() as i64, listed);
        assert_eq!(
            row_of(&t, "导出测试日照中心"),
            ["导出测试日照中心", "老年人日间照料中心/托老所", "清波街2号", "120.165", "30.244", "320.5", "导出测试邻里坊", COMMUNITY]
        );
        assert_eq!(
            row_of(&t, "导出测试托老所"),
            ["导出测试托老所", "老年人日间照料中心/托老所", "", "", "", "", "", COMMUNITY]
        );
        assert!(audited(&app, "facilities.export", 2).await);
        let en = export(&app, &shegong, &format!("/api/v1/facilities/export?{filter}"), "en").await;
        assert_eq!(en.headers, ["Name", "Type", "Address", "Longitude", "Latitude", "Floor area", "Hub", "Community code"]);
        assert_eq!(row_of(&en, "导出测试托老所")[1], "Elderly day-care centre");

        // A row of another community is refused with its line, and nothing is written.
        let mut edited = t.clone();
        edited.rows[1].cells[7] = "330102003050".into();
        let r = import_file(&app, &shegong, "facilities", workbook(&edited)).await;
        let e = r.error(422, "import_rejected", None);
        assert_eq!(e["rows"].as_array().map(Vec::len), Some(1), "{e}");
        assert_eq!(e["rows"][0]["row"], 3);
        assert_eq!(e["rows"][0]["field"], "community");
        assert_eq!(total(&app, &shegong, &format!("/api/v1/facilities?{filter}")).await, 2);

        // The file holds everything the import needs: with the two facilities gone, it
        // brings them back field for field, in either language's headers.
        for (file, lang) in [(&t, "zh-CN"), (&en, "en")] {
            for id in &ids[..2] {
                app.delete(&shegong, &format!("/api/v1/facilities/{id}")).await.status(204);
            }
            let r = import_file(&app, &shegong, "facilities", workbook(file)).await;
            r.status(201);
            assert_eq!(r.json()["created"], 2, "{}", r.text);
            let back = export(&app, &shegong, &format!("/api/v1/facilities/export?{filter}"), lang).await;
            assert_eq!(cells(&back), cells(file));
            let listed = app.get(&shegong, &format!("/api/v1/facilities?{filter}")).await.json();
            ids = listed["items"]
                .as_array()
                .expect("items")
                .iter()
                .filter_map(|f| f["id"].as_i64())
                .collect();
            assert_eq!(ids.len(), 2);
        }

        // Imported again beside the same facilities, the file duplicates nothing; an edited
        // floor area updates the facility in place.
        let mut edited = t.clone();
        let at = edited.rows.iter().position(|r| r.cells[0] == "导出测试日照中心").expect("row");
        edited.rows[at].cells[5] = "400".into();
        let r = import_file(&app, &shegong, "facilities", workbook(&edited)).await;
        r.status(201);
        assert_eq!((r.json()["created"].clone(), r.json()["updated"].clone()), (json!(0), json!(2)), "{}", r.text);
        assert_eq!(total(&app, &shegong, &format!("/api/v1/facilities?{filter}")).await, 2);
        let back = export(&app, &shegong, &format!("/api/v1/facilities/export?{filter}"), "zh-CN").await;
        assert_eq!(row_of(&back, "导出测试日照中心")[5], "400");

        // Outside the area: 403.
        let wangge = app.token("wangge").await;
        let (status, _) = bytes_in(&app, &wangge, &format!("/api/v1/facilities/export?region={COMMUNITY}"), "zh").await;
        assert_eq!(status, 403);
        let (status, _) = bytes_in(&app, &shegong, "/api/v1/facilities/export?region=330102003050", "zh").await;
        assert_eq!(status, 403);

        // The OpenAPI document lists the three exports.
        let doc = app.get(&shegong, "/api/v1/openapi.json").await;
        for path in ["/api/v1/households/export", "/api/v1/buildings/export", "/api/v1/facilities/export"] {
            assert!(doc.json()["paths"][path]["get"].is_object(), "{path} documented");
        }
        app
    })
    .await;
}
