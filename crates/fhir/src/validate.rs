//! Structural validation of a resource against the R4 metadata (R4 validation.html:
//! structure, cardinality, value domains of primitives). Terminology bindings,
//! invariants (FHIRPath constraints) and profiles are out of scope here.
//!
//! Entry point: [`validate_resource`]. It reports every issue, each with a
//! FHIRPath-like `expression` that starts with the resource type and names the
//! element: `Patient.name[0].given[1]`, `Bundle.entry[2].resource.ofType(Patient).gender`.
//!
//! The walk allocates nothing on the happy path: the location is a chain of stack
//! frames ([`Loc`]) rendered to a string only when an issue is reported.

use crate::outcome::{Issue, IssueType};
use crate::primitive;
use crate::r4::{metadata, ElementMatch, Kind, Max, Metadata};
use serde_json::{Map, Value};

/// Nesting limit (JSON objects and arrays). Real resources stay far below it; deeper
/// input is hostile or broken and is rejected instead of risking the stack.
pub const MAX_DEPTH: usize = 64;

/// Validates a resource. Returns every issue found (all of severity error); the
/// `Err` vector is never empty.
pub fn validate_resource(resource: &Value) -> Result<(), Vec<Issue>> {
    let mut v = Validator {
        md: metadata(),
        issues: Vec::new(),
    };
    v.resource(resource, None, 0);
    if v.issues.is_empty() {
        Ok(())
    } else {
        Err(v.issues)
    }
}

/// One step of a location, linked to its parent on the stack.
#[derive(Clone, Copy)]
enum Step<'a> {
    /// The top-level resource, by type.
    Root(&'a str),
    /// A property.
    Field(&'a str),
    /// An array item.
    Index(usize),
    /// A nested resource, by type (`.ofType(Patient)`).
    OfType(&'a str),
}

/// A location in the resource: a step and the location of its parent.
#[derive(Clone, Copy)]
struct Loc<'a> {
    step: Step<'a>,
    parent: Option<&'a Loc<'a>>,
}

impl<'a> Loc<'a> {
    fn child(&'a self, step: Step<'a>) -> Loc<'a> {
        Loc {
            step,
            parent: Some(self),
        }
    }

    fn render(&self) -> String {
        let mut steps = Vec::new();
        let mut cur = Some(self);
        while let Some(l) = cur {
            steps.push(l.step);
            cur = l.parent;
        }
        let mut out = String::new();
        for step in steps.iter().rev() {
            match step {
                Step::Root(t) => out.push_str(t),
                Step::Field(f) => {
                    if !out.is_empty() {
                        out.push('.');
                    }
                    out.push_str(f);
                }
                Step::Index(i) => {
                    out.push('[');
                    out.push_str(&i.to_string());
                    out.push(']');
                }
                Step::OfType(t) => {
                    out.push_str(".ofType(");
                    out.push_str(t);
                    out.push(')');
                }
            }
        }
        out
    }
}

struct Validator {
    md: &'static Metadata,
    issues: Vec<Issue>,
}

impl Validator {
    fn report(&mut self, code: IssueType, loc: Option<&Loc>, msg: impl Into<String>) {
        let issue = Issue::error(code, msg);
        self.issues.push(match loc {
            Some(l) => issue.at(l.render()),
            None => issue,
        });
    }

    fn too_deep(&mut self, depth: usize, loc: &Loc) -> bool {
        if depth > MAX_DEPTH {
            self.report(
                IssueType::Structure,
                Some(loc),
                format!("nesting deeper than {MAX_DEPTH} levels"),
            );
            true
        } else {
            false
        }
    }

    /// A resource at the top level (`at` is `None`) or nested (contained, Bundle
    /// entry, Parameters parameter): dispatched on its own `resourceType`.
    fn resource(&mut self, value: &Value, at: Option<&Loc>, depth: usize) {
        let Value::Object(obj) = value else {
            let msg = format!(
                "a resource must be a JSON object, found {}",
                primitive::json_kind(value)
            );
            self.report(IssueType::Structure, at, msg);
            return;
        };
        let rt = match obj.get("resourceType") {
            None => return self.report(IssueType::Required, at, "resourceType is missing"),
            Some(Value::String(s)) => s.as_str(),
            Some(other) => {
                let msg = format!(
                    "resourceType must be a string, found {}",
                    primitive::json_kind(other)
                );
                return self.report(IssueType::Invalid, at, msg);
            }
        };
        let Some(rt) = self.md.resource_type(rt) else {
            let msg = format!("unknown resource type '{rt}'");
            return self.report(IssueType::NotSupported, at, msg);
        };
        let root;
        let loc = match at {
            Some(parent) => parent.child(Step::OfType(rt)),
            None => {
                root = Loc {
                    step: Step::Root(rt),
                    parent: None,
                };
                root
            }
        };
        self.object(obj, rt, &loc, depth + 1, true);
    }

