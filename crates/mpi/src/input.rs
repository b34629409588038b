//! Reading registrations for batch linkage: CSV with a column mapping, or NDJSON of
//! FHIR Patients.

use std::io::BufRead;
use std::path::Path;

use crate::record::PersonRecord;

/// FHIR identifier system of the citizen ID number.
pub const CITIZEN_ID_SYSTEM: &str = "urn:oid:2.16.156.10011.1.3";

/// Errors reading input.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    /// The file could not be read.
    #[error("{path}: {source}")]
    Io {
        /// File.
        path: String,
        /// Cause.
        source: std::io::Error,
    },
    /// A CSV row could not be read.
    #[error("{path}: CSV: {source}")]
    Csv {
        /// File.
        path: String,
        /// Cause.
        source: csv::Error,
    },
    /// An NDJSON line is not a JSON object.
    #[error("{path} line {line}: not a JSON Patient: {message}")]
    Json {
        /// File.
        path: String,
        /// 1-based line.
        line: usize,
        /// Cause.
        message: String,
    },
    /// The mapping names a column the file does not have, or is malformed.
    #[error("mapping: {0}")]
    Mapping(String),
}

/// Role a CSV column plays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Record id.
    Id,
    /// Full name.
    Name,
    /// Family name.
    Family,
    /// Given name.
    Given,
    /// Sex.
    Sex,
    /// Birth date.
    BirthDate,
    /// Citizen ID number.
    CitizenId,
    /// Phone.
    Phone,
    /// Address (several columns are joined with spaces).
    Address,
    /// Postcode.
    Postcode,
    /// Locality.
    Locality,
    /// Other identifier.
    Identifier,
}

impl Role {
    fn parse(s: &str) -> Option<Role> {
        Some(match s.trim() {
            "id" | "record_id" => Role::Id,
            "name" => Role::Name,
            "family" | "surname" => Role::Family,
            "given" => Role::Given,
            "sex" | "gender" => Role::Sex,
            "dob" | "birth_date" => Role::BirthDate,
            "citizen_id" | "id_number" => Role::CitizenId,
            "phone" => Role::Phone,
            "address" => Role::Address,
            "postcode" => Role::Postcode,
            "locality" | "suburb" => Role::Locality,
            "identifier" => Role::Identifier,
            _ => return None,
        })
    }
}

/// Which columns play which role: `role=column[+column…]` pairs separated by commas or
/// newlines, e.g. `id=rec_id,family=surname,address=street_number+address_1`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Mapping(pub Vec<(Role, Vec<String>)>);

/// Mapping of the Chinese registration layout `record_id,name,sex,dob,id_number,phone,address`.
pub const CHINESE: &str =
    "id=record_id,name=name,sex=sex,dob=dob,citizen_id=id_number,phone=phone,address=address";
/// Mapping of the FEBRL layout.
pub const FEBRL: &str = "id=rec_id,given=given_name,family=surname,address=street_number+address_1+address_2,locality=suburb,postcode=postcode,dob=date_of_birth,identifier=soc_sec_id";

impl Mapping {
    /// Parses a mapping: a preset name (`chinese`, `febrl`) or `role=col+col,…`.
    pub fn parse(spec: &str) -> Result<Mapping, InputError> {
        let spec = match spec.trim() {
            "chinese" => CHINESE,
            "febrl" => FEBRL,
            s => s,
        };
        let mut out = Vec::new();
        for item in spec
            .split([',', '\n'])
            .map(str::trim)
            .filter(|s| !s.is_empty() && !s.starts_with('#'))
        {
            let (role, cols) = item
                .split_once('=')
                .ok_or_else(|| InputError::Mapping(format!("`{item}` is not role=column")))?;
            let role = Role::parse(role)
                .ok_or_else(|| InputError::Mapping(format!("unknown role `{role}`")))?;
            out.push((
                role,
                cols.split('+').map(|c| c.trim().to_string()).collect(),
            ));
        }
        Ok(Mapping(out))
    }

    /// Picks a preset from a header: FEBRL when it has `rec_id`, else the Chinese layout.
    pub fn detect(header: &[String]) -> Mapping {
        let spec = if header.iter().any(|h| h == "rec_id") {
            FEBRL
        } else {
            CHINESE
        };
        // Presets are well-formed.
        Mapping::parse(spec).unwrap_or_default()
    }
}

