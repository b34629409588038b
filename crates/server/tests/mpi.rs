//! The master patient index in the server, over a real socket, on both stores:
//! write-time linking to golden records (Person), `$match`, `$ihe-pix`, unlink, merge,
//! the review queue, the link history, and what is never stored or logged in clear.
mod support;

use hutong_server::config::{Config, MpiConfig};
use hutong_store::{AccessContext, LinkQuery, LogQuery, ReviewQuery};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::sync::{Mutex, Once};
use support::TestServer;

const CITIZEN: &str = "urn:oid:2.16.156.10011.1.3";
const HOSPITAL_A: &str = "urn:oid:1.2.156.1.county-hospital.mrn";
const CLINIC_B: &str = "urn:oid:1.2.156.1.township-centre.mrn";

/// A valid 18-character citizen ID number (GB 11643-1999 check character).
fn citizen_id(region: &str, birth: &str, seq: &str) -> String {
    let body = format!("{region}{birth}{seq}");
    let weights = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
    let sum: u32 = body
        .chars()
        .zip(weights)
        .map(|(c, w)| c.to_digit(10).unwrap() * w)
        .sum();
    let check = b"10X98765432"[(sum % 11) as usize] as char;
    format!("{body}{check}")
}

/// A Patient registration as an institution sends it.
struct Registration {
    family: &'static str,
    given: &'static str,
    gender: &'static str,
    birth: &'static str,
    citizen_id: Option<String>,
    mrn: Option<(&'static str, &'static str)>,
    phone: Option<&'static str>,
    address: Option<&'static str>,
}

impl Registration {
    fn new(family: &'static str, given: &'static str, birth: &'static str) -> Self {
        Registration {
            family,
            given,
            gender: "male",
            birth,
            citizen_id: None,
            mrn: None,
            phone: None,
            address: None,
        }
    }
    fn json(&self) -> Value {
        let mut identifier = Vec::new();
        if let Some(id) = &self.citizen_id {
            identifier.push(json!({ "system": CITIZEN, "value": id }));
        }
        if let Some((system, value)) = self.mrn {
            identifier.push(json!({ "system": system, "value": value }));
        }
        let mut p = json!({
            "resourceType": "Patient",
            "name": [{ "family": self.family, "given": [self.given] }],
            "gender": self.gender,
            "birthDate": self.birth,
        });
        if !identifier.is_empty() {
            p["identifier"] = Value::Array(identifier);
        }
        if let Some(phone) = self.phone {
            p["telecom"] = json!([{ "system": "phone", "value": phone }]);
        }
        if let Some(a) = self.address {
            p["address"] = json!([{ "text": a }]);
        }
        p
    }
}

async fn register(s: &TestServer, r: &Registration) -> String {
    capture_logs();
    let a = s.post("Patient", &r.json()).await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.diagnostics());
    a.body["id"].as_str().unwrap().to_owned()
}

/// The golden record (Person) a Patient is linked to, read through the REST API.
async fn person_of(s: &TestServer, patient: &str) -> Value {
    let a = s.get(&format!("Person?patient=Patient/{patient}")).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.diagnostics());
    let entries = a.body["entry"].as_array().cloned().unwrap_or_default();
    assert_eq!(
        entries.len(),
        1,
        "Patient/{patient} must be linked to exactly one Person: {}",
        a.body
    );
    entries[0]["resource"].clone()
}

/// `Person/$mdm-unlink` of a Patient from a Person, with a reason; must succeed.
async fn unlink(s: &TestServer, patient: &str, person: &str, reason: &str) {
    let u = s
        .post(
            "Person/$mdm-unlink",
            &json!({ "resourceType": "Parameters", "parameter": [
                { "name": "patient", "valueReference": { "reference": format!("Patient/{patient}") } },
                { "name": "person", "valueReference": { "reference": format!("Person/{person}") } },
                { "name": "reason", "valueString": reason }
            ]}),
        )
        .await;
    assert_eq!(u.status, StatusCode::OK, "{}", u.diagnostics());
}

fn linked_patients(person: &Value) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = person["link"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|l| {
            let r = l["target"]["reference"].as_str()?;
            Some((
                r.strip_prefix("Patient/")?.to_owned(),
                l["assurance"].as_str().unwrap_or("").to_owned(),
            ))
        })
        .collect();
    v.sort();
    v
}

fn zhang_wei_a() -> Registration {
    let mut r = Registration::new("张", "玮", "1980-01-01");
    r.citizen_id = Some(citizen_id("330106", "19800101", "123"));
    r.mrn = Some((HOSPITAL_A, "A-0001"));
    r.phone = Some("13800138000");
    r
}

fn zhang_wei_b() -> Registration {
    let mut r = Registration::new("张", "伟", "1980-01-01");
    r.citizen_id = Some(citizen_id("330106", "19800101", "123"));
    r.mrn = Some((CLINIC_B, "B-7777"));
    r
}

