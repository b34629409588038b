//! `hutong synth` command-line arguments and entry point.

use crate::config::{Config, ErrorRates};
use crate::output::{self, Format, RegistrationsCsv};
use crate::region::Region;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

/// Arguments of `hutong synth`.
#[derive(Debug, Clone, clap::Args)]
pub struct SynthArgs {
    /// Number of residents.
    #[arg(long, default_value_t = 1000)]
    pub residents: u64,
    /// Seed; the same seed and options give byte-identical output.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Output directory (Bundles or NDJSON, ground-truth.csv, registrations.csv).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Output format of `--out`.
    #[arg(long, value_enum, default_value_t = Format::Bundles)]
    pub format: Format,
    /// Write only the registrations CSV (record_id,name,sex,dob,id_number,phone,address)
    /// to this file; no clinical data is generated.
    #[arg(long)]
    pub registrations_csv: Option<PathBuf>,
    /// Stream the region into a server at this FHIR base URL (loopback only unless
    /// `--allow-remote`).
    #[arg(long)]
    pub target: Option<String>,
    /// Requests in flight with `--target`.
    #[arg(long, default_value_t = 4)]
    pub concurrency: usize,
    /// Allow a non-loopback `--target`.
    #[arg(long)]
    pub allow_remote: bool,
    /// GB/T 2260 code of the city (in Zhejiang).
    #[arg(long, default_value = "330100")]
    pub city: String,
    /// Most institutions a person is registered at.
    #[arg(long, default_value_t = 4)]
    pub max_registrations: u32,
    /// Scale all registration error rates (0 = clean registrations, 1 = defaults).
    #[arg(long, default_value_t = 1.0)]
    pub error_scale: f64,
    /// Demographics only, no clinical history.
    #[arg(long)]
    pub no_clinical: bool,
}

/// Runs `hutong synth`.
pub async fn run(args: SynthArgs) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    if args.out.is_none() && args.registrations_csv.is_none() && args.target.is_none() {
        return Err("give --out DIR, --registrations-csv FILE or --target URL".into());
    }
    let d = ErrorRates::default();
    let s = args.error_scale.max(0.0);
    let errors = ErrorRates {
        name: d.name * s,
        id_digit: d.id_digit * s,
        id_transposition: d.id_transposition * s,
        id_missing: d.id_missing * s,
        id_legacy15: d.id_legacy15 * s,
        dob_swap: d.dob_swap * s,
        phone_changed: d.phone_changed * s,
        address_format: d.address_format * s,
    };
    let config = Config {
        residents: args.residents,
        seed: args.seed,
        city: args.city.clone(),
        errors,
        max_registrations: args.max_registrations,
        clinical: !args.no_clinical,
        ..Config::default()
    };
    if let Some(path) = &args.registrations_csv {
        let region = Region::new(Config {
            clinical: false,
            ..config.clone()
        })?;
        let mut csv = RegistrationsCsv::create(path)?;
        let mut n = 0u64;
        for resident in region.residents() {
            for reg in &resident.registrations {
                csv.write(reg, resident.person.male)?;
                n += 1;
            }
        }
        csv.finish()?;
        println!(
            "wrote {n} registrations of {} residents to {}",
            args.residents,
            path.display()
        );
    }
    let region = Arc::new(Region::new(config)?);
    if let Some(dir) = &args.out {
        let started = Instant::now();
        let mut last = Instant::now();
        let summary = output::write_dir(&region, dir, args.format, |s| {
            if last.elapsed().as_secs() >= 5 {
                last = Instant::now();
                tracing::info!(
                    residents = s.residents,
                    resources = s.resources,
                    "generating"
                );
                eprintln!("… {} residents, {} resources", s.residents, s.resources);
            }
        })?;
        let secs = started.elapsed().as_secs_f64();
        println!(
            "wrote {} residents, {} registrations, {} resources ({:.1} MB) to {} in {:.2}s ({:.0} resources/s)",
            summary.residents,
            summary.registrations,
            summary.resources,
            summary.bytes as f64 / 1e6,
            dir.display(),
            secs,
            summary.resources as f64 / secs.max(1e-9)
        );
    }
    if let Some(target) = &args.target {
        check_loopback(target, args.allow_remote)?;
        let started = Instant::now();
        let report = crate::push::push(
            Arc::clone(&region),
            target.trim_end_matches('/'),
            args.concurrency,
        )
        .await?;
        let secs = started.elapsed().as_secs_f64();
        println!(
            "posted {} bundles ({} resources) to {target} in {secs:.2}s ({:.0} resources/s), {} failed",
            report.bundles,
            report.resources,
            report.resources as f64 / secs.max(1e-9),
            report.failures
        );
        if let Some(e) = report.first_error {
            return Err(format!("{} bundles failed; first error: {e}", report.failures).into());
        }
    }
    Ok(())
}

/// Refuses a target whose host is not a loopback address unless allowed.
pub fn check_loopback(target: &str, allow_remote: bool) -> Result<(), String> {
    if allow_remote {
        return Ok(());
    }
    let url = reqwest::Url::parse(target).map_err(|e| format!("bad target URL {target}: {e}"))?;
    let host = url
        .host_str()
        .unwrap_or("")
        .trim_start_matches('[')
        .trim_end_matches(']');
    let loopback = host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|a| a.is_loopback());
    if loopback {
        Ok(())
    } else {
        Err(format!(
            "target {target} is not a loopback address; pass --allow-remote to send to it"
        ))
    }
}
