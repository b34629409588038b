//! Decoding stored version rows into [`Versioned`], shared by both backends.
//!
//! Every value read from the database is checked here; a row that cannot be
//! represented is reported as [`StoreError::Corrupt`], never a panic.

use bytes::Bytes;

use crate::stamp::from_micros;
use crate::{Result, StoreError, Versioned, WriteKind};

/// The columns of [`crate::history::VERSION_COLUMNS`] as the drivers return them.
pub(crate) struct StoredRow {
    pub resource_type: String,
    pub id: String,
    pub version: i64,
    pub seq: i64,
    pub last_updated: i64,
    pub deleted: bool,
    pub kind: String,
    pub json: Vec<u8>,
}

impl StoredRow {
    pub(crate) fn into_versioned(self) -> Result<Versioned> {
        let version = stored_version(self.version)?;
        let kind = WriteKind::from_code(&self.kind).ok_or_else(|| {
            StoreError::Corrupt(format!(
                "{}/{}: unknown write kind {:?}",
                self.resource_type, self.id, self.kind
            ))
        })?;
        Ok(Versioned {
            last_updated: from_micros(self.last_updated)?,
            resource_type: self.resource_type,
            id: self.id,
            version,
            deleted: self.deleted,
            kind,
            json: Bytes::from(self.json),
            seq: self.seq,
        })
    }
}

/// A version number as read from the database (stored signed).
pub(crate) fn stored_version(v: i64) -> Result<u64> {
    u64::try_from(v).map_err(|_| StoreError::Corrupt(format!("negative version {v}")))
}

/// A version number as written to the database.
pub(crate) fn db_version(v: u64) -> Result<i64> {
    i64::try_from(v)
        .map_err(|_| StoreError::Database(format!("version {v} exceeds the stored range")))
}

/// A count as read from the database.
pub(crate) fn stored_count(n: i64) -> Result<u64> {
    u64::try_from(n).map_err(|_| StoreError::Corrupt(format!("negative count {n}")))
}
