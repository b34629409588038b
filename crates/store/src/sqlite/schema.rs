//! SQLite schema migrations: numbered, applied in order at open, each in its own
//! `BEGIN IMMEDIATE` transaction (which also keeps two processes opening the same file
//! from running one migration twice), recorded in `schema_version`.

use rusqlite::{params, Connection, OptionalExtension};

use crate::{Result, StoreError};

/// `(version, description, SQL)`, in order. Never edit a released migration: add one.
const MIGRATIONS: &[(i64, &str, &str)] = &[
    (
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
    ),
    (
        2,
        "search indexes",
        "
    -- Search indexes (R4 search.html), one table per parameter type, one row per
    -- extracted value of the current version of a resource. Every row carries the
    -- patient-compartment key (patient-scoped queries filter on the reference index;
    -- a patient_key-leading index is left for the 1M-resource benchmarks to justify,
    -- each index costs every import). Text is compared byte-wise (code point order).
    CREATE TABLE idx_string (
        resource_type TEXT NOT NULL, id TEXT NOT NULL, param TEXT NOT NULL,
        norm TEXT NOT NULL, exact TEXT NOT NULL, patient_key TEXT
    );
    CREATE INDEX idx_string_lookup ON idx_string (resource_type, param, norm);
    CREATE INDEX idx_string_resource ON idx_string (resource_type, id);

    CREATE TABLE idx_token (
        resource_type TEXT NOT NULL, id TEXT NOT NULL, param TEXT NOT NULL,
        system TEXT NOT NULL, code TEXT NOT NULL, text TEXT NOT NULL, patient_key TEXT
    );
    CREATE INDEX idx_token_code ON idx_token (resource_type, param, code, system);
    CREATE INDEX idx_token_system ON idx_token (resource_type, param, system, code);
    CREATE INDEX idx_token_resource ON idx_token (resource_type, id);

    CREATE TABLE idx_date (
        resource_type TEXT NOT NULL, id TEXT NOT NULL, param TEXT NOT NULL,
        low INTEGER NOT NULL, high INTEGER NOT NULL, patient_key TEXT
    );
    CREATE INDEX idx_date_lookup ON idx_date (resource_type, param, low, high);
    CREATE INDEX idx_date_resource ON idx_date (resource_type, id);

    CREATE TABLE idx_number (
        resource_type TEXT NOT NULL, id TEXT NOT NULL, param TEXT NOT NULL,
        value REAL NOT NULL, patient_key TEXT
    );
    CREATE INDEX idx_number_lookup ON idx_number (resource_type, param, value);
    CREATE INDEX idx_number_resource ON idx_number (resource_type, id);

    CREATE TABLE idx_quantity (
        resource_type TEXT NOT NULL, id TEXT NOT NULL, param TEXT NOT NULL,
        value REAL NOT NULL, system TEXT NOT NULL, code TEXT NOT NULL,
        unit TEXT NOT NULL, patient_key TEXT
    );
    CREATE INDEX idx_quantity_lookup ON idx_quantity (resource_type, param, code, value);
    CREATE INDEX idx_quantity_resource ON idx_quantity (resource_type, id);

    CREATE TABLE idx_reference (
        resource_type TEXT NOT NULL, id TEXT NOT NULL, param TEXT NOT NULL,
        target_type TEXT NOT NULL, target_id TEXT NOT NULL, url TEXT NOT NULL,
        identifier_system TEXT NOT NULL, identifier_value TEXT NOT NULL, patient_key TEXT
    );
    CREATE INDEX idx_reference_target ON idx_reference (target_id, target_type, resource_type, param);
    CREATE INDEX idx_reference_url ON idx_reference (url, resource_type, param) WHERE url <> '';
    CREATE INDEX idx_reference_identifier ON idx_reference (identifier_value, resource_type, param)
        WHERE identifier_value <> '';
    CREATE INDEX idx_reference_resource ON idx_reference (resource_type, id);

    CREATE TABLE idx_uri (
        resource_type TEXT NOT NULL, id TEXT NOT NULL, param TEXT NOT NULL,
        uri TEXT NOT NULL, patient_key TEXT
    );
    CREATE INDEX idx_uri_lookup ON idx_uri (resource_type, param, uri);
    CREATE INDEX idx_uri_resource ON idx_uri (resource_type, id);
    ",
    ),
];

/// The migration that created the search index tables.
pub(super) const SEARCH_INDEXES: i64 = 2;

/// Applies every migration not yet recorded; returns the versions applied now.
pub(super) fn migrate(conn: &mut Connection) -> Result<Vec<i64>> {
    let mut applied_now = Vec::new();
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
            applied_now.push(version);
        }
        tx.commit().map_err(fail)?;
    }
    Ok(applied_now)
}
