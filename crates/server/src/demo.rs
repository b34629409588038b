//! `hutong serve --demo`: a small generated region loaded on first start, so that a new
//! user sees a living platform. Loading goes through the normal transaction path.
use crate::bundle::{process, BundleKind};
use hutong_store::{AccessContext, Store};
use std::sync::Arc;
use std::time::Instant;

/// Seed of the demo region: the same demo everywhere.
pub const DEMO_SEED: u64 = 2026;

/// Loads `residents` generated residents (and the region's institutions and staff) when
/// the database is empty. Returns the number of resources written (0 when the database
/// already held data).
pub async fn load_if_empty(store: Arc<dyn Store>, residents: usize) -> Result<u64, String> {
    let ctx = AccessContext::system("hutong-demo");
    if store.count(&ctx, None).await.map_err(|e| e.to_string())? > 0 {
        tracing::info!("demo: the database already holds data; nothing loaded");
        return Ok(0);
    }
    let start = Instant::now();
    let mut written = 0u64;
    for (i, bundle) in hutong_synth::demo_bundles(residents, DEMO_SEED).enumerate() {
        let (_, results) = process(store.as_ref(), &ctx, &bundle, BundleKind::Transaction, None)
            .await
            .map_err(|e| format!("demo bundle {i} was rejected: {}", e.summary()))?;
        written += results.len() as u64;
        if i > 0 && i % 100 == 0 {
            tracing::info!(residents = i, resources = written, "demo: loading");
        }
    }
    tracing::info!(
        resources = written,
        seconds = start.elapsed().as_secs_f64(),
        "demo: region loaded"
    );
    Ok(written)
}
