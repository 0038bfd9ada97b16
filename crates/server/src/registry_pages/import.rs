//! The workbook import: the page, the templates to download, a background job per upload
//! whose progress the page polls, and the error report of a rejected file — jobs and
//! reports kept in memory for a while ([`Jobs`]).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, Multipart, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::Extension;
use axum_extra::extract::Query;
use linli_core::grid_import::RowError;
use linli_core::i18n::{self, Lang};
use linli_core::registry::rows::RecordKind;
use linli_core::{Level, Permission, Problem, RegionCode};
use linli_store::divisions::Progress;
use linli_store::registry::import::ImportOutcome;
use linli_store::{Session, StoreError};
use serde::Deserialize;
use serde_json::{json, Value};

use super::lists::{community_options, with_current};
use super::{base, blank, is_partial, merge, not_found, render, require, with_status};
use crate::api::{actor, parse_code};
use crate::auth::{self, require_view, PageUser};
use crate::error::{AppError, AppResult};
use crate::registry_files;
use crate::{AppState, ReqLang};

/// How long an import's job and error report are kept, and how many reports at most.
const KEEP: Duration = Duration::from_secs(30 * 60);
const MAX_REPORTS: usize = 20;
const MAX_JOBS: usize = 50;

/// Imports under way or finished lately, and the error reports of rejected ones, kept in
/// memory for [`KEEP`]. Shared by the import routes (an `Extension`).
#[derive(Clone, Default)]
pub struct Jobs(Arc<Mutex<JobTable>>);

#[derive(Default)]
struct JobTable {
    jobs: HashMap<String, Arc<Job>>,
    reports: HashMap<String, Report>,
}

struct Report {
    user_id: i64,
    file_name: String,
    bytes: Vec<u8>,
    created: Instant,
}

struct Job {
    id: String,
    user_id: i64,
    kind: RecordKind,
    community: RegionCode,
    file: String,
    created: Instant,
    started: AtomicBool,
    total: AtomicU64,
    done: AtomicU64,
    outcome: Mutex<Option<JobOutcome>>,
}

#[derive(Clone)]
enum JobOutcome {
    Done(ImportOutcome),
    Rejected {
        rows: Vec<RowError>,
        report: Option<String>,
    },
    Failed(AppError),
}

/// The store's progress calls, counted into the job the page polls.
struct JobProgress(Arc<Job>);

impl Progress for JobProgress {
    fn start(&self, total: u64) {
        self.0.total.store(total, Ordering::Relaxed);
        self.0.done.store(0, Ordering::Relaxed);
        self.0.started.store(true, Ordering::Release);
    }

    fn advance(&self, rows: u64) {
        self.0.done.fetch_add(rows, Ordering::Relaxed);
    }
}

impl Jobs {
    fn lock(&self) -> std::sync::MutexGuard<'_, JobTable> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Forgets what is older than [`KEEP`], and the oldest beyond the caps.
    fn sweep(table: &mut JobTable) {
        let now = Instant::now();
        table
            .jobs
            .retain(|_, j| now.duration_since(j.created) < KEEP);
        table
            .reports
            .retain(|_, r| now.duration_since(r.created) < KEEP);
        while table.reports.len() > MAX_REPORTS {
            let oldest = table
                .reports
                .iter()
                .min_by_key(|(_, r)| r.created)
                .map(|(k, _)| k.clone());
            match oldest {
                Some(k) => table.reports.remove(&k),
                None => break,
            };
        }
        while table.jobs.len() > MAX_JOBS {
            let oldest = table
                .jobs
                .iter()
                .min_by_key(|(_, j)| j.created)
                .map(|(k, _)| k.clone());
            match oldest {
                Some(k) => table.jobs.remove(&k),
                None => break,
            };
        }
    }

    fn add(&self, job: Arc<Job>) {
        let mut table = self.lock();
        table.jobs.insert(job.id.clone(), job);
        Self::sweep(&mut table);
    }

    fn get(&self, id: &str, user_id: i64) -> Option<Arc<Job>> {
        let mut table = self.lock();
        Self::sweep(&mut table);
        table.jobs.get(id).filter(|j| j.user_id == user_id).cloned()
    }

