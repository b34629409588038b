//! `history` at instance, type and system level (R4 http.html#history), paged by a
//! keyset cursor so that a page never rescans earlier pages.
use crate::app::AppState;
use crate::error::ApiError;
use crate::extract::{Base, Params};
use crate::negotiation::check_accept;
use crate::render::{etag, instant, json_response, status_text, BundleWriter};
use crate::request::Target;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::Extension;
use hutong_store::{AccessContext, HistoryQuery, HistoryScope, WriteKind};
use serde_json::json;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// Default and largest page sizes.
pub const DEFAULT_COUNT: usize = 50;
/// Largest `_count` honoured.
pub const MAX_COUNT: usize = 1000;

/// GET `/fhir/_history`.
pub async fn system(
    State(state): State<AppState>,
    Extension(ctx): Extension<AccessContext>,
    params: Params,
    headers: HeaderMap,
    base: Base,
) -> Result<Response, ApiError> {
    respond(
        &state,
        &ctx,
        HistoryScope::System,
        "_history",
        params,
        headers,
        base,
    )
    .await
}

/// GET `/fhir/{type}/_history`.
pub async fn type_level(
    State(state): State<AppState>,
    Extension(ctx): Extension<AccessContext>,
    Path(type_name): Path<String>,
    params: Params,
    headers: HeaderMap,
    base: Base,
) -> Result<Response, ApiError> {
    let t = Target::parse(&type_name, None, StatusCode::NOT_FOUND)?;
    let path = format!("{}/_history", t.resource_type);
    respond(
        &state,
        &ctx,
        HistoryScope::Type(t.resource_type.to_string()),
        &path,
        params,
        headers,
        base,
    )
    .await
}

/// GET `/fhir/{type}/{id}/_history`.
pub async fn instance(
    State(state): State<AppState>,
    Extension(ctx): Extension<AccessContext>,
    Path((type_name, id)): Path<(String, String)>,
    params: Params,
    headers: HeaderMap,
    base: Base,
) -> Result<Response, ApiError> {
    let t = Target::parse(&format!("{type_name}/{id}"), None, StatusCode::NOT_FOUND)?;
    let rt = t.resource_type.to_string();
    if state.store.read(&ctx, &rt, &id).await?.is_none() {
        return Err(ApiError::not_found(format!("{rt}/{id} is not known")));
    }
    let path = format!("{rt}/{id}/_history");
    respond(
        &state,
        &ctx,
        HistoryScope::Instance(rt, id),
        &path,
        params,
        headers,
        base,
    )
    .await
}

async fn respond(
    state: &AppState,
    ctx: &AccessContext,
    scope: HistoryScope,
    path: &str,
    params: Params,
    headers: HeaderMap,
    Base(base): Base,
) -> Result<Response, ApiError> {
    check_accept(&headers, params.get("_format"))?;
    let mut query = HistoryQuery {
        scope,
        since: None,
        at: None,
        count: DEFAULT_COUNT,
        before_seq: None,
    };
    for (name, value) in &params.0 {
        match name.as_str() {
            "_since" => query.since = Some(parse_instant(name, value)?),
            "_at" => query.at = Some(parse_instant(name, value)?),
            "_count" => {
                let n: usize = value.parse().map_err(|_| {
                    ApiError::bad_request(format!(
                        "_count must be a non-negative integer, got '{value}'"
                    ))
                    .at("_count")
                })?;
                query.count = n.min(MAX_COUNT);
            }
            "_cursor" => {
                query.before_seq = Some(value.parse().map_err(|_| {
                    ApiError::bad_request(format!("invalid paging cursor '{value}'")).at("_cursor")
                })?)
            }
            "_format" | "_pretty" => {}
            other => {
                return Err(
                    ApiError::bad_request(format!("unknown history parameter '{other}'"))
                        .at(other.to_owned()),
                )
            }
        }
    }
    let page = state.store.history(ctx, &query).await?;
    let keep: Vec<(String, String)> = params
        .0
        .iter()
        .filter(|(k, _)| k != "_cursor")
        .cloned()
        .collect();
    let self_url = link(&base, path, &params.0);
    let mut links = vec![("self", self_url)];
    if let Some(next) = page.next {
        let mut p = keep.clone();
        p.push(("_cursor".to_owned(), next.to_string()));
        links.push(("next", link(&base, path, &p)));
    }
    let mut w = BundleWriter::new("history", Some(page.total), &links);
    for v in &page.entries {
        let (method, url, status) = match v.kind {
            WriteKind::Create => ("POST", v.resource_type.clone(), StatusCode::CREATED),
            WriteKind::Update => (
                "PUT",
                format!("{}/{}", v.resource_type, v.id),
                StatusCode::OK,
            ),
            WriteKind::Delete => (
                "DELETE",
                format!("{}/{}", v.resource_type, v.id),
                StatusCode::NO_CONTENT,
            ),
        };
        let full_url = format!("{base}/{}/{}", v.resource_type, v.id);
        let resource = (!v.deleted).then_some(&v.json[..]);
        w.entry(
            Some(&full_url),
            resource,
            &[
                ("request", json!({ "method": method, "url": url })),
                (
                    "response",
                    json!({ "status": status_text(status), "etag": etag(v.version), "lastModified": instant(v.last_updated) }),
                ),
            ],
        );
    }
    Ok(json_response(StatusCode::OK, w.finish()))
}

fn link(base: &str, path: &str, params: &[(String, String)]) -> String {
    let mut url = format!("{base}/{path}");
    for (i, (k, v)) in params.iter().enumerate() {
        url.push(if i == 0 { '?' } else { '&' });
        url.push_str(&encode(k));
        url.push('=');
        url.push_str(&encode(v));
    }
    url
}

fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~' | b':') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Parses a FHIR instant or a date(-time) prefix as the start of that period (UTC).
pub fn parse_instant(name: &str, value: &str) -> Result<OffsetDateTime, ApiError> {
    if let Ok(t) = OffsetDateTime::parse(value, &Rfc3339) {
        return Ok(t);
    }
    let padded = match value.len() {
        4 => format!("{value}-01-01T00:00:00Z"),
        7 => format!("{value}-01T00:00:00Z"),
        10 => format!("{value}T00:00:00Z"),
        _ => String::new(),
    };
    OffsetDateTime::parse(&padded, &Rfc3339).map_err(|_| {
        ApiError::bad_request(format!(
            "{name} must be a FHIR instant such as 2024-01-31T08:00:00Z, got '{value}'"
        ))
        .at(name.to_owned())
    })
}
