//! The FHIR REST interactions as a client sees them, on both stores.
mod support;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use support::{patient, TestServer};

both_backends!(
    create_assigns_id_and_answers_201_with_location_etag_and_meta,
    read_serves_the_stored_bytes_with_etag_and_last_modified,
    read_of_unknown_id_is_404_and_unknown_type_is_404,
    update_creates_consecutive_versions_and_vread_returns_each,
    update_as_create_answers_201,
    update_with_mismatched_body_id_is_rejected,
    if_match_mismatch_is_412_and_changes_nothing,
    delete_leaves_a_tombstone_read_is_410_and_history_shows_it,
    invalid_resource_is_400_naming_the_element_and_stores_nothing,
    malformed_json_is_400_and_wrong_content_type_is_415,
    xml_is_not_acceptable,
    prefer_return_controls_the_body,
    conditional_create_with_if_none_exist_creates_once,
    json_patch_updates_and_bad_patches_change_nothing,
    history_pages_with_cursor_links_and_filters_since_and_at,
    if_none_match_on_read_answers_304,
    concurrent_updates_without_if_match_lose_nothing,
    concurrent_updates_with_if_match_let_exactly_one_win,
);

async fn create_assigns_id_and_answers_201_with_location_etag_and_meta(s: &TestServer) {
    let mut p = patient("王");
    p["id"] = json!("client-chosen");
    let a = s.post("Patient", &p).await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.diagnostics());
    let id = a.body["id"].as_str().expect("id assigned").to_owned();
    assert_ne!(id, "client-chosen", "create ignores a client id");
    assert_eq!(a.body["meta"]["versionId"], "1");
    assert!(a.body["meta"]["lastUpdated"]
        .as_str()
        .is_some_and(|t| t.ends_with('Z') || t.contains('+')));
    assert_eq!(a.header("etag"), Some("W/\"1\""));
    let loc = a.header("location").expect("Location");
    assert!(
        loc.ends_with(&format!("/fhir/Patient/{id}/_history/1")),
        "{loc}"
    );
    assert!(a
        .header("last-modified")
        .is_some_and(|d| d.ends_with("GMT")));
    assert!(a
        .header("content-type")
        .is_some_and(|c| c.starts_with("application/fhir+json")));
    assert!(
        a.header("x-request-id").is_some_and(|r| !r.is_empty()),
        "request id echoed"
    );
    assert_eq!(a.body["name"][0]["family"], "王", "Chinese text survives");
}

async fn read_serves_the_stored_bytes_with_etag_and_last_modified(s: &TestServer) {
    let created = s.post("Patient", &patient("李")).await;
    let id = created.body["id"].as_str().unwrap().to_owned();
    let a = s.get(&format!("Patient/{id}")).await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(a.raw, created.raw, "read returns exactly the bytes written");
    assert_eq!(a.header("etag"), Some("W/\"1\""));
    assert_eq!(a.header("last-modified"), created.header("last-modified"));
    let h = s
        .send(
            Method::GET,
            &format!("Patient/{id}"),
            None,
            &[("x-request-id", "abc-123")],
        )
        .await;
    assert_eq!(
        h.header("x-request-id"),
        Some("abc-123"),
        "a client request id is echoed"
    );
}

async fn read_of_unknown_id_is_404_and_unknown_type_is_404(s: &TestServer) {
    let a = s.get("Patient/does-not-exist").await;
    assert_eq!(a.status, StatusCode::NOT_FOUND);
    assert_eq!(a.body["resourceType"], "OperationOutcome");
    let b = s.get("Pateint/1").await;
    assert_eq!(b.status, StatusCode::NOT_FOUND);
    assert!(b.diagnostics().contains("Pateint"), "{}", b.diagnostics());
    let c = s.post("Pateint", &json!({"resourceType": "Pateint"})).await;
    assert_eq!(c.status, StatusCode::NOT_FOUND);
    let d = s.get("Patient/a_b").await;
    assert_eq!(
        d.status.as_u16() / 100,
        4,
        "an invalid id is a client error"
    );
}

