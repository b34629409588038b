//! `transaction` and `batch` (POST of a Bundle to the base; R4 http.html#transaction),
//! and the reading of Bundles into [`EntryRequest`]s shared with `hutong import`.
use crate::app::AppState;
use crate::error::ApiError;
use crate::extract::{Base, FhirBody, Params};
use crate::negotiation::{check_accept, check_json_body, ReturnPreference};
use crate::patch::parse_patch;
use crate::render::{json_response, transaction_response};
use crate::request::{check_resource, parse_etag_version, EntryRequest, Method, Target};
use crate::transaction::{locate_entry, run_batch, run_transaction, EntryResult};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::Extension;
use base64::Engine;
use hutong_fhir::IssueType;
use hutong_store::{AccessContext, Store};
use serde_json::Value;

/// How a Bundle is to be processed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BundleKind {
    /// All or nothing.
    Transaction,
    /// Entry by entry.
    Batch,
    /// Any other Bundle type (collection, searchset, document…): its resources are
    /// stored as they are, all or nothing (used by `hutong import`).
    Collection,
}

/// POST `/fhir` with a transaction or batch Bundle.
pub async fn handle(
    State(state): State<AppState>,
    Extension(ctx): Extension<AccessContext>,
    params: Params,
    headers: HeaderMap,
    Base(base): Base,
    FhirBody(body): FhirBody,
) -> Result<Response, ApiError> {
    check_accept(&headers, params.get("_format"))?;
    check_json_body(&headers)?;
    let bundle: Value = serde_json::from_slice(&body).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            IssueType::Structure,
            format!("the body is not valid JSON: {e}"),
        )
    })?;
    let kind = bundle_kind(&bundle)?;
    if kind == BundleKind::Collection {
        return Err(ApiError::bad_request(
            "only transaction and batch Bundles can be posted to the base (Bundle.type)",
        )
        .at("Bundle.type"));
    }
    let pref = ReturnPreference::from_headers(&headers, ReturnPreference::Minimal);
    let store = std::sync::Arc::clone(&state.store);
    let base_for_task = base.clone();
    let (kind, results) = crate::transaction::detached(async move {
        process(store.as_ref(), &ctx, &bundle, kind, Some(&base_for_task)).await
    })
    .await?;
    let bundle_type = if kind == BundleKind::Batch {
        "batch-response"
    } else {
        "transaction-response"
    };
    Ok(json_response(
        StatusCode::OK,
        transaction_response(&base, bundle_type, &results, pref),
    ))
}

/// Processes a parsed Bundle of the given kind against the store.
pub async fn process(
    store: &dyn Store,
    ctx: &AccessContext,
    bundle: &Value,
    kind: BundleKind,
    base: Option<&str>,
) -> Result<(BundleKind, Vec<EntryResult>), ApiError> {
    let entries = read_entries(bundle, kind, base)?;
    match kind {
        BundleKind::Batch => {
            let mut ok = Vec::new();
            let mut positions = Vec::new();
            let mut results: Vec<Option<EntryResult>> = vec![None; entries.len()];
            for (i, e) in entries.into_iter().enumerate() {
                match e {
                    Ok(e) => {
                        positions.push(i);
                        ok.push(e);
                    }
                    Err(err) => {
                        results[i] = Some(EntryResult {
                            status: err.status,
                            version: None,
                            outcome: err.issues,
                            is_read: false,
                        })
                    }
                }
            }
            for (pos, r) in positions.into_iter().zip(run_batch(store, ctx, ok).await) {
                results[pos] = Some(r);
            }
            let results = results
                .into_iter()
                .map(|r| {
                    r.unwrap_or(EntryResult {
                        status: StatusCode::INTERNAL_SERVER_ERROR,
                        version: None,
                        outcome: Vec::new(),
                        is_read: false,
                    })
                })
                .collect();
            Ok((kind, results))
        }
        BundleKind::Transaction | BundleKind::Collection => {
            let entries = entries
                .into_iter()
                .enumerate()
                .map(|(i, e)| e.map_err(|err| locate_entry(i, err)))
                .collect::<Result<Vec<_>, _>>()?;
            Ok((kind, run_transaction(store, ctx, entries, true).await?))
        }
    }
}

