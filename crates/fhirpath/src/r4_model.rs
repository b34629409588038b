//! [`ModelProvider`] over the generated FHIR R4 metadata of `hutong-fhir`.
//!
//! Navigation asks "what is element `name` of `owner`" at every step, so the answers are
//! precomputed once into one flat table with a cheap hash (profiling the search-parameter
//! benchmark showed SipHash lookups through the metadata as the top cost).

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::OnceLock;

use hutong_fhir::r4::{self, Kind, Metadata};

use crate::model::{Element, ModelProvider, TypeKind};

/// FxHash (rustc's hasher): fast for short keys; the keys are fixed model names, not input.
#[derive(Default)]
struct Fx(u64);

impl Hasher for Fx {
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut v = [0u8; 8];
            v[..chunk.len()].copy_from_slice(chunk);
            self.0 = (self.0.rotate_left(5) ^ u64::from_le_bytes(v))
                .wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
        }
    }
    fn write_u8(&mut self, i: u8) {
        self.0 = (self.0.rotate_left(5) ^ i as u64).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

type Table = HashMap<(&'static str, &'static str), Element, BuildHasherDefault<Fx>>;

/// The FHIR R4 (4.0.1) type model, from `hutong_fhir::r4::metadata()`.
#[derive(Debug)]
pub struct R4Model {
    md: &'static Metadata,
    elements: Table,
    owners: std::collections::HashSet<&'static str, BuildHasherDefault<Fx>>,
}

impl R4Model {
    /// The shared instance (the metadata is parsed once, at first use).
    pub fn get() -> &'static R4Model {
        static M: OnceLock<R4Model> = OnceLock::new();
        M.get_or_init(|| {
            let md = r4::metadata();
            let elements = build_table(md);
            let owners = elements.keys().map(|(owner, _)| *owner).collect();
            R4Model {
                md,
                elements,
                owners,
            }
        })
    }
}

fn choice_json_name(base: &str, type_code: &str) -> String {
    let mut s = String::with_capacity(base.len() + type_code.len());
    s.push_str(base);
    let mut cs = type_code.chars();
    if let Some(c) = cs.next() {
        s.push(c.to_ascii_uppercase());
    }
    s.extend(cs);
    s
}

/// Every (parent, JSON name) of every type reachable from the resource types.
fn build_table(md: &'static Metadata) -> Table {
    let mut table = Table::default();
    let mut todo: Vec<&'static str> = md.resource_types().to_vec();
    todo.extend([
        "Resource",
        "DomainResource",
        "Element",
        "BackboneElement",
        "Extension",
    ]);
    let mut seen: Vec<&'static str> = Vec::new();
    while let Some(t) = todo.pop() {
        if seen.contains(&t) {
            continue;
        }
        seen.push(t);
        let Some(def) = md.type_def(t) else { continue };
        for e in def.elements {
            let parent = e.path.rsplit_once('.').map_or(def.name, |(p, _)| p);
            for ty in e.types {
                if !ty.starts_with("System.") && !seen.contains(ty) {
                    todo.push(ty);
                }
            }
            if e.is_choice() {
                table.insert((parent, e.base_name()), Element::Choice);
                for ty in e.types {
                    let json: &'static str =
                        Box::leak(choice_json_name(e.base_name(), ty).into_boxed_str());
                    table.entry((parent, json)).or_insert(Element::Typed {
                        type_name: ty,
                        path: ty,
                    });
                }
            } else {
                let ty = e.types.first().copied().unwrap_or("Element");
                table.insert(
                    (parent, e.name),
                    Element::Typed {
                        type_name: ty,
                        path: e.children_path.unwrap_or(ty),
                    },
                );
            }
        }
    }
    table
}

impl ModelProvider for R4Model {
    fn type_name(&self, name: &str) -> Option<&'static str> {
        self.md.type_def(name).map(|t| t.name)
    }

    fn type_kind(&self, type_name: &str) -> Option<TypeKind> {
        self.md.kind(type_name).map(|k| match k {
            Kind::Primitive => TypeKind::Primitive,
            Kind::Complex => TypeKind::Complex,
            Kind::Resource => TypeKind::Resource,
        })
    }

    fn base_type(&self, type_name: &str) -> Option<&'static str> {
        self.md.base_type(type_name)
    }

    fn element(&self, owner: &str, name: &str) -> Option<Element> {
        if owner.is_empty() {
            return None;
        }
        if let Some(e) = lookup(&self.elements, owner, name) {
            return Some(e);
        }
        if self.owners.contains(owner) {
            return None;
        }
        // Owners the table does not list directly (paths resolved through a type).
        if let Some(m) = self.md.element(owner, name) {
            return Some(Element::Typed {
                type_name: m.type_code,
                path: m.children_parent(),
            });
        }
        let children = self.md.children(owner)?;
        children
            .iter()
            .any(|d| d.is_choice() && d.base_name() == name)
            .then_some(Element::Choice)
    }
}

fn lookup(table: &Table, owner: &str, name: &str) -> Option<Element> {
    // HashMap<(&'static str, &'static str)> can be queried with shorter-lived strs because
    // `(&'static str, &'static str): Borrow<(&'x str, &'x str)>` holds by variance.
    table.get(&(owner, name)).copied()
}
