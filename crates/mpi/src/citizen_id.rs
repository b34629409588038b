//! Citizen ID numbers (公民身份号码, GB 11643-1999) and their legacy 15-digit form.

use std::fmt;

use crate::date::PartialDate;
use crate::divisions;

/// Sex (性别) as declared or as encoded in an ID number (GB/T 2261.1 codes 1 and 2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Sex {
    /// 男性 (code 1).
    Male,
    /// 女性 (code 2).
    Female,
}

impl Sex {
    /// Parses the usual spellings: `1`/`2`, `男`/`女`, `m`/`f`, `male`/`female`.
    pub fn parse(s: &str) -> Option<Sex> {
        match s.trim().to_ascii_lowercase().as_str() {
            "1" | "m" | "male" | "男" | "男性" => Some(Sex::Male),
            "2" | "f" | "female" | "女" | "女性" => Some(Sex::Female),
            _ => None,
        }
    }
}

/// Why a string is not a valid citizen ID number. Each variant tells the caller what to
/// fix; none of them echoes the number itself, so they are safe to log.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CitizenIdError {
    /// Not 15 or 18 characters after removing spaces.
    #[error("an ID number has 18 characters (or 15 for the 1989 form), this one has {0}")]
    Length(usize),
    /// A character other than a digit, or an `X` anywhere but the last place.
    #[error("character {position} of the ID number must be a digit{}", if *.position == 18 { " or X" } else { "" })]
    Character {
        /// 1-based position.
        position: usize,
    },
    /// The first six digits are not a GB/T 2260 code of any revision since 1980.
    #[error("region code {0} is not a GB/T 2260 division code of any revision since 1980")]
    Region(String),
    /// Digits 7–14 are not a real date, or a date in the future / before 1900.
    #[error("birth date {0} in the ID number is not a valid date")]
    BirthDate(String),
    /// The check character does not match the first 17 digits (a typo).
    #[error(
        "check character is {found} but the first 17 digits give {expected}: a digit is mistyped"
    )]
    CheckDigit {
        /// The character in the number.
        found: char,
        /// The character the first 17 digits require.
        expected: char,
    },
}

const WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
const CHECK: &[u8; 11] = b"10X98765432";

/// Computes the GB 11643 check character of 17 ASCII digits.
pub fn check_char(first17: &[u8]) -> char {
    let sum: u32 = first17
        .iter()
        .zip(WEIGHTS)
        .map(|(d, w)| u32::from(d.saturating_sub(b'0')) * w)
        .sum();
    CHECK[(sum % 11) as usize] as char
}

/// A valid 18-character citizen ID number (居民身份证号码).
///
/// Parse once at the boundary with [`CitizenId::parse`]; a value of this type has a
/// known region code, a real birth date and a correct check character. `Debug` and
/// `Display` mask the number (`110105********002X`) so it never reaches a log in clear;
/// use [`CitizenId::as_str`] where the full number is really needed.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CitizenId([u8; 18]);

impl CitizenId {
    /// Parses an 18-character number, or upgrades a 15-digit legacy one (GB 11643-1989:
    /// `19` is inserted before the birth year and the check character appended).
    /// Spaces are ignored, a lower-case `x` is accepted, full-width digits are folded.
    pub fn parse(input: &str) -> Result<CitizenId, CitizenIdError> {
        let mut chars: Vec<u8> = Vec::with_capacity(18);
        let mut count = 0usize;
        for c in input.chars() {
            let c = crate::name::fold_width(c);
            if c.is_whitespace() || c == '-' {
                continue;
            }
            count += 1;
            if count > 18 {
                // Do not collect a 10 MB string; the length error is enough.
                continue;
            }
            let b = if c.is_ascii_digit() {
                c as u8
            } else if c == 'x' || c == 'X' {
                b'X'
            } else {
                return Err(CitizenIdError::Character { position: count });
            };
            chars.push(b);
        }
        match count {
            18 => Self::from_18(&chars),
            15 => {
                if let Some(p) = chars.iter().position(|&b| b == b'X') {
                    return Err(CitizenIdError::Character { position: p + 1 });
                }
                let mut up = Vec::with_capacity(18);
                up.extend_from_slice(&chars[..6]);
                up.extend_from_slice(b"19");
                up.extend_from_slice(&chars[6..15]);
                up.push(check_char(&up) as u8);
                Self::from_18(&up)
            }
            n => Err(CitizenIdError::Length(n)),
        }
    }

