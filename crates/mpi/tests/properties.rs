//! Property tests (fixed seed) for the ID validator and the normalisers.

use hutong_mpi::citizen_id::check_char;
use hutong_mpi::name::{normalize_name, pinyin_readings};
use hutong_mpi::phone::normalize_phone;
use hutong_mpi::{CitizenId, Features, PartialDate, PersonRecord};
use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};

fn runner() -> TestRunner {
    TestRunner::new_with_rng(
        Config {
            cases: 512,
            ..Config::default()
        },
        TestRng::from_seed(RngAlgorithm::ChaCha, &[7; 32]),
    )
}

fn valid_id() -> impl Strategy<Value = String> {
    let regions = prop::sample::select(vec![
        110105u32, 310101, 440305, 632123, 511702, 420106, 330106,
    ]);
    (regions, 1900i32..2024, 1u8..13, 1u8..29, 0u16..1000).prop_map(|(r, y, m, d, s)| {
        let first = format!("{r:06}{y:04}{m:02}{d:02}{s:03}");
        let c = check_char(first.as_bytes());
        format!("{first}{c}")
    })
}

#[test]
fn generated_valid_ids_validate_and_one_mistyped_digit_is_detected() {
    runner()
        .run(&(valid_id(), 0usize..17, 1u8..10), |(id, pos, delta)| {
            let parsed = CitizenId::parse(&id).expect("generated id is valid");
            prop_assert_eq!(parsed.as_str(), id.as_str());
            let mut b = id.into_bytes();
            b[pos] = b'0' + (b[pos] - b'0' + delta) % 10;
            let typo = String::from_utf8(b).unwrap();
            prop_assert!(CitizenId::parse(&typo).is_err(), "typo accepted");
            Ok(())
        })
        .unwrap();
}

#[test]
fn id_parser_and_normalisers_never_panic() {
    runner()
        .run(&".{0,40}", |s| {
            let _ = CitizenId::parse(&s);
            let _ = normalize_name(&s);
            let _ = pinyin_readings(&s, true);
            let _ = normalize_phone(&s);
            let _ = PartialDate::parse(&s);
            let rec = PersonRecord {
                full_name: Some(s.clone()),
                birth_date: Some(s.clone()),
                citizen_id: Some(s.clone()),
                phone: Some(s.clone()),
                address: Some(s.clone()),
                ..Default::default()
            };
            let _ = Features::from_record(&rec);
            Ok(())
        })
        .unwrap();
}

#[test]
fn normalising_a_name_twice_changes_nothing() {
    runner()
        .run(&"[ a-zA-Z张伟張偉王芳·ＡＢ]{0,20}", |s| {
            let once = normalize_name(&s);
            prop_assert_eq!(normalize_name(&once), once);
            Ok(())
        })
        .unwrap();
}

#[test]
fn ten_megabyte_name_is_cut_not_processed() {
    let huge = "张".repeat(10 * 1024 * 1024 / 3);
    let f = Features::from_record(&PersonRecord {
        full_name: Some(huge.clone()),
        citizen_id: Some(huge),
        ..Default::default()
    });
    assert!(f.given.text.chars().count() < 100);
    assert!(f.id_issue.is_some());
}
