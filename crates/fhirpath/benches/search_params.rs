//! The work the server does on import: evaluate every R4 SearchParameter expression that
//! applies to a resource, over the example resources of hl7.fhir.r4.examples@4.0.1.
//!
//! Reads the unpacked package from `vendor-r4/package` (or `$FHIR_R4_PACKAGE`); prints
//! resources/s and expressions/s on one core. `bench/fhirpath-js` runs the same workload
//! with the reference JavaScript engine.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use hutong_fhirpath::{Context, Expr};
use serde_json::Value;

const NON_CLINICAL: [&str; 14] = [
    "StructureDefinition",
    "SearchParameter",
    "ValueSet",
    "CodeSystem",
    "OperationDefinition",
    "ConceptMap",
    "CapabilityStatement",
    "CompartmentDefinition",
    "ImplementationGuide",
    "NamingSystem",
    "StructureMap",
    "MessageDefinition",
    "GraphDefinition",
    "TerminologyCapabilities",
];

fn main() {
    let dir = std::env::var("FHIR_R4_PACKAGE")
        .map(PathBuf::from)
        .unwrap_or_else(|_| {
            PathBuf::from(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../../vendor-r4/package"
            ))
        });
    let Ok(read) = std::fs::read_dir(&dir) else {
        eprintln!(
            "SKIPPED: no R4 examples package at {} (set FHIR_R4_PACKAGE)",
            dir.display()
        );
        return;
    };
    let mut params: Vec<(Vec<String>, Expr)> = Vec::new();
    let mut resources: Vec<Value> = Vec::new();
    let mut unparsed = 0;
    let mut files: Vec<PathBuf> = read.filter_map(|e| e.ok().map(|e| e.path())).collect();
    files.sort();
    for path in files {
        if path.extension().and_then(|e| e.to_str()) != Some("json") {
            continue;
        }
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        let Ok(v) = serde_json::from_str::<Value>(&text) else {
            continue;
        };
        let rt = v
            .get("resourceType")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        if rt == "SearchParameter" {
            let Some(expr) = v.get("expression").and_then(Value::as_str) else {
                continue;
            };
            let bases: Vec<String> = v
                .get("base")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect();
            match Expr::parse(expr) {
                Ok(e) => params.push((bases, e)),
                Err(err) => {
                    unparsed += 1;
                    eprintln!("  not parsed: {expr}: {err}");
                }
            }
        } else if !rt.is_empty()
            && !NON_CLINICAL.contains(&rt.as_str())
            && path
                .file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| !n.starts_with("package"))
        {
            resources.push(v);
        }
    }
    // The work list: for each resource, the expressions whose base covers it.
    let work: Vec<(&Value, Vec<&Expr>)> = resources
        .iter()
        .map(|r| {
            let rt = r.get("resourceType").and_then(Value::as_str).unwrap_or("");
            let exprs = params
                .iter()
                .filter(|(b, _)| {
                    b.iter()
                        .any(|b| b == rt || b == "Resource" || b == "DomainResource")
                })
                .map(|(_, e)| e)
                .collect();
            (r, exprs)
        })
        .collect();
    let per_pass: usize = work.iter().map(|(_, e)| e.len()).sum();
    let ctx = Context::r4();
    let (mut errors, mut values) = (0usize, 0usize);
    // Warm-up pass (also counts errors and extracted values).
    for (r, exprs) in &work {
        for e in exprs {
            match e.evaluate(r, &ctx) {
                Ok(c) => values += c.len(),
                Err(_) => errors += 1,
            }
        }
    }
    let budget = Duration::from_secs(
        std::env::var("BENCH_SECONDS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(5),
    );
    let start = Instant::now();
    let mut passes = 0u32;
    while start.elapsed() < budget {
        for (r, exprs) in &work {
            for e in exprs {
                if let Ok(c) = e.evaluate(r, &ctx) {
                    std::hint::black_box(c.len());
                }
            }
        }
        passes += 1;
    }
    let secs = start.elapsed().as_secs_f64();
    let res_s = (work.len() as f64 * passes as f64) / secs;
    let expr_s = (per_pass as f64 * passes as f64) / secs;
    println!("search-parameter extraction (hutong-fhirpath, one core)");
    println!(
        "  search parameters: {} compiled, {} not parsed",
        params.len(),
        unparsed
    );
    println!("  resources: {}  expressions per pass: {}  values per pass: {}  evaluation errors per pass: {}", work.len(), per_pass, values, errors);
    println!("  {passes} passes in {secs:.2} s: {res_s:.0} resources/s, {expr_s:.0} expressions/s");
}
