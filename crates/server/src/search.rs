//! Search (R4 http.html#search, search.html): `GET /fhir/{type}`, `POST
//! /fhir/{type}/_search` and patient-compartment search `GET /fhir/Patient/{id}/{type}`.
//! The handler parses the parameters into a [`hutong_search::SearchQuery`], asks the
//! store for one keyset page and renders a searchset Bundle with the stored bytes
//! spliced in.
use crate::app::AppState;
use crate::error::ApiError;
use crate::extract::{parse_query, Base, Params};
use crate::negotiation::check_accept;
use crate::render::{json_response, BundleWriter};
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::Response;
use axum::Extension;
use hutong_fhir::{Issue, IssueType};
use hutong_search::query::ParseOptions;
use hutong_search::{QueryError, SearchQuery};
use hutong_store::AccessContext;
use serde_json::json;

/// Page size when `_count` is absent.
pub const DEFAULT_COUNT: usize = 50;
/// Largest page size a client may ask for.
pub const MAX_COUNT: usize = 1000;

/// GET `/fhir/{type}`.
pub async fn type_search(
    State(state): State<AppState>,
    Extension(ctx): Extension<AccessContext>,
    Path(type_name): Path<String>,
    params: Params,
    headers: HeaderMap,
    Base(base): Base,
) -> Result<Response, ApiError> {
    check_accept(&headers, params.get("_format"))?;
    run(&state, &ctx, &type_name, None, params.0, &headers, &base).await
}

/// GET `/fhir?_type=…`: a search across resource types (R4 http.html#search).
pub async fn system_search(
    State(state): State<AppState>,
    Extension(ctx): Extension<AccessContext>,
    params: Params,
    headers: HeaderMap,
    Base(base): Base,
) -> Result<Response, ApiError> {
    check_accept(&headers, params.get("_format"))?;
    run(&state, &ctx, "", None, params.0, &headers, &base).await
}

/// POST `/fhir/_search`: a search across resource types with a form body.
pub async fn system_post_search(
    State(state): State<AppState>,
    Extension(ctx): Extension<AccessContext>,
    params: Params,
    headers: HeaderMap,
    Base(base): Base,
    body: Bytes,
) -> Result<Response, ApiError> {
    post_search(
        State(state),
        Extension(ctx),
        Path(String::new()),
        params,
        headers,
        Base(base),
        body,
    )
    .await
}

/// POST `/fhir/{type}/_search` with an `application/x-www-form-urlencoded` body.
pub async fn post_search(
    State(state): State<AppState>,
    Extension(ctx): Extension<AccessContext>,
    Path(type_name): Path<String>,
    params: Params,
    headers: HeaderMap,
    Base(base): Base,
    body: Bytes,
) -> Result<Response, ApiError> {
    check_accept(&headers, params.get("_format"))?;
    let form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_none_or(|c| c.starts_with("application/x-www-form-urlencoded"));
    if !form {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            IssueType::NotSupported,
            "POST _search takes an application/x-www-form-urlencoded body",
        ));
    }
    let text = std::str::from_utf8(&body)
        .map_err(|_| ApiError::bad_request("the _search body is not UTF-8"))?;
    let mut all = params.0;
    all.extend(parse_query(text.trim()));
    run(&state, &ctx, &type_name, None, all, &headers, &base).await
}

/// GET `/fhir/Patient/{id}/{type}`: the resources of `type` in that patient's
/// compartment (R4 compartmentdefinition-patient.html).
pub async fn compartment_search(
    State(state): State<AppState>,
    Extension(ctx): Extension<AccessContext>,
    Path((compartment, id, type_name)): Path<(String, String, String)>,
    params: Params,
    headers: HeaderMap,
    Base(base): Base,
) -> Result<Response, ApiError> {
    check_accept(&headers, params.get("_format"))?;
    if compartment == "Patient" && type_name == "$everything" {
        return everything(&state, &ctx, &id, params.0, &base).await;
    }
    if compartment != "Patient" {
        return Err(ApiError::not_found(format!(
            "no compartment search on {compartment} (only Patient)"
        )));
    }
    if hutong_fhir::id::Id::parse(&id).is_none() {
        return Err(ApiError::bad_request(format!("'{id}' is not a valid id")));
    }
    run(
        &state,
        &ctx,
        &type_name,
        Some(id),
        params.0,
        &headers,
        &base,
    )
    .await
}

