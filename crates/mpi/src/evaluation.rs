//! Pairwise precision and recall against the truth carried in record ids.

use std::collections::HashMap;

use crate::compare::{compare, Pattern};
use crate::linkage::{Blocks, LinkedPair};
use crate::matcher::{Decision, Matcher, Rule};
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

/// Where a pair the evaluation counts against the linker ended up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Decided by the matcher (link, review or no link).
    Decided(Decision),
    /// Decided `review`, but the `link` pairs already join the two records into one
    /// person, so the pair is not queued.
    Settled,
    /// No blocking pass put the two records in one compared block.
    NotCompared,
}

impl Outcome {
    /// Word used in explanation files.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Decided(d) => d.as_str(),
            Outcome::Settled => "settled",
            Outcome::NotCompared => "not_compared",
        }
    }
}

/// A pair that costs precision, recall or a reviewer's time, with what decided it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ExplainedPair {
    /// Position of the first record.
    pub left: u32,
    /// Position of the second record.
    pub right: u32,
    /// Both records belong to the same true entity.
    pub same_entity: bool,
    /// What happened to the pair.
    pub outcome: Outcome,
    /// The rule that decided (the score alone, or a guard).
    pub rule: Rule,
    /// Match probability.
    pub probability: f64,
    /// Field levels and flags.
    pub pattern: Pattern,
}

/// Every pair the truth disagrees with or a human would have to look at: true pairs not
/// linked (in review, decided `no_link`, or never compared), false links, and review
/// pairs of either kind. For tuning rules against generated or FEBRL data.
pub fn explain(
    records: &[Features],
    blocks: &Blocks,
    matcher: &Matcher,
    pairs: &[LinkedPair],
    cross_source_only: bool,
) -> Vec<ExplainedPair> {
    let decided: HashMap<(u32, u32), Decision> = pairs
        .iter()
        .map(|p| ((p.left, p.right), p.decision))
        .collect();
    let mut by_entity: HashMap<&str, Vec<u32>> = HashMap::new();
    for (i, r) in records.iter().enumerate() {
        if let Some(e) = true_entity(&r.id) {
            by_entity.entry(e).or_default().push(i as u32);
        }
    }
    let explained = |left: u32, right: u32, same_entity: bool| {
        let p = compare(&records[left as usize], &records[right as usize]);
        let (probability, decision, rule) = matcher.decide(p);
        let outcome = if !blocks.shares_block(left, right) {
            Outcome::NotCompared
        } else if decision == Decision::Review && !decided.contains_key(&(left, right)) {
            Outcome::Settled
        } else {
            Outcome::Decided(decision)
        };
        ExplainedPair {
            left,
            right,
            same_entity,
            outcome,
            rule,
            probability,
            pattern: p,
        }
    };
    let mut out = Vec::new();
    for members in by_entity.values() {
        for (x, &i) in members.iter().enumerate() {
            for &j in &members[x + 1..] {
                let (l, r) = (i.min(j), i.max(j));
                if cross_source_only && records[l as usize].source == records[r as usize].source {
                    continue;
                }
                if decided.get(&(l, r)) != Some(&Decision::Link) {
                    out.push(explained(l, r, true));
                }
            }
        }
    }
    for p in pairs {
        let same = true_entity(&records[p.left as usize].id)
            .is_some_and(|e| true_entity(&records[p.right as usize].id) == Some(e));
        if !same {
            out.push(explained(p.left, p.right, false));
        }
    }
    out.sort_by_key(|e| (e.left, e.right));
    out
}
