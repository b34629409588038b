//! The tree walker: navigation over borrowed JSON, operators, equality and ordering.

use std::borrow::Cow;
use std::cmp::Ordering;

use serde_json::Value;

use crate::ast::{BinOp, Literal, Node, TypeSpec};
use crate::datetime::{DateTime, Precision, Time};
use crate::decimal::Decimal;
use crate::model::{Element, ModelProvider, TypeKind};
use crate::ucum;
use crate::value::{Item, JsonNode, NodeType, Quantity};
use crate::{Context, EvalError, MAX_ITEMS};

pub(crate) type R<'a> = Result<Vec<Item<'a>>, EvalError>;

/// The `$this` / `$index` / `$total` scope.
#[derive(Clone, Copy)]
pub(crate) struct Env<'e, 'a> {
    pub this: Option<&'e Item<'a>>,
    pub index: Option<usize>,
    pub total: Option<&'e [Item<'a>]>,
}

/// One evaluation: the context, the root and the model.
pub(crate) struct Eval<'a, 'x, 'c> {
    pub ctx: &'x Context<'c>,
    pub model: &'c dyn ModelProvider,
    pub root: Item<'a>,
    pub root_value: &'a Value,
    now: Option<DateTime>,
}

/// A value reduced to what operators work on.
#[derive(Clone, Debug)]
pub(crate) enum Prim<'b> {
    Bool(bool),
    Int(i64),
    Dec(Decimal),
    Str(&'b str),
    Date(DateTime),
    DateTime(DateTime),
    Time(Time),
    Qty(Decimal, &'b str),
    Complex(&'b Value),
    Type(&'b str, &'b str),
    Nothing,
}

const QUANTITY_TYPES: [&str; 7] = [
    "Quantity",
    "Age",
    "Duration",
    "Distance",
    "Count",
    "SimpleQuantity",
    "MoneyQuantity",
];

fn now_utc() -> DateTime {
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0);
    DateTime::from_epoch_millis(ms, Precision::Millisecond, Some(0))
}

pub(crate) fn check_size<T>(v: &[T]) -> Result<(), EvalError> {
    if v.len() > MAX_ITEMS {
        Err(EvalError::TooLarge(MAX_ITEMS))
    } else {
        Ok(())
    }
}

/// Quantity from a FHIR Quantity JSON object: value with the UCUM code, else the unit text.
fn quantity_of(v: &Value) -> Option<(Decimal, &str)> {
    let o = v.as_object()?;
    let value = match o.get("value")? {
        Value::Number(n) => Decimal::parse(n.as_str())?,
        _ => return None,
    };
    let unit = o
        .get("code")
        .and_then(Value::as_str)
        .or_else(|| o.get("unit").and_then(Value::as_str))
        .unwrap_or("1");
    Some((value, unit))
}

impl<'a, 'x, 'c: 'a> Eval<'a, 'x, 'c> {
    pub fn new(ctx: &'x Context<'c>, resource: &'a Value) -> Self {
        let model = ctx.model;
        let root = Item::Node(JsonNode {
            value: Some(resource),
            meta: None,
            ty: Self::resource_type(model, resource),
        });
        Eval {
            ctx,
            model,
            root,
            root_value: resource,
            now: ctx.now,
        }
    }

    /// `now()`, read from the clock once per evaluation and only when asked for.
    pub fn now(&mut self) -> DateTime {
        *self.now.get_or_insert_with(now_utc)
    }

    fn resource_type(model: &dyn ModelProvider, v: &Value) -> NodeType {
        match v
            .get("resourceType")
            .and_then(Value::as_str)
            .and_then(|t| model.type_name(t))
        {
            Some(t) => NodeType::named(t),
            None => NodeType::default(),
        }
    }

    pub fn eval(&mut self, node: &Node, focus: &[Item<'a>], env: Env<'_, 'a>) -> R<'a> {
        match node {
            Node::Literal(l) => Ok(match l {
                Literal::Empty => vec![],
                Literal::Boolean(b) => vec![Item::Boolean(*b)],
                Literal::Integer(i) => vec![Item::Integer(*i)],
                Literal::Decimal(d) => vec![Item::Decimal(*d)],
                Literal::String(s) => vec![Item::String(Cow::Owned(s.clone()))],
                Literal::Date(d) => vec![Item::Date(*d)],
                Literal::DateTime(d) => vec![Item::DateTime(*d)],
                Literal::Time(t) => vec![Item::Time(*t)],
                Literal::Quantity(v, u) => vec![Item::Quantity(Quantity {
                    value: *v,
                    unit: Cow::Owned(u.clone()),
                })],
            }),
            Node::Member(base, name) => {
                let mut out = Vec::new();
                match base {
                    Some(b) => {
                        let input = self.eval(b, focus, env)?;
                        for it in &input {
                            self.navigate(it, name, &mut out);
                        }
                    }
                    None => {
                        for it in focus {
                            self.navigate(it, name, &mut out);
                        }
                    }
                }
                check_size(&out)?;
                Ok(out)
            }
            Node::Call(base, f, args) => {
                let input: Cow<'_, [Item<'a>]> = match base {
                    Some(b) => Cow::Owned(self.eval(b, focus, env)?),
                    None => Cow::Borrowed(focus),
                };
                let out = self.call(*f, &input, args, focus, env)?;
                check_size(&out)?;
                Ok(out)
            }
            Node::Index(base, idx) => {
                let input = self.eval(base, focus, env)?;
                let i = self.eval(idx, focus, env)?;
                let i = match self.singleton_int(&i, "indexer")? {
                    Some(i) => i,
                    None => return Ok(vec![]),
                };
                Ok(usize::try_from(i)
                    .ok()
                    .and_then(|i| input.into_iter().nth(i))
                    .into_iter()
                    .collect())
            }
            Node::This => Ok(match env.this {
                Some(t) => vec![t.clone()],
                None => focus.to_vec(),
            }),
            Node::IndexVar => Ok(env
                .index
                .map(|i| Item::Integer(i as i64))
                .into_iter()
                .collect()),
            Node::Total => Ok(env.total.map(<[Item<'a>]>::to_vec).unwrap_or_default()),
            Node::Focus => Ok(focus.to_vec()),
            Node::Var(name) => self.variable(name),
            Node::Negate(inner) => {
                let v = self.eval(inner, focus, env)?;
                let mut out = Vec::with_capacity(v.len());
                for it in &v {
                    out.push(match self.prim(it) {
                        Prim::Int(i) => Item::Integer(-i),
                        Prim::Dec(d) => Item::Decimal(d.negate()),
                        Prim::Qty(d, u) => Item::Quantity(Quantity {
                            value: d.negate(),
                            unit: Cow::Owned(u.to_string()),
                        }),
                        _ => {
                            return Err(EvalError::Type(format!(
                                "cannot negate {}",
                                it.type_name()
                            )))
                        }
                    });
                }
                Ok(out)
            }
            Node::Binary(op, l, r) => self.binary(*op, l, r, focus, env),
            Node::Is(base, ts) => {
                self.check_type_name(ts)?;
                let v = self.eval(base, focus, env)?;
                match v.as_slice() {
                    [] => Ok(vec![]),
                    [it] => Ok(vec![Item::Boolean(self.is_type(it, ts, false))]),
                    _ => Err(EvalError::NotSingleton("is".into(), v.len())),
                }
            }
            // Lenient `as`: keeps the matching items of a collection (see crate docs).
            Node::As(base, ts) | Node::OfType(base, ts) => {
                self.check_type_name(ts)?;
                let v = self.eval(base, focus, env)?;
                Ok(v.into_iter()
                    .filter(|it| self.is_type(it, ts, true))
                    .collect())
            }
        }
    }

    fn variable(&self, name: &str) -> R<'a> {
        if let Some(v) = self.ctx.variables.get(name) {
            return Ok(v.clone());
        }
        let s = |s: String| Ok(vec![Item::String(Cow::Owned(s))]);
        match name {
            "resource" | "rootResource" | "context" => Ok(vec![self.root.clone()]),
            "ucum" => s("http://unitsofmeasure.org".into()),
            "sct" => s("http://snomed.info/sct".into()),
            "loinc" => s("http://loinc.org".into()),
            _ => {
                if let Some(vs) = name.strip_prefix("vs-") {
                    s(format!("http://hl7.org/fhir/ValueSet/{vs}"))
                } else if let Some(ext) = name.strip_prefix("ext-") {
                    s(format!("http://hl7.org/fhir/StructureDefinition/{ext}"))
                } else {
                    Err(EvalError::UnknownVariable(name.to_string()))
                }
            }
        }
    }

    // ----- navigation -------------------------------------------------------------------

    /// Type of a node found under an element of (model) type `ty`.
    fn node_type(&self, declared: NodeType, v: Option<&'a Value>) -> NodeType {
        if let Some(Value::Object(o)) = v {
            if let Some(rt) = o.get("resourceType").and_then(Value::as_str) {
                if let Some(t) = self.model.type_name(rt) {
                    return NodeType::named(t);
                }
            }
        }
        declared
    }

    fn push_values(
        &self,
        v: Option<&'a Value>,
        meta: Option<&'a Value>,
        ty: NodeType,
        out: &mut Vec<Item<'a>>,
    ) {
        match (v, meta) {
            (Some(Value::Array(a)), m) => {
                let ma = match m {
                    Some(Value::Array(ma)) => Some(ma),
                    _ => None,
                };
                for (i, x) in a.iter().enumerate() {
                    let mx = ma.and_then(|ma| ma.get(i)).filter(|m| !m.is_null());
                    let xv = if x.is_null() { None } else { Some(x) };
                    if xv.is_some() || mx.is_some() {
                        out.push(Item::Node(JsonNode {
                            value: xv,
                            meta: mx,
                            ty: self.node_type(ty, xv),
                        }));
                    }
                }
            }
            (None, Some(Value::Array(ma))) => {
                for m in ma.iter().filter(|m| !m.is_null()) {
                    out.push(Item::Node(JsonNode {
                        value: None,
                        meta: Some(m),
                        ty,
                    }));
                }
            }
            (Some(Value::Null), None) | (None, None) => {}
            (v, m) => {
                let v = v.filter(|v| !v.is_null());
                out.push(Item::Node(JsonNode {
                    value: v,
                    meta: m,
                    ty: self.node_type(ty, v),
                }));
            }
        }
    }

    /// Children named `name` of `item`, appended to `out`.
    pub fn navigate(&self, item: &Item<'a>, name: &str, out: &mut Vec<Item<'a>>) {
        let n = match item {
            Item::Node(n) => n,
            Item::Type {
                namespace,
                name: tn,
            } => {
                match name {
                    "namespace" => out.push(Item::str(namespace)),
                    "name" => out.push(Item::String(tn.clone())),
                    _ => {}
                }
                return;
            }
            _ => return,
        };
        let (Some(Value::Object(map)), ty) = (n.value, n.ty) else {
            // Primitive: only `id` and `extension` live in the `_name` object.
            if let Some(Value::Object(meta)) = n.meta {
                if let Some(v) = meta.get(name) {
                    let t = match name {
                        "extension" => self
                            .model
                            .type_name("Extension")
                            .map(NodeType::named)
                            .unwrap_or_default(),
                        "id" => self
                            .model
                            .type_name("string")
                            .map(NodeType::named)
                            .unwrap_or_default(),
                        _ => NodeType::default(),
                    };
                    self.push_values(Some(v), None, t, out);
                }
            }
            return;
        };
        // A type name as the first step (`Patient.name`) selects the resource itself.
        if name.starts_with(|c: char| c.is_ascii_uppercase()) {
            if let Some(rt) = map.get("resourceType").and_then(Value::as_str) {
                if rt == name
                    || ((name == "Resource" || name == "DomainResource") && !ty.name.is_empty())
                {
                    out.push(item.clone());
                    return;
                }
            }
        }
        match self.model.element(ty.path, name) {
            Some(Element::Typed { type_name, path }) => {
                let t = NodeType {
                    name: type_name,
                    path,
                };
                let meta = if self.model.type_kind(type_name) == Some(TypeKind::Primitive) {
                    meta_of(map, name)
                } else {
                    None
                };
                self.push_values(get_key(map, name), meta, t, out);
            }
            Some(Element::Choice) => self.choice(map, name, out),
            None => {
                let v = get_key(map, name);
                let meta = meta_of(map, name);
                if v.is_some() || meta.is_some() {
                    self.push_values(v, meta, NodeType::default(), out);
                } else if ty.path.is_empty() {
                    self.choice(map, name, out);
                }
            }
        }
    }

    fn choice(&self, map: &'a serde_json::Map<String, Value>, name: &str, out: &mut Vec<Item<'a>>) {
        for (k, v) in map {
            let Some(suffix) = k.strip_prefix(name) else {
                continue;
            };
            if !suffix.starts_with(|c: char| c.is_ascii_uppercase()) {
                continue;
            }
            let ty = self.choice_type(suffix);
            let meta = meta_of(map, k);
            self.push_values(Some(v), meta, ty, out);
        }
        // A primitive choice with only metadata (`_valueString`).
        for (k, m) in map {
            let Some(rest) = k.strip_prefix('_').and_then(|r| r.strip_prefix(name)) else {
                continue;
            };
            if rest.starts_with(|c: char| c.is_ascii_uppercase()) && !map.contains_key(&k[1..]) {
                self.push_values(None, Some(m), self.choice_type(rest), out);
            }
        }
    }

    fn choice_type(&self, suffix: &str) -> NodeType {
        if let Some(t) = self.model.type_name(suffix) {
            if self.model.type_kind(t) != Some(TypeKind::Primitive) {
                return NodeType::named(t);
            }
        }
        let mut lower = String::with_capacity(suffix.len());
        let mut cs = suffix.chars();
        if let Some(c) = cs.next() {
            lower.push(c.to_ascii_lowercase());
        }
        lower.extend(cs);
        self.model
            .type_name(&lower)
            .or_else(|| self.model.type_name(suffix))
            .map(NodeType::named)
            .unwrap_or_default()
    }

    /// All child nodes of an item, in JSON order.
    pub fn children_of(&self, item: &Item<'a>, out: &mut Vec<Item<'a>>) {
        let Item::Node(n) = item else { return };
        if let Some(Value::Object(map)) = n.value {
            let mut done: Vec<&str> = Vec::new();
            for k in map.keys() {
                let key = k.strip_prefix('_').unwrap_or(k);
                if key == "resourceType" || done.contains(&key) {
                    continue;
                }
                done.push(key);
                let before = out.len();
                match self.model.element(n.ty.path, key) {
                    Some(Element::Typed { type_name, path }) => {
                        let meta = meta_of(map, key);
                        self.push_values(
                            map.get(key),
                            meta,
                            NodeType {
                                name: type_name,
                                path,
                            },
                            out,
                        )
                    }
                    _ => {
                        // Choice JSON names (`valueQuantity`) or unknown elements.
                        let ty = self.choice_key_type(n.ty.path, key);
                        self.push_values(map.get(key), meta_of(map, key), ty, out);
                    }
                }
                let _ = before;
            }
        } else if let Some(Value::Object(meta)) = n.meta {
            for k in ["id", "extension"] {
                if meta.contains_key(k) {
                    self.navigate(item, k, out);
                }
            }
        }
    }

    fn choice_key_type(&self, owner: &str, key: &str) -> NodeType {
        for (i, c) in key.char_indices().skip(1) {
            if c.is_ascii_uppercase() {
                if let Some(Element::Choice) = self.model.element(owner, &key[..i]) {
                    return self.choice_type(&key[i..]);
                }
            }
        }
        NodeType::default()
    }

    // ----- types --------------------------------------------------------------------------

    fn is_subtype(&self, mut t: &str, target: &str) -> bool {
        for _ in 0..16 {
            if t == target {
                return true;
            }
            match self.model.base_type(t) {
                Some(b) => t = b,
                None => return false,
            }
        }
        false
    }

    /// The FHIR or System type of an item as (namespace, name).
    pub fn type_of<'b>(&self, it: &'b Item<'a>) -> (&'static str, Cow<'b, str>) {
        let b = |s: &'static str| Cow::Borrowed(s);
        match it {
            Item::Node(n) if !n.ty.name.is_empty() => ("FHIR", b(n.ty.name)),
            Item::Node(n) => match n.value {
                Some(Value::Object(o)) => match o.get("resourceType").and_then(Value::as_str) {
                    Some(rt) => ("FHIR", Cow::Borrowed(rt)),
                    None => ("FHIR", b("Element")),
                },
                Some(Value::Bool(_)) => ("FHIR", b("boolean")),
                Some(Value::Number(x)) if x.is_i64() => ("FHIR", b("integer")),
                Some(Value::Number(_)) => ("FHIR", b("decimal")),
                _ => ("FHIR", b("string")),
            },
            Item::Boolean(_) => ("System", b("Boolean")),
            Item::Integer(_) => ("System", b("Integer")),
            Item::Decimal(_) => ("System", b("Decimal")),
            Item::String(_) => ("System", b("String")),
            Item::Date(_) => ("System", b("Date")),
            Item::DateTime(_) => ("System", b("DateTime")),
            Item::Time(_) => ("System", b("Time")),
            Item::Quantity(_) => ("System", b("Quantity")),
            Item::Type { .. } => ("System", b("TypeInfo")),
        }
    }

    /// A type name neither the model nor System knows is an error, not a silent `false`.
    fn check_type_name(&self, ts: &TypeSpec) -> Result<(), EvalError> {
        const SYSTEM: [&str; 8] = [
            "Boolean", "Integer", "Decimal", "String", "Date", "DateTime", "Time", "Quantity",
        ];
        let system = SYSTEM.contains(&ts.name.as_str());
        let fhir =
            self.model.type_name(&ts.name).is_some() || QUANTITY_TYPES.contains(&ts.name.as_str());
        // A qualified name (`System.Patient`) is simply not matched; a bare unknown name
        // is a mistake worth reporting (`as(string1)`).
        let known = ts.namespace.is_some() || system || fhir;
        // Without a model (NoModel) FHIR names cannot be checked.
        if known || self.model.type_name("Resource").is_none() {
            Ok(())
        } else {
            Err(EvalError::Type(format!("unknown type {}", ts.name)))
        }
    }

    /// Whether an item is of type `ts` or a subtype; with `exact_primitive`, a FHIR
    /// primitive matches only its own type.
    pub fn is_type(&self, it: &Item<'a>, ts: &TypeSpec, exact_primitive: bool) -> bool {
        let (ns, name) = self.type_of(it);
        if let Some(want_ns) = &ts.namespace {
            if want_ns != ns {
                return false;
            }
        }
        if ns == "System" {
            return name == ts.name;
        }
        if name == ts.name {
            return true;
        }
        // `code` is a `string` for `is`, but `as(string)` / `ofType(string)` on a code is
        // empty (official tests testFHIRPathIsFunction2, testFHIRPathAsFunction11/16).
        if exact_primitive && self.model.type_kind(&name) == Some(TypeKind::Primitive) {
            return false;
        }
        self.is_subtype(&name, &ts.name)
    }

    // ----- values -------------------------------------------------------------------------

    /// The primitive value of an item (FHIR primitives become System values).
    pub fn prim<'b>(&self, it: &'b Item<'a>) -> Prim<'b> {
        match it {
            Item::Boolean(b) => Prim::Bool(*b),
            Item::Integer(i) => Prim::Int(*i),
            Item::Decimal(d) => Prim::Dec(*d),
            Item::String(s) => Prim::Str(s),
            Item::Date(d) => Prim::Date(*d),
            Item::DateTime(d) => Prim::DateTime(*d),
            Item::Time(t) => Prim::Time(*t),
            Item::Quantity(q) => Prim::Qty(q.value, &q.unit),
            Item::Type { namespace, name } => Prim::Type(namespace, name),
            Item::Node(n) => {
                let Some(v) = n.value else {
                    return Prim::Nothing;
                };
                let t = n.ty.name;
                match v {
                    Value::Bool(b) => Prim::Bool(*b),
                    Value::Number(x) => {
                        // With `arbitrary_precision` the number keeps its literal text.
                        let text = x.as_str();
                        if t == "decimal" || (t.is_empty() && !x.is_i64()) {
                            Decimal::parse(text).map_or(Prim::Nothing, Prim::Dec)
                        } else {
                            match text.parse::<i64>() {
                                Ok(i) => Prim::Int(i),
                                Err(_) => Decimal::parse(text).map_or(Prim::Nothing, Prim::Dec),
                            }
                        }
                    }
                    Value::String(s) => match t {
                        "date" | "dateTime" | "instant" => match DateTime::parse(s) {
                            Some((d, has_time)) if t == "date" && !has_time => Prim::Date(d),
                            Some((d, _)) if d.precision <= Precision::Day && t != "instant" => {
                                if t == "date" {
                                    Prim::Date(d)
                                } else {
                                    Prim::DateTime(d)
                                }
                            }
                            Some((d, _)) => Prim::DateTime(d),
                            None => Prim::Str(s),
                        },
                        "time" => Time::parse(s).map_or(Prim::Str(s), Prim::Time),
                        _ => Prim::Str(s),
                    },
                    Value::Object(_) => {
                        if QUANTITY_TYPES.contains(&t) {
                            if let Some((d, u)) = quantity_of(v) {
                                return Prim::Qty(d, u);
                            }
                        }
                        Prim::Complex(v)
                    }
                    _ => Prim::Nothing,
                }
            }
        }
    }

    /// The item as a System value (owned), for conversion functions and output.
    pub fn to_system(&self, it: &Item<'a>) -> Option<Item<'a>> {
        let Item::Node(n) = it else {
            return Some(it.clone());
        };
        Some(match self.prim(it) {
            Prim::Bool(b) => Item::Boolean(b),
            Prim::Int(i) => Item::Integer(i),
            Prim::Dec(d) => Item::Decimal(d),
            Prim::Str(_) => match n.value {
                Some(Value::String(s)) => Item::String(Cow::Borrowed(s.as_str())),
                _ => return None,
            },
            Prim::Date(d) => Item::Date(d),
            Prim::DateTime(d) => Item::DateTime(d),
            Prim::Time(t) => Item::Time(t),
            Prim::Qty(d, u) => Item::Quantity(Quantity {
                value: d,
                unit: Cow::Owned(u.to_string()),
            }),
            _ => return None,
        })
    }

    pub fn singleton_int(&self, v: &[Item<'a>], what: &str) -> Result<Option<i64>, EvalError> {
        match v {
            [] => Ok(None),
            [it] => match self.prim(it) {
                Prim::Int(i) => Ok(Some(i)),
                _ => Err(EvalError::Type(format!(
                    "{what} expects an integer, found {}",
                    it.type_name()
                ))),
            },
            _ => Err(EvalError::NotSingleton(what.into(), v.len())),
        }
    }

    /// Singleton evaluation as Boolean (N1 §4.5): empty → None, one boolean → it, one other
    /// item → true, several → error.
    pub fn to_bool(&self, v: &[Item<'a>], what: &str) -> Result<Option<bool>, EvalError> {
        match v {
            [] => Ok(None),
            [it] => Ok(Some(match self.prim(it) {
                Prim::Bool(b) => b,
                _ => true,
            })),
            _ => Err(EvalError::NotSingleton(what.into(), v.len())),
        }
    }

    // ----- equality and order -------------------------------------------------------------

    /// `=` on two items: `None` when unknown (date precision differs, units incomparable).
    pub fn item_eq(&self, a: &Item<'a>, b: &Item<'a>) -> Option<bool> {
        // The same JSON node (common in unions of overlapping paths) needs no deep compare.
        if let (Item::Node(x), Item::Node(y)) = (a, b) {
            if let (Some(vx), Some(vy)) = (x.value, y.value) {
                if std::ptr::eq(vx, vy) {
                    return Some(true);
                }
            }
        }
        let (pa, pb) = (self.prim(a), self.prim(b));
        prim_eq(&pa, &pb)
    }

    /// `~` on two items.
    pub fn item_equiv(&self, a: &Item<'a>, b: &Item<'a>) -> bool {
        let (pa, pb) = (self.prim(a), self.prim(b));
        match (&pa, &pb) {
            (Prim::Str(x), Prim::Str(y)) => normalize(x) == normalize(y),
            (Prim::Int(_) | Prim::Dec(_), Prim::Int(_) | Prim::Dec(_)) => {
                let (x, y) = (as_dec(&pa), as_dec(&pb));
                let s = x.scale().min(y.scale());
                x.round_to(s) == y.round_to(s)
            }
            (Prim::Date(x) | Prim::DateTime(x), Prim::Date(y) | Prim::DateTime(y)) => {
                x.compare(y) == Some(Ordering::Equal)
            }
            (Prim::Time(x), Prim::Time(y)) => x.compare(y) == Some(Ordering::Equal),
            (Prim::Qty(x, ux), Prim::Qty(y, uy)) => match ucum::convert(*y, uy, ux) {
                // Equivalent at the precision of the less precise operand.
                Some(y2) => {
                    let s = x.scale().min(y.scale());
                    x.round_to(s) == y2.round_to(s)
                }
                None => false,
            },
            (Prim::Complex(x), Prim::Complex(y)) => x == y,
            _ => prim_eq(&pa, &pb).unwrap_or(false),
        }
    }

    /// Order of two items; `Ok(None)` when unknown, `Err` when not comparable at all.
    pub fn item_cmp(&self, a: &Item<'a>, b: &Item<'a>) -> Result<Option<Ordering>, EvalError> {
        let (pa, pb) = (self.prim(a), self.prim(b));
        Ok(match (&pa, &pb) {
            (Prim::Int(x), Prim::Int(y)) => Some(x.cmp(y)),
            (Prim::Int(_) | Prim::Dec(_), Prim::Int(_) | Prim::Dec(_)) => {
                Some(as_dec(&pa).cmp(&as_dec(&pb)))
            }
            (Prim::Str(x), Prim::Str(y)) => Some(x.cmp(y)),
            (Prim::Date(x) | Prim::DateTime(x), Prim::Date(y) | Prim::DateTime(y)) => x.compare(y),
            (Prim::Str(s), Prim::Date(y) | Prim::DateTime(y)) => match DateTime::parse(s) {
                Some((x, _)) => x.compare(y),
                None => return Err(EvalError::Type("cannot compare string with date".into())),
            },
            (Prim::Date(x) | Prim::DateTime(x), Prim::Str(s)) => match DateTime::parse(s) {
                Some((y, _)) => x.compare(&y),
                None => return Err(EvalError::Type("cannot compare date with string".into())),
            },
            (Prim::Time(x), Prim::Time(y)) => x.compare(y),
            (Prim::Qty(x, ux), Prim::Qty(y, uy)) => qty_cmp(*x, ux, *y, uy),
            _ => {
                return Err(EvalError::Type(format!(
                    "cannot compare {} with {}",
                    a.type_name(),
                    b.type_name()
                )));
            }
        })
    }

    fn coll_eq(&self, a: &[Item<'a>], b: &[Item<'a>]) -> Option<bool> {
        if a.is_empty() || b.is_empty() {
            return None;
        }
        if a.len() != b.len() {
            return Some(false);
        }
        let mut unknown = false;
        for (x, y) in a.iter().zip(b) {
            match self.item_eq(x, y) {
                Some(false) => return Some(false),
                None => unknown = true,
                Some(true) => {}
            }
        }
        if unknown {
            None
        } else {
            Some(true)
        }
    }

    pub fn coll_equiv(&self, a: &[Item<'a>], b: &[Item<'a>]) -> bool {
        if a.len() != b.len() {
            return false;
        }
        let mut used = vec![false; b.len()];
        'outer: for x in a {
            for (j, y) in b.iter().enumerate() {
                if !used[j] && self.item_equiv(x, y) {
                    used[j] = true;
                    continue 'outer;
                }
            }
            return false;
        }
        true
    }

    pub fn contains_item(&self, coll: &[Item<'a>], it: &Item<'a>) -> bool {
        coll.iter().any(|x| self.item_eq(x, it) == Some(true))
    }

    pub fn distinct(&self, v: Vec<Item<'a>>) -> Vec<Item<'a>> {
        let mut out: Vec<Item<'a>> = Vec::with_capacity(v.len());
        for it in v {
            if !self.contains_item(&out, &it) {
                out.push(it);
            }
        }
        out
    }

    // ----- operators ----------------------------------------------------------------------

    fn binary(
        &mut self,
        op: BinOp,
        l: &Node,
        r: &Node,
        focus: &[Item<'a>],
        env: Env<'_, 'a>,
    ) -> R<'a> {
        // Boolean operators short-circuit where three-valued logic allows.
        match op {
            BinOp::And | BinOp::Or | BinOp::Xor | BinOp::Implies => {
                let a = self.eval(l, focus, env)?;
                let a = self.to_bool(&a, "boolean operator")?;
                let short = match (op, a) {
                    (BinOp::And, Some(false)) => Some(Some(false)),
                    (BinOp::Or, Some(true)) => Some(Some(true)),
                    (BinOp::Implies, Some(false)) => Some(Some(true)),
                    _ => None,
                };
                let res = match short {
                    Some(r) => r,
                    None => {
                        let b = self.eval(r, focus, env)?;
                        let b = self.to_bool(&b, "boolean operator")?;
                        match op {
                            BinOp::And => match (a, b) {
                                (Some(true), Some(true)) => Some(true),
                                (_, Some(false)) => Some(false),
                                _ => None,
                            },
                            BinOp::Or => match (a, b) {
                                (_, Some(true)) => Some(true),
                                (Some(false), Some(false)) => Some(false),
                                _ => None,
                            },
                            BinOp::Xor => match (a, b) {
                                (Some(x), Some(y)) => Some(x != y),
                                _ => None,
                            },
                            _ => match (a, b) {
                                (Some(true), b) => b,
                                (None, Some(true)) => Some(true),
                                _ => None,
                            },
                        }
                    }
                };
                return Ok(res.map(Item::Boolean).into_iter().collect());
            }
            _ => {}
        }
        let a = self.eval(l, focus, env)?;
        let b = self.eval(r, focus, env)?;
        let boolean = |x: Option<bool>| Ok(x.map(Item::Boolean).into_iter().collect());
        match op {
            BinOp::Union => {
                let mut all = a;
                all.extend(b);
                check_size(&all)?;
                Ok(self.distinct(all))
            }
            BinOp::Eq => boolean(self.coll_eq(&a, &b)),
            BinOp::Ne => boolean(self.coll_eq(&a, &b).map(|x| !x)),
            BinOp::Equiv => boolean(Some(self.coll_equiv(&a, &b))),
            BinOp::NotEquiv => boolean(Some(!self.coll_equiv(&a, &b))),
            BinOp::In | BinOp::Contains => {
                let (item, coll) = if op == BinOp::In { (&a, &b) } else { (&b, &a) };
                match item.as_slice() {
                    [] => Ok(vec![]),
                    [it] => boolean(Some(self.contains_item(coll, it))),
                    _ => Err(EvalError::NotSingleton("in/contains".into(), item.len())),
                }
            }
            BinOp::Lt | BinOp::Gt | BinOp::Le | BinOp::Ge => {
                let (x, y) = match (a.as_slice(), b.as_slice()) {
                    ([], _) | (_, []) => return Ok(vec![]),
                    ([x], [y]) => (x, y),
                    _ => {
                        return Err(EvalError::NotSingleton(
                            "comparison".into(),
                            a.len().max(b.len()),
                        ))
                    }
                };
                let ord = self.item_cmp(x, y)?;
                boolean(ord.map(|o| match op {
                    BinOp::Lt => o == Ordering::Less,
                    BinOp::Gt => o == Ordering::Greater,
                    BinOp::Le => o != Ordering::Greater,
                    _ => o != Ordering::Less,
                }))
            }
            BinOp::Concat => {
                let s = |v: &[Item<'a>]| -> Result<String, EvalError> {
                    match v {
                        [] => Ok(String::new()),
                        [it] => Ok(it.to_string()),
                        _ => Err(EvalError::NotSingleton("&".into(), v.len())),
                    }
                };
                Ok(vec![Item::String(Cow::Owned(s(&a)? + &s(&b)?))])
            }
            _ => {
                let (x, y) = match (a.as_slice(), b.as_slice()) {
                    ([], _) | (_, []) => return Ok(vec![]),
                    ([x], [y]) => (x, y),
                    _ => {
                        return Err(EvalError::NotSingleton(
                            "arithmetic".into(),
                            a.len().max(b.len()),
                        ))
                    }
                };
                self.arith(op, x, y)
            }
        }
    }

    fn arith(&self, op: BinOp, x: &Item<'a>, y: &Item<'a>) -> R<'a> {
        let (px, py) = (self.prim(x), self.prim(y));
        let bad = || {
            Err(EvalError::Type(format!(
                "cannot apply {op:?} to {} and {}",
                x.type_name(),
                y.type_name()
            )))
        };
        let one = |it: Option<Item<'a>>| Ok(it.into_iter().collect());
        match (&px, &py) {
            (Prim::Int(a), Prim::Int(b)) => {
                let r = match op {
                    BinOp::Add => a.checked_add(*b),
                    BinOp::Sub => a.checked_sub(*b),
                    BinOp::Mul => a.checked_mul(*b),
                    BinOp::IntDiv => a.checked_div(*b),
                    BinOp::Mod => a.checked_rem(*b),
                    BinOp::Div => {
                        return one(Decimal::from_i64(*a)
                            .checked_div(Decimal::from_i64(*b))
                            .map(Item::Decimal));
                    }
                    _ => return bad(),
                };
                one(r.map(Item::Integer))
            }
            (Prim::Int(_) | Prim::Dec(_), Prim::Int(_) | Prim::Dec(_)) => {
                let (a, b) = (as_dec(&px), as_dec(&py));
                let r = match op {
                    BinOp::Add => a.checked_add(b),
                    BinOp::Sub => a.checked_sub(b),
                    BinOp::Mul => a.checked_mul(b),
                    BinOp::Div => a.checked_div(b),
                    BinOp::IntDiv => {
                        return one(a.div_trunc(b).and_then(|d| d.to_i64()).map(Item::Integer));
                    }
                    BinOp::Mod => a.checked_rem(b),
                    _ => return bad(),
                };
                one(r.map(Item::Decimal))
            }
            (Prim::Str(a), Prim::Str(b)) if op == BinOp::Add => {
                one(Some(Item::String(Cow::Owned(format!("{a}{b}")))))
            }
            (Prim::Date(d), Prim::Qty(v, u)) | (Prim::DateTime(d), Prim::Qty(v, u))
                if matches!(op, BinOp::Add | BinOp::Sub) =>
            {
                let v = if op == BinOp::Sub { v.negate() } else { *v };
                if matches!(*u, "a" | "mo") {
                    return Err(EvalError::Type(format!(
                        "UCUM unit '{u}' is not a calendar duration"
                    )));
                }
                let r = d
                    .add(&v, u)
                    .ok_or_else(|| EvalError::Invalid(format!("cannot add {u} to a date")))?;
                one(Some(if matches!(px, Prim::Date(_)) {
                    Item::Date(r)
                } else {
                    Item::DateTime(r)
                }))
            }
            (Prim::Time(t), Prim::Qty(v, u)) if matches!(op, BinOp::Add | BinOp::Sub) => {
                let v = if op == BinOp::Sub { v.negate() } else { *v };
                let r = t
                    .add(&v, u)
                    .ok_or_else(|| EvalError::Invalid(format!("cannot add {u} to a time")))?;
                one(Some(Item::Time(r)))
            }
            (Prim::Qty(a, ua), Prim::Qty(b, ub)) => match op {
                BinOp::Add | BinOp::Sub => {
                    let Some(b) = ucum::convert(*b, ub, ua) else {
                        return Ok(vec![]);
                    };
                    let r = if op == BinOp::Add {
                        a.checked_add(b)
                    } else {
                        a.checked_sub(b)
                    };
                    one(r.map(|v| {
                        Item::Quantity(Quantity {
                            value: v,
                            unit: Cow::Owned(ua.to_string()),
                        })
                    }))
                }
                BinOp::Mul | BinOp::Div => {
                    let (ua, ub) = (ucum::calendar_to_ucum(ua), ucum::calendar_to_ucum(ub));
                    let (value, unit) = if op == BinOp::Mul {
                        (
                            a.checked_mul(*b),
                            if ua == "1" {
                                ub.to_string()
                            } else if ub == "1" {
                                ua.to_string()
                            } else {
                                format!("{ua}.{ub}")
                            },
                        )
                    } else if ua == ub {
                        (a.checked_div(*b), "1".to_string())
                    } else {
                        (
                            a.checked_div(*b),
                            if ub == "1" {
                                ua.to_string()
                            } else {
                                format!("{ua}/{ub}")
                            },
                        )
                    };
                    one(value.map(|v| {
                        Item::Quantity(Quantity {
                            value: v,
                            unit: Cow::Owned(unit),
                        })
                    }))
                }
                _ => bad(),
            },
            (Prim::Qty(a, u), Prim::Int(_) | Prim::Dec(_))
                if matches!(op, BinOp::Mul | BinOp::Div) =>
            {
                let b = as_dec(&py);
                let r = if op == BinOp::Mul {
                    a.checked_mul(b)
                } else {
                    a.checked_div(b)
                };
                one(r.map(|v| {
                    Item::Quantity(Quantity {
                        value: v,
                        unit: Cow::Owned(u.to_string()),
                    })
                }))
            }
            (Prim::Int(_) | Prim::Dec(_), Prim::Qty(b, u)) if op == BinOp::Mul => {
                one(as_dec(&px).checked_mul(*b).map(|v| {
                    Item::Quantity(Quantity {
                        value: v,
                        unit: Cow::Owned(u.to_string()),
                    })
                }))
            }
            _ => bad(),
        }
    }
}

/// `map["_" + name]` (a primitive's id/extensions) without allocating for usual names.
fn meta_of<'m>(map: &'m serde_json::Map<String, Value>, name: &str) -> Option<&'m Value> {
    let mut buf = [0u8; 96];
    let n = name.len();
    if n + 1 > buf.len() {
        return map.get(&format!("_{name}"));
    }
    buf[0] = b'_';
    buf[1..=n].copy_from_slice(name.as_bytes());
    std::str::from_utf8(&buf[..=n])
        .ok()
        .and_then(|k| get_key(map, k))
}

/// `map[name]`: a linear scan for the small objects FHIR mostly has beats hashing the key.
fn get_key<'m>(map: &'m serde_json::Map<String, Value>, name: &str) -> Option<&'m Value> {
    if map.len() <= 12 {
        map.iter().find(|(k, _)| k.as_str() == name).map(|(_, v)| v)
    } else {
        map.get(name)
    }
}

pub(crate) fn as_dec(p: &Prim<'_>) -> Decimal {
    match p {
        Prim::Int(i) => Decimal::from_i64(*i),
        Prim::Dec(d) => *d,
        _ => Decimal::from_i64(0),
    }
}

fn normalize(s: &str) -> String {
    s.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

fn qty_cmp(x: Decimal, ux: &str, y: Decimal, uy: &str) -> Option<Ordering> {
    if ux == uy {
        return Some(x.cmp(&y));
    }
    let yc = ucum::convert(y, uy, ux)?;
    Some(x.cmp(&yc))
}

pub(crate) fn prim_eq(pa: &Prim<'_>, pb: &Prim<'_>) -> Option<bool> {
    Some(match (pa, pb) {
        (Prim::Bool(x), Prim::Bool(y)) => x == y,
        (Prim::Int(x), Prim::Int(y)) => x == y,
        (Prim::Int(_) | Prim::Dec(_), Prim::Int(_) | Prim::Dec(_)) => as_dec(pa) == as_dec(pb),
        (Prim::Str(x), Prim::Str(y)) => x == y,
        (Prim::Date(x) | Prim::DateTime(x), Prim::Date(y) | Prim::DateTime(y)) => {
            x.compare(y)? == Ordering::Equal
        }
        (Prim::Str(s), Prim::Date(y) | Prim::DateTime(y))
        | (Prim::Date(y) | Prim::DateTime(y), Prim::Str(s)) => match DateTime::parse(s) {
            Some((x, _)) => x.compare(y)? == Ordering::Equal,
            None => false,
        },
        (Prim::Time(x), Prim::Time(y)) => x.compare(y)? == Ordering::Equal,
        (Prim::Qty(x, ux), Prim::Qty(y, uy)) => qty_cmp(*x, ux, *y, uy)? == Ordering::Equal,
        (Prim::Complex(x), Prim::Complex(y)) => x == y,
        (Prim::Type(a, b), Prim::Type(c, d)) => a == c && b == d,
        _ => false,
    })
}