async fn same_resident_at_two_institutions_has_one_golden_record(s: &TestServer) {
    let a = register(s, &zhang_wei_a()).await;
    let b = register(s, &zhang_wei_b()).await;
    let person = person_of(s, &a).await;
    assert_eq!(person_of(s, &b).await["id"], person["id"]);
    let links = linked_patients(&person);
    assert_eq!(links.len(), 2, "{person}");
    assert!(links
        .iter()
        .all(|(_, level)| level == "level4" || level == "level3"));
    assert!(
        links.iter().any(|(p, level)| p == &b && level == "level4"),
        "deterministic link is level4: {person}"
    );
    assert_eq!(person["meta"]["tag"][0]["code"], "GOLDEN_RECORD");
    assert_eq!(person["active"], true);
    // The golden record is an ordinary resource: readable by id, without ID numbers.
    let id = person["id"].as_str().unwrap();
    let read = s.get(&format!("Person/{id}")).await;
    assert_eq!(read.status, StatusCode::OK);
    assert!(!String::from_utf8_lossy(&read.raw).contains(&citizen_id("330106", "19800101", "123")));
    // An update that changes nothing about identity leaves the golden record alone.
    let version = read.body["meta"]["versionId"].clone();
    let mut upd = zhang_wei_b().json();
    upd["id"] = json!(b);
    upd["active"] = json!(true);
    let u = s.put(&format!("Patient/{b}"), &upd).await;
    assert_eq!(u.status, StatusCode::OK, "{}", u.diagnostics());
    let again = s.get(&format!("Person/{id}")).await;
    assert_eq!(
        again.body["meta"]["versionId"], version,
        "links unchanged: no new Person version"
    );
}

async fn resident_without_id_number_is_linked_by_name_birth_date_and_phone(s: &TestServer) {
    let mut a = Registration::new("李", "秀英", "1956-03-08");
    a.gender = "female";
    a.citizen_id = Some(citizen_id("330106", "19560308", "244"));
    a.mrn = Some((HOSPITAL_A, "A-0002"));
    a.phone = Some("13905710001");
    a.address = Some("浙江省杭州市西湖区文三路 100 号 3 单元 201");
    let mut c = Registration::new("李", "秀英", "1956-03-08");
    c.gender = "female";
    c.mrn = Some((CLINIC_B, "B-0002"));
    c.phone = Some("13905710001");
    c.address = Some("浙江省杭州市西湖区文三路100号3单元201");
    let a = register(s, &a).await;
    let c = register(s, &c).await;
    // Documented behaviour: same name, birth date, phone and address without an ID
    // number is an automatic probabilistic link (level3).
    let person = person_of(s, &a).await;
    assert_eq!(person_of(s, &c).await["id"], person["id"], "{person}");
    assert!(
        linked_patients(&person).contains(&(c.clone(), "level3".to_owned())),
        "{person}"
    );
    let id = person["id"].as_str().unwrap();
    let h = s.get(&format!("Person/{id}/$mdm-history")).await;
    assert_eq!(h.status, StatusCode::OK, "{}", h.diagnostics());
    let text = h.body.to_string();
    assert!(
        text.contains("auto-link") && text.contains("new-person"),
        "{text}"
    );
    assert!(
        text.contains("\"detail\""),
        "scores and field weights are logged: {text}"
    );
}

async fn homophone_surnames_born_the_same_day_are_not_linked(s: &TestServer) {
    let mut wu = Registration::new("吴", "玉", "1990-05-05");
    wu.gender = "female";
    wu.phone = Some("13700000001");
    wu.address = Some("浙江省杭州市上城区清河坊 1 号");
    let mut wu2 = Registration::new("武", "玉", "1990-05-05");
    wu2.gender = "female";
    wu2.phone = Some("13600000002");
    wu2.address = Some("浙江省宁波市海曙区中山路 8 号");
    let a = register(s, &wu).await;
    let b = register(s, &wu2).await;
    assert_ne!(person_of(s, &a).await["id"], person_of(s, &b).await["id"]);
}

