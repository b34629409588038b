//! Pairwise precision and recall against the truth carried in record ids.

use std::collections::HashMap;

use crate::linkage::LinkedPair;
use crate::matcher::Decision;
use crate::record::Features;
use crate::synthetic::true_entity;

/// Pairwise confusion counts and the derived figures.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct PairwiseScore {
    /// Linked pairs that are the same person.
    pub true_positives: u64,
    /// Linked pairs that are different people.
    pub false_positives: u64,
    /// Same-person pairs not linked.
    pub false_negatives: u64,
    /// Pairs sent to review.
    pub review: u64,
}

impl PairwiseScore {
    /// Precision.
    pub fn precision(&self) -> f64 {
        let d = self.true_positives + self.false_positives;
        if d == 0 {
            1.0
        } else {
            self.true_positives as f64 / d as f64
        }
    }

    /// Recall.
    pub fn recall(&self) -> f64 {
        let d = self.true_positives + self.false_negatives;
        if d == 0 {
            1.0
        } else {
            self.true_positives as f64 / d as f64
        }
    }

    /// F1.
    pub fn f1(&self) -> f64 {
        let (p, r) = (self.precision(), self.recall());
        if p + r == 0.0 {
            0.0
        } else {
            2.0 * p * r / (p + r)
        }
    }
}

/// Scores the `link` pairs against the true entities of the record ids (`rec-N-…`,
/// `PN-k`). With `cross_source_only`, only pairs across sources count as true pairs.
pub fn evaluate(
    records: &[Features],
    pairs: &[LinkedPair],
    cross_source_only: bool,
) -> PairwiseScore {
    let mut s = PairwiseScore::default();
    let mut by_entity: HashMap<&str, Vec<u16>> = HashMap::new();
    for r in records {
        if let Some(e) = true_entity(&r.id) {
            by_entity.entry(e).or_default().push(r.source);
        }
    }
    let mut true_pairs = 0u64;
    for sources in by_entity.values() {
        for i in 0..sources.len() {
            for j in i + 1..sources.len() {
                if !cross_source_only || sources[i] != sources[j] {
                    true_pairs += 1;
                }
            }
        }
    }
    for p in pairs {
        if p.decision == Decision::Review {
            s.review += 1;
            continue;
        }
        let a = true_entity(&records[p.left as usize].id);
        let b = true_entity(&records[p.right as usize].id);
        if a.is_some() && a == b {
            s.true_positives += 1;
        } else {
            s.false_positives += 1;
        }
    }
    s.false_negatives = true_pairs.saturating_sub(s.true_positives);
    s
}
