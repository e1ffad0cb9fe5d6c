//! Tile endpoints: `GET /tiles/{ids}` (TileJSON 3.0.0) and
//! `GET /tiles/{ids}/{z}/{x}/{y}[.mvt|.pbf]` (the tile), where `{ids}` is
//! one layer id or a comma-separated composite.

use std::sync::Arc;
use std::time::Instant;

use axum::Extension;
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value as Json_, json};

use super::base_url::base_url;
use super::error::ApiError;
use super::state::AppState;
use crate::auth::Caller;
use crate::cache::{CachedTile, Encoding, TileKey};
use crate::layer::Layer;
use crate::layer::registry::Snapshot;
use crate::tiles::{TileCoord, render_tile};

pub const MVT_CONTENT_TYPE: &str = "application/vnd.mapbox-vector-tile";

#[derive(Debug, Deserialize)]
pub struct TileQuery {
    /// Version tag from the TileJSON URL.
    pub v: Option<String>,
}

/// Resolves `a,b,c` to loaded layers: duplicates collapsed (first kept),
/// unknown ids 404, configured-but-loading 503. A layer the caller may not
/// see is answered exactly like an unknown one (404), so its existence does
/// not leak.
pub fn resolve_layers(
    st: &AppState,
    snap: &Snapshot,
    ids: &str,
    caller: &Caller,
) -> Result<Vec<Arc<Layer>>, ApiError> {
    let mut out: Vec<Arc<Layer>> = Vec::new();
    for id in ids.split(',') {
        if id.is_empty() {
            return Err(ApiError::BadRequest(format!(
                "empty layer id in `{}`",
                truncate(ids)
            )));
        }
        if out.iter().any(|l| l.def.id == id) {
            continue;
        }
        if out.len() >= st.config.max_composite {
            return Err(ApiError::BadRequest(format!(
                "a composite may name at most {} distinct layers",
                st.config.max_composite
            )));
        }
        let not_found = || ApiError::NotFound(format!("no layer `{}`", truncate(id)));
        match snap.get(id) {
            Some(l) if !l.def.access.allows(caller) => return Err(not_found()),
            Some(l) => out.push(l.clone()),
            None if st.is_configured(id) && !st.is_visible(id, caller) => {
                return Err(not_found());
            }
            None if st.is_configured(id) => {
                return Err(ApiError::Unavailable(format!(
                    "layer `{id}` is still loading"
                )));
            }
            None => {
                return Err(ApiError::NotFound(format!("no layer `{}`", truncate(id))));
            }
        }
    }
    Ok(out)
}

/// Keeps echoed input short (it is JSON-escaped by serde, never HTML).
fn truncate(s: &str) -> String {
    s.chars().take(80).collect()
}

