//! Writes of the search index tables inside the SQLite write transaction.

use rusqlite::{params, Connection};

use crate::write_plan::NewVersion;
use crate::{Result, INDEX_TABLES};

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
            "INSERT INTO idx_quantity (resource_type, id, param, value, system, code, unit, patient_key) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        )?;
        for r in &ix.quantities {
            s.execute(params![
                rt, id, r.param, r.value, r.system, r.code, r.unit, pk
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
