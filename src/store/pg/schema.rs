//! The schema, created and migrated by tudi: `tudi.migrations` records
//! each applied step; steps run in order, each in its own transaction, under
//! an advisory lock so instances starting together migrate once.

use postgres::Client;

use crate::store::StoreError;

/// Advisory lock key of migrations ("tudi" in ASCII).
const MIGRATE_LOCK: i64 = 0x7475_6469;

/// Migrations, applied in order; `tudi.migrations` says how many ran.
const MIGRATIONS: &[&str] = &["
CREATE TABLE tudi.layers (
    id         TEXT PRIMARY KEY,
    origin     TEXT NOT NULL,
    meta       TEXT NOT NULL,
    current    BIGINT,
    created_at TEXT NOT NULL,
    deleted_at TEXT
);
CREATE TABLE tudi.versions (
    layer      TEXT NOT NULL REFERENCES tudi.layers(id),
    version    BIGINT NOT NULL,
    file       TEXT NOT NULL,
    format     TEXT NOT NULL,
    crs        TEXT NOT NULL,
    axis_order TEXT NOT NULL,
    sha256     TEXT NOT NULL,
    features   BIGINT NOT NULL,
    bytes      BIGINT NOT NULL,
    origin     TEXT NOT NULL,
    created_at TEXT NOT NULL,
    created_by TEXT,
    report     TEXT,
    note       TEXT,
    fields     TEXT NOT NULL DEFAULT '[]',
    PRIMARY KEY (layer, version)
);
CREATE TABLE tudi.events (
    seq     BIGSERIAL PRIMARY KEY,
    at      TEXT NOT NULL,
    layer   TEXT NOT NULL,
    version BIGINT,
    kind    TEXT NOT NULL
);
CREATE INDEX events_at ON tudi.events(at);
CREATE TABLE tudi.api_keys (
    id         TEXT PRIMARY KEY,
    hash       TEXT NOT NULL UNIQUE,
    role       TEXT NOT NULL,
    label      TEXT,
    created_at TEXT NOT NULL,
    revoked_at TEXT
);
CREATE TABLE tudi.audit (
    seq        BIGINT PRIMARY KEY,
    id         TEXT NOT NULL UNIQUE,
    prev_hash  TEXT NOT NULL,
    entry_hash TEXT NOT NULL,
    body       TEXT NOT NULL
);
-- The chain head: one row, locked (FOR UPDATE) by every append so appends
-- from all instances form one chain.
CREATE TABLE tudi.audit_head (
    one        BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (one),
    seq        BIGINT NOT NULL,
    entry_hash TEXT NOT NULL
);
INSERT INTO tudi.audit_head (seq, entry_hash) VALUES (0, 'GENESIS_PLACEHOLDER');
CREATE TABLE tudi.rulesets (
    hash   TEXT PRIMARY KEY,
    source TEXT NOT NULL
);
CREATE SCHEMA IF NOT EXISTS tudi_layers;
"];

/// Creates the schemas and applies the migrations not yet applied.
pub fn migrate(c: &mut Client) -> Result<(), StoreError> {
    let mut tx = c.transaction()?;
    // No "already exists, skipping" notices in the log.
    tx.batch_execute("SET LOCAL client_min_messages = warning")?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATE_LOCK])?;
    let has_postgis: bool = tx
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'postgis')",
            &[],
        )?
        .get(0);
    if !has_postgis {
        tx.batch_execute("CREATE EXTENSION IF NOT EXISTS postgis")
            .map_err(|e| {
                StoreError::Pg(format!(
                    "PostGIS is needed (CREATE EXTENSION postgis failed: {}); \
                     install it or have a superuser run CREATE EXTENSION postgis",
                    super::pg_error(e)
                ))
            })?;
    }
    tx.batch_execute(
        "CREATE SCHEMA IF NOT EXISTS tudi;
         CREATE TABLE IF NOT EXISTS tudi.migrations (
             step       INTEGER PRIMARY KEY,
             applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
         );",
    )?;
    let done: i64 = tx
        .query_one("SELECT COUNT(*) FROM tudi.migrations", &[])?
        .get(0);
    if done as usize > MIGRATIONS.len() {
        return Err(StoreError::Corrupt(format!(
            "database schema version {done} is newer than this tudi ({})",
            MIGRATIONS.len()
        )));
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(done as usize) {
        let sql = sql.replace("GENESIS_PLACEHOLDER", crate::store::audit::GENESIS);
        tx.batch_execute(&sql)?;
        tx.execute(
            "INSERT INTO tudi.migrations (step) VALUES ($1)",
            &[&((i + 1) as i32)],
        )?;
    }
    tx.commit()?;
    Ok(())
}
