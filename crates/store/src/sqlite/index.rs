//! Writes of the search index tables inside the SQLite write transaction. New
//! resources get their rows inserted; an updated resource's rows are brought to the new
//! version's by deleting and inserting only the rows that differ, as on PostgreSQL —
//! most updates (a golden record gaining a link, a status change) keep most rows, and
//! each row written costs one B-tree insert per index of its table.

use std::collections::HashMap;
use std::sync::OnceLock;

use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::{params, params_from_iter, Connection};

use crate::write_plan::NewVersion;
use crate::{Result, INDEX_TABLES};

/// Every index table with its columns after `(resource_type, id)`, in the order of
/// [`INDEX_TABLES`] and of the values [`rows`] yields.
const TABLES: [(&str, &[&str]); 8] = [
    ("idx_string", &["param", "norm", "exact", "patient_key"]),
    (
        "idx_token",
        &["param", "system", "code", "text", "patient_key"],
    ),
    ("idx_date", &["param", "low", "high", "patient_key"]),
    ("idx_number", &["param", "value", "patient_key"]),
    (
        "idx_quantity",
        &[
            "param",
            "value",
            "system",
            "code",
            "unit",
            "patient_key",
            "cvalue",
            "ccode",
        ],
    ),
    (
        "idx_reference",
        &[
            "param",
            "target_type",
            "target_id",
            "url",
            "identifier_system",
            "identifier_value",
            "patient_key",
        ],
    ),
    ("idx_uri", &["param", "uri", "patient_key"]),
    (
        "idx_composite",
        &[
            "param",
            "s1",
            "c1",
            "s2",
            "c2",
            "n2",
            "lo2",
            "hi2",
            "patient_key",
        ],
    ),
];

/// The statements of one index table, generated once from [`TABLES`].
struct Statements {
    /// `(resource_type, id, columns…)`.
    insert: String,
    /// `rowid, columns…` of one resource's rows.
    select: String,
    /// One row by `rowid`.
    delete_row: String,
}

fn statements() -> &'static [Statements; 8] {
    static SQL: OnceLock<[Statements; 8]> = OnceLock::new();
    SQL.get_or_init(|| {
        TABLES.map(|(table, cols)| {
            let marks: Vec<String> = (1..=cols.len() + 2).map(|i| format!("?{i}")).collect();
            Statements {
                insert: format!(
                    "INSERT INTO {table} (resource_type, id, {}) VALUES ({})",
                    cols.join(", "),
                    marks.join(", ")
                ),
                select: format!(
                    "SELECT rowid, {} FROM {table} WHERE resource_type = ?1 AND id = ?2",
                    cols.join(", ")
                ),
                delete_row: format!("DELETE FROM {table} WHERE rowid = ?1"),
            }
        })
    })
}

/// One index row's values after `(resource_type, id)`, in its table's column order.
type Row<'a> = Vec<ValueRef<'a>>;

fn text(s: &str) -> ValueRef<'_> {
    ValueRef::Text(s.as_bytes())
}

fn opt_text(s: Option<&str>) -> ValueRef<'_> {
    s.map_or(ValueRef::Null, text)
}

fn opt_real(x: Option<f64>) -> ValueRef<'static> {
    x.map_or(ValueRef::Null, ValueRef::Real)
}

fn opt_int(x: Option<i64>) -> ValueRef<'static> {
    x.map_or(ValueRef::Null, ValueRef::Integer)
}

/// A version's index rows, per table in the order of [`TABLES`].
fn rows(v: &NewVersion) -> [Vec<Row<'_>>; 8] {
    let ix = &v.index;
    let pk = opt_text(v.patient_key.as_deref());
    [
        ix.strings
            .iter()
            .map(|r| vec![text(r.param), text(&r.norm), text(&r.exact), pk])
            .collect(),
        ix.tokens
            .iter()
            .map(|r| {
                vec![
                    text(r.param),
                    text(&r.system),
                    text(&r.code),
                    text(&r.text),
                    pk,
                ]
            })
            .collect(),
        ix.dates
            .iter()
            .map(|r| {
                vec![
                    text(r.param),
                    ValueRef::Integer(r.low),
                    ValueRef::Integer(r.high),
                    pk,
                ]
            })
            .collect(),
        ix.numbers
            .iter()
            .map(|r| vec![text(r.param), ValueRef::Real(r.value), pk])
            .collect(),
        ix.quantities
            .iter()
            .map(|r| {
                vec![
                    text(r.param),
                    ValueRef::Real(r.value),
                    text(&r.system),
                    text(&r.code),
                    text(&r.unit),
                    pk,
                    opt_real(r.cvalue),
                    text(&r.ccode),
                ]
            })
            .collect(),
        ix.references
            .iter()
            .map(|r| {
                vec![
                    text(r.param),
                    text(&r.target_type),
                    text(&r.target_id),
                    text(&r.url),
                    text(&r.identifier_system),
                    text(&r.identifier_value),
                    pk,
                ]
            })
            .collect(),
        ix.uris
            .iter()
            .map(|r| vec![text(r.param), text(&r.uri), pk])
            .collect(),
        ix.composites
            .iter()
            .map(|r| {
                vec![
                    text(r.param),
                    text(&r.s1),
                    text(&r.c1),
                    text(&r.s2),
                    text(&r.c2),
                    opt_real(r.n2),
                    opt_int(r.lo2),
                    opt_int(r.hi2),
                    pk,
                ]
            })
            .collect(),
    ]
}

