use serde_json::Value;

/// The patient-compartment key of a resource: the id of the Patient that is its
/// primary subject, or the resource's own id for a Patient. `None` for resources
/// outside any patient compartment (Organization, Practitioner, terminology …).
///
/// DESIGN.md: "a clinical resource belongs to the compartment of its primary subject".
pub fn patient_key(resource: &Value) -> Option<String> {
    let rt = resource.get("resourceType")?.as_str()?;
    if rt == "Patient" {
        return resource.get("id")?.as_str().map(str::to_owned);
    }
    for field in ["subject", "patient", "beneficiary"] {
        if let Some(r) = resource.get(field).and_then(|s| s.get("reference")).and_then(Value::as_str) {
            if let Some(id) = r.strip_prefix("Patient/") {
                return Some(id.split('/').next().unwrap_or(id).to_owned());
            }
        }
    }
    None
}
