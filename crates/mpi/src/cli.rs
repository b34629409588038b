//! `hutong mpi …` command-line arguments and entry point.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use indicatif::{ProgressBar, ProgressStyle};

use crate::evaluation::evaluate;
use crate::input::{read_file, Mapping};
use crate::linkage::{self, Blocks, LinkOptions};
use crate::matcher::{Matcher, Thresholds};
use crate::model::Model;
use crate::record::Features;

/// Arguments of `hutong mpi`.
#[derive(Debug, Clone, clap::Args)]
pub struct MpiArgs {
    #[command(subcommand)]
    pub command: MpiCommand,
}

/// Options shared by `link` and `train`.
#[derive(Debug, Clone, clap::Args)]
pub struct InputArgs {
    /// Input files: CSV with a header, or NDJSON of FHIR Patients (.ndjson). One file is
    /// deduplicated; with several, only pairs across files are compared.
    #[arg(long, required = true, num_args = 1..)]
    pub input: Vec<PathBuf>,
    /// Column roles: a preset (`chinese`, `febrl`), `role=col[+col],…`, or a file holding
    /// that. Roles: id name family given sex dob citizen_id phone address postcode
    /// locality identifier. Default: detected from the header.
    #[arg(long)]
    pub mapping: Option<String>,
    /// Worker threads (default: all cores).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Blocks with more records than this are skipped.
    #[arg(long, default_value_t = 1000)]
    pub max_block: usize,
}

/// Sub-commands of `hutong mpi`.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum MpiCommand {
    /// Deduplicate one file or link several.
    Link {
        #[command(flatten)]
        input: InputArgs,
        /// Pairs decided `link` or `review`: left_id,right_id,probability,decision.
        #[arg(long)]
        output: PathBuf,
        /// Persons: record_id,person_id.
        #[arg(long)]
        clusters: Option<PathBuf>,
        /// m/u parameters written by `hutong mpi train`; default: estimate from the input.
        #[arg(long)]
        model: Option<PathBuf>,
        /// Auto-link at or above this probability.
        #[arg(long, default_value_t = Thresholds::default().link)]
        link_threshold: f64,
        /// Send to review at or above this probability.
        #[arg(long, default_value_t = Thresholds::default().review)]
        review_threshold: f64,
        /// Report pairwise precision/recall from the true entity in the record ids
        /// (`rec-N-…` of FEBRL, `PN-k` of `hutong mpi generate`).
        #[arg(long)]
        truth: bool,
        /// With `--truth`: write every pair that costs precision, recall or review
        /// (true pairs not linked, false links, review pairs) with the field levels and
        /// the rule that decided it, to this CSV file (no field values, only levels).
        #[arg(long, requires = "truth")]
        explain: Option<PathBuf>,
    },
    /// Estimate m/u parameters (EM, unsupervised) and write them to a file.
    Train {
        #[command(flatten)]
        input: InputArgs,
        /// Model file to write (JSON).
        #[arg(long)]
        output: PathBuf,
    },
    /// Measure write-time matching: index generated registrations, then match and insert
    /// held-out ones one at a time (as the server will) and print latency percentiles.
    Latency {
        /// Records in the index.
        #[arg(long, default_value_t = 1_000_000)]
        records: usize,
        /// Registrations matched one by one after the index is built.
        #[arg(long, default_value_t = 5_000)]
        probes: usize,
        /// Seed.
        #[arg(long, default_value_t = 7)]
        seed: u64,
    },
    /// Write seeded synthetic Chinese registrations with known truth (for benchmarks).
    Generate {
        /// Number of records.
        #[arg(long, default_value_t = 10_000)]
        records: usize,
        /// Seed.
        #[arg(long, default_value_t = 7)]
        seed: u64,
        /// CSV file to write (Chinese layout).
        #[arg(long)]
        output: PathBuf,
    },
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

