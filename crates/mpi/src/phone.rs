//! Phone numbers: country code, separators and extension noise removed.

/// Normalises a phone number to its national digits: `+86 138-0013-8000` →
/// `13800138000`. Returns `None` when fewer than 7 digits remain (not a usable number).
pub fn normalize_phone(input: &str) -> Option<String> {
    let mut digits = String::with_capacity(16);
    for c in input.chars().take(64).map(crate::name::fold_width) {
        if c.is_ascii_digit() {
            digits.push(c);
        } else if c == '+' && digits.is_empty() {
            digits.push('+');
        }
    }
    let mut d = digits.as_str();
    if let Some(rest) = d.strip_prefix("+86") {
        d = rest;
    } else if let Some(rest) = d.strip_prefix("0086") {
        d = rest;
    } else if d.len() == 13 && d.starts_with("861") {
        d = &d[2..];
    }
    let d = d.trim_start_matches('+');
    if d.len() < 7 || d.len() > 15 {
        return None;
    }
    Some(d.to_string())
}
