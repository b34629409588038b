//! Index extraction over real Synthea bundles: the CPU work every import does per
//! resource. Reads `../shared/testdata/synthea` (or `$HUTONG_SYNTHEA_DIR`); prints
//! resources/s and index rows per resource, by resource type.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

fn main() {
    let dir = std::env::var("HUTONG_SYNTHEA_DIR").unwrap_or_else(|_| {
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../../shared/testdata/synthea"
        )
        .to_owned()
    });
    let Ok(read) = std::fs::read_dir(&dir) else {
        eprintln!("SKIPPED: no Synthea bundles at {dir}");
        return;
    };
    let mut resources = Vec::new();
    for e in read.flatten() {
        let Ok(text) = std::fs::read_to_string(e.path()) else {
            continue;
        };
        let Ok(v) = serde_json::from_str::<serde_json::Value>(&text) else {
            continue;
        };
        for entry in v["entry"].as_array().into_iter().flatten() {
            resources.push(entry["resource"].clone());
        }
    }
    let mut by_type: BTreeMap<String, (usize, Duration, usize)> = BTreeMap::new();
    let start = Instant::now();
    let mut rows = 0;
    for r in &resources {
        let t = Instant::now();
        let ix = hutong_search::extract(r);
        let e = by_type
            .entry(r["resourceType"].as_str().unwrap_or("").to_owned())
            .or_default();
        e.0 += 1;
        e.1 += t.elapsed();
        e.2 += ix.len();
        rows += ix.len();
    }
    let total = start.elapsed();
    println!(
        "extracted {} resources in {:.2}s: {:.0} resources/s, {:.1} index rows per resource",
        resources.len(),
        total.as_secs_f64(),
        resources.len() as f64 / total.as_secs_f64(),
        rows as f64 / resources.len() as f64
    );
    for (t, (n, d, rows)) in by_type {
        println!(
            "  {t:<28} {n:>6}  {:>8.1} µs/resource  {:>5.1} rows",
            d.as_secs_f64() * 1e6 / n as f64,
            rows as f64 / n as f64
        );
    }
}
