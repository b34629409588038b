//! Seeded generator of Chinese registrations with known truth, for tests and benchmarks.
//!
//! Every record id is `P<person>-<k>`: records with the same `<person>` are the same
//! resident. The errors are those a regional platform sees: homophone characters
//! (张伟/张玮, 吴/武), typos, transposed birth-date digits, mistyped ID digits, 25 % of
//! registrations without an ID number, 2 % with the 15-digit legacy form, moved
//! addresses and changed phones; plus hard non-matches: homophone namesakes born the
//! same day, twins and family members sharing address and phone.

use crate::citizen_id::check_char;
use crate::divisions;
use crate::record::PersonRecord;

/// Surnames, most common first; includes homophone pairs (吴/武, 张/章, 李/黎, 王/汪 …).
const SURNAMES: &[&str] = &[
    "王", "李", "张", "刘", "陈", "杨", "黄", "赵", "吴", "周", "徐", "孙", "马", "朱", "胡", "郭",
    "何", "高", "林", "罗", "郑", "梁", "谢", "宋", "唐", "许", "韩", "冯", "邓", "曹", "彭", "曾",
    "肖", "田", "董", "袁", "潘", "于", "蒋", "蔡", "余", "杜", "叶", "程", "苏", "魏", "吕", "丁",
    "任", "沈", "姚", "卢", "姜", "崔", "钟", "谭", "陆", "汪", "范", "金", "石", "廖", "贾", "夏",
    "韦", "付", "方", "白", "邹", "孟", "熊", "秦", "邱", "江", "尹", "薛", "闫", "段", "雷", "侯",
    "龙", "史", "陶", "黎", "贺", "顾", "毛", "郝", "龚", "邵", "万", "钱", "严", "覃", "武", "戴",
    "莫", "孔", "向", "汤", "单", "解", "章", "欧阳", "司马", "诸葛",
];

/// Groups of given-name characters read alike; a homophone error swaps within a group.
const GIVEN_GROUPS: &[&[&str]] = &[
    &["伟", "玮", "炜", "薇"],
    &["静", "婧", "靖"],
    &["丽", "莉", "俐"],
    &["敏", "闵"],
    &["磊"],
    &["强", "蔷"],
    &["军", "君", "均"],
    &["杰", "洁", "婕"],
    &["娟", "鹃"],
    &["涛", "韬"],
    &["明", "鸣", "铭"],
    &["超"],
    &["秀"],
    &["霞", "侠"],
    &["平", "萍", "苹"],
    &["刚", "钢"],
    &["桂"],
    &["英", "瑛", "莺"],
    &["华", "桦", "骅"],
    &["玉", "钰", "宇", "雨", "羽"],
    &["兰", "岚"],
    &["燕", "艳", "雁"],
    &["红", "虹", "鸿"],
    &["芳", "方"],
    &["娜"],
    &["建", "健", "剑"],
    &["国"],
    &["海"],
    &["文", "雯"],
    &["辉", "晖"],
    &["鹏"],
    &["斌", "彬"],
    &["琳", "林", "霖"],
    &["飞", "菲"],
    &["勇", "永"],
    &["波"],
    &["丹"],
    &["宁"],
    &["浩", "皓", "昊"],
    &["晨", "辰"],
    &["博"],
    &["欣", "鑫", "馨"],
    &["子", "梓", "紫"],
    &["涵", "晗", "含"],
    &["轩", "萱", "宣"],
    &["怡", "仪", "依"],
    &["佳", "嘉", "家"],
    &["思"],
    &["梦"],
    &["婷", "亭"],
    &["雪"],
    &["慧", "惠"],
    &["颖", "莹"],
    &["倩"],
    &["晶"],
    &["琪", "琦", "淇", "祺"],
    &["春"],
    &["志", "智"],
    &["小"],
    &["德"],
    &["秋"],
    &["成", "诚"],
    &["东"],
    &["亮"],
    &["峰", "锋"],
    &["凯", "恺"],
    &["阳", "扬", "洋"],
    &["新"],
    &["丽"],
    &["金"],
    &["荣"],
    &["冬"],
];

