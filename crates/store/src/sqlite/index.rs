//! Writes of the search index tables inside the SQLite write transaction.

use rusqlite::{params, Connection};

use crate::write_plan::NewVersion;
use crate::{Result, INDEX_TABLES};

/// Rebuilds the search index rows of every current resource, in batches of one
/// transaction each (run at open when the index tables are new).
pub(super) fn reindex_all(conn: &mut Connection) -> Result<usize> {
    const BATCH: i64 = 500;
    let mut after = (String::new(), String::new());
    let mut done = 0;
    loop {
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let batch: Vec<(String, String, Option<String>, Vec<u8>)> = tx
            .prepare(
                "SELECT resource_type, id, patient_key, json FROM resource \
                 WHERE NOT deleted AND (resource_type, id) > (?1, ?2) \
                 ORDER BY resource_type, id LIMIT ?3",
            )?
            .query_map(params![after.0, after.1, BATCH], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
            })?
            .collect::<rusqlite::Result<_>>()?;
        let Some(last) = batch.last() else {
            break;
        };
        after = (last.0.clone(), last.1.clone());
        for (rt, id, pk, json) in batch {
            delete(&tx, &rt, &id)?;
            insert(&tx, &NewVersion::for_reindex(rt, id, pk, &json)?)?;
            done += 1;
        }
        tx.commit()?;
        tracing::info!(
            backend = "sqlite",
            indexed = done,
            "search reindex progress"
        );
    }
    Ok(done)
}

/// Removes every index row of a resource (its current version is being superseded).
pub(super) fn delete(conn: &Connection, resource_type: &str, id: &str) -> Result<()> {
    for table in INDEX_TABLES {
        conn.prepare_cached(&format!(
            "DELETE FROM {table} WHERE resource_type = ?1 AND id = ?2"
        ))?
        .execute(params![resource_type, id])?;
    }
    Ok(())
}

/// Writes the index rows of a version that becomes current.
pub(super) fn insert(conn: &Connection, v: &NewVersion) -> Result<()> {
    let (rt, id, pk) = (&v.resource_type, &v.id, &v.patient_key);
    let ix = &v.index;
    if !ix.strings.is_empty() {
        let mut s = conn.prepare_cached(
            "INSERT INTO idx_string (resource_type, id, param, norm, exact, patient_key) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )?;
        for r in &ix.strings {
            s.execute(params![rt, id, r.param, r.norm, r.exact, pk])?;
        }
    }
    if !ix.tokens.is_empty() {
        let mut s = conn.prepare_cached(
            "INSERT INTO idx_token (resource_type, id, param, system, code, text, patient_key) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        )?;
        for r in &ix.tokens {
            s.execute(params![rt, id, r.param, r.system, r.code, r.text, pk])?;
        }
    }
    if !ix.dates.is_empty() {
        let mut s = conn.prepare_cached(
            "INSERT INTO idx_date (resource_type, id, param, low, high, patient_key) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )?;
        for r in &ix.dates {
            s.execute(params![rt, id, r.param, r.low, r.high, pk])?;
        }
    }
    if !ix.numbers.is_empty() {
        let mut s = conn.prepare_cached(
            "INSERT INTO idx_number (resource_type, id, param, value, patient_key) VALUES (?1, ?2, ?3, ?4, ?5)",
        )?;
        for r in &ix.numbers {
            s.execute(params![rt, id, r.param, r.value, pk])?;
        }
    }
    if !ix.quantities.is_empty() {
        let mut s = conn.prepare_cached(
            "INSERT INTO idx_quantity (resource_type, id, param, value, system, code, unit, patient_key, cvalue, ccode) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
        )?;
        for r in &ix.quantities {
            s.execute(params![
                rt, id, r.param, r.value, r.system, r.code, r.unit, pk, r.cvalue, r.ccode
            ])?;
        }
    }
    if !ix.composites.is_empty() {
        let mut s = conn.prepare_cached(
            "INSERT INTO idx_composite (resource_type, id, param, s1, c1, s2, c2, n2, lo2, hi2, patient_key) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
        )?;
        for r in &ix.composites {
            s.execute(params![
                rt, id, r.param, r.s1, r.c1, r.s2, r.c2, r.n2, r.lo2, r.hi2, pk
            ])?;
        }
    }
    if !ix.references.is_empty() {
        let mut s = conn.prepare_cached(
            "INSERT INTO idx_reference (resource_type, id, param, target_type, target_id, url, identifier_system, identifier_value, patient_key) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        )?;
        for r in &ix.references {
            s.execute(params![
                rt,
                id,
                r.param,
                r.target_type,
                r.target_id,
                r.url,
                r.identifier_system,
                r.identifier_value,
                pk
            ])?;
        }
    }
    if !ix.uris.is_empty() {
        let mut s = conn.prepare_cached(
            "INSERT INTO idx_uri (resource_type, id, param, uri, patient_key) VALUES (?1, ?2, ?3, ?4, ?5)",
        )?;
        for r in &ix.uris {
            s.execute(params![rt, id, r.param, r.uri, pk])?;
        }
    }
    Ok(())
}
