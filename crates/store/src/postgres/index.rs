//! Writes of the search index tables inside the PostgreSQL write transaction: one
//! statement removes the rows of superseded versions, one statement inserts the rows
//! of every new current version (seven `INSERT … SELECT FROM UNNEST` in data-modifying
//! CTEs), whatever the number of resources in the call.

use sqlx::PgConnection;

use crate::write_plan::NewVersion;
use crate::Result;

/// Rebuilds the search index rows of every current resource, in batches of one
/// transaction each (run at open when the index tables are new). Each batch takes the
/// per-resource write locks before reading the JSON, so a concurrent update cannot be
/// overwritten by the older version's rows.
pub(super) async fn reindex_all(pool: &sqlx::PgPool, lock_salt: u64) -> Result<usize> {
    const BATCH: i64 = 500;
    let salt = lock_salt.to_le_bytes();
    let mut after = (String::new(), String::new());
    let mut done = 0;
    loop {
        let mut tx = pool.begin().await?;
        let keys: Vec<(String, String)> = sqlx::query_as(
            "SELECT resource_type, id FROM resource WHERE NOT deleted AND (resource_type, id) > ($1, $2) \
             ORDER BY resource_type, id LIMIT $3",
        )
        .bind(&after.0)
        .bind(&after.1)
        .bind(BATCH)
        .fetch_all(&mut *tx)
        .await?;
        let Some(last) = keys.last() else {
            break;
        };
        after = last.clone();
        let mut locks: Vec<i64> = keys
            .iter()
            .map(|(t, id)| super::transaction::fnv1a(&[&salt, t.as_bytes(), id.as_bytes()]) as i64)
            .collect();
        locks.sort_unstable();
        locks.dedup();
        sqlx::query("SELECT pg_advisory_xact_lock(k) FROM UNNEST($1::int8[]) AS k")
            .bind(&locks)
            .execute(&mut *tx)
            .await?;
        let (types, ids): (Vec<&str>, Vec<&str>) =
            keys.iter().map(|(t, i)| (t.as_str(), i.as_str())).unzip();
        let rows: Vec<(String, String, Option<String>, Vec<u8>)> = sqlx::query_as(
            "SELECT resource_type, id, patient_key, json FROM resource WHERE NOT deleted \
             AND (resource_type, id) IN (SELECT * FROM UNNEST($1::text[], $2::text[]))",
        )
        .bind(&types)
        .bind(&ids)
        .fetch_all(&mut *tx)
        .await?;
        delete(&mut tx, &types, &ids).await?;
        let versions = rows
            .into_iter()
            .map(|(t, id, pk, json)| NewVersion::for_reindex(t, id, pk, &json))
            .collect::<Result<Vec<_>>>()?;
        done += versions.len();
        insert(&mut tx, &versions.iter().collect::<Vec<_>>()).await?;
        tx.commit().await?;
        tracing::info!(
            backend = "postgres",
            indexed = done,
            "search reindex progress"
        );
    }
    Ok(done)
}

/// Removes every index row of these resources.
pub(super) async fn delete(conn: &mut PgConnection, types: &[&str], ids: &[&str]) -> Result<()> {
    let mut sql = String::from(
        "WITH m AS (SELECT * FROM UNNEST($1::text[], $2::text[]) AS m (resource_type, id))",
    );
    for (n, table) in crate::INDEX_TABLES.iter().enumerate() {
        sql.push_str(&format!(
            ", d{n} AS (DELETE FROM {table} x USING m WHERE x.resource_type = m.resource_type AND x.id = m.id)"
        ));
    }
    sql.push_str(" SELECT 1");
    sqlx::query(&sql)
        .bind(types)
        .bind(ids)
        .execute(conn)
        .await?;
    Ok(())
}

