//! FHIR R4 structure metadata, generated from the official definitions.
//!
//! The data lives in `elements.txt`, written by `scripts/gen_r4_metadata.py` from the
//! StructureDefinitions (derivation `specialization`) and the patient
//! CompartmentDefinition of hl7.fhir.r4.examples@4.0.1. It is embedded with
//! `include_str!` and parsed once, at first use of [`metadata`], in a few
//! milliseconds. Every string handed out is `&'static str`.
//!
//! # Vocabulary
//!
//! * A **type** is a primitive (`string`, `date`), complex (`HumanName`, `Quantity`,
//!   abstract `Element`/`BackboneElement`) or resource type (`Patient`, abstract
//!   `Resource`/`DomainResource`): [`TypeDef`], looked up by [`Metadata::type_def`].
//! * An **element** is one line of a type's snapshot: [`ElementDef`], named by its
//!   full path (`Patient.contact.name`, `Observation.value[x]`).
//! * A **parent** is anything that has child elements: a type name (`Patient`,
//!   `HumanName`) or the path of a backbone element (`Patient.contact`). Paths
//!   through complex-typed elements (`Patient.name`) and `contentReference`
//!   elements (`Questionnaire.item.item`) are resolved to the type / referenced
//!   backbone.
//!
//! # For the FHIRPath engine
//!
//! * navigation `X.name`: [`Metadata::element`]`(parent, json_name)` answers the
//!   element and the concrete type of that JSON property; choice properties are
//!   found by their JSON name (`valueQuantity` → `Observation.value[x]`, type
//!   `Quantity`), and the element's children are at [`ElementMatch::children_parent`].
//! * `is` / `as` / `ofType`: [`Metadata::is_subtype_of`] walks the base chain
//!   (`Age` is a `Quantity` is an `Element`; `Patient` is a `DomainResource` is a
//!   `Resource`); [`Metadata::kind`] tells primitive from complex from resource.
//! * The `value` element of a primitive type keeps its FHIRPath system type
//!   (`string.value` has type `System.String`).

use std::collections::HashMap;
use std::sync::OnceLock;

/// The generated metadata text (see `scripts/gen_r4_metadata.py` for the format).
const ELEMENTS: &str = include_str!("elements.txt");

/// What sort of type a [`TypeDef`] is (StructureDefinition.kind).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// A primitive type (`boolean`, `string`, `date` …): a JSON scalar, with an
    /// optional `_name` companion holding its id and extensions.
    Primitive,
    /// A complex data type (`HumanName`, `Quantity`, `Element`, `BackboneElement` …).
    Complex,
    /// A resource type (`Patient`, `Resource`, `DomainResource` …).
    Resource,
}

/// Maximum cardinality of an element.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Max {
    /// At most one: a single JSON value, never an array.
    One,
    /// Unbounded (`*`): always a JSON array.
    Many,
    /// Any other bound (R4 has only `xhtml.extension` with max 0); a count above one
    /// means a JSON array of at most that many items.
    Count(u32),
}

impl Max {
    /// Whether the element repeats, i.e. is represented as a JSON array.
    pub fn repeats(self) -> bool {
        match self {
            Max::One => false,
            Max::Many => true,
            Max::Count(n) => n > 1,
        }
    }
}

/// A type: one StructureDefinition with derivation `specialization` (or a root).
#[derive(Debug)]
pub struct TypeDef {
    /// The type name (`Patient`, `HumanName`, `dateTime`).
    pub name: &'static str,
    /// Primitive, complex or resource.
    pub kind: Kind,
    /// The type it specialises (`DomainResource` for `Patient`, `Quantity` for
    /// `Age`); `None` for the roots `Element` and `Resource`.
    pub base: Option<&'static str>,
    /// Abstract types (`Resource`, `DomainResource`, `Element`, `BackboneElement`)
    /// have no instances of their own.
    pub is_abstract: bool,
    /// The snapshot's elements, in definition order, without the root element.
    pub elements: &'static [ElementDef],
}

