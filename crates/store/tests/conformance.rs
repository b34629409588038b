//! The storage conformance suite: every behaviour of the `Store` contract, run against
//! every backend — SQLite on a temporary file, SQLite in memory, and PostgreSQL (a fresh
//! schema per test) when `HUTONG_TEST_POSTGRES_URL` is set.

use std::collections::HashSet;
use std::sync::Arc;

use hutong_store::{
    AccessContext, HistoryQuery, HistoryScope, IdentifierQuery, PendingWrite, Store, StoreError,
    Versioned, WriteKind,
};
use serde_json::{json, Value};
use time::OffsetDateTime;

// ---------------------------------------------------------------- harness

/// One store under test, plus what to clean up after it.
struct Harness {
    store: Arc<dyn Store>,
    url: String,
    cleanup: Cleanup,
}

enum Cleanup {
    Files(TempFiles),
    Schema { base_url: String, schema: String },
    Nothing,
}

/// The files of an SQLite test database, removed on drop (also when the test panics).
struct TempFiles(Vec<std::path::PathBuf>);

impl Drop for TempFiles {
    fn drop(&mut self) {
        for f in &self.0 {
            let _ = std::fs::remove_file(f);
        }
    }
}

impl Harness {
    async fn sqlite_file(test: &str) -> Harness {
        let path = std::env::temp_dir().join(format!(
            "hutong-store-{test}-{}.db",
            uuid::Uuid::new_v4().simple()
        ));
        let url = format!("sqlite://{}", path.display());
        let files = ["", "-wal", "-shm"]
            .iter()
            .map(|suffix| std::path::PathBuf::from(format!("{}{suffix}", path.display())))
            .collect();
        Harness {
            store: open(&url).await,
            url,
            cleanup: Cleanup::Files(TempFiles(files)),
        }
    }

    async fn sqlite_memory() -> Harness {
        let url = "sqlite::memory:".to_owned();
        Harness {
            store: open(&url).await,
            url,
            cleanup: Cleanup::Nothing,
        }
    }

    /// `None` (after a loud message) when no PostgreSQL server is configured.
    async fn postgres(test: &str) -> Option<Harness> {
        let Ok(base_url) = std::env::var("HUTONG_TEST_POSTGRES_URL") else {
            eprintln!("SKIPPED (HUTONG_TEST_POSTGRES_URL not set): postgres::{test}");
            return None;
        };
        let schema = format!("t_{}", uuid::Uuid::new_v4().simple());
        let sep = if base_url.contains('?') { '&' } else { '?' };
        let url = format!("{base_url}{sep}schema={schema}&max_connections=20");
        Some(Harness {
            store: open(&url).await,
            url,
            cleanup: Cleanup::Schema { base_url, schema },
        })
    }

    /// A second store on the same database, as another process would open it.
    async fn reopen(&self) -> Arc<dyn Store> {
        if matches!(self.cleanup, Cleanup::Nothing) {
            return self.store.clone();
        }
        open(&self.url).await
    }

    async fn finish(self) {
        drop(self.store);
        match self.cleanup {
            Cleanup::Files(files) => drop(files),
            Cleanup::Schema { base_url, schema } => {
                let dropped = match sqlx::PgPool::connect(&base_url).await {
                    Ok(pool) => sqlx::raw_sql(&format!("DROP SCHEMA \"{schema}\" CASCADE"))
                        .execute(&pool)
                        .await
                        .map(|_| ()),
                    Err(e) => Err(e),
                };
                if let Err(e) = dropped {
                    eprintln!("could not drop test schema {schema}: {e}");
                }
            }
            Cleanup::Nothing => {}
        }
    }
}

async fn open(url: &str) -> Arc<dyn Store> {
    match hutong_store::open(url).await {
        Ok(store) => store,
        Err(e) => panic!("cannot open {url}: {e}"),
    }
}

/// Instantiates every behaviour for every backend.
macro_rules! conformance {
    ($($behaviour:ident),* $(,)?) => {
        mod sqlite_file {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $behaviour() {
                    let h = super::Harness::sqlite_file(stringify!($behaviour)).await;
                    super::$behaviour(&h).await;
                    h.finish().await;
                }
            )*
        }
        mod sqlite_memory {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $behaviour() {
                    let h = super::Harness::sqlite_memory().await;
                    super::$behaviour(&h).await;
                    h.finish().await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $behaviour() {
                    let Some(h) = super::Harness::postgres(stringify!($behaviour)).await else { return };
                    super::$behaviour(&h).await;
                    h.finish().await;
                }
            )*
        }
    };
}

conformance!(
    backend_answers_ping,
    create_then_read_and_vread_return_the_written_version,
    written_json_carries_version_meta_and_reads_return_the_same_bytes,
    update_bumps_the_version_and_keeps_the_old_one_readable,
    delete_writes_a_tombstone_that_read_and_vread_report,
    read_many_returns_current_versions_tombstones_and_skips_unknown_ids,
    delete_of_a_missing_or_deleted_resource_writes_nothing,
    writing_a_deleted_resource_revives_it_with_the_next_version,
    if_match_mismatch_fails_naming_the_offending_write,
    if_match_on_a_missing_resource_is_a_conflict,
    create_of_an_existing_id_fails_with_already_exists,
    several_writes_to_one_resource_in_one_call_get_consecutive_versions,
    transaction_reads_its_own_writes_before_commit,
    uncommitted_writes_are_invisible_to_store_reads,
    dropped_transaction_rolls_back_every_write,
    failed_apply_in_a_multi_write_transaction_then_drop_leaves_nothing,
    failed_precondition_leaves_the_transaction_usable,
    malformed_write_is_rejected_without_writing,
    instance_history_lists_versions_newest_first,
    type_and_system_history_are_ordered_by_sequence,
    history_since_keeps_versions_written_at_or_after_the_instant,
    history_at_returns_each_resource_as_it_was_then,
    history_pages_with_a_cursor_and_reports_the_total,
    find_by_identifier_with_system_any_system_or_no_system,
    find_by_id_and_only_current_non_deleted_resources,
    count_counts_current_non_deleted_resources_by_type,
    patient_key_is_stored_for_compartment_resources_and_kept_by_tombstones,
    concurrent_updates_without_if_match_lose_no_version,
    racing_if_match_writers_let_exactly_one_win,
    racing_update_as_create_of_one_new_id_gives_consecutive_versions,
    racing_creates_of_one_new_id_let_exactly_one_win,
    transaction_of_300_resources_commits_in_one_apply,
    reopening_the_database_keeps_data_and_reruns_no_migration,
);

