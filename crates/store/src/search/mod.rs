//! SQL for FHIR search, generated once for both backends from a
//! [`hutong_search::SearchQuery`].
//!
//! Shape: `SELECT … FROM resource r WHERE r.resource_type = ? AND NOT r.deleted AND
//! r.id IN (SELECT id FROM idx_<type> WHERE resource_type = ? AND param = ? AND …) …`,
//! one `IN` (or `NOT IN` for `:not` / `:missing=true`) per parameter, so each filter is
//! a direct lookup on its index table. Sorting adds one correlated `MIN`/`MAX` per key;
//! paging is a keyset predicate on `(sort keys…, id)` — never OFFSET. Missing sort
//! values sort last in both directions.

use hutong_search::cursor::{Cursor, SortValue};
use hutong_search::query::{
    Condition, Filter, Prefix, RefValue, SortKey, StringMode, TokenValue, UriMode,
};
use hutong_search::{ParamType, SearchQuery};

/// Which SQL dialect to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dialect {
    Sqlite,
    Postgres,
}

/// A bound value.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum SqlValue {
    Text(String),
    Int(i64),
    Real(f64),
}

/// What the type of a sort key's column is, to read it back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KeyKind {
    Int,
    Real,
    Text,
}

/// SQL text with its parameters.
#[derive(Debug, Default)]
pub(crate) struct Sql {
    pub text: String,
    pub params: Vec<SqlValue>,
    dialect: Option<Dialect>,
}

impl Sql {
    fn new(dialect: Dialect) -> Self {
        Sql {
            dialect: Some(dialect),
            ..Sql::default()
        }
    }

    fn push(&mut self, s: &str) -> &mut Self {
        self.text.push_str(s);
        self
    }

    fn bind(&mut self, v: SqlValue) -> &mut Self {
        self.params.push(v);
        match self.dialect {
            Some(Dialect::Postgres) => {
                let n = self.params.len();
                self.text.push_str(&format!("${n}"));
            }
            _ => self.text.push('?'),
        }
        self
    }

    fn text(&mut self, s: &str) -> &mut Self {
        self.bind(SqlValue::Text(s.to_owned()))
    }

    fn int(&mut self, i: i64) -> &mut Self {
        self.bind(SqlValue::Int(i))
    }

    fn real(&mut self, f: f64) -> &mut Self {
        self.bind(SqlValue::Real(f))
    }
}

/// The search, ready to run: the page query (one row more than the page, to know
/// whether there is a next page) and the count query.
pub(crate) struct Plan {
    pub page: Sql,
    pub count: Sql,
    /// Kinds of the sort-key columns that follow the version columns in `page`.
    pub keys: Vec<KeyKind>,
    /// The page runs backwards (a `previous` link): reverse the rows after reading.
    pub backward: bool,
}

fn table(ty: ParamType) -> &'static str {
    match ty {
        ParamType::String => "idx_string",
        ParamType::Token => "idx_token",
        ParamType::Date => "idx_date",
        ParamType::Number => "idx_number",
        ParamType::Quantity => "idx_quantity",
        ParamType::Reference => "idx_reference",
        ParamType::Uri => "idx_uri",
        ParamType::Composite => "idx_composite",
        ParamType::Special => "idx_token",
    }
}

/// `{col} = <rt>`, or, in a search across types (`rt` empty), `{col} =
/// {outer}.resource_type`.
fn same_type(sql: &mut Sql, col: &str, rt: &str, outer: &str) {
    if rt.is_empty() {
        sql.push(&format!("{col} = {outer}.resource_type"));
    } else {
        sql.push(&format!("{col} = ")).text(rt);
    }
}

/// One token value against `{s}`/`{c}` columns.
fn token_value(sql: &mut Sql, v: &TokenValue, s: &str, c: &str) {
    match v {
        TokenValue::Code(code) => {
            sql.push(&format!("{c} = ")).text(code);
        }
        TokenValue::SystemCode(system, code) => {
            sql.push(&format!("({c} = "))
                .text(code)
                .push(&format!(" AND {s} = "))
                .text(system)
                .push(")");
        }
        TokenValue::NoSystem(code) => {
            sql.push(&format!("({c} = "))
                .text(code)
                .push(&format!(" AND {s} = '')"));
        }
        TokenValue::System(system) => {
            sql.push(&format!("{s} = ")).text(system);
        }
    }
}

/// One quantity value against value/system/code/unit columns, in canonical units when
/// both sides convert.
fn quantity_value(sql: &mut Sql, q: &hutong_search::query::QuantityValue) {
    sql.push("(");
    if let Some((ccode, n)) = q.canonical_number() {
        number_value(sql, &n, "x.cvalue");
        sql.push(" AND x.ccode = ").text(ccode);
        sql.push(")");
        return;
    }
    number_value(sql, &q.number, "x.value");
    match (&q.system, &q.code) {
        (Some(s), Some(c)) => {
            sql.push(" AND x.system = ")
                .text(s)
                .push(" AND x.code = ")
                .text(c);
        }
        (None, Some(c)) => {
            sql.push(" AND (x.code = ")
                .text(c)
                .push(" OR x.unit = ")
                .text(c)
                .push(")");
        }
        (Some(s), None) => {
            sql.push(" AND x.system = ").text(s);
        }
        (None, None) => {}
    }
    sql.push(")");
}

/// One composite value against an `idx_composite` row `x`.
fn composite_value(sql: &mut Sql, v: &hutong_search::query::CompositeValue) {
    use hutong_search::query::CompositePart;
    sql.push("(");
    token_value(sql, &v.first, "x.s1", "x.c1");
    sql.push(" AND ");
    match &v.second {
        CompositePart::Token(t) => token_value(sql, t, "x.s2", "x.c2"),
        CompositePart::String(prefix) => {
            sql.push("(x.c2 >= ")
                .text(prefix)
                .push(" AND x.c2 < ")
                .text(&format!("{prefix}{TOP}"))
                .push(")");
        }
        CompositePart::Number(n) => number_value(sql, n, "x.n2"),
        CompositePart::Date(p, r) => date_value(sql, *p, r.low, r.high, "x.lo2", "x.hi2"),
        CompositePart::Quantity(q) => {
            let canonical = hutong_search::extract::CANONICAL;
            if let Some((ccode, n)) = q.canonical_number() {
                sql.push("(x.s2 = ")
                    .text(canonical)
                    .push(" AND x.c2 = ")
                    .text(ccode)
                    .push(" AND ");
                number_value(sql, &n, "x.n2");
                sql.push(")");
            } else {
                sql.push("(x.s2 <> ").text(canonical).push(" AND ");
                number_value(sql, &q.number, "x.n2");
                if let Some(s) = &q.system {
                    sql.push(" AND x.s2 = ").text(s);
                }
                if let Some(c) = &q.code {
                    sql.push(" AND x.c2 = ").text(c);
                }
                sql.push(")");
            }
        }
    }
    sql.push(")");
}

