//! The PostgreSQL write transaction.
//!
//! Every `apply` is a fixed handful of round trips whatever the number of writes:
//! lock the touched resources, read their current versions, draw sequence numbers,
//! move superseded rows to history, write new rows — all multi-row statements with the
//! values bound as arrays and expanded with `UNNEST`.
//!
//! Locking: before reading the current versions, the transaction takes one
//! transaction-scoped advisory lock per touched resource (keys sorted, so two
//! transactions touching the same resources lock in the same order). A concurrent
//! writer of the same resource waits until this transaction ends, then reads the
//! committed version (READ COMMITTED takes a fresh snapshot per statement). Unlike
//! `SELECT … FOR UPDATE`, this also covers resources that do not exist yet, so two
//! racing creates of one id are serialised rather than both writing version 1.

use std::collections::HashMap;
use std::time::Instant;

use async_trait::async_trait;
use sqlx::{PgConnection, Postgres, Row};
use time::OffsetDateTime;

use super::read;
use crate::stored::{db_version, stored_version};
use crate::write_plan::{self, Current, Key, NewVersion, Plan};
use crate::{IdentifierQuery, PendingWrite, Result, StoreError, Transaction, Versioned};

pub(super) struct PgTransaction {
    /// `None` only after a failed commit; dropping an uncommitted sqlx transaction
    /// rolls it back.
    tx: Option<sqlx::Transaction<'static, Postgres>>,
    at: OffsetDateTime,
    lock_salt: u64,
    started: Instant,
    writes: usize,
    /// A statement failed: PostgreSQL has aborted the transaction.
    poisoned: bool,
}

impl PgTransaction {
    pub(super) fn new(tx: sqlx::Transaction<'static, Postgres>, lock_salt: u64) -> Self {
        PgTransaction {
            tx: Some(tx),
            at: crate::stamp::transaction_instant(),
            lock_salt,
            started: Instant::now(),
            writes: 0,
            poisoned: false,
        }
    }

    fn conn(&mut self) -> Result<&mut PgConnection> {
        if self.poisoned {
            return Err(StoreError::Database(
                "transaction failed earlier; roll it back".into(),
            ));
        }
        self.tx
            .as_deref_mut()
            .ok_or_else(|| StoreError::Database("transaction already finished".into()))
    }
}

#[async_trait]
impl Transaction for PgTransaction {
    async fn read(&mut self, resource_type: &str, id: &str) -> Result<Option<Versioned>> {
        let result = read::current(self.conn()?, resource_type, id).await;
        self.poisoned |= result.is_err();
        result
    }

    async fn find(&mut self, resource_type: &str, query: &IdentifierQuery) -> Result<Vec<String>> {
        let result = read::find(self.conn()?, resource_type, query).await;
        self.poisoned |= result.is_err();
        result
    }

    async fn search(&mut self, query: &hutong_search::SearchQuery) -> Result<crate::SearchPage> {
        let result = super::search::search(self.conn()?, query).await;
        self.poisoned |= result.is_err();
        result
    }

