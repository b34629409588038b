//! Behaviour of the generated region as its users (import, tests, the MPI) see it.

use hutong_synth::idnumber::{id_check_char, is_valid_id_number, is_valid_uscc};
use hutong_synth::output::{write_dir, Format};
use hutong_synth::person::RegistrationError;
use hutong_synth::{demo_bundles, transaction_bundle, BundleMode, Config, ErrorRates, Region};
use serde_json::Value;
use std::collections::{HashMap, HashSet};
use std::path::Path;

fn region(residents: u64, seed: u64) -> Region {
    Region::new(Config {
        residents,
        seed,
        ..Config::default()
    })
    .expect("default city exists")
}

fn temp_dir(tag: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("hutong-synth-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

fn read_tree(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).expect("read dir") {
            let p = e.expect("entry").path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let rel = p.strip_prefix(dir).expect("inside").display().to_string();
                out.push((rel, std::fs::read(&p).expect("read file")));
            }
        }
    }
    out.sort();
    out
}

#[test]
fn the_same_seed_writes_byte_identical_directories_and_another_seed_does_not() {
    for format in [Format::Bundles, Format::Ndjson] {
        let a = temp_dir("det-a");
        let b = temp_dir("det-b");
        let c = temp_dir("det-c");
        write_dir(&region(40, 7), &a, format, |_| {}).expect("write a");
        write_dir(&region(40, 7), &b, format, |_| {}).expect("write b");
        write_dir(&region(40, 8), &c, format, |_| {}).expect("write c");
        let (ta, tb, tc) = (read_tree(&a), read_tree(&b), read_tree(&c));
        assert!(ta.len() > 3);
        assert_eq!(ta, tb, "{format:?}: same seed, same bytes");
        assert_ne!(ta, tc, "{format:?}: another seed, other data");
        for d in [a, b, c] {
            let _ = std::fs::remove_dir_all(d);
        }
    }
}

#[test]
fn residents_do_not_depend_on_generation_order() {
    let r = region(30, 3);
    let forward: Vec<Value> = r.residents().flat_map(|x| x.resources).collect();
    let mut backward: Vec<Vec<Value>> = (0..30).rev().map(|i| r.resident(i).resources).collect();
    backward.reverse();
    assert_eq!(forward, backward.into_iter().flatten().collect::<Vec<_>>());
}

#[test]
fn every_generated_resource_is_valid_r4() {
    let r = region(150, 11);
    let mut all = r.reference_resources();
    all.extend(r.residents().flat_map(|x| x.resources));
    let mut types: HashSet<String> = HashSet::new();
    for res in &all {
        if let Err(issues) = hutong_fhir::validate::validate_resource(res) {
            panic!(
                "invalid {}: {issues:?}",
                serde_json::to_string(res).unwrap_or_default()
            );
        }
        types.insert(res["resourceType"].as_str().unwrap_or("").to_owned());
    }
    for t in [
        "Organization",
        "Location",
        "Practitioner",
        "PractitionerRole",
        "CareTeam",
        "Patient",
        "Encounter",
        "Condition",
        "Observation",
        "DiagnosticReport",
        "ImagingStudy",
        "MedicationRequest",
        "Immunization",
        "DocumentReference",
    ] {
        assert!(types.contains(t), "no {t} generated");
    }
    // And the Bundles around them, in both forms.
    let resident = r.resident(0);
    for mode in [BundleMode::Put, BundleMode::Post { salt: 9 }] {
        let b = transaction_bundle(&resident.resources, mode);
        assert!(
            hutong_fhir::validate::validate_resource(&b).is_ok(),
            "{mode:?}"
        );
    }
}

