//! The `hutong` binary itself: version, help, import error reporting, and durability of
//! acknowledged writes across `kill -9`.
mod support;

use serde_json::json;
use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

fn hutong() -> Command {
    Command::new(env!("CARGO_BIN_EXE_hutong"))
}

fn temp_path(name: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!(
        "hutong-bin-{}-{name}",
        uuid::Uuid::new_v4().simple()
    ))
}

#[test]
fn version_and_serve_help_document_every_option() {
    let v = hutong().arg("--version").output().unwrap();
    assert!(v.status.success());
    assert!(String::from_utf8_lossy(&v.stdout).starts_with("hutong "));
    let h = hutong().args(["serve", "--help"]).output().unwrap();
    let text = String::from_utf8_lossy(&h.stdout);
    for opt in [
        "--listen",
        "--database",
        "--config",
        "--base-url",
        "--body-limit",
        "--insecure-dev",
        "--token",
        "HUTONG_DATABASE_URL",
    ] {
        assert!(
            text.contains(opt),
            "serve --help does not mention {opt}:\n{text}"
        );
    }
}

#[test]
fn serve_refuses_to_start_without_tokens_or_insecure_dev() {
    let db = temp_path("refuse.db");
    let out = hutong()
        .args(["serve", "--listen", "127.0.0.1:0", "--database"])
        .arg(format!("sqlite://{}", db.display()))
        .env_remove("HUTONG_INSECURE_DEV")
        .env_remove("HUTONG_TOKENS")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--insecure-dev"));
}

