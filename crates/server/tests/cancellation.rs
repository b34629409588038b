//! Clients that hang up mid-request must not leave half-done writes or poisoned database
//! connections behind.
mod support;

use reqwest::StatusCode;
use serde_json::json;
use std::time::Duration;
use support::{patient, TestServer};

both_backends!(writes_abandoned_by_clients_leave_no_open_transaction_behind);

async fn writes_abandoned_by_clients_leave_no_open_transaction_behind(s: &TestServer) {
    let impatient = reqwest::Client::builder()
        .timeout(Duration::from_micros(300))
        .build()
        .unwrap();
    let bundle = json!({"resourceType": "Bundle", "type": "transaction", "entry": (0..50).map(|i| json!({
        "fullUrl": format!("urn:uuid:00000000-0000-4000-8000-{i:012}"),
        "resource": patient(&format!("断{i}")),
        "request": {"method": "POST", "url": "Patient"}
    })).collect::<Vec<_>>()});
    let mut tasks = Vec::new();
    for i in 0..200 {
        let c = impatient.clone();
        let (url, body) = if i % 4 == 0 {
            (s.url(""), bundle.to_string())
        } else {
            (s.url("Patient"), patient(&format!("断{i}")).to_string())
        };
        tasks.push(tokio::spawn(async move {
            let _ = c
                .post(url)
                .header("content-type", "application/fhir+json")
                .body(body)
                .send()
                .await;
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    // Whatever went in went in whole: transaction Bundles are all-or-nothing.
    let patients = s.count(Some("Patient")).await;
    let history = s.get("_history?_count=1").await;
    assert_eq!(
        history.body["total"].as_u64().unwrap(),
        patients,
        "no partial versions"
    );
    // Every pooled connection still works: many writes in a row all succeed.
    for i in 0..40 {
        let a = s.post("Patient", &patient(&format!("续{i}"))).await;
        assert_eq!(
            a.status,
            StatusCode::CREATED,
            "write {i} after cancellations: {}",
            a.diagnostics()
        );
    }
    if s.store.backend() == "postgres" {
        // A connection stuck inside a transaction stays "idle in transaction"; healthy
        // ones never sit there for seconds.
        tokio::time::sleep(Duration::from_millis(2500)).await;
        let url = std::env::var("HUTONG_TEST_POSTGRES_URL").unwrap();
        let out = std::process::Command::new("psql")
            .args([
                url.as_str(),
                "-tAc",
                "select count(*) from pg_stat_activity where state like 'idle in transaction%' and state_change < now() - interval '2 seconds'",
            ])
            .output()
            .unwrap();
        let stuck: u64 = String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse()
            .unwrap_or(0);
        assert_eq!(stuck, 0, "connections left idle in transaction");
    }
}
