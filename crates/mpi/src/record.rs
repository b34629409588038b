//! A registration as it arrives ([`PersonRecord`]) and as matching sees it ([`Features`]).

use crate::citizen_id::{check_consistency, CitizenId, CitizenIdError, Inconsistency, Sex};
use crate::date::PartialDate;
use crate::name::{normalize_name, split_full_name, NameKey};
use crate::{divisions, phone};

/// One registration of a person, fields as the source wrote them (all optional).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PersonRecord {
    /// The source's record id (institution MRN, CSV row id …).
    pub id: String,
    /// Which input the record came from (0 for deduplication of one file).
    pub source: u16,
    /// Full name when family and given are not separate (张伟).
    pub full_name: Option<String>,
    /// Family name (姓).
    pub family: Option<String>,
    /// Given name (名).
    pub given: Option<String>,
    /// Declared sex, any usual spelling.
    pub sex: Option<String>,
    /// Declared birth date, any accepted shape.
    pub birth_date: Option<String>,
    /// Citizen ID number (身份证号) as written, valid or not.
    pub citizen_id: Option<String>,
    /// Phone number as written.
    pub phone: Option<String>,
    /// Address (free text, may start with division names).
    pub address: Option<String>,
    /// Postcode.
    pub postcode: Option<String>,
    /// Suburb / town / township.
    pub locality: Option<String>,
    /// Another identifier compared by edit distance (insurance number, passport …).
    pub identifier: Option<String>,
}

/// The normalised, comparison-ready form of a [`PersonRecord`].
#[derive(Debug, Clone, Default)]
pub struct Features {
    /// Source record id.
    pub id: Box<str>,
    /// Input the record came from.
    pub source: u16,
    /// Family name key.
    pub family: NameKey,
    /// Given name key.
    pub given: NameKey,
    /// Declared sex, else the one in a valid ID number.
    pub sex: Option<Sex>,
    /// Declared birth date, else the one in a valid ID number.
    pub birth_date: Option<PartialDate>,
    /// The ID number when valid.
    pub citizen_id: Option<CitizenId>,
    /// The ID number's characters (upgraded to 18 when a valid 15-digit one) for
    /// edit-distance comparison even when invalid (a typo is still evidence).
    pub id_text: Box<str>,
    /// Why the ID number is not valid, when one was given.
    pub id_issue: Option<CitizenIdError>,
    /// Declared sex/birth date that disagree with the ID number.
    pub inconsistencies: Vec<Inconsistency>,
    /// National phone digits.
    pub phone: Option<Box<str>>,
    /// Address tokens (character bigrams, each packed into one integer: see
    /// [`address_tokens`]), sorted and deduplicated.
    pub address_tokens: Box<[u64]>,
    /// First word of the address (house number in Western layouts), for blocking.
    pub address_head: Option<Box<str>>,
    /// GB/T 2260 code parsed from the address.
    pub division: Option<u32>,
    /// Normalised postcode.
    pub postcode: Box<str>,
    /// Normalised locality.
    pub locality: Box<str>,
    /// Normalised other identifier.
    pub identifier: Box<str>,
}

fn present(s: &Option<String>) -> Option<&str> {
    s.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

fn alnum_upper(s: &str) -> String {
    s.chars()
        .take(64)
        .map(crate::name::fold_width)
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_uppercase)
        .collect()
}

/// Splits an address into comparison tokens: overlapping character bigrams of its
/// letters, digits and Han characters (spaces dropped), so `ainsworth street` and
/// `ainsworthstreet`, or two segmentations of a Chinese address, still share most
/// tokens without any word segmentation.
///
/// A token is its two characters' code points packed into one integer (21 bits each,
/// the second in the low bits; a one-character address is that character alone, above
/// every two-character token), so equal tokens are equal integers with no collisions,
/// and a million registrations do not hold twenty small strings each.
pub fn address_tokens(address: &str) -> Box<[u64]> {
    let chars: Vec<char> = address
        .chars()
        .take(256)
        .map(|c| crate::name::to_simplified(crate::name::fold_width(c)))
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect();
    let mut tokens: Vec<u64> = if chars.len() == 1 {
        vec![(1 << 42) | u64::from(chars[0])]
    } else {
        chars
            .windows(2)
            .map(|w| (u64::from(w[0]) << 21) | u64::from(w[1]))
            .collect()
    };
    tokens.sort_unstable();
    tokens.dedup();
    tokens.into_boxed_slice()
}

impl Features {
    /// Normalises a registration. Never fails: unusable fields become missing, and an
    /// invalid ID number is kept only as text for typo comparison, with the reason in
    /// [`Features::id_issue`].
    pub fn from_record(r: &PersonRecord) -> Features {
        let (family, given) = match (present(&r.family), present(&r.given)) {
            (None, None) => match present(&r.full_name) {
                Some(full) => split_full_name(&normalize_name(full)),
                None => (String::new(), String::new()),
            },
            (f, g) => (
                f.map(normalize_name).unwrap_or_default(),
                g.map(normalize_name).unwrap_or_default(),
            ),
        };
        let declared_sex = present(&r.sex).and_then(Sex::parse);
        let declared_dob = present(&r.birth_date).and_then(|d| PartialDate::parse(d).ok());
        let (citizen_id, id_text, id_issue) = match present(&r.citizen_id) {
            None => (None, String::new(), None),
            Some(raw) => match CitizenId::parse(raw) {
                Ok(id) => {
                    let text = id.as_str().to_string();
                    (Some(id), text, None)
                }
                Err(e) => (None, alnum_upper(raw), Some(e)),
            },
        };
        let inconsistencies = citizen_id
            .as_ref()
            .map(|id| check_consistency(id, declared_sex, declared_dob.as_ref()))
            .unwrap_or_default();
        let sex = declared_sex.or_else(|| citizen_id.as_ref().map(CitizenId::sex));
        let birth_date = declared_dob.or_else(|| citizen_id.as_ref().map(CitizenId::birth_date));
        let address = present(&r.address).unwrap_or("");
        Features {
            id: r.id.as_str().into(),
            source: r.source,
            family: NameKey::new(&family, true),
            given: NameKey::new(&given, false),
            sex,
            birth_date,
            citizen_id,
            id_text: id_text.into(),
            id_issue,
            inconsistencies,
            phone: present(&r.phone)
                .and_then(phone::normalize_phone)
                .map(String::into_boxed_str),
            address_tokens: address_tokens(address),
            address_head: address
                .split_whitespace()
                .next()
                .filter(|w| w.len() <= 16)
                .map(|w| w.to_lowercase().into_boxed_str()),
            division: divisions::parse_address(address),
            postcode: present(&r.postcode)
                .map(alnum_upper)
                .unwrap_or_default()
                .into(),
            locality: present(&r.locality)
                .map(normalize_name)
                .unwrap_or_default()
                .into(),
            identifier: present(&r.identifier)
                .map(alnum_upper)
                .unwrap_or_default()
                .into(),
        }
    }
}
