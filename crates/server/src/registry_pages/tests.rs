//! The pages' tests: the templates against the translation table, and the pages through the
//! real router (module `http`).

use super::*;

/// Every template compiles, and every key a template asks `t()` for is in the table.
#[test]
fn templates_compile_and_their_keys_exist() {
    crate::templates::assert_translated(env(), TEMPLATES, "rp.");
}

mod http {
    //! The pages through the real router over a real (SQLite) store: access as the API
    //! checks it, masking, the reveal, inline form errors, the import.

    use std::net::{Ipv4Addr, SocketAddr};

    use axum::body::Body;
    use axum::extract::ConnectInfo;
    use axum::http::{header, Method, Request, StatusCode};
    use axum::Router;
    use linli_core::grid::Source;
    use linli_core::registry::{check_character, Relation, Tag, Tenure};
    use linli_core::{RegionCode, Role, Scope};
    use linli_store::divisions::Quiet;
    use linli_store::registry::{BuildingInput, HouseholdInput, ResidentInput};
    use linli_store::testing::TestDb;
    use linli_store::{Actor, Keyring, NewUser, SessionKind, Store};
    use tower::ServiceExt;

    use crate::registry_api::today;
    use crate::{auth, AppState, Config};

    const COMMUNITY: &str = "330102001051";

    struct Fixture {
        app: Router,
        state: AppState,
        store: Store,
        resident: i64,
        id_number: String,
        _db: TestDb,
    }

    struct Browser {
        cookie: String,
        csrf: String,
    }

    struct Answer {
        status: StatusCode,
        body: String,
    }

    fn id_number(birth: &str, seq: &str) -> String {
        let body = format!("330102{birth}{seq}");
        let mut first = [0u8; 17];
        first.copy_from_slice(body.as_bytes());
        format!("{body}{}", check_character(&first))
    }

    async fn fixture() -> Fixture {
        let db = TestDb::sqlite();
        let mut store = db.open().await;
        store
            .use_keys(Keyring::generate())
            .await
            .expect("keys for personal data");
        store
            .load_divisions("330102", &Quiet)
            .await
            .expect("load 上城区");
        let system = Actor::system("test");
        let community = RegionCode::parse(COMMUNITY).expect("code");
        store
            .create_grid(
                &system,
                community,
                Some(1),
                linli_store::grids::GridInput {
                    name: "第1网格".into(),
                    kind: None,
                    staff: Vec::new(),
                    boundary: None,
                },
                Source::Manual,
            )
            .await
            .expect("a grid");
        for (name, role, scope) in [
            ("admin", Role::Admin, "330102"),
            ("leader", Role::Leader, "330102001"),
            ("shegong", Role::CommunityWorker, COMMUNITY),
            ("wangge", Role::GridWorker, "330102001051001"),
            ("other", Role::CommunityWorker, "330102003050"),
            ("clerk", Role::DepartmentClerk, "330102"),
        ] {
            store
                .create_user(
                    &system,
                    NewUser {
                        username: name.into(),
                        display_name: name.into(),
                        password: "test-pass-123".into(),
                        role,
                        scope: Scope::parse(scope).expect("scope"),
                    },
                )
                .await
                .expect("an account");
        }
        let building = store
            .create_building(
                &system,
                BuildingInput {
                    region: Some(community),
                    name: "3幢".into(),
                    address: "河坊街 1 号".into(),
                    lon: None,
                    lat: None,
                    floors: Some(6),
                    units: Some(2),
                },
                Source::Manual,
            )
            .await
            .expect("a building");
        let household = store
            .create_household(
                &system,
                HouseholdInput {
                    building_id: building.id,
                    unit: "1单元".into(),
                    room: "101".into(),
                    tenure: Tenure::Owner,
                    size: Some(1),
                },
                Source::Manual,
            )
            .await
            .expect("a household");
        let id = id_number("19400315", "123");
        let resident = store
            .create_resident(
                &system,
                ResidentInput {
                    household_id: household.id,
                    name: "王奶奶".into(),
                    id_number: id.clone(),
                    phone: Some("13912345678".into()),
                    gender: None,
                    birth: None,
                    relation: Relation::Head,
                    tags: vec![Tag::LivingAlone],
                },
                Source::Manual,
                today(),
            )
            .await
            .expect("a resident");
        let state = AppState::new(store.clone(), Config::default());
        Fixture {
            app: crate::router(state.clone()),
            state,
            store,
            resident: resident.id,
            id_number: id,
            _db: db,
        }
    }

