//! Partial-precision dates, date-times and times (FHIRPath §2.1.20, §5.8 and §6.6).
//!
//! A value remembers how precise it was written (`@2014` is a year, not 2014-01-01).
//! Comparisons between values of different precision return "unknown" (`None`) when the
//! common components are equal, as the spec requires.

use std::cmp::Ordering;
use std::fmt;

use crate::decimal::Decimal;

/// How much of a date/time was given.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Precision {
    /// `2014`
    Year,
    /// `2014-01`
    Month,
    /// `2014-01-05`
    Day,
    /// `T10`
    Hour,
    /// `T10:30`
    Minute,
    /// `T10:30:00`
    Second,
    /// `T10:30:00.000`
    Millisecond,
}

/// A date or date-time: calendar fields up to `precision`, with an optional UTC offset.
#[derive(Clone, Copy, Debug)]
pub struct DateTime {
    /// Year (1-9999).
    pub year: i32,
    /// Month 1-12 (1 when not given).
    pub month: u8,
    /// Day of month (1 when not given).
    pub day: u8,
    /// Hour 0-23.
    pub hour: u8,
    /// Minute.
    pub minute: u8,
    /// Second.
    pub second: u8,
    /// Millisecond.
    pub millis: u16,
    /// The last component given.
    pub precision: Precision,
    /// Offset from UTC in minutes, if written.
    pub tz: Option<i16>,
}

/// A time of day: fields up to `precision` (Hour to Millisecond).
#[derive(Clone, Copy, Debug)]
pub struct Time {
    /// Hour 0-23.
    pub hour: u8,
    /// Minute.
    pub minute: u8,
    /// Second.
    pub second: u8,
    /// Millisecond.
    pub millis: u16,
    /// The last component given.
    pub precision: Precision,
}

fn is_leap(y: i32) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

/// Number of days in a month.
pub fn days_in_month(y: i32, m: u8) -> u8 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ => {
            if is_leap(y) {
                29
            } else {
                28
            }
        }
    }
}

// Howard Hinnant's days_from_civil / civil_from_days.
fn days_from_civil(y: i32, m: u8, d: u8) -> i64 {
    let y = if m <= 2 { y - 1 } else { y } as i64;
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let m = m as i64;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146097 + doe - 719468
}

fn civil_from_days(z: i64) -> (i32, u8, u8) {
    let z = z + 719468;
    let era = if z >= 0 { z } else { z - 146096 } / 146097;
    let doe = z - era * 146097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u8;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u8;
    ((if m <= 2 { y + 1 } else { y }) as i32, m, d)
}

struct Cursor<'s> {
    s: &'s [u8],
    i: usize,
}

impl Cursor<'_> {
    fn digits(&mut self, n: usize) -> Option<u32> {
        let part = self.s.get(self.i..self.i + n)?;
        if !part.iter().all(u8::is_ascii_digit) {
            return None;
        }
        self.i += n;
        Some(part.iter().fold(0u32, |a, b| a * 10 + (b - b'0') as u32))
    }
    fn eat(&mut self, c: u8) -> bool {
        if self.s.get(self.i) == Some(&c) {
            self.i += 1;
            true
        } else {
            false
        }
    }
    fn done(&self) -> bool {
        self.i == self.s.len()
    }
}

/// Parse `hh[:mm[:ss[.fff]]]` into a time; `Some((time, rest))`.
fn parse_time_fields(c: &mut Cursor<'_>) -> Option<Time> {
    let hour = c.digits(2)? as u8;
    let mut t = Time {
        hour,
        minute: 0,
        second: 0,
        millis: 0,
        precision: Precision::Hour,
    };
    if hour > 23 {
        return None;
    }
    if c.eat(b':') {
        t.minute = c.digits(2)? as u8;
        t.precision = Precision::Minute;
        if t.minute > 59 {
            return None;
        }
        if c.eat(b':') {
            t.second = c.digits(2)? as u8;
            t.precision = Precision::Second;
            if t.second > 59 {
                return None;
            }
            if c.eat(b'.') {
                let start = c.i;
                while c.s.get(c.i).is_some_and(u8::is_ascii_digit) {
                    c.i += 1;
                }
                let frac = &c.s[start..c.i];
                if frac.is_empty() {
                    return None;
                }
                let mut ms = 0u32;
                for k in 0..3 {
                    ms = ms * 10 + frac.get(k).map_or(0, |b| (b - b'0') as u32);
                }
                t.millis = ms as u16;
                t.precision = Precision::Millisecond;
            }
        }
    }
    Some(t)
}

