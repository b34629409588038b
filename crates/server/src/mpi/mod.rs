//! The master patient index (主索引) inside the server: write-time linking of every
//! Patient to a golden record (a FHIR `Person`), and the MPI operations (`$match`,
//! `$ihe-pix`, link/unlink, `$merge`, the review queue, the link history).
//!
//! **Write-time linking.** Every write goes through `transaction::run_transaction`.
//! Before its transaction begins, [`before_write`] checks the citizen ID number (身份证号)
//! of each Patient entry (invalid: tagged and warned, or refused, by configuration), and
//! a write that changes Patients takes the index ([`begin_write`]). Once its entries are
//! applied, [`WriteLink::link`] matches each written Patient against the in-memory
//! [`MatchIndex`] and writes the golden-record edits and link rows into the same
//! transaction, so a Patient and its link commit together (or not at all); the link
//! cache learns them only after the commit. When the index cannot be had (it failed to
//! load, or another process holds the lease) the write goes ahead unlinked, and the
//! catch-up pass that runs when the index is next loaded links every live Patient that
//! has none, so none stays unlinked.
//!
//! **Invariants.** Every live Patient is linked to exactly one Person (`mpi_link` has
//! one row per Patient). Citizen ID numbers appear in the MPI tables only as a keyed
//! hash (HMAC-SHA256) and never in logs. A pair a human unlinked or rejected is
//! remembered (`mpi_no_link`) and never linked again automatically; links a human made
//! (manual link, accepted review, merge) are never changed by automatic matching. Link
//! decisions are serialised per process by one async mutex (the index and the link
//! rows change together; a write that changes Patients holds it from before its
//! transaction begins until it has committed), and one process per database runs the MPI: it holds the
//! database's `mpi` lease ([`Store::lease`]) from before the index loads.
//!
//! The index (`hutong-mpi`'s `MatchIndex`) and the link cache (Patient → Person, the
//! kept-apart pairs) are built from the store on first use (started at `serve` time,
//! with progress in the log) and kept current by every linking step. The MPI of a store is found through [`for_store`], because the write
//! path is shared by REST handlers, Bundles and `hutong import`, which only hand it a
//! store.
pub mod golden;
mod linking;
mod manual;
pub mod operations;
pub mod registration;

use crate::config::{InvalidCitizenId, MpiConfig};
use crate::error::ApiError;
use crate::request::{EntryRequest, Method};
use hutong_fhir::Issue;
use hutong_mpi::{Candidate, Decision, MatchIndex, Matcher, Model, Thresholds};
use hutong_store::{AccessContext, LinkKind, MpiAction, MpiChange, Store, Versioned};
use linking::{LinkBatch, LinkCache};
use serde_json::{json, Value};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Weak};
use std::time::Instant;

/// The trained parameters used when no `mpi.model` file is configured: `hutong mpi
/// train` on 100,000 registrations of `hutong mpi generate --seed 7`.
const BUILT_IN_MODEL: &str = include_str!("model.json");

/// Development key of the citizen-ID hash, used (with a warning) when none is configured.
const DEV_HASH_KEY: &str = "hutong-development-mpi-hash-key";

/// Patients per catch-up transaction.
const CATCH_UP_BATCH: usize = 200;

/// The in-memory state of the MPI: the match index and the link cache.
#[derive(Default)]
struct IndexState {
    loaded: bool,
    /// Run the catch-up pass before the next linking step (after loading, or after a
    /// linking step failed).
    needs_catch_up: bool,
    /// A linking step failed: read the link cache again before the next one.
    links_stale: bool,
    matching: Matching,
    links: LinkCache,
    /// This process's exclusive right to run the MPI of the database, taken before the
    /// index is loaded and held as long as the MPI lives.
    lease: Option<hutong_store::Lease>,
}

/// The in-memory match index and which of its slots is each Patient's current one (an
/// updated Patient gets a new slot; the old one is ignored).
struct Matching {
    index: MatchIndex,
    slot_of: HashMap<Box<str>, u32>,
}

