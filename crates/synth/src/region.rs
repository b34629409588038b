//! A region: its reference data and the stream of its residents.

use crate::clinical::{self, History};
use crate::config::Config;
use crate::institution::{InstitutionKind, Reference, UnknownCity};
use crate::person::{self, Person, Registration};
use crate::rng::{Rng, Stream};
use serde_json::Value;

/// One generated resident: the true person, the registrations, and every resource of
/// the person (Patients first, then clinical resources in dependency order).
#[derive(Debug, Clone)]
pub struct Resident {
    /// The true person.
    pub person: Person,
    /// One registration per institution the person is known at.
    pub registrations: Vec<Registration>,
    /// The resources (Patient per registration, then clinical resources).
    pub resources: Vec<Value>,
}

/// A synthetic region. Cheap to clone-free share: generation of resident `i` depends
/// only on the seed, the configuration and `i`.
#[derive(Debug, Clone)]
pub struct Region {
    config: Config,
    reference: Reference,
    /// Institutions where people register, by kind.
    tertiary: Vec<usize>,
    maternal: Vec<usize>,
}

impl Region {
    /// Builds the region's reference data.
    pub fn new(config: Config) -> Result<Region, UnknownCity> {
        let reference = Reference::build(&config)?;
        Ok(Region {
            tertiary: reference.of_kind(InstitutionKind::Tertiary),
            maternal: reference.of_kind(InstitutionKind::MaternalChild),
            reference,
            config,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Institutions, practitioners and teams.
    pub fn reference(&self) -> &Reference {
        &self.reference
    }

    /// The reference-data resources (Organization, Location, Practitioner,
    /// PractitionerRole, CareTeam).
    pub fn reference_resources(&self) -> Vec<Value> {
        self.reference.resources()
    }

    /// Generates resident `index` (0-based). Pure: the same index gives the same
    /// resident.
    pub fn resident(&self, index: u64) -> Resident {
        let mut rng = Rng::new(self.config.seed, Stream::Resident, index);
        let as_of = self.config.as_of;
        let person = person::new_person(&mut rng, index, &self.reference.townships, as_of);
        let city = self.reference.city.name;
        let age = person.age_on(as_of);

        // Where the person is known: always the managing grassroots institution of the
        // township (one health record per resident), then other places by chance.
        let insts = &self.reference.institutions;
        let local: Vec<usize> = (0..insts.len())
            .filter(|&i| insts[i].township.as_deref() == Some(person.township.code))
            .collect();
        let home = local
            .iter()
            .copied()
            .find(|&i| insts[i].kind.is_grassroots());
        let mut places: Vec<usize> = home.into_iter().collect();
        let county_insts: Vec<usize> = (0..insts.len())
            .filter(|&i| insts[i].county == person.township.parent && insts[i].township.is_none())
            .collect();
        let elderly = age >= 60;
        for &i in &county_insts {
            let p = match insts[i].kind {
                InstitutionKind::Secondary => {
                    if elderly {
                        0.6
                    } else {
                        0.4
                    }
                }
                InstitutionKind::PrivateHospital => 0.08,
                _ => 0.0,
            };
            if rng.chance(p) {
                places.push(i);
            }
        }
        if !self.tertiary.is_empty() && rng.chance(if elderly { 0.45 } else { 0.3 }) {
            places.push(*rng.pick(&self.tertiary));
        }
        let mch_due = age < 7 || (!person.male && (20..40).contains(&age));
        if !self.maternal.is_empty() && mch_due && rng.chance(0.4) {
            places.push(*rng.pick(&self.maternal));
        }
        if person.rural {
            let clinics: Vec<usize> = local
                .iter()
                .copied()
                .filter(|&i| insts[i].kind == InstitutionKind::VillageClinic)
                .collect();
            if !clinics.is_empty() && rng.chance(0.5) {
                places.push(*rng.pick(&clinics));
            }
        }
        places.truncate(self.config.max_registrations.max(1) as usize);
        if places.is_empty() {
            places.push(self.tertiary.first().copied().unwrap_or(0));
        }

        let mut registrations = Vec::with_capacity(places.len());
        for (j, &inst) in places.iter().enumerate() {
            let patient_id = format!("pat-{}-{}", index + 1, j + 1);
            let mrn = format!(
                "{}{:08}",
                insts[inst].id.trim_start_matches("org-"),
                index + 1
            );
            registrations.push(person::register(
                &mut rng,
                &person,
                city,
                (inst, &insts[inst].id),
                patient_id,
                mrn,
                &self.config.errors,
                Some(inst) == home,
            ));
        }
        let mut resources = Vec::new();
        for reg in &registrations {
            let inst = &insts[reg.institution];
            let doctor = if reg.home {
                inst.teams
                    .get(rng.below(inst.teams.len().max(1) as u64) as usize)
                    .map(|&t| &self.reference.practitioners[self.reference.teams[t].members[0]])
                    .map(|p| (p.id.as_str(), p.name.as_str()))
            } else {
                None
            };
            resources.push(person::patient_resource(
                &person, reg, city, &inst.name, doctor,
            ));
        }
        if self.config.clinical {
            let chronic = clinical::chronic(&mut rng, &person, as_of);
            let mut counter = 0;
            for reg in &registrations {
                History {
                    rng: &mut rng,
                    reference: &self.reference,
                    person: &person,
                    reg,
                    chronic,
                    as_of,
                    counter: &mut counter,
                    out: &mut resources,
                }
                .generate();
            }
        }
        Resident {
            person,
            registrations,
            resources,
        }
    }

    /// Residents `0..config.residents`, generated lazily (memory stays bounded).
    pub fn residents(&self) -> impl Iterator<Item = Resident> + '_ {
        (0..self.config.residents).map(|i| self.resident(i))
    }
}
