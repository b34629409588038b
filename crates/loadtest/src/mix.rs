//! The operations a load test sends and the mix that weighs them.

use std::fmt;

/// One kind of request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Op {
    /// `GET Type/id` of a seeded resource.
    Read,
    /// `POST Type` of a Patient or Observation.
    Create,
    /// `POST` a transaction Bundle of one resident (fresh `urn:uuid` ids).
    Transaction,
    /// `GET Patient/id/_history`.
    History,
    /// `GET Patient?identifier=system|value` (身份证号).
    SearchPatient,
    /// `GET Observation?subject=Patient/id` (patient compartment).
    SearchCompartment,
    /// `GET Observation?code=http://loinc.org|…` (token search).
    SearchToken,
}

impl Op {
    /// Every operation, in report order.
    pub const ALL: [Op; 7] = [
        Op::Read,
        Op::Create,
        Op::Transaction,
        Op::History,
        Op::SearchPatient,
        Op::SearchCompartment,
        Op::SearchToken,
    ];

    /// The name used in `--mix` and reports.
    pub fn name(self) -> &'static str {
        match self {
            Op::Read => "read",
            Op::Create => "create",
            Op::Transaction => "transaction",
            Op::History => "history",
            Op::SearchPatient => "search-patient",
            Op::SearchCompartment => "search-compartment",
            Op::SearchToken => "search-token",
        }
    }

    fn parse(s: &str) -> Option<Op> {
        Op::ALL.into_iter().find(|o| o.name() == s)
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Weighted operations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mix(pub Vec<(Op, u32)>);

/// A `--mix` that cannot be understood.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum MixError {
    /// An item is not `name=weight`.
    #[error("mix item '{0}' is not name=weight")]
    Syntax(String),
    /// Unknown operation name.
    #[error("unknown operation '{0}' (known: read, create, transaction, history, search-patient, search-compartment, search-token)")]
    UnknownOp(String),
    /// All weights are zero.
    #[error("the mix has no operation with a positive weight")]
    Empty,
}

impl Mix {
    /// Parses `read=60,create=20,…`.
    pub fn parse(s: &str) -> Result<Mix, MixError> {
        let mut out = Vec::new();
        for item in s.split(',').map(str::trim).filter(|i| !i.is_empty()) {
            let (name, weight) = item
                .split_once('=')
                .ok_or_else(|| MixError::Syntax(item.to_owned()))?;
            let op = Op::parse(name.trim())
                .ok_or_else(|| MixError::UnknownOp(name.trim().to_owned()))?;
            let weight: u32 = weight
                .trim()
                .parse()
                .map_err(|_| MixError::Syntax(item.to_owned()))?;
            if weight > 0 {
                out.push((op, weight));
            }
        }
        if out.is_empty() {
            return Err(MixError::Empty);
        }
        Ok(Mix(out))
    }

    /// The operation for a uniform draw `x` in `0..total()`.
    pub fn pick(&self, mut x: u64) -> Op {
        for &(op, w) in &self.0 {
            if x < u64::from(w) {
                return op;
            }
            x -= u64::from(w);
        }
        self.0.last().map_or(Op::Read, |p| p.0)
    }

    /// Sum of the weights.
    pub fn total(&self) -> u64 {
        self.0.iter().map(|p| u64::from(p.1)).sum()
    }
}

impl std::str::FromStr for Mix {
    type Err = MixError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Mix::parse(s)
    }
}

/// Parses `30s`, `2m`, `500ms` or a plain number of seconds.
pub fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    let s = s.trim();
    let (num, unit) = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .map_or((s, "s"), |i| (&s[..i], &s[i..]));
    let n: f64 = num.parse().map_err(|_| format!("bad duration '{s}'"))?;
    let secs = match unit {
        "ms" => n / 1000.0,
        "s" => n,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        _ => return Err(format!("bad duration unit in '{s}' (ms, s, m, h)")),
    };
    if !secs.is_finite() || secs < 0.0 {
        return Err(format!("bad duration '{s}'"));
    }
    Ok(std::time::Duration::from_secs_f64(secs))
}
