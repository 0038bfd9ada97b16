//! The linli web application: the JSON API under /api/v1 (with its OpenAPI document), the
//! server-rendered pages, static assets built into the binary, /healthz and /metrics.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use axum_extra::extract::CookieJar;
use linli_core::i18n::Lang;
use linli_store::Store;
use tower_http::compression::CompressionLayer;

pub mod api;
pub mod assets;
pub mod auth;
pub mod care_alarms_api;
pub mod care_api;
pub mod care_broker_api;
mod care_pages;
pub mod care_visits_api;
pub mod error;
pub mod events_api;
pub mod events_catalog;
pub mod events_pages;
pub mod healthcheck_api;
mod healthcheck_pages;
pub mod metrics;
pub mod open311;
mod page_kit;
pub mod pages;
pub mod registry_api;
pub mod registry_files;
pub mod registry_pages;
pub mod templates;

pub use error::{AppError, AppResult};

/// The cookie that holds the chosen interface language.
pub const LANG_COOKIE: &str = "linli_lang";

#[derive(Debug, Clone, Default)]
pub struct Config {
    /// Mark cookies Secure (set when linli is served over HTTPS).
    pub secure_cookies: bool,
    /// Where event photos are kept; a per-process directory under the system's temporary
    /// directory when unset (tests).
    pub photo_dir: Option<std::path::PathBuf>,
    /// The MQTT broker devices publish to, when there is one: linli ingests readings from
    /// it and (with dynamic security) provisions devices' accounts on it.
    pub mqtt: Option<linli_care::BrokerConfig>,
    /// The secret a broker (EMQX) sends in `x-linli-hook-secret` when it asks linli about a
    /// device; without one configured the hooks answer anyone.
    pub broker_hook_secret: Option<String>,
}

impl Config {
    /// The photo directory this configuration names or implies.
    pub fn photo_dir(&self) -> std::path::PathBuf {
        self.photo_dir.clone().unwrap_or_else(|| {
            std::env::temp_dir().join(format!("linli-photos-{}", std::process::id()))
        })
    }
}

/// Everything a handler needs, built once at start.
#[derive(Clone)]
pub struct AppState(Arc<Inner>);

pub struct Inner {
    pub store: Store,
    pub config: Config,
    pub throttle: auth::Throttle,
    pub templates: templates::Templates,
    pub metrics: metrics::Metrics,
    pub openapi: String,
    /// The photo store, or why it could not be opened (uploads then answer with the reason).
    pub photos: Result<linli_photo::PhotoStore, String>,
    /// The broker connections, or why they could not be made.
    pub broker: Result<Broker, String>,
    /// Wakes the care timer when readings raised alarms (it runs only under `serve`).
    pub care_timer: linli_care::timer::Timer,
    /// Tells the live alarm consoles what changed.
    pub care_feed: linli_care::feed::AlarmFeed,
    /// Set when linli is shutting down, so that endless responses (the alarm stream) end
    /// and the graceful shutdown does not wait on them.
    pub stopping: tokio::sync::watch::Sender<bool>,
}

/// linli's connections to the MQTT broker: ingestion, and the control connection that
/// provisions devices (with dynamic security only). Both absent without a broker.
#[derive(Default)]
pub struct Broker {
    pub ingest: Option<linli_care::Ingest>,
    pub provisioner: Option<linli_care::Provisioner>,
}

impl Broker {
    /// Connects to the broker `config` names, if any (in the background: a broker that is
    /// down is retried, and readings wait there).
    fn start(
        store: &Store,
        config: Option<&linli_care::BrokerConfig>,
        timer: &linli_care::timer::Timer,
        feed: &linli_care::feed::AlarmFeed,
    ) -> Result<Broker, String> {
        let Some(config) = config else {
            return Ok(Broker::default());
        };
        let (poke, feed) = (timer.clone(), feed.clone());
        let on_batch: linli_care::ingest::OnBatch = Arc::new(move |done| {
            if !done.alarms.is_empty() {
                poke.poke();
                feed.raised(&done.alarms);
            }
        });
        let ingest = linli_care::Ingest::start(store.clone(), config, Some(on_batch))
            .map_err(|e| e.to_string())?;
        let provisioner = match config.provision {
            linli_care::Provision::Dynsec => {
                Some(linli_care::Provisioner::start(config).map_err(|e| e.to_string())?)
            }
            linli_care::Provision::None => None,
        };
        tracing::info!("ingesting device readings from {}", config.display_url());
        Ok(Broker {
            ingest: Some(ingest),
            provisioner,
        })
    }
}