    /// The properties of a JSON object whose children are defined under `parent`
    /// (a type name or backbone path).
    fn object(
        &mut self,
        obj: &Map<String, Value>,
        parent: &str,
        loc: &Loc,
        depth: usize,
        is_resource: bool,
    ) {
        if self.too_deep(depth, loc) {
            return;
        }
        if obj.is_empty() {
            self.report(
                IssueType::Structure,
                Some(loc),
                "empty object: an element must have a value or children",
            );
            return;
        }
        let md = self.md;
        for (key, value) in obj {
            if key == "resourceType" && is_resource {
                continue;
            }
            let (name, companion) = match key.strip_prefix('_') {
                Some(n) => (n, true),
                None => (key.as_str(), false),
            };
            let here = loc.child(Step::Field(key));
            let Some(m) = md.element(parent, name) else {
                let msg = if key == "resourceType" {
                    // ExampleScenario.instance.resourceType is a real element; anywhere
                    // else it marks a resource where a data type belongs.
                    "unknown element 'resourceType': only a resource has a resourceType".to_owned()
                } else {
                    format!("unknown element '{key}'")
                };
                self.report(IssueType::Structure, Some(&here), msg);
                continue;
            };
            let kind = md.kind(m.type_code);
            if m.def.children_path.is_none() && kind.is_none() {
                // Only the `value` of a primitive has a System type, and it is never
                // written as a property: the primitive itself is the JSON value.
                self.report(
                    IssueType::Structure,
                    Some(&here),
                    format!("unknown element '{key}'"),
                );
                continue;
            }
            if companion {
                if kind != Some(Kind::Primitive) || m.def.children_path.is_some() {
                    let msg = format!(
                        "unknown element '{key}': only primitive elements have '_' companions"
                    );
                    self.report(IssueType::Structure, Some(&here), msg);
                    continue;
                }
                self.check_choice(obj, key, name, m, loc);
                self.companion(obj, name, value, m, &here, depth);
                continue;
            }
            self.check_choice(obj, key, name, m, loc);
            self.property(obj, key, value, m, &here, depth);
        }
        self.check_required(obj, parent, loc);
    }

    /// Reports a second variant of a choice element, once, at the later key.
    fn check_choice(
        &mut self,
        obj: &Map<String, Value>,
        key: &str,
        name: &str,
        m: ElementMatch,
        loc: &Loc,
    ) {
        if !m.def.is_choice() {
            return;
        }
        let base = m.def.base_name();
        let parent = m.def.path.rsplit_once('.').map_or("", |p| p.0);
        for other_key in obj.keys() {
            if other_key == key {
                // Only keys before this one: the pair is reported once.
                return;
            }
            // `valueString` and `_valueString` are the same variant.
            let other = other_key.strip_prefix('_').unwrap_or(other_key);
            if other == name || !other.starts_with(base) {
                continue;
            }
            if let Some(o) = self.md.element(parent, other) {
                if std::ptr::eq(o.def, m.def) {
                    let here = loc.child(Step::Field(key));
                    let msg = format!(
                        "only one of the choice element {} may be present, found {other_key} and {key}",
                        m.def.name
                    );
                    self.report(IssueType::Structure, Some(&here), msg);
                    return;
                }
            }
        }
    }

    /// Required children (min >= 1) of a present parent. A primitive given only by
    /// its `_name` companion (extensions, no value) counts as present.
    fn check_required(&mut self, obj: &Map<String, Value>, parent: &str, loc: &Loc) {
        let md = self.md;
        let Some(children) = md.children(parent) else {
            return;
        };
        for def in children.iter().filter(|d| d.min >= 1) {
            let present = if def.is_choice() {
                let base = def.base_name();
                obj.keys().any(|k| {
                    let k = k.strip_prefix('_').unwrap_or(k);
                    k.starts_with(base)
                        && md
                            .element(parent, k)
                            .is_some_and(|m| std::ptr::eq(m.def, *def))
                })
            } else {
                obj.keys()
                    .any(|k| k.strip_prefix('_').unwrap_or(k) == def.name)
            };
            if !present {
                let msg = format!(
                    "missing required element '{}' (cardinality {}..{})",
                    def.name,
                    def.min,
                    max_text(def.max)
                );
                let here = loc.child(Step::Field(def.name));
                self.report(IssueType::Required, Some(&here), msg);
            }
        }
    }

