//! Fact tables the generator draws from: divisions and code tables derived from
//! `../shared/reference/cn` by `scripts/gen_synth_tables.py`, and name statistics.

use std::sync::OnceLock;

/// One administrative division (GB/T 2260 county and above; NBS township codes below).
#[derive(Debug, Clone)]
pub struct Division {
    /// `province`, `city`, `county` or `township`.
    pub level: &'static str,
    /// 6-digit code (9 digits for townships).
    pub code: &'static str,
    /// Name, e.g. `西湖区`.
    pub name: &'static str,
    /// Code of the parent division.
    pub parent: &'static str,
}

const DIVISIONS_TSV: &str = include_str!("../data/divisions.tsv");
const CODES_TSV: &str = include_str!("../data/codes.tsv");

/// Every division of the embedded province.
pub fn divisions() -> &'static [Division] {
    static D: OnceLock<Vec<Division>> = OnceLock::new();
    D.get_or_init(|| {
        DIVISIONS_TSV
            .lines()
            .filter(|l| !l.starts_with('#') && !l.is_empty())
            .filter_map(|l| {
                let mut f = l.split('\t');
                Some(Division {
                    level: f.next()?,
                    code: f.next()?,
                    name: f.next()?,
                    parent: f.next().unwrap_or(""),
                })
            })
            .collect()
    })
}

/// The division with this code.
pub fn division(code: &str) -> Option<&'static Division> {
    divisions().iter().find(|d| d.code == code)
}

/// The (code, display) rows of an embedded code table: `ethnicity` (GB 3304),
/// `marital` (GB/T 2261.2), `abo` (CV04.50.005), `rh` (CV04.50.020).
pub fn code_table(table: &str) -> Vec<(&'static str, &'static str)> {
    CODES_TSV
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let mut f = l.split('\t');
            let t = f.next()?;
            let code = f.next()?;
            let display = f.next()?;
            (t == table).then_some((code, display))
        })
        .collect()
}

/// The display of a code, or the code itself when unknown.
pub fn display(table: &str, code: &str) -> &'static str {
    code_table(table)
        .into_iter()
        .find(|(c, _)| *c == code)
        .map(|(_, d)| d)
        .unwrap_or("")
}

/// Surnames with weights per 100,000 people: the ranking and shares published from
/// the 2020 census household registrations (王 7.1%, 李 7.0%, 张 6.7% …), the top
/// hundred, then a tail of rarer surnames sharing the remainder.
pub const SURNAMES: &[(&str, u32)] = &[
    ("王", 7120),
    ("李", 7000),
    ("张", 6740),
    ("刘", 5380),
    ("陈", 4530),
    ("杨", 3080),
    ("黄", 2230),
    ("赵", 2200),
    ("吴", 2050),
    ("周", 1890),
    ("徐", 1530),
    ("孙", 1510),
    ("马", 1350),
    ("朱", 1310),
    ("胡", 1180),
    ("郭", 1150),
    ("何", 1060),
    ("林", 1020),
    ("高", 970),
    ("罗", 860),
    ("郑", 820),
    ("梁", 810),
    ("谢", 720),
    ("宋", 630),
    ("唐", 620),
    ("许", 600),
    ("韩", 590),
    ("冯", 570),
    ("邓", 570),
    ("曹", 560),
    ("彭", 530),
    ("曾", 520),
    ("肖", 510),
    ("田", 500),
    ("董", 490),
    ("袁", 490),
    ("潘", 480),
    ("于", 470),
    ("蒋", 470),
    ("蔡", 460),
    ("余", 450),
    ("杜", 440),
    ("叶", 430),
    ("程", 420),
    ("苏", 410),
    ("魏", 400),
    ("吕", 390),
    ("丁", 380),
    ("任", 380),
    ("沈", 370),
    ("姚", 360),
    ("卢", 360),
    ("姜", 350),
    ("崔", 340),
    ("钟", 330),
    ("谭", 330),
    ("陆", 320),
    ("汪", 320),
    ("范", 310),
    ("金", 300),
    ("石", 300),
    ("廖", 290),
    ("贾", 290),
    ("夏", 280),
    ("韦", 280),
    ("付", 270),
    ("方", 270),
    ("白", 260),
    ("邹", 260),
    ("孟", 250),
    ("熊", 250),
    ("秦", 240),
    ("邱", 240),
    ("江", 230),
    ("尹", 230),
    ("薛", 220),
    ("闫", 220),
    ("段", 210),
    ("雷", 210),
    ("侯", 200),
    ("龙", 200),
    ("史", 190),
    ("陶", 190),
    ("黎", 190),
    ("贺", 180),
    ("顾", 180),
    ("毛", 180),
    ("郝", 170),
    ("龚", 170),
    ("邵", 170),
    ("万", 160),
    ("钱", 160),
    ("严", 160),
    ("覃", 150),
    ("武", 150),
    ("戴", 150),
    ("莫", 140),
    ("孔", 140),
    ("向", 140),
    ("汤", 130),
    ("常", 60),
    ("温", 60),
    ("康", 60),
    ("施", 60),
    ("文", 60),
    ("牛", 55),
    ("樊", 55),
    ("葛", 55),
    ("邢", 50),
    ("安", 50),
    ("齐", 50),
    ("易", 50),
    ("乔", 45),
    ("伍", 45),
    ("庞", 45),
    ("颜", 45),
    ("倪", 40),
    ("庄", 40),
    ("聂", 40),
    ("章", 40),
    ("鲁", 35),
    ("岳", 35),
    ("翟", 35),
    ("殷", 35),
    ("詹", 30),
    ("申", 30),
    ("欧阳", 30),
    ("耿", 25),
    ("关", 25),
    ("兰", 25),
    ("焦", 25),
    ("俞", 25),
    ("左", 20),
    ("柳", 20),
    ("甘", 20),
    ("祝", 20),
    ("包", 20),
    ("宁", 18),
    ("尚", 18),
    ("符", 18),
    ("舒", 15),
    ("阮", 15),
    ("柯", 15),
    ("纪", 15),
    ("梅", 15),
    ("童", 12),
    ("凌", 12),
    ("毕", 12),
    ("单", 12),
    ("季", 12),
    ("裴", 10),
    ("霍", 10),
    ("涂", 10),
    ("成", 10),
    ("苗", 10),
    ("谷", 8),
    ("盛", 8),
    ("曲", 8),
    ("翁", 8),
    ("冉", 8),
    ("骆", 6),
    ("蓝", 6),
    ("路", 6),
    ("游", 6),
    ("辛", 6),
    ("靳", 5),
    ("诸葛", 2),
    ("司马", 2),
    ("上官", 2),
    ("东方", 1),
];

