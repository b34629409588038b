//! Link changes: one [`LinkBatch`] gathers the golden-record (Person) edits and the
//! link-state rows of one decision or one committed write, and commits them in one
//! store transaction. Automatic decisions ([`decide`]) and the manual operations
//! (link, unlink, merge, review) all go through it.
//!
//! A [`LinkCache`] holds what automatic linking asks of the link tables for every
//! registration (which Person each Patient belongs to, which pairs a human kept apart),
//! so that deciding a new Patient reads nothing from the store but the golden record it
//! joins. The cache changes only after a batch committed, from what the batch wrote.
use super::golden;
use crate::error::ApiError;
use hutong_store::{
    AccessContext, LinkKind, LinkQuery, MpiAction, MpiChange, MpiLink, MpiLogEntry, PendingWrite,
    Store, Transaction, WriteKind,
};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap, HashSet};
use time::OffsetDateTime;

/// Links read per page when the cache is filled.
const CACHE_PAGE: usize = 10_000;

/// The link state as this process last committed it (one MPI process per database).
#[derive(Default)]
pub(super) struct LinkCache {
    /// Patient → its Person, for every linked Patient.
    person_of: HashMap<Box<str>, Box<str>>,
    /// Reference → the references it must never be linked with automatically (both
    /// directions of every `mpi_no_link` pair).
    no_links: HashMap<Box<str>, Vec<Box<str>>>,
}

impl LinkCache {
    /// Reads the whole link and no-link tables.
    pub(super) async fn load(store: &dyn Store, ctx: &AccessContext) -> Result<Self, ApiError> {
        let mut cache = LinkCache::default();
        let mut after = String::new();
        loop {
            let page = store
                .mpi_links(
                    ctx,
                    &LinkQuery::After {
                        patient: after.clone(),
                        limit: CACHE_PAGE,
                    },
                )
                .await?;
            let Some(last) = page.last() else { break };
            after.clone_from(&last.patient_id);
            let full = page.len() == CACHE_PAGE;
            for l in page {
                cache
                    .person_of
                    .insert(l.patient_id.into(), l.person_id.into());
            }
            if !full {
                break;
            }
        }
        for (left, right) in store.mpi_no_link_pairs(ctx).await? {
            cache.add_no_link(&left, &right);
        }
        Ok(cache)
    }

    fn add_no_link(&mut self, left: &str, right: &str) {
        for (a, b) in [(left, right), (right, left)] {
            let list = self.no_links.entry(a.into()).or_default();
            if !list.iter().any(|x| &**x == b) {
                list.push(b.into());
            }
        }
    }

    /// Number of linked Patients.
    pub(super) fn len(&self) -> usize {
        self.person_of.len()
    }

    /// Applies what a committed batch wrote.
    pub(super) fn apply(&mut self, done: Committed) {
        for (patient, person) in done.links {
            match person {
                Some(p) => {
                    self.person_of.insert(patient.into(), p.into());
                }
                None => {
                    self.person_of.remove(patient.as_str());
                }
            }
        }
        for (left, right) in done.no_links {
            self.add_no_link(&left, &right);
        }
    }
}

/// The link changes of a committed batch, for [`LinkCache::apply`].
#[must_use = "the link cache must learn what was committed"]
pub(super) struct Committed {
    links: Vec<(String, Option<String>)>,
    no_links: Vec<(String, String)>,
}

struct PersonDoc {
    json: Value,
    exists: bool,
    /// Links changed: written at commit.
    dirty: bool,
    /// A member changed: demographics recomputed at commit, written if they differ.
    refresh: bool,
}

impl PersonDoc {
    fn new(json: Value, exists: bool, dirty: bool) -> Self {
        PersonDoc {
            json,
            exists,
            dirty,
            refresh: false,
        }
    }
}

/// Edits to the link state and golden records, seen by later steps of the same batch
/// before they are committed.
pub(super) struct LinkBatch<'a> {
    store: &'a dyn Store,
    ctx: &'a AccessContext,
    cache: &'a LinkCache,
    /// Patient → link as this batch leaves it (`None`: unlinked).
    links: HashMap<String, Option<MpiLink>>,
    persons: BTreeMap<String, PersonDoc>,
    /// Patients written or read in this batch (the newest JSON of each), for the
    /// golden records' survivorship.
    patients: HashMap<String, Value>,
    changes: Vec<MpiChange>,
}

impl<'a> LinkBatch<'a> {
    pub(super) fn new(store: &'a dyn Store, ctx: &'a AccessContext, cache: &'a LinkCache) -> Self {
        LinkBatch {
            store,
            ctx,
            cache,
            links: HashMap::new(),
            persons: BTreeMap::new(),
            patients: HashMap::new(),
            changes: Vec::new(),
        }
    }

    /// The references `reference` must never be linked with automatically, including
    /// pairs added earlier in this batch.
    pub(super) fn no_links(&self, reference: &str) -> HashSet<String> {
        let mut out: HashSet<String> = self
            .cache
            .no_links
            .get(reference)
            .into_iter()
            .flatten()
            .map(|r| r.to_string())
            .collect();
        for c in &self.changes {
            if let MpiChange::NoLink { left, right, .. } = c {
                if left == reference {
                    out.insert(right.clone());
                } else if right == reference {
                    out.insert(left.clone());
                }
            }
        }
        out
    }

