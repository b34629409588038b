//! The SQLite write transaction.
//!
//! There is exactly one writer connection, behind an async mutex. A transaction owns
//! the mutex guard from `begin` to commit or drop, so writers queue in the runtime
//! instead of spinning on `SQLITE_BUSY`, and `BEGIN IMMEDIATE` takes the database write
//! lock up front (other processes wait `busy_timeout`). Each step runs on a blocking
//! thread with the guard moved in and back out, so rusqlite never blocks the runtime.
//! If a step is cancelled or panics, the guard is dropped with the transaction still
//! open; the next `begin` finds it and rolls it back.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;
use rusqlite::{params, Connection, OptionalExtension};
use time::OffsetDateTime;
use tokio::sync::{Mutex, OwnedMutexGuard};

use super::read;
use crate::stored::{db_version, stored_version};
use crate::write_plan::{self, Current, Plan};
use crate::{IdentifierQuery, PendingWrite, Result, StoreError, Transaction, Versioned};

const ALL_COLUMNS: &str =
    "resource_type, id, version, seq, last_updated, deleted, kind, patient_key, json";

pub(super) struct SqliteTransaction {
    conn: Option<OwnedMutexGuard<Connection>>,
    at: OffsetDateTime,
    started: Instant,
    writes: usize,
    /// A statement failed after writing started: the only way out is rollback.
    poisoned: bool,
}

impl SqliteTransaction {
    pub(super) async fn begin(writer: &Arc<Mutex<Connection>>) -> Result<Self> {
        let guard = Arc::clone(writer).lock_owned().await;
        let mut tx = SqliteTransaction {
            conn: Some(guard),
            at: crate::stamp::transaction_instant(),
            started: Instant::now(),
            writes: 0,
            poisoned: false,
        };
        tx.step(|conn| {
            if !conn.is_autocommit() {
                tracing::warn!("rolling back a write transaction abandoned mid-step");
                conn.execute_batch("ROLLBACK")?;
            }
            conn.execute_batch("BEGIN IMMEDIATE")?;
            Ok(())
        })
        .await?;
        // Taken after the write lock: under the single writer, timestamps never go
        // backwards along the sequence.
        tx.at = crate::stamp::transaction_instant();
        Ok(tx)
    }

    /// Runs one step on the writer connection on a blocking thread.
    async fn step<T, F>(&mut self, f: F) -> Result<T>
    where
        F: FnOnce(&mut Connection) -> Result<T> + Send + 'static,
        T: Send + 'static,
    {
        let mut guard = self.conn.take().ok_or_else(|| {
            StoreError::Database("transaction is no longer usable after a failed step".into())
        })?;
        let (guard, result) = tokio::task::spawn_blocking(move || {
            let result = f(&mut guard);
            (guard, result)
        })
        .await
        .map_err(|e| StoreError::Database(format!("sqlite write task failed: {e}")))?;
        self.conn = Some(guard);
        result
    }
}

#[async_trait]
impl Transaction for SqliteTransaction {
    async fn read(&mut self, resource_type: &str, id: &str) -> Result<Option<Versioned>> {
        let (rt, id) = (resource_type.to_owned(), id.to_owned());
        self.step(move |conn| read::current(conn, &rt, &id)).await
    }

    async fn find(&mut self, resource_type: &str, query: &IdentifierQuery) -> Result<Vec<String>> {
        let (rt, query) = (resource_type.to_owned(), query.clone());
        self.step(move |conn| read::find(conn, &rt, &query)).await
    }

    async fn search(&mut self, query: &hutong_search::SearchQuery) -> Result<crate::SearchPage> {
        let query = query.clone();
        self.step(move |conn| super::search::search(conn, &query))
            .await
    }

    async fn apply(&mut self, writes: Vec<PendingWrite>) -> Result<Vec<Option<Versioned>>> {
        if self.poisoned {
            return Err(StoreError::Database(
                "transaction failed earlier; roll it back".into(),
            ));
        }
        let n = writes.len();
        let at = self.at;
        let result = self.step(move |conn| apply(conn, writes, at)).await;
        match &result {
            Ok(_) => self.writes += n,
            Err(
                StoreError::VersionConflict { .. }
                | StoreError::AlreadyExists { .. }
                | StoreError::InvalidWrite { .. },
            ) => {}
            Err(_) => self.poisoned = true,
        }
        result
    }

    async fn mpi_apply(&mut self, changes: Vec<crate::MpiChange>) -> Result<()> {
        if self.poisoned {
            return Err(StoreError::Database(
                "transaction failed earlier; roll it back".into(),
            ));
        }
        let at = self.at;
        let result = self
            .step(move |conn| super::mpi::apply(conn, changes, at))
            .await;
        self.poisoned |= result.is_err();
        result
    }

