//! Lexical rules of the FHIR R4 primitive types (R4 datatypes.html#primitive).
//!
//! Hand-written from the `regex` extensions of the primitive StructureDefinitions
//! (`StructureDefinition-date.json` …), plus what a regex cannot say: real calendar
//! dates (no 30 February, leap years), `integer` range, base64 padding. In JSON,
//! `boolean` is a JSON boolean, `integer`/`positiveInt`/`unsignedInt`/`decimal` are
//! JSON numbers and every other primitive is a JSON string (R4 json.html#primitive).
//!
//! Entry point: [`check`], the test of one JSON value against a primitive type.
//! The `is_*` functions test one string each.

use serde_json::Value;

/// Maximum size of a `string` / `markdown` value (R4 datatypes.html#string: 1 MB).
pub const MAX_STRING_BYTES: usize = 1024 * 1024;

type StringTest = fn(&str) -> Result<(), &'static str>;

/// A [`StringTest`] from a boolean checker and the reason given when it fails
/// (a non-capturing closure, so it coerces to a fn pointer).
macro_rules! test {
    ($check:ident, $reason:literal) => {
        |s: &str| if $check(s) { Ok(()) } else { Err($reason) }
    };
}

/// Why a JSON value is not a valid instance of a primitive type.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PrimitiveError {
    /// The JSON kind is wrong (a string where a number is expected, an object …).
    #[error("expected {expected} for a FHIR {type_code}, found {found}")]
    JsonKind {
        /// The FHIR primitive type.
        type_code: &'static str,
        /// The JSON kind the type is written as.
        expected: &'static str,
        /// The JSON kind found.
        found: &'static str,
    },
    /// The JSON kind is right but the text breaks the type's format.
    #[error("invalid {type_code} value: {reason}")]
    Format {
        /// The FHIR primitive type.
        type_code: &'static str,
        /// What is wrong.
        reason: &'static str,
    },
    /// The type is not an R4 primitive type.
    #[error("{0} is not a FHIR primitive type")]
    UnknownType(String),
}

/// The name of a JSON value's kind, for messages.
pub fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Checks a JSON value against an R4 primitive type (`date`, `positiveInt` …).
pub fn check(type_code: &str, value: &Value) -> Result<(), PrimitiveError> {
    let (type_code, test): (&'static str, StringTest) = match type_code {
        "boolean" => {
            return match value {
                Value::Bool(_) => Ok(()),
                other => Err(kind_error("boolean", "a boolean", other)),
            }
        }
        "integer" => return number(value, "integer", |t| int_in_range(t, i64::from(i32::MIN))),
        "positiveInt" => return number(value, "positiveInt", |t| int_in_range(t, 1)),
        "unsignedInt" => return number(value, "unsignedInt", |t| int_in_range(t, 0)),
        "decimal" => return number(value, "decimal", |_| Ok(())),
        "string" => ("string", check_string),
        "markdown" => ("markdown", check_string),
        "code" => (
            "code",
            test!(is_code, "a code is tokens separated by single spaces"),
        ),
        "id" => ("id", test!(is_id, "an id is 1-64 of A-Z a-z 0-9 - .")),
        "uri" => (
            "uri",
            test!(is_uri, "a uri must not be empty nor contain whitespace"),
        ),
        "url" => (
            "url",
            test!(is_uri, "a url must not be empty nor contain whitespace"),
        ),
        "canonical" => (
            "canonical",
            test!(
                is_uri,
                "a canonical must not be empty nor contain whitespace"
            ),
        ),
        "oid" => (
            "oid",
            test!(is_oid, "an oid is urn:oid: followed by a dotted OID"),
        ),
        "uuid" => (
            "uuid",
            test!(
                is_uuid,
                "a uuid is urn:uuid: followed by 8-4-4-4-12 hex digits"
            ),
        ),
        "base64Binary" => ("base64Binary", check_base64),
        "date" => ("date", check_date),
        "dateTime" => ("dateTime", check_date_time),
        "instant" => ("instant", check_instant),
        "time" => ("time", check_time),
        "xhtml" => ("xhtml", test!(is_xhtml, "xhtml must be a <div> element")),
        other => return Err(PrimitiveError::UnknownType(other.to_owned())),
    };
    match value {
        Value::String(s) => test(s).map_err(|reason| PrimitiveError::Format { type_code, reason }),
        other => Err(kind_error(type_code, "a string", other)),
    }
}

