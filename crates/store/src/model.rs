use bytes::Bytes;
use time::OffsetDateTime;

/// One stored version of a resource.
#[derive(Debug, Clone, PartialEq)]
pub struct Versioned {
    pub resource_type: String,
    pub id: String,
    /// Version number, starting at 1, consecutive per resource.
    pub version: u64,
    /// Time the version was written (`meta.lastUpdated`).
    pub last_updated: OffsetDateTime,
    /// True when this version is a delete (tombstone); `json` is then empty.
    pub deleted: bool,
    /// What created this version: create, update or delete (history `request.method`).
    pub kind: WriteKind,
    /// The stored JSON exactly as written, with `meta.versionId` and
    /// `meta.lastUpdated` already filled in. Empty for tombstones.
    pub json: Bytes,
    /// Global, strictly increasing write sequence number; the keyset of history paging.
    pub seq: i64,
}

/// The kind of write that produced a version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteKind {
    Create,
    Update,
    Delete,
}

impl WriteKind {
    /// Stable code used in the database.
    pub fn code(self) -> &'static str {
        match self {
            WriteKind::Create => "create",
            WriteKind::Update => "update",
            WriteKind::Delete => "delete",
        }
    }

    /// Parses the database code.
    pub fn from_code(s: &str) -> Option<Self> {
        match s {
            "create" => Some(WriteKind::Create),
            "update" => Some(WriteKind::Update),
            "delete" => Some(WriteKind::Delete),
            _ => None,
        }
    }
}

/// A write to apply inside a [`crate::Transaction`].
#[derive(Debug, Clone)]
pub struct PendingWrite {
    pub kind: WriteKind,
    pub resource_type: String,
    pub id: String,
    /// The validated resource (with `resourceType` and `id` set) for create/update;
    /// `None` for delete. Its `meta.versionId`/`meta.lastUpdated` are overwritten.
    pub resource: Option<serde_json::Value>,
    /// Precondition: the current version must be exactly this (`If-Match`).
    pub if_match: Option<u64>,
}

/// Which history to list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HistoryScope {
    System,
    Type(String),
    Instance(String, String),
}

/// History filters and paging (R4 http.html#history).
#[derive(Debug, Clone)]
pub struct HistoryQuery {
    pub scope: HistoryScope,
    /// Only versions written at or after this instant (`_since`).
    pub since: Option<OffsetDateTime>,
    /// Only versions written at or before this instant (`_at`): the state at that time
    /// is the newest of them for each resource.
    pub at: Option<OffsetDateTime>,
    /// Page size.
    pub count: usize,
    /// Keyset cursor: only versions with `seq` strictly below this.
    pub before_seq: Option<i64>,
}

/// One page of history, newest first.
#[derive(Debug, Clone)]
pub struct HistoryPage {
    pub entries: Vec<Versioned>,
    /// Cursor for the next page (`before_seq`), when there are more entries.
    pub next: Option<i64>,
    /// Total number of versions matching the filters (without paging).
    pub total: u64,
}

/// Criteria understood by [`crate::Store::find`] until full search lands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdentifierQuery {
    /// `identifier=system|value` (system `None` means any system, `Some("")` no system).
    Identifier {
        system: Option<String>,
        value: String,
    },
    /// `_id=x`.
    Id(String),
}

/// One page of search results (R4 search.html#paging).
#[derive(Debug, Clone)]
pub struct SearchPage {
    /// Current versions of the matching resources, in the requested order.
    pub entries: Vec<Versioned>,
    /// Resources added by `_include` / `_revinclude` (search mode `include`).
    pub included: Vec<Versioned>,
    /// Cursor of the page after this one, when there are more matches.
    pub next: Option<hutong_search::cursor::Cursor>,
    /// Cursor of the page before this one, when this page does not start the result.
    pub previous: Option<hutong_search::cursor::Cursor>,
    /// Number of matches, when the query asked for it (`_total`, `_summary=count`).
    pub total: Option<u64>,
}