    fn add_report(&self, user_id: i64, file_name: String, bytes: Vec<u8>) -> String {
        let token = auth::random_token();
        let mut table = self.lock();
        table.reports.insert(
            token.clone(),
            Report {
                user_id,
                file_name,
                bytes,
                created: Instant::now(),
            },
        );
        Self::sweep(&mut table);
        token
    }

    fn report(&self, token: &str, user_id: i64) -> Option<(String, Vec<u8>)> {
        let mut table = self.lock();
        Self::sweep(&mut table);
        table
            .reports
            .get(token)
            .filter(|r| r.user_id == user_id)
            .map(|r| (r.file_name.clone(), r.bytes.clone()))
    }
}

fn kind_options(lang: Lang, selected: &str) -> Vec<Value> {
    RecordKind::ALL
        .iter()
        .map(|k| {
            json!({
                "value": k.as_str(),
                "label": i18n::text(lang, k.label_key()),
                "selected": k.as_str() == selected,
                "template": format!("/registry/import/template/{}", k.as_str()),
            })
        })
        .collect()
}

#[derive(Deserialize, Default)]
pub(super) struct ImportQuery {
    kind: Option<String>,
    community: Option<String>,
}

async fn import_view(
    state: &AppState,
    lang: Lang,
    s: &Session,
    kind: &str,
    community: &str,
    status: Option<Value>,
    error: Option<String>,
) -> AppResult<Response> {
    let communities = community_options(state, &s.user).await?;
    let community = if community.is_empty() {
        s.user
            .scope
            .root()
            .filter(|r| r.level() == Level::Community)
            .map(|r| r.to_string())
            .unwrap_or_default()
    } else {
        community.to_string()
    };
    let ctx = merge(
        base(lang, s, "/registry/import"),
        json!({
            "kinds": kind_options(lang, kind),
            "communities": if communities.is_empty() { communities } else { with_current(communities, &community) },
            "community": community,
            "status": status,
            "error": error,
        }),
    );
    render("registry_import.html", ctx)
}

pub(super) async fn import_page(
    State(state): State<AppState>,
    ReqLang(lang): ReqLang,
    PageUser(s): PageUser,
    Query(q): Query<ImportQuery>,
) -> AppResult<Response> {
    require(&s.user, Permission::ManageRegistry)?;
    let kind = blank(q.kind.as_deref()).unwrap_or("residents").to_string();
    let community = blank(q.community.as_deref()).unwrap_or("").to_string();
    import_view(&state, lang, &s, &kind, &community, None, None).await
}

pub(super) async fn import_template(
    PageUser(s): PageUser,
    Path(kind): Path<String>,
) -> AppResult<Response> {
    require(&s.user, Permission::ViewRegistry)?;
    let kind = RecordKind::parse(&kind).ok_or_else(not_found)?;
    let bytes = registry_files::template(kind)?;
    Ok(registry_files::xlsx_response(
        bytes,
        &format!("{}-template.xlsx", kind.as_str()),
    ))
}

/// Where a job stands, for the status partial.
fn job_json(lang: Lang, job: &Job) -> Value {
    let outcome = job
        .outcome
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    let head = json!({
        "id": job.id,
        "kind": job.kind.as_str(),
        "kind_label": i18n::text(lang, job.kind.label_key()),
        "community": job.community.to_string(),
        "file": job.file,
    });
    let state = match outcome {
        None if job.started.load(Ordering::Acquire) => {
            let total = job.total.load(Ordering::Relaxed);
            let done = job.done.load(Ordering::Relaxed).min(total);
            json!({"state": "writing", "running": true, "total": total, "done": done,
                   "percent": (done * 100).checked_div(total).unwrap_or(0)})
        }
        None => json!({"state": "checking", "running": true}),
        Some(JobOutcome::Done(o)) => json!({
            "state": "done", "running": false,
            "created": o.created, "updated": o.updated, "households_created": o.households_created,
            "list": format!("/registry/{}?region={}", job.kind.as_str(), job.community),
        }),
        Some(JobOutcome::Rejected { rows, report }) => {
            let rows: Vec<Value> = rows
                .iter()
                .map(|r| {
                    let args: Vec<(&str, &str)> = r
                        .args
                        .iter()
                        .map(|(k, v)| (k.as_str(), v.as_str()))
                        .collect();
                    let last = r.field.rsplit('.').next().unwrap_or(&r.field);
                    let label_key = format!("import.field.{last}");
                    let field = if i18n::has(&label_key) {
                        i18n::text(lang, &label_key).to_string()
                    } else {
                        r.field.clone()
                    };
                    json!({
                        "row": r.row,
                        "field": field,
                        "reason": i18n::format(lang, r.key, &args),
                        "message": r.message(lang),
                    })
                })
                .collect();
            json!({"state": "rejected", "running": false, "rows": rows, "count": rows.len(),
                   "report": report.map(|t| format!("/registry/import/report/{t}"))})
        }
        Some(JobOutcome::Failed(e)) => {
            json!({"state": "failed", "running": false, "message": e.message(lang)})
        }
    };
    merge(head, state)
}

