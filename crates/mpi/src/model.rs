//! Fellegi–Sunter model: m and u probabilities per field level, estimated by EM.
//!
//! `m[f][l]` = P(field f at level l | same person), `u[f][l]` = P(level l | different
//! people). The match weight of a level is log2(m/u); a pair's total weight is the
//! prior log-odds plus the sum over fields, and its probability 2^w / (1 + 2^w).
//! Missing fields (level 0) add nothing. Estimation follows Splink: u from random
//! pairs, then EM over the blocked candidate pairs for λ and m (u held fixed).

use std::collections::HashMap;

use crate::compare::{Field, Pattern, FIELD_COUNT, LEVEL_COUNT};

/// Smallest probability kept, so no weight is infinite.
const FLOOR: f64 = 1e-6;

/// Parameters of a Fellegi–Sunter model; serialisable so a trained model can be saved
/// by `hutong mpi train` and loaded by the server.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Model {
    /// Prior probability that a candidate pair is a match.
    pub lambda: f64,
    /// Field names, in pattern order (checked on load).
    pub fields: Vec<String>,
    /// m probabilities, `[field][level]`.
    pub m: Vec<Vec<f64>>,
    /// u probabilities, `[field][level]`.
    pub u: Vec<Vec<f64>>,
    /// Candidate pairs the estimate was made on.
    pub trained_on_pairs: u64,
}

/// Errors loading a model file.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// The file is not a model.
    #[error("model file is not valid: {0}")]
    Parse(#[from] serde_json::Error),
    /// The fields do not match this version's comparisons.
    #[error("model file has fields {0:?}, this version compares {1:?}")]
    Fields(Vec<String>, Vec<String>),
}

fn field_names() -> Vec<String> {
    Field::ALL.iter().map(|f| f.name().to_string()).collect()
}

impl Default for Model {
    /// A prior model (agreement likely for matches, rare otherwise); EM starts here.
    fn default() -> Self {
        let mut m = vec![vec![0.0; LEVEL_COUNT]; FIELD_COUNT];
        let mut u = vec![vec![0.0; LEVEL_COUNT]; FIELD_COUNT];
        for f in Field::ALL {
            let n = f.level_labels().len();
            for l in 1..n {
                // Top level most likely for matches; "different" most likely otherwise.
                m[f.index()][l] = if l == n - 1 {
                    0.9
                } else {
                    0.1 / (n - 2) as f64
                };
                u[f.index()][l] = if l == 1 { 0.9 } else { 0.1 / (n - 2) as f64 };
            }
        }
        Model {
            lambda: 0.01,
            fields: field_names(),
            m,
            u,
            trained_on_pairs: 0,
        }
    }
}

/// Pattern → count.
pub type PatternCounts = HashMap<Pattern, u64>;

impl Model {
    /// Reads a model written by [`Model::to_json`].
    pub fn from_json(s: &str) -> Result<Model, ModelError> {
        let m: Model = serde_json::from_str(s)?;
        if m.fields != field_names()
            || m.m.len() != FIELD_COUNT
            || m.u.len() != FIELD_COUNT
            || m.m.iter().chain(&m.u).any(|v| v.len() != LEVEL_COUNT)
        {
            return Err(ModelError::Fields(m.fields, field_names()));
        }
        Ok(m)
    }

    /// Serialises the model (pretty JSON).
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    /// Match weight (log2 m/u) of a field at a level; 0 for level 0 or unknown levels.
    pub fn weight(&self, f: Field, level: u8) -> f64 {
        let l = level as usize;
        if l == 0 || l >= f.level_labels().len() {
            return 0.0;
        }
        (self.m[f.index()][l].max(FLOOR) / self.u[f.index()][l].max(FLOOR)).log2()
    }

    /// Prior log2 odds.
    pub fn prior_weight(&self) -> f64 {
        let l = self.lambda.clamp(FLOOR, 1.0 - FLOOR);
        (l / (1.0 - l)).log2()
    }

    /// Total match weight of a pattern (prior included).
    pub fn total_weight(&self, p: Pattern) -> f64 {
        self.prior_weight()
            + Field::ALL
                .iter()
                .map(|&f| self.weight(f, p.level(f)))
                .sum::<f64>()
    }

    /// Sets u from level frequencies among random pairs (nearly all non-matches).
    pub fn estimate_u(&mut self, random: &PatternCounts) {
        for f in Field::ALL {
            let n = f.level_labels().len();
            let mut counts = vec![1.0f64; n]; // add-one smoothing
            counts[0] = 0.0;
            for (p, c) in random {
                let l = p.level(f) as usize;
                if l > 0 && l < n {
                    counts[l] += *c as f64;
                }
            }
            let total: f64 = counts.iter().sum();
            for (l, c) in counts.iter().enumerate().skip(1) {
                self.u[f.index()][l] = c / total;
            }
        }
    }

