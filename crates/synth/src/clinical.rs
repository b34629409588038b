//! Clinical history of one registration: encounters, conditions, lab tests, imaging,
//! prescriptions, immunisations and documents, depending on age, sex, chronic disease
//! and the kind of institution.

use crate::date::Date;
use crate::institution::{InstitutionKind, Reference, Role};
use crate::person::{Person, Registration};
use crate::rng::Rng;
use crate::systems;
use base64::Engine;
use serde_json::{json, Value};

/// Chronic diseases of a person, decided once for all registrations.
#[derive(Debug, Clone, Copy, Default)]
pub struct Chronic {
    /// Hypertension (I10) since this day number.
    pub hypertension: Option<i64>,
    /// Type 2 diabetes (E11.9) since this day number.
    pub diabetes: Option<i64>,
}

/// Draws chronic diseases with prevalence by age (China Hypertension Survey and
/// national diabetes surveys, adults: hypertension ~27%, diabetes ~11%).
pub(crate) fn chronic(rng: &mut Rng, person: &Person, as_of: Date) -> Chronic {
    let age = person.age_on(as_of);
    let (p_ht, p_dm) = match age {
        a if a < 18 => (0.0, 0.0),
        a if a < 35 => (0.05, 0.03),
        a if a < 45 => (0.13, 0.06),
        a if a < 60 => (0.30, 0.13),
        a if a < 75 => (0.50, 0.20),
        _ => (0.60, 0.22),
    };
    let onset = |rng: &mut Rng| {
        let years = rng.range(1, ((age - 25).max(2) as i64).min(20));
        Some(as_of.to_days() - years * 365 - rng.below(365) as i64)
    };
    let hypertension = if rng.chance(p_ht) { onset(rng) } else { None };
    let diabetes = if rng.chance(p_dm) { onset(rng) } else { None };
    Chronic {
        hypertension,
        diabetes,
    }
}

/// Builder of one registration's resources.
pub(crate) struct History<'a> {
    pub rng: &'a mut Rng,
    pub reference: &'a Reference,
    pub person: &'a Person,
    pub reg: &'a Registration,
    pub chronic: Chronic,
    pub as_of: Date,
    /// Next resource number of this person (shared by all registrations).
    pub counter: &'a mut u64,
    pub out: &'a mut Vec<Value>,
}

const ACUTE: &[(&str, &str)] = &[
    ("J06.9", "急性上呼吸道感染"),
    ("J20.9", "急性支气管炎"),
    ("K29.7", "胃炎"),
    ("M54.5", "腰痛"),
    ("N39.0", "泌尿道感染"),
    ("R51", "头痛"),
    ("K52.9", "非感染性胃肠炎和结肠炎"),
    ("L30.9", "皮炎"),
    ("H10.9", "结膜炎"),
    ("J02.9", "急性咽炎"),
];

const INPATIENT: &[(&str, &str)] = &[
    ("J18.9", "肺炎"),
    ("I63.9", "脑梗死"),
    ("I20.0", "不稳定型心绞痛"),
    ("K35.8", "急性阑尾炎"),
    ("S72.0", "股骨颈骨折"),
    ("K80.2", "胆囊结石不伴有胆囊炎"),
];

