//! Link changes: one [`LinkBatch`] gathers the golden-record (Person) edits and the
//! link-state rows of one decision or one committed write, and commits them in one
//! store transaction. Automatic decisions ([`decide`]) and the manual operations
//! (link, unlink, merge, review) all go through it.
use super::golden;
use crate::error::ApiError;
use hutong_store::{
    AccessContext, LinkKind, LinkQuery, MpiAction, MpiChange, MpiLink, MpiLogEntry, PendingWrite,
    Store, WriteKind,
};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use time::OffsetDateTime;

struct PersonDoc {
    json: Value,
    exists: bool,
    dirty: bool,
}

/// Edits to the link state and golden records, seen by later steps of the same batch
/// before they are committed.
pub(super) struct LinkBatch<'a> {
    store: &'a dyn Store,
    ctx: &'a AccessContext,
    /// Patient → link as this batch leaves it (`None`: unlinked).
    links: HashMap<String, Option<MpiLink>>,
    persons: BTreeMap<String, PersonDoc>,
    changes: Vec<MpiChange>,
}

impl<'a> LinkBatch<'a> {
    pub(super) fn new(store: &'a dyn Store, ctx: &'a AccessContext) -> Self {
        LinkBatch {
            store,
            ctx,
            links: HashMap::new(),
            persons: BTreeMap::new(),
            changes: Vec::new(),
        }
    }