    /// The current link of a Patient (a Patient the cache knows as unlinked costs no
    /// store read; the full row of a linked one is read).
    pub(super) async fn link_of(&mut self, patient: &str) -> Result<Option<MpiLink>, ApiError> {
        if let Some(l) = self.links.get(patient) {
            return Ok(l.clone());
        }
        if !self.cache.person_of.contains_key(patient) {
            return Ok(None);
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
    pub(super) fn persons_of(&self, patients: &[String]) -> HashMap<String, String> {
        let mut out = HashMap::new();
        for p in patients {
            let person = match self.links.get(p) {
                Some(l) => l.as_ref().map(|l| l.person_id.clone()),
                None => self.cache.person_of.get(p.as_str()).map(|p| p.to_string()),
            };
            if let Some(person) = person {
                out.insert(p.clone(), person);
            }
        }
        out
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
                Some(v) if !v.deleted => PersonDoc::new(
                    serde_json::from_slice(&v.json).map_err(|e| {
                        ApiError::internal(format!("stored Person/{id} is not JSON: {e}"))
                    })?,
                    true,
                    false,
                ),
                // A golden record deleted by hand is recreated by the next link to it.
                Some(_) => PersonDoc::new(golden::new_person(id, None), true, true),
                None => PersonDoc::new(golden::new_person(id, None), false, true),
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
            PersonDoc::new(golden::new_person(&id, patient), false, true),
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
        if let Some(json) = patient_json {
            self.patients.insert(patient.to_owned(), json.clone());
        }
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

    /// A member Patient of `person` changed without changing its link: the golden
    /// record's demographics are recomputed at commit.
    pub(super) async fn refresh(
        &mut self,
        person: &str,
        patient: &str,
        patient_json: &Value,
    ) -> Result<(), ApiError> {
        self.patients
            .insert(patient.to_owned(), patient_json.clone());
        self.person(person).await?.refresh = true;
        Ok(())
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

    /// The member Patients of a golden record (its `Patient/…` links), as JSON: from
    /// this batch, else read from the store in one call (a deleted or missing one is
    /// left out). In the order of the links.
    async fn member_json(&self, person: &Value) -> Result<Vec<Value>, ApiError> {
        let targets: Vec<&str> = person["link"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|l| l["target"]["reference"].as_str()?.strip_prefix("Patient/"))
            .collect();
        let missing: Vec<String> = targets
            .iter()
            .filter(|id| !self.patients.contains_key(**id))
            .map(|id| (*id).to_owned())
            .collect();
        let mut read: HashMap<String, Value> = HashMap::new();
        if !missing.is_empty() {
            for v in self.store.read_many(self.ctx, "Patient", &missing).await? {
                if v.deleted {
                    continue;
                }
                if let Ok(j) = serde_json::from_slice(&v.json) {
                    read.insert(v.id, j);
                }
            }
        }
        let mut out = Vec::with_capacity(targets.len());
        for id in targets {
            if let Some(j) = self.patients.get(id) {
                out.push(j.clone());
            } else if let Some(j) = read.remove(id) {
                out.push(j);
            }
        }
        Ok(out)
    }

    /// Writes the edited golden records and the link rows in a transaction of their own;
    /// returns the link changes for the cache.
    pub(super) async fn commit(self) -> Result<Committed, ApiError> {
        let store = self.store;
        let ctx = self.ctx;
        let (done, writes, changes) = self.finish().await?;
        if writes.is_empty() && changes.is_empty() {
            return Ok(done);
        }
        let mut tx = store.begin(ctx).await?;
        write(tx.as_mut(), writes, changes).await?;
        tx.commit().await?;
        Ok(done)
    }

    /// Writes the edited golden records and the link rows into `tx`, the transaction of
    /// the write whose Patients this batch linked (the caller commits it, and hands the
    /// returned changes to the cache only once it has).
    pub(super) async fn write_into(self, tx: &mut dyn Transaction) -> Result<Committed, ApiError> {
        let (done, writes, changes) = self.finish().await?;
        write(tx, writes, changes).await?;
        Ok(done)
    }

    /// Recomputes the demographics of the touched golden records (survivorship) and
    /// returns the cache's changes, the Person writes and the link-table changes.
    async fn finish(mut self) -> Result<(Committed, Vec<PendingWrite>, Vec<MpiChange>), ApiError> {
        let touched: Vec<String> = self
            .persons
            .iter()
            .filter(|(_, d)| d.dirty || d.refresh)
            .map(|(id, _)| id.clone())
            .collect();
        for id in touched {
            let members = match self.persons.get(&id) {
                Some(doc) => self.member_json(&doc.json).await?,
                None => continue,
            };
            if let Some(doc) = self.persons.get_mut(&id) {
                let refs: Vec<&Value> = members.iter().collect();
                let before = (!doc.dirty).then(|| doc.json.clone());
                golden::survive(&mut doc.json, &refs);
                if before.is_some_and(|b| b != doc.json) {
                    doc.dirty = true;
                }
            }
        }
        let done = Committed {
            links: self
                .links
                .iter()
                .map(|(p, l)| (p.clone(), l.as_ref().map(|l| l.person_id.clone())))
                .collect(),
            no_links: self
                .changes
                .iter()
                .filter_map(|c| match c {
                    MpiChange::NoLink { left, right, .. } => Some((left.clone(), right.clone())),
                    _ => None,
                })
                .collect(),
        };
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
        Ok((done, writes, self.changes))
    }
}

async fn write(
    tx: &mut dyn Transaction,
    writes: Vec<PendingWrite>,
    changes: Vec<MpiChange>,
) -> Result<(), ApiError> {
    if !writes.is_empty() {
        tx.apply(writes).await?;
    }
    if !changes.is_empty() {
        tx.mpi_apply(changes).await?;
    }
    Ok(())
}
