//! Prometheus metrics in the text exposition format: requests by route and status, request
//! latency as a histogram, database connections. Routes are the matched patterns
//! (`/api/v1/regions/{code}`), never raw paths, so the series stay few.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::AppState;

/// Upper bounds of the latency buckets, in seconds.
const BUCKETS: [f64; 10] = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0];

#[derive(Default)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    sum: f64,
    count: u64,
}

#[derive(Default)]
pub struct Metrics {
    requests: Mutex<BTreeMap<(String, String, u16), u64>>,
    latency: Mutex<BTreeMap<String, Histogram>>,
}

impl Metrics {
    fn observe(&self, method: &str, route: &str, status: u16, seconds: f64) {
        let mut r = self.requests.lock().unwrap_or_else(|e| e.into_inner());
        *r.entry((method.to_string(), route.to_string(), status))
            .or_default() += 1;
        drop(r);
        let mut l = self.latency.lock().unwrap_or_else(|e| e.into_inner());
        let h = l.entry(route.to_string()).or_default();
        for (i, b) in BUCKETS.iter().enumerate() {
            if seconds <= *b {
                h.counts[i] += 1;
            }
        }
        h.sum += seconds;
        h.count += 1;
    }
}

pub async fn track(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_string())
        .unwrap_or_else(|| "unmatched".to_string());
    let method = req.method().to_string();
    let start = Instant::now();
    let res = next.run(req).await;
    state.metrics.observe(
        &method,
        &route,
        res.status().as_u16(),
        start.elapsed().as_secs_f64(),
    );
    res
}

fn escape(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

pub async fn render(State(state): State<AppState>) -> Response {
    let mut out = String::new();
    out.push_str("# HELP linli_http_requests_total HTTP requests by method, route and status.\n");
    out.push_str("# TYPE linli_http_requests_total counter\n");
    for ((m, r, s), n) in state
        .metrics
        .requests
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
    {
        let _ = writeln!(
            out,
            "linli_http_requests_total{{method=\"{}\",route=\"{}\",status=\"{s}\"}} {n}",
            escape(m),
            escape(r)
        );
    }
    out.push_str("# HELP linli_http_request_duration_seconds HTTP request latency by route.\n");
    out.push_str("# TYPE linli_http_request_duration_seconds histogram\n");
    for (r, h) in state
        .metrics
        .latency
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
    {
        let r = escape(r);
        for (i, b) in BUCKETS.iter().enumerate() {
            let _ = writeln!(
                out,
                "linli_http_request_duration_seconds_bucket{{route=\"{r}\",le=\"{b}\"}} {}",
                h.counts[i]
            );
        }
        let _ = writeln!(
            out,
            "linli_http_request_duration_seconds_bucket{{route=\"{r}\",le=\"+Inf\"}} {}",
            h.count
        );
        let _ = writeln!(
            out,
            "linli_http_request_duration_seconds_sum{{route=\"{r}\"}} {}",
            h.sum
        );
        let _ = writeln!(
            out,
            "linli_http_request_duration_seconds_count{{route=\"{r}\"}} {}",
            h.count
        );
    }
    let (size, idle) = state.store.pool_stats();
    out.push_str("# HELP linli_db_connections Database connections open and idle.\n");
    out.push_str("# TYPE linli_db_connections gauge\n");
    let _ = writeln!(out, "linli_db_connections{{state=\"open\"}} {size}");
    let _ = writeln!(out, "linli_db_connections{{state=\"idle\"}} {idle}");
    if let Some(ingest) = state.broker.as_ref().ok().and_then(|b| b.ingest.as_ref()) {
        care_ingest(&mut out, &ingest.stats);
    }
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        out,
    )
        .into_response()
}

/// The MQTT ingestion's counters and connection state.
fn care_ingest(out: &mut String, s: &linli_care::IngestStats) {
    use std::sync::atomic::Ordering::Relaxed;
    out.push_str("# HELP linli_care_mqtt_messages_total MQTT messages from devices by outcome.\n");
    out.push_str("# TYPE linli_care_mqtt_messages_total counter\n");
    for (outcome, n) in [
        ("received", &s.received),
        ("stored", &s.stored),
        ("duplicate", &s.duplicates),
        ("refused", &s.refused),
        ("stray", &s.stray),
    ] {
        let _ = writeln!(
            out,
            "linli_care_mqtt_messages_total{{outcome=\"{outcome}\"}} {}",
            n.load(Relaxed)
        );
    }
    out.push_str("# HELP linli_care_mqtt_write_retries_total Batches written again after a database error.\n");
    out.push_str("# TYPE linli_care_mqtt_write_retries_total counter\n");
    let _ = writeln!(
        out,
        "linli_care_mqtt_write_retries_total {}",
        s.write_retries.load(Relaxed)
    );
    out.push_str("# HELP linli_care_mqtt_connected Whether linli is connected and subscribed to the broker.\n");
    out.push_str("# TYPE linli_care_mqtt_connected gauge\n");
    let up = s.connected.load(Relaxed) && s.subscribed.load(Relaxed);
    let _ = writeln!(out, "linli_care_mqtt_connected {}", u8::from(up));
}
