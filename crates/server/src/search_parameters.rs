//! Custom search parameters: the active SearchParameter resources stored on this server
//! (R4 searchparameter.html), installed into the search registry at startup and again
//! after every write of a SearchParameter, so new writes are indexed with them at once.
//! Resources stored before a parameter existed are indexed by `hutong reindex --param
//! CODE` (or `POST /fhir/$reindex?param=CODE`).
//!
//! The registry is per process: other server processes on the same database see a new
//! parameter when they restart.
use crate::error::ApiError;
use hutong_search::query::ParseOptions;
use hutong_search::SearchQuery;
use hutong_store::{AccessContext, Store, StoreError};
use serde_json::Value;

/// Checks a SearchParameter about to be written: an active one must be searchable
/// (known type, compiling expression, no clash with an R4 parameter).
pub fn check(resource: &Value) -> Result<(), ApiError> {
    hutong_search::registry::check_custom(resource)
        .map(|_| ())
        .map_err(|e| ApiError::bad_request(e.to_string()).at("SearchParameter"))
}

/// Reads every active SearchParameter of the store and installs them (replacing the
/// custom parameters installed before); returns how many resources were installed.
/// Those that cannot be installed are logged and left out.
pub async fn install_stored(store: &dyn Store, ctx: &AccessContext) -> Result<usize, StoreError> {
    // One reload at a time: the last reload to run then always reads after the last
    // committed SearchParameter write, so a slow reload cannot install a stale set.
    static RELOAD: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    let _one_at_a_time = RELOAD.lock().await;
    let params = vec![
        ("status".to_owned(), "active".to_owned()),
        ("_count".to_owned(), "1000".to_owned()),
    ];
    let mut query = SearchQuery::parse("SearchParameter", &params, &ParseOptions::default())
        .map_err(|e| StoreError::Database(format!("SearchParameter query: {e}")))?;
    let mut resources = Vec::new();
    loop {
        let page = store.search(ctx, &query).await?;
        for v in &page.entries {
            let json: Value = serde_json::from_slice(&v.json)
                .map_err(|e| StoreError::Corrupt(format!("SearchParameter/{}: {e}", v.id)))?;
            resources.push(json);
        }
        match page.next {
            Some(next) => query.cursor = Some(next),
            None => break,
        }
    }
    let rejected = hutong_search::registry::install_custom(&resources);
    for e in &rejected {
        tracing::warn!(error = %e, "custom search parameter not installed");
    }
    let installed = resources.len() - rejected.len();
    tracing::info!(installed, "custom search parameters installed");
    Ok(installed)
}

/// Reinstalls the custom parameters after a write of a SearchParameter committed. A
/// failure is logged, not answered: the write itself succeeded.
pub async fn reinstall_after_write(store: &dyn Store, ctx: &AccessContext) {
    if let Err(e) = install_stored(store, ctx).await {
        tracing::error!(error = %e, "custom search parameters could not be reloaded");
    }
}