fn kind_error(type_code: &'static str, expected: &'static str, found: &Value) -> PrimitiveError {
    PrimitiveError::JsonKind {
        type_code,
        expected,
        found: json_kind(found),
    }
}

fn number(
    value: &Value,
    type_code: &'static str,
    f: fn(&str) -> Result<(), &'static str>,
) -> Result<(), PrimitiveError> {
    match value {
        // With serde_json's arbitrary_precision the number keeps its literal text,
        // so `1.0` is told apart from `1`.
        Value::Number(n) => {
            f(&n.to_string()).map_err(|reason| PrimitiveError::Format { type_code, reason })
        }
        other => Err(kind_error(type_code, "a number", other)),
    }
}

fn int_in_range(text: &str, min: i64) -> Result<(), &'static str> {
    let digits = text.strip_prefix('-').unwrap_or(text);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err("not an integer (no fraction or exponent allowed)");
    }
    if digits.len() > 1 && digits.starts_with('0') {
        return Err("leading zeros are not allowed");
    }
    match text.parse::<i64>() {
        Ok(n) if n > i64::from(i32::MAX) => Err("out of range: integers are 32-bit"),
        Ok(n) if n < min => Err(if min == 1 {
            "must be greater than zero"
        } else if min == 0 {
            "must not be negative"
        } else {
            "out of range: integers are 32-bit"
        }),
        Ok(_) => Ok(()),
        Err(_) => Err("out of range: integers are 32-bit"),
    }
}

fn check_string(s: &str) -> Result<(), &'static str> {
    if s.len() > MAX_STRING_BYTES {
        return Err("longer than 1 MB");
    }
    if !s.chars().any(|c| !c.is_whitespace()) {
        return Err("must contain at least one non-whitespace character");
    }
    Ok(())
}

/// `string` / `markdown`: at least one non-whitespace character, at most 1 MB.
pub fn is_string(s: &str) -> bool {
    check_string(s).is_ok()
}

/// `code`: `[^\s]+( [^\s]+)*` — tokens separated by single spaces.
pub fn is_code(s: &str) -> bool {
    !s.is_empty()
        && s.split(' ')
            .all(|tok| !tok.is_empty() && !tok.chars().any(char::is_whitespace))
}

/// `id`: `[A-Za-z0-9\-\.]{1,64}`.
pub fn is_id(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
}

/// `uri`, `url`, `canonical`: `\S*`, and (as every JSON primitive) not empty.
pub fn is_uri(s: &str) -> bool {
    !s.is_empty() && !s.chars().any(char::is_whitespace)
}

/// `oid`: `urn:oid:[0-2](\.(0|[1-9][0-9]*))+`.
pub fn is_oid(s: &str) -> bool {
    let Some(rest) = s.strip_prefix("urn:oid:") else {
        return false;
    };
    let mut arcs = rest.split('.');
    let first_ok = matches!(arcs.next(), Some("0" | "1" | "2"));
    let mut count = 0;
    let rest_ok = arcs.all(|arc| {
        count += 1;
        !arc.is_empty()
            && arc.bytes().all(|b| b.is_ascii_digit())
            && (arc == "0" || !arc.starts_with('0'))
    });
    first_ok && count >= 1 && rest_ok
}

