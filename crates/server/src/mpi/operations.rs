//! The MPI's FHIR operations. Each handler parses its Parameters, calls one function of
//! [`super::Mpi`] (or the store), and renders the answer.
//!
//! | route | answer |
//! | --- | --- |
//! | `POST /fhir/Patient/$match` | searchset Bundle: candidates with `search.score` and the `match-grade` extension |
//! | `GET\|POST /fhir/Patient/$ihe-pix` | Parameters: `targetIdentifier` / `targetId` of every record of the same person |
//! | `POST /fhir/Person/$mdm-link` | the Person, after linking `patient` to it (`reason`) |
//! | `POST /fhir/Person/$mdm-unlink` | Parameters: the new golden record of `patient` |
//! | `POST /fhir/Patient/$merge` | Parameters: `outcome`, `result` (the target Patient), `person` |
//! | `GET /fhir/$mdm-review` | Parameters: one `item` per review-queue entry (open by default) |
//! | `POST /fhir/$mdm-review-accept\|reject` | Parameters: the decided `item` |
//! | `GET /fhir/Person\|Patient/{id}/$mdm-history` | Parameters: one `entry` per link change |
use super::manual::live;
use super::Mpi;
use crate::app::AppState;
use crate::error::ApiError;
use crate::extract::{Base, FhirBody, Params};
use crate::render::{instant, json_response, BundleWriter};
use crate::request::{check_resource, EntryRequest, Method, Target};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::Extension;
use hutong_fhir::{IssueType, ResourceType};
use hutong_mpi::matcher::Rule;
use hutong_mpi::Decision;
use hutong_store::{
    AccessContext, IdentifierQuery, LinkQuery, LogQuery, MpiLogEntry, MpiReview, ReviewQuery,
    ReviewStatus,
};
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::sync::Arc;

/// R4 extension carrying the match grade of a `$match` result.
pub const MATCH_GRADE: &str = "http://hl7.org/fhir/StructureDefinition/match-grade";

/// Largest `count` of `$match`.
const MAX_MATCH_COUNT: usize = 100;

fn mpi(state: &AppState) -> Result<&Arc<Mpi>, ApiError> {
    state.mpi.as_ref().ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_IMPLEMENTED,
            IssueType::NotSupported,
            "the master patient index is disabled on this server (mpi.enabled = false)",
        )
    })
}

fn require_type(type_name: &str, expected: &str, operation: &str) -> Result<(), ApiError> {
    if type_name == expected {
        Ok(())
    } else {
        Err(ApiError::not_found(format!(
            "{operation} is defined on {expected}, not on {type_name}"
        )))
    }
}

/// The request body as a Parameters resource (an empty body is no parameters).
fn parameters(body: &[u8]) -> Result<Value, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(json!({ "resourceType": "Parameters" }));
    }
    let v: Value = serde_json::from_slice(body).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            IssueType::Structure,
            format!("the body is not valid JSON: {e}"),
        )
    })?;
    if v["resourceType"] != "Parameters" {
        return Err(ApiError::bad_request(
            "the body of this operation must be a Parameters resource",
        ));
    }
    check_resource(&v, ResourceType::parse("Parameters"))?;
    Ok(v)
}

/// Every parameter named one of `names`.
fn all_params<'a>(p: &'a Value, names: &'a [&str]) -> impl Iterator<Item = &'a Value> + 'a {
    p["parameter"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(move |x| x["name"].as_str().is_some_and(|n| names.contains(&n)))
}

/// A parameter's value as text: a primitive value[x], or a Reference's `reference`.
fn text_value(x: &Value) -> Option<String> {
    for key in [
        "valueString",
        "valueCode",
        "valueId",
        "valueUri",
        "valueInteger",
        "valueBoolean",
    ] {
        match x.get(key) {
            Some(Value::String(s)) => return Some(s.clone()),
            Some(v @ (Value::Number(_) | Value::Bool(_))) => return Some(v.to_string()),
            _ => {}
        }
    }
    x["valueReference"]["reference"].as_str().map(str::to_owned)
}

