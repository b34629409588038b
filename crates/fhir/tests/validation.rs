//! What a client observes when it sends a resource: accepted, or rejected with the
//! issues naming the offending element.

use hutong_fhir::validate::validate_resource;
use hutong_fhir::{Issue, IssueType};
use serde_json::{json, Value};

fn issues(resource: Value) -> Vec<Issue> {
    validate_resource(&resource).err().unwrap_or_default()
}

fn expressions(resource: Value) -> Vec<String> {
    issues(resource)
        .into_iter()
        .filter_map(|i| i.expression)
        .collect()
}

fn assert_valid(resource: Value) {
    if let Err(issues) = validate_resource(&resource) {
        panic!("expected valid, got {issues:#?}");
    }
}

fn patient() -> Value {
    json!({
        "resourceType": "Patient",
        "id": "p1",
        "name": [{"family": "Wang", "given": ["Xiao", "Ming"]}],
        "gender": "male",
        "birthDate": "1980-02-29"
    })
}

#[test]
fn well_formed_patient_is_accepted() {
    assert_valid(patient());
}

#[test]
fn missing_resource_type_is_required() {
    let found = issues(json!({"id": "x"}));
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].code, IssueType::Required);
}

#[test]
fn unknown_resource_type_is_not_supported() {
    let found = issues(json!({"resourceType": "Pateint"}));
    assert_eq!(found[0].code, IssueType::NotSupported);
    assert!(found[0].diagnostics.contains("Pateint"));
}

#[test]
fn abstract_resource_type_is_not_supported() {
    assert_eq!(
        issues(json!({"resourceType": "DomainResource"}))[0].code,
        IssueType::NotSupported
    );
}

#[test]
fn unknown_element_is_rejected_with_its_path() {
    let mut p = patient();
    p["name"][0]["nickname"] = json!("Mingming");
    let found = issues(p);
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].code, IssueType::Structure);
    assert_eq!(
        found[0].expression.as_deref(),
        Some("Patient.name[0].nickname")
    );
    assert!(found[0].diagnostics.contains("nickname"));
}

#[test]
fn every_issue_is_reported_not_just_the_first() {
    let mut p = patient();
    p["foo"] = json!(1);
    p["gender"] = json!(1);
    p["birthDate"] = json!("1981-02-29");
    let found = expressions(p);
    assert_eq!(
        found,
        ["Patient.gender", "Patient.birthDate", "Patient.foo"]
    );
}

#[test]
fn birth_date_feb_30_is_rejected() {
    let mut p = patient();
    p["birthDate"] = json!("2000-02-30");
    let found = issues(p);
    assert_eq!(found[0].code, IssueType::Value);
    assert_eq!(found[0].expression.as_deref(), Some("Patient.birthDate"));
}

#[test]
fn bad_given_name_is_reported_at_its_index() {
    let mut p = patient();
    p["name"][0]["given"][1] = json!("");
    assert_eq!(expressions(p), ["Patient.name[0].given[1]"]);
}

#[test]
fn repeating_element_given_as_object_is_rejected_with_cardinality() {
    let mut p = patient();
    p["name"] = json!({"family": "Wang"});
    let found = issues(p);
    assert_eq!(found[0].code, IssueType::Structure);
    assert!(
        found[0].diagnostics.contains("0..*"),
        "{}",
        found[0].diagnostics
    );
}

#[test]
fn single_element_given_as_array_is_rejected() {
    let mut p = patient();
    p["gender"] = json!(["male"]);
    let found = issues(p);
    assert_eq!(found[0].code, IssueType::Structure);
    assert_eq!(found[0].expression.as_deref(), Some("Patient.gender"));
}

#[test]
fn empty_array_and_null_item_are_rejected() {
    let mut p = patient();
    p["identifier"] = json!([]);
    p["name"][0]["given"] = json!(["Xiao", null]);
    assert_eq!(
        expressions(p),
        ["Patient.name[0].given[1]", "Patient.identifier"]
    );
}

#[test]
fn object_where_primitive_expected_is_rejected() {
    let mut p = patient();
    p["birthDate"] = json!({"value": "1980-01-01"});
    assert_eq!(issues(p)[0].code, IssueType::Value);
}

#[test]
fn primitive_where_object_expected_is_rejected() {
    let mut p = patient();
    p["maritalStatus"] = json!("M");
    assert_eq!(expressions(p), ["Patient.maritalStatus"]);
}

