//! [`Catalog`] on PostgreSQL: the same tables and semantics as the SQLite
//! catalog, in schema `tudi`. A change of a layer's current version
//! (publish, rollback, delete) sends `NOTIFY tudi_layers, 'id'` in its
//! transaction, so every instance hears of it once it is committed. A
//! version whose features were written to a pending PostGIS table gets the
//! table renamed to its final name (`{id}_v{n}`) in the same transaction.

use std::collections::BTreeMap;
use std::sync::Arc;

use postgres::{GenericClient, Row};

use super::Pool;
use super::listen::CHANNEL;
use crate::auth::Role;
use crate::review::record::now_rfc3339;
use crate::store::StoreError;
use crate::store::catalog::{
    Catalog, EventKind, KeyRow, LayerRow, NewVersion, Origin, VersionRow, repeats_bootstrap,
};

/// Prefix of a version's `file` when its features are in a PostGIS table
/// of [`super::LAYERS_SCHEMA`].
pub const POSTGIS_PREFIX: &str = "postgis:";
/// Name prefix of a table written by a publish not yet committed.
pub const PENDING_PREFIX: &str = "pending_";

/// Name of the table holding version `n` of layer `id` (at most 63 bytes,
/// PostgreSQL's identifier limit: long ids are cut and suffixed with a hash).
pub fn version_table(id: &str, n: u64) -> String {
    let suffix = format!("_v{n}");
    if id.len() + suffix.len() <= 63 {
        return format!("{id}{suffix}");
    }
    let h = crate::store::audit::sha256_hex(id.as_bytes());
    let keep = 63 - suffix.len() - 9;
    format!("{}_{}{suffix}", &id[..keep.min(id.len())], &h[..8])
}

pub struct PgCatalog {
    pool: Arc<Pool>,
}

impl PgCatalog {
    pub fn new(pool: Arc<Pool>) -> PgCatalog {
        PgCatalog { pool }
    }
}

fn bad(e: String) -> StoreError {
    StoreError::Corrupt(e)
}

const LAYER_COLS: &str = "id, origin, meta, current, created_at, deleted_at";

fn layer_row(r: &Row) -> Result<LayerRow, StoreError> {
    let origin: String = r.try_get(1)?;
    Ok(LayerRow {
        id: r.try_get(0)?,
        origin: Origin::parse(&origin).ok_or_else(|| bad(format!("unknown origin `{origin}`")))?,
        meta: r.try_get(2)?,
        current: r.try_get::<_, Option<i64>>(3)?.map(|v| v as u64),
        created_at: r.try_get(4)?,
        deleted_at: r.try_get(5)?,
    })
}

const VERSION_COLS: &str = "layer, version, file, format, crs, axis_order, sha256, features, bytes, origin, created_at, created_by, note, fields";

fn version_row(r: &Row) -> Result<VersionRow, StoreError> {
    let origin: String = r.try_get(9)?;
    Ok(VersionRow {
        layer: r.try_get(0)?,
        version: r.try_get::<_, i64>(1)? as u64,
        file: r.try_get(2)?,
        format: r.try_get(3)?,
        crs: r.try_get(4)?,
        axis_order: r.try_get(5)?,
        sha256: r.try_get(6)?,
        features: r.try_get::<_, i64>(7)? as u64,
        bytes: r.try_get::<_, i64>(8)? as u64,
        origin: Origin::parse(&origin).ok_or_else(|| bad(format!("unknown origin `{origin}`")))?,
        created_at: r.try_get(10)?,
        created_by: r.try_get(11)?,
        note: r.try_get(12)?,
        fields: serde_json::from_str(&r.try_get::<_, String>(13)?).unwrap_or_default(),
    })
}

const KEY_COLS: &str = "id, role, label, created_at, revoked_at";

fn key_row(r: &Row) -> Result<KeyRow, StoreError> {
    let role: String = r.try_get(1)?;
    Ok(KeyRow {
        id: r.try_get(0)?,
        role: Role::parse(&role).ok_or_else(|| bad(format!("unknown role `{role}`")))?,
        label: r.try_get(2)?,
        created_at: r.try_get(3)?,
        revoked_at: r.try_get(4)?,
    })
}

/// The live layer `id`, locked until the transaction ends (publishes and
/// rollbacks of one layer from several instances take turns).
fn lock_live_layer(tx: &mut impl GenericClient, id: &str) -> Result<LayerRow, StoreError> {
    let row = tx.query_opt(
        &format!(
            "SELECT {LAYER_COLS} FROM tudi.layers WHERE id = $1 AND deleted_at IS NULL FOR UPDATE"
        ),
        &[&id],
    )?;
    match row {
        Some(r) => layer_row(&r),
        None => Err(StoreError::NotFound(format!("no layer `{id}`"))),
    }
}