/// The `+∞` bound of a prefix range over code points.
const TOP: char = '\u{10FFFF}';

fn like_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    for c in s.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// `(col cmp a) …` for one date value (R4 search.html#prefix, ranges).
fn date_value(sql: &mut Sql, p: Prefix, low: i64, high: i64, lo: &str, hi: &str) {
    match p {
        Prefix::Eq => sql
            .push(&format!("({lo} >= "))
            .int(low)
            .push(&format!(" AND {hi} <= "))
            .int(high)
            .push(")"),
        Prefix::Ne => sql
            .push(&format!("({lo} < "))
            .int(low)
            .push(&format!(" OR {hi} > "))
            .int(high)
            .push(")"),
        Prefix::Sa => sql.push(&format!("{lo} > ")).int(high),
        Prefix::Gt => sql.push(&format!("{hi} > ")).int(high),
        Prefix::Lt => sql.push(&format!("{lo} < ")).int(low),
        Prefix::Ge => sql.push(&format!("{hi} >= ")).int(low),
        Prefix::Le => sql.push(&format!("{lo} <= ")).int(high),
        Prefix::Eb => sql.push(&format!("{hi} < ")).int(low),
        Prefix::Ap => sql
            .push(&format!("({lo} <= "))
            .int(high)
            .push(&format!(" AND {hi} >= "))
            .int(low)
            .push(")"),
    };
}

fn number_value(sql: &mut Sql, n: &hutong_search::query::NumberValue, col: &str) {
    match n.prefix {
        Prefix::Eq | Prefix::Ap => sql
            .push(&format!("({col} >= "))
            .real(n.low)
            .push(&format!(" AND {col} < "))
            .real(n.high)
            .push(")"),
        Prefix::Ne => sql
            .push(&format!("({col} < "))
            .real(n.low)
            .push(&format!(" OR {col} >= "))
            .real(n.high)
            .push(")"),
        Prefix::Gt => sql.push(&format!("{col} > ")).real(n.value),
        Prefix::Lt => sql.push(&format!("{col} < ")).real(n.value),
        // starts after / ends before the range the value's precision implies
        Prefix::Sa => sql.push(&format!("{col} >= ")).real(n.high),
        Prefix::Eb => sql.push(&format!("{col} < ")).real(n.low),
        Prefix::Ge => sql.push(&format!("{col} >= ")).real(n.value),
        Prefix::Le => sql.push(&format!("{col} <= ")).real(n.value),
    };
}

fn or_list<T>(sql: &mut Sql, items: &[T], mut each: impl FnMut(&mut Sql, &T)) {
    sql.push("(");
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            sql.push(" OR ");
        }
        each(sql, item);
    }
    sql.push(")");
}

/// Opens the subquery of one filter: `{outer}.id [NOT] IN (SELECT {x}.{col} FROM {table}
/// {x} WHERE ` (materialised once: the filter that drives the query), or, `correlated`,
/// `[NOT] EXISTS (SELECT 1 FROM {table} {x} WHERE {x}.{col} = {outer}.id AND ` (checked
/// per candidate row through the (resource_type, id, param) index, so a broad filter is
/// never materialised whole).
#[allow(clippy::too_many_arguments)]
fn open_filter(
    sql: &mut Sql,
    correlated: bool,
    not: bool,
    outer: &str,
    x: &str,
    col: &str,
    table: &str,
    by_target: bool,
) {
    let not = if not { "NOT " } else { "" };
    if correlated {
        // Without statistics SQLite rates `param = ? AND low < ?` on the lookup index
        // above three equalities on the per-resource one, and then scans a type's
        // whole date range for every candidate row: name the index.
        let index = match (sql.dialect, col) {
            (Some(Dialect::Sqlite), "id") => format!(" INDEXED BY {table}_resource"),
            (Some(Dialect::Sqlite), _) => " INDEXED BY idx_reference_target".to_owned(),
            _ => String::new(),
        };
        sql.push(&format!(
            "{not}EXISTS (SELECT 1 FROM {table} {x}{index} WHERE {x}.{col} = {outer}.id AND "
        ));
    } else {
        // A lookup by target id on SQLite: without statistics it prefers the
        // per-resource index, whose id order serves the page's ORDER BY, and reads every
        // reference row of the type (1 s at 1M) instead of the few rows of one target.
        let index = match (sql.dialect, table, col, by_target) {
            (Some(Dialect::Sqlite), "idx_reference", "id", true) => {
                " INDEXED BY idx_reference_target"
            }
            _ => "",
        };
        sql.push(&format!(
            "{outer}.id {not}IN (SELECT {x}.{col} FROM {table} {x}{index} WHERE "
        ));
    }
}

/// The filter that drives a query (the others become correlated `EXISTS`): the first
/// equality filter (token, reference, chain…), which are the selective ones, else the
/// first range; none when a compartment or patient key already drives it.
fn driving_filter(q: &SearchQuery) -> Option<usize> {
    if q.compartment.is_some() || q.patient_key.is_some() {
        return None;
    }
    let rank = |f: &Filter| match &f.condition {
        Condition::Id(_)
        | Condition::LastUpdated(_)
        | Condition::Terminology(_)
        | Condition::Missing(true)
        | Condition::Token { not: true, .. } => None,
        Condition::Token { .. }
        | Condition::Reference(_)
        | Condition::ReferenceIdentifier(_)
        | Condition::Chain { .. }
        | Condition::Composite(_)
        | Condition::String(StringMode::Exact, _)
        | Condition::Uri(UriMode::Exact, _) => Some(0),
        _ => Some(1),
    };
    let ranked = q.filters.iter().enumerate();
    let ranked = ranked.filter_map(|(i, f)| rank(f).map(|r| (r, i)));
    ranked.min().map(|(_, i)| i)
}

/// Whether resources of type `ty` have a canonical URL (a `url` parameter of type uri:
/// ValueSet, Questionnaire, PlanDefinition …), so references may name them by it.
fn has_canonical_url(ty: &str) -> bool {
    hutong_search::registry::registry()
        .param(ty, "url")
        .is_some_and(|p| p.ty == ParamType::Uri)
}