impl Default for Matching {
    fn default() -> Self {
        Matching {
            // Not `MatchIndex::default()`: that one returns no candidates at all.
            index: MatchIndex::new(),
            slot_of: HashMap::new(),
        }
    }
}

impl IndexState {
    /// Takes in a batch's commit: the link cache learns what was written; after a
    /// failure (which may still have reached the database) the cache is read again and
    /// the catch-up pass runs before the next linking step.
    fn settle(&mut self, committed: Result<linking::Committed, ApiError>) -> Result<(), ApiError> {
        match committed {
            Ok(done) => {
                self.links.apply(done);
                Ok(())
            }
            Err(e) => {
                self.needs_catch_up = true;
                self.links_stale = true;
                Err(e)
            }
        }
    }
}

impl Matching {
    /// Candidates of `f` that are current slots of other Patients.
    fn candidates(&self, matcher: &Matcher, f: &hutong_mpi::Features) -> Vec<Candidate> {
        matcher
            .match_record(&self.index, f)
            .into_iter()
            .filter(|c| {
                *c.record_id != *f.id && self.slot_of.get(c.record_id.as_str()) == Some(&c.index)
            })
            .collect()
    }

    fn insert(&mut self, f: hutong_mpi::Features) {
        let id = f.id.clone();
        let slot = self.index.insert(f);
        self.slot_of.insert(id, slot);
    }
}

/// The master patient index of one store.
pub struct Mpi {
    matcher: Matcher,
    hash_key: Vec<u8>,
    invalid_citizen_id: InvalidCitizenId,
    state: Arc<tokio::sync::Mutex<IndexState>>,
}

/// A Patient write to link: the stored JSON, or `None` for a delete.
pub struct PatientEvent {
    pub id: String,
    pub json: Option<Value>,
}

