//! The catalog of published layers, their versions and the API keys, behind
//! the [`Catalog`] trait so the embedded SQLite backend
//! ([`super::SqliteCatalog`]) can be joined by a database-server backend for
//! several instances.
//!
//! A layer has a numbered list of immutable versions and a *current* one.
//! Every change of the current version (publish, rollback, delete) is an
//! event with a time, so the versions in force at any past moment can be
//! recovered ([`Catalog::in_force_at`]).

use std::collections::BTreeMap;

use serde::Serialize;

use super::StoreError;
use crate::auth::Role;

/// Where a layer was defined.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Origin {
    /// A `layers/*.toml` file of the server's configuration.
    Bootstrap,
    /// Created through the API.
    Api,
}

impl Origin {
    pub fn as_str(&self) -> &'static str {
        match self {
            Origin::Bootstrap => "bootstrap",
            Origin::Api => "api",
        }
    }

    pub fn parse(s: &str) -> Option<Origin> {
        match s {
            "bootstrap" => Some(Origin::Bootstrap),
            "api" => Some(Origin::Api),
            _ => None,
        }
    }
}

/// One layer of the catalog.
#[derive(Debug, Clone, Serialize)]
pub struct LayerRow {
    pub id: String,
    pub origin: Origin,
    /// The layer's definition without its per-version fields (JSON of
    /// [`crate::layer::config::RawLayerDef`]); empty for bootstrap layers,
    /// whose definition is their file.
    #[serde(skip)]
    pub meta: String,
    /// Current version number (`None`: deleted).
    pub current: Option<u64>,
    pub created_at: String,
    pub deleted_at: Option<String>,
}

/// A version to add: its data file is already durable on disk.
#[derive(Debug, Clone)]
pub struct NewVersion {
    /// The data file: relative to the data folder for published versions,
    /// absolute for a bootstrap file.
    pub file: String,
    /// `geojson` or `flatgeobuf`.
    pub format: String,
    /// `EPSG:nnnn` of the file's coordinates.
    pub crs: String,
    /// `en` (x = east / longitude) or `ne`.
    pub axis_order: String,
    /// SHA-256 (hex) of the data file.
    pub sha256: String,
    pub features: u64,
    pub bytes: u64,
    pub origin: Origin,
    /// Key id of the publisher (`None` for bootstrap).
    pub created_by: Option<String>,
    /// The validation report (JSON), kept with the version.
    pub report: Option<String>,
    /// Free-text note.
    pub note: Option<String>,
    /// Attribute names in the file.
    pub fields: Vec<String>,
}

/// One stored version.
#[derive(Debug, Clone, Serialize)]
pub struct VersionRow {
    pub layer: String,
    pub version: u64,
    #[serde(skip)]
    pub file: String,
    pub format: String,
    pub crs: String,
    pub axis_order: String,
    pub sha256: String,
    pub features: u64,
    pub bytes: u64,
    pub origin: Origin,
    pub created_at: String,
    pub created_by: Option<String>,
    pub note: Option<String>,
    pub fields: Vec<String>,
}

/// One API key (never the secret).
#[derive(Debug, Clone, Serialize)]
pub struct KeyRow {
    pub id: String,
    pub role: Role,
    pub label: Option<String>,
    pub created_at: String,
    pub revoked_at: Option<String>,
}

/// What changed a layer's current version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    Publish,
    Rollback,
    Delete,
    Bootstrap,
}

/// Whether recording `new` would repeat `current`: both bootstrap versions
/// of the same file with the same content (see [`Catalog::add_version`]).
pub fn repeats_bootstrap(current: &VersionRow, new: &NewVersion) -> bool {
    new.origin == Origin::Bootstrap
        && current.origin == Origin::Bootstrap
        && current.file == new.file
        && current.sha256 == new.sha256
}

impl EventKind {
    pub fn as_str(&self) -> &'static str {
        match self {
            EventKind::Publish => "publish",
            EventKind::Rollback => "rollback",
            EventKind::Delete => "delete",
            EventKind::Bootstrap => "bootstrap",
        }
    }
}

/// The durable catalog. Every method is one transaction: it either happens
/// whole and durably (`synchronous=FULL` in the embedded store) or not at
/// all. Methods block: call them off the async executor.
pub trait Catalog: Send + Sync {
    /// `sqlite` (the embedded store) or `postgres`, for `/health`.
    fn kind(&self) -> &'static str {
        "sqlite"
    }
    /// A round trip to a database server (blocking; the embedded store has
    /// none to make).
    fn ping(&self) -> Result<(), StoreError> {
        Ok(())
    }
    /// Every layer, deleted ones included.
    fn layers(&self) -> Result<Vec<LayerRow>, StoreError>;
    fn layer(&self, id: &str) -> Result<Option<LayerRow>, StoreError>;
    /// Creates a layer with no version yet (a deleted layer of the same id is
    /// replaced). `Conflict` if a live layer has the id.
    fn create_layer(&self, id: &str, origin: Origin, meta: &str) -> Result<(), StoreError>;
    /// Replaces the stored definition of a layer.
    fn update_meta(&self, id: &str, meta: &str) -> Result<(), StoreError>;
    /// Adds the next version of a layer and makes it current. A bootstrap
    /// version whose file and SHA-256 are those of the current version,
    /// itself a bootstrap one, is that version: it is returned and nothing
    /// is recorded (instances sharing a catalog that start together each
    /// find the layer's file unrecorded and record it; only the first
    /// counts). Decided under the layer's lock, in the adding transaction.
    fn add_version(
        &self,
        layer: &str,
        v: &NewVersion,
        kind: EventKind,
    ) -> Result<VersionRow, StoreError>;
    fn versions(&self, layer: &str) -> Result<Vec<VersionRow>, StoreError>;
    fn version(&self, layer: &str, version: u64) -> Result<Option<VersionRow>, StoreError>;
    /// Makes an existing version current (rollback).
    fn set_current(&self, layer: &str, version: u64) -> Result<(), StoreError>;
    /// Marks a layer deleted (its versions stay, for audits and `as of`).
    fn delete_layer(&self, layer: &str) -> Result<(), StoreError>;
    /// Layer -> version current at `at` (RFC 3339, UTC), for layers that
    /// existed then.
    fn in_force_at(&self, at: &str) -> Result<BTreeMap<String, u64>, StoreError>;

    fn create_key(
        &self,
        id: &str,
        hash: &str,
        role: Role,
        label: Option<&str>,
    ) -> Result<KeyRow, StoreError>;
    /// The live (not revoked) key with this hash.
    fn key_by_hash(&self, hash: &str) -> Result<Option<KeyRow>, StoreError>;
    fn keys(&self) -> Result<Vec<KeyRow>, StoreError>;
    /// Revokes a key; `false` if there was no live key with that id.
    fn revoke_key(&self, id: &str) -> Result<bool, StoreError>;
}