async fn match_returns_scored_candidates_with_grades(s: &TestServer) {
    let a = register(s, &zhang_wei_a()).await;
    let params = json!({ "resourceType": "Parameters", "parameter": [
        { "name": "resource", "resource": zhang_wei_b().json() },
        { "name": "count", "valueInteger": 5 }
    ]});
    let m = s.post("Patient/$match", &params).await;
    assert_eq!(m.status, StatusCode::OK, "{}", m.diagnostics());
    assert_eq!(m.body["type"], "searchset");
    let e = &m.body["entry"][0];
    assert_eq!(e["resource"]["id"], json!(a));
    assert_eq!(e["search"]["mode"], "match");
    assert_eq!(e["search"]["score"], json!(1.0));
    assert_eq!(e["search"]["extension"][0]["valueCode"], "certain");
    // onlyCertainMatches drops the probable ones; a stranger has no candidates.
    let mut stranger = Registration::new("欧阳", "娜娜", "2001-09-09");
    stranger.gender = "female";
    let params = json!({ "resourceType": "Parameters", "parameter": [
        { "name": "resource", "resource": stranger.json() },
        { "name": "onlyCertainMatches", "valueBoolean": true }
    ]});
    let m = s.post("Patient/$match", &params).await;
    assert_eq!(m.status, StatusCode::OK);
    assert_eq!(m.body["total"], 0);
    // Bad input: no resource, not a Patient, an impossible date, a huge name.
    for bad in [
        json!({ "resourceType": "Parameters" }),
        json!({ "resourceType": "Parameters", "parameter": [{ "name": "resource", "resource": { "resourceType": "Observation", "status": "final", "code": { "text": "x" } } }] }),
        json!({ "resourceType": "Parameters", "parameter": [{ "name": "resource", "resource": { "resourceType": "Patient", "birthDate": "1980-02-30" } }] }),
        json!({ "resourceType": "Patient" }),
    ] {
        let r = s.post("Patient/$match", &bad).await;
        assert_eq!(
            r.status,
            StatusCode::BAD_REQUEST,
            "{bad}: {}",
            r.diagnostics()
        );
        assert_eq!(r.body["resourceType"], "OperationOutcome");
    }
    let huge = "张".repeat(3_000_000);
    let params = json!({ "resourceType": "Parameters", "parameter": [
        { "name": "resource", "resource": { "resourceType": "Patient", "name": [{ "text": huge }] } }
    ]});
    let r = s.post("Patient/$match", &params).await;
    assert!(
        r.status == StatusCode::OK || r.status.is_client_error(),
        "{}",
        r.status
    );
}

async fn pix_returns_every_identifier_of_the_person(s: &TestServer) {
    let a = register(s, &zhang_wei_a()).await;
    let b = register(s, &zhang_wei_b()).await;
    let all = s
        .get(&format!(
            "Patient/$ihe-pix?sourceIdentifier={HOSPITAL_A}|A-0001"
        ))
        .await;
    assert_eq!(all.status, StatusCode::OK, "{}", all.diagnostics());
    let text = all.body.to_string();
    assert!(text.contains("B-7777"), "{text}");
    assert!(text.contains(&format!("Patient/{b}")), "{text}");
    assert!(
        !text.contains("A-0001"),
        "the source identifier is not repeated: {text}"
    );
    let only = s
        .get(&format!(
            "Patient/$ihe-pix?sourceIdentifier={HOSPITAL_A}|A-0001&targetSystem={CLINIC_B}"
        ))
        .await;
    assert_eq!(only.status, StatusCode::OK);
    let params = only.body["parameter"].as_array().unwrap();
    let identifiers: Vec<&Value> = params
        .iter()
        .filter(|p| p["name"] == "targetIdentifier")
        .collect();
    assert_eq!(identifiers.len(), 1, "{}", only.body);
    assert_eq!(identifiers[0]["valueIdentifier"]["value"], "B-7777");
    // POST with Parameters works the same.
    let post = s
        .post("Patient/$ihe-pix", &json!({ "resourceType": "Parameters", "parameter": [
            { "name": "sourceIdentifier", "valueIdentifier": { "system": CLINIC_B, "value": "B-7777" } },
            { "name": "targetSystem", "valueUri": HOSPITAL_A }
        ]}))
        .await;
    assert_eq!(post.status, StatusCode::OK, "{}", post.diagnostics());
    assert!(post.body.to_string().contains(&format!("Patient/{a}")));
    let unknown = s
        .get(&format!(
            "Patient/$ihe-pix?sourceIdentifier={HOSPITAL_A}|nobody"
        ))
        .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    assert_eq!(unknown.body["resourceType"], "OperationOutcome");
    let malformed = s.get("Patient/$ihe-pix?sourceIdentifier=nosystem").await;
    assert_eq!(malformed.status, StatusCode::BAD_REQUEST);
}

