//! `Store::lease`: one holder at a time per database and name, across stores opened on
//! the same database (as two processes would); released at once by `release`, soon by a
//! drop; on PostgreSQL a lease whose connection breaks reports itself lost.

use std::time::{Duration, Instant};

use hutong_store::{Lease, Store};

/// The tests of this file one at a time: the broken-connection test ends every lease
/// session it finds (test binaries run one after another, so these are all there are).
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

async fn open_twice(url: &str) -> (std::sync::Arc<dyn Store>, std::sync::Arc<dyn Store>) {
    let a = hutong_store::open(url).await.expect("open");
    let b = hutong_store::open(url).await.expect("open again");
    (a, b)
}

/// Polls `lease` on `store` until it is granted.
async fn take_within(store: &dyn Store, secs: u64) -> Lease {
    let until = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(l) = store.lease("mpi").await.expect("lease") {
            return l;
        }
        assert!(Instant::now() < until, "lease not free after {secs} s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn one_holder_at_a_time(a: &dyn Store, b: &dyn Store) {
    let first = a.lease("mpi").await.expect("lease").expect("free");
    assert!(
        b.lease("mpi").await.expect("lease").is_none(),
        "two holders"
    );
    assert!(
        a.lease("mpi").await.expect("lease").is_none(),
        "taken twice"
    );
    let other = b.lease("other").await.expect("lease");
    assert!(other.is_some(), "another name is another lease");
    assert!(!first.is_lost());
    first.release().await;
    let second = b
        .lease("mpi")
        .await
        .expect("lease")
        .expect("free after release");
    assert!(a.lease("mpi").await.expect("lease").is_none());
    drop(second);
    take_within(a, 10).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_lease_has_one_holder() {
    let _serial = SERIAL.lock().await;
    let path =
        std::env::temp_dir().join(format!("hutong-lease-{}.db", uuid::Uuid::new_v4().simple()));
    let (a, b) = open_twice(&format!("sqlite://{}", path.display())).await;
    one_holder_at_a_time(a.as_ref(), b.as_ref()).await;
    drop((a, b));
    for suffix in ["", "-wal", "-shm", "-lease-mpi", "-lease-other"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
}

/// Two stores on one fresh PostgreSQL schema, and the schema's name.
async fn postgres() -> Option<(std::sync::Arc<dyn Store>, std::sync::Arc<dyn Store>, String)> {
    let Ok(base) = std::env::var("HUTONG_TEST_POSTGRES_URL") else {
        eprintln!("!!!!! SKIPPED (HUTONG_TEST_POSTGRES_URL not set): PostgreSQL variant of this test did not run !!!!!");
        return None;
    };
    let schema = format!("t_{}", uuid::Uuid::new_v4().simple());
    let sep = if base.contains('?') { '&' } else { '?' };
    let (a, b) = open_twice(&format!("{base}{sep}schema={schema}")).await;
    Some((a, b, schema))
}

async fn drop_schema(schema: &str) {
    let base = std::env::var("HUTONG_TEST_POSTGRES_URL").expect("url");
    if let Ok(pool) = sqlx::PgPool::connect(&base).await {
        let _ = sqlx::raw_sql(&format!("DROP SCHEMA \"{schema}\" CASCADE"))
            .execute(&pool)
            .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_lease_has_one_holder() {
    let _serial = SERIAL.lock().await;
    let Some((a, b, schema)) = postgres().await else {
        return;
    };
    one_holder_at_a_time(a.as_ref(), b.as_ref()).await;
    drop((a, b));
    drop_schema(&schema).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_lease_whose_connection_breaks_is_lost() {
    let _serial = SERIAL.lock().await;
    let Some((a, b, schema)) = postgres().await else {
        return;
    };
    let lease = a.lease("mpi").await.expect("lease").expect("free");
    // Kill the session holding it, as a database restart or a network cut would.
    let base = std::env::var("HUTONG_TEST_POSTGRES_URL").expect("url");
    let admin = sqlx::PgPool::connect(&base).await.expect("connect");
    let (killed,): (i64,) = sqlx::query_as(
        "SELECT count(pg_terminate_backend(pid)) FROM pg_locks \
         WHERE locktype = 'advisory' AND objsubid = 2 AND classid = $1::int4::oid \
         AND granted AND pid <> pg_backend_pid()",
    )
    .bind(0x4875_746c_i32)
    .fetch_one(&admin)
    .await
    .expect("terminate");
    assert!(killed >= 1, "no advisory lease lock found in pg_locks");
    let until = Instant::now() + Duration::from_secs(15);
    while !lease.is_lost() {
        assert!(
            Instant::now() < until,
            "a broken lease is not reported lost"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The lock went with the session: another store takes the lease.
    take_within(b.as_ref(), 10).await;
    drop((lease, a, b));
    drop_schema(&schema).await;
}
