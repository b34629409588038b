//! FHIR search as a client sees it (R4 search.html), on both stores.
mod support;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use support::TestServer;

both_backends!(
    string_search_folds_case_and_accents_and_matches_chinese_prefixes,
    token_search_matches_code_system_and_modifiers,
    date_search_treats_values_as_ranges_with_prefixes,
    quantity_search_compares_values_with_units,
    number_search_uses_the_precision_of_the_value,
    reference_search_by_id_type_and_identifier_and_compartment,
    updates_and_deletes_change_what_search_finds,
    paging_follows_next_and_previous_links_without_gaps_while_data_is_added,
    sort_orders_by_several_keys_with_missing_values_last,
    unknown_parameters_are_400_naming_them_unless_lenient,
    total_and_summary_count_report_the_number_of_matches,
    post_search_answers_like_get,
    include_and_revinclude_add_referenced_resources_in_include_mode,
    chains_and_has_filter_through_references,
    conditional_create_update_and_delete_use_real_search,
    patient_everything_pages_through_the_compartment_and_its_reference_data,
);

fn ids(a: &support::Answer) -> Vec<String> {
    assert_eq!(a.status, StatusCode::OK, "{}", a.diagnostics());
    assert_eq!(a.body["type"], "searchset");
    a.body["entry"]
        .as_array()
        .map(|e| {
            e.iter()
                .filter(|e| e["search"]["mode"] == "match")
                .map(|e| e["resource"]["id"].as_str().unwrap_or("").to_owned())
                .collect()
        })
        .unwrap_or_default()
}

fn link(a: &support::Answer, rel: &str) -> Option<String> {
    a.body["link"]
        .as_array()?
        .iter()
        .find(|l| l["relation"] == rel)
        .and_then(|l| l["url"].as_str().map(str::to_owned))
}

async fn put(s: &TestServer, rt: &str, id: &str, mut body: Value) {
    body["id"] = json!(id);
    body["resourceType"] = json!(rt);
    let a = s.put(&format!("{rt}/{id}"), &body).await;
    assert!(a.status.is_success(), "{rt}/{id}: {}", a.diagnostics());
}

async fn sorted_ids(s: &TestServer, q: &str) -> Vec<String> {
    let mut v = ids(&s.get(q).await);
    v.sort();
    v
}

fn obs(patient: &str, system: &str, code: &str, value: f64, unit: &str, date: &str) -> Value {
    json!({"resourceType": "Observation", "status": "final",
        "code": {"coding": [{"system": system, "code": code, "display": format!("Test {code}")}], "text": "糖化血红蛋白"},
        "subject": {"reference": format!("Patient/{patient}")},
        "effectiveDateTime": date,
        "valueQuantity": {"value": value, "unit": unit, "system": "http://unitsofmeasure.org", "code": unit}})
}

async fn string_search_folds_case_and_accents_and_matches_chinese_prefixes(s: &TestServer) {
    put(
        s,
        "Patient",
        "p1",
        json!({"name": [{"family": "Müller", "given": ["Jürgen"]}]}),
    )
    .await;
    put(
        s,
        "Patient",
        "p2",
        json!({"name": [{"family": "张", "given": ["三丰"]}]}),
    )
    .await;
    put(s, "Patient", "p3", json!({"name": [{"text": "张伟"}]})).await;
    put(s, "Patient", "p4", json!({"name": [{"family": "Mueller"}]})).await;
    assert_eq!(sorted_ids(s, "Patient?name=muller").await, ["p1"]);
    assert_eq!(sorted_ids(s, "Patient?name=M%C3%9CL").await, ["p1"]);
    assert_eq!(sorted_ids(s, "Patient?family=mu").await, ["p1", "p4"]);
    assert_eq!(
        sorted_ids(s, "Patient?name=%E5%BC%A0").await,
        ["p2", "p3"],
        "name=张"
    );
    assert_eq!(
        sorted_ids(s, "Patient?name:contains=%E4%B8%B0").await,
        ["p2"],
        "contains 丰"
    );
    assert_eq!(sorted_ids(s, "Patient?name:contains=ELL").await, ["p4"]);
    assert_eq!(
        sorted_ids(s, "Patient?family:exact=M%C3%BCller").await,
        ["p1"]
    );
    assert!(sorted_ids(s, "Patient?family:exact=muller")
        .await
        .is_empty());
    assert_eq!(
        sorted_ids(s, "Patient?given=j%C3%BCr,%E4%B8%89").await,
        ["p1", "p2"],
        "OR"
    );
    assert_eq!(
        sorted_ids(s, "Patient?name=m&name=mue").await,
        ["p4"],
        "AND"
    );
}