/// An import refused before it started: the message where the status goes.
struct Refusal {
    partial: bool,
    kind: String,
    community: String,
    message: String,
}

impl Refusal {
    async fn render(self, state: &AppState, lang: Lang, s: &Session) -> AppResult<Response> {
        if self.partial {
            let ctx = json!({"lang": lang.code(), "job": {"state": "failed", "running": false, "message": self.message}});
            render("registry_import_status.html", ctx)
        } else {
            let res = import_view(
                state,
                lang,
                s,
                &self.kind,
                &self.community,
                None,
                Some(self.message),
            )
            .await?;
            Ok(with_status(StatusCode::BAD_REQUEST, res))
        }
    }
}

/// Reads the upload, checks who may import where, and starts the import in the
/// background; htmx then polls [`import_status`]. Without htmx the answer waits for the end.
pub(super) async fn start_import(
    State(state): State<AppState>,
    ReqLang(lang): ReqLang,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    Extension(jobs): Extension<Jobs>,
    headers: HeaderMap,
    user: PageUser,
    mut multipart: Multipart,
) -> AppResult<Response> {
    let s = &user.0;
    let upload_error = |e: axum::extract::multipart::MultipartError| {
        AppError::bad_request(Problem::new("bad_upload", "error.bad_request").arg("detail", e))
    };
    let mut csrf = String::new();
    let mut kind = String::new();
    let mut community = String::new();
    let mut file: Option<(String, Vec<u8>)> = None;
    while let Some(field) = multipart.next_field().await.map_err(upload_error)? {
        match field.name() {
            Some("_csrf") => csrf = field.text().await.unwrap_or_default(),
            Some("kind") => kind = field.text().await.unwrap_or_default(),
            Some("community") => community = field.text().await.unwrap_or_default(),
            Some("file") => {
                let name = field.file_name().unwrap_or("upload.xlsx").to_string();
                let bytes = field.bytes().await.map_err(upload_error)?;
                file = Some((name, bytes.to_vec()));
            }
            _ => {}
        }
    }
    if csrf.is_empty() {
        csrf = headers
            .get(auth::CSRF_HEADER)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
    }
    user.check_csrf(&csrf)?;
    require(&s.user, Permission::ManageRegistry)?;
    let partial = is_partial(&headers);
    // Problems with the form itself: shown where the status goes, nothing started.
    let refuse = |message: String| Refusal {
        partial,
        kind: kind.clone(),
        community: community.clone(),
        message,
    };
    let Some(record_kind) = RecordKind::parse(&kind) else {
        return refuse(i18n::text(lang, "rp.import.choose_kind").to_string())
            .render(&state, lang, s)
            .await;
    };
    let code = match blank(Some(&community)) {
        None => {
            return refuse(i18n::text(lang, "rp.import.choose_community").to_string())
                .render(&state, lang, s)
                .await
        }
        Some(c) => match parse_code(c, "community") {
            Ok(code) => code,
            Err(e) => return refuse(e.message(lang)).render(&state, lang, s).await,
        },
    };
    // Outside the area: the no-access page, as everywhere.
    require_view(&s.user, code)?;
    let Some((name, bytes)) = file.filter(|(_, b)| !b.is_empty()) else {
        return refuse(i18n::text(lang, "rp.import.choose_file").to_string())
            .render(&state, lang, s)
            .await;
    };
    let table = match registry_files::read_table(&name, &bytes, lang) {
        Ok(t) => t,
        Err(e) => return refuse(e.message(lang)).render(&state, lang, s).await,
    };
    let job = Arc::new(Job {
        id: auth::random_token(),
        user_id: s.user.id,
        kind: record_kind,
        community: code,
        file: name.clone(),
        created: Instant::now(),
        started: AtomicBool::new(false),
        total: AtomicU64::new(0),
        done: AtomicU64::new(0),
        outcome: Mutex::new(None),
    });
    jobs.add(job.clone());
    let store = state.store.clone();
    let who = actor(&s.user, Some(addr));
    let user_id = s.user.id;
    let task_jobs = jobs.clone();
    let task_job = job.clone();
    let task = tokio::spawn(async move {
        let progress = JobProgress(task_job.clone());
        let result =
            registry_files::import_table(&store, &who, record_kind, code, &name, &table, &progress)
                .await;
        let outcome = match result {
            Ok(o) => JobOutcome::Done(o),
            Err(StoreError::Rejected(rows)) => {
                let report = match registry_files::error_report(&table, &rows, lang) {
                    Ok(bytes) => {
                        let stem = name.rsplit_once('.').map(|(s, _)| s).unwrap_or(&name);
                        Some(task_jobs.add_report(user_id, format!("{stem}-errors.xlsx"), bytes))
                    }
                    Err(e) => {
                        tracing::warn!("import error report: {}", e.message(Lang::En));
                        None
                    }
                };
                JobOutcome::Rejected { rows, report }
            }
            Err(e) => {
                let e = AppError::from(e);
                if let AppError::Internal(detail) = &e {
                    tracing::error!(%detail, "registry import");
                }
                JobOutcome::Failed(e)
            }
        };
        *task_job.outcome.lock().unwrap_or_else(|e| e.into_inner()) = Some(outcome);
    });
    if partial {
        let ctx = json!({"lang": lang.code(), "job": job_json(lang, &job)});
        return render("registry_import_status.html", ctx);
    }
    let _ = task.await;
    let status = job_json(lang, &job);
    let code_str = code.to_string();
    let res = import_view(
        &state,
        lang,
        s,
        record_kind.as_str(),
        &code_str,
        Some(status.clone()),
        None,
    )
    .await?;
    Ok(match status["state"].as_str() {
        Some("rejected") => with_status(StatusCode::UNPROCESSABLE_ENTITY, res),
        Some("failed") => with_status(StatusCode::BAD_REQUEST, res),
        _ => res,
    })
}

