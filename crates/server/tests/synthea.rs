//! Real Synthea output (`../shared/testdata/synthea`): every transaction Bundle goes in,
//! by POST to `/fhir` and by `hutong import`, and afterwards the resource counts match
//! and every reference points at a stored resource.
mod support;

use reqwest::StatusCode;
use serde_json::Value;
use std::collections::{BTreeMap, HashSet};
use support::{all_current_resources, literal_references, shared_dir, TestServer};

both_backends!(
    synthea_bundles_posted_to_the_base_all_commit_with_intact_references,
    synthea_directory_imports_with_the_cli
);

fn synthea_files() -> Option<Vec<std::path::PathBuf>> {
    let Some(dir) = shared_dir().map(|d| d.join("testdata/synthea")) else {
        eprintln!("!!!!! SKIPPED: ../shared/testdata/synthea is absent; the Synthea import tests did not run !!!!!");
        return None;
    };
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    // hospitals and practitioners first, as Synthea's own loader does
    files.sort_by_key(|p| {
        let n = p.file_name().unwrap().to_string_lossy().into_owned();
        (
            !(n.starts_with("hospital") || n.starts_with("practitioner")),
            n,
        )
    });
    Some(files)
}

fn expected_counts(files: &[std::path::PathBuf]) -> BTreeMap<String, u64> {
    let mut counts = BTreeMap::new();
    for f in files {
        let b: Value = serde_json::from_slice(&std::fs::read(f).unwrap()).unwrap();
        for e in b["entry"].as_array().unwrap() {
            *counts
                .entry(e["resource"]["resourceType"].as_str().unwrap().to_owned())
                .or_insert(0) += 1;
        }
    }
    counts
}

async fn check_region(s: &TestServer, expected: &BTreeMap<String, u64>) {
    for (rt, n) in expected {
        assert_eq!(s.count(Some(rt)).await, *n, "count of {rt}");
    }
    let total: u64 = expected.values().sum();
    assert_eq!(s.count(None).await, total);
    let resources = all_current_resources(s).await;
    assert_eq!(resources.len() as u64, total);
    let present: HashSet<String> = resources
        .iter()
        .map(|r| {
            format!(
                "{}/{}",
                r["resourceType"].as_str().unwrap(),
                r["id"].as_str().unwrap()
            )
        })
        .collect();
    let (mut checked, mut contained) = (0, 0);
    for r in &resources {
        let mut refs = Vec::new();
        literal_references(r, &mut refs);
        for reference in refs {
            if reference.starts_with('#') {
                contained += 1;
                continue;
            }
            assert!(
                !reference.starts_with("urn:uuid:"),
                "unrewritten reference {reference}"
            );
            assert!(
                present.contains(&reference),
                "dangling reference {reference}"
            );
            checked += 1;
        }
    }
    eprintln!(
        "Synthea ({}): {total} resources, {checked} references resolved, {contained} contained",
        s.store.backend()
    );
    assert!(checked > 10_000, "Synthea data is reference-heavy");
}

async fn synthea_bundles_posted_to_the_base_all_commit_with_intact_references(s: &TestServer) {
    let Some(files) = synthea_files() else { return };
    let expected = expected_counts(&files);
    for f in &files {
        let body = std::fs::read(f).unwrap();
        let resp = s
            .client
            .post(s.url(""))
            .header("content-type", "application/fhir+json")
            .body(body)
            .send()
            .await
            .unwrap();
        let status = resp.status();
        let text = resp.text().await.unwrap();
        assert_eq!(
            status,
            StatusCode::OK,
            "{}: {}",
            f.display(),
            &text[..text.len().min(500)]
        );
    }
    check_region(s, &expected).await;
}

async fn synthea_directory_imports_with_the_cli(s: &TestServer) {
    let Some(files) = synthea_files() else { return };
    let expected = expected_counts(&files);
    let dir = files[0].parent().unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_hutong"))
        // The resource counts below are Synthea's: no golden records (see support).
        .args([
            "import",
            "--quiet",
            "--mpi-disabled",
            "--database",
            &s.database,
        ])
        .arg(dir)
        .output()
        .expect("run hutong import");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "import failed: {stdout} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("resources/s"), "{stdout}");
    eprintln!("{}", stdout.trim());
    check_region(s, &expected).await;
}
