//! FHIR R4 search (R4 search.html), the parts that are plain functions.
//!
//! **Owns**: the search-parameter registry generated from the official R4
//! SearchParameter definitions and the patient CompartmentDefinition
//! (`src/r4/search_params.txt`, written by `scripts/gen_search_params.py`); extraction
//! of index values from a resource by evaluating those FHIRPath expressions
//! ([`extract::extract`]); normalisation of strings, dates, tokens, quantities and
//! references into index rows; the query model ([`query::SearchQuery`]) parsed from
//! URL parameters with errors that name the offending parameter; the opaque paging
//! cursor.
//!
//! **Must never**: touch storage, SQL, HTTP or the clock (`ap` takes "now" as an
//! argument). Everything here is a pure function of its input, so the store can call
//! it inside a write transaction and tests can call it directly.
//!
//! **Entry points**: [`registry::registry`] → [`registry::Registry::param`];
//! [`extract::extract`] → [`extract::IndexRows`] (what the store writes next to a
//! resource); [`query::SearchQuery::parse`] (what the store executes).

pub mod cursor;
pub mod date;
pub mod extract;
pub mod normalize;
pub mod query;
pub mod registry;
pub mod units;

pub use extract::{extract, IndexRows};

pub use query::{QueryError, SearchQuery};
pub use registry::{registry, ParamType, Registry, SearchParam};
