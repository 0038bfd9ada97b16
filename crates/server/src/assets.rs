//! Static assets built into the binary: the stylesheet, the page scripts, and the front-end
//! libraries from the npm registry (copied in by build.rs). Each is served with an ETag
//! computed once at start and a revalidating cache policy.

use std::sync::OnceLock;

use axum::extract::Path;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use sha2::{Digest, Sha256};

use crate::AppState;

struct Asset {
    path: &'static str,
    mime: &'static str,
    body: &'static [u8],
}

const ASSETS: &[Asset] = &[
    Asset {
        path: "app.css",
        mime: "text/css; charset=utf-8",
        body: include_bytes!("../../../web/static/app.css"),
    },
    Asset {
        path: "app.js",
        mime: "text/javascript; charset=utf-8",
        body: include_bytes!("../../../web/static/app.js"),
    },
    Asset {
        path: "map.js",
        mime: "text/javascript; charset=utf-8",
        body: include_bytes!("../../../web/static/map.js"),
    },
    Asset {
        path: "healthcheck.js",
        mime: "text/javascript; charset=utf-8",
        body: include_bytes!("../../../web/static/healthcheck.js"),
    },
    Asset {
        path: "vendor/echarts.min.js",
        mime: "text/javascript; charset=utf-8",
        body: include_bytes!(concat!(env!("OUT_DIR"), "/vendor/echarts.min.js")),
    },
    Asset {
        path: "vendor/htmx.min.js",
        mime: "text/javascript; charset=utf-8",
        body: include_bytes!(concat!(env!("OUT_DIR"), "/vendor/htmx.min.js")),
    },
];

fn etags() -> &'static Vec<String> {
    static ETAGS: OnceLock<Vec<String>> = OnceLock::new();
    ETAGS.get_or_init(|| {
        ASSETS
            .iter()
            .map(|a| format!("\"{}\"", &hex::encode(Sha256::digest(a.body))[..16]))
            .collect()
    })
}

pub fn routes() -> Router<AppState> {
    Router::new().route("/static/{*path}", get(serve))
}

async fn serve(Path(path): Path<String>, headers: HeaderMap) -> Response {
    let Some(i) = ASSETS.iter().position(|a| a.path == path) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let etag = &etags()[i];
    let asset = &ASSETS[i];
    if headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        == Some(etag.as_str())
    {
        return (StatusCode::NOT_MODIFIED, [(header::ETAG, etag.clone())]).into_response();
    }
    (
        [
            (header::CONTENT_TYPE, asset.mime.to_string()),
            (header::ETAG, etag.clone()),
            (
                header::CACHE_CONTROL,
                "public, max-age=3600, must-revalidate".to_string(),
            ),
        ],
        asset.body,
    )
        .into_response()
}
