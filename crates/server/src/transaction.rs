//! Processing of writes: transaction and batch Bundles, and every single write
//! interaction (a single create/update/patch/delete is a one-entry transaction).
//!
//! R4 http.html#transaction: entries are processed DELETE, POST, PUT/PATCH, GET;
//! `fullUrl`s of new resources (`urn:uuid:…`) and conditional references
//! (`Type?identifier=…`) are rewritten to the assigned `Type/id` everywhere; a
//! transaction commits all or nothing; a batch processes each entry on its own.
use crate::error::ApiError;
use crate::request::{check_resource, EntryRequest, Method};
use axum::http::StatusCode;
use hutong_fhir::{Issue, IssueType};
use hutong_store::{
    AccessContext, PendingWrite, Store, StoreError, Transaction, Versioned, WriteKind,
};
use serde_json::Value;
use std::collections::{HashMap, HashSet};

/// The result of one processed entry.
#[derive(Debug, Clone)]
pub struct EntryResult {
    pub status: StatusCode,
    /// The version written or read (absent for a no-op delete and for errors).
    pub version: Option<Versioned>,
    /// Issues to report for this entry (errors in a batch, warnings).
    pub outcome: Vec<Issue>,
    /// True for a GET entry: its resource is part of the answer.
    pub is_read: bool,
}

