//! The registry against both databases: records, the one-person-one-record rule, tag
//! queries, figures, the audited reveal, key rotation and all-or-nothing imports.

use chrono::NaiveDate;
use linli_core::grid::Source;
use linli_core::registry::idcard::check_character;
use linli_core::registry::rows;
use linli_core::registry::{Relation, Tag, Tenure};
use linli_core::table::{Table, TableRow};
use linli_core::RegionCode;
use linli_pii::Keyring;
use linli_store::divisions::Quiet;
use linli_store::registry::{
    BuildingInput, HouseholdInput, Page, PersonalField, ResidentFilter, ResidentInput,
};
use linli_store::testing::TestDb;
use linli_store::{Actor, Store, StoreError};

const COMMUNITY: &str = "330102001051";
const GRID: &str = "330102001051001";

fn code(s: &str) -> RegionCode {
    RegionCode::parse(s).expect("valid code")
}

fn actor() -> Actor {
    Actor {
        user_id: None,
        username: "shegong".into(),
        ip: None,
    }
}

fn today() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 11, 23).expect("date")
}

/// A valid ID number for a person born on `birth` (yyyymmdd), `seq` 0–999 (odd: male).
fn id_number(birth: &str, seq: u32) -> String {
    let first: String = format!("330102{birth}{seq:03}");
    let bytes: [u8; 17] = first.as_bytes().try_into().expect("17 digits");
    format!("{first}{}", check_character(&bytes))
}

async fn each<F, Fut>(f: F)
where
    F: Fn(Store) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    for db in TestDb::both().await {
        let mut store = db.open().await;
        store
            .load_divisions("330102", &Quiet)
            .await
            .expect("divisions");
        store.use_keys(Keyring::generate()).await.expect("keys");
        // A grid to place things in.
        store
            .create_grid(
                &actor(),
                code(COMMUNITY),
                Some(1),
                linli_store::GridInput {
                    name: "一网格".into(),
                    ..Default::default()
                },
                Source::Manual,
            )
            .await
            .expect("grid");
        eprintln!("backend: {:?}", store.backend());
        f(store.clone()).await;
        store.close().await;
    }
}

async fn building(s: &Store, name: &str, region: &str) -> i64 {
    s.create_building(
        &actor(),
        BuildingInput {
            region: Some(code(region)),
            name: name.into(),
            address: format!("清波街道{name}"),
            lon: Some(120.16),
            lat: Some(30.24),
            floors: Some(6),
            units: Some(2),
        },
        Source::Manual,
    )
    .await
    .expect("building")
    .id
}

async fn household(s: &Store, building_id: i64, room: &str, tenure: Tenure) -> i64 {
    s.create_household(
        &actor(),
        HouseholdInput {
            building_id,
            unit: "1".into(),
            room: room.into(),
            tenure,
            size: None,
        },
        Source::Manual,
    )
    .await
    .expect("household")
    .id
}

fn resident(household_id: i64, name: &str, id: String, tags: Vec<Tag>) -> ResidentInput {
    ResidentInput {
        household_id,
        name: name.into(),
        id_number: id,
        phone: Some("13812345678".into()),
        gender: None,
        birth: None,
        relation: Relation::Head,
        tags,
    }
}