/// `id@tag,id@tag`: the cache key part and the composite's version tag;
/// a layer with attributes hidden from the caller adds `~` and the hidden
/// names, so masked and unmasked tiles are cached apart.
pub fn versions_key(layers: &[Arc<Layer>], caller: &Caller) -> String {
    layers
        .iter()
        .map(|l| {
            let hidden = crate::auth::hidden(&l.def.mask, caller);
            if hidden.is_empty() {
                format!("{}@{}", l.def.id, l.version_tag())
            } else {
                format!("{}@{}~{}", l.def.id, l.version_tag(), hidden.join("~"))
            }
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// `(layer, field index)` of every attribute hidden from the caller.
fn hidden_fields(layers: &[Arc<Layer>], caller: &Caller) -> Vec<(String, u16)> {
    let mut out = Vec::new();
    for l in layers {
        for name in crate::auth::hidden(&l.def.mask, caller) {
            if let Some(i) = l.field_index(name) {
                out.push((l.def.id.clone(), i));
            }
        }
    }
    out
}

/// Whether a response depends on who asks: a restricted layer or one with
/// masked attributes. Such responses are `Cache-Control: private`.
pub fn is_personal(layers: &[Arc<Layer>]) -> bool {
    layers
        .iter()
        .any(|l| !l.def.access.is_public() || !l.def.mask.is_empty())
}

fn composite_tag(layers: &[Arc<Layer>]) -> String {
    layers
        .iter()
        .map(|l| l.version_tag())
        .collect::<Vec<_>>()
        .join("_")
}

/// Picks br, then gzip, then identity from `Accept-Encoding` (q=0 honoured).
pub fn negotiate(headers: &HeaderMap) -> Encoding {
    let Some(v) = headers
        .get(header::ACCEPT_ENCODING)
        .and_then(|v| v.to_str().ok())
    else {
        return Encoding::Identity;
    };
    let (mut br, mut gz) = (false, false);
    for part in v.split(',') {
        let mut it = part.split(';');
        let name = it.next().unwrap_or("").trim().to_ascii_lowercase();
        let q = it
            .find_map(|p| {
                p.trim()
                    .strip_prefix("q=")
                    .map(|q| q.trim().parse::<f32>().unwrap_or(0.0))
            })
            .unwrap_or(1.0);
        if q <= 0.0 {
            continue;
        }
        match name.as_str() {
            "br" => br = true,
            "gzip" | "x-gzip" => gz = true,
            "*" => {
                br = true;
                gz = true;
            }
            _ => {}
        }
    }
    if br {
        Encoding::Brotli
    } else if gz {
        Encoding::Gzip
    } else {
        Encoding::Identity
    }
}

fn etag_matches(headers: &HeaderMap, etag: &str) -> bool {
    headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(',').any(|t| {
                let t = t.trim().trim_start_matches("W/");
                t == "*" || t == etag
            })
        })
}

pub async fn tile(
    State(st): State<Arc<AppState>>,
    Path((ids, z, x, y)): Path<(String, String, String, String)>,
    Query(q): Query<TileQuery>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let coord = TileCoord::parse(&z, &x, &y)?;
    let snap = st.registry.snapshot();
    let layers = resolve_layers(&st, &snap, &ids, &caller)?;
    let key = TileKey {
        layers: Arc::from(versions_key(&layers, &caller)),
        z: coord.z,
        x: coord.x,
        y: coord.y,
    };
    let cached = match st.cache.get(&key).await {
        Some(t) => {
            st.metrics.cache_hits.inc();
            t
        }
        None => {
            st.metrics.cache_misses.inc();
            let mut opts = st.config.render.clone();
            opts.hidden = hidden_fields(&layers, &caller);
            // Bounded concurrency: a slot or `503` after the configured wait.
            let slot = st.limits.render_slot().await?;
            let started = Instant::now();
            let layers2 = layers.clone();
            let enc = negotiate(&headers);
            let t = st
                .renders
                .run(move || {
                    // Held until the render ends, even if the request is gone.
                    let _slot = slot;
                    let refs: Vec<&Layer> = layers2.iter().map(|l| l.as_ref()).collect();
                    let rendered = render_tile(&refs, coord, &opts)?;
                    let t = CachedTile::new(rendered.bytes, rendered.features);
                    // Compressed here, on the render's thread and slot: handed
                    // to a blocking task of its own, every connection's
                    // compression ran beside the renders (more CPU work than
                    // cores, on more threads; see `cpu_pool`).
                    if !t.is_empty() {
                        let _ = t.body(enc);
                    }
                    Ok::<_, crate::tiles::TileError>(t)
                })
                .await
                .map_err(|e| ApiError::Internal(format!("tile task failed: {e}")))?
                .map_err(|e| ApiError::Internal(format!("tile {coord:?}: {e}")))?;
            st.metrics
                .tile_render_seconds
                .observe(started.elapsed().as_secs_f64());
            st.metrics.tile_bytes.observe(t.raw.len() as f64);
            let t = Arc::new(t);
            st.cache.insert(key, t.clone()).await;
            t
        }
    };
    answer(&st, &layers, cached, q.v.as_deref(), &headers).await
}

/// The answer for a rendered tile: negotiated encoding, `ETag`,
/// `Cache-Control` (immutable when `v` is the current version tag), `Vary`,
/// `304` on a matching `If-None-Match`, `204` for an empty tile. Shared by
/// the handler and the cache-hit fast path ([`super::fast_tile`]).
pub async fn answer(
    st: &AppState,
    layers: &[Arc<Layer>],
    cached: Arc<CachedTile>,
    v: Option<&str>,
    headers: &HeaderMap,
) -> Result<Response, ApiError> {
    let enc = if cached.is_empty() {
        Encoding::Identity
    } else {
        negotiate(headers)
    };
    let current = composite_tag(layers);
    let scope = if is_personal(layers) {
        "private"
    } else {
        "public"
    };
    let cache_control = if v == Some(current.as_str()) {
        format!("{scope}, max-age=31536000, immutable")
    } else {
        format!("{scope}, max-age={}", st.config.tile_max_age)
    };
    let etag = cached.etag(enc);
    let mut resp_headers = HeaderMap::new();
    let hv = |s: &str| HeaderValue::from_str(s).unwrap_or(HeaderValue::from_static(""));
    resp_headers.insert(header::ETAG, hv(&etag));
    resp_headers.insert(header::CACHE_CONTROL, hv(&cache_control));
    resp_headers.insert(
        header::VARY,
        HeaderValue::from_static(if scope == "private" {
            "Accept-Encoding, Authorization"
        } else {
            "Accept-Encoding"
        }),
    );
    if etag_matches(headers, &etag) {
        return Ok((StatusCode::NOT_MODIFIED, resp_headers).into_response());
    }
    if cached.is_empty() {
        return Ok((StatusCode::NO_CONTENT, resp_headers).into_response());
    }
    let body = if cached.needs_compression(enc) {
        let c = cached.clone();
        st.renders
            .run(move || c.body(enc))
            .await
            .map_err(|e| ApiError::Internal(format!("compression task failed: {e}")))?
    } else {
        cached.body(enc)
    };
    resp_headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(MVT_CONTENT_TYPE),
    );
    if let Some(ce) = enc.header() {
        resp_headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static(ce));
    }
    Ok((StatusCode::OK, resp_headers, body).into_response())
}