/// Surname homophone pairs used for namesakes (吴玉/武玉).
const SURNAME_HOMOPHONES: &[(&str, &str)] = &[
    ("吴", "武"),
    ("张", "章"),
    ("李", "黎"),
    ("王", "汪"),
    ("于", "余"),
    ("付", "傅"),
];

const STREETS: &[&str] = &[
    "人民路",
    "解放路",
    "中山路",
    "建设路",
    "和平路",
    "新华路",
    "胜利路",
    "文化路",
    "朝阳路",
    "光明街",
    "幸福里",
    "长江路",
    "黄河路",
    "青年路",
    "学府路",
    "东风路",
    "北京路",
    "南京路",
    "滨江路",
    "工农路",
];

/// A deterministic random source (splitmix64).
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// Seeded generator.
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    /// Next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n.max(1) as u64) as usize
    }

    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64 <= p
    }

    /// Skewed pick: early items more often (the top surname about 7 %).
    fn skewed(&mut self, n: usize) -> usize {
        let x = (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
        ((x * x) * n as f64) as usize % n.max(1)
    }
}

#[derive(Debug, Clone)]
struct Person {
    surname: String,
    given: Vec<(usize, usize)>, // (group, member)
    male: bool,
    dob: (i32, u32, u32),
    id: String,
    phone: Option<String>,
    address: String,
}

fn county_codes() -> Vec<u32> {
    // County-level codes with a name in the 2019 table and a named parent.
    let mut v: Vec<u32> = (110_000u32..660_000)
        .filter(|c| {
            c % 100 != 0
                && divisions::name_of(*c).is_some()
                && divisions::name_of(c / 10_000 * 10_000).is_some()
        })
        .collect();
    v.truncate(3000);
    v
}

fn make_id(region: u32, dob: (i32, u32, u32), male: bool, rng: &mut Rng) -> String {
    let seq = rng.below(50) * 10 + rng.below(5) * 2 + usize::from(male);
    let first17 = format!("{region:06}{:04}{:02}{:02}{seq:03}", dob.0, dob.1, dob.2);
    let c = check_char(first17.as_bytes());
    format!("{first17}{c}")
}

fn address_of(region: u32, rng: &mut Rng) -> String {
    let prov = divisions::name_of(region / 10_000 * 10_000).unwrap_or("");
    let city = divisions::name_of(region / 100 * 100).unwrap_or("");
    let county = divisions::name_of(region).unwrap_or("");
    format!(
        "{prov}{city}{county}{}{}号{}单元",
        STREETS[rng.below(STREETS.len())],
        1 + rng.below(300),
        1 + rng.below(6)
    )
}

fn new_person(rng: &mut Rng, counties: &[u32]) -> Person {
    let male = rng.chance(0.5);
    let year = 1930 + rng.below(94) as i32;
    let month = 1 + rng.below(12) as u32;
    let day = 1 + rng.below(28) as u32;
    let region = counties[rng.below(counties.len())];
    let n_given = if rng.chance(0.75) { 2 } else { 1 };
    let given = (0..n_given)
        .map(|_| {
            let g = rng.below(GIVEN_GROUPS.len());
            (g, rng.below(GIVEN_GROUPS[g].len()))
        })
        .collect();
    let phone = rng.chance(0.8).then(|| {
        let p = [3, 5, 7, 8, 9][rng.below(5)];
        format!("1{p}{:09}", rng.next_u64() % 1_000_000_000)
    });
    let mut person = Person {
        surname: SURNAMES[rng.skewed(SURNAMES.len())].to_string(),
        given,
        male,
        dob: (year, month, day),
        id: String::new(),
        phone,
        address: address_of(region, rng),
    };
    person.id = make_id(region, person.dob, male, rng);
    person
}

