//! FHIR R4 (4.0.1) model for Hutong: type metadata generated from the official
//! definitions, resource validation, identifiers and references, OperationOutcome.
//!
//! Owns: what a valid R4 resource is (element paths, types, cardinality, primitive
//! formats), the patient-compartment key of a resource, reference rewriting.
//! Must never: touch storage, HTTP or the clock; everything here is a plain function
//! of its input, so tests and the FHIRPath engine can call it directly.
//!
//! Entry points: [`validate::validate_resource`], [`r4::metadata`],
//! [`compartment::patient_key`], [`reference::rewrite_references`],
//! [`outcome::Issue`].

pub mod compartment;
pub mod id;
pub mod identifier;
pub mod outcome;
pub mod primitive;
pub mod r4;
pub mod reference;
pub mod validate;

pub use id::{Id, ResourceType};
pub use outcome::{Issue, IssueSeverity, IssueType};