/// `uuid`: `urn:uuid:` + 8-4-4-4-12 hex digits. The spec's regex asks for lowercase;
/// uppercase hex is accepted too, since RFC 4122 readers accept both.
pub fn is_uuid(s: &str) -> bool {
    let Some(rest) = s.strip_prefix("urn:uuid:") else {
        return false;
    };
    let groups: [usize; 5] = [8, 4, 4, 4, 12];
    let mut parts = rest.split('-');
    for len in groups {
        match parts.next() {
            Some(p) if p.len() == len && p.bytes().all(|b| b.is_ascii_hexdigit()) => {}
            _ => return false,
        }
    }
    parts.next().is_none()
}

fn check_base64(s: &str) -> Result<(), &'static str> {
    let mut n = 0usize;
    let mut pad = 0usize;
    for b in s.bytes() {
        match b {
            b' ' | b'\t' | b'\r' | b'\n' => continue,
            b'=' => pad += 1,
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'+' | b'/' if pad == 0 => {}
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'+' | b'/' => {
                return Err("padding '=' only at the end")
            }
            _ => return Err("character outside the base64 alphabet"),
        }
        n += 1;
    }
    if n == 0 {
        return Err("empty");
    }
    if n % 4 != 0 {
        return Err("length is not a multiple of 4");
    }
    if pad > 2 {
        return Err("too much padding");
    }
    Ok(())
}

/// `base64Binary`: the base64 alphabet, whitespace ignored, length a multiple of 4,
/// at most two `=` of padding at the end.
pub fn is_base64_binary(s: &str) -> bool {
    check_base64(s).is_ok()
}

/// `xhtml`: a string holding a `<div>` element (R4 narrative.html#xhtml).
pub fn is_xhtml(s: &str) -> bool {
    let t = s.trim_start();
    t.starts_with("<div") && t[4..].starts_with(|c: char| c == '>' || c == '/' || c.is_whitespace())
}

/// A cursor over ASCII text for the date/time grammars.
struct Cursor<'a> {
    b: &'a [u8],
    i: usize,
}

impl Cursor<'_> {
    fn digits(&mut self, n: usize) -> Option<u32> {
        let chunk = self.b.get(self.i..self.i + n)?;
        if !chunk.iter().all(u8::is_ascii_digit) {
            return None;
        }
        self.i += n;
        Some(
            chunk
                .iter()
                .fold(0, |acc, d| acc * 10 + u32::from(d - b'0')),
        )
    }
    fn eat(&mut self, c: u8) -> bool {
        if self.b.get(self.i) == Some(&c) {
            self.i += 1;
            true
        } else {
            false
        }
    }
    fn done(&self) -> bool {
        self.i == self.b.len()
    }
}

fn days_in_month(year: u32, month: u32) -> u32 {
    match month {
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// `YYYY(-MM(-DD)?)?`; returns how many parts were present (1, 2 or 3).
fn date_part(c: &mut Cursor) -> Result<u8, &'static str> {
    let year = c.digits(4).ok_or("expected a four-digit year")?;
    if year == 0 {
        return Err("year 0000 does not exist");
    }
    if !c.eat(b'-') {
        return Ok(1);
    }
    let month = c.digits(2).ok_or("expected a two-digit month")?;
    if !(1..=12).contains(&month) {
        return Err("month must be 01-12");
    }
    if !c.eat(b'-') {
        return Ok(2);
    }
    let day = c.digits(2).ok_or("expected a two-digit day")?;
    if day == 0 || day > days_in_month(year, month) {
        return Err("no such day in that month");
    }
    Ok(3)
}

/// `hh:mm:ss(.f+)?`
fn time_part(c: &mut Cursor) -> Result<(), &'static str> {
    let h = c.digits(2).ok_or("expected hh:mm:ss")?;
    if h > 23 {
        return Err("hour must be 00-23");
    }
    if !c.eat(b':') {
        return Err("expected hh:mm:ss");
    }
    let m = c.digits(2).ok_or("expected hh:mm:ss")?;
    if m > 59 {
        return Err("minute must be 00-59");
    }
    if !c.eat(b':') {
        return Err("seconds are required (hh:mm:ss)");
    }
    let s = c.digits(2).ok_or("expected hh:mm:ss")?;
    // 60: a leap second, as the spec's regex allows.
    if s > 60 {
        return Err("second must be 00-60");
    }
    if c.eat(b'.') {
        let start = c.i;
        while c.b.get(c.i).is_some_and(u8::is_ascii_digit) {
            c.i += 1;
        }
        if c.i == start {
            return Err("expected digits after the decimal point");
        }
    }
    Ok(())
}