pub(super) async fn import_status(
    ReqLang(lang): ReqLang,
    Extension(jobs): Extension<Jobs>,
    PageUser(s): PageUser,
    Path(id): Path<String>,
) -> AppResult<Response> {
    let job = jobs.get(&id, s.user.id).ok_or_else(not_found)?;
    let ctx = json!({"lang": lang.code(), "job": job_json(lang, &job)});
    render("registry_import_status.html", ctx)
}

pub(super) async fn import_report(
    Extension(jobs): Extension<Jobs>,
    PageUser(s): PageUser,
    Path(token): Path<String>,
) -> AppResult<Response> {
    let (name, bytes) = jobs.report(&token, s.user.id).ok_or_else(not_found)?;
    Ok(registry_files::xlsx_response(bytes, &name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_expire_and_are_capped() {
        let jobs = Jobs::default();
        let mut tokens = Vec::new();
        for i in 0..(MAX_REPORTS + 5) {
            tokens.push(jobs.add_report(1, format!("r{i}.xlsx"), vec![1, 2, 3]));
        }
        assert_eq!(jobs.lock().reports.len(), MAX_REPORTS);
        let last = tokens.last().expect("a token");
        assert!(jobs.report(last, 1).is_some());
        assert!(jobs.report(last, 2).is_none(), "another account's report");
    }
}
