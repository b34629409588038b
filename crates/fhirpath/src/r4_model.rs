//! [`ModelProvider`] over the generated FHIR R4 metadata of `hutong-fhir`.

use std::sync::OnceLock;

use hutong_fhir::r4::{self, Kind, Metadata};

use crate::model::{Element, ModelProvider, TypeKind};

/// The FHIR R4 (4.0.1) type model, from `hutong_fhir::r4::metadata()`.
#[derive(Debug)]
pub struct R4Model {
    md: &'static Metadata,
}

impl R4Model {
    /// The shared instance (the metadata is parsed once, at first use).
    pub fn get() -> &'static R4Model {
        static M: OnceLock<R4Model> = OnceLock::new();
        M.get_or_init(|| R4Model { md: r4::metadata() })
    }
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
        if let Some(m) = self.md.element(owner, name) {
            return Some(Element::Typed {
                type_name: m.type_code,
                path: m.children_parent(),
            });
        }
        // `value` names the choice element `value[x]`, whose JSON keys are `valueQuantity` …
        let children = self.md.children(owner)?;
        children
            .iter()
            .any(|d| d.is_choice() && d.base_name() == name)
            .then_some(Element::Choice)
    }
}
