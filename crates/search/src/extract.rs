//! Index values of a resource, extracted with FHIRPath from the official expressions.
//!
//! [`extract`] evaluates every indexed parameter of the resource's type and turns each
//! resulting item into rows of one of seven shapes, one per index table. It runs at
//! write time, inside the store's write transaction, so it must stay cheap: the
//! expressions are compiled once ([`crate::registry`]), evaluation borrows from the
//! JSON, and `resolve()` is answered from the reference text alone (a stub resource of
//! the referenced type) so `subject.where(resolve() is Patient)` works without I/O.

use std::collections::HashMap;
use std::sync::OnceLock;

use hutong_fhirpath::{Context, Item};
use serde_json::Value;

use crate::date::{self, Range};
use crate::normalize::index_form;
use crate::registry::{registry, ParamType, SearchParam};
use crate::units;

/// Longest token code, URI or reference kept in an index (longer values are not indexed:
/// B-tree keys must stay small, and no real code or identifier is this long).
pub const MAX_KEY_BYTES: usize = 512;

/// `name=张`: one string value of a string parameter.
#[derive(Debug, Clone, PartialEq)]
pub struct StringRow {
    pub param: &'static str,
    /// [`crate::normalize::index_form`] of the value.
    pub norm: String,
    /// The value as written (for `:exact`).
    pub exact: String,
}

/// One coded value: `system|code`, with a display text for `:text`.
#[derive(Debug, Clone, PartialEq)]
pub struct TokenRow {
    pub param: &'static str,
    /// `""` when the value has no system.
    pub system: String,
    pub code: String,
    /// Normalised `CodeableConcept.text` / `Coding.display` / `Identifier.type.text`.
    pub text: String,
}

/// A date, dateTime, instant or period as `[low, high]` microseconds.
#[derive(Debug, Clone, PartialEq)]
pub struct DateRow {
    pub param: &'static str,
    pub low: i64,
    pub high: i64,
}

/// A number.
#[derive(Debug, Clone, PartialEq)]
pub struct NumberRow {
    pub param: &'static str,
    pub value: f64,
}

/// A quantity: value with `system|code` and the human unit.
#[derive(Debug, Clone, PartialEq)]
pub struct QuantityRow {
    pub param: &'static str,
    pub value: f64,
    pub system: String,
    pub code: String,
    pub unit: String,
    /// The value in canonical UCUM base units, when the unit converts
    /// ([`crate::units::canonical`]); `ccode` then names the dimension, else `""`.
    pub cvalue: Option<f64>,
    pub ccode: String,
}

/// One combination of the component values of a composite parameter, taken from the
/// same element (R4 search.html#composite). Component 1 is a token (`s1|c1`) or a
/// reference (`type`, `id`); component 2 is in the fields of its type.
#[derive(Debug, Clone, PartialEq)]
pub struct CompositeRow {
    pub param: &'static str,
    pub s1: String,
    pub c1: String,
    /// Token system, reference type, quantity system ([`CANONICAL`] for the canonical
    /// UCUM form of a quantity, indexed next to its own unit).
    pub s2: String,
    /// Token code, reference id, normalised string, uri or quantity unit code.
    pub c2: String,
    /// Number or quantity value.
    pub n2: Option<f64>,
    /// Date range.
    pub lo2: Option<i64>,
    pub hi2: Option<i64>,
}

/// `s2` of the canonical-unit row of a composite quantity component.
pub const CANONICAL: &str = "canonical";

/// A reference: a local `type/id` when it has one, the URL when it is absolute or
/// canonical, and the logical identifier when it has one (for `:identifier`).
#[derive(Debug, Clone, PartialEq)]
pub struct ReferenceRow {
    pub param: &'static str,
    /// `""` when the reference names no resource type.
    pub target_type: String,
    pub target_id: String,
    /// Absolute or canonical URL (without `|version`), `""` for relative references.
    pub url: String,
    pub identifier_system: String,
    pub identifier_value: String,
}