fn load(args: &InputArgs) -> Result<(Vec<Features>, LinkOptions), BoxError> {
    let mapping = match &args.mapping {
        None => None,
        Some(m) if Path::new(m).is_file() => Some(Mapping::parse(&std::fs::read_to_string(m)?)?),
        Some(m) => Some(Mapping::parse(m)?),
    };
    let mut records = Vec::new();
    for (i, path) in args.input.iter().enumerate() {
        let source = u16::try_from(i).map_err(|_| "too many input files")?;
        records.extend(read_file(path, mapping.as_ref(), source)?);
    }
    let features: Vec<Features> = records.iter().map(Features::from_record).collect();
    let mut opts = LinkOptions {
        max_block: args.max_block,
        cross_source_only: args.input.len() > 1,
        ..LinkOptions::default()
    };
    if let Some(t) = args.threads {
        opts.threads = t.max(1);
    }
    Ok((features, opts))
}

fn train_model(features: &[Features], blocks: &Blocks, opts: &LinkOptions) -> Model {
    linkage::train(features, blocks, opts, 200_000, 3_000_000)
}

/// Runs `hutong mpi …`.
pub async fn run(args: MpiArgs) -> Result<(), BoxError> {
    match args.command {
        MpiCommand::Generate {
            records,
            seed,
            output,
        } => {
            let recs = crate::synthetic::generate(records, seed);
            let f = std::io::BufWriter::new(std::fs::File::create(&output)?);
            crate::synthetic::write_csv(&recs, f)?;
            eprintln!("wrote {} records to {}", recs.len(), output.display());
            Ok(())
        }
        MpiCommand::Latency {
            records,
            probes,
            seed,
        } => {
            let start = Instant::now();
            let all: Vec<Features> = crate::synthetic::generate(records + probes, seed)
                .iter()
                .map(Features::from_record)
                .collect();
            let (indexed, held_out) = all.split_at(all.len().saturating_sub(probes));
            let opts = LinkOptions::default();
            let blocks = Blocks::build(indexed, opts.max_block);
            let matcher = Matcher::new(train_model(indexed, &blocks, &opts), Thresholds::default());
            drop(blocks);
            let mut index = crate::matcher::MatchIndex::new();
            for f in indexed {
                index.insert(f.clone());
            }
            let built = start.elapsed();
            let mut times = Vec::with_capacity(held_out.len());
            let mut linked = 0usize;
            for f in held_out {
                let t = Instant::now();
                let c = matcher.match_record(&index, f);
                if c.first()
                    .is_some_and(|c| c.score.decision == crate::Decision::Link)
                {
                    linked += 1;
                }
                index.insert(f.clone());
                times.push(t.elapsed().as_secs_f64() * 1000.0);
            }
            times.sort_by(f64::total_cmp);
            let pct = |q: f64| {
                times
                    .get(((times.len() as f64 - 1.0) * q) as usize)
                    .copied()
                    .unwrap_or(0.0)
            };
            println!(
                "index {} records built in {:.1}s | {} registrations matched+inserted: p50 {:.3} ms p99 {:.3} ms max {:.3} ms | {} auto-linked",
                indexed.len(),
                built.as_secs_f64(),
                times.len(),
                pct(0.5),
                pct(0.99),
                times.last().copied().unwrap_or(0.0),
                linked
            );
            Ok(())
        }
        MpiCommand::Train { input, output } => {
            let (features, opts) = load(&input)?;
            let blocks = Blocks::build(&features, opts.max_block);
            let model = train_model(&features, &blocks, &opts);
            std::fs::write(&output, model.to_json())?;
            eprintln!(
                "trained on {} candidate pairs of {} records: lambda {:.6}; wrote {}",
                model.trained_on_pairs,
                features.len(),
                model.lambda,
                output.display()
            );
            Ok(())
        }
        MpiCommand::Link {
            input,
            output,
            clusters,
            model,
            link_threshold,
            review_threshold,
            truth,
            explain,
        } => {
            let start = Instant::now();
            let (features, opts) = load(&input)?;
            let loaded = start.elapsed();
            let blocks = Blocks::build(&features, opts.max_block);
            let model = match model {
                Some(p) => Model::from_json(&std::fs::read_to_string(p)?)?,
                None => train_model(&features, &blocks, &opts),
            };
            let trained = start.elapsed();
            let matcher = Matcher::new(
                model,
                Thresholds {
                    link: link_threshold,
                    review: review_threshold,
                },
            );
            let bar = ProgressBar::new(blocks.group_count() as u64);
            bar.set_style(
                ProgressStyle::with_template(
                    "{spinner} linking [{bar:40}] {pos}/{len} blocks {per_sec} eta {eta}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            let pairs = linkage::link(&features, &blocks, &matcher, &opts, &|n| bar.inc(n));
            bar.finish_and_clear();
            let mut w = std::io::BufWriter::new(std::fs::File::create(&output)?);
            writeln!(w, "left_id,right_id,probability,decision")?;
            for p in &pairs {
                writeln!(
                    w,
                    "{},{},{:.6},{}",
                    csv_field(&features[p.left as usize].id),
                    csv_field(&features[p.right as usize].id),
                    p.probability,
                    p.decision.as_str()
                )?;
            }
            w.flush()?;
            if let Some(path) = clusters {
                let person = linkage::clusters(features.len(), &pairs);
                let mut w = std::io::BufWriter::new(std::fs::File::create(&path)?);
                writeln!(w, "record_id,person_id")?;
                for (f, p) in features.iter().zip(person) {
                    writeln!(w, "{},{}", csv_field(&f.id), p)?;
                }
                w.flush()?;
            }
            let elapsed = start.elapsed();
            let links = pairs
                .iter()
                .filter(|p| p.decision == crate::Decision::Link)
                .count();
            println!(
                "records {} | candidate pairs {} (skipped blocks {}) | links {} | review {} | read {:.2}s train {:.2}s total {:.2}s | {:.0} records/s",
                features.len(),
                blocks.pair_estimate,
                blocks.skipped_blocks,
                links,
                pairs.len() - links,
                loaded.as_secs_f64(),
                (trained - loaded).as_secs_f64(),
                elapsed.as_secs_f64(),
                features.len() as f64 / elapsed.as_secs_f64().max(1e-9)
            );
            if truth {
                let s = evaluate(&features, &pairs, opts.cross_source_only);
                println!(
                    "truth: precision {:.4} recall {:.4} F1 {:.4} (tp {} fp {} fn {} review {})",
                    s.precision(),
                    s.recall(),
                    s.f1(),
                    s.true_positives,
                    s.false_positives,
                    s.false_negatives,
                    s.review
                );
            }
            if let Some(path) = explain {
                let rows = crate::evaluation::explain(
                    &features,
                    &blocks,
                    &matcher,
                    &pairs,
                    opts.cross_source_only,
                );
                write_explanation(&path, &features, &rows)?;
            }
            Ok(())
        }
    }
}

fn write_explanation(
    path: &Path,
    features: &[Features],
    rows: &[crate::evaluation::ExplainedPair],
) -> Result<(), BoxError> {
    use crate::compare::{Field, FLAG_DIFFERENT_VALID_IDS, FLAG_HAN_NAMES, FLAG_SAME_VALID_ID};
    let mut w = std::io::BufWriter::new(std::fs::File::create(path)?);
    write!(w, "left_id,right_id,same_entity,outcome,rule,probability")?;
    for f in Field::ALL {
        write!(w, ",{}", f.name())?;
    }
    writeln!(w, ",ids,han")?;
    for e in rows {
        write!(
            w,
            "{},{},{},{},{},{:.6}",
            csv_field(&features[e.left as usize].id),
            csv_field(&features[e.right as usize].id),
            e.same_entity,
            e.outcome.as_str(),
            e.rule.as_str(),
            e.probability
        )?;
        for f in Field::ALL {
            write!(w, ",{}", e.pattern.level(f))?;
        }
        let ids = if e.pattern.has(FLAG_SAME_VALID_ID) {
            "same_valid"
        } else if e.pattern.has(FLAG_DIFFERENT_VALID_IDS) {
            "different_valid"
        } else {
            ""
        };
        writeln!(w, ",{ids},{}", e.pattern.has(FLAG_HAN_NAMES))?;
    }
    w.flush()?;
    Ok(())
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}
