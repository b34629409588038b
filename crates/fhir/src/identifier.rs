//! Business identifiers of a resource (`Resource.identifier`).
use serde_json::Value;

/// The business identifiers of a resource (`Resource.identifier`, one or many), as
/// `(system, value)` pairs. Identifiers without a value are skipped.
pub fn identifiers(resource: &Value) -> Vec<(Option<String>, String)> {
    let mut out = Vec::new();
    let mut push = |v: &Value| {
        if let Some(value) = v.get("value").and_then(Value::as_str) {
            let system = v.get("system").and_then(Value::as_str).map(str::to_owned);
            out.push((system, value.to_owned()));
        }
    };
    match resource.get("identifier") {
        Some(Value::Array(items)) => items.iter().for_each(&mut push),
        Some(v @ Value::Object(_)) => push(v),
        _ => {}
    }
    out
}