/// A URI.
#[derive(Debug, Clone, PartialEq)]
pub struct UriRow {
    pub param: &'static str,
    pub uri: String,
}

/// Everything the store writes next to one resource version.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct IndexRows {
    pub strings: Vec<StringRow>,
    pub tokens: Vec<TokenRow>,
    pub dates: Vec<DateRow>,
    pub numbers: Vec<NumberRow>,
    pub quantities: Vec<QuantityRow>,
    pub references: Vec<ReferenceRow>,
    pub uris: Vec<UriRow>,
    pub composites: Vec<CompositeRow>,
}

impl IndexRows {
    /// Total number of rows.
    pub fn len(&self) -> usize {
        self.strings.len()
            + self.tokens.len()
            + self.dates.len()
            + self.numbers.len()
            + self.quantities.len()
            + self.references.len()
            + self.uris.len()
            + self.composites.len()
    }

    /// No rows at all.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

fn push_unique<T: PartialEq>(v: &mut Vec<T>, row: T) {
    if !v.contains(&row) {
        v.push(row);
    }
}

/// A `{"resourceType": T}` per resource type: what `resolve()` yields while indexing.
fn stubs() -> &'static HashMap<&'static str, Value> {
    static STUBS: OnceLock<HashMap<&'static str, Value>> = OnceLock::new();
    STUBS.get_or_init(|| {
        hutong_fhir::r4::metadata()
            .resource_types()
            .iter()
            .map(|t| (*t, serde_json::json!({ "resourceType": t })))
            .collect()
    })
}

/// The `(type, id)` a literal reference names: `Patient/1`, `Patient/1/_history/2`,
/// `http://host/fhir/Patient/1`. `None` for contained (`#x`), URNs and anything else.
pub fn parse_reference(reference: &str) -> Option<(&'static str, &str)> {
    let unversioned = match reference.rsplit_once("/_history/") {
        Some((head, _)) => head,
        None => reference,
    };
    let (head, id) = unversioned.rsplit_once('/')?;
    let ty = head.rsplit('/').next()?;
    let ty = hutong_fhir::ResourceType::parse(ty)?;
    let relative = head == ty.as_str();
    let absolute = head.starts_with("http://") || head.starts_with("https://");
    (hutong_fhir::id::Id::parse(id).is_some() && (relative || absolute)).then(|| (ty.as_str(), id))
}

/// Index rows of a resource: every indexed parameter of its type, evaluated.
/// Expression errors (which the R4 definitions do not cause on valid resources) leave
/// that parameter unindexed for this resource rather than failing the write.
pub fn extract(resource: &Value) -> IndexRows {
    let mut rows = IndexRows::default();
    let Some(rt) = resource.get("resourceType").and_then(Value::as_str) else {
        return rows;
    };
    let stubs = stubs();
    let ctx = Context::r4().with_resolver(move |r: &str| {
        parse_reference(r)
            .map(|(t, _)| t)
            .or_else(|| r.split('/').next())
            .and_then(|t| stubs.get(t))
    });
    for p in registry().params(rt) {
        if p.ty == ParamType::Composite {
            add_composite(&mut rows, rt, p, resource, &ctx);
            continue;
        }
        if !p.is_indexed() {
            continue;
        }
        let Some(expr) = &p.expression else { continue };
        let Ok(items) = expr.evaluate(resource, &ctx) else {
            continue;
        };
        for item in items.iter() {
            add_item(&mut rows, p, item);
        }
    }
    rows
}

/// One value of a composite component: `(system, code, number, date range)`.
type Part = (String, String, Option<f64>, Option<(i64, i64)>);

/// The values of one component evaluated on one element, in the columns they take.
fn component_parts(rows: IndexRows, first: bool) -> Vec<Part> {
    let mut out: Vec<Part> = Vec::new();
    out.extend(
        rows.tokens
            .into_iter()
            .map(|t| (t.system, t.code, None, None)),
    );
    out.extend(rows.references.into_iter().map(|r| {
        if r.target_id.is_empty() {
            (String::new(), r.url, None, None)
        } else {
            (r.target_type, r.target_id, None, None)
        }
    }));
    if first {
        return out;
    }
    out.extend(
        rows.strings
            .into_iter()
            .map(|r| (String::new(), r.norm, None, None)),
    );
    out.extend(
        rows.uris
            .into_iter()
            .map(|r| (String::new(), r.uri, None, None)),
    );
    out.extend(
        rows.numbers
            .into_iter()
            .map(|r| (String::new(), String::new(), Some(r.value), None)),
    );
    out.extend(
        rows.dates
            .into_iter()
            .map(|r| (String::new(), String::new(), None, Some((r.low, r.high)))),
    );
    for q in rows.quantities {
        let code = if q.code.is_empty() { q.unit } else { q.code };
        if let Some(cv) = q.cvalue {
            out.push((CANONICAL.to_owned(), q.ccode, Some(cv), None));
        }
        out.push((q.system, code, Some(q.value), None));
    }
    out
}

/// Rows of a two-component composite parameter: for each element its expression
/// selects, every pair of the components' values on that element. Composites of three
/// components (MolecularSequence coordinates) are not indexed.
fn add_composite(
    rows: &mut IndexRows,
    rt: &str,
    p: &SearchParam,
    resource: &Value,
    ctx: &Context<'_>,
) {
    let (Some(expr), [(code1, e1), (code2, e2)]) = (&p.expression, p.components.as_slice()) else {
        return;
    };
    let reg = registry();
    let (Some(p1), Some(p2)) = (reg.param(rt, code1), reg.param(rt, code2)) else {
        return;
    };
    let Ok(elements) = expr.evaluate(resource, ctx) else {
        return;
    };
    for element in elements.iter() {
        let parts = |e: &hutong_fhirpath::Expr, cp: &SearchParam, first: bool| {
            let mut tmp = IndexRows::default();
            if let Ok(items) = e.evaluate_on(resource, element, ctx) {
                for item in items.iter() {
                    add_item(&mut tmp, cp, item);
                }
            }
            component_parts(tmp, first)
        };
        let firsts = parts(e1, p1, true);
        if firsts.is_empty() {
            continue;
        }
        let seconds = parts(e2, p2, false);
        for (s1, c1, _, _) in &firsts {
            for (s2, c2, n2, range) in &seconds {
                push_unique(
                    &mut rows.composites,
                    CompositeRow {
                        param: p.code,
                        s1: s1.clone(),
                        c1: c1.clone(),
                        s2: s2.clone(),
                        c2: c2.clone(),
                        n2: *n2,
                        lo2: range.map(|r| r.0),
                        hi2: range.map(|r| r.1),
                    },
                );
            }
        }
    }
}

fn text_of<'a>(item: &'a Item<'_>) -> Option<std::borrow::Cow<'a, str>> {
    match item {
        Item::Node(n) => match n.value? {
            Value::String(s) => Some(std::borrow::Cow::Borrowed(s.as_str())),
            Value::Bool(b) => Some(std::borrow::Cow::Owned(b.to_string())),
            Value::Number(x) => Some(std::borrow::Cow::Owned(x.to_string())),
            _ => None,
        },
        Item::String(s) => Some(std::borrow::Cow::Borrowed(s)),
        Item::Boolean(b) => Some(std::borrow::Cow::Owned(b.to_string())),
        Item::Integer(i) => Some(std::borrow::Cow::Owned(i.to_string())),
        Item::Decimal(d) => Some(std::borrow::Cow::Owned(d.to_string())),
        Item::Date(d) | Item::DateTime(d) => Some(std::borrow::Cow::Owned(d.to_string())),
        _ => None,
    }
}

fn str_field<'a>(v: &'a Value, name: &str) -> &'a str {
    v.get(name).and_then(Value::as_str).unwrap_or("")
}

