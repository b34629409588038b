//! SQLite backend: the embedded default.
//!
//! One writer connection behind an async mutex plus a small pool of reader
//! connections, all on one database file in WAL mode, so reads never wait for writes.
//! See [`transaction`] for how writes are serialised.
//!
//! Durability: `synchronous=NORMAL` by default. In WAL mode that survives a crash or
//! `kill -9` of the process (a committed transaction is in the WAL file before commit
//! returns) but an OS crash or power loss may lose the last transactions. Add
//! `?synchronous=full` to the URL to fsync the WAL on every commit.
//!
//! `sqlite::memory:` is an ephemeral database for tests and trials: a private WAL file
//! in `/dev/shm` (RAM on Linux; the system temp directory elsewhere), deleted when the
//! store is dropped. A true SQLite in-memory database cannot serve a writer and
//! concurrent readers on separate connections (shared cache and the `memdb` VFS both
//! block readers while a write transaction is open), so it would behave differently
//! from the file store the server runs on.

mod index;
mod mpi;
mod read;
mod readers;
mod reindex;
mod schema;
mod search;
mod transaction;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use rusqlite::Connection;
use tokio::sync::Mutex;

use crate::{
    AccessContext, HistoryPage, HistoryQuery, IdentifierQuery, Result, SearchPage, Store,
    StoreError, Transaction, Versioned,
};
use readers::Readers;
use transaction::SqliteTransaction;

/// Page cache of the writer connection, in KiB.
const WRITER_CACHE_KIB: u32 = 64 * 1024;

/// WAL size, in pages, at which a commit checkpoints it into the database file.
const WAL_CHECKPOINT_PAGES: u32 = 16 * 1024;

/// How long a connection waits for a lock held by another process before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// What an SQLite URL asks for.
#[derive(Debug, Clone, PartialEq)]
struct Options {
    /// A file path, or `None` for an in-memory database.
    path: Option<String>,
    /// `synchronous=full` instead of `normal`.
    synchronous_full: bool,
    /// Number of reader connections (`readers=N`, default 4).
    readers: usize,
}

impl Options {
    /// Parses `PATH[?synchronous=normal|full&readers=N]`, `:memory:` for memory.
    fn parse(url: &str) -> Result<Self> {
        let (path, query) = url.split_once('?').unwrap_or((url, ""));
        let mut options = Options {
            path: (path != ":memory:").then(|| path.to_owned()),
            synchronous_full: false,
            readers: 4,
        };
        if path.is_empty() {
            return Err(StoreError::InvalidUrl("sqlite url names no file".into()));
        }
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            match pair.split_once('=') {
                Some(("synchronous", v)) if v.eq_ignore_ascii_case("full") => {
                    options.synchronous_full = true
                }
                Some(("synchronous", v)) if v.eq_ignore_ascii_case("normal") => {
                    options.synchronous_full = false
                }
                Some(("readers", n)) => {
                    options.readers = n.parse().ok().filter(|n| *n > 0).ok_or_else(|| {
                        StoreError::InvalidUrl(format!("readers must be a positive number: {n}"))
                    })?;
                }
                _ => {
                    return Err(StoreError::InvalidUrl(format!(
                        "unknown sqlite option {pair:?}"
                    )))
                }
            }
        }
        Ok(options)
    }
}

/// The SQLite implementation of [`Store`].
pub(crate) struct SqliteStore {
    writer: Arc<Mutex<Connection>>,
    readers: Arc<Readers>,
    /// The database file (of an in-memory store too: see [`Ephemeral`]).
    path: std::path::PathBuf,
    /// Declared last so the connections close before the file is removed.
    _ephemeral: Option<Ephemeral>,
}

impl SqliteStore {
    /// Opens or creates the database and runs pending migrations. `url` is what
    /// follows `sqlite://` (see [`Options::parse`]).
    pub(crate) async fn open(url: &str) -> Result<Self> {
        let options = Options::parse(url)?;
        let store = tokio::task::spawn_blocking(move || Self::open_blocking(&options))
            .await
            .map_err(|e| StoreError::Database(format!("sqlite open task failed: {e}")))??;
        Ok(store)
    }