impl History<'_> {
    fn next_id(&mut self, prefix: &str) -> String {
        *self.counter += 1;
        format!("{prefix}-{}-{}", self.person.index + 1, self.counter)
    }

    fn patient_ref(&self) -> Value {
        json!({"reference": format!("Patient/{}", self.reg.patient_id), "display": self.reg.name})
    }

    fn org(&self) -> &crate::institution::Institution {
        &self.reference.institutions[self.reg.institution]
    }

    fn staff(&mut self, role: Role) -> Option<usize> {
        let staff: Vec<usize> = self
            .org()
            .staff
            .iter()
            .copied()
            .filter(|&p| self.reference.practitioners[p].role == role)
            .collect();
        if staff.is_empty() {
            None
        } else {
            Some(*self.rng.pick(&staff))
        }
    }

    /// Generates the whole history of the registration.
    pub(crate) fn generate(&mut self) {
        let kind = self.org().kind;
        let age = self.person.age_on(self.as_of);
        let today = self.as_of.to_days();
        let since = today - 3 * 365;
        let chronic_patient =
            self.chronic.hypertension.is_some() || self.chronic.diabetes.is_some();
        let mut chronic_recorded = false;

        if self.reg.home && age < 7 {
            self.immunizations();
        }
        let visits = match kind {
            InstitutionKind::CommunityCentre | InstitutionKind::TownshipCentre => {
                1 + self.rng.below(2) + if chronic_patient { 4 } else { 0 }
            }
            InstitutionKind::VillageClinic => 1 + self.rng.below(2),
            InstitutionKind::MaternalChild | InstitutionKind::PrivateHospital => 1,
            _ => 1 + self.rng.below(3),
        };
        for v in 0..visits {
            let day = since + self.rng.below((today - since) as u64) as i64;
            let class = if kind.is_grassroots() && chronic_patient && v % 2 == 1 && age >= 65 {
                ("HH", "home health")
            } else if !kind.is_grassroots()
                && kind != InstitutionKind::VillageClinic
                && self.rng.chance(if age >= 60 { 0.12 } else { 0.04 })
            {
                ("IMP", "inpatient encounter")
            } else if !kind.is_grassroots() && self.rng.chance(0.06) {
                ("EMER", "emergency")
            } else {
                ("AMB", "ambulatory")
            };
            let Some(doctor) = self.staff(Role::Doctor) else {
                continue;
            };
            let days = if class.0 == "IMP" {
                2 + self.rng.below(10) as i64
            } else {
                0
            };
            let start = instant(day, 8 + self.rng.below(9) as u32, self.rng.below(60) as u32);
            let end_day = (day + days).min(today);
            let end = instant(end_day, if days == 0 { 17 } else { 10 }, 30);
            let enc_id = self.next_id("enc");
            let doc = &self.reference.practitioners[doctor];
            let org = self.org();
            self.out.push(json!({
                "resourceType": "Encounter",
                "id": enc_id,
                "status": "finished",
                "class": {"system": systems::ACT_CODE, "code": class.0, "display": class.1},
                "subject": self.patient_ref(),
                "participant": [{"individual": {"reference": format!("Practitioner/{}", doc.id), "display": doc.name}}],
                "period": {"start": start, "end": end},
                "location": [{"location": {"reference": format!("Location/{}", org.location_id)}}],
                "serviceProvider": {"reference": format!("Organization/{}", org.id), "display": org.name}
            }));
            let mut diagnoses: Vec<(&str, &str)> = Vec::new();
            if chronic_patient && !chronic_recorded && kind != InstitutionKind::VillageClinic {
                chronic_recorded = true;
                if let Some(onset) = self.chronic.hypertension {
                    self.condition(
                        &enc_id,
                        doctor,
                        ("I10", "特发性(原发性)高血压"),
                        onset,
                        day,
                        true,
                    );
                    diagnoses.push(("I10", ""));
                }
                if let Some(onset) = self.chronic.diabetes {
                    self.condition(
                        &enc_id,
                        doctor,
                        ("E11.9", "2型糖尿病不伴有并发症"),
                        onset,
                        day,
                        true,
                    );
                    diagnoses.push(("E11.9", ""));
                }
            }
            if class.0 == "IMP" {
                let dx = *self.rng.pick(INPATIENT);
                self.condition(&enc_id, doctor, dx, day, day, false);
            } else if class.0 != "HH" && (diagnoses.is_empty() || self.rng.chance(0.3)) {
                let dx = *self.rng.pick(ACUTE);
                self.condition(&enc_id, doctor, dx, day, day, false);
                if (dx.0.starts_with("J0") || dx.0 == "J20.9" || dx.0 == "N39.0")
                    && self.rng.chance(0.3)
                {
                    self.medication(
                        &enc_id,
                        doctor,
                        day,
                        (
                            "J01CA04",
                            "阿莫西林胶囊",
                            "口服，每次0.5g，每日3次，连服5天",
                        ),
                    );
                }
            }
            if age >= 18 {
                self.blood_pressure(&enc_id, doctor, day);
            }
            if self.chronic.hypertension.is_some() && kind != InstitutionKind::VillageClinic {
                self.medication(
                    &enc_id,
                    doctor,
                    day,
                    ("C08CA01", "苯磺酸氨氯地平片", "口服，每次5mg，每日1次"),
                );
            }
            if self.chronic.diabetes.is_some() && kind != InstitutionKind::VillageClinic {
                self.medication(
                    &enc_id,
                    doctor,
                    day,
                    ("A10BA02", "盐酸二甲双胍片", "口服，每次0.5g，每日2次，随餐"),
                );
            }
            if kind != InstitutionKind::VillageClinic
                && age >= 1
                && (class.0 == "IMP" || self.rng.chance(0.45))
            {
                self.labs(&enc_id, day);
            }
            if matches!(
                kind,
                InstitutionKind::Tertiary
                    | InstitutionKind::Secondary
                    | InstitutionKind::PrivateHospital
            ) && (class.0 == "IMP" || self.rng.chance(0.12))
            {
                self.imaging(&enc_id, day);
            }
            if !matches!(kind, InstitutionKind::VillageClinic) && class.0 != "HH" {
                self.document(&enc_id, doctor, class.0 == "IMP", end_day);
            }
        }
    }

    fn condition(
        &mut self,
        enc: &str,
        doctor: usize,
        code: (&str, &str),
        onset: i64,
        recorded: i64,
        chronic: bool,
    ) {
        let id = self.next_id("cond");
        let doc = &self.reference.practitioners[doctor];
        let (category, status) = if chronic {
            ("problem-list-item", "active")
        } else if recorded >= self.as_of.to_days() - 14 {
            ("encounter-diagnosis", "active")
        } else {
            ("encounter-diagnosis", "resolved")
        };
        self.out.push(json!({
            "resourceType": "Condition",
            "id": id,
            "clinicalStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": status}]},
            "verificationStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-ver-status", "code": "confirmed"}]},
            "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-category", "code": category}]}],
            "code": {"coding": [{"system": systems::ICD10, "code": code.0, "display": code.1}], "text": code.1},
            "subject": self.patient_ref(),
            "encounter": {"reference": format!("Encounter/{enc}")},
            "onsetDateTime": Date::from_days(onset.min(recorded)).iso(),
            "recordedDate": Date::from_days(recorded).iso(),
            "recorder": {"reference": format!("Practitioner/{}", doc.id), "display": doc.name}
        }));
    }

    fn blood_pressure(&mut self, enc: &str, doctor: usize, day: i64) {
        let id = self.next_id("obs");
        let age = f64::from(self.person.age_on(self.as_of));
        let ht = if self.chronic.hypertension.is_some() {
            18.0
        } else {
            0.0
        };
        let sys = (self.rng.normal(105.0 + age * 0.45 + ht, 10.0))
            .round()
            .clamp(85.0, 210.0);
        let dia = (self.rng.normal(68.0 + age * 0.15 + ht / 2.0, 7.0))
            .round()
            .clamp(50.0, 125.0);
        let doc = &self.reference.practitioners[doctor];
        self.out.push(json!({
            "resourceType": "Observation",
            "id": id,
            "status": "final",
            "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "vital-signs"}]}],
            "code": {"coding": [{"system": systems::LOINC, "code": "85354-9", "display": "Blood pressure panel with all children optional"}], "text": "血压"},
            "subject": self.patient_ref(),
            "encounter": {"reference": format!("Encounter/{enc}")},
            "effectiveDateTime": instant(day, 9, 0),
            "performer": [{"reference": format!("Practitioner/{}", doc.id)}],
            "component": [
                {"code": {"coding": [{"system": systems::LOINC, "code": "8480-6", "display": "Systolic blood pressure"}]},
                 "valueQuantity": {"value": sys as i64, "unit": "mmHg", "system": systems::UCUM, "code": "mm[Hg]"}},
                {"code": {"coding": [{"system": systems::LOINC, "code": "8462-4", "display": "Diastolic blood pressure"}]},
                 "valueQuantity": {"value": dia as i64, "unit": "mmHg", "system": systems::UCUM, "code": "mm[Hg]"}}
            ]
        }));
    }

    fn labs(&mut self, enc: &str, day: i64) {
        // Grassroots institutions send a share of their samples to an independent lab.
        let labs = self.reference.of_kind(InstitutionKind::Laboratory);
        let performer =
            if self.org().kind.is_grassroots() && !labs.is_empty() && self.rng.chance(0.4) {
                *self.rng.pick(&labs)
            } else {
                self.reg.institution
            };
        let male = self.person.male;
        let dm = self.chronic.diabetes.is_some();
        let panels: &[Panel] = if dm {
            &[CBC, METABOLIC, HBA1C]
        } else if self.rng.chance(0.5) {
            &[CBC]
        } else {
            &[CBC, METABOLIC]
        };
        for panel in panels {
            let mut results = Vec::new();
            for test in panel.tests {
                let (lo, hi) = if male { test.male } else { test.female };
                let shift = if dm && matches!(test.loinc, "14771-0" | "4548-4") {
                    (hi - lo) * 0.9
                } else {
                    0.0
                };
                let mean = (lo + hi) / 2.0 + shift;
                let v = self.rng.normal(mean, (hi - lo) / 3.5).max(lo * 0.3);
                let value = (v * test.scale).round() / test.scale;
                let id = self.next_id("obs");
                let interpretation = if value < lo {
                    "L"
                } else if value > hi {
                    "H"
                } else {
                    "N"
                };
                self.out.push(json!({
                    "resourceType": "Observation",
                    "id": id,
                    "status": "final",
                    "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "laboratory"}]}],
                    "code": {"coding": [{"system": systems::LOINC, "code": test.loinc, "display": test.display}], "text": test.zh},
                    "subject": self.patient_ref(),
                    "encounter": {"reference": format!("Encounter/{enc}")},
                    "effectiveDateTime": instant(day, 10, 0),
                    "issued": instant(day, 15, 0),
                    "performer": [{"reference": format!("Organization/{}", self.reference.institutions[performer].id)}],
                    "valueQuantity": {"value": value, "unit": test.unit, "system": systems::UCUM, "code": test.ucum},
                    "interpretation": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation", "code": interpretation}]}],
                    "referenceRange": [{"low": {"value": lo, "unit": test.unit, "system": systems::UCUM, "code": test.ucum}, "high": {"value": hi, "unit": test.unit, "system": systems::UCUM, "code": test.ucum}}]
                }));
                results.push(json!({"reference": format!("Observation/{id}")}));
            }
            let id = self.next_id("dr");
            self.out.push(json!({
                "resourceType": "DiagnosticReport",
                "id": id,
                "status": "final",
                "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0074", "code": "LAB"}]}],
                "code": {"coding": [{"system": systems::LOINC, "code": panel.loinc, "display": panel.display}], "text": panel.zh},
                "subject": self.patient_ref(),
                "encounter": {"reference": format!("Encounter/{enc}")},
                "effectiveDateTime": instant(day, 10, 0),
                "issued": instant(day, 15, 0),
                "performer": [{"reference": format!("Organization/{}", self.reference.institutions[performer].id)}],
                "result": results
            }));
        }
    }

    fn imaging(&mut self, enc: &str, day: i64) {
        let (modality, loinc, display, zh, conclusions) = *self.rng.pick(IMAGING);
        let study_id = self.next_id("img");
        let uid_a = self.rng.u64();
        let uid_b = self.rng.u64();
        let series = self.rng.range(1, 4);
        let org = self.org();
        let org_id = org.id.clone();
        self.out.push(json!({
            "resourceType": "ImagingStudy",
            "id": study_id,
            "identifier": [{"system": "urn:dicom:uid", "value": format!("urn:oid:2.25.{uid_a}{uid_b}")}],
            "status": "available",
            "modality": [{"system": systems::DICOM, "code": modality}],
            "subject": self.patient_ref(),
            "encounter": {"reference": format!("Encounter/{enc}")},
            "started": instant(day, 11, 0),
            "numberOfSeries": series,
            "numberOfInstances": series * 40,
            "description": zh,
            "series": (1..=series).map(|s| json!({
                "uid": format!("2.25.{uid_a}.{s}"),
                "number": s,
                "modality": {"system": systems::DICOM, "code": modality},
                "numberOfInstances": 40
            })).collect::<Vec<_>>()
        }));
        let conclusion = *self.rng.pick(conclusions);
        let id = self.next_id("dr");
        self.out.push(json!({
            "resourceType": "DiagnosticReport",
            "id": id,
            "status": "final",
            "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0074", "code": "RAD"}]}],
            "code": {"coding": [{"system": systems::LOINC, "code": loinc, "display": display}], "text": zh},
            "subject": self.patient_ref(),
            "encounter": {"reference": format!("Encounter/{enc}")},
            "effectiveDateTime": instant(day, 11, 0),
            "issued": instant(day, 16, 0),
            "performer": [{"reference": format!("Organization/{org_id}")}],
            "imagingStudy": [{"reference": format!("ImagingStudy/{study_id}")}],
            "conclusion": conclusion
        }));
    }

    fn medication(&mut self, enc: &str, doctor: usize, day: i64, drug: (&str, &str, &str)) {
        let id = self.next_id("med");
        let doc = &self.reference.practitioners[doctor];
        self.out.push(json!({
            "resourceType": "MedicationRequest",
            "id": id,
            "status": if day >= self.as_of.to_days() - 30 { "active" } else { "completed" },
            "intent": "order",
            "medicationCodeableConcept": {"coding": [{"system": systems::ATC, "code": drug.0}], "text": drug.1},
            "subject": self.patient_ref(),
            "encounter": {"reference": format!("Encounter/{enc}")},
            "authoredOn": instant(day, 11, 30),
            "requester": {"reference": format!("Practitioner/{}", doc.id), "display": doc.name},
            "dosageInstruction": [{"text": drug.2}]
        }));
    }

    fn document(&mut self, enc: &str, doctor: usize, inpatient: bool, day: i64) {
        let id = self.next_id("doc");
        let doc = &self.reference.practitioners[doctor];
        let (loinc, loinc_display, ws, ws_display) = if inpatient {
            ("18842-5", "Discharge summary", "C0048", "出院小结")
        } else {
            ("11506-3", "Progress note", "C0002", "门(急)诊病历")
        };
        let text = format!(
            "{ws_display}\n患者：{}，{}，{}岁。\n就诊机构：{}\n医师：{}\n",
            self.reg.name,
            if self.person.male { "男" } else { "女" },
            self.person.age_on(self.as_of),
            self.org().name,
            doc.name
        );
        let data = base64::engine::general_purpose::STANDARD.encode(text.as_bytes());
        let org = self.org();
        self.out.push(json!({
            "resourceType": "DocumentReference",
            "id": id,
            "status": "current",
            "type": {"coding": [
                {"system": systems::LOINC, "code": loinc, "display": loinc_display},
                {"system": systems::SHARED_DOCUMENT, "code": ws, "display": ws_display}
            ]},
            "subject": self.patient_ref(),
            "date": instant(day, 17, 0),
            "author": [{"reference": format!("Practitioner/{}", doc.id), "display": doc.name}],
            "custodian": {"reference": format!("Organization/{}", org.id), "display": org.name},
            "content": [{"attachment": {"contentType": "text/plain; charset=utf-8", "language": "zh-CN", "data": data, "title": ws_display}}],
            "context": {"encounter": [{"reference": format!("Encounter/{enc}")}]}
        }));
    }

    /// National immunisation programme doses due by now.
    fn immunizations(&mut self) {
        let birth = self.person.birth.to_days();
        let today = self.as_of.to_days();
        let nurse = self.staff(Role::Nurse).or_else(|| self.staff(Role::Doctor));
        for (cvx, zh, months) in SCHEDULE {
            for &m in *months {
                let day = birth + i64::from(m) * 30 + self.rng.below(10) as i64;
                if day > today || self.rng.chance(0.03) {
                    continue;
                }
                let id = self.next_id("imm");
                let org = self.org();
                let mut imm = json!({
                    "resourceType": "Immunization",
                    "id": id,
                    "status": "completed",
                    "vaccineCode": {"coding": [{"system": systems::CVX, "code": cvx}], "text": zh},
                    "patient": self.patient_ref(),
                    "occurrenceDateTime": Date::from_days(day).iso(),
                    "primarySource": true,
                    "location": {"reference": format!("Location/{}", org.location_id)},
                    "lotNumber": format!("{}{:06}", Date::from_days(day).year, self.rng.below(1_000_000))
                });
                if let Some(n) = nurse {
                    imm["performer"] = json!([{"actor": {"reference": format!("Practitioner/{}", self.reference.practitioners[n].id)}}]);
                }
                self.out.push(imm);
            }
        }
    }
}

