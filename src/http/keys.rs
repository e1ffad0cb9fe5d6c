//! Key endpoints: `GET /api/me` (who am I), and for admins
//! `POST /api/keys` (`{"role": "approver", "label": "..."}`; the secret is
//! in this answer only), `GET /api/keys`, `DELETE /api/keys/{id}`.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::Deserialize;
use serde_json::{Value, json};

use super::error::ApiError;
use super::state::AppState;
use crate::auth::{Caller, Role, new_key};
use crate::store::Catalog;

fn catalog(st: &AppState) -> Result<Arc<dyn Catalog>, ApiError> {
    st.catalog
        .clone()
        .ok_or_else(|| ApiError::Unavailable("this server has no key store".into()))
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, crate::store::StoreError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError::Internal(format!("key store task: {e}")))?
        .map_err(ApiError::from)
}

/// `GET /api/me`: the caller's role (`401` without a key).
pub async fn me(Extension(caller): Extension<Caller>) -> Result<Json<Value>, ApiError> {
    match caller.role {
        Some(role) => Ok(Json(json!({"role": role, "key_id": caller.key_id}))),
        None => Err(ApiError::Unauthorized(
            "no API key was sent (Authorization: Bearer <key>)".into(),
        )),
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewKeyRequest {
    pub role: String,
    #[serde(default)]
    pub label: Option<String>,
}

/// `POST /api/keys`
pub async fn create(
    State(st): State<Arc<AppState>>,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let c = catalog(&st)?;
    let req: NewKeyRequest = serde_json::from_slice(&body)
        .map_err(|e| ApiError::BadRequest(format!("key request: {e}")))?;
    let role = Role::parse(&req.role).ok_or_else(|| {
        ApiError::BadRequest(format!(
            "unknown role `{}` (viewer, approver, publisher, admin)",
            req.role.chars().take(40).collect::<String>()
        ))
    })?;
    if req.label.as_ref().is_some_and(|l| l.len() > 200) {
        return Err(ApiError::BadRequest(
            "label is longer than 200 bytes".into(),
        ));
    }
    let key = new_key();
    let (id, hash, label) = (key.id.clone(), key.hash.clone(), req.label.clone());
    let row = blocking(move || c.create_key(&id, &hash, role, label.as_deref())).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({
            "id": row.id,
            "role": row.role,
            "label": row.label,
            "created_at": row.created_at,
            "key": key.secret,
            "note": "the key is shown only once; store it now",
        })),
    )
        .into_response())
}

/// `GET /api/keys`
pub async fn list(State(st): State<Arc<AppState>>) -> Result<Json<Value>, ApiError> {
    let c = catalog(&st)?;
    let keys = blocking(move || c.keys()).await?;
    Ok(Json(json!({ "keys": keys })))
}

/// `DELETE /api/keys/{id}`
pub async fn revoke(
    State(st): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let c = catalog(&st)?;
    let id2 = id.clone();
    let done = blocking(move || c.revoke_key(&id2)).await?;
    if !done {
        return Err(ApiError::NotFound(format!(
            "no live key `{}`",
            id.chars().take(40).collect::<String>()
        )));
    }
    st.keys.clear();
    Ok(Json(json!({"id": id, "revoked": true})))
}