/// One element of a type's snapshot.
#[derive(Debug)]
pub struct ElementDef {
    /// Full path, e.g. `Patient.contact.name` or `Observation.value[x]`.
    pub path: &'static str,
    /// Last path segment, with `[x]` for choice elements (`value[x]`).
    pub name: &'static str,
    /// Minimum cardinality.
    pub min: u32,
    /// Maximum cardinality.
    pub max: Max,
    /// Allowed type codes: one for most elements, several for choice elements,
    /// `BackboneElement`/`Element` for inline backbones, `System.*` for the value of
    /// a primitive. For a `contentReference` element, the referenced element's types.
    pub types: &'static [&'static str],
    /// The referenced element path of a `contentReference` element
    /// (`Questionnaire.item` for `Questionnaire.item.item`).
    pub content_reference: Option<&'static str>,
    /// Where this element's children are defined when they are defined inline: its
    /// own path for a backbone element, the referenced path for a `contentReference`
    /// element, `None` when the children come from the type.
    pub children_path: Option<&'static str>,
    /// `isSummary`: part of the `_summary=true` view of the resource.
    pub summary: bool,
}

impl ElementDef {
    /// Whether this is a choice element (`value[x]`).
    pub fn is_choice(&self) -> bool {
        self.name.ends_with("[x]")
    }
    /// The element name without a choice suffix (`value` for `value[x]`).
    pub fn base_name(&self) -> &'static str {
        self.name.strip_suffix("[x]").unwrap_or(self.name)
    }
}

/// The answer of [`Metadata::element`]: the element a JSON property names and the
/// concrete type that property carries.
#[derive(Debug, Clone, Copy)]
pub struct ElementMatch {
    /// The element definition (for `valueQuantity`, the `value[x]` element).
    pub def: &'static ElementDef,
    /// The concrete type of the property (`Quantity` for `valueQuantity`,
    /// `BackboneElement` for `Patient.contact`).
    pub type_code: &'static str,
}

impl ElementMatch {
    /// The parent key under which the property's children are found with
    /// [`Metadata::element`] / [`Metadata::children`]: the backbone path for inline
    /// and `contentReference` elements, otherwise the type name.
    pub fn children_parent(&self) -> &'static str {
        self.def.children_path.unwrap_or(self.type_code)
    }
}

/// Children of one parent (type or backbone path).
#[derive(Debug, Default)]
struct Children {
    list: Vec<&'static ElementDef>,
    by_json: HashMap<&'static str, ElementMatch>,
}

/// FHIR R4 structure metadata: types, elements, cardinalities, the patient
/// compartment. Obtain it with [`metadata`].
#[derive(Debug)]
pub struct Metadata {
    types: HashMap<&'static str, TypeDef>,
    resource_types: Vec<&'static str>,
    elements: HashMap<&'static str, &'static ElementDef>,
    children: HashMap<&'static str, Children>,
    compartment: HashMap<&'static str, &'static [&'static str]>,
}

impl Metadata {
    /// The canonical name if `name` is a concrete R4 resource type.
    pub fn resource_type(&self, name: &str) -> Option<&'static str> {
        match self.types.get(name) {
            Some(t) if t.kind == Kind::Resource && !t.is_abstract => Some(t.name),
            _ => None,
        }
    }

    /// All concrete resource types, sorted.
    pub fn resource_types(&self) -> &[&'static str] {
        &self.resource_types
    }

    /// The definition of a type (primitive, complex or resource; abstract ones too).
    pub fn type_def(&self, name: &str) -> Option<&TypeDef> {
        self.types.get(name)
    }

    /// The kind of a type, `None` for unknown names.
    pub fn kind(&self, name: &str) -> Option<Kind> {
        self.types.get(name).map(|t| t.kind)
    }

