//! `hutong loadtest` command-line arguments and entry point.

use crate::mix::{parse_duration, Mix};
use crate::run::{run as run_load, Options};
use std::path::PathBuf;

/// Arguments of `hutong loadtest`.
#[derive(Debug, Clone, clap::Args)]
pub struct LoadtestArgs {
    /// FHIR base URL of the server under test.
    #[arg(long, default_value = "http://127.0.0.1:8080/fhir")]
    pub target: String,
    /// Concurrent clients.
    #[arg(long, default_value_t = 8)]
    pub concurrency: u64,
    /// Measured duration, e.g. 30s, 2m (warm-up not included).
    #[arg(long, default_value = "30s")]
    pub duration: String,
    /// Measured request count instead of a duration.
    #[arg(long)]
    pub requests: Option<u64>,
    /// Warm-up before measuring, e.g. 3s.
    #[arg(long, default_value = "3s")]
    pub warmup: String,
    /// Operation weights: read, create, transaction, history, search-identifier
    /// (alias search-patient), search-compartment, search-token, search-token-date,
    /// search-name, search-chain, search-has, search-include, search-revinclude,
    /// search-count.
    #[arg(long, default_value = "read=60,create=20,transaction=10,history=10")]
    pub mix: String,
    /// Residents of the synthetic region loaded before the run; 0 loads nothing and
    /// samples patients, ID numbers, names and dates from the server's data instead.
    #[arg(long, default_value_t = 200)]
    pub seed_residents: u64,
    /// Seed of the synthetic region.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Write the report as JSON to this file too.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Process id of the server, to report its CPU time next to the harness's.
    #[arg(long)]
    pub server_pid: Option<u32>,
    /// Allow a non-loopback target.
    #[arg(long)]
    pub allow_remote: bool,
}

/// Runs `hutong loadtest`.
pub async fn run(args: LoadtestArgs) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    hutong_synth::cli::check_loopback(&args.target, args.allow_remote)?;
    let options = Options {
        target: args.target.clone(),
        concurrency: args.concurrency.clamp(1, 10_000) as usize,
        duration: parse_duration(&args.duration)?,
        requests: args.requests,
        warmup: parse_duration(&args.warmup)?,
        mix: Mix::parse(&args.mix)?,
        seed_residents: args.seed_residents,
        seed: args.seed,
        server_pid: args.server_pid,
    };
    let report = run_load(&options).await?;
    print!("{}", report.text());
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_vec_pretty(&report.json())?)?;
    }
    Ok(())
}
