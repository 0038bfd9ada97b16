//! The harness of the HTTP tests: the real application on a random local port, over a real
//! database (a temporary SQLite file, and PostgreSQL when `LINLI_TEST_PG_URL` is set) holding
//! the demo district 上城区 plus a second district (拱墅区, 330105) with no grids, so that
//! "another region" exists. Nothing is mocked: requests go through reqwest over TCP.

#![allow(dead_code)]

use std::future::{Future, IntoFuture};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use linli_store::divisions::Quiet;
use linli_store::testing::TestDb;
use linli_store::{Backend, Store};
use reqwest::header::HeaderMap;
use reqwest::Method;
use serde_json::Value;

/// The password build_demo gives every demo account.
pub const PASSWORD: &str = "test-pass-123";

/// One running application.
pub struct App {
    pub base: String,
    pub backend: Backend,
    pub store: Store,
    http: reqwest::Client,
    server: tokio::task::JoinHandle<()>,
    _db: TestDb,
}

/// Runs `scenario` once per backend, each on a freshly built demo.
pub async fn on_each_backend<F, Fut>(scenario: F)
where
    F: Fn(App) -> Fut,
    Fut: Future<Output = App>,
{
    for db in TestDb::both().await {
        let app = App::start(db).await;
        eprintln!("--- backend {:?} at {}", app.backend, app.base);
        let app = scenario(app).await;
        app.stop().await;
    }
}

impl App {
    pub async fn start(db: TestDb) -> App {
        App::start_with(db, linli_server::Config::default()).await
    }

    /// The application with `config` (a broker, say) over a fresh demo in `db`.
    pub async fn start_with(db: TestDb, config: linli_server::Config) -> App {
        let mut store = db.open().await;
        store
            .use_keys(linli_store::Keyring::generate())
            .await
            .expect("keys for personal data");
        store
            .build_demo(PASSWORD, 0.01, None, &Quiet)
            .await
            .expect("build the demo district");
        store
            .load_divisions("330105", &Quiet)
            .await
            .expect("load 拱墅区 as another region");
        let backend = store.backend();
        let app = linli_server::router(linli_server::AppState::new(store.clone(), config));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a local port");
        let addr = listener.local_addr().expect("local address");
        let serve = axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .into_future();
        let server = tokio::spawn(async move {
            serve.await.expect("server runs");
        });
        App {
            base: format!("http://{addr}"),
            backend,
            store,
            http: client(None),
            server,
            _db: db,
        }
    }

    /// The test database's URL, for a test that must set up a state no API call makes.
    pub fn db_url(&self) -> &str {
        &self._db.url
    }

    pub async fn stop(self) {
        self.server.abort();
        let _ = self.server.await;
        self.store.close().await;
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Sends one request with this app's plain client (no cookies, no redirects).
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> Resp {
        let mut req = self.http.request(method.clone(), self.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(b);
        }
        Resp::from(format!("{method} {path} [{:?}]", self.backend), req).await
    }

    pub async fn get(&self, token: &str, path: &str) -> Resp {
        self.send(Method::GET, path, Some(token), None).await
    }

    pub async fn post(&self, token: &str, path: &str, body: &Value) -> Resp {
        self.send(Method::POST, path, Some(token), Some(body)).await
    }

    pub async fn put(&self, token: &str, path: &str, body: &Value) -> Resp {
        self.send(Method::PUT, path, Some(token), Some(body)).await
    }

    pub async fn delete(&self, token: &str, path: &str) -> Resp {
        self.send(Method::DELETE, path, Some(token), None).await
    }

    /// Sends with a prepared request builder from any client.
    pub async fn with(&self, what: &str, req: reqwest::RequestBuilder) -> Resp {
        Resp::from(format!("{what} [{:?}]", self.backend), req).await
    }

    /// POST /api/v1/auth/login from `client`.
    pub async fn login_with(
        &self,
        client: &reqwest::Client,
        username: &str,
        password: &str,
    ) -> Resp {
        let body = serde_json::json!({"username": username, "password": password});
        self.with(
            &format!("login {username}"),
            client.post(self.url("/api/v1/auth/login")).json(&body),
        )
        .await
    }

    /// Signs a demo account in through the API and returns its bearer token.
    pub async fn token(&self, username: &str) -> String {
        let r = self.login_with(&self.http, username, PASSWORD).await;
        r.status(200);
        r.json()["token"]
            .as_str()
            .unwrap_or_else(|| panic!("{}: no token in {}", r.what, r.text))
            .to_string()
    }

    pub fn client(&self) -> &reqwest::Client {
        &self.http
    }

    /// Signs a demo account in through the page form, as a browser does, and returns the
    /// browser (a cookie-keeping client that does not follow redirects) with the sign-in
    /// response.
    pub async fn browser_sign_in(&self, username: &str) -> (reqwest::Client, Resp) {
        let browser = browser();
        let form = self
            .with("GET /login", browser.get(self.url("/login")))
            .await;
        form.status(200);
        assert!(
            form.set_cookie("linli_login_csrf").is_some(),
            "{}: the sign-in form sets its CSRF cookie",
            form.what
        );
        let csrf = form.hidden_input("_csrf");
        let res = self
            .with(
                &format!("POST /login {username}"),
                browser.post(self.url("/login")).form(&[
                    ("username", username),
                    ("password", PASSWORD),
                    ("_csrf", csrf.as_str()),
                    ("next", "/regions"),
                ]),
            )
            .await;
        res.status(303);
        (browser, res)
    }

    /// GET a page with a browser.
    pub async fn page(&self, browser: &reqwest::Client, path: &str) -> Resp {
        self.with(&format!("GET {path}"), browser.get(self.url(path)))
            .await
    }
}

/// A client that keeps no cookies and follows no redirects; optionally bound to a local
/// address, so that the server sees the request come from another IP of the loopback net.
pub fn client(local: Option<u8>) -> reqwest::Client {
    let mut b = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none());
    if let Some(n) = local {
        b = b.local_address(IpAddr::V4(Ipv4Addr::new(127, 0, 0, n)));
    }
    b.build().expect("build an HTTP client")
}