    /// The type `name` specialises (`DomainResource` for `Patient`).
    pub fn base_type(&self, name: &str) -> Option<&'static str> {
        self.types.get(name).and_then(|t| t.base)
    }

    /// Whether `name` is an abstract type (`Resource`, `DomainResource`, `Element`,
    /// `BackboneElement`). `false` for unknown names.
    pub fn is_abstract(&self, name: &str) -> bool {
        self.types.get(name).is_some_and(|t| t.is_abstract)
    }

    /// Whether `name` is `ancestor` or derives from it through the base chain
    /// (`Age` → `Quantity` → `Element`; `code` → `string` → `Element`). This is the
    /// FHIRPath `is` test on FHIR types.
    pub fn is_subtype_of(&self, name: &str, ancestor: &str) -> bool {
        let mut current = self.types.get(name);
        // The chain is at most a handful of levels; the bound guards a cycle.
        for _ in 0..16 {
            match current {
                Some(t) if t.name == ancestor => return true,
                Some(t) => current = t.base.and_then(|b| self.types.get(b)),
                None => return false,
            }
        }
        false
    }

    /// The element definition at a full path (`Patient.contact.name`,
    /// `Observation.value[x]`), exactly as the snapshot names it.
    pub fn element_def(&self, path: &str) -> Option<&'static ElementDef> {
        self.elements.get(path).copied()
    }

    /// The child elements of a parent: a type name (`HumanName`) or an element path
    /// (`Patient.contact`, `Patient.name`, `Questionnaire.item.item`).
    pub fn children(&self, parent: &str) -> Option<&[&'static ElementDef]> {
        self.children_of(parent).map(|c| c.list.as_slice())
    }

    /// The element a JSON property `json_name` names under `parent` (a type name or
    /// element path), with the property's concrete type. Choice properties resolve
    /// by their JSON name: `element("Observation", "valueQuantity")` is
    /// `Observation.value[x]` with type `Quantity`. Primitive companions (`_given`)
    /// are not elements: strip the underscore first.
    pub fn element(&self, parent: &str, json_name: &str) -> Option<ElementMatch> {
        self.children_of(parent)?.by_json.get(json_name).copied()
    }

    /// The element paths (relative to the resource, e.g. `subject`,
    /// `participant.actor`) that can hold the Patient of a resource's patient
    /// compartment, primary subject first. Empty for resources outside the
    /// compartment and for Patient itself (keyed by its own id).
    pub fn patient_compartment_paths(&self, resource_type: &str) -> &'static [&'static str] {
        self.compartment.get(resource_type).copied().unwrap_or(&[])
    }

    fn children_of(&self, parent: &str) -> Option<&Children> {
        if let Some(c) = self.children.get(parent) {
            return Some(c);
        }
        // An element whose children come from elsewhere: its type's, or the
        // referenced backbone's.
        let def = self.elements.get(parent)?;
        if let Some(p) = def.children_path {
            return self.children.get(p);
        }
        match def.types {
            [t] => self.children.get(t),
            _ => None,
        }
    }
}

/// The R4 metadata, parsed once at first use.
pub fn metadata() -> &'static Metadata {
    static M: OnceLock<Metadata> = OnceLock::new();
    M.get_or_init(|| parse(ELEMENTS))
}

/// Raw element line, before children paths are known.
struct RawElement {
    path: &'static str,
    name: &'static str,
    min: u32,
    max: Max,
    types: &'static str,
    summary: bool,
}

/// Raw type line with its elements.
struct RawType {
    name: &'static str,
    kind: Kind,
    base: Option<&'static str>,
    is_abstract: bool,
    elements: Vec<RawElement>,
}

fn leak<T>(v: Vec<T>) -> &'static [T] {
    Vec::leak(v)
}

