//! Name normalisation: width folding, traditional → simplified, pinyin readings.
//!
//! Matching compares names on three planes: the characters (张伟 = 张伟), the sound
//! (张伟 ≈ 张玮 ≈ "Zhang Wei": same pinyin, different characters) and the initials
//! (zw, for blocking). Every reading of a heteronym is kept, and surnames get their
//! surname readings (单 Shan, 曾 Zeng, 解 Xie …), so two spellings of one person are
//! never kept apart by the reading the converter happened to choose.

use pinyin::ToPinyinMulti;

/// Longest name kept (characters); longer input is cut, so a 10 MB string costs nothing.
pub const MAX_NAME_CHARS: usize = 64;
/// Most pinyin readings kept per name part (heteronym combinations grow fast).
const MAX_READINGS: usize = 8;

/// Folds a full-width character (ＡＢＣ１２３, ideographic space) to half-width.
pub fn fold_width(c: char) -> char {
    match c {
        '\u{3000}' => ' ',
        '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
        _ => c,
    }
}

/// Traditional → simplified for characters common in names where the mapping is
/// unambiguous (a traditional character with exactly one simplified form that is not
/// itself an everyday simplified character, so 乾 and 後 are left alone).
const TRAD_SIMP: &[(char, char)] = &[
    ('張', '张'),
    ('陳', '陈'),
    ('劉', '刘'),
    ('黃', '黄'),
    ('楊', '杨'),
    ('趙', '赵'),
    ('吳', '吴'),
    ('孫', '孙'),
    ('馬', '马'),
    ('鄭', '郑'),
    ('謝', '谢'),
    ('韓', '韩'),
    ('馮', '冯'),
    ('鄧', '邓'),
    ('蕭', '萧'),
    ('許', '许'),
    ('蘇', '苏'),
    ('盧', '卢'),
    ('蔣', '蒋'),
    ('葉', '叶'),
    ('羅', '罗'),
    ('錢', '钱'),
    ('龍', '龙'),
    ('萬', '万'),
    ('閆', '闫'),
    ('閻', '阎'),
    ('齊', '齐'),
    ('顏', '颜'),
    ('嚴', '严'),
    ('湯', '汤'),
    ('賀', '贺'),
    ('聶', '聂'),
    ('龔', '龚'),
    ('陸', '陆'),
    ('鄒', '邹'),
    ('譚', '谭'),
    ('賈', '贾'),
    ('歐', '欧'),
    ('樂', '乐'),
    ('鐘', '钟'),
    ('鍾', '钟'),
    ('韋', '韦'),
    ('偉', '伟'),
    ('華', '华'),
    ('國', '国'),
    ('強', '强'),
    ('軍', '军'),
    ('傑', '杰'),
    ('麗', '丽'),
    ('靜', '静'),
    ('紅', '红'),
    ('嬌', '娇'),
    ('鳳', '凤'),
    ('蘭', '兰'),
    ('雲', '云'),
    ('鵬', '鹏'),
    ('飛', '飞'),
    ('東', '东'),
    ('順', '顺'),
    ('寶', '宝'),
    ('興', '兴'),
    ('廣', '广'),
    ('貴', '贵'),
    ('義', '义'),
    ('輝', '辉'),
    ('勝', '胜'),
    ('榮', '荣'),
    ('長', '长'),
    ('錦', '锦'),
    ('濤', '涛'),
    ('慶', '庆'),
    ('億', '亿'),
    ('亞', '亚'),
    ('勳', '勋'),
    ('豐', '丰'),
    ('愛', '爱'),
    ('艷', '艳'),
    ('夢', '梦'),
    ('潔', '洁'),
    ('穎', '颖'),
    ('瑩', '莹'),
    ('嬋', '婵'),
    ('巖', '岩'),
    ('劍', '剑'),
    ('瑋', '玮'),
    ('煒', '炜'),
    ('鐵', '铁'),
    ('銀', '银'),
    ('鋒', '锋'),
    ('濟', '济'),
    ('蓮', '莲'),
    ('學', '学'),
    ('書', '书'),
    ('維', '维'),
    ('紹', '绍'),
    ('運', '运'),
    ('達', '达'),
    ('遠', '远'),
    ('進', '进'),
    ('連', '连'),
    ('漢', '汉'),
    ('賢', '贤'),
    ('傳', '传'),
    ('儀', '仪'),
    ('倫', '伦'),
    ('鴻', '鸿'),
    ('綺', '绮'),
    ('曉', '晓'),
    ('燁', '烨'),
    ('瑤', '瑶'),
    ('麥', '麦'),
    ('愷', '恺'),
    ('凱', '凯'),
    ('婷', '婷'),
    ('鑫', '鑫'),
    ('剛', '刚'),
    ('鋼', '钢'),
    ('紀', '纪'),
    ('陽', '阳'),
    ('時', '时'),
    ('輕', '轻'),
    ('寧', '宁'),
    ('顧', '顾'),
    ('鄔', '邬'),
    ('嶽', '岳'),
    ('楓', '枫'),
    ('麒', '麒'),
    ('鳴', '鸣'),
    ('華', '华'),
    ('莊', '庄'),
    ('費', '费'),
    ('貝', '贝'),
    ('歸', '归'),
    ('區', '区'),
    ('單', '单'),
    ('陰', '阴'),
    ('溫', '温'),
    ('盛', '盛'),
    ('彥', '彦'),
    ('詩', '诗'),
    ('語', '语'),
    ('瀾', '澜'),
    ('濱', '滨'),
    ('璣', '玑'),
    ('聖', '圣'),
    ('寬', '宽'),
    ('蘊', '蕴'),
    ('儒', '儒'),
    ('藝', '艺'),
    ('馨', '馨'),
];

