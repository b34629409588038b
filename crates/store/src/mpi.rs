//! Link state of the master patient index (主索引): which golden record (a FHIR
//! `Person`) each Patient belongs to, the append-only log of every link change, the
//! pairs a human said are different people, and the review queue.
//!
//! The store keeps these rows and nothing else: deciding links is the server's (with
//! `hutong-mpi`). No row holds a citizen ID number (身份证号) in clear: the only
//! identity-number column, [`MpiLink::id_hash`], is a keyed hash computed by the caller.

use time::OffsetDateTime;

/// How a Patient came to be linked to its Person.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkKind {
    /// Equal valid citizen ID numbers (deterministic rule).
    Deterministic,
    /// Fellegi–Sunter probability at or above the auto-link threshold.
    Probabilistic,
    /// No match: the Patient founded its own Person.
    NewPerson,
    /// A human linked it (`$mdm-link`, review accepted).
    Manual,
    /// The Patient was merged into another (`Patient/$merge`).
    Merged,
}

impl LinkKind {
    /// Stable code used in the database.
    pub fn code(self) -> &'static str {
        match self {
            LinkKind::Deterministic => "deterministic",
            LinkKind::Probabilistic => "probabilistic",
            LinkKind::NewPerson => "new-person",
            LinkKind::Manual => "manual",
            LinkKind::Merged => "merged",
        }
    }

    /// Parses the database code.
    pub fn from_code(s: &str) -> Option<LinkKind> {
        Some(match s {
            "deterministic" => LinkKind::Deterministic,
            "probabilistic" => LinkKind::Probabilistic,
            "new-person" => LinkKind::NewPerson,
            "manual" => LinkKind::Manual,
            "merged" => LinkKind::Merged,
            _ => return None,
        })
    }

    /// True when a human decided the link: automatic matching never changes it.
    pub fn is_manual(self) -> bool {
        matches!(self, LinkKind::Manual | LinkKind::Merged)
    }
}

/// The current link of one Patient.
#[derive(Debug, Clone, PartialEq)]
pub struct MpiLink {
    /// Patient id.
    pub patient_id: String,
    /// Person (golden record) id.
    pub person_id: String,
    /// How the link was decided.
    pub kind: LinkKind,
    /// Match probability of the decision, when a score decided it.
    pub score: Option<f64>,
    /// Keyed hash (hex HMAC-SHA256) of the Patient's valid citizen ID number, if any.
    pub id_hash: Option<String>,
    /// When the link was written (set by the store on write).
    pub linked_at: OffsetDateTime,
}

/// What a link-log entry records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MpiAction {
    /// Linked automatically to an existing Person.
    AutoLink,
    /// A new Person was created for the Patient.
    NewPerson,
    /// Linked by a human.
    ManualLink,
    /// Unlinked by a human (or because the Patient was deleted).
    Unlink,
    /// Merged into another Patient.
    Merge,
    /// A candidate pair was queued for review.
    ReviewQueued,
    /// A reviewer accepted a candidate pair (linked).
    ReviewAccept,
    /// A reviewer rejected a candidate pair (never linked automatically).
    ReviewReject,
}

impl MpiAction {
    /// Stable code used in the database and in `$mdm-history`.
    pub fn code(self) -> &'static str {
        match self {
            MpiAction::AutoLink => "auto-link",
            MpiAction::NewPerson => "new-person",
            MpiAction::ManualLink => "manual-link",
            MpiAction::Unlink => "unlink",
            MpiAction::Merge => "merge",
            MpiAction::ReviewQueued => "review-queued",
            MpiAction::ReviewAccept => "review-accept",
            MpiAction::ReviewReject => "review-reject",
        }
    }

    /// Parses the database code.
    pub fn from_code(s: &str) -> Option<MpiAction> {
        Some(match s {
            "auto-link" => MpiAction::AutoLink,
            "new-person" => MpiAction::NewPerson,
            "manual-link" => MpiAction::ManualLink,
            "unlink" => MpiAction::Unlink,
            "merge" => MpiAction::Merge,
            "review-queued" => MpiAction::ReviewQueued,
            "review-accept" => MpiAction::ReviewAccept,
            "review-reject" => MpiAction::ReviewReject,
            _ => return None,
        })
    }
}