impl Mpi {
    /// The MPI described by the configuration (model file read and checked here).
    pub fn new(config: &MpiConfig) -> anyhow::Result<Mpi> {
        let model = match &config.model {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|e| {
                    anyhow::anyhow!("cannot read the MPI model {}: {e}", path.display())
                })?;
                Model::from_json(&text)?
            }
            None => Model::from_json(BUILT_IN_MODEL)?,
        };
        let hash_key = match &config.hash_key {
            Some(k) if !k.is_empty() => k.as_bytes().to_vec(),
            _ => {
                tracing::warn!("no MPI hash key configured (--mpi-hash-key): citizen ID hashes use the development key; never use this in production");
                DEV_HASH_KEY.as_bytes().to_vec()
            }
        };
        Ok(Mpi {
            matcher: Matcher::new(
                model,
                Thresholds {
                    link: config.link_threshold,
                    review: config.review_threshold,
                },
            ),
            hash_key,
            invalid_citizen_id: config.invalid_citizen_id,
            state: Arc::new(tokio::sync::Mutex::new(IndexState::default())),
        })
    }

    /// Locks the index, loading it (and linking Patients left unlinked) first when needed.
    async fn lock(
        &self,
        store: &dyn Store,
    ) -> Result<tokio::sync::OwnedMutexGuard<IndexState>, ApiError> {
        let mut state = Arc::clone(&self.state).lock_owned().await;
        if state
            .lease
            .as_ref()
            .is_some_and(hutong_store::Lease::is_lost)
        {
            // Another process may have run the MPI since: start over from the store.
            tracing::error!("MPI lease lost; taking it again and reloading the index");
            *state = IndexState::default();
        }
        if !state.loaded {
            claim(store, &mut state).await?;
            self.load(store, &mut state).await?;
            state.loaded = true;
            state.needs_catch_up = true;
        }
        if state.needs_catch_up {
            if state.links_stale {
                // A failed commit may still have reached the database: read the links again.
                state.links = LinkCache::load(store, &AccessContext::system("hutong-mpi")).await?;
                state.links_stale = false;
            }
            self.catch_up(store, &mut state).await?;
            state.needs_catch_up = false;
        }
        Ok(state)
    }

    /// Takes the database's MPI lease now (`hutong serve` and `hutong import` call it
    /// before they start, so a second process on the same database stops with a clear
    /// error instead of linking beside the first with its own in-memory index).
    pub async fn claim(&self, store: &dyn Store) -> Result<(), ApiError> {
        claim(store, &mut *self.state.lock().await).await
    }

    /// Stops running the MPI in this process: ends the lease and forgets the in-memory
    /// index, so another process (or store) can take over. A later linking step claims
    /// the lease again and reloads the index from the store.
    pub async fn stop(&self) {
        let old = std::mem::take(&mut *self.state.lock().await);
        if let Some(lease) = old.lease {
            lease.release().await;
        }
    }

    /// Builds the index from every stored Patient, one search page at a time.
    async fn load(&self, store: &dyn Store, state: &mut IndexState) -> Result<(), ApiError> {
        let start = Instant::now();
        let ctx = AccessContext::system("hutong-mpi");
        let total = store.count(&ctx, Some("Patient")).await?;
        let params = vec![("_count".to_owned(), "1000".to_owned())];
        let mut query = hutong_search::SearchQuery::parse(
            "Patient",
            &params,
            &hutong_search::query::ParseOptions::default(),
        )
        .map_err(|e| ApiError::internal(format!("MPI load query: {e}")))?;
        let mut done = 0u64;
        let mut last_log = Instant::now();
        loop {
            let page = store.search(&ctx, &query).await?;
            for v in &page.entries {
                let Ok(json) = serde_json::from_slice::<Value>(&v.json) else {
                    continue;
                };
                if registration::replaced_by(&json).is_none() {
                    state.matching.insert(registration::features(&json, &v.id));
                }
                done += 1;
            }
            if last_log.elapsed().as_secs() >= 5 {
                tracing::info!(done, total, "MPI index loading");
                last_log = Instant::now();
            }
            match page.next {
                Some(next) => query.cursor = Some(next),
                None => break,
            }
        }
        state.links = LinkCache::load(store, &ctx).await?;
        tracing::info!(
            patients = done,
            links = state.links.len(),
            elapsed_s = start.elapsed().as_secs_f64(),
            "MPI index loaded"
        );
        Ok(())
    }

    /// Links every live Patient that has no link (a crash between a Patient write and
    /// its linking, or a database written before the MPI existed).
    async fn catch_up(&self, store: &dyn Store, state: &mut IndexState) -> Result<(), ApiError> {
        let ctx = AccessContext::system("hutong-mpi-catch-up");
        let mut linked = 0usize;
        let mut seen = HashSet::new();
        loop {
            let ids = store.mpi_unlinked_patients(&ctx, CATCH_UP_BATCH).await?;
            // Stop when nothing new comes back (a Patient that cannot be read as JSON
            // stays unlinked, and is logged, rather than looping forever).
            let fresh: Vec<String> = ids.into_iter().filter(|i| seen.insert(i.clone())).collect();
            if fresh.is_empty() {
                break;
            }
            let mut events = Vec::new();
            for id in &fresh {
                let json = store
                    .read(&ctx, "Patient", id)
                    .await?
                    .and_then(|v| serde_json::from_slice::<Value>(&v.json).ok());
                match json {
                    Some(json) => events.push(PatientEvent {
                        id: id.clone(),
                        json: Some(json),
                    }),
                    None => {
                        tracing::error!(patient = %id, "MPI catch-up: stored Patient is unreadable; left unlinked")
                    }
                }
            }
            let n = events.len();
            // Already in the index from the load: take them out so each is matched
            // against the others, then put back by `decide`.
            for e in &events {
                state.matching.slot_of.remove(e.id.as_str());
            }
            self.link_events(store, &ctx, state, events).await?;
            linked += n;
        }
        if linked > 0 {
            tracing::info!(linked, "MPI catch-up linked Patients that had no link");
        }
        Ok(())
    }

    /// Loads the index now (at server start) instead of at the first Patient write.
    pub async fn warm_up(&self, store: &dyn Store) {
        if let Err(e) = self.lock(store).await {
            tracing::error!(error = e.summary(), "MPI index could not be loaded");
        }
    }

    /// Links Patients already committed (the catch-up pass), in one transaction.
    async fn link_events(
        &self,
        store: &dyn Store,
        ctx: &AccessContext,
        state: &mut IndexState,
        events: Vec<PatientEvent>,
    ) -> Result<(), ApiError> {
        let IndexState {
            matching, links, ..
        } = state;
        let batch = self.decide_all(store, ctx, matching, links, events).await?;
        let committed = batch.commit().await;
        state.settle(committed)
    }

    /// The automatic decisions for the Patients of one write (`None`: deleted).
    async fn decide_all<'a>(
        &self,
        store: &'a dyn Store,
        ctx: &'a AccessContext,
        matching: &mut Matching,
        links: &'a LinkCache,
        events: Vec<PatientEvent>,
    ) -> Result<LinkBatch<'a>, ApiError> {
        let mut batch = LinkBatch::new(store, ctx, links);
        for e in events {
            match e.json {
                None => {
                    matching.slot_of.remove(e.id.as_str());
                    if let Some(prev) = batch.remove_patient(&e.id).await? {
                        batch.log(
                            MpiAction::Unlink,
                            &e.id,
                            None,
                            Some(&prev),
                            None,
                            "Patient deleted",
                            json!({}),
                        );
                    }
                }
                Some(json) => self.decide(&mut batch, matching, &e.id, &json).await?,
            }
        }
        Ok(batch)
    }

    /// The automatic decision for one written Patient.
    async fn decide(
        &self,
        batch: &mut LinkBatch<'_>,
        matching: &mut Matching,
        id: &str,
        json: &Value,
    ) -> Result<(), ApiError> {
        let features = registration::features(json, id);
        let id_hash = features
            .citizen_id
            .as_ref()
            .map(|c| registration::id_hash(&self.hash_key, c));
        let current = batch.link_of(id).await?;
        if registration::replaced_by(json).is_some() {
            // Merged away: no longer a match candidate; its link is the merge's.
            matching.slot_of.remove(id);
            if current.is_none() {
                let (person, _) = batch
                    .move_patient(id, Some(json), None, LinkKind::NewPerson, None, id_hash)
                    .await?;
                batch.log(
                    MpiAction::NewPerson,
                    id,
                    Some(&person),
                    None,
                    None,
                    "merged Patient without a golden record",
                    json!({}),
                );
            }
            return Ok(());
        }
        matching.slot_of.remove(id);
        let candidates = matching.candidates(&self.matcher, &features);
        matching.insert(features);
        if let Some(cur) = current.as_ref().filter(|c| c.kind.is_manual()) {
            // A human decided this link: automatic matching does not change it.
            batch.refresh(&cur.person_id, id, json).await?;
            if cur.id_hash != id_hash {
                let mut link = cur.clone();
                link.id_hash = id_hash;
                batch.set_link(link);
            }
            return Ok(());
        }
        let no_links = batch.no_links(&format!("Patient/{id}"));
        let candidates: Vec<Candidate> = candidates
            .into_iter()
            .filter(|c| !no_links.contains(&format!("Patient/{}", c.record_id)))
            .collect();
        let ids: Vec<String> = candidates.iter().map(|c| c.record_id.clone()).collect();
        let persons = batch.persons_of(&ids);
        let scored: Vec<(&Candidate, &String)> = candidates
            .iter()
            .filter_map(|c| persons.get(&c.record_id).map(|p| (c, p)))
            .filter(|(_, p)| !no_links.contains(&format!("Person/{p}")))
            .collect();
        let best_link = scored
            .iter()
            .find(|(c, _)| c.score.decision == Decision::Link);
        let keeps_current = current.as_ref().is_some_and(|cur| {
            scored
                .iter()
                .any(|(c, p)| c.score.decision == Decision::Link && **p == cur.person_id)
        });
        let final_person = if keeps_current || (best_link.is_none() && current.is_some()) {
            let cur = current
                .clone()
                .ok_or_else(|| ApiError::internal("no current link"))?;
            let alone = batch.members(&cur.person_id).await?.iter().all(|m| m == id);
            if keeps_current || alone {
                batch.refresh(&cur.person_id, id, json).await?;
                if cur.id_hash != id_hash {
                    let mut link = cur.clone();
                    link.id_hash = id_hash;
                    batch.set_link(link);
                }
                cur.person_id
            } else {
                // It no longer matches the other records of its golden record.
                let (person, prev) = batch
                    .move_patient(id, Some(json), None, LinkKind::NewPerson, None, id_hash)
                    .await?;
                batch.log(MpiAction::NewPerson, id, Some(&person), prev.as_deref(), None, "after an update the Patient no longer matches the other records of its golden record", json!({}));
                person
            }
        } else if let Some((c, p)) = best_link {
            let deterministic = c.score.rule == hutong_mpi::matcher::Rule::SameValidId;
            let kind = if deterministic {
                LinkKind::Deterministic
            } else {
                LinkKind::Probabilistic
            };
            let (person, prev) = batch
                .move_patient(
                    id,
                    Some(json),
                    Some(p.as_str()),
                    kind,
                    Some(c.score.probability),
                    id_hash,
                )
                .await?;
            let reason = if deterministic {
                format!("same valid citizen ID number as Patient/{}", c.record_id)
            } else {
                format!(
                    "matched Patient/{} with probability {:.6}",
                    c.record_id, c.score.probability
                )
            };
            batch.log(
                MpiAction::AutoLink,
                id,
                Some(&person),
                prev.as_deref(),
                Some(&c.record_id),
                reason,
                explanation(c),
            );
            person
        } else {
            let (person, prev) = batch
                .move_patient(id, Some(json), None, LinkKind::NewPerson, None, id_hash)
                .await?;
            batch.log(
                MpiAction::NewPerson,
                id,
                Some(&person),
                prev.as_deref(),
                None,
                "no existing record matches",
                json!({}),
            );
            person
        };
        let mut queued = HashSet::new();
        for (c, p) in &scored {
            if c.score.decision == Decision::Review
                && **p != final_person
                && queued.insert(&c.record_id)
            {
                batch.change(MpiChange::QueueReview {
                    patient_id: id.to_owned(),
                    candidate_id: c.record_id.clone(),
                    score: c.score.probability,
                    explanation: explanation(c),
                });
                batch.log(
                    MpiAction::ReviewQueued,
                    id,
                    Some(&final_person),
                    None,
                    Some(&c.record_id),
                    format!(
                        "possible match with Patient/{} (probability {:.6})",
                        c.record_id, c.score.probability
                    ),
                    explanation(c),
                );
            }
        }
        Ok(())
    }

    /// Candidates for a Patient that is not (necessarily) stored: `$match`.
    pub async fn match_patient(
        &self,
        store: &dyn Store,
        patient: &Value,
    ) -> Result<Vec<Candidate>, ApiError> {
        let features = registration::features(patient, "");
        let state = self.lock(store).await?;
        Ok(state.matching.candidates(&self.matcher, &features))
    }

    /// The keyed hash of a valid citizen ID number.
    pub fn hash_citizen_id(&self, id: &hutong_mpi::CitizenId) -> String {
        registration::id_hash(&self.hash_key, id)
    }
}