/// Whether a filter is one positive lookup in its index table, so the ids it yields are
/// exactly live current resources (index rows exist only for those, see the invariants
/// in `ARCHITECTURE.md`) and the `resource` table need not be consulted.
fn plain_lookup(f: &Filter) -> bool {
    matches!(
        f.condition,
        Condition::Token { not: false, .. }
            | Condition::String(..)
            | Condition::TokenText(_)
            | Condition::Date(_)
            | Condition::Number(_)
            | Condition::Quantity(_)
            | Condition::Reference(_)
            | Condition::ReferenceIdentifier(_)
            | Condition::Uri(..)
            | Condition::Composite(_)
            | Condition::Missing(false)
    )
}

/// A filter's subquery on its own, `(SELECT x.col FROM idx_… x WHERE …)`, without the
/// `{outer}.id IN ` that [`filter`] writes before it (parameters numbered in place);
/// returns where it starts in `sql.text`.
fn subquery(sql: &mut Sql, rt: &str, f: &Filter, outer: &str, depth: usize) -> usize {
    let start = sql.text.len();
    filter(sql, rt, f, outer, depth, false);
    let prefix = format!("{outer}.id IN ");
    debug_assert!(sql.text[start..].starts_with(&prefix));
    sql.text.replace_range(start..start + prefix.len(), "");
    start
}

/// `(SELECT … ids of live `rt` resources matching `inner` …)` for a chain or `_has`: a
/// plain lookup is answered by its index table alone (no visit to `resource` per id);
/// anything else goes through the resource rows aliased `r`.
fn live_ids(sql: &mut Sql, rt: &str, inner: &Filter, r: &str, depth: usize) {
    if plain_lookup(inner) {
        subquery(sql, rt, inner, r, depth);
        return;
    }
    sql.push(&format!(
        "(SELECT {r}.id FROM resource {r} WHERE {r}.resource_type = "
    ))
    .text(rt)
    .push(&format!(" AND NOT {r}.deleted AND "));
    filter(sql, rt, inner, r, depth, false);
    sql.push(")");
}

