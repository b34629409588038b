//! Load harness (压力测试): replays realistic FHIR traffic against a running `hutong`
//! server and reports throughput, errors and latency percentiles per operation.
//!
//! **Owns**: seeding a server with a synthetic region (via `hutong-synth`), the
//! operation mix (reads by id, creates, transaction Bundles, history, searches), the
//! workers that drive it, and the report (text and JSON), including the CPU time the
//! harness itself used, so a reader can tell whether the server was saturated.
//!
//! **Never**: sends traffic to a non-loopback host unless explicitly allowed
//! (`--allow-remote`), counts warm-up requests, or asserts on timings (figures are
//! reported, never judged).
//!
//! **Entry points**: [`run::run`] with [`run::Options`] → [`report::Report`];
//! [`mix::Mix::parse`]; [`cli::run`] for `hutong loadtest`.

pub mod cli;
pub mod cpu;
pub mod mix;
pub mod query;
pub mod report;
pub mod run;