// ---------------------------------------------------------------- builders

fn ctx() -> AccessContext {
    AccessContext::system("conformance")
}

fn patient(id: &str) -> Value {
    json!({"resourceType": "Patient", "id": id, "active": true})
}

fn patient_with_identifiers(id: &str, identifiers: Value) -> Value {
    json!({"resourceType": "Patient", "id": id, "identifier": identifiers})
}

fn observation(id: &str, patient: &str) -> Value {
    // Parsed from text: `json!` would turn 70.50 into an f64 and lose the trailing zero.
    let text = format!(
        r#"{{"resourceType": "Observation", "id": "{id}", "status": "final", "code": {{"text": "weight"}},
            "subject": {{"reference": "Patient/{patient}"}}, "valueQuantity": {{"value": 70.50, "unit": "kg"}}}}"#
    );
    serde_json::from_str(&text).expect("test observation is valid JSON")
}

fn create(resource: Value) -> PendingWrite {
    write(WriteKind::Create, resource)
}

fn update(resource: Value) -> PendingWrite {
    write(WriteKind::Update, resource)
}

fn write(kind: WriteKind, resource: Value) -> PendingWrite {
    PendingWrite {
        kind,
        resource_type: resource["resourceType"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
        id: resource["id"].as_str().unwrap_or_default().to_owned(),
        resource: Some(resource),
        if_match: None,
    }
}

fn delete(resource_type: &str, id: &str) -> PendingWrite {
    PendingWrite {
        kind: WriteKind::Delete,
        resource_type: resource_type.to_owned(),
        id: id.to_owned(),
        resource: None,
        if_match: None,
    }
}

fn if_match(mut w: PendingWrite, version: u64) -> PendingWrite {
    w.if_match = Some(version);
    w
}

/// Applies writes in one committed transaction.
async fn commit(
    store: &Arc<dyn Store>,
    writes: Vec<PendingWrite>,
) -> Result<Vec<Option<Versioned>>, StoreError> {
    let mut tx = store.begin(&ctx()).await?;
    let out = tx.apply(writes).await?;
    tx.commit().await?;
    Ok(out)
}

/// Applies one write in its own transaction and returns the version it wrote.
async fn put(store: &Arc<dyn Store>, w: PendingWrite) -> Versioned {
    let out = commit(store, vec![w]).await.expect("write commits");
    out.into_iter()
        .next()
        .flatten()
        .expect("write produced a version")
}

async fn read(store: &Arc<dyn Store>, rt: &str, id: &str) -> Option<Versioned> {
    store.read(&ctx(), rt, id).await.expect("read")
}

fn parse(v: &Versioned) -> Value {
    serde_json::from_slice(&v.json).expect("stored JSON parses")
}

fn history(scope: HistoryScope) -> HistoryQuery {
    HistoryQuery {
        scope,
        since: None,
        at: None,
        count: 1000,
        before_seq: None,
    }
}

fn versions_of(entries: &[Versioned]) -> Vec<(String, u64)> {
    entries.iter().map(|v| (v.id.clone(), v.version)).collect()
}

async fn count(store: &Arc<dyn Store>, rt: Option<&str>) -> u64 {
    store.count(&ctx(), rt).await.expect("count")
}

// ---------------------------------------------------------------- behaviours

async fn backend_answers_ping(h: &Harness) {
    h.store.ping().await.expect("ping");
    assert!(["sqlite", "postgres"].contains(&h.store.backend()));
}

async fn create_then_read_and_vread_return_the_written_version(h: &Harness) {
    let s = &h.store;
    let written = put(s, create(patient("p1"))).await;
    assert_eq!(
        (
            written.resource_type.as_str(),
            written.id.as_str(),
            written.version
        ),
        ("Patient", "p1", 1)
    );
    assert_eq!(written.kind, WriteKind::Create);
    assert!(!written.deleted);

    let current = read(s, "Patient", "p1").await.expect("exists");
    assert_eq!(current, written);
    let v1 = s
        .vread(&ctx(), "Patient", "p1", 1)
        .await
        .unwrap()
        .expect("version 1");
    assert_eq!(v1, written);
    assert_eq!(s.vread(&ctx(), "Patient", "p1", 2).await.unwrap(), None);
    assert_eq!(read(s, "Patient", "nope").await, None);
    assert_eq!(read(s, "Observation", "p1").await, None);
}

async fn written_json_carries_version_meta_and_reads_return_the_same_bytes(h: &Harness) {
    let s = &h.store;
    let mut p = patient("p1");
    p["meta"] =
        json!({"versionId": "99", "tag": [{"system": "urn:t", "code": "x"}], "profile": ["urn:p"]});
    let written = put(s, create(p)).await;
    let json = parse(&written);
    assert_eq!(json["meta"]["versionId"], "1");
    let last_updated = json["meta"]["lastUpdated"]
        .as_str()
        .expect("lastUpdated")
        .to_owned();
    // FHIR instant: microseconds and Z.
    assert_eq!(
        last_updated.len(),
        "2026-11-25T18:40:00.123456Z".len(),
        "{last_updated}"
    );
    assert!(last_updated.ends_with('Z'));
    let parsed = OffsetDateTime::parse(
        &last_updated,
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    assert_eq!(parsed, written.last_updated);
    assert_eq!(json["meta"]["tag"][0]["code"], "x", "other meta kept");
    assert_eq!(json["meta"]["profile"][0], "urn:p");
    // Decimal precision is kept as written.
    let o = put(s, create(observation("o1", "p1"))).await;
    assert!(std::str::from_utf8(&o.json).unwrap().contains("70.50"));

    let read_back = read(s, "Patient", "p1").await.unwrap();
    assert_eq!(read_back.json, written.json, "read serves the stored bytes");
    let updated = put(s, update(patient("p1"))).await;
    assert_eq!(parse(&updated)["meta"]["versionId"], "2");
    assert_eq!(read(s, "Patient", "p1").await.unwrap().json, updated.json);
    assert_eq!(
        s.vread(&ctx(), "Patient", "p1", 1)
            .await
            .unwrap()
            .unwrap()
            .json,
        written.json
    );
}

async fn update_bumps_the_version_and_keeps_the_old_one_readable(h: &Harness) {
    let s = &h.store;
    let v1 = put(s, create(patient("p1"))).await;
    let mut changed = patient("p1");
    changed["active"] = json!(false);
    let v2 = put(s, update(changed)).await;
    assert_eq!(v2.version, 2);
    assert_eq!(v2.kind, WriteKind::Update);
    assert!(v2.seq > v1.seq);
    assert!(v2.last_updated >= v1.last_updated);
    assert_eq!(
        parse(&read(s, "Patient", "p1").await.unwrap())["active"],
        false
    );
    assert_eq!(
        s.vread(&ctx(), "Patient", "p1", 1).await.unwrap().unwrap(),
        v1
    );
    assert_eq!(
        s.vread(&ctx(), "Patient", "p1", 2).await.unwrap().unwrap(),
        v2
    );
    assert_eq!(count(s, Some("Patient")).await, 1);
}

async fn delete_writes_a_tombstone_that_read_and_vread_report(h: &Harness) {
    let s = &h.store;
    put(s, create(patient("p1"))).await;
    let tomb = put(s, delete("Patient", "p1")).await;
    assert_eq!(
        (tomb.version, tomb.deleted, tomb.kind),
        (2, true, WriteKind::Delete)
    );
    assert!(tomb.json.is_empty());
    let current = read(s, "Patient", "p1").await.expect("tombstone is read");
    assert!(current.deleted);
    assert_eq!(current.version, 2);
    assert!(
        s.vread(&ctx(), "Patient", "p1", 2)
            .await
            .unwrap()
            .unwrap()
            .deleted
    );
    assert!(
        !s.vread(&ctx(), "Patient", "p1", 1)
            .await
            .unwrap()
            .unwrap()
            .deleted
    );
    assert_eq!(count(s, Some("Patient")).await, 0);
}

async fn read_many_returns_current_versions_tombstones_and_skips_unknown_ids(h: &Harness) {
    let s = &h.store;
    put(s, create(patient("m1"))).await;
    put(s, create(patient("m2"))).await;
    put(s, update(patient("m2"))).await;
    put(s, create(patient("m3"))).await;
    put(s, delete("Patient", "m3")).await;
    put(s, create(observation("m1", "m1"))).await;
    let ids: Vec<String> = ["m3", "nobody", "m2", "m1"].map(String::from).to_vec();
    let mut got: Vec<(String, u64, bool)> = s
        .read_many(&ctx(), "Patient", &ids)
        .await
        .unwrap()
        .into_iter()
        .map(|v| {
            assert_eq!(v.resource_type, "Patient");
            (v.id, v.version, v.deleted)
        })
        .collect();
    got.sort();
    assert_eq!(
        got,
        vec![
            ("m1".to_owned(), 1, false),
            ("m2".to_owned(), 2, false),
            ("m3".to_owned(), 2, true)
        ]
    );
    // Each answer carries the same bytes as a single read.
    let many = s.read_many(&ctx(), "Patient", &ids[3..]).await.unwrap();
    assert_eq!(many.len(), 1);
    assert_eq!(many[0].json, read(s, "Patient", "m1").await.unwrap().json);
    assert!(s
        .read_many(&ctx(), "Patient", &[])
        .await
        .unwrap()
        .is_empty());
}

async fn delete_of_a_missing_or_deleted_resource_writes_nothing(h: &Harness) {
    let s = &h.store;
    assert_eq!(
        commit(s, vec![delete("Patient", "ghost")]).await.unwrap(),
        vec![None]
    );
    assert_eq!(read(s, "Patient", "ghost").await, None);
    put(s, create(patient("p1"))).await;
    put(s, delete("Patient", "p1")).await;
    assert_eq!(
        commit(s, vec![delete("Patient", "p1")]).await.unwrap(),
        vec![None]
    );
    assert_eq!(read(s, "Patient", "p1").await.unwrap().version, 2);
    let all = s
        .history(&ctx(), &history(HistoryScope::System))
        .await
        .unwrap();
    assert_eq!(all.total, 2);
}

async fn writing_a_deleted_resource_revives_it_with_the_next_version(h: &Harness) {
    let s = &h.store;
    put(s, create(patient("p1"))).await;
    put(s, delete("Patient", "p1")).await;
    let revived = put(s, create(patient("p1"))).await;
    assert_eq!((revived.version, revived.deleted), (3, false));
    assert_eq!(parse(&revived)["meta"]["versionId"], "3");
    put(s, delete("Patient", "p1")).await;
    assert_eq!(put(s, update(patient("p1"))).await.version, 5);
    assert_eq!(count(s, Some("Patient")).await, 1);
}

async fn if_match_mismatch_fails_naming_the_offending_write(h: &Harness) {
    let s = &h.store;
    put(s, create(patient("p1"))).await;
    put(s, update(patient("p1"))).await;
    let err = commit(
        s,
        vec![create(patient("p2")), if_match(update(patient("p1")), 1)],
    )
    .await
    .expect_err("stale If-Match");
    match err {
        StoreError::VersionConflict {
            index,
            resource_type,
            id,
            expected,
            current,
        } => {
            assert_eq!(
                (
                    index,
                    resource_type.as_str(),
                    id.as_str(),
                    expected,
                    current
                ),
                (1, "Patient", "p1", 1, Some(2))
            );
        }
        other => panic!("expected VersionConflict, got {other:?}"),
    }
    assert_eq!(
        read(s, "Patient", "p2").await,
        None,
        "nothing of the call was written"
    );
    let ok = put(s, if_match(update(patient("p1")), 2)).await;
    assert_eq!(ok.version, 3);
    let tomb = put(s, if_match(delete("Patient", "p1"), 3)).await;
    assert!(tomb.deleted);
}

async fn if_match_on_a_missing_resource_is_a_conflict(h: &Harness) {
    let err = commit(&h.store, vec![if_match(update(patient("new")), 1)])
        .await
        .expect_err("no such resource");
    assert!(
        matches!(
            err,
            StoreError::VersionConflict {
                index: 0,
                current: None,
                ..
            }
        ),
        "{err:?}"
    );
}

async fn create_of_an_existing_id_fails_with_already_exists(h: &Harness) {
    let s = &h.store;
    put(s, create(patient("p1"))).await;
    let err = commit(
        s,
        vec![
            create(patient("p0")),
            create(patient("p2")),
            create(patient("p1")),
        ],
    )
    .await
    .expect_err("duplicate create");
    match err {
        StoreError::AlreadyExists {
            index,
            resource_type,
            id,
        } => {
            assert_eq!(
                (index, resource_type.as_str(), id.as_str()),
                (2, "Patient", "p1")
            )
        }
        other => panic!("expected AlreadyExists, got {other:?}"),
    }
    assert_eq!(count(s, None).await, 1);
    // Two creates of one new id in one call: the second finds the first.
    let err = commit(s, vec![create(patient("p9")), create(patient("p9"))])
        .await
        .expect_err("duplicate in call");
    assert!(
        matches!(err, StoreError::AlreadyExists { index: 1, .. }),
        "{err:?}"
    );
}

async fn several_writes_to_one_resource_in_one_call_get_consecutive_versions(h: &Harness) {
    let s = &h.store;
    put(s, create(patient("p1"))).await;
    let mut tx = s.begin(&ctx()).await.unwrap();
    let out = tx
        .apply(vec![
            update(patient("p1")),
            if_match(update(patient("p1")), 2),
            delete("Patient", "p1"),
            create(patient("p1")),
            create(patient("n1")),
            update(patient("n1")),
        ])
        .await
        .unwrap();
    let versions: Vec<_> = out
        .iter()
        .map(|v| v.as_ref().map(|v| (v.id.as_str(), v.version)))
        .collect();
    assert_eq!(
        versions,
        vec![
            Some(("p1", 2)),
            Some(("p1", 3)),
            Some(("p1", 4)),
            Some(("p1", 5)),
            Some(("n1", 1)),
            Some(("n1", 2))
        ]
    );
    let seqs: Vec<i64> = out.iter().flatten().map(|v| v.seq).collect();
    assert!(
        seqs.windows(2).all(|w| w[0] < w[1]),
        "seq increases in write order: {seqs:?}"
    );
    // A second apply in the same transaction continues from there.
    let more = tx.apply(vec![update(patient("p1"))]).await.unwrap();
    assert_eq!(more[0].as_ref().unwrap().version, 6);
    tx.commit().await.unwrap();

    let hist = s
        .history(
            &ctx(),
            &history(HistoryScope::Instance("Patient".into(), "p1".into())),
        )
        .await
        .unwrap();
    assert_eq!(
        hist.entries.iter().map(|v| v.version).collect::<Vec<_>>(),
        vec![6, 5, 4, 3, 2, 1]
    );
    assert!(hist.entries[2].deleted);
    assert_eq!(
        parse(&s.vread(&ctx(), "Patient", "n1", 1).await.unwrap().unwrap())["meta"]["versionId"],
        "1"
    );
    assert_eq!(read(s, "Patient", "n1").await.unwrap().version, 2);
}

async fn transaction_reads_its_own_writes_before_commit(h: &Harness) {
    let s = &h.store;
    let mut tx = s.begin(&ctx()).await.unwrap();
    assert_eq!(tx.read("Patient", "p1").await.unwrap(), None);
    let written = tx
        .apply(vec![create(patient_with_identifiers(
            "p1",
            json!([{"system": "urn:s", "value": "1"}]),
        ))])
        .await
        .unwrap();
    assert_eq!(tx.read("Patient", "p1").await.unwrap(), written[0]);
    let q = IdentifierQuery::Identifier {
        system: Some("urn:s".into()),
        value: "1".into(),
    };
    assert_eq!(tx.find("Patient", &q).await.unwrap(), vec!["p1"]);
    tx.commit().await.unwrap();
    assert_eq!(
        h.store.find(&ctx(), "Patient", &q).await.unwrap(),
        vec!["p1"]
    );
}

async fn uncommitted_writes_are_invisible_to_store_reads(h: &Harness) {
    let s = &h.store;
    put(s, create(patient("p1"))).await;
    let mut tx = s.begin(&ctx()).await.unwrap();
    tx.apply(vec![update(patient("p1")), create(patient("p2"))])
        .await
        .unwrap();
    assert_eq!(read(s, "Patient", "p1").await.unwrap().version, 1);
    assert_eq!(read(s, "Patient", "p2").await, None);
    assert_eq!(count(s, None).await, 1);
    tx.commit().await.unwrap();
    assert_eq!(read(s, "Patient", "p1").await.unwrap().version, 2);
    assert_eq!(count(s, None).await, 2);
}

async fn dropped_transaction_rolls_back_every_write(h: &Harness) {
    let s = &h.store;
    put(s, create(patient("p1"))).await;
    {
        let mut tx = s.begin(&ctx()).await.unwrap();
        tx.apply(vec![
            update(patient("p1")),
            create(patient("p2")),
            create(patient_with_identifiers(
                "p3",
                json!({"system": "urn:s", "value": "3"}),
            )),
        ])
        .await
        .unwrap();
        tx.apply(vec![delete("Patient", "p1")]).await.unwrap();
    }
    assert_eq!(count(s, None).await, 1);
    assert_eq!(read(s, "Patient", "p1").await.unwrap().version, 1);
    assert_eq!(read(s, "Patient", "p2").await, None);
    let q = IdentifierQuery::Identifier {
        system: None,
        value: "3".into(),
    };
    assert!(s.find(&ctx(), "Patient", &q).await.unwrap().is_empty());
    assert_eq!(
        s.history(&ctx(), &history(HistoryScope::System))
            .await
            .unwrap()
            .total,
        1
    );
    // The store still takes writes after the rollback.
    assert_eq!(put(s, update(patient("p1"))).await.version, 2);
}

async fn failed_apply_in_a_multi_write_transaction_then_drop_leaves_nothing(h: &Harness) {
    let s = &h.store;
    put(s, create(patient("p1"))).await;
    {
        let mut tx = s.begin(&ctx()).await.unwrap();
        tx.apply(vec![create(patient("a")), create(patient("b"))])
            .await
            .unwrap();
        let err = tx
            .apply(vec![
                create(patient("c")),
                create(patient("p1")),
                create(patient("d")),
            ])
            .await
            .expect_err("p1 exists");
        assert!(
            matches!(err, StoreError::AlreadyExists { index: 1, .. }),
            "{err:?}"
        );
    }
    assert_eq!(count(s, None).await, 1);
    for id in ["a", "b", "c", "d"] {
        assert_eq!(read(s, "Patient", id).await, None, "{id}");
    }
}

async fn failed_precondition_leaves_the_transaction_usable(h: &Harness) {
    let s = &h.store;
    put(s, create(patient("p1"))).await;
    let mut tx = s.begin(&ctx()).await.unwrap();
    tx.apply(vec![create(patient("a"))]).await.unwrap();
    tx.apply(vec![
        create(patient("b")),
        if_match(update(patient("p1")), 7),
    ])
    .await
    .expect_err("conflict");
    tx.apply(vec![create(patient("c"))]).await.unwrap();
    tx.commit().await.unwrap();
    assert!(read(s, "Patient", "a").await.is_some());
    assert_eq!(
        read(s, "Patient", "b").await,
        None,
        "the failed call wrote nothing"
    );
    assert!(read(s, "Patient", "c").await.is_some());
}

async fn malformed_write_is_rejected_without_writing(h: &Harness) {
    let s = &h.store;
    let mut no_body = create(patient("x"));
    no_body.resource = None;
    let err = commit(s, vec![create(patient("ok")), no_body])
        .await
        .expect_err("no body");
    assert!(
        matches!(err, StoreError::InvalidWrite { index: 1, .. }),
        "{err:?}"
    );
    let mut wrong_id = create(patient("x"));
    wrong_id.id = "y".into();
    assert!(matches!(
        commit(s, vec![wrong_id]).await,
        Err(StoreError::InvalidWrite { index: 0, .. })
    ));
    assert_eq!(count(s, None).await, 0);
}

async fn instance_history_lists_versions_newest_first(h: &Harness) {
    let s = &h.store;
    put(s, create(patient("p1"))).await;
    put(s, create(patient("p2"))).await;
    put(s, update(patient("p1"))).await;
    put(s, delete("Patient", "p1")).await;
    let page = s
        .history(
            &ctx(),
            &history(HistoryScope::Instance("Patient".into(), "p1".into())),
        )
        .await
        .unwrap();
    assert_eq!(
        versions_of(&page.entries),
        vec![("p1".into(), 3), ("p1".into(), 2), ("p1".into(), 1)]
    );
    assert_eq!(
        page.entries.iter().map(|v| v.kind).collect::<Vec<_>>(),
        vec![WriteKind::Delete, WriteKind::Update, WriteKind::Create]
    );
    assert_eq!((page.total, page.next), (3, None));
    let none = s
        .history(
            &ctx(),
            &history(HistoryScope::Instance("Patient".into(), "zz".into())),
        )
        .await
        .unwrap();
    assert!(none.entries.is_empty() && none.total == 0);
}

async fn type_and_system_history_are_ordered_by_sequence(h: &Harness) {
    let s = &h.store;
    put(s, create(patient("p1"))).await;
    put(s, create(observation("o1", "p1"))).await;
    put(s, update(patient("p1"))).await;
    put(s, update(observation("o1", "p1"))).await;
    put(s, create(patient("p2"))).await;

    let patients = s
        .history(&ctx(), &history(HistoryScope::Type("Patient".into())))
        .await
        .unwrap();
    assert_eq!(
        versions_of(&patients.entries),
        vec![("p2".into(), 1), ("p1".into(), 2), ("p1".into(), 1)]
    );
    assert_eq!(patients.total, 3);

    let all = s
        .history(&ctx(), &history(HistoryScope::System))
        .await
        .unwrap();
    let order: Vec<_> = all
        .entries
        .iter()
        .map(|v| format!("{}/{}/{}", v.resource_type, v.id, v.version))
        .collect();
    assert_eq!(
        order,
        vec![
            "Patient/p2/1",
            "Observation/o1/2",
            "Patient/p1/2",
            "Observation/o1/1",
            "Patient/p1/1"
        ]
    );
    assert!(all.entries.windows(2).all(|w| w[0].seq > w[1].seq));
    assert_eq!(all.total, 5);
}

async fn history_since_keeps_versions_written_at_or_after_the_instant(h: &Harness) {
    let s = &h.store;
    put(s, create(patient("p1"))).await;
    put(s, create(patient("p2"))).await;
    let cut = put(s, update(patient("p1"))).await.last_updated;
    put(s, update(patient("p2"))).await;
    let mut q = history(HistoryScope::System);
    q.since = Some(cut);
    let page = s.history(&ctx(), &q).await.unwrap();
    assert_eq!(
        versions_of(&page.entries),
        vec![("p2".into(), 2), ("p1".into(), 2)]
    );
    assert_eq!(page.total, 2);
    q.scope = HistoryScope::Instance("Patient".into(), "p1".into());
    assert_eq!(
        versions_of(&s.history(&ctx(), &q).await.unwrap().entries),
        vec![("p1".into(), 2)]
    );
    q.since = Some(OffsetDateTime::now_utc() + time::Duration::hours(1));
    assert!(s.history(&ctx(), &q).await.unwrap().entries.is_empty());
}

async fn history_at_returns_each_resource_as_it_was_then(h: &Harness) {
    let s = &h.store;
    put(s, create(patient("p1"))).await;
    put(s, create(patient("p2"))).await;
    put(s, update(patient("p1"))).await;
    let then = put(s, delete("Patient", "p2")).await.last_updated;
    put(s, update(patient("p1"))).await;
    put(s, create(patient("p3"))).await;

    let mut q = history(HistoryScope::Type("Patient".into()));
    q.at = Some(then);
    let page = s.history(&ctx(), &q).await.unwrap();
    assert_eq!(
        versions_of(&page.entries),
        vec![("p2".into(), 2), ("p1".into(), 2)]
    );
    assert!(page.entries[0].deleted, "p2 was deleted at that time");
    assert_eq!(page.total, 2);

    q.at = Some(OffsetDateTime::now_utc() + time::Duration::hours(1));
    let now = s.history(&ctx(), &q).await.unwrap();
    assert_eq!(
        versions_of(&now.entries),
        vec![("p3".into(), 1), ("p1".into(), 3), ("p2".into(), 2)]
    );

    q.at = Some(OffsetDateTime::UNIX_EPOCH);
    assert_eq!(s.history(&ctx(), &q).await.unwrap().total, 0);

    // _at with paging: one resource state per page.
    q.at = Some(then);
    q.count = 1;
    let first = s.history(&ctx(), &q).await.unwrap();
    assert_eq!(versions_of(&first.entries), vec![("p2".into(), 2)]);
    q.before_seq = first.next;
    let second = s.history(&ctx(), &q).await.unwrap();
    assert_eq!(versions_of(&second.entries), vec![("p1".into(), 2)]);
    assert_eq!((second.next, second.total), (None, 2));
}

async fn history_pages_with_a_cursor_and_reports_the_total(h: &Harness) {
    let s = &h.store;
    for i in 0..4 {
        put(s, create(patient(&format!("p{i}")))).await;
    }
    for i in 0..3 {
        put(s, update(patient(&format!("p{i}")))).await;
    }
    put(s, create(observation("o1", "p1"))).await;
    // 8 versions in the system, 7 of Patient; pages of 3 → 3 pages.
    let mut q = history(HistoryScope::Type("Patient".into()));
    q.count = 3;
    let mut pages = Vec::new();
    loop {
        let page = s.history(&ctx(), &q).await.unwrap();
        assert_eq!(page.total, 7, "total ignores paging");
        pages.push(versions_of(&page.entries));
        match page.next {
            Some(next) => q.before_seq = Some(next),
            None => break,
        }
        assert!(pages.len() < 10, "paging does not end");
    }
    assert_eq!(
        pages.iter().map(Vec::len).collect::<Vec<_>>(),
        vec![3, 3, 1]
    );
    let all: Vec<_> = pages.concat();
    let whole = s
        .history(&ctx(), &history(HistoryScope::Type("Patient".into())))
        .await
        .unwrap();
    assert_eq!(
        all,
        versions_of(&whole.entries),
        "pages concatenate to the whole history"
    );
    assert_eq!(all.iter().collect::<HashSet<_>>().len(), 7);

    // A page that exactly fills the rest has no next cursor.
    let mut q = history(HistoryScope::System);
    q.count = 4;
    let first = s.history(&ctx(), &q).await.unwrap();
    q.before_seq = first.next;
    let last = s.history(&ctx(), &q).await.unwrap();
    assert_eq!((last.entries.len(), last.next, last.total), (4, None, 8));
}

async fn find_by_identifier_with_system_any_system_or_no_system(h: &Harness) {
    let s = &h.store;
    put(
        s,
        create(patient_with_identifiers(
            "a",
            json!([{"system": "urn:oid:2.16.156.10011.1.3", "value": "110101199003077777"}, {"value": "local-1"}]),
        )),
    )
    .await;
    put(
        s,
        create(patient_with_identifiers(
            "b",
            json!([{"system": "urn:mrn", "value": "110101199003077777"}]),
        )),
    )
    .await;
    put(
        s,
        create(patient_with_identifiers(
            "c",
            json!({"system": "urn:mrn", "value": "local-1"}),
        )),
    )
    .await;

    let find = |system: Option<&str>, value: &str| IdentifierQuery::Identifier {
        system: system.map(str::to_owned),
        value: value.to_owned(),
    };
    let q = |query| async move { s.find(&ctx(), "Patient", &query).await.unwrap() };
    assert_eq!(
        q(find(
            Some("urn:oid:2.16.156.10011.1.3"),
            "110101199003077777"
        ))
        .await,
        vec!["a"]
    );
    assert_eq!(q(find(None, "110101199003077777")).await, vec!["a", "b"]);
    assert_eq!(q(find(Some(""), "local-1")).await, vec!["a"], "no system");
    assert_eq!(q(find(None, "local-1")).await, vec!["a", "c"]);
    assert_eq!(q(find(Some("urn:mrn"), "local-1")).await, vec!["c"]);
    assert!(q(find(None, "nothing")).await.is_empty());
    assert!(
        s.find(&ctx(), "Observation", &find(None, "local-1"))
            .await
            .unwrap()
            .is_empty(),
        "per type"
    );
}

async fn find_by_id_and_only_current_non_deleted_resources(h: &Harness) {
    let s = &h.store;
    put(
        s,
        create(patient_with_identifiers(
            "a",
            json!([{"system": "urn:s", "value": "old"}]),
        )),
    )
    .await;
    put(
        s,
        create(patient_with_identifiers(
            "b",
            json!([{"system": "urn:s", "value": "b"}]),
        )),
    )
    .await;
    assert_eq!(
        s.find(&ctx(), "Patient", &IdentifierQuery::Id("a".into()))
            .await
            .unwrap(),
        vec!["a"]
    );
    assert!(s
        .find(&ctx(), "Patient", &IdentifierQuery::Id("zz".into()))
        .await
        .unwrap()
        .is_empty());

    put(
        s,
        update(patient_with_identifiers(
            "a",
            json!([{"system": "urn:s", "value": "new"}]),
        )),
    )
    .await;
    put(s, delete("Patient", "b")).await;
    let ident = |v: &str| IdentifierQuery::Identifier {
        system: Some("urn:s".into()),
        value: v.into(),
    };
    assert!(
        s.find(&ctx(), "Patient", &ident("old"))
            .await
            .unwrap()
            .is_empty(),
        "replaced identifier"
    );
    assert_eq!(
        s.find(&ctx(), "Patient", &ident("new")).await.unwrap(),
        vec!["a"]
    );
    assert!(
        s.find(&ctx(), "Patient", &ident("b"))
            .await
            .unwrap()
            .is_empty(),
        "deleted resource"
    );
    assert!(s
        .find(&ctx(), "Patient", &IdentifierQuery::Id("b".into()))
        .await
        .unwrap()
        .is_empty());
    put(
        s,
        update(patient_with_identifiers(
            "b",
            json!([{"system": "urn:s", "value": "b"}]),
        )),
    )
    .await;
    assert_eq!(
        s.find(&ctx(), "Patient", &ident("b")).await.unwrap(),
        vec!["b"],
        "revived"
    );
}

async fn count_counts_current_non_deleted_resources_by_type(h: &Harness) {
    let s = &h.store;
    assert_eq!(count(s, None).await, 0);
    commit(
        s,
        vec![
            create(patient("p1")),
            create(patient("p2")),
            create(observation("o1", "p1")),
            create(observation("o2", "p1")),
            create(observation("o3", "p2")),
        ],
    )
    .await
    .unwrap();
    put(s, update(patient("p1"))).await;
    put(s, delete("Observation", "o3")).await;
    assert_eq!(count(s, Some("Patient")).await, 2);
    assert_eq!(count(s, Some("Observation")).await, 2);
    assert_eq!(count(s, Some("Encounter")).await, 0);
    assert_eq!(count(s, None).await, 4);
}

async fn patient_key_is_stored_for_compartment_resources_and_kept_by_tombstones(h: &Harness) {
    let s = &h.store;
    let key = |rt: &'static str, id: &'static str| async move {
        s.patient_key(&ctx(), rt, id).await.unwrap()
    };
    put(s, create(patient("x"))).await;
    put(s, create(observation("o1", "x"))).await;
    put(
        s,
        create(json!({"resourceType": "Organization", "id": "org", "name": "County hospital"})),
    )
    .await;
    assert_eq!(key("Patient", "x").await.as_deref(), Some("x"));
    assert_eq!(key("Observation", "o1").await.as_deref(), Some("x"));
    assert_eq!(key("Organization", "org").await, None);
    assert_eq!(key("Observation", "missing").await, None);
    put(s, delete("Observation", "o1")).await;
    assert_eq!(
        key("Observation", "o1").await.as_deref(),
        Some("x"),
        "tombstone stays in the compartment"
    );
    // A later version re-subjected to another patient moves compartments.
    put(s, update(observation("o1", "y"))).await;
    assert_eq!(key("Observation", "o1").await.as_deref(), Some("y"));
}

async fn concurrent_updates_without_if_match_lose_no_version(h: &Harness) {
    let s = &h.store;
    put(s, create(patient("hot"))).await;
    let tasks: Vec<_> = (0..16)
        .map(|_| {
            let s = s.clone();
            tokio::spawn(async move {
                for _ in 0..10 {
                    put(&s, update(patient("hot"))).await;
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.expect("task");
    }
    assert_eq!(read(s, "Patient", "hot").await.unwrap().version, 161);
    let hist = s
        .history(
            &ctx(),
            &history(HistoryScope::Instance("Patient".into(), "hot".into())),
        )
        .await
        .unwrap();
    let versions: Vec<u64> = hist.entries.iter().map(|v| v.version).collect();
    assert_eq!(versions, (1..=161).rev().collect::<Vec<_>>());
    assert_eq!(hist.total, 161);
    for v in &hist.entries {
        assert_eq!(parse(v)["meta"]["versionId"], v.version.to_string());
    }
}

async fn racing_if_match_writers_let_exactly_one_win(h: &Harness) {
    let s = &h.store;
    put(s, create(patient("p1"))).await;
    let barrier = Arc::new(tokio::sync::Barrier::new(8));
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let (s, barrier) = (s.clone(), barrier.clone());
            tokio::spawn(async move {
                barrier.wait().await;
                commit(&s, vec![if_match(update(patient("p1")), 1)]).await
            })
        })
        .collect();
    let mut won = 0;
    for t in tasks {
        match t.await.expect("task") {
            Ok(_) => won += 1,
            Err(StoreError::VersionConflict {
                expected: 1,
                current: Some(2),
                ..
            }) => {}
            Err(e) => panic!("unexpected error {e:?}"),
        }
    }
    assert_eq!(won, 1);
    assert_eq!(read(s, "Patient", "p1").await.unwrap().version, 2);
}

async fn racing_update_as_create_of_one_new_id_gives_consecutive_versions(h: &Harness) {
    let s = &h.store;
    let barrier = Arc::new(tokio::sync::Barrier::new(8));
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let (s, barrier) = (s.clone(), barrier.clone());
            tokio::spawn(async move {
                barrier.wait().await;
                put(&s, update(patient("fresh"))).await.version
            })
        })
        .collect();
    let mut versions = Vec::new();
    for t in tasks {
        versions.push(t.await.expect("every update-as-create succeeds"));
    }
    versions.sort_unstable();
    assert_eq!(versions, (1..=8).collect::<Vec<_>>());
}

async fn racing_creates_of_one_new_id_let_exactly_one_win(h: &Harness) {
    let s = &h.store;
    let barrier = Arc::new(tokio::sync::Barrier::new(8));
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let (s, barrier) = (s.clone(), barrier.clone());
            tokio::spawn(async move {
                barrier.wait().await;
                commit(&s, vec![create(patient("fresh"))]).await
            })
        })
        .collect();
    let mut won = 0;
    for t in tasks {
        match t.await.expect("task") {
            Ok(_) => won += 1,
            Err(StoreError::AlreadyExists { index: 0, .. }) => {}
            Err(e) => panic!("unexpected error {e:?}"),
        }
    }
    assert_eq!(won, 1);
    assert_eq!(read(s, "Patient", "fresh").await.unwrap().version, 1);
}