    impl Fixture {
        async fn sign_in(&self, username: &str) -> Browser {
            let (user, _) = self
                .store
                .user_by_name(username)
                .await
                .expect("lookup")
                .expect("the account");
            let (token, csrf) = auth::start_session(&self.state, &user, SessionKind::Cookie)
                .await
                .expect("a session");
            Browser {
                cookie: format!("{}={token}", auth::SESSION_COOKIE),
                csrf,
            }
        }

        async fn send(
            &self,
            who: &Browser,
            method: Method,
            path: &str,
            headers: &[(&str, &str)],
            body: Option<(&str, Vec<u8>)>,
        ) -> Answer {
            let mut req = Request::builder()
                .method(method)
                .uri(path)
                .header(header::COOKIE, &who.cookie);
            for (k, v) in headers {
                req = req.header(*k, *v);
            }
            let req = match body {
                Some((content_type, bytes)) => req
                    .header(header::CONTENT_TYPE, content_type)
                    .body(Body::from(bytes)),
                None => req.body(Body::empty()),
            };
            let mut req = req.expect("a request");
            req.extensions_mut()
                .insert(ConnectInfo(SocketAddr::from((Ipv4Addr::LOCALHOST, 4000))));
            let res = self.app.clone().oneshot(req).await.expect("an answer");
            let status = res.status();
            let bytes = axum::body::to_bytes(res.into_body(), usize::MAX)
                .await
                .expect("a body");
            Answer {
                status,
                body: String::from_utf8_lossy(&bytes).into_owned(),
            }
        }

        async fn get(&self, who: &Browser, path: &str) -> Answer {
            self.send(who, Method::GET, path, &[], None).await
        }

        async fn post(&self, who: &Browser, path: &str, form: &[(&str, &str)]) -> Answer {
            let body = url::form_urlencoded::Serializer::new(String::new())
                .extend_pairs(form)
                .finish();
            self.send(
                who,
                Method::POST,
                path,
                &[],
                Some(("application/x-www-form-urlencoded", body.into_bytes())),
            )
            .await
        }
    }

