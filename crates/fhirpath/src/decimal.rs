//! Exact decimal numbers for FHIRPath `Decimal` (an `i128` mantissa and a base-10 scale).
//!
//! Binary floating point would turn `0.1 + 0.2` into `0.30000000000000004`; FHIR decimals
//! also carry their precision (`1.50` has two decimal places), which `precision()` and the
//! boundary functions need. Only the transcendental functions (`exp`, `ln`, `log`, `power`,
//! `sqrt`) go through `f64`.

use std::cmp::Ordering;
use std::fmt;

/// Largest scale kept after multiplication or division; deeper digits are rounded away.
const MAX_SCALE: u32 = 28;
/// Decimal places of a division result before trailing zeros are removed.
const DIV_SCALE: u32 = 16;

/// An exact base-10 number: `mantissa × 10^-scale`.
#[derive(Clone, Copy, Debug)]
pub struct Decimal {
    mantissa: i128,
    scale: u32,
}

fn pow10(n: u32) -> Option<i128> {
    10i128.checked_pow(n)
}

impl Decimal {
    /// `mantissa × 10^-scale`.
    pub fn new(mantissa: i128, scale: u32) -> Self {
        Decimal { mantissa, scale }
    }

    /// The integer `v` with scale 0.
    pub fn from_i64(v: i64) -> Self {
        Decimal::new(v as i128, 0)
    }

    /// The mantissa (the digits without the decimal point).
    pub fn mantissa(&self) -> i128 {
        self.mantissa
    }

    /// Number of digits after the decimal point, as written.
    pub fn scale(&self) -> u32 {
        self.scale
    }

    /// Parse a decimal literal or JSON number text: `-12.50`, `1e3`, `2.5E-2`.
    pub fn parse(s: &str) -> Option<Decimal> {
        let s = s.trim();
        let (num, exp) = match s.find(['e', 'E']) {
            Some(i) => (&s[..i], s[i + 1..].parse::<i32>().ok()?),
            None => (s, 0),
        };
        let (neg, digits) = match num.as_bytes().first()? {
            b'-' => (true, &num[1..]),
            b'+' => (false, &num[1..]),
            _ => (false, num),
        };
        let (int, frac) = match digits.find('.') {
            Some(i) => (&digits[..i], &digits[i + 1..]),
            None => (digits, ""),
        };
        if int.is_empty() && frac.is_empty() {
            return None;
        }
        if !int.bytes().all(|b| b.is_ascii_digit()) || !frac.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        if digits.ends_with('.') {
            return None;
        }
        let mut m: i128 = 0;
        for b in int.bytes().chain(frac.bytes()) {
            m = m.checked_mul(10)?.checked_add((b - b'0') as i128)?;
        }
        let mut scale = frac.len() as i32 - exp;
        while scale < 0 {
            m = m.checked_mul(10)?;
            scale += 1;
        }
        if scale as u32 > 60 {
            return None;
        }
        let mut d = Decimal::new(if neg { -m } else { m }, scale as u32);
        if d.scale > MAX_SCALE {
            d = d.round_to(MAX_SCALE);
        }
        Some(d)
    }

    /// Convert a float, keeping about 15 significant digits.
    pub fn from_f64(v: f64) -> Option<Decimal> {
        if !v.is_finite() {
            return None;
        }
        let s = format!("{:.*e}", 14, v);
        let d = Decimal::parse(&s)?;
        Some(d.normalized())
    }

    /// The nearest `f64`.
    pub fn to_f64(&self) -> f64 {
        self.mantissa as f64 / 10f64.powi(self.scale as i32)
    }

    /// Same value without trailing zeros after the decimal point.
    pub fn normalized(mut self) -> Decimal {
        while self.scale > 0 && self.mantissa % 10 == 0 {
            self.mantissa /= 10;
            self.scale -= 1;
        }
        self
    }

    /// Same value written with `scale` decimal places (rounding half away from zero).
    pub fn round_to(self, scale: u32) -> Decimal {
        match self.scale.cmp(&scale) {
            Ordering::Equal => self,
            Ordering::Less => {
                match pow10(scale - self.scale).and_then(|p| self.mantissa.checked_mul(p)) {
                    Some(m) => Decimal::new(m, scale),
                    None => self,
                }
            }
            Ordering::Greater => {
                let Some(p) = pow10(self.scale - scale) else {
                    return Decimal::new(0, scale);
                };
                let q = self.mantissa / p;
                let r = self.mantissa % p;
                let adj = if r.abs() * 2 >= p {
                    self.mantissa.signum()
                } else {
                    0
                };
                Decimal::new(q + adj, scale)
            }
        }
    }

    /// Drop digits beyond `scale` decimal places (towards zero).
    pub fn truncate_to(self, scale: u32) -> Decimal {
        if self.scale <= scale {
            return self;
        }
        match pow10(self.scale - scale) {
            Some(p) => Decimal::new(self.mantissa / p, scale),
            None => Decimal::new(0, scale),
        }
    }

    /// Largest integer not above the value.
    pub fn floor(self) -> Decimal {
        let t = self.truncate_to(0);
        if self.mantissa < 0 && t.cmp(&self) != Ordering::Equal {
            Decimal::new(t.mantissa - 1, 0)
        } else {
            t
        }
    }

