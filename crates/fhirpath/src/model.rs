//! The questions the engine asks about the FHIR type model, as a small trait.
//!
//! FHIR JSON does not carry types: `"birthDate": "1974-12-25"` is a `date` only because the
//! R4 model says so, and `Observation.value` is found under `valueQuantity` because
//! `value[x]` is a choice element. The engine asks a [`ModelProvider`] for this; the R4
//! implementation over `hutong-fhir`'s generated metadata is [`crate::r4_model::R4Model`].
//! [`NoModel`] answers nothing, so navigation falls back to plain JSON keys.

/// What kind of type a FHIR type name denotes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TypeKind {
    /// A FHIR primitive (`boolean`, `date`, `code`, …): a JSON scalar plus `_name` metadata.
    Primitive,
    /// A complex data type (`Quantity`, `HumanName`, `BackboneElement`, …).
    Complex,
    /// A resource type (`Patient`, `DomainResource`, `Resource`, …).
    Resource,
}

/// What the model knows about one element of a type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Element {
    /// An element of one type. `type_name` is the FHIR type (`HumanName`, `date`,
    /// `BackboneElement`); `path` is what to pass as `owner` to look up its children: the
    /// type name itself, or the element path of a backbone element (`Patient.contact`).
    Typed {
        /// FHIR type name of the element.
        type_name: &'static str,
        /// Owner key for the element's own children.
        path: &'static str,
    },
    /// A choice element `name[x]`: its JSON key is `name` + a type name (`valueQuantity`).
    Choice,
}

/// Type information the engine needs from a FHIR version's model.
///
/// Implementations must be cheap: the engine asks these questions on every navigation step.
pub trait ModelProvider: Send + Sync {
    /// The canonical spelling of a known type name (`"Quantity"`, `"date"`), or `None`.
    fn type_name(&self, name: &str) -> Option<&'static str>;
    /// The kind of a known type.
    fn type_kind(&self, type_name: &str) -> Option<TypeKind>;
    /// The base type of a type (`Patient` → `DomainResource`, `code` → `string`).
    fn base_type(&self, type_name: &str) -> Option<&'static str>;
    /// Element `name` of `owner` (a type name or a backbone element path).
    fn element(&self, owner: &str, name: &str) -> Option<Element>;
}

/// A model that knows nothing: navigation uses JSON keys and values get JSON-derived types.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoModel;

impl ModelProvider for NoModel {
    fn type_name(&self, _name: &str) -> Option<&'static str> {
        None
    }
    fn type_kind(&self, _type_name: &str) -> Option<TypeKind> {
        None
    }
    fn base_type(&self, _type_name: &str) -> Option<&'static str> {
        None
    }
    fn element(&self, _owner: &str, _name: &str) -> Option<Element> {
        None
    }
}
