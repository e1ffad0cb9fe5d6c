//! Publishing endpoints (role `publisher`):
//!
//! * `POST /api/layers` creates a layer from a definition (query string or
//!   form fields: `id`, `title`, `category`, `access`, `crs`, ...) and a
//!   first upload;
//! * `POST /api/layers/{id}/versions` publishes a new version;
//! * `GET /api/layers`, `GET /api/layers/{id}/versions` list them;
//! * `POST /api/layers/{id}/rollback` (`{"version": n}`, default: the one
//!   before the current);
//! * `DELETE /api/layers/{id}`.
//!
//! Uploads are raw bodies or multipart forms; `?dry_run=true` validates
//! without publishing. Every answer to an upload carries the validation
//! report. The work runs on a blocking thread ([`crate::publish`]).

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::{Path, Query, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::Deserialize;
use serde_json::{Value, json};

use super::error::ApiError;
use super::state::AppState;
use super::upload::{Received, receive};
use crate::auth::{Access, Caller, Mask, Role};
use crate::crs::Crs;
use crate::layer::config::{InvalidPolicy, RawLayerDef, valid_layer_id};
use crate::publish::{Outcome, Publisher, Upload};

fn publisher(st: &AppState) -> Result<Arc<Publisher>, ApiError> {
    st.publish.clone().ok_or_else(|| {
        ApiError::Unavailable("publishing is not enabled on this server (no data folder)".into())
    })
}

/// Query parameters and form fields, merged (form fields win).
fn params(query: BTreeMap<String, String>, r: &Received) -> BTreeMap<String, String> {
    let mut p = query;
    for (k, v) in &r.fields {
        p.insert(k.clone(), v.clone());
    }
    p
}

fn flag(p: &BTreeMap<String, String>, name: &str) -> Result<bool, ApiError> {
    match p.get(name).map(|s| s.as_str()) {
        None | Some("false") | Some("0") | Some("") => Ok(false),
        Some("true") | Some("1") => Ok(true),
        Some(other) => Err(ApiError::BadRequest(format!(
            "`{name}` must be true or false, not `{}`",
            other.chars().take(20).collect::<String>()
        ))),
    }
}

fn upload_of(
    st: &AppState,
    p: &BTreeMap<String, String>,
    r: &Received,
    caller: &Caller,
) -> Result<Upload, ApiError> {
    let crs = match p.get("crs").filter(|s| !s.is_empty()) {
        Some(s) => Some(Crs::parse(s).map_err(|e| ApiError::Rejected {
            status: 422,
            message: format!("crs: {e}"),
            report: None,
        })?),
        None => None,
    };
    let declared = match p.get("format").filter(|s| !s.is_empty()) {
        Some(f) => {
            Some(
                crate::ingest::UploadFormat::parse(f).ok_or_else(|| ApiError::Rejected {
                    status: 415,
                    message: format!(
                        "unsupported format `{}` (geojson, fgb, gpkg, zip; with the gdal feature also dxf, kml, kmz, gml, tab, gdb, csv)",
                        f.chars().take(40).collect::<String>()
                    ),
                    report: None,
                })?,
            )
        }
        None => r.declared,
    };
    Ok(Upload {
        path: r.path.clone(),
        declared,
        crs,
        dry_run: flag(p, "dry_run")?,
        by: caller.key_id.clone(),
        note: p.get("note").cloned(),
        max_vertices: st.config.max_layer_vertices,
    })
}

fn answer(st: &AppState, id: &str, out: Outcome) -> Response {
    let Some(version) = out.version else {
        return (
            StatusCode::OK,
            Json(json!({"layer": id, "dry_run": true, "report": out.report,
                        "timings_ms": out.timings})),
        )
            .into_response();
    };
    let tag = out.layer.as_ref().map(|l| l.version_tag());
    if let Some(l) = &out.layer {
        st.set_def(l.def.clone());
    }
    // Tiles of the replaced version can no longer be asked for by key.
    st.cache.invalidate_layer(id);
    (
        StatusCode::CREATED,
        Json(json!({
            "layer": id,
            "version": version,
            "version_tag": tag,
            "tilejson": format!("/tiles/{id}"),
            "report": out.report,
            "timings_ms": out.timings,
        })),
    )
        .into_response()
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, crate::publish::PublishError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError::Internal(format!("publish task: {e}")))?
        .map_err(ApiError::from)
}

/// `POST /api/layers`
pub async fn create(
    State(st): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Query(query): Query<BTreeMap<String, String>>,
    req: Request,
) -> Result<Response, ApiError> {
    let p = publisher(&st)?;
    let received = receive(req, &p.tmp_dir(), st.config.max_upload_bytes).await?;
    let params = params(query, &received);
    let spec = spec_of(&params)?;
    let upload = upload_of(&st, &params, &received, &caller)?;
    let id = spec.id.clone();
    let out = blocking(move || {
        let r = p.create(spec, &upload);
        drop(received);
        r
    })
    .await?;
    Ok(answer(&st, &id, out))
}