    pub(super) fn store(&self) -> &'a dyn Store {
        self.store
    }

    pub(super) fn ctx(&self) -> &'a AccessContext {
        self.ctx
    }

    /// The current link of a Patient.
    pub(super) async fn link_of(&mut self, patient: &str) -> Result<Option<MpiLink>, ApiError> {
        if let Some(l) = self.links.get(patient) {
            return Ok(l.clone());
        }
        let found = self
            .store
            .mpi_links(self.ctx, &LinkQuery::Patients(vec![patient.to_owned()]))
            .await?
            .into_iter()
            .next();
        Ok(found)
    }

    /// The Person of each of `patients` that has one.
    pub(super) async fn persons_of(
        &mut self,
        patients: &[String],
    ) -> Result<HashMap<String, String>, ApiError> {
        let mut out = HashMap::new();
        let mut ask = Vec::new();
        for p in patients {
            match self.links.get(p) {
                Some(Some(l)) => {
                    out.insert(p.clone(), l.person_id.clone());
                }
                Some(None) => {}
                None => ask.push(p.clone()),
            }
        }
        if !ask.is_empty() {
            for l in self
                .store
                .mpi_links(self.ctx, &LinkQuery::Patients(ask))
                .await?
            {
                out.insert(l.patient_id, l.person_id);
            }
        }
        Ok(out)
    }

    /// Patients linked to `person`.
    pub(super) async fn members(&mut self, person: &str) -> Result<Vec<String>, ApiError> {
        let mut out: Vec<String> = self
            .store
            .mpi_links(self.ctx, &LinkQuery::Person(person.to_owned()))
            .await?
            .into_iter()
            .map(|l| l.patient_id)
            .filter(|p| !self.links.contains_key(p))
            .collect();
        for (p, l) in &self.links {
            if l.as_ref().is_some_and(|l| l.person_id == person) {
                out.push(p.clone());
            }
        }
        out.sort();
        Ok(out)
    }

    async fn person(&mut self, id: &str) -> Result<&mut PersonDoc, ApiError> {
        if !self.persons.contains_key(id) {
            let doc = match self.store.read(self.ctx, "Person", id).await? {
                Some(v) if !v.deleted => PersonDoc {
                    json: serde_json::from_slice(&v.json).map_err(|e| {
                        ApiError::internal(format!("stored Person/{id} is not JSON: {e}"))
                    })?,
                    exists: true,
                    dirty: false,
                },
                // A golden record deleted by hand is recreated by the next link to it.
                Some(_) => PersonDoc {
                    json: golden::new_person(id, None),
                    exists: true,
                    dirty: true,
                },
                None => PersonDoc {
                    json: golden::new_person(id, None),
                    exists: false,
                    dirty: true,
                },
            };
            self.persons.insert(id.to_owned(), doc);
        }
        self.persons
            .get_mut(id)
            .ok_or_else(|| ApiError::internal("golden record vanished from the batch"))
    }

    /// A new golden record for a Patient; returns its id.
    pub(super) fn new_person(&mut self, patient: Option<&Value>) -> String {
        let id = crate::transaction::new_id();
        self.persons.insert(
            id.clone(),
            PersonDoc {
                json: golden::new_person(&id, patient),
                exists: false,
                dirty: true,
            },
        );
        id
    }

    /// Links `patient` to `to` (a new golden record when `None`), removing it from its
    /// previous Person; returns `(person, previous person)`.
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn move_patient(
        &mut self,
        patient: &str,
        patient_json: Option<&Value>,
        to: Option<&str>,
        kind: LinkKind,
        score: Option<f64>,
        id_hash: Option<String>,
    ) -> Result<(String, Option<String>), ApiError> {
        let previous = self.link_of(patient).await?.map(|l| l.person_id);
        let reference = format!("Patient/{patient}");
        if let Some(prev) = previous.as_deref().filter(|p| Some(*p) != to) {
            let doc = self.person(prev).await?;
            golden::remove_link(&mut doc.json, &reference);
            doc.dirty = true;
        }
        let person = match to {
            Some(p) => p.to_owned(),
            None => self.new_person(patient_json),
        };
        let doc = self.person(&person).await?;
        golden::add_link(&mut doc.json, &reference, golden::assurance(kind));
        doc.dirty = true;
        self.set_link(MpiLink {
            patient_id: patient.to_owned(),
            person_id: person.clone(),
            kind,
            score,
            id_hash,
            linked_at: OffsetDateTime::now_utc(),
        });
        Ok((person, previous))
    }

    /// Records a link without touching the golden record (same Person, new kind or hash).
    pub(super) fn set_link(&mut self, link: MpiLink) {
        self.links
            .insert(link.patient_id.clone(), Some(link.clone()));
        self.changes.push(MpiChange::SetLink(link));
    }

    /// Removes a Patient from its golden record (deleted Patient).
    pub(super) async fn remove_patient(
        &mut self,
        patient: &str,
    ) -> Result<Option<String>, ApiError> {
        let Some(prev) = self.link_of(patient).await? else {
            return Ok(None);
        };
        let doc = self.person(&prev.person_id).await?;
        golden::remove_link(&mut doc.json, &format!("Patient/{patient}"));
        doc.dirty = true;
        self.links.insert(patient.to_owned(), None);
        self.changes.push(MpiChange::RemoveLink {
            patient_id: patient.to_owned(),
        });
        Ok(Some(prev.person_id))
    }

    /// Points an emptied golden record at the one that absorbed it (merge).
    pub(super) async fn redirect_person(&mut self, from: &str, to: &str) -> Result<(), ApiError> {
        let doc = self.person(from).await?;
        golden::add_link(&mut doc.json, &format!("Person/{to}"), "level4");
        doc.json["active"] = Value::Bool(false);
        doc.dirty = true;
        Ok(())
    }

    /// Appends to the link-change log, as the batch's principal.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn log(
        &mut self,
        action: MpiAction,
        patient: &str,
        person: Option<&str>,
        previous: Option<&str>,
        other: Option<&str>,
        reason: impl Into<String>,
        detail: Value,
    ) {
        self.changes.push(MpiChange::Log(MpiLogEntry {
            seq: 0,
            at: OffsetDateTime::now_utc(),
            actor: self.ctx.subject.clone(),
            request_id: self.ctx.request_id.clone(),
            action,
            patient_id: patient.to_owned(),
            person_id: person.map(str::to_owned),
            previous_person_id: previous.map(str::to_owned),
            other_patient_id: other.map(str::to_owned),
            reason: reason.into(),
            detail,
        }));
    }

    /// Adds a raw change (no-link pair, review item …).
    pub(super) fn change(&mut self, change: MpiChange) {
        self.changes.push(change);
    }

    /// Writes the edited golden records and the link rows in one transaction.
    pub(super) async fn commit(self) -> Result<(), ApiError> {
        let mut writes = Vec::new();
        for (id, doc) in self.persons {
            if !doc.dirty {
                continue;
            }
            crate::request::check_resource(&doc.json, None)?;
            writes.push(PendingWrite {
                kind: if doc.exists {
                    WriteKind::Update
                } else {
                    WriteKind::Create
                },
                resource_type: "Person".to_owned(),
                id,
                resource: Some(doc.json),
                if_match: None,
            });
        }
        if writes.is_empty() && self.changes.is_empty() {
            return Ok(());
        }
        let mut tx = self.store.begin(self.ctx).await?;
        if !writes.is_empty() {
            tx.apply(writes).await?;
        }
        tx.mpi_apply(self.changes).await?;
        tx.commit().await?;
        Ok(())
    }
}