    /// Smallest integer not below the value.
    pub fn ceiling(self) -> Decimal {
        let t = self.truncate_to(0);
        if self.mantissa > 0 && t.cmp(&self) != Ordering::Equal {
            Decimal::new(t.mantissa + 1, 0)
        } else {
            t
        }
    }

    /// Absolute value.
    pub fn abs(self) -> Decimal {
        Decimal::new(self.mantissa.abs(), self.scale)
    }

    /// Negation.
    pub fn negate(self) -> Decimal {
        Decimal::new(-self.mantissa, self.scale)
    }

    /// True when the value is zero.
    pub fn is_zero(&self) -> bool {
        self.mantissa == 0
    }

    /// The value as an integer when it has no fractional part and fits.
    pub fn to_i64(&self) -> Option<i64> {
        let n = self.normalized();
        if n.scale != 0 {
            return None;
        }
        i64::try_from(n.mantissa).ok()
    }

    fn aligned(a: Decimal, b: Decimal) -> Option<(i128, i128, u32)> {
        let s = a.scale.max(b.scale);
        let am = a.mantissa.checked_mul(pow10(s - a.scale)?)?;
        let bm = b.mantissa.checked_mul(pow10(s - b.scale)?)?;
        Some((am, bm, s))
    }

    /// Exact sum, `None` on overflow.
    pub fn checked_add(self, o: Decimal) -> Option<Decimal> {
        let (a, b, s) = Self::aligned(self, o)?;
        Some(Decimal::new(a.checked_add(b)?, s))
    }

    /// Exact difference, `None` on overflow.
    pub fn checked_sub(self, o: Decimal) -> Option<Decimal> {
        self.checked_add(o.negate())
    }

    /// Exact product (rounded beyond 28 decimal places), `None` on overflow.
    pub fn checked_mul(self, o: Decimal) -> Option<Decimal> {
        let mut a = self;
        let mut b = o;
        loop {
            if let Some(m) = a.mantissa.checked_mul(b.mantissa) {
                let d = Decimal::new(m, a.scale + b.scale);
                return Some(if d.scale > MAX_SCALE {
                    d.round_to(MAX_SCALE)
                } else {
                    d
                });
            }
            // Shed precision from the operand with more decimal places and retry.
            if a.scale >= b.scale && a.scale > 0 {
                a = a.round_to(a.scale - 1);
            } else if b.scale > 0 {
                b = b.round_to(b.scale - 1);
            } else {
                return None;
            }
        }
    }

    /// Quotient to 16 decimal places, `None` on division by zero or overflow.
    pub fn checked_div(self, o: Decimal) -> Option<Decimal> {
        if o.mantissa == 0 {
            return None;
        }
        // (a / 10^sa) / (b / 10^sb) = (a * 10^(sb + k) / b) / 10^(sa + k)
        let mut k = DIV_SCALE + 1;
        loop {
            let num = pow10(o.scale + k).and_then(|p| self.mantissa.checked_mul(p));
            if let Some(num) = num {
                let q = Decimal::new(num / o.mantissa, self.scale + k);
                let target = DIV_SCALE.min(q.scale);
                return Some(q.round_to(target).normalized());
            }
            if k == 0 {
                return None;
            }
            k -= 1;
        }
    }

    /// Truncated integer division.
    pub fn div_trunc(self, o: Decimal) -> Option<Decimal> {
        if o.mantissa == 0 {
            return None;
        }
        let (a, b, _) = Self::aligned(self, o)?;
        Some(Decimal::new(a / b, 0))
    }

    /// Remainder of truncated division.
    pub fn checked_rem(self, o: Decimal) -> Option<Decimal> {
        if o.mantissa == 0 {
            return None;
        }
        let (a, b, s) = Self::aligned(self, o)?;
        Some(Decimal::new(a % b, s))
    }
}

impl PartialEq for Decimal {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Decimal {}

impl PartialOrd for Decimal {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Decimal {
    fn cmp(&self, other: &Self) -> Ordering {
        match Self::aligned(*self, *other) {
            Some((a, b, _)) => a.cmp(&b),
            None => self
                .to_f64()
                .partial_cmp(&other.to_f64())
                .unwrap_or(Ordering::Equal),
        }
    }
}

impl fmt::Display for Decimal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let neg = self.mantissa < 0;
        let digits = self.mantissa.unsigned_abs().to_string();
        let scale = self.scale as usize;
        let s = if scale == 0 {
            digits
        } else if digits.len() > scale {
            format!(
                "{}.{}",
                &digits[..digits.len() - scale],
                &digits[digits.len() - scale..]
            )
        } else {
            format!("0.{}{}", "0".repeat(scale - digits.len()), digits)
        };
        if neg {
            write!(f, "-{s}")
        } else {
            f.write_str(&s)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Decimal {
        Decimal::parse(s).expect("test literal")
    }

    #[test]
    fn arithmetic_is_exact() {
        assert_eq!(d("0.1").checked_add(d("0.2")), Some(d("0.3")));
        assert_eq!(d("1").checked_div(d("2")), Some(d("0.5")));
        assert_eq!(
            d("1.2")
                .checked_div(d("1.8"))
                .map(|x| x.round_to(2).to_string()),
            Some("0.67".into())
        );
        assert_eq!(d("2.2").checked_rem(d("1.8")), Some(d("0.4")));
        assert_eq!(d("-1.587").floor().to_string(), "-2");
        assert_eq!(d("1e3").to_string(), "1000");
        assert_eq!(d("0.0034").to_string(), "0.0034");
    }
}
