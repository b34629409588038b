//! The query model: URL search parameters parsed and validated against the registry
//! (R4 search.html). The store turns a [`SearchQuery`] into SQL; nothing here knows SQL.

use crate::cursor::Cursor;
use crate::date::{self, Range};
use crate::normalize::normalize;
use crate::registry::{registry, ParamType};

/// A parameter the server cannot honour: which one and why. Answered with 400.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("search parameter '{param}': {message}")]
pub struct QueryError {
    /// The parameter as the client wrote it (`birthdate:exact`).
    pub param: String,
    pub message: String,
    /// The server understands the request but does not implement it (501-ish, still 400).
    pub not_supported: bool,
}

fn bad(param: &str, message: impl Into<String>) -> QueryError {
    QueryError {
        param: param.to_owned(),
        message: message.into(),
        not_supported: false,
    }
}

fn unsupported(param: &str, message: impl Into<String>) -> QueryError {
    QueryError {
        param: param.to_owned(),
        message: message.into(),
        not_supported: true,
    }
}

/// Comparison prefix of number, date and quantity values (R4 search.html#prefix).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Prefix {
    Eq,
    Ne,
    Gt,
    Lt,
    Ge,
    Le,
    Sa,
    Eb,
    Ap,
}

impl Prefix {
    fn split(value: &str) -> (Prefix, &str) {
        let p = match value.get(..2) {
            Some("eq") => Prefix::Eq,
            Some("ne") => Prefix::Ne,
            Some("gt") => Prefix::Gt,
            Some("lt") => Prefix::Lt,
            Some("ge") => Prefix::Ge,
            Some("le") => Prefix::Le,
            Some("sa") => Prefix::Sa,
            Some("eb") => Prefix::Eb,
            Some("ap") => Prefix::Ap,
            _ => return (Prefix::Eq, value),
        };
        (p, &value[2..])
    }
}

/// How a string value matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StringMode {
    /// Normalised prefix (the default).
    Prefix,
    /// The whole value, exactly (`:exact`).
    Exact,
    /// Normalised substring (`:contains`).
    Contains,
}

/// One token value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenValue {
    /// `code`: any system.
    Code(String),
    /// `system|code`.
    SystemCode(String, String),
    /// `|code`: no system.
    NoSystem(String),
    /// `system|`: any code of the system.
    System(String),
}

/// One reference value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefValue {
    /// A local resource; `ty` `None` means any of the parameter's target types.
    Local { ty: Option<String>, id: String },
    /// An absolute or canonical URL not on this server.
    Url(String),
}

/// A numeric comparison: the value and the range its precision implies.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NumberValue {
    pub prefix: Prefix,
    pub value: f64,
    /// `[low, high)` implied by the precision (`100` → `[99.5, 100.5)`), or ±10 % for `ap`.
    pub low: f64,
    pub high: f64,
}

/// A quantity value.
#[derive(Debug, Clone, PartialEq)]
pub struct QuantityValue {
    pub number: NumberValue,
    pub system: Option<String>,
    /// Matches the stored code, or the stored unit when no system is given.
    pub code: Option<String>,
    /// A UCUM unit that converts: `(dimension code, factor to base units)`. Such a
    /// value is compared with the canonical form of the stored quantities, so
    /// `5|http://unitsofmeasure.org|g/L` finds `500 mg/dL`.
    pub canonical: Option<(String, f64)>,
}

impl QuantityValue {
    /// The number scaled to canonical units (the range too).
    pub fn canonical_number(&self) -> Option<(&str, NumberValue)> {
        let (code, f) = self.canonical.as_ref()?;
        let n = self.number;
        Some((
            code,
            NumberValue {
                prefix: n.prefix,
                value: n.value * f,
                low: n.low * f,
                high: n.high * f,
            },
        ))
    }
}

/// The second component of a composite value, in the form of its own type.
#[derive(Debug, Clone, PartialEq)]
pub enum CompositePart {
    /// Token, reference (`type`, `id` as system, code) or uri (code).
    Token(TokenValue),
    Quantity(QuantityValue),
    Number(NumberValue),
    Date(Prefix, Range),
    /// Normalised string prefix.
    String(String),
}

/// One `first$second` value of a composite parameter; the first component is a token
/// or a reference (as `type|id`).
#[derive(Debug, Clone, PartialEq)]
pub struct CompositeValue {
    pub first: TokenValue,
    pub second: CompositePart,
}

/// Prefix of the token system under which identifiers are also indexed by their type
/// (`identifier:of-type=type-system|type-code|value`).
pub const OF_TYPE: &str = "of-type:";

/// How a URI value matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UriMode {
    Exact,
    /// The stored URI starts with the value (`:below`).
    Below,
    /// The value starts with the stored URI (`:above`).
    Above,
}