#[test]
fn missing_required_element_is_reported_when_parent_present() {
    // Observation.status and .code are 1..1.
    let found = issues(json!({"resourceType": "Observation"}));
    let mut required: Vec<_> = found
        .iter()
        .filter(|i| i.code == IssueType::Required)
        .filter_map(|i| i.expression.clone())
        .collect();
    required.sort();
    assert_eq!(required, ["Observation.code", "Observation.status"]);
    // Patient.link.other is 1..1, but only inside a present link.
    assert_valid(patient());
    let mut p = patient();
    p["link"] = json!([{"type": "seealso"}]);
    let found = issues(p);
    assert_eq!(found[0].code, IssueType::Required);
    assert_eq!(
        found[0].expression.as_deref(),
        Some("Patient.link[0].other")
    );
}

#[test]
fn choice_type_variant_is_accepted() {
    assert_valid(json!({
        "resourceType": "Observation", "status": "final", "code": {"text": "weight"},
        "valueQuantity": {"value": 72.5, "unit": "kg"}
    }));
}

#[test]
fn choice_type_two_variants_rejected() {
    let found = issues(json!({
        "resourceType": "Observation", "status": "final", "code": {"text": "weight"},
        "valueString": "heavy", "valueQuantity": {"value": 72.5}
    }));
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].code, IssueType::Structure);
    assert!(found[0].diagnostics.contains("valueString"));
}

#[test]
fn choice_type_variant_not_allowed_is_unknown() {
    // Observation.value[x] has no Reference variant.
    let found = issues(json!({
        "resourceType": "Observation", "status": "final", "code": {"text": "x"},
        "valueReference": {"reference": "Patient/1"}
    }));
    assert_eq!(
        found[0].expression.as_deref(),
        Some("Observation.valueReference")
    );
}

#[test]
fn primitive_extension_companion_is_accepted() {
    let mut p = patient();
    p["_birthDate"] =
        json!({"extension": [{"url": "http://example.org/precision", "valueCode": "day"}]});
    p["name"][0]["_given"] = json!([null, {"id": "g2"}]);
    assert_valid(p);
}

#[test]
fn primitive_given_only_by_companion_is_accepted_with_null_in_values() {
    let mut p = patient();
    p["name"][0]["given"] = json!(["Xiao", null]);
    p["name"][0]["_given"] =
        json!([null, {"extension": [{"url": "http://example.org/x", "valueString": "y"}]}]);
    assert_valid(p);
}

#[test]
fn companion_array_of_wrong_length_is_rejected() {
    let mut p = patient();
    p["name"][0]["_given"] = json!([null]);
    assert_eq!(expressions(p), ["Patient.name[0]._given"]);
}

#[test]
fn companion_of_complex_element_is_rejected() {
    let mut p = patient();
    p["_maritalStatus"] = json!({"id": "x"});
    assert_eq!(issues(p)[0].code, IssueType::Structure);
}

#[test]
fn value_inside_companion_is_rejected() {
    let mut p = patient();
    p["_birthDate"] = json!({"value": "1980-01-01"});
    assert_eq!(expressions(p), ["Patient._birthDate.value"]);
}

#[test]
fn resource_type_inside_complex_element_is_rejected() {
    let mut p = patient();
    p["name"][0]["resourceType"] = json!("HumanName");
    assert_eq!(expressions(p), ["Patient.name[0].resourceType"]);
}

#[test]
fn contained_resources_are_validated_by_their_own_type() {
    let mut p = patient();
    p["contained"] =
        json!([{"resourceType": "Organization", "id": "o1", "name": "Clinic", "gender": "x"}]);
    assert_eq!(
        expressions(p),
        ["Patient.contained[0].ofType(Organization).gender"]
    );
}

#[test]
fn bundle_entry_resource_is_validated_recursively() {
    let mut bad = patient();
    bad["gender"] = json!(true);
    let bundle = json!({
        "resourceType": "Bundle", "type": "collection",
        "entry": [{"resource": patient()}, {"resource": patient()}, {"resource": bad}]
    });
    assert_eq!(
        expressions(bundle),
        ["Bundle.entry[2].resource.ofType(Patient).gender"]
    );
}

