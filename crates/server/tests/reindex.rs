//! Custom search parameters and reindexing, over a real socket on both stores: a
//! SearchParameter posted to the server is searchable for new writes at once and for
//! resources stored before it after `$reindex`; `hutong reindex` does the same on a
//! database file.
mod support;

use serde_json::{json, Value};
use support::TestServer;

both_backends!(
    posted_search_parameter_indexes_new_writes_at_once_and_old_ones_after_reindex,
    reindex_operation_rejects_unknown_types_and_parameters,
);

/// The search registry is process-wide and every server of this file installs its own
/// custom parameters: the tests take turns.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

const COLOUR_URL: &str = "http://example.org/fhir/StructureDefinition/favourite-colour";

fn colour_parameter() -> Value {
    json!({"resourceType": "SearchParameter", "id": "favourite-colour",
        "url": "http://example.org/fhir/SearchParameter/favourite-colour",
        "name": "FavouriteColour", "status": "active",
        "description": "The colour a patient likes best",
        "code": "favourite-colour", "base": ["Patient"], "type": "string",
        "expression": format!("Patient.extension('{COLOUR_URL}').value")})
}

fn patient(id: &str, colour: &str) -> Value {
    json!({"resourceType": "Patient", "id": id, "gender": "female",
        "extension": [{"url": COLOUR_URL, "valueString": colour}]})
}

