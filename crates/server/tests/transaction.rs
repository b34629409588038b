//! Transaction and batch Bundles, on both stores.
mod support;

use reqwest::StatusCode;
use serde_json::{json, Value};
use support::{patient, TestServer};

both_backends!(
    transaction_rewrites_urn_uuid_references_to_assigned_ids,
    transaction_with_an_invalid_entry_changes_nothing,
    transaction_failing_precondition_rolls_back_earlier_entries,
    transaction_processes_delete_post_put_get_in_spec_order,
    transaction_resolves_conditional_creates_and_references,
    batch_reports_each_entry_on_its_own,
    posting_a_non_transaction_bundle_is_rejected,
    transaction_patch_entry_applies_a_binary_json_patch,
);

fn entry_post(full_url: &str, resource: Value) -> Value {
    let rt = resource["resourceType"].as_str().unwrap().to_owned();
    json!({ "fullUrl": full_url, "resource": resource, "request": { "method": "POST", "url": rt } })
}

fn observation(subject: &str) -> Value {
    json!({
        "resourceType": "Observation",
        "status": "final",
        "code": { "coding": [{ "system": "http://loinc.org", "code": "4548-4" }], "text": "HbA1c" },
        "subject": { "reference": subject },
        "valueQuantity": serde_json::from_str::<Value>(r#"{ "value": 6.50, "unit": "%", "system": "http://unitsofmeasure.org", "code": "%" }"#).unwrap()
    })
}

async fn transaction_rewrites_urn_uuid_references_to_assigned_ids(s: &TestServer) {
    let pid = "urn:uuid:8f2a5c6e-1111-4b0e-9c7e-0a1b2c3d4e5f";
    let bundle = json!({
        "resourceType": "Bundle", "type": "transaction",
        "entry": [
            entry_post("urn:uuid:00000000-0000-4000-8000-000000000001", observation(pid)),
            entry_post(pid, patient("何")),
            entry_post("urn:uuid:00000000-0000-4000-8000-000000000002", json!({
                "resourceType": "DiagnosticReport", "status": "final", "code": {"text": "糖化血红蛋白"},
                "subject": {"reference": pid},
                "result": [{"reference": "urn:uuid:00000000-0000-4000-8000-000000000001"}]
            })),
        ]
    });
    let a = s.post("", &bundle).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.diagnostics());
    assert_eq!(a.body["type"], "transaction-response");
    let entries = a.body["entry"].as_array().unwrap();
    assert_eq!(entries.len(), 3);
    let loc = |i: usize| {
        entries[i]["response"]["location"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    for e in entries {
        assert_eq!(e["response"]["status"], "201 Created");
    }
    let patient_ref = loc(1).split("/_history").next().unwrap().to_owned();
    assert!(patient_ref.starts_with("Patient/"));
    let obs = s.get(loc(0).split("/_history").next().unwrap()).await;
    assert_eq!(obs.body["subject"]["reference"], json!(patient_ref));
    assert_eq!(
        obs.body["valueQuantity"]["value"].to_string(),
        "6.50",
        "decimal precision is kept"
    );
    let report = s.get(loc(2).split("/_history").next().unwrap()).await;
    assert_eq!(report.body["subject"]["reference"], json!(patient_ref));
    assert_eq!(
        report.body["result"][0]["reference"],
        json!(loc(0).split("/_history").next().unwrap())
    );
}

async fn transaction_with_an_invalid_entry_changes_nothing(s: &TestServer) {
    s.post("Patient", &patient("罗")).await;
    let before = s.count(None).await;
    let bundle = json!({
        "resourceType": "Bundle", "type": "transaction",
        "entry": [
            entry_post("urn:uuid:00000000-0000-4000-8000-0000000000a1", patient("梁")),
            entry_post("urn:uuid:00000000-0000-4000-8000-0000000000a2", json!({"resourceType": "Patient", "birthDate": "1990-13-01"})),
        ]
    });
    let a = s.post("", &bundle).await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    assert!(a.diagnostics().contains("entry[1]"), "{}", a.diagnostics());
    assert!(
        a.expressions().iter().any(|e| e.contains("birthDate")),
        "{:?}",
        a.expressions()
    );
    assert_eq!(s.count(None).await, before);
    let h = s.get("_history").await;
    assert_eq!(h.body["total"], 1, "no version was written");
}

async fn transaction_failing_precondition_rolls_back_earlier_entries(s: &TestServer) {
    let created = s.post("Patient", &patient("宋")).await;
    let id = created.body["id"].as_str().unwrap().to_owned();
    let mut changed = created.body.clone();
    changed["gender"] = json!("female");
    let bundle = json!({
        "resourceType": "Bundle", "type": "transaction",
        "entry": [
            entry_post("urn:uuid:00000000-0000-4000-8000-0000000000b1", patient("唐")),
            { "resource": changed, "request": { "method": "PUT", "url": format!("Patient/{id}"), "ifMatch": "W/\"9\"" } },
        ]
    });
    let a = s.post("", &bundle).await;
    assert_eq!(
        a.status,
        StatusCode::PRECONDITION_FAILED,
        "{}",
        a.diagnostics()
    );
    assert_eq!(
        s.count(Some("Patient")).await,
        1,
        "the POST of the same transaction was rolled back"
    );
    assert_eq!(s.get(&format!("Patient/{id}")).await.body["gender"], "male");
}

async fn transaction_processes_delete_post_put_get_in_spec_order(s: &TestServer) {
    let keep = s.post("Patient", &patient("许")).await;
    let keep_id = keep.body["id"].as_str().unwrap().to_owned();
    let gone = s.post("Patient", &patient("韩")).await;
    let gone_id = gone.body["id"].as_str().unwrap().to_owned();
    let mut updated = keep.body.clone();
    updated["gender"] = json!("female");
    // listed in reverse order on purpose: GET first, DELETE last
    let bundle = json!({
        "resourceType": "Bundle", "type": "transaction",
        "entry": [
            { "request": { "method": "GET", "url": format!("Patient/{keep_id}") } },
            { "resource": updated, "request": { "method": "PUT", "url": format!("Patient/{keep_id}") } },
            entry_post("urn:uuid:00000000-0000-4000-8000-0000000000c1", patient("冯")),
            { "request": { "method": "DELETE", "url": format!("Patient/{gone_id}") } },
        ]
    });
    let a = s.post("", &bundle).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.diagnostics());
    let e = a.body["entry"].as_array().unwrap();
    assert_eq!(e[0]["response"]["status"], "200 OK");
    assert_eq!(e[0]["resource"]["gender"], "female", "GET runs after PUT");
    assert_eq!(e[1]["response"]["status"], "200 OK");
    assert_eq!(e[2]["response"]["status"], "201 Created");
    assert_eq!(e[3]["response"]["status"], "204 No Content");
    assert_eq!(
        s.get(&format!("Patient/{gone_id}")).await.status,
        StatusCode::GONE
    );
    // the same resource twice in one transaction is refused
    let twice = json!({
        "resourceType": "Bundle", "type": "transaction",
        "entry": [
            { "request": { "method": "DELETE", "url": format!("Patient/{keep_id}") } },
            { "request": { "method": "DELETE", "url": format!("Patient/{keep_id}") } },
        ]
    });
    assert_eq!(s.post("", &twice).await.status, StatusCode::BAD_REQUEST);
}

async fn transaction_resolves_conditional_creates_and_references(s: &TestServer) {
    let org = json!({"resourceType": "Organization", "identifier": [{"system": "urn:oid:2.16.156.10011.1.5", "value": "12110000400000000X"}], "name": "北京市第一医院"});
    let existing = s.post("Organization", &org).await;
    let org_id = existing.body["id"].as_str().unwrap().to_owned();
    let bundle = json!({
        "resourceType": "Bundle", "type": "transaction",
        "entry": [
            { "fullUrl": "urn:uuid:00000000-0000-4000-8000-0000000000d1", "resource": org,
              "request": { "method": "POST", "url": "Organization", "ifNoneExist": "identifier=urn:oid:2.16.156.10011.1.5|12110000400000000X" } },
            entry_post("urn:uuid:00000000-0000-4000-8000-0000000000d2", {
                let mut p = patient("曹");
                p["managingOrganization"] = json!({"reference": "urn:uuid:00000000-0000-4000-8000-0000000000d1"});
                p["generalPractitioner"] = json!([{"reference": "Organization?identifier=urn:oid:2.16.156.10011.1.5|12110000400000000X"}]);
                p
            }),
        ]
    });
    let a = s.post("", &bundle).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.diagnostics());
    assert_eq!(
        a.body["entry"][0]["response"]["status"], "200 OK",
        "matched, not created"
    );
    assert_eq!(s.count(Some("Organization")).await, 1);
    let loc = a.body["entry"][1]["response"]["location"].as_str().unwrap();
    let p = s.get(loc.split("/_history").next().unwrap()).await;
    assert_eq!(
        p.body["managingOrganization"]["reference"],
        json!(format!("Organization/{org_id}"))
    );
    assert_eq!(
        p.body["generalPractitioner"][0]["reference"],
        json!(format!("Organization/{org_id}"))
    );
    let unresolvable = json!({
        "resourceType": "Bundle", "type": "transaction",
        "entry": [ entry_post("urn:uuid:00000000-0000-4000-8000-0000000000d3", {
            let mut p = patient("彭");
            p["managingOrganization"] = json!({"reference": "Organization?identifier=urn:x|nobody"});
            p
        }) ]
    });
    assert_eq!(
        s.post("", &unresolvable).await.status,
        StatusCode::PRECONDITION_FAILED
    );
}