    fn multipart(fields: &[(&str, &str)], file: (&str, &str)) -> (String, Vec<u8>) {
        let boundary = "linli-test-boundary";
        let mut body = String::new();
        for (name, value) in fields {
            body.push_str(&format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
            ));
        }
        body.push_str(&format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{}\"\r\nContent-Type: text/csv\r\n\r\n{}\r\n--{boundary}--\r\n",
            file.0, file.1
        ));
        (
            format!("multipart/form-data; boundary={boundary}"),
            body.into_bytes(),
        )
    }

    #[tokio::test]
    async fn list_pages_link_their_exports_with_the_filters() {
        let f = fixture().await;
        let shegong = f.sign_in("shegong").await;
        for (page, link) in [
            (
                "/registry/households?tenure=renter&building=1&q=10",
                "/api/v1/households/export?building_id=1&tenure=renter&q=10",
            ),
            (
                "/registry/buildings?region=330102001051&q=3",
                "/api/v1/buildings/export?region=330102001051&q=3",
            ),
            (
                "/registry/facilities?type=pharmacy",
                "/api/v1/facilities/export?type=pharmacy",
            ),
        ] {
            let a = f.get(&shegong, page).await;
            assert_eq!(a.status, StatusCode::OK, "GET {page}: {}", a.body);
            // Attribute values come HTML-escaped (`/` as `&#x2f;`, `&` as `&amp;`).
            let body = a.body.replace("&#x2f;", "/").replace("&amp;", "&");
            assert!(
                body.contains(&format!(
                    "id=\"export-link\" class=\"button\" href=\"{link}\""
                )),
                "{page} links {link}: {body}"
            );
            // The link is the API's, which takes the page's cookie for a GET.
            let file = f.get(&shegong, link).await;
            assert_eq!(file.status, StatusCode::OK, "{link}: {}", file.body);
            assert!(file.body.starts_with("PK"), "an .xlsx workbook");
        }
        f.store.close().await;
    }

    #[tokio::test]
    async fn the_registry_link_shows_only_to_roles_that_may_open_it() {
        let f = fixture().await;
        let shegong = f.sign_in("shegong").await;
        let page = f.get(&shegong, &format!("/regions/{COMMUNITY}")).await;
        assert_eq!(page.status, StatusCode::OK);
        assert!(page.body.contains("id=\"nav-registry\""), "{}", page.body);
        let clerk = f.sign_in("clerk").await;
        let page = f.get(&clerk, "/regions/330102").await;
        assert_eq!(page.status, StatusCode::OK);
        assert!(
            !page.body.contains("id=\"nav-registry\""),
            "a department clerk has no registry"
        );
        assert_eq!(
            f.get(&clerk, "/registry").await.status,
            StatusCode::FORBIDDEN
        );
        // A district account picks any of its communities to import into, each named with
        // its street.
        let admin = f.sign_in("admin").await;
        let page = f.get(&admin, "/registry/import").await;
        assert_eq!(page.status, StatusCode::OK);
        let options = page.body.matches("<option value=\"330102").count();
        assert!(options > 100, "every community of 上城区: {options}");
        for community in [COMMUNITY, "330102003050"] {
            let at = page
                .body
                .find(&format!("<option value=\"{community}\""))
                .unwrap_or_else(|| panic!("{community} offered"));
            let end = page.body[at..].find("</option>").map_or(at, |e| at + e);
            let label = &page.body[at..end];
            assert!(label.contains("街道 · "), "{label}");
        }
    }

    #[tokio::test]
    async fn pages_check_access_mask_reveal_and_import() {
        let f = fixture().await;
        let shegong = f.sign_in("shegong").await;
        let path = format!("/registry/residents/{}", f.resident);

        // Lists and the record, masked.
        let list = f
            .get(&shegong, "/registry/residents?tag=age80&tag=living_alone")
            .await;
        assert_eq!(list.status, StatusCode::OK, "{}", list.body);
        assert!(list.body.contains("王奶奶") && list.body.contains("<html"));
        assert!(!list.body.contains(&f.id_number), "the list is masked");
        let partial = f
            .send(
                &shegong,
                Method::GET,
                "/registry/residents?tag=age80",
                &[("hx-request", "true")],
                None,
            )
            .await;
        assert!(partial.body.contains("id=\"residents-table\"") && !partial.body.contains("<html"));
        // The list's export link is the API's, which takes the page's cookie for a GET.
        let export = f.get(&shegong, "/api/v1/residents/export?tag=age80").await;
        assert_eq!(export.status, StatusCode::OK, "{}", export.body);
        assert!(export.body.starts_with("PK"), "an .xlsx workbook");
        let page = f.get(&shegong, &path).await;
        assert_eq!(page.status, StatusCode::OK);
        assert!(page.body.contains("330102********") && !page.body.contains(&f.id_number));
        assert!(
            page.body.contains("reveal-button"),
            "a community worker may reveal"
        );
        for p in [
            "/registry",
            "/registry/households",
            "/registry/buildings",
            "/registry/facilities",
            "/registry/hubs",
            "/registry/import",
            "/registry/facility-types",
            "/registry/buildings/new",
            "/registry/facilities/new",
            "/registry/hubs/new",
            "/registry/households/new",
            &format!("/registry/residents/{}/edit", f.resident),
            "/regions/330102001051",
        ] {
            let a = f.get(&shegong, p).await;
            assert_eq!(a.status, StatusCode::OK, "GET {p}: {}", a.body);
        }
        let region = f.get(&shegong, "/regions/330102001051").await;
        assert!(
            region.body.contains("id=\"registry-summary\""),
            "the region page has the cards"
        );

        // Outside the area: no-access for a place, 404 for a record.
        let outside = f
            .get(&shegong, "/registry/residents?region=330102003050")
            .await;
        assert_eq!(outside.status, StatusCode::FORBIDDEN);
        let wangge = f.sign_in("wangge").await;
        assert_eq!(f.get(&wangge, &path).await.status, StatusCode::NOT_FOUND);
        let other = f.sign_in("other").await;
        assert_eq!(f.get(&other, &path).await.status, StatusCode::NOT_FOUND);
        assert_eq!(
            f.get(&other, "/registry/buildings?region=330102001051")
                .await
                .status,
            StatusCode::FORBIDDEN
        );
        assert_eq!(
            f.get(&shegong, "/registry/residents/999999").await.status,
            StatusCode::NOT_FOUND
        );

        // A leader reads, but reveals and registers nothing.
        let leader = f.sign_in("leader").await;
        let seen = f.get(&leader, &path).await;
        assert_eq!(seen.status, StatusCode::OK);
        assert!(!seen.body.contains("reveal-button"));
        let refused = f
            .post(
                &leader,
                &format!("{path}/reveal"),
                &[
                    ("_csrf", &leader.csrf),
                    ("field", "id_number"),
                    ("reason", "看看"),
                ],
            )
            .await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN);

        // The reveal: CSRF, a reason, then the value.
        let reveal = format!("{path}/reveal");
        let no_csrf = f
            .post(
                &shegong,
                &reveal,
                &[("field", "id_number"), ("reason", "走访")],
            )
            .await;
        assert_eq!(no_csrf.status, StatusCode::FORBIDDEN);
        let htmx = [("hx-request", "true")];
        let body = |reason: &str| {
            url::form_urlencoded::Serializer::new(String::new())
                .extend_pairs([
                    ("_csrf", shegong.csrf.as_str()),
                    ("field", "id_number"),
                    ("reason", reason),
                ])
                .finish()
                .into_bytes()
        };
        let form = "application/x-www-form-urlencoded";
        let empty = f
            .send(
                &shegong,
                Method::POST,
                &reveal,
                &htmx,
                Some((form, body(""))),
            )
            .await;
        assert_eq!(empty.status, StatusCode::OK, "htmx swaps 2xx only");
        assert!(empty.body.contains("field-error") && !empty.body.contains(&f.id_number));
        let shown = f
            .send(
                &shegong,
                Method::POST,
                &reveal,
                &htmx,
                Some((form, body("上门核对"))),
            )
            .await;
        assert!(shown.body.contains(&f.id_number), "{}", shown.body);
        let log = f
            .store
            .audit_log(Scope::parse("330102").expect("scope"), None, 10)
            .await
            .expect("the audit log");
        assert!(log.iter().any(|e| e.action == "resident.reveal"
            && e.username.as_deref() == Some("shegong")
            && e.after_json
                .as_deref()
                .is_some_and(|a| a.contains("上门核对"))));

        // An edit that leaves the identifiers empty keeps them.
        let before = f
            .store
            .resident(f.resident, today())
            .await
            .expect("read")
            .expect("the resident");
        let household = before.household_id.to_string();
        let edited = f
            .post(
                &shegong,
                &path,
                &[
                    ("_csrf", shegong.csrf.as_str()),
                    ("household_id", household.as_str()),
                    ("name", "王阿婆"),
                    ("id_number", ""),
                    ("phone", ""),
                    ("relation", "head"),
                    ("tags", "living_alone"),
                    ("tags", "party_member"),
                ],
            )
            .await;
        assert_eq!(edited.status, StatusCode::SEE_OTHER, "{}", edited.body);
        let after = f
            .store
            .resident(f.resident, today())
            .await
            .expect("read")
            .expect("the resident");
        assert_eq!(after.name, "王阿婆");
        assert_eq!(after.id_number, before.id_number);
        assert_eq!(after.phone, before.phone);
        assert!(after.tags.iter().any(|t| t.tag == Tag::PartyMember));
        let blocked = f
            .post(
                &shegong,
                &format!("/registry/households/{household}/delete"),
                &[("_csrf", shegong.csrf.as_str())],
            )
            .await;
        assert_eq!(blocked.status, StatusCode::BAD_REQUEST);
        assert!(blocked.body.contains("flash error"), "{}", blocked.body);

        // Form errors come back next to their field, with what was typed.
        let bad = f
            .post(
                &shegong,
                "/registry/buildings",
                &[
                    ("_csrf", &shegong.csrf),
                    ("region", COMMUNITY),
                    ("name", "5幢"),
                    ("address", ""),
                    ("lon", "abc"),
                ],
            )
            .await;
        assert_eq!(bad.status, StatusCode::BAD_REQUEST);
        assert!(
            bad.body.contains("id=\"e-lon\"") && bad.body.contains("value=\"5幢\""),
            "{}",
            bad.body
        );
        let hub = f
            .post(
                &shegong,
                "/registry/hubs",
                &[
                    ("_csrf", &shegong.csrf),
                    ("region", COMMUNITY),
                    ("name", "清波邻里坊"),
                    ("kind", "clustered"),
                    ("model", "3+x"),
                    ("address", "河坊街 2 号"),
                    ("space_role", "main"),
                    ("space_name", "主楼"),
                    ("space_area", "900"),
                    ("space_function", ""),
                ],
            )
            .await;
        assert_eq!(hub.status, StatusCode::BAD_REQUEST);
        assert!(
            hub.body.contains("面积 900 ㎡") && hub.body.contains("还缺少基本功能"),
            "every hub problem at once (area and functions): {}",
            hub.body
        );
        let outside_place = f
            .post(
                &shegong,
                "/registry/buildings",
                &[
                    ("_csrf", &shegong.csrf),
                    ("region", "330102003050"),
                    ("name", "1幢"),
                    ("address", "x"),
                ],
            )
            .await;
        assert_eq!(outside_place.status, StatusCode::FORBIDDEN);

        // The import without htmx: the answer waits for the end.
        let csv = format!(
            "姓名,身份证号,楼栋,室号\n李四,{},3幢,102\n张三,{},没有的楼,103\n",
            id_number("19800101", "111"),
            id_number("19800101", "113")
        );
        let (ct, bytes) = multipart(
            &[
                ("_csrf", &shegong.csrf),
                ("kind", "residents"),
                ("community", COMMUNITY),
            ],
            ("r.csv", &csv),
        );
        let rejected = f
            .send(
                &shegong,
                Method::POST,
                "/registry/import",
                &[],
                Some((&ct, bytes)),
            )
            .await;
        assert_eq!(
            rejected.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{}",
            rejected.body
        );
        assert!(
            rejected.body.contains("data-row=\"3\"") && !rejected.body.contains("data-row=\"2\"")
        );
        // Attribute values come HTML-escaped (`/` as `&#x2f;`).
        let unescaped = rejected.body.replace("&#x2f;", "/");
        let token = unescaped
            .split("/registry/import/report/")
            .nth(1)
            .and_then(|s| s.split('"').next())
            .expect("a report link")
            .to_string();
        let report = f
            .get(&shegong, &format!("/registry/import/report/{token}"))
            .await;
        assert_eq!(report.status, StatusCode::OK);
        assert_eq!(
            f.get(&other, &format!("/registry/import/report/{token}"))
                .await
                .status,
            StatusCode::NOT_FOUND
        );
        let by_name = format!(
            "/registry/residents?q={}",
            url::form_urlencoded::byte_serialize("李四".as_bytes()).collect::<String>()
        );
        let none = f.get(&shegong, &by_name).await;
        assert!(!none.body.contains("李四</a>"), "nothing was written");
        let good = format!(
            "姓名,身份证号,楼栋,室号\n李四,{},3幢,102\n",
            id_number("19800101", "111")
        );
        let (ct, bytes) = multipart(
            &[
                ("_csrf", &shegong.csrf),
                ("kind", "residents"),
                ("community", COMMUNITY),
            ],
            ("r.csv", &good),
        );
        let done = f
            .send(
                &shegong,
                Method::POST,
                "/registry/import",
                &[],
                Some((&ct, bytes)),
            )
            .await;
        assert_eq!(done.status, StatusCode::OK, "{}", done.body);
        assert!(done.body.contains("data-state=\"done\""));
        assert!(
            f.get(&shegong, &by_name).await.body.contains("李四</a>"),
            "written"
        );
        let (ct, bytes) = multipart(
            &[
                ("_csrf", &other.csrf),
                ("kind", "residents"),
                ("community", COMMUNITY),
            ],
            ("r.csv", &good),
        );
        let foreign = f
            .send(
                &other,
                Method::POST,
                "/registry/import",
                &[],
                Some((&ct, bytes)),
            )
            .await;
        assert_eq!(foreign.status, StatusCode::FORBIDDEN);

        // English.
        let english = format!("{}; linli_lang=en", shegong.cookie);
        let en = f
            .send(&shegong, Method::GET, &path, &[("cookie", &english)], None)
            .await;
        assert!(
            en.body.contains("Residents") && en.body.contains("Show in full"),
            "{}",
            en.body
        );
        f.store.close().await;
    }
}