/// Maps a traditional character to simplified when the mapping is unambiguous.
pub fn to_simplified(c: char) -> char {
    TRAD_SIMP
        .iter()
        .find(|(t, _)| *t == c)
        .map(|(_, s)| *s)
        .unwrap_or(c)
}

/// Surnames read differently from the character's common reading.
const SURNAME_READINGS: &[(char, &str)] = &[
    ('单', "shan"),
    ('曾', "zeng"),
    ('解', "xie"),
    ('区', "ou"),
    ('仇', "qiu"),
    ('查', "zha"),
    ('朴', "piao"),
    ('盖', "ge"),
    ('缪', "miao"),
    ('尉', "yu"),
    ('乐', "yue"),
    ('覃', "qin"),
    ('翟', "zhai"),
    ('召', "shao"),
    ('种', "chong"),
    ('员', "yun"),
    ('秘', "bi"),
    ('长', "chang"),
    ('沈', "shen"),
    ('重', "chong"),
    ('藏', "zang"),
    ('纪', "ji"),
    ('过', "guo"),
    ('句', "gou"),
    ('繁', "po"),
];

/// Two-character surnames (复姓), so 欧阳娜娜 splits as 欧阳 + 娜娜.
const COMPOUND_SURNAMES: &[&str] = &[
    "欧阳", "司马", "诸葛", "上官", "东方", "皇甫", "尉迟", "公孙", "慕容", "令狐", "长孙", "宇文",
    "司徒", "夏侯", "轩辕", "端木", "独孤", "南宫", "闻人", "万俟", "呼延", "澹台",
];

/// True for a CJK unified ideograph.
pub fn is_han(c: char) -> bool {
    matches!(c as u32, 0x4E00..=0x9FFF | 0x3400..=0x4DBF | 0x20000..=0x2A6DF)
}

/// Canonical form of a name: width folded, traditional → simplified, Latin lower-cased,
/// spaces and separators (· •) removed between Han characters, collapsed between Latin
/// words, at most [`MAX_NAME_CHARS`] characters.
pub fn normalize_name(input: &str) -> String {
    let mut out = String::with_capacity(input.len().min(MAX_NAME_CHARS * 4));
    let mut pending_space = false;
    let mut n = 0;
    for c in input.chars() {
        if n >= MAX_NAME_CHARS {
            break;
        }
        let c = to_simplified(fold_width(c));
        if c.is_whitespace() || matches!(c, '·' | '•' | '.' | '-' | '_' | ',' | '\'') {
            pending_space = !out.is_empty();
            continue;
        }
        if c.is_control() {
            continue;
        }
        if pending_space {
            // Keep a space only between two non-Han words.
            let prev_han = out.chars().last().is_some_and(is_han);
            if !prev_han && !is_han(c) {
                out.push(' ');
                n += 1;
            }
            pending_space = false;
        }
        for l in c.to_lowercase() {
            out.push(l);
            n += 1;
        }
    }
    out
}