/// The value of the first parameter named one of `names`, from the body or the query.
fn value(p: &Value, query: &Params, names: &[&str]) -> Option<String> {
    all_params(p, names)
        .find_map(text_value)
        .or_else(|| names.iter().find_map(|n| query.get(n).map(str::to_owned)))
        .filter(|s| !s.trim().is_empty())
}

/// A required reason text.
fn reason(p: &Value, query: &Params) -> Result<String, ApiError> {
    let r = value(p, query, &["reason"])
        .ok_or_else(|| ApiError::bad_request("parameter 'reason' is required"))?;
    if r.len() > 4096 {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            IssueType::TooLong,
            "parameter 'reason' is longer than 4096 bytes",
        ));
    }
    Ok(r)
}

/// The id of a `Type/id` (or bare id) reference parameter.
fn reference(p: &Value, query: &Params, names: &[&str], rt: &str) -> Result<String, ApiError> {
    let raw = value(p, query, names)
        .ok_or_else(|| ApiError::bad_request(format!("parameter '{}' is required", names[0])))?;
    let id = raw
        .trim()
        .rsplit_once(&format!("{rt}/"))
        .map_or(raw.trim(), |(_, id)| id)
        .trim_end_matches('/');
    let ok = !id.is_empty()
        && id.len() <= 64
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.');
    if !ok {
        return Err(ApiError::bad_request(format!(
            "parameter '{}' must be a {rt} reference ({rt}/id)",
            names[0]
        )));
    }
    Ok(id.to_owned())
}

fn parameters_response(parameter: Vec<Value>) -> Response {
    let mut p = json!({ "resourceType": "Parameters" });
    if !parameter.is_empty() {
        p["parameter"] = Value::Array(parameter);
    }
    json_response(StatusCode::OK, serde_json::to_vec(&p).unwrap_or_default())
}

/// The FHIR match grade of a candidate (R4 valueset-match-grade).
pub fn match_grade(decision: Decision, rule: Rule) -> &'static str {
    match (decision, rule) {
        (Decision::Link, Rule::SameValidId) => "certain",
        (Decision::Link, _) => "probable",
        (Decision::Review, _) => "possible",
        (Decision::NoLink, _) => "certainly-not",
    }
}

/// `POST /fhir/Patient/$match` (R4 patient-operation-match.html).
pub async fn patient_match(
    State(state): State<AppState>,
    Extension(ctx): Extension<AccessContext>,
    Path(type_name): Path<String>,
    params: Params,
    Base(base): Base,
    FhirBody(body): FhirBody,
) -> Result<Response, ApiError> {
    require_type(&type_name, "Patient", "$match")?;
    let mpi = mpi(&state)?;
    let p = parameters(&body)?;
    let resource = all_params(&p, &["resource"])
        .find_map(|x| x.get("resource"))
        .ok_or_else(|| {
            ApiError::bad_request("parameter 'resource' (the Patient to match) is required")
        })?;
    check_resource(resource, ResourceType::parse("Patient"))?;
    let only_certain = value(&p, &params, &["onlyCertainMatches"]).is_some_and(|v| v == "true");
    let count = match value(&p, &params, &["count"]) {
        None => 10,
        Some(c) => c
            .parse::<usize>()
            .ok()
            .filter(|c| (1..=MAX_MATCH_COUNT).contains(c))
            .ok_or_else(|| {
                ApiError::bad_request(format!(
                    "parameter 'count' must be an integer from 1 to {MAX_MATCH_COUNT}"
                ))
            })?,
    };
    let candidates = mpi.match_patient(state.store.as_ref(), resource).await?;
    let mut bundle = BundleWriter::new("searchset", None, &[]);
    let mut n = 0u64;
    for c in candidates {
        let grade = match_grade(c.score.decision, c.score.rule);
        if only_certain && grade != "certain" {
            continue;
        }
        if n as usize >= count {
            break;
        }
        let Some(v) = state.store.read(&ctx, "Patient", &c.record_id).await? else {
            continue;
        };
        if v.deleted {
            continue;
        }
        n += 1;
        bundle.entry(
            Some(&format!("{base}/Patient/{}", v.id)),
            Some(&v.json),
            &[(
                "search",
                json!({
                    "extension": [{ "url": MATCH_GRADE, "valueCode": grade }],
                    "mode": "match",
                    "score": (c.score.probability * 1e6).round() / 1e6,
                }),
            )],
        );
    }
    let mut bytes = bundle.finish();
    // `total` goes after the entries are known: splice it in before the entry array.
    let text = String::from_utf8_lossy(&bytes).replacen(
        "\"type\":\"searchset\"",
        &format!("\"type\":\"searchset\",\"total\":{n}"),
        1,
    );
    bytes = text.into_bytes();
    Ok(json_response(StatusCode::OK, bytes))
}

