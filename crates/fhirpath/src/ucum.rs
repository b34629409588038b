//! Just enough UCUM to compare and convert the quantities FHIR data and the official tests
//! use: metric prefixes, SI base units, common clinical units, customary mass and length,
//! UCUM time units, and `.` / `/` / exponents in unit expressions.
//!
//! FHIRPath calendar durations (`year`, `month`) are not UCUM `a` / `mo` (N1 §5.6.1): they
//! get a dimension of their own, so `1 year = 1 'a'` is empty rather than true, while
//! `week`, `day`, `hour`, `minute`, `second` and `millisecond` equal their UCUM units.

use crate::decimal::Decimal;

/// Exponents of the base dimensions: length, mass, time, amount, calendar month, kelvin.
pub type Dims = [i8; 6];

/// A unit reduced to a factor times base units.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Canonical {
    /// Multiply a value in the unit by this to get base units.
    pub factor: Decimal,
    /// The dimension.
    pub dims: Dims,
}

fn dec(s: &str) -> Decimal {
    Decimal::parse(s).unwrap_or(Decimal::from_i64(1))
}

fn atom(name: &str) -> Option<(&'static str, Dims, bool)> {
    // (factor, dims, metric: may take a prefix)
    let r = match name {
        "m" => ("1", [1, 0, 0, 0, 0, 0], true),
        "g" => ("1", [0, 1, 0, 0, 0, 0], true),
        "s" => ("1", [0, 0, 1, 0, 0, 0], true),
        "mol" => ("1", [0, 0, 0, 1, 0, 0], true),
        "K" => ("1", [0, 0, 0, 0, 0, 1], true),
        "L" | "l" => ("0.001", [3, 0, 0, 0, 0, 0], true),
        "min" => ("60", [0, 0, 1, 0, 0, 0], false),
        "h" => ("3600", [0, 0, 1, 0, 0, 0], false),
        "d" => ("86400", [0, 0, 1, 0, 0, 0], false),
        "wk" => ("604800", [0, 0, 1, 0, 0, 0], false),
        "mo" => ("2629800", [0, 0, 1, 0, 0, 0], false),
        "a" => ("31557600", [0, 0, 1, 0, 0, 0], false),
        "[in_i]" => ("0.0254", [1, 0, 0, 0, 0, 0], false),
        "[ft_i]" => ("0.3048", [1, 0, 0, 0, 0, 0], false),
        "[yd_i]" => ("0.9144", [1, 0, 0, 0, 0, 0], false),
        "[mi_i]" => ("1609.344", [1, 0, 0, 0, 0, 0], false),
        "[lb_av]" => ("453.59237", [0, 1, 0, 0, 0, 0], false),
        "[oz_av]" => ("28.349523125", [0, 1, 0, 0, 0, 0], false),
        "1" => ("1", [0; 6], false),
        "%" => ("0.01", [0; 6], false),
        "[iU]" | "[IU]" | "U" => ("1", [0; 6], true),
        "eq" => ("1", [0, 0, 0, 1, 0, 0], true),
        "Cel" => ("1", [0, 0, 0, 0, 0, 1], false),
        "mm[Hg]" => ("133322", [-1, 1, -2, 0, 0, 0], false),
        "Pa" => ("1000", [-1, 1, -2, 0, 0, 0], true),
        "cal" => ("4184", [2, 1, -2, 0, 0, 0], true),
        "J" => ("1000", [2, 1, -2, 0, 0, 0], true),
        "N" => ("1000", [1, 1, -2, 0, 0, 0], true),
        "W" => ("1000", [2, 1, -3, 0, 0, 0], true),
        "Hz" => ("1", [0, 0, -1, 0, 0, 0], true),
        _ => return None,
    };
    Some(r)
}

fn prefix(p: &str) -> Option<&'static str> {
    Some(match p {
        "k" => "1000",
        "h" => "100",
        "da" => "10",
        "d" => "0.1",
        "c" => "0.01",
        "m" => "0.001",
        "u" => "0.000001",
        "n" => "0.000000001",
        "p" => "0.000000000001",
        "M" => "1000000",
        "G" => "1000000000",
        _ => return None,
    })
}