/// A client that keeps cookies, as a browser does, and follows no redirects.
pub fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .cookie_store(true)
        .build()
        .expect("build a browser client")
}

/// A response, read whole.
pub struct Resp {
    /// The request, for assertion messages.
    pub what: String,
    pub code: u16,
    pub headers: HeaderMap,
    pub text: String,
}

impl Resp {
    async fn from(what: String, req: reqwest::RequestBuilder) -> Resp {
        let res = req
            .send()
            .await
            .unwrap_or_else(|e| panic!("{what}: request failed: {e}"));
        let code = res.status().as_u16();
        let headers = res.headers().clone();
        let text = res
            .text()
            .await
            .unwrap_or_else(|e| panic!("{what}: reading the body: {e}"));
        Resp {
            what,
            code,
            headers,
            text,
        }
    }

    /// Asserts the status; returns self for chaining.
    #[track_caller]
    pub fn status(&self, expected: u16) -> &Resp {
        assert_eq!(
            self.code, expected,
            "{}: expected status {expected}, got {}: {}",
            self.what, self.code, self.text
        );
        self
    }

    #[track_caller]
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text)
            .unwrap_or_else(|e| panic!("{}: body is not JSON ({e}): {}", self.what, self.text))
    }

    /// Asserts an API error: status, `error.code` and `error.field`; returns the error object.
    #[track_caller]
    pub fn error(&self, status: u16, code: &str, field: Option<&str>) -> Value {
        self.status(status);
        let v = self.json();
        let e = &v["error"];
        assert_eq!(
            e["code"], code,
            "{}: error code in {}",
            self.what, self.text
        );
        assert_eq!(
            e["field"].as_str(),
            field,
            "{}: error field in {}",
            self.what,
            self.text
        );
        let message = e["message"].as_str().unwrap_or("");
        assert!(
            !message.trim().is_empty(),
            "{}: the error has a message: {}",
            self.what,
            self.text
        );
        e.clone()
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The whole Set-Cookie line for the cookie `name`, if this response sets it.
    pub fn set_cookie(&self, name: &str) -> Option<String> {
        self.headers
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|v| v.starts_with(&format!("{name}=")))
            .map(str::to_string)
    }

    /// The value of `<input type="hidden" name="NAME" value="…">` in an HTML body.
    #[track_caller]
    pub fn hidden_input(&self, name: &str) -> String {
        let marker = format!(r#"name="{name}" value=""#);
        between(&self.text, &marker, "\"")
            .map(|v| unescape_html(&v))
            .unwrap_or_else(|| panic!("{}: no input {name} in the page", self.what))
    }

    /// The page's CSRF token, from `<meta name="csrf-token" content="…">`.
    #[track_caller]
    pub fn meta_csrf(&self) -> String {
        between(&self.text, r#"<meta name="csrf-token" content=""#, "\"")
            .unwrap_or_else(|| panic!("{}: no csrf-token meta in the page", self.what))
    }
}

impl Resp {
    /// The body with HTML character references decoded, as a reader sees the text.
    pub fn page_text(&self) -> String {
        unescape_html(&self.text)
    }
}

/// Decodes the character references minijinja's auto-escaping writes.
pub fn unescape_html(s: &str) -> String {
    s.replace("&#x2f;", "/")
        .replace("&#x27;", "'")
        .replace("&quot;", "\"")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// The text after `start` up to the next `end`.
pub fn between(text: &str, start: &str, end: &str) -> Option<String> {
    let from = text.find(start)? + start.len();
    let len = text[from..].find(end)?;
    Some(text[from..from + len].to_string())
}

/// A small square around (lon, lat) as a GeoJSON Polygon.
pub fn square(lon: f64, lat: f64, half: f64) -> Value {
    serde_json::json!({"type": "Polygon", "coordinates": [[
        [lon - half, lat - half], [lon + half, lat - half], [lon + half, lat + half],
        [lon - half, lat + half], [lon - half, lat - half]
    ]]})
}