/// `Z|(+|-)((0[0-9]|1[0-3]):[0-5][0-9]|14:00)`
fn zone_part(c: &mut Cursor) -> Result<(), &'static str> {
    if c.eat(b'Z') {
        return Ok(());
    }
    if !(c.eat(b'+') || c.eat(b'-')) {
        return Err("a time zone (Z or +hh:mm) is required when a time is given");
    }
    let h = c.digits(2).ok_or("time zone must be hh:mm")?;
    if !c.eat(b':') {
        return Err("time zone must be hh:mm");
    }
    let m = c.digits(2).ok_or("time zone must be hh:mm")?;
    if m > 59 || h > 14 || (h == 14 && m != 0) {
        return Err("time zone offset out of range");
    }
    Ok(())
}

fn check_date(s: &str) -> Result<(), &'static str> {
    let mut c = Cursor {
        b: s.as_bytes(),
        i: 0,
    };
    date_part(&mut c)?;
    if !c.done() {
        return Err("a date is YYYY, YYYY-MM or YYYY-MM-DD");
    }
    Ok(())
}

fn check_date_time(s: &str) -> Result<(), &'static str> {
    let mut c = Cursor {
        b: s.as_bytes(),
        i: 0,
    };
    let parts = date_part(&mut c)?;
    if c.done() {
        return Ok(());
    }
    if parts != 3 || !c.eat(b'T') {
        return Err("a dateTime is YYYY, YYYY-MM, YYYY-MM-DD or YYYY-MM-DDThh:mm:ss+zz:zz");
    }
    time_part(&mut c)?;
    zone_part(&mut c)?;
    if !c.done() {
        return Err("unexpected text after the time zone");
    }
    Ok(())
}

fn check_instant(s: &str) -> Result<(), &'static str> {
    let mut c = Cursor {
        b: s.as_bytes(),
        i: 0,
    };
    if date_part(&mut c)? != 3 || !c.eat(b'T') {
        return Err("an instant is YYYY-MM-DDThh:mm:ss(.sss)(Z|+hh:mm)");
    }
    time_part(&mut c)?;
    zone_part(&mut c)?;
    if !c.done() {
        return Err("unexpected text after the time zone");
    }
    Ok(())
}

fn check_time(s: &str) -> Result<(), &'static str> {
    let mut c = Cursor {
        b: s.as_bytes(),
        i: 0,
    };
    time_part(&mut c)?;
    if !c.done() {
        return Err("a time is hh:mm:ss(.sss), without a time zone");
    }
    Ok(())
}

/// `date`: `YYYY`, `YYYY-MM` or `YYYY-MM-DD`, a real calendar date.
pub fn is_date(s: &str) -> bool {
    check_date(s).is_ok()
}

/// `dateTime`: a partial date, or a full date with `Thh:mm:ss(.f)` and a time zone.
pub fn is_date_time(s: &str) -> bool {
    check_date_time(s).is_ok()
}

/// `instant`: full date, time with seconds, and a time zone.
pub fn is_instant(s: &str) -> bool {
    check_instant(s).is_ok()
}

/// `time`: `hh:mm:ss(.f)`, no time zone.
pub fn is_time(s: &str) -> bool {
    check_time(s).is_ok()
}