async fn ids(s: &TestServer, query: &str) -> Vec<String> {
    let a = s.get(query).await;
    assert_eq!(a.status, 200, "{query}: {}", a.diagnostics());
    let mut ids: Vec<String> = a.body["entry"]
        .as_array()
        .map(|e| {
            e.iter()
                .filter_map(|e| e["resource"]["id"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    ids.sort();
    ids
}

async fn posted_search_parameter_indexes_new_writes_at_once_and_old_ones_after_reindex(
    s: &TestServer,
) {
    let _turn = SERIAL.lock().await;
    hutong_search::registry::install_custom(&[]);
    for (id, colour) in [("p1", "red"), ("p2", "blue")] {
        assert_eq!(
            s.put(&format!("Patient/{id}"), &patient(id, colour))
                .await
                .status,
            201
        );
    }
    let unknown = s.get("Patient?favourite-colour=red").await;
    assert_eq!(unknown.status, 400, "not a parameter yet");

    let created = s
        .put("SearchParameter/favourite-colour", &colour_parameter())
        .await;
    assert_eq!(created.status, 201, "{}", created.diagnostics());
    // a parameter now, but what was stored before it is not indexed yet
    assert!(ids(s, "Patient?favourite-colour=red").await.is_empty());
    // a new write is indexed at once
    assert_eq!(s.put("Patient/p3", &patient("p3", "Red")).await.status, 201);
    assert_eq!(ids(s, "Patient?favourite-colour=red").await, ["p3"]);

    let r = s
        .send(
            reqwest::Method::POST,
            "$reindex?param=favourite-colour",
            None,
            &[],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.diagnostics());
    assert_eq!(r.body["resourceType"], "OperationOutcome");
    assert!(
        r.diagnostics().contains("finished, 3 resources"),
        "{}",
        r.diagnostics()
    );
    assert_eq!(ids(s, "Patient?favourite-colour=red").await, ["p1", "p3"]);
    assert_eq!(ids(s, "Patient?favourite-colour:exact=blue").await, ["p2"]);
    assert_eq!(
        ids(s, "Patient?favourite-colour=red&gender=female").await,
        ["p1", "p3"]
    );

    // the CapabilityStatement lists it
    let cs = s.get("metadata").await;
    let patient_params = cs.body["rest"][0]["resource"]
        .as_array()
        .and_then(|rs| rs.iter().find(|r| r["type"] == "Patient"))
        .map(|r| r["searchParam"].clone())
        .unwrap_or_default();
    assert!(
        patient_params.as_array().is_some_and(|ps| ps
            .iter()
            .any(|p| p["name"] == "favourite-colour" && p["type"] == "string")),
        "{patient_params}"
    );

    // an active parameter that cannot be searched is refused, and nothing is stored
    let mut shadow = colour_parameter();
    shadow["id"] = "shadow".into();
    shadow["url"] = "http://example.org/fhir/SearchParameter/shadow".into();
    shadow["code"] = "gender".into();
    let refused = s.put("SearchParameter/shadow", &shadow).await;
    assert_eq!(refused.status, 400);
    assert!(
        refused.diagnostics().contains("shadows"),
        "{}",
        refused.diagnostics()
    );
    let mut broken = colour_parameter();
    broken["id"] = "broken".into();
    broken["code"] = "broken".into();
    broken["expression"] = "Patient.extension(".into();
    assert_eq!(s.put("SearchParameter/broken", &broken).await.status, 400);
    assert_eq!(s.count(Some("SearchParameter")).await, 1);

    // retired: no longer a parameter
    let mut retired = colour_parameter();
    retired["status"] = "retired".into();
    assert_eq!(
        s.put("SearchParameter/favourite-colour", &retired)
            .await
            .status,
        200
    );
    assert_eq!(s.get("Patient?favourite-colour=red").await.status, 400);
    hutong_search::registry::install_custom(&[]);
}

async fn reindex_operation_rejects_unknown_types_and_parameters(s: &TestServer) {
    let _turn = SERIAL.lock().await;
    let body = json!({"resourceType": "Parameters", "parameter": [
        {"name": "type", "valueCode": "Patient"}, {"name": "param", "valueString": "nonsense"}]});
    let r = s.post("$reindex", &body).await;
    assert_eq!(r.status, 400);
    assert!(r.diagnostics().contains("nonsense"), "{}", r.diagnostics());
    let r = s
        .send(reqwest::Method::POST, "$reindex?type=Nonsense", None, &[])
        .await;
    assert_eq!(r.status, 400);
    // a Parameters body that selects well runs
    assert_eq!(s.put("Patient/a", &patient("a", "red")).await.status, 201);
    let body = json!({"resourceType": "Parameters", "parameter": [
        {"name": "type", "valueCode": "Patient"}, {"name": "param", "valueString": "gender"}]});
    let r = s.post("$reindex", &body).await;
    assert_eq!(r.status, 200, "{}", r.diagnostics());
    assert!(
        r.diagnostics().contains("finished, 1 resources"),
        "{}",
        r.diagnostics()
    );
}

#[tokio::test]
async fn reindex_binary_loads_custom_parameters_and_indexes_a_database_file() {
    let _turn = SERIAL.lock().await;
    let file = std::env::temp_dir().join(format!(
        "hutong-reindex-bin-{}.db",
        uuid::Uuid::new_v4().simple()
    ));
    let url = format!("sqlite://{}", file.display());
    hutong_search::registry::install_custom(&[]);
    {
        // Written with R4 only, as a server that does not know the parameter yet would.
        let store = hutong_store::open(&url).await.expect("open");
        let ctx = hutong_store::AccessContext::system("test");
        let mut tx = store.begin(&ctx).await.expect("begin");
        let writes = [
            patient("p1", "red"),
            patient("p2", "blue"),
            colour_parameter(),
        ]
        .into_iter()
        .map(|r| hutong_store::PendingWrite {
            kind: hutong_store::WriteKind::Update,
            resource_type: r["resourceType"].as_str().unwrap_or_default().to_owned(),
            id: r["id"].as_str().unwrap_or_default().to_owned(),
            resource: Some(r),
            if_match: None,
        })
        .collect();
        tx.apply(writes).await.expect("apply");
        tx.commit().await.expect("commit");
    }
    let hutong = env!("CARGO_BIN_EXE_hutong");
    let bad = std::process::Command::new(hutong)
        .args(["reindex", "--database", &url, "--param", "nonsense"])
        .output()
        .expect("run hutong");
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("nonsense"));

    let out = std::process::Command::new(hutong)
        .args(["reindex", "--database", &url, "--param", "favourite-colour"])
        .output()
        .expect("run hutong");
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(
        stderr.contains("reindex: 2/2 resources (100.0%)"),
        "{stderr}"
    );
    assert!(stdout.contains("finished, 2 resources"), "{stdout}");

    // The server that starts on it next installs the parameter and finds p1.
    hutong_search::registry::install_custom(&[colour_parameter()]);
    let store = hutong_store::open(&url).await.expect("reopen");
    let params = vec![("favourite-colour".to_owned(), "red".to_owned())];
    let q = hutong_search::SearchQuery::parse(
        "Patient",
        &params,
        &hutong_search::query::ParseOptions::default(),
    )
    .expect("query");
    let page = store
        .search(&hutong_store::AccessContext::system("test"), &q)
        .await
        .expect("search");
    let found: Vec<String> = page.entries.into_iter().map(|v| v.id).collect();
    assert_eq!(found, ["p1"]);
    hutong_search::registry::install_custom(&[]);
    drop(store);
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", file.display()));
    }
}