/// Parses `system|value`.
fn parse_identifier(s: &str) -> Result<(String, String), ApiError> {
    match s.split_once('|') {
        Some((system, value)) if !system.is_empty() && !value.is_empty() => {
            Ok((system.to_owned(), value.to_owned()))
        }
        _ => Err(ApiError::bad_request(
            "sourceIdentifier must be 'system|value' with both parts",
        )),
    }
}

/// `GET|POST /fhir/Patient/$ihe-pix` (IHE PIXm): every identifier of the person the
/// source identifier belongs to, across institutions.
pub async fn ihe_pix(
    State(state): State<AppState>,
    Extension(ctx): Extension<AccessContext>,
    Path(type_name): Path<String>,
    params: Params,
    FhirBody(body): FhirBody,
) -> Result<Response, ApiError> {
    require_type(&type_name, "Patient", "$ihe-pix")?;
    mpi(&state)?;
    let p = parameters(&body)?;
    let source = all_params(&p, &["sourceIdentifier"])
        .find_map(|x| {
            let i = x.get("valueIdentifier")?;
            Some(format!(
                "{}|{}",
                i["system"].as_str().unwrap_or(""),
                i["value"].as_str().unwrap_or("")
            ))
        })
        .or_else(|| value(&p, &params, &["sourceIdentifier"]))
        .ok_or_else(|| ApiError::bad_request("parameter 'sourceIdentifier' is required"))?;
    let (system, id_value) = parse_identifier(&source)?;
    let mut targets: Vec<String> = all_params(&p, &["targetSystem"])
        .filter_map(text_value)
        .collect();
    targets.extend(
        params
            .0
            .iter()
            .filter(|(k, _)| k == "targetSystem")
            .flat_map(|(_, v)| v.split(',').map(str::to_owned)),
    );
    let store = state.store.as_ref();
    let sources = store
        .find(
            &ctx,
            "Patient",
            &IdentifierQuery::Identifier {
                system: Some(system.clone()),
                value: id_value.clone(),
            },
        )
        .await?;
    if sources.is_empty() {
        return Err(ApiError::not_found(format!(
            "sourceIdentifier {system}|… is not known to this server"
        )));
    }
    let mut patients = BTreeSet::new();
    for s in &sources {
        patients.insert(s.clone());
        let person = store
            .mpi_links(&ctx, &LinkQuery::Patients(vec![s.clone()]))
            .await?
            .into_iter()
            .next();
        if let Some(l) = person {
            for m in store
                .mpi_links(&ctx, &LinkQuery::Person(l.person_id))
                .await?
            {
                patients.insert(m.patient_id);
            }
        }
    }
    let mut out = Vec::new();
    let mut seen = BTreeSet::new();
    for pid in &patients {
        let Ok(json) = live(store, &ctx, "Patient", pid).await else {
            continue;
        };
        let mut contributed = false;
        for ident in json["identifier"].as_array().into_iter().flatten() {
            let (s, v) = (
                ident["system"].as_str().unwrap_or(""),
                ident["value"].as_str().unwrap_or(""),
            );
            if (s == system && v == id_value) || v.is_empty() {
                continue;
            }
            if !targets.is_empty() && !targets.iter().any(|t| t == s) {
                continue;
            }
            contributed = true;
            if seen.insert((s.to_owned(), v.to_owned())) {
                let mut i = json!({ "value": v });
                if !s.is_empty() {
                    i["system"] = json!(s);
                }
                out.push(json!({ "name": "targetIdentifier", "valueIdentifier": i }));
            }
        }
        let is_source = sources.contains(pid);
        if (targets.is_empty() && !is_source) || (!targets.is_empty() && contributed) {
            out.push(json!({ "name": "targetId", "valueReference": { "reference": format!("Patient/{pid}") } }));
        }
    }
    Ok(parameters_response(out))
}