#[tokio::test]
async fn residents_are_registered_once_masked_and_found_by_tags() {
    each(|s| async move {
        let b = building(&s, "1幢", GRID).await;
        let h1 = household(&s, b, "101", Tenure::Owner).await;
        let h2 = household(&s, b, "102", Tenure::Renter).await;
        let old = s
            .create_resident(
                &actor(),
                resident(
                    h1,
                    "王大爷",
                    id_number("19400105", 11),
                    vec![Tag::LivingAlone],
                ),
                Source::Manual,
                today(),
            )
            .await
            .expect("old man");
        assert_eq!(
            old.id_number,
            format!("330102********{}", &id_number("19400105", 11)[14..])
        );
        assert_eq!(old.phone.as_deref(), Some("138****5678"));
        assert_eq!(old.age, 86);
        let tags: Vec<Tag> = old.tags.iter().map(|t| t.tag).collect();
        assert!(
            tags.contains(&Tag::Age80)
                && tags.contains(&Tag::Age60)
                && tags.contains(&Tag::LivingAlone)
        );
        let set = old.tags.iter().find(|t| t.tag == Tag::LivingAlone).unwrap();
        assert_eq!(set.set_by.as_deref(), Some("shegong"));
        s.create_resident(
            &actor(),
            resident(
                h1,
                "李阿姨",
                id_number("19620704", 22),
                vec![Tag::PartyMember],
            ),
            Source::Manual,
            today(),
        )
        .await
        .expect("64-year-old");
        s.create_resident(
            &actor(),
            resident(h2, "小宝", id_number("20250101", 31), vec![]),
            Source::Manual,
            today(),
        )
        .await
        .expect("infant");

        // The same person twice, anywhere: refused, nothing written.
        let again = s
            .create_resident(
                &actor(),
                resident(h2, "王大爷", id_number("19400105", 11), vec![]),
                Source::Manual,
                today(),
            )
            .await;
        assert!(matches!(again, Err(StoreError::Conflict(p)) if p.code == "id_registered"));
        // A wrong checksum names the field.
        let mut bad = id_number("19500101", 13);
        bad.pop();
        bad.push('0');
        let e = s
            .create_resident(
                &actor(),
                resident(h2, "错号", bad, vec![]),
                Source::Manual,
                today(),
            )
            .await;
        assert!(matches!(e, Err(StoreError::Invalid(p)) if p.field == Some("id_number")));

        let list = |tags: Vec<Tag>, region: &str| {
            let s = s.clone();
            let region = code(region);
            async move {
                s.residents(
                    &ResidentFilter {
                        range: region.range(),
                        tags,
                        q: None,
                        household_id: None,
                        building_id: None,
                    },
                    Page::new(None, None),
                    today(),
                )
                .await
                .expect("list")
            }
        };
        let alone80 = list(vec![Tag::Age80, Tag::LivingAlone], "330102").await;
        assert_eq!(alone80.total, 1);
        assert_eq!(alone80.items[0].name, "王大爷");
        assert_eq!(list(vec![Tag::Age60], GRID).await.total, 2);
        assert_eq!(list(vec![Tag::Under3], COMMUNITY).await.total, 1);
        assert_eq!(
            list(vec![Tag::PartyMember, Tag::Age80], COMMUNITY)
                .await
                .total,
            0
        );
        assert_eq!(list(vec![], "330102002").await.total, 0, "another street");
        // One tag's total is counted from the tag index alone; the page, and a total with
        // a condition on the resident's own row, join the residents: all agree.
        let alone = list(vec![Tag::LivingAlone, Tag::Age60], COMMUNITY).await;
        assert!(alone.total >= 1);
        assert_eq!(alone.total, alone.items.len() as i64);
        let joined = s
            .residents(
                &ResidentFilter {
                    range: code(COMMUNITY).range(),
                    tags: vec![Tag::LivingAlone, Tag::Age60],
                    q: Some("13812345678".into()),
                    household_id: None,
                    building_id: None,
                },
                Page::new(None, None),
                today(),
            )
            .await
            .expect("list");
        assert_eq!(joined.total, alone.total);
        let all = list(vec![], COMMUNITY).await;
        assert_eq!(all.total, 3);
        assert_eq!(all.items[0].name, "王大爷", "oldest first within a place");

        // Found by whole ID number or phone through the keyed hash, by name by fragment.
        let by = |q: &str| {
            let s = s.clone();
            let q = q.to_string();
            async move {
                s.residents(
                    &ResidentFilter {
                        range: code("330102").range(),
                        tags: vec![],
                        q: Some(q),
                        household_id: None,
                        building_id: None,
                    },
                    Page::new(None, None),
                    today(),
                )
                .await
                .expect("search")
                .total
            }
        };
        assert_eq!(by(&id_number("19620704", 22)).await, 1);
        assert_eq!(by("138 1234 5678").await, 3);
        assert_eq!(by("大爷").await, 1);
        assert_eq!(by("%").await, 0, "LIKE characters are literal");

        // Figures: live below the community, from the per-community table above it.
        for region in [GRID, COMMUNITY, "330102001", "330102"] {
            let f = s
                .registry_summary(Some(code(region)), today())
                .await
                .expect("summary");
            assert_eq!(
                (f.residents, f.households, f.buildings),
                (3, 2, 1),
                "{region}"
            );
            assert_eq!(
                (f.age60, f.age80, f.under3, f.under18),
                (2, 1, 1, 1),
                "{region}"
            );
            assert_eq!(f.renters, 1, "{region}");
            assert_eq!(f.key_elderly, 1, "{region}");
            assert_eq!(f.tags.get("party_member"), Some(&1), "{region}");
        }
    })
    .await;
}

