//! Hostile input never panics, overflows the stack or runs away: arbitrary expression
//! text, arbitrary JSON, and the classic deep-nesting attacks.

use hutong_fhirpath::{Context, Expr};
use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
use serde_json::Value;

/// Fragments that make the random text look like FHIRPath often enough to reach the
/// evaluator, not only the lexer.
const PIECES: &[&str] = &[
    "Patient",
    "name",
    "given",
    ".",
    "(",
    ")",
    "[",
    "]",
    "0",
    "1.5",
    "'a'",
    "@2014-01",
    "@T10:00",
    "where(",
    "select(",
    "repeat(",
    "descendants()",
    "children()",
    "exists()",
    "first()",
    "|",
    "+",
    "-",
    "*",
    "/",
    " and ",
    " or ",
    " implies ",
    "=",
    "~",
    "<",
    "$this",
    "$index",
    "$total",
    "%resource",
    " is ",
    " as ",
    "Quantity",
    "5 'mg'",
    "iif(",
    ",",
    "aggregate(",
    "{}",
    "not()",
    "toString()",
    "substring(",
    "matches('",
    "'.*'",
    "ofType(",
    "extension(",
    "resolve()",
    "5 days",
    "div",
    "mod",
    "`x`",
    "\\",
    "/*",
    "*/",
    "//",
    "'\\u00",
    "sort(",
    "-$this",
    "trace('t')",
];

fn expression() -> impl Strategy<Value = String> {
    prop_oneof![
        ".{0,40}",
        prop::collection::vec(prop::sample::select(PIECES), 0..25).prop_map(|v| v.concat()),
    ]
}

fn json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i32>().prop_map(Value::from),
        "[a-z0-9 .:-]{0,12}".prop_map(Value::String),
    ];
    leaf.prop_recursive(6, 64, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::vec(
                (
                    prop::sample::select(
                        &[
                            "name",
                            "given",
                            "value",
                            "valueQuantity",
                            "_given",
                            "resourceType",
                            "extension",
                            "url",
                            "contained",
                            "entry",
                            "resource",
                            "reference",
                            "id"
                        ][..]
                    ),
                    inner
                ),
                0..6
            )
            .prop_map(|kv| Value::Object(
                kv.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
            )),
        ]
    })
}

#[test]
fn arbitrary_expressions_and_json_never_panic() {
    let config = Config {
        cases: 3000,
        failure_persistence: None,
        ..Config::default()
    };
    let rng = TestRng::from_seed(RngAlgorithm::ChaCha, &[7; 32]);
    let mut runner = TestRunner::new_with_rng(config, rng);
    let ctx = Context::r4();
    let patient: Value = serde_json::json!({"resourceType": "Patient", "name": [{"given": ["a", "b"]}], "birthDate": "2014-01-01"});
    runner
        .run(&(expression(), json()), |(text, data)| {
            if let Ok(expr) = Expr::parse(&text) {
                let _ = expr.evaluate(&data, &ctx);
                let _ = expr.evaluate(&patient, &ctx);
            }
            Ok(())
        })
        .expect("no panics");
}

#[test]
fn deep_nesting_is_an_error_not_a_crash() {
    for text in [
        "(".repeat(100_000),
        "-".repeat(100_000) + "1",
        vec!["1"; 100_000].join("+"),
        "a.".repeat(50_000) + "b",
        "[".repeat(10_000),
    ] {
        assert!(
            Expr::parse(&text).is_err(),
            "expected a parse error for {}…",
            &text[..10]
        );
    }
    let err = Expr::parse(&"(".repeat(100_000)).expect_err("error");
    assert!(err.to_string().contains("character"), "{err}");
}

#[test]
fn runaway_collections_are_bounded() {
    let ctx = Context::r4();
    let data = serde_json::json!({"resourceType": "Patient"});
    // Ten items nested seven deep would be ten million items.
    let ten = "(1|2|3|4|5|6|7|8|9|10)";
    let mut e = ten.to_string();
    for _ in 0..6 {
        e = format!("{ten}.select({e})");
    }
    let expr = Expr::parse(&e).expect("parses");
    assert!(
        expr.evaluate(&data, &ctx).is_err(),
        "a collection beyond the item bound must be an error"
    );
    let repeat = Expr::parse("1.repeat($this + 1)").expect("parses");
    assert!(
        repeat.evaluate(&data, &ctx).is_err(),
        "an endless repeat() must stop with an error"
    );
}