/// `{outer}.id [NOT] IN (SELECT x.id FROM idx_… x WHERE …)` for one filter on the
/// resources aliased `outer` (an `EXISTS` when `correlated`, see [`open_filter`]);
/// `depth` keeps the aliases of nested chains apart.
fn filter(sql: &mut Sql, rt: &str, f: &Filter, outer: &str, depth: usize, correlated: bool) {
    let x = format!("x{depth}");
    match &f.condition {
        Condition::Id(ids) => {
            or_list(sql, ids, |sql, id| {
                sql.push(&format!("{outer}.id = ")).text(id);
            });
            return;
        }
        Condition::LastUpdated(values) => {
            let col = format!("{outer}.last_updated");
            or_list(sql, values, |sql, (p, r)| {
                date_value(sql, *p, r.low, r.high, &col, &col)
            });
            return;
        }
        Condition::Chain {
            target_type,
            also,
            inner,
        } => {
            let r = format!("r{}", depth + 1);
            open_filter(
                sql,
                correlated,
                false,
                outer,
                &x,
                "id",
                "idx_reference",
                true,
            );
            same_type(sql, &format!("{x}.resource_type"), rt, outer);
            sql.push(&format!(" AND {x}.param = ")).text(f.param);
            if also.is_empty() {
                sql.push(&format!(" AND {x}.target_type = "))
                    .text(target_type);
                sql.push(&format!(" AND {x}.target_id IN "));
                live_ids(sql, target_type, inner, &r, depth + 1);
            } else {
                // several target types: pair type and id, and let the inner filter
                // take each candidate's own type
                sql.push(&format!(
                    " AND ({x}.target_type, {x}.target_id) IN (SELECT {r}.resource_type, {r}.id FROM resource {r} WHERE {r}.resource_type IN ("
                ));
                for (i, t) in std::iter::once(target_type).chain(also).enumerate() {
                    if i > 0 {
                        sql.push(", ");
                    }
                    sql.text(t);
                }
                sql.push(&format!(") AND NOT {r}.deleted AND "));
                filter(sql, "", inner, &r, depth + 1, false);
                sql.push(")");
            }
            sql.push(")");
            return;
        }
        Condition::Has { source_type, inner } => {
            let r = format!("r{}", depth + 1);
            let col = "target_id";
            open_filter(
                sql,
                correlated,
                false,
                outer,
                &x,
                col,
                "idx_reference",
                false,
            );
            sql.push(&format!("{x}.resource_type = "))
                .text(source_type)
                .push(&format!(" AND {x}.param = "))
                .text(f.param)
                .push(" AND ");
            same_type(sql, &format!("{x}.target_type"), rt, outer);
            sql.push(&format!(" AND {x}.id IN "));
            live_ids(sql, source_type, inner, &r, depth + 1);
            sql.push(")");
            return;
        }
        Condition::Terminology(_) => {
            // The server expands these before the store sees the query.
            sql.push("1 = 0");
            return;
        }
        _ => {}
    }
    let negate = matches!(
        f.condition,
        Condition::Missing(true) | Condition::Token { not: true, .. }
    );
    // every value names its target's id: the target index answers it
    let by_target = matches!(&f.condition, Condition::Reference(values)
        if values.iter().all(|v| matches!(v, RefValue::Local { .. })));
    open_filter(
        sql,
        correlated,
        negate,
        outer,
        "x",
        "id",
        table(f.ty),
        by_target,
    );
    same_type(sql, "x.resource_type", rt, outer);
    sql.push(" AND x.param = ").text(f.param);
    match &f.condition {
        Condition::Missing(_)
        | Condition::Id(_)
        | Condition::LastUpdated(_)
        | Condition::Chain { .. }
        | Condition::Has { .. }
        | Condition::Terminology(_) => {}
        Condition::Composite(values) => {
            sql.push(" AND ");
            or_list(sql, values, composite_value);
        }
        Condition::String(mode, values) => {
            sql.push(" AND ");
            or_list(sql, values, |sql, v| match mode {
                StringMode::Prefix => {
                    sql.push("(x.norm >= ")
                        .text(v)
                        .push(" AND x.norm < ")
                        .text(&format!("{v}{TOP}"))
                        .push(")");
                }
                StringMode::Exact => {
                    let norm = hutong_search::normalize::index_form(v);
                    sql.push("(x.norm = ")
                        .text(&norm)
                        .push(" AND x.exact = ")
                        .text(v)
                        .push(")");
                }
                StringMode::Contains => {
                    sql.push("x.norm LIKE ")
                        .text(&format!("%{}%", like_escape(v)))
                        .push(" ESCAPE '\\'");
                }
            });
        }
        Condition::Token { values, .. } => {
            sql.push(" AND ");
            if values.is_empty() {
                // an expansion with no codes
                sql.push("1 = 0");
            } else {
                or_list(sql, values, |sql, v| {
                    token_value(sql, v, "x.system", "x.code")
                });
            }
        }
        Condition::TokenText(values) => {
            sql.push(" AND ");
            or_list(sql, values, |sql, v| {
                sql.push("(x.text >= ")
                    .text(v)
                    .push(" AND x.text < ")
                    .text(&format!("{v}{TOP}"))
                    .push(")");
            });
        }
        Condition::Date(values) => {
            sql.push(" AND ");
            or_list(sql, values, |sql, (p, r)| {
                date_value(sql, *p, r.low, r.high, "x.low", "x.high")
            });
        }
        Condition::Number(values) => {
            sql.push(" AND ");
            or_list(sql, values, |sql, n| number_value(sql, n, "x.value"));
        }
        Condition::Quantity(values) => {
            sql.push(" AND ");
            or_list(sql, values, quantity_value);
        }
        Condition::Reference(values) => {
            sql.push(" AND ");
            or_list(sql, values, |sql, v| match v {
                RefValue::Local { ty: Some(t), id } => {
                    sql.push("(x.target_id = ")
                        .text(id)
                        .push(" AND x.target_type = ")
                        .text(t)
                        .push(")");
                    if correlated && has_canonical_url(t) {
                        // a canonical reference (`Questionnaire/q1` written as the
                        // questionnaire's `url`) resolves to the local resource too
                        sql.push(" OR (x.url <> '' AND x.url IN (SELECT u.uri FROM idx_uri u WHERE u.resource_type = ")
                            .text(t)
                            .push(" AND u.id = ")
                            .text(id)
                            .push(" AND u.param = 'url'))");
                    }
                }
                RefValue::Local { ty: None, id } => {
                    sql.push("x.target_id = ").text(id);
                }
                RefValue::Url(u) => {
                    // `<> ''` lets both databases use the partial index
                    sql.push("(x.url = ").text(u).push(" AND x.url <> '')");
                }
            });
            let canonical: Vec<(&str, &str)> = values
                .iter()
                .filter_map(|v| match v {
                    RefValue::Local { ty: Some(t), id } if has_canonical_url(t) => {
                        Some((t.as_str(), id.as_str()))
                    }
                    _ => None,
                })
                .collect();
            if !correlated && !canonical.is_empty() {
                // The canonical form as a second branch, each on its own index: an OR of
                // the two inside one WHERE made SQLite (no statistics) scan every
                // reference row of the type.
                let hint = match sql.dialect {
                    Some(Dialect::Sqlite) => " INDEXED BY idx_reference_url",
                    _ => "",
                };
                sql.push(&format!(
                    " UNION ALL SELECT x.id FROM idx_reference x{hint} WHERE "
                ));
                same_type(sql, "x.resource_type", rt, outer);
                sql.push(" AND x.param = ")
                    .text(f.param)
                    .push(" AND x.url <> '' AND x.url IN (SELECT u.uri FROM idx_uri u WHERE u.param = 'url' AND (");
                for (i, (t, id)) in canonical.iter().enumerate() {
                    if i > 0 {
                        sql.push(" OR ");
                    }
                    sql.push("(u.resource_type = ")
                        .text(t)
                        .push(" AND u.id = ")
                        .text(id)
                        .push(")");
                }
                sql.push("))");
            }
        }
        Condition::ReferenceIdentifier(values) => {
            sql.push(" AND ");
            or_list(sql, values, |sql, (s, v)| {
                sql.push("(x.identifier_value = ")
                    .text(v)
                    .push(" AND x.identifier_value <> ''");
                if let Some(s) = s {
                    sql.push(" AND x.identifier_system = ").text(s);
                }
                sql.push(")");
            });
        }
        Condition::Uri(mode, values) => {
            sql.push(" AND ");
            or_list(sql, values, |sql, v| match mode {
                UriMode::Exact => {
                    sql.push("x.uri = ").text(v);
                }
                UriMode::Below => {
                    sql.push("(x.uri >= ")
                        .text(v)
                        .push(" AND x.uri < ")
                        .text(&format!("{v}{TOP}"))
                        .push(")");
                }
                UriMode::Above => {
                    // every stored URI that is a prefix of the value
                    sql.push("SUBSTR(")
                        .text(v)
                        .push(", 1, LENGTH(x.uri)) = x.uri");
                }
            });
        }
    }
    sql.push(")");
}

/// The `WHERE` clause shared by the page and count queries.
fn where_clause(sql: &mut Sql, q: &SearchQuery) {
    sql.push(" WHERE NOT r.deleted");
    if !q.resource_type.is_empty() {
        sql.push(" AND r.resource_type = ").text(&q.resource_type);
    }
    if let Some(pk) = &q.patient_key {
        sql.push(" AND r.patient_key = ").text(pk);
    }
    if q.resource_type.is_empty() && !q.types.is_empty() {
        sql.push(" AND r.resource_type IN (");
        for (i, t) in q.types.iter().enumerate() {
            if i > 0 {
                sql.push(", ");
            }
            sql.text(t);
        }
        sql.push(")");
    }
    if let Some((patient, params)) = &q.compartment {
        sql.push(" AND (");
        if q.resource_type == "Patient" {
            sql.push("r.id = ").text(patient).push(" OR ");
        }
        sql.push("r.id IN (SELECT x.id FROM idx_reference x WHERE x.resource_type = ")
            .text(&q.resource_type)
            .push(" AND x.target_id = ")
            .text(patient)
            .push(" AND x.target_type = 'Patient' AND x.param IN (");
        for (i, p) in params.iter().enumerate() {
            if i > 0 {
                sql.push(", ");
            }
            sql.text(p);
        }
        if params.is_empty() {
            sql.push("''");
        }
        sql.push(")))");
    }
    let driver = driving_filter(q);
    for (i, f) in q.filters.iter().enumerate() {
        sql.push(" AND ");
        filter(sql, &q.resource_type, f, "r", 0, Some(i) != driver);
    }
}