async fn update_creates_consecutive_versions_and_vread_returns_each(s: &TestServer) {
    let created = s.post("Patient", &patient("张")).await;
    let id = created.body["id"].as_str().unwrap().to_owned();
    let mut p = created.body.clone();
    for v in 2..=4 {
        p["name"][0]["family"] = json!(format!("张{v}"));
        let a = s.put(&format!("Patient/{id}"), &p).await;
        assert_eq!(a.status, StatusCode::OK, "{}", a.diagnostics());
        assert_eq!(a.body["meta"]["versionId"], json!(v.to_string()));
        assert_eq!(a.header("etag"), Some(format!("W/\"{v}\"").as_str()));
    }
    for v in 1..=4 {
        let a = s.get(&format!("Patient/{id}/_history/{v}")).await;
        assert_eq!(a.status, StatusCode::OK);
        assert_eq!(a.body["meta"]["versionId"], json!(v.to_string()));
        let family = if v == 1 {
            "张".to_owned()
        } else {
            format!("张{v}")
        };
        assert_eq!(a.body["name"][0]["family"], json!(family));
    }
    assert_eq!(
        s.get(&format!("Patient/{id}/_history/5")).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        s.get(&format!("Patient/{id}/_history/x")).await.status,
        StatusCode::NOT_FOUND
    );
}

async fn update_as_create_answers_201(s: &TestServer) {
    let mut p = patient("刘");
    p["id"] = json!("liu-1");
    let a = s.put("Patient/liu-1", &p).await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.diagnostics());
    assert_eq!(a.body["id"], "liu-1");
    assert_eq!(a.body["meta"]["versionId"], "1");
    assert_eq!(s.get("Patient/liu-1").await.status, StatusCode::OK);
}

async fn update_with_mismatched_body_id_is_rejected(s: &TestServer) {
    let mut p = patient("陈");
    p["id"] = json!("a1");
    let a = s.put("Patient/b2", &p).await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    let mut q = patient("陈");
    q.as_object_mut().unwrap().remove("id");
    let b = s.put("Patient/b2", &q).await;
    assert_eq!(b.status, StatusCode::BAD_REQUEST);
    assert_eq!(s.get("Patient/b2").await.status, StatusCode::NOT_FOUND);
    let c = s
        .put("Observation/b2", &{
            let mut p = patient("x");
            p["id"] = json!("b2");
            p
        })
        .await;
    assert_eq!(
        c.status,
        StatusCode::BAD_REQUEST,
        "body type must match the URL"
    );
}

async fn if_match_mismatch_is_412_and_changes_nothing(s: &TestServer) {
    let created = s.post("Patient", &patient("杨")).await;
    let id = created.body["id"].as_str().unwrap().to_owned();
    let mut p = created.body.clone();
    p["gender"] = json!("female");
    let a = s
        .send(
            Method::PUT,
            &format!("Patient/{id}"),
            Some(&p),
            &[("if-match", "W/\"7\"")],
        )
        .await;
    assert_eq!(
        a.status,
        StatusCode::PRECONDITION_FAILED,
        "{}",
        a.diagnostics()
    );
    assert_eq!(s.get(&format!("Patient/{id}")).await.body["gender"], "male");
    let b = s
        .send(
            Method::PUT,
            &format!("Patient/{id}"),
            Some(&p),
            &[("if-match", "W/\"1\"")],
        )
        .await;
    assert_eq!(b.status, StatusCode::OK);
    assert_eq!(b.body["meta"]["versionId"], "2");
    let c = s
        .send(
            Method::DELETE,
            &format!("Patient/{id}"),
            None,
            &[("if-match", "W/\"1\"")],
        )
        .await;
    assert_eq!(
        c.status,
        StatusCode::PRECONDITION_FAILED,
        "delete honours If-Match too"
    );
}

async fn delete_leaves_a_tombstone_read_is_410_and_history_shows_it(s: &TestServer) {
    let created = s.post("Patient", &patient("黄")).await;
    let id = created.body["id"].as_str().unwrap().to_owned();
    let d = s.delete(&format!("Patient/{id}")).await;
    assert!(
        d.status == StatusCode::NO_CONTENT || d.status == StatusCode::OK,
        "{}",
        d.status
    );
    assert_eq!(
        s.get(&format!("Patient/{id}")).await.status,
        StatusCode::GONE
    );
    assert_eq!(
        s.get(&format!("Patient/{id}/_history/1")).await.status,
        StatusCode::OK,
        "old versions stay readable"
    );
    let h = s.get(&format!("Patient/{id}/_history")).await;
    assert_eq!(h.status, StatusCode::OK);
    let entries = h.body["entry"].as_array().unwrap();
    assert_eq!(entries.len(), 2);
    assert_eq!(entries[0]["request"]["method"], "DELETE");
    assert!(entries[0].get("resource").is_none());
    assert_eq!(entries[1]["request"]["method"], "POST");
    let again = s.delete(&format!("Patient/{id}")).await;
    assert!(
        again.status.is_success(),
        "deleting a deleted resource is not an error"
    );
    assert_eq!(
        s.get(&format!("Patient/{id}/_history")).await.body["entry"]
            .as_array()
            .unwrap()
            .len(),
        2,
        "no second tombstone"
    );
    let revived = s.put(&format!("Patient/{id}"), &created.body).await;
    assert_eq!(revived.status.as_u16() / 100, 2);
    assert_eq!(revived.body["meta"]["versionId"], "3");
}