/// The layer definition of a create request.
fn spec_of(p: &BTreeMap<String, String>) -> Result<RawLayerDef, ApiError> {
    let need = |k: &str| {
        p.get(k)
            .filter(|s| !s.trim().is_empty())
            .cloned()
            .ok_or_else(|| ApiError::BadRequest(format!("`{k}` is required")))
    };
    let id = need("id")?;
    if !valid_layer_id(&id) {
        return Err(ApiError::BadRequest(format!(
            "`{}` is not a valid layer id (1-64 of a-z, 0-9, `_`, `-`)",
            id.chars().take(70).collect::<String>()
        )));
    }
    let access = match p.get("access") {
        Some(a) => Access::parse(a).map_err(|e| ApiError::BadRequest(format!("access: {e}")))?,
        None => Access::Public,
    };
    let mut mask = Mask::new();
    if let Some(m) = p.get("mask").filter(|s| !s.is_empty()) {
        for pair in m.split(',') {
            let (attr, role) = pair.split_once('=').ok_or_else(|| {
                ApiError::BadRequest("mask: use `attribute=role,attribute=role`".into())
            })?;
            let role = Role::parse(role).ok_or_else(|| {
                ApiError::BadRequest(format!("mask: unknown role `{}`", role.trim()))
            })?;
            mask.insert(attr.trim().to_string(), role);
        }
    }
    let zoom = |k: &str| -> Result<Option<u8>, ApiError> {
        p.get(k)
            .map(|s| {
                s.parse::<u8>()
                    .map_err(|_| ApiError::BadRequest(format!("`{k}` must be a zoom level 0-22")))
            })
            .transpose()
    };
    Ok(RawLayerDef {
        id,
        title: need("title")?,
        category: need("category")?,
        description: p.get("description").cloned(),
        source: std::path::PathBuf::new(),
        format: None,
        crs: "EPSG:4326".into(),
        axis_order: None,
        id_field: None,
        attributes: Vec::new(),
        minzoom: zoom("minzoom")?,
        maxzoom: zoom("maxzoom")?,
        drop_small: p.get("drop_small").is_none_or(|v| v != "false"),
        access,
        mask,
        invalid: if p.get("invalid").is_some_and(|v| v == "reject") {
            InvalidPolicy::Reject
        } else {
            InvalidPolicy::Repair
        },
        simplify_px: None,
        label_points: p.get("label_points").is_some_and(|v| v == "true"),
    })
}

/// `POST /api/layers/{id}/versions`
pub async fn new_version(
    State(st): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    Query(query): Query<BTreeMap<String, String>>,
    req: Request,
) -> Result<Response, ApiError> {
    let p = publisher(&st)?;
    if !valid_layer_id(&id) || !st.is_configured(&id) {
        return Err(ApiError::NotFound(format!(
            "no layer `{}`",
            id.chars().take(70).collect::<String>()
        )));
    }
    let received = receive(req, &p.tmp_dir(), st.config.max_upload_bytes).await?;
    let params = params(query, &received);
    let upload = upload_of(&st, &params, &received, &caller)?;
    let id2 = id.clone();
    let out = blocking(move || {
        let r = p.publish(&id2, &upload);
        drop(received);
        r
    })
    .await?;
    Ok(answer(&st, &id, out))
}

/// `GET /api/layers`: every layer of the catalog with its current version.
pub async fn list(State(st): State<Arc<AppState>>) -> Result<Json<Value>, ApiError> {
    let p = publisher(&st)?;
    let rows = blocking(move || Ok(p.catalog.layers()?)).await?;
    let snap = st.registry.snapshot();
    let layers: Vec<Value> = rows
        .into_iter()
        .filter(|r| r.deleted_at.is_none())
        .map(|r| {
            let loaded = snap.get(&r.id);
            json!({
                "id": r.id,
                "origin": r.origin,
                "current": r.current,
                "version_tag": loaded.map(|l| l.version_tag()),
                "title": loaded.map(|l| l.def.title.clone()),
                "created_at": r.created_at,
            })
        })
        .collect();
    Ok(Json(json!({ "layers": layers })))
}

/// `GET /api/layers/{id}/versions`
pub async fn versions(
    State(st): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let p = publisher(&st)?;
    let id2 = id.clone();
    let (row, versions) = blocking(move || {
        let row = p.catalog.layer(&id2)?;
        let versions = p.catalog.versions(&id2)?;
        Ok((row, versions))
    })
    .await?;
    let row = row.filter(|r| r.deleted_at.is_none()).ok_or_else(|| {
        ApiError::NotFound(format!(
            "no layer `{}`",
            id.chars().take(70).collect::<String>()
        ))
    })?;
    Ok(Json(json!({
        "layer": id,
        "current": row.current,
        "versions": versions,
    })))
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RollbackRequest {
    pub version: Option<u64>,
}

/// `POST /api/layers/{id}/rollback`
pub async fn rollback(
    State(st): State<Arc<AppState>>,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let p = publisher(&st)?;
    let req: RollbackRequest = if body.iter().all(|b| b.is_ascii_whitespace()) {
        RollbackRequest::default()
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| ApiError::BadRequest(format!("rollback request: {e}")))?
    };
    let id2 = id.clone();
    let layer = blocking(move || p.rollback(&id2, req.version)).await?;
    st.set_def(layer.def.clone());
    st.cache.invalidate_layer(&id);
    Ok(Json(json!({
        "layer": id,
        "current": layer.version,
        "version_tag": layer.version_tag(),
    }))
    .into_response())
}

/// `DELETE /api/layers/{id}`
pub async fn delete(
    State(st): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let p = publisher(&st)?;
    if !st.is_configured(&id) {
        return Err(ApiError::NotFound(format!(
            "no layer `{}`",
            id.chars().take(70).collect::<String>()
        )));
    }
    let id2 = id.clone();
    blocking(move || p.delete(&id2)).await?;
    st.remove_def(&id);
    st.cache.invalidate_layer(&id);
    Ok((StatusCode::OK, Json(json!({"layer": id, "deleted": true}))).into_response())
}