fn add_item(rows: &mut IndexRows, p: &SearchParam, item: &Item<'_>) {
    let (ty, value) = match item {
        Item::Node(n) => (n.ty.name, n.value),
        _ => ("", None),
    };
    match p.ty {
        ParamType::String => add_string(rows, p.code, ty, value, item),
        ParamType::Token => add_token(rows, p.code, ty, value, item),
        ParamType::Date => add_date(rows, p.code, ty, value, item),
        ParamType::Number => {
            if let Some(v) = text_of(item).and_then(|t| t.parse::<f64>().ok()) {
                push_unique(
                    &mut rows.numbers,
                    NumberRow {
                        param: p.code,
                        value: v,
                    },
                );
            }
        }
        ParamType::Quantity => add_quantity(rows, p.code, value, item),
        ParamType::Reference => add_reference(rows, p.code, ty, value, item),
        ParamType::Uri => {
            if let Some(u) = text_of(item) {
                if !u.is_empty() && u.len() <= MAX_KEY_BYTES {
                    push_unique(
                        &mut rows.uris,
                        UriRow {
                            param: p.code,
                            uri: u.into_owned(),
                        },
                    );
                }
            }
        }
        ParamType::Composite | ParamType::Special => {}
    }
}

fn push_string(rows: &mut IndexRows, param: &'static str, s: &str) {
    if s.trim().is_empty() {
        return;
    }
    push_unique(
        &mut rows.strings,
        StringRow {
            param,
            norm: index_form(s),
            exact: s.to_owned(),
        },
    );
}