/// Processes `entries` as one all-or-nothing transaction.
///
/// Errors name the offending entry as `Bundle.entry[i]` when `in_bundle`.
pub async fn run_transaction(
    store: &dyn Store,
    ctx: &AccessContext,
    entries: Vec<EntryRequest>,
    in_bundle: bool,
) -> Result<Vec<EntryResult>, ApiError> {
    let locate = |i: usize, e: ApiError| if in_bundle { locate_entry(i, e) } else { e };
    check_distinct_targets(&entries).map_err(|(i, e)| locate(i, e))?;
    // Custom search parameters: an active SearchParameter must be searchable, and the
    // registry is reloaded once the write has committed.
    let search_parameters = entries
        .iter()
        .any(|e| e.target.resource_type.as_str() == "SearchParameter" && e.method != Method::Get);
    for (i, e) in entries.iter().enumerate() {
        if let (true, Some(r)) = (search_parameters, &e.resource) {
            if r.get("resourceType").and_then(Value::as_str) == Some("SearchParameter") {
                crate::search_parameters::check(r).map_err(|err| locate(i, err))?;
            }
        }
    }
    let mut entries = entries;
    // Master patient index: citizen-ID check of Patient entries (tag + warning, or refuse).
    let mut mpi_warnings =
        crate::mpi::before_write(store, &mut entries).map_err(|(i, e)| locate(i, e))?;
    // …and the index itself, held until the commit: the Patients are linked inside this
    // transaction.
    let mut linking = crate::mpi::begin_write(store, &entries).await;
    let mut tx = store.begin(ctx).await?;
    let mut results: Vec<Option<EntryResult>> = vec![None; entries.len()];

    // 1. Conditional creates and id assignment; map fullUrl → Type/id.
    let mut refmap: HashMap<String, String> = HashMap::new();
    let mut skip_create: HashSet<usize> = HashSet::new();
    for (i, e) in entries.iter_mut().enumerate() {
        let rt = e.target.resource_type.as_str();
        match e.method {
            Method::Post => {
                let id = match &e.if_none_exist {
                    Some(criteria) => {
                        let found = matching_ids(tx.as_mut(), rt, criteria)
                            .await
                            .map_err(|err| locate(i, err))?;
                        match found.len() {
                            0 => None,
                            1 => {
                                let existing = tx.read(rt, &found[0]).await?;
                                skip_create.insert(i);
                                results[i] = Some(EntryResult {
                                    status: StatusCode::OK,
                                    version: existing,
                                    outcome: vec![Issue::info(format!(
                                        "conditional create: {rt}/{} already matches '{criteria}'",
                                        found[0]
                                    ))],
                                    is_read: false,
                                });
                                Some(found[0].clone())
                            }
                            n => {
                                return Err(locate(
                                    i,
                                    ApiError::precondition_failed(format!(
                                        "conditional create: {n} {rt} resources match '{criteria}'"
                                    )),
                                ))
                            }
                        }
                    }
                    None => None,
                };
                let id = id.unwrap_or_else(new_id);
                e.target.id = Some(id.clone());
                if let Some(full) = &e.full_url {
                    refmap.insert(full.clone(), format!("{rt}/{id}"));
                }
            }
            Method::Put | Method::Patch | Method::Delete => {
                // R4 http.html#cond-update / #cdelete: `Type?criteria` picks the target
                // by a real search inside this transaction.
                if let (None, Some(criteria)) = (&e.target.id, e.target.query.clone()) {
                    let found = matching_ids(tx.as_mut(), rt, &criteria)
                        .await
                        .map_err(|err| locate(i, err))?;
                    let body_id = e
                        .resource
                        .as_ref()
                        .and_then(|r| r.get("id"))
                        .and_then(Value::as_str)
                        .map(str::to_owned);
                    let id = match (found.as_slice(), e.method) {
                        ([one], _) => {
                            if body_id.as_deref().is_some_and(|b| b != one) {
                                return Err(locate(
                                    i,
                                    ApiError::bad_request(format!(
                                        "conditional update: the body id is not {rt}/{one}, the resource matching '{criteria}'"
                                    )),
                                ));
                            }
                            one.clone()
                        }
                        ([], Method::Put) => body_id.unwrap_or_else(new_id),
                        // nothing to delete: a delete of an id that never existed is a no-op
                        ([], _) => new_id(),
                        (many, _) => {
                            return Err(locate(
                                i,
                                ApiError::precondition_failed(format!(
                                    "conditional {}: {} {rt} resources match '{criteria}'",
                                    if e.method == Method::Delete {
                                        "delete"
                                    } else {
                                        "update"
                                    },
                                    many.len()
                                )),
                            ))
                        }
                    };
                    if let Some(r) = e.resource.as_mut() {
                        r["id"] = Value::String(id.clone());
                    }
                    e.target.id = Some(id);
                }
                if let (Some(full), Some(id)) = (&e.full_url, &e.target.id) {
                    if full.starts_with("urn:") {
                        refmap.insert(full.clone(), format!("{rt}/{id}"));
                    }
                }
            }
            Method::Get => {}
        }
    }

    // 2. Conditional references, then rewrite every reference of every resource.
    for (i, e) in entries.iter().enumerate() {
        if let Some(r) = &e.resource {
            let mut conditional = Vec::new();
            collect_conditional_references(r, &mut conditional);
            for reference in conditional {
                if refmap.contains_key(&reference) {
                    continue;
                }
                let resolved = resolve_conditional_reference(tx.as_mut(), &reference)
                    .await
                    .map_err(|err| locate(i, err))?;
                refmap.insert(reference, resolved);
            }
        }
    }
    if !refmap.is_empty() {
        let lookup = |s: &str| refmap.get(s).cloned();
        for e in entries.iter_mut() {
            if let Some(r) = e.resource.as_mut() {
                hutong_fhir::reference::rewrite_references(r, &lookup);
            }
        }
    }

    // 3. Writes in processing order, applied in one batched call.
    let mut order: Vec<usize> = (0..entries.len()).collect();
    order.sort_by_key(|&i| entries[i].method.processing_rank());
    let mut writes = Vec::new();
    let mut write_entry = Vec::new();
    for &i in &order {
        let e = &entries[i];
        let rt = e.target.resource_type.as_str().to_owned();
        let write = match e.method {
            Method::Get => continue,
            Method::Post if skip_create.contains(&i) => continue,
            Method::Post => {
                let mut resource = e
                    .resource
                    .clone()
                    .ok_or_else(|| locate(i, missing_resource()))?;
                let id = e.target.id.clone().unwrap_or_else(new_id);
                resource["id"] = Value::String(id.clone());
                PendingWrite {
                    kind: WriteKind::Create,
                    resource_type: rt,
                    id,
                    resource: Some(resource),
                    if_match: None,
                }
            }
            Method::Put => {
                let id = e.target.id.clone().ok_or_else(|| {
                    locate(
                        i,
                        ApiError::bad_request(
                            "PUT needs a resource id or search criteria in the URL",
                        ),
                    )
                })?;
                let resource = e
                    .resource
                    .clone()
                    .ok_or_else(|| locate(i, missing_resource()))?;
                match resource.get("id").and_then(Value::as_str) {
                    Some(body_id) if body_id == id => {}
                    Some(body_id) => {
                        return Err(locate(
                            i,
                            ApiError::bad_request(format!(
                                "resource id '{body_id}' does not match the URL id '{id}'"
                            ))
                            .at(format!("{rt}.id")),
                        ))
                    }
                    None => return Err(locate(
                        i,
                        ApiError::new(
                            StatusCode::BAD_REQUEST,
                            IssueType::Required,
                            "the resource has no id; PUT needs the id in the body and in the URL",
                        )
                        .at(format!("{rt}.id")),
                    )),
                }
                if e.if_none_match_any {
                    if let Some(cur) = tx.read(&rt, &id).await? {
                        if !cur.deleted {
                            return Err(locate(
                                i,
                                ApiError::precondition_failed(format!(
                                    "{rt}/{id} exists (If-None-Match: *)"
                                )),
                            ));
                        }
                    }
                }
                PendingWrite {
                    kind: WriteKind::Update,
                    resource_type: rt,
                    id,
                    resource: Some(resource),
                    if_match: e.if_match,
                }
            }
            Method::Patch => {
                let id = e.target.id.clone().ok_or_else(|| {
                    locate(
                        i,
                        ApiError::bad_request("PATCH needs a resource id in the URL"),
                    )
                })?;
                let mut patched = apply_patch(tx.as_mut(), e, &rt, &id)
                    .await
                    .map_err(|err| locate(i, err))?;
                if rt == "Patient" {
                    if let Some(w) = crate::mpi::check_patched(store, &mut patched)
                        .map_err(|err| locate(i, err))?
                    {
                        mpi_warnings.insert(i, w);
                    }
                }
                PendingWrite {
                    kind: WriteKind::Update,
                    resource_type: rt,
                    id,
                    resource: Some(patched),
                    if_match: e.if_match,
                }
            }
            Method::Delete => {
                let id = e.target.id.clone().ok_or_else(|| {
                    locate(
                        i,
                        ApiError::bad_request(
                            "DELETE needs a resource id or search criteria in the URL",
                        ),
                    )
                })?;
                PendingWrite {
                    kind: WriteKind::Delete,
                    resource_type: rt,
                    id,
                    resource: None,
                    if_match: e.if_match,
                }
            }
        };
        writes.push(write);
        write_entry.push(i);
    }
    if !writes.is_empty() {
        let written = tx.apply(writes).await.map_err(|err| match &err {
            StoreError::VersionConflict { index, .. } | StoreError::AlreadyExists { index, .. } => {
                let entry = write_entry.get(*index).copied().unwrap_or(0);
                locate(entry, ApiError::from(err))
            }
            _ => ApiError::from(err),
        })?;
        for (k, v) in written.into_iter().enumerate() {
            let i = write_entry[k];
            let status = match (&entries[i].method, &v) {
                (Method::Post, _) => StatusCode::CREATED,
                (Method::Delete, _) => StatusCode::NO_CONTENT,
                (_, Some(v)) if v.version == 1 || v.kind == WriteKind::Create => {
                    StatusCode::CREATED
                }
                _ => StatusCode::OK,
            };
            results[i] = Some(EntryResult {
                status,
                version: v,
                outcome: Vec::new(),
                is_read: false,
            });
        }
    }

    // 4. Reads last, inside the transaction so they see its writes.
    for &i in &order {
        let e = &entries[i];
        if e.method != Method::Get {
            continue;
        }
        let result = read_entry(tx.as_mut(), e)
            .await
            .map_err(|err| locate(i, err))?;
        results[i] = Some(result);
    }

    // 5. Master patient index: link the written Patients, in this transaction.
    if let Some(l) = linking.as_mut() {
        let written: Vec<&Versioned> = results
            .iter()
            .flatten()
            .filter(|r| !r.is_read)
            .filter_map(|r| r.version.as_ref())
            .collect();
        l.link(store, ctx, tx.as_mut(), &written).await?;
    }
    let committed = tx.commit().await;
    if let Some(l) = linking {
        l.finish(committed.is_ok());
    }
    committed?;
    if search_parameters {
        crate::search_parameters::reinstall_after_write(store, ctx).await;
    }
    for (i, warning) in mpi_warnings {
        if let Some(Some(r)) = results.get_mut(i) {
            r.outcome.push(warning);
        }
    }
    Ok(results
        .into_iter()
        .map(|r| {
            r.unwrap_or(EntryResult {
                status: StatusCode::OK,
                version: None,
                outcome: Vec::new(),
                is_read: false,
            })
        })
        .collect())
}

