//! Versioned FHIR resource store.
//!
//! Owns: the persistent, versioned copy of every resource (current versions and
//! history kept in separate tables), the patient-compartment key of every row, the
//! small identifier index used by conditional create, and schema migrations.
//! One trait ([`Store`]), two backends: SQLite (embedded, bundled, WAL) and
//! PostgreSQL (sqlx), chosen by [`open`] from the database URL.
//!
//! Must never: know about HTTP, render OperationOutcomes, or re-serialise stored JSON
//! on a read (the bytes written are the bytes served). Nothing above this crate may
//! know which backend is in use.
//!
//! Entry points: [`open`] → `Arc<dyn Store>`; [`Store::begin`] → [`Transaction`] for
//! every write (a single create is a one-write transaction; a FHIR transaction Bundle
//! is one database transaction); [`Store::read`], [`Store::vread`], [`Store::history`].
//!
//! # Backends
//!
//! Both keep the same tables: `resource` (the current version of every resource,
//! tombstones included), `resource_history` (superseded versions, each JSON stored once:
//! a version moves there when a newer one is written), `resource_identifier` (business
//! identifiers of current versions), the search index tables `idx_*` (values of the
//! R4 search parameters of current versions, extracted by `hutong-search` and written
//! in the same transaction as the resource), `reindex_job` (the selector and cursor of each
//! `hutong reindex` job, see [`Store::reindex`]) and `schema_version`. Every version row carries a
//! global, strictly increasing `seq` (history order and paging cursor) and the
//! patient-compartment key. Timestamps are stored as microseconds since the Unix epoch.
//!
//! - **SQLite** (`sqlite://PATH`, `sqlite::memory:`): WAL mode, one writer connection
//!   behind an async mutex (`BEGIN IMMEDIATE`), a pool of reader connections; rusqlite
//!   calls run on blocking threads. Durability: `synchronous=NORMAL` by default, which
//!   survives a process crash or `kill -9` but not an OS crash or power loss (the last
//!   commits may be lost); `?synchronous=full` fsyncs every commit.
//! - **PostgreSQL** (`postgres://…`): an sqlx pool (`?max_connections=N`, default 16;
//!   `?schema=NAME` to keep the tables in their own schema). Durability is the server's
//!   (commit returns after the WAL flush with the default `synchronous_commit=on`).
//!   Writes to one resource are serialised by a transaction-scoped advisory lock per
//!   resource taken before the current version is read, so concurrent updates never lose
//!   a version, exactly one of several racing `If-Match` writers wins, and two racing
//!   creates of one new id cannot both write version 1. Each `apply` is a handful of
//!   round trips whatever the number of writes (array-bound multi-row statements).

mod context;
mod error;
mod history;
mod model;
mod mpi;
mod postgres;
mod reindex;
mod search;
mod sqlite;
mod stamp;
mod stored;
mod write_plan;

pub use context::AccessContext;
pub use error::StoreError;
pub use model::{
    HistoryPage, HistoryQuery, HistoryScope, IdentifierQuery, PendingWrite, SearchPage, Versioned,
    WriteKind,
};
pub use mpi::{
    LinkKind, LinkQuery, LogQuery, MpiAction, MpiChange, MpiLink, MpiLogEntry, MpiReview,
    ReviewQuery, ReviewStatus,
};
pub use reindex::{
    ReindexControl, ReindexObserver, ReindexProgress, ReindexReport, ReindexSpec, DEFAULT_BATCH,
};

use async_trait::async_trait;
use std::sync::Arc;

/// The search index tables (same in both backends), each keyed by the
/// `(resource_type, id)` of the resource a row indexes.
pub(crate) const INDEX_TABLES: [&str; 8] = [
    "idx_string",
    "idx_token",
    "idx_date",
    "idx_number",
    "idx_quantity",
    "idx_reference",
    "idx_uri",
    "idx_composite",
];

/// Result type of every store operation.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// An exclusive lease on a database (see [`Store::lease`]). Dropping it ends the lease
/// soon; [`Lease::release`] ends it before it returns.
pub struct Lease {
    holder: Box<dyn LeaseHolder>,
    lost: Arc<std::sync::atomic::AtomicBool>,
}

/// What keeps a backend's lease, and ends it.
#[async_trait]
pub(crate) trait LeaseHolder: Send + Sync + 'static {
    async fn release(self: Box<Self>);
}

impl Lease {
    pub(crate) fn new(holder: impl LeaseHolder, lost: Arc<std::sync::atomic::AtomicBool>) -> Lease {
        Lease {
            holder: Box::new(holder),
            lost,
        }
    }