/// An instant at local time (UTC+8) on a day number.
fn instant(day: i64, hour: u32, minute: u32) -> String {
    format!(
        "{}T{hour:02}:{minute:02}:00+08:00",
        Date::from_days(day).iso()
    )
}

struct Test {
    loinc: &'static str,
    display: &'static str,
    zh: &'static str,
    unit: &'static str,
    ucum: &'static str,
    male: (f64, f64),
    female: (f64, f64),
    /// 10^decimals of reported values.
    scale: f64,
}

struct Panel {
    loinc: &'static str,
    display: &'static str,
    zh: &'static str,
    tests: &'static [Test],
}

const CBC: Panel = Panel {
    loinc: "58410-2",
    display: "CBC panel - Blood by Automated count",
    zh: "血常规",
    tests: &[
        Test {
            loinc: "6690-2",
            display: "Leukocytes [#/volume] in Blood by Automated count",
            zh: "白细胞计数",
            unit: "10^9/L",
            ucum: "10*9/L",
            male: (3.5, 9.5),
            female: (3.5, 9.5),
            scale: 100.0,
        },
        Test {
            loinc: "718-7",
            display: "Hemoglobin [Mass/volume] in Blood",
            zh: "血红蛋白",
            unit: "g/L",
            ucum: "g/L",
            male: (130.0, 175.0),
            female: (115.0, 150.0),
            scale: 1.0,
        },
        Test {
            loinc: "777-3",
            display: "Platelets [#/volume] in Blood by Automated count",
            zh: "血小板计数",
            unit: "10^9/L",
            ucum: "10*9/L",
            male: (125.0, 350.0),
            female: (125.0, 350.0),
            scale: 1.0,
        },
    ],
};