    fn open_blocking(options: &Options) -> Result<Self> {
        let (path, ephemeral) = match &options.path {
            Some(path) => (path.clone(), None),
            None => {
                let e = Ephemeral::new();
                (e.path.display().to_string(), Some(e))
            }
        };
        let connect = || -> Result<Connection> {
            let conn = Connection::open(&path)?;
            conn.busy_timeout(BUSY_TIMEOUT)?;
            conn.set_prepared_statement_cache_capacity(64);
            Ok(conn)
        };
        let mut writer = connect()?;
        let mode: String = writer.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StoreError::Database(format!(
                "{path}: cannot enable WAL (journal_mode is {mode})"
            )));
        }
        let synchronous = if options.synchronous_full {
            "FULL"
        } else {
            "NORMAL"
        };
        writer.execute_batch(&format!("PRAGMA synchronous = {synchronous}"))?;
        // The writer touches the resource table and seven search index tables with
        // their B-trees on every write; SQLite's default 2 MB page cache made imports
        // re-read index pages from the OS on almost every insert.
        writer.execute_batch(&format!("PRAGMA cache_size = -{WRITER_CACHE_KIB}"))?;
        // Checkpoint less often: index pages rewritten by many consecutive transactions
        // are then copied into the database once per checkpoint, not once per 4 MB of WAL.
        writer.execute_batch(&format!(
            "PRAGMA wal_autocheckpoint = {WAL_CHECKPOINT_PAGES}"
        ))?;
        let applied = schema::migrate(&mut writer)?;
        if applied
            .iter()
            .any(|v| schema::REINDEX_MIGRATIONS.contains(v))
        {
            // New index tables or columns: index what the database already holds.
            index::reindex_all(&mut writer)?;
        }
        let readers = (0..options.readers)
            .map(|_| connect())
            .collect::<Result<Vec<_>>>()?;
        tracing::info!(
            backend = "sqlite",
            path = options.path.as_deref().unwrap_or(":memory:"),
            synchronous,
            readers = options.readers,
            "store opened"
        );
        Ok(SqliteStore {
            writer: Arc::new(Mutex::new(writer)),
            readers: Arc::new(Readers::new(readers)),
            path: path.into(),
            _ephemeral: ephemeral,
        })
    }
}

/// A lease held as a lock on an open file.
struct FileLease(std::fs::File);

#[async_trait]
impl crate::LeaseHolder for FileLease {
    async fn release(self: Box<Self>) {
        let _ = self.0.unlock();
    }
}

/// The file behind `sqlite::memory:`, removed with the store.
struct Ephemeral {
    path: std::path::PathBuf,
}

impl Ephemeral {
    fn new() -> Self {
        static N: AtomicU64 = AtomicU64::new(0);
        let shm = std::path::Path::new("/dev/shm");
        let dir = if shm.is_dir() {
            shm.to_path_buf()
        } else {
            std::env::temp_dir()
        };
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let name = format!(
            "hutong-memory-{}-{}-{nanos}.db",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        );
        Ephemeral {
            path: dir.join(name),
        }
    }
}

impl Drop for Ephemeral {
    fn drop(&mut self) {
        for suffix in ["", "-wal", "-shm", "-journal", "-lease-mpi"] {
            let mut file = self.path.clone().into_os_string();
            file.push(suffix);
            let _ = std::fs::remove_file(file);
        }
    }
}

