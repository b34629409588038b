//! Conditional update and delete as single REST calls (`PUT|DELETE /fhir/Type?criteria`).
mod support;

use reqwest::{Method, StatusCode};
use serde_json::json;
use support::{patient, TestServer};

both_backends!(
    conditional_update_creates_then_updates_the_single_match,
    conditional_delete_removes_the_single_match_and_refuses_several
);

const MRN: &str = "urn:oid:2.16.156.10011.1.4.330100|MRN-0001";

fn registration(given: &str) -> serde_json::Value {
    json!({
        "resourceType": "Patient",
        "identifier": [{ "system": "urn:oid:2.16.156.10011.1.4.330100", "value": "MRN-0001" }],
        "name": [{ "family": "王", "given": [given] }]
    })
}

async fn conditional_update_creates_then_updates_the_single_match(s: &TestServer) {
    let url = format!("Patient?identifier={MRN}");
    let first = s.put(&url, &registration("伟")).await;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.diagnostics());
    let id = first.body["id"].as_str().unwrap().to_owned();
    let second = s.put(&url, &registration("玮")).await;
    assert_eq!(second.status, StatusCode::OK, "{}", second.diagnostics());
    assert_eq!(
        second.body["id"],
        json!(id),
        "the match is updated in place"
    );
    assert_eq!(second.body["meta"]["versionId"], "2");
    let mut wrong = registration("玮");
    wrong["id"] = json!("someone-else");
    assert_eq!(
        s.put(&url, &wrong).await.status,
        StatusCode::BAD_REQUEST,
        "body id must be the match's"
    );
    s.post("Patient", &registration("二")).await;
    let ambiguous = s.put(&url, &registration("三")).await;
    assert_eq!(ambiguous.status, StatusCode::PRECONDITION_FAILED);
    assert_eq!(
        s.get(&format!("Patient/{id}")).await.body["name"][0]["given"][0],
        "玮"
    );
    let no_criteria = s.put("Patient", &patient("空")).await;
    assert_eq!(no_criteria.status, StatusCode::BAD_REQUEST);
    let unknown = s.put("Patient?colour=red", &patient("空")).await;
    assert_eq!(
        unknown.status,
        StatusCode::BAD_REQUEST,
        "unknown criteria are refused"
    );
}

async fn conditional_delete_removes_the_single_match_and_refuses_several(s: &TestServer) {
    let created = s.post("Patient", &registration("伟")).await;
    let id = created.body["id"].as_str().unwrap().to_owned();
    let url = format!("Patient?identifier={MRN}");
    let gone = s.send(Method::DELETE, &url, None, &[]).await;
    assert!(gone.status.is_success(), "{}", gone.diagnostics());
    assert_eq!(
        s.get(&format!("Patient/{id}")).await.status,
        StatusCode::GONE
    );
    let nothing = s.send(Method::DELETE, &url, None, &[]).await;
    assert!(nothing.status.is_success(), "no match is not an error");
    s.post("Patient", &registration("一")).await;
    s.post("Patient", &registration("二")).await;
    let several = s.send(Method::DELETE, &url, None, &[]).await;
    assert_eq!(several.status, StatusCode::PRECONDITION_FAILED);
    assert_eq!(s.count(Some("Patient")).await, 2, "nothing deleted");
    assert_eq!(
        s.send(Method::DELETE, "Patient", None, &[]).await.status,
        StatusCode::BAD_REQUEST
    );
}