async fn invalid_resource_is_400_naming_the_element_and_stores_nothing(s: &TestServer) {
    let before = s.count(None).await;
    let cases = [
        (
            json!({"resourceType": "Patient", "birthDate": "1990-02-30"}),
            "Patient.birthDate",
        ),
        (
            json!({"resourceType": "Patient", "favouriteColour": "blue"}),
            "Patient.favouriteColour",
        ),
        (
            json!({"resourceType": "Patient", "gender": 3}),
            "Patient.gender",
        ),
        (
            json!({"resourceType": "Patient", "active": "yes"}),
            "Patient.active",
        ),
        (
            json!({"resourceType": "Patient", "name": {"family": "王"}}),
            "Patient.name",
        ),
        (
            json!({"resourceType": "Observation", "code": {"text": "x"}}),
            "Observation.status",
        ),
    ];
    for (body, path) in cases {
        let rt = body["resourceType"].as_str().unwrap().to_owned();
        let a = s.post(&rt, &body).await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(a.body["resourceType"], "OperationOutcome");
        assert!(
            a.expressions().iter().any(|e| e.starts_with(path)),
            "expected an issue at {path}, got {:?} / {}",
            a.expressions(),
            a.diagnostics()
        );
    }
    assert_eq!(s.count(None).await, before, "nothing stored");
}

async fn malformed_json_is_400_and_wrong_content_type_is_415(s: &TestServer) {
    let resp = s
        .client
        .post(s.url("Patient"))
        .header("content-type", "application/fhir+json")
        .body("{\"resourceType\": \"Patient\",")
        .send()
        .await
        .unwrap();
    let a = TestServer::answer(resp).await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    assert!(a.diagnostics().contains("JSON"), "{}", a.diagnostics());
    let resp = s
        .client
        .post(s.url("Patient"))
        .header("content-type", "text/plain")
        .body("hello")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let empty = s
        .client
        .post(s.url("Patient"))
        .header("content-type", "application/fhir+json")
        .send()
        .await
        .unwrap();
    assert_eq!(empty.status(), StatusCode::BAD_REQUEST);
    assert_eq!(s.count(None).await, 0);
}

async fn xml_is_not_acceptable(s: &TestServer) {
    let created = s.post("Patient", &patient("赵")).await;
    let id = created.body["id"].as_str().unwrap().to_owned();
    assert_eq!(
        s.get(&format!("Patient/{id}?_format=xml")).await.status,
        StatusCode::NOT_ACCEPTABLE
    );
    let a = s
        .send(
            Method::GET,
            &format!("Patient/{id}"),
            None,
            &[("accept", "application/fhir+xml")],
        )
        .await;
    assert_eq!(a.status, StatusCode::NOT_ACCEPTABLE);
    assert_eq!(a.body["resourceType"], "OperationOutcome");
    let b = s
        .send(
            Method::GET,
            &format!("Patient/{id}"),
            None,
            &[("accept", "application/json")],
        )
        .await;
    assert_eq!(b.status, StatusCode::OK);
    assert_eq!(
        s.get(&format!("Patient/{id}?_format=json")).await.status,
        StatusCode::OK
    );
}

async fn prefer_return_controls_the_body(s: &TestServer) {
    let a = s
        .send(
            Method::POST,
            "Patient",
            Some(&patient("吴")),
            &[("prefer", "return=minimal")],
        )
        .await;
    assert_eq!(a.status, StatusCode::CREATED);
    assert!(a.raw.is_empty(), "minimal has no body");
    assert!(a.header("location").is_some());
    let b = s
        .send(
            Method::POST,
            "Patient",
            Some(&patient("周")),
            &[("prefer", "return=OperationOutcome")],
        )
        .await;
    assert_eq!(b.status, StatusCode::CREATED);
    assert_eq!(b.body["resourceType"], "OperationOutcome");
    let c = s
        .send(
            Method::POST,
            "Patient",
            Some(&patient("徐")),
            &[("prefer", "return=representation")],
        )
        .await;
    assert_eq!(c.body["resourceType"], "Patient");
}