impl Time {
    /// Parse `hh:mm[:ss[.fff]]` (FHIR `time`) or the FHIRPath partial forms (`hh`, `hh:mm`).
    pub fn parse(s: &str) -> Option<Time> {
        let mut c = Cursor {
            s: s.as_bytes(),
            i: 0,
        };
        let t = parse_time_fields(&mut c)?;
        c.done().then_some(t)
    }

    fn millis_of_day(&self) -> i64 {
        ((self.hour as i64 * 60 + self.minute as i64) * 60 + self.second as i64) * 1000
            + self.millis as i64
    }

    fn components(&self) -> [i64; 3] {
        [
            self.hour as i64,
            self.minute as i64,
            self.second as i64 * 1000 + self.millis as i64,
        ]
    }

    fn level(&self) -> usize {
        match self.precision {
            Precision::Hour => 0,
            Precision::Minute => 1,
            _ => 2,
        }
    }

    /// Compare; `None` when precision differs and the common part is equal.
    pub fn compare(&self, o: &Time) -> Option<Ordering> {
        compare_components(&self.components(), self.level(), &o.components(), o.level())
    }

    /// Add a calendar duration, wrapping around midnight.
    pub fn add(&self, amount: &Decimal, unit: &str) -> Option<Time> {
        let ms = duration_millis(amount, unit)?;
        let t = (self.millis_of_day() + ms).rem_euclid(86_400_000);
        Some(Time {
            hour: (t / 3_600_000) as u8,
            minute: (t / 60_000 % 60) as u8,
            second: (t / 1000 % 60) as u8,
            millis: (t % 1000) as u16,
            precision: self.precision,
        })
    }

    /// Number of digits of precision (hh=2, hhmm=4, hhmmss=6, with millis 9).
    pub fn precision_digits(&self) -> i64 {
        match self.precision {
            Precision::Hour => 2,
            Precision::Minute => 4,
            Precision::Second => 6,
            _ => 9,
        }
    }

    /// Earliest (`high == false`) or latest time this value may stand for, at `digits`.
    pub fn boundary(&self, digits: i64, high: bool) -> Option<Time> {
        let precision = match digits {
            2 => Precision::Hour,
            4 => Precision::Minute,
            6 => Precision::Second,
            9 => Precision::Millisecond,
            _ => return None,
        };
        let mut t = *self;
        if high {
            if self.precision < Precision::Minute {
                t.minute = 59;
            }
            if self.precision < Precision::Second {
                t.second = 59;
            }
            if self.precision < Precision::Millisecond {
                t.millis = 999;
            }
        }
        t.precision = precision;
        Some(t)
    }
}

fn duration_millis(amount: &Decimal, unit: &str) -> Option<i64> {
    let per: i64 = match unit {
        "hour" | "hours" | "h" => 3_600_000,
        "minute" | "minutes" | "min" => 60_000,
        "second" | "seconds" | "s" => 1000,
        "millisecond" | "milliseconds" | "ms" => 1,
        "day" | "days" | "d" => 86_400_000,
        "week" | "weeks" | "wk" => 7 * 86_400_000,
        _ => return None,
    };
    // Calendar arithmetic moves by whole units (N1 §6.6.1: `+ 7.7 days` adds 7 days).
    let v = amount.truncate_to(0).checked_mul(Decimal::from_i64(per))?;
    i64::try_from(v.mantissa()).ok()
}

fn compare_components(a: &[i64], al: usize, b: &[i64], bl: usize) -> Option<Ordering> {
    let common = al.min(bl);
    for k in 0..=common {
        match a[k].cmp(&b[k]) {
            Ordering::Equal => {}
            o => return Some(o),
        }
    }
    if al == bl {
        Some(Ordering::Equal)
    } else {
        None
    }
}

