//! Link decisions made by a human: link, unlink, merge, review accept/reject. Each is
//! one transaction (golden records + link rows + log), taken under the index lock so
//! it never interleaves with automatic linking.
use super::linking::LinkBatch;
use super::{registration, Mpi};
use crate::error::ApiError;
use axum::http::StatusCode;
use hutong_fhir::IssueType;
use hutong_store::{
    AccessContext, LinkKind, MpiAction, MpiChange, ReviewQuery, ReviewStatus, Store,
};
use serde_json::{json, Value};

/// The stored, live resource `rt/id`, parsed; 404/410 otherwise.
pub(super) async fn live(
    store: &dyn Store,
    ctx: &AccessContext,
    rt: &str,
    id: &str,
) -> Result<Value, ApiError> {
    match store.read(ctx, rt, id).await? {
        None => Err(ApiError::not_found(format!("{rt}/{id} does not exist"))),
        Some(v) if v.deleted => Err(ApiError::gone(format!("{rt}/{id} is deleted"))),
        Some(v) => serde_json::from_slice(&v.json)
            .map_err(|e| ApiError::internal(format!("stored {rt}/{id} is not JSON: {e}"))),
    }
}

fn conflict(msg: String) -> ApiError {
    ApiError::new(StatusCode::CONFLICT, IssueType::Conflict, msg)
}

impl Mpi {
    fn citizen_hash(&self, patient: &Value) -> Option<String> {
        registration::citizen_id(patient).map(|c| self.hash_citizen_id(&c))
    }

    /// Links a Patient to a golden record by hand (`assurance` level4); automatic
    /// matching never changes the link afterwards.
    pub async fn link_manually(
        &self,
        store: &dyn Store,
        ctx: &AccessContext,
        patient: &str,
        person: &str,
        reason: &str,
    ) -> Result<(), ApiError> {
        let json = live(store, ctx, "Patient", patient).await?;
        live(store, ctx, "Person", person).await?;
        let mut state = self.lock(store).await?;
        let mut batch = LinkBatch::new(store, ctx, &state.links);
        let hash = self.citizen_hash(&json);
        let (person, prev) = batch
            .move_patient(
                patient,
                Some(&json),
                Some(person),
                LinkKind::Manual,
                None,
                hash,
            )
            .await?;
        batch.log(
            MpiAction::ManualLink,
            patient,
            Some(&person),
            prev.as_deref(),
            None,
            reason,
            json!({}),
        );
        let committed = batch.commit().await;
        state.settle(committed)?;
        Ok(())
    }

    /// Unlinks a Patient from its golden record: it gets a golden record of its own, and
    /// the pair (and the Patient with each other record of that Person) is remembered
    /// so that automatic matching never links them again. Returns the new Person id.
    pub async fn unlink(
        &self,
        store: &dyn Store,
        ctx: &AccessContext,
        patient: &str,
        person: &str,
        reason: &str,
    ) -> Result<String, ApiError> {
        let json = live(store, ctx, "Patient", patient).await?;
        let mut state = self.lock(store).await?;
        let mut batch = LinkBatch::new(store, ctx, &state.links);
        let current = batch.link_of(patient).await?;
        if current.as_ref().map(|l| l.person_id.as_str()) != Some(person) {
            return Err(conflict(format!(
                "Patient/{patient} is not linked to Person/{person}"
            )));
        }
        let others: Vec<String> = batch
            .members(person)
            .await?
            .into_iter()
            .filter(|m| m != patient)
            .collect();
        let me = format!("Patient/{patient}");
        for right in std::iter::once(format!("Person/{person}"))
            .chain(others.iter().map(|o| format!("Patient/{o}")))
        {
            batch.change(MpiChange::NoLink {
                left: me.clone(),
                right,
                actor: ctx.subject.clone(),
                reason: reason.to_owned(),
            });
        }
        let hash = self.citizen_hash(&json);
        let (new_person, _) = batch
            .move_patient(patient, Some(&json), None, LinkKind::NewPerson, None, hash)
            .await?;
        batch.log(
            MpiAction::Unlink,
            patient,
            Some(&new_person),
            Some(person),
            None,
            reason,
            json!({ "never_link_with": others }),
        );
        let committed = batch.commit().await;
        state.settle(committed)?;
        Ok(new_person)
    }

