//! The search requests of the search operations: which query shape each one sends,
//! filled in with values taken from the data the server holds (seeded resources, or a
//! sample read back from the server), so every search hits real patients, identifiers,
//! names and dates.

use crate::mix::Op;
use serde_json::Value;

/// LOINC system of the coded observations.
pub const LOINC: &str = "http://loinc.org";

/// A selective laboratory code (HbA1c: only diabetics and a few screenings have it).
pub const SELECTIVE_CODE: &str = "4548-4";

/// The observation codes `search-count` rotates over, from the most common (blood
/// pressure, most encounters) to the selective one.
pub const COUNT_CODES: [&str; 4] = ["85354-9", "718-7", "14771-0", SELECTIVE_CODE];

/// Values the searches draw from.
#[derive(Debug, Clone, Default)]
pub struct SearchValues {
    /// Patient ids.
    pub patients: Vec<String>,
    /// `system|value` of ID numbers (身份证号) of those patients.
    pub identifiers: Vec<String>,
    /// First character of family names (姓), as a user types it into a search box.
    pub name_prefixes: Vec<String>,
    /// `YYYY-MM` months in which observations were made.
    pub months: Vec<String>,
}

impl SearchValues {
    /// Takes what the searches can use from one resource.
    pub fn absorb(&mut self, r: &Value) {
        match r["resourceType"].as_str() {
            Some("Patient") => {
                let Some(id) = r["id"].as_str() else { return };
                self.patients.push(id.to_owned());
                if let Some(idn) = r["identifier"].as_array().and_then(|a| {
                    a.iter()
                        .find(|i| i["system"] == hutong_synth::systems::ID_NUMBER)
                }) {
                    if let Some(v) = idn["value"].as_str() {
                        self.identifiers
                            .push(format!("{}|{v}", hutong_synth::systems::ID_NUMBER));
                    }
                }
                let family = r["name"]
                    .as_array()
                    .and_then(|n| n.first())
                    .and_then(|n| n["family"].as_str())
                    .and_then(|f| f.chars().next());
                if let Some(c) = family {
                    self.name_prefixes.push(c.to_string());
                }
            }
            Some("Observation") => {
                if let Some(month) = r["effectiveDateTime"]
                    .as_str()
                    .and_then(|d| d.get(..7))
                    .filter(|m| parse_month(m).is_some())
                {
                    if !self.months.iter().any(|m| m == month) {
                        self.months.push(month.to_owned());
                    }
                }
            }
            _ => {}
        }
    }
}

/// One search: a path below the FHIR base and its query parameters, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchRequest {
    /// Path below the base, e.g. `Observation`.
    pub path: String,
    /// Query parameters (not yet percent-encoded).
    pub params: Vec<(String, String)>,
}

impl SearchRequest {
    fn new(path: &str, params: &[(&str, &str)]) -> Self {
        SearchRequest {
            path: path.to_owned(),
            params: params
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        }
    }

    /// The URL below `base` (no trailing slash), parameters percent-encoded.
    pub fn url(&self, base: &str) -> String {
        let mut url = format!("{base}/{}", self.path);
        for (i, (k, v)) in self.params.iter().enumerate() {
            url.push(if i == 0 { '?' } else { '&' });
            url.push_str(&percent_encode(k));
            url.push('=');
            url.push_str(&percent_encode(v));
        }
        url
    }
}

/// Percent-encodes everything but the unreserved characters (RFC 3986 §2.3), so a
/// value like `urn:oid:…|330…` or `张` travels as the server will decode it.
pub fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `(year, month)` of a `YYYY-MM` string.
fn parse_month(m: &str) -> Option<(u32, u32)> {
    let (y, mo) = m.split_once('-')?;
    let (y, mo) = (y.parse::<u32>().ok()?, mo.parse::<u32>().ok()?);
    (y >= 1000 && (1..=12).contains(&mo)).then_some((y, mo))
}