/// One entry of the append-only link-change log.
#[derive(Debug, Clone, PartialEq)]
pub struct MpiLogEntry {
    /// Position in the log (assigned by the store; ignored on write).
    pub seq: i64,
    /// When (assigned by the store: the transaction instant; ignored on write).
    pub at: OffsetDateTime,
    /// Who: the access context's principal.
    pub actor: String,
    /// Request id of the change, when it came from a request.
    pub request_id: Option<String>,
    /// What happened.
    pub action: MpiAction,
    /// The Patient concerned.
    pub patient_id: String,
    /// The Person it is linked to after the change (`None` when unlinked).
    pub person_id: Option<String>,
    /// The Person it was linked to before, when that changed.
    pub previous_person_id: Option<String>,
    /// The other Patient of a pair (candidate, merge target …).
    pub other_patient_id: Option<String>,
    /// Why, in words.
    pub reason: String,
    /// Scores and per-field weights (JSON); never an ID number.
    pub detail: serde_json::Value,
}

/// State of a review-queue item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReviewStatus {
    Open,
    Accepted,
    Rejected,
}

impl ReviewStatus {
    /// Stable code used in the database.
    pub fn code(self) -> &'static str {
        match self {
            ReviewStatus::Open => "open",
            ReviewStatus::Accepted => "accepted",
            ReviewStatus::Rejected => "rejected",
        }
    }

    /// Parses the database code.
    pub fn from_code(s: &str) -> Option<ReviewStatus> {
        Some(match s {
            "open" => ReviewStatus::Open,
            "accepted" => ReviewStatus::Accepted,
            "rejected" => ReviewStatus::Rejected,
            _ => return None,
        })
    }
}

/// A pair scored between the review and auto-link thresholds.
#[derive(Debug, Clone, PartialEq)]
pub struct MpiReview {
    /// Item id (assigned by the store).
    pub id: i64,
    /// The Patient whose registration produced the pair.
    pub patient_id: String,
    /// The candidate Patient.
    pub candidate_id: String,
    /// Match probability.
    pub score: f64,
    /// Rule and per-field weights (JSON).
    pub explanation: serde_json::Value,
    pub status: ReviewStatus,
    pub created: OffsetDateTime,
    pub decided: Option<OffsetDateTime>,
    pub decided_by: Option<String>,
    pub reason: Option<String>,
}

/// One change to the link state, applied inside a write [`crate::Transaction`] with
/// [`crate::Transaction::mpi_apply`] (so the Person resources and the link rows commit
/// together).
#[derive(Debug, Clone, PartialEq)]
pub enum MpiChange {
    /// Sets (inserts or replaces) the current link of a Patient.
    SetLink(MpiLink),
    /// Removes the current link of a Patient (deleted Patient).
    RemoveLink { patient_id: String },
    /// Appends to the link-change log.
    Log(MpiLogEntry),
    /// Remembers that two records (`Patient/x`, `Person/y`) must never be linked
    /// automatically. Order does not matter.
    NoLink {
        left: String,
        right: String,
        actor: String,
        reason: String,
    },
    /// Queues a candidate pair for review (ignored when an open item for the same pair,
    /// in either order, exists).
    QueueReview {
        patient_id: String,
        candidate_id: String,
        score: f64,
        explanation: serde_json::Value,
    },
    /// Closes a review item.
    DecideReview {
        id: i64,
        status: ReviewStatus,
        actor: String,
        reason: String,
    },
}

/// Which links to list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkQuery {
    /// The links of these Patients (absent ones are simply not returned).
    Patients(Vec<String>),
    /// Every Patient linked to this Person.
    Person(String),
    /// Every Patient whose citizen ID number has this keyed hash.
    IdHash(String),
    /// Links in Patient-id order, after `patient` (`""`: from the first), at most `limit`:
    /// paging through the whole link table (the MPI's in-memory copy).
    After { patient: String, limit: usize },
}

/// Which log entries to list (oldest first).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LogQuery {
    /// Entries whose Person (after or before the change) is this one.
    pub person: Option<String>,
    /// Entries about this Patient (as the subject or the other of a pair).
    pub patient: Option<String>,
    /// At most this many (the oldest).
    pub limit: usize,
}

/// Which review items to list (oldest first).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ReviewQuery {
    /// One item.
    pub id: Option<i64>,
    /// Only items in this state.
    pub status: Option<ReviewStatus>,
    /// Only items with this Patient on either side.
    pub patient: Option<String>,
    /// At most this many.
    pub limit: usize,
}

/// Unordered pair key of the no-link table: the smaller reference first.
pub(crate) fn ordered_pair<'a>(a: &'a str, b: &'a str) -> (&'a str, &'a str) {
    if a <= b {
        (a, b)
    } else {
        (b, a)
    }
}

