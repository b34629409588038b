//! Reference data of a region: institutions (Organization + Location), practitioners
//! with their roles, and family-doctor teams (CareTeam). Small and global: generated
//! once per region from the reference stream.

use crate::config::Config;
use crate::idnumber::{make_id_number, make_uscc};
use crate::rng::{Rng, Stream};
use crate::systems;
use crate::tables::{self, Division};
use serde_json::{json, Value};

/// Kinds of institutions, each with its WS 218 class.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InstitutionKind {
    /// Tertiary general hospital (三级综合医院).
    Tertiary,
    /// Secondary (county) general hospital (二级综合医院).
    Secondary,
    /// Community health service centre (社区卫生服务中心).
    CommunityCentre,
    /// Township health centre (乡镇卫生院).
    TownshipCentre,
    /// Village clinic (村卫生室).
    VillageClinic,
    /// Private hospital (民营医院).
    PrivateHospital,
    /// Independent medical laboratory (第三方医学检验实验室).
    Laboratory,
    /// Centre for disease control and prevention (疾病预防控制中心).
    Cdc,
    /// Maternal and child health hospital (妇幼保健院).
    MaternalChild,
}

impl InstitutionKind {
    fn ws218(self) -> (&'static str, &'static str) {
        match self {
            Self::Tertiary | Self::Secondary | Self::PrivateHospital => ("A100", "综合医院"),
            Self::CommunityCentre => ("B100", "社区卫生服务中心"),
            Self::TownshipCentre => ("C220", "乡卫生院"),
            Self::VillageClinic => ("D600", "村卫生室"),
            Self::Laboratory => ("P120", "临床检验所(站)"),
            Self::Cdc => ("J100", "疾病预防控制中心"),
            Self::MaternalChild => ("G100", "妇幼保健院"),
        }
    }

    fn level(self) -> Option<(&'static str, &'static str)> {
        match self {
            Self::Tertiary => Some(("2", "三级甲等")),
            Self::Secondary | Self::MaternalChild => Some(("5", "二级甲等")),
            Self::PrivateHospital => Some(("12", "二级未评")),
            Self::CommunityCentre | Self::TownshipCentre => Some(("8", "一级甲等")),
            Self::VillageClinic | Self::Laboratory | Self::Cdc => None,
        }
    }

    /// True for grassroots institutions that keep residents' health records and host
    /// family-doctor teams.
    pub fn is_grassroots(self) -> bool {
        matches!(self, Self::CommunityCentre | Self::TownshipCentre)
    }

    /// True for institutions where residents register and are treated.
    pub fn treats_patients(self) -> bool {
        !matches!(self, Self::Laboratory | Self::Cdc)
    }
}

/// One institution.
#[derive(Debug, Clone)]
pub struct Institution {
    /// Organization id (the Location id is `loc-` + the same suffix).
    pub id: String,
    /// Location id.
    pub location_id: String,
    /// Kind.
    pub kind: InstitutionKind,
    /// Name.
    pub name: String,
    /// County code (GB/T 2260) where it lies.
    pub county: String,
    /// Township code when it serves one township.
    pub township: Option<String>,
    /// Unified social credit code.
    pub uscc: String,
    /// Indexes into [`Reference::practitioners`] of its staff.
    pub staff: Vec<usize>,
    /// Indexes into [`Reference::teams`] of its family-doctor teams.
    pub teams: Vec<usize>,
}

/// Professional role of a practitioner.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Physician.
    Doctor,
    /// Nurse.
    Nurse,
    /// Laboratory or imaging technician.
    Technician,
}

/// One practitioner.
#[derive(Debug, Clone)]
pub struct Practitioner {
    /// Practitioner id.
    pub id: String,
    /// PractitionerRole id.
    pub role_id: String,
    /// Full name.
    pub name: String,
    /// Male?
    pub male: bool,
    /// Role.
    pub role: Role,
    /// Index of the institution.
    pub institution: usize,
}

/// One family-doctor team (家庭医生团队).
#[derive(Debug, Clone)]
pub struct Team {
    /// CareTeam id.
    pub id: String,
    /// Index of the institution.
    pub institution: usize,
    /// Practitioners (first = the responsible family doctor).
    pub members: Vec<usize>,
}

/// The reference data of a region.
#[derive(Debug, Clone)]
pub struct Reference {
    /// City division.
    pub city: &'static Division,
    /// Townships where residents live (each has a grassroots institution).
    pub townships: Vec<&'static Division>,
    /// Institutions.
    pub institutions: Vec<Institution>,
    /// Practitioners.
    pub practitioners: Vec<Practitioner>,
    /// Family-doctor teams.
    pub teams: Vec<Team>,
}