#[tokio::test]
async fn age_bands_turn_over_on_the_birthday() {
    each(|s| async move {
        let b = building(&s, "2幢", COMMUNITY).await;
        let h = household(&s, b, "201", Tenure::Owner).await;
        // 60 tomorrow, 60 today, 80 today.
        for (i, birth) in ["19661124", "19661123", "19461123"].iter().enumerate() {
            s.create_resident(
                &actor(),
                resident(
                    h,
                    &format!("居民{i}"),
                    id_number(birth, 40 + i as u32),
                    vec![],
                ),
                Source::Manual,
                today(),
            )
            .await
            .expect("resident");
        }
        for region in [COMMUNITY, "330102"] {
            let f = s
                .registry_summary(Some(code(region)), today())
                .await
                .unwrap();
            assert_eq!((f.age60, f.age80), (2, 1), "{region}");
        }
        let tomorrow = today().succ_opt().unwrap();
        let f = s
            .registry_summary(Some(code("330102")), tomorrow)
            .await
            .unwrap();
        assert_eq!(f.age60, 3);
    })
    .await;
}

#[tokio::test]
async fn reveal_needs_a_reason_and_is_audited() {
    each(|s| async move {
        let b = building(&s, "3幢", GRID).await;
        let h = household(&s, b, "301", Tenure::Owner).await;
        let id = id_number("19450315", 51);
        let r = s
            .create_resident(
                &actor(),
                resident(h, "张奶奶", id.clone(), vec![]),
                Source::Manual,
                today(),
            )
            .await
            .unwrap();
        let e = s
            .reveal_resident(&actor(), r.id, PersonalField::IdNumber, " ")
            .await;
        assert!(matches!(e, Err(StoreError::Invalid(p)) if p.field == Some("reason")));
        let shown = s
            .reveal_resident(&actor(), r.id, PersonalField::IdNumber, "核对高龄津贴")
            .await
            .unwrap();
        assert_eq!(shown.as_deref(), Some(id.as_str()));
        let phone = s
            .reveal_resident(&actor(), r.id, PersonalField::Phone, "上门探访前联系")
            .await
            .unwrap();
        assert_eq!(phone.as_deref(), Some("13812345678"));
        let log = s
            .audit_log(linli_core::Scope::Nation, None, 10)
            .await
            .unwrap();
        let reveals: Vec<_> = log
            .iter()
            .filter(|e| e.action == "resident.reveal")
            .collect();
        assert_eq!(reveals.len(), 2);
        assert!(reveals[1]
            .after_json
            .as_deref()
            .unwrap()
            .contains("核对高龄津贴"));
        assert_eq!(reveals[0].username.as_deref(), Some("shegong"));
        // The audit log never holds an identifier in clear.
        assert!(log
            .iter()
            .all(|e| !e.after_json.as_deref().unwrap_or("").contains(&id)));
    })
    .await;
}