/// The column expression and kind of one sort key.
/// `, <key> AS k0, <key> AS k1 …` for the sort keys (see [`sort_expr_on`]).
fn sort_columns(sql: &mut Sql, q: &SearchQuery, ids: Option<&str>) -> Vec<KeyKind> {
    let mut keys = Vec::new();
    for (i, k) in q.sort.iter().enumerate() {
        sql.push(", ");
        keys.push(sort_expr_on(sql, k, ids));
        sql.push(&format!(" AS k{i}"));
    }
    keys
}

/// After a derived table `q` of ids and sort keys: the keyset predicate of the cursor,
/// the order and the limit of `count + 1`.
fn sorted_tail(sql: &mut Sql, q: &SearchQuery, dialect: Dialect, backward: bool) {
    let id_col = match dialect {
        Dialect::Postgres => "q.id COLLATE \"C\"",
        Dialect::Sqlite => "q.id",
    };
    if let Some(c) = &q.cursor {
        sql.push(" WHERE ");
        keyset(sql, q, c, id_col);
    }
    sql.push(" ORDER BY ");
    order_terms(sql, q, "q", id_col, backward);
    sql.push(" LIMIT ").int(q.count as i64 + 1);
}

/// One sort key's column over the resources aliased `r`, or, with `ids = Some(type)`, over the
/// candidate ids `d.id` of an index-driven query of that type (no resource row: `_id`
/// and index-table keys only, see [`index_sortable`]).
fn sort_expr_on(sql: &mut Sql, k: &SortKey, ids: Option<&str>) -> KeyKind {
    let agg = if k.descending { "MAX" } else { "MIN" };
    let (col, kind) = match (k.param, k.ty) {
        ("_id", _) => {
            sql.push(if ids.is_some() { "d.id" } else { "r.id" });
            return KeyKind::Text;
        }
        ("_lastUpdated", _) => {
            sql.push("r.last_updated");
            return KeyKind::Int;
        }
        ("_type", _) => {
            sql.push("r.resource_type");
            return KeyKind::Text;
        }
        (_, ParamType::String) => ("norm", KeyKind::Text),
        (_, ParamType::Token) => ("code", KeyKind::Text),
        (_, ParamType::Date) => (if k.descending { "high" } else { "low" }, KeyKind::Int),
        (_, ParamType::Number | ParamType::Quantity) => ("value", KeyKind::Real),
        (_, ParamType::Reference) => ("target_id", KeyKind::Text),
        (_, ParamType::Uri) => ("uri", KeyKind::Text),
        _ => ("code", KeyKind::Text),
    };
    let table = table(k.ty);
    match ids {
        Some(rt) => {
            // SQLite: the per-resource index, not a MIN/MAX walk of the lookup index
            let hint = match sql.dialect {
                Some(Dialect::Sqlite) => format!(" INDEXED BY {table}_resource"),
                _ => String::new(),
            };
            sql.push(&format!(
                "(SELECT {agg}(x.{col}) FROM {table} x{hint} WHERE x.resource_type = "
            ))
            .text(rt)
            .push(" AND x.id = d.id AND x.param = ");
        }
        None => {
            sql.push(&format!(
                "(SELECT {agg}(x.{col}) FROM {table} x WHERE x.resource_type = r.resource_type AND x.id = r.id AND x.param = "
            ));
        }
    }
    sql.text(k.param).push(")");
    kind
}

/// Whether every sort key can be read from the index tables (or is the id), so an
/// index-driven query can sort before it reads any resource row.
fn index_sortable(q: &SearchQuery) -> bool {
    q.sort
        .iter()
        .all(|k| !matches!(k.param, "_lastUpdated" | "_type"))
}

/// `ORDER BY` terms for the sort keys `{alias}.k{i}` (missing values last in the
/// forward order), then `id_col`.
fn order_terms(sql: &mut Sql, q: &SearchQuery, alias: &str, id_col: &str, backward: bool) {
    for (i, k) in q.sort.iter().enumerate() {
        let desc = k.descending != backward;
        sql.push(&format!(
            "({alias}.k{i} IS NULL){}, {alias}.k{i}{}, ",
            if backward { " DESC" } else { "" },
            if desc { " DESC" } else { "" }
        ));
    }
    sql.push(&format!("{id_col}{}", if backward { " DESC" } else { "" }));
}

/// The page of an index-driven query with sort keys: the candidates' ids and keys from
/// the index tables alone (O(matches) index reads, no resource row), sorted and cut to
/// `count + 1`; then those rows.
fn index_sorted_page(
    q: &SearchQuery,
    driver: usize,
    dialect: Dialect,
    backward: bool,
) -> (Sql, Vec<KeyKind>) {
    let mut page = Sql::new(dialect);
    page.push(&format!("SELECT {ROW_COLUMNS}"));
    for i in 0..q.sort.len() {
        page.push(&format!(", p.k{i}"));
    }
    page.push(" FROM (SELECT q.* FROM (SELECT DISTINCT d.id");
    let keys = sort_columns(&mut page, q, Some(&q.resource_type));
    page.push(" ");
    index_driven(&mut page, q, driver);
    page.push(") q");
    sorted_tail(&mut page, q, dialect, backward);
    page.push(") p CROSS JOIN resource r WHERE r.resource_type = ")
        .text(&q.resource_type)
        .push(" AND r.id = p.id AND NOT r.deleted ORDER BY ");
    order_terms(&mut page, q, "p", "r.id", backward);
    (page, keys)
}

fn bind_value(sql: &mut Sql, v: &SortValue) {
    match v {
        SortValue::Int(i) => sql.int(*i),
        SortValue::Real(f) => sql.real(*f),
        SortValue::Text(s) => sql.text(s),
        SortValue::Null => sql.push("NULL"),
    };
}