/// Name of the MPI's lease ([`Store::lease`]).
const LEASE: &str = "mpi";

async fn claim(store: &dyn Store, state: &mut IndexState) -> Result<(), ApiError> {
    if state.lease.is_some() {
        return Ok(());
    }
    match store.lease(LEASE).await? {
        Some(lease) => {
            state.lease = Some(lease);
            Ok(())
        }
        None => Err(ApiError::unavailable(
            "the master patient index of this database is run by another hutong process \
             (one process per database links Patients: stop the other, or start this one \
             with the MPI disabled)",
        )),
    }
}

/// Score, rule and per-field weights of a candidate, for the log and the review queue.
fn explanation(c: &Candidate) -> Value {
    serde_json::to_value(&c.score).unwrap_or_else(|_| json!({}))
}

/// The MPIs of the open stores (see the module documentation for why a registry).
static REGISTRY: std::sync::Mutex<Vec<Attached>> = std::sync::Mutex::new(Vec::new());

/// A store (held weakly: the registry never keeps a store open) and its MPI.
type Attached = (Weak<dyn Store>, Arc<Mpi>);

fn same_store(weak: &Weak<dyn Store>, store: &dyn Store) -> bool {
    weak.strong_count() > 0 && std::ptr::addr_eq(weak.as_ptr(), store as *const dyn Store)
}