/// `POST /fhir/Person/$mdm-link`: links `patient` to `person` by hand.
pub async fn mdm_link(
    State(state): State<AppState>,
    Extension(ctx): Extension<AccessContext>,
    Path(type_name): Path<String>,
    params: Params,
    FhirBody(body): FhirBody,
) -> Result<Response, ApiError> {
    require_type(&type_name, "Person", "$mdm-link")?;
    let mpi = mpi(&state)?;
    let p = parameters(&body)?;
    let patient = reference(&p, &params, &["patient", "resourceId"], "Patient")?;
    let person = reference(&p, &params, &["person", "goldenResourceId"], "Person")?;
    let reason = reason(&p, &params)?;
    mpi.link_manually(state.store.as_ref(), &ctx, &patient, &person, &reason)
        .await?;
    let v = state
        .store
        .read(&ctx, "Person", &person)
        .await?
        .ok_or_else(|| ApiError::internal("the linked Person vanished"))?;
    Ok(crate::render::read_response(&v))
}

/// `POST /fhir/Person/$mdm-unlink`: takes `patient` out of `person`; the pair is never
/// linked again automatically.
pub async fn mdm_unlink(
    State(state): State<AppState>,
    Extension(ctx): Extension<AccessContext>,
    Path(type_name): Path<String>,
    params: Params,
    FhirBody(body): FhirBody,
) -> Result<Response, ApiError> {
    require_type(&type_name, "Person", "$mdm-unlink")?;
    let mpi = mpi(&state)?;
    let p = parameters(&body)?;
    let patient = reference(&p, &params, &["patient", "resourceId"], "Patient")?;
    let person = reference(&p, &params, &["person", "goldenResourceId"], "Person")?;
    let reason = reason(&p, &params)?;
    let new_person = mpi
        .unlink(state.store.as_ref(), &ctx, &patient, &person, &reason)
        .await?;
    Ok(parameters_response(vec![
        json!({ "name": "patient", "valueReference": { "reference": format!("Patient/{patient}") } }),
        json!({ "name": "previousPerson", "valueReference": { "reference": format!("Person/{person}") } }),
        json!({ "name": "person", "valueReference": { "reference": format!("Person/{new_person}") } }),
    ]))
}

/// Adds a Patient.link unless one to the same patient with the same type exists.
fn add_patient_link(patient: &mut Value, other: &str, kind: &str) {
    if !patient["link"].is_array() {
        patient["link"] = json!([]);
    }
    if let Some(links) = patient["link"].as_array_mut() {
        let reference = format!("Patient/{other}");
        if !links
            .iter()
            .any(|l| l["type"] == kind && l["other"]["reference"] == reference.as_str())
        {
            links.push(json!({ "other": { "reference": reference }, "type": kind }));
        }
    }
}