async fn batch_reports_each_entry_on_its_own(s: &TestServer) {
    let bundle = json!({
        "resourceType": "Bundle", "type": "batch",
        "entry": [
            entry_post("urn:uuid:00000000-0000-4000-8000-0000000000e1", patient("董")),
            entry_post("urn:uuid:00000000-0000-4000-8000-0000000000e2", json!({"resourceType": "Patient", "birthDate": "not-a-date"})),
            { "request": { "method": "GET", "url": "Patient/nobody" } },
            { "request": { "method": "FETCH", "url": "Patient" } },
        ]
    });
    let a = s.post("", &bundle).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.diagnostics());
    assert_eq!(a.body["type"], "batch-response");
    let e = a.body["entry"].as_array().unwrap();
    assert_eq!(e[0]["response"]["status"], "201 Created");
    assert!(
        e[1]["response"]["status"]
            .as_str()
            .unwrap()
            .starts_with("400"),
        "{}",
        e[1]
    );
    assert_eq!(
        e[1]["response"]["outcome"]["resourceType"],
        "OperationOutcome"
    );
    assert!(e[2]["response"]["status"]
        .as_str()
        .unwrap()
        .starts_with("404"));
    assert!(e[3]["response"]["status"]
        .as_str()
        .unwrap()
        .starts_with("400"));
    assert_eq!(
        s.count(Some("Patient")).await,
        1,
        "the valid entry went in alone"
    );
}

