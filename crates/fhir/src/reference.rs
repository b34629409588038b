//! References inside resources.
use serde_json::Value;

/// Replaces every string in `value` (at any depth) that is a key of `map` by the mapped
/// value. Used to rewrite `urn:uuid:` full URLs of a transaction Bundle to the
/// `Type/id` assigned by the server (R4 http.html#trules). Returns the number of
/// replacements.
pub fn rewrite_references(value: &mut Value, map: &dyn Fn(&str) -> Option<String>) -> usize {
    match value {
        Value::String(s) => match map(s) {
            Some(new) => {
                *s = new;
                1
            }
            None => 0,
        },
        Value::Array(items) => items.iter_mut().map(|v| rewrite_references(v, map)).sum(),
        Value::Object(obj) => obj.values_mut().map(|v| rewrite_references(v, map)).sum(),
        _ => 0,
    }
}
