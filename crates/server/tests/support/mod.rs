//! A real `hutong` server on a random loopback port, over SQLite or PostgreSQL.
#![allow(dead_code)]

use hutong_server::app::{serve, AppState};
use hutong_server::config::{Config, TokenConfig};
use hutong_store::Store;
use reqwest::{Method, StatusCode};
use serde_json::Value;
use std::sync::Arc;

/// Runs each listed `async fn name(s: &TestServer)` of the enclosing file against
/// both backends, as `sqlite::name` and `postgres::name`.
#[macro_export]
macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let s = $crate::support::TestServer::sqlite().await;
                    super::$name(&s).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let Some(s) = $crate::support::TestServer::postgres().await else { return };
                    super::$name(&s).await;
                }
            )*
        }
    };
}

/// A server answering on a real socket.
pub struct TestServer {
    /// FHIR base, e.g. `http://127.0.0.1:41234/fhir`.
    pub base: String,
    /// Root URL without `/fhir`.
    pub root: String,
    pub client: reqwest::Client,
    pub store: Arc<dyn Store>,
    /// The database URL the server uses.
    pub database: String,
    pg_schema: Option<String>,
    sqlite_file: Option<std::path::PathBuf>,
}

/// An answer: status, headers, and the body parsed as JSON (Null when empty).
pub struct Answer {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
    pub raw: Vec<u8>,
}

impl Answer {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
    /// The diagnostics of an OperationOutcome answer, joined.
    pub fn diagnostics(&self) -> String {
        self.body["issue"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|i| i["diagnostics"].as_str())
                    .collect::<Vec<_>>()
                    .join(" | ")
            })
            .unwrap_or_default()
    }
    /// The expressions of an OperationOutcome answer.
    pub fn expressions(&self) -> Vec<String> {
        self.body["issue"]
            .as_array()
            .map(|a| {
                a.iter()
                    .flat_map(|i| i["expression"].as_array().cloned().unwrap_or_default())
                    .filter_map(|e| e.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    }
}

pub fn postgres_url() -> Option<String> {
    match std::env::var("HUTONG_TEST_POSTGRES_URL") {
        Ok(u) if !u.is_empty() => Some(u),
        _ => {
            eprintln!("!!!!! SKIPPED (HUTONG_TEST_POSTGRES_URL not set): PostgreSQL variant of this test did not run !!!!!");
            None
        }
    }
}

/// The configuration of [`TestServer::sqlite`] / [`TestServer::postgres`]: development
/// mode, and the master patient index off, because its golden records (Person
/// resources written after each Patient) would show in every test that counts resources,
/// history or compartments. `tests/mpi.rs` runs with the MPI on (the product default).
pub fn test_config() -> Config {
    Config {
        insecure_dev: true,
        mpi: hutong_server::config::MpiConfig {
            enabled: false,
            ..Default::default()
        },
        ..Config::default()
    }
}

impl TestServer {
    pub async fn sqlite() -> TestServer {
        Self::sqlite_with(test_config()).await
    }

    pub async fn sqlite_with(config: Config) -> TestServer {
        let file =
            std::env::temp_dir().join(format!("hutong-test-{}.db", uuid::Uuid::new_v4().simple()));
        let url = format!("sqlite://{}", file.display());
        let mut s = Self::start(url, config).await;
        s.sqlite_file = Some(file);
        s
    }

    pub async fn postgres() -> Option<TestServer> {
        Self::postgres_with(test_config()).await
    }

    pub async fn postgres_with(config: Config) -> Option<TestServer> {
        let base = postgres_url()?;
        let schema = format!("t_{}", uuid::Uuid::new_v4().simple());
        let sep = if base.contains('?') { '&' } else { '?' };
        let url = format!("{base}{sep}schema={schema}&max_connections=8");
        let mut s = Self::start(url, config).await;
        s.pg_schema = Some(schema);
        Some(s)
    }

    /// Starts on the given database with a `--token`-configured server (no insecure dev).
    pub async fn with_tokens(tokens: Vec<TokenConfig>) -> TestServer {
        Self::sqlite_with(Config {
            insecure_dev: false,
            tokens,
            ..Config::default()
        })
        .await
    }

    /// A second server on this one's database, as after a restart: its own store and
    /// in-memory state. This one's master patient index stops first (one process per
    /// database runs it). The database still belongs to (and is dropped with) `self`.
    pub async fn reopen(&self, config: Config) -> TestServer {
        if let Some(mpi) = hutong_server::mpi::for_store(self.store.as_ref()) {
            mpi.stop().await;
        }
        Self::start(self.database.clone(), config).await
    }

    async fn start(database: String, mut config: Config) -> TestServer {
        let store = hutong_store::open(&database)
            .await
            .expect("test database opens");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind loopback");
        let addr = listener.local_addr().expect("local addr");
        config.listen = addr;
        config.database = database.clone();
        let state = AppState::new(Arc::clone(&store), config);
        tokio::spawn(async move {
            let _ = serve(listener, state).await;
        });
        TestServer {
            base: format!("http://{addr}/fhir"),
            root: format!("http://{addr}"),
            client: reqwest::Client::new(),
            store,
            database,
            pg_schema: None,
            sqlite_file: None,
        }
    }

    pub fn url(&self, path: &str) -> String {
        if path.starts_with("http") {
            path.to_owned()
        } else if path.is_empty() {
            self.base.clone()
        } else {
            format!("{}/{}", self.base, path.trim_start_matches('/'))
        }
    }

    /// Sends a request; `body` JSON is sent as application/fhir+json.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        headers: &[(&str, &str)],
    ) -> Answer {
        let mut req = self.client.request(method, self.url(path));
        if let Some(b) = body {
            req = req
                .header("content-type", "application/fhir+json")
                .body(serde_json::to_vec(b).expect("serialise test body"));
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        Self::answer(req.send().await.expect("request reaches the server")).await
    }

    pub async fn answer(resp: reqwest::Response) -> Answer {
        let status = resp.status();
        let headers = resp.headers().clone();
        let raw = resp.bytes().await.expect("read body").to_vec();
        let body = if raw.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&raw).unwrap_or(Value::Null)
        };
        Answer {
            status,
            headers,
            body,
            raw,
        }
    }

    pub async fn get(&self, path: &str) -> Answer {
        self.send(Method::GET, path, None, &[]).await
    }
    pub async fn post(&self, path: &str, body: &Value) -> Answer {
        self.send(Method::POST, path, Some(body), &[]).await
    }
    pub async fn put(&self, path: &str, body: &Value) -> Answer {
        self.send(Method::PUT, path, Some(body), &[]).await
    }
    pub async fn delete(&self, path: &str) -> Answer {
        self.send(Method::DELETE, path, None, &[]).await
    }

    /// Current number of non-deleted resources (all types when `None`).
    pub async fn count(&self, resource_type: Option<&str>) -> u64 {
        self.store
            .count(&hutong_store::AccessContext::system("test"), resource_type)
            .await
            .expect("count")
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(schema) = &self.pg_schema {
            if let Ok(url) = std::env::var("HUTONG_TEST_POSTGRES_URL") {
                let _ = std::process::Command::new("psql")
                    .args([
                        url.as_str(),
                        "-q",
                        "-c",
                        &format!("DROP SCHEMA IF EXISTS {schema} CASCADE"),
                    ])
                    .output();
            }
        }
        if let Some(f) = &self.sqlite_file {
            for suffix in ["", "-wal", "-shm"] {
                let _ = std::fs::remove_file(format!("{}{suffix}", f.display()));
            }
        }
    }
}