/// Parses the generated text. The input is compiled into the crate and produced by
/// the generator, so a malformed line is a build defect: it is skipped rather than
/// taking the process down, and the crate's tests catch it.
fn parse(text: &'static str) -> Metadata {
    let mut raw_types: Vec<RawType> = Vec::new();
    let mut compartment = HashMap::new();
    for line in text.lines() {
        let mut f = line.split(' ');
        match f.next() {
            Some("T") => {
                let (Some(name), Some(kind), Some(base), Some(abs)) =
                    (f.next(), f.next(), f.next(), f.next())
                else {
                    continue;
                };
                let kind = match kind {
                    "primitive" => Kind::Primitive,
                    "complex" => Kind::Complex,
                    _ => Kind::Resource,
                };
                let base = (base != "-").then_some(base);
                raw_types.push(RawType {
                    name,
                    kind,
                    base,
                    is_abstract: abs == "1",
                    elements: Vec::new(),
                });
            }
            Some("E") => {
                let (Some(rel), Some(min), Some(max), Some(types)) =
                    (f.next(), f.next(), f.next(), f.next())
                else {
                    continue;
                };
                let Some(current) = raw_types.last_mut() else {
                    continue;
                };
                let path: &'static str = format!("{}.{}", current.name, rel).leak();
                let name = rel.rsplit('.').next().unwrap_or(rel);
                let max = match max {
                    "*" => Max::Many,
                    "1" => Max::One,
                    n => Max::Count(n.parse().unwrap_or(u32::MAX)),
                };
                current.elements.push(RawElement {
                    path,
                    name,
                    min: min.parse().unwrap_or(0),
                    max,
                    types,
                    summary: f.next() == Some("S"),
                });
            }
            Some("C") => {
                if let Some(rt) = f.next() {
                    compartment.insert(rt, leak(f.collect()));
                }
            }
            _ => {}
        }
    }

    // Paths that have inline children (backbones).
    let mut has_children: HashMap<&'static str, ()> = HashMap::new();
    for t in &raw_types {
        for e in &t.elements {
            if let Some((parent, _)) = e.path.rsplit_once('.') {
                has_children.insert(parent, ());
            }
        }
    }
    // Types of every element path, to resolve contentReference types.
    let mut path_types: HashMap<&'static str, &'static str> = HashMap::new();
    for t in &raw_types {
        for e in &t.elements {
            path_types.insert(e.path, e.types);
        }
    }

    let mut types = HashMap::new();
    let mut elements = HashMap::new();
    let mut children: HashMap<&'static str, Children> = HashMap::new();
    let mut resource_types = Vec::new();
    for RawType {
        name,
        kind,
        base,
        is_abstract,
        elements: raw,
    } in raw_types
    {
        let defs: Vec<ElementDef> = raw
            .into_iter()
            .map(|e| {
                let (content_reference, types_text) = match e.types.strip_prefix('#') {
                    Some(target) => (
                        Some(target),
                        path_types.get(target).copied().unwrap_or("BackboneElement"),
                    ),
                    None => (None, e.types),
                };
                let children_path = content_reference
                    .or_else(|| has_children.contains_key(e.path).then_some(e.path));
                ElementDef {
                    path: e.path,
                    name: e.name,
                    min: e.min,
                    max: e.max,
                    types: leak(types_text.split('|').collect()),
                    content_reference,
                    children_path,
                    summary: e.summary,
                }
            })
            .collect();
        let defs = leak(defs);
        children.entry(name).or_default();
        for def in defs {
            elements.insert(def.path, def);
            let parent = def.path.rsplit_once('.').map_or(name, |(p, _)| p);
            let entry = children.entry(parent).or_default();
            entry.list.push(def);
            if def.is_choice() {
                for t in def.types {
                    let json: &'static str = choice_json_name(def.base_name(), t).leak();
                    entry
                        .by_json
                        .entry(json)
                        .or_insert(ElementMatch { def, type_code: t });
                }
            } else {
                let type_code = def.types.first().copied().unwrap_or("Element");
                entry
                    .by_json
                    .insert(def.name, ElementMatch { def, type_code });
            }
        }
        if kind == Kind::Resource && !is_abstract {
            resource_types.push(name);
        }
        types.insert(
            name,
            TypeDef {
                name,
                kind,
                base,
                is_abstract,
                elements: defs,
            },
        );
    }
    resource_types.sort_unstable();
    Metadata {
        types,
        resource_types,
        elements,
        children,
        compartment,
    }
}

/// `value` + `dateTime` → `valueDateTime` (R4 formats.html#choice).
fn choice_json_name(base: &str, type_code: &str) -> String {
    let mut s = String::with_capacity(base.len() + type_code.len());
    s.push_str(base);
    let mut chars = type_code.chars();
    if let Some(first) = chars.next() {
        s.extend(first.to_uppercase());
        s.push_str(chars.as_str());
    }
    s
}