    /// Combines the golden records after `Patient/$merge` wrote the Patients: the source
    /// (and every other record of its golden record) joins the target's golden record;
    /// the emptied one is deactivated and points at the survivor. Returns the Person.
    pub async fn merge(
        &self,
        store: &dyn Store,
        ctx: &AccessContext,
        source: &str,
        target: &str,
        reason: &str,
    ) -> Result<String, ApiError> {
        let source_json = live(store, ctx, "Patient", source).await?;
        let target_json = live(store, ctx, "Patient", target).await?;
        let mut state = self.lock(store).await?;
        let mut batch = LinkBatch::new(store, ctx, &state.links);
        let target_person = match batch.link_of(target).await? {
            Some(l) => l.person_id,
            None => {
                let hash = self.citizen_hash(&target_json);
                batch
                    .move_patient(
                        target,
                        Some(&target_json),
                        None,
                        LinkKind::NewPerson,
                        None,
                        hash,
                    )
                    .await?
                    .0
            }
        };
        let source_person = batch.link_of(source).await?.map(|l| l.person_id);
        let mut moved = vec![source.to_owned()];
        if let Some(sp) = source_person.as_deref().filter(|sp| *sp != target_person) {
            moved.extend(batch.members(sp).await?.into_iter().filter(|m| m != source));
        }
        for m in &moved {
            let json = if m == source {
                source_json.clone()
            } else {
                live(store, ctx, "Patient", m).await?
            };
            let hash = self.citizen_hash(&json);
            let kind = if m == source {
                LinkKind::Merged
            } else {
                LinkKind::Manual
            };
            let (_, prev) = batch
                .move_patient(m, Some(&json), Some(&target_person), kind, None, hash)
                .await?;
            batch.log(
                MpiAction::Merge,
                m,
                Some(&target_person),
                prev.as_deref(),
                Some(target),
                reason,
                json!({ "source": source, "target": target }),
            );
        }
        if let Some(sp) = source_person.as_deref().filter(|sp| *sp != target_person) {
            batch.redirect_person(sp, &target_person).await?;
        }
        let committed = batch.commit().await;
        state.settle(committed)?;
        Ok(target_person)
    }

    /// Accepts (links the pair, by hand) or rejects (never links it automatically) an
    /// open review item.
    pub async fn decide_review(
        &self,
        store: &dyn Store,
        ctx: &AccessContext,
        id: i64,
        accept: bool,
        reason: &str,
    ) -> Result<(), ApiError> {
        let mut state = self.lock(store).await?;
        let item = store
            .mpi_reviews(
                ctx,
                &ReviewQuery {
                    id: Some(id),
                    limit: 1,
                    ..Default::default()
                },
            )
            .await?
            .into_iter()
            .next()
            .ok_or_else(|| ApiError::not_found(format!("review item {id} does not exist")))?;
        // Read under the lock: two reviewers deciding the same item one after the other.
        if item.status != ReviewStatus::Open {
            return Err(conflict(format!(
                "review item {id} is already {}",
                item.status.code()
            )));
        }
        let patient_json = live(store, ctx, "Patient", &item.patient_id).await?;
        let mut batch = LinkBatch::new(store, ctx, &state.links);
        let detail = json!({ "review": id, "score": item.score, "explanation": item.explanation });
        if accept {
            let person = batch
                .link_of(&item.candidate_id)
                .await?
                .map(|l| l.person_id)
                .ok_or_else(|| {
                    conflict(format!(
                        "Patient/{} has no golden record to join",
                        item.candidate_id
                    ))
                })?;
            let hash = self.citizen_hash(&patient_json);
            let (person, prev) = batch
                .move_patient(
                    &item.patient_id,
                    Some(&patient_json),
                    Some(&person),
                    LinkKind::Manual,
                    Some(item.score),
                    hash,
                )
                .await?;
            batch.log(
                MpiAction::ReviewAccept,
                &item.patient_id,
                Some(&person),
                prev.as_deref(),
                Some(&item.candidate_id),
                reason,
                detail,
            );
        } else {
            batch.change(MpiChange::NoLink {
                left: format!("Patient/{}", item.patient_id),
                right: format!("Patient/{}", item.candidate_id),
                actor: ctx.subject.clone(),
                reason: reason.to_owned(),
            });
            let person = batch.link_of(&item.patient_id).await?.map(|l| l.person_id);
            batch.log(
                MpiAction::ReviewReject,
                &item.patient_id,
                person.as_deref(),
                None,
                Some(&item.candidate_id),
                reason,
                detail,
            );
        }
        batch.change(MpiChange::DecideReview {
            id,
            status: if accept {
                ReviewStatus::Accepted
            } else {
                ReviewStatus::Rejected
            },
            actor: ctx.subject.clone(),
            reason: reason.to_owned(),
        });
        let committed = batch.commit().await;
        state.settle(committed)?;
        Ok(())
    }
}
