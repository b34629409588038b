//! Administrative division codes (行政区划代码, GB/T 2260).
//!
//! Two tables are compiled in, both derived from `shared/reference/cn/divisions` by
//! `scripts/gen_mpi_divisions.py`: every 6-digit code in force in any revision since
//! 1980 (an ID number keeps the code in force when it was issued, so the check must
//! accept retired codes), and the names of the 2019-04 revision for address parsing.

use std::collections::{HashMap, HashSet};
use std::sync::OnceLock;

const CODES: &str = include_str!("../data/division_codes.txt");
const NAMES: &str = include_str!("../data/division_names.tsv");

fn codes() -> &'static HashSet<u32> {
    static SET: OnceLock<HashSet<u32>> = OnceLock::new();
    SET.get_or_init(|| {
        let mut set = HashSet::with_capacity(8192);
        for line in CODES.lines().filter(|l| !l.starts_with('#')) {
            let mut parts = line.split_ascii_whitespace();
            let Some(prefix) = parts.next().and_then(|p| p.parse::<u32>().ok()) else {
                continue;
            };
            for suffix in parts.filter_map(|s| s.parse::<u32>().ok()) {
                set.insert(prefix * 100 + suffix);
            }
        }
        set
    })
}

/// True when `code` (six digits) was a GB/T 2260 code in any revision 1980–2019.
pub fn is_known_code(code: u32) -> bool {
    codes().contains(&code)
}

/// A division name with its code, longest names first so that parsing is greedy.
struct NameTable {
    /// First character → (name, code) for full names (北京市) and short names (北京),
    /// longest first, so parsing looks only at names that can match.
    names: HashMap<char, Vec<(String, u32)>>,
    by_code: HashMap<u32, String>,
}

fn short_name(name: &str) -> Option<String> {
    const SUFFIXES: [&str; 12] = [
        "特别行政区",
        "维吾尔自治区",
        "壮族自治区",
        "回族自治区",
        "自治区",
        "自治州",
        "自治县",
        "省",
        "市",
        "区",
        "县",
        "盟",
    ];
    for s in SUFFIXES {
        if let Some(stem) = name.strip_suffix(s) {
            // A one-character stem (e.g. 城区 → 城) would match far too much.
            if stem.chars().count() >= 2 {
                return Some(stem.to_string());
            }
        }
    }
    None
}

fn names() -> &'static NameTable {
    static TABLE: OnceLock<NameTable> = OnceLock::new();
    TABLE.get_or_init(|| {
        let mut names = Vec::new();
        let mut by_code = HashMap::new();
        for line in NAMES.lines().filter(|l| !l.starts_with('#')) {
            let Some((code, name)) = line.split_once('\t') else {
                continue;
            };
            let Ok(code) = code.parse::<u32>() else {
                continue;
            };
            by_code.insert(code, name.to_string());
            names.push((name.to_string(), code));
            if let Some(short) = short_name(name) {
                names.push((short, code));
            }
        }
        names.sort_by(|a, b| {
            b.0.chars()
                .count()
                .cmp(&a.0.chars().count())
                .then(a.1.cmp(&b.1))
        });
        let mut by_first: HashMap<char, Vec<(String, u32)>> = HashMap::new();
        for (name, code) in names {
            if let Some(c) = name.chars().next() {
                by_first.entry(c).or_default().push((name, code));
            }
        }
        NameTable {
            names: by_first,
            by_code,
        }
    })
}

/// Name of a division in the 2019-04 revision, if it has one.
pub fn name_of(code: u32) -> Option<&'static str> {
    names().by_code.get(&code).map(String::as_str)
}

/// Parses the most specific division code named at the start of an address.
///
/// Walks the address left to right: a province, then a prefecture inside it, then a
/// county inside that (`浙江省杭州市西湖区…` → 330106). A name is accepted only when it
/// is consistent with the division already found, so `朝阳区` after `北京市` gives
/// 110105, never 220104 (长春市朝阳区). Returns `None` when no division is named.
pub fn parse_address(address: &str) -> Option<u32> {
    let table = names();
    let mut rest = address.trim();
    let mut found: Option<u32> = None;
    // At most three levels: province, prefecture, county.
    for _ in 0..3 {
        let mut advanced = false;
        let Some(first) = rest.chars().next() else {
            break;
        };
        let Some(candidates) = table.names.get(&first) else {
            break;
        };
        for (name, code) in candidates {
            if !rest.starts_with(name.as_str()) {
                continue;
            }
            let consistent = match found {
                None => true,
                Some(f) => is_more_specific_within(*code, f),
            };
            if consistent {
                found = Some(*code);
                rest = &rest[name.len()..];
                advanced = true;
                break;
            }
        }
        if !advanced {
            break;
        }
    }
    found
}

/// True when `code` lies inside `parent` and is more specific than it.
fn is_more_specific_within(code: u32, parent: u32) -> bool {
    if code == parent {
        return false;
    }
    if parent.is_multiple_of(10_000) {
        code / 10_000 == parent / 10_000
    } else if parent.is_multiple_of(100) {
        code / 100 == parent / 100
    } else {
        false
    }
}

/// Number of leading levels (0–3: province, prefecture, county) two codes share.
pub fn shared_levels(a: u32, b: u32) -> u8 {
    if a / 10_000 != b / 10_000 {
        0
    } else if a / 100 != b / 100 {
        1
    } else if a != b {
        2
    } else {
        3
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retired_and_current_codes_are_known() {
        assert!(is_known_code(110105));
        assert!(is_known_code(110100));
        assert!(!is_known_code(999999));
    }

    #[test]
    fn address_resolves_to_county() {
        assert_eq!(parse_address("北京市朝阳区建国路1号"), Some(110105));
        assert_eq!(parse_address("浙江省杭州市西湖区文三路"), Some(330106));
        assert_eq!(parse_address("某某路"), None);
    }
}