const METABOLIC: Panel = Panel {
    loinc: "24323-8",
    display: "Comprehensive metabolic 2000 panel - Serum or Plasma",
    zh: "生化检查",
    tests: &[
        Test {
            loinc: "14771-0",
            display: "Fasting glucose [Moles/volume] in Serum or Plasma",
            zh: "空腹血糖",
            unit: "mmol/L",
            ucum: "mmol/L",
            male: (3.9, 6.1),
            female: (3.9, 6.1),
            scale: 100.0,
        },
        Test {
            loinc: "14682-9",
            display: "Creatinine [Moles/volume] in Serum or Plasma",
            zh: "肌酐",
            unit: "μmol/L",
            ucum: "umol/L",
            male: (57.0, 111.0),
            female: (41.0, 81.0),
            scale: 1.0,
        },
        Test {
            loinc: "1742-6",
            display: "Alanine aminotransferase [Enzymatic activity/volume] in Serum or Plasma",
            zh: "丙氨酸氨基转移酶",
            unit: "U/L",
            ucum: "U/L",
            male: (9.0, 50.0),
            female: (7.0, 40.0),
            scale: 1.0,
        },
        Test {
            loinc: "14647-2",
            display: "Cholesterol [Moles/volume] in Serum or Plasma",
            zh: "总胆固醇",
            unit: "mmol/L",
            ucum: "mmol/L",
            male: (2.8, 5.2),
            female: (2.8, 5.2),
            scale: 100.0,
        },
    ],
};

