//! Synthetic Chinese health region (合成区域): a deterministic generator of valid FHIR R4
//! data for tests, benchmarks and the demo.
//!
//! **Owns**: the administrative geography of one city (real GB/T 2260 codes, derived by
//! `scripts/gen_synth_tables.py` into `data/`), its institutions (Organization +
//! Location, with unified social credit codes), practitioners and family-doctor teams
//! (CareTeam), residents with valid 身份证号, their registrations at several
//! institutions with configurable errors and a ground truth, and a clinical history per
//! registration (Encounter, Condition, Observation, DiagnosticReport, ImagingStudy,
//! MedicationRequest, Immunization, DocumentReference).
//!
//! **Never**: reads the clock or the OS random source (the same seed and configuration
//! give byte-identical output on every machine), holds the whole region in memory (a
//! resident is generated from `(seed, index)` alone), or depends on the server or store.
//!
//! **Entry points**: [`Region::new`] with a [`Config`], then [`Region::reference_resources`]
//! and [`Region::residents`] (or [`Region::resident`] by index); [`transaction_bundle`]
//! to wrap resources; [`output::write_dir`] for `hutong synth --out`; [`demo_bundles`]
//! for `hutong serve --demo`; [`cli::run`] for the command.

pub mod bundle;
pub mod cli;
pub mod clinical;
pub mod config;
pub mod date;
pub mod idnumber;
pub mod institution;
pub mod output;
pub mod person;
mod push;
pub mod region;
mod rng;
pub mod systems;
pub mod tables;

pub use bundle::{transaction_bundle, BundleMode};
pub use config::{Config, ErrorRates};
pub use region::{Region, Resident};

/// Transaction Bundles of a small demo region: first the reference data, then one per
/// resident. Entries are `PUT Type/id`, so loading the same demo twice changes nothing.
/// Yields nothing if the built-in city is missing (it never is).
///
/// ```
/// let bundles: Vec<_> = hutong_synth::demo_bundles(3, 42).collect();
/// assert_eq!(bundles.len(), 4);
/// ```
pub fn demo_bundles(residents: usize, seed: u64) -> impl Iterator<Item = serde_json::Value> {
    let region = Region::new(Config {
        residents: residents as u64,
        seed,
        ..Config::default()
    })
    .ok();
    let reference = region
        .as_ref()
        .map(|r| transaction_bundle(&r.reference_resources(), BundleMode::Put));
    let count = region.as_ref().map_or(0, |r| r.config().residents);
    reference.into_iter().chain((0..count).filter_map(move |i| {
        region
            .as_ref()
            .map(|r| transaction_bundle(&r.resident(i).resources, BundleMode::Put))
    }))
}
