//! What region to generate: size, seed, place, date and error rates.

use crate::date::Date;

/// Shares of registrations that carry each kind of error (each drawn independently).
#[derive(Debug, Clone, PartialEq)]
pub struct ErrorRates {
    /// Typo or homophone in the name (张伟/张玮).
    pub name: f64,
    /// One ID digit mistyped.
    pub id_digit: f64,
    /// Two adjacent ID digits swapped.
    pub id_transposition: f64,
    /// No ID number recorded.
    pub id_missing: f64,
    /// The 15-digit legacy ID number (only for people born before 1985).
    pub id_legacy15: f64,
    /// Birth month and day transposed (only when both are ≤ 12 and differ).
    pub dob_swap: f64,
    /// A different phone number.
    pub phone_changed: f64,
    /// The address written in another format.
    pub address_format: f64,
}

impl Default for ErrorRates {
    fn default() -> Self {
        ErrorRates {
            name: 0.05,
            id_digit: 0.02,
            id_transposition: 0.02,
            id_missing: 0.05,
            id_legacy15: 0.01,
            dob_swap: 0.02,
            phone_changed: 0.10,
            address_format: 0.10,
        }
    }
}

impl ErrorRates {
    /// No errors at all.
    pub fn none() -> Self {
        ErrorRates {
            name: 0.0,
            id_digit: 0.0,
            id_transposition: 0.0,
            id_missing: 0.0,
            id_legacy15: 0.0,
            dob_swap: 0.0,
            phone_changed: 0.0,
            address_format: 0.0,
        }
    }
}

/// Configuration of a region.
#[derive(Debug, Clone)]
pub struct Config {
    /// Number of residents (people; each may be registered at several institutions).
    pub residents: u64,
    /// Seed: the same seed and configuration give byte-identical output.
    pub seed: u64,
    /// GB/T 2260 code of the city the region covers (in the embedded province).
    pub city: String,
    /// "Today" of the region: no date lies after it.
    pub as_of: Date,
    /// Registration error rates.
    pub errors: ErrorRates,
    /// Most institutions one person is registered at (at least 1).
    pub max_registrations: u32,
    /// Generate clinical history (encounters, conditions, labs …); off gives
    /// demographics only.
    pub clinical: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            residents: 1000,
            seed: 1,
            city: "330100".to_owned(),
            as_of: Date {
                year: 2025,
                month: 6,
                day: 30,
            },
            errors: ErrorRates::default(),
            max_registrations: 4,
            clinical: true,
        }
    }
}