fn query_error(e: QueryError) -> ApiError {
    let code = if e.not_supported {
        IssueType::NotSupported
    } else {
        IssueType::Invalid
    };
    let param = e.param.clone();
    ApiError::new(StatusCode::BAD_REQUEST, code, e.to_string()).at(param)
}

/// Whether the client asked for lenient handling (R4 search.html#errors).
fn lenient(headers: &HeaderMap) -> bool {
    headers
        .get_all("prefer")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split([',', ';']))
        .any(|p| p.trim().eq_ignore_ascii_case("handling=lenient"))
}

/// Percent-encodes a query component (RFC 3986 unreserved characters stay).
fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn link(base_path: &str, echo: &[(String, String)], cursor: Option<String>) -> String {
    let mut parts: Vec<String> = echo
        .iter()
        .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
        .collect();
    if let Some(c) = cursor {
        parts.push(format!("_cursor={c}"));
    }
    if parts.is_empty() {
        base_path.to_owned()
    } else {
        format!("{base_path}?{}", parts.join("&"))
    }
}

/// Parses the parameters of a search on `type_name` (optionally inside a patient's
/// compartment) the way every search endpoint does.
pub fn parse(
    type_name: &str,
    compartment: Option<String>,
    params: &[(String, String)],
    lenient: bool,
    base: &str,
) -> Result<SearchQuery, ApiError> {
    if !type_name.is_empty() && hutong_fhir::ResourceType::parse(type_name).is_none() {
        return Err(ApiError::not_found(format!(
            "unknown resource type '{type_name}'"
        )));
    }
    let now = time::OffsetDateTime::now_utc();
    let options = ParseOptions {
        lenient,
        default_count: DEFAULT_COUNT,
        max_count: MAX_COUNT,
        base: base.to_owned(),
        now_micros: (now.unix_timestamp_nanos() / 1000) as i64,
    };
    let mut q = if type_name.is_empty() {
        SearchQuery::parse_system(params, &options)
    } else {
        SearchQuery::parse(type_name, params, &options)
    }
    .map_err(query_error)?;
    if let Some(patient) = compartment {
        let members = hutong_search::registry().patient_compartment_params(type_name);
        if members.is_empty() && type_name != "Patient" {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                IssueType::NotSupported,
                format!("{type_name} is not in the patient compartment"),
            ));
        }
        q.compartment = Some((patient, members.to_vec()));
    }
    Ok(q)
}

async fn run(
    state: &AppState,
    ctx: &AccessContext,
    type_name: &str,
    compartment: Option<String>,
    params: Vec<(String, String)>,
    headers: &HeaderMap,
    base: &str,
) -> Result<Response, ApiError> {
    let base_path = match &compartment {
        Some(id) => format!("{base}/Patient/{id}/{type_name}"),
        None if type_name.is_empty() => base.to_owned(),
        None => format!("{base}/{type_name}"),
    };
    let mut q = parse(type_name, compartment, &params, lenient(headers), base)?;
    crate::terminology::expand(state, ctx, &mut q).await?;
    let page = state.store.search(ctx, &q).await?;
    Ok(render(base, &base_path, &q, &page))
}