const HBA1C: Panel = Panel {
    loinc: "4548-4",
    display: "Hemoglobin A1c/Hemoglobin.total in Blood",
    zh: "糖化血红蛋白",
    tests: &[Test {
        loinc: "4548-4",
        display: "Hemoglobin A1c/Hemoglobin.total in Blood",
        zh: "糖化血红蛋白",
        unit: "%",
        ucum: "%",
        male: (4.0, 6.0),
        female: (4.0, 6.0),
        scale: 10.0,
    }],
};

type Imaging = (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static [&'static str],
);
const IMAGING: &[Imaging] = &[
    (
        "DX",
        "36643-5",
        "XR Chest 2 Views",
        "胸部X线正侧位",
        &[
            "两肺纹理清晰，心影不大，膈面光整。",
            "右下肺纹理增粗，考虑炎症，建议复查。",
        ],
    ),
    (
        "CT",
        "24627-2",
        "CT Chest",
        "胸部CT平扫",
        &[
            "两肺未见明显实质性病变。",
            "左肺上叶小结节，直径约4mm，建议年度随访。",
        ],
    ),
    (
        "US",
        "24558-9",
        "US Abdomen",
        "腹部超声",
        &["肝胆胰脾未见明显异常。", "脂肪肝（轻度）；胆囊结石。"],
    ),
    (
        "CT",
        "24725-4",
        "CT Head",
        "头颅CT平扫",
        &["颅内未见明显异常密度影。", "右侧基底节区腔隙性脑梗死。"],
    ),
];

/// (CVX code, Chinese name, age in months of each dose) of the national programme.
const SCHEDULE: &[(&str, &str, &[u32])] = &[
    ("08", "乙肝疫苗", &[0, 1, 6]),
    ("19", "卡介苗", &[0]),
    ("10", "脊灰灭活疫苗", &[2, 3]),
    ("178", "二价脊灰减毒活疫苗", &[4, 48]),
    ("20", "百白破疫苗", &[3, 4, 5, 18]),
    ("03", "麻腮风疫苗", &[8, 18]),
    ("83", "甲肝灭活疫苗", &[18, 24]),
];
