//! Scoring and deciding: the function the server calls for every registration.

use std::collections::hash_map::Entry;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use crate::blocking;
use crate::compare::{
    compare, Field, Pattern, FIELD_COUNT, FLAG_DIFFERENT_VALID_IDS, FLAG_HAN_NAMES,
    FLAG_SAME_VALID_ID, LEVEL_COUNT,
};
use crate::model::{probability, Model};
use crate::record::Features;

/// What to do with a candidate pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    /// Same person: link automatically.
    Link,
    /// Possibly the same person: a human decides (review queue).
    Review,
    /// Not the same person.
    NoLink,
}

impl Decision {
    /// Word used in `links.csv`.
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Link => "link",
            Decision::Review => "review",
            Decision::NoLink => "no_link",
        }
    }
}

/// Why a decision is what it is, beyond the score.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Rule {
    /// Equal valid ID numbers with consistent sex and birth date.
    SameValidId,
    /// The score alone.
    Score,
    /// Raised to review: equal valid ID numbers, but declared sex, birth date or the
    /// whole name (surname and given name) differ.
    SameIdConflict,
    /// Capped at review (not linked when the addresses differ): names agree only by
    /// sound, no ID or phone agrees.
    HomophoneOnly,
    /// Not linked: both records carry different valid ID numbers.
    DifferentValidIds,
    /// Not linked: the given names are different and no identifier agrees
    /// (twins and siblings share surname, address, phone and sometimes birth date).
    DifferentGivenName,
    /// Capped at review: family and given names both differ, though an ID number
    /// within one edit (or another identifier) agrees.
    DifferentName,
    /// Capped at review: given names only loosely similar or birth dates plainly
    /// different, with no identifier to back the link.
    WeaklyIdentified,
    /// Capped at review: the declared sexes differ and no ID number or other identifier
    /// within one edit says the records are one person (a twin of the other sex shares
    /// surname, birth date, address and phone).
    SexConflict,
    /// Capped at review: only name, sex and birth date agree; no identifier, phone,
    /// address or postcode backs them (namesakes born the same day exist).
    Uncorroborated,
}

impl Rule {
    /// Word used in explanations (`--explain` files).
    pub fn as_str(self) -> &'static str {
        match self {
            Rule::SameValidId => "same_valid_id",
            Rule::Score => "score",
            Rule::SameIdConflict => "same_id_conflict",
            Rule::HomophoneOnly => "homophone_only",
            Rule::DifferentValidIds => "different_valid_ids",
            Rule::DifferentGivenName => "different_given_name",
            Rule::DifferentName => "different_name",
            Rule::WeaklyIdentified => "weakly_identified",
            Rule::SexConflict => "sex_conflict",
            Rule::Uncorroborated => "uncorroborated",
        }
    }
}

/// Probability thresholds: `link` and above links, `review` and above is queued.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Thresholds {
    /// Auto-link at or above this probability.
    pub link: f64,
    /// Review at or above this probability (below `link`).
    pub review: f64,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            link: 0.995,
            review: 0.5,
        }
    }
}

/// One field's part of a score.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct FieldWeight {
    /// Field.
    pub field: Field,
    /// Agreement level label ("same pinyin, different characters" …).
    pub level: &'static str,
    /// log2(m/u) contributed to the total.
    pub weight: f64,
}

/// A scored pair with its explanation.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Score {
    /// Match probability (posterior).
    pub probability: f64,
    /// Total match weight (log2 odds).
    pub weight: f64,
    /// Decision after thresholds and rules.
    pub decision: Decision,
    /// The rule that decided.
    pub rule: Rule,
    /// Per-field weights, in field order (missing fields omitted).
    pub fields: Vec<FieldWeight>,
}

/// A trained model plus thresholds and rules: scores pairs and decides.
#[derive(Debug, Clone)]
pub struct Matcher {
    model: Model,
    thresholds: Thresholds,
    table: [[f64; LEVEL_COUNT]; FIELD_COUNT],
    prior: f64,
}

impl Matcher {
    /// Builds a matcher from a model and thresholds.
    pub fn new(model: Model, thresholds: Thresholds) -> Matcher {
        let mut table = [[0.0; LEVEL_COUNT]; FIELD_COUNT];
        for f in Field::ALL {
            for (l, w) in table[f.index()].iter_mut().enumerate() {
                *w = model.weight(f, l as u8);
            }
        }
        let prior = model.prior_weight();
        Matcher {
            model,
            thresholds,
            table,
            prior,
        }
    }

