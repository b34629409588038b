//! Runs the official FHIRPath test suite for R4 (`tests-fhir-r4.xml`) as it is, against the
//! JSON versions of its input resources, and checks the result against the committed list
//! of known failures (`tests/known_failures.txt`): an unlisted failure or a listed test
//! that now passes fails this test, so the list only shrinks.

use std::collections::BTreeMap;
use std::path::PathBuf;

use hutong_fhirpath::datetime::{DateTime, Time};
use hutong_fhirpath::decimal::Decimal;
use hutong_fhirpath::{Collection, Context, Expr, Item};
use serde_json::Value;

/// The file has 937 `<test` elements; two of them sit inside an XML comment, so 935 run
/// (the same 935 the reference JavaScript engine is measured on).
const TOTAL_EXPECTED: usize = 935;

fn suite_dir() -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/testdata/fhirpath"
    ))
}

struct Case {
    name: String,
    input: Option<String>,
    expression: String,
    invalid: bool,
    predicate: bool,
    outputs: Vec<(Option<String>, String)>,
}

fn load_cases(xml: &str) -> Vec<Case> {
    let doc = roxmltree::Document::parse(xml).expect("the official suite is well-formed XML");
    let mut cases = Vec::new();
    for t in doc
        .descendants()
        .filter(|n| n.has_tag_name("test") || n.has_tag_name("modeTest"))
    {
        let Some(expr) = t.children().find(|n| n.has_tag_name("expression")) else {
            continue;
        };
        cases.push(Case {
            name: t.attribute("name").unwrap_or("?").to_string(),
            input: t.attribute("inputfile").map(str::to_string),
            expression: expr.text().unwrap_or("").to_string(),
            invalid: expr.attribute("invalid").is_some(),
            predicate: t.attribute("predicate") == Some("true"),
            outputs: t
                .children()
                .filter(|n| n.has_tag_name("output"))
                .map(|o| {
                    (
                        o.attribute("type").map(str::to_string),
                        o.text().unwrap_or("").to_string(),
                    )
                })
                .collect(),
        });
    }
    cases
}

fn same_datetime(a: &DateTime, b: &DateTime) -> bool {
    a.to_string() == b.to_string()
}

fn value_matches(item: &Item<'_>, ty: Option<&str>, expected: &str) -> bool {
    let actual_type = item.type_name();
    if let Some(t) = ty {
        if t != actual_type {
            return false;
        }
    }
    let text = item.to_string();
    let exp = expected.strip_prefix('@').unwrap_or(expected);
    match ty.unwrap_or(actual_type) {
        "decimal" | "integer" => match (Decimal::parse(&text), Decimal::parse(exp)) {
            (Some(a), Some(b)) if ty.is_some() => a == b,
            _ => text == exp,
        },
        "date" | "dateTime" => match (DateTime::parse(&text), DateTime::parse(exp)) {
            (Some((a, _)), Some((b, _))) => same_datetime(&a, &b),
            _ => false,
        },
        "time" => match (
            Time::parse(text.trim_start_matches('T')),
            Time::parse(exp.trim_start_matches('T')),
        ) {
            (Some(a), Some(b)) => a.to_string() == b.to_string(),
            _ => false,
        },
        "Quantity" => {
            let norm = |s: &str| -> Option<(Decimal, String)> {
                let (v, u) = s.split_once(' ')?;
                Some((Decimal::parse(v)?, u.trim_matches('\'').to_string()))
            };
            match (norm(&text), norm(exp)) {
                (Some(a), Some(b)) if ty.is_some() => a == b,
                _ => text == exp,
            }
        }
        _ => text == exp,
    }
}

