//! Signing in and knowing who asks. Pages use an HttpOnly, SameSite cookie session with a
//! CSRF token for forms; the API takes a bearer token. Tokens are random 256-bit values and
//! only their SHA-256 is stored. Repeated failed sign-ins for one username or from one address
//! are throttled.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::cookie::{Cookie, SameSite};
use axum_extra::extract::CookieJar;
use linli_core::{Permission, RegionCode};
use linli_store::{Session, SessionKind, User};
use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::error::{AppError, AppResult};
use crate::AppState;

pub const SESSION_COOKIE: &str = "linli_session";
/// CSRF token for the sign-in form, before any session exists (double-submit cookie).
pub const LOGIN_CSRF_COOKIE: &str = "linli_login_csrf";
pub const CSRF_HEADER: &str = "x-csrf-token";

/// How long a browser session or an API token lives.
pub const SESSION_TTL: Duration = Duration::from_secs(12 * 3600);
pub const TOKEN_TTL: Duration = Duration::from_secs(30 * 24 * 3600);

/// Failed sign-ins allowed per username and per address within [`THROTTLE_WINDOW`].
pub const MAX_FAILURES: usize = 5;
pub const THROTTLE_WINDOW: Duration = Duration::from_secs(15 * 60);

pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Compares two secrets in time independent of where they differ.
pub fn same_secret(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// Failed sign-ins remembered per key (a username or an address).
#[derive(Default)]
pub struct Throttle {
    failures: Mutex<HashMap<String, VecDeque<Instant>>>,
}

impl Throttle {
    /// If `keys` are locked out, the minutes until the oldest failure ages out.
    pub fn locked(&self, keys: &[&str]) -> Option<u64> {
        let now = Instant::now();
        let mut map = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        let mut wait: Option<Duration> = None;
        for key in keys {
            if let Some(q) = map.get_mut(*key) {
                while q
                    .front()
                    .is_some_and(|t| now.duration_since(*t) > THROTTLE_WINDOW)
                {
                    q.pop_front();
                }
                if q.len() >= MAX_FAILURES {
                    let left = q
                        .front()
                        .map(|t| THROTTLE_WINDOW.saturating_sub(now.duration_since(*t)));
                    wait = wait.max(left);
                }
            }
        }
        wait.map(|d| d.as_secs().div_ceil(60).max(1))
    }

    pub fn fail(&self, keys: &[&str]) {
        let mut map = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        // Bound memory under a flood of distinct usernames: forget the oldest half.
        if map.len() > 100_000 {
            let mut keys: Vec<(String, Instant)> = map
                .iter()
                .filter_map(|(k, q)| q.back().map(|t| (k.clone(), *t)))
                .collect();
            keys.sort_by_key(|(_, t)| *t);
            for (k, _) in keys.into_iter().take(50_000) {
                map.remove(&k);
            }
        }
        for key in keys {
            map.entry(key.to_string())
                .or_default()
                .push_back(Instant::now());
        }
    }

    pub fn clear(&self, key: &str) {
        self.failures
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(key);
    }
}

/// Signs a user in after checking the password and the throttle. Returns the user; the caller
/// makes the session. Audits both success and failure.
pub async fn check_password(
    state: &AppState,
    username: &str,
    password: &str,
    ip: &str,
) -> AppResult<User> {
    let user_key = format!("user:{}", username.trim().to_lowercase());
    let ip_key = format!("ip:{ip}");
    if let Some(minutes) = state.throttle.locked(&[&user_key, &ip_key]) {
        return Err(AppError::Throttled { minutes });
    }
    let found = state.store.user_by_name(username).await?;
    let ok = match &found {
        Some((user, hash)) => !user.disabled && verify_blocking(password, hash.clone()).await,
        None => {
            // Spend the same time as a real check, so timing does not reveal usernames.
            verify_blocking(password, linli_store::password::dummy_hash().to_string()).await;
            false
        }
    };
    let actor = linli_store::Actor {
        user_id: found.as_ref().map(|(u, _)| u.id),
        username: username.trim().to_string(),
        ip: Some(ip.to_string()),
    };
    let region_key = found
        .as_ref()
        .and_then(|(u, _)| u.scope.root())
        .map(|c| c.key());
    if !ok {
        state.throttle.fail(&[&user_key, &ip_key]);
        let entry = linli_store::audit::Entry {
            region_key,
            ..linli_store::audit::Entry::new("auth.sign_in_failed")
        };
        state.store.audit(&actor, entry).await?;
        return Err(AppError::bad_request(linli_core::Problem::new(
            "bad_credentials",
            "login.failed",
        )));
    }
    state.throttle.clear(&user_key);
    let entry = linli_store::audit::Entry {
        region_key,
        ..linli_store::audit::Entry::new("auth.sign_in")
    };
    state.store.audit(&actor, entry).await?;
    found
        .map(|(u, _)| u)
        .ok_or_else(|| AppError::Internal("user vanished".into()))
}

/// Argon2 takes tens of milliseconds of CPU: keep it off the async workers.
async fn verify_blocking(password: &str, hash: String) -> bool {
    let password = password.to_string();
    tokio::task::spawn_blocking(move || linli_store::password::verify(&password, &hash))
        .await
        .unwrap_or(false)
}

/// Starts a session and returns its token (to be set as a cookie or returned to the client).
pub async fn start_session(
    state: &AppState,
    user: &User,
    kind: SessionKind,
) -> AppResult<(String, String)> {
    let token = random_token();
    let csrf = random_token();
    let ttl = match kind {
        SessionKind::Cookie => SESSION_TTL,
        SessionKind::Bearer => TOKEN_TTL,
    };
    state
        .store
        .create_session(
            user.id,
            &token_hash(&token),
            kind,
            &csrf,
            ttl.as_millis() as i64,
        )
        .await?;
    Ok((token, csrf))
}

pub fn session_cookie(token: String, secure: bool) -> Cookie<'static> {
    Cookie::build((SESSION_COOKIE, token))
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(secure)
        .path("/")
        .max_age(time_from(SESSION_TTL))
        .build()
}