#[test]
fn import_rejects_a_bad_bundle_whole_and_reports_it_per_file() {
    let dir = temp_path("import");
    std::fs::create_dir_all(&dir).unwrap();
    let good = json!({"resourceType": "Bundle", "type": "transaction", "entry": [
        {"fullUrl": "urn:uuid:00000000-0000-4000-8000-000000000001", "resource": {"resourceType": "Patient", "gender": "male"}, "request": {"method": "POST", "url": "Patient"}}
    ]});
    let bad = json!({"resourceType": "Bundle", "type": "transaction", "entry": [
        {"fullUrl": "urn:uuid:00000000-0000-4000-8000-000000000002", "resource": {"resourceType": "Patient"}, "request": {"method": "POST", "url": "Patient"}},
        {"fullUrl": "urn:uuid:00000000-0000-4000-8000-000000000003", "resource": {"resourceType": "Patient", "birthDate": "19900101"}, "request": {"method": "POST", "url": "Patient"}}
    ]});
    std::fs::write(dir.join("a-good.json"), good.to_string()).unwrap();
    std::fs::write(dir.join("b-bad.json"), bad.to_string()).unwrap();
    let mut nd = std::fs::File::create(dir.join("c-lines.ndjson")).unwrap();
    writeln!(
        nd,
        "{}",
        json!({"resourceType": "Organization", "id": "org-1", "name": "乡镇卫生院"})
    )
    .unwrap();
    writeln!(
        nd,
        "{}",
        json!({"resourceType": "Practitioner", "id": "pr-1"})
    )
    .unwrap();
    drop(nd);
    let db = temp_path("import.db");
    let url = format!("sqlite://{}", db.display());
    let out = hutong()
        .args(["import", "--quiet", "--database", &url])
        .arg(&dir)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "a rejected file makes the import fail"
    );
    assert!(stderr.contains("b-bad.json"), "{stderr}");
    assert!(
        stderr.contains("birthDate"),
        "the report names the element: {stderr}"
    );
    assert!(!stderr.contains("a-good.json"), "{stderr}");
    let rt = tokio::runtime::Runtime::new().unwrap();
    let counts = rt.block_on(async {
        let store = hutong_store::open(&url).await.unwrap();
        let ctx = hutong_store::AccessContext::system("test");
        (
            store.count(&ctx, Some("Patient")).await.unwrap(),
            store.count(&ctx, Some("Organization")).await.unwrap(),
            store.count(&ctx, Some("Practitioner")).await.unwrap(),
        )
    });
    assert_eq!(
        counts,
        (1, 1, 1),
        "good file and NDJSON in, nothing of the bad Bundle"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// An NDJSON file larger than one storage chunk goes in whole; one bad line anywhere
/// (here after two full chunks) keeps the whole file out and is named by its number.
#[test]
fn ndjson_imports_in_chunks_and_a_bad_line_keeps_the_whole_file_out() {
    let dir = temp_path("ndjson-chunks");
    std::fs::create_dir_all(&dir).unwrap();
    let write = |name: &str, bad_line: bool| {
        let path = dir.join(name);
        let mut f = std::fs::File::create(&path).unwrap();
        for n in 0..2345 {
            if n == 1200 {
                writeln!(f).unwrap(); // blank lines are skipped but counted
            }
            writeln!(
                f,
                "{}",
                json!({"resourceType": "Organization", "id": format!("org-{n}"), "name": format!("卫生院 {n}")})
            )
            .unwrap();
        }
        if bad_line {
            writeln!(
                f,
                "{}",
                json!({"resourceType": "Patient", "birthDate": "1990-13-01"})
            )
            .unwrap();
        }
        path
    };
    let bad = write("bad.ndjson", true);
    let good = write("good.ndjson", false);
    let db = temp_path("ndjson-chunks.db");
    let url = format!("sqlite://{}", db.display());
    let import = |file: &std::path::Path| {
        hutong()
            .args(["import", "--quiet", "--database", &url])
            .arg(file)
            .output()
            .unwrap()
    };
    let count = || {
        tokio::runtime::Runtime::new().unwrap().block_on(async {
            let store = hutong_store::open(&url).await.unwrap();
            let ctx = hutong_store::AccessContext::system("test");
            (
                store.count(&ctx, Some("Organization")).await.unwrap(),
                store.count(&ctx, Some("Patient")).await.unwrap(),
            )
        })
    };
    let out = import(&bad);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains("line 2347"),
        "the bad line is named: {stderr}"
    );
    assert_eq!(count(), (0, 0), "nothing of a file with a bad line");
    let out = import(&good);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(count(), (2345, 0));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn acknowledged_writes_survive_kill_dash_nine() {
    let db = temp_path("durable.db");
    let url = format!("sqlite://{}", db.display());
    let mut ids = Vec::new();
    let rt = tokio::runtime::Runtime::new().unwrap();
    for round in 0..2 {
        let port = free_port();
        let mut child = hutong()
            .args([
                "serve",
                "--insecure-dev",
                "--listen",
                &format!("127.0.0.1:{port}"),
                "--database",
                &url,
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let base = format!("http://127.0.0.1:{port}/fhir");
        rt.block_on(async {
            let client = reqwest::Client::new();
            wait_ready(&client, port).await;
            for id in &ids {
                let r = client
                    .get(format!("{base}/Patient/{id}"))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(
                    r.status(),
                    reqwest::StatusCode::OK,
                    "acknowledged write {id} lost after kill -9"
                );
            }
            if round == 0 {
                for i in 0..50 {
                    let r = client
                        .post(format!("{base}/Patient"))
                        .header("content-type", "application/fhir+json")
                        .body(
                            json!({"resourceType": "Patient", "name": [{"text": format!("p{i}")}]})
                                .to_string(),
                        )
                        .send()
                        .await
                        .unwrap();
                    assert_eq!(r.status(), reqwest::StatusCode::CREATED);
                    let v: serde_json::Value = r.json().await.unwrap();
                    ids.push(v["id"].as_str().unwrap().to_owned());
                }
            }
        });
        // SIGKILL right after the last acknowledgement
        child.kill().unwrap();
        child.wait().unwrap();
    }
    assert_eq!(ids.len(), 50);
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", db.display()));
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn wait_ready(client: &reqwest::Client, port: u16) {
    for _ in 0..200 {
        if let Ok(r) = client
            .get(format!("http://127.0.0.1:{port}/healthz"))
            .send()
            .await
        {
            if r.status().is_success() {
                return;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("server did not become ready");
}

#[test]
fn fhirpath_command_prints_the_result_collection_or_the_error_position() {
    let file = temp_path("patient.json");
    std::fs::write(&file, json!({"resourceType": "Patient", "name": [{"given": ["伟", "明"]}], "birthDate": "1990-05-01"}).to_string()).unwrap();
    let out = hutong()
        .args(["fhirpath", "Patient.name.given.first() | Patient.birthDate"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v, json!(["伟", "1990-05-01"]));
    let bad = hutong()
        .args(["fhirpath", "Patient.name.where("])
        .arg(&file)
        .output()
        .unwrap();
    assert!(!bad.status.success());
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("character"),
        "{}",
        String::from_utf8_lossy(&bad.stderr)
    );
    let mut child = hutong()
        .args(["fhirpath", "1 + 1"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"{}").unwrap();
    let piped = child.wait_with_output().unwrap();
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(&piped.stdout).unwrap(),
        json!([2])
    );
    let _ = std::fs::remove_file(file);
}

#[test]
fn serve_demo_fills_an_empty_database_once() {
    let db = temp_path("demo.db");
    let url = format!("sqlite://{}", db.display());
    let rt = tokio::runtime::Runtime::new().unwrap();
    let mut totals = Vec::new();
    for _ in 0..2 {
        let port = free_port();
        let mut child = hutong()
            .args([
                "serve",
                "--insecure-dev",
                "--demo",
                "--demo-residents",
                "15",
                "--listen",
                &format!("127.0.0.1:{port}"),
                "--database",
                &url,
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let total = rt.block_on(async {
            let client = reqwest::Client::new();
            wait_ready(&client, port).await;
            // wait until the region stops growing
            let mut last = (u64::MAX, 0);
            for _ in 0..300 {
                let h: serde_json::Value = client
                    .get(format!("http://127.0.0.1:{port}/fhir/_history?_count=1"))
                    .send()
                    .await
                    .unwrap()
                    .json()
                    .await
                    .unwrap();
                let t = h["total"].as_u64().unwrap();
                if t > 0 && t == last.0 {
                    last.1 += 1;
                    if last.1 >= 5 {
                        break;
                    }
                } else {
                    last = (t, 0);
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            let patients: serde_json::Value = client
                .get(format!(
                    "http://127.0.0.1:{port}/fhir/Patient/_history?_count=1"
                ))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            assert!(
                patients["total"].as_u64().unwrap() >= 15,
                "every demo resident is registered"
            );
            last.0
        });
        child.kill().unwrap();
        child.wait().unwrap();
        totals.push(total);
    }
    assert!(
        totals[0] > 100,
        "a demo region has institutions, staff and clinical history"
    );
    assert_eq!(totals[0], totals[1], "a second start loads nothing more");
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", db.display()));
    }
}

#[test]
fn sigterm_shuts_the_server_down_gracefully() {
    let db = temp_path("term.db");
    let port = free_port();
    let child = hutong()
        .args([
            "serve",
            "--insecure-dev",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--database",
        ])
        .arg(format!("sqlite://{}", db.display()))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(wait_ready(&reqwest::Client::new(), port));
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "exit after SIGTERM: {:?}", out.status);
    assert!(String::from_utf8_lossy(&out.stderr).contains("shutdown signal received"));
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", db.display()));
    }
}

/// One process per database runs the master patient index: a second `hutong serve` (or
/// `hutong import`) on a database whose MPI is running stops with a clear error, and
/// starts once the first has exited.
#[test]
fn a_second_process_on_the_database_refuses_to_run_the_mpi() {
    let db = temp_path("lease.db");
    let url = format!("sqlite://{}", db.display());
    let serve = |port: u16| {
        hutong()
            .args(["serve", "--insecure-dev", "--listen"])
            .arg(format!("127.0.0.1:{port}"))
            .args(["--database", &url])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let rt = tokio::runtime::Runtime::new().unwrap();
    let port = free_port();
    let mut first = serve(port);
    rt.block_on(wait_ready(&reqwest::Client::new(), port));

    let second = serve(free_port()).wait_with_output().unwrap();
    assert!(
        !second.status.success(),
        "a second server started beside the first"
    );
    let err = String::from_utf8_lossy(&second.stderr);
    assert!(err.contains("run by another hutong process"), "{err}");
    let bundle = temp_path("lease-import.json");
    std::fs::write(
        &bundle,
        json!({"resourceType": "Bundle", "type": "transaction", "entry": []}).to_string(),
    )
    .unwrap();
    let import = hutong()
        .args(["import", "--quiet", "--database", &url])
        .arg(&bundle)
        .output()
        .unwrap();
    assert!(
        !import.status.success(),
        "an import linked beside the server"
    );
    assert!(String::from_utf8_lossy(&import.stderr).contains("run by another hutong process"));

    first.kill().unwrap();
    first.wait().unwrap();
    let port = free_port();
    let mut again = serve(port);
    rt.block_on(wait_ready(&reqwest::Client::new(), port));
    again.kill().unwrap();
    again.wait().unwrap();
    let _ = std::fs::remove_file(&bundle);
    for suffix in ["", "-wal", "-shm", "-lease-mpi"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", db.display()));
    }
}
