//! SQLite schema migrations: numbered, applied in order at open, each in its own
//! `BEGIN IMMEDIATE` transaction (which also keeps two processes opening the same file
//! from running one migration twice), recorded in `schema_version`.

use rusqlite::{params, Connection, OptionalExtension};

use crate::{Result, StoreError};

/// `(version, description, SQL)`, in order. Never edit a released migration: add one.
const MIGRATIONS: &[(i64, &str, &str)] = &[(
    1,
    "versioned resources, history, identifier index, write sequence",
    "
    -- Current version of every resource (including tombstones), one row per resource.
    CREATE TABLE resource (
        resource_type TEXT NOT NULL,
        id TEXT NOT NULL,
        version INTEGER NOT NULL,
        seq INTEGER NOT NULL,
        last_updated INTEGER NOT NULL, -- microseconds since the Unix epoch, UTC
        deleted INTEGER NOT NULL,
        kind TEXT NOT NULL,
        patient_key TEXT,
        json BLOB NOT NULL,
        PRIMARY KEY (resource_type, id)
    );
    CREATE INDEX resource_seq_idx ON resource (seq);
    CREATE INDEX resource_type_seq_idx ON resource (resource_type, seq);
    CREATE INDEX resource_patient_key_idx ON resource (patient_key);

    -- Superseded versions; a version moves here when a newer one is written.
    CREATE TABLE resource_history (
        resource_type TEXT NOT NULL,
        id TEXT NOT NULL,
        version INTEGER NOT NULL,
        seq INTEGER NOT NULL,
        last_updated INTEGER NOT NULL,
        deleted INTEGER NOT NULL,
        kind TEXT NOT NULL,
        patient_key TEXT,
        json BLOB NOT NULL,
        PRIMARY KEY (resource_type, id, version)
    );
    CREATE INDEX resource_history_seq_idx ON resource_history (seq);
    CREATE INDEX resource_history_type_seq_idx ON resource_history (resource_type, seq);
    CREATE INDEX resource_history_patient_key_idx ON resource_history (patient_key);

    -- Business identifiers of current, non-deleted versions (system '' when absent).
    CREATE TABLE resource_identifier (
        resource_type TEXT NOT NULL,
        id TEXT NOT NULL,
        system TEXT NOT NULL,
        value TEXT NOT NULL,
        patient_key TEXT
    );
    CREATE INDEX resource_identifier_value_idx ON resource_identifier (resource_type, value, system);
    CREATE INDEX resource_identifier_resource_idx ON resource_identifier (resource_type, id);

    -- The global write sequence; advanced only under the single writer.
    CREATE TABLE write_sequence (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
    INSERT INTO write_sequence (name, value) VALUES ('seq', 0);
    ",
)];

/// Applies every migration not yet recorded.
pub(super) fn migrate(conn: &mut Connection) -> Result<()> {
    for &(version, description, sql) in MIGRATIONS {
        let fail = |e: rusqlite::Error| {
            StoreError::Migration(format!("sqlite migration {version} ({description}): {e}"))
        };
        let tx = conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(fail)?;
        tx.execute_batch(
            "CREATE TABLE IF NOT EXISTS schema_version (
                version INTEGER PRIMARY KEY,
                description TEXT NOT NULL,
                applied_at INTEGER NOT NULL
            )",
        )
        .map_err(fail)?;
        let applied = tx
            .query_row(
                "SELECT 1 FROM schema_version WHERE version = ?1",
                [version],
                |_| Ok(()),
            )
            .optional()
            .map_err(fail)?
            .is_some();
        if !applied {
            tx.execute_batch(sql).map_err(fail)?;
            tx.execute(
                "INSERT INTO schema_version (version, description, applied_at) VALUES (?1, ?2, unixepoch())",
                params![version, description],
            )
            .map_err(fail)?;
            tracing::info!(version, description, "applied sqlite migration");
        }
        tx.commit().map_err(fail)?;
    }
    Ok(())
}