/// Keyset predicate: rows strictly after (or, backwards, before) the cursor row in
/// the order `(k0 nulls last, k1 …, id)`.
fn keyset(sql: &mut Sql, q: &SearchQuery, c: &Cursor, id_col: &str) {
    sql.push("(");
    for (i, key) in q.sort.iter().enumerate() {
        let col = format!("q.k{i}");
        // rows after the cursor on key i
        let asc = key.descending == c.backward;
        match &c.values[i] {
            SortValue::Null => {
                if c.backward {
                    sql.push(&format!("{col} IS NOT NULL"));
                } else {
                    sql.push("1 = 0");
                }
            }
            v => {
                if c.backward {
                    sql.push(&format!(
                        "({col} IS NOT NULL AND {col} {} ",
                        if asc { ">" } else { "<" }
                    ));
                    bind_value(sql, v);
                    sql.push(")");
                } else {
                    sql.push(&format!(
                        "({col} IS NULL OR {col} {} ",
                        if asc { ">" } else { "<" }
                    ));
                    bind_value(sql, v);
                    sql.push(")");
                }
            }
        }
        sql.push(" OR (");
        if let SortValue::Null = &c.values[i] {
            sql.push(&format!("{col} IS NULL"));
        } else {
            sql.push(&format!("{col} = "));
            bind_value(sql, &c.values[i]);
        }
        sql.push(" AND ");
    }
    sql.push(&format!("{id_col} {} ", if c.backward { "<" } else { ">" }))
        .text(&c.id);
    for _ in 0..q.sort.len() {
        sql.push(")");
    }
    sql.push(")");
}

/// Builds the page and count queries.
pub(crate) fn plan(q: &SearchQuery, dialect: Dialect) -> Plan {
    let backward = q.cursor.as_ref().is_some_and(|c| c.backward);
    let driver = index_driver(q);
    let mut count = Sql::new(dialect);
    if let Some(driver) = driver {
        // `COUNT(*)` over `DISTINCT`, not `COUNT(DISTINCT …)`: both databases then take
        // the ids in index order and skip repeats as they stream, instead of sorting
        // (PostgreSQL) or building a temporary b-tree (SQLite) of every match.
        count.push("SELECT COUNT(*) FROM (SELECT DISTINCT d.id ");
        index_driven(&mut count, q, driver);
        count.push(") c");
    } else {
        count.push("SELECT COUNT(*) FROM resource r");
        where_clause(&mut count, q);
    }
    if let Some(driver) = driver {
        if q.sort.is_empty() {
            return Plan {
                page: index_page(q, driver, dialect, backward),
                count,
                keys: Vec::new(),
                backward,
            };
        }
        if index_sortable(q) {
            let (page, keys) = index_sorted_page(q, driver, dialect, backward);
            return Plan {
                page,
                count,
                keys,
                backward,
            };
        }
    }
    let mut page = Sql::new(dialect);
    page.push(&format!("SELECT q.* FROM (SELECT {ROW_COLUMNS}"));
    let keys = sort_columns(&mut page, q, None);
    page.push(" FROM resource r");
    where_clause(&mut page, q);
    page.push(") q");
    sorted_tail(&mut page, q, dialect, backward);

    Plan {
        page,
        count,
        keys,
        backward,
    }
}

/// The filter that drives an index-driven query ([`index_driven`]): one whose ids come
/// from its index table alone, in a query that needs nothing of the resource row but its
/// id (no compartment, patient key or `_lastUpdated`).
fn index_driver(q: &SearchQuery) -> Option<usize> {
    if q.resource_type.is_empty() || q.compartment.is_some() || q.patient_key.is_some() {
        return None;
    }
    if q.filters
        .iter()
        .any(|f| matches!(f.condition, Condition::LastUpdated(_)))
    {
        return None;
    }
    let i = driving_filter(q)?;
    let f = &q.filters[i];
    (plain_lookup(f) || matches!(f.condition, Condition::Chain { .. } | Condition::Has { .. }))
        .then_some(i)
}

/// `FROM (SELECT x.id AS id FROM idx_… x WHERE …) d WHERE …` — the candidate ids straight
/// from the driving filter's index rows, every other filter checked per candidate. Index
/// rows exist only for live current versions (see the invariants in `ARCHITECTURE.md`),
/// so a source id needs no visit to `resource`; the targets a `_has` yields do (a
/// reference may point at a deleted or absent resource), through the live-row index.
fn index_driven(sql: &mut Sql, q: &SearchQuery, driver: usize) {
    let f = &q.filters[driver];
    // `(SELECT x.col FROM …)` → `FROM (SELECT x.col AS id FROM …)`
    let start = subquery(sql, &q.resource_type, f, "r", 0);
    let from = start
        + sql.text[start..]
            .find(" FROM ")
            .expect("a filter subquery selects FROM its index table");
    sql.text.insert_str(from, " AS id");
    sql.text.insert_str(start, "FROM ");
    sql.push(" d WHERE 1 = 1");
    if matches!(f.condition, Condition::Has { .. }) {
        sql.push(" AND EXISTS (SELECT 1 FROM resource r WHERE r.resource_type = ")
            .text(&q.resource_type)
            .push(" AND r.id = d.id AND NOT r.deleted)");
    }
    for (i, g) in q.filters.iter().enumerate() {
        if i != driver {
            sql.push(" AND ");
            filter(sql, &q.resource_type, g, "d", 0, true);
        }
    }
}

/// The page of an index-driven query in two steps: the page's ids from the index tables
/// alone, in id order, stopping after `count + 1` (an index walk when the driving value
/// is one equality); then the resource rows of those ids only. Joining `resource` first
/// read the row of every match before the limit.
fn index_page(q: &SearchQuery, driver: usize, dialect: Dialect, backward: bool) -> Sql {
    let mut page = Sql::new(dialect);
    page.push(&format!("SELECT {ROW_COLUMNS} FROM (SELECT DISTINCT d.id "));
    index_driven(&mut page, q, driver);
    if let Some(c) = &q.cursor {
        page.push(" AND ");
        keyset(&mut page, q, c, "d.id");
    }
    let desc = if backward { " DESC" } else { "" };
    page.push(&format!(" ORDER BY d.id{desc} LIMIT "))
        .int(q.count as i64 + 1)
        // CROSS JOIN: SQLite keeps the left side as the outer loop (without it, and
        // without statistics, it walked every resource of the type and probed the 51
        // ids: 0.7 ms became 760 ms at 1M); PostgreSQL plans it as an inner join
        .push(") p CROSS JOIN resource r WHERE r.resource_type = ")
        .text(&q.resource_type)
        .push(&format!(
            " AND r.id = p.id AND NOT r.deleted ORDER BY r.id{desc}"
        ));
    page
}

/// Whether the query needs the count query.
pub(crate) fn wants_total(q: &SearchQuery) -> bool {
    q.summary_count || q.total != hutong_search::query::Total::None
}

/// Whether the query needs the page query.
pub(crate) fn wants_page(q: &SearchQuery) -> bool {
    !q.summary_count && q.count > 0
}

