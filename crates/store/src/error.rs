/// Errors of the store boundary, with variants a caller can act on.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// `if_match` did not equal the current version (HTTP 412 / 409).
    #[error("version conflict on {resource_type}/{id}: expected version {expected}, current is {current:?}")]
    VersionConflict {
        /// Position of the offending write in the `apply` call.
        index: usize,
        resource_type: String,
        id: String,
        expected: u64,
        current: Option<u64>,
    },
    /// A create named an id that already exists (HTTP 409).
    #[error("{resource_type}/{id} already exists")]
    AlreadyExists {
        /// Position of the offending write in the `apply` call.
        index: usize,
        resource_type: String,
        id: String,
    },
    /// A write was malformed (missing resource body, body not a JSON object, or
    /// `resourceType`/`id` not matching the write). A bug in the caller, not bad data
    /// from a client: callers validate before writing.
    #[error("invalid write at index {index}: {reason}")]
    InvalidWrite {
        /// Position of the offending write in the `apply` call.
        index: usize,
        reason: String,
    },
    /// The database URL could not be understood.
    #[error("invalid database url: {0}")]
    InvalidUrl(String),
    /// Schema migration failed.
    #[error("migration failed: {0}")]
    Migration(String),
    /// A stored resource could not be (de)serialised; indicates corruption or a bug.
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    /// The database itself failed (connection, I/O, constraint, lock timeout).
    #[error("database error: {0}")]
    Database(String),
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        use rusqlite::Error::*;
        match e {
            // A column that does not hold what the schema says is bad stored data.
            InvalidColumnType(..) | FromSqlConversionFailure(..) | IntegralValueOutOfRange(..) => {
                StoreError::Corrupt(e.to_string())
            }
            _ => StoreError::Database(e.to_string()),
        }
    }
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        match e {
            sqlx::Error::ColumnDecode { .. } | sqlx::Error::Decode(_) => {
                StoreError::Corrupt(e.to_string())
            }
            _ => StoreError::Database(e.to_string()),
        }
    }
}
