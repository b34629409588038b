//! `patch` with JSON Patch (RFC 6902; R4 http.html#patch).
use crate::app::AppState;
use crate::error::ApiError;
use crate::extract::{Base, FhirBody, Params};
use crate::negotiation::{check_accept, content_type, ReturnPreference};
use crate::render::write_response;
use crate::request::{EntryRequest, Method, Target};
use crate::transaction::run_single;
use crate::update::if_match;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::Extension;
use hutong_fhir::IssueType;
use hutong_store::AccessContext;

/// PATCH `/fhir/{type}/{id}` with `Content-Type: application/json-patch+json`.
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
    match content_type(&headers).as_deref() {
        Some("application/json-patch+json") => {}
        other => {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                IssueType::NotSupported,
                format!(
                    "PATCH needs Content-Type application/json-patch+json (got {}); FHIRPath Patch is not supported",
                    other.unwrap_or("none")
                ),
            ))
        }
    }
    let mut entry = EntryRequest::new(Method::Patch, target);
    entry.patch = Some(parse_patch(&body)?);
    entry.if_match = if_match(&headers)?;
    let result = run_single(&state.store, ctx, entry).await?;
    let pref = ReturnPreference::from_headers(&headers, ReturnPreference::Representation);
    Ok(write_response(&base, &result, pref))
}

/// Parses a JSON Patch document.
pub fn parse_patch(body: &[u8]) -> Result<json_patch::Patch, ApiError> {
    serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("invalid JSON Patch document: {e}")))
}