    async fn apply(&mut self, writes: Vec<PendingWrite>) -> Result<Vec<Option<Versioned>>> {
        let n = writes.len();
        let (at, salt) = (self.at, self.lock_salt);
        let result = apply(self.conn()?, writes, at, salt).await;
        match &result {
            Ok(_) => self.writes += n,
            // Found while planning, before anything was written: the transaction is intact.
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
        let at = self.at;
        let result = super::mpi::apply(self.conn()?, changes, at).await;
        self.poisoned |= result.is_err();
        result
    }

    async fn commit(mut self: Box<Self>) -> Result<()> {
        self.conn()?;
        let tx = self
            .tx
            .take()
            .ok_or_else(|| StoreError::Database("transaction already finished".into()))?;
        tx.commit().await?;
        tracing::debug!(
            backend = "postgres",
            writes = self.writes,
            elapsed_ms = self.started.elapsed().as_secs_f64() * 1e3,
            "transaction committed"
        );
        Ok(())
    }
}

impl Drop for PgTransaction {
    fn drop(&mut self) {
        if self.tx.is_some() {
            // sqlx rolls the transaction back when its connection returns to the pool.
            tracing::debug!(
                backend = "postgres",
                writes = self.writes,
                "transaction rolled back"
            );
        }
    }
}

/// 64-bit FNV-1a: stable across processes and Rust versions, unlike `DefaultHasher`,
/// because every process must derive the same lock key for a resource.
pub(super) fn fnv1a(parts: &[&[u8]]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        for b in part.iter().chain(std::iter::once(&0xff)) {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    h
}

async fn apply(
    conn: &mut PgConnection,
    writes: Vec<PendingWrite>,
    at: OffsetDateTime,
    lock_salt: u64,
) -> Result<Vec<Option<Versioned>>> {
    if writes.is_empty() {
        return Ok(Vec::new());
    }
    let keys = write_plan::keys(&writes);
    let (types, ids) = split_keys(&keys);

    // 1. Serialise writers of these resources (see the module doc).
    let salt = lock_salt.to_le_bytes();
    let mut locks: Vec<i64> = keys
        .iter()
        .map(|(t, id)| fnv1a(&[&salt, t.as_bytes(), id.as_bytes()]) as i64)
        .collect();
    locks.sort_unstable();
    locks.dedup();
    sqlx::query("SELECT pg_advisory_xact_lock(k) FROM UNNEST($1::int8[]) AS k")
        .bind(&locks)
        .execute(&mut *conn)
        .await?;

    // 2. Current versions, in one statement.
    let rows = sqlx::query(
        "SELECT resource_type, id, version, deleted, patient_key FROM resource \
         WHERE (resource_type, id) IN (SELECT * FROM UNNEST($1::text[], $2::text[]))",
    )
    .bind(&types)
    .bind(&ids)
    .fetch_all(&mut *conn)
    .await?;
    let mut current = HashMap::with_capacity(rows.len());
    for row in rows {
        current.insert(
            (row.try_get(0)?, row.try_get(1)?),
            Current {
                version: stored_version(row.try_get(2)?)?,
                deleted: row.try_get(3)?,
                patient_key: row.try_get(4)?,
            },
        );
    }

    let mut plan = write_plan::plan(writes, &current, at)?;
    if plan.versions.is_empty() {
        return Ok(plan.results());
    }

    // 3. Sequence numbers, ascending in write order.
    let count =
        i64::try_from(plan.versions.len()).map_err(|e| StoreError::Database(e.to_string()))?;
    let mut seqs: Vec<i64> =
        sqlx::query_scalar("SELECT nextval('resource_seq') FROM generate_series(1, $1)")
            .bind(count)
            .fetch_all(&mut *conn)
            .await?;
    seqs.sort_unstable();
    plan.assign_seqs(seqs)?;

    write(conn, &plan).await?;
    Ok(plan.results())
}

fn split_keys(keys: &[Key]) -> (Vec<&str>, Vec<&str>) {
    keys.iter().map(|(t, id)| (t.as_str(), id.as_str())).unzip()
}

/// Column arrays of a set of versions, for `UNNEST`.
#[derive(Default)]
struct Columns<'a> {
    resource_type: Vec<&'a str>,
    id: Vec<&'a str>,
    version: Vec<i64>,
    seq: Vec<i64>,
    last_updated: Vec<i64>,
    deleted: Vec<bool>,
    kind: Vec<&'static str>,
    patient_key: Vec<Option<&'a str>>,
    json: Vec<&'a [u8]>,
}

impl<'a> Columns<'a> {
    fn of(versions: impl Iterator<Item = &'a NewVersion>) -> Result<Self> {
        let mut c = Columns::default();
        for v in versions {
            c.resource_type.push(&v.resource_type);
            c.id.push(&v.id);
            c.version.push(db_version(v.version)?);
            c.seq.push(v.seq);
            c.last_updated.push(v.last_updated_micros());
            c.deleted.push(v.deleted);
            c.kind.push(v.kind.code());
            c.patient_key.push(v.patient_key.as_deref());
            c.json.push(&v.json);
        }
        Ok(c)
    }