impl DateTime {
    /// Parse a FHIR `date` / `dateTime` / `instant` string (or the FHIRPath literal body,
    /// which may end in `T`). Returns the value and whether it had a time part.
    pub fn parse(s: &str) -> Option<(DateTime, bool)> {
        let mut c = Cursor {
            s: s.as_bytes(),
            i: 0,
        };
        let year = c.digits(4)? as i32;
        let mut dt = DateTime {
            year,
            month: 1,
            day: 1,
            hour: 0,
            minute: 0,
            second: 0,
            millis: 0,
            precision: Precision::Year,
            tz: None,
        };
        let mut has_time = false;
        if c.eat(b'-') {
            dt.month = c.digits(2)? as u8;
            dt.precision = Precision::Month;
            if !(1..=12).contains(&dt.month) {
                return None;
            }
            if c.eat(b'-') {
                dt.day = c.digits(2)? as u8;
                dt.precision = Precision::Day;
                if dt.day < 1 || dt.day > days_in_month(dt.year, dt.month) {
                    return None;
                }
            }
        }
        if c.eat(b'T') {
            has_time = true;
            if c.done() {
                return Some((dt, true));
            }
            if dt.precision != Precision::Day {
                return None;
            }
            let t = parse_time_fields(&mut c)?;
            dt.hour = t.hour;
            dt.minute = t.minute;
            dt.second = t.second;
            dt.millis = t.millis;
            dt.precision = t.precision;
            if c.eat(b'Z') {
                dt.tz = Some(0);
            } else if let Some(&sign) = c.s.get(c.i) {
                if sign == b'+' || sign == b'-' {
                    c.i += 1;
                    let h = c.digits(2)? as i16;
                    if !c.eat(b':') {
                        return None;
                    }
                    let m = c.digits(2)? as i16;
                    let off = h * 60 + m;
                    dt.tz = Some(if sign == b'-' { -off } else { off });
                }
            }
        }
        c.done().then_some((dt, has_time))
    }

    fn epoch_millis(&self) -> i64 {
        let days = days_from_civil(self.year, self.month, self.day);
        ((days * 24 + self.hour as i64) * 60 + self.minute as i64) * 60_000
            + self.second as i64 * 1000
            + self.millis as i64
    }

    pub(crate) fn from_epoch_millis(ms: i64, precision: Precision, tz: Option<i16>) -> DateTime {
        let days = ms.div_euclid(86_400_000);
        let rest = ms.rem_euclid(86_400_000);
        let (year, month, day) = civil_from_days(days);
        DateTime {
            year,
            month,
            day,
            hour: (rest / 3_600_000) as u8,
            minute: (rest / 60_000 % 60) as u8,
            second: (rest / 1000 % 60) as u8,
            millis: (rest % 1000) as u16,
            precision,
            tz,
        }
    }

    /// Same instant expressed in UTC (only when a time and an offset are given).
    fn utc(&self) -> DateTime {
        match self.tz {
            Some(off) if off != 0 && self.precision >= Precision::Hour => {
                DateTime::from_epoch_millis(
                    self.epoch_millis() - off as i64 * 60_000,
                    self.precision,
                    Some(0),
                )
            }
            _ => *self,
        }
    }

    fn level(&self) -> usize {
        match self.precision {
            Precision::Year => 0,
            Precision::Month => 1,
            Precision::Day => 2,
            Precision::Hour => 3,
            Precision::Minute => 4,
            _ => 5,
        }
    }

    fn components(&self) -> [i64; 6] {
        [
            self.year as i64,
            self.month as i64,
            self.day as i64,
            self.hour as i64,
            self.minute as i64,
            self.second as i64 * 1000 + self.millis as i64,
        ]
    }

    /// Compare; `None` when precision differs and the common part is equal.
    pub fn compare(&self, o: &DateTime) -> Option<Ordering> {
        // With a time, one side's offset unknown makes the comparison unknown.
        if self.precision >= Precision::Hour
            && o.precision >= Precision::Hour
            && self.tz.is_some() != o.tz.is_some()
        {
            return None;
        }
        let (a, b) = (self.utc(), o.utc());
        compare_components(&a.components(), a.level(), &b.components(), b.level())
    }

    /// Add a calendar duration (`amount` `unit`); the precision stays that of `self`.
    pub fn add(&self, amount: &Decimal, unit: &str) -> Option<DateTime> {
        let whole = amount.truncate_to(0);
        let n = i64::try_from(whole.mantissa()).ok()?;
        match unit {
            "year" | "years" | "a" => {
                let mut r = *self;
                r.year = i32::try_from(self.year as i64 + n).ok()?;
                r.day = r.day.min(days_in_month(r.year, r.month));
                (1..=9999).contains(&r.year).then_some(r)
            }
            "month" | "months" | "mo" => {
                let mut r = *self;
                let total = self.year as i64 * 12 + (self.month as i64 - 1) + n;
                r.year = i32::try_from(total.div_euclid(12)).ok()?;
                r.month = (total.rem_euclid(12) + 1) as u8;
                r.day = r.day.min(days_in_month(r.year, r.month));
                (1..=9999).contains(&r.year).then_some(r)
            }
            _ => {
                let mut ms = duration_millis(amount, unit)?;
                // A coarser value only moves by whole units of its own precision.
                let unit_ms = match self.precision {
                    Precision::Year | Precision::Month => {
                        let days = ms / 86_400_000;
                        if days == 0 {
                            return Some(*self);
                        }
                        ms = days * 86_400_000;
                        86_400_000
                    }
                    Precision::Day => 86_400_000,
                    Precision::Hour => 3_600_000,
                    Precision::Minute => 60_000,
                    Precision::Second => 1000,
                    Precision::Millisecond => 1,
                };
                ms = ms / unit_ms * unit_ms;
                let r = DateTime::from_epoch_millis(
                    self.epoch_millis().checked_add(ms)?,
                    self.precision,
                    self.tz,
                );
                (1..=9999).contains(&r.year).then_some(r)
            }
        }
    }

