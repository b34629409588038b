//! `read` and `vread` (R4 http.html#read, #vread).
use crate::app::AppState;
use crate::error::ApiError;
use crate::extract::Params;
use crate::negotiation::check_accept;
use crate::render::{etag, read_response};
use crate::request::Target;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use hutong_store::AccessContext;

/// GET `/fhir/{type}/{id}`.
pub async fn read(
    State(state): State<AppState>,
    Extension(ctx): Extension<AccessContext>,
    Path((type_name, id)): Path<(String, String)>,
    params: Params,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    check_accept(&headers, params.get("_format"))?;
    let target = Target::parse(&format!("{type_name}/{id}"), None, StatusCode::NOT_FOUND)?;
    let rt = target.resource_type.as_str();
    let v = state
        .store
        .read(&ctx, rt, &id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("{rt}/{id} is not known")))?;
    if v.deleted {
        return Err(ApiError::gone(format!(
            "{rt}/{id} was deleted (version {})",
            v.version
        )));
    }
    if let Some(inm) = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|h| h.to_str().ok())
    {
        if inm
            .split(',')
            .any(|t| t.trim() == etag(v.version) || t.trim() == format!("\"{}\"", v.version))
        {
            let mut resp = StatusCode::NOT_MODIFIED.into_response();
            crate::render::version_headers(&mut resp, &v);
            return Ok(resp);
        }
    }
    if let Some(ims) = headers
        .get(header::IF_MODIFIED_SINCE)
        .and_then(|h| h.to_str().ok())
    {
        if crate::render::http_date(v.last_updated) == ims.trim() {
            let mut resp = StatusCode::NOT_MODIFIED.into_response();
            crate::render::version_headers(&mut resp, &v);
            return Ok(resp);
        }
    }
    Ok(read_response(&v))
}

/// GET `/fhir/{type}/{id}/_history/{vid}`.
pub async fn vread(
    State(state): State<AppState>,
    Extension(ctx): Extension<AccessContext>,
    Path((type_name, id, vid)): Path<(String, String, String)>,
    params: Params,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    check_accept(&headers, params.get("_format"))?;
    let target = Target::parse(
        &format!("{type_name}/{id}/_history/{vid}"),
        None,
        StatusCode::NOT_FOUND,
    )?;
    let rt = target.resource_type.as_str();
    let version = target.version.unwrap_or(0);
    let v = state
        .store
        .vread(&ctx, rt, &id, version)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("{rt}/{id} has no version {version}")))?;
    if v.deleted {
        return Err(ApiError::gone(format!(
            "{rt}/{id} version {version} is a delete"
        )));
    }
    Ok(read_response(&v))
}
