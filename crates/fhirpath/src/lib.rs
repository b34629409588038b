//! FHIRPath engine (placeholder until the FHIRPath issue lands).