async fn unlinked_pair_is_never_relinked_automatically(s: &TestServer) {
    let a = register(s, &zhang_wei_a()).await;
    let b = register(s, &zhang_wei_b()).await;
    let person = person_of(s, &a).await;
    let pid = person["id"].as_str().unwrap().to_owned();
    let no_reason = s
        .post(
            "Person/$mdm-unlink",
            &json!({ "resourceType": "Parameters", "parameter": [
                { "name": "patient", "valueReference": { "reference": format!("Patient/{b}") } },
                { "name": "person", "valueReference": { "reference": format!("Person/{pid}") } }
            ]}),
        )
        .await;
    assert_eq!(no_reason.status, StatusCode::BAD_REQUEST);
    unlink(s, &b, &pid, "二人共用身份证号：经核实为不同人").await;
    assert_ne!(person_of(s, &b).await["id"], json!(pid));
    // The update re-matches, but the pair stays apart.
    let mut upd = zhang_wei_b().json();
    upd["id"] = json!(b);
    upd["telecom"] = json!([{ "system": "phone", "value": "13800138000" }]);
    assert_eq!(
        s.put(&format!("Patient/{b}"), &upd).await.status,
        StatusCode::OK
    );
    assert_ne!(person_of(s, &b).await["id"], json!(pid));
    assert_eq!(linked_patients(&person_of(s, &a).await).len(), 1);
    let h = s.get(&format!("Person/{pid}/$mdm-history")).await;
    let text = h.body.to_string();
    assert!(
        text.contains("unlink") && text.contains("二人共用身份证号"),
        "{text}"
    );
    // Linking back by hand is allowed, and automatic matching then leaves it alone.
    let l = s
        .post(
            "Person/$mdm-link",
            &json!({ "resourceType": "Parameters", "parameter": [
                { "name": "patient", "valueString": format!("Patient/{b}") },
                { "name": "person", "valueString": format!("Person/{pid}") },
                { "name": "reason", "valueString": "re-verified at the counter" }
            ]}),
        )
        .await;
    assert_eq!(l.status, StatusCode::OK, "{}", l.diagnostics());
    assert_eq!(person_of(s, &b).await["id"], json!(pid));
    let bad = s
        .post(
            "Person/$mdm-link",
            &json!({ "resourceType": "Parameters", "parameter": [
                { "name": "patient", "valueString": "Patient/does-not-exist" },
                { "name": "person", "valueString": format!("Person/{pid}") },
                { "name": "reason", "valueString": "x" }
            ]}),
        )
        .await;
    assert_eq!(bad.status, StatusCode::NOT_FOUND);
}

