//! Glyph endpoints for map labels (see [`crate::glyphs`] for how and why
//! they are generated): `GET /fonts` lists the fonts and whether CJK is
//! covered; `GET /fonts/{stack}/{range}.pbf` serves one SDF glyph range.
//! Ranges are rendered in a tile render slot on the render pool (a flood
//! of distinct ranges waits for slots, then gets `503`, like cold tiles)
//! and cached by stack and range.

use std::sync::{Arc, OnceLock};

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde_json::json;
use sha2::{Digest, Sha256};

use super::error::ApiError;
use super::state::AppState;
use crate::glyphs::{self, GlyphError};

/// Rendered ranges kept in memory (a CJK range is ~100-200 KB).
const CACHE_BYTES: u64 = 64 * 1024 * 1024;

/// A rendered range and its strong ETag.
#[derive(Clone)]
struct Rendered {
    body: Bytes,
    etag: HeaderValue,
}

fn cache() -> &'static moka::future::Cache<String, Rendered> {
    static C: OnceLock<moka::future::Cache<String, Rendered>> = OnceLock::new();
    C.get_or_init(|| {
        moka::future::Cache::builder()
            .weigher(|k: &String, v: &Rendered| {
                u32::try_from(k.len() + v.body.len()).unwrap_or(u32::MAX)
            })
            .max_capacity(CACHE_BYTES)
            .build()
    })
}

impl From<GlyphError> for ApiError {
    fn from(e: GlyphError) -> Self {
        match e {
            GlyphError::BadRange(_) | GlyphError::BadStack(_) => {
                ApiError::BadRequest(e.to_string())
            }
            GlyphError::UnknownStack(_) => ApiError::NotFound(e.to_string()),
        }
    }
}

async fn library() -> Result<&'static glyphs::FontLibrary, ApiError> {
    tokio::task::spawn_blocking(glyphs::library)
        .await
        .map_err(|e| ApiError::Internal(format!("font library task failed: {e}")))
}

/// `GET /fonts`: `{"fonts": [{name, cjk, origin}], "cjk": bool}`.
pub async fn list() -> Result<Response, ApiError> {
    let lib = library().await?;
    let mut resp = Json(json!({"fonts": lib.fonts(), "cjk": lib.has_cjk()})).into_response();
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    Ok(resp)
}

/// `GET /fonts/{stack}/{range}.pbf`: `application/x-protobuf`, strong ETag,
/// cacheable for a day (glyphs change only with the installed fonts).
pub async fn glyphs(
    State(st): State<Arc<AppState>>,
    Path((stack, range)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    if !range.ends_with(".pbf") {
        return Err(GlyphError::BadRange(range.chars().take(40).collect()).into());
    }
    let start = glyphs::parse_range(&range)?;
    let names = glyphs::parse_stack(&stack)?;
    let key = format!("{}/{start}", names.join(","));
    let rendered = match cache().get(&key).await {
        Some(r) => r,
        None => {
            let lib = library().await?;
            let slot = st.limits.render_slot().await?;
            let body = st
                .renders
                .run(move || {
                    let _slot = slot;
                    lib.render(&names, start)
                })
                .await
                .map_err(|e| ApiError::Internal(format!("glyph task failed: {e}")))??;
            let hash = Sha256::digest(&body);
            let etag = HeaderValue::from_str(&format!("\"{}\"", hex::encode(&hash[..12])))
                .map_err(|e| ApiError::Internal(e.to_string()))?;
            let r = Rendered {
                body: Bytes::from(body),
                etag,
            };
            cache().insert(key, r.clone()).await;
            r
        }
    };
    let cache_control = HeaderValue::from_static("public, max-age=86400");
    if headers
        .get(header::IF_NONE_MATCH)
        .is_some_and(|v| v.as_bytes() == rendered.etag.as_bytes())
    {
        let mut resp = StatusCode::NOT_MODIFIED.into_response();
        resp.headers_mut().insert(header::ETAG, rendered.etag);
        resp.headers_mut()
            .insert(header::CACHE_CONTROL, cache_control);
        return Ok(resp);
    }
    let mut resp = rendered.body.into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-protobuf"),
    );
    h.insert(header::ETAG, rendered.etag);
    h.insert(header::CACHE_CONTROL, cache_control);
    Ok(resp)
}