/// Turns the rows of the page query (at most `count + 1`, in query order) into a page
/// with its cursors.
pub(crate) fn finish(
    q: &SearchQuery,
    backward: bool,
    mut rows: Vec<(crate::stored::StoredRow, Vec<SortValue>)>,
    included: Vec<crate::stored::StoredRow>,
    total: Option<u64>,
) -> crate::Result<crate::SearchPage> {
    let more = rows.len() > q.count;
    rows.truncate(q.count);
    if backward {
        rows.reverse();
    }
    let cursor = |row: &(crate::stored::StoredRow, Vec<SortValue>), backward: bool| Cursor {
        values: row.1.clone(),
        id: row.0.id.clone(),
        backward,
        sort: q.sort_text.clone(),
    };
    let (next, previous) = match (rows.first(), rows.last()) {
        (Some(first), Some(last)) => {
            let before = if backward { more } else { q.cursor.is_some() };
            let after = if backward { true } else { more };
            (
                after.then(|| cursor(last, false)),
                before.then(|| cursor(first, true)),
            )
        }
        _ => (None, None),
    };
    let entries = rows
        .into_iter()
        .map(|(row, _)| row.into_versioned())
        .collect::<crate::Result<Vec<_>>>()?;
    let included = included
        .into_iter()
        .map(crate::stored::StoredRow::into_versioned)
        .collect::<crate::Result<Vec<_>>>()?;
    Ok(crate::SearchPage {
        entries,
        included,
        next,
        previous,
        total,
    })
}

/// Most rounds of `:iterate` includes (each round follows references one step further).
pub(crate) const MAX_INCLUDE_ROUNDS: usize = 4;

/// Most resources one page may include, so an `:iterate` over a dense graph stays bounded.
pub(crate) const MAX_INCLUDED: usize = 5000;

/// The columns of a stored row, in the order the backends read them.
const ROW_COLUMNS: &str =
    "r.resource_type, r.id, r.version, r.seq, r.last_updated, r.deleted, r.kind, r.json";

fn id_list(sql: &mut Sql, ids: &[&str]) {
    sql.push("(");
    for (i, id) in ids.iter().enumerate() {
        if i > 0 {
            sql.push(", ");
        }
        sql.text(id);
    }
    sql.push(")");
}

/// The queries of one include round over `frontier` (the `(type, id)`s found by the
/// previous round, or the matches): `_include`s follow the frontier's references,
/// `_revinclude`s find what references the frontier. After the first round only
/// `:iterate` ones apply.
pub(crate) fn include_queries(
    q: &SearchQuery,
    frontier: &[(String, String)],
    first_round: bool,
    dialect: Dialect,
) -> Vec<Sql> {
    let mut out = Vec::new();
    if q.include_referenced && first_round && !frontier.is_empty() {
        // Reference data the matches point at: resources outside every patient
        // compartment only, so one resident's export never pulls in another's.
        let mut sql = Sql::new(dialect);
        sql.push(&format!("SELECT {ROW_COLUMNS} FROM resource r"))
            .push(
                " WHERE NOT r.deleted AND r.patient_key IS NULL AND (r.resource_type, r.id) IN \
             (SELECT x.target_type, x.target_id FROM idx_reference x WHERE x.target_id <> '' \
             AND (x.resource_type, x.id) IN (VALUES ",
            );
        for (i, (t, id)) in frontier.iter().enumerate() {
            if i > 0 {
                sql.push(", ");
            }
            sql.push("(").text(t).push(", ").text(id).push(")");
        }
        sql.push(")) ORDER BY r.resource_type, r.id");
        out.push(sql);
    }
    for inc in q.includes.iter().filter(|i| first_round || i.iterate) {
        let ids: Vec<&str> = frontier
            .iter()
            .filter(|(t, _)| *t == inc.source_type)
            .map(|(_, id)| id.as_str())
            .collect();
        if ids.is_empty() {
            continue;
        }
        let mut sql = Sql::new(dialect);
        sql.push(&format!("SELECT {ROW_COLUMNS} FROM resource r")).push(
            " WHERE NOT r.deleted AND (r.resource_type, r.id) IN (SELECT x.target_type, x.target_id \
             FROM idx_reference x WHERE x.resource_type = ",
        );
        sql.text(&inc.source_type)
            .push(" AND x.param = ")
            .text(inc.param)
            .push(" AND x.target_id <> '' AND x.id IN ");
        id_list(&mut sql, &ids);
        if let Some(t) = &inc.target_type {
            sql.push(" AND x.target_type = ").text(t);
        }
        sql.push(") ORDER BY r.resource_type, r.id");
        out.push(sql);
    }
    for inc in q.revincludes.iter().filter(|i| first_round || i.iterate) {
        let mut types: Vec<&str> = frontier.iter().map(|(t, _)| t.as_str()).collect();
        types.sort_unstable();
        types.dedup();
        for ty in types {
            if inc.target_type.as_deref().is_some_and(|t| t != ty) {
                continue;
            }
            let ids: Vec<&str> = frontier
                .iter()
                .filter(|(t, _)| t == ty)
                .map(|(_, id)| id.as_str())
                .collect();
            let mut sql = Sql::new(dialect);
            sql.push(&format!("SELECT {ROW_COLUMNS} FROM resource r"))
                .push(" WHERE r.resource_type = ")
                .text(&inc.source_type)
                .push(" AND NOT r.deleted AND r.id IN (SELECT x.id FROM idx_reference x WHERE x.resource_type = ")
                .text(&inc.source_type)
                .push(" AND x.param = ")
                .text(inc.param)
                .push(" AND x.target_type = ")
                .text(ty)
                .push(" AND x.target_id IN ");
            id_list(&mut sql, &ids);
            sql.push(") ORDER BY r.resource_type, r.id");
            out.push(sql);
        }
    }
    out
}

/// Remembers what a page already holds while include rounds run.
pub(crate) struct Includer {
    seen: std::collections::HashSet<(String, String)>,
    pub frontier: Vec<(String, String)>,
    pub included: Vec<crate::stored::StoredRow>,
    pub round: usize,
}

impl Includer {
    pub(crate) fn new(
        q: &SearchQuery,
        matches: &[(crate::stored::StoredRow, Vec<SortValue>)],
    ) -> Self {
        let frontier: Vec<(String, String)> =
            if q.includes.is_empty() && q.revincludes.is_empty() && !q.include_referenced {
                Vec::new()
            } else {
                matches
                    .iter()
                    .map(|(r, _)| (r.resource_type.clone(), r.id.clone()))
                    .collect()
            };
        Includer {
            seen: frontier.iter().cloned().collect(),
            frontier,
            included: Vec::new(),
            round: 0,
        }
    }

