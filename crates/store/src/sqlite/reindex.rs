//! The reindex steps on SQLite. Every batch runs on the single writer connection
//! (`BEGIN IMMEDIATE`), so a concurrent write runs wholly before or after it: the JSON a
//! batch reads is the current version while it writes that version's rows.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};

use super::{index, SqliteStore};
use crate::reindex::{keep_params, moved, now_micros, Job, ReindexBackend};
use crate::write_plan::NewVersion;
use crate::{Result, StoreError, INDEX_TABLES};

impl SqliteStore {
    /// Runs `f` on the writer connection on a blocking thread.
    async fn with_writer<T, F>(&self, f: F) -> Result<T>
    where
        F: FnOnce(&mut Connection) -> Result<T> + Send + 'static,
        T: Send + 'static,
    {
        let mut guard = Arc::clone(&self.writer).lock_owned().await;
        tokio::task::spawn_blocking(move || {
            if !guard.is_autocommit() {
                tracing::warn!("rolling back a write transaction abandoned mid-step");
                guard.execute_batch("ROLLBACK")?;
            }
            f(&mut guard)
        })
        .await
        .map_err(|e| StoreError::Database(format!("sqlite reindex task failed: {e}")))?
    }
}

#[async_trait]
impl ReindexBackend for SqliteStore {
    async fn open_job(&self, resource_type: &str, params: &str, restart: bool) -> Result<Job> {
        let (rt, params) = (resource_type.to_owned(), params.to_owned());
        self.with_writer(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            if restart {
                tx.execute(
                    "DELETE FROM reindex_job WHERE finished IS NULL AND resource_type = ?1 AND params = ?2",
                    params![rt, params],
                )?;
            }
            let existing = tx
                .query_row(
                    "SELECT id, after_type, after_id, done FROM reindex_job \
                     WHERE finished IS NULL AND resource_type = ?1 AND params = ?2 \
                     ORDER BY id DESC LIMIT 1",
                    params![rt, params],
                    |r| {
                        Ok(Job {
                            id: r.get(0)?,
                            after_type: r.get(1)?,
                            after_id: r.get(2)?,
                            done: r.get::<_, i64>(3)?.max(0) as u64,
                        })
                    },
                )
                .optional()?;
            let job = match existing {
                Some(job) => job,
                None => {
                    let now = now_micros();
                    tx.execute(
                        "INSERT INTO reindex_job (resource_type, params, started, updated) VALUES (?1, ?2, ?3, ?3)",
                        params![rt, params, now],
                    )?;
                    Job {
                        id: tx.last_insert_rowid(),
                        after_type: String::new(),
                        after_id: String::new(),
                        done: 0,
                    }
                }
            };
            tx.commit()?;
            Ok(job)
        })
        .await
    }

    async fn counts(&self) -> Result<HashMap<String, u64>> {
        self.readers
            .run(|conn| {
                let mut s = conn.prepare(
                    "SELECT resource_type, count(*) FROM resource WHERE NOT deleted GROUP BY resource_type",
                )?;
                let rows = s
                    .query_map([], |r| {
                        Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?.max(0) as u64))
                    })?
                    .collect::<rusqlite::Result<HashMap<_, _>>>()?;
                Ok(rows)
            })
            .await
    }

    async fn batch(
        &self,
        job: &Job,
        resource_type: &str,
        after_id: &str,
        params: &[String],
        limit: usize,
    ) -> Result<Option<(u64, String)>> {
        let (job, rt, after_id, params) = (
            job.clone(),
            resource_type.to_owned(),
            after_id.to_owned(),
            params.to_vec(),
        );
        self.with_writer(move |conn| batch(conn, &job, &rt, &after_id, &params, limit))
            .await
    }

    async fn finish_job(&self, job: i64) -> Result<()> {
        self.with_writer(move |conn| {
            let now = now_micros();
            conn.execute(
                "UPDATE reindex_job SET finished = ?1, updated = ?1 WHERE id = ?2",
                params![now, job],
            )?;
            Ok(())
        })
        .await
    }
}

fn batch(
    conn: &mut Connection,
    job: &Job,
    rt: &str,
    after_id: &str,
    params: &[String],
    limit: usize,
) -> Result<Option<(u64, String)>> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let rows: Vec<(String, Option<String>, Vec<u8>)> = tx
        .prepare_cached(
            "SELECT id, patient_key, json FROM resource \
             WHERE resource_type = ?1 AND id > ?2 AND NOT deleted ORDER BY id LIMIT ?3",
        )?
        .query_map(
            params![rt, after_id, i64::try_from(limit).unwrap_or(i64::MAX)],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )?
        .collect::<rusqlite::Result<_>>()?;
    let Some(last) = rows.last().map(|r| r.0.clone()) else {
        return Ok(None);
    };
    let n = rows.len() as u64;
    for (id, pk, json) in rows {
        let mut v = NewVersion::for_reindex(rt.to_owned(), id, pk, &json)?;
        keep_params(&mut v.index, params);
        if params.is_empty() {
            index::delete(&tx, rt, &v.id)?;
        } else {
            delete_params(&tx, rt, &v.id, params)?;
        }
        index::insert(&tx, &v)?;
    }
    let updated = tx.execute(
        "UPDATE reindex_job SET after_type = ?1, after_id = ?2, done = done + ?3, updated = ?4 \
         WHERE id = ?5 AND after_type = ?6 AND after_id = ?7 AND finished IS NULL",
        params![
            rt,
            last,
            i64::try_from(n).unwrap_or(i64::MAX),
            now_micros(),
            job.id,
            job.after_type,
            job.after_id
        ],
    )?;
    if updated != 1 {
        return Err(moved(job.id));
    }
    tx.commit()?;
    Ok(Some((n, last)))
}

/// Removes the index rows of `params` of one resource.
fn delete_params(conn: &Connection, rt: &str, id: &str, params: &[String]) -> Result<()> {
    for table in INDEX_TABLES {
        let mut s = conn.prepare_cached(&format!(
            "DELETE FROM {table} WHERE resource_type = ?1 AND id = ?2 AND param = ?3"
        ))?;
        for p in params {
            s.execute(params![rt, id, p])?;
        }
    }
    Ok(())
}