    /// The lease ended without being dropped (on PostgreSQL: its connection broke, say
    /// the server restarted), so another process may hold it now. The holder must stop
    /// relying on state kept under it and take the lease again.
    pub fn is_lost(&self) -> bool {
        self.lost.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Ends the lease; another holder can take it as soon as this returns.
    pub async fn release(self) {
        self.holder.release().await;
    }
}

impl std::fmt::Debug for Lease {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lease")
            .field("lost", &self.is_lost())
            .finish()
    }
}

/// The versioned resource store. Implemented by the SQLite and PostgreSQL backends.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Short backend name for logs and metrics (`"sqlite"`, `"postgres"`).
    fn backend(&self) -> &'static str;

    /// Database connections as `(open, idle)`, for `/metrics`. `None` when the backend
    /// has no pool to report.
    fn pool_status(&self) -> Option<(u32, u32)> {
        None
    }

    /// Checks that the database answers (for `/healthz`).
    async fn ping(&self) -> Result<()>;

    /// Starts a write transaction. Dropping it without [`Transaction::commit`] rolls back.
    async fn begin(&self, ctx: &AccessContext) -> Result<Box<dyn Transaction>>;

    /// The current version of a resource, including a tombstone if the latest version
    /// is a delete. `None` when the resource never existed.
    async fn read(
        &self,
        ctx: &AccessContext,
        resource_type: &str,
        id: &str,
    ) -> Result<Option<Versioned>>;

    /// The current versions of several resources of one type, in no particular order
    /// (tombstones included; ids that never existed are left out). The default reads
    /// them one by one; a store with round trips to pay answers in one statement.
    async fn read_many(
        &self,
        ctx: &AccessContext,
        resource_type: &str,
        ids: &[String],
    ) -> Result<Vec<Versioned>> {
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            if let Some(v) = self.read(ctx, resource_type, id).await? {
                out.push(v);
            }
        }
        Ok(out)
    }

    /// One specific version (may be a tombstone). `None` when that version does not exist.
    async fn vread(
        &self,
        ctx: &AccessContext,
        resource_type: &str,
        id: &str,
        version: u64,
    ) -> Result<Option<Versioned>>;

    /// Versions newest first, filtered and paged by keyset on the global sequence.
    async fn history(&self, ctx: &AccessContext, query: &HistoryQuery) -> Result<HistoryPage>;

    /// Ids of current, non-deleted resources of `resource_type` matching the query
    /// (exact identifier `system|value`, or `_id`). Used by conditional create.
    async fn find(
        &self,
        ctx: &AccessContext,
        resource_type: &str,
        query: &IdentifierQuery,
    ) -> Result<Vec<String>>;

    /// Current, non-deleted resources matching a FHIR search, one keyset page at a
    /// time (R4 search.html). Answers the total too when `_total` is `estimate` or
    /// `accurate` or `_summary=count` (then without entries).
    async fn search(
        &self,
        ctx: &AccessContext,
        query: &hutong_search::SearchQuery,
    ) -> Result<SearchPage>;

    /// Number of current, non-deleted resources per type (for tests, import reports
    /// and the console).
    async fn count(&self, ctx: &AccessContext, resource_type: Option<&str>) -> Result<u64>;

    /// Takes the exclusive lease `name` on this database for as long as the returned
    /// [`Lease`] lives, or `Ok(None)` when another holder has it (another process, or
    /// another store opened on the same database). For components that keep state in
    /// memory and must be the only one writing it, such as the master patient index.
    /// The lease ends with the holder: a crashed process never keeps it (PostgreSQL ends
    /// a session-level advisory lock with its connection; the operating system drops a
    /// file lock with its file).
    async fn lease(&self, name: &str) -> Result<Option<Lease>>;

    /// Refreshes the query planner's statistics after a bulk load (`hutong import` calls
    /// it at its end): search plans on PostgreSQL depend on them, and autovacuum may not
    /// have sampled a freshly loaded table yet. SQLite keeps no statistics (its plans
    /// are pinned where it matters, see `search/mod.rs`), so the default does nothing.
    async fn analyze(&self) -> Result<()> {
        Ok(())
    }

    /// Rebuilds search index rows of current resources after a search-parameter change,
    /// online and resumably (see `reindex.rs`): resumes the unfinished job with the same
    /// selector unless `spec.restart`, commits one batch per transaction with the job's
    /// cursor, and calls `progress` after each batch (which may stop the run; a later
    /// call resumes it).
    async fn reindex(
        &self,
        spec: &ReindexSpec,
        progress: ReindexObserver<'_>,
    ) -> Result<ReindexReport>;

    /// Current master-patient-index links selected by `query` (see [`MpiLink`]).
    async fn mpi_links(&self, ctx: &AccessContext, query: &LinkQuery) -> Result<Vec<MpiLink>>;

    /// Ids of live Patients that have no master-patient-index link yet (the catch-up
    /// pass after a crash between a Patient write and its linking), oldest first.
    async fn mpi_unlinked_patients(&self, ctx: &AccessContext, limit: usize)
        -> Result<Vec<String>>;

    /// Every pair of references (`Patient/x`, `Person/y`) that must never be linked
    /// automatically (unlinked or rejected by a human). The table grows only by human
    /// decisions, so it is read whole.
    async fn mpi_no_link_pairs(&self, ctx: &AccessContext) -> Result<Vec<(String, String)>>;

    /// Entries of the link-change log, oldest first.
    async fn mpi_log(&self, ctx: &AccessContext, query: &LogQuery) -> Result<Vec<MpiLogEntry>>;

    /// Items of the review queue, oldest first.
    async fn mpi_reviews(&self, ctx: &AccessContext, query: &ReviewQuery)
        -> Result<Vec<MpiReview>>;

    /// The patient-compartment key stored with the current version of a resource (for
    /// a tombstone, the key of the version it deleted): the Patient id whose compartment
    /// the resource belongs to, `None` outside any compartment or when the resource
    /// does not exist. For consent checks and diagnostics.
    ///
    /// The default computes it from the JSON; the backends read the stored column.
    async fn patient_key(
        &self,
        ctx: &AccessContext,
        resource_type: &str,
        id: &str,
    ) -> Result<Option<String>> {
        let Some(mut current) = self.read(ctx, resource_type, id).await? else {
            return Ok(None);
        };
        if current.deleted {
            match self
                .vread(ctx, resource_type, id, current.version.saturating_sub(1))
                .await?
            {
                Some(previous) => current = previous,
                None => return Ok(None),
            }
        }
        let json: serde_json::Value = serde_json::from_slice(&current.json)
            .map_err(|e| StoreError::Corrupt(e.to_string()))?;
        Ok(hutong_fhir::compartment::patient_key(&json))
    }
}