/// Splits a normalised Han full name into (family, given); Latin names are not split
/// (their order is unknown) and come back as (whole, "").
pub fn split_full_name(name: &str) -> (String, String) {
    if !name.chars().next().is_some_and(is_han) {
        return (name.to_string(), String::new());
    }
    for s in COMPOUND_SURNAMES {
        if let Some(rest) = name.strip_prefix(s) {
            if !rest.is_empty() {
                return (s.to_string(), rest.to_string());
            }
        }
    }
    let mut it = name.chars();
    let first = it.next().map(String::from).unwrap_or_default();
    (first, it.collect())
}

/// All pinyin readings of a name part (concatenated, no tones, at most 8), the primary
/// reading first. `surname` adds surname readings. Latin letters are kept lower-case;
/// other characters are dropped.
pub fn pinyin_readings(part: &str, surname: bool) -> Vec<String> {
    let mut acc: Vec<String> = vec![String::new()];
    for (i, c) in part.chars().enumerate() {
        if c == ' ' {
            continue;
        }
        let mut options: Vec<&'static str> = Vec::new();
        if surname && i == 0 {
            if let Some((_, r)) = SURNAME_READINGS.iter().find(|(s, _)| *s == c) {
                options.push(r);
            }
        }
        if let Some(multi) = c.to_pinyin_multi() {
            for p in multi {
                let plain = p.plain();
                if !options.contains(&plain) {
                    options.push(plain);
                }
            }
        }
        if options.is_empty() {
            if c.is_alphanumeric() && c.is_ascii() {
                for a in acc.iter_mut() {
                    a.push(c);
                }
            }
            continue;
        }
        let mut next = Vec::with_capacity((acc.len() * options.len()).min(MAX_READINGS));
        'outer: for a in &acc {
            for o in &options {
                if next.len() >= MAX_READINGS {
                    break 'outer;
                }
                let mut s = a.clone();
                s.push_str(o);
                next.push(s);
            }
        }
        acc = next;
    }
    acc.retain(|s| !s.is_empty());
    acc
}

/// Initials of the primary reading: 张伟 → `zw`; Latin words → first letters.
pub fn initials(part: &str, surname: bool) -> String {
    let mut out = String::new();
    let mut at_word_start = true;
    for (i, c) in part.chars().enumerate() {
        if c == ' ' {
            at_word_start = true;
            continue;
        }
        if is_han(c) {
            let surname_reading = if surname && i == 0 {
                SURNAME_READINGS
                    .iter()
                    .find(|(s, _)| *s == c)
                    .map(|(_, r)| *r)
            } else {
                None
            };
            let r = surname_reading.or_else(|| c.to_pinyin_multi().map(|m| m.get(0).plain()));
            if let Some(first) = r.and_then(|r| r.chars().next()) {
                out.push(first);
            }
        } else if at_word_start && c.is_alphanumeric() {
            out.push(c);
            at_word_start = false;
        }
    }
    out
}

/// A name part ready for comparison. Boxed strings, not `String`s: the write-time index
/// holds two of these per registration, a million registrations at a time, and a key
/// never changes once built.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NameKey {
    /// Normalised characters.
    pub text: Box<str>,
    /// Pinyin readings, primary first.
    pub readings: Box<[Box<str>]>,
    /// Initials of the primary reading.
    pub initials: Box<str>,
}

impl NameKey {
    /// Builds the key of an already normalised name part.
    pub fn new(text: &str, surname: bool) -> NameKey {
        NameKey {
            text: text.into(),
            readings: pinyin_readings(text, surname)
                .into_iter()
                .map(String::into_boxed_str)
                .collect(),
            initials: initials(text, surname).into_boxed_str(),
        }
    }

    /// True when nothing usable is known.
    pub fn is_empty(&self) -> bool {
        self.text.is_empty()
    }

    /// True when two different spellings share a reading (张伟 / 张玮, 吴 / 武).
    pub fn sounds_like(&self, other: &NameKey) -> bool {
        self.readings
            .iter()
            .any(|a| other.readings.iter().any(|b| a == b))
    }

    /// Primary reading, or the text when it has none.
    pub fn primary(&self) -> &str {
        self.readings.first().map(|r| &**r).unwrap_or(&self.text)
    }
}