    async fn commit(mut self: Box<Self>) -> Result<()> {
        if self.poisoned {
            return Err(StoreError::Database(
                "transaction failed earlier; rolled back".into(),
            ));
        }
        self.step(|conn| Ok(conn.execute_batch("COMMIT")?)).await?;
        tracing::debug!(
            backend = "sqlite",
            writes = self.writes,
            elapsed_ms = self.started.elapsed().as_secs_f64() * 1e3,
            "transaction committed"
        );
        Ok(())
    }
}

impl Drop for SqliteTransaction {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            if !conn.is_autocommit() {
                // Synchronous, but a WAL rollback only discards pages in memory.
                if let Err(e) = conn.execute_batch("ROLLBACK") {
                    tracing::warn!(error = %e, "sqlite rollback failed; the next begin retries it");
                } else {
                    tracing::debug!(backend = "sqlite", "transaction rolled back");
                }
            }
        }
    }
}

/// Looks up, plans and writes one `apply` call inside the open transaction.
fn apply(
    conn: &mut Connection,
    writes: Vec<PendingWrite>,
    at: OffsetDateTime,
) -> Result<Vec<Option<Versioned>>> {
    let mut current = HashMap::new();
    {
        let mut stmt = conn.prepare_cached(
            "SELECT version, deleted, patient_key FROM resource WHERE resource_type = ?1 AND id = ?2",
        )?;
        for key in write_plan::keys(&writes) {
            let row = stmt
                .query_row(params![key.0, key.1], |r| {
                    Ok((
                        r.get::<_, i64>(0)?,
                        r.get::<_, bool>(1)?,
                        r.get::<_, Option<String>>(2)?,
                    ))
                })
                .optional()?;
            if let Some((version, deleted, patient_key)) = row {
                current.insert(
                    key,
                    Current {
                        version: stored_version(version)?,
                        deleted,
                        patient_key,
                    },
                );
            }
        }
    }
    let mut plan = write_plan::plan(writes, &current, at)?;
    if !plan.versions.is_empty() {
        write(conn, &mut plan)?;
    }
    Ok(plan.results())
}

fn write(conn: &Connection, plan: &mut Plan) -> Result<()> {
    let last: i64 = conn
        .prepare_cached("SELECT value FROM write_sequence WHERE name = 'seq'")?
        .query_row([], |r| r.get(0))?;
    plan.assign_seqs((1..).map(|i| last + i))?;

    let mut move_to_history = conn.prepare_cached(&format!(
        "INSERT INTO resource_history ({ALL_COLUMNS}) SELECT {ALL_COLUMNS} FROM resource \
         WHERE resource_type = ?1 AND id = ?2"
    ))?;
    let mut drop_identifiers = conn
        .prepare_cached("DELETE FROM resource_identifier WHERE resource_type = ?1 AND id = ?2")?;
    for (resource_type, id) in &plan.moved {
        move_to_history.execute(params![resource_type, id])?;
        drop_identifiers.execute(params![resource_type, id])?;
    }
    // A moved resource's index rows are brought to its new current version below; one
    // without a current version here (never, by the plan's construction) loses them.
    let mut unsynced: HashSet<(&str, &str)> = plan
        .moved
        .iter()
        .map(|(t, id)| (t.as_str(), id.as_str()))
        .collect();

    let mut insert_history = conn.prepare_cached(&format!(
        "INSERT INTO resource_history ({ALL_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"
    ))?;
    let mut upsert_current = conn.prepare_cached(&format!(
        "INSERT INTO resource ({ALL_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) \
         ON CONFLICT (resource_type, id) DO UPDATE SET version = excluded.version, seq = excluded.seq, \
         last_updated = excluded.last_updated, deleted = excluded.deleted, kind = excluded.kind, \
         patient_key = excluded.patient_key, json = excluded.json"
    ))?;
    let mut insert_identifier = conn.prepare_cached(
        "INSERT INTO resource_identifier (resource_type, id, system, value, patient_key) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?;
    for v in &plan.versions {
        let stmt = if v.superseded {
            &mut insert_history
        } else {
            &mut upsert_current
        };
        stmt.execute(params![
            v.resource_type,
            v.id,
            db_version(v.version)?,
            v.seq,
            v.last_updated_micros(),
            v.deleted,
            v.kind.code(),
            v.patient_key,
            &v.json[..],
        ])?;
        if !v.superseded {
            if unsynced.remove(&(v.resource_type.as_str(), v.id.as_str())) {
                super::index::sync(conn, v)?;
            } else {
                super::index::insert(conn, v)?;
            }
            for (system, value) in &v.identifiers {
                insert_identifier.execute(params![
                    v.resource_type,
                    v.id,
                    system,
                    value,
                    v.patient_key
                ])?;
            }
        }
    }

    for (resource_type, id) in unsynced {
        super::index::delete(conn, resource_type, id)?;
    }

    let last = plan.versions.last().map_or(last, |v| v.seq);
    conn.prepare_cached("UPDATE write_sequence SET value = ?1 WHERE name = 'seq'")?
        .execute([last])?;
    Ok(())
}
