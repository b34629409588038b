//! `Store::reindex`: index rows lost or added by a parameter change come back, a job
//! interrupted after some batches resumes after them without redoing them, `--type` and
//! `--param` restrict what is touched, and writes running meanwhile are never undone —
//! on SQLite (a file, so the tests can tamper with it) and PostgreSQL.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use hutong_search::query::ParseOptions;
use hutong_search::SearchQuery;
use hutong_store::{
    AccessContext, PendingWrite, ReindexControl, ReindexProgress, ReindexSpec, Store, WriteKind,
};
use serde_json::{json, Value};

// ---------------------------------------------------------------- harness

/// One database under test, reachable by SQL too.
struct Db {
    store: Arc<dyn Store>,
    kind: Kind,
}

enum Kind {
    Sqlite(std::path::PathBuf),
    Postgres { base_url: String, schema: String },
}

impl Db {
    async fn sqlite() -> Db {
        let path = std::env::temp_dir().join(format!(
            "hutong-reindex-{}.db",
            uuid::Uuid::new_v4().simple()
        ));
        let store = hutong_store::open(&format!("sqlite://{}", path.display()))
            .await
            .expect("open sqlite");
        Db {
            store,
            kind: Kind::Sqlite(path),
        }
    }

    async fn postgres() -> Option<Db> {
        let Ok(base_url) = std::env::var("HUTONG_TEST_POSTGRES_URL") else {
            eprintln!("!!!!! SKIPPED (HUTONG_TEST_POSTGRES_URL not set): PostgreSQL variant of this test did not run !!!!!");
            return None;
        };
        let schema = format!("t_{}", uuid::Uuid::new_v4().simple());
        let sep = if base_url.contains('?') { '&' } else { '?' };
        let store = hutong_store::open(&format!("{base_url}{sep}schema={schema}"))
            .await
            .expect("open postgres");
        Some(Db {
            store,
            kind: Kind::Postgres { base_url, schema },
        })
    }

    /// Runs SQL statements on the database behind the store's back.
    async fn sql(&self, sql: &str) {
        match &self.kind {
            Kind::Sqlite(path) => {
                let conn = rusqlite::Connection::open(path).expect("sqlite");
                conn.busy_timeout(std::time::Duration::from_secs(10))
                    .expect("busy timeout");
                conn.execute_batch(sql).expect("sql");
            }
            Kind::Postgres { base_url, schema } => {
                let pool = sqlx::PgPool::connect(base_url).await.expect("connect");
                sqlx::raw_sql(&format!("SET search_path TO \"{schema}\"; {sql}"))
                    .execute(&pool)
                    .await
                    .expect("sql");
            }
        }
    }

    /// Every row of every search index table, as sorted text lines.
    async fn index_rows(&self) -> Vec<String> {
        const TABLES: [&str; 8] = [
            "idx_string",
            "idx_token",
            "idx_date",
            "idx_number",
            "idx_quantity",
            "idx_reference",
            "idx_uri",
            "idx_composite",
        ];
        let mut rows = Vec::new();
        match &self.kind {
            Kind::Sqlite(path) => {
                let conn = rusqlite::Connection::open(path).expect("sqlite");
                for table in TABLES {
                    let mut stmt = conn
                        .prepare(&format!("SELECT * FROM {table}"))
                        .expect("prepare");
                    let width = stmt.column_count();
                    let mut q = stmt.query([]).expect("query");
                    while let Some(row) = q.next().expect("row") {
                        let cells: Vec<String> = (0..width)
                            .map(|i| format!("{:?}", row.get_ref(i).expect("cell")))
                            .collect();
                        rows.push(format!("{table} {}", cells.join("|")));
                    }
                }
            }
            Kind::Postgres { base_url, schema } => {
                let pool = sqlx::PgPool::connect(base_url).await.expect("connect");
                for table in TABLES {
                    let text: Vec<(String,)> =
                        sqlx::query_as(&format!("SELECT t::text FROM \"{schema}\".{table} t"))
                            .fetch_all(&pool)
                            .await
                            .expect("dump");
                    rows.extend(text.into_iter().map(|(t,)| format!("{table} {t}")));
                }
            }
        }
        rows.sort();
        rows
    }