fn simple(term: &str) -> Option<Canonical> {
    // Split a trailing integer exponent: `m2`, `s-1`.
    let bytes = term.as_bytes();
    let mut cut = bytes.len();
    while cut > 0 && bytes[cut - 1].is_ascii_digit() {
        cut -= 1;
    }
    if cut > 0 && cut < bytes.len() && bytes[cut - 1] == b'-' {
        cut -= 1;
    }
    let (base, exp) = if cut > 0 && cut < bytes.len() && term != "1" {
        (&term[..cut], term[cut..].parse::<i8>().ok()?)
    } else {
        (term, 1)
    };
    let one = if let Some((f, d, _)) = atom(base) {
        Canonical {
            factor: dec(f),
            dims: d,
        }
    } else {
        let mut found = None;
        for plen in [1, 2] {
            if base.len() > plen && base.is_char_boundary(plen) {
                if let (Some(p), Some((f, d, true))) = (prefix(&base[..plen]), atom(&base[plen..]))
                {
                    found = Some(Canonical {
                        factor: dec(p).checked_mul(dec(f))?,
                        dims: d,
                    });
                    break;
                }
            }
        }
        found?
    };
    let mut out = Canonical {
        factor: Decimal::from_i64(1),
        dims: [0; 6],
    };
    for _ in 0..exp.unsigned_abs() {
        out = if exp > 0 {
            combine(out, one, false)?
        } else {
            combine(out, one, true)?
        };
    }
    Some(out)
}

fn combine(a: Canonical, b: Canonical, divide: bool) -> Option<Canonical> {
    let mut dims = a.dims;
    for (d, e) in dims.iter_mut().zip(b.dims) {
        *d = if divide {
            d.checked_sub(e)?
        } else {
            d.checked_add(e)?
        };
    }
    let factor = if divide {
        a.factor.checked_div(b.factor)?
    } else {
        a.factor.checked_mul(b.factor)?
    };
    Some(Canonical { factor, dims })
}

/// Reduce a unit (UCUM code or calendar duration word) to base units.
pub fn canonical(unit: &str) -> Option<Canonical> {
    let calendar = match unit {
        "year" | "years" => Some(("12", [0, 0, 0, 0, 1, 0])),
        "month" | "months" => Some(("1", [0, 0, 0, 0, 1, 0])),
        "week" | "weeks" => Some(("604800", [0, 0, 1, 0, 0, 0])),
        "day" | "days" => Some(("86400", [0, 0, 1, 0, 0, 0])),
        "hour" | "hours" => Some(("3600", [0, 0, 1, 0, 0, 0])),
        "minute" | "minutes" => Some(("60", [0, 0, 1, 0, 0, 0])),
        "second" | "seconds" => Some(("1", [0, 0, 1, 0, 0, 0])),
        "millisecond" | "milliseconds" => Some(("0.001", [0, 0, 1, 0, 0, 0])),
        _ => None,
    };
    if let Some((f, d)) = calendar {
        return Some(Canonical {
            factor: dec(f),
            dims: d,
        });
    }
    if unit.is_empty() {
        return Some(Canonical {
            factor: Decimal::from_i64(1),
            dims: [0; 6],
        });
    }
    // Left to right over `.` and `/` (UCUM has no operator precedence beyond that).
    let mut acc = Canonical {
        factor: Decimal::from_i64(1),
        dims: [0; 6],
    };
    let mut divide = false;
    let mut start = 0;
    let b = unit.as_bytes();
    let mut depth = 0;
    for i in 0..=b.len() {
        let at_end = i == b.len();
        if !at_end {
            match b[i] {
                b'[' => depth += 1,
                b']' => depth -= 1,
                _ => {}
            }
        }
        if at_end || (depth == 0 && (b[i] == b'.' || b[i] == b'/')) {
            let term = &unit[start..i];
            if term.is_empty() {
                return None;
            }
            acc = combine(acc, simple(term)?, divide)?;
            if !at_end {
                divide = b[i] == b'/';
            }
            start = i + 1;
        }
    }
    Some(acc)
}

/// Convert `value` from unit `from` to unit `to`, if they have the same dimension.
pub fn convert(value: Decimal, from: &str, to: &str) -> Option<Decimal> {
    if from == to {
        return Some(value);
    }
    let a = canonical(from)?;
    let b = canonical(to)?;
    if a.dims != b.dims {
        return None;
    }
    value.checked_mul(a.factor)?.checked_div(b.factor)
}

/// The UCUM code for a calendar duration word, for arithmetic and output.
pub fn calendar_to_ucum(unit: &str) -> &str {
    match unit {
        "year" | "years" => "a",
        "month" | "months" => "mo",
        "week" | "weeks" => "wk",
        "day" | "days" => "d",
        "hour" | "hours" => "h",
        "minute" | "minutes" => "min",
        "second" | "seconds" => "s",
        "millisecond" | "milliseconds" => "ms",
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn converts_mass_and_length() {
        let v = convert(Decimal::from_i64(4), "g", "mg").expect("convert");
        assert_eq!(v, Decimal::from_i64(4000));
        assert!(convert(Decimal::from_i64(1), "cm", "s").is_none());
        assert_eq!(canonical("g/m").map(|c| c.dims), Some([-1, 1, 0, 0, 0, 0]));
        assert!(convert(Decimal::from_i64(1), "a", "year").is_none());
    }
}
