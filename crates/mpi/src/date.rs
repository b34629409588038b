//! Dates with partial precision (年 / 年月 / 年月日), as registrations carry them.

use std::fmt;

/// A birth date known to year, month or day precision.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PartialDate {
    /// Only the year is known.
    Year {
        /// Year.
        year: i32,
    },
    /// Year and month are known.
    Month {
        /// Year.
        year: i32,
        /// Month 1–12.
        month: u8,
    },
    /// Full date.
    Day {
        /// Year.
        year: i32,
        /// Month 1–12.
        month: u8,
        /// Day 1–31.
        day: u8,
    },
}

/// Why a date could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DateError {
    /// Not one of the accepted shapes.
    #[error("date is not YYYY, YYYY-MM, YYYY-MM-DD, YYYYMMDD, YYYY/MM/DD or YYYY年MM月DD日")]
    Format,
    /// The shape is right but the date does not exist.
    #[error("date {0} does not exist")]
    Impossible(String),
}

/// True for a real calendar date between years 1800 and 2200.
pub fn is_valid_ymd(y: i32, m: u8, d: u8) -> bool {
    if !(1800..=2200).contains(&y) || !(1..=12).contains(&m) || d == 0 {
        return false;
    }
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let days = match m {
        2 if leap => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    };
    d <= days
}

impl PartialDate {
    /// Parses `YYYY`, `YYYY-MM`, `YYYY-MM-DD` (also with `/` or `.`), `YYYYMMDD`,
    /// `YYYYMM`, `YYYY年M月D日`, and an ISO date-time (the time is dropped).
    pub fn parse(input: &str) -> Result<PartialDate, DateError> {
        let s: String = input
            .trim()
            .chars()
            .map(crate::name::fold_width)
            .take(64)
            .collect();
        let s = s.split('T').next().unwrap_or("").trim();
        if s.is_empty() {
            return Err(DateError::Format);
        }
        let parts: Vec<&str> = s
            .split(['-', '/', '.', '年', '月', '日', ' '])
            .filter(|p| !p.is_empty())
            .collect();
        // Only ASCII digits may be sliced by byte below (a property test found the panic).
        if parts.iter().any(|p| !p.bytes().all(|b| b.is_ascii_digit())) {
            return Err(DateError::Format);
        }
        let nums: Vec<&str> = if parts.len() == 1 && parts[0].len() == 8 {
            vec![&parts[0][..4], &parts[0][4..6], &parts[0][6..]]
        } else if parts.len() == 1 && parts[0].len() == 6 {
            vec![&parts[0][..4], &parts[0][4..]]
        } else {
            parts
        };
        if nums.is_empty()
            || nums.len() > 3
            || nums
                .iter()
                .any(|p| !p.bytes().all(|b| b.is_ascii_digit()) || p.len() > 4)
        {
            return Err(DateError::Format);
        }
        if nums[0].len() != 4 {
            return Err(DateError::Format);
        }
        let year: i32 = nums[0].parse().map_err(|_| DateError::Format)?;
        let month: Option<u8> = nums
            .get(1)
            .map(|m| m.parse().map_err(|_| DateError::Format))
            .transpose()?;
        let day: Option<u8> = nums
            .get(2)
            .map(|d| d.parse().map_err(|_| DateError::Format))
            .transpose()?;
        let date = match (month, day) {
            (None, _) => PartialDate::Year { year },
            (Some(month), None) => PartialDate::Month { year, month },
            (Some(month), Some(day)) => PartialDate::Day { year, month, day },
        };
        let ok = match date {
            PartialDate::Year { year } => (1800..=2200).contains(&year),
            PartialDate::Month { year, month } => is_valid_ymd(year, month, 1),
            PartialDate::Day { year, month, day } => is_valid_ymd(year, month, day),
        };
        if ok {
            Ok(date)
        } else {
            Err(DateError::Impossible(s.to_string()))
        }
    }

    /// Year.
    pub fn year(&self) -> i32 {
        match *self {
            PartialDate::Year { year }
            | PartialDate::Month { year, .. }
            | PartialDate::Day { year, .. } => year,
        }
    }

    /// Month, if known.
    pub fn month(&self) -> Option<u8> {
        match *self {
            PartialDate::Year { .. } => None,
            PartialDate::Month { month, .. } | PartialDate::Day { month, .. } => Some(month),
        }
    }

    /// Day, if known.
    pub fn day(&self) -> Option<u8> {
        match *self {
            PartialDate::Day { day, .. } => Some(day),
            _ => None,
        }
    }

    /// True when both dates agree to the precision of the less precise one.
    pub fn agrees_with(&self, other: &PartialDate) -> bool {
        self.year() == other.year()
            && (self.month().is_none() || other.month().is_none() || self.month() == other.month())
            && (self.day().is_none() || other.day().is_none() || self.day() == other.day())
    }

    /// Compact key `YYYYMMDD` with zeros for unknown parts (for blocking).
    pub fn key(&self) -> u32 {
        (self.year().max(0) as u32) * 10_000
            + u32::from(self.month().unwrap_or(0)) * 100
            + u32::from(self.day().unwrap_or(0))
    }
}

impl fmt::Display for PartialDate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            PartialDate::Year { year } => write!(f, "{year:04}"),
            PartialDate::Month { year, month } => write!(f, "{year:04}-{month:02}"),
            PartialDate::Day { year, month, day } => write!(f, "{year:04}-{month:02}-{day:02}"),
        }
    }
}
