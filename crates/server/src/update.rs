//! `update` and update-as-create, with `If-Match` and `If-None-Match: *`
//! (R4 http.html#update).
use crate::app::AppState;
use crate::error::ApiError;
use crate::extract::{Base, FhirBody, Params};
use crate::negotiation::{check_accept, check_json_body, ReturnPreference};
use crate::render::write_response;
use crate::request::{parse_etag_version, parse_resource, EntryRequest, Method, Target};
use crate::transaction::run_single;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::Response;
use axum::Extension;
use hutong_store::AccessContext;

/// PUT `/fhir/{type}/{id}`.
#[allow(clippy::too_many_arguments)]
pub async fn handle(
    State(state): State<AppState>,
    Extension(ctx): Extension<AccessContext>,
    Path((type_name, id)): Path<(String, String)>,
    params: Params,
    headers: HeaderMap,
    Base(base): Base,
    FhirBody(body): FhirBody,
) -> Result<Response, ApiError> {
    check_accept(&headers, params.get("_format"))?;
    let target = Target::parse(&format!("{type_name}/{id}"), None, StatusCode::NOT_FOUND)?;
    check_json_body(&headers)?;
    let resource = parse_resource(&body, Some(target.resource_type))?;
    let mut entry = EntryRequest::new(Method::Put, target);
    entry.resource = Some(resource);
    entry.if_match = if_match(&headers)?;
    entry.if_none_match_any = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim() == "*");
    let result = run_single(&state.store, ctx, entry).await?;
    let pref = ReturnPreference::from_headers(&headers, ReturnPreference::Representation);
    Ok(write_response(&base, &result, pref))
}

/// The version required by `If-Match`, if any.
pub fn if_match(headers: &HeaderMap) -> Result<Option<u64>, ApiError> {
    headers
        .get(header::IF_MATCH)
        .map(|v| parse_etag_version(v.to_str().unwrap_or("")))
        .transpose()
}

/// PUT `/fhir/{type}?criteria`: conditional update (R4 http.html#cond-update). No match
/// creates (with the body's id, or a new one), one match updates it, several are 412.
#[allow(clippy::too_many_arguments)]
pub async fn conditional(
    State(state): State<AppState>,
    Extension(ctx): Extension<AccessContext>,
    Path(type_name): Path<String>,
    RawQuery(query): RawQuery,
    params: Params,
    headers: HeaderMap,
    Base(base): Base,
    FhirBody(body): FhirBody,
) -> Result<Response, ApiError> {
    check_accept(&headers, params.get("_format"))?;
    let target = conditional_target(&type_name, query.as_deref(), "update")?;
    check_json_body(&headers)?;
    let resource = parse_resource(&body, Some(target.resource_type))?;
    let mut entry = EntryRequest::new(Method::Put, target);
    entry.resource = Some(resource);
    entry.if_match = if_match(&headers)?;
    let result = run_single(&state.store, ctx, entry).await?;
    let pref = ReturnPreference::from_headers(&headers, ReturnPreference::Representation);
    Ok(write_response(&base, &result, pref))
}

/// The target of a conditional update or delete: `Type?criteria`, criteria required.
pub fn conditional_target(
    type_name: &str,
    query: Option<&str>,
    interaction: &str,
) -> Result<Target, ApiError> {
    let criteria: Vec<&str> = query
        .unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty() && !p.starts_with("_format="))
        .collect();
    if criteria.is_empty() {
        return Err(ApiError::bad_request(format!(
            "conditional {interaction} on {type_name} needs search criteria in the URL"
        )));
    }
    Target::parse(
        &format!("{type_name}?{}", criteria.join("&")),
        None,
        StatusCode::NOT_FOUND,
    )
}