/// Processes `entries` as a batch: each entry on its own, failures reported per entry.
pub async fn run_batch(
    store: &dyn Store,
    ctx: &AccessContext,
    entries: Vec<EntryRequest>,
) -> Vec<EntryResult> {
    let mut order: Vec<usize> = (0..entries.len()).collect();
    order.sort_by_key(|&i| entries[i].method.processing_rank());
    let mut results: Vec<Option<EntryResult>> = vec![None; entries.len()];
    for i in order {
        let entry = entries[i].clone();
        let result = match run_transaction(store, ctx, vec![entry], false).await {
            Ok(mut r) => r.pop().unwrap_or(EntryResult {
                status: StatusCode::OK,
                version: None,
                outcome: Vec::new(),
                is_read: false,
            }),
            Err(e) => EntryResult {
                status: e.status,
                version: None,
                outcome: e.issues,
                is_read: false,
            },
        };
        results[i] = Some(result);
    }
    results
        .into_iter()
        .map(|r| {
            r.unwrap_or(EntryResult {
                status: StatusCode::INTERNAL_SERVER_ERROR,
                version: None,
                outcome: Vec::new(),
                is_read: false,
            })
        })
        .collect()
}

/// A new server-assigned logical id.
pub fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

fn missing_resource() -> ApiError {
    ApiError::new(
        StatusCode::BAD_REQUEST,
        IssueType::Required,
        "the entry has no resource",
    )
}

