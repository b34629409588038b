//! The committed search corpus (issue #6): every case of `search_corpus/cases.txt` run
//! against a fixed data set — a chosen handful of the official R4 examples plus the
//! hand-written resources of `search_corpus/resources.ndjson` — on both stores.
//!
//! Every expected id list was derived by reading the data and R4 search.html, never by
//! copying what the server answered. A case that fails because the server is wrong (or
//! does not implement the feature yet) is listed in `search_corpus/known_failures.txt`;
//! the test fails on any other failure *and* on a listed case that now passes, so the
//! list stays honest.
//!
//! Case syntax, one per line (`#` starts a comment line; ` # ` a trailing comment):
//!
//! ```text
//! ID  QUERY  ->  EXPECTATION…
//! ```
//!
//! - QUERY: `Type?params`, `Patient/ID/Type?params` (compartment) or `?params` (system
//!   search); `{base}` is replaced by the server's FHIR base URL. Every `next` link is
//!   followed, so the ids are those of all pages in order.
//! - `{a b}` the match ids as a set, `[a b]` in this order (`{}` none); an id without
//!   `Type/` is of the searched type.
//! - `inc{Type/a …}` the `include`-mode entries, as a set, over all pages.
//! - `total=N` the Bundle's `total`; `status=N` the HTTP status instead of a Bundle;
//!   `lacks=a,b` no match carries these top-level elements (`_summary`, `_elements`).
mod support;

use reqwest::StatusCode;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use support::TestServer;

both_backends!(every_corpus_case_answers_as_expected_or_is_a_known_failure);

/// The R4 examples (file names in the examples package) the corpus searches over.
const R4_EXAMPLES: [&str; 9] = [
    "Patient-example.json",
    "Patient-f001.json",
    "Practitioner-example.json",
    "Organization-1.json",
    "Organization-f001.json",
    "Encounter-example.json",
    "Observation-example.json",
    "Observation-blood-pressure.json",
    "RiskAssessment-genetic.json",
];

/// Most pages one case may walk through before it counts as a paging loop.
const MAX_PAGES: usize = 30;

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/search_corpus")
}

/// What one case expects.
#[derive(Debug, Default)]
struct Expect {
    /// `(ordered, Type/id…)`.
    matches: Option<(bool, Vec<String>)>,
    includes: Option<Vec<String>>,
    total: Option<u64>,
    status: Option<u16>,
    lacks: Vec<String>,
}

#[derive(Debug)]
struct Case {
    id: String,
    line: usize,
    query: String,
    expect: Expect,
}

/// The resource type a query searches (`None` for a system search).
fn searched_type(query: &str) -> Option<&str> {
    let path = query.split('?').next().unwrap_or("");
    let last = path.rsplit('/').next().unwrap_or("");
    (!last.is_empty()).then_some(last)
}

fn typed(id: &str, ty: Option<&str>, case: &str) -> String {
    if id.contains('/') {
        return id.to_owned();
    }
    match ty {
        Some(t) => format!("{t}/{id}"),
        None => panic!("case {case}: '{id}' needs its type in a system search"),
    }
}

/// Splits `{a b}` / `[a b]` off the front of `s`: the ids and the rest.
fn take_list(s: &str, close: char) -> (Vec<String>, &str) {
    let end = s
        .find(close)
        .unwrap_or_else(|| panic!("unclosed list in '{s}'"));
    let ids = s[1..end].split_whitespace().map(str::to_owned).collect();
    (ids, &s[end + 1..])
}

fn parse_case(line_no: usize, line: &str) -> Case {
    let line = line.split(" # ").next().unwrap_or(line);
    let (head, expect_text) = line
        .split_once(" -> ")
        .unwrap_or_else(|| panic!("cases.txt:{line_no}: no ' -> ' in '{line}'"));
    let mut head = head.split_whitespace();
    let (Some(id), Some(query), None) = (head.next(), head.next(), head.next()) else {
        panic!("cases.txt:{line_no}: expected 'ID QUERY -> …'");
    };
    let ty = searched_type(query);
    let mut expect = Expect::default();
    let mut rest = expect_text.trim();
    while !rest.is_empty() {
        if rest.starts_with('{') || rest.starts_with('[') {
            let ordered = rest.starts_with('[');
            let (ids, r) = take_list(rest, if ordered { ']' } else { '}' });
            let ids = ids.iter().map(|i| typed(i, ty, id)).collect();
            expect.matches = Some((ordered, ids));
            rest = r;
        } else if let Some(r) = rest.strip_prefix("inc") {
            let (ids, r) = take_list(r, '}');
            expect.includes = Some(ids.iter().map(|i| typed(i, None, id)).collect());
            rest = r;
        } else {
            let (word, r) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
            match word.split_once('=') {
                Some(("total", n)) => expect.total = Some(n.parse().expect("total=N")),
                Some(("status", n)) => expect.status = Some(n.parse().expect("status=N")),
                Some(("lacks", l)) => expect.lacks = l.split(',').map(str::to_owned).collect(),
                _ => panic!("cases.txt:{line_no}: cannot read '{word}'"),
            }
            rest = r;
        }
        rest = rest.trim_start();
    }
    Case {
        id: id.to_owned(),
        line: line_no,
        query: query.to_owned(),
        expect,
    }
}