    /// The model in use.
    pub fn model(&self) -> &Model {
        &self.model
    }

    /// The thresholds in use.
    pub fn thresholds(&self) -> Thresholds {
        self.thresholds
    }

    /// Probability, decision and rule of a pattern (fast path, no explanation).
    pub fn decide(&self, p: Pattern) -> (f64, Decision, Rule) {
        let sex_ok = p.level(Field::Sex) != 1;
        let date_ok = matches!(p.level(Field::BirthDate), 0 | 4);
        if p.has(FLAG_SAME_VALID_ID) && sex_ok && date_ok {
            if p.has(FLAG_HAN_NAMES) && p.level(Field::Family) == 1 && p.level(Field::Given) == 1 {
                // One number under two wholly different names: a number typed into the
                // wrong record, or lent (a newborn registered on its mother's number).
                // A human must look before two people's records become one.
                return (
                    probability(self.weight(p)),
                    Decision::Review,
                    Rule::SameIdConflict,
                );
            }
            return (1.0, Decision::Link, Rule::SameValidId);
        }
        let w = self.weight(p);
        let prob = probability(w);
        let mut decision = if prob >= self.thresholds.link {
            Decision::Link
        } else if prob >= self.thresholds.review {
            Decision::Review
        } else {
            Decision::NoLink
        };
        let mut rule = Rule::Score;
        if p.has(FLAG_SAME_VALID_ID) && decision == Decision::NoLink {
            // One valid ID number, declared sex or birth date in conflict: a person with
            // a data-entry error or a borrowed ID. Either way a human must look.
            return (prob, Decision::Review, Rule::SameIdConflict);
        }
        // Guards, strongest first. They only ever lower a decision.
        if decision != Decision::NoLink {
            if p.has(FLAG_DIFFERENT_VALID_IDS) {
                // Two valid ID numbers (check character passed) are two documents.
                decision = Decision::NoLink;
                rule = Rule::DifferentValidIds;
            } else if p.has(FLAG_HAN_NAMES) && names_or_birth_disagree(p) {
                // What a household member looks like: shared address and phone.
                decision = Decision::NoLink;
                rule = Rule::DifferentGivenName;
            } else if p.has(FLAG_HAN_NAMES)
                && p.level(Field::Family) == 1
                && p.level(Field::Given) == 1
            {
                // An ID number one edit away does not make two wholly different names
                // one person (a twin's number mistyped lands next to the other's).
                decision = Decision::Review;
                rule = Rule::DifferentName;
            } else if homophone_only(p) {
                // A homophone namesake living elsewhere is not worth a reviewer's time;
                // one at the same address or county is, unless the birth dates are
                // plainly different too (two slips in one registration, against a
                // namesake in a county of many thousands).
                let address = p.level(Field::Address);
                decision = if address <= 1 || (address < 4 && p.level(Field::BirthDate) == 1) {
                    Decision::NoLink
                } else {
                    Decision::Review
                };
                rule = Rule::HomophoneOnly;
            } else if p.has(FLAG_HAN_NAMES) && weakly_identified(p) && !same_name_same_home(p) {
                // As for homophones: a loosely similar name elsewhere, with no phone
                // either, is not worth a reviewer's time; nor is a plainly different
                // birth date with the other sex (only the name and county agree).
                let elsewhere = p.level(Field::Address) <= 1 && p.level(Field::Phone) < 2;
                decision = if elsewhere || p.level(Field::Sex) == 1 {
                    Decision::NoLink
                } else {
                    Decision::Review
                };
                rule = Rule::WeaklyIdentified;
            } else if p.has(FLAG_HAN_NAMES) && sex_conflict(p) {
                decision = Decision::Review;
                rule = Rule::SexConflict;
            } else if p.has(FLAG_HAN_NAMES) && uncorroborated(p) {
                decision = Decision::Review;
                rule = Rule::Uncorroborated;
            }
        }
        (prob, decision, rule)
    }

    fn weight(&self, p: Pattern) -> f64 {
        let mut w = self.prior;
        for (i, row) in self.table.iter().enumerate() {
            w += row[((p.0 >> (3 * i)) & 7) as usize];
        }
        // Phone and address agree together for a whole household: not independent
        // evidence, so when both agree only the stronger counts.
        let phone = self.table[Field::Phone.index()][p.level(Field::Phone) as usize];
        let address = self.table[Field::Address.index()][p.level(Field::Address) as usize];
        if phone > 0.0 && address > 0.0 {
            w -= phone.min(address);
        }
        w
    }