/// A second MPI on the same database (another process, here another store) cannot start
/// while the first runs: it would link with its own in-memory index. While the lease is
/// elsewhere, a server's Patient writes still land and are linked once it gets the lease
/// back (the catch-up pass).
async fn one_process_per_database_runs_the_mpi(s: &TestServer) {
    let a = register(s, &zhang_wei_a()).await;
    let pid = person_of(s, &a).await["id"].clone();
    let other = hutong_store::open(&s.database).await.expect("second store");
    let mpi = hutong_server::mpi::Mpi::new(&MpiConfig::default()).expect("mpi");
    let refused = mpi
        .claim(other.as_ref())
        .await
        .expect_err("the lease is held");
    assert_eq!(refused.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(
        refused.summary().contains("another hutong process"),
        "{}",
        refused.summary()
    );
    // The first one goes on linking.
    let b = register(s, &zhang_wei_b()).await;
    assert_eq!(person_of(s, &b).await["id"], pid);

    // It stops; the other takes over, and the first cannot link any more.
    hutong_server::mpi::for_store(s.store.as_ref())
        .expect("the server's MPI")
        .stop()
        .await;
    mpi.claim(other.as_ref())
        .await
        .expect("lease free after stop");
    let mut c = zhang_wei_a();
    c.mrn = Some((CLINIC_B, "B-4242"));
    let c = register(s, &c).await;
    let unlinked = s.get(&format!("Person?patient=Patient/{c}")).await;
    assert_eq!(unlinked.status, StatusCode::OK);
    assert!(
        unlinked.body["entry"].as_array().is_none_or(Vec::is_empty),
        "linked by a process without the lease: {}",
        unlinked.body
    );

    // The other lets go: the first claims the lease again and catches up.
    mpi.stop().await;
    let d = register(s, &Registration::new("李", "娜", "1990-05-06")).await;
    assert_ne!(person_of(s, &d).await["id"], pid);
    assert_eq!(person_of(s, &c).await["id"], pid);
}

/// What the index keeps in memory (which Person each Patient belongs to, the pairs a
/// human kept apart) is read back from the store by a restarted server.
async fn links_and_kept_apart_pairs_survive_a_restart(s: &TestServer) {
    let a = register(s, &zhang_wei_a()).await;
    let b = register(s, &zhang_wei_b()).await;
    let pid = person_of(s, &a).await["id"].as_str().unwrap().to_owned();
    assert_eq!(person_of(s, &b).await["id"], json!(pid));
    unlink(s, &b, &pid, "两人，核实").await;
    let r = s.reopen(mpi_config()).await;
    // A third registration of A's resident (no ID number: it matches A by name, birth
    // date and phone, not B) joins A's golden record, read from the store.
    let mut c = zhang_wei_a();
    c.citizen_id = None;
    c.mrn = Some((CLINIC_B, "B-9999"));
    let c = register(&r, &c).await;
    assert_eq!(person_of(&r, &c).await["id"], json!(pid));
    // B, updated on the restarted server, still stays apart.
    let mut upd = zhang_wei_b().json();
    upd["id"] = json!(b);
    upd["telecom"] = json!([{ "system": "phone", "value": "13800138000" }]);
    assert_eq!(
        r.put(&format!("Patient/{b}"), &upd).await.status,
        StatusCode::OK
    );
    assert_ne!(person_of(&r, &b).await["id"], json!(pid));
    let members: Vec<String> = linked_patients(&person_of(&r, &a).await)
        .into_iter()
        .map(|(p, _)| p)
        .collect();
    let mut want = vec![a.clone(), c.clone()];
    want.sort();
    assert_eq!(members, want);
}

/// Survivorship: the golden record's demographics follow its members (verified name,
/// sex and birth date from the ID number, every phone, the newest address), when one
/// joins, changes or leaves; an update that changes nothing leaves it unwritten.
async fn golden_record_follows_its_members(s: &TestServer) {
    let a = register(s, &zhang_wei_a()).await;
    assert_eq!(person_of(s, &a).await["name"][0]["given"][0], "玮");
    let mut b = zhang_wei_b();
    b.address = Some("浙江省杭州市西湖区 1 号");
    let b_json = b.json();
    let b = register(s, &b).await;
    let person = person_of(s, &a).await;
    let pid = person["id"].as_str().unwrap().to_owned();
    assert_eq!(person_of(s, &b).await["id"], json!(pid));
    // Both carry the valid number: the newest one names the golden record.
    assert_eq!(person["name"][0]["given"][0], "伟");
    assert_eq!(person["gender"], "male");
    assert_eq!(person["birthDate"], "1980-01-01");
    assert_eq!(
        person["telecom"],
        json!([{ "system": "phone", "value": "13800138000" }])
    );
    assert_eq!(person["address"][0]["text"], "浙江省杭州市西湖区 1 号");
    assert!(!person.to_string().contains(CITIZEN));
    // A changes phone and address: it is the newest again.
    let mut upd = zhang_wei_a().json();
    upd["id"] = json!(a);
    upd["telecom"] = json!([{ "system": "phone", "value": "13900139000" }]);
    upd["address"] = json!([{ "text": "浙江省杭州市上城区 8 号" }]);
    assert_eq!(
        s.put(&format!("Patient/{a}"), &upd).await.status,
        StatusCode::OK
    );
    let person = person_of(s, &a).await;
    assert_eq!(person["id"], json!(pid));
    assert_eq!(person["name"][0]["given"][0], "玮");
    assert_eq!(
        person["telecom"],
        json!([{ "system": "phone", "value": "13900139000" }])
    );
    assert_eq!(person["address"][0]["text"], "浙江省杭州市上城区 8 号");
    // Writing B again unchanged: B is now the newest, so the name follows B.
    let version = person["meta"]["versionId"].clone();
    let mut same = b_json.clone();
    same["id"] = json!(b);
    assert_eq!(
        s.put(&format!("Patient/{b}"), &same).await.status,
        StatusCode::OK
    );
    let person = person_of(s, &a).await;
    assert_eq!(person["name"][0]["given"][0], "伟");
    assert_ne!(person["meta"]["versionId"], version);
    // A leaves: the golden record keeps only what B says.
    unlink(s, &a, &pid, "核实为不同人").await;
    let person = person_of(s, &b).await;
    assert_eq!(person["id"], json!(pid));
    assert_eq!(person["name"][0]["given"][0], "伟");
    assert!(person.get("telecom").is_none(), "{person}");
    assert_eq!(person["address"][0]["text"], "浙江省杭州市西湖区 1 号");
    let mine = person_of(s, &a).await;
    assert_eq!(mine["name"][0]["given"][0], "玮");
    assert_eq!(
        mine["telecom"],
        json!([{ "system": "phone", "value": "13900139000" }])
    );
    // A change that no rule reads (another institution record number) writes no new
    // golden-record version.
    let version = mine["meta"]["versionId"].clone();
    let mut upd2 = upd.clone();
    upd2["identifier"][1]["value"] = json!("A-0001-R");
    assert_eq!(
        s.put(&format!("Patient/{a}"), &upd2).await.status,
        StatusCode::OK
    );
    assert_eq!(person_of(s, &a).await["meta"]["versionId"], version);
}

async fn merge_combines_golden_records_and_keeps_the_source_readable(s: &TestServer) {
    let a = register(s, &zhang_wei_a()).await;
    let mut other = Registration::new("王", "芳", "1975-07-07");
    other.gender = "female";
    other.mrn = Some((CLINIC_B, "B-0099"));
    let c = register(s, &other).await;
    let pa = person_of(s, &a).await["id"].clone();
    let pc = person_of(s, &c).await["id"].clone();
    assert_ne!(pa, pc);
    let m = s
        .post("Patient/$merge", &json!({ "resourceType": "Parameters", "parameter": [
            { "name": "source-patient", "valueReference": { "reference": format!("Patient/{c}") } },
            { "name": "target-patient", "valueReference": { "reference": format!("Patient/{a}") } },
            { "name": "reason", "valueString": "duplicate registration" }
        ]}))
        .await;
    assert_eq!(m.status, StatusCode::OK, "{}", m.diagnostics());
    let source = s.get(&format!("Patient/{c}")).await;
    assert_eq!(source.status, StatusCode::OK);
    assert_eq!(source.body["active"], false);
    assert_eq!(source.body["link"][0]["type"], "replaced-by");
    assert_eq!(
        source.body["link"][0]["other"]["reference"],
        format!("Patient/{a}")
    );
    let target = s.get(&format!("Patient/{a}")).await;
    assert_eq!(target.body["link"][0]["type"], "replaces");
    assert_eq!(person_of(s, &c).await["id"], pa);
    let old = s.get(&format!("Person/{}", pc.as_str().unwrap())).await;
    assert_eq!(old.body["active"], false, "{}", old.body);
    let h = s.get(&format!("Patient/{c}/$mdm-history")).await;
    assert!(h.body.to_string().contains("merge"), "{}", h.body);
    let same = s
        .post(
            "Patient/$merge",
            &json!({ "resourceType": "Parameters", "parameter": [
                { "name": "source-patient", "valueString": format!("Patient/{a}") },
                { "name": "target-patient", "valueString": format!("Patient/{a}") },
                { "name": "reason", "valueString": "x" }
            ]}),
        )
        .await;
    assert_eq!(same.status, StatusCode::BAD_REQUEST);
}

async fn invalid_citizen_id_is_flagged_and_never_a_key(s: &TestServer) {
    let mut bad = citizen_id("330106", "19800101", "555");
    let last = if bad.ends_with('1') { '2' } else { '1' };
    bad.pop();
    bad.push(last);
    let mut r1 = Registration::new("赵", "敏", "1980-01-01");
    r1.citizen_id = Some(bad.clone());
    let a = s
        .send(
            Method::POST,
            "Patient",
            Some(&r1.json()),
            &[("prefer", "return=OperationOutcome")],
        )
        .await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.diagnostics());
    assert_eq!(a.body["issue"][0]["severity"], "warning", "{}", a.body);
    assert!(
        !a.body.to_string().contains(&bad),
        "the number is not echoed"
    );
    let id = a
        .header("location")
        .unwrap()
        .split('/')
        .rev()
        .nth(2)
        .unwrap()
        .to_owned();
    let read = s.get(&format!("Patient/{id}")).await;
    assert!(read.body["meta"]["tag"]
        .to_string()
        .contains("invalid-citizen-id"));
    // Another person carrying the same invalid number is not linked by it.
    let mut r2 = Registration::new("钱", "多多", "1966-06-06");
    r2.gender = "female";
    r2.citizen_id = Some(bad.clone());
    let b = register(s, &r2).await;
    assert_ne!(person_of(s, &id).await["id"], person_of(s, &b).await["id"]);
    let links = s
        .store
        .mpi_links(
            &AccessContext::system("test"),
            &LinkQuery::Patients(vec![id.clone()]),
        )
        .await
        .unwrap();
    assert_eq!(links[0].id_hash, None);
}

