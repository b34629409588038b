//! A Patient as the index sees it: matching features, the keyed hash of its citizen ID
//! number, the data-quality check of that number, and whether it was merged away.
use crate::config::InvalidCitizenId;
use crate::error::ApiError;
use axum::http::StatusCode;
use hmac::{Hmac, Mac};
use hutong_fhir::{Issue, IssueSeverity, IssueType};
use hutong_mpi::input::{patient_to_record, CITIZEN_ID_SYSTEM};
use hutong_mpi::{CitizenId, Features};
use serde_json::{json, Value};
use sha2::Sha256;

/// Tag system of data-quality flags on stored resources.
pub const DATA_QUALITY_SYSTEM: &str = "http://hutong.example/fhir/data-quality";
/// Tag code of a Patient whose citizen ID number is not valid.
pub const INVALID_CITIZEN_ID: &str = "invalid-citizen-id";

/// Matching features of a stored Patient. Institution record numbers are not compared
/// (each institution has its own), so only the name, sex, birth date, citizen ID
/// number, phone and address take part.
pub fn features(patient: &Value, id: &str) -> Features {
    let mut record = patient_to_record(patient);
    record.id = id.to_owned();
    record.identifier = None;
    Features::from_record(&record)
}

/// The citizen ID number of a Patient when it is valid: the one matching reads
/// (`patient_to_record`), without computing the other features.
pub fn citizen_id(patient: &Value) -> Option<CitizenId> {
    let raw = patient_to_record(patient).citizen_id?;
    CitizenId::parse(raw.trim()).ok()
}

/// Keyed hash (HMAC-SHA256, hex) of a valid citizen ID number: what the MPI tables
/// keep instead of the number.
pub fn id_hash(key: &[u8], id: &CitizenId) -> String {
    // HMAC accepts keys of any length; `new_from_slice` cannot fail for it.
    let mut mac = match <Hmac<Sha256> as Mac>::new_from_slice(key) {
        Ok(m) => m,
        Err(_) => return String::new(),
    };
    mac.update(b"citizen-id:");
    mac.update(id.as_str().as_bytes());
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The Patient this one was merged into (`link` of type `replaced-by`), if any.
pub fn replaced_by(patient: &Value) -> Option<String> {
    patient["link"]
        .as_array()?
        .iter()
        .find(|l| l["type"] == "replaced-by")
        .and_then(|l| l["other"]["reference"].as_str())
        .map(|r| r.trim_start_matches("Patient/").to_owned())
}

/// The data-quality check of a Patient about to be written: an invalid citizen ID
/// number is refused (policy `reject`: 422) or kept with the `invalid-citizen-id` tag
/// and a warning for the caller (policy `keep`); a valid (or absent) one clears the tag.
/// The number itself is never echoed.
pub fn check(patient: &mut Value, policy: InvalidCitizenId) -> Result<Option<Issue>, ApiError> {
    let invalid = patient["identifier"]
        .as_array()
        .into_iter()
        .flatten()
        .enumerate()
        .filter(|(_, i)| i["system"] == CITIZEN_ID_SYSTEM)
        .find_map(|(n, i)| {
            let value = i["value"].as_str()?;
            CitizenId::parse(value).err().map(|e| (n, e.to_string()))
        });
    let Some((n, reason)) = invalid else {
        remove_tag(patient);
        return Ok(None);
    };
    let at = format!("Patient.identifier[{n}].value");
    match policy {
        InvalidCitizenId::Reject => Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            IssueType::Value,
            format!("the citizen ID number (身份证号) is not valid: {reason}"),
        )
        .at(at)),
        InvalidCitizenId::Keep => {
            add_tag(patient);
            Ok(Some(Issue {
                severity: IssueSeverity::Warning,
                code: IssueType::Value,
                diagnostics: format!(
                    "the citizen ID number (身份证号) is not valid: {reason}; the Patient is kept \
                     with the data-quality tag {DATA_QUALITY_SYSTEM}|{INVALID_CITIZEN_ID} and \
                     the number is not used to match it"
                ),
                expression: Some(at),
            }))
        }
    }
}

fn is_flag(tag: &Value) -> bool {
    tag["system"] == DATA_QUALITY_SYSTEM && tag["code"] == INVALID_CITIZEN_ID
}

fn add_tag(patient: &mut Value) {
    let Some(obj) = patient.as_object_mut() else {
        return;
    };
    let meta = obj.entry("meta").or_insert_with(|| json!({}));
    if !meta.is_object() {
        *meta = json!({});
    }
    let tags = meta
        .as_object_mut()
        .map(|m| m.entry("tag").or_insert_with(|| json!([])));
    if let Some(Value::Array(tags)) = tags {
        if !tags.iter().any(is_flag) {
            tags.push(json!({
                "system": DATA_QUALITY_SYSTEM,
                "code": INVALID_CITIZEN_ID,
                "display": "citizen ID number (身份证号) not valid"
            }));
        }
    }
}

fn remove_tag(patient: &mut Value) {
    let Some(meta) = patient.get_mut("meta").and_then(Value::as_object_mut) else {
        return;
    };
    let empty = match meta.get_mut("tag") {
        Some(Value::Array(tags)) => {
            tags.retain(|t| !is_flag(t));
            tags.is_empty()
        }
        _ => false,
    };
    if empty {
        meta.remove("tag");
    }
}
