//! The FHIR-specific parts of the engine as a search indexer or validator sees them:
//! choice types, lenient `as`, `resolve()`, `extension()`, `memberOf()`, variables, errors.

use hutong_fhirpath::{Context, EvalError, Expr, Terminology};
use serde_json::{json, Value};

fn eval(expr: &str, data: &Value) -> Value {
    let ctx = Context::r4();
    Expr::parse(expr)
        .expect("parses")
        .evaluate(data, &ctx)
        .expect("evaluates")
        .to_json()
}

fn observation() -> Value {
    // Parsed from text so that 185.50 keeps its two decimal places.
    serde_json::from_str(r#"{"resourceType": "Observation", "id": "o1", "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "29463-7"}]},
        "subject": {"reference": "Patient/p1"},
        "valueQuantity": {"value": 185.50, "unit": "lbs", "system": "http://unitsofmeasure.org", "code": "[lb_av]"},
        "effectiveDateTime": "2016-03-28"}"#)
    .expect("valid JSON")
}

#[test]
fn search_parameter_as_on_collections_extracts_the_intended_values() {
    // The official R4 `value-quantity` expression applies `as` to a union.
    let out = eval(
        "(Observation.value as Quantity) | (Observation.value as SampledData)",
        &observation(),
    );
    assert_eq!(
        out.to_string(),
        r#"[{"value":185.50,"unit":"lbs","system":"http://unitsofmeasure.org","code":"[lb_av]"}]"#
    );
    assert_eq!(
        eval("Observation.value.is(Quantity)", &observation()),
        json!([true])
    );
    assert_eq!(
        eval("Observation.effective.ofType(dateTime)", &observation()),
        json!(["2016-03-28"])
    );
}

#[test]
fn decimals_keep_their_precision_and_compare_exactly() {
    assert_eq!(
        eval("Observation.value.value", &observation()).to_string(),
        "[185.50]"
    );
    assert_eq!(
        eval("Observation.value.value.precision()", &observation()),
        json!([2])
    );
    assert_eq!(eval("0.1 + 0.2 = 0.3", &observation()), json!([true]));
    assert_eq!(
        eval("Observation.value > 80 'kg'", &observation()),
        json!([true])
    );
}

#[test]
fn resolve_finds_bundle_entries_contained_resources_and_the_hook() {
    let bundle = json!({"resourceType": "Bundle", "type": "collection", "entry": [
        {"fullUrl": "http://x/Patient/p1", "resource": {"resourceType": "Patient", "id": "p1", "gender": "male"}},
        {"fullUrl": "http://x/Observation/o1", "resource": observation()}]});
    assert_eq!(
        eval(
            "Bundle.entry.resource.ofType(Observation).subject.resolve().gender",
            &bundle
        ),
        json!(["male"])
    );

    let contained = json!({"resourceType": "Observation", "status": "final", "code": {"text": "x"},
        "contained": [{"resourceType": "Patient", "id": "c", "gender": "female"}],
        "subject": {"reference": "#c"}});
    assert_eq!(
        eval("Observation.subject.resolve().gender", &contained),
        json!(["female"])
    );
    assert_eq!(
        eval("Observation.subject.resolve() is Patient", &contained),
        json!([true])
    );

    let external = json!({"resourceType": "Patient", "id": "p1", "birthDate": "1970"});
    let known = &external;
    let ctx = Context::r4().with_resolver(move |r| (r == "Patient/p1").then_some(known));
    let obs = observation();
    let out = Expr::parse("subject.resolve().birthDate")
        .expect("parses")
        .evaluate(&obs, &ctx)
        .expect("evaluates");
    assert_eq!(out.to_json(), json!(["1970"]));
}

#[test]
fn extensions_on_primitives_and_elements() {
    let patient = json!({"resourceType": "Patient", "birthDate": "1974-12-25",
        "_birthDate": {"extension": [{"url": "http://hl7.org/fhir/StructureDefinition/patient-birthTime", "valueDateTime": "1974-12-25T14:35:45-05:00"}]},
        "name": [{"given": ["Jim", "Bob"], "_given": [null, {"extension": [{"url": "u", "valueString": "x"}]}]}]});
    assert_eq!(
        eval(
            "birthDate.extension(%`ext-patient-birthTime`).value",
            &patient
        ),
        json!(["1974-12-25T14:35:45-05:00"])
    );
    assert_eq!(
        eval("name.given.where(extension('u').exists())", &patient),
        json!(["Bob"])
    );
    assert_eq!(
        eval("name.given.first().hasValue()", &patient),
        json!([true])
    );
    assert_eq!(eval("name.first().hasValue()", &patient), json!([false]));
    assert_eq!(
        eval("birthDate.getValue() = @1974-12-25", &patient),
        json!([true])
    );
}

struct Genders;
impl Terminology for Genders {
    fn member_of(&self, _system: Option<&str>, code: &str, value_set: &str) -> Option<bool> {
        (value_set == "http://hl7.org/fhir/ValueSet/administrative-gender")
            .then(|| ["male", "female", "other", "unknown"].contains(&code))
    }
}

#[test]
fn member_of_asks_the_terminology_hook() {
    let patient = json!({"resourceType": "Patient", "gender": "male"});
    let ctx = Context::r4().with_terminology(&Genders);
    let out = Expr::parse("gender.memberOf(%`vs-administrative-gender`)")
        .expect("parses")
        .evaluate(&patient, &ctx)
        .expect("evaluates");
    assert_eq!(out.to_json(), json!([true]));
    // Without a terminology service the answer is unknown (empty), not false.
    assert_eq!(
        eval("gender.memberOf(%`vs-administrative-gender`)", &patient),
        json!([])
    );
}

#[test]
fn errors_are_values_not_panics() {
    let ctx = Context::r4();
    let patient = json!({"resourceType": "Patient", "name": [{"given": ["a", "b"]}]});
    let err = Expr::parse("name.given.single()")
        .expect("parses")
        .evaluate(&patient, &ctx)
        .expect_err("two items");
    assert!(matches!(err, EvalError::NotSingleton(..)), "{err}");
    let err = Expr::parse("%undefined")
        .expect("parses")
        .evaluate(&patient, &ctx)
        .expect_err("unknown variable");
    assert!(matches!(err, EvalError::UnknownVariable(_)));
    let err = Expr::parse("name.where(").expect_err("syntax");
    assert_eq!(err.position, 11, "{err}");
    assert!(err.message.contains("expected an expression"), "{err}");
}