async fn token_search_matches_code_system_and_modifiers(s: &TestServer) {
    put(s, "Patient", "p", json!({"gender": "female"})).await;
    put(
        s,
        "Observation",
        "a",
        obs("p", "http://loinc.org", "4548-4", 6.1, "%", "2024-01-01"),
    )
    .await;
    put(
        s,
        "Observation",
        "b",
        obs("p", "http://other", "4548-4", 6.1, "%", "2024-01-01"),
    )
    .await;
    let mut c = obs("p", "", "x1", 1.0, "%", "2024-01-01");
    c["code"]["coding"][0]
        .as_object_mut()
        .unwrap()
        .remove("system");
    put(s, "Observation", "c", c).await;
    assert_eq!(sorted_ids(s, "Observation?code=4548-4").await, ["a", "b"]);
    assert_eq!(
        sorted_ids(s, "Observation?code=http://loinc.org|4548-4").await,
        ["a"]
    );
    assert_eq!(sorted_ids(s, "Observation?code=|x1").await, ["c"]);
    assert_eq!(sorted_ids(s, "Observation?code=http://other|").await, ["b"]);
    assert_eq!(
        sorted_ids(s, "Observation?code:not=http://loinc.org|4548-4").await,
        ["b", "c"]
    );
    assert_eq!(
        sorted_ids(s, "Observation?code:text=test%204548").await,
        ["a", "b"]
    );
    assert_eq!(
        sorted_ids(s, "Observation?code:text=%E7%B3%96%E5%8C%96").await,
        ["a", "b", "c"],
        "糖化"
    );
    assert_eq!(sorted_ids(s, "Patient?gender=female").await, ["p"]);
    assert_eq!(sorted_ids(s, "Patient?birthdate:missing=true").await, ["p"]);
    assert!(sorted_ids(s, "Patient?gender:missing=true")
        .await
        .is_empty());
    assert_eq!(sorted_ids(s, "Observation?_id=a,c").await, ["a", "c"]);
}

async fn date_search_treats_values_as_ranges_with_prefixes(s: &TestServer) {
    put(s, "Patient", "y1990", json!({"birthDate": "1990"})).await;
    put(s, "Patient", "d0315", json!({"birthDate": "1990-03-15"})).await;
    put(s, "Patient", "d2000", json!({"birthDate": "2000-01-01"})).await;
    assert_eq!(
        sorted_ids(s, "Patient?birthdate=1990").await,
        ["d0315", "y1990"]
    );
    assert_eq!(
        sorted_ids(s, "Patient?birthdate=1990-03").await,
        ["d0315"],
        "a year does not lie inside a month"
    );
    assert_eq!(sorted_ids(s, "Patient?birthdate=gt1995").await, ["d2000"]);
    assert_eq!(
        sorted_ids(s, "Patient?birthdate=lt1990-06-01").await,
        ["d0315", "y1990"]
    );
    assert_eq!(
        sorted_ids(s, "Patient?birthdate=ge1990-12-01").await,
        ["d2000", "y1990"]
    );
    assert_eq!(
        sorted_ids(s, "Patient?birthdate=sa1990-12-31").await,
        ["d2000"]
    );
    assert_eq!(
        sorted_ids(s, "Patient?birthdate=eb1991").await,
        ["d0315", "y1990"]
    );
    assert_eq!(sorted_ids(s, "Patient?birthdate=ne1990").await, ["d2000"]);
    assert_eq!(
        sorted_ids(s, "Patient?birthdate=ge1990&birthdate=le1990-12-31").await,
        ["d0315", "y1990"]
    );
    put(
        s,
        "Encounter",
        "e",
        json!({"status": "finished", "class": {"code": "AMB"},
        "period": {"start": "2024-05-01T08:00:00+08:00", "end": "2024-05-03"}}),
    )
    .await;
    assert_eq!(
        sorted_ids(s, "Encounter?date=2024-05-02").await,
        Vec::<String>::new(),
        "eq needs the period inside the day"
    );
    assert_eq!(sorted_ids(s, "Encounter?date=ge2024-05-02").await, ["e"]);
    assert_eq!(sorted_ids(s, "Encounter?date=2024-05").await, ["e"]);
    let a = s.get("Patient?birthdate=1990-02-30").await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    assert!(a.diagnostics().contains("birthdate"), "{}", a.diagnostics());
    let now = time::OffsetDateTime::now_utc().year();
    assert_eq!(
        sorted_ids(s, &format!("Patient?_lastUpdated=ge{}", now - 1))
            .await
            .len(),
        3
    );
    assert!(
        sorted_ids(s, &format!("Patient?_lastUpdated=lt{}", now - 1))
            .await
            .is_empty()
    );
}