/// `POST /fhir/Patient/$merge`: the source is marked `replaced-by` the target (and
/// inactive), the target `replaces` the source, in one transaction through the normal
/// write path; then their golden records are combined. The source stays readable.
pub async fn patient_merge(
    State(state): State<AppState>,
    Extension(ctx): Extension<AccessContext>,
    Path(type_name): Path<String>,
    params: Params,
    FhirBody(body): FhirBody,
) -> Result<Response, ApiError> {
    require_type(&type_name, "Patient", "$merge")?;
    let mpi = Arc::clone(mpi(&state)?);
    let p = parameters(&body)?;
    let source = reference(&p, &params, &["source-patient", "source"], "Patient")?;
    let target = reference(&p, &params, &["target-patient", "target"], "Patient")?;
    let reason = reason(&p, &params)?;
    if source == target {
        return Err(ApiError::bad_request(
            "source and target are the same Patient",
        ));
    }
    let store = Arc::clone(&state.store);
    let mut source_json = live(store.as_ref(), &ctx, "Patient", &source).await?;
    let mut target_json = live(store.as_ref(), &ctx, "Patient", &target).await?;
    if super::registration::replaced_by(&target_json).is_some() {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            IssueType::Conflict,
            format!("Patient/{target} was itself merged into another Patient"),
        ));
    }
    source_json["active"] = Value::Bool(false);
    add_patient_link(&mut source_json, &target, "replaced-by");
    add_patient_link(&mut target_json, &source, "replaces");
    let mut entries = Vec::new();
    for (id, json) in [(&source, source_json), (&target, target_json)] {
        let mut e = EntryRequest::new(
            Method::Put,
            Target::parse(&format!("Patient/{id}"), None, StatusCode::NOT_FOUND)?,
        );
        e.resource = Some(json);
        entries.push(e);
    }
    let work = async move {
        let results =
            crate::transaction::run_transaction(store.as_ref(), &ctx, entries, false).await?;
        let person = mpi
            .merge(store.as_ref(), &ctx, &source, &target, &reason)
            .await?;
        let target_version = results
            .into_iter()
            .nth(1)
            .and_then(|r| r.version)
            .ok_or_else(|| ApiError::internal("the merge wrote no target version"))?;
        Ok::<_, ApiError>((person, target_version, source, target))
    };
    let (person, target_version, source, target) = crate::transaction::detached(work).await?;
    let result: Value = serde_json::from_slice(&target_version.json)
        .map_err(|e| ApiError::internal(format!("stored Patient is not JSON: {e}")))?;
    Ok(parameters_response(vec![
        json!({ "name": "outcome", "resource": hutong_fhir::outcome::operation_outcome(&[hutong_fhir::Issue::info(format!("Patient/{source} merged into Patient/{target}; golden record Person/{person}"))]) }),
        json!({ "name": "result", "resource": result }),
        json!({ "name": "person", "valueReference": { "reference": format!("Person/{person}") } }),
    ]))
}

fn review_item(r: &MpiReview) -> Value {
    let mut part = vec![
        json!({ "name": "id", "valueString": r.id.to_string() }),
        json!({ "name": "patient", "valueReference": { "reference": format!("Patient/{}", r.patient_id) } }),
        json!({ "name": "candidate", "valueReference": { "reference": format!("Patient/{}", r.candidate_id) } }),
        json!({ "name": "score", "valueDecimal": (r.score * 1e6).round() / 1e6 }),
        json!({ "name": "status", "valueCode": r.status.code() }),
        json!({ "name": "created", "valueInstant": instant(r.created) }),
        json!({ "name": "explanation", "valueString": r.explanation.to_string() }),
    ];
    if let Some(d) = r.decided {
        part.push(json!({ "name": "decided", "valueInstant": instant(d) }));
    }
    if let Some(by) = &r.decided_by {
        part.push(json!({ "name": "decidedBy", "valueString": by }));
    }
    if let Some(reason) = r.reason.as_deref().filter(|s| !s.is_empty()) {
        part.push(json!({ "name": "reason", "valueString": reason }));
    }
    json!({ "name": "item", "part": part })
}

/// `GET /fhir/$mdm-review[?status=open|accepted|rejected|all][&patient=id][&_count=n]`.
pub async fn review_list(
    State(state): State<AppState>,
    Extension(ctx): Extension<AccessContext>,
    params: Params,
) -> Result<Response, ApiError> {
    mpi(&state)?;
    let status = match params.get("status").unwrap_or("open") {
        "all" => None,
        s => Some(ReviewStatus::from_code(s).ok_or_else(|| {
            ApiError::bad_request("status must be open, accepted, rejected or all")
        })?),
    };
    let limit = match params.get("_count") {
        None => 100,
        Some(c) => c
            .parse::<usize>()
            .ok()
            .filter(|c| (1..=1000).contains(c))
            .ok_or_else(|| ApiError::bad_request("_count must be from 1 to 1000"))?,
    };
    let patient = params
        .get("patient")
        .map(|p| p.trim_start_matches("Patient/").to_owned());
    let items = state
        .store
        .mpi_reviews(
            &ctx,
            &ReviewQuery {
                id: None,
                status,
                patient,
                limit,
            },
        )
        .await?;
    Ok(parameters_response(items.iter().map(review_item).collect()))
}