fn read_cases() -> Vec<Case> {
    let text = std::fs::read_to_string(corpus_dir().join("cases.txt")).expect("cases.txt");
    let cases: Vec<Case> = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
        .map(|(i, l)| parse_case(i + 1, l))
        .collect();
    let mut seen = BTreeSet::new();
    for c in &cases {
        assert!(seen.insert(c.id.as_str()), "case id {} twice", c.id);
    }
    cases
}

/// `case id → reason` of the known failures that apply to `backend`.
fn read_known_failures(backend: &str) -> BTreeMap<String, String> {
    let text = std::fs::read_to_string(corpus_dir().join("known_failures.txt"))
        .expect("known_failures.txt");
    let mut out = BTreeMap::new();
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (key, reason) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
        let (id, only) = match key.split_once('@') {
            Some((id, b)) => (id, Some(b)),
            None => (key, None),
        };
        if only.is_none_or(|b| b == backend) {
            out.insert(id.to_owned(), reason.trim().to_owned());
        }
    }
    out
}

fn load_json(path: &Path) -> Value {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

async fn put(s: &TestServer, resource: &Value, origin: &str) {
    let rt = resource["resourceType"].as_str().expect("resourceType");
    let id = resource["id"].as_str().expect("id");
    let a = s.put(&format!("{rt}/{id}"), resource).await;
    assert!(
        a.status.is_success(),
        "{origin}: PUT {rt}/{id} answered {}: {}",
        a.status,
        a.diagnostics()
    );
}

/// Loads the data set with PUT, so every id is the one the cases name.
async fn load(s: &TestServer, examples: &Path) {
    for name in R4_EXAMPLES {
        put(s, &load_json(&examples.join(name)), name).await;
    }
    let text =
        std::fs::read_to_string(corpus_dir().join("resources.ndjson")).expect("resources.ndjson");
    for (i, line) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let r: Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("resources.ndjson:{}: {e}", i + 1));
        put(s, &r, &format!("resources.ndjson:{}", i + 1)).await;
    }
}

/// What the server answered to one case, over all its pages.
#[derive(Debug, Default)]
struct Outcome {
    status: u16,
    matches: Vec<String>,
    includes: Vec<String>,
    total: Option<u64>,
    /// Top-level element names of each match.
    match_keys: Vec<BTreeSet<String>>,
    /// Problems that are not about ids (page sizes, paging loops, bundle shape).
    problems: Vec<String>,
    diagnostics: String,
}

fn page_size(query: &str) -> Option<usize> {
    query
        .split_once('?')?
        .1
        .split('&')
        .find_map(|p| p.strip_prefix("_count="))
        .and_then(|n| n.parse().ok())
}

async fn run(s: &TestServer, case: &Case) -> Outcome {
    let query = case.query.replace("{base}", &s.base);
    let mut url = if query.starts_with('?') {
        format!("{}{query}", s.base)
    } else {
        s.url(&query)
    };
    let mut out = Outcome::default();
    let count = page_size(&query);
    for page_no in 0.. {
        if page_no == MAX_PAGES {
            out.problems.push(format!("more than {MAX_PAGES} pages"));
            break;
        }
        let a = s.get(&url).await;
        if page_no == 0 {
            out.status = a.status.as_u16();
            out.total = a.body["total"].as_u64();
            if a.status != StatusCode::OK {
                out.diagnostics = a.diagnostics();
                break;
            }
        } else if a.status != StatusCode::OK {
            out.problems.push(format!(
                "page {page_no} answered {}: {}",
                a.status,
                a.diagnostics()
            ));
            break;
        }
        if a.body["type"] != "searchset" {
            out.problems.push("not a searchset Bundle".to_owned());
            break;
        }
        let entries = a.body["entry"].as_array().cloned().unwrap_or_default();
        let mut on_page = 0;
        let mut included_here = BTreeSet::new();
        for e in &entries {
            let r = &e["resource"];
            let key = format!(
                "{}/{}",
                r["resourceType"].as_str().unwrap_or("?"),
                r["id"].as_str().unwrap_or("?")
            );
            match e["search"]["mode"].as_str() {
                Some("match") => {
                    on_page += 1;
                    out.matches.push(key);
                    out.match_keys.push(
                        r.as_object()
                            .map(|m| m.keys().cloned().collect())
                            .unwrap_or_default(),
                    );
                }
                Some("include") => {
                    // R4 search.html#include: includes are per page, so a resource
                    // may come again on a later page, never twice on one
                    if !included_here.insert(key.clone()) {
                        out.problems
                            .push(format!("{key} included twice on page {page_no}"));
                    } else if !out.includes.contains(&key) {
                        out.includes.push(key);
                    }
                }
                other => out
                    .problems
                    .push(format!("{key} has search.mode {other:?}")),
            }
        }
        let next = a.body["link"]
            .as_array()
            .and_then(|l| l.iter().find(|l| l["relation"] == "next"))
            .and_then(|l| l["url"].as_str().map(str::to_owned));
        if let Some(n) = count {
            if on_page > n || (next.is_some() && on_page != n) {
                out.problems.push(format!(
                    "page {page_no} holds {on_page} matches with _count={n}"
                ));
            }
        }
        match next {
            Some(n) => url = n,
            None => break,
        }
    }
    out
}