/// Prefixes the issues' location with the Bundle entry.
pub fn locate_entry(index: usize, mut e: ApiError) -> ApiError {
    for issue in &mut e.issues {
        issue.diagnostics = format!("Bundle.entry[{index}]: {}", issue.diagnostics);
        if issue.expression.is_none() {
            issue.expression = Some(format!("Bundle.entry[{index}]"));
        }
    }
    e
}

/// A resource may be the target of at most one write in a transaction (R4 http.html#trules).
fn check_distinct_targets(entries: &[EntryRequest]) -> Result<(), (usize, ApiError)> {
    let mut seen = HashSet::new();
    for (i, e) in entries.iter().enumerate() {
        if matches!(e.method, Method::Put | Method::Patch | Method::Delete) {
            if let Some(id) = &e.target.id {
                if !seen.insert((e.target.resource_type, id.clone())) {
                    return Err((
                        i,
                        ApiError::bad_request(format!(
                            "{}/{id} is the target of more than one entry of this transaction",
                            e.target.resource_type
                        )),
                    ));
                }
            }
        }
        if let Some(full) = &e.full_url {
            if !seen.insert((e.target.resource_type, format!("fullUrl:{full}"))) {
                return Err((
                    i,
                    ApiError::bad_request(format!("fullUrl '{full}' appears more than once")),
                ));
            }
        }
    }
    Ok(())
}

/// Ids of the current resources of `rt` matching conditional criteria
/// (`identifier=…&birthdate=…`, optionally prefixed `Type?`), found by a real search
/// inside the transaction, so the same parameters, modifiers and errors apply as to
/// `GET /fhir/{type}?…`. At most two are returned: enough to tell none, one and many.
pub async fn matching_ids(
    tx: &mut dyn Transaction,
    rt: &str,
    criteria: &str,
) -> Result<Vec<String>, ApiError> {
    let q = parse_criteria(rt, criteria)?;
    Ok(tx
        .search(&q)
        .await?
        .entries
        .into_iter()
        .map(|v| v.id)
        .collect())
}

/// Parses conditional criteria into a search on `rt` that asks for two matches.
pub fn parse_criteria(rt: &str, criteria: &str) -> Result<hutong_search::SearchQuery, ApiError> {
    let criteria = criteria.trim().trim_start_matches('?');
    let criteria = criteria.rsplit_once('?').map_or(criteria, |(_, q)| q);
    let params = crate::extract::parse_query(criteria);
    if params.is_empty() {
        return Err(ApiError::bad_request(
            "conditional criteria are empty: they would match every resource",
        ));
    }
    let mut q = crate::search::parse(rt, None, &params, false, "")?;
    q.count = 2;
    q.includes.clear();
    q.revincludes.clear();
    Ok(q)
}

/// Decodes `%XX` escapes and `+` of a query value.
pub fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3])
                    .ok()
                    .and_then(|h| u8::from_str_radix(h, 16).ok());
                match hex {
                    Some(b) => {
                        out.push(b);
                        i += 3;
                    }
                    None => {
                        out.push(b'%');
                        i += 1;
                    }
                }
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn collect_conditional_references(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(map) => {
            for (k, child) in map {
                if k == "reference" {
                    if let Some(s) = child.as_str() {
                        if s.contains('?')
                            && !s.starts_with('#')
                            && !s.starts_with("http")
                            && !s.starts_with("urn:")
                        {
                            out.push(s.to_owned());
                        }
                    }
                } else {
                    collect_conditional_references(child, out);
                }
            }
        }
        Value::Array(items) => items
            .iter()
            .for_each(|c| collect_conditional_references(c, out)),
        _ => {}
    }
}