async fn a_patch_is_held_to_the_citizen_id_rules(s: &TestServer) {
    let good = citizen_id("330106", "19800101", "556");
    let mut r = Registration::new("孙", "丽", "1980-01-01");
    r.gender = "female";
    r.citizen_id = Some(good.clone());
    let id = register(s, &r).await;
    let read = s.get(&format!("Patient/{id}")).await;
    let at = read.body["identifier"]
        .as_array()
        .unwrap()
        .iter()
        .position(|i| i["value"] == good.as_str())
        .expect("the number is stored");
    let mut bad = good.clone();
    let last = if bad.ends_with('1') { '2' } else { '1' };
    bad.pop();
    bad.push(last);
    let patch = |value: &str| {
        let body =
            json!([{ "op": "replace", "path": format!("/identifier/{at}/value"), "value": value }]);
        s.client
            .patch(s.url(&format!("Patient/{id}")))
            .header("content-type", "application/json-patch+json")
            .header("prefer", "return=OperationOutcome")
            .body(body.to_string())
            .send()
    };
    // an invalid number patched in is flagged and reported, as on a PUT
    let a = TestServer::answer(patch(&bad).await.unwrap()).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.diagnostics());
    assert_eq!(a.body["issue"][0]["severity"], "warning", "{}", a.body);
    assert!(
        !a.body.to_string().contains(&bad),
        "the number is not echoed"
    );
    let read = s.get(&format!("Patient/{id}")).await;
    assert!(
        read.body["meta"]["tag"]
            .to_string()
            .contains("invalid-citizen-id"),
        "{}",
        read.body
    );
    // patching the valid number back clears the flag
    let b = TestServer::answer(patch(&good).await.unwrap()).await;
    assert_eq!(b.status, StatusCode::OK, "{}", b.diagnostics());
    let read = s.get(&format!("Patient/{id}")).await;
    assert!(
        !read.body["meta"]["tag"]
            .to_string()
            .contains("invalid-citizen-id"),
        "{}",
        read.body
    );
}

