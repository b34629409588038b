//! Residents (people) and their registrations at institutions (one Patient per
//! registration), with the registration errors that the master patient index must see
//! through.

use crate::config::ErrorRates;
use crate::date::Date;
use crate::idnumber::{legacy_15, make_id_number};
use crate::rng::Rng;
use crate::systems;
use crate::tables::{self, Division};
use serde_json::{json, Value};

/// A true person of the region.
#[derive(Debug, Clone)]
pub struct Person {
    /// Index in the region (0-based).
    pub index: u64,
    /// Ground-truth person id (`person-…`).
    pub person_id: String,
    /// Surname.
    pub family: String,
    /// Given name (one or two characters).
    pub given: String,
    /// Male?
    pub male: bool,
    /// Birth date.
    pub birth: Date,
    /// The 18-digit citizen ID number.
    pub id_number: String,
    /// Mobile number.
    pub phone: String,
    /// Township of residence.
    pub township: &'static Division,
    /// Street or village part of the address (after the township).
    pub street: String,
    /// True when the address is in a village.
    pub rural: bool,
    /// GB 3304 ethnicity code.
    pub ethnicity: &'static str,
    /// GB/T 2261.2 marital status code.
    pub marital: &'static str,
    /// CV04.50.005 ABO code.
    pub abo: &'static str,
    /// CV04.50.020 Rh code.
    pub rh: &'static str,
}

impl Person {
    /// Full name.
    pub fn name(&self) -> String {
        format!("{}{}", self.family, self.given)
    }

    /// Age in whole years on `on`.
    pub fn age_on(&self, on: Date) -> i32 {
        self.birth.age_on(on)
    }

    /// The full address in the standard format (province, city, county, township,
    /// street).
    pub fn address_text(&self, city: &str) -> String {
        format!(
            "浙江省{city}{}{}{}",
            self.county_name(),
            self.township.name,
            self.street
        )
    }

    fn county_name(&self) -> &'static str {
        tables::division(self.township.parent)
            .map(|d| d.name)
            .unwrap_or("")
    }
}

/// An error a registration carries (how its data differs from the true person).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RegistrationError {
    /// Homophone or typo in the given name.
    Name,
    /// One ID digit mistyped.
    IdDigit,
    /// Two adjacent ID digits swapped.
    IdTransposition,
    /// ID number missing.
    IdMissing,
    /// 15-digit legacy ID number.
    IdLegacy15,
    /// Birth month and day swapped.
    DobSwap,
    /// Another phone number.
    PhoneChanged,
    /// Address in another format.
    AddressFormat,
}

/// One registration of a person at an institution: the data as that institution
/// recorded it.
#[derive(Debug, Clone)]
pub struct Registration {
    /// Index of the institution in the reference data.
    pub institution: usize,
    /// Organization id of the institution.
    pub institution_id: String,
    /// Patient id of this registration.
    pub patient_id: String,
    /// Medical record number at the institution.
    pub mrn: String,
    /// Name as recorded.
    pub name: String,
    /// Birth date as recorded.
    pub birth: Date,
    /// ID number as recorded.
    pub id_number: Option<String>,
    /// Phone as recorded.
    pub phone: String,
    /// Address as recorded.
    pub address: String,
    /// The errors it carries (empty for a clean registration).
    pub errors: Vec<RegistrationError>,
    /// True for the registration at the person's managing grassroots institution.
    pub home: bool,
}

/// 5-year age bands 0–4 … 90–94 with weights from the 2020 census age structure.
const AGE_BANDS: &[u32] = &[
    55, 64, 59, 53, 53, 65, 88, 70, 66, 81, 87, 72, 52, 53, 35, 22, 14, 8, 4,
];

