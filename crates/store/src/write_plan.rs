//! Turning the pending writes of one `apply` call into new versions.
//!
//! Both backends do the same three steps: fetch the current version of every resource
//! the call touches (one batched, locked lookup), [`plan`] the new versions in memory,
//! then write the plan in as few statements as the backend allows. Planning checks every
//! precondition before anything is written, so a failed `if_match` or create-of-existing
//! leaves the transaction exactly as it was before the call.

use std::collections::HashMap;

use bytes::Bytes;
use time::OffsetDateTime;

use crate::stamp::{fhir_instant, stamp, to_micros};
use crate::{PendingWrite, Result, StoreError, Versioned, WriteKind};

/// `(resource_type, id)`.
pub(crate) type Key = (String, String);

/// What the database holds as the current version of a resource.
#[derive(Debug, Clone)]
pub(crate) struct Current {
    pub version: u64,
    pub deleted: bool,
    pub patient_key: Option<String>,
}

/// One version to write.
#[derive(Debug, Clone)]
pub(crate) struct NewVersion {
    pub resource_type: String,
    pub id: String,
    pub version: u64,
    pub kind: WriteKind,
    pub deleted: bool,
    pub json: Bytes,
    pub patient_key: Option<String>,
    /// `(system, value)`, system `""` when absent; only for the version that stays current.
    pub identifiers: Vec<(String, String)>,
    /// Search index rows (R4 search parameters); only for the version that stays current.
    pub index: hutong_search::IndexRows,
    pub last_updated: OffsetDateTime,
    /// Assigned by the backend just before writing.
    pub seq: i64,
    /// A later write of the same call supersedes this version: it goes straight to
    /// history and never becomes the current row.
    pub superseded: bool,
}

impl NewVersion {
    /// The index rows of a stored current version, for rebuilding its search index
    /// (only the fields the index writers read are meaningful).
    pub fn for_reindex(
        resource_type: String,
        id: String,
        patient_key: Option<String>,
        json: &[u8],
    ) -> Result<Self> {
        let resource: serde_json::Value = serde_json::from_slice(json)
            .map_err(|e| StoreError::Corrupt(format!("{resource_type}/{id}: {e}")))?;
        Ok(NewVersion {
            index: hutong_search::extract(&resource),
            resource_type,
            id,
            version: 0,
            kind: WriteKind::Update,
            deleted: false,
            json: Bytes::new(),
            patient_key,
            identifiers: Vec::new(),
            last_updated: OffsetDateTime::UNIX_EPOCH,
            seq: 0,
            superseded: false,
        })
    }

    /// `last_updated` as stored.
    pub fn last_updated_micros(&self) -> i64 {
        to_micros(self.last_updated)
    }

    fn to_versioned(&self) -> Versioned {
        Versioned {
            resource_type: self.resource_type.clone(),
            id: self.id.clone(),
            version: self.version,
            last_updated: self.last_updated,
            deleted: self.deleted,
            kind: self.kind,
            json: self.json.clone(),
            seq: self.seq,
        }
    }
}

/// The new versions of one `apply` call.
#[derive(Debug, Default)]
pub(crate) struct Plan {
    /// In write order (which is also `seq` order).
    pub versions: Vec<NewVersion>,
    /// Per write: the index into `versions`, or `None` for a delete that wrote nothing.
    slots: Vec<Option<usize>>,
    /// Resources whose current database row this call supersedes: that row moves to
    /// history and their identifier rows are replaced.
    pub moved: Vec<Key>,
}

impl Plan {
    /// Gives the versions their global sequence numbers, in order.
    pub fn assign_seqs(&mut self, seqs: impl IntoIterator<Item = i64>) -> Result<()> {
        let mut seqs = seqs.into_iter();
        for v in &mut self.versions {
            v.seq = seqs
                .next()
                .ok_or_else(|| StoreError::Database("sequence returned too few values".into()))?;
        }
        Ok(())
    }

    /// The per-write results `apply` returns.
    pub fn results(&self) -> Vec<Option<Versioned>> {
        self.slots
            .iter()
            .map(|slot| slot.map(|i| self.versions[i].to_versioned()))
            .collect()
    }

    /// The versions that become the current row of their resource.
    pub fn current_rows(&self) -> impl Iterator<Item = &NewVersion> {
        self.versions.iter().filter(|v| !v.superseded)
    }

    /// The versions written straight to history.
    pub fn history_rows(&self) -> impl Iterator<Item = &NewVersion> {
        self.versions.iter().filter(|v| v.superseded)
    }
}

