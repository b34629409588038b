//! The golden record: a FHIR `Person` whose `link`s are the Patients of one resident
//! (as HAPI FHIR MDM keeps it), tagged `http://hutong.example/fhir/mdm|GOLDEN_RECORD`.
//!
//! Assurance of a link (R4 valueset-identity-assuranceLevel): `level4` for equal valid
//! citizen ID numbers and for links decided by a human, `level3` for an automatic
//! probabilistic link or a Patient founding its own Person. Review candidates
//! (`level2`) are never linked: they wait in the review queue.
use serde_json::{json, Value};

/// Tag system of master-data-management resources.
pub const MDM_SYSTEM: &str = "http://hutong.example/fhir/mdm";
/// Tag code of a golden record.
pub const GOLDEN_RECORD: &str = "GOLDEN_RECORD";

/// A new golden record for `patient` (demographics copied: name, gender, birth date;
/// never an identifier, so the citizen ID number is not duplicated).
pub fn new_person(id: &str, patient: Option<&Value>) -> Value {
    let mut person = json!({
        "resourceType": "Person",
        "id": id,
        "meta": { "tag": [{ "system": MDM_SYSTEM, "code": GOLDEN_RECORD, "display": "Golden record" }] },
        "active": true,
    });
    if let Some(p) = patient {
        if let Some(name) = p["name"].as_array().filter(|n| !n.is_empty()) {
            person["name"] = Value::Array(name.clone());
        }
        for field in ["gender", "birthDate"] {
            if let Some(v) = p.get(field).filter(|v| v.is_string()) {
                person[field] = v.clone();
            }
        }
    }
    person["link"] = json!([]);
    person
}

/// Links `target` (`Patient/x` or `Person/y`) with `assurance`, replacing an earlier
/// link to the same target; the Person becomes active.
pub fn add_link(person: &mut Value, target: &str, assurance: &str) {
    remove_link(person, target);
    if !person["link"].is_array() {
        person["link"] = json!([]);
    }
    if let Some(links) = person["link"].as_array_mut() {
        links.push(json!({ "target": { "reference": target }, "assurance": assurance }));
    }
    person["active"] = Value::Bool(true);
}

/// Removes the link to `target`; returns the number of Patient links left. A Person
/// left without Patients becomes inactive (it stays readable: its history is the audit
/// of what it held).
pub fn remove_link(person: &mut Value, target: &str) -> usize {
    let Some(links) = person.get_mut("link").and_then(Value::as_array_mut) else {
        return 0;
    };
    links.retain(|l| l["target"]["reference"] != target);
    let patients = links
        .iter()
        .filter(|l| {
            l["target"]["reference"]
                .as_str()
                .is_some_and(|r| r.starts_with("Patient/"))
        })
        .count();
    if links.is_empty() {
        if let Some(obj) = person.as_object_mut() {
            obj.remove("link");
        }
    }
    if patients == 0 {
        person["active"] = Value::Bool(false);
    }
    patients
}

/// Assurance level of an automatic or manual link.
pub fn assurance(kind: hutong_store::LinkKind) -> &'static str {
    use hutong_store::LinkKind::*;
    match kind {
        Deterministic | Manual | Merged => "level4",
        Probabilistic | NewPerson => "level3",
    }
}