impl std::ops::Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl AppState {
    pub fn new(store: Store, config: Config) -> AppState {
        let dir = config.photo_dir();
        let photos = linli_photo::PhotoStore::open(&dir)
            .map_err(|e| format!("cannot open the photo directory {}: {e}", dir.display()));
        let care_timer = linli_care::timer::Timer::default();
        let care_feed = linli_care::feed::AlarmFeed::default();
        let broker = Broker::start(&store, config.mqtt.as_ref(), &care_timer, &care_feed);
        AppState(Arc::new(Inner {
            care_timer,
            care_feed,
            stopping: tokio::sync::watch::channel(false).0,
            photos,
            broker,
            store,
            config,
            throttle: auth::Throttle::default(),
            templates: templates::Templates::new(),
            metrics: metrics::Metrics::default(),
            openapi: api::openapi_json(),
        }))
    }
}

/// The language of a request: the cookie set by the language switch, else the browser's
/// Accept-Language, else Chinese.
pub fn request_lang(headers: &axum::http::HeaderMap) -> Lang {
    let jar = CookieJar::from_headers(headers);
    if let Some(l) = jar.get(LANG_COOKIE).and_then(|c| Lang::parse(c.value())) {
        return l;
    }
    headers
        .get(header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok())
        .map(Lang::from_accept_language)
        .unwrap_or_default()
}

/// Extractor for the request's language.
pub struct ReqLang(pub Lang);

impl<S: Send + Sync> FromRequestParts<S> for ReqLang {
    type Rejection = std::convert::Infallible;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(ReqLang(request_lang(&parts.headers)))
    }
}

pub fn router(state: AppState) -> Router {
    Router::new()
        .merge(api::routes())
        .merge(registry_api::routes())
        .merge(events_api::routes())
        .merge(healthcheck_api::routes())
        .merge(care_api::routes())
        .merge(care_broker_api::routes())
        .merge(care_alarms_api::routes())
        .merge(care_visits_api::routes())
        .merge(open311::routes())
        .merge(registry_pages::routes())
        .merge(events_pages::routes())
        .merge(care_pages::routes())
        .merge(healthcheck_pages::routes())
        .merge(pages::routes())
        .merge(assets::routes())
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics::render))
        .layer(middleware::from_fn_with_state(state.clone(), render_errors))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            metrics::track,
        ))
        .layer(CompressionLayer::new())
        .layer(axum::extract::DefaultBodyLimit::max(32 * 1024 * 1024))
        .with_state(state)
}

async fn healthz(State(state): State<AppState>) -> Response {
    match state.store.ping().await {
        Ok(()) => (StatusCode::OK, Json(serde_json::json!({"status": "ok"}))).into_response(),
        Err(e) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(serde_json::json!({"status": "unavailable", "detail": e.to_string()})),
        )
            .into_response(),
    }
}

/// Renders an [`AppError`] left in a response: JSON for the API, a page otherwise, in the
/// caller's language.
async fn render_errors(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let lang = request_lang(req.headers());
    let is_api = req.uri().path().starts_with("/api/");
    let mut res = next.run(req).await;
    let Some(err) = res.extensions_mut().remove::<Arc<AppError>>() else {
        return res;
    };
    let status = err.status();
    let mut out = if is_api {
        let mut body = serde_json::json!({
            "error": {"code": err.code(), "message": err.message(lang), "field": err.field()}
        });
        if let AppError::Rejected(rows) = err.as_ref() {
            body["error"]["rows"] = rows
                .iter()
                .map(|r| serde_json::json!({"row": r.row, "field": r.field, "message": r.message(lang)}))
                .collect();
        }
        (status, Json(body)).into_response()
    } else {
        pages::error_page(&state, lang, &err).into_response()
    };
    *out.status_mut() = status;
    if let AppError::Throttled { minutes } = err.as_ref() {
        if let Ok(v) = HeaderValue::from_str(&(minutes * 60).to_string()) {
            out.headers_mut().insert(header::RETRY_AFTER, v);
        }
    }
    if status == StatusCode::UNAUTHORIZED && is_api {
        out.headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    }
    out
}

/// Serves the application until Ctrl-C or SIGTERM.
pub async fn serve(store: Store, config: Config, listen: SocketAddr) -> std::io::Result<()> {
    let state = AppState::new(store.clone(), config);
    if let Err(e) = &state.photos {
        return Err(std::io::Error::other(e.clone()));
    }
    if let Err(e) = &state.broker {
        return Err(std::io::Error::other(e.clone()));
    }
    events_api::spawn_scheduler(store.clone());
    state
        .care_timer
        .spawn(store.clone(), state.care_feed.clone());
    let stopping = state.stopping.clone();
    let app = router(state);
    let listener = tokio::net::TcpListener::bind(listen).await?;
    tracing::info!("linli listening on http://{}", listener.local_addr()?);
    // Expired sessions are swept hourly rather than checked on every request.
    let sweeper = store.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(3600));
        loop {
            tick.tick().await;
            if let Err(e) = sweeper.purge_sessions().await {
                tracing::warn!("sweeping expired sessions: {e}");
            }
        }
    });
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async move {
        shutdown().await;
        stopping.send_replace(true);
    })
    .await
}

async fn shutdown() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
    tracing::info!("shutting down");
}