/// What one parameter requires; its values are ORed.
#[derive(Debug, Clone, PartialEq)]
pub enum Condition {
    /// `_id`.
    Id(Vec<String>),
    /// `_lastUpdated`, as ranges.
    LastUpdated(Vec<(Prefix, Range)>),
    /// `:missing=true|false`.
    Missing(bool),
    String(StringMode, Vec<String>),
    /// Tokens; `not` for `:not` (no value of the parameter matches).
    Token {
        not: bool,
        values: Vec<TokenValue>,
    },
    /// `:text`: normalised prefix of the display text.
    TokenText(Vec<String>),
    Date(Vec<(Prefix, Range)>),
    Number(Vec<NumberValue>),
    Quantity(Vec<QuantityValue>),
    Reference(Vec<RefValue>),
    /// `:identifier` on a reference: `(system, value)`.
    ReferenceIdentifier(Vec<(Option<String>, String)>),
    Uri(UriMode, Vec<String>),
    /// Chained parameter: the reference points at a `target_type` resource matching
    /// `inner` (`subject:Patient.identifier=…`).
    Chain {
        target_type: String,
        /// Further target types the reference may point at (a chain without a type
        /// modifier whose parameter exists, with the same type, on several targets).
        also: Vec<String>,
        inner: Box<Filter>,
    },
    /// Reverse chain: some `source_type` resource whose reference parameter (the
    /// filter's `param`) points at this one matches `inner` (`_has:Observation:patient:code=…`).
    Has {
        source_type: String,
        inner: Box<Filter>,
    },
    /// Composite values (`code-value-quantity=loinc|8480-6$gt100`).
    Composite(Vec<CompositeValue>),
    /// `:in` / `:not-in` a ValueSet, or `:below` / `:above` a code in a CodeSystem:
    /// terminology the server holds. The server expands it into a
    /// [`Condition::Token`] before the store sees the query
    /// ([`SearchQuery::terminology_mut`]); the store matches nothing for one left over.
    Terminology(Terminology),
}

/// A token modifier that needs terminology stored on the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Terminology {
    /// `:in` (or `:not-in` with `not`) the ValueSet with this canonical URL.
    In { not: bool, valueset: String },
    /// `:below` (the code and its descendants) or `:above` (the code and its
    /// ancestors) in the CodeSystem `system`.
    Hierarchy {
        below: bool,
        system: String,
        code: String,
    },
}

/// `_include` / `_revinclude` (R4 search.html#include).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Include {
    /// The type holding the reference (`Observation` in `Observation:subject`).
    pub source_type: String,
    /// Its reference parameter.
    pub param: &'static str,
    /// Only targets of this type (`Observation:subject:Patient`).
    pub target_type: Option<String>,
    /// `:iterate`: also applied to included resources.
    pub iterate: bool,
}

/// One parameter of the query; filters are ANDed.
#[derive(Debug, Clone, PartialEq)]
pub struct Filter {
    /// The parameter code (`birthdate`).
    pub param: &'static str,
    pub ty: ParamType,
    pub condition: Condition,
}

/// One `_sort` key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SortKey {
    /// The parameter code (`_id`, `_lastUpdated` or a parameter of the type).
    pub param: &'static str,
    pub ty: ParamType,
    pub descending: bool,
}

/// `_summary` (R4 search.html#summary).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Summary {
    /// The whole resource (`false`, or absent).
    Full,
    /// Only the elements marked `isSummary`.
    True,
    /// `text`, `id`, `meta` and the mandatory top-level elements.
    Text,
    /// Everything but `text`.
    Data,
    /// Only the total (`count`).
    Count,
}

/// `_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Total {
    None,
    Estimate,
    Accurate,
}

/// Limits and context the parser needs from the server.
#[derive(Debug, Clone)]
pub struct ParseOptions {
    /// Ignore unknown parameters (`Prefer: handling=lenient`) instead of failing.
    pub lenient: bool,
    /// Page size when `_count` is absent.
    pub default_count: usize,
    /// Largest page size; a bigger `_count` is cut down to it.
    pub max_count: usize,
    /// The server's FHIR base URL: absolute references under it are local.
    pub base: String,
    /// "Now" in microseconds since the epoch, for `ap` on dates.
    pub now_micros: i64,
}

impl Default for ParseOptions {
    fn default() -> Self {
        ParseOptions {
            lenient: false,
            default_count: 50,
            max_count: 1000,
            base: String::new(),
            now_micros: 0,
        }
    }
}

/// A search over one resource type.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchQuery {
    pub resource_type: String,
    pub filters: Vec<Filter>,
    /// Patient compartment search: `(patient id, the type's compartment params)`.
    pub compartment: Option<(String, Vec<&'static str>)>,
    pub sort: Vec<SortKey>,
    /// The `_sort` text as given (cursors are bound to it).
    pub sort_text: String,
    pub count: usize,
    pub total: Total,
    /// `_summary=count`: only the total.
    pub summary_count: bool,
    /// `_summary`, for rendering.
    pub summary: Summary,
    /// `_elements`: the top-level elements to return (empty: all).
    pub elements: Vec<String>,
    pub cursor: Option<Cursor>,
    /// Only resources whose patient-compartment key is this (`Patient/$everything`);
    /// with it, `resource_type` may be empty (any type) and `types` restricts it.
    pub patient_key: Option<String>,
    /// With `patient_key`: only these types (`_type`); empty means all.
    pub types: Vec<String>,
    /// Also include the non-patient resources (practitioners, organizations,
    /// medications …) the matches reference (`Patient/$everything`).
    pub include_referenced: bool,
    /// `_include`s: resources the matches point at.
    pub includes: Vec<Include>,
    /// `_revinclude`s: resources pointing at the matches.
    pub revincludes: Vec<Include>,
    /// Parameters ignored under lenient handling, as written.
    pub ignored: Vec<String>,
    /// The search parameters as received (minus paging), for `self`/`next` links.
    pub echo: Vec<(String, String)>,
}

/// Parameters that shape the result rather than filter it, and are echoed in links.
const RESULT_PARAMS: [&str; 5] = ["_sort", "_count", "_total", "_summary", "_elements"];
/// Parameters the server accepts and ignores.
const IGNORED: [&str; 2] = ["_format", "_pretty"];