async fn review_decide(
    state: AppState,
    ctx: AccessContext,
    params: Params,
    body: &[u8],
    accept: bool,
) -> Result<Response, ApiError> {
    let mpi = mpi(&state)?;
    let p = parameters(body)?;
    let id = value(&p, &params, &["id"])
        .and_then(|s| s.trim().parse::<i64>().ok())
        .ok_or_else(|| ApiError::bad_request("parameter 'id' (the review item) is required"))?;
    let reason = reason(&p, &params)?;
    mpi.decide_review(state.store.as_ref(), &ctx, id, accept, &reason)
        .await?;
    let items = state
        .store
        .mpi_reviews(
            &ctx,
            &ReviewQuery {
                id: Some(id),
                limit: 1,
                ..Default::default()
            },
        )
        .await?;
    Ok(parameters_response(items.iter().map(review_item).collect()))
}

/// `POST /fhir/$mdm-review-accept` (`id`, `reason`): links the pair.
pub async fn review_accept(
    State(state): State<AppState>,
    Extension(ctx): Extension<AccessContext>,
    params: Params,
    FhirBody(body): FhirBody,
) -> Result<Response, ApiError> {
    review_decide(state, ctx, params, &body, true).await
}

/// `POST /fhir/$mdm-review-reject` (`id`, `reason`): the pair is never linked
/// automatically.
pub async fn review_reject(
    State(state): State<AppState>,
    Extension(ctx): Extension<AccessContext>,
    params: Params,
    FhirBody(body): FhirBody,
) -> Result<Response, ApiError> {
    review_decide(state, ctx, params, &body, false).await
}

fn log_entry(e: &MpiLogEntry) -> Value {
    let mut part = vec![
        json!({ "name": "seq", "valueString": e.seq.to_string() }),
        json!({ "name": "at", "valueInstant": instant(e.at) }),
        json!({ "name": "actor", "valueString": e.actor }),
        json!({ "name": "action", "valueCode": e.action.code() }),
        json!({ "name": "patient", "valueReference": { "reference": format!("Patient/{}", e.patient_id) } }),
    ];
    let refs = [
        ("person", "Person", &e.person_id),
        ("previousPerson", "Person", &e.previous_person_id),
        ("otherPatient", "Patient", &e.other_patient_id),
    ];
    for (name, rt, id) in refs {
        if let Some(id) = id {
            part.push(
                json!({ "name": name, "valueReference": { "reference": format!("{rt}/{id}") } }),
            );
        }
    }
    if let Some(r) = &e.request_id {
        part.push(json!({ "name": "requestId", "valueString": r }));
    }
    if !e.reason.is_empty() {
        part.push(json!({ "name": "reason", "valueString": e.reason }));
    }
    if e.detail.as_object().is_some_and(|o| !o.is_empty()) {
        part.push(json!({ "name": "detail", "valueString": e.detail.to_string() }));
    }
    json!({ "name": "entry", "part": part })
}

/// `GET /fhir/Person/{id}/$mdm-history` (every change of that golden record's links)
/// and `GET /fhir/Patient/{id}/$mdm-history` (every change concerning that Patient).
pub async fn history(
    State(state): State<AppState>,
    Extension(ctx): Extension<AccessContext>,
    Path((type_name, id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    mpi(&state)?;
    let mut query = LogQuery {
        limit: 10_000,
        ..Default::default()
    };
    match type_name.as_str() {
        "Person" => query.person = Some(id.clone()),
        "Patient" => query.patient = Some(id.clone()),
        other => {
            return Err(ApiError::not_found(format!(
                "$mdm-history is defined on Person and Patient, not on {other}"
            )))
        }
    }
    if state.store.read(&ctx, &type_name, &id).await?.is_none() {
        return Err(ApiError::not_found(format!(
            "{type_name}/{id} does not exist"
        )));
    }
    let entries = state.store.mpi_log(&ctx, &query).await?;
    Ok(parameters_response(entries.iter().map(log_entry).collect()))
}
