//! Citizen ID rules, normalisation and consistency checks as a caller sees them.

use hutong_mpi::citizen_id::{check_consistency, Inconsistency};
use hutong_mpi::name::{initials, normalize_name, pinyin_readings};
use hutong_mpi::phone::normalize_phone;
use hutong_mpi::{CitizenId, CitizenIdError, PartialDate, Sex};

#[test]
fn standard_test_vectors_validate() {
    for id in [
        "11010519491231002X",
        "11010020171225006X",
        "632123198209270518",
        "511702198002221308",
    ] {
        assert!(CitizenId::parse(id).is_ok(), "{id} should be valid");
    }
}

#[test]
fn mistyped_check_digit_is_rejected_with_reason() {
    let err = CitizenId::parse("420106201101011919").unwrap_err();
    assert_eq!(
        err,
        CitizenIdError::CheckDigit {
            found: '9',
            expected: '7'
        }
    );
    assert!(err.to_string().contains("mistyped"));
}

#[test]
fn unknown_region_is_rejected_with_reason() {
    let err = CitizenId::parse("99010519491231002X").unwrap_err();
    assert!(
        matches!(err, CitizenIdError::Region(ref r) if r == "990105"),
        "{err}"
    );
}

#[test]
fn impossible_birth_date_is_rejected_with_reason() {
    // 1949-02-30 does not exist.
    let err = CitizenId::parse("110105194902300021").unwrap_err();
    assert!(matches!(err, CitizenIdError::BirthDate(_)), "{err}");
}

#[test]
fn wrong_length_and_letters_are_rejected_with_reason() {
    assert_eq!(
        CitizenId::parse("1101051949").unwrap_err(),
        CitizenIdError::Length(10)
    );
    assert_eq!(
        CitizenId::parse("1101X5194912310021").unwrap_err(),
        CitizenIdError::Character { position: 5 }
    );
}

#[test]
fn fifteen_digit_id_upgrades_to_eighteen() {
    // 110105491231002 → 11010519491231002X (the 1989 form of the standard's vector).
    let id = CitizenId::parse("110105491231002").expect("legacy number upgrades");
    assert_eq!(id.as_str(), "11010519491231002X");
}

#[test]
fn sex_and_birth_date_come_from_the_number() {
    let id = CitizenId::parse("11010519491231002X").unwrap();
    assert_eq!(id.sex(), Sex::Female);
    assert_eq!(id.birth_date().to_string(), "1949-12-31");
    assert_eq!(id.region_code(), 110105);
    assert_eq!(
        CitizenId::parse("632123198209270518").unwrap().sex(),
        Sex::Male
    );
}

#[test]
fn id_number_is_masked_when_displayed_or_debugged() {
    let id = CitizenId::parse("11010519491231002X").unwrap();
    assert_eq!(id.to_string(), "110105********002X");
    assert!(!format!("{id:?}").contains("19491231"));
}

#[test]
fn declared_sex_and_birth_date_are_checked_against_the_number() {
    let id = CitizenId::parse("11010519491231002X").unwrap();
    assert!(check_consistency(
        &id,
        Some(Sex::Female),
        Some(&PartialDate::parse("1949-12-31").unwrap())
    )
    .is_empty());
    // A partial date consistent to its precision is fine.
    assert!(check_consistency(&id, None, Some(&PartialDate::parse("1949-12").unwrap())).is_empty());
    let bad = check_consistency(
        &id,
        Some(Sex::Male),
        Some(&PartialDate::parse("1950-01-01").unwrap()),
    );
    assert_eq!(bad.len(), 2);
    assert!(matches!(
        bad[0],
        Inconsistency::Sex {
            declared: Sex::Male,
            in_id: Sex::Female
        }
    ));
}

#[test]
fn full_width_and_traditional_names_normalise_to_simplified() {
    assert_eq!(normalize_name("  張偉 "), "张伟");
    assert_eq!(normalize_name("ＺＨＡＮＧ　Ｗｅｉ"), "zhang wei");
    assert_eq!(normalize_name("阿卜杜·热合曼"), "阿卜杜热合曼");
}

#[test]
fn heteronym_surnames_keep_their_surname_readings() {
    assert_eq!(pinyin_readings("单", true)[0], "shan");
    assert_eq!(pinyin_readings("曾", true)[0], "zeng");
    assert_eq!(pinyin_readings("解", true)[0], "xie");
    // As a given-name character every reading is kept.
    let r = pinyin_readings("单", false);
    assert!(r.contains(&"dan".to_string()) && r.contains(&"shan".to_string()));
    assert_eq!(initials("张伟", true), "zw");
}

#[test]
fn phone_numbers_lose_country_code_and_separators() {
    assert_eq!(
        normalize_phone("+86 138-0013-8000").as_deref(),
        Some("13800138000")
    );
    assert_eq!(
        normalize_phone("0086 13800138000").as_deref(),
        Some("13800138000")
    );
    assert_eq!(
        normalize_phone("１３８００１３８０００").as_deref(),
        Some("13800138000")
    );
    assert_eq!(normalize_phone("12"), None);
}

#[test]
fn dates_keep_their_precision() {
    assert_eq!(
        PartialDate::parse("1980").unwrap(),
        PartialDate::Year { year: 1980 }
    );
    assert_eq!(
        PartialDate::parse("1980年3月").unwrap(),
        PartialDate::Month {
            year: 1980,
            month: 3
        }
    );
    assert_eq!(
        PartialDate::parse("19800307").unwrap().to_string(),
        "1980-03-07"
    );
    assert!(PartialDate::parse("1980-02-30").is_err());
    assert!(PartialDate::parse("garbage").is_err());
}

#[test]
fn addresses_resolve_to_division_codes() {
    assert_eq!(
        hutong_mpi::divisions::parse_address("北京市朝阳区建国路88号"),
        Some(110105)
    );
}

#[test]
fn other_documents_keep_their_ws364_type() {
    use hutong_mpi::document::{DocumentType, IdentityDocument};
    let d = IdentityDocument::new(DocumentType::from_code("03").unwrap(), " e1234-5678 ").unwrap();
    assert_eq!(d.kind, DocumentType::Passport);
    assert_eq!(d.number(), "E12345678");
    assert!(!format!("{d:?}").contains("12345678"));
}
