//! The web app, embedded in the binary so it works with no network: the
//! viewer at `/`, the approver's review page at `/review`, and their assets
//! (our scripts and MapLibre GL JS, vendored from npm) under `/web/...`.
//!
//! A plain table of `include_bytes!` rather than a crate: a dozen files, no
//! build step. Every answer has its Content-Type, a strong ETag (SHA-256 of
//! the bytes, so `If-None-Match` answers `304`) and `Cache-Control:
//! no-cache` (revalidate: a new binary never serves stale pages). Pages
//! carry a Content-Security-Policy that only allows this origin, so a page
//! cannot make a request that leaves the server even by mistake.

use std::sync::OnceLock;

use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

use super::error::ApiError;

/// One embedded file, served at `/web/{path}`.
pub struct Asset {
    pub path: &'static str,
    pub content_type: &'static str,
    pub body: &'static [u8],
}

macro_rules! asset {
    ($path:literal, $ct:literal) => {
        Asset {
            path: $path,
            content_type: $ct,
            body: include_bytes!(concat!("../../web/", $path)),
        }
    };
}

const HTML: &str = "text/html; charset=utf-8";

/// Every embedded file.
pub static ASSETS: &[Asset] = &[
    asset!("index.html", "text/html; charset=utf-8"),
    asset!("review.html", "text/html; charset=utf-8"),
    asset!("app.css", "text/css; charset=utf-8"),
    asset!("common.js", "text/javascript; charset=utf-8"),
    asset!("viewer.js", "text/javascript; charset=utf-8"),
    asset!("review.js", "text/javascript; charset=utf-8"),
    asset!("favicon.svg", "image/svg+xml"),
    asset!("vendor/maplibre-gl.mjs", "text/javascript; charset=utf-8"),
    asset!(
        "vendor/maplibre-gl-worker.mjs",
        "text/javascript; charset=utf-8"
    ),
    asset!("vendor/maplibre-gl.css", "text/css; charset=utf-8"),
    asset!("vendor/LICENSE.txt", "text/plain; charset=utf-8"),
];

/// Only this origin; inline styles for MapLibre's DOM; workers and images
/// from blobs (MapLibre's own).
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
img-src 'self' data: blob:; worker-src 'self' blob:; child-src 'self' blob:; \
connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'self'; \
form-action 'self'; frame-ancestors 'self'";

fn etags() -> &'static [HeaderValue] {
    static E: OnceLock<Vec<HeaderValue>> = OnceLock::new();
    E.get_or_init(|| {
        ASSETS
            .iter()
            .map(|a| {
                let h = Sha256::digest(a.body);
                HeaderValue::from_str(&format!("\"{}\"", hex::encode(&h[..12])))
                    .unwrap_or_else(|_| HeaderValue::from_static("\"0\""))
            })
            .collect()
    })
}

fn serve(path: &str, headers: &HeaderMap) -> Result<Response, ApiError> {
    let Some(i) = ASSETS.iter().position(|a| a.path == path) else {
        let shown: String = path.chars().take(120).collect();
        return Err(ApiError::NotFound(format!("no file `/web/{shown}`")));
    };
    let asset = &ASSETS[i];
    let etag = etags()
        .get(i)
        .cloned()
        .unwrap_or_else(|| HeaderValue::from_static("\"0\""));
    let fresh = headers
        .get(header::IF_NONE_MATCH)
        .is_some_and(|v| v.as_bytes() == etag.as_bytes());
    let mut resp = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        asset.body.into_response()
    };
    let h = resp.headers_mut();
    if !fresh {
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(asset.content_type),
        );
    }
    h.insert(header::ETAG, etag);
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    if asset.content_type == HTML {
        h.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CSP),
        );
        h.insert(
            header::REFERRER_POLICY,
            HeaderValue::from_static("same-origin"),
        );
    }
    Ok(resp)
}

/// `GET /`: the map viewer.
pub async fn index(headers: HeaderMap) -> Result<Response, ApiError> {
    serve("index.html", &headers)
}

/// `GET /review`: the approver's review page.
pub async fn review(headers: HeaderMap) -> Result<Response, ApiError> {
    serve("review.html", &headers)
}

/// `GET /web/{*path}`: an embedded asset.
pub async fn asset(Path(path): Path<String>, headers: HeaderMap) -> Result<Response, ApiError> {
    serve(&path, &headers)
}