fn given_text(given: &[(usize, usize)]) -> String {
    given.iter().map(|&(g, m)| GIVEN_GROUPS[g][m]).collect()
}

fn mistype(s: &str, rng: &mut Rng) -> String {
    let mut b: Vec<u8> = s.bytes().collect();
    if b.len() < 2 {
        return s.to_string();
    }
    if rng.chance(0.3) {
        let i = rng.below(b.len() - 2);
        b.swap(i, i + 1);
    } else {
        let i = rng.below(b.len() - 1);
        b[i] = b'0' + ((b[i].wrapping_sub(b'0') as usize + 1 + rng.below(9)) % 10) as u8;
    }
    String::from_utf8(b).unwrap_or_else(|_| s.to_string())
}

fn registration(p: &Person, id: String, dup: bool, rng: &mut Rng) -> PersonRecord {
    let mut surname = p.surname.clone();
    let mut given = p.given.clone();
    let mut dob = p.dob;
    let mut phone = p.phone.clone();
    let mut address = p.address.clone();
    if dup {
        if rng.chance(0.10) {
            let i = rng.below(given.len());
            let (g, _) = given[i];
            given[i] = (g, rng.below(GIVEN_GROUPS[g].len()));
        }
        if rng.chance(0.02) {
            if let Some((_, b)) = SURNAME_HOMOPHONES.iter().find(|(a, _)| *a == surname) {
                surname = b.to_string();
            }
        }
        if rng.chance(0.03) {
            let i = rng.below(given.len());
            let g = rng.below(GIVEN_GROUPS.len());
            given[i] = (g, 0);
        }
        if rng.chance(0.05) {
            dob = match rng.below(3) {
                0 if dob.2 <= 12 => (dob.0, dob.2, dob.1),
                1 => (dob.0 + if rng.chance(0.5) { 1 } else { -1 }, dob.1, dob.2),
                _ => (dob.0, dob.1, 1 + (dob.2 + rng.below(9) as u32) % 28),
            };
        }
        if rng.chance(0.2) {
            phone = None;
        } else if rng.chance(0.05) {
            phone = Some(format!("13{:09}", rng.next_u64() % 1_000_000_000));
        } else if rng.chance(0.03) {
            phone = phone.map(|ph| mistype(&ph, rng));
        }
        if rng.chance(0.2) {
            address = address_of(p.id[..6].parse().unwrap_or(110101), rng);
        }
    }
    let dob_text = match rng.below(10) {
        0 => format!("{:04}{:02}{:02}", dob.0, dob.1, dob.2),
        1 => format!("{:04}/{}/{}", dob.0, dob.1, dob.2),
        _ => format!("{:04}-{:02}-{:02}", dob.0, dob.1, dob.2),
    };
    let phone = phone.map(|ph| {
        if rng.chance(0.1) {
            format!("+86 {}-{}-{}", &ph[..3], &ph[3..7], &ph[7..])
        } else {
            ph
        }
    });
    PersonRecord {
        full_name: Some(format!("{surname}{}", given_text(&given))),
        sex: (!rng.chance(0.03)).then(|| if p.male { "男" } else { "女" }.to_string()),
        birth_date: (!rng.chance(0.01)).then_some(dob_text),
        citizen_id: (!id.is_empty()).then_some(id),
        phone,
        address: Some(address),
        ..Default::default()
    }
}

fn id_variant(p: &Person, rng: &mut Rng) -> String {
    let r = (rng.next_u64() % 1000) as f64 / 1000.0;
    if r < 0.25 {
        String::new()
    } else if r < 0.27 && p.dob.0 < 2000 {
        // 15-digit legacy form: drop the century and the check character.
        format!("{}{}", &p.id[..6], &p.id[8..17])
    } else if r < 0.32 {
        mistype(&p.id, rng)
    } else {
        p.id.clone()
    }
}