async fn quantity_search_compares_values_with_units(s: &TestServer) {
    put(s, "Patient", "p", json!({})).await;
    put(
        s,
        "Observation",
        "low",
        obs("p", "http://loinc.org", "4548-4", 5.4, "%", "2024-01-01"),
    )
    .await;
    put(
        s,
        "Observation",
        "high",
        obs("p", "http://loinc.org", "4548-4", 9.0, "%", "2024-01-01"),
    )
    .await;
    put(
        s,
        "Observation",
        "mg",
        obs(
            "p",
            "http://loinc.org",
            "2345-7",
            5.4,
            "mg/dL",
            "2024-01-01",
        ),
    )
    .await;
    assert_eq!(
        sorted_ids(s, "Observation?value-quantity=5.4").await,
        ["low", "mg"]
    );
    assert_eq!(
        sorted_ids(
            s,
            "Observation?value-quantity=5.4|http://unitsofmeasure.org|%25"
        )
        .await,
        ["low"]
    );
    assert_eq!(
        sorted_ids(s, "Observation?value-quantity=gt6||%25").await,
        ["high"]
    );
    assert_eq!(
        sorted_ids(s, "Observation?value-quantity=le5.4").await,
        ["low", "mg"]
    );
    assert_eq!(
        sorted_ids(s, "Observation?value-quantity=ap9.5").await,
        ["high"]
    );
    assert_eq!(
        sorted_ids(s, "Observation?value-quantity=5").await,
        ["low", "mg"],
        "5 means [4.5, 5.5)"
    );
}

async fn number_search_uses_the_precision_of_the_value(s: &TestServer) {
    put(s, "Patient", "p", json!({})).await;
    for (id, p) in [("quarter", 0.25), ("third", 0.333), ("half", 0.5)] {
        put(
            s,
            "RiskAssessment",
            id,
            json!({"status": "final", "subject": {"reference": "Patient/p"},
            "prediction": [{"probabilityDecimal": p}]}),
        )
        .await;
    }
    assert_eq!(
        sorted_ids(s, "RiskAssessment?probability=0.25").await,
        ["quarter"]
    );
    assert_eq!(
        sorted_ids(s, "RiskAssessment?probability=0.3").await,
        ["quarter", "third"],
        "0.3 covers [0.25, 0.35)"
    );
    assert_eq!(
        sorted_ids(s, "RiskAssessment?probability=gt0.3").await,
        ["half", "third"]
    );
    assert_eq!(
        sorted_ids(s, "RiskAssessment?probability=le0.333").await,
        ["quarter", "third"]
    );
    assert_eq!(
        sorted_ids(s, "RiskAssessment?probability=5e-1").await,
        ["half"]
    );
    assert_eq!(
        sorted_ids(s, "RiskAssessment?probability=ne0.5").await,
        ["quarter", "third"]
    );
    assert_eq!(
        s.get("RiskAssessment?probability=high").await.status,
        StatusCode::BAD_REQUEST
    );
}

async fn reference_search_by_id_type_and_identifier_and_compartment(s: &TestServer) {
    put(s, "Patient", "p1", json!({})).await;
    put(s, "Patient", "p2", json!({})).await;
    put(
        s,
        "Observation",
        "o1",
        obs("p1", "http://loinc.org", "1", 1.0, "%", "2024-01-01"),
    )
    .await;
    put(
        s,
        "Observation",
        "o2",
        obs("p2", "http://loinc.org", "1", 1.0, "%", "2024-01-01"),
    )
    .await;
    let mut o3 = obs("p2", "http://loinc.org", "1", 1.0, "%", "2024-01-01");
    o3["subject"] = json!({"identifier": {"system": "urn:oid:2.16.156.10011.1.3", "value": "110105194912310021"}});
    put(s, "Observation", "o3", o3).await;
    assert_eq!(
        sorted_ids(s, "Observation?subject=Patient/p1").await,
        ["o1"]
    );
    assert_eq!(sorted_ids(s, "Observation?patient=p2").await, ["o2"]);
    assert_eq!(
        sorted_ids(s, "Observation?subject:Patient=p1,p2").await,
        ["o1", "o2"]
    );
    assert_eq!(
        sorted_ids(s, &format!("Observation?subject={}/Patient/p1", s.base)).await,
        ["o1"]
    );
    assert_eq!(
        sorted_ids(
            s,
            "Observation?subject:identifier=urn:oid:2.16.156.10011.1.3|110105194912310021"
        )
        .await,
        ["o3"]
    );
    assert_eq!(sorted_ids(s, "Patient/p2/Observation").await, ["o2"]);
    assert_eq!(sorted_ids(s, "Patient/p1/Observation?code=1").await, ["o1"]);
    let a = s.get("Observation?subject=Medication/x").await;
    assert_eq!(
        a.status,
        StatusCode::BAD_REQUEST,
        "Medication is not a subject target"
    );
}

