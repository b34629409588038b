//! The reindex steps on PostgreSQL. A batch takes the per-resource advisory locks the
//! write path takes (same keys, sorted, so neither side can deadlock the other) before
//! it reads the JSON, so a concurrent update either committed before (and the batch
//! reads and indexes the new version) or waits for the batch to commit (and then
//! replaces the batch's rows with its own).

use std::collections::HashMap;

use async_trait::async_trait;

use super::transaction::fnv1a;
use super::{index, PgStore};
use crate::reindex::{keep_params, moved, now_micros, Job, ReindexBackend};
use crate::write_plan::NewVersion;
use crate::{Result, INDEX_TABLES};

#[async_trait]
impl ReindexBackend for PgStore {
    async fn open_job(&self, resource_type: &str, params: &str, restart: bool) -> Result<Job> {
        let mut tx = self.pool.begin().await?;
        // One opener at a time, so two runs never both create a job for one selector.
        sqlx::query("LOCK TABLE reindex_job IN SHARE ROW EXCLUSIVE MODE")
            .execute(&mut *tx)
            .await?;
        if restart {
            sqlx::query(
                "DELETE FROM reindex_job WHERE finished IS NULL AND resource_type = $1 AND params = $2",
            )
            .bind(resource_type)
            .bind(params)
            .execute(&mut *tx)
            .await?;
        }
        let existing: Option<(i64, String, String, i64)> = sqlx::query_as(
            "SELECT id, after_type, after_id, done FROM reindex_job \
             WHERE finished IS NULL AND resource_type = $1 AND params = $2 \
             ORDER BY id DESC LIMIT 1",
        )
        .bind(resource_type)
        .bind(params)
        .fetch_optional(&mut *tx)
        .await?;
        let job = match existing {
            Some((id, after_type, after_id, done)) => Job {
                id,
                after_type,
                after_id,
                done: done.max(0) as u64,
            },
            None => {
                let now = now_micros();
                let (id,): (i64,) = sqlx::query_as(
                    "INSERT INTO reindex_job (resource_type, params, started, updated) \
                     VALUES ($1, $2, $3, $3) RETURNING id",
                )
                .bind(resource_type)
                .bind(params)
                .bind(now)
                .fetch_one(&mut *tx)
                .await?;
                Job {
                    id,
                    after_type: String::new(),
                    after_id: String::new(),
                    done: 0,
                }
            }
        };
        tx.commit().await?;
        Ok(job)
    }

    async fn counts(&self) -> Result<HashMap<String, u64>> {
        let rows: Vec<(String, i64)> = sqlx::query_as(
            "SELECT resource_type, count(*) FROM resource WHERE NOT deleted GROUP BY resource_type",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(t, n)| (t, n.max(0) as u64))
            .collect())
    }

    async fn batch(
        &self,
        job: &Job,
        resource_type: &str,
        after_id: &str,
        params: &[String],
        limit: usize,
    ) -> Result<Option<(u64, String)>> {
        let mut tx = self.pool.begin().await?;
        let keys: Vec<(String,)> = sqlx::query_as(
            "SELECT id FROM resource WHERE resource_type = $1 AND id > $2 AND NOT deleted \
             ORDER BY id LIMIT $3",
        )
        .bind(resource_type)
        .bind(after_id)
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(&mut *tx)
        .await?;
        let Some(last) = keys.last().map(|k| k.0.clone()) else {
            return Ok(None);
        };
        let salt = self.lock_salt.to_le_bytes();
        let mut locks: Vec<i64> = keys
            .iter()
            .map(|(id,)| fnv1a(&[&salt, resource_type.as_bytes(), id.as_bytes()]) as i64)
            .collect();
        locks.sort_unstable();
        locks.dedup();
        sqlx::query("SELECT pg_advisory_xact_lock(k) FROM UNNEST($1::int8[]) AS k")
            .bind(&locks)
            .execute(&mut *tx)
            .await?;
        // Re-read under the locks: the versions that are current now.
        let ids: Vec<&str> = keys.iter().map(|k| k.0.as_str()).collect();
        let rows: Vec<(String, Option<String>, Vec<u8>)> = sqlx::query_as(
            "SELECT id, patient_key, json FROM resource \
             WHERE resource_type = $1 AND id = ANY($2::text[]) AND NOT deleted",
        )
        .bind(resource_type)
        .bind(&ids)
        .fetch_all(&mut *tx)
        .await?;
        let versions = rows
            .into_iter()
            .map(|(id, pk, json)| {
                let mut v = NewVersion::for_reindex(resource_type.to_owned(), id, pk, &json)?;
                keep_params(&mut v.index, params);
                Ok(v)
            })
            .collect::<Result<Vec<_>>>()?;
        let types = vec![resource_type; ids.len()];
        if params.is_empty() {
            index::delete(&mut tx, &types, &ids).await?;
        } else {
            delete_params(&mut tx, &types, &ids, params).await?;
        }
        index::write(&mut tx, (&[], &[]), &versions.iter().collect::<Vec<_>>()).await?;
        let n = versions.len() as u64;
        let updated = sqlx::query(
            "UPDATE reindex_job SET after_type = $1, after_id = $2, done = done + $3, updated = $4 \
             WHERE id = $5 AND after_type = $6 AND after_id = $7 AND finished IS NULL",
        )
        .bind(resource_type)
        .bind(&last)
        .bind(i64::try_from(n).unwrap_or(i64::MAX))
        .bind(now_micros())
        .bind(job.id)
        .bind(&job.after_type)
        .bind(&job.after_id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if updated != 1 {
            return Err(moved(job.id));
        }
        tx.commit().await?;
        Ok(Some((n, last)))
    }

    async fn finish_job(&self, job: i64) -> Result<()> {
        sqlx::query("UPDATE reindex_job SET finished = $1, updated = $1 WHERE id = $2")
            .bind(now_micros())
            .bind(job)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}

/// Removes the index rows of `params` of these resources, in one statement.
async fn delete_params(
    conn: &mut sqlx::PgConnection,
    types: &[&str],
    ids: &[&str],
    params: &[String],
) -> Result<()> {
    let mut sql = String::from(
        "WITH m AS (SELECT * FROM UNNEST($1::text[], $2::text[]) AS m (resource_type, id))",
    );
    for (n, table) in INDEX_TABLES.iter().enumerate() {
        sql.push_str(&format!(
            ", d{n} AS (DELETE FROM {table} x USING m WHERE x.resource_type = m.resource_type \
             AND x.id = m.id AND x.param = ANY($3::text[]))"
        ));
    }
    sql.push_str(" SELECT 1");
    sqlx::query(&sql)
        .bind(types)
        .bind(ids)
        .bind(params)
        .execute(conn)
        .await?;
    Ok(())
}