#[tokio::test]
async fn keys_rotate_and_a_wrong_lookup_key_is_refused() {
    for db in TestDb::both().await {
        let mut store = db.open().await;
        store.load_divisions("330102", &Quiet).await.unwrap();
        let first = Keyring::generate();
        let text = first.to_text();
        store.use_keys(first).await.unwrap();
        let b = building(&store, "4幢", COMMUNITY).await;
        let h = household(&store, b, "401", Tenure::Owner).await;
        let id = id_number("19380909", 61);
        let r = store
            .create_resident(
                &actor(),
                resident(h, "赵爷爷", id.clone(), vec![]),
                Source::Manual,
                today(),
            )
            .await
            .unwrap();

        // A different lookup key would silently break every lookup: refused at start.
        let mut other = db.open().await;
        let e = other.use_keys(Keyring::generate()).await;
        assert!(matches!(e, Err(StoreError::Config(m)) if m.contains("lookup key")));

        // Add key 2 as current, rotate, drop key 1: still readable, still found.
        let rotated = linli_pii::Keyring::parse(&format!("{text}\n{}", new_key_line(2))).unwrap();
        assert_eq!(rotated.current_key_id(), 2);
        let mut s2 = db.open().await;
        s2.use_keys(rotated.clone()).await.unwrap();
        let n = s2.rotate_keys(&actor(), &Quiet).await.unwrap();
        assert_eq!(n, 1);
        assert_eq!(
            s2.rotate_keys(&actor(), &Quiet).await.unwrap(),
            0,
            "nothing left to rotate"
        );
        let only2 = Keyring::parse(&without_key(&rotated.to_text(), 1)).unwrap();
        let mut s3 = db.open().await;
        s3.use_keys(only2).await.unwrap();
        let shown = s3
            .reveal_resident(&actor(), r.id, PersonalField::IdNumber, "轮换后核对")
            .await
            .unwrap();
        assert_eq!(shown.as_deref(), Some(id.as_str()));
        store.close().await;
    }
}

/// A key line for key `n` with fresh random material.
fn new_key_line(n: u32) -> String {
    let bytes: [u8; 32] = rand_bytes();
    format!("key{n}:{}", hex(&bytes))
}

