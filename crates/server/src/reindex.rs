//! Rebuilding search indexes after a search-parameter change: `hutong reindex` and the
//! `POST /fhir/$reindex` operation, both over [`hutong_store::Store::reindex`] (online,
//! one transaction per batch, resumable after an interruption).
//!
//! The operation runs synchronously and answers an OperationOutcome with the counts
//! once the job has finished; a client that goes away does not stop it (and a run
//! stopped by a server shutdown resumes with the next call of the same selector).
use crate::app::AppState;
use crate::error::ApiError;
use crate::extract::{FhirBody, Params};
use crate::negotiation::check_accept;
use crate::render::json_response;
use crate::transaction::detached;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::Extension;
use hutong_fhir::Issue;
use hutong_store::{
    AccessContext, ReindexControl, ReindexProgress, ReindexReport, ReindexSpec, Store,
};
use serde_json::Value;
use std::time::Duration;

/// Checks what a reindex is asked to rebuild: a known resource type, and parameters
/// that exist (for that type, or for some type) and are indexed.
pub fn spec(
    resource_type: Option<&str>,
    params: &[String],
    restart: bool,
) -> Result<ReindexSpec, ApiError> {
    let resource_type = match resource_type.filter(|t| !t.is_empty()) {
        Some(t) => Some(
            hutong_fhir::ResourceType::parse(t)
                .ok_or_else(|| ApiError::bad_request(format!("unknown resource type '{t}'")))?
                .as_str()
                .to_owned(),
        ),
        None => None,
    };
    let params: Vec<String> = params
        .iter()
        .flat_map(|p| p.split(','))
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(str::to_owned)
        .collect();
    let registry = hutong_search::registry();
    for p in &params {
        let known = match &resource_type {
            Some(t) => registry.param(t, p).is_some_and(|sp| sp.is_indexed()),
            None => !registry.types_with_params(&[p.as_str()]).is_empty(),
        };
        if !known {
            return Err(ApiError::bad_request(format!(
                "'{p}' is not an indexed search parameter{}",
                resource_type
                    .as_deref()
                    .map(|t| format!(" of {t}"))
                    .unwrap_or_default()
            )));
        }
    }
    Ok(ReindexSpec {
        resource_type,
        params,
        restart,
        batch_size: 0,
    })
}

/// One progress line: `12000/20000 resources (60.0%), 3400/s, ETA 2s`.
pub fn progress_line(p: &ReindexProgress) -> String {
    let pct = if p.total == 0 {
        100.0
    } else {
        (p.done as f64 * 100.0 / p.total as f64).min(100.0)
    };
    format!(
        "{}/{} resources ({pct:.1}%), {:.0}/s, ETA {}",
        p.done,
        p.total,
        p.rate,
        p.eta.map_or_else(|| "?".to_owned(), human)
    )
}

/// The closing summary of a run.
pub fn summary(r: &ReindexReport) -> String {
    let secs = r.elapsed.as_secs_f64();
    let resumed = if r.resumed_from > 0 {
        format!(", resumed after {}", r.resumed_from)
    } else {
        String::new()
    };
    format!(
        "reindex job {}: {} {} resources in {} batches, {secs:.1}s ({:.0} resources/s){resumed}; {} in all",
        r.job,
        if r.finished { "finished," } else { "stopped after" },
        r.indexed,
        r.batches,
        r.indexed as f64 / secs.max(1e-9),
        r.done
    )
}

fn human(d: Duration) -> String {
    let s = d.as_secs();
    if s >= 3600 {
        format!("{}h{:02}m", s / 3600, s % 3600 / 60)
    } else if s >= 60 {
        format!("{}m{:02}s", s / 60, s % 60)
    } else {
        format!("{s}s")
    }
}

/// POST `/fhir/$reindex` (`type`, `param` (repeatable or comma-separated) and `restart`
/// as query parameters or in a Parameters body).
pub async fn operation(
    State(state): State<AppState>,
    Extension(ctx): Extension<AccessContext>,
    params: Params,
    headers: HeaderMap,
    FhirBody(body): FhirBody,
) -> Result<Response, ApiError> {
    check_accept(&headers, params.get("_format"))?;
    let mut args: Vec<(String, String)> = params
        .0
        .into_iter()
        .filter(|(k, _)| k != "_format")
        .collect();
    if !body.iter().all(u8::is_ascii_whitespace) {
        args.extend(parameters_body(&body)?);
    }
    let mut resource_type = None;
    let mut codes = Vec::new();
    let mut restart = false;
    for (k, v) in args {
        match k.as_str() {
            "type" => resource_type = Some(v),
            "param" => codes.push(v),
            "restart" => restart = v == "true",
            _ => {
                return Err(ApiError::bad_request(format!(
                    "$reindex has no parameter '{k}' (type, param, restart)"
                )))
            }
        }
    }
    let spec = spec(resource_type.as_deref(), &codes, restart)?;
    tracing::info!(
        who = %ctx.subject,
        resource_type = spec.resource_type.as_deref().unwrap_or("*"),
        params = %spec.params_key(),
        "$reindex started"
    );
    let store = state.store.clone();
    let report = detached(async move { run(store.as_ref(), &spec).await }).await?;
    let outcome = hutong_fhir::outcome::operation_outcome(&[Issue::info(summary(&report))]);
    Ok(json_response(
        StatusCode::OK,
        serde_json::to_vec(&outcome).unwrap_or_default(),
    ))
}

async fn run(store: &dyn Store, spec: &ReindexSpec) -> Result<ReindexReport, ApiError> {
    let keep_going = |_: &ReindexProgress| ReindexControl::Continue;
    Ok(store.reindex(spec, &keep_going).await?)
}

/// `(name, value)` pairs of a Parameters body (`valueString`, `valueCode`, `valueBoolean`).
fn parameters_body(body: &[u8]) -> Result<Vec<(String, String)>, ApiError> {
    let v: Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("the body is not JSON: {e}")))?;
    if v.get("resourceType").and_then(Value::as_str) != Some("Parameters") {
        return Err(ApiError::bad_request(
            "the body of $reindex must be a Parameters resource",
        ));
    }
    let mut out = Vec::new();
    for (i, p) in v
        .get("parameter")
        .and_then(Value::as_array)
        .map_or(&[][..], Vec::as_slice)
        .iter()
        .enumerate()
    {
        let name = p.get("name").and_then(Value::as_str).unwrap_or("");
        let value = ["valueString", "valueCode", "valueBoolean"]
            .iter()
            .find_map(|k| p.get(*k))
            .map(|v| match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            })
            .ok_or_else(|| {
                ApiError::bad_request(format!(
                    "parameter '{name}' has no string, code or boolean value"
                ))
                .at(format!("Parameters.parameter[{i}]"))
            })?;
        out.push((name.to_owned(), value));
    }
    Ok(out)
}