/// Makes `mpi` the index of `store` for the write path.
pub fn attach(store: &Arc<dyn Store>, mpi: Arc<Mpi>) {
    let mut registry = REGISTRY.lock().unwrap_or_else(|p| p.into_inner());
    registry.retain(|(w, _)| w.strong_count() > 0 && !same_store(w, store.as_ref()));
    registry.push((Arc::downgrade(store), mpi));
}

/// The index of `store`, when one is attached (the MPI is enabled).
pub fn for_store(store: &dyn Store) -> Option<Arc<Mpi>> {
    let registry = REGISTRY.lock().unwrap_or_else(|p| p.into_inner());
    registry
        .iter()
        .find(|(w, _)| same_store(w, store))
        .map(|(_, m)| Arc::clone(m))
}

/// Creates and attaches the MPI of a store as configured; `None` when disabled.
pub fn start(store: &Arc<dyn Store>, config: &MpiConfig) -> anyhow::Result<Option<Arc<Mpi>>> {
    if !config.enabled {
        return Ok(None);
    }
    let mpi = Arc::new(Mpi::new(config)?);
    attach(store, Arc::clone(&mpi));
    Ok(Some(mpi))
}

/// Before a write's transaction: the citizen-ID check of every Patient create/update
/// (may add the data-quality tag, or refuse the entry). Returns warnings by entry.
pub fn before_write(
    store: &dyn Store,
    entries: &mut [EntryRequest],
) -> Result<HashMap<usize, Issue>, (usize, ApiError)> {
    let mut warnings = HashMap::new();
    let Some(mpi) = for_store(store) else {
        return Ok(warnings);
    };
    for (i, e) in entries.iter_mut().enumerate() {
        if e.target.resource_type.as_str() != "Patient"
            || !matches!(e.method, Method::Post | Method::Put)
        {
            continue;
        }
        if let Some(r) = e.resource.as_mut() {
            if let Some(w) =
                registration::check(r, mpi.invalid_citizen_id).map_err(|err| (i, err))?
            {
                warnings.insert(i, w);
            }
        }
    }
    Ok(warnings)
}

