//! `GET /catalog`: every service the caller may see, with what a client
//! needs to pick one (title, category, geometry type, zooms, bounds, count,
//! version) and the link to its TileJSON.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde_json::{Value, json};

use super::base_url::base_url;
use super::state::AppState;
use crate::auth::Caller;

/// The catalog as the caller may see it: layers they may not see are absent.
pub async fn catalog(
    State(st): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
) -> Response {
    let snap = st.registry.snapshot();
    let base = base_url(
        st.config.public_url.as_deref(),
        &headers,
        "http://127.0.0.1:3000",
    );
    let mut categories: BTreeMap<&str, usize> = BTreeMap::new();
    let services: Vec<Value> = snap
        .layers
        .values()
        .filter(|l| l.def.access.allows(&caller))
        .map(|l| {
            *categories.entry(l.def.category.as_str()).or_default() += 1;
            json!({
                "id": l.def.id,
                "title": l.def.title,
                "category": l.def.category,
                "description": l.def.description,
                "geometry_type": l.kind,
                "minzoom": l.def.minzoom,
                "maxzoom": l.def.maxzoom,
                "bounds": l.bounds,
                "features": l.features.len(),
                "version": l.version,
                "version_tag": l.version_tag(),
                "access": l.def.access,
                "crs": format!("EPSG:{}", l.def.crs.epsg()),
                "tilejson": format!("{base}/tiles/{}", l.def.id),
            })
        })
        .collect();
    let categories: Vec<Value> = categories
        .into_iter()
        .map(|(name, count)| json!({"name": name, "services": count}))
        .collect();
    let mut resp = Json(json!({
        "services": services,
        "categories": categories,
        "loading": !st.progress.is_ready(),
        "role": caller.role,
    }))
    .into_response();
    if caller.role.is_some() {
        resp.headers_mut().insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static("private, no-cache"),
        );
    }
    resp.headers_mut()
        .insert(header::VARY, HeaderValue::from_static("Authorization"));
    resp
}