async fn updates_and_deletes_change_what_search_finds(s: &TestServer) {
    put(
        s,
        "Patient",
        "p",
        json!({"name": [{"family": "Old"}], "gender": "male"}),
    )
    .await;
    assert_eq!(sorted_ids(s, "Patient?name=old").await, ["p"]);
    put(
        s,
        "Patient",
        "p",
        json!({"name": [{"family": "New"}], "gender": "male"}),
    )
    .await;
    assert!(
        sorted_ids(s, "Patient?name=old").await.is_empty(),
        "old index rows are gone"
    );
    assert_eq!(sorted_ids(s, "Patient?name=new").await, ["p"]);
    let d = s.delete("Patient/p").await;
    assert!(d.status.is_success());
    assert!(
        sorted_ids(s, "Patient?gender=male").await.is_empty(),
        "deleted resources are not found"
    );
    assert!(sorted_ids(s, "Patient").await.is_empty());
}

async fn paging_follows_next_and_previous_links_without_gaps_while_data_is_added(s: &TestServer) {
    for i in 0..25 {
        put(
            s,
            "Patient",
            &format!("p{i:02}"),
            json!({"gender": "other"}),
        )
        .await;
    }
    let mut seen = Vec::new();
    let mut url = s.url("Patient?gender=other&_count=7");
    let mut pages = Vec::new();
    let mut added = 0;
    loop {
        let a = s.get(&url).await;
        let page = ids(&a);
        assert!(page.len() <= 7);
        seen.extend(page.clone());
        pages.push((url.clone(), page));
        // resources added between pages, before and after the cursor
        put(
            s,
            "Patient",
            &format!("a{added:02}"),
            json!({"gender": "other"}),
        )
        .await;
        put(
            s,
            "Patient",
            &format!("z{added:02}"),
            json!({"gender": "other"}),
        )
        .await;
        added += 1;
        match link(&a, "next") {
            Some(n) => url = n,
            None => break,
        }
    }
    let mut unique = seen.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), seen.len(), "no entry repeated: {seen:?}");
    for i in 0..25 {
        assert!(seen.contains(&format!("p{i:02}")), "p{i:02} not skipped");
    }
    assert!(seen.windows(2).all(|w| w[0] < w[1]), "id order: {seen:?}");
    // previous of the second page is the first page's entries
    let second = s.get(&pages[1].0).await;
    let prev = s
        .get(&link(&second, "previous").expect("previous link"))
        .await;
    assert_eq!(
        ids(&prev),
        pages[0].1,
        "the page before the second page, even after additions in front"
    );
    assert!(link(&s.get(&pages[0].0).await, "previous").is_none());
    assert!(link(&second, "self").is_some_and(|l| l.contains("_cursor=")));
}

async fn sort_orders_by_several_keys_with_missing_values_last(s: &TestServer) {
    put(
        s,
        "Patient",
        "a",
        json!({"birthDate": "1980", "name": [{"family": "Zhao"}]}),
    )
    .await;
    put(
        s,
        "Patient",
        "b",
        json!({"birthDate": "1970", "name": [{"family": "Qian"}]}),
    )
    .await;
    put(
        s,
        "Patient",
        "c",
        json!({"birthDate": "1980", "name": [{"family": "Li"}]}),
    )
    .await;
    put(s, "Patient", "d", json!({"name": [{"family": "Sun"}]})).await;
    assert_eq!(
        ids(&s.get("Patient?_sort=birthdate").await),
        ["b", "a", "c", "d"]
    );
    assert_eq!(
        ids(&s.get("Patient?_sort=-birthdate,family").await),
        ["c", "a", "b", "d"]
    );
    assert_eq!(
        ids(&s.get("Patient?_sort=-_id").await),
        ["d", "c", "b", "a"]
    );
    // paging through a sorted result gives the same order
    let mut all = Vec::new();
    let mut url = s.url("Patient?_sort=-birthdate,family&_count=1");
    loop {
        let a = s.get(&url).await;
        all.extend(ids(&a));
        match link(&a, "next") {
            Some(n) => url = n,
            None => break,
        }
    }
    assert_eq!(all, ["c", "a", "b", "d"]);
    let a = s.get("Patient?_sort=nonsense").await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
}