/// A write transaction. All writes inside it commit together or not at all.
#[async_trait]
pub trait Transaction: Send {
    /// Current version of a resource as seen inside this transaction.
    async fn read(&mut self, resource_type: &str, id: &str) -> Result<Option<Versioned>>;

    /// Like [`Store::find`], inside this transaction.
    async fn find(&mut self, resource_type: &str, query: &IdentifierQuery) -> Result<Vec<String>>;

    /// Like [`Store::search`], inside this transaction: sees the index rows of the
    /// writes this transaction has applied (conditional create/update/delete and
    /// conditional references of a Bundle).
    async fn search(&mut self, query: &hutong_search::SearchQuery) -> Result<SearchPage>;

    /// Applies writes in order, batching database round trips. Each write gets the next
    /// version of its resource and the transaction's timestamp; `meta.versionId` and
    /// `meta.lastUpdated` are set in the stored JSON. Returns one result per write, in
    /// order. A failed precondition (`if_match`, create of an existing id) fails the
    /// whole call with [`StoreError::VersionConflict`] / [`StoreError::AlreadyExists`]
    /// naming the index of the offending write.
    ///
    /// A delete of a resource that does not exist or is already deleted writes nothing
    /// and returns `None` for that position.
    async fn apply(&mut self, writes: Vec<PendingWrite>) -> Result<Vec<Option<Versioned>>>;

    /// Applies master-patient-index link-state changes in this transaction, so the
    /// golden-record (Person) writes and the link rows commit together.
    async fn mpi_apply(&mut self, changes: Vec<MpiChange>) -> Result<()>;

    /// Makes every write durable. Returns only after the database has committed.
    async fn commit(self: Box<Self>) -> Result<()>;
}

/// Opens (creating if needed) the database named by `url` and runs pending migrations.
///
/// `sqlite://PATH` (or a bare path) opens an embedded SQLite file in WAL mode;
/// `sqlite::memory:` an in-memory database; `postgres://…` / `postgresql://…` a
/// PostgreSQL pool.
///
/// URL options — SQLite: `synchronous=normal|full` (default normal), `readers=N`
/// (reader connections, default 4). PostgreSQL: `schema=NAME` (created if missing and
/// put on every connection's `search_path`), `max_connections=N` (default 16); other
/// parameters go to the driver unchanged.
pub async fn open(url: &str) -> Result<Arc<dyn Store>> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Arc::new(postgres::PgStore::open(url).await?))
    } else {
        let path = url.strip_prefix("sqlite://").unwrap_or(url);
        let path = path.strip_prefix("sqlite:").unwrap_or(path);
        Ok(Arc::new(sqlite::SqliteStore::open(path).await?))
    }
}
