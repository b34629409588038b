//! The golden record: a FHIR `Person` whose `link`s are the Patients of one resident
//! (as HAPI FHIR MDM keeps it), tagged `http://hutong.example/fhir/mdm|GOLDEN_RECORD`.
//!
//! Assurance of a link (R4 valueset-identity-assuranceLevel): `level4` for equal valid
//! citizen ID numbers and for links decided by a human, `level3` for an automatic
//! probabilistic link or a Patient founding its own Person. Review candidates
//! (`level2`) are never linked: they wait in the review queue.
//!
//! **Survivorship.** The golden record's demographics are recomputed from its member
//! Patients whenever its links change ([`survive`]), so a typing slip in the first
//! registration does not stay in the golden record once a better one joins:
//! - name: the newest member whose citizen ID number is valid (the name was checked
//!   against the document at registration), else the newest member with a name;
//! - gender and birth date: as encoded in a valid citizen ID number (GB 11643 carries
//!   both), else the newest member that declares them;
//! - telecom: every distinct contact point of the members, newest member first;
//! - address: the newest member that has one (residents move).
//!
//! "Newest" is `meta.lastUpdated`. A member merged away (`replaced-by`) does not take
//! part while another member does: the merge wrote it last, yet it is the record that
//! was retired. No identifier is ever copied, so the citizen ID number is not
//! duplicated into the golden record.
use super::registration::{citizen_id, replaced_by};
use hutong_mpi::{CitizenId, Sex};
use serde_json::{json, Value};

/// Tag system of master-data-management resources.
pub const MDM_SYSTEM: &str = "http://hutong.example/fhir/mdm";
/// Tag code of a golden record.
pub const GOLDEN_RECORD: &str = "GOLDEN_RECORD";

/// A new golden record for `patient` (demographics copied: name, gender, birth date;
/// never an identifier, so the citizen ID number is not duplicated).
pub fn new_person(id: &str, patient: Option<&Value>) -> Value {
    let mut person = json!({
        "resourceType": "Person",
        "id": id,
        "meta": { "tag": [{ "system": MDM_SYSTEM, "code": GOLDEN_RECORD, "display": "Golden record" }] },
        "active": true,
    });
    if let Some(p) = patient {
        if let Some(name) = p["name"].as_array().filter(|n| !n.is_empty()) {
            person["name"] = Value::Array(name.clone());
        }
        for field in ["gender", "birthDate"] {
            if let Some(v) = p.get(field).filter(|v| v.is_string()) {
                person[field] = v.clone();
            }
        }
    }
    person["link"] = json!([]);
    person
}

/// Links `target` (`Patient/x` or `Person/y`) with `assurance`, replacing an earlier
/// link to the same target; the Person becomes active.
pub fn add_link(person: &mut Value, target: &str, assurance: &str) {
    remove_link(person, target);
    if !person["link"].is_array() {
        person["link"] = json!([]);
    }
    if let Some(links) = person["link"].as_array_mut() {
        links.push(json!({ "target": { "reference": target }, "assurance": assurance }));
    }
    person["active"] = Value::Bool(true);
}

/// Removes the link to `target`; returns the number of Patient links left. A Person
/// left without Patients becomes inactive (it stays readable: its history is the audit
/// of what it held).
pub fn remove_link(person: &mut Value, target: &str) -> usize {
    let Some(links) = person.get_mut("link").and_then(Value::as_array_mut) else {
        return 0;
    };
    links.retain(|l| l["target"]["reference"] != target);
    let patients = links
        .iter()
        .filter(|l| {
            l["target"]["reference"]
                .as_str()
                .is_some_and(|r| r.starts_with("Patient/"))
        })
        .count();
    if links.is_empty() {
        if let Some(obj) = person.as_object_mut() {
            obj.remove("link");
        }
    }
    if patients == 0 {
        person["active"] = Value::Bool(false);
    }
    patients
}

