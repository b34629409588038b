//! Canonical UCUM units for quantity search (R4 search.html#quantity: "the server may
//! convert to canonical units"): a UCUM quantity is also indexed and compared as its
//! value in base units with a code naming its dimension, so `5 g/L` and `500 mg/dL`
//! match each other.
//!
//! Only units whose conversion is a plain factor are canonicalised: dimensionless and
//! arbitrary units (`%`, `1`, `[iU]`, `U`) would otherwise compare with each other,
//! and Celsius needs an offset, so those keep matching by their own code only.

/// The UCUM code system.
pub const UCUM: &str = "http://unitsofmeasure.org";

/// `(value in base units, dimension code)` of a UCUM quantity, when the unit converts.
pub fn canonical(value: f64, code: &str) -> Option<(f64, String)> {
    // Arbitrary units (`U`, `[iU]`) and `%` are dimensionless here and would meet
    // plain counts per volume; Celsius needs an offset; annotations are not parsed.
    if code.is_empty() || code.contains(['U', '%', '{']) || code.contains("Cel") {
        return None;
    }
    let c = hutong_fhirpath::ucum::canonical(code)?;
    if c.dims == [0; 6] || c.dims[4] != 0 {
        return None;
    }
    let factor = c.factor.to_f64();
    if !factor.is_finite() || factor == 0.0 {
        return None;
    }
    let d = c.dims;
    Some((
        value * factor,
        format!("ucum:m{}g{}s{}mol{}K{}", d[0], d[1], d[2], d[3], d[5]),
    ))
}

/// The factor that turns a value in `code` into base units, for query bounds.
pub fn factor(code: &str) -> Option<(f64, String)> {
    canonical(1.0, code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equivalent_units_share_a_code_and_compare_by_value() {
        let (a, ca) = canonical(5.0, "g/L").unwrap();
        let (b, cb) = canonical(500.0, "mg/dL").unwrap();
        assert_eq!(ca, cb);
        assert!((a - b).abs() < 1e-9 * a.abs());
        let (h, ch) = canonical(120.0, "mm[Hg]").unwrap();
        let (k, ck) = canonical(16.0, "kPa").unwrap();
        assert_eq!(ch, ck);
        assert!((h - k).abs() / k < 0.01);
    }

    #[test]
    fn arbitrary_dimensionless_and_offset_units_are_not_canonicalised() {
        for u in [
            "%", "1", "[iU]", "U/L", "mU/L", "Cel", "", "{score}", "nonsense",
        ] {
            assert!(canonical(1.0, u).is_none(), "{u}");
        }
    }
}
