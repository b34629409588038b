//! `hutong import`: bulk loading of Bundles and NDJSON files into a store, through the
//! same transaction processing as the REST API (same validation, same rules).
use crate::bundle::{bundle_kind, process};
use crate::error::ApiError;
use crate::request::{check_resource, EntryRequest, Method, Target};
use crate::transaction::{locate_entry, run_transaction};
use axum::http::StatusCode;
use hutong_store::{AccessContext, Store};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// NDJSON lines stored per database transaction.
const NDJSON_CHUNK: usize = 1000;

/// The outcome of importing one file.
#[derive(Debug, Clone)]
pub struct FileReport {
    pub path: PathBuf,
    /// Resources written (or matched by a conditional create).
    pub resources: u64,
    /// Why the file (or some of its batch entries) was rejected; empty when all went in.
    pub errors: Vec<String>,
}

/// Lists the importable files under `paths` (directories are walked recursively;
/// `.json` and `.ndjson` files), sorted for a reproducible order.
pub fn collect_files(paths: &[PathBuf]) -> std::io::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for p in paths {
        if p.is_dir() {
            let mut stack = vec![p.clone()];
            while let Some(dir) = stack.pop() {
                for entry in std::fs::read_dir(&dir)? {
                    let path = entry?.path();
                    if path.is_dir() {
                        stack.push(path);
                    } else if is_importable(&path) {
                        out.push(path);
                    }
                }
            }
        } else {
            out.push(p.clone());
        }
    }
    out.sort();
    Ok(out)
}

fn is_importable(p: &Path) -> bool {
    matches!(
        p.extension().and_then(|e| e.to_str()),
        Some("json" | "ndjson")
    )
}

/// Imports one file: a Bundle (transaction and collection types all or nothing;
/// batch entry by entry), a single resource, or NDJSON (validated whole first, then
/// stored in transactions of [`NDJSON_CHUNK`] lines).
pub async fn import_file(store: Arc<dyn Store>, ctx: &AccessContext, path: &Path) -> FileReport {
    let mut report = FileReport {
        path: path.to_owned(),
        resources: 0,
        errors: Vec::new(),
    };
    let bytes = match tokio::fs::read(path).await {
        Ok(b) => b,
        Err(e) => {
            report.errors.push(format!("cannot read: {e}"));
            return report;
        }
    };
    let result = if path.extension().and_then(|e| e.to_str()) == Some("ndjson") {
        import_ndjson(store.as_ref(), ctx, &bytes).await
    } else {
        import_json(store.as_ref(), ctx, &bytes).await
    };
    match result {
        Ok((n, entry_errors)) => {
            report.resources = n;
            report.errors = entry_errors;
        }
        Err(e) => report.errors.extend(e.issues.iter().map(describe_issue)),
    }
    report
}

fn describe_issue(i: &hutong_fhir::Issue) -> String {
    match &i.expression {
        Some(e) if !i.diagnostics.contains(e.as_str()) => format!("{} (at {e})", i.diagnostics),
        _ => i.diagnostics.clone(),
    }
}

async fn import_json(
    store: &dyn Store,
    ctx: &AccessContext,
    bytes: &[u8],
) -> Result<(u64, Vec<String>), ApiError> {
    let value: Value = serde_json::from_slice(bytes)
        .map_err(|e| ApiError::bad_request(format!("not valid JSON: {e}")))?;
    if value.get("resourceType").and_then(Value::as_str) == Some("Bundle") {
        let kind = bundle_kind(&value)?;
        let (_, results) = process(store, ctx, &value, kind, None).await?;
        let mut errors = Vec::new();
        let mut n = 0;
        for (i, r) in results.iter().enumerate() {
            if r.status.as_u16() >= 400 {
                errors.extend(
                    r.outcome
                        .iter()
                        .map(|issue| format!("entry[{i}]: {}", describe_issue(issue))),
                );
            } else if r.version.is_some() {
                n += 1;
            }
        }
        return Ok((n, errors));
    }
    let entry = single_entry(value)?;
    run_transaction(store, ctx, vec![entry], false).await?;
    Ok((1, Vec::new()))
}

/// A stand-alone resource stored as it is: PUT when it has an id, else POST.
fn single_entry(resource: Value) -> Result<EntryRequest, ApiError> {
    check_resource(&resource, None)?;
    let rt = resource
        .get("resourceType")
        .and_then(Value::as_str)
        .unwrap_or("");
    let (method, url) = match resource.get("id").and_then(Value::as_str) {
        Some(id) => (Method::Put, format!("{rt}/{id}")),
        None => (Method::Post, rt.to_owned()),
    };
    let mut e = EntryRequest::new(method, Target::parse(&url, None, StatusCode::BAD_REQUEST)?);
    e.resource = Some(resource);
    Ok(e)
}

/// One NDJSON line as the entry that stores it.
fn ndjson_entry(line: &str) -> Result<EntryRequest, ApiError> {
    serde_json::from_str::<Value>(line)
        .map_err(|e| ApiError::bad_request(format!("not valid JSON: {e}")))
        .and_then(single_entry)
}

/// The non-blank lines of an NDJSON text with their 0-based line numbers.
fn ndjson_lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty())
}

/// Two passes over the text: the first checks every line and keeps nothing, the second
/// parses again and stores [`NDJSON_CHUNK`] lines at a time, so memory holds one chunk
/// of parsed resources whatever the file's size (parsing is a small part of storing).
async fn import_ndjson(
    store: &dyn Store,
    ctx: &AccessContext,
    bytes: &[u8],
) -> Result<(u64, Vec<String>), ApiError> {
    let text =
        std::str::from_utf8(bytes).map_err(|e| ApiError::bad_request(format!("not UTF-8: {e}")))?;
    let mut errors = Vec::new();
    for (n, line) in ndjson_lines(text) {
        if let Err(e) = ndjson_entry(line) {
            errors.extend(
                e.issues
                    .iter()
                    .map(|i| format!("line {}: {}", n + 1, describe_issue(i))),
            );
        }
    }
    if !errors.is_empty() {
        // Nothing of a file with a bad line is stored.
        return Ok((0, errors));
    }
    let mut count = 0;
    let mut chunk = Vec::with_capacity(NDJSON_CHUNK);
    let mut lines = ndjson_lines(text).peekable();
    while let Some((_, line)) = lines.next() {
        chunk.push(ndjson_entry(line)?);
        if chunk.len() == NDJSON_CHUNK || lines.peek().is_none() {
            let n = chunk.len();
            run_transaction(store, ctx, std::mem::take(&mut chunk), false)
                .await
                .map_err(|e| locate_entry(count as usize, e))?;
            count += n as u64;
        }
    }
    Ok((count, Vec::new()))
}
