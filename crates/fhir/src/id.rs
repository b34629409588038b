//! Validated identifiers: logical resource ids and resource type names.
use std::fmt;

/// A logical resource id: `[A-Za-z0-9\-\.]{1,64}` (R4 datatypes.html#id).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Id(String);

impl Id {
    /// Parses and checks an id.
    pub fn parse(s: &str) -> Option<Id> {
        crate::primitive::is_id(s).then(|| Id(s.to_owned()))
    }
    /// The id as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A resource type name known to FHIR R4 (e.g. `Patient`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ResourceType(&'static str);

impl ResourceType {
    /// Returns the type when `s` names an R4 resource type (concrete, not abstract).
    pub fn parse(s: &str) -> Option<ResourceType> {
        crate::r4::metadata().resource_type(s).map(ResourceType)
    }
    /// The type name.
    pub fn as_str(&self) -> &'static str {
        self.0
    }
}

impl fmt::Display for ResourceType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}