#[async_trait]
impl Store for SqliteStore {
    fn backend(&self) -> &'static str {
        "sqlite"
    }

    async fn ping(&self) -> Result<()> {
        self.readers
            .run(|conn| Ok(conn.query_row("SELECT 1", [], |_| Ok(()))?))
            .await
    }

    async fn lease(&self, name: &str) -> Result<Option<crate::Lease>> {
        // An exclusive lock on a file beside the database (`hutong.db-lease-mpi`), held
        // by the open file: a second open of it, in this process or another, cannot
        // take it, and the system drops it when the holder exits.
        let mut file = self.path.clone().into_os_string();
        file.push(format!("-lease-{name}"));
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&file)
            .map_err(|e| {
                StoreError::Database(format!("cannot open {}: {e}", file.to_string_lossy()))
            })?;
        match file.try_lock() {
            Ok(()) => Ok(Some(crate::Lease::new(FileLease(file), Default::default()))),
            Err(std::fs::TryLockError::WouldBlock) => Ok(None),
            Err(std::fs::TryLockError::Error(e)) => Err(StoreError::Database(format!(
                "cannot lock the {name} lease: {e}"
            ))),
        }
    }

    async fn begin(&self, _ctx: &AccessContext) -> Result<Box<dyn Transaction>> {
        Ok(Box::new(SqliteTransaction::begin(&self.writer).await?))
    }

    async fn read(
        &self,
        _ctx: &AccessContext,
        resource_type: &str,
        id: &str,
    ) -> Result<Option<Versioned>> {
        let (rt, id) = (resource_type.to_owned(), id.to_owned());
        self.readers
            .run(move |conn| read::current(conn, &rt, &id))
            .await
    }

    async fn vread(
        &self,
        _ctx: &AccessContext,
        resource_type: &str,
        id: &str,
        version: u64,
    ) -> Result<Option<Versioned>> {
        let (rt, id) = (resource_type.to_owned(), id.to_owned());
        self.readers
            .run(move |conn| read::version(conn, &rt, &id, version))
            .await
    }

    async fn history(&self, _ctx: &AccessContext, query: &HistoryQuery) -> Result<HistoryPage> {
        let query = query.clone();
        self.readers
            .run(move |conn| read::history(conn, &query))
            .await
    }

    async fn find(
        &self,
        _ctx: &AccessContext,
        resource_type: &str,
        query: &IdentifierQuery,
    ) -> Result<Vec<String>> {
        let (rt, query) = (resource_type.to_owned(), query.clone());
        self.readers
            .run(move |conn| read::find(conn, &rt, &query))
            .await
    }

    async fn search(
        &self,
        _ctx: &AccessContext,
        query: &hutong_search::SearchQuery,
    ) -> Result<SearchPage> {
        let query = query.clone();
        self.readers
            .run(move |conn| search::search(conn, &query))
            .await
    }

    async fn count(&self, _ctx: &AccessContext, resource_type: Option<&str>) -> Result<u64> {
        let rt = resource_type.map(str::to_owned);
        self.readers
            .run(move |conn| read::count(conn, rt.as_deref()))
            .await
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
        let query = query.clone();
        self.readers.run(move |conn| mpi::links(conn, &query)).await
    }

    async fn mpi_unlinked_patients(
        &self,
        _ctx: &AccessContext,
        limit: usize,
    ) -> Result<Vec<String>> {
        self.readers
            .run(move |conn| mpi::unlinked_patients(conn, limit))
            .await
    }

    async fn mpi_no_link_pairs(&self, _ctx: &AccessContext) -> Result<Vec<(String, String)>> {
        self.readers.run(mpi::no_link_pairs).await
    }

    async fn mpi_log(
        &self,
        _ctx: &AccessContext,
        query: &crate::LogQuery,
    ) -> Result<Vec<crate::MpiLogEntry>> {
        let query = query.clone();
        self.readers.run(move |conn| mpi::log(conn, &query)).await
    }

    async fn mpi_reviews(
        &self,
        _ctx: &AccessContext,
        query: &crate::ReviewQuery,
    ) -> Result<Vec<crate::MpiReview>> {
        let query = query.clone();
        self.readers
            .run(move |conn| mpi::reviews(conn, &query))
            .await
    }

    async fn patient_key(
        &self,
        _ctx: &AccessContext,
        resource_type: &str,
        id: &str,
    ) -> Result<Option<String>> {
        let (rt, id) = (resource_type.to_owned(), id.to_owned());
        self.readers
            .run(move |conn| read::patient_key(conn, &rt, &id))
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::Options;

    #[test]
    fn url_options_are_parsed_and_unknown_ones_rejected() {
        let o = Options::parse("/tmp/x.db?synchronous=full&readers=2").unwrap();
        assert_eq!(o.path.as_deref(), Some("/tmp/x.db"));
        assert!(o.synchronous_full);
        assert_eq!(o.readers, 2);
        assert_eq!(Options::parse(":memory:").unwrap().path, None);
        assert!(Options::parse("/tmp/x.db?sync=off").is_err());
        assert!(Options::parse("/tmp/x.db?readers=0").is_err());
    }
}
