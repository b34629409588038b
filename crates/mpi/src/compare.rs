//! Field comparisons: each field of a pair of records falls into one agreement level.
//!
//! Level 0 always means "missing on one side" (weight 0: no evidence either way),
//! level 1 "disagree", higher levels stronger agreement. The levels of all fields pack
//! into one `u32` [`Pattern`], so a whole pair is scored by a table look-up and EM
//! runs over distinct patterns, not pairs.

use strsim::{jaro_winkler, osa_distance};

use crate::name::NameKey;
use crate::record::Features;

/// A compared field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Field {
    /// Family name (姓).
    Family,
    /// Given name (名).
    Given,
    /// Birth date.
    BirthDate,
    /// Sex.
    Sex,
    /// Citizen ID number.
    CitizenId,
    /// Phone.
    Phone,
    /// Address tokens / division.
    Address,
    /// Postcode.
    Postcode,
    /// Locality (suburb, township).
    Locality,
    /// Other identifier.
    Identifier,
}

/// Number of compared fields.
pub const FIELD_COUNT: usize = 10;
/// Levels per field, including 0 = missing.
pub const LEVEL_COUNT: usize = 6;

impl Field {
    /// All fields in pattern order.
    pub const ALL: [Field; FIELD_COUNT] = [
        Field::Family,
        Field::Given,
        Field::BirthDate,
        Field::Sex,
        Field::CitizenId,
        Field::Phone,
        Field::Address,
        Field::Postcode,
        Field::Locality,
        Field::Identifier,
    ];

    /// Position in a pattern.
    pub fn index(self) -> usize {
        self as usize
    }

    /// Name used in model files and explanations.
    pub fn name(self) -> &'static str {
        match self {
            Field::Family => "family",
            Field::Given => "given",
            Field::BirthDate => "birth_date",
            Field::Sex => "sex",
            Field::CitizenId => "citizen_id",
            Field::Phone => "phone",
            Field::Address => "address",
            Field::Postcode => "postcode",
            Field::Locality => "locality",
            Field::Identifier => "identifier",
        }
    }

    /// Human label of each level (index = level), used when explaining a score.
    pub fn level_labels(self) -> &'static [&'static str] {
        match self {
            Field::Family | Field::Given => &[
                "missing",
                "different",
                "jaro-winkler >= 0.80 on pinyin",
                "jaro-winkler >= 0.92 on pinyin",
                "same pinyin, different characters",
                "same characters",
            ],
            Field::BirthDate => &[
                "missing",
                "different",
                "year +-1",
                "one digit or day/month swapped",
                "same",
            ],
            Field::Sex => &["missing", "different", "same"],
            Field::CitizenId | Field::Identifier => &[
                "missing",
                "different",
                "2 edits",
                "1 edit or transposition",
                "same",
            ],
            Field::Phone | Field::Postcode => &["missing", "different", "1 edit", "same"],
            Field::Address => &[
                "missing",
                "different",
                "some tokens or same county",
                "most tokens",
                "same",
            ],
            Field::Locality => &["missing", "different", "jaro-winkler >= 0.90", "same"],
        }
    }
}

/// Both records carry a valid ID number and the two are equal.
pub const FLAG_SAME_VALID_ID: u64 = 1 << 30;
/// Both records carry a valid ID number and the two differ: two documents, two people.
pub const FLAG_DIFFERENT_VALID_IDS: u64 = 1 << 31;
/// Both records carry Han-script names: the Chinese registration guards apply
/// (homophones, namesakes, households sharing address and phone).
pub const FLAG_HAN_NAMES: u64 = 1 << 32;

/// Levels of every field of one pair, packed 3 bits per field, plus flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Pattern(pub u64);

impl Pattern {
    /// Level of one field.
    pub fn level(self, f: Field) -> u8 {
        ((self.0 >> (3 * f.index())) & 7) as u8
    }

    /// True when a flag bit is set.
    pub fn has(self, flag: u64) -> bool {
        self.0 & flag != 0
    }

    fn set(&mut self, f: Field, level: u8) {
        self.0 |= u64::from(level & 7) << (3 * f.index());
    }

    /// The levels only, without flags (what the model is estimated on).
    pub fn levels_only(self) -> Pattern {
        Pattern(self.0 & ((1 << 30) - 1))
    }
}

fn name_level(a: &NameKey, b: &NameKey) -> u8 {
    if a.is_empty() || b.is_empty() {
        return 0;
    }
    if a.text == b.text {
        return 5;
    }
    if a.sounds_like(b) {
        // Only Han names can be homophones; Latin spellings that read alike differ by
        // spacing or case only.
        let han =
            a.text.chars().any(crate::name::is_han) || b.text.chars().any(crate::name::is_han);
        return if han { 4 } else { 3 };
    }
    let mut best = jaro_winkler(&a.text, &b.text);
    for ra in a.readings.iter().take(2) {
        for rb in b.readings.iter().take(2) {
            best = best.max(jaro_winkler(ra, rb));
        }
    }
    if best >= 0.92 {
        3
    } else if best >= 0.80 {
        2
    } else {
        1
    }
}