    /// Expectation–maximisation over candidate-pair patterns: re-estimates λ and m
    /// (u fixed when `fix_u`), `iterations` rounds or until λ moves less than 1e-7.
    pub fn estimate_em(&mut self, counts: &PatternCounts, iterations: usize, fix_u: bool) {
        self.estimate_em_fields(counts, iterations, fix_u, &Field::ALL);
    }

    /// [`Model::estimate_em`] re-estimating only the fields in `free` (and λ).
    pub fn estimate_em_fields(
        &mut self,
        counts: &PatternCounts,
        iterations: usize,
        fix_u: bool,
        free: &[Field],
    ) {
        let patterns: Vec<(Pattern, f64)> = counts
            .iter()
            .map(|(p, c)| (p.levels_only(), *c as f64))
            .collect();
        let total: f64 = patterns.iter().map(|(_, c)| c).sum();
        if total == 0.0 {
            return;
        }
        self.trained_on_pairs = total as u64;
        for _ in 0..iterations {
            let mut m_acc = vec![vec![0.0f64; LEVEL_COUNT]; FIELD_COUNT];
            let mut u_acc = vec![vec![0.0f64; LEVEL_COUNT]; FIELD_COUNT];
            let mut matches = 0.0;
            for (p, c) in &patterns {
                let w = self.total_weight(*p);
                let prob = 1.0 / (1.0 + (-w).exp2());
                let (pm, pu) = (prob * c, (1.0 - prob) * c);
                matches += pm;
                for f in Field::ALL {
                    let l = p.level(f) as usize;
                    m_acc[f.index()][l] += pm;
                    u_acc[f.index()][l] += pu;
                }
            }
            let new_lambda = (matches / total).clamp(FLOOR, 1.0 - FLOOR);
            for &f in free {
                let n = f.level_labels().len();
                let fi = f.index();
                let msum: f64 = m_acc[fi][1..n].iter().sum();
                let usum: f64 = u_acc[fi][1..n].iter().sum();
                for l in 1..n {
                    if msum > 0.0 {
                        self.m[fi][l] = (m_acc[fi][l] / msum).max(FLOOR);
                    }
                    if !fix_u && usum > 0.0 {
                        self.u[fi][l] = (u_acc[fi][l] / usum).max(FLOOR);
                    }
                }
            }
            let moved = (new_lambda - self.lambda).abs();
            self.lambda = new_lambda;
            if moved < 1e-7 {
                break;
            }
        }
    }
}

impl Model {
    /// Re-estimates only λ by EM, m and u held fixed.
    pub fn estimate_lambda(&mut self, counts: &PatternCounts, iterations: usize) {
        let total: f64 = counts.values().map(|c| *c as f64).sum();
        if total == 0.0 {
            return;
        }
        for _ in 0..iterations {
            let matches: f64 = counts
                .iter()
                .map(|(p, c)| probability(self.total_weight(p.levels_only())) * *c as f64)
                .sum();
            let new_lambda = (matches / total).clamp(FLOOR, 1.0 - FLOOR);
            let moved = (new_lambda - self.lambda).abs();
            self.lambda = new_lambda;
            if moved < 1e-9 {
                break;
            }
        }
    }
}

impl Model {
    /// Sets m (or u) of every field but `except` from labelled pairs: pairs known to be
    /// matches give m, pairs known to be non-matches give u (add-one smoothing).
    pub fn estimate_from_labels(
        &mut self,
        labelled: &PatternCounts,
        matches: bool,
        except: &[Field],
    ) {
        for f in Field::ALL.iter().filter(|f| !except.contains(f)) {
            let n = f.level_labels().len();
            let mut counts = vec![0.5f64; n];
            counts[0] = 0.0;
            for (p, c) in labelled {
                let l = p.level(*f) as usize;
                if l > 0 && l < n {
                    counts[l] += *c as f64;
                }
            }
            let total: f64 = counts.iter().sum();
            let target = if matches { &mut self.m } else { &mut self.u };
            for l in 1..n {
                target[f.index()][l] = counts[l] / total;
            }
        }
    }
}

/// Converts a match weight to a probability.
pub fn probability(weight: f64) -> f64 {
    1.0 / (1.0 + (-weight).exp2())
}