/// Generates about `n` registrations, reproducibly from `seed`.
pub fn generate(n: usize, seed: u64) -> Vec<PersonRecord> {
    let mut rng = Rng::new(seed);
    let counties = county_codes();
    let mut people: Vec<Person> = Vec::new();
    let mut out = Vec::with_capacity(n + 4);
    while out.len() < n {
        let k = people.len();
        let mut p = new_person(&mut rng, &counties);
        if k > 0 && rng.chance(0.04) {
            // Homophone namesake born the same day: a different resident.
            let other = people[rng.below(k)].clone();
            p.dob = other.dob;
            p.male = other.male;
            p.surname = SURNAME_HOMOPHONES
                .iter()
                .find(|(a, _)| *a == other.surname)
                .map(|(_, b)| b.to_string())
                .unwrap_or(other.surname.clone());
            p.given = other.given.clone();
            if p.surname == other.surname {
                let i = rng.below(p.given.len());
                let (g, m) = p.given[i];
                if GIVEN_GROUPS[g].len() > 1 {
                    p.given[i] = (g, (m + 1) % GIVEN_GROUPS[g].len());
                } else {
                    p.given[i] = (0, rng.below(GIVEN_GROUPS[0].len()));
                }
            }
            if p.surname == other.surname && given_text(&p.given) == given_text(&other.given) {
                // Still spelled the same: make the first character a homophone.
                p.given[0] = (0, (other.given[0].1 + 1) % GIVEN_GROUPS[0].len());
            }
            let region: u32 = p.id[..6].parse().unwrap_or(110101);
            p.id = make_id(region, p.dob, p.male, &mut rng);
        } else if k > 0 && rng.chance(0.05) {
            // Family member or twin: same surname, address and phone.
            let other = people[rng.below(k)].clone();
            p.surname = other.surname.clone();
            p.address = other.address.clone();
            p.phone = other.phone.clone();
            if rng.chance(0.2) {
                p.dob = other.dob;
            }
            if given_text(&p.given) == given_text(&other.given) {
                p.given.push((rng.below(GIVEN_GROUPS.len()), 0));
            }
            let region: u32 = other.id[..6].parse().unwrap_or(110101);
            p.id = make_id(region, p.dob, p.male, &mut rng);
        }
        let copies = match rng.below(20) {
            0..=9 => 1,
            10..=15 => 2,
            16..=18 => 3,
            _ => 4,
        };
        for c in 0..copies {
            let id = id_variant(&p, &mut rng);
            let mut r = registration(&p, id, c > 0, &mut rng);
            r.id = format!("P{k}-{c}");
            out.push(r);
        }
        people.push(p);
    }
    // Shuffle so that duplicates are not adjacent.
    for i in (1..out.len()).rev() {
        let j = rng.below(i + 1);
        out.swap(i, j);
    }
    out
}

/// Writes records in the Chinese layout `record_id,name,sex,dob,id_number,phone,address`.
pub fn write_csv<W: std::io::Write>(records: &[PersonRecord], w: W) -> Result<(), csv::Error> {
    let mut wr = csv::Writer::from_writer(w);
    wr.write_record([
        "record_id",
        "name",
        "sex",
        "dob",
        "id_number",
        "phone",
        "address",
    ])?;
    for r in records {
        let o = |v: &Option<String>| v.clone().unwrap_or_default();
        wr.write_record([
            r.id.clone(),
            o(&r.full_name),
            o(&r.sex),
            o(&r.birth_date),
            o(&r.citizen_id),
            o(&r.phone),
            o(&r.address),
        ])?;
    }
    wr.flush()?;
    Ok(())
}

/// The true person of a generated (`P12-3`) or FEBRL (`rec-12-dup-0`) record id.
pub fn true_entity(id: &str) -> Option<&str> {
    if let Some(rest) = id.strip_prefix("rec-") {
        return rest.split('-').next();
    }
    id.strip_prefix('P').and_then(|r| r.split('-').next())
}