fn time_from(d: Duration) -> time::Duration {
    time::Duration::seconds(d.as_secs() as i64)
}

/// Who is asking, for an API route: a bearer token, or the page session's cookie.
pub struct ApiUser(pub Session);

/// Who is asking, for a page: the cookie session. Without one, the page redirects to sign-in.
pub struct PageUser(pub Session);

async fn session_from(
    parts: &Parts,
    state: &AppState,
    allow_bearer: bool,
) -> AppResult<Option<Session>> {
    if allow_bearer {
        if let Some(auth) = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
        {
            let token = auth
                .strip_prefix("Bearer ")
                .ok_or(AppError::Unauthenticated)?;
            return Ok(state.store.session(&token_hash(token.trim())).await?);
        }
    }
    let jar = CookieJar::from_headers(&parts.headers);
    match jar.get(SESSION_COOKIE) {
        Some(c) => Ok(state.store.session(&token_hash(c.value())).await?),
        None => Ok(None),
    }
}

impl FromRequestParts<AppState> for ApiUser {
    type Rejection = AppError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let session = session_from(parts, state, true)
            .await?
            .ok_or(AppError::Unauthenticated)?;
        // A cookie-authenticated write from a browser must carry the CSRF token.
        if session.kind == SessionKind::Cookie && !parts.method.is_safe() {
            let sent = parts
                .headers
                .get(CSRF_HEADER)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            if !same_secret(sent, &session.csrf) {
                return Err(AppError::Csrf);
            }
        }
        Ok(ApiUser(session))
    }
}

/// The rejection of [`PageUser`]: a redirect to sign-in, or an error page.
pub enum PageRejection {
    SignIn(String),
    Error(AppError),
}

impl IntoResponse for PageRejection {
    fn into_response(self) -> Response {
        match self {
            PageRejection::SignIn(next) => {
                let target = format!(
                    "/login?next={}",
                    url::form_urlencoded::byte_serialize(next.as_bytes()).collect::<String>()
                );
                Redirect::to(&target).into_response()
            }
            PageRejection::Error(e) => e.into_response(),
        }
    }
}

impl FromRequestParts<AppState> for PageUser {
    type Rejection = PageRejection;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        match session_from(parts, state, false).await {
            Ok(Some(s)) => Ok(PageUser(s)),
            Ok(None) => {
                let next = parts
                    .uri
                    .path_and_query()
                    .map(|p| p.as_str().to_string())
                    .unwrap_or_else(|| "/".into());
                Err(PageRejection::SignIn(next))
            }
            Err(e) => Err(PageRejection::Error(e)),
        }
    }
}

impl PageUser {
    /// Checks the CSRF token a form sent.
    pub fn check_csrf(&self, sent: &str) -> AppResult<()> {
        if same_secret(sent, &self.0.csrf) {
            Ok(())
        } else {
            Err(AppError::Csrf)
        }
    }
}

/// May `user` look at `code`? Checked before the region is looked up, so a region outside the
/// account's area gets the same answer whether it exists or not.
pub fn require_view(user: &User, code: RegionCode) -> AppResult<()> {
    if !user.role.allows(Permission::ViewRegions) {
        return Err(AppError::Forbidden);
    }
    if !user.scope.contains(code) {
        return Err(AppError::NoAccess(user.scope));
    }
    Ok(())
}

/// May `user` create, change or delete the grid `code`? Only strictly below the account's
/// own region: a grid worker manages the micro-grids of their grid, not the grid itself.
pub fn require_manage(user: &User, code: RegionCode) -> AppResult<()> {
    require_view(user, code)?;
    if !user.role.allows(Permission::ManageGrids) || !user.scope.contains_strictly(code) {
        return Err(AppError::Forbidden);
    }
    Ok(())
}

pub fn can_manage(user: &User, code: RegionCode) -> bool {
    require_manage(user, code).is_ok()
}