/// Splits on unescaped `sep`, unescaping `\,` `\|` `\$` `\\`.
fn split_escaped(s: &str, sep: char) -> Vec<String> {
    let mut out = vec![String::new()];
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some(n @ (',' | '|' | '$' | '\\')) if n != sep => {
                    // keep escapes of other separators for the next split
                    if let Some(o) = out.last_mut() {
                        o.push('\\');
                        o.push(n);
                    }
                }
                Some(n) => {
                    if let Some(o) = out.last_mut() {
                        o.push(n);
                    }
                }
                None => {}
            }
        } else if c == sep {
            out.push(String::new());
        } else if let Some(o) = out.last_mut() {
            o.push(c);
        }
    }
    out
}

fn unescape(s: &str) -> String {
    split_escaped(s, '\u{0}').concat()
}

fn parse_number(param: &str, text: &str) -> Result<NumberValue, QueryError> {
    let (prefix, num) = Prefix::split(text);
    let value: f64 = num
        .parse()
        .ok()
        .filter(|v: &f64| v.is_finite())
        .ok_or_else(|| bad(param, format!("'{text}' is not a number")))?;
    // R4 search.html#number: the precision of the value sets the range; `1.5e2` has
    // one decimal in its mantissa, so its unit is 10^(2-1).
    let (mantissa, exponent) = match num.split_once(['e', 'E']) {
        Some((m, e)) => (m, e.parse::<i32>().unwrap_or(0)),
        None => (num, 0),
    };
    let decimals = mantissa.split_once('.').map_or(0, |(_, f)| f.len()) as i32;
    let half = 0.5 * 10f64.powi(exponent - decimals);
    let (low, high) = if prefix == Prefix::Ap {
        let d = (value * 0.1).abs();
        (value - d, value + d)
    } else {
        (value - half, value + half)
    };
    Ok(NumberValue {
        prefix,
        value,
        low,
        high,
    })
}

fn parse_date(param: &str, text: &str, now: i64) -> Result<(Prefix, Range), QueryError> {
    let (prefix, d) = Prefix::split(text);
    let mut range = date::parse(d).ok_or_else(|| bad(param, format!("'{text}' is not a date")))?;
    if prefix == Prefix::Ap {
        let widen = ((now - range.low).abs() / 10).max(86_400_000_000 / 2);
        range = Range {
            low: range.low.saturating_sub(widen),
            high: range.high.saturating_add(widen),
        };
    }
    Ok((prefix, range))
}

fn parse_token(value: &str) -> TokenValue {
    let parts = split_escaped(value, '|');
    match parts.as_slice() {
        [code] => TokenValue::Code(unescape(code)),
        [system, code] if system.is_empty() => TokenValue::NoSystem(unescape(code)),
        [system, code] if code.is_empty() => TokenValue::System(unescape(system)),
        [system, code] => TokenValue::SystemCode(unescape(system), unescape(code)),
        _ => TokenValue::Code(unescape(value)),
    }
}