async fn nothing_in_the_mpi_tables_holds_an_id_number_in_clear(s: &TestServer) {
    let a = register(s, &zhang_wei_a()).await;
    register(s, &zhang_wei_b()).await;
    let ctx = AccessContext::system("test");
    let links = s
        .store
        .mpi_links(&ctx, &LinkQuery::Patients(vec![a.clone()]))
        .await
        .unwrap();
    let hash = links[0]
        .id_hash
        .clone()
        .expect("a valid ID number is kept as a keyed hash");
    assert_eq!(hash.len(), 64);
    let log = s
        .store
        .mpi_log(
            &ctx,
            &LogQuery {
                limit: 1000,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let reviews = s
        .store
        .mpi_reviews(
            &ctx,
            &ReviewQuery {
                limit: 1000,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let everything = format!("{links:?}{log:?}{reviews:?}");
    let id = citizen_id("330106", "19800101", "123");
    assert!(!everything.contains(&id));
    assert!(!everything.contains(&id[..17]));
    // Who: the request's principal (or the catch-up pass, which may link a Patient
    // committed while the index was still loading).
    assert!(
        log.iter()
            .all(|e| e.actor == "insecure-dev" || e.actor == "hutong-mpi-catch-up"),
        "{log:?}"
    );
    assert!(log.iter().any(|e| e.actor == "insecure-dev"), "{log:?}");
    assert!(
        !captured_logs().contains(&id),
        "the ID number reached the tracing output"
    );
}

/// The Patients of one write and their links commit together: a transaction Bundle that
/// fails links nothing (no golden record, no link row, nothing left in the index), and
/// the Patients of a Bundle that succeeds are linked to each other within it.
async fn patients_and_their_links_commit_together(s: &TestServer) {
    let entry = |r: &Registration| json!({ "resource": r.json(), "request": { "method": "POST", "url": "Patient" } });
    let failing = json!({ "resourceType": "Bundle", "type": "transaction", "entry": [
        entry(&zhang_wei_a()),
        { "resource": { "resourceType": "Patient", "id": "not-there" },
          "request": { "method": "PUT", "url": "Patient/not-there", "ifMatch": "W/\"3\"" } }
    ]});
    let a = s.post("", &failing).await;
    assert!(
        a.status.is_client_error(),
        "{} {}",
        a.status,
        a.diagnostics()
    );
    assert_eq!(s.count(Some("Patient")).await, 0);
    assert_eq!(
        s.count(Some("Person")).await,
        0,
        "a failed write made a golden record"
    );
    let links = s
        .store
        .mpi_links(
            &hutong_store::AccessContext::system("test"),
            &hutong_store::LinkQuery::After {
                patient: String::new(),
                limit: 10,
            },
        )
        .await
        .unwrap();
    assert!(links.is_empty(), "a failed write left link rows: {links:?}");

    let both = json!({ "resourceType": "Bundle", "type": "transaction", "entry": [
        entry(&zhang_wei_a()),
        entry(&zhang_wei_b())
    ]});
    let a = s.post("", &both).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.diagnostics());
    let ids: Vec<String> = a.body["entry"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let loc = e["response"]["location"].as_str().unwrap();
            loc.split('/').nth(1).unwrap().to_owned()
        })
        .collect();
    let person = person_of(s, &ids[0]).await;
    assert_eq!(person["id"], person_of(s, &ids[1]).await["id"]);
    assert_eq!(linked_patients(&person).len(), 2);
    // A third registration joins the two committed ones, and only them: the Patient of
    // the failed write is not in the index.
    let third = register(s, &zhang_wei_a()).await;
    let person = person_of(s, &third).await;
    let members: Vec<String> = linked_patients(&person)
        .into_iter()
        .map(|(p, _)| p)
        .collect();
    let mut expected = vec![ids[0].clone(), ids[1].clone(), third];
    expected.sort();
    assert_eq!(members, expected);
    assert_eq!(s.count(Some("Person")).await, 1);
}

/// Like `both_backends!`, with the master patient index on (the product default).
macro_rules! both_backends_with_mpi {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let s = super::TestServer::sqlite_with(super::mpi_config()).await;
                    super::$name(&s).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let Some(s) = super::TestServer::postgres_with(super::mpi_config()).await else { return };
                    super::$name(&s).await;
                }
            )*
        }
    };
}

fn mpi_config() -> Config {
    capture_logs();
    Config {
        insecure_dev: true,
        ..Config::default()
    }
}

both_backends_with_mpi!(
    one_process_per_database_runs_the_mpi,
    same_resident_at_two_institutions_has_one_golden_record,
    resident_without_id_number_is_linked_by_name_birth_date_and_phone,
    homophone_surnames_born_the_same_day_are_not_linked,
    match_returns_scored_candidates_with_grades,
    pix_returns_every_identifier_of_the_person,
    unlinked_pair_is_never_relinked_automatically,
    links_and_kept_apart_pairs_survive_a_restart,
    golden_record_follows_its_members,
    merge_combines_golden_records_and_keeps_the_source_readable,
    invalid_citizen_id_is_flagged_and_never_a_key,
    a_patch_is_held_to_the_citizen_id_rules,
    nothing_in_the_mpi_tables_holds_an_id_number_in_clear,
    patients_and_their_links_commit_together,
);

