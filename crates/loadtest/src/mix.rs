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
    /// `GET Patient?identifier=system|value` (身份证号); also accepted as
    /// `search-patient`, its earlier name.
    SearchIdentifier,
    /// `GET Observation?patient=id&_sort=-date&_count=50` (one patient's observations).
    SearchCompartment,
    /// `GET Observation?code=http://loinc.org|4548-4` (a selective token).
    SearchToken,
    /// The selective token and one quarter of `date`.
    SearchTokenDate,
    /// `GET Patient?name=张` (family-name prefix).
    SearchName,
    /// `GET Observation?subject:Patient.identifier=system|value` (chained).
    SearchChain,
    /// `GET Patient?_has:Observation:patient:code=…` (reverse chain).
    SearchHas,
    /// `GET DiagnosticReport?patient=id&_include=DiagnosticReport:result`.
    SearchInclude,
    /// `GET Encounter?patient=id&_revinclude=Condition:encounter`.
    SearchRevinclude,
    /// `GET Observation?code=…&_summary=count` over common and rare codes.
    SearchCount,
}

impl Op {
    /// Every operation, in report order.
    pub const ALL: [Op; 14] = [
        Op::Read,
        Op::Create,
        Op::Transaction,
        Op::History,
        Op::SearchIdentifier,
        Op::SearchCompartment,
        Op::SearchToken,
        Op::SearchTokenDate,
        Op::SearchName,
        Op::SearchChain,
        Op::SearchHas,
        Op::SearchInclude,
        Op::SearchRevinclude,
        Op::SearchCount,
    ];

    /// The name used in `--mix` and reports.
    pub fn name(self) -> &'static str {
        match self {
            Op::Read => "read",
            Op::Create => "create",
            Op::Transaction => "transaction",
            Op::History => "history",
            Op::SearchIdentifier => "search-identifier",
            Op::SearchCompartment => "search-compartment",
            Op::SearchToken => "search-token",
            Op::SearchTokenDate => "search-token-date",
            Op::SearchName => "search-name",
            Op::SearchChain => "search-chain",
            Op::SearchHas => "search-has",
            Op::SearchInclude => "search-include",
            Op::SearchRevinclude => "search-revinclude",
            Op::SearchCount => "search-count",
        }
    }

    /// Whether the operation is a search (built by [`crate::query::search_request`]).
    pub fn is_search(self) -> bool {
        !matches!(self, Op::Read | Op::Create | Op::Transaction | Op::History)
    }

    fn parse(s: &str) -> Option<Op> {
        if s == "search-patient" {
            return Some(Op::SearchIdentifier);
        }
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
    #[error("unknown operation '{0}' (known: {known})", known = known_ops())]
    UnknownOp(String),
    /// All weights are zero.
    #[error("the mix has no operation with a positive weight")]
    Empty,
}

fn known_ops() -> String {
    Op::ALL.map(Op::name).join(", ")
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