async fn posting_a_non_transaction_bundle_is_rejected(s: &TestServer) {
    let a = s
        .post(
            "",
            &json!({"resourceType": "Bundle", "type": "collection", "entry": []}),
        )
        .await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    let b = s.post("", &patient("x")).await;
    assert_eq!(b.status, StatusCode::BAD_REQUEST);
    let c = s.post("", &json!({"resourceType": "Bundle", "type": "transaction", "entry": [{"request": {"method": "POST", "url": "Nope"}, "resource": {"resourceType": "Nope"}}]})).await;
    assert_eq!(
        c.status,
        StatusCode::BAD_REQUEST,
        "an unknown type inside a Bundle is a 400, not a 404"
    );
}

async fn transaction_patch_entry_applies_a_binary_json_patch(s: &TestServer) {
    let created = s.post("Patient", &patient("萧")).await;
    let id = created.body["id"].as_str().unwrap().to_owned();
    use base64::Engine;
    let data = base64::engine::general_purpose::STANDARD
        .encode(r#"[{"op":"replace","path":"/gender","value":"other"}]"#);
    let bundle = json!({
        "resourceType": "Bundle", "type": "transaction",
        "entry": [{ "resource": {"resourceType": "Binary", "contentType": "application/json-patch+json", "data": data},
                    "request": { "method": "PATCH", "url": format!("Patient/{id}") } }]
    });
    let a = s.post("", &bundle).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.diagnostics());
    assert_eq!(
        s.get(&format!("Patient/{id}")).await.body["gender"],
        "other"
    );
}