/// Records the event and tells every instance (delivered on commit).
fn event(
    tx: &mut impl GenericClient,
    at: &str,
    layer: &str,
    version: Option<u64>,
    kind: EventKind,
) -> Result<(), StoreError> {
    tx.execute(
        "INSERT INTO tudi.events (at, layer, version, kind) VALUES ($1, $2, $3, $4)",
        &[&at, &layer, &version.map(|v| v as i64), &kind.as_str()],
    )?;
    let payload = match version {
        Some(v) => format!("{layer}:{v}"),
        None => format!("{layer}:"),
    };
    tx.execute("SELECT pg_notify($1, $2)", &[&CHANNEL, &payload])?;
    Ok(())
}

fn quote_ident(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

impl Catalog for PgCatalog {
    fn kind(&self) -> &'static str {
        "postgres"
    }

    fn ping(&self) -> Result<(), StoreError> {
        self.pool.get()?.simple_query("SELECT 1")?;
        Ok(())
    }

    fn layers(&self) -> Result<Vec<LayerRow>, StoreError> {
        let mut c = self.pool.get()?;
        c.query(
            &format!("SELECT {LAYER_COLS} FROM tudi.layers ORDER BY id"),
            &[],
        )?
        .iter()
        .map(layer_row)
        .collect()
    }

    fn layer(&self, id: &str) -> Result<Option<LayerRow>, StoreError> {
        let mut c = self.pool.get()?;
        c.query_opt(
            &format!("SELECT {LAYER_COLS} FROM tudi.layers WHERE id = $1"),
            &[&id],
        )?
        .as_ref()
        .map(layer_row)
        .transpose()
    }

    fn create_layer(&self, id: &str, origin: Origin, meta: &str) -> Result<(), StoreError> {
        let mut c = self.pool.get()?;
        let mut tx = c.transaction()?;
        let existing = tx.query_opt(
            "SELECT deleted_at FROM tudi.layers WHERE id = $1 FOR UPDATE",
            &[&id],
        )?;
        match existing {
            Some(r) if r.try_get::<_, Option<String>>(0)?.is_none() => {
                return Err(StoreError::Conflict(format!("layer `{id}` already exists")));
            }
            Some(_) => {
                tx.execute(
                    "UPDATE tudi.layers SET origin = $2, meta = $3, current = NULL, deleted_at = NULL WHERE id = $1",
                    &[&id, &origin.as_str(), &meta],
                )?;
            }
            None => {
                tx.execute(
                    "INSERT INTO tudi.layers (id, origin, meta, current, created_at) VALUES ($1, $2, $3, NULL, $4)",
                    &[&id, &origin.as_str(), &meta, &now_rfc3339()],
                )?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    fn update_meta(&self, id: &str, meta: &str) -> Result<(), StoreError> {
        let mut c = self.pool.get()?;
        let n = c.execute(
            "UPDATE tudi.layers SET meta = $2 WHERE id = $1 AND deleted_at IS NULL",
            &[&id, &meta],
        )?;
        if n == 0 {
            return Err(StoreError::NotFound(format!("no layer `{id}`")));
        }
        Ok(())
    }

    fn add_version(
        &self,
        layer: &str,
        v: &NewVersion,
        kind: EventKind,
    ) -> Result<VersionRow, StoreError> {
        let mut c = self.pool.get()?;
        let mut tx = c.transaction()?;
        let row = lock_live_layer(&mut tx, layer)?;
        if let Some(cur) = row.current {
            let current = tx
                .query_opt(
                    &format!(
                        "SELECT {VERSION_COLS} FROM tudi.versions WHERE layer = $1 AND version = $2"
                    ),
                    &[&layer, &(cur as i64)],
                )?
                .as_ref()
                .map(version_row)
                .transpose()?;
            if let Some(current) = current.filter(|c| repeats_bootstrap(c, v)) {
                return Ok(current);
            }
        }
        let next: i64 = tx
            .query_one(
                "SELECT COALESCE(MAX(version), 0) + 1 FROM tudi.versions WHERE layer = $1",
                &[&layer],
            )?
            .try_get(0)?;
        let mut file = v.file.clone();
        if let Some(table) = v.file.strip_prefix(POSTGIS_PREFIX)
            && table.starts_with(PENDING_PREFIX)
        {
            let fin = version_table(layer, next as u64);
            tx.batch_execute(&format!(
                "DROP TABLE IF EXISTS {schema}.{f}; ALTER TABLE {schema}.{p} RENAME TO {f}",
                schema = super::LAYERS_SCHEMA,
                f = quote_ident(&fin),
                p = quote_ident(table)
            ))?;
            file = format!("{POSTGIS_PREFIX}{fin}");
        }
        let at = now_rfc3339();
        let fields = serde_json::to_string(&v.fields).unwrap_or_else(|_| "[]".into());
        let row = tx.query_one(
            &format!(
                "INSERT INTO tudi.versions (layer, version, file, format, crs, axis_order, sha256, features, bytes, origin, created_at, created_by, report, note, fields)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)
                 RETURNING {VERSION_COLS}"
            ),
            &[
                &layer,
                &next,
                &file,
                &v.format,
                &v.crs,
                &v.axis_order,
                &v.sha256,
                &(v.features as i64),
                &(v.bytes as i64),
                &v.origin.as_str(),
                &at,
                &v.created_by,
                &v.report,
                &v.note,
                &fields,
            ],
        )?;
        let row = version_row(&row)?;
        tx.execute(
            "UPDATE tudi.layers SET current = $2 WHERE id = $1",
            &[&layer, &next],
        )?;
        event(&mut tx, &at, layer, Some(next as u64), kind)?;
        tx.commit()?;
        Ok(row)
    }

    fn versions(&self, layer: &str) -> Result<Vec<VersionRow>, StoreError> {
        let mut c = self.pool.get()?;
        c.query(
            &format!("SELECT {VERSION_COLS} FROM tudi.versions WHERE layer = $1 ORDER BY version"),
            &[&layer],
        )?
        .iter()
        .map(version_row)
        .collect()
    }

    fn version(&self, layer: &str, version: u64) -> Result<Option<VersionRow>, StoreError> {
        let mut c = self.pool.get()?;
        c.query_opt(
            &format!("SELECT {VERSION_COLS} FROM tudi.versions WHERE layer = $1 AND version = $2"),
            &[&layer, &(version as i64)],
        )?
        .as_ref()
        .map(version_row)
        .transpose()
    }

    fn set_current(&self, layer: &str, version: u64) -> Result<(), StoreError> {
        let mut c = self.pool.get()?;
        let mut tx = c.transaction()?;
        lock_live_layer(&mut tx, layer)?;
        let exists = tx.query_opt(
            "SELECT version FROM tudi.versions WHERE layer = $1 AND version = $2",
            &[&layer, &(version as i64)],
        )?;
        if exists.is_none() {
            return Err(StoreError::NotFound(format!(
                "layer `{layer}` has no version {version}"
            )));
        }
        tx.execute(
            "UPDATE tudi.layers SET current = $2 WHERE id = $1",
            &[&layer, &(version as i64)],
        )?;
        event(
            &mut tx,
            &now_rfc3339(),
            layer,
            Some(version),
            EventKind::Rollback,
        )?;
        tx.commit()?;
        Ok(())
    }

    fn delete_layer(&self, layer: &str) -> Result<(), StoreError> {
        let mut c = self.pool.get()?;
        let mut tx = c.transaction()?;
        lock_live_layer(&mut tx, layer)?;
        let at = now_rfc3339();
        tx.execute(
            "UPDATE tudi.layers SET current = NULL, deleted_at = $2 WHERE id = $1",
            &[&layer, &at],
        )?;
        event(&mut tx, &at, layer, None, EventKind::Delete)?;
        tx.commit()?;
        Ok(())
    }

    fn in_force_at(&self, at: &str) -> Result<BTreeMap<String, u64>, StoreError> {
        let mut c = self.pool.get()?;
        let rows = c.query(
            "SELECT e.layer, e.version FROM tudi.events e
             JOIN (SELECT layer, MAX(seq) AS seq FROM tudi.events WHERE at <= $1 GROUP BY layer) last
               ON e.seq = last.seq",
            &[&at],
        )?;
        let mut out = BTreeMap::new();
        for r in rows {
            if let Some(v) = r.try_get::<_, Option<i64>>(1)? {
                out.insert(r.try_get(0)?, v as u64);
            }
        }
        Ok(out)
    }

    fn create_key(
        &self,
        id: &str,
        hash: &str,
        role: Role,
        label: Option<&str>,
    ) -> Result<KeyRow, StoreError> {
        let mut c = self.pool.get()?;
        let r = c.query_one(
            &format!(
                "INSERT INTO tudi.api_keys (id, hash, role, label, created_at) VALUES ($1, $2, $3, $4, $5) RETURNING {KEY_COLS}"
            ),
            &[&id, &hash, &role.as_str(), &label, &now_rfc3339()],
        )?;
        key_row(&r)
    }

    fn key_by_hash(&self, hash: &str) -> Result<Option<KeyRow>, StoreError> {
        let mut c = self.pool.get()?;
        c.query_opt(
            &format!("SELECT {KEY_COLS} FROM tudi.api_keys WHERE hash = $1 AND revoked_at IS NULL"),
            &[&hash],
        )?
        .as_ref()
        .map(key_row)
        .transpose()
    }

    fn keys(&self) -> Result<Vec<KeyRow>, StoreError> {
        let mut c = self.pool.get()?;
        c.query(
            &format!("SELECT {KEY_COLS} FROM tudi.api_keys ORDER BY created_at, id"),
            &[],
        )?
        .iter()
        .map(key_row)
        .collect()
    }

    fn revoke_key(&self, id: &str) -> Result<bool, StoreError> {
        let mut c = self.pool.get()?;
        let n = c.execute(
            "UPDATE tudi.api_keys SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL",
            &[&id, &now_rfc3339()],
        )?;
        Ok(n > 0)
    }
}