async fn unknown_parameters_are_400_naming_them_unless_lenient(s: &TestServer) {
    put(s, "Patient", "p", json!({"gender": "male"})).await;
    let a = s.get("Patient?gender=male&colour=blue").await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    assert_eq!(a.body["resourceType"], "OperationOutcome");
    assert!(a.diagnostics().contains("colour"), "{}", a.diagnostics());
    assert_eq!(a.expressions(), ["colour"]);
    let b = s
        .send(
            Method::GET,
            "Patient?gender=male&colour=blue",
            None,
            &[("prefer", "handling=lenient")],
        )
        .await;
    assert_eq!(ids(&b), ["p"]);
    let outcome = b.body["entry"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["search"]["mode"] == "outcome")
        .expect("an outcome entry reports the ignored parameter");
    assert!(outcome["resource"].to_string().contains("colour"));
    assert!(!link(&b, "self").unwrap().contains("colour"));
    for bad in [
        "Patient?_count=x",
        "Patient?gender:nonsense=x",
        "Patient?_total=some",
        "Observation?value-quantity=abc",
    ] {
        assert_eq!(s.get(bad).await.status, StatusCode::BAD_REQUEST, "{bad}");
    }
    assert_eq!(s.get("Nope?x=1").await.status, StatusCode::NOT_FOUND);
}

async fn total_and_summary_count_report_the_number_of_matches(s: &TestServer) {
    for i in 0..5 {
        put(
            s,
            "Patient",
            &format!("p{i}"),
            json!({"gender": if i < 3 { "male" } else { "female" }}),
        )
        .await;
    }
    let a = s.get("Patient?gender=male&_count=1").await;
    assert!(a.body.get("total").is_none(), "no total by default");
    let a = s.get("Patient?gender=male&_count=1&_total=accurate").await;
    assert_eq!(a.body["total"], 3);
    assert_eq!(ids(&a).len(), 1);
    // estimate: exact when the first page holds every match, else a planner estimate
    // (PostgreSQL) or the count (SQLite), never below what the page shows
    let e = s.get("Patient?gender=male&_total=estimate").await;
    assert_eq!(e.body["total"], 3);
    let e = s.get("Patient?gender=male&_count=1&_total=estimate").await;
    assert!(
        e.body["total"].as_u64().is_some_and(|n| n >= 1),
        "{}",
        e.body
    );
    let c = s.get("Patient?gender=male&_summary=count").await;
    assert_eq!(c.body["total"], 3);
    assert!(ids(&c).is_empty());
    let all = s.get("Patient").await;
    assert_eq!(ids(&all).len(), 5);
    assert!(all.body["entry"][0]["fullUrl"]
        .as_str()
        .unwrap()
        .starts_with(&s.base));
}

