//! Generated FHIR R4 metadata. STUB: replaced by the generated tables.
use std::sync::OnceLock;

/// FHIR R4 structure metadata.
pub struct Metadata {
    resource_types: Vec<&'static str>,
}

impl Metadata {
    /// The canonical name if `name` is a concrete R4 resource type.
    pub fn resource_type(&self, name: &str) -> Option<&'static str> {
        self.resource_types.iter().copied().find(|t| *t == name)
    }
    /// All concrete resource types, sorted.
    pub fn resource_types(&self) -> &[&'static str] {
        &self.resource_types
    }
}

/// The R4 metadata, loaded once.
pub fn metadata() -> &'static Metadata {
    static M: OnceLock<Metadata> = OnceLock::new();
    M.get_or_init(|| Metadata {
        resource_types: vec!["Bundle", "Observation", "Organization", "Patient", "Practitioner"],
    })
}