/// The searchset Bundle of one page: matches, then includes, then an OperationOutcome
/// entry for parameters ignored under lenient handling.
fn render(
    base: &str,
    base_path: &str,
    q: &SearchQuery,
    page: &hutong_store::SearchPage,
) -> Response {
    let mut links = vec![(
        "self",
        link(base_path, &q.echo, q.cursor.as_ref().map(|c| c.encode())),
    )];
    if let Some(n) = &page.next {
        links.push(("next", link(base_path, &q.echo, Some(n.encode()))));
    }
    if let Some(p) = &page.previous {
        links.push(("previous", link(base_path, &q.echo, Some(p.encode()))));
    }
    let mut w = BundleWriter::new("searchset", page.total, &links);
    let view = crate::summary::View::of(q);
    let search_match = [("search", json!({ "mode": "match" }))];
    for v in &page.entries {
        let full = format!("{base}/{}/{}", v.resource_type, v.id);
        w.entry(Some(&full), Some(&*view.apply(&v.json)), &search_match);
    }
    let search_include = [("search", json!({ "mode": "include" }))];
    for v in &page.included {
        let full = format!("{base}/{}/{}", v.resource_type, v.id);
        w.entry(Some(&full), Some(&*view.apply(&v.json)), &search_include);
    }
    if !q.ignored.is_empty() {
        let issues: Vec<Issue> = q
            .ignored
            .iter()
            .map(|p| {
                let mut i = Issue::info(format!("unknown search parameter '{p}' was ignored"));
                i.severity = hutong_fhir::outcome::IssueSeverity::Warning;
                i.code = IssueType::NotSupported;
                i.at(p.clone())
            })
            .collect();
        let outcome = hutong_fhir::outcome::operation_outcome(&issues);
        let bytes = serde_json::to_vec(&outcome).unwrap_or_default();
        w.entry(
            None,
            Some(&bytes),
            &[("search", json!({ "mode": "outcome" }))],
        );
    }
    json_response(StatusCode::OK, w.finish())
}

/// GET `/fhir/Patient/{id}/$everything` (R4 patient-operation-everything.html): every
/// current resource in the patient's compartment (by the patient key stored with each
/// resource), plus the reference data they point at (practitioners, organizations …),
/// paged by keyset like a search. Parameters: `_since`, `_type`, `_count`.
async fn everything(
    state: &AppState,
    ctx: &AccessContext,
    id: &str,
    params: Vec<(String, String)>,
    base: &str,
) -> Result<Response, ApiError> {
    match state.store.read(ctx, "Patient", id).await? {
        Some(v) if !v.deleted => {}
        _ => return Err(ApiError::not_found(format!("Patient/{id} is not known"))),
    }
    let mut q = parse("Patient", None, &[], false, base)?;
    q.resource_type = String::new();
    q.patient_key = Some(id.to_owned());
    q.include_referenced = true;
    q.sort = vec![hutong_search::query::SortKey {
        param: "_type",
        ty: hutong_search::ParamType::Token,
        descending: false,
    }];
    q.sort_text = "_type".into();
    let bad = |name: &str, msg: String| {
        ApiError::new(StatusCode::BAD_REQUEST, IssueType::Invalid, msg).at(name.to_owned())
    };
    for (name, value) in &params {
        match name.as_str() {
            "_format" | "_pretty" => continue,
            "_cursor" => {
                let c = hutong_search::cursor::Cursor::decode(value)
                    .filter(|c| c.sort == "_type" && c.values.len() == 1)
                    .ok_or_else(|| bad(name, "not a cursor this server issued".into()))?;
                q.cursor = Some(c);
                continue;
            }
            "_count" => {
                let n: usize = value
                    .parse()
                    .map_err(|_| bad(name, format!("'{value}' is not a non-negative integer")))?;
                q.count = n.min(MAX_COUNT);
            }
            "_since" => {
                let r = hutong_search::date::parse(value)
                    .ok_or_else(|| bad(name, format!("'{value}' is not an instant")))?;
                q.filters.push(hutong_search::query::Filter {
                    param: "_lastUpdated",
                    ty: hutong_search::ParamType::Date,
                    condition: hutong_search::query::Condition::LastUpdated(vec![(
                        hutong_search::query::Prefix::Ge,
                        r,
                    )]),
                });
            }
            "_type" => {
                for t in value.split(',') {
                    if hutong_fhir::ResourceType::parse(t).is_none() {
                        return Err(bad(name, format!("'{t}' is not a resource type")));
                    }
                    q.types.push(t.to_owned());
                }
            }
            other => {
                return Err(bad(
                    other,
                    format!("$everything does not take the parameter '{other}'"),
                ))
            }
        }
        q.echo.push((name.clone(), value.clone()));
    }
    let page = state.store.search(ctx, &q).await?;
    Ok(render(
        base,
        &format!("{base}/Patient/{id}/$everything"),
        &q,
        &page,
    ))
}
