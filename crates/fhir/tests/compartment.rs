//! Which resident's compartment a resource is stored in.

use hutong_fhir::compartment::{patient_id, patient_key};
use serde_json::json;

#[test]
fn patient_is_keyed_by_its_own_id() {
    assert_eq!(
        patient_key(&json!({"resourceType": "Patient", "id": "p1"})),
        Some("p1".into())
    );
}

#[test]
fn observation_and_encounter_are_keyed_by_subject() {
    let obs = json!({"resourceType": "Observation", "subject": {"reference": "Patient/123"}, "performer": [{"reference": "Patient/999"}]});
    assert_eq!(patient_key(&obs), Some("123".into()));
    let enc = json!({"resourceType": "Encounter", "subject": {"reference": "https://hie.example.cn/fhir/Patient/abc/_history/2"}});
    assert_eq!(patient_key(&enc), Some("abc".into()));
}

#[test]
fn coverage_is_keyed_by_beneficiary() {
    let cov = json!({"resourceType": "Coverage", "policyHolder": {"reference": "Patient/holder"}, "beneficiary": {"reference": "Patient/b1"}});
    assert_eq!(patient_key(&cov), Some("b1".into()));
}

#[test]
fn non_patient_subject_falls_through_to_later_paths() {
    let obs = json!({"resourceType": "Observation", "subject": {"reference": "Group/g"}, "performer": [{"reference": "Practitioner/x"}, {"reference": "Patient/7"}]});
    assert_eq!(patient_key(&obs), Some("7".into()));
}

#[test]
fn nested_compartment_paths_are_followed() {
    let appt = json!({"resourceType": "Appointment", "participant": [
        {"actor": {"reference": "Practitioner/d"}}, {"actor": {"reference": "Patient/p9"}}
    ]});
    assert_eq!(patient_key(&appt), Some("p9".into()));
}

#[test]
fn resources_outside_the_compartment_have_no_key() {
    assert_eq!(
        patient_key(&json!({"resourceType": "Organization", "id": "o"})),
        None
    );
    assert_eq!(
        patient_key(
            &json!({"resourceType": "Observation", "subject": {"reference": "#contained"}})
        ),
        None
    );
    assert_eq!(patient_key(&json!({"resourceType": "Observation"})), None);
}

#[test]
fn reference_forms() {
    assert_eq!(patient_id("Patient/123"), Some("123"));
    assert_eq!(patient_id("Patient/123/_history/2"), Some("123"));
    assert_eq!(patient_id("http://x.org/fhir/Patient/123"), Some("123"));
    assert_eq!(patient_id("Practitioner/123"), None);
    assert_eq!(patient_id("MyPatient/123"), None);
    assert_eq!(patient_id("Patient/"), None);
    assert_eq!(patient_id("Patient/a b"), None);
}