fn parse_reference(
    param: &str,
    value: &str,
    type_modifier: Option<&str>,
    targets: &[&'static str],
    base: &str,
) -> Result<RefValue, QueryError> {
    let value = value.split('|').next().unwrap_or(value);
    let local = if !base.is_empty() {
        value
            .strip_prefix(base)
            .and_then(|rest| rest.strip_prefix('/'))
    } else {
        None
    };
    if value.contains("://") && local.is_none() {
        return Ok(RefValue::Url(value.to_owned()));
    }
    let rel = local.unwrap_or(value);
    let rel = rel.split("/_history/").next().unwrap_or(rel);
    let (ty, id) = match rel.split_once('/') {
        Some((t, id)) => (Some(t.to_owned()), id.to_owned()),
        None => (type_modifier.map(str::to_owned), rel.to_owned()),
    };
    if let Some(t) = &ty {
        if hutong_fhir::ResourceType::parse(t).is_none() {
            return Err(bad(param, format!("'{t}' is not a resource type")));
        }
        if !targets.is_empty() && !targets.contains(&t.as_str()) {
            return Err(bad(
                param,
                format!(
                    "{t} is not a target of this parameter ({})",
                    targets.join(", ")
                ),
            ));
        }
        if type_modifier.is_some_and(|m| m != t) {
            return Err(bad(
                param,
                format!("the value names {t}, the modifier another type"),
            ));
        }
    }
    if hutong_fhir::id::Id::parse(&id).is_none() {
        return Err(bad(param, format!("'{value}' is not a reference or id")));
    }
    Ok(RefValue::Local { ty, id })
}

impl SearchQuery {
    /// Parses the query parameters of a search on `resource_type`.
    pub fn parse(
        resource_type: &str,
        params: &[(String, String)],
        options: &ParseOptions,
    ) -> Result<SearchQuery, QueryError> {
        let reg = registry();
        let mut q = SearchQuery {
            resource_type: resource_type.to_owned(),
            filters: Vec::new(),
            compartment: None,
            sort: Vec::new(),
            sort_text: String::new(),
            count: options.default_count.min(options.max_count),
            total: Total::None,
            summary_count: false,
            summary: Summary::Full,
            elements: Vec::new(),
            cursor: None,
            patient_key: None,
            types: Vec::new(),
            include_referenced: false,
            includes: Vec::new(),
            revincludes: Vec::new(),
            ignored: Vec::new(),
            echo: Vec::new(),
        };
        for (name, value) in params {
            let name = name.as_str();
            if IGNORED.contains(&name) {
                continue;
            }
            if name == "_cursor" {
                q.cursor = Some(
                    Cursor::decode(value)
                        .ok_or_else(|| bad(name, "not a cursor this server issued"))?,
                );
                continue;
            }
            if name == "_count" && q.echo.iter().any(|(n, _)| n == "_count") {
                return Err(bad(name, "given more than once"));
            }
            q.echo.push((name.to_owned(), value.clone()));
            if let Some(kind) = name
                .strip_prefix("_include")
                .map(|m| (false, m))
                .or_else(|| name.strip_prefix("_revinclude").map(|m| (true, m)))
            {
                let (rev, modifier) = kind;
                let iterate = match modifier {
                    "" => false,
                    ":iterate" | ":recurse" => true,
                    _ => return Err(bad(name, "the only modifier is :iterate")),
                };
                let source = if rev { "" } else { q.resource_type.as_str() };
                for inc in parse_include(name, value, iterate, source)? {
                    if rev {
                        q.revincludes.push(inc);
                    } else {
                        if !iterate && inc.source_type != q.resource_type {
                            return Err(bad(
                                name,
                                format!(
                                    "{} is not the searched type (use :iterate)",
                                    inc.source_type
                                ),
                            ));
                        }
                        q.includes.push(inc);
                    }
                }
                continue;
            }
            if RESULT_PARAMS.contains(&name) {
                q.parse_result_param(name, value, options)?;
                continue;
            }
            match q.parse_filter(name, value, options) {
                Ok(f) => q.filters.push(f),
                Err(e) if options.lenient && !e.not_supported && is_unknown(&e) => {
                    q.ignored.push(name.to_owned());
                    q.echo.pop();
                }
                Err(e) => return Err(e),
            }
        }
        if let Some(c) = &q.cursor {
            if c.sort != q.sort_text || c.values.len() != q.sort.len() {
                return Err(bad("_cursor", "was issued for a different _sort"));
            }
        }
        let _ = reg;
        Ok(q)
    }

    /// Parses a system-level search (`GET /fhir?_type=Patient,Observation&…`): the
    /// parameters must be defined, with the same type, on every listed type; without
    /// `_type` only the parameters common to all resources (`_id`, `_lastUpdated`,
    /// `_tag`, `_profile`, `_security`, `_source`) are allowed. Results are ordered by
    /// the `_sort` keys, then by type and id.
    pub fn parse_system(
        params: &[(String, String)],
        options: &ParseOptions,
    ) -> Result<SearchQuery, QueryError> {
        let mut types: Vec<String> = Vec::new();
        let mut rest = Vec::new();
        let mut cursor = None;
        for (name, value) in params {
            if name == "_cursor" {
                cursor = Some(
                    Cursor::decode(value)
                        .ok_or_else(|| bad(name, "not a cursor this server issued"))?,
                );
                continue;
            }
            if name != "_type" {
                rest.push((name.clone(), value.clone()));
                continue;
            }
            for t in value.split(',').map(str::trim).filter(|t| !t.is_empty()) {
                if hutong_fhir::ResourceType::parse(t).is_none() {
                    return Err(bad(name, format!("'{t}' is not a resource type")));
                }
                if !types.iter().any(|x| x == t) {
                    types.push(t.to_owned());
                }
            }
        }
        // Parse against one type, then check the others define the same parameters.
        let probe = types.first().map_or("Basic", String::as_str);
        let mut q = SearchQuery::parse(probe, &rest, options)?;
        for f in &q.filters {
            if types.is_empty() && !f.param.starts_with('_') {
                return Err(bad(
                    f.param,
                    "a search across all types takes only _id, _lastUpdated, _tag, _profile, _security and _source (or give _type)",
                ));
            }
            for t in types.iter().skip(1) {
                if registry().param(t, f.param).map(|p| p.ty) != Some(f.ty) {
                    return Err(bad(f.param, format!("not a parameter of {t}")));
                }
            }
        }
        if (!q.includes.is_empty() || !q.revincludes.is_empty()) && types.len() != 1 {
            return Err(unsupported(
                "_include",
                "includes in a search across types need exactly one _type",
            ));
        }
        if !types.is_empty() {
            q.echo.insert(0, ("_type".to_owned(), types.join(",")));
        }
        q.resource_type = String::new();
        q.types = types;
        q.sort.push(SortKey {
            param: "_type",
            ty: ParamType::Token,
            descending: false,
        });
        q.sort_text = if q.sort_text.is_empty() {
            "_type".to_owned()
        } else {
            format!("{},_type", q.sort_text)
        };
        if let Some(c) = &cursor {
            if c.sort != q.sort_text || c.values.len() != q.sort.len() {
                return Err(bad("_cursor", "was issued for a different _sort"));
            }
        }
        q.cursor = cursor;
        Ok(q)
    }

    /// Every `:in`/`:not-in`/`:above`/`:below` token condition of the query, nested
    /// chains included: the server expands each into a [`Condition::Token`].
    pub fn terminology_mut(&mut self) -> Vec<&mut Condition> {
        fn walk<'a>(f: &'a mut Filter, out: &mut Vec<&'a mut Condition>) {
            match &mut f.condition {
                Condition::Chain { inner, .. } | Condition::Has { inner, .. } => walk(inner, out),
                c @ Condition::Terminology(_) => out.push(c),
                _ => {}
            }
        }
        let mut out = Vec::new();
        for f in &mut self.filters {
            walk(f, &mut out);
        }
        out
    }

    fn parse_result_param(
        &mut self,
        name: &str,
        value: &str,
        options: &ParseOptions,
    ) -> Result<(), QueryError> {
        match name {
            "_count" => {
                let n: usize = value
                    .parse()
                    .map_err(|_| bad(name, format!("'{value}' is not a non-negative integer")))?;
                self.count = n.min(options.max_count);
            }
            "_total" => {
                self.total = match value {
                    "none" => Total::None,
                    "estimate" => Total::Estimate,
                    "accurate" => Total::Accurate,
                    _ => return Err(bad(name, "must be none, estimate or accurate")),
                }
            }
            "_summary" => {
                self.summary = match value {
                    "count" => Summary::Count,
                    "false" => Summary::Full,
                    "true" => Summary::True,
                    "text" => Summary::Text,
                    "data" => Summary::Data,
                    _ => return Err(bad(name, "must be true, false, count, text or data")),
                };
                self.summary_count = self.summary == Summary::Count;
            }
            "_elements" => {
                for e in value.split(',').map(str::trim).filter(|e| !e.is_empty()) {
                    let ok = e
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.');
                    if !ok {
                        return Err(bad(name, format!("'{e}' is not an element name")));
                    }
                    // Only top-level elements are selected; `a.b` selects `a`.
                    let top = e.split('.').next().unwrap_or(e).to_owned();
                    if !self.elements.contains(&top) {
                        self.elements.push(top);
                    }
                }
            }
            "_sort" => {
                if !self.sort.is_empty() {
                    return Err(bad(name, "given more than once"));
                }
                self.sort_text = value.to_owned();
                for key in value.split(',') {
                    let (descending, code) = match key.strip_prefix('-') {
                        Some(c) => (true, c),
                        None => (false, key),
                    };
                    let (code, ty) = match code {
                        "_id" => ("_id", ParamType::Token),
                        "_lastUpdated" => ("_lastUpdated", ParamType::Date),
                        _ => {
                            let p = registry()
                                .param(&self.resource_type, code)
                                .filter(|p| p.is_indexed())
                                .ok_or_else(|| {
                                    bad(
                                        name,
                                        format!("cannot sort {} by '{code}'", self.resource_type),
                                    )
                                })?;
                            (p.code, p.ty)
                        }
                    };
                    if self.sort.iter().any(|k| k.param == code) {
                        return Err(bad(name, format!("'{code}' appears twice")));
                    }
                    self.sort.push(SortKey {
                        param: code,
                        ty,
                        descending,
                    });
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// Parses one filter parameter of this query's resource type.
    fn parse_filter(
        &self,
        raw: &str,
        value: &str,
        options: &ParseOptions,
    ) -> Result<Filter, QueryError> {
        parse_filter(&self.resource_type, raw, raw, value, options, 0)
    }
}

/// How deep chains and `_has` may nest (R4 leaves it to the server; the issue asks 3).
pub const MAX_CHAIN_DEPTH: usize = 3;

/// Parses `name[:modifier]=value` for `resource_type`. `raw` is the whole parameter
/// name as the client wrote it (for errors); `name` is what is left to parse at this
/// level of a chain.
fn parse_filter(
    resource_type: &str,
    raw: &str,
    name: &str,
    value: &str,
    options: &ParseOptions,
    depth: usize,
) -> Result<Filter, QueryError> {
    if depth > MAX_CHAIN_DEPTH {
        return Err(unsupported(
            raw,
            format!("chains and _has nest at most {MAX_CHAIN_DEPTH} levels"),
        ));
    }
    if let Some(rest) = name.strip_prefix("_has:") {
        // _has:Source:param:rest (R4 search.html#has)
        let mut parts = rest.splitn(3, ':');
        let (Some(source), Some(param), Some(inner)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(bad(
                raw,
                "_has needs _has:Type:reference-parameter:parameter",
            ));
        };
        if hutong_fhir::ResourceType::parse(source).is_none() {
            return Err(bad(raw, format!("'{source}' is not a resource type")));
        }
        let p = registry()
            .param(source, param)
            .filter(|p| p.ty == ParamType::Reference)
            .ok_or_else(|| {
                bad(
                    raw,
                    format!("{source} has no reference parameter '{param}'"),
                )
            })?;
        if !p.targets.is_empty() && !p.targets.contains(&resource_type) {
            return Err(bad(
                raw,
                format!("{source}.{param} cannot point at {resource_type}"),
            ));
        }
        let inner = parse_filter(source, raw, inner, value, options, depth + 1)?;
        return Ok(Filter {
            param: p.code,
            ty: ParamType::Reference,
            condition: Condition::Has {
                source_type: source.to_owned(),
                inner: Box::new(inner),
            },
        });
    }
    if let Some((head, rest)) = name.split_once('.') {
        // chained: ref[:Type].rest (R4 search.html#chaining)
        let (code, type_modifier) = match head.split_once(':') {
            Some((c, t)) => (c, Some(t)),
            None => (head, None),
        };
        let p = registry()
            .param(resource_type, code)
            .filter(|p| p.ty == ParamType::Reference)
            .ok_or_else(|| {
                bad(
                    raw,
                    format!("{resource_type} has no reference parameter '{code}' to chain"),
                )
            })?;
        let mut also = Vec::new();
        let target = match type_modifier {
            Some(t) => {
                if hutong_fhir::ResourceType::parse(t).is_none()
                    || (!p.targets.is_empty() && !p.targets.contains(&t))
                {
                    return Err(bad(raw, format!("'{t}' is not a target of {code}")));
                }
                t
            }
            None => {
                // The targets that have the chained parameter. Several may remain when
                // it has the same type on each (`patient.identifier`: Patient, Group);
                // the chain then follows the reference to any of them.
                let next = rest.split(['.', ':']).next().unwrap_or(rest);
                let fits: Vec<&'static str> = p
                    .targets
                    .iter()
                    .copied()
                    .filter(|t| registry().param(t, next).is_some())
                    .collect();
                let ambiguous = || {
                    bad(
                        raw,
                        format!(
                            "{code} may point at several types with '{next}'; name one ({code}:Type.{rest})"
                        ),
                    )
                };
                let Some(first) = fits.first().copied() else {
                    return Err(ambiguous());
                };
                let ty = registry().param(first, next).map(|p| p.ty);
                let same = fits
                    .iter()
                    .all(|t| registry().param(t, next).map(|p| p.ty) == ty);
                if !same || (fits.len() > 1 && rest.contains('.')) {
                    return Err(ambiguous());
                }
                for t in &fits[1..] {
                    // each must accept the value too
                    parse_filter(t, raw, rest, value, options, depth + 1)?;
                    also.push((*t).to_owned());
                }
                first
            }
        };
        let inner = parse_filter(target, raw, rest, value, options, depth + 1)?;
        return Ok(Filter {
            param: p.code,
            ty: ParamType::Reference,
            condition: Condition::Chain {
                target_type: target.to_owned(),
                also,
                inner: Box::new(inner),
            },
        });
    }
    let (code, modifier) = match name.split_once(':') {
        Some((c, m)) => (c, Some(m)),
        None => (name, None),
    };
    let p = registry()
        .param(resource_type, code)
        .ok_or_else(|| bad(raw, format!("unknown search parameter for {resource_type}")))?;
    if value.is_empty() {
        return Err(bad(raw, "empty value"));
    }
    let filter = |condition| {
        Ok(Filter {
            param: p.code,
            ty: p.ty,
            condition,
        })
    };
    if modifier == Some("missing") {
        return match value {
            "true" => filter(Condition::Missing(true)),
            "false" => filter(Condition::Missing(false)),
            _ => Err(bad(raw, "must be true or false")),
        };
    }
    if p.code == "_id" && modifier.is_none() {
        return filter(Condition::Id(split_escaped(value, ',')));
    }
    if p.code == "_lastUpdated" && modifier.is_none() {
        let v = split_escaped(value, ',')
            .iter()
            .map(|v| parse_date(raw, v, options.now_micros))
            .collect::<Result<_, _>>()?;
        return filter(Condition::LastUpdated(v));
    }
    let composite = p.ty == ParamType::Composite && p.expression.is_some();
    if !(p.is_indexed() || composite) {
        return Err(unsupported(
            raw,
            format!(
                "{} parameters like this one are not supported yet",
                p.ty.code()
            ),
        ));
    }
    let values = split_escaped(value, ',');
    if values.iter().any(String::is_empty) {
        return Err(bad(raw, "empty value in a list"));
    }
    let bad_modifier = || {
        Err(bad(
            raw,
            format!(
                "modifier ':{}' is not supported on {} parameters",
                modifier.unwrap_or(""),
                p.ty.code()
            ),
        ))
    };
    match p.ty {
        ParamType::String => {
            let mode = match modifier {
                None => StringMode::Prefix,
                Some("exact") => StringMode::Exact,
                Some("contains") => StringMode::Contains,
                _ => return bad_modifier(),
            };
            let values = values
                .iter()
                .map(|v| {
                    let v = unescape(v);
                    if mode == StringMode::Exact {
                        v
                    } else {
                        normalize(&v)
                    }
                })
                .collect();
            filter(Condition::String(mode, values))
        }
        ParamType::Token => match modifier {
            None | Some("not") => filter(Condition::Token {
                not: modifier.is_some(),
                values: values.iter().map(|v| parse_token(v)).collect(),
            }),
            Some("text") => filter(Condition::TokenText(
                values.iter().map(|v| normalize(&unescape(v))).collect(),
            )),
            Some("of-type") => {
                let v = values
                    .iter()
                    .map(|v| match split_escaped(v, '|').as_slice() {
                        [ts, tc, value] if !tc.is_empty() && !value.is_empty() => {
                            Ok(TokenValue::SystemCode(
                                format!("{OF_TYPE}{}|{}", unescape(ts), unescape(tc)),
                                unescape(value),
                            ))
                        }
                        _ => Err(bad(
                            raw,
                            format!("'{v}' is not type-system|type-code|value"),
                        )),
                    })
                    .collect::<Result<_, _>>()?;
                filter(Condition::Token {
                    not: false,
                    values: v,
                })
            }
            Some(m @ ("in" | "not-in")) => {
                if values.len() != 1 {
                    return Err(bad(raw, "takes one ValueSet URL"));
                }
                filter(Condition::Terminology(Terminology::In {
                    not: m == "not-in",
                    valueset: unescape(&values[0]),
                }))
            }
            Some(m @ ("below" | "above")) => {
                if values.len() != 1 {
                    return Err(bad(raw, "takes one system|code"));
                }
                match parse_token(&values[0]) {
                    TokenValue::SystemCode(system, code) => {
                        filter(Condition::Terminology(Terminology::Hierarchy {
                            below: m == "below",
                            system,
                            code,
                        }))
                    }
                    _ => Err(bad(raw, format!(":{m} needs system|code"))),
                }
            }
            _ => bad_modifier(),
        },
        ParamType::Date => {
            if modifier.is_some() {
                return bad_modifier();
            }
            let v = values
                .iter()
                .map(|v| parse_date(raw, v, options.now_micros))
                .collect::<Result<_, _>>()?;
            filter(Condition::Date(v))
        }
        ParamType::Number => {
            if modifier.is_some() {
                return bad_modifier();
            }
            let v = values
                .iter()
                .map(|v| parse_number(raw, v))
                .collect::<Result<_, _>>()?;
            filter(Condition::Number(v))
        }
        ParamType::Quantity => {
            if modifier.is_some() {
                return bad_modifier();
            }
            let v = values
                .iter()
                .map(|v| parse_quantity(raw, v))
                .collect::<Result<_, _>>()?;
            filter(Condition::Quantity(v))
        }
        ParamType::Reference => match modifier {
            Some("identifier") => filter(Condition::ReferenceIdentifier(
                values
                    .iter()
                    .map(|v| match parse_token(v) {
                        TokenValue::Code(c) => (None, c),
                        TokenValue::SystemCode(s, c) => (Some(s), c),
                        TokenValue::NoSystem(c) => (Some(String::new()), c),
                        TokenValue::System(s) => (Some(s), String::new()),
                    })
                    .collect(),
            )),
            Some(t) if hutong_fhir::ResourceType::parse(t).is_some() => {
                let v = values
                    .iter()
                    .map(|v| parse_reference(raw, v, Some(t), &p.targets, &options.base))
                    .collect::<Result<_, _>>()?;
                filter(Condition::Reference(v))
            }
            None => {
                let v = values
                    .iter()
                    .map(|v| parse_reference(raw, v, None, &p.targets, &options.base))
                    .collect::<Result<_, _>>()?;
                filter(Condition::Reference(v))
            }
            _ => bad_modifier(),
        },
        ParamType::Uri => {
            let mode = match modifier {
                None => UriMode::Exact,
                Some("below") => UriMode::Below,
                Some("above") => UriMode::Above,
                _ => return bad_modifier(),
            };
            filter(Condition::Uri(
                mode,
                values.iter().map(|v| unescape(v)).collect(),
            ))
        }
        ParamType::Composite => {
            if modifier.is_some() {
                return bad_modifier();
            }
            let v = values
                .iter()
                .map(|v| parse_composite(resource_type, raw, p, v, options))
                .collect::<Result<_, _>>()?;
            filter(Condition::Composite(v))
        }
        ParamType::Special => Err(unsupported(
            raw,
            format!("{} parameters are not supported", p.ty.code()),
        )),
    }
}

fn parse_quantity(raw: &str, v: &str) -> Result<QuantityValue, QueryError> {
    let parts = split_escaped(v, '|');
    let number = parse_number(raw, &parts[0])?;
    let (system, code) = match parts.as_slice() {
        [_] => (None, None),
        [_, s, c] => (
            (!s.is_empty()).then(|| unescape(s)),
            (!c.is_empty()).then(|| unescape(c)),
        ),
        _ => return Err(bad(raw, format!("'{v}' is not number|system|code"))),
    };
    let canonical = match (&system, &code) {
        (Some(s), Some(c)) if s == crate::units::UCUM => {
            crate::units::factor(c).map(|(f, d)| (d, f))
        }
        _ => None,
    };
    Ok(QuantityValue {
        number,
        system,
        code,
        canonical,
    })
}

/// A reference component in the columns composite rows keep it in: `type|id`, a bare
/// id, or the URL with no system (as `extract::component_parts` writes them).
fn reference_token(r: RefValue) -> TokenValue {
    match r {
        RefValue::Local { ty: Some(t), id } => TokenValue::SystemCode(t, id),
        RefValue::Local { ty: None, id } => TokenValue::Code(id),
        RefValue::Url(u) => TokenValue::NoSystem(u),
    }
}

/// `first$second` of a two-component composite parameter, each part parsed as the
/// type of its component parameter.
fn parse_composite(
    resource_type: &str,
    raw: &str,
    p: &crate::registry::SearchParam,
    value: &str,
    options: &ParseOptions,
) -> Result<CompositeValue, QueryError> {
    let [(c1, _), (c2, _)] = p.components.as_slice() else {
        return Err(unsupported(
            raw,
            "composites of more than two components are not supported",
        ));
    };
    let (Some(p1), Some(p2)) = (
        registry().param(resource_type, c1),
        registry().param(resource_type, c2),
    ) else {
        return Err(unsupported(raw, "a component is not a known parameter"));
    };
    let parts = split_escaped(value, '$');
    let [first, second] = parts.as_slice() else {
        return Err(bad(raw, format!("'{value}' is not first$second")));
    };
    if first.is_empty() || second.is_empty() {
        return Err(bad(raw, format!("'{value}' has an empty component")));
    }
    let first = match p1.ty {
        ParamType::Token => parse_token(first),
        ParamType::Reference => reference_token(parse_reference(
            raw,
            first,
            None,
            &p1.targets,
            &options.base,
        )?),
        _ => {
            return Err(unsupported(
                raw,
                "the first component must be a token or reference",
            ))
        }
    };
    let second = match p2.ty {
        ParamType::Token => CompositePart::Token(parse_token(second)),
        ParamType::Reference => CompositePart::Token(reference_token(parse_reference(
            raw,
            second,
            None,
            &p2.targets,
            &options.base,
        )?)),
        ParamType::Uri => CompositePart::Token(TokenValue::NoSystem(unescape(second))),
        ParamType::String => CompositePart::String(normalize(&unescape(second))),
        ParamType::Quantity => CompositePart::Quantity(parse_quantity(raw, second)?),
        ParamType::Number => CompositePart::Number(parse_number(raw, second)?),
        ParamType::Date => {
            let (prefix, range) = parse_date(raw, second, options.now_micros)?;
            CompositePart::Date(prefix, range)
        }
        _ => return Err(unsupported(raw, "unsupported component type")),
    };
    Ok(CompositeValue { first, second })
}

/// `Source:param[:Target]`, `Source:*` (every reference parameter of `Source`) or
/// `*` (every reference parameter of the searched type, `searched`).
fn parse_include(
    name: &str,
    value: &str,
    iterate: bool,
    searched: &str,
) -> Result<Vec<Include>, QueryError> {
    let value = if value == "*" && !searched.is_empty() {
        format!("{searched}:*")
    } else {
        value.to_owned()
    };
    let mut parts = value.split(':');
    let (Some(source), Some(param)) = (parts.next(), parts.next()) else {
        return Err(bad(name, "must be Type:parameter[:TargetType]"));
    };
    if param == "*" {
        if hutong_fhir::ResourceType::parse(source).is_none() {
            return Err(bad(name, format!("'{source}' is not a resource type")));
        }
        let target_type = match parts.next() {
            Some(t) if hutong_fhir::ResourceType::parse(t).is_some() => Some(t.to_owned()),
            Some(t) => return Err(bad(name, format!("'{t}' is not a resource type"))),
            None => None,
        };
        return Ok(registry()
            .params(source)
            .iter()
            .filter(|p| p.ty == ParamType::Reference && p.is_indexed())
            .filter(|p| {
                target_type
                    .as_deref()
                    .is_none_or(|t| p.targets.is_empty() || p.targets.contains(&t))
            })
            .map(|p| Include {
                source_type: source.to_owned(),
                param: p.code,
                target_type: target_type.clone(),
                iterate,
            })
            .collect());
    }
    let p = registry()
        .param(source, param)
        .filter(|p| p.ty == ParamType::Reference)
        .ok_or_else(|| {
            bad(
                name,
                format!("{source} has no reference parameter '{param}'"),
            )
        })?;
    let target_type = match parts.next() {
        Some(t) if hutong_fhir::ResourceType::parse(t).is_some() => Some(t.to_owned()),
        Some(t) => return Err(bad(name, format!("'{t}' is not a resource type"))),
        None => None,
    };
    if parts.next().is_some() {
        return Err(bad(name, "must be Type:parameter[:TargetType]"));
    }
    Ok(vec![Include {
        source_type: source.to_owned(),
        param: p.code,
        target_type,
        iterate,
    }])
}

fn is_unknown(e: &QueryError) -> bool {
    e.message.starts_with("unknown search parameter")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(rt: &str, qs: &[(&str, &str)]) -> Result<SearchQuery, QueryError> {
        let params: Vec<(String, String)> = qs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        SearchQuery::parse(
            rt,
            &params,
            &ParseOptions {
                base: "http://h/fhir".into(),
                ..Default::default()
            },
        )
    }

    #[test]
    fn tokens_split_into_the_four_forms() {
        let s = q(
            "Observation",
            &[("code", "http://loinc.org|4548-4,|x,s|,plain")],
        )
        .unwrap();
        assert_eq!(
            s.filters[0].condition,
            Condition::Token {
                not: false,
                values: vec![
                    TokenValue::SystemCode("http://loinc.org".into(), "4548-4".into()),
                    TokenValue::NoSystem("x".into()),
                    TokenValue::System("s".into()),
                    TokenValue::Code("plain".into()),
                ]
            }
        );
    }

    #[test]
    fn errors_name_the_parameter() {
        let e = q("Patient", &[("nonsense", "1")]).unwrap_err();
        assert_eq!(e.param, "nonsense");
        let e = q("Patient", &[("birthdate", "gt19x")]).unwrap_err();
        assert_eq!(e.param, "birthdate");
        let e = q("Patient", &[("name:below", "x")]).unwrap_err();
        assert!(e.message.contains("below"), "{e}");
        let e = q("Observation", &[("subject", "Nope/1")]).unwrap_err();
        assert_eq!(e.param, "subject");
        assert!(q("Patient", &[("_count", "-1")]).is_err());
        assert!(q("Patient", &[("_sort", "nonsense")]).is_err());
    }

    #[test]
    fn lenient_handling_ignores_unknown_parameters_only() {
        let params = vec![
            ("nonsense".to_string(), "1".to_string()),
            ("gender".into(), "male".into()),
        ];
        let opts = ParseOptions {
            lenient: true,
            ..Default::default()
        };
        let s = SearchQuery::parse("Patient", &params, &opts).unwrap();
        assert_eq!(s.ignored, ["nonsense"]);
        assert_eq!(s.filters.len(), 1);
        let params = vec![("birthdate".to_string(), "x".to_string())];
        assert!(SearchQuery::parse("Patient", &params, &opts).is_err());
    }

    #[test]
    fn references_accept_ids_types_and_local_absolute_urls() {
        let s = q(
            "Observation",
            &[(
                "subject",
                "Patient/1,2,http://h/fhir/Patient/3,http://elsewhere/Patient/4",
            )],
        )
        .unwrap();
        assert_eq!(
            s.filters[0].condition,
            Condition::Reference(vec![
                RefValue::Local {
                    ty: Some("Patient".into()),
                    id: "1".into()
                },
                RefValue::Local {
                    ty: None,
                    id: "2".into()
                },
                RefValue::Local {
                    ty: Some("Patient".into()),
                    id: "3".into()
                },
                RefValue::Url("http://elsewhere/Patient/4".into()),
            ])
        );
        let s = q("Observation", &[("subject:Patient", "5")]).unwrap();
        assert_eq!(
            s.filters[0].condition,
            Condition::Reference(vec![RefValue::Local {
                ty: Some("Patient".into()),
                id: "5".into()
            }])
        );
    }

    #[test]
    fn numbers_carry_their_precision() {
        let n = parse_number("x", "100").unwrap();
        assert_eq!((n.low, n.high), (99.5, 100.5));
        let n = parse_number("x", "1.5e2").unwrap();
        assert_eq!((n.low, n.high), (145.0, 155.0));
        let n = parse_number("x", "gt1.50").unwrap();
        assert_eq!(n.prefix, Prefix::Gt);
        assert!((n.high - 1.505).abs() < 1e-12);
    }

    #[test]
    fn sort_and_count_are_parsed_and_bounded() {
        let s = q(
            "Observation",
            &[("_sort", "-date,_id"), ("_count", "100000")],
        )
        .unwrap();
        assert_eq!(s.sort.len(), 2);
        assert!(s.sort[0].descending);
        assert_eq!(s.count, 1000);
    }
}