/// Reads one input file (CSV, or NDJSON when the name ends in `.ndjson`/`.jsonl`).
pub fn read_file(
    path: &Path,
    mapping: Option<&Mapping>,
    source: u16,
) -> Result<Vec<PersonRecord>, InputError> {
    let name = path.display().to_string();
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
    if ext == "ndjson" || ext == "jsonl" {
        let f = std::fs::File::open(path).map_err(|source| InputError::Io {
            path: name.clone(),
            source,
        })?;
        return read_ndjson(std::io::BufReader::new(f), &name, source);
    }
    let mut rdr = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .flexible(true)
        .from_path(path)
        .map_err(|source| InputError::Csv {
            path: name.clone(),
            source,
        })?;
    let header: Vec<String> = rdr
        .headers()
        .map_err(|source| InputError::Csv {
            path: name.clone(),
            source,
        })?
        .iter()
        .map(str::to_string)
        .collect();
    let mapping = mapping.cloned().unwrap_or_else(|| Mapping::detect(&header));
    let mut columns: Vec<(Role, Vec<usize>)> = Vec::new();
    for (role, cols) in &mapping.0 {
        let mut idx = Vec::new();
        for c in cols {
            let i = header.iter().position(|h| h == c).ok_or_else(|| {
                InputError::Mapping(format!(
                    "{name} has no column `{c}` (header: {})",
                    header.join(",")
                ))
            })?;
            idx.push(i);
        }
        columns.push((*role, idx));
    }
    let mut out = Vec::new();
    for (row_no, row) in rdr.records().enumerate() {
        let row = row.map_err(|source| InputError::Csv {
            path: name.clone(),
            source,
        })?;
        let mut r = PersonRecord {
            source,
            ..Default::default()
        };
        for (role, idx) in &columns {
            let parts: Vec<&str> = idx
                .iter()
                .filter_map(|&i| row.get(i))
                .filter(|s| !s.is_empty())
                .collect();
            if parts.is_empty() {
                continue;
            }
            let v = Some(parts.join(" "));
            match role {
                Role::Id => r.id = parts.join(" "),
                Role::Name => r.full_name = v,
                Role::Family => r.family = v,
                Role::Given => r.given = v,
                Role::Sex => r.sex = v,
                Role::BirthDate => r.birth_date = v,
                Role::CitizenId => r.citizen_id = v,
                Role::Phone => r.phone = v,
                Role::Address => r.address = v,
                Role::Postcode => r.postcode = v,
                Role::Locality => r.locality = v,
                Role::Identifier => r.identifier = v,
            }
        }
        if r.id.is_empty() {
            r.id = format!("{}#{}", source, row_no + 1);
        }
        out.push(r);
    }
    Ok(out)
}

/// Reads FHIR R4 Patients, one JSON object per line.
pub fn read_ndjson(
    reader: impl BufRead,
    name: &str,
    source: u16,
) -> Result<Vec<PersonRecord>, InputError> {
    let mut out = Vec::new();
    for (n, line) in reader.lines().enumerate() {
        let line = line.map_err(|source| InputError::Io {
            path: name.to_string(),
            source,
        })?;
        if line.trim().is_empty() {
            continue;
        }
        let v: serde_json::Value = serde_json::from_str(&line).map_err(|e| InputError::Json {
            path: name.to_string(),
            line: n + 1,
            message: e.to_string(),
        })?;
        let mut r = patient_to_record(&v);
        r.source = source;
        if r.id.is_empty() {
            r.id = format!("{}#{}", source, n + 1);
        }
        out.push(r);
    }
    Ok(out)
}

/// Maps a FHIR Patient to a [`PersonRecord`]: first official (else first) name,
/// gender, birthDate, the citizen-ID identifier, first phone, first address.
pub fn patient_to_record(p: &serde_json::Value) -> PersonRecord {
    let s = |v: &serde_json::Value| v.as_str().map(str::to_string);
    let names = p["name"].as_array().cloned().unwrap_or_default();
    let name = names
        .iter()
        .find(|n| n["use"] == "official")
        .or_else(|| names.first())
        .cloned()
        .unwrap_or_default();
    let given: Vec<String> = name["given"]
        .as_array()
        .map(|g| {
            g.iter()
                .filter_map(|x| x.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    let mut r = PersonRecord {
        id: s(&p["id"]).unwrap_or_default(),
        family: s(&name["family"]),
        given: (!given.is_empty()).then(|| given.join(" ")),
        sex: s(&p["gender"]),
        birth_date: s(&p["birthDate"]),
        ..Default::default()
    };
    if r.family.is_none() && r.given.is_none() {
        r.full_name = s(&name["text"]);
    }
    for id in p["identifier"].as_array().into_iter().flatten() {
        if id["system"] == CITIZEN_ID_SYSTEM {
            r.citizen_id = s(&id["value"]);
        } else if r.identifier.is_none() {
            r.identifier = s(&id["value"]);
        }
    }
    r.phone = p["telecom"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|t| t["system"] == "phone")
        .and_then(|t| s(&t["value"]));
    if let Some(a) = p["address"].as_array().and_then(|a| a.first()) {
        r.address = s(&a["text"]).or_else(|| {
            let mut parts: Vec<String> = ["state", "city", "district"]
                .iter()
                .filter_map(|k| s(&a[*k]))
                .collect();
            parts.extend(a["line"].as_array().into_iter().flatten().filter_map(&s));
            (!parts.is_empty()).then(|| parts.join(""))
        });
        r.postcode = s(&a["postalCode"]);
    }
    if r.sex.as_deref() == Some("unknown") || r.sex.as_deref() == Some("other") {
        r.sex = None;
    }
    r
}