/// Column arrays of every index row of a call: one tuple per table, its fields in the
/// order of that table's column list in [`INSERT`] (named tuples would only repeat it).
#[allow(clippy::type_complexity)]
#[derive(Default)]
struct Rows<'a> {
    s: (
        Vec<&'a str>,
        Vec<&'a str>,
        Vec<&'a str>,
        Vec<&'a str>,
        Vec<&'a str>,
        Vec<Option<&'a str>>,
    ),
    t: (
        Vec<&'a str>,
        Vec<&'a str>,
        Vec<&'a str>,
        Vec<&'a str>,
        Vec<&'a str>,
        Vec<&'a str>,
        Vec<Option<&'a str>>,
    ),
    d: (
        Vec<&'a str>,
        Vec<&'a str>,
        Vec<&'a str>,
        Vec<i64>,
        Vec<i64>,
        Vec<Option<&'a str>>,
    ),
    n: (
        Vec<&'a str>,
        Vec<&'a str>,
        Vec<&'a str>,
        Vec<f64>,
        Vec<Option<&'a str>>,
    ),
    q: (
        Vec<&'a str>,
        Vec<&'a str>,
        Vec<&'a str>,
        Vec<f64>,
        Vec<&'a str>,
        Vec<&'a str>,
        Vec<&'a str>,
        Vec<Option<&'a str>>,
        Vec<Option<f64>>,
        Vec<&'a str>,
    ),
    c: (
        Vec<&'a str>,
        Vec<&'a str>,
        Vec<&'a str>,
        Vec<&'a str>,
        Vec<&'a str>,
        Vec<&'a str>,
        Vec<&'a str>,
        Vec<Option<f64>>,
        Vec<Option<i64>>,
        Vec<Option<i64>>,
        Vec<Option<&'a str>>,
    ),
    r: (
        Vec<&'a str>,
        Vec<&'a str>,
        Vec<&'a str>,
        Vec<&'a str>,
        Vec<&'a str>,
        Vec<&'a str>,
        Vec<&'a str>,
        Vec<&'a str>,
        Vec<Option<&'a str>>,
    ),
    u: (
        Vec<&'a str>,
        Vec<&'a str>,
        Vec<&'a str>,
        Vec<&'a str>,
        Vec<Option<&'a str>>,
    ),
}

const INSERT: &str = "\
WITH s AS (INSERT INTO idx_string (resource_type, id, param, norm, exact, patient_key) \
  SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[])), \
t AS (INSERT INTO idx_token (resource_type, id, param, system, code, text, patient_key) \
  SELECT * FROM UNNEST($7::text[], $8::text[], $9::text[], $10::text[], $11::text[], $12::text[], $13::text[])), \
d AS (INSERT INTO idx_date (resource_type, id, param, low, high, patient_key) \
  SELECT * FROM UNNEST($14::text[], $15::text[], $16::text[], $17::int8[], $18::int8[], $19::text[])), \
n AS (INSERT INTO idx_number (resource_type, id, param, value, patient_key) \
  SELECT * FROM UNNEST($20::text[], $21::text[], $22::text[], $23::float8[], $24::text[])), \
q AS (INSERT INTO idx_quantity (resource_type, id, param, value, system, code, unit, patient_key, cvalue, ccode) \
  SELECT * FROM UNNEST($25::text[], $26::text[], $27::text[], $28::float8[], $29::text[], $30::text[], $31::text[], $32::text[], $47::float8[], $48::text[])), \
r AS (INSERT INTO idx_reference (resource_type, id, param, target_type, target_id, url, identifier_system, identifier_value, patient_key) \
  SELECT * FROM UNNEST($33::text[], $34::text[], $35::text[], $36::text[], $37::text[], $38::text[], $39::text[], $40::text[], $41::text[])), \
c AS (INSERT INTO idx_composite (resource_type, id, param, s1, c1, s2, c2, n2, lo2, hi2, patient_key) \
  SELECT * FROM UNNEST($49::text[], $50::text[], $51::text[], $52::text[], $53::text[], $54::text[], $55::text[], $56::float8[], $57::int8[], $58::int8[], $59::text[])) \
INSERT INTO idx_uri (resource_type, id, param, uri, patient_key) \
  SELECT * FROM UNNEST($42::text[], $43::text[], $44::text[], $45::text[], $46::text[])";

