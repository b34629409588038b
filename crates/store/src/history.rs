//! History queries (R4 http.html#history), built once for both backends.
//!
//! Current versions and superseded versions live in two tables with the same columns,
//! so history is the union of both. Without `_at` each branch is an index scan on
//! `seq` limited to one page before the union, so paging stays cheap however long the
//! history is. With `_at`, a window function picks each resource's newest version at
//! or before the instant.

use crate::stamp::to_micros;
use crate::{HistoryQuery, HistoryScope};

/// Columns selected for a [`crate::Versioned`], in the order both backends decode them.
pub(crate) const VERSION_COLUMNS: &str =
    "resource_type, id, version, seq, last_updated, deleted, kind, json";

/// A bound parameter of a history query.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Param {
    Text(String),
    Int(i64),
}

/// SQL text and parameters of one history page and of its total count.
#[derive(Debug)]
pub(crate) struct HistorySql {
    pub page: String,
    pub page_params: Vec<Param>,
    pub total: String,
    pub total_params: Vec<Param>,
}

/// Builds the page and total queries. `placeholder(n)` renders the n-th (1-based)
/// parameter: `?n` for SQLite, `$n` for PostgreSQL.
pub(crate) fn history_sql(q: &HistoryQuery, placeholder: fn(usize) -> String) -> HistorySql {
    let (page, page_params) = build(q, placeholder, true);
    let (total, total_params) = build(q, placeholder, false);
    HistorySql {
        page,
        page_params,
        total,
        total_params,
    }
}

fn build(q: &HistoryQuery, ph: fn(usize) -> String, page: bool) -> (String, Vec<Param>) {
    let mut params = Vec::new();
    let mut bind = |p: Param| {
        params.push(p);
        ph(params.len())
    };
    let mut scope = Vec::new();
    match &q.scope {
        HistoryScope::System => {}
        HistoryScope::Type(t) => {
            scope.push(format!("resource_type = {}", bind(Param::Text(t.clone()))))
        }
        HistoryScope::Instance(t, id) => {
            scope.push(format!("resource_type = {}", bind(Param::Text(t.clone()))));
            scope.push(format!("id = {}", bind(Param::Text(id.clone()))));
        }
    }
    let since = q
        .since
        .map(|t| format!("last_updated >= {}", bind(Param::Int(to_micros(t)))));
    let before = q
        .before_seq
        .filter(|_| page)
        .map(|s| format!("seq < {}", bind(Param::Int(s))));
    let limit = page.then(|| {
        bind(Param::Int(
            i64::try_from(q.count)
                .unwrap_or(i64::MAX - 1)
                .saturating_add(1),
        ))
    });
    let columns = if page {
        VERSION_COLUMNS
    } else {
        "resource_type, id, version, seq, last_updated"
    };
    let where_clause = |conds: &[&String]| {
        if conds.is_empty() {
            String::new()
        } else {
            format!(
                " WHERE {}",
                conds
                    .iter()
                    .map(|c| c.as_str())
                    .collect::<Vec<_>>()
                    .join(" AND ")
            )
        }
    };

    let sql = if let Some(at) = q.at {
        let at = format!("last_updated <= {}", bind(Param::Int(to_micros(at))));
        let mut inner: Vec<&String> = scope.iter().collect();
        inner.push(&at);
        let inner = where_clause(&inner);
        let outer: Vec<&String> = since.iter().chain(before.iter()).collect();
        let outer = where_clause(&outer);
        let outer = if outer.is_empty() {
            " WHERE rn = 1".to_owned()
        } else {
            format!("{outer} AND rn = 1")
        };
        let body = format!(
            "SELECT {columns} FROM (SELECT {columns}, ROW_NUMBER() OVER \
             (PARTITION BY resource_type, id ORDER BY version DESC) AS rn FROM \
             (SELECT {columns} FROM resource{inner} UNION ALL \
             SELECT {columns} FROM resource_history{inner}) AS v) AS s{outer}"
        );
        match &limit {
            Some(limit) => format!("{body} ORDER BY seq DESC LIMIT {limit}"),
            None => format!("SELECT COUNT(*) FROM ({body}) AS c"),
        }
    } else {
        let conds: Vec<&String> = scope
            .iter()
            .chain(since.iter())
            .chain(before.iter())
            .collect();
        let filter = where_clause(&conds);
        match &limit {
            Some(limit) => format!(
                "SELECT {columns} FROM (\
                 SELECT * FROM (SELECT {columns} FROM resource{filter} ORDER BY seq DESC LIMIT {limit}) AS c \
                 UNION ALL \
                 SELECT * FROM (SELECT {columns} FROM resource_history{filter} ORDER BY seq DESC LIMIT {limit}) AS h\
                 ) AS v ORDER BY seq DESC LIMIT {limit}"
            ),
            None => format!(
                "SELECT (SELECT COUNT(*) FROM resource{filter}) + (SELECT COUNT(*) FROM resource_history{filter})"
            ),
        }
    };
    (sql, params)
}
