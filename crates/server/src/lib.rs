//! The `hutong` server: FHIR R4 REST API over HTTP, and the command-line tools.
//!
//! Owns: routing, authentication into an access context, content negotiation,
//! the mapping of every error to an HTTP status and OperationOutcome ([`error`]),
//! the processing of transactions and batches ([`transaction`]), metrics, and the
//! CLI (`serve`, `import`).
//! Must never: contain storage code (that is `hutong-store`) or FHIR structure rules
//! (that is `hutong-fhir`); handlers parse the request, call one function below them,
//! and render the answer.
//!
//! Entry points: [`app::router`] / [`app::serve`] for the HTTP server,
//! [`import::import_paths`] for bulk loading.

pub mod app;
pub mod auth;
pub mod bundle;
pub mod capabilities;
pub mod config;
pub mod create;
pub mod delete;
pub mod demo;
pub mod error;
pub mod extract;
pub mod fhirpath_tool;
pub mod health;
pub mod history;
pub mod import;
pub mod metrics;
pub mod mpi;
pub mod negotiation;
pub mod patch;
pub mod read;
pub mod reindex;
pub mod render;
pub mod request;
pub mod search;
pub mod search_parameters;
pub mod summary;
pub mod terminology;
pub mod transaction;
pub mod update;
