//! String normalisation for string-parameter matching (R4 search.html#string:
//! case- and accent-insensitive).
//!
//! Accents are removed only from Latin, Greek and Cyrillic letters, by canonical
//! decomposition. Other scripts are left alone on purpose: decomposing Hangul would
//! turn syllables into jamo (so `가` would prefix-match `각`), and dropping the
//! combining sound marks of kana would make `が` equal `か`. Han characters have no case
//! and no accents and pass through unchanged, so `:contains` and prefix matching work
//! on Chinese names as written. Full-width ASCII forms (common in Chinese input
//! methods: `ＡＢＣ１２３`) fold to ASCII.

use unicode_normalization::char::{decompose_canonical, is_combining_mark};

/// Most characters of a normalised value kept in an index (a B-tree key must stay
/// well below PostgreSQL's ~2.7 kB limit; prefix search beyond this length compares
/// the stored exact value).
pub const MAX_INDEXED_CHARS: usize = 200;

fn decomposable(c: char) -> bool {
    matches!(c as u32, 0x00C0..=0x024F | 0x0370..=0x04FF | 0x1E00..=0x1FFF)
}

/// The normalised form of a string value or search value: lower case, accents
/// removed from Latin/Greek/Cyrillic, full-width ASCII folded, whitespace runs
/// collapsed to one space and trimmed.
pub fn normalize(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut space = false;
    for c in s.chars() {
        let c = match c as u32 {
            0xFF01..=0xFF5E => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
            0x3000 => ' ',
            _ => c,
        };
        if c.is_whitespace() {
            space = !out.is_empty();
            continue;
        }
        if space {
            out.push(' ');
            space = false;
        }
        if decomposable(c) {
            decompose_canonical(c, |d| {
                if !is_combining_mark(d) {
                    out.extend(d.to_lowercase());
                }
            });
        } else if c.is_ascii() {
            out.push(c.to_ascii_lowercase());
        } else {
            out.extend(c.to_lowercase());
        }
    }
    out
}

/// [`normalize`], cut to [`MAX_INDEXED_CHARS`] characters: what the index stores.
pub fn index_form(s: &str) -> String {
    let n = normalize(s);
    match n.char_indices().nth(MAX_INDEXED_CHARS) {
        Some((cut, _)) => n[..cut].to_owned(),
        None => n,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn case_and_accents_fold_but_cjk_is_untouched() {
        assert_eq!(normalize("  Müller-LÜDENSCHEID "), "muller-ludenscheid");
        assert_eq!(normalize("Ἀθῆναι"), "αθηναι");
        assert_eq!(normalize("张 伟"), "张 伟");
        assert_eq!(normalize("ＡＢＣ１２３"), "abc123");
        assert_eq!(normalize("각"), "각", "Hangul stays a syllable");
        assert_eq!(normalize("が"), "が", "kana keep their voicing mark");
        assert_eq!(normalize("Ǆ"), "ǆ");
        assert_eq!(index_form(&"长".repeat(300)).chars().count(), 200);
    }
}