fn sorted(v: &[String]) -> Vec<String> {
    let mut v = v.to_vec();
    v.sort();
    v
}

/// Why the outcome does not meet the expectation, if it does not.
fn judge(e: &Expect, o: &Outcome) -> Option<String> {
    let mut why = o.problems.clone();
    let want_status = e.status.unwrap_or(200);
    if o.status != want_status {
        why.push(format!(
            "status {} (want {want_status}) {}",
            o.status, o.diagnostics
        ));
        return Some(why.join("; "));
    }
    if let Some((ordered, want)) = &e.matches {
        let (got, want) = if *ordered {
            (o.matches.clone(), want.clone())
        } else {
            (sorted(&o.matches), sorted(want))
        };
        if got != want {
            why.push(format!("matches {got:?}, want {want:?}"));
        }
    } else if e.status.is_none() && e.total.is_some() && !o.matches.is_empty() {
        why.push(format!("matches {:?}, want none", o.matches));
    }
    if let Some(want) = &e.includes {
        let got = sorted(&o.includes);
        if got != sorted(want) {
            why.push(format!("includes {got:?}, want {:?}", sorted(want)));
        }
    } else if !o.includes.is_empty() && e.status.is_none() {
        why.push(format!("unexpected includes {:?}", o.includes));
    }
    if let Some(t) = e.total {
        if o.total != Some(t) {
            why.push(format!("total {:?}, want {t}", o.total));
        }
    }
    for (id, keys) in o.matches.iter().zip(&o.match_keys) {
        for k in e.lacks.iter().filter(|k| keys.contains(*k)) {
            why.push(format!("{id} carries '{k}'"));
        }
    }
    (!why.is_empty()).then(|| why.join("; "))
}

async fn every_corpus_case_answers_as_expected_or_is_a_known_failure(s: &TestServer) {
    let Some(examples) = support::r4_examples_dir() else {
        eprintln!(
            "!!!!! SKIPPED: vendor-r4/package is absent (run scripts/fetch-r4-examples.sh); the search corpus did not run !!!!!"
        );
        return;
    };
    let backend = s.database.split(':').next().unwrap_or("?").to_owned();
    let cases = read_cases();
    let known = read_known_failures(&backend);
    for id in known.keys() {
        assert!(
            cases.iter().any(|c| &c.id == id),
            "known_failures.txt names {id}, which is not a case"
        );
    }
    load(s, &examples).await;

    let mut failed = Vec::new();
    let mut unexpected = Vec::new();
    let mut now_passing = Vec::new();
    for case in &cases {
        let outcome = run(s, case).await;
        match (judge(&case.expect, &outcome), known.get(&case.id)) {
            (Some(why), reason) => {
                let line = format!(
                    "{} (cases.txt:{}) {}\n      {why}",
                    case.id, case.line, case.query
                );
                if reason.is_none() {
                    unexpected.push(line.clone());
                }
                failed.push((line, reason.cloned()));
            }
            (None, Some(_)) => now_passing.push(format!("{} {}", case.id, case.query)),
            (None, None) => {}
        }
    }
    for (line, reason) in &failed {
        match reason {
            Some(r) => eprintln!("known failure: {line}\n      ({r})"),
            None => eprintln!("FAILED: {line}"),
        }
    }
    eprintln!(
        "search corpus: {}/{} passed on {backend}",
        cases.len() - failed.len(),
        cases.len()
    );
    assert!(
        unexpected.is_empty() && now_passing.is_empty(),
        "search corpus on {backend}: {} unexpected failure(s):\n  {}\n{} case(s) listed in known_failures.txt now pass (remove them):\n  {}",
        unexpected.len(),
        unexpected.join("\n  "),
        now_passing.len(),
        now_passing.join("\n  ")
    );
}