/// Draws a new person living in one of `townships`.
pub(crate) fn new_person(
    rng: &mut Rng,
    index: u64,
    townships: &[&'static Division],
    as_of: Date,
) -> Person {
    let male = rng.chance(0.512);
    let band = rng.weighted(AGE_BANDS) as i64;
    let age_days = band * 5 * 365 + rng.below(5 * 365) as i64;
    let birth = Date::from_days(as_of.to_days() - age_days - 1);
    let township = *rng.pick(townships);
    let sequence = (rng.below(500) * 2) as u32 + u32::from(male);
    let id_number = make_id_number(township.parent, &birth.compact(), sequence);
    let name = random_name(rng, male, birth.year < 1975);
    let family = family_of(&name).to_owned();
    let given = given_of(&name).to_owned();
    let rural = !township.name.ends_with("街道");
    let street = if rural {
        format!("{}村{}号", rng.pick(tables::VILLAGES), rng.range(1, 199))
    } else {
        format!(
            "{}{}号{}幢{}单元{}{:02}室",
            rng.pick(tables::ROADS),
            rng.range(1, 399),
            rng.range(1, 30),
            rng.range(1, 4),
            rng.range(1, 18),
            rng.range(1, 4)
        )
    };
    let age = birth.age_on(as_of);
    let marital = if age < 20 {
        "10"
    } else {
        let w: &[u32] = if age < 30 {
            &[60, 38, 0, 2]
        } else if age < 60 {
            &[3, 90, 1, 6]
        } else {
            &[1, 75, 21, 3]
        };
        ["10", "20", "30", "40"][rng.weighted(w)]
    };
    // Zhejiang: Han ~99%, then She (畲), Tujia, Miao, Buyi, Hui, Zhuang.
    let ethnicity =
        ["01", "22", "15", "06", "09", "03", "08"][rng.weighted(&[9890, 35, 25, 20, 12, 10, 8])];
    let abo = ["1", "2", "3", "4"][rng.weighted(&[28, 30, 32, 10])];
    let rh = if rng.chance(0.003) { "1" } else { "2" };
    Person {
        index,
        person_id: format!("person-{}", index + 1),
        family,
        given,
        male,
        birth,
        id_number,
        phone: random_phone(rng),
        township,
        street,
        rural,
        ethnicity,
        marital,
        abo,
        rh,
    }
}

/// A random full name: surname by national frequency, one or two given characters
/// (single-character given names are commoner among older people).
pub(crate) fn random_name(rng: &mut Rng, male: bool, older: bool) -> String {
    static WEIGHTS: std::sync::OnceLock<Vec<u32>> = std::sync::OnceLock::new();
    let weights = WEIGHTS.get_or_init(|| tables::SURNAMES.iter().map(|s| s.1).collect());
    let surname = tables::SURNAMES[rng.weighted(weights)].0;
    let chars = if male {
        tables::MALE_CHARS
    } else {
        tables::FEMALE_CHARS
    };
    let single = rng.chance(if older { 0.35 } else { 0.12 });
    let mut name = surname.to_owned();
    name.push_str(rng.pick::<&str>(chars));
    if !single {
        name.push_str(rng.pick::<&str>(chars));
    }
    name
}

/// The surname of a full name (compound surnames such as 欧阳 included).
pub fn family_of(name: &str) -> &str {
    for (s, _) in tables::SURNAMES {
        if s.chars().count() == 2 && name.starts_with(s) {
            return &name[..s.len()];
        }
    }
    let end = name
        .char_indices()
        .nth(1)
        .map(|(i, _)| i)
        .unwrap_or(name.len());
    &name[..end]
}

/// The given name of a full name.
pub fn given_of(name: &str) -> &str {
    &name[family_of(name).len()..]
}

fn random_phone(rng: &mut Rng) -> String {
    const PREFIXES: &[&str] = &[
        "130", "131", "132", "133", "135", "136", "137", "138", "139", "150", "151", "152", "155",
        "156", "157", "158", "159", "177", "180", "181", "186", "187", "188", "189", "199",
    ];
    format!("{}{:08}", rng.pick(PREFIXES), rng.below(100_000_000))
}

/// Records `person` at an institution, drawing errors with the configured rates.
#[allow(clippy::too_many_arguments)] // one call site; a struct would only rename them
pub(crate) fn register(
    rng: &mut Rng,
    person: &Person,
    city: &str,
    institution: (usize, &str),
    patient_id: String,
    mrn: String,
    rates: &ErrorRates,
    home: bool,
) -> Registration {
    let mut errors = Vec::new();
    let mut given = person.given.clone();
    if rng.chance(rates.name) {
        errors.push(RegistrationError::Name);
        given = misspell(rng, &person.given);
    }
    let mut id = Some(person.id_number.clone());
    let roll = rng.unit();
    let t_missing = rates.id_missing;
    let t_legacy = t_missing + rates.id_legacy15;
    let t_digit = t_legacy + rates.id_digit;
    let t_transposition = t_digit + rates.id_transposition;
    if roll < t_missing {
        errors.push(RegistrationError::IdMissing);
        id = None;
    } else if roll < t_legacy {
        if let Some(old) = legacy_15(&person.id_number).filter(|_| person.birth.year < 1985) {
            errors.push(RegistrationError::IdLegacy15);
            id = Some(old);
        }
    } else if roll < t_digit {
        errors.push(RegistrationError::IdDigit);
        let mut b = person.id_number.clone().into_bytes();
        let pos = rng.below(17) as usize;
        let old = b[pos] - b'0';
        b[pos] = b'0' + (old + 1 + rng.below(9) as u8) % 10;
        id = String::from_utf8(b).ok();
    } else if roll < t_transposition {
        let b = person.id_number.as_bytes();
        let candidates: Vec<usize> = (0..16).filter(|&i| b[i] != b[i + 1]).collect();
        if !candidates.is_empty() {
            errors.push(RegistrationError::IdTransposition);
            let i = *rng.pick(&candidates);
            let mut b = b.to_vec();
            b.swap(i, i + 1);
            id = String::from_utf8(b).ok();
        }
    }
    let mut birth = person.birth;
    if rng.chance(rates.dob_swap) && birth.day <= 12 && birth.day != birth.month {
        if let Some(d) = Date::new(birth.year, birth.day, birth.month) {
            errors.push(RegistrationError::DobSwap);
            birth = d;
        }
    }
    let mut phone = person.phone.clone();
    if rng.chance(rates.phone_changed) {
        errors.push(RegistrationError::PhoneChanged);
        phone = random_phone(rng);
    }
    let mut address = person.address_text(city);
    if rng.chance(rates.address_format) {
        errors.push(RegistrationError::AddressFormat);
        address = if rng.chance(0.5) {
            // Province and city left out.
            format!(
                "{}{}{}",
                person.county_name(),
                person.township.name,
                person.street
            )
        } else {
            // Abbreviated and with dashes: 杭州西湖区文一路12-3-2-501.
            let short_city = city.trim_end_matches('市');
            let street = person
                .street
                .replace("号", "-")
                .replace("幢", "-")
                .replace("单元", "-")
                .replace('室', "");
            format!(
                "浙江{short_city}{}{}",
                person.county_name(),
                street.trim_end_matches('-')
            )
        };
    }
    Registration {
        institution: institution.0,
        institution_id: institution.1.to_owned(),
        patient_id,
        mrn,
        name: format!("{}{}", person.family, given),
        birth,
        id_number: id,
        phone,
        address,
        errors,
        home,
    }
}

/// A homophone (80%) or a random other character (typo) in place of one given-name
/// character.
fn misspell(rng: &mut Rng, given: &str) -> String {
    let chars: Vec<&str> = given
        .char_indices()
        .map(|(i, c)| &given[i..i + c.len_utf8()])
        .collect();
    let pos = rng.below(chars.len().max(1) as u64) as usize;
    let Some(&old) = chars.get(pos) else {
        return given.to_owned();
    };
    let replacement = match tables::homophones_of(old) {
        Some(group) if group.len() > 1 && rng.chance(0.8) => {
            let others: Vec<&str> = group.iter().copied().filter(|c| *c != old).collect();
            *rng.pick(&others)
        }
        _ => {
            let pool: Vec<&str> = tables::MALE_CHARS
                .iter()
                .chain(tables::FEMALE_CHARS)
                .copied()
                .filter(|c| *c != old)
                .collect();
            *rng.pick(&pool)
        }
    };
    chars
        .iter()
        .enumerate()
        .map(|(i, c)| if i == pos { replacement } else { c })
        .collect()
}

/// The Patient resource of a registration.
pub(crate) fn patient_resource(
    person: &Person,
    reg: &Registration,
    city: &str,
    institution_name: &str,
    family_doctor: Option<(&str, &str)>,
) -> Value {
    let family = family_of(&reg.name);
    let given = given_of(&reg.name);
    let mut identifiers = vec![json!({
        "use": "usual",
        "type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "MR"}]},
        "system": systems::MRN,
        "value": reg.mrn,
        "assigner": {"reference": format!("Organization/{}", reg.institution_id), "display": institution_name}
    })];
    if let Some(id) = &reg.id_number {
        identifiers.push(json!({
            "use": "official",
            "type": {"coding": [{"system": systems::ID_DOCUMENT_TYPE, "code": "01", "display": "居民身份证"}]},
            "system": systems::ID_NUMBER,
            "value": id
        }));
    }
    let county = tables::division(person.township.parent);
    let mut address = json!({
        "use": "home",
        "text": reg.address,
        "line": [format!("{}{}", person.township.name, person.street)],
        "city": city,
        "district": county.map(|d| d.name).unwrap_or(""),
        "state": "浙江省",
        "country": "CN"
    });
    if let Some(c) = county {
        address["extension"] = json!([{"url": systems::DIVISION, "valueCode": c.code}]);
    }
    let hl7_marital = match person.marital {
        "10" => "S",
        "20" => "M",
        "30" => "W",
        "40" => "D",
        _ => "UNK",
    };
    let mut p = json!({
        "resourceType": "Patient",
        "id": reg.patient_id,
        "extension": [
            {"url": systems::EXT_ETHNICITY, "valueCodeableConcept": {"coding": [{"system": systems::ETHNICITY, "code": person.ethnicity, "display": tables::display("ethnicity", person.ethnicity)}]}},
            {"url": systems::EXT_BLOOD, "extension": [
                {"url": "abo", "valueCodeableConcept": {"coding": [{"system": systems::ABO, "code": person.abo, "display": tables::display("abo", person.abo)}]}},
                {"url": "rh", "valueCodeableConcept": {"coding": [{"system": systems::RH, "code": person.rh, "display": tables::display("rh", person.rh)}]}}
            ]}
        ],
        "identifier": identifiers,
        "active": true,
        "name": [{"use": "official", "text": reg.name, "family": family, "given": [given]}],
        "telecom": [{"system": "phone", "value": reg.phone, "use": "mobile"}],
        "gender": if person.male { "male" } else { "female" },
        "birthDate": reg.birth.iso(),
        "address": [address],
        "maritalStatus": {"coding": [
            {"system": systems::MARITAL, "code": person.marital, "display": tables::display("marital", person.marital)},
            {"system": "http://terminology.hl7.org/CodeSystem/v3-MaritalStatus", "code": hl7_marital}
        ]}
    });
    if let Some((prac, name)) = family_doctor {
        p["generalPractitioner"] =
            json!([{"reference": format!("Practitioner/{prac}"), "display": name}]);
    }
    p["managingOrganization"] = json!({"reference": format!("Organization/{}", reg.institution_id), "display": institution_name});
    p
}