fn check(case: &Case, resource: &Value, ctx: &Context<'_>) -> Result<(), String> {
    let expr = match Expr::parse(&case.expression) {
        Ok(e) => e,
        Err(_) if case.invalid => return Ok(()),
        Err(e) => return Err(format!("parse error: {e}")),
    };
    let result: Collection<'_> = match expr.evaluate(resource, ctx) {
        Ok(r) => r,
        Err(_) if case.invalid => return Ok(()),
        Err(e) => return Err(format!("evaluation error: {e}")),
    };
    if case.invalid {
        return Err(format!("expected an error, got {}", result.to_json()));
    }
    let items: Vec<Item<'_>> = if case.predicate {
        let b = result.as_bool().unwrap_or(!result.is_empty());
        vec![Item::Boolean(b)]
    } else {
        result.0.clone()
    };
    let show = || {
        items
            .iter()
            .map(|i| format!("{}:{}", i.type_name(), i))
            .collect::<Vec<_>>()
            .join(", ")
    };
    if items.len() != case.outputs.len() {
        return Err(format!(
            "expected {} item(s), got [{}]",
            case.outputs.len(),
            show()
        ));
    }
    for (item, (ty, text)) in items.iter().zip(&case.outputs) {
        if !value_matches(item, ty.as_deref(), text) {
            return Err(format!(
                "expected {}:{text}, got [{}]",
                ty.as_deref().unwrap_or("?"),
                show()
            ));
        }
    }
    Ok(())
}

/// Write past the test harness's output capture, so the figure shows in every run.
fn loud(line: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "{line}");
}

#[test]
fn official_fhirpath_r4_suite() {
    let dir = suite_dir();
    let Ok(xml) = std::fs::read_to_string(dir.join("tests-fhir-r4.xml")) else {
        loud(&format!(
            "SKIPPED: the official FHIRPath suite is not at {} — conformance NOT checked",
            dir.display()
        ));
        return;
    };
    let cases = load_cases(&xml);
    assert_eq!(
        cases.len(),
        TOTAL_EXPECTED,
        "the suite should have {TOTAL_EXPECTED} tests"
    );

    let known_text = include_str!("known_failures.txt");
    let known: BTreeMap<&str, &str> = known_text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| {
            l.split_once(char::is_whitespace)
                .map_or((l, ""), |(n, r)| (n, r.trim()))
        })
        .collect();

    let mut inputs: BTreeMap<String, Value> = BTreeMap::new();
    let ctx = Context::r4();
    let (mut passed, mut failed_known) = (0, 0);
    let mut problems = Vec::new();
    for case in &cases {
        let resource = match &case.input {
            Some(file) => {
                let json_name = file
                    .trim_end_matches(".xml")
                    .trim_end_matches(".json")
                    .to_string()
                    + ".json";
                inputs
                    .entry(json_name.clone())
                    .or_insert_with(|| {
                        let text = std::fs::read_to_string(dir.join("input-json").join(&json_name))
                            .unwrap_or_default();
                        serde_json::from_str(&text).unwrap_or(Value::Null)
                    })
                    .clone()
            }
            None => Value::Null,
        };
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            check(case, &resource, &ctx)
        }))
        .unwrap_or_else(|_| Err("PANIC".to_string()));
        match (outcome, known.contains_key(case.name.as_str())) {
            (Ok(()), false) => passed += 1,
            (Ok(()), true) => problems.push(format!(
                "{} now passes: remove it from known_failures.txt",
                case.name
            )),
            (Err(_), true) => failed_known += 1,
            (Err(why), false) => problems.push(format!(
                "{} failed: {}\n    expression: {}",
                case.name,
                why,
                case.expression.trim()
            )),
        }
    }
    let stale: Vec<&&str> = known
        .keys()
        .filter(|k| !cases.iter().any(|c| c.name == **k))
        .collect();
    for s in stale {
        problems.push(format!(
            "{s} is listed in known_failures.txt but is not in the suite"
        ));
    }
    loud(&format!(
        "fhirpath conformance: {passed} passed, {failed_known} failed (known), of {} (937 <test> elements, 2 commented out)",
        cases.len()
    ));
    assert!(
        problems.is_empty(),
        "{} conformance problem(s):\n{}",
        problems.len(),
        problems.join("\n")
    );
}
