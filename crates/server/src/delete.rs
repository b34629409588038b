//! `delete`: a versioned tombstone (R4 http.html#delete).
use crate::app::AppState;
use crate::error::ApiError;
use crate::extract::{Base, Params};
use crate::negotiation::{check_accept, ReturnPreference};
use crate::render::write_response;
use crate::request::{EntryRequest, Method, Target};
use crate::transaction::run_single;
use crate::update::{conditional_target, if_match};
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::Extension;
use hutong_store::AccessContext;

/// DELETE `/fhir/{type}/{id}`: 204 whether or not the resource existed.
pub async fn handle(
    State(state): State<AppState>,
    Extension(ctx): Extension<AccessContext>,
    Path((type_name, id)): Path<(String, String)>,
    params: Params,
    headers: HeaderMap,
    Base(base): Base,
) -> Result<Response, ApiError> {
    check_accept(&headers, params.get("_format"))?;
    let target = Target::parse(&format!("{type_name}/{id}"), None, StatusCode::NOT_FOUND)?;
    let mut entry = EntryRequest::new(Method::Delete, target);
    entry.if_match = if_match(&headers)?;
    let result = run_single(&state.store, ctx, entry).await?;
    Ok(write_response(&base, &result, ReturnPreference::Minimal))
}

/// DELETE `/fhir/{type}?criteria`: conditional delete of the single match
/// (R4 http.html#cdelete); no match is a no-op, several matches are 412.
pub async fn conditional(
    State(state): State<AppState>,
    Extension(ctx): Extension<AccessContext>,
    Path(type_name): Path<String>,
    RawQuery(query): RawQuery,
    params: Params,
    headers: HeaderMap,
    Base(base): Base,
) -> Result<Response, ApiError> {
    check_accept(&headers, params.get("_format"))?;
    let target = conditional_target(&type_name, query.as_deref(), "delete")?;
    let mut entry = EntryRequest::new(Method::Delete, target);
    entry.if_match = if_match(&headers)?;
    let result = run_single(&state.store, ctx, entry).await?;
    Ok(write_response(&base, &result, ReturnPreference::Minimal))
}
