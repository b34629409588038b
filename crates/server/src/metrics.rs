//! Request metrics in the Prometheus text format (`/metrics`).
use crate::app::AppState;
use axum::extract::{MatchedPath, Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::Response;
use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::time::Instant;

const BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

#[derive(Default)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

/// Counters and latency histograms by FHIR interaction.
#[derive(Default)]
pub struct Metrics {
    requests: Mutex<BTreeMap<(&'static str, u16), u64>>,
    latency: Mutex<BTreeMap<&'static str, Histogram>>,
}

impl Metrics {
    /// Records one answered request.
    pub fn record(&self, interaction: &'static str, status: u16, seconds: f64) {
        if let Ok(mut m) = self.requests.lock() {
            *m.entry((interaction, status)).or_default() += 1;
        }
        if let Ok(mut m) = self.latency.lock() {
            let h = m.entry(interaction).or_default();
            h.count += 1;
            h.sum += seconds;
            for (i, b) in BUCKETS.iter().enumerate() {
                if seconds <= *b {
                    h.counts[i] += 1;
                }
            }
        }
    }

    /// Renders everything in the Prometheus text exposition format.
    pub fn render(&self, backend: &str, pool: Option<(u32, u32)>) -> String {
        let mut out = String::new();
        out.push_str("# HELP hutong_http_requests_total FHIR requests answered, by interaction and status.\n");
        out.push_str("# TYPE hutong_http_requests_total counter\n");
        if let Ok(m) = self.requests.lock() {
            for ((interaction, status), n) in m.iter() {
                let _ = writeln!(out, "hutong_http_requests_total{{interaction=\"{interaction}\",status=\"{status}\"}} {n}");
            }
        }
        out.push_str("# HELP hutong_http_request_duration_seconds Latency of FHIR requests, by interaction.\n");
        out.push_str("# TYPE hutong_http_request_duration_seconds histogram\n");
        if let Ok(m) = self.latency.lock() {
            for (interaction, h) in m.iter() {
                for (i, b) in BUCKETS.iter().enumerate() {
                    let _ = writeln!(
                        out,
                        "hutong_http_request_duration_seconds_bucket{{interaction=\"{interaction}\",le=\"{b}\"}} {}",
                        h.counts[i]
                    );
                }
                let _ = writeln!(out, "hutong_http_request_duration_seconds_bucket{{interaction=\"{interaction}\",le=\"+Inf\"}} {}", h.count);
                let _ = writeln!(
                    out,
                    "hutong_http_request_duration_seconds_sum{{interaction=\"{interaction}\"}} {}",
                    h.sum
                );
                let _ = writeln!(out, "hutong_http_request_duration_seconds_count{{interaction=\"{interaction}\"}} {}", h.count);
            }
        }
        out.push_str(
            "# HELP hutong_store_info Storage backend in use.\n# TYPE hutong_store_info gauge\n",
        );
        let _ = writeln!(out, "hutong_store_info{{backend=\"{backend}\"}} 1");
        if let Some((size, idle)) = pool {
            out.push_str("# HELP hutong_db_pool_connections Database connections, by state.\n# TYPE hutong_db_pool_connections gauge\n");
            let _ = writeln!(out, "hutong_db_pool_connections{{state=\"idle\"}} {idle}");
            let _ = writeln!(
                out,
                "hutong_db_pool_connections{{state=\"in_use\"}} {}",
                size.saturating_sub(idle)
            );
        }
        out
    }
}

/// Names the FHIR interaction of a route (R4 CapabilityStatement interaction codes).
pub fn interaction(method: &Method, route: &str) -> &'static str {
    match (method.as_str(), route) {
        (_, "/fhir/metadata") => "capabilities",
        ("POST", "/fhir") | ("POST", "/fhir/") => "transaction",
        ("GET", "/fhir/_history") => "history-system",
        ("GET", "/fhir/{type}") => "search-type",
        ("POST", "/fhir/{type}") => "create",
        ("PUT", "/fhir/{type}") => "update",
        ("DELETE", "/fhir/{type}") => "delete",
        ("GET", "/fhir/{type}/_history") => "history-type",
        ("GET", "/fhir/{type}/{id}") => "read",
        ("PUT", "/fhir/{type}/{id}") => "update",
        ("PATCH", "/fhir/{type}/{id}") => "patch",
        ("DELETE", "/fhir/{type}/{id}") => "delete",
        ("GET", "/fhir/{type}/{id}/_history") => "history-instance",
        ("GET", "/fhir/{type}/{id}/_history/{vid}") => "vread",
        (_, "/healthz") => "healthz",
        (_, "/metrics") => "metrics",
        _ => "other",
    }
}

/// Middleware: times every request and counts it by interaction and status.
pub async fn track(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let start = Instant::now();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned());
    let name = interaction(req.method(), route.as_deref().unwrap_or(""));
    let resp = next.run(req).await;
    state
        .metrics
        .record(name, resp.status().as_u16(), start.elapsed().as_secs_f64());
    resp
}
