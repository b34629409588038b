//! `create`, with conditional create by `If-None-Exist` (R4 http.html#create).
use crate::app::AppState;
use crate::error::ApiError;
use crate::extract::{Base, FhirBody, Params};
use crate::negotiation::{check_accept, check_json_body, ReturnPreference};
use crate::render::write_response;
use crate::request::{parse_resource, EntryRequest, Method, Target};
use crate::transaction::run_single;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::Extension;
use hutong_store::AccessContext;

/// POST `/fhir/{type}`.
pub async fn handle(
    State(state): State<AppState>,
    Extension(ctx): Extension<AccessContext>,
    Path(type_name): Path<String>,
    params: Params,
    headers: HeaderMap,
    Base(base): Base,
    FhirBody(body): FhirBody,
) -> Result<Response, ApiError> {
    check_accept(&headers, params.get("_format"))?;
    let target = Target::parse(&type_name, None, StatusCode::NOT_FOUND)?;
    check_json_body(&headers)?;
    let resource = parse_resource(&body, Some(target.resource_type))?;
    let mut entry = EntryRequest::new(Method::Post, target);
    entry.resource = Some(resource);
    entry.if_none_exist = headers
        .get("if-none-exist")
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
    let result = run_single(&state.store, ctx, entry).await?;
    let pref = ReturnPreference::from_headers(&headers, ReturnPreference::Representation);
    Ok(write_response(&base, &result, pref))
}
