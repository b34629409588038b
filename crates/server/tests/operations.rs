//! Operations endpoints, authentication, limits and the CapabilityStatement.
mod support;

use hutong_server::config::{Config, TokenConfig};
use reqwest::StatusCode;
use serde_json::json;
use support::{patient, TestServer};

both_backends!(
    capability_statement_lists_what_is_supported,
    healthz_checks_the_database,
    metrics_count_requests_by_interaction_and_status
);

async fn capability_statement_lists_what_is_supported(s: &TestServer) {
    let a = s.get("metadata").await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(a.body["resourceType"], "CapabilityStatement");
    assert_eq!(a.body["fhirVersion"], "4.0.1");
    let resources = a.body["rest"][0]["resource"].as_array().unwrap();
    assert_eq!(resources.len(), 146, "every concrete R4 resource type");
    let patient = resources.iter().find(|r| r["type"] == "Patient").unwrap();
    let codes: Vec<&str> = patient["interaction"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["code"].as_str().unwrap())
        .collect();
    for c in [
        "read",
        "vread",
        "create",
        "update",
        "patch",
        "delete",
        "history-instance",
        "history-type",
    ] {
        assert!(codes.contains(&c), "{c} missing");
    }
    assert!(codes.contains(&"search-type"), "search-type is claimed");
    let patient = a.body["rest"][0]["resource"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["type"] == "Patient")
        .unwrap();
    let names: Vec<&str> = patient["searchParam"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    for p in ["_id", "_lastUpdated", "name", "identifier", "birthdate"] {
        assert!(names.contains(&p), "{p} listed");
    }
    assert!(
        !names.contains(&"_text"),
        "unsupported parameters are not claimed"
    );
    let system: Vec<&str> = a.body["rest"][0]["interaction"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["code"].as_str().unwrap())
        .collect();
    assert_eq!(
        system,
        ["transaction", "batch", "history-system", "search-system"]
    );
}

async fn healthz_checks_the_database(s: &TestServer) {
    let r = s
        .client
        .get(format!("{}/healthz", s.root))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["status"], "ok");
    assert_eq!(body["store"], s.store.backend());
}

async fn metrics_count_requests_by_interaction_and_status(s: &TestServer) {
    s.post("Patient", &patient("金")).await;
    s.get("Patient/none").await;
    let text = s
        .client
        .get(format!("{}/metrics", s.root))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        text.contains("hutong_http_requests_total{interaction=\"create\",status=\"201\"} 1"),
        "{text}"
    );
    assert!(
        text.contains("hutong_http_requests_total{interaction=\"read\",status=\"404\"} 1"),
        "{text}"
    );
    assert!(text.contains(
        "hutong_http_request_duration_seconds_bucket{interaction=\"create\",le=\"+Inf\"} 1"
    ));
    assert!(text.contains(&format!(
        "hutong_store_info{{backend=\"{}\"}} 1",
        s.store.backend()
    )));
}

#[tokio::test]
async fn requests_without_a_valid_token_are_401_when_tokens_are_configured() {
    let s = TestServer::with_tokens(vec![TokenConfig {
        token: "s3cret".into(),
        subject: "his-of-county-hospital".into(),
        institution: Some("12110000400000000X".into()),
        scopes: vec!["system/*.*".into()],
    }])
    .await;
    let a = s.get("Patient/x").await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    assert_eq!(a.body["resourceType"], "OperationOutcome");
    assert!(a
        .header("www-authenticate")
        .is_some_and(|h| h.starts_with("Bearer")));
    let b = s
        .send(
            reqwest::Method::GET,
            "Patient/x",
            None,
            &[("authorization", "Bearer wrong")],
        )
        .await;
    assert_eq!(b.status, StatusCode::UNAUTHORIZED);
    let c = s
        .send(
            reqwest::Method::POST,
            "Patient",
            Some(&patient("鲁")),
            &[("authorization", "Bearer s3cret")],
        )
        .await;
    assert_eq!(c.status, StatusCode::CREATED);
    assert_eq!(
        s.get("metadata").await.status,
        StatusCode::OK,
        "the CapabilityStatement is public"
    );
    assert_eq!(
        s.client
            .get(format!("{}/healthz", s.root))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn oversize_bodies_are_413_with_an_operation_outcome() {
    let s = TestServer::sqlite_with(Config {
        insecure_dev: true,
        body_limit: 10_000,
        ..Config::default()
    })
    .await;
    let mut p = patient("大");
    p["name"][0]["text"] = json!("x".repeat(20_000));
    let a = s.post("Patient", &p).await;
    assert_eq!(a.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(a.body["resourceType"], "OperationOutcome");
    assert_eq!(s.count(None).await, 0);
}

#[tokio::test]
async fn unknown_routes_and_methods_answer_operation_outcomes() {
    let s = TestServer::sqlite().await;
    let a = s.get("Patient/1/_history/1/extra").await;
    assert_eq!(a.status, StatusCode::NOT_FOUND);
    assert_eq!(a.body["resourceType"], "OperationOutcome");
    let b = s.send(reqwest::Method::DELETE, "metadata", None, &[]).await;
    assert_eq!(b.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(b.body["resourceType"], "OperationOutcome");
    let c = s.get("NoSuchType").await;
    assert_eq!(c.status, StatusCode::NOT_FOUND);
    assert_eq!(c.body["resourceType"], "OperationOutcome");
}
