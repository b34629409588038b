//! Property tests of the query parser: any parameter list, however malformed, parses
//! or fails with an error naming one of the parameters given, and never panics.

use hutong_search::query::{ParseOptions, SearchQuery};
use proptest::prelude::*;

fn names() -> impl Strategy<Value = String> {
    let known = prop::sample::select(vec![
        "code",
        "date",
        "value-quantity",
        "subject",
        "patient",
        "status",
        "_id",
        "_lastUpdated",
        "_tag",
        "_profile",
        "_source",
        "_security",
        "identifier",
        "code-value-quantity",
        "component-code-value-quantity",
        "combo-code-value-concept",
        "subject:Patient.name",
        "subject.identifier",
        "patient.organization.name",
        "_has:Observation:patient:code",
        "_has:Observation:subject:_has:Provenance:target:agent",
        "_sort",
        "_count",
        "_total",
        "_summary",
        "_elements",
        "_include",
        "_revinclude",
        "_include:iterate",
        "_cursor",
        "code:in",
        "code:not-in",
        "code:below",
        "code:above",
        "code:text",
        "code:not",
        "identifier:of-type",
        "subject:identifier",
        "value-quantity:missing",
        "nonsense",
        "_type",
        "_content",
        "_text",
        "_filter",
    ])
    .prop_map(str::to_owned);
    prop_oneof![4 => known, 1 => "[a-z_:.\\-]{0,24}"]
}

fn values() -> impl Strategy<Value = String> {
    let shaped = prop::sample::select(vec![
        "http://loinc.org|4548-4",
        "gt2020",
        "le2021-02-30",
        "ap100",
        "eb1e400",
        "5|http://unitsofmeasure.org|mg/dL",
        "8480-6$gt130",
        "a$b$c",
        "$",
        "|",
        ",,",
        "\\",
        "Patient/1",
        "Patient/../x",
        "张",
        "true",
        "Observation:*",
        "*",
        "Observation:subject:Patient",
        "-date,_id",
        "0",
        "100000",
        "count",
        "http://x/ValueSet/v",
        "sys|code|value",
        "accurate",
        "estimate",
    ])
    .prop_map(str::to_owned);
    prop_oneof![3 => shaped, 2 => any::<String>(), 1 => "[0-9a-z|$,:.\\\\-]{0,30}"]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    #[test]
    fn parsing_never_panics_and_errors_name_a_given_parameter(
        rt in prop::sample::select(vec!["Observation", "Patient", "Group", "DocumentReference"]),
        params in prop::collection::vec((names(), values()), 0..6),
        system in any::<bool>(),
    ) {
        let opts = ParseOptions { base: "http://h/fhir".into(), ..Default::default() };
        let result = if system {
            SearchQuery::parse_system(&params, &opts)
        } else {
            SearchQuery::parse(rt, &params, &opts)
        };
        match result {
            Ok(q) => {
                prop_assert!(q.count <= opts.max_count);
                prop_assert!(q.filters.len() <= params.len());
            }
            Err(e) => {
                let named = params.iter().any(|(n, _)| e.param == *n || n.starts_with(&e.param) || e.param.starts_with(n.as_str()))
                    || matches!(e.param.as_str(), "_cursor" | "_include" | ":in" | "_sort");
                prop_assert!(named, "error names '{}' not in {:?}: {}", e.param, params, e);
                prop_assert!(!e.message.is_empty());
            }
        }
    }
}
