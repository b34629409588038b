//! Master patient index (主索引): one resident, one identity, across every institution.
//!
//! **Owns** the identity rules and the matching engine: citizen ID numbers
//! (GB 11643-1999, [`CitizenId`]), other identity documents (WS 364 CV02.01.101,
//! [`document`]), normalisation of names (width, traditional → simplified, every
//! pinyin reading), phones, addresses (GB/T 2260 divisions) and partial dates;
//! consistency checks; Fellegi–Sunter scoring with EM-estimated m/u ([`model`]);
//! multi-pass blocking ([`blocking`]); batch linkage and clustering ([`linkage`]);
//! `hutong mpi …` ([`cli`]).
//!
//! **Must never**: log an ID number in clear (`CitizenId`'s `Display`/`Debug` mask it);
//! panic on input (every parser returns an error or a missing value); auto-link two
//! records whose names agree only by sound without an ID number or phone to back it
//! ([`matcher::homophone_only`]); touch storage or HTTP (the server owns golden
//! records, links and the review queue, and calls this crate to score).
//!
//! **Entry points**: [`CitizenId::parse`]; [`Features::from_record`] to normalise a
//! registration; [`Matcher::match_record`] against a [`MatchIndex`] for write-time
//! matching (scored candidates with per-field weights and a [`Decision`]);
//! [`linkage::train`] / [`linkage::link`] / [`linkage::clusters`] for batch runs.

pub mod blocking;
pub mod citizen_id;
pub mod cli;
pub mod compare;
pub mod date;
pub mod divisions;
pub mod document;
pub mod evaluation;
pub mod input;
pub mod linkage;
pub mod matcher;
pub mod model;
pub mod name;
pub mod phone;
pub mod record;
pub mod synthetic;

pub use citizen_id::{CitizenId, CitizenIdError, Sex};
pub use date::PartialDate;
pub use matcher::{Candidate, Decision, MatchIndex, Matcher, Score, Thresholds};
pub use model::Model;
pub use record::{Features, PersonRecord};