/// TileJSON 3.0.0 for one layer or a composite.
pub async fn tilejson(
    State(st): State<Arc<AppState>>,
    Path(ids): Path<String>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let snap = st.registry.snapshot();
    let layers = resolve_layers(&st, &snap, &ids, &caller)?;
    let base = base_url(
        st.config.public_url.as_deref(),
        &headers,
        "http://127.0.0.1:3000",
    );
    let id_path = layers
        .iter()
        .map(|l| l.def.id.as_str())
        .collect::<Vec<_>>()
        .join(",");
    let tag = composite_tag(&layers);
    let minzoom = layers.iter().map(|l| l.def.minzoom).min().unwrap_or(0);
    let maxzoom = layers.iter().map(|l| l.def.maxzoom).max().unwrap_or(20);
    let mut b = [
        f64::INFINITY,
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::NEG_INFINITY,
    ];
    for l in &layers {
        b[0] = b[0].min(l.bounds[0]);
        b[1] = b[1].min(l.bounds[1]);
        b[2] = b[2].max(l.bounds[2]);
        b[3] = b[3].max(l.bounds[3]);
    }
    let center_zoom = center_zoom(&b).clamp(minzoom, maxzoom);
    let vector_layers: Vec<Json_> = layers
        .iter()
        .flat_map(|l| {
            let hidden = crate::auth::hidden(&l.def.mask, &caller);
            crate::tiles::vector_layers_of(l, |n| !hidden.contains(&n))
        })
        .collect();
    let name = layers
        .iter()
        .map(|l| l.def.title.as_str())
        .collect::<Vec<_>>()
        .join(" + ");
    let personal = is_personal(&layers);
    let body = Json(json!({
        "tilejson": "3.0.0",
        "name": name,
        "description": layers.iter().filter_map(|l| l.def.description.clone()).collect::<Vec<_>>().join("; "),
        "version": tag,
        "scheme": "xyz",
        "tiles": [format!("{base}/tiles/{id_path}/{{z}}/{{x}}/{{y}}.mvt?v={tag}")],
        "minzoom": minzoom,
        "maxzoom": maxzoom,
        "bounds": b,
        "center": [(b[0] + b[2]) / 2.0, (b[1] + b[3]) / 2.0, center_zoom],
        "vector_layers": vector_layers,
    }));
    let mut resp = body.into_response();
    if personal {
        resp.headers_mut().insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static("private, no-cache"),
        );
        resp.headers_mut()
            .insert(header::VARY, HeaderValue::from_static("Authorization"));
    }
    Ok(resp)
}

/// A zoom at which the bounds fill roughly one 512-px screen.
fn center_zoom(b: &[f64; 4]) -> u8 {
    let span = (b[2] - b[0]).max(b[3] - b[1]).max(1e-9);
    (360.0 / span).log2().floor().clamp(0.0, 20.0) as u8
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_encoding_negotiation() {
        let mut h = HeaderMap::new();
        assert_eq!(negotiate(&h), Encoding::Identity);
        h.insert(
            header::ACCEPT_ENCODING,
            HeaderValue::from_static("gzip, deflate"),
        );
        assert_eq!(negotiate(&h), Encoding::Gzip);
        h.insert(
            header::ACCEPT_ENCODING,
            HeaderValue::from_static("gzip, br;q=0.5"),
        );
        assert_eq!(negotiate(&h), Encoding::Brotli);
        h.insert(
            header::ACCEPT_ENCODING,
            HeaderValue::from_static("br;q=0, gzip"),
        );
        assert_eq!(negotiate(&h), Encoding::Gzip);
        h.insert(
            header::ACCEPT_ENCODING,
            HeaderValue::from_static("identity"),
        );
        assert_eq!(negotiate(&h), Encoding::Identity);
    }

    #[test]
    fn if_none_match_lists() {
        let mut h = HeaderMap::new();
        h.insert(
            header::IF_NONE_MATCH,
            HeaderValue::from_static("\"a\", W/\"b\""),
        );
        assert!(etag_matches(&h, "\"b\""));
        assert!(!etag_matches(&h, "\"c\""));
    }
}
