//! Errors. A handler returns an [`AppError`]; the response carries it as an extension with an
//! empty body, and [`crate::render_errors`] — which knows the caller's language and whether
//! the request was for the API or for a page — renders it: JSON `{"error": {"code", "message",
//! "field"}}` under /api, an HTML page elsewhere.

use std::sync::Arc;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use linli_core::grid_import::RowError;
use linli_core::i18n::{self, Lang};
use linli_core::{Problem, Scope};
use linli_store::StoreError;

#[derive(Debug, Clone)]
pub enum AppError {
    /// Not signed in (or the session expired).
    Unauthenticated,
    /// The role may not do this at all.
    Forbidden,
    /// The region lies outside the account's area. Checked before any lookup, so the answer
    /// is the same whether or not the region exists: the caller learns nothing.
    NoAccess(Scope),
    /// A region inside the account's area that does not exist.
    NotFound(String),
    Csrf,
    Throttled {
        minutes: u64,
    },
    /// Something the caller can fix (400), or that conflicts with what exists (409).
    Problem(StatusCode, Problem),
    /// An import with bad rows: all listed, nothing written.
    Rejected(Vec<RowError>),
    Internal(String),
}

impl AppError {
    pub fn status(&self) -> StatusCode {
        match self {
            AppError::Unauthenticated => StatusCode::UNAUTHORIZED,
            AppError::Forbidden | AppError::NoAccess(_) | AppError::Csrf => StatusCode::FORBIDDEN,
            AppError::NotFound(_) => StatusCode::NOT_FOUND,
            AppError::Throttled { .. } => StatusCode::TOO_MANY_REQUESTS,
            AppError::Problem(s, _) => *s,
            AppError::Rejected(_) => StatusCode::UNPROCESSABLE_ENTITY,
            AppError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The stable machine code for API clients.
    pub fn code(&self) -> &'static str {
        match self {
            AppError::Unauthenticated => "unauthenticated",
            AppError::Forbidden => "forbidden",
            AppError::NoAccess(_) => "no_access",
            AppError::NotFound(_) => "not_found",
            AppError::Csrf => "csrf",
            AppError::Throttled { .. } => "throttled",
            AppError::Problem(_, p) => p.code,
            AppError::Rejected(_) => "import_rejected",
            AppError::Internal(_) => "internal",
        }
    }

    pub fn field(&self) -> Option<&'static str> {
        match self {
            AppError::Problem(_, p) => p.field,
            _ => None,
        }
    }

    pub fn title(&self, lang: Lang) -> String {
        let key = match self {
            AppError::NoAccess(_) | AppError::Forbidden => "error.no_access",
            AppError::NotFound(_) => "error.not_found",
            _ => "error.title",
        };
        i18n::text(lang, key).to_string()
    }

    pub fn message(&self, lang: Lang) -> String {
        match self {
            AppError::Unauthenticated => i18n::text(lang, "error.unauthenticated").into(),
            AppError::Forbidden => i18n::text(lang, "error.forbidden").into(),
            AppError::NoAccess(scope) => i18n::format(
                lang,
                "error.no_access_detail",
                &[("scope", &scope.to_string())],
            ),
            AppError::NotFound(code) => {
                i18n::format(lang, "error.not_found_detail", &[("code", code)])
            }
            AppError::Csrf => i18n::text(lang, "error.csrf").into(),
            AppError::Throttled { minutes } => i18n::format(
                lang,
                "login.throttled",
                &[("minutes", &minutes.to_string())],
            ),
            AppError::Problem(_, p) => p.message(lang),
            AppError::Rejected(_) => i18n::text(lang, "error.import_failed").into(),
            AppError::Internal(_) => i18n::text(lang, "error.internal").into(),
        }
    }

    pub fn bad_request(p: Problem) -> AppError {
        AppError::Problem(StatusCode::BAD_REQUEST, p)
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        if let AppError::Internal(detail) = &self {
            tracing::error!(%detail, "internal error");
        }
        let mut res = self.status().into_response();
        res.extensions_mut().insert(Arc::new(self));
        res
    }
}

impl From<StoreError> for AppError {
    fn from(e: StoreError) -> AppError {
        match e {
            StoreError::Invalid(p) => AppError::Problem(StatusCode::BAD_REQUEST, p),
            StoreError::Conflict(p) => AppError::Problem(StatusCode::CONFLICT, p),
            StoreError::NotFound => AppError::NotFound(String::new()),
            StoreError::Rejected(rows) => AppError::Rejected(rows),
            StoreError::Refused(r) => {
                use linli_core::events::flow::Refusal::*;
                // Who may not act is forbidden; what cannot happen now conflicts with the
                // event's state. Either way the message says which and why.
                let status = match r {
                    OutsideArea | NotHandler | NotSupervisor | NotReporter | RoleMayNot
                    | NotSummoned | SystemOnly => StatusCode::FORBIDDEN,
                    BadStars | BadExtension | NoDepartments => StatusCode::BAD_REQUEST,
                    _ => StatusCode::CONFLICT,
                };
                AppError::Problem(status, r.problem())
            }
            other => AppError::Internal(other.to_string()),
        }
    }
}

pub type AppResult<T> = Result<T, AppError>;