/// The month `n` months after `YYYY-MM`.
fn add_months(m: &str, n: u32) -> Option<String> {
    let (y, mo) = parse_month(m)?;
    let k = y * 12 + (mo - 1) + n;
    Some(format!("{:04}-{:02}", k / 12, k % 12 + 1))
}

/// The search `op` sends, with values drawn by `draw(n)` (a uniform index below `n`);
/// `Err` names what is missing from the values (or that `op` is not a search).
pub fn search_request(
    op: Op,
    v: &SearchValues,
    draw: &mut impl FnMut(usize) -> usize,
) -> Result<SearchRequest, String> {
    fn pick<'a>(
        items: &'a [String],
        what: &str,
        draw: &mut impl FnMut(usize) -> usize,
    ) -> Result<&'a str, String> {
        items
            .get(draw(items.len()))
            .map(String::as_str)
            .ok_or_else(|| format!("no {what} in the data"))
    }
    let selective = format!("{LOINC}|{SELECTIVE_CODE}");
    Ok(match op {
        Op::SearchIdentifier => {
            let ident = pick(&v.identifiers, "ID numbers", draw)?;
            SearchRequest::new("Patient", &[("identifier", ident)])
        }
        Op::SearchCompartment => {
            let p = pick(&v.patients, "patients", draw)?;
            SearchRequest::new(
                "Observation",
                &[("patient", p), ("_sort", "-date"), ("_count", "50")],
            )
        }
        Op::SearchToken => SearchRequest::new("Observation", &[("code", &selective)]),
        Op::SearchTokenDate => {
            // one quarter: [month, month + 3)
            let from = pick(&v.months, "observation months", draw)?;
            let to = add_months(from, 3).ok_or_else(|| format!("bad month '{from}'"))?;
            SearchRequest::new(
                "Observation",
                &[
                    ("code", &selective),
                    ("date", &format!("ge{from}")),
                    ("date", &format!("lt{to}")),
                ],
            )
        }
        Op::SearchName => {
            let prefix = pick(&v.name_prefixes, "family names", draw)?;
            SearchRequest::new("Patient", &[("name", prefix)])
        }
        Op::SearchChain => {
            let ident = pick(&v.identifiers, "ID numbers", draw)?;
            SearchRequest::new("Observation", &[("subject:Patient.identifier", ident)])
        }
        Op::SearchHas => {
            SearchRequest::new("Patient", &[("_has:Observation:patient:code", &selective)])
        }
        Op::SearchInclude => {
            let p = pick(&v.patients, "patients", draw)?;
            SearchRequest::new(
                "DiagnosticReport",
                &[("patient", p), ("_include", "DiagnosticReport:result")],
            )
        }
        Op::SearchRevinclude => {
            let p = pick(&v.patients, "patients", draw)?;
            SearchRequest::new(
                "Encounter",
                &[("patient", p), ("_revinclude", "Condition:encounter")],
            )
        }
        Op::SearchCount => {
            let code = COUNT_CODES[draw(COUNT_CODES.len()).min(COUNT_CODES.len() - 1)];
            SearchRequest::new(
                "Observation",
                &[("code", &format!("{LOINC}|{code}")), ("_summary", "count")],
            )
        }
        Op::Read | Op::Create | Op::Transaction | Op::History => {
            return Err(format!("{op} is not a search"))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn values() -> SearchValues {
        let mut v = SearchValues::default();
        v.absorb(&json!({
            "resourceType": "Patient", "id": "pat-7-1",
            "identifier": [
                {"system": hutong_synth::systems::MRN, "value": "x"},
                {"system": hutong_synth::systems::ID_NUMBER, "value": "330102199001011234"}
            ],
            "name": [{"family": "张", "given": ["伟"]}]
        }));
        v.absorb(&json!({"resourceType": "Observation", "id": "o1",
            "effectiveDateTime": "2025-11-03T10:00:00+08:00"}));
        v.absorb(&json!({"resourceType": "Observation", "id": "o2",
            "effectiveDateTime": "2025-11-20T10:00:00+08:00"}));
        v.absorb(&json!({"resourceType": "Observation", "id": "o3"}));
        v
    }

    fn url(op: Op) -> String {
        search_request(op, &values(), &mut |_| 0)
            .expect("values suffice")
            .url("http://h/fhir")
    }

    #[test]
    fn values_are_taken_from_patients_and_observations() {
        let v = values();
        assert_eq!(v.patients, ["pat-7-1"]);
        assert_eq!(
            v.identifiers,
            ["urn:oid:2.16.156.10011.1.3|330102199001011234"]
        );
        assert_eq!(v.name_prefixes, ["张"]);
        assert_eq!(v.months, ["2025-11"], "one entry per month");
    }

    #[test]
    fn each_search_shape_builds_its_url() {
        let idn = "urn%3Aoid%3A2.16.156.10011.1.3%7C330102199001011234";
        let hba1c = "http%3A%2F%2Floinc.org%7C4548-4";
        assert_eq!(
            url(Op::SearchIdentifier),
            format!("http://h/fhir/Patient?identifier={idn}")
        );
        assert_eq!(
            url(Op::SearchCompartment),
            "http://h/fhir/Observation?patient=pat-7-1&_sort=-date&_count=50"
        );
        assert_eq!(
            url(Op::SearchToken),
            format!("http://h/fhir/Observation?code={hba1c}")
        );
        assert_eq!(
            url(Op::SearchTokenDate),
            format!("http://h/fhir/Observation?code={hba1c}&date=ge2025-11&date=lt2026-02")
        );
        assert_eq!(url(Op::SearchName), "http://h/fhir/Patient?name=%E5%BC%A0");
        assert_eq!(
            url(Op::SearchChain),
            format!("http://h/fhir/Observation?subject%3APatient.identifier={idn}")
        );
        assert_eq!(
            url(Op::SearchHas),
            format!("http://h/fhir/Patient?_has%3AObservation%3Apatient%3Acode={hba1c}")
        );
        assert_eq!(
            url(Op::SearchInclude),
            "http://h/fhir/DiagnosticReport?patient=pat-7-1&_include=DiagnosticReport%3Aresult"
        );
        assert_eq!(
            url(Op::SearchRevinclude),
            "http://h/fhir/Encounter?patient=pat-7-1&_revinclude=Condition%3Aencounter"
        );
        assert_eq!(
            url(Op::SearchCount),
            "http://h/fhir/Observation?code=http%3A%2F%2Floinc.org%7C85354-9&_summary=count"
        );
    }

    #[test]
    fn count_rotates_over_its_codes() {
        let codes: Vec<String> = (0..COUNT_CODES.len())
            .map(|i| {
                search_request(Op::SearchCount, &values(), &mut |_| i)
                    .expect("no values needed")
                    .params[0]
                    .1
                    .clone()
            })
            .collect();
        assert_eq!(codes[0], "http://loinc.org|85354-9");
        assert_eq!(codes[3], "http://loinc.org|4548-4");
    }

    #[test]
    fn missing_values_and_non_searches_are_reported_not_sent() {
        let empty = SearchValues::default();
        let err = search_request(Op::SearchName, &empty, &mut |_| 0).expect_err("no names");
        assert!(err.contains("family names"), "{err}");
        assert!(search_request(Op::SearchToken, &empty, &mut |_| 0).is_ok());
        assert!(search_request(Op::Read, &values(), &mut |_| 0).is_err());
    }

    #[test]
    fn a_quarter_crosses_the_year_end() {
        assert_eq!(add_months("2024-11", 3).as_deref(), Some("2025-02"));
        assert_eq!(add_months("2024-01", 3).as_deref(), Some("2024-04"));
        assert_eq!(add_months("2024-13", 3), None);
    }

    #[test]
    fn only_unreserved_characters_pass_unencoded() {
        assert_eq!(percent_encode("a-Z_0.~"), "a-Z_0.~");
        assert_eq!(percent_encode("a b|c:d/张"), "a%20b%7Cc%3Ad%2F%E5%BC%A0");
    }
}
