//! Multi-pass blocking: which pairs are worth comparing.
//!
//! Each pass puts records sharing a key into one block; only pairs inside a block are
//! compared, so a million records never build N² pairs. A pair found by an earlier pass
//! is skipped by later ones (the pair's keys are compared, no pair set is kept).
//! Blocks larger than a cap are skipped and counted: a huge block is a key with no
//! discriminating power (e.g. a missing-value placeholder).

use crate::compare::Field;
use crate::record::Features;

/// The blocking passes, in the order they run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pass {
    /// Same ID-number text (valid or not).
    CitizenId,
    /// Same full birth date.
    BirthDate,
    /// Same name initials (pinyin) and birth year.
    InitialsYear,
    /// Same phone.
    Phone,
    /// Same ID-number tail (month, day, sequence, check): catches region/year typos.
    IdTail,
    /// Same other identifier.
    Identifier,
    /// Same postcode and given-name initial.
    PostcodeGiven,
    /// Same primary pinyin of family and given name.
    NameReading,
    /// Same postcode and first address token (house number).
    PostcodeAddress,
}

/// Number of passes.
pub const PASS_COUNT: usize = 9;

impl Pass {
    /// All passes in order.
    pub const ALL: [Pass; PASS_COUNT] = [
        Pass::CitizenId,
        Pass::BirthDate,
        Pass::InitialsYear,
        Pass::Phone,
        Pass::IdTail,
        Pass::Identifier,
        Pass::PostcodeGiven,
        Pass::NameReading,
        Pass::PostcodeAddress,
    ];
}

impl Pass {
    /// Fields whose agreement the pass's key implies: their m cannot be estimated from
    /// the pass's pairs (every pair agrees on them), so EM on this pass ignores them.
    pub fn blocked_fields(self) -> &'static [Field] {
        match self {
            Pass::CitizenId => &[Field::CitizenId, Field::BirthDate, Field::Sex],
            Pass::BirthDate => &[Field::BirthDate],
            Pass::InitialsYear => &[Field::Family, Field::Given, Field::BirthDate],
            Pass::Phone => &[Field::Phone],
            Pass::IdTail => &[Field::CitizenId, Field::BirthDate, Field::Sex],
            Pass::Identifier => &[Field::Identifier],
            Pass::PostcodeGiven => &[Field::Postcode, Field::Given],
            Pass::NameReading => &[Field::Family, Field::Given],
            Pass::PostcodeAddress => &[Field::Postcode, Field::Address],
        }
    }
}

/// Blocking keys of one record, one per pass; 0 = no key (record not in that pass).
pub type Keys = [u64; PASS_COUNT];

fn hash(tag: u8, parts: &[&[u8]]) -> u64 {
    // FNV-1a: stable across runs and platforms, good enough for block keys.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ u64::from(tag);
    for p in parts {
        for &b in *p {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x100_0000_01b3);
        }
        h ^= 0xff;
        h = h.wrapping_mul(0x100_0000_01b3);
    }
    h | 1
}

/// Computes the blocking keys of a record.
pub fn keys(f: &Features) -> Keys {
    let mut k = [0u64; PASS_COUNT];
    if f.id_text.len() >= 15 {
        k[0] = hash(0, &[f.id_text.as_bytes()]);
    }
    if let Some(d) = &f.birth_date {
        if d.day().is_some() {
            k[1] = hash(1, &[&d.key().to_le_bytes()]);
        }
        let initials = format!("{}{}", f.family.initials, f.given.initials);
        if initials.len() >= 2 {
            k[2] = hash(2, &[initials.as_bytes(), &d.year().to_le_bytes()]);
        }
    }
    if let Some(p) = &f.phone {
        k[3] = hash(3, &[p.as_bytes()]);
    }
    if f.id_text.len() == 18 {
        k[4] = hash(4, &[&f.id_text.as_bytes()[10..]]);
    }
    if f.identifier.len() >= 4 {
        k[5] = hash(5, &[f.identifier.as_bytes()]);
    }
    if !f.postcode.is_empty() {
        if let Some(c) = f.given.initials.chars().next() {
            let mut buf = [0u8; 4];
            k[6] = hash(
                6,
                &[f.postcode.as_bytes(), c.encode_utf8(&mut buf).as_bytes()],
            );
        }
    }
    if !f.family.is_empty() && !f.given.is_empty() {
        k[7] = hash(
            7,
            &[f.family.primary().as_bytes(), f.given.primary().as_bytes()],
        );
    }
    if !f.postcode.is_empty() {
        if let Some(first) = f.address_head.as_deref() {
            k[8] = hash(8, &[f.postcode.as_bytes(), first.as_bytes()]);
        }
    }
    k
}
