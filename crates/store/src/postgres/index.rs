//! Writes of the search index tables inside the PostgreSQL write transaction: one
//! statement per call, whatever the number of resources in it (data-modifying CTEs over
//! `UNNEST`ed column arrays, one pair per table). New resources get their rows
//! inserted; an updated resource's rows are brought to the new version's by deleting
//! and inserting only the rows that differ — most updates (a golden record gaining a
//! link, a status change) keep most rows, and index maintenance was most of the cost
//! of such a write.

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
        write(&mut tx, (&[], &[]), &versions.iter().collect::<Vec<_>>()).await?;
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
/// order of that table's columns in [`TABLES`] (named tuples would only repeat it).
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

/// One index column: name, SQL type, nullable.
type Column = (&'static str, &'static str, bool);

/// Every index table with its columns after `(resource_type, id)`: name, SQL type, and
/// whether the column is nullable (compared with `IS NOT DISTINCT FROM`). The order is
/// that of [`INDEX_TABLES`](crate::INDEX_TABLES) and of each [`Rows`] tuple.
const TABLES: [(&str, &[Column]); 8] = [
    (
        "idx_string",
        &[
            ("param", "text", false),
            ("norm", "text", false),
            ("exact", "text", false),
            ("patient_key", "text", true),
        ],
    ),
    (
        "idx_token",
        &[
            ("param", "text", false),
            ("system", "text", false),
            ("code", "text", false),
            ("text", "text", false),
            ("patient_key", "text", true),
        ],
    ),
    (
        "idx_date",
        &[
            ("param", "text", false),
            ("low", "int8", false),
            ("high", "int8", false),
            ("patient_key", "text", true),
        ],
    ),
    (
        "idx_number",
        &[
            ("param", "text", false),
            ("value", "float8", false),
            ("patient_key", "text", true),
        ],
    ),
    (
        "idx_quantity",
        &[
            ("param", "text", false),
            ("value", "float8", false),
            ("system", "text", false),
            ("code", "text", false),
            ("unit", "text", false),
            ("patient_key", "text", true),
            ("cvalue", "float8", true),
            ("ccode", "text", false),
        ],
    ),
    (
        "idx_reference",
        &[
            ("param", "text", false),
            ("target_type", "text", false),
            ("target_id", "text", false),
            ("url", "text", false),
            ("identifier_system", "text", false),
            ("identifier_value", "text", false),
            ("patient_key", "text", true),
        ],
    ),
    (
        "idx_uri",
        &[
            ("param", "text", false),
            ("uri", "text", false),
            ("patient_key", "text", true),
        ],
    ),
    (
        "idx_composite",
        &[
            ("param", "text", false),
            ("s1", "text", false),
            ("c1", "text", false),
            ("s2", "text", false),
            ("c2", "text", false),
            ("n2", "float8", true),
            ("lo2", "int8", true),
            ("hi2", "int8", true),
            ("patient_key", "text", true),
        ],
    ),
];

/// The statements over every index table, generated once from [`TABLES`]. Both bind
/// `$1`, `$2` to the superseded resources' keys, then each table's column arrays.
struct Statements {
    /// Inserts the new rows (no resource had rows before).
    insert: String,
    /// Brings the rows of superseded resources to the new versions' rows, touching only
    /// the rows that differ: a row of a superseded resource absent from the new rows is
    /// deleted, a new row is inserted unless an equal row is already there. Every
    /// sub-statement sees the same snapshot, so "already there" means "before this
    /// statement", and a kept row is neither deleted nor inserted again.
    sync: String,
}

fn statements() -> &'static Statements {
    static SQL: std::sync::OnceLock<Statements> = std::sync::OnceLock::new();
    SQL.get_or_init(|| {
        let mut sources = Vec::new();
        let mut bind = 3;
        for (n, (_, cols)) in TABLES.iter().enumerate() {
            let arrays: Vec<String> = ["text", "text"]
                .iter()
                .chain(cols.iter().map(|(_, ty, _)| ty))
                .map(|ty| {
                    bind += 1;
                    format!("${}::{ty}[]", bind - 1)
                })
                .collect();
            let names: Vec<&str> = ["resource_type", "id"]
                .into_iter()
                .chain(cols.iter().map(|(c, _, _)| *c))
                .collect();
            sources.push(format!(
                "n{n} AS (SELECT * FROM UNNEST({}) AS n ({}))",
                arrays.join(", "),
                names.join(", ")
            ));
        }
        let moved = "m AS (SELECT * FROM UNNEST($1::text[], $2::text[]) AS m (resource_type, id))";
        let mut insert = format!("WITH {moved}, {}", sources.join(", "));
        let mut sync = insert.clone();
        for (n, (table, cols)) in TABLES.iter().enumerate() {
            let names: Vec<&str> = ["resource_type", "id"]
                .into_iter()
                .chain(cols.iter().map(|(c, _, _)| *c))
                .collect();
            let list = names.join(", ");
            let same: Vec<String> = ["resource_type", "id"]
                .iter()
                .map(|c| format!("n.{c} = x.{c}"))
                .chain(cols.iter().map(|(c, _, nullable)| {
                    if *nullable {
                        format!("n.{c} IS NOT DISTINCT FROM x.{c}")
                    } else {
                        format!("n.{c} = x.{c}")
                    }
                }))
                .collect();
            let same = same.join(" AND ");
            insert.push_str(&format!(
                ", i{n} AS (INSERT INTO {table} ({list}) SELECT {list} FROM n{n})"
            ));
            sync.push_str(&format!(
                ", d{n} AS (DELETE FROM {table} x USING m \
                 WHERE x.resource_type = m.resource_type AND x.id = m.id \
                 AND NOT EXISTS (SELECT 1 FROM n{n} n WHERE {same})), \
                 i{n} AS (INSERT INTO {table} ({list}) SELECT {list} FROM n{n} n \
                 WHERE NOT EXISTS (SELECT 1 FROM {table} x WHERE {same}))"
            ));
        }
        insert.push_str(" SELECT 1");
        sync.push_str(" SELECT 1");
        Statements { insert, sync }
    })
}

/// Writes the index rows of the versions that become current. `moved` are the resources
/// whose current version these replace: their old rows are brought to the new ones
/// (only differing rows are deleted or inserted); every other resource had no rows.
pub(super) async fn write(
    conn: &mut PgConnection,
    moved: (&[&str], &[&str]),
    versions: &[&NewVersion],
) -> Result<()> {
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
    let sync = !moved.0.is_empty();
    if !sync && versions.iter().all(|v| v.index.is_empty()) {
        return Ok(());
    }
    let sql = if sync {
        // Sessions plan every statement with its values (`force_custom_plan`, for
        // search); this one takes ≈ 3 ms to plan and 0.1 ms from a cached generic plan.
        sqlx::query("SET LOCAL plan_cache_mode = force_generic_plan")
            .execute(&mut *conn)
            .await?;
        &statements().sync
    } else {
        &statements().insert
    };
    sqlx::query(sql)
        .bind(moved.0)
        .bind(moved.1)
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
        .bind(&c.q.8)
        .bind(&c.q.9)
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
        .execute(&mut *conn)
        .await?;
    if sync {
        sqlx::query("SET LOCAL plan_cache_mode = force_custom_plan")
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}