fn add_string(
    rows: &mut IndexRows,
    param: &'static str,
    ty: &str,
    value: Option<&Value>,
    item: &Item<'_>,
) {
    match (ty, value) {
        ("HumanName", Some(v)) => {
            for f in ["family", "text"] {
                push_string(rows, param, str_field(v, f));
            }
            for f in ["given", "prefix", "suffix"] {
                for s in v.get(f).and_then(Value::as_array).into_iter().flatten() {
                    push_string(rows, param, s.as_str().unwrap_or(""));
                }
            }
        }
        ("Address", Some(v)) => {
            for f in ["city", "district", "state", "postalCode", "country", "text"] {
                push_string(rows, param, str_field(v, f));
            }
            for s in v
                .get("line")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                push_string(rows, param, s.as_str().unwrap_or(""));
            }
        }
        (_, Some(Value::Object(_))) => {}
        _ => {
            if let Some(s) = text_of(item) {
                push_string(rows, param, &s);
            }
        }
    }
}

fn push_token(rows: &mut IndexRows, param: &'static str, system: &str, code: &str, text: &str) {
    if code.len() > MAX_KEY_BYTES
        || system.len() > MAX_KEY_BYTES
        || (code.is_empty() && text.is_empty())
    {
        return;
    }
    push_unique(
        &mut rows.tokens,
        TokenRow {
            param,
            system: system.to_owned(),
            code: code.to_owned(),
            text: index_form(text),
        },
    );
}