/// Unknown city code in the configuration.
#[derive(Debug, thiserror::Error)]
#[error("city {0} is not a city of the embedded province (GB/T 2260)")]
pub struct UnknownCity(pub String);

impl Reference {
    /// Builds the institutions and staff of a region sized for `config.residents`.
    pub fn build(config: &Config) -> Result<Reference, UnknownCity> {
        let city = tables::divisions()
            .iter()
            .find(|d| d.level == "city" && d.code == config.city)
            .ok_or_else(|| UnknownCity(config.city.clone()))?;
        let mut rng = Rng::new(config.seed, Stream::Reference, 0);
        let counties: Vec<&Division> = tables::divisions()
            .iter()
            .filter(|d| d.level == "county" && d.parent == city.code)
            .collect();
        // Townships interleaved county by county, so a small region still spans several
        // counties; one grassroots institution per ~4,000 residents.
        let per_county: Vec<Vec<&'static Division>> = counties
            .iter()
            .map(|c| {
                tables::divisions()
                    .iter()
                    .filter(|d| d.level == "township" && d.parent == c.code)
                    .collect()
            })
            .collect();
        let mut all = Vec::new();
        let deepest = per_county.iter().map(Vec::len).max().unwrap_or(0);
        for i in 0..deepest {
            for list in &per_county {
                if let Some(t) = list.get(i) {
                    all.push(*t);
                }
            }
        }
        let wanted = (config.residents.div_ceil(4000) as usize).clamp(3, all.len().max(1));
        let townships: Vec<&'static Division> = all.into_iter().take(wanted).collect();
        let mut used_counties: Vec<&str> = townships.iter().map(|t| t.parent).collect();
        used_counties.sort_unstable();
        used_counties.dedup();

        let mut r = Reference {
            city,
            townships,
            institutions: Vec::new(),
            practitioners: Vec::new(),
            teams: Vec::new(),
        };
        let city_name = city.name;
        let first_county = used_counties.first().copied().unwrap_or(city.code);
        let tertiary = 2 + (config.residents / 200_000) as usize;
        for n in 1..=tertiary.min(9) {
            r.add(
                &mut rng,
                InstitutionKind::Tertiary,
                format!("{city_name}第{}人民医院", zh_number(n)),
                first_county,
                None,
            );
        }
        r.add(
            &mut rng,
            InstitutionKind::MaternalChild,
            format!("{city_name}妇幼保健院"),
            first_county,
            None,
        );
        r.add(
            &mut rng,
            InstitutionKind::Cdc,
            format!("{city_name}疾病预防控制中心"),
            first_county,
            None,
        );
        let labs = 1 + (config.residents / 100_000) as usize;
        for brand in LAB_BRANDS.iter().take(labs) {
            r.add(
                &mut rng,
                InstitutionKind::Laboratory,
                format!("{city_name}{}医学检验实验室", brand),
                first_county,
                None,
            );
        }
        for county in &used_counties {
            let name = tables::division(county).map(|d| d.name).unwrap_or("");
            r.add(
                &mut rng,
                InstitutionKind::Secondary,
                format!("{name}人民医院"),
                county,
                None,
            );
            let brand = rng.pick(PRIVATE_BRANDS);
            r.add(
                &mut rng,
                InstitutionKind::PrivateHospital,
                format!("{name}{brand}医院"),
                county,
                None,
            );
        }
        for t in r.townships.clone() {
            if t.name.ends_with("街道") {
                let base = t.name.trim_end_matches("街道");
                r.add(
                    &mut rng,
                    InstitutionKind::CommunityCentre,
                    format!("{base}街道社区卫生服务中心"),
                    t.parent,
                    Some(t.code),
                );
            } else {
                r.add(
                    &mut rng,
                    InstitutionKind::TownshipCentre,
                    format!("{}卫生院", t.name),
                    t.parent,
                    Some(t.code),
                );
                for _ in 0..2 {
                    let v = rng.pick(tables::VILLAGES);
                    r.add(
                        &mut rng,
                        InstitutionKind::VillageClinic,
                        format!("{}{v}村卫生室", t.name),
                        t.parent,
                        Some(t.code),
                    );
                }
            }
        }
        Ok(r)
    }

