//! Runs a search plan on a PostgreSQL connection.

use hutong_search::cursor::SortValue;
use hutong_search::SearchQuery;
use sqlx::postgres::PgArguments;
use sqlx::{PgConnection, Postgres, Row};

use crate::search::{self, Dialect, KeyKind, SqlValue};
use crate::stored::{stored_count, StoredRow};
use crate::{Result, SearchPage};

fn bind<'q, O>(
    mut q: sqlx::query::QueryAs<'q, Postgres, O, PgArguments>,
    params: &'q [SqlValue],
) -> sqlx::query::QueryAs<'q, Postgres, O, PgArguments> {
    for p in params {
        q = match p {
            SqlValue::Text(s) => q.bind(s.as_str()),
            SqlValue::Int(i) => q.bind(*i),
            SqlValue::Real(f) => q.bind(*f),
        };
    }
    q
}

fn bind_plain<'q>(
    mut q: sqlx::query::Query<'q, Postgres, PgArguments>,
    params: &'q [SqlValue],
) -> sqlx::query::Query<'q, Postgres, PgArguments> {
    for p in params {
        q = match p {
            SqlValue::Text(s) => q.bind(s.as_str()),
            SqlValue::Int(i) => q.bind(*i),
            SqlValue::Real(f) => q.bind(*f),
        };
    }
    q
}

fn stored_row(r: &sqlx::postgres::PgRow) -> Result<StoredRow, sqlx::Error> {
    Ok(StoredRow {
        resource_type: r.try_get(0)?,
        id: r.try_get(1)?,
        version: r.try_get(2)?,
        seq: r.try_get(3)?,
        last_updated: r.try_get(4)?,
        deleted: r.try_get(5)?,
        kind: r.try_get(6)?,
        json: r.try_get(7)?,
    })
}

/// `_total=estimate`: exact when the first page holds every match, else the
/// planner's row estimate for the count query (no scan of the matches).
async fn estimate_total(
    conn: &mut PgConnection,
    q: &SearchQuery,
    plan: &search::Plan,
    page_rows: usize,
) -> Result<u64> {
    if q.cursor.is_none() && page_rows <= q.count {
        return Ok(page_rows as u64);
    }
    // The count query's plan: an aggregate (one row) over the matches; the estimate
    // is the row count of the aggregate's input, the next plan node.
    let text = format!("EXPLAIN {}", plan.count.text);
    let lines: Vec<(String,)> = bind(sqlx::query_as(&text), &plan.count.params)
        .fetch_all(&mut *conn)
        .await?;
    let rows = lines
        .iter()
        .filter(|(l,)| l.contains("rows="))
        .nth(1)
        .and_then(|(l,)| l.split("rows=").nth(1))
        .and_then(|r| r.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|n| n.parse::<u64>().ok())
        .unwrap_or(0);
    // never less than what the client can already see
    Ok(rows.max(page_rows.min(q.count) as u64))
}

/// One page of results (and the total when asked for).
pub(crate) async fn search(conn: &mut PgConnection, q: &SearchQuery) -> Result<SearchPage> {
    let plan = search::plan(q, Dialect::Postgres);
    let estimate = q.total == hutong_search::query::Total::Estimate && search::wants_page(q);
    let total = if search::wants_total(q) && !estimate {
        let (n,): (i64,) = bind(sqlx::query_as(&plan.count.text), &plan.count.params)
            .fetch_one(&mut *conn)
            .await?;
        Some(stored_count(n)?)
    } else {
        None
    };
    let mut rows = Vec::new();
    if search::wants_page(q) {
        let result = bind_plain(sqlx::query(&plan.page.text), &plan.page.params)
            .fetch_all(&mut *conn)
            .await?;
        for r in result {
            let stored = stored_row(&r)?;
            let mut keys = Vec::with_capacity(plan.keys.len());
            for (i, k) in plan.keys.iter().enumerate() {
                let v = match k {
                    KeyKind::Int => r.try_get::<Option<i64>, _>(8 + i)?.map(SortValue::Int),
                    KeyKind::Real => r.try_get::<Option<f64>, _>(8 + i)?.map(SortValue::Real),
                    KeyKind::Text => r.try_get::<Option<String>, _>(8 + i)?.map(SortValue::Text),
                };
                keys.push(v.unwrap_or(SortValue::Null));
            }
            rows.push((stored, keys));
        }
    }
    let total = if estimate {
        Some(estimate_total(conn, q, &plan, rows.len()).await?)
    } else {
        total
    };
    let mut includer = search::Includer::new(q, &rows);
    loop {
        let queries = includer.queries(q, Dialect::Postgres);
        if queries.is_empty() {
            break;
        }
        let mut found = Vec::new();
        for sql in &queries {
            for r in bind_plain(sqlx::query(&sql.text), &sql.params)
                .fetch_all(&mut *conn)
                .await?
            {
                found.push(stored_row(&r)?);
            }
        }
        includer.absorb(found);
    }
    search::finish(q, plan.backward, rows, includer.included, total)
}