/// A minimal valid Patient.
pub fn patient(family: &str) -> Value {
    serde_json::json!({
        "resourceType": "Patient",
        "identifier": [{ "system": "urn:oid:2.16.156.10011.1.3", "value": format!("11010519491231002{}", family.len() % 10) }],
        "name": [{ "family": family, "given": ["伟"] }],
        "gender": "male",
        "birthDate": "1949-12-31"
    })
}

/// The repository's shared data folder (`../shared` beside the repo), if present.
pub fn shared_dir() -> Option<std::path::PathBuf> {
    let dir = std::env::var_os("HUTONG_SHARED_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared")
        });
    dir.is_dir().then_some(dir)
}

/// The extracted FHIR R4 examples package (`vendor-r4/package`), if fetched.
pub fn r4_examples_dir() -> Option<std::path::PathBuf> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../vendor-r4/package");
    dir.is_dir().then_some(dir)
}

/// Every `Type/id` reference string inside a resource.
pub fn literal_references(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            for (k, c) in m {
                if k == "reference" {
                    if let Some(s) = c.as_str() {
                        out.push(s.to_owned());
                    }
                } else {
                    literal_references(c, out);
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|c| literal_references(c, out)),
        _ => {}
    }
}

/// Walks the whole system history (current versions only) through the REST API and
/// returns every current resource.
pub async fn all_current_resources(s: &TestServer) -> Vec<Value> {
    let mut out = std::collections::HashMap::new();
    let mut url = s.url("_history?_count=1000");
    loop {
        let page = s.get(&url).await;
        assert_eq!(
            page.status,
            reqwest::StatusCode::OK,
            "{}",
            page.diagnostics()
        );
        for e in page.body["entry"].as_array().cloned().unwrap_or_default() {
            let full = e["fullUrl"].as_str().unwrap_or_default().to_owned();
            // newest first: the first version seen of a resource is its current one
            out.entry(full)
                .or_insert_with(|| e.get("resource").cloned());
        }
        let next = page.body["link"]
            .as_array()
            .and_then(|l| l.iter().find(|l| l["relation"] == "next"))
            .and_then(|l| l["url"].as_str().map(str::to_owned));
        match next {
            Some(n) => url = n,
            None => break,
        }
    }
    out.into_values().flatten().collect()
}