async fn conditional_create_with_if_none_exist_creates_once(s: &TestServer) {
    let p = patient("孙");
    let crit = format!(
        "identifier=urn:oid:2.16.156.10011.1.3|{}",
        p["identifier"][0]["value"].as_str().unwrap()
    );
    let crit = crit.as_str();
    let a = s
        .send(
            Method::POST,
            "Patient",
            Some(&p),
            &[("if-none-exist", crit)],
        )
        .await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.diagnostics());
    let b = s
        .send(
            Method::POST,
            "Patient",
            Some(&p),
            &[("if-none-exist", crit)],
        )
        .await;
    assert_eq!(b.status, StatusCode::OK, "{}", b.diagnostics());
    assert_eq!(b.body["id"], a.body["id"]);
    assert_eq!(s.count(Some("Patient")).await, 1);
    let id = a.body["id"].as_str().unwrap();
    let c = s
        .send(
            Method::POST,
            "Patient",
            Some(&p),
            &[("if-none-exist", &format!("_id={id}"))],
        )
        .await;
    assert_eq!(c.status, StatusCode::OK);
    // two matches → 412
    s.post("Patient", &p).await;
    let d = s
        .send(
            Method::POST,
            "Patient",
            Some(&p),
            &[("if-none-exist", crit)],
        )
        .await;
    assert_eq!(d.status, StatusCode::PRECONDITION_FAILED);
    let e = s
        .send(
            Method::POST,
            "Patient",
            Some(&p),
            &[("if-none-exist", "name=孙")],
        )
        .await;
    assert_eq!(
        e.status,
        StatusCode::PRECONDITION_FAILED,
        "criteria are a real search: both patients named 孙 match"
    );
    let f = s
        .send(
            Method::POST,
            "Patient",
            Some(&p),
            &[("if-none-exist", "colour=red")],
        )
        .await;
    assert_eq!(
        f.status,
        StatusCode::BAD_REQUEST,
        "unknown criteria are refused, not ignored"
    );
    assert!(f.diagnostics().contains("colour"), "{}", f.diagnostics());
}

async fn json_patch_updates_and_bad_patches_change_nothing(s: &TestServer) {
    let created = s.post("Patient", &patient("胡")).await;
    let id = created.body["id"].as_str().unwrap().to_owned();
    let patch = |body: &str, ct: &str| {
        s.client
            .patch(s.url(&format!("Patient/{id}")))
            .header("content-type", ct.to_owned())
            .body(body.to_owned())
            .send()
    };
    let a = TestServer::answer(
        patch(r#"[{"op":"replace","path":"/gender","value":"female"},{"op":"add","path":"/active","value":true}]"#, "application/json-patch+json")
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.diagnostics());
    assert_eq!(a.body["gender"], "female");
    assert_eq!(a.body["active"], true);
    assert_eq!(a.body["meta"]["versionId"], "2");
    let bad = patch(
        r#"[{"op":"replace","path":"/gender","value":12}]"#,
        "application/json-patch+json",
    )
    .await
    .unwrap();
    assert_eq!(
        bad.status().as_u16() / 100,
        4,
        "a patch producing an invalid resource is refused"
    );
    let id_change = patch(
        r#"[{"op":"replace","path":"/id","value":"other"}]"#,
        "application/json-patch+json",
    )
    .await
    .unwrap();
    assert_eq!(id_change.status().as_u16() / 100, 4);
    let failing = patch(
        r#"[{"op":"test","path":"/gender","value":"male"}]"#,
        "application/json-patch+json",
    )
    .await
    .unwrap();
    assert_eq!(failing.status().as_u16() / 100, 4);
    let wrong_type = patch("[]", "application/json").await.unwrap();
    assert_eq!(wrong_type.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let now = s.get(&format!("Patient/{id}")).await;
    assert_eq!(
        now.body["meta"]["versionId"], "2",
        "failed patches wrote nothing"
    );
    let missing = s
        .client
        .patch(s.url("Patient/nope"))
        .header("content-type", "application/json-patch+json")
        .body("[]")
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
}

async fn history_pages_with_cursor_links_and_filters_since_and_at(s: &TestServer) {
    let mut ids = Vec::new();
    for i in 0..7 {
        let a = s.post("Patient", &patient(&format!("郑{i}"))).await;
        ids.push(a.body["id"].as_str().unwrap().to_owned());
    }
    s.post(
        "Observation",
        &json!({"resourceType": "Observation", "status": "final", "code": {"text": "血压"}}),
    )
    .await;
    let first = s.get("Patient/_history?_count=3").await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.diagnostics());
    assert_eq!(first.body["type"], "history");
    assert_eq!(first.body["total"], 7);
    let mut seen = Vec::new();
    let mut page = first;
    loop {
        for e in page.body["entry"].as_array().unwrap() {
            seen.push(e["resource"]["id"].as_str().unwrap().to_owned());
            assert!(e["fullUrl"].as_str().unwrap().starts_with(&s.base));
        }
        let next = page.body["link"]
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["relation"] == "next")
            .map(|l| l["url"].as_str().unwrap().to_owned());
        match next {
            Some(url) => page = s.get(&url).await,
            None => break,
        }
    }
    ids.reverse();
    assert_eq!(
        seen, ids,
        "newest first, every version exactly once across pages"
    );
    let system = s.get("_history").await;
    assert_eq!(system.body["total"], 8);
    assert_eq!(
        system.body["entry"][0]["resource"]["resourceType"],
        "Observation"
    );
    // _since: only later writes
    let last = s.get(&format!("Patient/{}", ids[0])).await;
    let since = last.body["meta"]["lastUpdated"]
        .as_str()
        .unwrap()
        .to_owned();
    let later = s
        .get(&format!(
            "Patient/_history?_since={}",
            since.replace('+', "%2B")
        ))
        .await;
    assert_eq!(later.status, StatusCode::OK, "{}", later.diagnostics());
    assert!(
        later.body["total"].as_u64().unwrap() >= 1 && later.body["total"].as_u64().unwrap() < 7
    );
    let none = s.get("Patient/_history?_at=2000-01-01").await;
    assert_eq!(none.body["total"], 0);
    assert_eq!(
        s.get("Patient/_history?_since=yesterday").await.status,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        s.get("Patient/_history?_count=abc").await.status,
        StatusCode::BAD_REQUEST
    );
}

