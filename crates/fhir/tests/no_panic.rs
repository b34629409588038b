//! Hostile input never panics the validator or the primitive checkers.

use hutong_fhir::{compartment::patient_key, primitive, validate::validate_resource};
use proptest::prelude::*;
use serde_json::{Map, Number, Value};

const PRIMITIVES: &[&str] = &[
    "boolean",
    "integer",
    "positiveInt",
    "unsignedInt",
    "decimal",
    "string",
    "markdown",
    "code",
    "id",
    "uri",
    "url",
    "canonical",
    "oid",
    "uuid",
    "base64Binary",
    "date",
    "dateTime",
    "instant",
    "time",
    "xhtml",
];

/// Keys that reach deep into the metadata, mixed with arbitrary ones.
fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "resourceType",
            "id",
            "name",
            "given",
            "_given",
            "birthDate",
            "_birthDate",
            "extension",
            "url",
            "valueString",
            "valueQuantity",
            "contained",
            "entry",
            "resource",
            "item",
            "linkId",
            "text",
            "div",
            "meta",
            "subject",
            "reference",
            "value",
        ])
        .prop_map(str::to_owned),
        "[_a-zA-Z]{0,8}",
    ]
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| Value::Number(n.into())),
        any::<f64>().prop_filter_map("finite", |f| Number::from_f64(f).map(Value::Number)),
        prop::sample::select(vec![
            "Patient",
            "Observation",
            "Bundle",
            "Questionnaire",
            "2024-02-30",
            "<div>"
        ])
        .prop_map(|s| Value::String(s.to_owned())),
        ".{0,12}".prop_map(Value::String),
    ];
    leaf.prop_recursive(6, 64, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec((key(), inner), 0..6)
                .prop_map(|kv| Value::Object(kv.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn validate_resource_never_panics(body in json_value(), rt in prop::sample::select(vec!["Patient", "Bundle", "Observation", "Questionnaire", "Parameters"])) {
        let _ = validate_resource(&body);
        if let Value::Object(mut obj) = body {
            obj.insert("resourceType".into(), Value::String(rt.to_owned()));
            let resource = Value::Object(obj);
            if let Err(issues) = validate_resource(&resource) {
                prop_assert!(!issues.is_empty());
                for i in &issues {
                    prop_assert!(i.expression.as_deref().is_none_or(|e| e.starts_with(rt)), "{:?}", i);
                }
            }
            let _ = patient_key(&resource);
        }
    }

    #[test]
    fn primitive_checks_never_panic(s in ".{0,40}", v in json_value()) {
        let text = Value::String(s);
        for t in PRIMITIVES {
            let _ = primitive::check(t, &text);
            let _ = primitive::check(t, &v);
        }
        let _ = primitive::check("HumanName", &v);
    }

    #[test]
    fn date_like_strings_never_panic(s in "[0-9T:+Z.-]{0,30}") {
        let _ = (primitive::is_date(&s), primitive::is_date_time(&s), primitive::is_instant(&s), primitive::is_time(&s));
        let _ = hutong_fhir::compartment::patient_id(&s);
    }
}