fn rand_bytes() -> [u8; 32] {
    rand::random()
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// The keyring text without key `n`.
fn without_key(text: &str, n: u32) -> String {
    text.lines()
        .flat_map(|l| l.split([';', ',']))
        .filter(|item| !item.trim().starts_with(&format!("key{n}:")) && !item.trim().is_empty())
        .collect::<Vec<_>>()
        .join("\n")
}

fn table(headers: &[&str], rows: &[&[&str]]) -> Table {
    Table {
        headers: headers.iter().map(|h| h.to_string()).collect(),
        rows: rows
            .iter()
            .enumerate()
            .map(|(i, r)| TableRow {
                line: i + 2,
                cells: r.iter().map(|c| c.to_string()).collect(),
            })
            .collect(),
        lossy: vec![],
    }
}

#[tokio::test]
async fn an_import_with_bad_rows_writes_nothing_and_a_clean_one_writes_all() {
    each(|s| async move {
        building(&s, "5幢", GRID).await;
        let registered = id_number("19500505", 71);
        let b = building(&s, "6幢", GRID).await;
        let h = household(&s, b, "601", Tenure::Owner).await;
        s.create_resident(
            &actor(),
            resident(h, "已登记", registered.clone(), vec![]),
            Source::Manual,
            today(),
        )
        .await
        .unwrap();
        let good1 = id_number("19400101", 81);
        let good2 = id_number("19900202", 82);
        let mut wrong = id_number("19700101", 83);
        wrong.pop();
        wrong.push(if wrong.ends_with('1') { '2' } else { '1' });
        let headers = [
            "姓名",
            "身份证号",
            "手机号",
            "楼栋",
            "单元",
            "室号",
            "与户主关系",
            "标签",
        ];
        let bad = table(
            &headers,
            &[
                &[
                    "甲",
                    &good1,
                    "13900001111",
                    "5幢",
                    "1",
                    "101",
                    "户主",
                    "独居",
                ],
                &["乙", &wrong, "", "5幢", "1", "102", "户主", ""],
                &["丙", &good2, "", "9幢", "1", "101", "户主", ""],
                &["丁", &registered, "", "5幢", "1", "103", "户主", ""],
            ],
        );
        let parsed = rows::parse_residents(&bad, today());
        let e = s
            .import_residents(
                &actor(),
                code(COMMUNITY),
                "bad.xlsx",
                parsed.rows,
                parsed.errors,
                &Quiet,
            )
            .await;
        let Err(StoreError::Rejected(errors)) = e else {
            panic!("expected rejection, got {e:?}")
        };
        let lines: Vec<(usize, &str)> = errors.iter().map(|e| (e.row, e.field.as_str())).collect();
        assert_eq!(
            lines,
            vec![(3, "id_number"), (4, "building"), (5, "id_number")],
            "{errors:?}"
        );
        let before = s
            .registry_summary(Some(code(COMMUNITY)), today())
            .await
            .unwrap();
        assert_eq!(before.residents, 1, "nothing written");

        let fixed = table(
            &headers,
            &[
                &[
                    "甲",
                    &good1,
                    "13900001111",
                    "5幢",
                    "1",
                    "101",
                    "户主",
                    "独居",
                ],
                &["丙", &good2, "", "5幢", "1", "102", "租客", ""],
            ],
        );
        let parsed = rows::parse_residents(&fixed, today());
        let out = s
            .import_residents(
                &actor(),
                code(COMMUNITY),
                "fixed.xlsx",
                parsed.rows,
                parsed.errors,
                &Quiet,
            )
            .await
            .expect("clean import");
        assert_eq!((out.created, out.households_created), (2, 2));
        let f = s
            .registry_summary(Some(code(COMMUNITY)), today())
            .await
            .unwrap();
        assert_eq!((f.residents, f.households, f.renters), (3, 3, 1));
        assert_eq!(f.tags.get("living_alone"), Some(&1));
        let alone = s
            .residents(
                &ResidentFilter {
                    range: code(GRID).range(),
                    tags: vec![Tag::LivingAlone, Tag::Age80],
                    q: None,
                    household_id: None,
                    building_id: None,
                },
                Page::new(None, None),
                today(),
            )
            .await
            .unwrap();
        assert_eq!(alone.total, 1);
        assert_eq!(
            alone.items[0]
                .tags
                .iter()
                .find(|t| t.tag == Tag::LivingAlone)
                .map(|t| t.derived),
            Some(false)
        );
        // Identifiers written in bulk (COPY on PostgreSQL) are found by their keyed hash
        // and decrypt to what the file said.
        let by_phone = s
            .residents(
                &ResidentFilter {
                    range: code(COMMUNITY).range(),
                    tags: vec![],
                    q: Some("13900001111".into()),
                    household_id: None,
                    building_id: None,
                },
                Page::new(None, None),
                today(),
            )
            .await
            .unwrap();
        assert_eq!(by_phone.total, 1);
        let id = by_phone.items[0].id;
        let revealed = s
            .reveal_resident(&actor(), id, PersonalField::IdNumber, "核对导入")
            .await
            .unwrap();
        assert_eq!(revealed.as_deref(), Some(good1.as_str()));
        let phone = s
            .reveal_resident(&actor(), id, PersonalField::Phone, "核对导入")
            .await
            .unwrap();
        assert_eq!(phone.as_deref(), Some("13900001111"));
        let no_phone = s
            .residents(
                &ResidentFilter {
                    range: code(COMMUNITY).range(),
                    tags: vec![],
                    q: Some(good2.clone()),
                    household_id: None,
                    building_id: None,
                },
                Page::new(None, None),
                today(),
            )
            .await
            .unwrap();
        assert_eq!(no_phone.total, 1);
        assert_eq!(no_phone.items[0].phone, None);
    })
    .await;
}
