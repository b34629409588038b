//! Items of a FHIRPath collection: borrowed JSON nodes or computed System values.

use std::borrow::Cow;
use std::fmt;

use serde_json::Value;

use crate::datetime::{DateTime, Time};
use crate::decimal::Decimal;

/// The FHIR type of a JSON node, as far as the model knows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct NodeType {
    /// FHIR type name (`HumanName`, `date`, `BackboneElement`); empty when unknown.
    pub name: &'static str,
    /// Owner key for child lookups (type name or backbone path); empty when unknown.
    pub path: &'static str,
}

impl NodeType {
    /// A type whose children are looked up under its own name.
    pub fn named(name: &'static str) -> Self {
        NodeType { name, path: name }
    }
}

/// A node of the input JSON, borrowed, with its FHIR type.
#[derive(Clone, Copy, Debug)]
pub struct JsonNode<'a> {
    /// The JSON value (`None` for a primitive that only has `_name` metadata).
    pub value: Option<&'a Value>,
    /// For primitives: the `_name` object holding `id` and `extension`.
    pub meta: Option<&'a Value>,
    /// The FHIR type.
    pub ty: NodeType,
}

/// A quantity: a decimal value and a unit (UCUM code or calendar word such as `year`).
#[derive(Clone, Debug)]
pub struct Quantity<'a> {
    /// The amount.
    pub value: Decimal,
    /// UCUM unit code, or a calendar duration word (`year`, `days`, …).
    pub unit: Cow<'a, str>,
}

/// One item of a collection.
#[derive(Clone, Debug)]
pub enum Item<'a> {
    /// A node of the input JSON (resource, element or FHIR primitive).
    Node(JsonNode<'a>),
    /// `System.Boolean`
    Boolean(bool),
    /// `System.Integer`
    Integer(i64),
    /// `System.Decimal`
    Decimal(Decimal),
    /// `System.String`
    String(Cow<'a, str>),
    /// `System.Date`
    Date(DateTime),
    /// `System.DateTime`
    DateTime(DateTime),
    /// `System.Time`
    Time(Time),
    /// `System.Quantity`
    Quantity(Quantity<'a>),
    /// Result of `type()`: a `TypeInfo` with `namespace` and `name`.
    Type {
        /// `System` or `FHIR`.
        namespace: &'static str,
        /// Type name.
        name: Cow<'a, str>,
    },
}

impl<'a> Item<'a> {
    /// A string item borrowing from the input.
    pub fn str(s: &'a str) -> Self {
        Item::String(Cow::Borrowed(s))
    }

    /// The type name of the item as the official tests spell it: FHIR type names for
    /// nodes (`date`, `code`, `HumanName`), lower-case System names for computed values
    /// (`boolean`, `integer`, `decimal`, `string`, `date`, `dateTime`, `time`, `Quantity`).
    pub fn type_name(&self) -> &str {
        match self {
            Item::Node(n) if !n.ty.name.is_empty() => n.ty.name,
            Item::Node(n) => match n.value {
                Some(Value::Bool(_)) => "boolean",
                Some(Value::Number(x)) if x.is_i64() => "integer",
                Some(Value::Number(_)) => "decimal",
                Some(Value::String(_)) => "string",
                _ => "Element",
            },
            Item::Boolean(_) => "boolean",
            Item::Integer(_) => "integer",
            Item::Decimal(_) => "decimal",
            Item::String(_) => "string",
            Item::Date(_) => "date",
            Item::DateTime(_) => "dateTime",
            Item::Time(_) => "time",
            Item::Quantity(_) => "Quantity",
            Item::Type { .. } => "TypeInfo",
        }
    }

    /// The item as JSON: nodes as they are in the input, System values in FHIR JSON form.
    pub fn to_json(&self) -> Value {
        match self {
            Item::Node(n) => n.value.cloned().unwrap_or(Value::Null),
            Item::Boolean(b) => Value::Bool(*b),
            Item::Integer(i) => Value::from(*i),
            Item::Decimal(d) => {
                serde_json::from_str::<Value>(&d.to_string()).unwrap_or(Value::Null)
            }
            Item::String(s) => Value::String(s.to_string()),
            Item::Date(d) | Item::DateTime(d) => Value::String(d.to_string()),
            Item::Time(t) => Value::String(t.to_string()),
            Item::Quantity(q) => {
                let mut m = serde_json::Map::new();
                m.insert(
                    "value".into(),
                    serde_json::from_str::<Value>(&q.value.to_string()).unwrap_or(Value::Null),
                );
                m.insert("unit".into(), Value::String(q.unit.to_string()));
                Value::Object(m)
            }
            Item::Type { namespace, name } => {
                let mut m = serde_json::Map::new();
                m.insert("namespace".into(), Value::String((*namespace).into()));
                m.insert("name".into(), Value::String(name.to_string()));
                Value::Object(m)
            }
        }
    }
}

impl fmt::Display for Item<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Item::Node(n) => match n.value {
                Some(Value::String(s)) => f.write_str(s),
                Some(v) => write!(f, "{v}"),
                None => f.write_str("null"),
            },
            Item::Boolean(b) => write!(f, "{b}"),
            Item::Integer(i) => write!(f, "{i}"),
            Item::Decimal(d) => write!(f, "{d}"),
            Item::String(s) => f.write_str(s),
            Item::Date(d) | Item::DateTime(d) => write!(f, "{d}"),
            Item::Time(t) => write!(f, "{t}"),
            Item::Quantity(q) => write!(f, "{} '{}'", q.value, q.unit),
            Item::Type { namespace, name } => write!(f, "{namespace}.{name}"),
        }
    }
}

/// The result of an evaluation: an ordered collection of items borrowing from the input.
#[derive(Clone, Debug, Default)]
pub struct Collection<'a>(pub Vec<Item<'a>>);

impl<'a> Collection<'a> {
    /// The items.
    pub fn items(&self) -> &[Item<'a>] {
        &self.0
    }
    /// Number of items.
    pub fn len(&self) -> usize {
        self.0.len()
    }
    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    /// Iterate over the items.
    pub fn iter(&self) -> std::slice::Iter<'_, Item<'a>> {
        self.0.iter()
    }
    /// The collection as a JSON array.
    pub fn to_json(&self) -> Value {
        Value::Array(self.0.iter().map(Item::to_json).collect())
    }
    /// The single boolean value, if the collection is exactly one boolean.
    pub fn as_bool(&self) -> Option<bool> {
        match self.0.as_slice() {
            [Item::Boolean(b)] => Some(*b),
            [Item::Node(JsonNode {
                value: Some(Value::Bool(b)),
                ..
            })] => Some(*b),
            _ => None,
        }
    }
}

impl<'a> IntoIterator for Collection<'a> {
    type Item = Item<'a>;
    type IntoIter = std::vec::IntoIter<Item<'a>>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}