fn references(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(o) => {
            for (k, c) in o {
                match (k.as_str(), c) {
                    ("reference", Value::String(s)) => out.push(s.clone()),
                    _ => references(c, out),
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|c| references(c, out)),
        _ => {}
    }
}

#[test]
fn every_reference_resolves_within_the_output() {
    let r = region(120, 5);
    let mut all = r.reference_resources();
    all.extend(r.residents().flat_map(|x| x.resources));
    let ids: HashSet<String> = all
        .iter()
        .map(|x| {
            format!(
                "{}/{}",
                x["resourceType"].as_str().unwrap_or(""),
                x["id"].as_str().unwrap_or("")
            )
        })
        .collect();
    assert_eq!(ids.len(), all.len(), "ids are unique");
    let mut refs = Vec::new();
    for x in &all {
        references(x, &mut refs);
    }
    assert!(refs.len() > all.len());
    for reference in refs {
        assert!(ids.contains(&reference), "dangling reference {reference}");
    }
}

#[test]
fn post_bundles_point_inside_themselves_with_urns_and_differ_by_salt() {
    let r = region(5, 2);
    let res = r.resident(1).resources;
    let a = transaction_bundle(&res, BundleMode::Post { salt: 1 });
    let b = transaction_bundle(&res, BundleMode::Post { salt: 2 });
    assert_ne!(a, b);
    let urns: HashSet<&str> = a["entry"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| e["fullUrl"].as_str())
        .collect();
    assert_eq!(urns.len(), res.len());
    let mut refs = Vec::new();
    references(&a, &mut refs);
    for reference in refs {
        assert!(
            urns.contains(reference.as_str())
                || reference.starts_with("Organization/")
                || reference.starts_with("Practitioner/")
                || reference.starts_with("Location/"),
            "{reference}"
        );
        assert!(
            !reference.starts_with("Patient/") && !reference.starts_with("Encounter/"),
            "{reference}"
        );
    }
}

#[test]
fn clean_registrations_carry_valid_id_numbers_consistent_with_sex_and_birth_date() {
    let r = region(400, 13);
    let counties: HashSet<&str> = hutong_synth::tables::divisions()
        .iter()
        .filter(|d| d.level == "county")
        .map(|d| d.code)
        .collect();
    let mut checked = 0;
    for resident in r.residents() {
        let p = &resident.person;
        assert!(is_valid_id_number(&p.id_number), "{}", p.id_number);
        assert!(
            counties.contains(&p.id_number[..6]),
            "region code {}",
            p.id_number
        );
        assert_eq!(&p.id_number[6..14], p.birth.compact());
        let sex_digit = p.id_number.as_bytes()[16] - b'0';
        assert_eq!(sex_digit % 2 == 1, p.male);
        for reg in &resident.registrations {
            let id_errors = reg.errors.iter().any(|e| {
                matches!(
                    e,
                    RegistrationError::IdDigit
                        | RegistrationError::IdTransposition
                        | RegistrationError::IdMissing
                        | RegistrationError::IdLegacy15
                )
            });
            if !id_errors {
                assert_eq!(reg.id_number.as_deref(), Some(p.id_number.as_str()));
                checked += 1;
            } else if reg.errors.contains(&RegistrationError::IdLegacy15) {
                let old = reg.id_number.as_deref().unwrap_or("");
                assert_eq!(old.len(), 15);
                let upgraded = format!("{}19{}", &old[..6], &old[6..]);
                assert_eq!(
                    format!("{upgraded}{}", id_check_char(&upgraded).unwrap_or('?')),
                    p.id_number
                );
            } else if reg.errors.contains(&RegistrationError::IdDigit)
                || reg.errors.contains(&RegistrationError::IdTransposition)
            {
                assert_ne!(reg.id_number.as_deref(), Some(p.id_number.as_str()));
            }
        }
    }
    assert!(checked > 400);
}

#[test]
fn institutions_carry_valid_credit_codes_in_realistic_proportions() {
    let r = region(20_000, 1);
    let orgs = r.reference_resources();
    let mut kinds: HashMap<String, usize> = HashMap::new();
    for o in orgs.iter().filter(|o| o["resourceType"] == "Organization") {
        let code = o["identifier"][0]["value"].as_str().unwrap_or("");
        assert!(is_valid_uscc(code), "{code}");
        *kinds
            .entry(
                o["type"][0]["coding"][0]["code"]
                    .as_str()
                    .unwrap_or("")
                    .to_owned(),
            )
            .or_default() += 1;
    }
    let grassroots =
        kinds.get("B100").copied().unwrap_or(0) + kinds.get("C220").copied().unwrap_or(0);
    assert!(grassroots >= 5, "{kinds:?}");
    assert!(kinds.get("A100").copied().unwrap_or(0) >= 3, "{kinds:?}");
    assert_eq!(kinds.get("J100"), Some(&1));
    assert_eq!(kinds.get("G100"), Some(&1));
    assert!(kinds.contains_key("P120"));
    assert!(orgs.iter().any(|o| o["resourceType"] == "CareTeam"));
}

#[test]
fn ground_truth_and_registrations_csv_describe_the_same_patients() {
    let dir = temp_dir("truth");
    let r = region(200, 21);
    let summary = write_dir(&r, &dir, Format::Ndjson, |_| {}).expect("write");
    let truth = std::fs::read_to_string(dir.join("ground-truth.csv")).expect("truth");
    let regs = std::fs::read_to_string(dir.join("registrations.csv")).expect("regs");
    let patients = std::fs::read_to_string(dir.join("Patient.ndjson")).expect("patients");
    let mut lines = truth.lines();
    assert_eq!(lines.next(), Some("institution,patient_id,person_id"));
    let truth_rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    let mut reg_lines = regs.lines();
    assert_eq!(
        reg_lines.next(),
        Some("record_id,name,sex,dob,id_number,phone,address")
    );
    let reg_ids: Vec<&str> = reg_lines
        .map(|l| l.split(',').next().unwrap_or(""))
        .collect();
    assert_eq!(truth_rows.len() as u64, summary.registrations);
    assert_eq!(reg_ids, truth_rows.iter().map(|r| r[1]).collect::<Vec<_>>());
    let patient_owner: HashMap<String, String> = patients
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).expect("json"))
        .map(|p| {
            (
                p["id"].as_str().unwrap_or("").to_owned(),
                p["managingOrganization"]["reference"]
                    .as_str()
                    .unwrap_or("")
                    .to_owned(),
            )
        })
        .collect();
    assert_eq!(patient_owner.len(), truth_rows.len());
    let mut persons = HashSet::new();
    for row in &truth_rows {
        assert_eq!(
            patient_owner.get(row[1]),
            Some(&format!("Organization/{}", row[0]))
        );
        persons.insert(row[2]);
    }
    assert_eq!(persons.len(), 200);
    assert!(
        truth_rows.len() > 300,
        "people are registered at several institutions"
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn error_rates_come_out_roughly_as_configured() {
    let rates = ErrorRates {
        name: 0.2,
        id_missing: 0.1,
        phone_changed: 0.3,
        ..ErrorRates::default()
    };
    let r = Region::new(Config {
        residents: 2000,
        seed: 4,
        errors: rates.clone(),
        clinical: false,
        ..Config::default()
    })
    .expect("region");
    let (mut n, mut name, mut missing, mut phone, mut changed_names) = (0.0, 0.0, 0.0, 0.0, 0.0);
    for resident in r.residents() {
        for reg in &resident.registrations {
            n += 1.0;
            if reg.errors.contains(&RegistrationError::Name) {
                name += 1.0;
                if reg.name != resident.person.name() {
                    changed_names += 1.0;
                }
            }
            if reg.errors.contains(&RegistrationError::IdMissing) {
                missing += 1.0;
                assert!(reg.id_number.is_none());
            }
            if reg.errors.contains(&RegistrationError::PhoneChanged) {
                phone += 1.0;
            }
        }
    }
    let close = |got: f64, want: f64| (got / n - want).abs() < 0.03;
    assert!(close(name, 0.2), "name {}", name / n);
    assert!(close(missing, 0.1), "missing {}", missing / n);
    assert!(close(phone, 0.3), "phone {}", phone / n);
    assert_eq!(changed_names, name, "a name error changes the name");
    let clean = Region::new(Config {
        residents: 300,
        seed: 4,
        errors: ErrorRates::none(),
        clinical: false,
        ..Config::default()
    })
    .expect("region");
    assert!(clean
        .residents()
        .all(|x| x.registrations.iter().all(|r| r.errors.is_empty())));
}

#[test]
fn ages_sexes_surnames_and_chronic_disease_are_plausible() {
    let r = region(3000, 17);
    let as_of = r.config().as_of;
    let (mut male, mut children, mut elderly, mut wang, mut adults, mut hypertensive) =
        (0, 0, 0, 0, 0, 0);
    for resident in r.residents() {
        let p = &resident.person;
        let age = p.age_on(as_of);
        assert!((0..100).contains(&age));
        male += usize::from(p.male);
        children += usize::from(age < 15);
        elderly += usize::from(age >= 65);
        wang += usize::from(p.family == "王");
        if age >= 18 {
            adults += 1;
            let ht = resident.resources.iter().any(|x| {
                x["resourceType"] == "Condition" && x["code"]["coding"][0]["code"] == "I10"
            });
            hypertensive += usize::from(ht);
        }
    }
    let share = |x: usize, of: usize| x as f64 / of as f64;
    assert!((0.47..0.55).contains(&share(male, 3000)), "male {male}");
    assert!(
        (0.13..0.23).contains(&share(children, 3000)),
        "children {children}"
    );
    assert!(
        (0.09..0.20).contains(&share(elderly, 3000)),
        "elderly {elderly}"
    );
    assert!((0.05..0.10).contains(&share(wang, 3000)), "王 {wang}");
    assert!(
        (0.18..0.40).contains(&share(hypertensive, adults)),
        "hypertension {hypertensive}/{adults}"
    );
}

#[test]
fn demo_bundles_start_with_reference_data_and_are_transactions() {
    let bundles: Vec<Value> = demo_bundles(4, 42).collect();
    assert_eq!(bundles.len(), 5);
    assert_eq!(
        bundles[0]["entry"][0]["resource"]["resourceType"],
        "Organization"
    );
    for b in &bundles {
        assert_eq!(b["type"], "transaction");
        assert!(hutong_fhir::validate::validate_resource(b).is_ok());
    }
    assert_eq!(bundles, demo_bundles(4, 42).collect::<Vec<_>>());
}