    async fn finish(self) {
        drop(self.store);
        match self.kind {
            Kind::Sqlite(path) => {
                for suffix in ["", "-wal", "-shm"] {
                    let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
                }
            }
            Kind::Postgres { base_url, schema } => {
                if let Ok(pool) = sqlx::PgPool::connect(&base_url).await {
                    let _ = sqlx::raw_sql(&format!("DROP SCHEMA \"{schema}\" CASCADE"))
                        .execute(&pool)
                        .await;
                }
            }
        }
    }
}

macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    let db = super::Db::sqlite().await;
                    super::$name(&db).await;
                    db.finish().await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    let Some(db) = super::Db::postgres().await else { return };
                    super::$name(&db).await;
                    db.finish().await;
                }
            )*
        }
    };
}

both_backends!(
    index_rows_wiped_behind_the_store_come_back_after_a_reindex,
    interrupted_job_resumes_after_its_last_committed_batch,
    restart_starts_the_job_over,
    type_and_param_restrict_what_is_rebuilt,
    custom_parameter_indexes_existing_resources_after_reindex_of_its_code,
    writes_during_a_reindex_are_never_overwritten_by_older_rows,
    rows_kept_by_updates_equal_a_full_rebuild,
);

// ---------------------------------------------------------------- builders

fn ctx() -> AccessContext {
    AccessContext::system("reindex-test")
}

fn patient(i: usize, gender: &str) -> Value {
    json!({"resourceType": "Patient", "id": format!("p{i:03}"), "gender": gender,
        "name": [{"family": format!("Wang{i}")}],
        "extension": [{"url": "http://example.org/fhir/StructureDefinition/favourite-colour",
            "valueString": if i.is_multiple_of(2) { "red" } else { "blue" }}]})
}

fn observation(i: usize) -> Value {
    json!({"resourceType": "Observation", "id": format!("o{i:03}"), "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}]},
        "subject": {"reference": format!("Patient/p{i:03}")}})
}

async fn put_all(store: &dyn Store, resources: Vec<Value>) {
    let mut tx = store.begin(&ctx()).await.expect("begin");
    let writes = resources
        .into_iter()
        .map(|r| PendingWrite {
            kind: WriteKind::Update,
            resource_type: r["resourceType"].as_str().unwrap_or_default().to_owned(),
            id: r["id"].as_str().unwrap_or_default().to_owned(),
            resource: Some(r),
            if_match: None,
        })
        .collect();
    tx.apply(writes).await.expect("apply");
    tx.commit().await.expect("commit");
}

async fn seed(db: &Db, patients: usize, observations: usize) {
    put_all(
        db.store.as_ref(),
        (0..patients)
            .map(|i| patient(i, ["male", "female"][i % 2]))
            .collect(),
    )
    .await;
    put_all(
        db.store.as_ref(),
        (0..observations).map(observation).collect(),
    )
    .await;
}

