//! Runs a search plan on an SQLite connection.

use hutong_search::cursor::SortValue;
use hutong_search::SearchQuery;
use rusqlite::types::{Value as SqlV, ValueRef};
use rusqlite::{params_from_iter, Connection};

use crate::search::{self, Dialect, KeyKind, SqlValue};
use crate::stored::{stored_count, StoredRow};
use crate::{Result, SearchPage};

fn bind(v: &SqlValue) -> SqlV {
    match v {
        SqlValue::Text(s) => SqlV::Text(s.clone()),
        SqlValue::Int(i) => SqlV::Integer(*i),
        SqlValue::Real(f) => SqlV::Real(*f),
    }
}

fn key(v: ValueRef<'_>, kind: KeyKind) -> SortValue {
    match (v, kind) {
        (ValueRef::Null, _) => SortValue::Null,
        (ValueRef::Integer(i), KeyKind::Real) => SortValue::Real(i as f64),
        (ValueRef::Integer(i), _) => SortValue::Int(i),
        (ValueRef::Real(f), _) => SortValue::Real(f),
        (ValueRef::Text(t), _) => SortValue::Text(String::from_utf8_lossy(t).into_owned()),
        (ValueRef::Blob(_), _) => SortValue::Null,
    }
}

fn stored_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<StoredRow> {
    Ok(StoredRow {
        resource_type: r.get(0)?,
        id: r.get(1)?,
        version: r.get(2)?,
        seq: r.get(3)?,
        last_updated: r.get(4)?,
        deleted: r.get(5)?,
        kind: r.get(6)?,
        json: r.get(7)?,
    })
}

/// One page of results (and the total when asked for).
pub(crate) fn search(conn: &Connection, q: &SearchQuery) -> Result<SearchPage> {
    let plan = search::plan(q, Dialect::Sqlite);
    let total = if search::wants_total(q) {
        let n: i64 = conn
            .prepare_cached(&plan.count.text)?
            .query_row(params_from_iter(plan.count.params.iter().map(bind)), |r| {
                r.get(0)
            })?;
        Some(stored_count(n)?)
    } else {
        None
    };
    let mut rows = Vec::new();
    if search::wants_page(q) {
        let mut stmt = conn.prepare_cached(&plan.page.text)?;
        let mut it = stmt.query(params_from_iter(plan.page.params.iter().map(bind)))?;
        while let Some(r) = it.next()? {
            let stored = stored_row(r)?;
            let keys = plan
                .keys
                .iter()
                .enumerate()
                .map(|(i, k)| Ok(key(r.get_ref(8 + i)?, *k)))
                .collect::<rusqlite::Result<Vec<_>>>()?;
            rows.push((stored, keys));
        }
    }
    let mut includer = search::Includer::new(q, &rows);
    loop {
        let queries = includer.queries(q, Dialect::Sqlite);
        if queries.is_empty() {
            break;
        }
        let mut found = Vec::new();
        for sql in queries {
            let mut stmt = conn.prepare(&sql.text)?;
            let mut it = stmt.query(params_from_iter(sql.params.iter().map(bind)))?;
            while let Some(r) = it.next()? {
                found.push(stored_row(r)?);
            }
        }
        includer.absorb(found);
    }
    search::finish(q, plan.backward, rows, includer.included, total)
}