/// Inserts the index rows of the versions that become current.
pub(super) async fn insert(conn: &mut PgConnection, versions: &[&NewVersion]) -> Result<()> {
    let mut c = Rows::default();
    for v in versions {
        let (rt, id, pk) = (
            v.resource_type.as_str(),
            v.id.as_str(),
            v.patient_key.as_deref(),
        );
        for r in &v.index.strings {
            c.s.0.push(rt);
            c.s.1.push(id);
            c.s.2.push(r.param);
            c.s.3.push(&r.norm);
            c.s.4.push(&r.exact);
            c.s.5.push(pk);
        }
        for r in &v.index.tokens {
            c.t.0.push(rt);
            c.t.1.push(id);
            c.t.2.push(r.param);
            c.t.3.push(&r.system);
            c.t.4.push(&r.code);
            c.t.5.push(&r.text);
            c.t.6.push(pk);
        }
        for r in &v.index.dates {
            c.d.0.push(rt);
            c.d.1.push(id);
            c.d.2.push(r.param);
            c.d.3.push(r.low);
            c.d.4.push(r.high);
            c.d.5.push(pk);
        }
        for r in &v.index.numbers {
            c.n.0.push(rt);
            c.n.1.push(id);
            c.n.2.push(r.param);
            c.n.3.push(r.value);
            c.n.4.push(pk);
        }
        for r in &v.index.quantities {
            c.q.0.push(rt);
            c.q.1.push(id);
            c.q.2.push(r.param);
            c.q.3.push(r.value);
            c.q.4.push(&r.system);
            c.q.5.push(&r.code);
            c.q.6.push(&r.unit);
            c.q.7.push(pk);
            c.q.8.push(r.cvalue);
            c.q.9.push(&r.ccode);
        }
        for r in &v.index.composites {
            c.c.0.push(rt);
            c.c.1.push(id);
            c.c.2.push(r.param);
            c.c.3.push(&r.s1);
            c.c.4.push(&r.c1);
            c.c.5.push(&r.s2);
            c.c.6.push(&r.c2);
            c.c.7.push(r.n2);
            c.c.8.push(r.lo2);
            c.c.9.push(r.hi2);
            c.c.10.push(pk);
        }
        for r in &v.index.references {
            c.r.0.push(rt);
            c.r.1.push(id);
            c.r.2.push(r.param);
            c.r.3.push(&r.target_type);
            c.r.4.push(&r.target_id);
            c.r.5.push(&r.url);
            c.r.6.push(&r.identifier_system);
            c.r.7.push(&r.identifier_value);
            c.r.8.push(pk);
        }
        for r in &v.index.uris {
            c.u.0.push(rt);
            c.u.1.push(id);
            c.u.2.push(r.param);
            c.u.3.push(&r.uri);
            c.u.4.push(pk);
        }
    }
    if versions.iter().all(|v| v.index.is_empty()) {
        return Ok(());
    }
    sqlx::query(INSERT)
        .bind(&c.s.0)
        .bind(&c.s.1)
        .bind(&c.s.2)
        .bind(&c.s.3)
        .bind(&c.s.4)
        .bind(&c.s.5)
        .bind(&c.t.0)
        .bind(&c.t.1)
        .bind(&c.t.2)
        .bind(&c.t.3)
        .bind(&c.t.4)
        .bind(&c.t.5)
        .bind(&c.t.6)
        .bind(&c.d.0)
        .bind(&c.d.1)
        .bind(&c.d.2)
        .bind(&c.d.3)
        .bind(&c.d.4)
        .bind(&c.d.5)
        .bind(&c.n.0)
        .bind(&c.n.1)
        .bind(&c.n.2)
        .bind(&c.n.3)
        .bind(&c.n.4)
        .bind(&c.q.0)
        .bind(&c.q.1)
        .bind(&c.q.2)
        .bind(&c.q.3)
        .bind(&c.q.4)
        .bind(&c.q.5)
        .bind(&c.q.6)
        .bind(&c.q.7)
        .bind(&c.r.0)
        .bind(&c.r.1)
        .bind(&c.r.2)
        .bind(&c.r.3)
        .bind(&c.r.4)
        .bind(&c.r.5)
        .bind(&c.r.6)
        .bind(&c.r.7)
        .bind(&c.r.8)
        .bind(&c.u.0)
        .bind(&c.u.1)
        .bind(&c.u.2)
        .bind(&c.u.3)
        .bind(&c.u.4)
        .bind(&c.q.8)
        .bind(&c.q.9)
        .bind(&c.c.0)
        .bind(&c.c.1)
        .bind(&c.c.2)
        .bind(&c.c.3)
        .bind(&c.c.4)
        .bind(&c.c.5)
        .bind(&c.c.6)
        .bind(&c.c.7)
        .bind(&c.c.8)
        .bind(&c.c.9)
        .bind(&c.c.10)
        .execute(conn)
        .await?;
    Ok(())
}