/// Given-name characters in groups that sound alike (same pinyin, often the same
/// tone): a homophone error replaces a character by another of its group (张伟/张玮).
pub const HOMOPHONES: &[&[&str]] = &[
    &["伟", "玮", "炜", "韦"],
    &["军", "君", "钧", "均"],
    &["丽", "莉", "俐", "立"],
    &["静", "婧", "靖", "晶"],
    &["敏", "民", "旻"],
    &["杰", "洁", "捷", "婕"],
    &["涛", "韬", "滔"],
    &["明", "鸣", "铭", "名"],
    &["华", "骅", "桦"],
    &["芳", "方", "芬"],
    &["娜", "纳"],
    &["强", "蔷"],
    &["磊", "蕾", "垒"],
    &["洋", "阳", "扬"],
    &["勇", "永", "咏", "泳"],
    &["艳", "燕", "彦", "雁"],
    &["秀", "绣"],
    &["英", "瑛", "莹", "颖"],
    &["霞", "侠"],
    &["平", "萍", "苹"],
    &["刚", "钢"],
    &["辉", "晖", "慧", "惠"],
    &["斌", "彬", "滨"],
    &["宇", "雨", "羽", "语", "玉"],
    &["浩", "昊", "皓", "灏"],
    &["鑫", "欣", "馨", "新", "心"],
    &["婷", "亭", "庭"],
    &["雪", "学"],
    &["琳", "林", "霖", "玲"],
    &["健", "建", "剑", "坚"],
    &["超", "潮"],
    &["波", "博", "柏"],
    &["峰", "锋", "丰", "枫"],
    &["佳", "嘉", "家"],
    &["红", "宏", "鸿", "虹"],
    &["凯", "恺", "楷"],
    &["文", "雯", "闻"],
    &["梅", "玫"],
    &["晨", "辰", "琛"],
    &["子", "梓", "紫"],
    &["涵", "晗", "寒"],
    &["睿", "瑞", "锐"],
    &["思", "斯", "丝"],
    &["怡", "仪", "宜", "依"],
    &["俊", "骏", "峻"],
    &["志", "智", "致"],
    &["国", "果"],
];

/// Characters common in men's given names (all inside [`HOMOPHONES`]).
pub const MALE_CHARS: &[&str] = &[
    "伟", "军", "敏", "杰", "涛", "明", "华", "强", "磊", "洋", "勇", "刚", "辉", "斌", "宇", "浩",
    "鑫", "健", "超", "波", "峰", "佳", "宏", "凯", "文", "晨", "子", "睿", "俊", "志", "国", "建",
    "博", "锋", "昊", "鸣", "永", "钧", "瑞",
];
/// Characters common in women's given names (all inside [`HOMOPHONES`]).
pub const FEMALE_CHARS: &[&str] = &[
    "丽", "静", "敏", "洁", "芳", "娜", "艳", "秀", "英", "霞", "平", "婷", "雪", "琳", "玲", "红",
    "梅", "晨", "子", "涵", "思", "怡", "欣", "慧", "佳", "颖", "雯", "萍", "燕", "莉", "蕾", "嘉",
    "玉", "晶", "馨", "瑞", "宜", "紫", "婕", "虹",
];

/// Roads and streets for urban addresses.
pub const ROADS: &[&str] = &[
    "人民路",
    "解放路",
    "中山路",
    "建设路",
    "和平路",
    "新华路",
    "胜利路",
    "学院路",
    "文化路",
    "长江路",
    "环城北路",
    "延安路",
    "体育场路",
    "文一路",
    "文二路",
    "教工路",
    "湖滨路",
    "江南大道",
    "钱江路",
    "秋涛路",
    "凤起路",
    "庆春路",
    "朝晖路",
    "新塘路",
];

/// Village names (suffix 村 is added).
pub const VILLAGES: &[&str] = &[
    "东山", "西岭", "南湖", "北塘", "石桥", "上王", "下张", "前陈", "后李", "新屋", "龙潭", "桃源",
    "杨家", "溪口", "大坞", "竹林", "梅岭", "枫树", "青山", "塘头",
];

/// The homophone group of a character, if any.
pub fn homophones_of(c: &str) -> Option<&'static [&'static str]> {
    HOMOPHONES.iter().copied().find(|g| g.contains(&c))
}