    fn add(
        &mut self,
        rng: &mut Rng,
        kind: InstitutionKind,
        name: String,
        county: &str,
        township: Option<&str>,
    ) {
        let idx = self.institutions.len();
        let body = format!("{:08}", 40_000_000 + rng.below(9_999_999));
        let authority = match kind {
            InstitutionKind::PrivateHospital | InstitutionKind::Laboratory => "91",
            InstitutionKind::VillageClinic => "52",
            _ => "12",
        };
        let mut inst = Institution {
            id: format!("org-{:04}", idx + 1),
            location_id: format!("loc-{:04}", idx + 1),
            kind,
            name,
            county: county.to_owned(),
            township: township.map(str::to_owned),
            uscc: make_uscc(authority, county, &body),
            staff: Vec::new(),
            teams: Vec::new(),
        };
        let (doctors, nurses, techs) = match kind {
            InstitutionKind::Tertiary => (12, 6, 3),
            InstitutionKind::Secondary | InstitutionKind::MaternalChild => (8, 4, 2),
            InstitutionKind::PrivateHospital => (4, 2, 1),
            InstitutionKind::CommunityCentre | InstitutionKind::TownshipCentre => (6, 4, 1),
            InstitutionKind::VillageClinic => (1, 0, 0),
            InstitutionKind::Laboratory => (1, 0, 4),
            InstitutionKind::Cdc => (3, 1, 2),
        };
        for (count, role) in [
            (doctors, Role::Doctor),
            (nurses, Role::Nurse),
            (techs, Role::Technician),
        ] {
            for _ in 0..count {
                let n = self.practitioners.len() + 1;
                let male = rng.chance(if role == Role::Nurse { 0.05 } else { 0.55 });
                self.practitioners.push(Practitioner {
                    id: format!("prac-{n:05}"),
                    role_id: format!("role-{n:05}"),
                    name: crate::person::random_name(rng, male, true),
                    male,
                    role,
                    institution: idx,
                });
                inst.staff.push(self.practitioners.len() - 1);
            }
        }
        if kind.is_grassroots() {
            // Teams of one doctor, one nurse, one more doctor when there is one.
            let doctors: Vec<usize> = inst
                .staff
                .iter()
                .copied()
                .filter(|&p| self.practitioners[p].role == Role::Doctor)
                .collect();
            let nurses: Vec<usize> = inst
                .staff
                .iter()
                .copied()
                .filter(|&p| self.practitioners[p].role == Role::Nurse)
                .collect();
            for (k, d) in doctors.iter().enumerate().take(3) {
                let mut members = vec![*d];
                if let Some(n) = nurses.get(k) {
                    members.push(*n);
                }
                if let Some(extra) = doctors.get(k + 3) {
                    members.push(*extra);
                }
                self.teams.push(Team {
                    id: format!("team-{:05}", self.teams.len() + 1),
                    institution: idx,
                    members,
                });
                inst.teams.push(self.teams.len() - 1);
            }
        }
        self.institutions.push(inst);
    }

    /// Indexes of the institutions of a kind.
    pub fn of_kind(&self, kind: InstitutionKind) -> Vec<usize> {
        (0..self.institutions.len())
            .filter(|&i| self.institutions[i].kind == kind)
            .collect()
    }

    /// The FHIR resources of the reference data, in dependency order
    /// (Organization, Location, Practitioner, PractitionerRole, CareTeam).
    pub fn resources(&self) -> Vec<Value> {
        let mut out = Vec::new();
        for inst in &self.institutions {
            out.push(self.organization(inst));
        }
        for inst in &self.institutions {
            out.push(self.location(inst));
        }
        for p in &self.practitioners {
            out.push(self.practitioner(p));
        }
        for p in &self.practitioners {
            out.push(self.practitioner_role(p));
        }
        for t in &self.teams {
            out.push(self.care_team(t));
        }
        out
    }

    fn address_of(&self, inst: &Institution) -> Value {
        let county = tables::division(&inst.county).map(|d| d.name).unwrap_or("");
        let town = inst
            .township
            .as_deref()
            .and_then(tables::division)
            .map(|d| d.name)
            .unwrap_or("");
        json!({
            "use": "work",
            "text": format!("{}{}{}{}", "浙江省", self.city.name, county, town),
            "city": self.city.name,
            "district": county,
            "state": "浙江省",
            "country": "CN"
        })
    }