fn add_token(
    rows: &mut IndexRows,
    param: &'static str,
    ty: &str,
    value: Option<&Value>,
    item: &Item<'_>,
) {
    match (ty, value) {
        ("CodeableConcept", Some(v)) => {
            let text = str_field(v, "text");
            let codings = v.get("coding").and_then(Value::as_array);
            for c in codings.into_iter().flatten() {
                let display = match str_field(c, "display") {
                    "" => text,
                    d => d,
                };
                push_token(
                    rows,
                    param,
                    str_field(c, "system"),
                    str_field(c, "code"),
                    display,
                );
                if !text.is_empty() && display != text {
                    push_token(
                        rows,
                        param,
                        str_field(c, "system"),
                        str_field(c, "code"),
                        text,
                    );
                }
            }
            if codings.is_none_or(|c| c.is_empty()) {
                push_token(rows, param, "", "", text);
            }
        }
        ("Coding", Some(v)) => push_token(
            rows,
            param,
            str_field(v, "system"),
            str_field(v, "code"),
            str_field(v, "display"),
        ),
        ("Identifier", Some(v)) => {
            let type_text = v.get("type").map_or("", |t| str_field(t, "text"));
            push_token(
                rows,
                param,
                str_field(v, "system"),
                str_field(v, "value"),
                type_text,
            );
            // `identifier:of-type=type-system|type-code|value`
            let value = str_field(v, "value");
            let codings = v
                .get("type")
                .and_then(|t| t.get("coding"))
                .and_then(Value::as_array);
            for c in codings.into_iter().flatten() {
                let code = str_field(c, "code");
                if !code.is_empty() && !value.is_empty() {
                    let system =
                        format!("{}{}|{code}", crate::query::OF_TYPE, str_field(c, "system"));
                    push_token(rows, param, &system, value, "");
                }
            }
        }
        ("ContactPoint", Some(v)) => push_token(
            rows,
            param,
            str_field(v, "system"),
            str_field(v, "value"),
            "",
        ),
        (_, Some(Value::Object(_))) => {}
        _ => {
            if let Some(s) = text_of(item) {
                push_token(rows, param, "", &s, "");
            }
        }
    }
}

fn add_date(
    rows: &mut IndexRows,
    param: &'static str,
    ty: &str,
    value: Option<&Value>,
    item: &Item<'_>,
) {
    let mut push = |r: Range| {
        push_unique(
            &mut rows.dates,
            DateRow {
                param,
                low: r.low,
                high: r.high,
            },
        );
    };
    match (ty, value) {
        ("Period", Some(v)) => {
            let start = v.get("start").and_then(Value::as_str).and_then(date::parse);
            let end = v.get("end").and_then(Value::as_str).and_then(date::parse);
            if start.is_some() || end.is_some() {
                push(Range {
                    low: start.map_or(date::MIN, |r| r.low),
                    high: end.map_or(date::MAX, |r| r.high),
                });
            }
        }
        ("Timing", Some(v)) => {
            for e in v
                .get("event")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                if let Some(r) = e.as_str().and_then(date::parse) {
                    push(r);
                }
            }
        }
        (_, Some(Value::Object(_))) => {}
        _ => {
            if let Some(r) = text_of(item).and_then(|t| date::parse(&t)) {
                push(r);
            }
        }
    }
}

fn add_quantity(rows: &mut IndexRows, param: &'static str, value: Option<&Value>, item: &Item<'_>) {
    let row = match (value, item) {
        (Some(v @ Value::Object(_)), _) => {
            let Some(amount) = v.get("value").and_then(Value::as_f64) else {
                return;
            };
            let (system, code) = match v.get("currency").and_then(Value::as_str) {
                Some(cur) => ("urn:iso:std:iso:4217", cur),
                None => (str_field(v, "system"), str_field(v, "code")),
            };
            quantity_row(param, amount, system, code, str_field(v, "unit"))
        }
        (_, Item::Quantity(q)) => {
            quantity_row(param, q.value.to_f64(), units::UCUM, &q.unit, &q.unit)
        }
        _ => return,
    };
    push_unique(&mut rows.quantities, row);
}

fn quantity_row(
    param: &'static str,
    value: f64,
    system: &str,
    code: &str,
    unit: &str,
) -> QuantityRow {
    let canonical = (system == units::UCUM)
        .then(|| units::canonical(value, code))
        .flatten();
    let (cvalue, ccode) = match canonical {
        Some((v, c)) => (Some(v), c),
        None => (None, String::new()),
    };
    QuantityRow {
        param,
        value,
        system: system.to_owned(),
        code: code.to_owned(),
        unit: unit.to_owned(),
        cvalue,
        ccode,
    }
}

