//! Streaming a region into a running server: the reference Bundle first, then the
//! residents' Bundles with bounded concurrency.

use crate::bundle::{transaction_bundle, BundleMode};
use crate::region::Region;
use std::sync::Arc;
use tokio::task::JoinSet;

/// What a push achieved.
#[derive(Debug, Default, Clone)]
pub(crate) struct PushReport {
    pub bundles: u64,
    pub resources: u64,
    pub failures: u64,
    pub first_error: Option<String>,
}

/// Posts the region's Bundles to `target` (a FHIR base URL) with `concurrency`
/// requests in flight.
pub(crate) async fn push(
    region: Arc<Region>,
    target: &str,
    concurrency: usize,
) -> Result<PushReport, Box<dyn std::error::Error + Send + Sync>> {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(concurrency)
        .build()?;
    let mut report = PushReport::default();
    let reference = region.reference_resources();
    let body = serde_json::to_vec(&transaction_bundle(&reference, BundleMode::Put))?;
    let n = reference.len() as u64;
    record(&mut report, send(&client, target, body).await, n);
    let mut tasks: JoinSet<(Result<(), String>, u64)> = JoinSet::new();
    for i in 0..region.config().residents {
        while tasks.len() >= concurrency.max(1) {
            if let Some(Ok((r, n))) = tasks.join_next().await {
                record(&mut report, r, n);
            }
        }
        let resident = region.resident(i);
        let n = resident.resources.len() as u64;
        let body = serde_json::to_vec(&transaction_bundle(&resident.resources, BundleMode::Put))?;
        let client = client.clone();
        let target = target.to_owned();
        tasks.spawn(async move { (send(&client, &target, body).await, n) });
        if i % 1000 == 999 {
            tracing::info!(
                residents = i + 1,
                bundles = report.bundles,
                failures = report.failures,
                "pushing"
            );
        }
    }
    while let Some(joined) = tasks.join_next().await {
        if let Ok((r, n)) = joined {
            record(&mut report, r, n);
        }
    }
    Ok(report)
}

fn record(report: &mut PushReport, result: Result<(), String>, resources: u64) {
    match result {
        Ok(()) => {
            report.bundles += 1;
            report.resources += resources;
        }
        Err(e) => {
            report.failures += 1;
            report.first_error.get_or_insert(e);
        }
    }
}

async fn send(client: &reqwest::Client, target: &str, body: Vec<u8>) -> Result<(), String> {
    let resp = client
        .post(target)
        .header("content-type", "application/fhir+json")
        .body(body)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let status = resp.status();
    if status.is_success() {
        Ok(())
    } else {
        let text = resp.text().await.unwrap_or_default();
        Err(format!(
            "{status}: {}",
            text.chars().take(500).collect::<String>()
        ))
    }
}
