//! The CapabilityStatement (`/fhir/metadata`), generated from what the server really
//! supports (R4 capabilitystatement.html).
use crate::app::AppState;
use crate::error::ApiError;
use crate::extract::{Base, Params};
use crate::negotiation::check_accept;
use crate::render::json_response;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde_json::{json, Value};

/// Interactions supported on every resource type.
pub const TYPE_INTERACTIONS: [&str; 9] = [
    "read",
    "vread",
    "update",
    "patch",
    "delete",
    "history-instance",
    "history-type",
    "create",
    "search-type",
];

/// Interactions supported at system level.
pub const SYSTEM_INTERACTIONS: [&str; 4] =
    ["transaction", "batch", "history-system", "search-system"];

/// GET `/fhir/metadata`.
pub async fn handle(
    State(state): State<AppState>,
    params: Params,
    headers: HeaderMap,
    Base(base): Base,
) -> Result<Response, ApiError> {
    check_accept(&headers, params.get("_format"))?;
    let body =
        serde_json::to_vec(&capability_statement(&base, state.store.backend())).unwrap_or_default();
    Ok(json_response(StatusCode::OK, body))
}

/// The search parameters of a type that the server really answers: `_id`,
/// `_lastUpdated`, every indexed parameter and the two-component composites (special
/// ones and three-component composites are left out: they answer 400).
fn search_params(resource_type: &str) -> Vec<Value> {
    hutong_search::registry()
        .params(resource_type)
        .iter()
        .filter(|p| {
            p.is_indexed()
                || matches!(p.code, "_id" | "_lastUpdated")
                || (p.ty == hutong_search::ParamType::Composite
                    && p.expression.is_some()
                    && p.components.len() == 2)
        })
        .map(|p| json!({ "name": p.code, "type": p.ty.code() }))
        .collect()
}

/// `_include` values of a type: each of its reference parameters (`_revinclude` takes
/// the same values from the other side).
fn search_includes(resource_type: &str) -> Vec<String> {
    hutong_search::registry()
        .params(resource_type)
        .iter()
        .filter(|p| p.ty == hutong_search::ParamType::Reference && p.is_indexed())
        .map(|p| format!("{resource_type}:{}", p.code))
        .collect()
}

/// Builds the CapabilityStatement.
pub fn capability_statement(base: &str, backend: &str) -> Value {
    let interactions: Vec<Value> = TYPE_INTERACTIONS
        .iter()
        .map(|c| json!({ "code": c }))
        .collect();
    let resources: Vec<Value> = hutong_fhir::r4::metadata()
        .resource_types()
        .iter()
        .map(|t| {
            let mut r = json!({
                "type": t,
                "searchParam": search_params(t),
                "searchInclude": search_includes(t),
                "interaction": interactions,
                "versioning": "versioned-update",
                "readHistory": true,
                "updateCreate": true,
                "conditionalCreate": true,
                "conditionalRead": "not-supported",
                "conditionalUpdate": true,
                "conditionalDelete": "single",
                "referencePolicy": ["literal", "local"],
            });
            if *t == "Patient" {
                r["operation"] = json!([{
                    "name": "everything",
                    "definition": "http://hl7.org/fhir/OperationDefinition/Patient-everything",
                }]);
            }
            r
        })
        .collect();
    json!({
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": crate::render::instant(time::OffsetDateTime::now_utc()),
        "publisher": "Hutong",
        "kind": "instance",
        "software": { "name": "Hutong", "version": env!("CARGO_PKG_VERSION") },
        "implementation": { "description": format!("Hutong regional health platform ({backend} store)"), "url": base },
        "fhirVersion": "4.0.1",
        "format": ["application/fhir+json", "json"],
        "patchFormat": ["application/json-patch+json"],
        "rest": [{
            "mode": "server",
            "security": {
                "description": "Bearer tokens (Authorization: Bearer …); every request runs with an access context.",
            },
            "resource": resources,
            "interaction": SYSTEM_INTERACTIONS.iter().map(|c| json!({ "code": c })).collect::<Vec<_>>(),
        }],
    })
}