/// Appends an unambiguous encoding of one value: equal encodings mean the same SQLite
/// type and the same value (so a kept row is exactly the row the new version would
/// write; `-0.0` and `0.0` differ here, which only costs a rewrite).
fn encode(out: &mut Vec<u8>, v: ValueRef<'_>) {
    match v {
        ValueRef::Null => out.push(0),
        ValueRef::Integer(i) => {
            out.push(1);
            out.extend_from_slice(&i.to_le_bytes());
        }
        ValueRef::Real(x) => {
            out.push(2);
            out.extend_from_slice(&x.to_bits().to_le_bytes());
        }
        ValueRef::Text(b) | ValueRef::Blob(b) => {
            out.push(if matches!(v, ValueRef::Text(_)) { 3 } else { 4 });
            out.extend_from_slice(&(b.len() as u64).to_le_bytes());
            out.extend_from_slice(b);
        }
    }
}

fn insert_row(
    conn: &Connection,
    sql: &str,
    rt: &str,
    id: &str,
    row: &[ValueRef<'_>],
) -> Result<()> {
    let values = [text(rt), text(id)]
        .into_iter()
        .chain(row.iter().copied())
        .map(ToSqlOutput::Borrowed);
    conn.prepare_cached(sql)?
        .execute(params_from_iter(values))?;
    Ok(())
}

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

/// Writes the index rows of a version that becomes current (the resource has none).
pub(super) fn insert(conn: &Connection, v: &NewVersion) -> Result<()> {
    for (table, rows) in statements().iter().zip(rows(v)) {
        for row in &rows {
            insert_row(conn, &table.insert, &v.resource_type, &v.id, row)?;
        }
    }
    Ok(())
}

/// Brings the index rows of a resource whose current version `v` replaces to `v`'s
/// rows: an old row that `v` does not have is deleted, a row of `v` is inserted unless
/// an equal old row is kept for it (rows are compared as a multiset).
pub(super) fn sync(conn: &Connection, v: &NewVersion) -> Result<()> {
    let (rt, id) = (v.resource_type.as_str(), v.id.as_str());
    let mut key = Vec::new();
    for ((table, cols), new) in statements().iter().zip(TABLES.map(|t| t.1)).zip(rows(v)) {
        // Indexes of the new rows by their encoding; a kept old row takes one.
        let mut wanted: HashMap<Vec<u8>, Vec<usize>> = HashMap::with_capacity(new.len());
        for (i, row) in new.iter().enumerate() {
            key.clear();
            row.iter().for_each(|&x| encode(&mut key, x));
            wanted.entry(key.clone()).or_default().push(i);
        }
        let mut kept = vec![false; new.len()];
        let mut stale = Vec::new();
        let mut select = conn.prepare_cached(&table.select)?;
        let mut old = select.query(params![rt, id])?;
        while let Some(r) = old.next()? {
            key.clear();
            for c in 0..cols.len() {
                encode(&mut key, r.get_ref(c + 1)?);
            }
            match wanted.get_mut(&key).and_then(Vec::pop) {
                Some(i) => kept[i] = true,
                None => stale.push(r.get::<_, i64>(0)?),
            }
        }
        if !stale.is_empty() {
            let mut delete = conn.prepare_cached(&table.delete_row)?;
            for rowid in stale {
                delete.execute([rowid])?;
            }
        }
        for (row, _) in new.iter().zip(&kept).filter(|(_, k)| !**k) {
            insert_row(conn, &table.insert, rt, id, row)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn version(resource: serde_json::Value, patient_key: Option<&str>) -> NewVersion {
        let rt = resource["resourceType"].as_str().unwrap().to_owned();
        let id = resource["id"].as_str().unwrap().to_owned();
        let json = serde_json::to_vec(&resource).unwrap();
        NewVersion::for_reindex(rt, id, patient_key.map(str::to_owned), &json).unwrap()
    }

    /// Every index row of one resource, encoded, sorted (a multiset, rowids left out).
    fn dump(conn: &Connection, rt: &str, id: &str) -> Vec<(usize, Vec<u8>)> {
        let mut out = Vec::new();
        for (n, (table, cols)) in TABLES.iter().enumerate() {
            let sql = format!(
                "SELECT {} FROM {table} WHERE resource_type = ?1 AND id = ?2",
                cols.join(", ")
            );
            let mut stmt = conn.prepare(&sql).unwrap();
            let mut rows = stmt.query(params![rt, id]).unwrap();
            while let Some(r) = rows.next().unwrap() {
                let mut key = Vec::new();
                for c in 0..cols.len() {
                    encode(&mut key, r.get_ref(c).unwrap());
                }
                out.push((n, key));
            }
        }
        out.sort();
        out
    }

    fn person(links: &[&str], family: &str) -> serde_json::Value {
        json!({
            "resourceType": "Person", "id": "g1",
            "name": [{"family": family, "given": ["伟"]}],
            "birthDate": "1980-02-03",
            "link": links.iter().map(|p| json!({"target": {"reference": format!("Patient/{p}")}})).collect::<Vec<_>>()
        })
    }

    fn observation(value: f64, status: &str) -> serde_json::Value {
        json!({
            "resourceType": "Observation", "id": "o1", "status": status,
            "code": {"coding": [{"system": "http://loinc.org", "code": "2339-0"}]},
            "subject": {"reference": "Patient/p1"},
            "effectiveDateTime": "2026-03-04T10:00:00+08:00",
            "valueQuantity": {"value": value, "unit": "mg/dL", "system": "http://unitsofmeasure.org", "code": "mg/dL"},
            "component": [{
                "code": {"coding": [{"system": "http://loinc.org", "code": "8480-6"}]},
                "valueQuantity": {"value": value + 1.0, "system": "http://unitsofmeasure.org", "code": "mm[Hg]"}
            }]
        })
    }

    #[test]
    fn sync_leaves_exactly_the_rows_a_fresh_insert_writes_and_touches_only_the_difference() {
        let mut conn = Connection::open_in_memory().unwrap();
        super::super::schema::migrate(&mut conn).unwrap();
        assert_eq!(TABLES.map(|t| t.0), INDEX_TABLES);
        let none = || version(json!({"resourceType": "Person", "id": "g1"}), None);
        let steps = [
            (version(person(&["a", "b"], "张"), None), None),
            // One new member: its `link` and `patient` reference rows.
            (version(person(&["a", "b", "c"], "张"), None), Some(2)),
            (version(person(&["b", "c"], "章"), None), None),
            (version(person(&["b", "c"], "章"), None), Some(0)),
            (none(), None),
            (version(person(&["d"], "张"), None), None),
            (version(observation(90.0, "final"), Some("p1")), None),
            (version(observation(95.5, "final"), Some("p1")), None),
            (version(observation(95.5, "amended"), Some("p1")), None),
        ];
        let mut previous: Option<&NewVersion> = None;
        for (v, expected_changes) in &steps {
            let before = conn.total_changes();
            match previous {
                Some(p) if p.resource_type == v.resource_type => sync(&conn, v).unwrap(),
                _ => insert(&conn, v).unwrap(),
            }
            let changes = conn.total_changes() - before;
            let synced = dump(&conn, &v.resource_type, &v.id);

            let mut fresh = Connection::open_in_memory().unwrap();
            super::super::schema::migrate(&mut fresh).unwrap();
            insert(&fresh, v).unwrap();
            assert_eq!(
                synced,
                dump(&fresh, &v.resource_type, &v.id),
                "{:?}",
                v.index
            );
            if let Some(n) = expected_changes {
                assert_eq!(changes, *n, "rows written for {:?}", v.index.references);
            }
            if let Some(p) = previous.filter(|p| p.resource_type == v.resource_type) {
                // Never more than delete-all/insert-all would write.
                assert!(changes as usize <= p.index.len() + v.index.len());
            }
            previous = Some(v);
        }
    }
}