/// The distinct resources a call touches, in first-seen order (the lookup batch).
pub(crate) fn keys(writes: &[PendingWrite]) -> Vec<Key> {
    let mut seen = std::collections::HashSet::new();
    writes
        .iter()
        .map(|w| (w.resource_type.clone(), w.id.clone()))
        .filter(|k| seen.insert(k.clone()))
        .collect()
}

/// Checks every precondition and computes the new versions, writing nothing.
///
/// `db` holds the current version of each touched resource that exists. Writes to the
/// same resource in one call get consecutive versions.
pub(crate) fn plan(
    writes: Vec<PendingWrite>,
    db: &HashMap<Key, Current>,
    at: OffsetDateTime,
) -> Result<Plan> {
    let instant = fhir_instant(at);
    let mut plan = Plan::default();
    // Latest state per resource as this call has left it, and the index of the
    // version that produced it (if this call wrote one).
    let mut state: HashMap<Key, (Current, Option<usize>)> = HashMap::new();
    for (index, w) in writes.into_iter().enumerate() {
        let key = (w.resource_type.clone(), w.id.clone());
        let current = state
            .get(&key)
            .map(|(c, _)| c.clone())
            .or_else(|| db.get(&key).cloned());
        if let Some(expected) = w.if_match {
            if current.as_ref().map(|c| c.version) != Some(expected) {
                return Err(StoreError::VersionConflict {
                    index,
                    resource_type: w.resource_type,
                    id: w.id,
                    expected,
                    current: current.map(|c| c.version),
                });
            }
        }
        let live = current.as_ref().is_some_and(|c| !c.deleted);
        let version = current.as_ref().map_or(1, |c| c.version + 1);
        let new = match w.kind {
            WriteKind::Create if live => {
                return Err(StoreError::AlreadyExists {
                    index,
                    resource_type: w.resource_type,
                    id: w.id,
                })
            }
            WriteKind::Delete if !live => {
                plan.slots.push(None);
                continue;
            }
            WriteKind::Delete => NewVersion {
                resource_type: w.resource_type,
                id: w.id,
                version,
                kind: WriteKind::Delete,
                deleted: true,
                json: Bytes::new(),
                // A tombstone stays in the compartment of the version it deletes.
                patient_key: current.as_ref().and_then(|c| c.patient_key.clone()),
                identifiers: Vec::new(),
                index: hutong_search::IndexRows::default(),
                last_updated: at,
                seq: 0,
                superseded: false,
            },
            WriteKind::Create | WriteKind::Update => {
                let invalid = |reason: &str| StoreError::InvalidWrite {
                    index,
                    reason: reason.to_owned(),
                };
                let resource = w
                    .resource
                    .ok_or_else(|| invalid("create/update without a resource"))?;
                if resource.get("resourceType").and_then(|v| v.as_str())
                    != Some(w.resource_type.as_str())
                {
                    return Err(invalid("resourceType does not match the write"));
                }
                if resource.get("id").and_then(|v| v.as_str()) != Some(w.id.as_str()) {
                    return Err(invalid("id does not match the write"));
                }
                let patient_key = hutong_fhir::compartment::patient_key(&resource);
                let identifiers = hutong_fhir::identifier::identifiers(&resource)
                    .into_iter()
                    .map(|(system, value)| (system.unwrap_or_default(), value))
                    .collect();
                // CPU work under the write lock; measured by the synthea import test.
                let index_rows = hutong_search::extract(&resource);
                let json = stamp(resource, version, &instant).map_err(|e| invalid(&e))?;
                NewVersion {
                    resource_type: w.resource_type,
                    id: w.id,
                    version,
                    kind: w.kind,
                    deleted: false,
                    json: Bytes::from(json),
                    patient_key,
                    identifiers,
                    index: index_rows,
                    last_updated: at,
                    seq: 0,
                    superseded: false,
                }
            }
        };
        match state.get(&key) {
            Some((_, Some(previous))) => plan.versions[*previous].superseded = true,
            _ => {
                if db.contains_key(&key) {
                    plan.moved.push(key.clone());
                }
            }
        }
        let slot = plan.versions.len();
        let next = Current {
            version: new.version,
            deleted: new.deleted,
            patient_key: new.patient_key.clone(),
        };
        plan.versions.push(new);
        plan.slots.push(Some(slot));
        state.insert(key, (next, Some(slot)));
    }
    Ok(plan)
}
