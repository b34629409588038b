//! Runs the FEBRL data sets 1–4 through the batch linkage and holds precision and
//! recall above floors a little below what was measured (see crates/mpi/README.md).

use std::path::{Path, PathBuf};

use hutong_mpi::evaluation::{evaluate, PairwiseScore};
use hutong_mpi::input::{read_file, Mapping};
use hutong_mpi::linkage::{self, Blocks, LinkOptions};
use hutong_mpi::{Features, Matcher, Thresholds};

const FEBRL: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/testdata/febrl"
);

fn run(files: &[&str]) -> Option<PairwiseScore> {
    let dir = Path::new(FEBRL);
    if !dir.is_dir() {
        eprintln!("SKIPPED: FEBRL data sets not found at {FEBRL}: linkage accuracy NOT checked");
        return None;
    }
    let mapping = Mapping::parse("febrl").expect("preset parses");
    let mut features = Vec::new();
    for (i, f) in files.iter().enumerate() {
        let path: PathBuf = dir.join(f);
        let recs = read_file(&path, Some(&mapping), i as u16).expect("FEBRL file reads");
        features.extend(recs.iter().map(Features::from_record));
    }
    let opts = LinkOptions {
        cross_source_only: files.len() > 1,
        ..LinkOptions::default()
    };
    let blocks = Blocks::build(&features, opts.max_block);
    let model = linkage::train(&features, &blocks, &opts, 200_000, 3_000_000);
    let link: f64 = std::env::var("MPI_LINK")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(Thresholds::default().link);
    let matcher = Matcher::new(
        model,
        Thresholds {
            link,
            ..Thresholds::default()
        },
    );
    let pairs = linkage::link(&features, &blocks, &matcher, &opts, &|_| {});
    let s = evaluate(&features, &pairs, opts.cross_source_only);
    if std::env::var("MPI_DEBUG").is_ok() {
        let m = matcher.model();
        eprintln!("lambda {}", m.lambda);
        for f in hutong_mpi::compare::Field::ALL {
            let w: Vec<String> = (1..f.level_labels().len())
                .map(|l| format!("{:.1}", m.weight(f, l as u8)))
                .collect();
            eprintln!("  {:12} {}", f.name(), w.join(" "));
        }
        let mut shown = 0;
        for p in pairs
            .iter()
            .filter(|p| p.decision == hutong_mpi::Decision::Link)
        {
            let (a, b) = (&features[p.left as usize], &features[p.right as usize]);
            if hutong_mpi::synthetic::true_entity(&a.id)
                != hutong_mpi::synthetic::true_entity(&b.id)
                && shown < 8
            {
                shown += 1;
                eprintln!(
                    "FP {:.4} {} {:?} {:?} {:?} | {} {:?} {:?} {:?}",
                    p.probability,
                    a.id,
                    a.family.text,
                    a.given.text,
                    a.birth_date,
                    b.id,
                    b.family.text,
                    b.given.text,
                    b.birth_date
                );
                eprintln!(
                    "   {:?}",
                    matcher
                        .score(a, b)
                        .fields
                        .iter()
                        .map(|f| (f.field.name(), f.level, (f.weight * 10.0).round() / 10.0))
                        .collect::<Vec<_>>()
                );
            }
        }
    }
    eprintln!(
        "{files:?}: precision {:.4} recall {:.4} F1 {:.4} (tp {} fp {} fn {} review {})",
        s.precision(),
        s.recall(),
        s.f1(),
        s.true_positives,
        s.false_positives,
        s.false_negatives,
        s.review
    );
    Some(s)
}

fn assert_floor(s: Option<PairwiseScore>, precision: f64, recall: f64) {
    if let Some(s) = s {
        assert!(
            s.precision() >= precision,
            "precision {} below {precision}",
            s.precision()
        );
        assert!(s.recall() >= recall, "recall {} below {recall}", s.recall());
    }
}

#[test]
fn febrl1_deduplication_is_precise_and_complete() {
    assert_floor(run(&["dataset1.csv"]), 0.999, 0.99);
}

#[test]
fn febrl2_deduplication_is_precise_and_complete() {
    assert_floor(run(&["dataset2.csv"]), 0.999, 0.99);
}

#[test]
fn febrl3_deduplication_is_precise_and_complete() {
    assert_floor(run(&["dataset3.csv"]), 0.999, 0.99);
}

#[test]
fn febrl4_linkage_is_precise_and_complete() {
    assert_floor(run(&["dataset4a.csv", "dataset4b.csv"]), 0.999, 0.995);
}