/// The same citizen-ID check for a Patient that only exists inside the transaction (the
/// result of a PATCH): a patch cannot slip an invalid number past the policy, nor keep
/// the data-quality tag after it fixes the number.
pub fn check_patched(store: &dyn Store, patient: &mut Value) -> Result<Option<Issue>, ApiError> {
    match for_store(store) {
        Some(mpi) => registration::check(patient, mpi.invalid_citizen_id),
        None => Ok(None),
    }
}

/// Does this write change a Patient (create, update, patch or delete)?
fn writes_patients(entries: &[EntryRequest]) -> bool {
    entries
        .iter()
        .any(|e| e.target.resource_type.as_str() == "Patient" && e.method != Method::Get)
}

/// The MPI's part of one write that changes Patients: it holds the index from before the
/// write's transaction begins until the transaction has committed, so that the
/// Patients and their links commit together. (Taken first, before any row of the
/// database: the linking step writes golden records, and on SQLite it needs the one
/// writer connection, so the order "MPI, then the database" is the same everywhere.)
pub struct WriteLink {
    state: tokio::sync::OwnedMutexGuard<IndexState>,
    mpi: Arc<Mpi>,
    /// The link changes written into the transaction, for the cache once it committed.
    pending: Option<linking::Committed>,
    /// The index slot each linked Patient had before, to put back if the write fails.
    undo: Vec<(String, Option<u32>)>,
}

