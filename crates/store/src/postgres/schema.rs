//! PostgreSQL schema migrations: numbered, applied in order at open, each in its own
//! transaction that first takes a transaction-scoped advisory lock, so two processes
//! starting at once apply each migration exactly once.

use sqlx::PgPool;

use crate::{Result, StoreError};

/// First key of the two-key advisory lock guarding schema creation and migrations
/// ("Hutg"); the second key is derived from the schema name. The two-key space does
/// not overlap the one-key space used for per-resource write locks.
const MIGRATION_LOCK: i32 = 0x4875_7467;

/// `(version, description, SQL)`, in order. Never edit a released migration: add one.
const MIGRATIONS: &[(i64, &str, &str)] = &[
    (
    1,
    "versioned resources, history, identifier index, write sequence",
    "
    CREATE SEQUENCE resource_seq;

    -- Current version of every resource (including tombstones), one row per resource.
    CREATE TABLE resource (
        resource_type TEXT NOT NULL,
        id TEXT NOT NULL,
        version BIGINT NOT NULL,
        seq BIGINT NOT NULL,
        last_updated BIGINT NOT NULL, -- microseconds since the Unix epoch, UTC
        deleted BOOLEAN NOT NULL,
        kind TEXT NOT NULL,
        patient_key TEXT,
        json BYTEA NOT NULL,
        PRIMARY KEY (resource_type, id)
    );
    CREATE INDEX resource_seq_idx ON resource (seq);
    CREATE INDEX resource_type_seq_idx ON resource (resource_type, seq);
    CREATE INDEX resource_patient_key_idx ON resource (patient_key);

    -- Superseded versions; a version moves here when a newer one is written.
    CREATE TABLE resource_history (
        resource_type TEXT NOT NULL,
        id TEXT NOT NULL,
        version BIGINT NOT NULL,
        seq BIGINT NOT NULL,
        last_updated BIGINT NOT NULL,
        deleted BOOLEAN NOT NULL,
        kind TEXT NOT NULL,
        patient_key TEXT,
        json BYTEA NOT NULL,
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
    ",
    ),
    (
        2,
        "search indexes",
        r#"
    -- Search pages are ordered by id with code-point order on both backends; give the
    -- resource table's key that collation so the primary key serves that order.
    ALTER TABLE resource ALTER COLUMN id TYPE TEXT COLLATE "C";
    ALTER TABLE resource ALTER COLUMN resource_type TYPE TEXT COLLATE "C";

    -- Search indexes (R4 search.html), one table per parameter type, one row per
    -- extracted value of the current version of a resource. Every row carries the
    -- patient-compartment key (patient-scoped queries filter on the reference index;
    -- a patient_key-leading index is left for the 1M-resource benchmarks to justify,
    -- each index costs every import). Text columns use
    -- COLLATE "C" so order and ranges are by code point, as in SQLite.
    CREATE TABLE idx_string (
        resource_type TEXT COLLATE "C" NOT NULL, id TEXT COLLATE "C" NOT NULL, param TEXT COLLATE "C" NOT NULL,
        norm TEXT COLLATE "C" NOT NULL, exact TEXT COLLATE "C" NOT NULL, patient_key TEXT COLLATE "C"
    );
    CREATE INDEX idx_string_lookup ON idx_string (resource_type, param, norm);
    CREATE INDEX idx_string_resource ON idx_string (resource_type, id);

    CREATE TABLE idx_token (
        resource_type TEXT COLLATE "C" NOT NULL, id TEXT COLLATE "C" NOT NULL, param TEXT COLLATE "C" NOT NULL,
        system TEXT COLLATE "C" NOT NULL, code TEXT COLLATE "C" NOT NULL, text TEXT COLLATE "C" NOT NULL, patient_key TEXT COLLATE "C"
    );
    CREATE INDEX idx_token_code ON idx_token (resource_type, param, code, system);
    CREATE INDEX idx_token_system ON idx_token (resource_type, param, system, code);
    CREATE INDEX idx_token_resource ON idx_token (resource_type, id);

    CREATE TABLE idx_date (
        resource_type TEXT COLLATE "C" NOT NULL, id TEXT COLLATE "C" NOT NULL, param TEXT COLLATE "C" NOT NULL,
        low BIGINT NOT NULL, high BIGINT NOT NULL, patient_key TEXT COLLATE "C"
    );
    CREATE INDEX idx_date_lookup ON idx_date (resource_type, param, low, high);
    CREATE INDEX idx_date_resource ON idx_date (resource_type, id);

    CREATE TABLE idx_number (
        resource_type TEXT COLLATE "C" NOT NULL, id TEXT COLLATE "C" NOT NULL, param TEXT COLLATE "C" NOT NULL,
        value DOUBLE PRECISION NOT NULL, patient_key TEXT COLLATE "C"
    );
    CREATE INDEX idx_number_lookup ON idx_number (resource_type, param, value);
    CREATE INDEX idx_number_resource ON idx_number (resource_type, id);

    CREATE TABLE idx_quantity (
        resource_type TEXT COLLATE "C" NOT NULL, id TEXT COLLATE "C" NOT NULL, param TEXT COLLATE "C" NOT NULL,
        value DOUBLE PRECISION NOT NULL, system TEXT COLLATE "C" NOT NULL, code TEXT COLLATE "C" NOT NULL,
        unit TEXT COLLATE "C" NOT NULL, patient_key TEXT COLLATE "C"
    );
    CREATE INDEX idx_quantity_lookup ON idx_quantity (resource_type, param, code, value);
    CREATE INDEX idx_quantity_resource ON idx_quantity (resource_type, id);

    CREATE TABLE idx_reference (
        resource_type TEXT COLLATE "C" NOT NULL, id TEXT COLLATE "C" NOT NULL, param TEXT COLLATE "C" NOT NULL,
        target_type TEXT COLLATE "C" NOT NULL, target_id TEXT COLLATE "C" NOT NULL, url TEXT COLLATE "C" NOT NULL,
        identifier_system TEXT COLLATE "C" NOT NULL, identifier_value TEXT COLLATE "C" NOT NULL, patient_key TEXT COLLATE "C"
    );
    CREATE INDEX idx_reference_target ON idx_reference (target_id, target_type, resource_type, param);
    CREATE INDEX idx_reference_url ON idx_reference (url, resource_type, param) WHERE url <> '';
    CREATE INDEX idx_reference_identifier ON idx_reference (identifier_value, resource_type, param)
        WHERE identifier_value <> '';
    CREATE INDEX idx_reference_resource ON idx_reference (resource_type, id);

    CREATE TABLE idx_uri (
        resource_type TEXT COLLATE "C" NOT NULL, id TEXT COLLATE "C" NOT NULL, param TEXT COLLATE "C" NOT NULL,
        uri TEXT COLLATE "C" NOT NULL, patient_key TEXT COLLATE "C"
    );
    CREATE INDEX idx_uri_lookup ON idx_uri (resource_type, param, uri);
    CREATE INDEX idx_uri_resource ON idx_uri (resource_type, id);
    "#,
    ),
    (
        3,
        "composite and canonical-unit search indexes, reindex jobs",
        r#"
    -- Composite parameters (R4 search.html#composite): one row per combination of the
    -- component values taken from the same element (layout as in the SQLite schema).
    CREATE TABLE idx_composite (
        resource_type TEXT COLLATE "C" NOT NULL, id TEXT COLLATE "C" NOT NULL, param TEXT COLLATE "C" NOT NULL,
        s1 TEXT COLLATE "C" NOT NULL, c1 TEXT COLLATE "C" NOT NULL,
        s2 TEXT COLLATE "C" NOT NULL, c2 TEXT COLLATE "C" NOT NULL,
        n2 DOUBLE PRECISION, lo2 BIGINT, hi2 BIGINT,
        patient_key TEXT COLLATE "C"
    );
    CREATE INDEX idx_composite_lookup ON idx_composite (resource_type, param, c1, s1);
    CREATE INDEX idx_composite_resource ON idx_composite (resource_type, id);

    -- Quantities also in canonical UCUM units (ccode '' when not convertible).
    ALTER TABLE idx_quantity ADD COLUMN cvalue DOUBLE PRECISION;
    ALTER TABLE idx_quantity ADD COLUMN ccode TEXT COLLATE "C" NOT NULL DEFAULT '';
    CREATE INDEX idx_quantity_canonical ON idx_quantity (resource_type, param, ccode, cvalue)
        WHERE ccode <> '';

    -- `hutong reindex` jobs: what to rebuild and how far it got.
    CREATE TABLE reindex_job (
        id BIGSERIAL PRIMARY KEY,
        resource_type TEXT COLLATE "C" NOT NULL,
        params TEXT COLLATE "C" NOT NULL,
        after_type TEXT COLLATE "C" NOT NULL DEFAULT '',
        after_id TEXT COLLATE "C" NOT NULL DEFAULT '',
        done BIGINT NOT NULL DEFAULT 0,
        started BIGINT NOT NULL,
        updated BIGINT NOT NULL,
        finished BIGINT
    );
    "#,
    ),
    (
        5,
        "search lookups for 1M resources",
        r#"
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

    -- Whether a matched id is a live resource, from the index alone (index-only scan).
    CREATE INDEX resource_live_idx ON resource (resource_type, id) INCLUDE (deleted);

    -- Type, parameter, system and code are far from independent: without these the
    -- planner took a common code for 10x rarer than it is and a rare one for 6x.
    CREATE STATISTICS idx_token_code_stats (mcv) ON resource_type, param, system, code
        FROM idx_token;
    CREATE STATISTICS idx_reference_param_stats (mcv) ON resource_type, param, target_type
        FROM idx_reference;
    "#,
    ),
    (
        6,
        "master patient index: links, link log, no-link pairs, review queue",
        r#"
    -- Current link of every Patient to its golden record (a Person resource). id_hash is
    -- the keyed hash (HMAC-SHA256, hex) of a valid citizen ID number: never the number.
    CREATE TABLE mpi_link (
        patient_id TEXT PRIMARY KEY,
        person_id TEXT NOT NULL,
        kind TEXT NOT NULL,
        score DOUBLE PRECISION,
        id_hash TEXT,
        linked_at BIGINT NOT NULL
    );
    CREATE INDEX mpi_link_person ON mpi_link (person_id);
    CREATE INDEX mpi_link_id_hash ON mpi_link (id_hash) WHERE id_hash IS NOT NULL;

    -- Append-only log of every link change: who, when, what, why, which scores.
    CREATE TABLE mpi_link_log (
        seq BIGSERIAL PRIMARY KEY,
        at BIGINT NOT NULL,
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
        at BIGINT NOT NULL,
        PRIMARY KEY (left_ref, right_ref)
    );
    CREATE INDEX mpi_no_link_right ON mpi_no_link (right_ref);

    -- Candidate pairs between the review and auto-link thresholds.
    CREATE TABLE mpi_review (
        id BIGSERIAL PRIMARY KEY,
        patient_id TEXT NOT NULL,
        candidate_id TEXT NOT NULL,
        score DOUBLE PRECISION NOT NULL,
        explanation TEXT NOT NULL,
        status TEXT NOT NULL,
        created BIGINT NOT NULL,
        decided BIGINT,
        decided_by TEXT,
        reason TEXT
    );
    CREATE INDEX mpi_review_status ON mpi_review (status, id);
    CREATE INDEX mpi_review_patient ON mpi_review (patient_id);
    CREATE INDEX mpi_review_candidate ON mpi_review (candidate_id);
    "#,
    ),
    (
        7,
        "date checks per candidate from the index alone",
        r#"
    -- A date filter after the driving one is a correlated EXISTS per candidate, and a
    -- date sort key a correlated MIN/MAX: with the bounds in the per-resource index both
    -- are index-only scans, without a heap read per candidate (BENCHMARKS.md, Search at
    -- 1M resources: token + date range).
    DROP INDEX idx_date_resource;
    CREATE INDEX idx_date_resource ON idx_date (resource_type, id, param) INCLUDE (low, high);
    "#,
    ),
];

/// The migrations that add index tables or columns: applying one re-extracts the
/// index rows of everything already stored.
pub(super) const REINDEX_MIGRATIONS: [i64; 2] = [2, 3];

/// Creates the schema if asked for, then applies every migration not yet recorded;
/// returns the versions applied now.
pub(super) async fn migrate(
    pool: &PgPool,
    schema: Option<&str>,
    lock_key: i32,
) -> Result<Vec<i64>> {
    let mut applied_now = Vec::new();
    if let Some(schema) = schema {
        let fail = |e: sqlx::Error| StoreError::Migration(format!("create schema {schema}: {e}"));
        let mut tx = pool.begin().await.map_err(fail)?;
        lock(&mut tx, lock_key).await.map_err(fail)?;
        sqlx::raw_sql(&format!("CREATE SCHEMA IF NOT EXISTS \"{schema}\""))
            .execute(&mut *tx)
            .await
            .map_err(fail)?;
        tx.commit().await.map_err(fail)?;
    }
    for &(version, description, sql) in MIGRATIONS {
        let fail = |e: sqlx::Error| {
            StoreError::Migration(format!("postgres migration {version} ({description}): {e}"))
        };
        let mut tx = pool.begin().await.map_err(fail)?;
        lock(&mut tx, lock_key).await.map_err(fail)?;
        sqlx::raw_sql(
            "CREATE TABLE IF NOT EXISTS schema_version (
                version BIGINT PRIMARY KEY,
                description TEXT NOT NULL,
                applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
            )",
        )
        .execute(&mut *tx)
        .await
        .map_err(fail)?;
        let applied = sqlx::query("SELECT 1 FROM schema_version WHERE version = $1")
            .bind(version)
            .fetch_optional(&mut *tx)
            .await
            .map_err(fail)?
            .is_some();
        if !applied {
            sqlx::raw_sql(sql).execute(&mut *tx).await.map_err(fail)?;
            sqlx::query("INSERT INTO schema_version (version, description) VALUES ($1, $2)")
                .bind(version)
                .bind(description)
                .execute(&mut *tx)
                .await
                .map_err(fail)?;
            tracing::info!(version, description, "applied postgres migration");
            applied_now.push(version);
        }
        tx.commit().await.map_err(fail)?;
    }
    Ok(applied_now)
}

async fn lock(tx: &mut sqlx::PgConnection, key: i32) -> Result<(), sqlx::Error> {
    sqlx::query("SELECT pg_advisory_xact_lock($1, $2)")
        .bind(MIGRATION_LOCK)
        .bind(key)
        .execute(tx)
        .await
        .map(|_| ())
}
