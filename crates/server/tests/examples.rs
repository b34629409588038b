//! Round trip of the official R4 example resources: create, then read returns the same
//! content apart from `id` and `meta.versionId`/`meta.lastUpdated`.
mod support;

use reqwest::StatusCode;
use serde_json::Value;
use support::{r4_examples_dir, TestServer};

both_backends!(every_valid_clinical_example_round_trips);

/// Definitional and terminology resources are not clinical examples.
const NOT_CLINICAL: [&str; 16] = [
    "StructureDefinition",
    "SearchParameter",
    "ValueSet",
    "CodeSystem",
    "ConceptMap",
    "OperationDefinition",
    "CompartmentDefinition",
    "CapabilityStatement",
    "ImplementationGuide",
    "NamingSystem",
    "StructureMap",
    "GraphDefinition",
    "MessageDefinition",
    "TerminologyCapabilities",
    "ExampleScenario",
    "TestScript",
];

async fn every_valid_clinical_example_round_trips(s: &TestServer) {
    let Some(dir) = r4_examples_dir() else {
        eprintln!("!!!!! SKIPPED: vendor-r4/package is absent (run scripts/fetch-r4-examples.sh); R4 example round trip did not run !!!!!");
        return;
    };
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    files.sort();
    let (mut tried, mut invalid, mut round_tripped) = (0, 0, 0);
    let mut mismatches = Vec::new();
    let mut tasks = tokio::task::JoinSet::new();
    let mut pending = Vec::new();
    for f in files {
        if f.extension().and_then(|e| e.to_str()) != Some("json")
            || f.file_name().is_some_and(|n| n == "package.json")
        {
            continue;
        }
        let Ok(text) = std::fs::read(&f) else {
            continue;
        };
        let Ok(v) = serde_json::from_slice::<Value>(&text) else {
            continue;
        };
        let Some(rt) = v["resourceType"].as_str() else {
            continue;
        };
        if NOT_CLINICAL.contains(&rt) || hutong_fhir::ResourceType::parse(rt).is_none() {
            continue;
        }
        tried += 1;
        if hutong_fhir::validate::validate_resource(&v).is_err() {
            invalid += 1;
            continue;
        }
        pending.push((f.file_name().unwrap().to_string_lossy().into_owned(), v));
    }
    let client = s.client.clone();
    let base = s.base.clone();
    for chunk in pending.chunks(pending.len().div_ceil(8).max(1)) {
        let chunk = chunk.to_vec();
        let client = client.clone();
        let base = base.clone();
        tasks.spawn(async move {
            let mut out = Vec::new();
            for (name, original) in chunk {
                let rt = original["resourceType"].as_str().unwrap().to_owned();
                let created = client
                    .post(format!("{base}/{rt}"))
                    .header("content-type", "application/fhir+json")
                    .body(serde_json::to_vec(&original).unwrap())
                    .send()
                    .await
                    .unwrap();
                let status = created.status();
                if status != StatusCode::CREATED {
                    out.push(Err(format!(
                        "{name}: create answered {status}: {}",
                        created.text().await.unwrap_or_default()
                    )));
                    continue;
                }
                let location = created.headers()["location"].to_str().unwrap().to_owned();
                let url = location.split("/_history").next().unwrap().to_owned();
                let read: Value = client.get(&url).send().await.unwrap().json().await.unwrap();
                let mut expected = original.clone();
                expected["id"] = read["id"].clone();
                let strip = |v: &mut Value| {
                    if let Some(meta) = v.get_mut("meta").and_then(Value::as_object_mut) {
                        meta.remove("versionId");
                        meta.remove("lastUpdated");
                        if meta.is_empty() {
                            v.as_object_mut().unwrap().remove("meta");
                        }
                    }
                };
                let mut got = read;
                strip(&mut expected);
                strip(&mut got);
                out.push(if got == expected {
                    Ok(())
                } else {
                    Err(format!("{name}: read differs from what was created"))
                });
            }
            out
        });
    }
    while let Some(r) = tasks.join_next().await {
        for one in r.unwrap() {
            match one {
                Ok(()) => round_tripped += 1,
                Err(e) => mismatches.push(e),
            }
        }
    }
    eprintln!(
        "R4 examples ({}): {tried} clinical examples, {invalid} rejected by validation, {round_tripped} round-tripped, {} failed",
        s.store.backend(),
        mismatches.len()
    );
    assert!(
        mismatches.is_empty(),
        "{:#?}",
        &mismatches[..mismatches.len().min(10)]
    );
    assert!(
        round_tripped >= 700,
        "hl7.fhir.r4.examples@4.0.1 has 713 clinical examples; only {round_tripped} round-tripped"
    );
}