fn edit_level(a: &str, b: &str, exact: u8) -> u8 {
    if a.is_empty() || b.is_empty() {
        0
    } else if a == b {
        exact
    } else {
        match osa_distance(a, b) {
            1 => exact - 1,
            2 if exact >= 4 => exact - 2,
            _ => 1,
        }
    }
}

fn date_level(a: &Features, b: &Features) -> u8 {
    let (Some(x), Some(y)) = (&a.birth_date, &b.birth_date) else {
        return 0;
    };
    if x == y {
        return 4;
    }
    if x.agrees_with(y) {
        return 3;
    }
    if let (Some(xm), Some(xd), Some(ym), Some(yd)) = (x.month(), x.day(), y.month(), y.day()) {
        if x.year() == y.year() && xm == yd && xd == ym {
            return 3;
        }
        let (kx, ky) = (x.key().to_string(), y.key().to_string());
        if osa_distance(&kx, &ky) <= 1 {
            return 3;
        }
        if (x.year() - y.year()).abs() == 1 && xm == ym && xd == yd {
            return 2;
        }
    }
    1
}

fn jaccard(a: &[u64], b: &[u64]) -> f64 {
    // Both sorted and deduplicated.
    let (mut i, mut j, mut inter) = (0, 0, 0usize);
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                inter += 1;
                i += 1;
                j += 1;
            }
        }
    }
    let union = a.len() + b.len() - inter;
    if union == 0 {
        0.0
    } else {
        inter as f64 / union as f64
    }
}

fn address_level(a: &Features, b: &Features) -> u8 {
    let same_county =
        matches!((a.division, b.division), (Some(x), Some(y)) if x == y && x % 100 != 0);
    if let (Some(x), Some(y)) = (a.division, b.division) {
        // Two different counties: shared street names or 单元/号 bigrams mean nothing.
        if x % 100 != 0 && y % 100 != 0 && x != y {
            return 1;
        }
    }
    if a.address_tokens.is_empty() || b.address_tokens.is_empty() {
        return if same_county { 2 } else { 0 };
    }
    if a.address_tokens == b.address_tokens {
        return 4;
    }
    let j = jaccard(&a.address_tokens, &b.address_tokens);
    if j >= 0.6 {
        3
    } else if j >= 0.3 || same_county {
        2
    } else {
        1
    }
}

/// Compares two records field by field.
pub fn compare(a: &Features, b: &Features) -> Pattern {
    let mut p = Pattern(0);
    let (mut fam, mut giv) = (
        name_level(&a.family, &b.family),
        name_level(&a.given, &b.given),
    );
    if fam < 4 || giv < 4 {
        // Family and given written in each other's place (a common registration slip).
        let (xf, xg) = (
            name_level(&a.family, &b.given),
            name_level(&a.given, &b.family),
        );
        if xf >= 4 && xg >= 4 && u16::from(xf) + u16::from(xg) > u16::from(fam) + u16::from(giv) {
            (fam, giv) = (3, 3);
        }
    }
    p.set(Field::Family, fam);
    p.set(Field::Given, giv);
    p.set(Field::BirthDate, date_level(a, b));
    p.set(
        Field::Sex,
        match (a.sex, b.sex) {
            (Some(x), Some(y)) => 1 + u8::from(x == y),
            _ => 0,
        },
    );
    p.set(Field::CitizenId, edit_level(&a.id_text, &b.id_text, 4));
    p.set(
        Field::Phone,
        edit_level(
            a.phone.as_deref().unwrap_or(""),
            b.phone.as_deref().unwrap_or(""),
            3,
        ),
    );
    p.set(Field::Address, address_level(a, b));
    p.set(Field::Postcode, edit_level(&a.postcode, &b.postcode, 3));
    p.set(
        Field::Locality,
        if a.locality.is_empty() || b.locality.is_empty() {
            0
        } else if a.locality == b.locality {
            3
        } else if jaro_winkler(&a.locality, &b.locality) >= 0.9 {
            2
        } else {
            1
        },
    );
    p.set(
        Field::Identifier,
        edit_level(&a.identifier, &b.identifier, 4),
    );
    if let (Some(x), Some(y)) = (&a.citizen_id, &b.citizen_id) {
        p.0 |= if x == y {
            FLAG_SAME_VALID_ID
        } else {
            FLAG_DIFFERENT_VALID_IDS
        };
    }
    let han = |f: &Features| {
        f.family
            .text
            .chars()
            .chain(f.given.text.chars())
            .any(crate::name::is_han)
    };
    if han(a) && han(b) {
        p.0 |= FLAG_HAN_NAMES;
    }
    p
}
