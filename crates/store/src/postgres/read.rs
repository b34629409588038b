//! Read queries over one PostgreSQL connection, shared by the store (a pooled
//! connection) and the write transaction (which must see its own writes).

use sqlx::postgres::PgRow;
use sqlx::{PgConnection, Row};

use crate::history::{history_sql, Param, VERSION_COLUMNS};
use crate::stored::{db_version, stored_count, StoredRow};
use crate::{HistoryPage, HistoryQuery, IdentifierQuery, Result, Versioned};

fn stored_row(row: &PgRow) -> Result<Versioned> {
    StoredRow {
        resource_type: row.try_get(0)?,
        id: row.try_get(1)?,
        version: row.try_get(2)?,
        seq: row.try_get(3)?,
        last_updated: row.try_get(4)?,
        deleted: row.try_get(5)?,
        kind: row.try_get(6)?,
        json: row.try_get(7)?,
    }
    .into_versioned()
}

/// The current version (possibly a tombstone).
pub(super) async fn current(
    conn: &mut PgConnection,
    resource_type: &str,
    id: &str,
) -> Result<Option<Versioned>> {
    sqlx::query(&format!(
        "SELECT {VERSION_COLUMNS} FROM resource WHERE resource_type = $1 AND id = $2"
    ))
    .bind(resource_type)
    .bind(id)
    .fetch_optional(conn)
    .await?
    .as_ref()
    .map(stored_row)
    .transpose()
}

/// The current versions of several resources of one type, in one statement.
pub(super) async fn current_many(
    conn: &mut PgConnection,
    resource_type: &str,
    ids: &[String],
) -> Result<Vec<Versioned>> {
    sqlx::query(&format!(
        "SELECT {VERSION_COLUMNS} FROM resource WHERE resource_type = $1 AND id = ANY($2)"
    ))
    .bind(resource_type)
    .bind(ids)
    .fetch_all(conn)
    .await?
    .iter()
    .map(stored_row)
    .collect()
}

/// One version, current or superseded.
pub(super) async fn version(
    conn: &mut PgConnection,
    resource_type: &str,
    id: &str,
    version: u64,
) -> Result<Option<Versioned>> {
    let Ok(version) = db_version(version) else {
        return Ok(None);
    };
    sqlx::query(&format!(
        "SELECT {VERSION_COLUMNS} FROM resource WHERE resource_type = $1 AND id = $2 AND version = $3 \
         UNION ALL \
         SELECT {VERSION_COLUMNS} FROM resource_history WHERE resource_type = $1 AND id = $2 AND version = $3"
    ))
    .bind(resource_type)
    .bind(id)
    .bind(version)
    .fetch_optional(conn)
    .await?
    .as_ref()
    .map(stored_row)
    .transpose()
}

/// Ids of current, non-deleted resources matching an identifier or `_id`.
pub(super) async fn find(
    conn: &mut PgConnection,
    resource_type: &str,
    query: &IdentifierQuery,
) -> Result<Vec<String>> {
    let q = match query {
        IdentifierQuery::Id(id) => {
            sqlx::query("SELECT id FROM resource WHERE resource_type = $1 AND id = $2 AND NOT deleted")
                .bind(resource_type)
                .bind(id)
        }
        IdentifierQuery::Identifier { system: None, value } => sqlx::query(
            "SELECT DISTINCT id FROM resource_identifier WHERE resource_type = $1 AND value = $2 ORDER BY id",
        )
        .bind(resource_type)
        .bind(value),
        IdentifierQuery::Identifier { system: Some(system), value } => sqlx::query(
            "SELECT DISTINCT id FROM resource_identifier \
             WHERE resource_type = $1 AND value = $2 AND system = $3 ORDER BY id",
        )
        .bind(resource_type)
        .bind(value)
        .bind(system),
    };
    let rows = q.fetch_all(conn).await?;
    Ok(rows
        .iter()
        .map(|r| r.try_get::<String, _>(0))
        .collect::<Result<_, _>>()?)
}

/// Number of current, non-deleted resources.
pub(super) async fn count(conn: &mut PgConnection, resource_type: Option<&str>) -> Result<u64> {
    let n: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM resource WHERE NOT deleted AND ($1::text IS NULL OR resource_type = $1)",
    )
    .bind(resource_type)
    .fetch_one(conn)
    .await?;
    stored_count(n)
}

/// Patient-compartment key of the current version.
pub(super) async fn patient_key(
    conn: &mut PgConnection,
    resource_type: &str,
    id: &str,
) -> Result<Option<String>> {
    let key: Option<Option<String>> =
        sqlx::query_scalar("SELECT patient_key FROM resource WHERE resource_type = $1 AND id = $2")
            .bind(resource_type)
            .bind(id)
            .fetch_optional(conn)
            .await?;
    Ok(key.flatten())
}

/// One page of history plus its total.
pub(super) async fn history(conn: &mut PgConnection, query: &HistoryQuery) -> Result<HistoryPage> {
    let sql = history_sql(query, |n| format!("${n}"));
    let mut page = sqlx::query(&sql.page);
    for p in sql.page_params {
        page = match p {
            Param::Text(s) => page.bind(s),
            Param::Int(i) => page.bind(i),
        };
    }
    let mut entries = page
        .fetch_all(&mut *conn)
        .await?
        .iter()
        .map(stored_row)
        .collect::<Result<Vec<_>>>()?;
    let mut total = sqlx::query_scalar::<_, i64>(&sql.total);
    for p in sql.total_params {
        total = match p {
            Param::Text(s) => total.bind(s),
            Param::Int(i) => total.bind(i),
        };
    }
    let total = total.fetch_one(&mut *conn).await?;
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