    fn bind<'q>(
        &'q self,
        q: sqlx::query::Query<'q, Postgres, sqlx::postgres::PgArguments>,
    ) -> sqlx::query::Query<'q, Postgres, sqlx::postgres::PgArguments> {
        q.bind(&self.resource_type)
            .bind(&self.id)
            .bind(&self.version)
            .bind(&self.seq)
            .bind(&self.last_updated)
            .bind(&self.deleted)
            .bind(&self.kind)
            .bind(&self.patient_key)
            .bind(&self.json)
    }
}

/// Column arrays of identifier rows, for `UNNEST`.
#[derive(Default)]
struct IdentifierColumns<'a> {
    resource_type: Vec<&'a str>,
    id: Vec<&'a str>,
    system: Vec<&'a str>,
    value: Vec<&'a str>,
    patient_key: Vec<Option<&'a str>>,
}

const ALL_COLUMNS: &str =
    "resource_type, id, version, seq, last_updated, deleted, kind, patient_key, json";
const UNNEST_VERSIONS: &str =
    "SELECT * FROM UNNEST($1::text[], $2::text[], $3::int8[], $4::int8[], $5::int8[], \
     $6::bool[], $7::text[], $8::text[], $9::bytea[])";

async fn write(conn: &mut PgConnection, plan: &Plan) -> Result<()> {
    // 4. Superseded current rows move to history; their identifier rows go (their
    // index rows are brought up to date in step 7).
    if !plan.moved.is_empty() {
        let (types, ids) = split_keys(&plan.moved);
        sqlx::query(&format!(
            "WITH moved AS (SELECT * FROM UNNEST($1::text[], $2::text[]) AS m (resource_type, id)), \
             dropped AS (DELETE FROM resource_identifier i USING moved m \
                         WHERE i.resource_type = m.resource_type AND i.id = m.id) \
             INSERT INTO resource_history ({ALL_COLUMNS}) SELECT {ALL_COLUMNS} FROM resource \
             WHERE (resource_type, id) IN (SELECT resource_type, id FROM moved)"
        ))
        .bind(&types)
        .bind(&ids)
        .execute(&mut *conn)
        .await?;
    }

    // 5. Versions superseded within this call go straight to history.
    let history = Columns::of(plan.history_rows())?;
    if !history.id.is_empty() {
        history
            .bind(sqlx::query(&format!(
                "INSERT INTO resource_history ({ALL_COLUMNS}) {UNNEST_VERSIONS}"
            )))
            .execute(&mut *conn)
            .await?;
    }

    // 6. The new current rows. The advisory lock guarantees no concurrent writer of
    // these resources, so the upsert cannot overwrite a version this call did not see.
    let current_rows: Vec<&NewVersion> = plan.current_rows().collect();
    let current = Columns::of(current_rows.iter().copied())?;
    current
        .bind(sqlx::query(&format!(
            "INSERT INTO resource ({ALL_COLUMNS}) {UNNEST_VERSIONS} \
             ON CONFLICT (resource_type, id) DO UPDATE SET version = EXCLUDED.version, seq = EXCLUDED.seq, \
             last_updated = EXCLUDED.last_updated, deleted = EXCLUDED.deleted, kind = EXCLUDED.kind, \
             patient_key = EXCLUDED.patient_key, json = EXCLUDED.json"
        )))
        .execute(&mut *conn)
        .await?;

    // 7. Search index rows (only those that changed) and identifiers of the new current
    // versions.
    let (types, ids) = split_keys(&plan.moved);
    super::index::write(conn, (&types, &ids), &current_rows).await?;
    let mut ident = IdentifierColumns::default();
    for v in &current_rows {
        for (system, value) in &v.identifiers {
            ident.resource_type.push(&v.resource_type);
            ident.id.push(&v.id);
            ident.system.push(system);
            ident.value.push(value);
            ident.patient_key.push(v.patient_key.as_deref());
        }
    }
    if !ident.id.is_empty() {
        sqlx::query(
            "INSERT INTO resource_identifier (resource_type, id, system, value, patient_key) \
             SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[])",
        )
        .bind(&ident.resource_type)
        .bind(&ident.id)
        .bind(&ident.system)
        .bind(&ident.value)
        .bind(&ident.patient_key)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}