async fn transaction_of_300_resources_commits_in_one_apply(h: &Harness) {
    let s = &h.store;
    let mut writes = Vec::new();
    for i in 0..100 {
        writes.push(create(patient(&format!("p{i}"))));
        writes.push(create(observation(&format!("o{i}a"), &format!("p{i}"))));
        writes.push(update(observation(&format!("o{i}b"), &format!("p{i}"))));
    }
    let out = commit(s, writes).await.unwrap();
    assert_eq!(out.len(), 300);
    assert!(out
        .iter()
        .all(|v| v.as_ref().is_some_and(|v| v.version == 1)));
    let at = out[0].as_ref().unwrap().last_updated;
    assert!(
        out.iter().flatten().all(|v| v.last_updated == at),
        "one timestamp per transaction"
    );
    assert_eq!(count(s, Some("Patient")).await, 100);
    assert_eq!(count(s, Some("Observation")).await, 200);
    assert_eq!(
        s.patient_key(&ctx(), "Observation", "o42b")
            .await
            .unwrap()
            .as_deref(),
        Some("p42")
    );

    // Updating all 300 moves 300 versions to history in one call.
    let mut writes = Vec::new();
    for i in 0..100 {
        writes.push(update(patient(&format!("p{i}"))));
        writes.push(update(observation(&format!("o{i}a"), &format!("p{i}"))));
        writes.push(delete("Observation", &format!("o{i}b")));
    }
    let out = commit(s, writes).await.unwrap();
    assert!(out
        .iter()
        .all(|v| v.as_ref().is_some_and(|v| v.version == 2)));
    assert_eq!(count(s, None).await, 200);
    assert_eq!(
        s.history(&ctx(), &history(HistoryScope::System))
            .await
            .unwrap()
            .total,
        600
    );
}

async fn reopening_the_database_keeps_data_and_reruns_no_migration(h: &Harness) {
    put(&h.store, create(patient("p1"))).await;
    put(&h.store, update(patient("p1"))).await;
    let again = h.reopen().await;
    let current = read(&again, "Patient", "p1")
        .await
        .expect("data survives reopening");
    assert_eq!(current.version, 2);
    let next = put(&again, update(patient("p1"))).await;
    assert_eq!(next.version, 3);
    assert!(next.seq > current.seq, "the sequence continues");
}