/// A server whose review band is wide, so that name-and-birth-date-only pairs queue.
fn review_config() -> Config {
    capture_logs();
    Config {
        insecure_dev: true,
        mpi: MpiConfig {
            link_threshold: 0.999_999_999,
            review_threshold: 0.000_001,
            ..MpiConfig::default()
        },
        ..Config::default()
    }
}

async fn review_queue_accept_and_reject(s: &TestServer) {
    let mut f1 = Registration::new("王", "芳", "1975-07-07");
    f1.gender = "female";
    f1.address = Some("浙江省杭州市西湖区 1 号");
    let mut f2 = Registration::new("王", "芳", "1975-07-07");
    f2.gender = "female";
    f2.address = Some("浙江省温州市鹿城区 9 号");
    let mut f3 = Registration::new("王", "芳", "1975-07-07");
    f3.gender = "female";
    f3.address = Some("浙江省湖州市吴兴区 5 号");
    let a = register(s, &f1).await;
    let b = register(s, &f2).await;
    let list = s.get("$mdm-review").await;
    assert_eq!(list.status, StatusCode::OK, "{}", list.diagnostics());
    let items = list.body["parameter"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(items.len(), 1, "{}", list.body);
    let part = |item: &Value, name: &str| {
        item["part"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == name)
            .cloned()
            .unwrap_or(Value::Null)
    };
    let item_id = part(&items[0], "id")["valueString"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        part(&items[0], "patient")["valueReference"]["reference"],
        format!("Patient/{b}")
    );
    assert_eq!(
        part(&items[0], "candidate")["valueReference"]["reference"],
        format!("Patient/{a}")
    );
    assert_ne!(
        person_of(s, &a).await["id"],
        person_of(s, &b).await["id"],
        "review pairs are not linked"
    );
    let acc = s
        .post(
            "$mdm-review-accept",
            &json!({ "resourceType": "Parameters", "parameter": [
                { "name": "id", "valueString": item_id },
                { "name": "reason", "valueString": "same phone confirmed by call" }
            ]}),
        )
        .await;
    assert_eq!(acc.status, StatusCode::OK, "{}", acc.diagnostics());
    assert_eq!(person_of(s, &a).await["id"], person_of(s, &b).await["id"]);
    let twice = s
        .post(
            &format!("$mdm-review-accept?id={item_id}&reason=again"),
            &json!({ "resourceType": "Parameters" }),
        )
        .await;
    assert_eq!(twice.status, StatusCode::CONFLICT);
    // A third registration queues against the person's records; reject it.
    let c = register(s, &f3).await;
    let open = s.get(&format!("$mdm-review?patient={c}")).await;
    let items = open.body["parameter"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(!items.is_empty(), "{}", open.body);
    for item in &items {
        let id = part(item, "id")["valueString"].as_str().unwrap().to_owned();
        let rej = s
            .post("$mdm-review-reject", &json!({ "resourceType": "Parameters", "parameter": [
                { "name": "id", "valueString": id },
                { "name": "reason", "valueString": "different people (different mothers' names)" }
            ]}))
            .await;
        assert_eq!(rej.status, StatusCode::OK, "{}", rej.diagnostics());
    }
    // Rejected pairs are not queued again when the Patient is updated.
    let mut upd = f3.json();
    upd["id"] = json!(c);
    assert_eq!(
        s.put(&format!("Patient/{c}"), &upd).await.status,
        StatusCode::OK
    );
    let open = s.get(&format!("$mdm-review?patient={c}")).await;
    assert!(open.body["parameter"].is_null(), "{}", open.body);
    let h = s.get(&format!("Patient/{c}/$mdm-history")).await;
    assert!(h.body.to_string().contains("review-reject"), "{}", h.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn review_queue_accept_and_reject_sqlite() {
    let s = TestServer::sqlite_with(review_config()).await;
    review_queue_accept_and_reject(&s).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn review_queue_accept_and_reject_postgres() {
    let Some(s) = TestServer::postgres_with(review_config()).await else {
        return;
    };
    review_queue_accept_and_reject(&s).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_configuration_is_refused() {
    let bad = MpiConfig {
        link_threshold: 0.5,
        review_threshold: 0.9,
        ..MpiConfig::default()
    };
    let args = hutong_server::config::MpiArgs {
        mpi_link_threshold: Some(bad.link_threshold),
        mpi_review_threshold: Some(bad.review_threshold),
        ..Default::default()
    };
    assert!(MpiConfig::from_args(&args).is_err());
}

static LOGS: Mutex<Vec<u8>> = Mutex::new(Vec::new());

struct Capture;

impl std::io::Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        LOGS.lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Every tracing event of this test binary, at every level, into [`LOGS`].
fn capture_logs() {
    static INIT: Once = Once::new();
    INIT.call_once(|| {
        let _ = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_writer(|| Capture)
            .try_init();
    });
}

fn captured_logs() -> String {
    String::from_utf8_lossy(&LOGS.lock().unwrap_or_else(|p| p.into_inner())).into_owned()
}