/// The `IN (…)` list of a links-by-patient query is bounded, so a Bundle with many
/// Patients is read in chunks.
pub(crate) const LINK_QUERY_CHUNK: usize = 500;

/// Builds a link from its stored columns (both backends).
pub(crate) fn link_from_row(
    patient_id: String,
    person_id: String,
    kind: &str,
    score: Option<f64>,
    id_hash: Option<String>,
    linked_at: i64,
) -> crate::Result<MpiLink> {
    Ok(MpiLink {
        patient_id,
        person_id,
        kind: LinkKind::from_code(kind)
            .ok_or_else(|| crate::StoreError::Corrupt(format!("unknown link kind {kind:?}")))?,
        score,
        id_hash,
        linked_at: crate::stamp::from_micros(linked_at)?,
    })
}

/// The stored columns of a log entry, in the order of [`LOG_COLUMNS`].
pub(crate) struct LogRow {
    pub seq: i64,
    pub at: i64,
    pub actor: String,
    pub request_id: Option<String>,
    pub action: String,
    pub patient_id: String,
    pub person_id: Option<String>,
    pub previous_person_id: Option<String>,
    pub other_patient_id: Option<String>,
    pub reason: String,
    pub detail: String,
}

/// Columns of `mpi_link_log` as read by both backends.
pub(crate) const LOG_COLUMNS: &str = "seq, at, actor, request_id, action, patient_id, person_id, \
     previous_person_id, other_patient_id, reason, detail";

impl LogRow {
    pub(crate) fn into_entry(self) -> crate::Result<MpiLogEntry> {
        Ok(MpiLogEntry {
            seq: self.seq,
            at: crate::stamp::from_micros(self.at)?,
            actor: self.actor,
            request_id: self.request_id,
            action: MpiAction::from_code(&self.action).ok_or_else(|| {
                crate::StoreError::Corrupt(format!("unknown link action {:?}", self.action))
            })?,
            patient_id: self.patient_id,
            person_id: self.person_id,
            previous_person_id: self.previous_person_id,
            other_patient_id: self.other_patient_id,
            reason: self.reason,
            detail: serde_json::from_str(&self.detail)
                .map_err(|e| crate::StoreError::Corrupt(format!("link log detail: {e}")))?,
        })
    }
}

/// The stored columns of a review item, in the order of [`REVIEW_COLUMNS`].
pub(crate) struct ReviewRow {
    pub id: i64,
    pub patient_id: String,
    pub candidate_id: String,
    pub score: f64,
    pub explanation: String,
    pub status: String,
    pub created: i64,
    pub decided: Option<i64>,
    pub decided_by: Option<String>,
    pub reason: Option<String>,
}

/// Columns of `mpi_review` as read by both backends.
pub(crate) const REVIEW_COLUMNS: &str =
    "id, patient_id, candidate_id, score, explanation, status, created, decided, decided_by, reason";

impl ReviewRow {
    pub(crate) fn into_review(self) -> crate::Result<MpiReview> {
        Ok(MpiReview {
            id: self.id,
            patient_id: self.patient_id,
            candidate_id: self.candidate_id,
            score: self.score,
            explanation: serde_json::from_str(&self.explanation)
                .map_err(|e| crate::StoreError::Corrupt(format!("review explanation: {e}")))?,
            status: ReviewStatus::from_code(&self.status).ok_or_else(|| {
                crate::StoreError::Corrupt(format!("unknown review status {:?}", self.status))
            })?,
            created: crate::stamp::from_micros(self.created)?,
            decided: self.decided.map(crate::stamp::from_micros).transpose()?,
            decided_by: self.decided_by,
            reason: self.reason,
        })
    }
}

/// SQL shared by both backends, with `$n` placeholders (SQLite reads `$n` as named
/// parameters numbered by first appearance, so each text uses them in order).
/// A parameter of a filtered MPI listing.
pub(crate) enum Param<'a> {
    Text(&'a str),
    Int(i64),
}

