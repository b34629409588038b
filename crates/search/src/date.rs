//! FHIR dates as ranges (R4 search.html#date): every date, dateTime, instant or
//! period is the interval `[low, high]` it covers at its precision, in microseconds
//! since the Unix epoch (UTC). `2020` is all of 2020; `2020-03-01T10:00Z` is that
//! second. A value without a time zone is taken as UTC (R4 leaves it to the server).

use time::{Date, Month, PrimitiveDateTime, Time, UtcOffset};

/// Earliest representable instant: an open period start.
pub const MIN: i64 = i64::MIN / 2;
/// Latest representable instant: an open period end.
pub const MAX: i64 = i64::MAX / 2;

/// An inclusive range of microseconds since the epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Range {
    pub low: i64,
    pub high: i64,
}

fn micros(d: Date, t: Time, offset: UtcOffset) -> i64 {
    let odt = PrimitiveDateTime::new(d, t).assume_offset(offset);
    (odt.unix_timestamp_nanos() / 1000) as i64
}

fn num<T: std::str::FromStr>(s: &str, len: usize) -> Option<T> {
    (s.len() == len && s.bytes().all(|b| b.is_ascii_digit()))
        .then(|| s.parse().ok())
        .flatten()
}

/// The range of a FHIR date, dateTime or instant text; `None` if malformed.
pub fn parse(s: &str) -> Option<Range> {
    let s = s.trim();
    let (date_part, time_part) = match s.split_once('T') {
        Some((d, t)) => (d, Some(t)),
        None => (s, None),
    };
    let mut it = date_part.split('-');
    let year: i32 = num(it.next()?, 4)?;
    let month: Option<u8> = match it.next() {
        Some(m) => Some(num(m, 2)?),
        None => None,
    };
    let day: Option<u8> = match it.next() {
        Some(d) => Some(num(d, 2)?),
        None => None,
    };
    if it.next().is_some() {
        return None;
    }
    let utc = UtcOffset::UTC;
    match (month, day, time_part) {
        (None, None, None) => {
            let low = Date::from_calendar_date(year, Month::January, 1).ok()?;
            let next = Date::from_calendar_date(year + 1, Month::January, 1).ok()?;
            Some(Range {
                low: micros(low, Time::MIDNIGHT, utc),
                high: micros(next, Time::MIDNIGHT, utc) - 1,
            })
        }
        (Some(m), None, None) => {
            let month = Month::try_from(m).ok()?;
            let low = Date::from_calendar_date(year, month, 1).ok()?;
            let (ny, nm) = if m == 12 {
                (year + 1, 1)
            } else {
                (year, m + 1)
            };
            let next = Date::from_calendar_date(ny, Month::try_from(nm).ok()?, 1).ok()?;
            Some(Range {
                low: micros(low, Time::MIDNIGHT, utc),
                high: micros(next, Time::MIDNIGHT, utc) - 1,
            })
        }
        (Some(m), Some(d), None) => {
            let date = Date::from_calendar_date(year, Month::try_from(m).ok()?, d).ok()?;
            let low = micros(date, Time::MIDNIGHT, utc);
            Some(Range {
                low,
                high: low + 86_400_000_000 - 1,
            })
        }
        (Some(m), Some(d), Some(t)) => {
            let date = Date::from_calendar_date(year, Month::try_from(m).ok()?, d).ok()?;
            parse_time(date, t)
        }
        _ => None,
    }
}

fn parse_time(date: Date, t: &str) -> Option<Range> {
    // Split off the zone: Z, +hh:mm or -hh:mm.
    let (clock, offset) = if let Some(c) = t.strip_suffix('Z') {
        (c, UtcOffset::UTC)
    } else if let Some(pos) = t.rfind(['+', '-']) {
        let (c, z) = t.split_at(pos);
        let sign: i8 = if z.starts_with('-') { -1 } else { 1 };
        let (h, m) = z[1..].split_once(':')?;
        let (h, m): (i8, i8) = (num(h, 2)?, num(m, 2)?);
        (c, UtcOffset::from_hms(sign * h, sign * m, 0).ok()?)
    } else {
        (t, UtcOffset::UTC)
    };
    let mut parts = clock.split(':');
    let h: u8 = num(parts.next()?, 2)?;
    let m: u8 = num(parts.next()?, 2)?;
    let (sec, width): (u8, i64) = match parts.next() {
        None => (0, 60_000_000),
        Some(s) => {
            let (whole, frac) = s.split_once('.').unwrap_or((s, ""));
            let sec: u8 = num(whole, 2)?;
            if !frac.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            let digits = frac.len().min(6);
            let frac_micros: i64 = if digits == 0 {
                0
            } else {
                frac[..digits].parse::<i64>().ok()? * 10_i64.pow((6 - digits) as u32)
            };
            let width = 10_i64.pow((6 - digits) as u32);
            let low = micros(date, Time::from_hms(h, m, sec).ok()?, offset) + frac_micros;
            return Some(Range {
                low,
                high: low + width - 1,
            });
        }
    };
    if parts.next().is_some() {
        return None;
    }
    let low = micros(date, Time::from_hms(h, m, sec).ok()?, offset);
    Some(Range {
        low,
        high: low + width - 1,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn precision_sets_the_range() {
        let y = parse("2020").unwrap();
        let jan1 = parse("2020-01-01").unwrap();
        let dec31 = parse("2020-12-31").unwrap();
        assert_eq!(y.low, jan1.low);
        assert_eq!(y.high, dec31.high);
        let feb = parse("2020-02").unwrap();
        assert_eq!(feb.high - feb.low + 1, 29 * 86_400_000_000);
        let t = parse("2020-01-01T10:00:00Z").unwrap();
        assert_eq!(t.high - t.low + 1, 1_000_000);
        assert_eq!(parse("2020-01-01T18:00:00+08:00").unwrap().low, t.low);
        let ms = parse("2020-01-01T10:00:00.250Z").unwrap();
        assert_eq!(ms.low - t.low, 250_000);
        assert_eq!(ms.high - ms.low + 1, 1000);
        assert_eq!(parse("2020-01-01T10:00Z").unwrap().low, t.low);
        for bad in [
            "20",
            "2020-13",
            "2020-02-30",
            "2020-01-01T25:00:00Z",
            "x",
            "2020-01-01T10",
        ] {
            assert!(parse(bad).is_none(), "{bad}");
        }
    }
}
