//! Lexical rules of the FHIR R4 primitive types (R4 datatypes.html#primitive).

/// `id`: `[A-Za-z0-9\-\.]{1,64}`.
pub fn is_id(s: &str) -> bool {
    !s.is_empty() && s.len() <= 64 && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
}