/// Assurance level of an automatic or manual link.
pub fn assurance(kind: hutong_store::LinkKind) -> &'static str {
    use hutong_store::LinkKind::*;
    match kind {
        Deterministic | Manual | Merged => "level4",
        Probabilistic | NewPerson => "level3",
    }
}

fn non_empty<'a>(v: &'a Value, field: &str) -> Option<&'a Value> {
    v.get(field).filter(|x| match x {
        Value::Array(a) => !a.is_empty(),
        Value::String(s) => !s.trim().is_empty(),
        Value::Null => false,
        _ => true,
    })
}

/// Sets the golden record's name, gender, birth date, telecom and address from its
/// member Patients by the survivorship rules of this module. With no members, the
/// record is left as it is (an emptied golden record keeps what it last held).
pub fn survive(person: &mut Value, members: &[&Value]) {
    if members.is_empty() || !person.is_object() {
        return;
    }
    let current: Vec<&Value> = members
        .iter()
        .copied()
        .filter(|m| replaced_by(m).is_none())
        .collect();
    let members = if current.is_empty() {
        members
    } else {
        &current
    };
    let mut newest: Vec<(&Value, Option<CitizenId>)> =
        members.iter().map(|m| (*m, citizen_id(m))).collect();
    // Newest first; ties (same instant) by id, so the outcome does not depend on order.
    newest.sort_by(|(a, _), (b, _)| {
        let key = |v: &Value| {
            (
                v["meta"]["lastUpdated"].as_str().unwrap_or("").to_owned(),
                v["id"].as_str().unwrap_or("").to_owned(),
            )
        };
        key(b).cmp(&key(a))
    });
    let verified = newest.iter().find(|(_, id)| id.is_some());
    let set = |person: &mut Value, field: &str, value: Option<Value>| match value {
        Some(v) => person[field] = v,
        None => {
            if let Some(o) = person.as_object_mut() {
                o.remove(field);
            }
        }
    };
    let name = verified
        .and_then(|(m, _)| non_empty(m, "name"))
        .or_else(|| newest.iter().find_map(|(m, _)| non_empty(m, "name")))
        .cloned();
    set(person, "name", name);
    let gender = match verified {
        Some((_, Some(id))) => Some(json!(match id.sex() {
            Sex::Male => "male",
            Sex::Female => "female",
        })),
        _ => newest
            .iter()
            .find_map(|(m, _)| non_empty(m, "gender"))
            .cloned(),
    };
    set(person, "gender", gender);
    let birth = match verified {
        Some((_, Some(id))) => Some(json!(id.birth_date().to_string())),
        _ => newest
            .iter()
            .find_map(|(m, _)| non_empty(m, "birthDate"))
            .cloned(),
    };
    set(person, "birthDate", birth);
    let mut seen = std::collections::HashSet::new();
    let telecom: Vec<Value> = newest
        .iter()
        .flat_map(|(m, _)| m["telecom"].as_array().into_iter().flatten())
        .filter(|t| {
            let value = t["value"].as_str().unwrap_or("");
            let key = if t["system"] == "phone" {
                hutong_mpi::phone::normalize_phone(value).unwrap_or_else(|| value.trim().to_owned())
            } else {
                value.trim().to_lowercase()
            };
            !key.is_empty() && seen.insert((t["system"].as_str().unwrap_or("").to_owned(), key))
        })
        .cloned()
        .collect();
    set(
        person,
        "telecom",
        (!telecom.is_empty()).then_some(Value::Array(telecom)),
    );
    let address = newest
        .iter()
        .find_map(|(m, _)| non_empty(m, "address"))
        .cloned();
    set(person, "address", address);
}

#[cfg(test)]
mod tests {
    use super::*;
    use hutong_mpi::input::CITIZEN_ID_SYSTEM;