#[test]
fn parameters_resource_is_validated_recursively() {
    let params = json!({
        "resourceType": "Parameters",
        "parameter": [{"name": "p", "resource": {"resourceType": "Nope"}}]
    });
    let found = issues(params);
    assert_eq!(found[0].code, IssueType::NotSupported);
    assert_eq!(
        found[0].expression.as_deref(),
        Some("Parameters.parameter[0].resource")
    );
}

#[test]
fn resource_id_format_is_checked() {
    let mut p = patient();
    p["id"] = json!("has space");
    assert_eq!(expressions(p), ["Patient.id"]);
}

#[test]
fn meta_and_narrative_are_validated() {
    let mut p = patient();
    p["meta"] = json!({"versionId": "1", "lastUpdated": "2024-01-01T00:00:00"});
    p["text"] = json!({"status": "generated", "div": "plain text"});
    assert_eq!(
        expressions(p),
        ["Patient.meta.lastUpdated", "Patient.text.div"]
    );
    let mut p = patient();
    p["meta"] = json!({"lastUpdated": "2024-01-01T00:00:00Z"});
    p["text"] = json!({"status": "generated", "div": "<div xmlns=\"http://www.w3.org/1999/xhtml\">Wang</div>"});
    assert_valid(p);
}

#[test]
fn content_reference_elements_use_the_referenced_definition() {
    let q = json!({
        "resourceType": "Questionnaire", "status": "active",
        "item": [{"linkId": "1", "type": "group", "item": [
            {"linkId": "1.1", "type": "string"},
            {"type": "string", "colour": "red"}
        ]}]
    });
    let found = issues(q);
    let mut got: Vec<_> = found
        .iter()
        .map(|i| (i.code, i.expression.clone().unwrap_or_default()))
        .collect();
    got.sort_by(|a, b| a.1.cmp(&b.1));
    assert_eq!(
        got,
        [
            (
                IssueType::Structure,
                "Questionnaire.item[0].item[1].colour".to_owned()
            ),
            (
                IssueType::Required,
                "Questionnaire.item[0].item[1].linkId".to_owned()
            ),
        ]
    );
}

#[test]
fn integer_rules_follow_the_json_number_text() {
    let base = |v: Value| json!({"resourceType": "Patient", "multipleBirthInteger": v});
    assert_valid(base(json!(2)));
    for bad in [json!(1.5), json!(2147483648_i64), json!("2")] {
        assert_eq!(issues(base(bad.clone()))[0].code, IssueType::Value, "{bad}");
    }
    let one_point_oh: Value =
        serde_json::from_str(r#"{"resourceType":"Patient","multipleBirthInteger":1.0}"#).unwrap();
    assert_eq!(issues(one_point_oh)[0].code, IssueType::Value);
}

#[test]
fn hostile_nesting_is_an_error_not_a_crash() {
    let mut v = json!({"url": "http://x", "valueString": "leaf"});
    // Deep enough to pass the validator's limit; not so deep that serde_json's own
    // recursive Drop of the test value overflows the test thread's stack.
    for _ in 0..500 {
        v = json!({"url": "http://x", "extension": [v]});
    }
    let found = issues(json!({"resourceType": "Patient", "extension": [v]}));
    assert!(
        found.iter().any(|i| i.diagnostics.contains("nesting")),
        "{:?}",
        found.first()
    );
}

#[test]
fn operation_outcome_names_the_element() {
    let mut p = patient();
    p["birthDate"] = json!("1980-13-01");
    let oo = hutong_fhir::outcome::operation_outcome(&issues(p));
    assert_eq!(oo["issue"][0]["expression"][0], "Patient.birthDate");
    assert_eq!(oo["issue"][0]["code"], "value");
    assert_eq!(oo["issue"][0]["severity"], "error");
}

#[test]
fn choice_variant_given_by_companion_counts_as_present() {
    let obs = |extra: Value| {
        let mut o =
            json!({"resourceType": "Observation", "status": "final", "code": {"text": "x"}});
        for (k, v) in extra.as_object().into_iter().flatten() {
            o[k] = v.clone();
        }
        o
    };
    let ext = json!({"extension": [{"url": "http://hl7.org/fhir/StructureDefinition/data-absent-reason", "valueCode": "unknown"}]});
    assert_valid(obs(json!({"valueString": "a", "_valueString": ext})));
    assert_valid(obs(json!({"_valueString": ext})));
    let found = issues(obs(
        json!({"valueQuantity": {"value": 1}, "_valueString": ext}),
    ));
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(
        found[0].expression.as_deref(),
        Some("Observation._valueString")
    );
}
