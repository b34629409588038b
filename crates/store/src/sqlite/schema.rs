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
    (
        3,
        "composite and canonical-unit search indexes, reindex jobs",
        "
    -- Composite parameters (R4 search.html#composite): one row per combination of the
    -- component values taken from the same element. Component 1 is a token or a
    -- reference (s1 = system or target type, c1 = code or target id); component 2 is
    -- in the columns of its type: s2/c2 for token, reference, string (c2 normalised),
    -- uri and quantity units (canonical UCUM when known); n2 for number and quantity
    -- values; lo2/hi2 for dates.
    CREATE TABLE idx_composite (
        resource_type TEXT NOT NULL, id TEXT NOT NULL, param TEXT NOT NULL,
        s1 TEXT NOT NULL, c1 TEXT NOT NULL,
        s2 TEXT NOT NULL, c2 TEXT NOT NULL, n2 REAL, lo2 INTEGER, hi2 INTEGER,
        patient_key TEXT
    );
    CREATE INDEX idx_composite_lookup ON idx_composite (resource_type, param, c1, s1);
    CREATE INDEX idx_composite_resource ON idx_composite (resource_type, id);

    -- Quantities also in canonical UCUM units (ccode '' when the unit is not
    -- convertible), so 5 g/L and 500 mg/dL compare.
    ALTER TABLE idx_quantity ADD COLUMN cvalue REAL;
    ALTER TABLE idx_quantity ADD COLUMN ccode TEXT NOT NULL DEFAULT '';
    CREATE INDEX idx_quantity_canonical ON idx_quantity (resource_type, param, ccode, cvalue)
        WHERE ccode <> '';

    -- `hutong reindex` jobs: what to rebuild and how far it got, so an interrupted
    -- run resumes after the last committed batch. resource_type/params '' mean all.
    CREATE TABLE reindex_job (
        id INTEGER PRIMARY KEY,
        resource_type TEXT NOT NULL,
        params TEXT NOT NULL,
        after_type TEXT NOT NULL DEFAULT '',
        after_id TEXT NOT NULL DEFAULT '',
        done INTEGER NOT NULL DEFAULT 0,
        started INTEGER NOT NULL,
        updated INTEGER NOT NULL,
        finished INTEGER
    );
    ",
    ),
    (
        5,
        "search lookups for 1M resources",
        "
    -- Found by the search benchmark at 1M resources (BENCHMARKS.md, section Search at
    -- 1M resources). Per-resource lookups carry the parameter: every filter after the
    -- first is a correlated EXISTS on (resource_type, id, param), as are sort keys; with
    -- (resource_type, id) alone SQLite may prefer a range on the lookup index and scan
    -- all of a type's values once per candidate row.
    DROP INDEX idx_string_resource;
    CREATE INDEX idx_string_resource ON idx_string (resource_type, id, param);
    DROP INDEX idx_token_resource;
    CREATE INDEX idx_token_resource ON idx_token (resource_type, id, param);
    DROP INDEX idx_date_resource;
    CREATE INDEX idx_date_resource ON idx_date (resource_type, id, param);
    DROP INDEX idx_number_resource;
    CREATE INDEX idx_number_resource ON idx_number (resource_type, id, param);
    DROP INDEX idx_quantity_resource;
    CREATE INDEX idx_quantity_resource ON idx_quantity (resource_type, id, param);
    DROP INDEX idx_reference_resource;
    CREATE INDEX idx_reference_resource ON idx_reference (resource_type, id, param);
    DROP INDEX idx_uri_resource;
    CREATE INDEX idx_uri_resource ON idx_uri (resource_type, id, param);

    -- Equality lookups end with the id: answered from the index alone, and the ids of
    -- one code (or one patient's references) come out in id order, the order of a
    -- page, so a page of a common code stops after its rows instead of sorting all.
    -- References lead with the target id, source type and parameter, all known for
    -- `patient=ID` (no target type): with only the target id leading, SQLite found
    -- (resource_type, id) as good and scanned every Observation reference.
    DROP INDEX idx_token_code;
    CREATE INDEX idx_token_code ON idx_token (resource_type, param, code, system, id);
    DROP INDEX idx_token_system;
    CREATE INDEX idx_token_system ON idx_token (resource_type, param, system, code, id);
    DROP INDEX idx_reference_target;
    CREATE INDEX idx_reference_target ON idx_reference (target_id, resource_type, param, target_type, id);
    DROP INDEX idx_string_lookup;
    CREATE INDEX idx_string_lookup ON idx_string (resource_type, param, norm, id);

    -- Whether a matched id is a live resource, without reading the resource row.
    CREATE INDEX resource_live_idx ON resource (resource_type, id, deleted);
    ",
    ),
    (
        6,
        "master patient index: links, link log, no-link pairs, review queue",
        "
    -- Current link of every Patient to its golden record (a Person resource). id_hash is
    -- the keyed hash (HMAC-SHA256, hex) of a valid citizen ID number: never the number.
    CREATE TABLE mpi_link (
        patient_id TEXT PRIMARY KEY,
        person_id TEXT NOT NULL,
        kind TEXT NOT NULL,
        score REAL,
        id_hash TEXT,
        linked_at INTEGER NOT NULL
    );
    CREATE INDEX mpi_link_person ON mpi_link (person_id);
    CREATE INDEX mpi_link_id_hash ON mpi_link (id_hash) WHERE id_hash IS NOT NULL;

    -- Append-only log of every link change: who, when, what, why, which scores.
    CREATE TABLE mpi_link_log (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        at INTEGER NOT NULL,
        actor TEXT NOT NULL,
        request_id TEXT,
        action TEXT NOT NULL,
        patient_id TEXT NOT NULL,
        person_id TEXT,
        previous_person_id TEXT,
        other_patient_id TEXT,
        reason TEXT NOT NULL,
        detail TEXT NOT NULL
    );
    CREATE INDEX mpi_link_log_person ON mpi_link_log (person_id, seq);
    CREATE INDEX mpi_link_log_previous ON mpi_link_log (previous_person_id, seq)
        WHERE previous_person_id IS NOT NULL;
    CREATE INDEX mpi_link_log_patient ON mpi_link_log (patient_id, seq);

    -- Pairs a human said are different (unlink, review reject): `Patient/x` or
    -- `Person/y`, smaller first. Automatic matching never links them again.
    CREATE TABLE mpi_no_link (
        left_ref TEXT NOT NULL,
        right_ref TEXT NOT NULL,
        actor TEXT NOT NULL,
        reason TEXT NOT NULL,
        at INTEGER NOT NULL,
        PRIMARY KEY (left_ref, right_ref)
    );
    CREATE INDEX mpi_no_link_right ON mpi_no_link (right_ref);

    -- Candidate pairs between the review and auto-link thresholds.
    CREATE TABLE mpi_review (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        patient_id TEXT NOT NULL,
        candidate_id TEXT NOT NULL,
        score REAL NOT NULL,
        explanation TEXT NOT NULL,
        status TEXT NOT NULL,
        created INTEGER NOT NULL,
        decided INTEGER,
        decided_by TEXT,
        reason TEXT
    );
    CREATE INDEX mpi_review_status ON mpi_review (status, id);
    CREATE INDEX mpi_review_patient ON mpi_review (patient_id);
    CREATE INDEX mpi_review_candidate ON mpi_review (candidate_id);
    ",
    ),
    (
        7,
        "date checks per candidate from the index alone",
        "
    -- A date filter after the driving one is a correlated EXISTS per candidate, and a
    -- date sort key a correlated MIN/MAX: with the bounds in the per-resource index both
    -- are answered from it, without a table read per candidate (BENCHMARKS.md, Search at
    -- 1M resources: token + date range).
    DROP INDEX idx_date_resource;
    CREATE INDEX idx_date_resource ON idx_date (resource_type, id, param, low, high);
    ",
    ),
];

/// The migrations that add index tables or columns: applying one re-extracts the
/// index rows of everything already stored.
pub(super) const REINDEX_MIGRATIONS: [i64; 2] = [2, 3];

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