    fn from_18(b: &[u8]) -> Result<CitizenId, CitizenIdError> {
        if let Some(p) = b[..17].iter().position(|c| !c.is_ascii_digit()) {
            return Err(CitizenIdError::Character { position: p + 1 });
        }
        let region = digits(&b[..6]);
        if !divisions::is_known_code(region) {
            return Err(CitizenIdError::Region(format!("{region:06}")));
        }
        let (y, m, d) = (digits(&b[6..10]), digits(&b[10..12]), digits(&b[12..14]));
        if y < 1900 || !crate::date::is_valid_ymd(y as i32, m as u8, d as u8) {
            return Err(CitizenIdError::BirthDate(format!("{y:04}-{m:02}-{d:02}")));
        }
        let expected = check_char(&b[..17]);
        let found = b[17] as char;
        if found != expected {
            return Err(CitizenIdError::CheckDigit { found, expected });
        }
        let mut out = [0u8; 18];
        out.copy_from_slice(b);
        Ok(CitizenId(out))
    }

    /// The full 18-character number. Never log it: use `Display`, which masks it.
    pub fn as_str(&self) -> &str {
        // Only ASCII digits and X are ever stored.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }

    /// GB/T 2260 region code of the place of first registration.
    pub fn region_code(&self) -> u32 {
        digits(&self.0[..6])
    }

    /// Birth date encoded in digits 7–14.
    pub fn birth_date(&self) -> PartialDate {
        PartialDate::Day {
            year: digits(&self.0[6..10]) as i32,
            month: digits(&self.0[10..12]) as u8,
            day: digits(&self.0[12..14]) as u8,
        }
    }

    /// Sex from the 17th digit: odd male, even female.
    pub fn sex(&self) -> Sex {
        if (self.0[16] - b'0') % 2 == 1 {
            Sex::Male
        } else {
            Sex::Female
        }
    }

    /// The number with the birth date and sequence hidden, for logs and UI.
    pub fn masked(&self) -> String {
        mask(self.as_str())
    }
}

/// Masks an ID-like string for logs: first 6 and last 4 characters kept, others `*`.
pub fn mask(s: &str) -> String {
    let n = s.chars().count();
    if n <= 10 {
        return "*".repeat(n);
    }
    s.chars()
        .enumerate()
        .map(|(i, c)| if i < 6 || i >= n - 4 { c } else { '*' })
        .collect()
}

fn digits(b: &[u8]) -> u32 {
    b.iter().fold(0, |acc, d| acc * 10 + u32::from(d - b'0'))
}

impl fmt::Display for CitizenId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.masked())
    }
}

impl fmt::Debug for CitizenId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CitizenId({})", self.masked())
    }
}

impl std::str::FromStr for CitizenId {
    type Err = CitizenIdError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        CitizenId::parse(s)
    }
}

/// A declared value that disagrees with what the ID number encodes (一致性 check).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Inconsistency {
    /// Declared sex differs from the 17th digit.
    Sex {
        /// Sex declared on the registration.
        declared: Sex,
        /// Sex the ID number encodes.
        in_id: Sex,
    },
    /// Declared birth date differs from digits 7–14.
    BirthDate {
        /// Birth date declared on the registration.
        declared: PartialDate,
        /// Birth date the ID number encodes.
        in_id: PartialDate,
    },
}

/// Compares declared sex and birth date with the ID number; empty when consistent.
/// A partial declared date is consistent when it agrees to its precision.
pub fn check_consistency(
    id: &CitizenId,
    sex: Option<Sex>,
    birth_date: Option<&PartialDate>,
) -> Vec<Inconsistency> {
    let mut out = Vec::new();
    if let Some(s) = sex {
        if s != id.sex() {
            out.push(Inconsistency::Sex {
                declared: s,
                in_id: id.sex(),
            });
        }
    }
    if let Some(d) = birth_date {
        let in_id = id.birth_date();
        if !d.agrees_with(&in_id) {
            out.push(Inconsistency::BirthDate {
                declared: d.clone(),
                in_id,
            });
        }
    }
    out
}