/// A filtered listing: SQL with PostgreSQL `$n` placeholders (SQLite accepts them as
/// `?n`) and its parameters in order. Each filter is `(condition, value)`, where the
/// condition names its placeholder `$n` (it may use it more than once).
fn listing<'a>(
    columns: &str,
    table: &str,
    order: &str,
    filters: Vec<(&str, Param<'a>)>,
    limit: usize,
) -> (String, Vec<Param<'a>>) {
    let mut conditions = Vec::new();
    let mut params = Vec::new();
    for (condition, value) in filters {
        params.push(value);
        conditions.push(condition.replace("$n", &format!("${}", params.len())));
    }
    let filter = if conditions.is_empty() {
        String::new()
    } else {
        format!("WHERE {}", conditions.join(" AND "))
    };
    params.push(Param::Int(i64::try_from(limit).unwrap_or(i64::MAX)));
    let text = format!(
        "SELECT {columns} FROM {table} {filter} ORDER BY {order} LIMIT ${}",
        params.len()
    );
    (text, params)
}

/// The link-log listing of `query`, oldest first.
pub(crate) fn log_listing(query: &LogQuery) -> (String, Vec<Param<'_>>) {
    let mut filters = Vec::new();
    if let Some(person) = &query.person {
        filters.push((
            "(person_id = $n OR previous_person_id = $n)",
            Param::Text(person),
        ));
    }
    if let Some(patient) = &query.patient {
        filters.push((
            "(patient_id = $n OR other_patient_id = $n)",
            Param::Text(patient),
        ));
    }
    listing(LOG_COLUMNS, "mpi_link_log", "seq", filters, query.limit)
}

/// The review-queue listing of `query`, oldest first.
pub(crate) fn review_listing(query: &ReviewQuery) -> (String, Vec<Param<'_>>) {
    let mut filters = Vec::new();
    if let Some(id) = query.id {
        filters.push(("id = $n", Param::Int(id)));
    }
    if let Some(status) = query.status {
        filters.push(("status = $n", Param::Text(status.code())));
    }
    if let Some(patient) = &query.patient {
        filters.push((
            "(patient_id = $n OR candidate_id = $n)",
            Param::Text(patient),
        ));
    }
    listing(REVIEW_COLUMNS, "mpi_review", "id", filters, query.limit)
}

pub(crate) mod sql {
    pub const SET_LINK: &str =
        "INSERT INTO mpi_link (patient_id, person_id, kind, score, id_hash, linked_at) \
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (patient_id) DO UPDATE SET \
         person_id = excluded.person_id, kind = excluded.kind, score = excluded.score, \
         id_hash = excluded.id_hash, linked_at = excluded.linked_at";
    pub const REMOVE_LINK: &str = "DELETE FROM mpi_link WHERE patient_id = $1";
    pub const LOG: &str = "INSERT INTO mpi_link_log (at, actor, request_id, action, patient_id, \
         person_id, previous_person_id, other_patient_id, reason, detail) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)";
    pub const NO_LINK: &str = "INSERT INTO mpi_no_link (left_ref, right_ref, actor, reason, at) \
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (left_ref, right_ref) DO NOTHING";
    pub const QUEUE_REVIEW: &str = "INSERT INTO mpi_review (patient_id, candidate_id, score, \
         explanation, status, created) SELECT $1, $2, $3, $4, 'open', $5 WHERE NOT EXISTS \
         (SELECT 1 FROM mpi_review WHERE status = 'open' AND ((patient_id = $1 AND candidate_id = $2) \
         OR (patient_id = $2 AND candidate_id = $1)))";
    pub const DECIDE_REVIEW: &str =
        "UPDATE mpi_review SET status = $1, decided_by = $2, reason = $3, \
         decided = $4 WHERE id = $5";
    pub const LINKS_OF_PERSON: &str =
        "SELECT patient_id, person_id, kind, score, id_hash, linked_at \
         FROM mpi_link WHERE person_id = $1 ORDER BY patient_id";
    pub const LINKS_OF_HASH: &str =
        "SELECT patient_id, person_id, kind, score, id_hash, linked_at \
         FROM mpi_link WHERE id_hash = $1 ORDER BY patient_id";
    pub const UNLINKED: &str = "SELECT r.id FROM resource r WHERE r.resource_type = 'Patient' \
         AND NOT r.deleted AND NOT EXISTS (SELECT 1 FROM mpi_link l WHERE l.patient_id = r.id) \
         ORDER BY r.seq LIMIT $1";
    pub const LINKS_AFTER: &str = "SELECT patient_id, person_id, kind, score, id_hash, linked_at \
         FROM mpi_link WHERE patient_id > $1 ORDER BY patient_id LIMIT $2";
    pub const NO_LINK_PAIRS: &str =
        "SELECT left_ref, right_ref FROM mpi_no_link ORDER BY left_ref, right_ref";
}