    /// Compares two records and explains the score field by field.
    pub fn score(&self, a: &Features, b: &Features) -> Score {
        let p = compare(a, b);
        let (probability, decision, rule) = self.decide(p);
        let phone = self.table[Field::Phone.index()][p.level(Field::Phone) as usize];
        let address = self.table[Field::Address.index()][p.level(Field::Address) as usize];
        // When phone and address both agree only the stronger counts (see `weight`):
        // the weaker one is shown with weight 0 so the parts add up to the total.
        let discounted = (phone > 0.0 && address > 0.0).then_some(if phone < address {
            Field::Phone
        } else {
            Field::Address
        });
        let fields = Field::ALL
            .iter()
            .filter(|f| p.level(**f) != 0)
            .map(|&f| FieldWeight {
                field: f,
                level: f
                    .level_labels()
                    .get(p.level(f) as usize)
                    .copied()
                    .unwrap_or("?"),
                weight: if discounted == Some(f) {
                    0.0
                } else {
                    self.table[f.index()][p.level(f) as usize]
                },
            })
            .collect();
        Score {
            probability,
            weight: self.weight(p),
            decision,
            rule,
            fields,
        }
    }

    /// Scores a registration against every candidate the index's blocking finds, best
    /// first. This is the write-time entry point: the caller persists the record, then
    /// links it to the first candidate whose decision is [`Decision::Link`] and queues
    /// [`Decision::Review`] ones.
    pub fn match_record(&self, index: &MatchIndex, record: &Features) -> Vec<Candidate> {
        let mut out: Vec<Candidate> = index
            .candidates(record)
            .into_iter()
            .filter_map(|i| {
                let other = index.get(i)?;
                let score = self.score(record, other);
                (score.decision != Decision::NoLink).then(|| Candidate {
                    index: i,
                    record_id: other.id.to_string(),
                    score,
                })
            })
            .collect();
        out.sort_by(|a, b| b.score.probability.total_cmp(&a.score.probability));
        out
    }
}

/// Names agree only by sound (a homophone level on family or given name, no name part
/// disagreeing less) while neither the ID number nor the phone corroborates. A phone
/// within one edit corroborates: two mobile numbers one keystroke apart are a typo, not
/// a coincidence (a household shares the very same number).
pub fn homophone_only(p: Pattern) -> bool {
    let homophone = p.level(Field::Family) == 4 || p.level(Field::Given) == 4;
    let corroborated = p.level(Field::CitizenId) >= 3 || p.level(Field::Phone) >= 2;
    homophone && !corroborated
}

/// Declared sexes differ and no ID number or other identifier within one edit backs the
/// pair: sex is rarely mistyped, twins of the other sex share everything else.
pub fn sex_conflict(p: Pattern) -> bool {
    p.level(Field::Sex) == 1 && p.level(Field::CitizenId) < 3 && p.level(Field::Identifier) < 3
}

/// The very same name, written with the same characters, at the very same address, sex
/// not in conflict: a birth date that differs is a typing slip. (Two people of one
/// household do not share a full name.)
pub fn same_name_same_home(p: Pattern) -> bool {
    p.level(Field::Address) == 4
        && p.level(Field::Sex) != 1
        && p.level(Field::Family) == 5
        && p.level(Field::Given) == 5
}

/// No identifier corroborates, and the given name is different, or only loosely
/// similar while the birth date also disagrees: the shape of a twin, sibling or other
/// household member, whom shared address and phone must not merge.
pub fn names_or_birth_disagree(p: Pattern) -> bool {
    let corroborated = p.level(Field::CitizenId) >= 3 || p.level(Field::Identifier) >= 3;
    let given = p.level(Field::Given);
    let sex_differs = p.level(Field::Sex) == 1;
    !corroborated && (given == 1 || (given == 2 && (p.level(Field::BirthDate) <= 2 || sex_differs)))
}

/// No identifier corroborates and the given names are only loosely similar, or the birth
/// dates are plainly different: worth a human look, never an automatic merge.
pub fn weakly_identified(p: Pattern) -> bool {
    // A shared phone backs a birth-date error when the name is spelled the same; it
    // does not back a loosely similar given name (twins share the phone too), nor a
    // homophone one (a parent and child of one household: 王新 and 王鑫).
    let corroborated = p.level(Field::CitizenId) >= 3
        || p.level(Field::Identifier) >= 3
        || (p.level(Field::Phone) >= 3
            && p.level(Field::Given) == 5
            && p.level(Field::Family) == 5);
    !corroborated && (p.level(Field::Given) == 2 || p.level(Field::BirthDate) == 1)
}

