//! PostgreSQL backend: the production store.
//!
//! An sqlx connection pool; with `?schema=NAME` every pooled connection gets that
//! schema as its `search_path`, so several stores (tests, tenants) share one database.
//! See [`transaction`] for batching and locking of writes.

mod index;
mod mpi;
mod options;
mod read;
mod reindex;
mod schema;
mod search;
mod transaction;

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{Executor, PgPool};

use crate::{
    AccessContext, HistoryPage, HistoryQuery, IdentifierQuery, Result, SearchPage, Store,
    StoreError, Transaction, Versioned,
};
use options::Options;
use transaction::{fnv1a, PgTransaction};

/// First key of the two-key advisory locks of [`Store::lease`] ("Hutl"); the second is
/// derived from the schema and the lease name.
const LEASE_LOCK: i32 = 0x4875_746c;

/// How often a lease's connection is checked.
const LEASE_CHECK: Duration = Duration::from_secs(2);

/// A lease held as a session advisory lock: its connection (shared with the task that
/// checks it) ends the lock when it closes.
struct PgLease {
    conn: std::sync::Arc<tokio::sync::Mutex<sqlx::PgConnection>>,
    key: i32,
    watch: AbortOnDrop,
}

#[async_trait]
impl crate::LeaseHolder for PgLease {
    async fn release(self: Box<Self>) {
        let PgLease {
            conn,
            key,
            mut watch,
        } = *self;
        watch.0.abort();
        let _ = (&mut watch.0).await;
        let mut conn = conn.lock().await;
        // Unlock explicitly: the server notices a closed socket only later.
        let _ = sqlx::query("SELECT pg_advisory_unlock($1, $2)")
            .bind(LEASE_LOCK)
            .bind(key)
            .execute(&mut *conn)
            .await;
    }
}

/// Ends a task with its owner.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The PostgreSQL implementation of [`Store`].
pub(crate) struct PgStore {
    pool: PgPool,
    /// Mixed into per-resource advisory lock keys so stores in different schemas of one
    /// database do not contend for each other's locks.
    lock_salt: u64,
}

impl PgStore {
    /// Connects, creates the schema if asked for, and runs pending migrations.
    pub(crate) async fn open(url: &str) -> Result<Self> {
        let options = Options::parse(url)?;
        // Search SQL is prepared once and executed with different values; after five
        // runs PostgreSQL may switch a statement to a generic plan that cannot see how
        // common a code is (one row estimated for `code=4548-4`): it then fetches every
        // match and sorts, instead of walking the primary key in id order and stopping
        // at the page. Always plan with the values (costs ~1 ms of planning).
        let connect = PgConnectOptions::from_str(&options.url)
            .map_err(|e| StoreError::InvalidUrl(e.to_string()))?
            .options([("plan_cache_mode", "force_custom_plan")]);
        let mut pool = PgPoolOptions::new()
            .max_connections(options.max_connections)
            .acquire_timeout(Duration::from_secs(30));
        if let Some(schema) = &options.schema {
            let set_path = format!("SET search_path TO \"{schema}\"");
            pool = pool.after_connect(move |conn, _meta| {
                let set_path = set_path.clone();
                Box::pin(async move {
                    conn.execute(set_path.as_str()).await?;
                    Ok(())
                })
            });
        }
        let pool = pool.connect_with(connect).await?;
        let schema = options.schema.as_deref();
        let lock_salt = fnv1a(&[schema.unwrap_or("").as_bytes()]);
        let applied = schema::migrate(&pool, schema, lock_salt as i32).await?;
        if applied
            .iter()
            .any(|v| schema::REINDEX_MIGRATIONS.contains(v))
        {
            // New index tables or columns: index what the database already holds.
            index::reindex_all(&pool, lock_salt).await?;
        }
        tracing::info!(
            backend = "postgres",
            host = options.url.split('@').next_back().unwrap_or(""),
            schema = schema.unwrap_or("(search_path)"),
            max_connections = options.max_connections,
            "store opened"
        );
        Ok(PgStore { pool, lock_salt })
    }

    async fn conn(&self) -> Result<sqlx::pool::PoolConnection<sqlx::Postgres>> {
        Ok(self.pool.acquire().await?)
    }
}

#[async_trait]
impl Store for PgStore {
    fn pool_status(&self) -> Option<(u32, u32)> {
        Some((
            self.pool.size(),
            u32::try_from(self.pool.num_idle()).unwrap_or(u32::MAX),
        ))
    }

