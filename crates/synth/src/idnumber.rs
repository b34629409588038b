//! Check characters of Chinese identifiers: the citizen ID number (公民身份号码,
//! GB 11643-1999) and the unified social credit code (统一社会信用代码, GB 32100-2015,
//! with its embedded organisation code of GB 11714-1997).
//!
//! The master patient index (`crates/mpi`) has its own GB 11643 check; the duplication is
//! deliberate for now, so the generator can be tested against an independent
//! implementation.

const ID_WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
const ID_CHECK: &[u8; 11] = b"10X98765432";

/// The GB 11643 check character of the first 17 digits; `None` when they are not 17
/// ASCII digits.
pub fn id_check_char(first17: &str) -> Option<char> {
    let b = first17.as_bytes();
    if b.len() != 17 || !b.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let sum: u32 = b
        .iter()
        .zip(ID_WEIGHTS)
        .map(|(d, w)| u32::from(d - b'0') * w)
        .sum();
    Some(char::from(ID_CHECK[(sum % 11) as usize]))
}

/// True when `id` is an 18-character ID number with a valid check character and a
/// real birth date (the region code is not checked here).
pub fn is_valid_id_number(id: &str) -> bool {
    let b = id.as_bytes();
    if b.len() != 18 {
        return false;
    }
    let Some(expected) = id.get(..17).and_then(id_check_char) else {
        return false;
    };
    let birth = &id[6..14];
    let (Ok(y), Ok(m), Ok(d)) = (
        birth[..4].parse::<i32>(),
        birth[4..6].parse::<u32>(),
        birth[6..].parse::<u32>(),
    ) else {
        return false;
    };
    crate::date::Date::new(y, m, d).is_some() && char::from(b[17]).to_ascii_uppercase() == expected
}

/// An 18-digit ID number from region code, birth date and 3-digit sequence (whose
/// parity carries the sex: odd = male).
pub fn make_id_number(region: &str, birth_compact: &str, sequence: u32) -> String {
    let mut s = format!("{region}{birth_compact}{sequence:03}");
    let c = id_check_char(&s).unwrap_or('0');
    s.push(c);
    s
}

/// The 15-digit legacy form (GB 11643-1989) of an 18-digit number of someone born in
/// the 1900s: the century and the check character dropped.
pub fn legacy_15(id18: &str) -> Option<String> {
    if id18.len() != 18 || !id18.is_ascii() || &id18[6..8] != "19" {
        return None;
    }
    Some(format!("{}{}", &id18[..6], &id18[8..17]))
}

/// Characters of the unified social credit code, in value order (no I, O, S, V, Z).
const USCC_CHARS: &[u8; 31] = b"0123456789ABCDEFGHJKLMNPQRTUWXY";
const USCC_WEIGHTS: [u32; 17] = [
    1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28,
];
const ORG_WEIGHTS: [u32; 8] = [3, 7, 9, 10, 5, 8, 4, 2];

/// The GB 11714 check character of an 8-character organisation code body.
pub fn org_code_check_char(body: &str) -> Option<char> {
    let b = body.as_bytes();
    if b.len() != 8 {
        return None;
    }
    let mut sum = 0u32;
    for (c, w) in b.iter().zip(ORG_WEIGHTS) {
        let v = match c {
            b'0'..=b'9' => u32::from(c - b'0'),
            b'A'..=b'Z' => u32::from(c - b'A') + 10,
            _ => return None,
        };
        sum += v * w;
    }
    Some(match 11 - sum % 11 {
        10 => 'X',
        11 => '0',
        n => char::from_digit(n, 10).unwrap_or('0'),
    })
}

/// The GB 32100 check character of the first 17 characters of a credit code.
pub fn uscc_check_char(first17: &str) -> Option<char> {
    let b = first17.as_bytes();
    if b.len() != 17 {
        return None;
    }
    let mut sum = 0u32;
    for (c, w) in b.iter().zip(USCC_WEIGHTS) {
        let v = USCC_CHARS.iter().position(|x| x == c)? as u32;
        sum += v * w;
    }
    let v = (31 - sum % 31) % 31;
    Some(char::from(USCC_CHARS[v as usize]))
}

/// True when `code` is an 18-character credit code with valid check characters (the
/// credit code's own and that of the organisation code inside it).
pub fn is_valid_uscc(code: &str) -> bool {
    code.len() == 18
        && code.is_ascii()
        && uscc_check_char(&code[..17]) == code[17..].chars().next()
        && org_code_check_char(&code[8..16]) == code[16..17].chars().next()
}

/// A credit code from the registering-authority and category characters (e.g. `12`
/// for a public institution, `52` for a private non-enterprise unit, `91` for a
/// company), a 6-digit region code and an 8-digit organisation code body.
pub fn make_uscc(kind: &str, region: &str, org_body: &str) -> String {
    let mut s = format!(
        "{kind}{region}{org_body}{}",
        org_code_check_char(org_body).unwrap_or('0')
    );
    let c = uscc_check_char(&s).unwrap_or('0');
    s.push(c);
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_numbers_of_the_standard_notes_check_as_documented() {
        for ok in [
            "11010519491231002X",
            "11010020171225006X",
            "632123198209270518",
            "511702198002221308",
        ] {
            assert!(is_valid_id_number(ok), "{ok}");
        }
        assert!(!is_valid_id_number("420106201101011919"));
        assert_eq!(id_check_char("42010620110101191"), Some('7'));
    }

    #[test]
    fn published_credit_codes_check() {
        // The sample code printed in GB 32100 explanations.
        assert!(is_valid_uscc("91350100M000100Y43"));
        let made = make_uscc("12", "330106", "47000123");
        assert!(is_valid_uscc(&made), "{made}");
    }
}
