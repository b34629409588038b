//! The lexical rules of the R4 primitive types, as a client sending values sees them.

use hutong_fhir::primitive::{self, check, PrimitiveError};
use serde_json::{json, Value};

fn ok(type_code: &str, v: Value) -> bool {
    check(type_code, &v).is_ok()
}

#[test]
fn dates_must_exist_in_the_calendar() {
    for good in [
        "2024",
        "2024-02",
        "2024-02-29",
        "2000-02-29",
        "0001-01-01",
        "1999-12-31",
    ] {
        assert!(primitive::is_date(good), "{good}");
    }
    for bad in [
        "2023-02-29",
        "1900-02-29",
        "2024-02-30",
        "2024-04-31",
        "2024-13",
        "2024-00",
        "0000",
        "24",
        "2024-1-01",
        "2024-01-01T10:00:00Z",
        "",
    ] {
        assert!(!primitive::is_date(bad), "{bad}");
    }
}

#[test]
fn date_time_requires_a_zone_when_a_time_is_given() {
    for good in [
        "2024",
        "2024-05",
        "2024-05-06",
        "2024-05-06T10:11:12Z",
        "2024-05-06T10:11:12.345+08:00",
        "2016-12-31T23:59:60Z",
        "2024-05-06T00:00:00-14:00",
    ] {
        assert!(primitive::is_date_time(good), "{good}");
    }
    for bad in [
        "2024-05-06T10:11:12",
        "2024-05-06T10:11Z",
        "2024-05-06T24:00:00Z",
        "2024-05-06T10:11:12+15:00",
        "2024-05T10:11:12Z",
        "2024-05-06 10:11:12Z",
        "2024-05-06T10:11:12.Z",
        "2024-02-30T10:00:00Z",
    ] {
        assert!(!primitive::is_date_time(bad), "{bad}");
    }
}

#[test]
fn instant_requires_full_date_seconds_and_zone() {
    assert!(primitive::is_instant("2015-02-07T13:28:17.239+02:00"));
    assert!(primitive::is_instant("2015-02-07T13:28:17Z"));
    for bad in [
        "2015-02-07",
        "2015-02-07T13:28Z",
        "2015-02-07T13:28:17",
        "2015-02T13:28:17Z",
    ] {
        assert!(!primitive::is_instant(bad), "{bad}");
    }
}

#[test]
fn time_has_no_zone() {
    assert!(primitive::is_time("09:30:00"));
    assert!(primitive::is_time("23:59:59.999"));
    for bad in ["9:30:00", "09:30", "09:30:00Z", "24:00:00", "09:60:00"] {
        assert!(!primitive::is_time(bad), "{bad}");
    }
}

#[test]
fn integers_are_32_bit_json_integers() {
    assert!(ok("integer", json!(-2147483648_i64)));
    assert!(ok("integer", json!(2147483647)));
    assert!(!ok("integer", json!(2147483648_i64)));
    assert!(!ok("integer", json!(-2147483649_i64)));
    assert!(!ok("integer", json!(1.5)));
    assert!(!ok("integer", json!("1")));
    let text: Value = serde_json::from_str("[1.0, 1e2, 100]").unwrap();
    assert!(!ok("integer", text[0].clone()));
    assert!(!ok("integer", text[1].clone()));
    assert!(ok("integer", text[2].clone()));
}

#[test]
fn positive_and_unsigned_int_bounds() {
    assert!(ok("positiveInt", json!(1)));
    assert!(!ok("positiveInt", json!(0)));
    assert!(ok("unsignedInt", json!(0)));
    assert!(!ok("unsignedInt", json!(-1)));
}

#[test]
fn decimal_is_any_json_number_keeping_its_text() {
    let v: Value = serde_json::from_str("[1.50, -0.0, 1e-3, 12345678901234567890.123]").unwrap();
    for d in v.as_array().unwrap() {
        assert!(ok("decimal", d.clone()), "{d}");
    }
    assert!(!ok("decimal", json!("1.5")));
    assert!(matches!(
        check("decimal", &json!(true)),
        Err(PrimitiveError::JsonKind { .. })
    ));
}

#[test]
fn boolean_is_a_json_boolean() {
    assert!(ok("boolean", json!(false)));
    assert!(!ok("boolean", json!("true")));
}

#[test]
fn strings_need_a_non_whitespace_character_and_at_most_one_megabyte() {
    assert!(ok("string", json!(" a ")));
    assert!(ok("markdown", json!("**b**\n")));
    assert!(!ok("string", json!("")));
    assert!(!ok("string", json!("  \n\t")));
    assert!(!ok(
        "string",
        json!("x".repeat(primitive::MAX_STRING_BYTES + 1))
    ));
}

#[test]
fn code_is_tokens_separated_by_single_spaces() {
    assert!(primitive::is_code("male"));
    assert!(primitive::is_code("a b c"));
    for bad in ["", " a", "a ", "a  b", "a\tb", "a\u{a0}"] {
        assert!(!primitive::is_code(bad), "{bad:?}");
    }
}

#[test]
fn id_uri_oid_uuid_formats() {
    assert!(primitive::is_id("a-B.9"));
    assert!(!primitive::is_id(&"a".repeat(65)));
    assert!(!primitive::is_id("a_b"));
    assert!(primitive::is_uri("http://example.org/x?y=1"));
    assert!(!primitive::is_uri("http://example.org/a b"));
    assert!(!primitive::is_uri(""));
    assert!(primitive::is_oid("urn:oid:2.16.156.10011.1.3"));
    assert!(primitive::is_oid("urn:oid:1.0"));
    for bad in [
        "urn:oid:3.1",
        "urn:oid:1",
        "urn:oid:1.01",
        "urn:oid:1..2",
        "2.16.156",
        "urn:oid:1.2.",
    ] {
        assert!(!primitive::is_oid(bad), "{bad}");
    }
    assert!(primitive::is_uuid(
        "urn:uuid:c757873d-ec9a-4326-a141-556f43239520"
    ));
    assert!(primitive::is_uuid(
        "urn:uuid:C757873D-EC9A-4326-A141-556F43239520"
    ));
    for bad in [
        "c757873d-ec9a-4326-a141-556f43239520",
        "urn:uuid:c757873d-ec9a-4326-a141-556f4323952",
        "urn:uuid:g757873d-ec9a-4326-a141-556f43239520",
    ] {
        assert!(!primitive::is_uuid(bad), "{bad}");
    }
}

#[test]
fn base64_alphabet_and_padding() {
    for good in ["SGVsbG8=", "SGVsbA==", "SGVs", "SGVs\nbG8h", "a+/="] {
        assert!(primitive::is_base64_binary(good), "{good}");
    }
    for bad in ["SGVsbG8", "SGVsbG8*", "SG=sbG8=", "S===", "", "===="] {
        assert!(!primitive::is_base64_binary(bad), "{bad}");
    }
}

#[test]
fn xhtml_is_a_div() {
    assert!(primitive::is_xhtml(
        "<div xmlns=\"http://www.w3.org/1999/xhtml\">x</div>"
    ));
    assert!(primitive::is_xhtml("<div>x</div>"));
    assert!(!primitive::is_xhtml("<p>x</p>"));
    assert!(!primitive::is_xhtml("<divx>"));
    assert!(!primitive::is_xhtml("x"));
}

#[test]
fn unknown_primitive_type_is_an_error() {
    assert!(matches!(
        check("HumanName", &json!("x")),
        Err(PrimitiveError::UnknownType(_))
    ));
}