/// Nothing beyond name, sex and birth date agrees well: no ID number or other
/// identifier within one edit, no phone, no postcode, and the addresses are not even
/// in the same county (or, when one birth date is unknown, not the same address).
pub fn uncorroborated(p: Pattern) -> bool {
    let no_identifier = p.level(Field::CitizenId) < 3
        && p.level(Field::Identifier) < 3
        && p.level(Field::Phone) < 3
        && p.level(Field::Postcode) < 3;
    // With the birth date unknown on one side, name and sex are all that agree: the
    // same county (not the same address) adds nothing a namesake would not share.
    let undated = p.level(Field::BirthDate) == 0 && p.level(Field::Address) < 4;
    no_identifier && (p.level(Field::Address) < 2 || undated)
}

/// A candidate returned by [`Matcher::match_record`].
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Candidate {
    /// Position of the candidate in the index.
    pub index: u32,
    /// The candidate's record id.
    pub record_id: String,
    /// Score and explanation.
    pub score: Score,
}

/// An in-memory index of records by blocking key, for write-time matching.
#[derive(Debug, Default)]
pub struct MatchIndex {
    records: Vec<Features>,
    blocks: BlockMap,
    /// Candidates returned per lookup at most (a runaway block must not stall a write).
    max_candidates: usize,
}

impl MatchIndex {
    /// An empty index.
    pub fn new() -> MatchIndex {
        MatchIndex {
            max_candidates: 2000,
            ..Default::default()
        }
    }

    /// Adds a record; returns its position.
    pub fn insert(&mut self, f: Features) -> u32 {
        let i = self.records.len() as u32;
        for k in blocking::keys(&f) {
            if k != 0 {
                self.blocks.insert(k, i);
            }
        }
        self.records.push(f);
        i
    }

    /// The record at a position.
    pub fn get(&self, i: u32) -> Option<&Features> {
        self.records.get(i as usize)
    }

    /// Number of records.
    pub fn len(&self) -> usize {
        self.records.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// Positions of records sharing at least one blocking key with `f`.
    pub fn candidates(&self, f: &Features) -> Vec<u32> {
        let mut out = Vec::new();
        for key in blocking::keys(f) {
            if key != 0 {
                out.extend(self.blocks.get(key).iter().take(self.max_candidates));
            }
        }
        out.sort_unstable();
        out.dedup();
        out
    }
}

/// Blocking key → record positions, laid out for a million records: most keys (an ID
/// number, a phone, a name reading) belong to one or two records, so a key's first
/// position lives in the table itself and only keys shared by several records own a
/// list. (A `HashMap<u64, Vec<u32>>` spends about 80 bytes on each one-record key.)
/// The pass is not part of the key: [`blocking::keys`] already mixes it into the hash.
#[derive(Debug, Default)]
struct BlockMap {
    /// A position, or [`SHARED`] | the index of the key's list in `shared`.
    table: HashMap<u64, u32, BuildKeyHasher>,
    shared: Vec<Vec<u32>>,
}

/// Marks a table value as the index of a list.
const SHARED: u32 = 1 << 31;

impl BlockMap {
    fn insert(&mut self, key: u64, position: u32) {
        debug_assert!(position < SHARED, "more than 2^31 records");
        match self.table.entry(key) {
            Entry::Vacant(v) => {
                v.insert(position);
            }
            Entry::Occupied(mut o) => {
                let value = *o.get();
                if value & SHARED == 0 {
                    o.insert(SHARED | self.shared.len() as u32);
                    self.shared.push(vec![value, position]);
                } else {
                    self.shared[(value & !SHARED) as usize].push(position);
                }
            }
        }
    }

    fn get(&self, key: u64) -> &[u32] {
        match self.table.get(&key) {
            None => &[],
            Some(v) if v & SHARED == 0 => std::slice::from_ref(v),
            Some(v) => &self.shared[(v & !SHARED) as usize],
        }
    }
}

/// Hashes a blocking key, which is already a hash: one multiply spreads its bits over
/// the table's bucket and tag bits (SipHash would only cost time here).
#[derive(Debug, Default, Clone, Copy)]
struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        }
    }

    fn write_u64(&mut self, n: u64) {
        let h = (self.0 ^ n).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        self.0 = h ^ (h >> 29);
    }
}

type BuildKeyHasher = BuildHasherDefault<KeyHasher>;
