//! Read queries over one SQLite connection, shared by the reader pool and the write
//! transaction (which must see its own uncommitted writes).

use rusqlite::types::Value as SqlValue;
use rusqlite::{params, params_from_iter, Connection, OptionalExtension, Row};

use crate::history::{history_sql, Param, VERSION_COLUMNS};
use crate::stored::{db_version, stored_count, StoredRow};
use crate::{HistoryPage, HistoryQuery, IdentifierQuery, Result, Versioned};

fn stored_row(row: &Row<'_>) -> rusqlite::Result<StoredRow> {
    Ok(StoredRow {
        resource_type: row.get(0)?,
        id: row.get(1)?,
        version: row.get(2)?,
        seq: row.get(3)?,
        last_updated: row.get(4)?,
        deleted: row.get(5)?,
        kind: row.get(6)?,
        json: row.get(7)?,
    })
}

fn first_text(row: &Row<'_>) -> rusqlite::Result<String> {
    row.get(0)
}

/// The current version (possibly a tombstone).
pub(super) fn current(
    conn: &Connection,
    resource_type: &str,
    id: &str,
) -> Result<Option<Versioned>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {VERSION_COLUMNS} FROM resource WHERE resource_type = ?1 AND id = ?2"
    ))?;
    stmt.query_row(params![resource_type, id], stored_row)
        .optional()?
        .map(StoredRow::into_versioned)
        .transpose()
}

/// One version, current or superseded.
pub(super) fn version(
    conn: &Connection,
    resource_type: &str,
    id: &str,
    version: u64,
) -> Result<Option<Versioned>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {VERSION_COLUMNS} FROM resource WHERE resource_type = ?1 AND id = ?2 AND version = ?3 \
         UNION ALL \
         SELECT {VERSION_COLUMNS} FROM resource_history WHERE resource_type = ?1 AND id = ?2 AND version = ?3"
    ))?;
    let Ok(version) = db_version(version) else {
        return Ok(None);
    };
    stmt.query_row(params![resource_type, id, version], stored_row)
        .optional()?
        .map(StoredRow::into_versioned)
        .transpose()
}

/// Ids of current, non-deleted resources matching an identifier or `_id`.
pub(super) fn find(
    conn: &Connection,
    resource_type: &str,
    query: &IdentifierQuery,
) -> Result<Vec<String>> {
    let mut stmt;
    let rows = match query {
        IdentifierQuery::Id(id) => {
            stmt = conn.prepare_cached(
                "SELECT id FROM resource WHERE resource_type = ?1 AND id = ?2 AND NOT deleted",
            )?;
            stmt.query_map(params![resource_type, id], first_text)?
        }
        IdentifierQuery::Identifier {
            system: None,
            value,
        } => {
            stmt = conn.prepare_cached(
                "SELECT DISTINCT id FROM resource_identifier WHERE resource_type = ?1 AND value = ?2 ORDER BY id",
            )?;
            stmt.query_map(params![resource_type, value], first_text)?
        }
        IdentifierQuery::Identifier {
            system: Some(system),
            value,
        } => {
            stmt = conn.prepare_cached(
                "SELECT DISTINCT id FROM resource_identifier \
                 WHERE resource_type = ?1 AND value = ?2 AND system = ?3 ORDER BY id",
            )?;
            stmt.query_map(params![resource_type, value, system], first_text)?
        }
    };
    Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
}

/// Number of current, non-deleted resources.
pub(super) fn count(conn: &Connection, resource_type: Option<&str>) -> Result<u64> {
    let n: i64 = match resource_type {
        Some(t) => conn
            .prepare_cached(
                "SELECT COUNT(*) FROM resource WHERE resource_type = ?1 AND NOT deleted",
            )?
            .query_row([t], |r| r.get(0))?,
        None => conn
            .prepare_cached("SELECT COUNT(*) FROM resource WHERE NOT deleted")?
            .query_row([], |r| r.get(0))?,
    };
    stored_count(n)
}

/// Patient-compartment key of the current version.
pub(super) fn patient_key(
    conn: &Connection,
    resource_type: &str,
    id: &str,
) -> Result<Option<String>> {
    let mut stmt = conn
        .prepare_cached("SELECT patient_key FROM resource WHERE resource_type = ?1 AND id = ?2")?;
    Ok(stmt
        .query_row(params![resource_type, id], |r| {
            r.get::<_, Option<String>>(0)
        })
        .optional()?
        .flatten())
}

/// One page of history plus its total, read in one snapshot.
pub(super) fn history(conn: &Connection, query: &HistoryQuery) -> Result<HistoryPage> {
    let sql = history_sql(query, |n| format!("?{n}"));
    let bind = |params: &[Param]| -> Vec<SqlValue> {
        params
            .iter()
            .map(|p| match p {
                Param::Text(s) => SqlValue::Text(s.clone()),
                Param::Int(i) => SqlValue::Integer(*i),
            })
            .collect()
    };
    // Only a read transaction: page and total come from the same snapshot.
    let tx = conn.unchecked_transaction()?;
    let mut entries = tx
        .prepare_cached(&sql.page)?
        .query_map(params_from_iter(bind(&sql.page_params)), stored_row)?
        .map(|r| r.map_err(Into::into).and_then(StoredRow::into_versioned))
        .collect::<Result<Vec<_>>>()?;
    let total: i64 = tx
        .prepare_cached(&sql.total)?
        .query_row(params_from_iter(bind(&sql.total_params)), |r| r.get(0))?;
    tx.finish()?;
    let next = if entries.len() > query.count {
        entries.truncate(query.count);
        entries.last().map(|v| v.seq)
    } else {
        None
    };
    Ok(HistoryPage {
        entries,
        next,
        total: stored_count(total)?,
    })
}