    /// The next round's queries; empty when done.
    pub(crate) fn queries(&self, q: &SearchQuery, dialect: Dialect) -> Vec<Sql> {
        if self.frontier.is_empty()
            || self.round >= MAX_INCLUDE_ROUNDS
            || self.included.len() >= MAX_INCLUDED
        {
            return Vec::new();
        }
        include_queries(q, &self.frontier, self.round == 0, dialect)
    }

    /// Takes one round's rows; the new ones become the next frontier.
    pub(crate) fn absorb(&mut self, rows: Vec<crate::stored::StoredRow>) {
        let mut next = Vec::new();
        for row in rows {
            let key = (row.resource_type.clone(), row.id.clone());
            if self.included.len() < MAX_INCLUDED && self.seen.insert(key.clone()) {
                next.push(key);
                self.included.push(row);
            }
        }
        self.frontier = next;
        self.round += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hutong_search::query::ParseOptions;

    fn plan_of(rt: &str, params: &[(&str, &str)]) -> Plan {
        let params: Vec<(String, String)> = params
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        let q = SearchQuery::parse(rt, &params, &ParseOptions::default()).expect("parses");
        plan(&q, Dialect::Sqlite)
    }

    fn where_sql(rt: &str, params: &[(&str, &str)]) -> String {
        plan_of(rt, params).count.text
    }

    #[test]
    fn a_lone_index_filter_is_counted_in_the_index_alone() {
        let sql = where_sql("Observation", &[("code", "http://loinc.org|4548-4")]);
        assert!(
            sql.starts_with(
                "SELECT COUNT(*) FROM (SELECT DISTINCT d.id FROM (SELECT x.id AS id FROM idx_token x"
            ),
            "{sql}"
        );
        assert!(!sql.contains("resource r"), "{sql}");
        // anything that needs the resource row or a negation keeps the full count
        for p in [
            ("code:not", "x"),
            ("_lastUpdated", "gt2020"),
            ("subject:missing", "true"),
        ] {
            let sql = where_sql("Observation", &[p]);
            assert!(
                sql.starts_with("SELECT COUNT(*) FROM resource r"),
                "{p:?}: {sql}"
            );
        }
    }

    #[test]
    fn the_equality_filter_drives_and_ranges_are_checked_per_candidate() {
        let params = [("date", "ge2025-01"), ("code", "http://loinc.org|4548-4")];
        let plan = plan_of("Observation", &params);
        for sql in [&plan.count.text, &plan.page.text] {
            assert!(
                sql.contains("FROM (SELECT x.id AS id FROM idx_token x"),
                "{sql}"
            );
            assert!(
                sql.contains(
                    "EXISTS (SELECT 1 FROM idx_date x INDEXED BY idx_date_resource WHERE x.id = d.id AND"
                ),
                "{sql}"
            );
            assert!(!sql.contains("SELECT x.id FROM idx_date"), "{sql}");
        }
        // the page takes its ids from the index before it reads any resource row
        let page = &plan.page.text;
        let ids = page.find("SELECT DISTINCT d.id").expect("ids first");
        let limit = page
            .find("LIMIT ?) p CROSS JOIN resource r")
            .expect("then rows");
        assert!(
            ids < limit && !page[..limit].contains("resource r"),
            "{page}"
        );
        // sort keys from the index tables: still no resource row before the limit
        let sorted = plan_of("Observation", &[params[0], params[1], ("_sort", "-date")]);
        let page = &sorted.page.text;
        assert!(
            page.contains("SELECT DISTINCT d.id, (SELECT MAX(x.high) FROM idx_date x INDEXED BY idx_date_resource WHERE x.resource_type = ? AND x.id = d.id"),
            "{page}"
        );
        let limit = page.find(") p CROSS JOIN resource r").expect("then rows");
        assert!(!page[..limit].contains("resource r"), "{page}");
        assert_eq!(sorted.keys, vec![KeyKind::Int]);
        // `_lastUpdated` lives in the resource row: the one-step page, driven by the token
        let by_update = plan_of("Observation", &[params[1], ("_sort", "_lastUpdated")]);
        assert!(
            by_update
                .page
                .text
                .contains("r.id IN (SELECT x.id FROM idx_token x"),
            "{}",
            by_update.page.text
        );
    }

    #[test]
    fn chains_and_has_read_the_inner_index_without_the_resource_table() {
        let chain = where_sql("Observation", &[("subject:Patient.identifier", "sys|123")]);
        assert!(
            chain.contains("x0.target_id IN (SELECT x.id FROM idx_token x"),
            "{chain}"
        );
        assert!(!chain.contains("resource r1"), "{chain}");
        // `_has` yields targets, which may be deleted: checked against the live rows
        let has = plan_of("Patient", &[("_has:Observation:patient:code", "4548-4")]);
        for sql in [&has.count.text, &has.page.text] {
            assert!(
                sql.contains("FROM (SELECT x0.target_id AS id FROM idx_reference x0"),
                "{sql}"
            );
            assert!(
                sql.contains("x0.id IN (SELECT x.id FROM idx_token x"),
                "{sql}"
            );
            assert!(
                sql.contains("EXISTS (SELECT 1 FROM resource r WHERE r.resource_type = ? AND r.id = d.id AND NOT r.deleted)"),
                "{sql}"
            );
        }
        // a canonical-capable target: the url form is a second branch on its own index
        let canonical = plan_of(
            "QuestionnaireResponse",
            &[("questionnaire", "Questionnaire/q1")],
        );
        assert!(
            canonical.page.text.contains(
                "UNION ALL SELECT x.id FROM idx_reference x INDEXED BY idx_reference_url WHERE"
            ),
            "{}",
            canonical.page.text
        );
        // an inner filter that needs the resource row keeps it
        let negated = where_sql("Observation", &[("subject:Patient.gender:not", "male")]);
        assert!(negated.contains("FROM resource r1"), "{negated}");
    }

    #[test]
    fn a_compartment_drives_and_every_filter_is_correlated() {
        let mut q = SearchQuery::parse(
            "Observation",
            &[("code".to_owned(), "4548-4".to_owned())],
            &ParseOptions::default(),
        )
        .expect("parses");
        q.compartment = Some(("pat-1".to_owned(), vec!["subject"]));
        let sql = plan(&q, Dialect::Postgres).count.text;
        assert!(
            sql.contains("EXISTS (SELECT 1 FROM idx_token x WHERE x.id = r.id"),
            "{sql}"
        );
    }
}
