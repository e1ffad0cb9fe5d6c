//! The embedded [`Catalog`]: `catalog.sqlite` in the data folder (WAL,
//! `synchronous=FULL`). Kept apart from the audit database so catalog
//! changes never queue behind the audit writer's group commits.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use rusqlite::{Connection, OptionalExtension, Row, params};

use super::StoreError;
use super::catalog::{
    Catalog, EventKind, KeyRow, LayerRow, NewVersion, Origin, VersionRow, repeats_bootstrap,
};
use crate::auth::Role;
use crate::review::record::now_rfc3339;

/// Schema migrations, applied in order; `user_version` records how many ran.
const MIGRATIONS: &[&str] = &["
CREATE TABLE layers (
    id         TEXT PRIMARY KEY,
    origin     TEXT NOT NULL,
    meta       TEXT NOT NULL,
    current    INTEGER,
    created_at TEXT NOT NULL,
    deleted_at TEXT
);
CREATE TABLE versions (
    layer      TEXT NOT NULL REFERENCES layers(id),
    version    INTEGER NOT NULL,
    file       TEXT NOT NULL,
    format     TEXT NOT NULL,
    crs        TEXT NOT NULL,
    axis_order TEXT NOT NULL,
    sha256     TEXT NOT NULL,
    features   INTEGER NOT NULL,
    bytes      INTEGER NOT NULL,
    origin     TEXT NOT NULL,
    created_at TEXT NOT NULL,
    created_by TEXT,
    report     TEXT,
    note       TEXT,
    fields     TEXT NOT NULL DEFAULT '[]',
    PRIMARY KEY (layer, version)
);
CREATE TABLE events (
    seq     INTEGER PRIMARY KEY,
    at      TEXT NOT NULL,
    layer   TEXT NOT NULL,
    version INTEGER,
    kind    TEXT NOT NULL
);
CREATE INDEX events_at ON events(at);
CREATE TABLE api_keys (
    id         TEXT PRIMARY KEY,
    hash       TEXT NOT NULL UNIQUE,
    role       TEXT NOT NULL,
    label      TEXT,
    created_at TEXT NOT NULL,
    revoked_at TEXT
);
"];

pub struct SqliteCatalog {
    path: PathBuf,
    conn: Mutex<Connection>,
}

impl SqliteCatalog {
    /// Opens (creating and migrating if needed) `dir/catalog.sqlite`.
    pub fn open(dir: &Path) -> Result<SqliteCatalog, StoreError> {
        std::fs::create_dir_all(dir).map_err(|e| StoreError::Io(dir.to_path_buf(), e))?;
        let path = dir.join("catalog.sqlite");
        let mut conn = Connection::open(&path)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        migrate(&mut conn)?;
        Ok(SqliteCatalog {
            path,
            conn: Mutex::new(conn),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        match self.conn.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }
}

fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    let done: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    if done as usize > MIGRATIONS.len() {
        return Err(StoreError::Corrupt(format!(
            "catalog schema version {done} is newer than this tudi ({})",
            MIGRATIONS.len()
        )));
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(done as usize) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", (i + 1) as i64)?;
        tx.commit()?;
    }
    Ok(())
}

fn origin(s: String) -> Result<Origin, rusqlite::Error> {
    Origin::parse(&s).ok_or_else(|| {
        rusqlite::Error::FromSqlConversionFailure(
            0,
            rusqlite::types::Type::Text,
            format!("unknown origin `{s}`").into(),
        )
    })
}

fn role(s: String) -> Result<Role, rusqlite::Error> {
    Role::parse(&s).ok_or_else(|| {
        rusqlite::Error::FromSqlConversionFailure(
            0,
            rusqlite::types::Type::Text,
            format!("unknown role `{s}`").into(),
        )
    })
}

const LAYER_COLS: &str = "id, origin, meta, current, created_at, deleted_at";

fn layer_row(r: &Row<'_>) -> Result<LayerRow, rusqlite::Error> {
    Ok(LayerRow {
        id: r.get(0)?,
        origin: origin(r.get(1)?)?,
        meta: r.get(2)?,
        current: r.get::<_, Option<i64>>(3)?.map(|v| v as u64),
        created_at: r.get(4)?,
        deleted_at: r.get(5)?,
    })
}

const VERSION_COLS: &str = "layer, version, file, format, crs, axis_order, sha256, features, bytes, origin, created_at, created_by, note, fields";

fn version_row(r: &Row<'_>) -> Result<VersionRow, rusqlite::Error> {
    Ok(VersionRow {
        layer: r.get(0)?,
        version: r.get::<_, i64>(1)? as u64,
        file: r.get(2)?,
        format: r.get(3)?,
        crs: r.get(4)?,
        axis_order: r.get(5)?,
        sha256: r.get(6)?,
        features: r.get::<_, i64>(7)? as u64,
        bytes: r.get::<_, i64>(8)? as u64,
        origin: origin(r.get(9)?)?,
        created_at: r.get(10)?,
        created_by: r.get(11)?,
        note: r.get(12)?,
        fields: serde_json::from_str(&r.get::<_, String>(13)?).unwrap_or_default(),
    })
}

const KEY_COLS: &str = "id, role, label, created_at, revoked_at";

fn key_row(r: &Row<'_>) -> Result<KeyRow, rusqlite::Error> {
    Ok(KeyRow {
        id: r.get(0)?,
        role: role(r.get(1)?)?,
        label: r.get(2)?,
        created_at: r.get(3)?,
        revoked_at: r.get(4)?,
    })
}

fn live_layer(tx: &Connection, id: &str) -> Result<LayerRow, StoreError> {
    tx.query_row(
        &format!("SELECT {LAYER_COLS} FROM layers WHERE id = ?1 AND deleted_at IS NULL"),
        [id],
        layer_row,
    )
    .optional()?
    .ok_or_else(|| StoreError::NotFound(format!("no layer `{id}`")))
}

fn event(
    tx: &Connection,
    at: &str,
    layer: &str,
    version: Option<u64>,
    kind: EventKind,
) -> Result<(), StoreError> {
    tx.execute(
        "INSERT INTO events (at, layer, version, kind) VALUES (?1, ?2, ?3, ?4)",
        params![at, layer, version.map(|v| v as i64), kind.as_str()],
    )?;
    Ok(())
}

impl Catalog for SqliteCatalog {
    fn layers(&self) -> Result<Vec<LayerRow>, StoreError> {
        let conn = self.conn();
        let mut st =
            conn.prepare_cached(&format!("SELECT {LAYER_COLS} FROM layers ORDER BY id"))?;
        let rows = st.query_map([], layer_row)?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    fn layer(&self, id: &str) -> Result<Option<LayerRow>, StoreError> {
        let conn = self.conn();
        Ok(conn
            .query_row(
                &format!("SELECT {LAYER_COLS} FROM layers WHERE id = ?1"),
                [id],
                layer_row,
            )
            .optional()?)
    }

    fn create_layer(&self, id: &str, origin: Origin, meta: &str) -> Result<(), StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let existing: Option<Option<String>> = tx
            .query_row("SELECT deleted_at FROM layers WHERE id = ?1", [id], |r| {
                r.get(0)
            })
            .optional()?;
        match existing {
            Some(None) => {
                return Err(StoreError::Conflict(format!("layer `{id}` already exists")));
            }
            Some(Some(_)) => {
                // A deleted layer's id is reused: its old versions stay, and
                // numbering continues after them.
                tx.execute(
                    "UPDATE layers SET origin = ?2, meta = ?3, current = NULL, deleted_at = NULL WHERE id = ?1",
                    params![id, origin.as_str(), meta],
                )?;
            }
            None => {
                tx.execute(
                    "INSERT INTO layers (id, origin, meta, current, created_at) VALUES (?1, ?2, ?3, NULL, ?4)",
                    params![id, origin.as_str(), meta, now_rfc3339()],
                )?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    fn update_meta(&self, id: &str, meta: &str) -> Result<(), StoreError> {
        let conn = self.conn();
        let n = conn.execute(
            "UPDATE layers SET meta = ?2 WHERE id = ?1 AND deleted_at IS NULL",
            params![id, meta],
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
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let row = live_layer(&tx, layer)?;
        if let Some(cur) = row.current {
            let current = tx
                .query_row(
                    &format!(
                        "SELECT {VERSION_COLS} FROM versions WHERE layer = ?1 AND version = ?2"
                    ),
                    params![layer, cur as i64],
                    version_row,
                )
                .optional()?;
            if let Some(current) = current.filter(|c| repeats_bootstrap(c, v)) {
                return Ok(current);
            }
        }
        let next: i64 = tx.query_row(
            "SELECT COALESCE(MAX(version), 0) + 1 FROM versions WHERE layer = ?1",
            [layer],
            |r| r.get(0),
        )?;
        let at = now_rfc3339();
        tx.execute(
            "INSERT INTO versions (layer, version, file, format, crs, axis_order, sha256, features, bytes, origin, created_at, created_by, report, note, fields)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)",
            params![
                layer,
                next,
                v.file,
                v.format,
                v.crs,
                v.axis_order,
                v.sha256,
                v.features as i64,
                v.bytes as i64,
                v.origin.as_str(),
                at,
                v.created_by,
                v.report,
                v.note,
                serde_json::to_string(&v.fields).unwrap_or_else(|_| "[]".into())
            ],
        )?;
        tx.execute(
            "UPDATE layers SET current = ?2 WHERE id = ?1",
            params![layer, next],
        )?;
        event(&tx, &at, layer, Some(next as u64), kind)?;
        let row = tx.query_row(
            &format!("SELECT {VERSION_COLS} FROM versions WHERE layer = ?1 AND version = ?2"),
            params![layer, next],
            version_row,
        )?;
        tx.commit()?;
        Ok(row)
    }

    fn versions(&self, layer: &str) -> Result<Vec<VersionRow>, StoreError> {
        let conn = self.conn();
        let mut st = conn.prepare_cached(&format!(
            "SELECT {VERSION_COLS} FROM versions WHERE layer = ?1 ORDER BY version"
        ))?;
        let rows = st.query_map([layer], version_row)?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    fn version(&self, layer: &str, version: u64) -> Result<Option<VersionRow>, StoreError> {
        let conn = self.conn();
        Ok(conn
            .query_row(
                &format!("SELECT {VERSION_COLS} FROM versions WHERE layer = ?1 AND version = ?2"),
                params![layer, version as i64],
                version_row,
            )
            .optional()?)
    }

    fn set_current(&self, layer: &str, version: u64) -> Result<(), StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        live_layer(&tx, layer)?;
        let exists: Option<i64> = tx
            .query_row(
                "SELECT version FROM versions WHERE layer = ?1 AND version = ?2",
                params![layer, version as i64],
                |r| r.get(0),
            )
            .optional()?;
        if exists.is_none() {
            return Err(StoreError::NotFound(format!(
                "layer `{layer}` has no version {version}"
            )));
        }
        tx.execute(
            "UPDATE layers SET current = ?2 WHERE id = ?1",
            params![layer, version as i64],
        )?;
        event(
            &tx,
            &now_rfc3339(),
            layer,
            Some(version),
            EventKind::Rollback,
        )?;
        tx.commit()?;
        Ok(())
    }

    fn delete_layer(&self, layer: &str) -> Result<(), StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        live_layer(&tx, layer)?;
        let at = now_rfc3339();
        tx.execute(
            "UPDATE layers SET current = NULL, deleted_at = ?2 WHERE id = ?1",
            params![layer, at],
        )?;
        event(&tx, &at, layer, None, EventKind::Delete)?;
        tx.commit()?;
        Ok(())
    }

    fn in_force_at(&self, at: &str) -> Result<BTreeMap<String, u64>, StoreError> {
        let conn = self.conn();
        // The last event of each layer at or before `at`.
        let mut st = conn.prepare_cached(
            "SELECT e.layer, e.version FROM events e
             JOIN (SELECT layer, MAX(seq) AS seq FROM events WHERE at <= ?1 GROUP BY layer) last
               ON e.seq = last.seq",
        )?;
        let rows = st.query_map([at], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, Option<i64>>(1)?))
        })?;
        let mut out = BTreeMap::new();
        for row in rows {
            let (layer, version) = row?;
            if let Some(v) = version {
                out.insert(layer, v as u64);
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
        let conn = self.conn();
        conn.execute(
            "INSERT INTO api_keys (id, hash, role, label, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![id, hash, role.as_str(), label, now_rfc3339()],
        )?;
        Ok(conn.query_row(
            &format!("SELECT {KEY_COLS} FROM api_keys WHERE id = ?1"),
            [id],
            key_row,
        )?)
    }

    fn key_by_hash(&self, hash: &str) -> Result<Option<KeyRow>, StoreError> {
        let conn = self.conn();
        let mut st = conn.prepare_cached(&format!(
            "SELECT {KEY_COLS} FROM api_keys WHERE hash = ?1 AND revoked_at IS NULL"
        ))?;
        Ok(st.query_row([hash], key_row).optional()?)
    }

    fn keys(&self) -> Result<Vec<KeyRow>, StoreError> {
        let conn = self.conn();
        let mut st = conn.prepare_cached(&format!(
            "SELECT {KEY_COLS} FROM api_keys ORDER BY created_at, id"
        ))?;
        let rows = st.query_map([], key_row)?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    fn revoke_key(&self, id: &str) -> Result<bool, StoreError> {
        let conn = self.conn();
        let n = conn.execute(
            "UPDATE api_keys SET revoked_at = ?2 WHERE id = ?1 AND revoked_at IS NULL",
            params![id, now_rfc3339()],
        )?;
        Ok(n > 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn version(file: &str) -> NewVersion {
        NewVersion {
            file: file.into(),
            format: "flatgeobuf".into(),
            crs: "EPSG:4326".into(),
            axis_order: "en".into(),
            sha256: "00".into(),
            features: 3,
            bytes: 100,
            origin: Origin::Api,
            created_by: Some("k_1".into()),
            report: None,
            note: None,
            fields: vec!["a".into()],
        }
    }

    /// The same bootstrap file recorded twice is one version; changed
    /// content, or a publish in between, makes a new one.
    #[test]
    fn a_bootstrap_file_is_recorded_once() {
        let dir = tempfile::tempdir().unwrap();
        let c = SqliteCatalog::open(dir.path()).unwrap();
        c.create_layer("b", Origin::Bootstrap, "").unwrap();
        let boot = |sha: &str| NewVersion {
            origin: Origin::Bootstrap,
            created_by: None,
            sha256: sha.into(),
            ..version("/srv/layers/b.geojson")
        };
        let add = |v: &NewVersion, kind| c.add_version("b", v, kind).unwrap().version;
        assert_eq!(add(&boot("aa"), EventKind::Bootstrap), 1);
        assert_eq!(add(&boot("aa"), EventKind::Bootstrap), 1);
        assert_eq!(c.versions("b").unwrap().len(), 1);
        assert_eq!(add(&boot("bb"), EventKind::Bootstrap), 2);
        assert_eq!(add(&version("b/3.fgb"), EventKind::Publish), 3);
        assert_eq!(add(&boot("bb"), EventKind::Bootstrap), 4);
        assert_eq!(c.layer("b").unwrap().unwrap().current, Some(4));
    }

    #[test]
    fn versions_rollback_delete_and_as_of() {
        let dir = tempfile::tempdir().unwrap();
        let c = SqliteCatalog::open(dir.path()).unwrap();
        c.create_layer("a", Origin::Api, "{}").unwrap();
        assert!(matches!(
            c.create_layer("a", Origin::Api, "{}"),
            Err(StoreError::Conflict(_))
        ));
        let v1 = c
            .add_version("a", &version("a/1.fgb"), EventKind::Publish)
            .unwrap();
        assert_eq!(v1.version, 1);
        std::thread::sleep(std::time::Duration::from_millis(5));
        let t1 = now_rfc3339();
        std::thread::sleep(std::time::Duration::from_millis(5));
        let v2 = c
            .add_version("a", &version("a/2.fgb"), EventKind::Publish)
            .unwrap();
        assert_eq!(v2.version, 2);
        assert_eq!(c.layer("a").unwrap().unwrap().current, Some(2));
        c.set_current("a", 1).unwrap();
        assert_eq!(c.layer("a").unwrap().unwrap().current, Some(1));
        assert!(matches!(
            c.set_current("a", 9),
            Err(StoreError::NotFound(_))
        ));
        assert_eq!(c.in_force_at(&t1).unwrap().get("a"), Some(&1));
        let now = now_rfc3339();
        assert_eq!(c.in_force_at(&now).unwrap().get("a"), Some(&1));
        assert!(
            c.in_force_at("2000-01-01T00:00:00.000Z")
                .unwrap()
                .is_empty()
        );
        std::thread::sleep(std::time::Duration::from_millis(5));
        c.delete_layer("a").unwrap();
        assert!(!c.in_force_at(&now_rfc3339()).unwrap().contains_key("a"));
        assert!(matches!(
            c.add_version("a", &version("x"), EventKind::Publish),
            Err(StoreError::NotFound(_))
        ));
        // Re-created: numbering continues, old versions stay.
        c.create_layer("a", Origin::Api, "{}").unwrap();
        let v3 = c
            .add_version("a", &version("a/3.fgb"), EventKind::Publish)
            .unwrap();
        assert_eq!(v3.version, 3);
        assert_eq!(c.versions("a").unwrap().len(), 3);
        drop(c);
        // Survives reopening.
        let c = SqliteCatalog::open(dir.path()).unwrap();
        assert_eq!(c.layer("a").unwrap().unwrap().current, Some(3));
    }

    #[test]
    fn keys_hashed_and_revocable() {
        let dir = tempfile::tempdir().unwrap();
        let c = SqliteCatalog::open(dir.path()).unwrap();
        let k = crate::auth::new_key();
        c.create_key(&k.id, &k.hash, Role::Approver, Some("desk 3"))
            .unwrap();
        let found = c.key_by_hash(&k.hash).unwrap().unwrap();
        assert_eq!(found.role, Role::Approver);
        assert!(c.key_by_hash(&k.secret).unwrap().is_none());
        for f in ["catalog.sqlite", "catalog.sqlite-wal"] {
            let raw = std::fs::read(dir.path().join(f)).unwrap_or_default();
            assert!(
                !raw.windows(k.secret.len())
                    .any(|w| w == k.secret.as_bytes()),
                "the secret must not be stored"
            );
        }
        assert!(c.revoke_key(&k.id).unwrap());
        assert!(!c.revoke_key(&k.id).unwrap());
        assert!(c.key_by_hash(&k.hash).unwrap().is_none());
        assert_eq!(c.keys().unwrap().len(), 1);
    }
}
