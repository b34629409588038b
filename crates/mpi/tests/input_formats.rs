//! Reading registrations: CSV with a column mapping, NDJSON of FHIR Patients.

use hutong_mpi::input::{patient_to_record, read_ndjson, Mapping};
use hutong_mpi::Features;

#[test]
fn febrl_header_selects_the_febrl_mapping() {
    let header: Vec<String> = ["rec_id", "given_name", "surname"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert_eq!(Mapping::detect(&header), Mapping::parse("febrl").unwrap());
}

#[test]
fn unknown_role_in_mapping_is_rejected_with_its_name() {
    let err = Mapping::parse("id=rec_id,shoe_size=x").unwrap_err();
    assert!(err.to_string().contains("shoe_size"));
}

#[test]
fn fhir_patient_maps_to_a_registration() {
    let p = serde_json::json!({
        "resourceType": "Patient", "id": "p1",
        "identifier": [{"system": "urn:oid:2.16.156.10011.1.3", "value": "11010519491231002X"}],
        "name": [{"use": "official", "text": "张伟"}],
        "gender": "female", "birthDate": "1949-12-31",
        "telecom": [{"system": "phone", "value": "+86 138 0013 8000"}],
        "address": [{"text": "北京市朝阳区建国路1号"}]
    });
    let r = patient_to_record(&p);
    let f = Features::from_record(&r);
    assert_eq!(&*f.id, "p1");
    assert!(f.citizen_id.is_some());
    assert_eq!(&*f.family.text, "张");
    assert_eq!(f.phone.as_deref(), Some("13800138000"));
    assert_eq!(f.division, Some(110105));
    assert!(f.inconsistencies.is_empty());
}

#[test]
fn malformed_ndjson_line_is_reported_with_its_number() {
    let data = "{\"resourceType\":\"Patient\",\"id\":\"a\"}\nnot json\n";
    let err = read_ndjson(data.as_bytes(), "in.ndjson", 0).unwrap_err();
    assert!(err.to_string().contains("line 2"), "{err}");
}