async fn resolve_conditional_reference(
    tx: &mut dyn Transaction,
    reference: &str,
) -> Result<String, ApiError> {
    let (type_name, criteria) = reference.split_once('?').unwrap_or((reference, ""));
    let rt = hutong_fhir::ResourceType::parse(type_name).ok_or_else(|| {
        ApiError::bad_request(format!(
            "conditional reference '{reference}': unknown type '{type_name}'"
        ))
    })?;
    let found = matching_ids(tx, rt.as_str(), criteria).await?;
    match found.as_slice() {
        [one] => Ok(format!("{rt}/{one}")),
        [] => Err(ApiError::precondition_failed(format!(
            "conditional reference '{reference}' matches no resource"
        ))),
        many => Err(ApiError::precondition_failed(format!(
            "conditional reference '{reference}' matches {} resources",
            many.len()
        ))),
    }
}

async fn apply_patch(
    tx: &mut dyn Transaction,
    e: &EntryRequest,
    rt: &str,
    id: &str,
) -> Result<Value, ApiError> {
    let patch = e
        .patch
        .as_ref()
        .ok_or_else(|| ApiError::bad_request("PATCH entry has no patch document"))?;
    let current = tx
        .read(rt, id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("{rt}/{id} does not exist")))?;
    if current.deleted {
        return Err(ApiError::gone(format!("{rt}/{id} is deleted")));
    }
    if let Some(expected) = e.if_match {
        if expected != current.version {
            return Err(ApiError::precondition_failed(format!(
                "{rt}/{id}: If-Match expected version {expected}, current version is {}",
                current.version
            )));
        }
    }
    let mut doc: Value = serde_json::from_slice(&current.json)
        .map_err(|err| ApiError::internal(format!("stored {rt}/{id} is not JSON: {err}")))?;
    json_patch::patch(&mut doc, patch).map_err(|err| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            IssueType::Processing,
            format!("JSON Patch failed: {err}"),
        )
    })?;
    if doc.get("resourceType").and_then(Value::as_str) != Some(rt)
        || doc.get("id").and_then(Value::as_str) != Some(id)
    {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            IssueType::Processing,
            "a patch must not change resourceType or id",
        ));
    }
    check_resource(&doc, None).map_err(|mut err| {
        err.status = StatusCode::UNPROCESSABLE_ENTITY;
        err
    })?;
    Ok(doc)
}

async fn read_entry(tx: &mut dyn Transaction, e: &EntryRequest) -> Result<EntryResult, ApiError> {
    let rt = e.target.resource_type.as_str();
    let (Some(id), None, None) = (&e.target.id, e.target.version, &e.target.query) else {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            IssueType::NotSupported,
            "only read (GET Type/id) is supported inside a Bundle until search lands",
        ));
    };
    match tx.read(rt, id).await? {
        None => Err(ApiError::not_found(format!("{rt}/{id} does not exist"))),
        Some(v) if v.deleted => Err(ApiError::gone(format!("{rt}/{id} is deleted"))),
        Some(v) => Ok(EntryResult {
            status: StatusCode::OK,
            version: Some(v),
            outcome: Vec::new(),
            is_read: true,
        }),
    }
}

/// Runs a write to completion even if the client goes away: the HTTP request future may
/// be dropped at any await point when a client disconnects, and a write must then still
/// either commit or roll back as a whole, never stop halfway inside the database driver.
pub async fn detached<T, F>(work: F) -> Result<T, ApiError>
where
    F: std::future::Future<Output = Result<T, ApiError>> + Send + 'static,
    T: Send + 'static,
{
    tokio::spawn(work)
        .await
        .map_err(|e| ApiError::internal(format!("write task failed: {e}")))?
}

/// Runs one REST write (create, update, patch, delete) as a one-entry transaction that
/// completes even if the client goes away.
pub async fn run_single(
    store: &std::sync::Arc<dyn Store>,
    ctx: AccessContext,
    entry: EntryRequest,
) -> Result<EntryResult, ApiError> {
    let store = std::sync::Arc::clone(store);
    let mut results =
        detached(async move { run_transaction(store.as_ref(), &ctx, vec![entry], false).await })
            .await?;
    results
        .pop()
        .ok_or_else(|| ApiError::internal("the write produced no result"))
}
