//! Validation of a resource against the R4 metadata. STUB.
use crate::outcome::{Issue, IssueType};
use serde_json::Value;

/// Validates a resource. Returns every issue found (empty `Err` never happens).
pub fn validate_resource(resource: &Value) -> Result<(), Vec<Issue>> {
    let Some(rt) = resource.get("resourceType").and_then(Value::as_str) else {
        return Err(vec![Issue::error(IssueType::Required, "resourceType is missing")]);
    };
    if crate::ResourceType::parse(rt).is_none() {
        return Err(vec![Issue::error(IssueType::NotSupported, format!("unknown resource type {rt}"))]);
    }
    Ok(())
}