async fn if_none_match_on_read_answers_304(s: &TestServer) {
    let created = s.post("Patient", &patient("朱")).await;
    let id = created.body["id"].as_str().unwrap().to_owned();
    let a = s
        .send(
            Method::GET,
            &format!("Patient/{id}"),
            None,
            &[("if-none-match", "W/\"1\"")],
        )
        .await;
    assert_eq!(a.status, StatusCode::NOT_MODIFIED);
    let b = s
        .send(
            Method::GET,
            &format!("Patient/{id}"),
            None,
            &[("if-none-match", "W/\"0\"")],
        )
        .await;
    assert_eq!(b.status, StatusCode::OK);
}

/// Sends `n` concurrent PUTs of `created` (each with a different given name) and
/// returns their statuses.
async fn racing_updates(
    s: &TestServer,
    created: &Value,
    n: usize,
    if_match: Option<&str>,
) -> Vec<StatusCode> {
    let id = created["id"].as_str().unwrap();
    let mut tasks = Vec::new();
    for i in 0..n {
        let mut req = s
            .client
            .put(s.url(&format!("Patient/{id}")))
            .header("content-type", "application/fhir+json");
        if let Some(tag) = if_match {
            req = req.header("if-match", tag.to_owned());
        }
        let mut body = created.clone();
        body["name"][0]["given"] = json!([format!("g{i}")]);
        tasks.push(tokio::spawn(async move {
            req.body(body.to_string()).send().await.unwrap().status()
        }));
    }
    let mut statuses = Vec::new();
    for t in tasks {
        statuses.push(t.await.unwrap());
    }
    statuses
}

async fn concurrent_updates_without_if_match_lose_nothing(s: &TestServer) {
    let created = s.post("Patient", &patient("高")).await;
    let id = created.body["id"].as_str().unwrap().to_owned();
    for status in racing_updates(s, &created.body, 32, None).await {
        assert_eq!(status, StatusCode::OK);
    }
    let now = s.get(&format!("Patient/{id}")).await;
    assert_eq!(now.body["meta"]["versionId"], "33");
    let h = s.get(&format!("Patient/{id}/_history?_count=100")).await;
    let versions: Vec<u64> = h.body["entry"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            e["resource"]["meta"]["versionId"]
                .as_str()
                .unwrap()
                .parse()
                .unwrap()
        })
        .collect();
    assert_eq!(versions, (1..=33).rev().collect::<Vec<u64>>());
}

async fn concurrent_updates_with_if_match_let_exactly_one_win(s: &TestServer) {
    let created = s.post("Patient", &patient("林")).await;
    let id = created.body["id"].as_str().unwrap().to_owned();
    let mut ok = 0;
    for status in racing_updates(s, &created.body, 16, Some("W/\"1\"")).await {
        match status {
            StatusCode::OK => ok += 1,
            StatusCode::PRECONDITION_FAILED | StatusCode::CONFLICT => {}
            other => panic!("unexpected status {other}"),
        }
    }
    assert_eq!(ok, 1, "exactly one writer wins");
    assert_eq!(
        s.get(&format!("Patient/{id}")).await.body["meta"]["versionId"],
        "2"
    );
}
