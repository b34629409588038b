//! Every official R4 example (hl7.fhir.r4.examples@4.0.1, fetched into
//! `vendor-r4/package` by `scripts/fetch-r4-examples.sh`) validates, except the ones
//! listed with a reason in `known_invalid_examples.txt`.

use hutong_fhir::validate::validate_resource;
use std::collections::BTreeMap;
use std::path::PathBuf;

fn package_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../vendor-r4/package")
}

/// `file name → reason` from the committed list.
fn known_invalid() -> BTreeMap<String, String> {
    include_str!("known_invalid_examples.txt")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| match l.split_once(char::is_whitespace) {
            Some((f, reason)) => (f.to_owned(), reason.trim().to_owned()),
            None => (l.to_owned(), String::new()),
        })
        .collect()
}

#[test]
fn official_examples_validate_except_known_invalid_ones() {
    let dir = package_dir();
    let Ok(entries) = std::fs::read_dir(&dir) else {
        eprintln!("SKIPPED: {} is absent; run scripts/fetch-r4-examples.sh to validate the official R4 examples", dir.display());
        return;
    };
    let known = known_invalid();
    let mut files: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();

    let (mut total, mut valid) = (0usize, 0usize);
    let mut unexpected = Vec::new();
    let mut fixed = Vec::new();
    for path in &files {
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_owned();
        let Ok(text) = std::fs::read_to_string(path) else {
            continue;
        };
        let Ok(json) = serde_json::from_str::<serde_json::Value>(&text) else {
            continue;
        };
        // package.json and the IG's own files are npm/IG metadata, not resources.
        if json.get("resourceType").is_none() || name == "package.json" {
            continue;
        }
        total += 1;
        match validate_resource(&json) {
            Ok(()) => {
                valid += 1;
                if known.contains_key(&name) {
                    fixed.push(name);
                }
            }
            Err(issues) if !known.contains_key(&name) => {
                let shown: Vec<String> = issues
                    .iter()
                    .take(5)
                    .map(|i| {
                        format!(
                            "    {} {}: {}",
                            i.code.code(),
                            i.expression.as_deref().unwrap_or("-"),
                            i.diagnostics
                        )
                    })
                    .collect();
                unexpected.push(format!(
                    "{name} ({} issues)\n{}",
                    issues.len(),
                    shown.join("\n")
                ));
            }
            Err(_) => {}
        }
    }
    let pct = if total == 0 {
        0.0
    } else {
        100.0 * valid as f64 / total as f64
    };
    eprintln!(
        "official R4 examples: {valid}/{total} valid ({pct:.2}%), {} listed as known invalid",
        known.len()
    );
    assert!(
        unexpected.is_empty(),
        "{} unexpected invalid examples:\n{}",
        unexpected.len(),
        unexpected.join("\n")
    );
    assert!(
        fixed.is_empty(),
        "listed as known invalid but now valid (remove from the list): {fixed:?}"
    );
    assert!(
        pct >= 97.0,
        "only {pct:.2}% of the official examples are valid"
    );
}