    /// A property's value (single or array) against its element.
    fn property(
        &mut self,
        obj: &Map<String, Value>,
        key: &str,
        value: &Value,
        m: ElementMatch,
        here: &Loc,
        depth: usize,
    ) {
        let def = m.def;
        if def.max == Max::Count(0) {
            self.report(
                IssueType::Structure,
                Some(here),
                format!("element '{key}' is not allowed (cardinality 0..0)"),
            );
            return;
        }
        let is_primitive =
            def.children_path.is_none() && self.md.kind(m.type_code) == Some(Kind::Primitive);
        match value {
            Value::Array(items) if def.max.repeats() => {
                if items.is_empty() {
                    self.report(
                        IssueType::Structure,
                        Some(here),
                        "an array must not be empty",
                    );
                    return;
                }
                if let Max::Count(n) = def.max {
                    if items.len() > n as usize {
                        self.report(
                            IssueType::Structure,
                            Some(here),
                            format!("at most {n} items allowed (cardinality {}..{n})", def.min),
                        );
                    }
                }
                if self.too_deep(depth + 1, here) {
                    return;
                }
                // R4 json.html#primitive: a null item is allowed only where the
                // `_name` companion array carries the item's id/extensions.
                let companion = if is_primitive {
                    companion_of(obj, key)
                } else {
                    None
                };
                for (i, item) in items.iter().enumerate() {
                    let at = here.child(Step::Index(i));
                    if item.is_null() {
                        let covered = companion
                            .and_then(|c| c.get(i))
                            .is_some_and(|c| !c.is_null());
                        if !covered {
                            self.report(
                                IssueType::Structure,
                                Some(&at),
                                "null is not allowed in an array (except with a '_' companion)",
                            );
                        }
                        continue;
                    }
                    self.item(item, m, &at, depth + 1);
                }
            }
            Value::Array(_) => {
                let msg = format!(
                    "element '{key}' has cardinality {}..1 and must not be an array",
                    def.min
                );
                self.report(IssueType::Structure, Some(here), msg);
            }
            _ if def.max.repeats() => {
                let msg = format!(
                    "element '{key}' has cardinality {}..{} and must be an array",
                    def.min,
                    max_text(def.max)
                );
                self.report(IssueType::Structure, Some(here), msg);
            }
            Value::Null => self.report(
                IssueType::Structure,
                Some(here),
                "null is not a valid value",
            ),
            item => self.item(item, m, here, depth),
        }
    }

    /// One value of an element.
    fn item(&mut self, value: &Value, m: ElementMatch, at: &Loc, depth: usize) {
        if let Some(children) = m.def.children_path {
            return self.complex(value, children, at, depth);
        }
        match self.md.kind(m.type_code) {
            Some(Kind::Primitive) => {
                if let Err(e) = primitive::check(m.type_code, value) {
                    self.report(IssueType::Value, Some(at), e.to_string());
                }
            }
            Some(Kind::Complex) => self.complex(value, m.type_code, at, depth),
            Some(Kind::Resource) => self.resource(value, Some(at), depth),
            None => {}
        }
    }

    fn complex(&mut self, value: &Value, parent: &str, at: &Loc, depth: usize) {
        match value {
            Value::Object(obj) => self.object(obj, parent, at, depth + 1, false),
            other => {
                let msg = format!("expected an object, found {}", primitive::json_kind(other));
                self.report(IssueType::Structure, Some(at), msg);
            }
        }
    }

    /// `_name`: the id/extensions of primitive `name` (R4 json.html#primitive); an
    /// object, or for a repeating element an array parallel to the values.
    fn companion(
        &mut self,
        obj: &Map<String, Value>,
        name: &str,
        value: &Value,
        m: ElementMatch,
        here: &Loc,
        depth: usize,
    ) {
        let parent = m.type_code;
        match value {
            Value::Array(items) if m.def.max.repeats() => {
                if items.is_empty() {
                    self.report(
                        IssueType::Structure,
                        Some(here),
                        "an array must not be empty",
                    );
                    return;
                }
                match obj.get(name) {
                    Some(Value::Array(values)) if values.len() != items.len() => {
                        let msg = format!(
                            "'_{name}' must have as many items as '{name}' ({} vs {})",
                            items.len(),
                            values.len()
                        );
                        self.report(IssueType::Structure, Some(here), msg);
                    }
                    _ => {}
                }
                if self.too_deep(depth + 1, here) {
                    return;
                }
                for (i, item) in items.iter().enumerate() {
                    let at = here.child(Step::Index(i));
                    match item {
                        Value::Null => {}
                        Value::Object(o) => self.object(o, parent, &at, depth + 2, false),
                        other => {
                            let msg = format!(
                                "expected an object or null, found {}",
                                primitive::json_kind(other)
                            );
                            self.report(IssueType::Structure, Some(&at), msg);
                        }
                    }
                }
            }
            Value::Array(_) => {
                let msg = format!(
                    "element '_{name}' has cardinality {}..1 and must not be an array",
                    m.def.min
                );
                self.report(IssueType::Structure, Some(here), msg);
            }
            _ if m.def.max.repeats() => {
                let msg =
                    format!("element '_{name}' repeats and must be an array parallel to '{name}'");
                self.report(IssueType::Structure, Some(here), msg);
            }
            Value::Object(o) => self.object(o, parent, here, depth + 1, false),
            other => {
                let msg = format!("expected an object, found {}", primitive::json_kind(other));
                self.report(IssueType::Structure, Some(here), msg);
            }
        }
    }
}

/// The `_key` companion array of a repeating primitive, if any.
fn companion_of<'v>(obj: &'v Map<String, Value>, key: &str) -> Option<&'v Vec<Value>> {
    // Keys are short; scanning avoids allocating `_key`.
    obj.iter()
        .find(|(k, _)| k.strip_prefix('_') == Some(key))
        .and_then(|(_, v)| v.as_array())
}

fn max_text(max: Max) -> String {
    match max {
        Max::One => "1".to_owned(),
        Max::Many => "*".to_owned(),
        Max::Count(n) => n.to_string(),
    }
}