/// Before a write's transaction begins: takes the MPI of the store when the write changes
/// Patients. When the index cannot be had (it failed to load, or the lease is held by
/// another process) the write goes ahead unlinked and the error is logged: the
/// catch-up pass links those Patients once the index is back.
pub async fn begin_write(store: &dyn Store, entries: &[EntryRequest]) -> Option<WriteLink> {
    if !writes_patients(entries) {
        return None;
    }
    let mpi = for_store(store)?;
    match mpi.lock(store).await {
        Ok(state) => Some(WriteLink {
            state,
            mpi,
            pending: None,
            undo: Vec::new(),
        }),
        Err(e) => {
            tracing::error!(
                error = e.summary(),
                "MPI unavailable; the Patients of this write stay unlinked until the catch-up pass"
            );
            None
        }
    }
}

impl WriteLink {
    /// Matches the written Patients and writes their golden-record edits and link rows
    /// into `tx`, the write's own transaction. On an error nothing of the index has
    /// changed (the caller drops the transaction).
    pub async fn link(
        &mut self,
        store: &dyn Store,
        ctx: &AccessContext,
        tx: &mut dyn hutong_store::Transaction,
        written: &[&Versioned],
    ) -> Result<(), ApiError> {
        let events = events(written);
        if events.is_empty() {
            return Ok(());
        }
        let start = Instant::now();
        let n = events.len();
        self.undo = events
            .iter()
            .map(|e| {
                (
                    e.id.clone(),
                    self.state.matching.slot_of.get(e.id.as_str()).copied(),
                )
            })
            .collect();
        let IndexState {
            matching, links, ..
        } = &mut *self.state;
        let result = async {
            let batch = self
                .mpi
                .decide_all(store, ctx, matching, links, events)
                .await?;
            batch.write_into(tx).await
        }
        .await;
        match result {
            Ok(done) => {
                self.pending = Some(done);
                // The per-registration latency figure of BENCHMARKS.md is read from this event.
                tracing::debug!(
                    patients = n,
                    index = self.state.matching.slot_of.len(),
                    elapsed_us = start.elapsed().as_micros() as u64,
                    "MPI linked"
                );
                Ok(())
            }
            Err(e) => {
                self.restore();
                Err(e)
            }
        }
    }

    /// Puts back the index slots the linking step changed.
    fn restore(&mut self) {
        for (id, slot) in std::mem::take(&mut self.undo) {
            match slot {
                Some(s) => self.state.matching.slot_of.insert(id.into(), s),
                None => self.state.matching.slot_of.remove(id.as_str()),
            };
        }
    }

    /// After the write's commit: the link cache learns what it wrote. A failed commit
    /// may or may not have reached the database, so the index is rebuilt from the store
    /// before the next linking step.
    pub fn finish(mut self, committed: bool) {
        let Some(done) = self.pending.take() else {
            return;
        };
        if committed {
            self.state.links.apply(done);
        } else {
            tracing::error!(
                "a write with MPI links failed to commit; the MPI index is rebuilt from the store"
            );
            self.state.matching = Matching::default();
            self.state.loaded = false;
        }
    }
}

impl Drop for WriteLink {
    /// A write abandoned after its linking step (an error before the commit): its
    /// transaction is rolled back, so the index forgets what the step put in.
    fn drop(&mut self) {
        if self.pending.take().is_some() {
            self.restore();
        }
    }
}

fn events(written: &[&Versioned]) -> Vec<PatientEvent> {
    written
        .iter()
        .filter(|v| v.resource_type == "Patient")
        .map(|v| PatientEvent {
            id: v.id.clone(),
            json: if v.deleted {
                None
            } else {
                serde_json::from_slice(&v.json).ok()
            },
        })
        .collect()
}
