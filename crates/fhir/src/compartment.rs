//! The patient compartment (R4 compartmentdefinition-patient.html): which resident a
//! clinical resource belongs to.
use crate::primitive::is_id;
use serde_json::Value;

/// The patient-compartment key of a resource: the id of the Patient that is its
/// primary subject, or the resource's own id for a Patient. `None` for resources
/// outside any patient compartment (Organization, Practitioner, terminology …) and
/// for compartment resources that reference no Patient by `Patient/<id>`.
///
/// The candidate elements come from the generated compartment table
/// ([`crate::r4::Metadata::patient_compartment_paths`]), primary subject first
/// (`subject`, `patient`, `beneficiary` …); the first Patient reference found along
/// them, in order, wins. References may be relative (`Patient/123`), absolute
/// (`https://host/fhir/Patient/123`) or versioned (`Patient/123/_history/2`).
///
/// DESIGN.md: "a clinical resource belongs to the compartment of its primary subject".
pub fn patient_key(resource: &Value) -> Option<String> {
    let rt = resource.get("resourceType")?.as_str()?;
    if rt == "Patient" {
        return resource.get("id")?.as_str().map(str::to_owned);
    }
    for path in crate::r4::metadata().patient_compartment_paths(rt) {
        if let Some(id) = find_patient(resource, path) {
            return Some(id.to_owned());
        }
    }
    None
}

/// Follows a dotted element path through objects and arrays, returning the first
/// Patient id referenced at its end.
fn find_patient<'v>(value: &'v Value, path: &str) -> Option<&'v str> {
    match value {
        Value::Array(items) => items.iter().find_map(|v| find_patient(v, path)),
        Value::Object(obj) => match path.split_once('.') {
            Some((head, rest)) => find_patient(obj.get(head)?, rest),
            None => match obj.get(path)? {
                Value::Array(items) => items.iter().find_map(reference_patient),
                v => reference_patient(v),
            },
        },
        _ => None,
    }
}

fn reference_patient(reference: &Value) -> Option<&str> {
    patient_id(reference.get("reference")?.as_str()?)
}

/// The Patient id of a literal reference (R4 references.html#literal):
/// `Patient/123`, `http(s)://…/Patient/123`, with an optional `/_history/<vid>`.
pub fn patient_id(reference: &str) -> Option<&str> {
    let unversioned = match reference.rsplit_once("/_history/") {
        Some((head, vid)) if is_id(vid) => head,
        _ => reference,
    };
    let (head, id) = unversioned.rsplit_once('/')?;
    let prefix = head.strip_suffix("Patient")?;
    let absolute =
        prefix.ends_with('/') && (prefix.starts_with("http://") || prefix.starts_with("https://"));
    (is_id(id) && (prefix.is_empty() || absolute)).then_some(id)
}