/// The processing kind named by `Bundle.type`.
pub fn bundle_kind(bundle: &Value) -> Result<BundleKind, ApiError> {
    if bundle.get("resourceType").and_then(Value::as_str) != Some("Bundle") {
        return Err(ApiError::bad_request("expected a Bundle").at("resourceType"));
    }
    match bundle.get("type").and_then(Value::as_str) {
        Some("transaction") => Ok(BundleKind::Transaction),
        Some("batch") => Ok(BundleKind::Batch),
        Some(_) => Ok(BundleKind::Collection),
        None => Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            IssueType::Required,
            "Bundle.type is missing",
        )
        .at("Bundle.type")),
    }
}

/// Reads every entry into a request; an unreadable entry is an `Err` at its position.
fn read_entries(
    bundle: &Value,
    kind: BundleKind,
    base: Option<&str>,
) -> Result<Vec<Result<EntryRequest, ApiError>>, ApiError> {
    let entries = match bundle.get("entry") {
        None => return Ok(Vec::new()),
        Some(Value::Array(a)) => a,
        Some(_) => {
            return Err(ApiError::bad_request("Bundle.entry must be an array").at("Bundle.entry"))
        }
    };
    Ok(entries.iter().map(|e| read_entry(e, kind, base)).collect())
}

fn read_entry(
    entry: &Value,
    kind: BundleKind,
    base: Option<&str>,
) -> Result<EntryRequest, ApiError> {
    let full_url = entry
        .get("fullUrl")
        .and_then(Value::as_str)
        .map(str::to_owned);
    let resource = entry.get("resource");
    if kind == BundleKind::Collection {
        let resource = resource.ok_or_else(|| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                IssueType::Required,
                "entry has no resource",
            )
        })?;
        check_resource(resource, None)?;
        let rt = resource
            .get("resourceType")
            .and_then(Value::as_str)
            .unwrap_or("");
        let (method, url) = match resource.get("id").and_then(Value::as_str) {
            Some(id) => (Method::Put, format!("{rt}/{id}")),
            None => (Method::Post, rt.to_owned()),
        };
        let mut e = EntryRequest::new(method, Target::parse(&url, None, StatusCode::BAD_REQUEST)?);
        e.full_url = full_url;
        e.resource = Some(resource.clone());
        return Ok(e);
    }
    let request = entry.get("request").ok_or_else(|| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            IssueType::Required,
            "entry.request is missing",
        )
    })?;
    let method_text = request.get("method").and_then(Value::as_str).unwrap_or("");
    let method = Method::parse(method_text).ok_or_else(|| {
        ApiError::bad_request(format!(
            "entry.request.method '{method_text}' is not supported"
        ))
    })?;
    let url = request.get("url").and_then(Value::as_str).ok_or_else(|| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            IssueType::Required,
            "entry.request.url is missing",
        )
    })?;
    let target = Target::parse(url, base, StatusCode::BAD_REQUEST)?;
    let mut e = EntryRequest::new(method, target);
    e.full_url = full_url;
    e.if_match = request
        .get("ifMatch")
        .and_then(Value::as_str)
        .map(parse_etag_version)
        .transpose()?;
    e.if_none_exist = request
        .get("ifNoneExist")
        .and_then(Value::as_str)
        .map(str::to_owned);
    e.if_none_match_any = request
        .get("ifNoneMatch")
        .and_then(Value::as_str)
        .is_some_and(|v| v.trim() == "*");
    match method {
        Method::Post | Method::Put => {
            let resource = resource.ok_or_else(|| {
                ApiError::new(
                    StatusCode::BAD_REQUEST,
                    IssueType::Required,
                    format!("{method_text} entry has no resource"),
                )
            })?;
            check_resource(resource, Some(e.target.resource_type))?;
            e.resource = Some(resource.clone());
        }
        Method::Patch => {
            // R4: a JSON Patch in a Bundle travels as a Binary resource.
            let binary = resource
                .ok_or_else(|| ApiError::bad_request("PATCH entry has no Binary resource"))?;
            let data = binary.get("data").and_then(Value::as_str).unwrap_or("");
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(data)
                .map_err(|err| {
                    ApiError::bad_request(format!("PATCH entry: Binary.data is not base64: {err}"))
                })?;
            e.patch = Some(parse_patch(&bytes)?);
        }
        Method::Get | Method::Delete => {}
    }
    Ok(e)
}