async fn post_search_answers_like_get(s: &TestServer) {
    put(s, "Patient", "p", json!({"name": [{"family": "王"}]})).await;
    put(s, "Patient", "q", json!({"name": [{"family": "李"}]})).await;
    let resp = s
        .client
        .post(s.url("Patient/_search"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("name=%E7%8E%8B")
        .send()
        .await
        .unwrap();
    let a = TestServer::answer(resp).await;
    assert_eq!(ids(&a), ["p"]);
}

async fn seed_graph(s: &TestServer) {
    put(s, "Organization", "org1", json!({"name": "Acme 医院"})).await;
    put(s, "Patient", "p1", json!({"name": [{"family": "张"}], "managingOrganization": {"reference": "Organization/org1"},
        "identifier": [{"system": "urn:sys", "value": "X1"}]})).await;
    put(s, "Patient", "p2", json!({"name": [{"family": "Li"}]})).await;
    put(
        s,
        "Observation",
        "o1",
        obs("p1", "http://loinc.org", "A", 1.0, "%", "2024-01-01"),
    )
    .await;
    put(
        s,
        "Observation",
        "o2",
        obs("p2", "http://loinc.org", "B", 1.0, "%", "2024-01-01"),
    )
    .await;
}

fn included(a: &support::Answer) -> Vec<String> {
    let mut v: Vec<String> = a.body["entry"]
        .as_array()
        .map(|e| {
            e.iter()
                .filter(|e| e["search"]["mode"] == "include")
                .map(|e| {
                    format!(
                        "{}/{}",
                        e["resource"]["resourceType"].as_str().unwrap_or(""),
                        e["resource"]["id"].as_str().unwrap_or("")
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

async fn include_and_revinclude_add_referenced_resources_in_include_mode(s: &TestServer) {
    seed_graph(s).await;
    let a = s.get("Observation?_include=Observation:subject").await;
    assert_eq!(ids(&a), ["o1", "o2"]);
    assert_eq!(included(&a), ["Patient/p1", "Patient/p2"]);
    let a = s
        .get(
            "Observation?code=A&_include=Observation:subject&_include:iterate=Patient:organization",
        )
        .await;
    assert_eq!(ids(&a), ["o1"]);
    assert_eq!(included(&a), ["Organization/org1", "Patient/p1"]);
    let a = s
        .get("Observation?code=A&_include=Observation:subject:Group")
        .await;
    assert!(included(&a).is_empty(), "target type restricts the include");
    let a = s
        .get("Patient?_id=p1&_revinclude=Observation:subject")
        .await;
    assert_eq!(ids(&a), ["p1"]);
    assert_eq!(included(&a), ["Observation/o1"]);
    let a = s
        .get(
            "Organization?_revinclude=Patient:organization&_revinclude:iterate=Observation:patient",
        )
        .await;
    assert_eq!(included(&a), ["Observation/o1", "Patient/p1"]);
    assert_eq!(
        s.get("Observation?_include=Observation:nonsense")
            .await
            .status,
        StatusCode::BAD_REQUEST
    );
}

async fn chains_and_has_filter_through_references(s: &TestServer) {
    seed_graph(s).await;
    assert_eq!(
        sorted_ids(s, "Observation?subject:Patient.identifier=urn:sys|X1").await,
        ["o1"]
    );
    assert_eq!(
        sorted_ids(s, "Observation?subject:Patient.name=%E5%BC%A0").await,
        ["o1"]
    );
    assert_eq!(
        sorted_ids(s, "Observation?patient.organization.name=acme").await,
        ["o1"],
        "two levels"
    );
    assert_eq!(
        sorted_ids(s, "Patient?_has:Observation:patient:code=B").await,
        ["p2"]
    );
    assert_eq!(
        sorted_ids(s, "Patient?_has:Observation:subject:code=A,B").await,
        ["p1", "p2"]
    );
    assert_eq!(
        sorted_ids(
            s,
            "Organization?_has:Patient:organization:_has:Observation:patient:code=A"
        )
        .await,
        ["org1"],
        "nested _has"
    );
    assert!(
        sorted_ids(s, "Patient?_has:Observation:patient:code=nothing")
            .await
            .is_empty()
    );
    // subject may point at several types that all have a string `name`: the chain
    // follows it to any of them
    let a = s
        .get("Observation?subject.name=nobody-is-called-this")
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.diagnostics());
    assert!(ids(&a).is_empty());
    assert_eq!(
        s.get("Patient?_has:Observation:nonsense:code=A")
            .await
            .status,
        StatusCode::BAD_REQUEST
    );
}

async fn transaction(s: &TestServer, entries: Value) -> support::Answer {
    s.post(
        "",
        &json!({"resourceType": "Bundle", "type": "transaction", "entry": entries}),
    )
    .await
}

async fn conditional_create_update_and_delete_use_real_search(s: &TestServer) {
    seed_graph(s).await;
    // conditional create on two parameters, which the identifier-only lookup could not do
    let body = json!({"resourceType": "Patient", "name": [{"family": "Li"}], "gender": "female"});
    let a = s
        .send(
            Method::POST,
            "Patient",
            Some(&body),
            &[("if-none-exist", "family=li&gender=female")],
        )
        .await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.diagnostics());
    let again = s
        .send(
            Method::POST,
            "Patient",
            Some(&body),
            &[("if-none-exist", "family=li&gender=female")],
        )
        .await;
    assert_eq!(again.status, StatusCode::OK, "matched, not created again");
    assert_eq!(again.body["id"], a.body["id"]);
    let bad = s
        .send(
            Method::POST,
            "Patient",
            Some(&body),
            &[("if-none-exist", "colour=red")],
        )
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(
        bad.diagnostics().contains("colour"),
        "{}",
        bad.diagnostics()
    );

    // conditional update: one match is updated, no match creates
    let t = transaction(
        s,
        json!([
            {"resource": {"resourceType": "Patient", "name": [{"family": "张"}], "gender": "male",
                          "identifier": [{"system": "urn:sys", "value": "X1"}]},
             "request": {"method": "PUT", "url": "Patient?identifier=urn:sys|X1"}},
            {"resource": {"resourceType": "Patient", "name": [{"family": "New"}],
                          "identifier": [{"system": "urn:sys", "value": "X9"}]},
             "request": {"method": "PUT", "url": "Patient?identifier=urn:sys|X9"}}
        ]),
    )
    .await;
    assert_eq!(t.status, StatusCode::OK, "{}", t.diagnostics());
    assert_eq!(t.body["entry"][0]["response"]["status"], "200 OK");
    assert!(t.body["entry"][0]["response"]["location"]
        .as_str()
        .unwrap()
        .starts_with("Patient/p1/_history/2"));
    assert_eq!(t.body["entry"][1]["response"]["status"], "201 Created");
    assert_eq!(sorted_ids(s, "Patient?gender=male").await, ["p1"]);
    assert_eq!(
        sorted_ids(s, "Patient?identifier=urn:sys|X9").await.len(),
        1
    );

    // several matches: 412, nothing changes
    let t = transaction(
        s,
        json!([{"resource": {"resourceType": "Patient"}, "request": {"method": "PUT", "url": "Patient?family=li"}}]),
    )
    .await;
    assert_eq!(
        t.status,
        StatusCode::PRECONDITION_FAILED,
        "{}",
        t.diagnostics()
    );

    // conditional delete
    let t = transaction(
        s,
        json!([{"request": {"method": "DELETE", "url": "Observation?code=A"}}]),
    )
    .await;
    assert_eq!(t.status, StatusCode::OK, "{}", t.diagnostics());
    assert_eq!(sorted_ids(s, "Observation").await, ["o2"]);
    let t = transaction(
        s,
        json!([{"request": {"method": "DELETE", "url": "Observation?code=nothing"}}]),
    )
    .await;
    assert_eq!(
        t.status,
        StatusCode::OK,
        "deleting nothing is fine: {}",
        t.diagnostics()
    );

    // conditional reference resolved by search, inside the transaction that creates the target
    let t = transaction(
        s,
        json!([
            {"fullUrl": "urn:uuid:8c1c0a3e-0000-4000-8000-000000000001",
             "resource": {"resourceType": "Patient", "name": [{"family": "Wu"}], "birthDate": "1961-02-03"},
             "request": {"method": "POST", "url": "Patient"}},
            {"resource": {"resourceType": "Observation", "status": "final", "code": {"text": "x"},
                          "subject": {"reference": "Patient?identifier=urn:sys|X9"}},
             "request": {"method": "POST", "url": "Observation"}}
        ]),
    )
    .await;
    assert_eq!(t.status, StatusCode::OK, "{}", t.diagnostics());
    let x9 = sorted_ids(s, "Patient?identifier=urn:sys|X9").await;
    assert_eq!(
        sorted_ids(s, &format!("Observation?subject=Patient/{}", x9[0]))
            .await
            .len(),
        1
    );
}

async fn patient_everything_pages_through_the_compartment_and_its_reference_data(s: &TestServer) {
    seed_graph(s).await;
    put(s, "Encounter", "e1", json!({"status": "finished", "class": {"code": "AMB"},
        "subject": {"reference": "Patient/p1"}, "serviceProvider": {"reference": "Organization/org1"}})).await;
    let a = s.get("Patient/p1/$everything").await;
    let mut got = ids(&a);
    got.sort();
    assert_eq!(got, ["e1", "o1", "p1"], "p2's observation stays out");
    assert_eq!(
        included(&a),
        ["Organization/org1"],
        "reference data comes along"
    );
    let a = s
        .get("Patient/p1/$everything?_type=Observation,Encounter")
        .await;
    let mut got = ids(&a);
    got.sort();
    assert_eq!(got, ["e1", "o1"]);
    // paging
    let mut all = Vec::new();
    let mut url = s.url("Patient/p1/$everything?_count=1");
    loop {
        let a = s.get(&url).await;
        all.extend(ids(&a));
        match link(&a, "next") {
            Some(n) => url = n,
            None => break,
        }
    }
    assert_eq!(all, ["e1", "o1", "p1"], "ordered by type, then id");
    let future = s.get("Patient/p1/$everything?_since=2999-01-01").await;
    assert!(ids(&future).is_empty());
    assert_eq!(
        s.get("Patient/nobody/$everything").await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        s.get("Patient/p1/$everything?colour=red").await.status,
        StatusCode::BAD_REQUEST
    );
}

/// The same seeded data and a few hundred generated queries give the same ids in the
/// same order on SQLite and PostgreSQL.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_and_postgres_answer_generated_queries_identically() {
    let Some(pg) = TestServer::postgres().await else {
        return;
    };
    let lite = TestServer::sqlite().await;
    let families = [
        "王", "Wang", "Müller", "muller", "李四", "Łukasz", "o'brien", "Zhao",
    ];
    let codes = ["4548-4", "2345-7", "718-7", "x"];
    for s in [&lite, &pg] {
        for i in 0..40u32 {
            let gender = ["male", "female", "other"][i as usize % 3];
            let family = families[i as usize % families.len()];
            let mut p = json!({"name": [{"family": family, "given": [format!("g{}", i % 7)]}],
                "gender": gender});
            if i % 5 != 0 {
                p["birthDate"] = json!(format!(
                    "19{:02}-{:02}-{:02}",
                    50 + i % 40,
                    1 + i % 12,
                    1 + i % 28
                ));
            }
            put(s, "Patient", &format!("p{i:03}"), p).await;
        }
        for i in 0..80u32 {
            let o = obs(
                &format!("p{:03}", i % 40),
                if i % 4 == 0 {
                    "http://other"
                } else {
                    "http://loinc.org"
                },
                codes[i as usize % codes.len()],
                f64::from(i % 17) * 0.7,
                if i % 3 == 0 { "mg/dL" } else { "%" },
                &format!("2024-{:02}-{:02}", 1 + i % 12, 1 + i % 28),
            );
            put(s, "Observation", &format!("o{i:03}"), o).await;
        }
    }
    let mut queries = Vec::new();
    let sorts = [
        "",
        "&_sort=birthdate",
        "&_sort=-birthdate,family",
        "&_sort=family,-_id",
        "&_sort=-_lastUpdated",
    ];
    let filters = [
        "",
        "gender=male",
        "name=w",
        "name:contains=u",
        "birthdate=ge1970",
        "birthdate=lt1960-06",
        "birthdate:missing=true",
        "family:exact=Wang",
        "gender:not=male",
    ];
    for f in filters {
        for s in sorts {
            for count in [3, 100] {
                queries.push(format!("Patient?{f}{s}&_count={count}"));
            }
        }
    }
    let ofilters = [
        "code=4548-4",
        "code=http://loinc.org|",
        "value-quantity=gt3",
        "value-quantity=le2||mg/dL",
        "date=2024-03",
        "date=ge2024-06-15",
        "patient=p001,p002",
        "code:not=x",
        "subject:Patient=p010",
    ];
    let osorts = [
        "",
        "&_sort=-date",
        "&_sort=value-quantity,code",
        "&_sort=patient,-date",
    ];
    for f in ofilters {
        for s in osorts {
            for count in [4, 100] {
                queries.push(format!("Observation?{f}{s}&_count={count}"));
                queries.push(format!(
                    "Observation?{f}&code=2345-7,718-7{s}&_count={count}"
                ));
            }
        }
    }
    for extra in [
        "Observation?subject:Patient.gender=male&_sort=-date&_count=5",
        "Observation?patient.name=w&_count=7",
        "Patient?_has:Observation:patient:code=4548-4&_sort=birthdate&_count=6",
        "Patient?_has:Observation:patient:value-quantity=gt5&gender=female",
        "Patient?gender=male&_revinclude=Observation:patient&_count=5",
        "Observation?code-value-quantity=4548-4$gt2&_sort=-date&_count=5",
        "Observation?code-value-quantity=http://loinc.org|2345-7$le3||mg/dL&_count=3",
        "Observation?value-quantity=ge0.01|http://unitsofmeasure.org|g/dL&_count=4",
        "Observation?code:text=x&_count=4",
        "Observation?_include=*&code=718-7&_count=3",
        "?_type=Patient,Observation&_lastUpdated=gt2000&_count=7",
        "?_type=Patient&_sort=-_lastUpdated&_count=9",
        "?_id=p001,o001,o002&_count=2",
        "Patient?name=w&_summary=true&_count=4",
        "Observation?patient.name=w,li&_elements=code&_count=6",
    ] {
        queries.push(extra.to_owned());
    }
    assert!(queries.len() >= 200, "{}", queries.len());
    for q in &queries {
        let mut got = Vec::new();
        for s in [&lite, &pg] {
            let mut all = Vec::new();
            let mut url = s.url(q);
            for _ in 0..100 {
                let a = s.get(&url).await;
                assert_eq!(a.status, StatusCode::OK, "{q}: {}", a.diagnostics());
                all.extend(ids(&a));
                match link(&a, "next") {
                    Some(n) => url = n,
                    None => break,
                }
            }
            got.push(all);
        }
        assert_eq!(got[0], got[1], "{q}: sqlite vs postgres");
    }
}
