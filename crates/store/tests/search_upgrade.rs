//! A database written before the search indexes existed is indexed when it is opened
//! with the search migration, so search finds what was already stored — on SQLite and
//! PostgreSQL.

use hutong_search::query::ParseOptions;
use hutong_search::SearchQuery;
use hutong_store::{AccessContext, PendingWrite, Store, WriteKind};
use serde_json::json;

/// What migration 1 (before search) created; everything else is dropped to turn a
/// database back into a pre-search one, whatever later migrations added.
const MIGRATION_1_TABLES: [&str; 5] = [
    "resource",
    "resource_history",
    "resource_identifier",
    "write_sequence",
    "schema_version",
];
const MIGRATION_1_INDEXES: [&str; 8] = [
    "resource_seq_idx",
    "resource_type_seq_idx",
    "resource_patient_key_idx",
    "resource_history_seq_idx",
    "resource_history_type_seq_idx",
    "resource_history_patient_key_idx",
    "resource_identifier_value_idx",
    "resource_identifier_resource_idx",
];

async fn seed(store: &dyn Store) {
    let ctx = AccessContext::system("test");
    let mut tx = store.begin(&ctx).await.expect("begin");
    let writes = (0..7)
        .map(|i| PendingWrite {
            kind: WriteKind::Create,
            resource_type: "Patient".into(),
            id: format!("p{i}"),
            resource: Some(json!({"resourceType": "Patient", "id": format!("p{i}"),
                "gender": if i % 2 == 0 { "male" } else { "female" }})),
            if_match: None,
        })
        .collect();
    tx.apply(writes).await.expect("apply");
    tx.commit().await.expect("commit");
}

async fn males(store: &dyn Store) -> Vec<String> {
    let params = vec![("gender".to_string(), "male".to_string())];
    let q = SearchQuery::parse("Patient", &params, &ParseOptions::default()).expect("query");
    let page = store
        .search(&AccessContext::system("test"), &q)
        .await
        .expect("search");
    page.entries.into_iter().map(|v| v.id).collect()
}

#[tokio::test]
async fn sqlite_database_from_before_search_is_indexed_when_opened() {
    let file = std::env::temp_dir().join(format!(
        "hutong-upgrade-{}.db",
        uuid::Uuid::new_v4().simple()
    ));
    let url = format!("sqlite://{}", file.display());
    {
        let store = hutong_store::open(&url).await.expect("open");
        seed(store.as_ref()).await;
        assert_eq!(males(store.as_ref()).await, ["p0", "p2", "p4", "p6"]);
    }
    {
        // turn the file back into a pre-search database
        let conn = rusqlite::Connection::open(&file).expect("sqlite");
        let objects: Vec<(String, String)> = conn
            .prepare("SELECT type, name FROM sqlite_master WHERE type IN ('table', 'index') AND sql IS NOT NULL AND name NOT LIKE 'sqlite_%'")
            .expect("list")
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .expect("list")
            .collect::<Result<_, _>>()
            .expect("list");
        for (kind, name) in objects {
            let keep = MIGRATION_1_TABLES.contains(&name.as_str())
                || MIGRATION_1_INDEXES.contains(&name.as_str());
            if !keep {
                let what = if kind == "table" { "TABLE" } else { "INDEX" };
                conn.execute_batch(&format!("DROP {what} IF EXISTS \"{name}\""))
                    .expect("drop");
            }
        }
        conn.execute("DELETE FROM schema_version WHERE version >= 2", [])
            .expect("forget migrations");
    }
    let store = hutong_store::open(&url).await.expect("reopen");
    assert_eq!(males(store.as_ref()).await, ["p0", "p2", "p4", "p6"]);
    drop(store);
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", file.display()));
    }
}

#[tokio::test]
async fn postgres_database_from_before_search_is_indexed_when_opened() {
    let Ok(base) = std::env::var("HUTONG_TEST_POSTGRES_URL") else {
        eprintln!("!!!!! SKIPPED (HUTONG_TEST_POSTGRES_URL not set): PostgreSQL variant of this test did not run !!!!!");
        return;
    };
    let schema = format!("t_{}", uuid::Uuid::new_v4().simple());
    let sep = if base.contains('?') { '&' } else { '?' };
    let url = format!("{base}{sep}schema={schema}");
    {
        let store = hutong_store::open(&url).await.expect("open");
        seed(store.as_ref()).await;
        assert_eq!(males(store.as_ref()).await, ["p0", "p2", "p4", "p6"]);
    }
    let pool = sqlx::PgPool::connect(&base).await.expect("connect");
    let tables: Vec<(String,)> =
        sqlx::query_as("SELECT tablename::text FROM pg_tables WHERE schemaname = $1")
            .bind(&schema)
            .fetch_all(&pool)
            .await
            .expect("list tables");
    for (t,) in tables {
        if !MIGRATION_1_TABLES.contains(&t.as_str()) {
            sqlx::raw_sql(&format!("DROP TABLE \"{schema}\".\"{t}\" CASCADE"))
                .execute(&pool)
                .await
                .expect("drop table");
        }
    }
    let indexes: Vec<(String,)> = sqlx::query_as(
        "SELECT indexname::text FROM pg_indexes WHERE schemaname = $1 AND indexname NOT LIKE '%_pkey'",
    )
    .bind(&schema)
    .fetch_all(&pool)
    .await
    .expect("list indexes");
    for (i,) in indexes {
        if !MIGRATION_1_INDEXES.contains(&i.as_str()) {
            sqlx::raw_sql(&format!("DROP INDEX \"{schema}\".\"{i}\""))
                .execute(&pool)
                .await
                .expect("drop index");
        }
    }
    sqlx::raw_sql(&format!(
        "DELETE FROM \"{schema}\".schema_version WHERE version >= 2"
    ))
    .execute(&pool)
    .await
    .expect("forget migrations");
    let store = hutong_store::open(&url).await.expect("reopen");
    let found = males(store.as_ref()).await;
    drop(store);
    let _ = sqlx::raw_sql(&format!("DROP SCHEMA \"{schema}\" CASCADE"))
        .execute(&pool)
        .await;
    assert_eq!(found, ["p0", "p2", "p4", "p6"]);
}