    fn patient(id: &str, updated: &str, extra: Value) -> Value {
        let mut p = json!({
            "resourceType": "Patient", "id": id,
            "meta": { "lastUpdated": updated },
        });
        for (k, v) in extra.as_object().unwrap() {
            p[k] = v.clone();
        }
        p
    }

    // 11010519491231002X: a valid number (female, born 1949-12-31).
    const ID: &str = "11010519491231002X";

    #[test]
    fn the_verified_registration_names_the_golden_record() {
        let typo = patient(
            "a",
            "2026-03-01T00:00:00Z",
            json!({ "name": [{ "text": "张玮" }], "gender": "male", "birthDate": "1949-12-30",
                    "telecom": [{ "system": "phone", "value": "138 0013 8000" }],
                    "address": [{ "text": "新地址" }] }),
        );
        let verified = patient(
            "b",
            "2026-01-01T00:00:00Z",
            json!({ "name": [{ "text": "张伟" }],
                    "identifier": [{ "system": CITIZEN_ID_SYSTEM, "value": ID }],
                    "telecom": [{ "system": "phone", "value": "+86 13800138000" },
                                { "system": "phone", "value": "13900139000" }],
                    "address": [{ "text": "旧地址" }] }),
        );
        let mut person = new_person("p", Some(&typo));
        survive(&mut person, &[&typo, &verified]);
        assert_eq!(person["name"], json!([{ "text": "张伟" }]));
        // The number encodes sex and birth date; it overrides the declared ones.
        assert_eq!(person["gender"], "female");
        assert_eq!(person["birthDate"], "1949-12-31");
        // Same number in two spellings counts once; newest member first.
        assert_eq!(
            person["telecom"],
            json!([{ "system": "phone", "value": "138 0013 8000" },
                   { "system": "phone", "value": "13900139000" }])
        );
        assert_eq!(person["address"], json!([{ "text": "新地址" }]));
        assert!(person.get("identifier").is_none());
        assert!(!person.to_string().contains(ID));
        // Member order does not matter.
        let mut again = new_person("p", None);
        survive(&mut again, &[&verified, &typo]);
        assert_eq!(again, person);
    }

    #[test]
    fn a_merged_away_member_does_not_name_the_golden_record() {
        let kept = patient(
            "a",
            "2025-01-01T00:00:00Z",
            json!({ "name": [{ "text": "王芳" }] }),
        );
        let retired = patient(
            "b",
            "2026-01-01T00:00:00Z",
            json!({ "name": [{ "text": "王方" }], "active": false,
                    "link": [{ "type": "replaced-by", "other": { "reference": "Patient/a" } }] }),
        );
        let mut person = new_person("p", None);
        survive(&mut person, &[&kept, &retired]);
        assert_eq!(person["name"], json!([{ "text": "王芳" }]));
        // Only merged-away members left: they still describe the resident.
        survive(&mut person, &[&retired]);
        assert_eq!(person["name"], json!([{ "text": "王方" }]));
    }

    #[test]
    fn without_a_verified_member_the_newest_wins_and_absent_fields_go() {
        let old = patient(
            "a",
            "2025-01-01T00:00:00Z",
            json!({ "name": [{ "text": "李娜" }], "gender": "female", "birthDate": "1990" }),
        );
        let new = patient(
            "b",
            "2026-01-01T00:00:00Z",
            json!({ "name": [{ "text": "李娜娜" }] }),
        );
        let mut person = new_person("p", Some(&old));
        person["address"] = json!([{ "text": "left over" }]);
        survive(&mut person, &[&old, &new]);
        assert_eq!(person["name"], json!([{ "text": "李娜娜" }]));
        assert_eq!(person["gender"], "female");
        assert_eq!(person["birthDate"], "1990");
        assert!(person.get("address").is_none());
        assert_eq!(person["meta"]["tag"][0]["code"], GOLDEN_RECORD);
        // No members: unchanged.
        let before = person.clone();
        survive(&mut person, &[]);
        assert_eq!(person, before);
    }
}