fn add_reference(
    rows: &mut IndexRows,
    param: &'static str,
    ty: &str,
    value: Option<&Value>,
    item: &Item<'_>,
) {
    let (reference, identifier) = match (ty, value) {
        (_, Some(v @ Value::Object(_))) => (
            v.get("reference").and_then(Value::as_str).unwrap_or(""),
            v.get("identifier"),
        ),
        _ => match text_of(item) {
            Some(s) => {
                // canonical / uri values of reference parameters
                let s = s.split('|').next().unwrap_or("").to_owned();
                if !s.is_empty() && s.len() <= MAX_KEY_BYTES {
                    let (t, id) = parse_reference(&s).unwrap_or(("", ""));
                    push_unique(
                        &mut rows.references,
                        ReferenceRow {
                            param,
                            target_type: t.to_owned(),
                            target_id: id.to_owned(),
                            url: s.clone(),
                            identifier_system: String::new(),
                            identifier_value: String::new(),
                        },
                    );
                }
                return;
            }
            None => return,
        },
    };
    if reference.starts_with('#') || reference.len() > MAX_KEY_BYTES {
        return;
    }
    let (target_type, target_id) = parse_reference(reference).unwrap_or(("", ""));
    let absolute = reference.contains("://") || reference.starts_with("urn:");
    let (isys, ival) = identifier.map_or(("", ""), |i| {
        (str_field(i, "system"), str_field(i, "value"))
    });
    if target_id.is_empty() && !absolute && ival.is_empty() {
        return;
    }
    push_unique(
        &mut rows.references,
        ReferenceRow {
            param,
            target_type: target_type.to_owned(),
            target_id: target_id.to_owned(),
            url: if absolute {
                reference.to_owned()
            } else {
                String::new()
            },
            identifier_system: isys.to_owned(),
            identifier_value: ival.to_owned(),
        },
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn observation_rows_cover_tokens_dates_quantities_and_references() {
        let obs = json!({"resourceType": "Observation", "id": "o1", "status": "final",
            "code": {"coding": [{"system": "http://loinc.org", "code": "4548-4", "display": "HbA1c"}], "text": "糖化血红蛋白"},
            "subject": {"reference": "Patient/p1"},
            "effectiveDateTime": "2024-03-05",
            "valueQuantity": {"value": 6.5, "unit": "%", "system": "http://unitsofmeasure.org", "code": "%"}});
        let rows = extract(&obs);
        assert!(rows.tokens.iter().any(|t| t.param == "code"
            && t.system == "http://loinc.org"
            && t.code == "4548-4"
            && t.text == "hba1c"));
        assert!(rows
            .tokens
            .iter()
            .any(|t| t.param == "code" && t.text == "糖化血红蛋白"));
        assert!(rows
            .tokens
            .iter()
            .any(|t| t.param == "status" && t.code == "final" && t.system.is_empty()));
        let patient: Vec<_> = rows
            .references
            .iter()
            .filter(|r| r.param == "patient")
            .collect();
        assert_eq!(patient.len(), 1);
        assert_eq!(
            (
                patient[0].target_type.as_str(),
                patient[0].target_id.as_str()
            ),
            ("Patient", "p1")
        );
        assert!(rows.references.iter().any(|r| r.param == "subject"));
        let d = rows
            .dates
            .iter()
            .find(|d| d.param == "date")
            .expect("date row");
        assert_eq!(
            date::parse("2024-03-05"),
            Some(Range {
                low: d.low,
                high: d.high
            })
        );
        let q = rows
            .quantities
            .iter()
            .find(|q| q.param == "value-quantity")
            .expect("quantity row");
        assert_eq!((q.value, q.code.as_str()), (6.5, "%"));
    }

    #[test]
    fn patient_rows_cover_names_identifiers_and_meta() {
        let p = json!({"resourceType": "Patient", "id": "p1",
            "meta": {"tag": [{"system": "urn:t", "code": "vip"}], "profile": ["http://x/p"]},
            "identifier": [{"system": "urn:oid:2.16.156.10011.1.3", "value": "110105194912310021"}],
            "name": [{"family": "Müller", "given": ["Jürgen"]}, {"text": "张伟"}],
            "telecom": [{"system": "phone", "value": "13800000000"}],
            "gender": "male", "birthDate": "1949-12-31", "active": true});
        let rows = extract(&p);
        let names: Vec<&str> = rows
            .strings
            .iter()
            .filter(|s| s.param == "name")
            .map(|s| s.norm.as_str())
            .collect();
        assert_eq!(names, ["muller", "jurgen", "张伟"]);
        assert!(rows
            .tokens
            .iter()
            .any(|t| t.param == "identifier" && t.code == "110105194912310021"));
        assert!(rows
            .tokens
            .iter()
            .any(|t| t.param == "phone" && t.code == "13800000000" && t.system == "phone"));
        assert!(rows
            .tokens
            .iter()
            .any(|t| t.param == "_tag" && t.code == "vip"));
        assert!(rows
            .tokens
            .iter()
            .any(|t| t.param == "active" && t.code == "true"));
        assert!(rows
            .uris
            .iter()
            .any(|u| u.param == "_profile" && u.uri == "http://x/p"));
        assert!(rows.dates.iter().any(|d| d.param == "birthdate"));
    }

    #[test]
    fn composites_pair_components_of_the_same_element_only() {
        let bp = json!({"resourceType": "Observation", "id": "bp", "status": "final",
            "code": {"coding": [{"system": "http://loinc.org", "code": "85354-9"}]},
            "component": [
                {"code": {"coding": [{"system": "http://loinc.org", "code": "8480-6"}]},
                 "valueQuantity": {"value": 120, "system": "http://unitsofmeasure.org", "code": "mm[Hg]"}},
                {"code": {"coding": [{"system": "http://loinc.org", "code": "8462-4"}]},
                 "valueQuantity": {"value": 80, "system": "http://unitsofmeasure.org", "code": "mm[Hg]"}}]});
        let rows = extract(&bp);
        let pairs: Vec<(&str, &str, Option<f64>)> = rows
            .composites
            .iter()
            .filter(|r| r.param == "component-code-value-quantity")
            .map(|r| (r.c1.as_str(), r.s2.as_str(), r.n2))
            .collect();
        assert!(pairs.contains(&("8480-6", "http://unitsofmeasure.org", Some(120.0))));
        assert!(pairs.contains(&("8462-4", "http://unitsofmeasure.org", Some(80.0))));
        assert!(!pairs.iter().any(|p| p.0 == "8480-6" && p.2 == Some(80.0)));
        // each value also in canonical units (Pa), next to its own unit
        assert!(pairs
            .iter()
            .any(|p| p.0 == "8480-6" && p.1 == CANONICAL && p.2.is_some_and(|v| v > 15000.0)));
        let q = rows
            .quantities
            .iter()
            .find(|q| q.param == "component-value-quantity")
            .expect("component quantity");
        assert!(q.cvalue.is_some() && !q.ccode.is_empty());
    }

    #[test]
    fn references_parse_relative_absolute_and_versioned_forms() {
        assert_eq!(parse_reference("Patient/1"), Some(("Patient", "1")));
        assert_eq!(
            parse_reference("Patient/1/_history/3"),
            Some(("Patient", "1"))
        );
        assert_eq!(
            parse_reference("https://h/fhir/Patient/1"),
            Some(("Patient", "1"))
        );
        assert_eq!(parse_reference("Nope/1"), None);
        assert_eq!(parse_reference("#c1"), None);
        assert_eq!(parse_reference("x/Patient/1"), None);
    }
}