/// Ids matching `rt?query`, sorted (all pages).
async fn ids(store: &dyn Store, rt: &str, query: &str) -> Vec<String> {
    let mut params: Vec<(String, String)> = query
        .split('&')
        .filter_map(|p| p.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    params.push(("_count".into(), "1000".into()));
    let q = SearchQuery::parse(rt, &params, &ParseOptions::default()).expect("query parses");
    let page = store.search(&ctx(), &q).await.expect("search");
    let mut ids: Vec<String> = page.entries.into_iter().map(|v| v.id).collect();
    ids.sort();
    ids
}

fn spec(resource_type: Option<&str>, params: &[&str]) -> ReindexSpec {
    ReindexSpec {
        resource_type: resource_type.map(str::to_owned),
        params: params.iter().map(|p| (*p).to_owned()).collect(),
        restart: false,
        batch_size: 7,
    }
}

fn keep_going(_: &ReindexProgress) -> ReindexControl {
    ReindexControl::Continue
}

fn evens(n: usize) -> Vec<String> {
    (0..n).step_by(2).map(|i| format!("p{i:03}")).collect()
}

// ---------------------------------------------------------------- behaviours

async fn index_rows_wiped_behind_the_store_come_back_after_a_reindex(db: &Db) {
    seed(db, 30, 10).await;
    assert_eq!(
        ids(db.store.as_ref(), "Patient", "gender=male").await,
        evens(30)
    );
    db.sql("DELETE FROM idx_token; DELETE FROM idx_string")
        .await;
    assert!(ids(db.store.as_ref(), "Patient", "gender=male")
        .await
        .is_empty());
    assert!(ids(db.store.as_ref(), "Patient", "family=wang3")
        .await
        .is_empty());

    let report = db
        .store
        .reindex(&spec(None, &[]), &keep_going)
        .await
        .expect("reindex");
    assert!(report.finished);
    assert_eq!(
        (report.indexed, report.done, report.resumed_from),
        (40, 40, 0)
    );
    // 30 patients in batches of 7, then 10 observations: 5 + 2 batches
    assert_eq!(report.batches, 7);
    assert_eq!(
        ids(db.store.as_ref(), "Patient", "gender=male").await,
        evens(30)
    );
    assert_eq!(
        ids(db.store.as_ref(), "Patient", "family=wang3").await,
        ["p003"]
    );
    assert_eq!(
        ids(db.store.as_ref(), "Observation", "code=8867-4")
            .await
            .len(),
        10
    );

    // A finished job is not resumed: the next run is a new job over everything.
    let again = db
        .store
        .reindex(&spec(None, &[]), &keep_going)
        .await
        .expect("reindex again");
    assert_ne!(again.job, report.job);
    assert_eq!((again.indexed, again.resumed_from), (40, 0));
    // rebuilding twice leaves exactly one copy of every row
    assert_eq!(
        ids(db.store.as_ref(), "Patient", "gender=male").await,
        evens(30)
    );
}

async fn interrupted_job_resumes_after_its_last_committed_batch(db: &Db) {
    seed(db, 30, 0).await;
    db.sql("DELETE FROM idx_token").await;
    let batches = AtomicU64::new(0);
    let stop_after_two = |_: &ReindexProgress| {
        if batches.fetch_add(1, Ordering::SeqCst) + 1 >= 2 {
            ReindexControl::Stop
        } else {
            ReindexControl::Continue
        }
    };
    let first = db
        .store
        .reindex(&spec(Some("Patient"), &[]), &stop_after_two)
        .await
        .expect("first run");
    assert!(!first.finished);
    assert_eq!((first.indexed, first.batches), (14, 2));
    // exactly the first two batches (p000…p013) are indexed
    assert_eq!(
        ids(db.store.as_ref(), "Patient", "gender=male").await,
        evens(14)
    );

    // Wipe again: a resumed run must not redo what the first run committed.
    db.sql("DELETE FROM idx_token").await;
    let seen = std::sync::Mutex::new(Vec::new());
    let record = |p: &ReindexProgress| {
        seen.lock().expect("lock").push(p.clone());
        ReindexControl::Continue
    };
    let second = db
        .store
        .reindex(&spec(Some("Patient"), &[]), &record)
        .await
        .expect("resumed run");
    assert!(second.finished);
    assert_eq!(second.job, first.job);
    assert_eq!(second.resumed_from, 14);
    assert_eq!((second.indexed, second.done), (16, 30));
    let males = ids(db.store.as_ref(), "Patient", "gender=male").await;
    assert_eq!(males.first().map(String::as_str), Some("p014"));
    assert_eq!(
        males,
        (14..30)
            .step_by(2)
            .map(|i| format!("p{i:03}"))
            .collect::<Vec<_>>()
    );
    let seen = seen.into_inner().expect("lock");
    assert_eq!(seen.first().map(|p| p.done), Some(21));
    assert!(seen.iter().all(|p| p.total == 30));
    assert_eq!(
        seen.last().map(|p| p.after.clone()),
        Some(("Patient".to_owned(), "p029".to_owned()))
    );
}

async fn restart_starts_the_job_over(db: &Db) {
    seed(db, 20, 0).await;
    let stop = |_: &ReindexProgress| ReindexControl::Stop;
    let first = db
        .store
        .reindex(&spec(None, &["gender"]), &stop)
        .await
        .expect("first");
    assert_eq!(first.indexed, 7);
    let mut restart = spec(None, &["gender"]);
    restart.restart = true;
    let second = db
        .store
        .reindex(&restart, &keep_going)
        .await
        .expect("restart");
    assert_eq!((second.resumed_from, second.indexed), (0, 20));
    // A job with another selector is a different job.
    let other = db
        .store
        .reindex(&spec(Some("Patient"), &["gender"]), &stop)
        .await
        .expect("other selector");
    assert_eq!(other.resumed_from, 0);
}

async fn type_and_param_restrict_what_is_rebuilt(db: &Db) {
    seed(db, 10, 10).await;
    db.sql("DELETE FROM idx_token; DELETE FROM idx_string")
        .await;

    // --type Patient --param gender: only Patient gender rows come back.
    let r = db
        .store
        .reindex(&spec(Some("Patient"), &["gender"]), &keep_going)
        .await
        .expect("patient gender");
    assert_eq!(r.indexed, 10);
    assert_eq!(
        ids(db.store.as_ref(), "Patient", "gender=male").await,
        evens(10)
    );
    assert!(ids(db.store.as_ref(), "Patient", "family=wang3")
        .await
        .is_empty());
    assert!(ids(db.store.as_ref(), "Observation", "code=8867-4")
        .await
        .is_empty());
    // the other rows of the resource are left alone, not duplicated
    assert_eq!(
        ids(db.store.as_ref(), "Observation", "subject=Patient/p003").await,
        ["o003"]
    );

    // --param code alone walks only the types having a `code` parameter.
    let r = db
        .store
        .reindex(&spec(None, &["code"]), &keep_going)
        .await
        .expect("code");
    assert_eq!(r.indexed, 10, "patients have no `code` parameter");
    assert_eq!(
        ids(db.store.as_ref(), "Observation", "code=8867-4")
            .await
            .len(),
        10
    );
    assert!(ids(db.store.as_ref(), "Patient", "family=wang3")
        .await
        .is_empty());

    // --type Patient: every parameter of patients, and nothing twice.
    db.store
        .reindex(&spec(Some("Patient"), &[]), &keep_going)
        .await
        .expect("patients");
    assert_eq!(
        ids(db.store.as_ref(), "Patient", "family=wang3").await,
        ["p003"]
    );
    assert_eq!(
        ids(db.store.as_ref(), "Patient", "gender=male").await,
        evens(10)
    );
}

async fn custom_parameter_indexes_existing_resources_after_reindex_of_its_code(db: &Db) {
    // The registry is process-wide (and the other backend's run of this test may have
    // installed the parameter already): install, seed, then remove the parameter's rows
    // to get resources stored before it existed.
    let errors = hutong_search::registry::install_custom(&[json!({
        "resourceType": "SearchParameter", "id": "favourite-colour", "status": "active",
        "url": "http://example.org/fhir/SearchParameter/favourite-colour",
        "code": "favourite-colour", "base": ["Patient"], "type": "string",
        "expression": "Patient.extension('http://example.org/fhir/StructureDefinition/favourite-colour').value"
    })]);
    assert!(errors.is_empty(), "{errors:?}");
    seed(db, 12, 0).await;
    db.sql("DELETE FROM idx_string WHERE param = 'favourite-colour'")
        .await;
    // stored before the parameter existed: not indexed yet
    assert!(ids(db.store.as_ref(), "Patient", "favourite-colour=red")
        .await
        .is_empty());
    // a new write is indexed at once
    put_all(db.store.as_ref(), vec![patient(100, "other")]).await;
    assert_eq!(
        ids(db.store.as_ref(), "Patient", "favourite-colour=red").await,
        ["p100"]
    );
    let r = db
        .store
        .reindex(&spec(None, &["favourite-colour"]), &keep_going)
        .await
        .expect("reindex");
    assert_eq!(r.indexed, 13);
    let mut want = evens(12);
    want.push("p100".into());
    assert_eq!(
        ids(db.store.as_ref(), "Patient", "favourite-colour=red").await,
        want
    );
    assert_eq!(
        ids(db.store.as_ref(), "Patient", "gender=male").await,
        evens(12)
    );
}

async fn writes_during_a_reindex_are_never_overwritten_by_older_rows(db: &Db) {
    let n = 120;
    put_all(
        db.store.as_ref(),
        (0..n).map(|i| patient(i, "male")).collect(),
    )
    .await;
    let store = Arc::clone(&db.store);
    let writer = tokio::spawn(async move {
        // one patient per transaction, in reverse order, so writes land on both sides
        // of the reindex cursor while it moves
        for i in (0..n).rev() {
            put_all(store.as_ref(), vec![patient(i, "female")]).await;
        }
    });
    let mut s = spec(Some("Patient"), &[]);
    s.batch_size = 3;
    let report = db.store.reindex(&s, &keep_going).await.expect("reindex");
    writer.await.expect("writer");
    assert!(report.finished);
    assert!(ids(db.store.as_ref(), "Patient", "gender=male")
        .await
        .is_empty());
    assert_eq!(
        ids(db.store.as_ref(), "Patient", "gender=female")
            .await
            .len(),
        n
    );
}

/// Updates keep the index rows that did not change and rewrite the others (PostgreSQL
/// writes only the difference): after creates, updates that change some values and keep
/// others, a subject change (every row's patient key moves), two versions of one
/// resource in one call and a delete, the index tables hold exactly what a full rebuild
/// from the current versions writes.
async fn rows_kept_by_updates_equal_a_full_rebuild(db: &Db) {
    let obs = |i: usize, subject: usize, value: f64, status: &str| {
        json!({"resourceType": "Observation", "id": format!("o{i:03}"), "status": status,
            "code": {"coding": [{"system": "http://loinc.org", "code": "8480-6"}], "text": "Systolic"},
            "subject": {"reference": format!("Patient/p{subject:03}")},
            "effectiveDateTime": format!("2026-0{}-1{}", 1 + i % 9, i % 10),
            "valueQuantity": {"value": value, "unit": "mm[Hg]", "system": "http://unitsofmeasure.org", "code": "mm[Hg]"},
            "component": [{"code": {"coding": [{"system": "http://loinc.org", "code": "8462-4"}]},
                "valueQuantity": {"value": value / 2.0, "system": "http://unitsofmeasure.org", "code": "mm[Hg]"}}]})
    };
    let person = |i: usize, family: &str, phone: &str| {
        json!({"resourceType": "Patient", "id": format!("p{i:03}"), "gender": "female",
            "birthDate": format!("19{}-03-0{}", 50 + i, 1 + i % 9),
            "identifier": [{"system": "urn:oid:2.16.156.10011.1.3", "value": format!("11010119500301{i:04}")}],
            "telecom": [{"system": "phone", "value": phone}],
            "name": [{"family": family, "given": ["Li"]}]})
    };
    put_all(
        db.store.as_ref(),
        (0..6)
            .map(|i| person(i, &format!("Zhang{i}"), "13800000000"))
            .chain((0..8).map(|i| obs(i, i % 6, 120.0 + i as f64, "final")))
            .collect(),
    )
    .await;
    let created = db.index_rows().await;

    // Same content again (every row kept), a changed family name, a changed phone.
    put_all(
        db.store.as_ref(),
        vec![
            person(0, "Zhang0", "13800000000"),
            person(1, "Wang1", "13800000000"),
            person(2, "Zhang2", "13911112222"),
        ],
    )
    .await;
    // A changed value, a changed subject, a status change, two versions in one call.
    put_all(
        db.store.as_ref(),
        vec![
            obs(0, 0, 135.5, "final"),
            obs(1, 5, 121.0, "final"),
            obs(2, 2, 122.0, "amended"),
            obs(3, 3, 100.0, "preliminary"),
            obs(3, 4, 140.0, "final"),
        ],
    )
    .await;
    let mut tx = db.store.begin(&ctx()).await.expect("begin");
    tx.apply(vec![PendingWrite {
        kind: WriteKind::Delete,
        resource_type: "Observation".into(),
        id: "o007".into(),
        resource: None,
        if_match: None,
    }])
    .await
    .expect("delete");
    tx.commit().await.expect("commit");

    let updated = db.index_rows().await;
    assert_ne!(updated, created, "the updates changed index rows");
    assert!(
        !updated.iter().any(|r| r.contains("o007")),
        "a deleted resource keeps no index row"
    );
    assert_eq!(
        ids(db.store.as_ref(), "Patient", "family=wang1").await,
        ["p001"]
    );
    assert!(ids(db.store.as_ref(), "Patient", "family=zhang1")
        .await
        .is_empty());
    assert_eq!(
        ids(db.store.as_ref(), "Observation", "subject=Patient/p004").await,
        ["o003", "o004"]
    );
    assert_eq!(
        ids(db.store.as_ref(), "Observation", "value-quantity=135.5").await,
        ["o000"]
    );

    let report = db
        .store
        .reindex(&spec(None, &[]), &keep_going)
        .await
        .expect("reindex");
    assert!(report.finished);
    assert_eq!(report.indexed, 13);
    let rebuilt = db.index_rows().await;
    assert!(
        rebuilt.len() > 100,
        "index rows were written: {}",
        rebuilt.len()
    );
    assert_eq!(updated, rebuilt);
}