    fn backend(&self) -> &'static str {
        "postgres"
    }

    async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    async fn lease(&self, name: &str) -> Result<Option<crate::Lease>> {
        // A session-level advisory lock on a connection taken out of the pool: it lives
        // as long as that connection, which only the lease holds. The two-key form keeps
        // it apart from the one-key per-resource write locks.
        let mut conn = self.pool.acquire().await?.detach();
        let key = fnv1a(&[&self.lock_salt.to_le_bytes(), name.as_bytes()]) as i32;
        let (held,): (bool,) = sqlx::query_as("SELECT pg_try_advisory_lock($1, $2)")
            .bind(LEASE_LOCK)
            .bind(key)
            .fetch_one(&mut conn)
            .await?;
        if !held {
            return Ok(None);
        }
        // Watch the connection: when it breaks, the lock is gone with it.
        let conn = std::sync::Arc::new(tokio::sync::Mutex::new(conn));
        let lost = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let watch = tokio::spawn({
            let (conn, lost) = (std::sync::Arc::clone(&conn), std::sync::Arc::clone(&lost));
            let name = name.to_owned();
            async move {
                loop {
                    tokio::time::sleep(LEASE_CHECK).await;
                    let mut conn = conn.lock().await;
                    if let Err(e) = sqlx::query("SELECT 1").execute(&mut *conn).await {
                        lost.store(true, std::sync::atomic::Ordering::Relaxed);
                        tracing::error!(lease = %name, error = %e, "database lease lost: its connection broke");
                        return;
                    }
                }
            }
        });
        Ok(Some(crate::Lease::new(
            PgLease {
                conn,
                key,
                watch: AbortOnDrop(watch),
            },
            lost,
        )))
    }

    async fn begin(&self, _ctx: &AccessContext) -> Result<Box<dyn Transaction>> {
        // sqlx 0.8/0.9 `Pool::begin` is not cancel-safe on PostgreSQL: a caller dropped
        // while BEGIN is in flight leaves the pooled connection inside a transaction
        // (transact-rs/sqlx#4393). BEGIN runs in its own task so it always completes;
        // a transaction nobody waits for any more is then dropped and rolled back.
        let pool = self.pool.clone();
        let tx = tokio::spawn(async move { pool.begin().await })
            .await
            .map_err(|e| StoreError::Database(format!("begin task failed: {e}")))??;
        Ok(Box::new(PgTransaction::new(tx, self.lock_salt)))
    }

    async fn read(
        &self,
        _ctx: &AccessContext,
        resource_type: &str,
        id: &str,
    ) -> Result<Option<Versioned>> {
        read::current(&mut *self.conn().await?, resource_type, id).await
    }

    async fn read_many(
        &self,
        _ctx: &AccessContext,
        resource_type: &str,
        ids: &[String],
    ) -> Result<Vec<Versioned>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        read::current_many(&mut *self.conn().await?, resource_type, ids).await
    }

    async fn vread(
        &self,
        _ctx: &AccessContext,
        resource_type: &str,
        id: &str,
        version: u64,
    ) -> Result<Option<Versioned>> {
        read::version(&mut *self.conn().await?, resource_type, id, version).await
    }

    async fn history(&self, _ctx: &AccessContext, query: &HistoryQuery) -> Result<HistoryPage> {
        read::history(&mut *self.conn().await?, query).await
    }

    async fn find(
        &self,
        _ctx: &AccessContext,
        resource_type: &str,
        query: &IdentifierQuery,
    ) -> Result<Vec<String>> {
        read::find(&mut *self.conn().await?, resource_type, query).await
    }

    async fn search(
        &self,
        _ctx: &AccessContext,
        query: &hutong_search::SearchQuery,
    ) -> Result<SearchPage> {
        search::search(&mut *self.conn().await?, query).await
    }

    async fn count(&self, _ctx: &AccessContext, resource_type: Option<&str>) -> Result<u64> {
        read::count(&mut *self.conn().await?, resource_type).await
    }

    async fn analyze(&self) -> Result<()> {
        // this schema's search tables only (a database may hold many schemas)
        sqlx::query(
            "ANALYZE resource, resource_identifier, idx_string, idx_token, idx_date, idx_number, \
             idx_quantity, idx_reference, idx_uri, idx_composite, mpi_link",
        )
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn reindex(
        &self,
        spec: &crate::ReindexSpec,
        progress: crate::ReindexObserver<'_>,
    ) -> Result<crate::ReindexReport> {
        crate::reindex::run(self, spec, progress).await
    }

    async fn mpi_links(
        &self,
        _ctx: &AccessContext,
        query: &crate::LinkQuery,
    ) -> Result<Vec<crate::MpiLink>> {
        mpi::links(&mut *self.conn().await?, query).await
    }

    async fn mpi_unlinked_patients(
        &self,
        _ctx: &AccessContext,
        limit: usize,
    ) -> Result<Vec<String>> {
        mpi::unlinked_patients(&mut *self.conn().await?, limit).await
    }

    async fn mpi_no_link_pairs(&self, _ctx: &AccessContext) -> Result<Vec<(String, String)>> {
        mpi::no_link_pairs(&mut *self.conn().await?).await
    }

    async fn mpi_log(
        &self,
        _ctx: &AccessContext,
        query: &crate::LogQuery,
    ) -> Result<Vec<crate::MpiLogEntry>> {
        mpi::log(&mut *self.conn().await?, query).await
    }

    async fn mpi_reviews(
        &self,
        _ctx: &AccessContext,
        query: &crate::ReviewQuery,
    ) -> Result<Vec<crate::MpiReview>> {
        mpi::reviews(&mut *self.conn().await?, query).await
    }

    async fn patient_key(
        &self,
        _ctx: &AccessContext,
        resource_type: &str,
        id: &str,
    ) -> Result<Option<String>> {
        read::patient_key(&mut *self.conn().await?, resource_type, id).await
    }
}