    fn organization(&self, inst: &Institution) -> Value {
        let (code, display) = inst.kind.ws218();
        let mut types = vec![
            json!({"coding": [{"system": systems::INSTITUTION_TYPE, "code": code, "display": display}]}),
        ];
        if let Some((lc, ld)) = inst.kind.level() {
            types.push(
                json!({"coding": [{"system": systems::HOSPITAL_LEVEL, "code": lc, "display": ld}]}),
            );
        }
        json!({
            "resourceType": "Organization",
            "id": inst.id,
            "identifier": [{
                "type": {"coding": [{"system": systems::IDENTIFIER_TYPE, "code": "USCC", "display": "统一社会信用代码"}]},
                "system": systems::USCC,
                "value": inst.uscc
            }],
            "active": true,
            "type": types,
            "name": inst.name,
            "address": [self.address_of(inst)]
        })
    }

    fn location(&self, inst: &Institution) -> Value {
        json!({
            "resourceType": "Location",
            "id": inst.location_id,
            "status": "active",
            "name": inst.name,
            "mode": "instance",
            "address": self.address_of(inst),
            "managingOrganization": {"reference": format!("Organization/{}", inst.id), "display": inst.name}
        })
    }

    fn practitioner(&self, p: &Practitioner) -> Value {
        let inst = &self.institutions[p.institution];
        // A practitioner id that looks like an ID number of the institution's county.
        let seq = p.id.trim_start_matches("prac-").parse::<u32>().unwrap_or(0);
        let licence = make_id_number(&inst.county, "19800101", seq % 1000);
        json!({
            "resourceType": "Practitioner",
            "id": p.id,
            "identifier": [{"system": systems::PRACTITIONER_ID, "value": format!("{}{:05}", &licence[..6], seq)}],
            "active": true,
            "name": [{"use": "official", "text": p.name, "family": crate::person::family_of(&p.name), "given": [crate::person::given_of(&p.name)]}],
            "gender": if p.male { "male" } else { "female" }
        })
    }

    fn practitioner_role(&self, p: &Practitioner) -> Value {
        let inst = &self.institutions[p.institution];
        let (code, display) = match p.role {
            Role::Doctor => ("doctor", "Doctor"),
            Role::Nurse => ("nurse", "Nurse"),
            Role::Technician => ("ict", "ICT professional"),
        };
        json!({
            "resourceType": "PractitionerRole",
            "id": p.role_id,
            "active": true,
            "practitioner": {"reference": format!("Practitioner/{}", p.id), "display": p.name},
            "organization": {"reference": format!("Organization/{}", inst.id), "display": inst.name},
            "code": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/practitioner-role", "code": code, "display": display}]}],
            "location": [{"reference": format!("Location/{}", inst.location_id)}]
        })
    }

    fn care_team(&self, t: &Team) -> Value {
        let inst = &self.institutions[t.institution];
        let lead = &self.practitioners[t.members[0]];
        let participants: Vec<Value> = t
            .members
            .iter()
            .enumerate()
            .map(|(k, &m)| {
                let p = &self.practitioners[m];
                let (code, display) = if k == 0 { ("family-doctor", "家庭医生") } else if p.role == Role::Nurse { ("nurse", "护士") } else { ("doctor", "医生") };
                json!({
                    "role": [{"coding": [{"system": "https://hutong.dev/fhir/CodeSystem/family-doctor-team-role", "code": code, "display": display}]}],
                    "member": {"reference": format!("Practitioner/{}", p.id), "display": p.name}
                })
            })
            .collect();
        json!({
            "resourceType": "CareTeam",
            "id": t.id,
            "status": "active",
            "category": [{"coding": [{"system": systems::LOINC, "code": "LA28865-6", "display": "Longitudinal care-coordination focused care team"}]}],
            "name": format!("{}家庭医生团队({}团队)", inst.name, lead.name),
            "participant": participants,
            "managingOrganization": [{"reference": format!("Organization/{}", inst.id), "display": inst.name}]
        })
    }
}

const LAB_BRANDS: &[&str] = &[
    "和瑞",
    "康安",
    "华检",
    "迪安",
    "金域",
    "艾迪康",
    "凯普",
    "兰卫",
    "达安",
];
const PRIVATE_BRANDS: &[&str] = &[
    "仁爱", "康华", "博爱", "同济", "华康", "仁和", "安康", "德济",
];

fn zh_number(n: usize) -> &'static str {
    ["零", "一", "二", "三", "四", "五", "六", "七", "八", "九"]
        .get(n)
        .copied()
        .unwrap_or("")
}