    /// Number of digits of precision (yyyy=4 … yyyyMMddHHmmssfff=17).
    pub fn precision_digits(&self) -> i64 {
        match self.precision {
            Precision::Year => 4,
            Precision::Month => 6,
            Precision::Day => 8,
            Precision::Hour => 10,
            Precision::Minute => 12,
            Precision::Second => 14,
            Precision::Millisecond => 17,
        }
    }

    /// Earliest (`high == false`) or latest value this one may stand for, at `digits`.
    pub fn boundary(&self, digits: i64, high: bool, is_date: bool) -> Option<DateTime> {
        let precision = match digits {
            4 => Precision::Year,
            6 => Precision::Month,
            8 => Precision::Day,
            10 if !is_date => Precision::Hour,
            12 if !is_date => Precision::Minute,
            14 if !is_date => Precision::Second,
            17 if !is_date => Precision::Millisecond,
            _ => return None,
        };
        let mut r = *self;
        if high {
            if self.precision < Precision::Month {
                r.month = 12;
            }
            if self.precision < Precision::Day {
                r.day = days_in_month(r.year, r.month);
            }
            if self.precision < Precision::Hour {
                r.hour = 23;
            }
            if self.precision < Precision::Minute && self.precision != Precision::Hour {
                r.minute = 59;
            }
            if self.precision < Precision::Second {
                r.second = 59;
            }
            if self.precision < Precision::Millisecond {
                r.millis = 999;
            }
        }
        if precision >= Precision::Hour && r.tz.is_none() {
            // Without an offset the value may be anywhere between UTC+14 and UTC-12.
            r.tz = Some(if high { -12 * 60 } else { 14 * 60 });
        }
        if precision < Precision::Hour {
            r.tz = None;
        }
        r.precision = precision;
        Some(r)
    }

    /// The date part only.
    pub fn date_part(&self) -> DateTime {
        let mut r = *self;
        r.precision = r.precision.min(Precision::Day);
        r.hour = 0;
        r.minute = 0;
        r.second = 0;
        r.millis = 0;
        r.tz = None;
        r
    }
}

impl fmt::Display for DateTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}", self.year)?;
        if self.precision >= Precision::Month {
            write!(f, "-{:02}", self.month)?;
        }
        if self.precision >= Precision::Day {
            write!(f, "-{:02}", self.day)?;
        }
        if self.precision >= Precision::Hour {
            write!(f, "T{:02}", self.hour)?;
            if self.precision >= Precision::Minute {
                write!(f, ":{:02}", self.minute)?;
            }
            if self.precision >= Precision::Second {
                write!(f, ":{:02}", self.second)?;
            }
            if self.precision >= Precision::Millisecond {
                write!(f, ".{:03}", self.millis)?;
            }
            match self.tz {
                Some(0) => f.write_str("Z")?,
                Some(off) => {
                    let sign = if off < 0 { '-' } else { '+' };
                    write!(f, "{sign}{:02}:{:02}", off.abs() / 60, off.abs() % 60)?;
                }
                None => {}
            }
        }
        Ok(())
    }
}

impl fmt::Display for Time {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:02}", self.hour)?;
        if self.precision >= Precision::Minute {
            write!(f, ":{:02}", self.minute)?;
        }
        if self.precision >= Precision::Second {
            write!(f, ":{:02}", self.second)?;
        }
        if self.precision >= Precision::Millisecond {
            write!(f, ".{:03}", self.millis)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partial_precision_compares_as_unknown() {
        let a = DateTime::parse("2012-04-15").map(|x| x.0);
        let b = DateTime::parse("2012-04-15T10:00").map(|x| x.0);
        let (Some(a), Some(b)) = (a, b) else {
            panic!("parse")
        };
        assert_eq!(a.compare(&b), None);
        let c = DateTime::parse("2012-04-16T10:00").map(|x| x.0);
        assert_eq!(a.compare(&c.expect("parse")), Some(Ordering::Less));
    }

    #[test]
    fn month_arithmetic_clamps_day() {
        let (a, _) = DateTime::parse("2014-01-31").expect("parse");
        let r = a.add(&Decimal::from_i64(1), "month").expect("add");
        assert_eq!(r.to_string(), "2014-02-28");
    }
}
