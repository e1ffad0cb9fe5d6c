//! The fast path for the commonest request a tile server gets: an
//! anonymous `GET` of a tile that is already in the cache.
//!
//! Such a request is answered before the router, without the middleware
//! stack (CORS, metrics, limits, authentication, rate limit, compression,
//! JSON errors: seven boxed layers, a third of a cached tile's CPU time),
//! doing what those layers would have done for it: the per-address rate
//! limit, the request metrics, the safety headers (`limits::finish`) and
//! the CORS headers. The answer itself comes from [`tiles::answer`], the code the
//! handler uses. Anything else (a key, a miss, a path or query that needs
//! decoding, a `HEAD`, a body) returns `None` and goes through the router
//! unchanged, so every error keeps the router's shape.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use axum::http::{HeaderValue, Method, Request, header};
use axum::response::{IntoResponse, Response};

use super::state::AppState;
use super::tiles;
use crate::auth::Caller;
use crate::cache::TileKey;
use crate::tiles::TileCoord;

/// The route label the router's metrics give tile requests.
pub const TILE_ROUTE: &str = "/tiles/{ids}/{z}/{x}/{y}";

/// Answers `req` if it is an anonymous `GET` of a cached tile; `None`
/// sends it through the router.
pub async fn try_answer<B>(st: &AppState, req: &Request<B>, peer: SocketAddr) -> Option<Response> {
    let started = Instant::now();
    if req.method() != Method::GET {
        return None;
    }
    let h = req.headers();
    if h.contains_key(header::AUTHORIZATION)
        || h.contains_key(header::CONTENT_ENCODING)
        || h.contains_key(header::CONTENT_LENGTH)
        || h.contains_key(header::TRANSFER_ENCODING)
    {
        return None;
    }
    let (ids, z, x, y) = split_path(req.uri().path())?;
    let v = match req.uri().query() {
        None => None,
        Some(q) => version_param(q)?,
    };
    let coord = TileCoord::parse(z, x, y).ok()?;
    let snap = st.registry.snapshot();
    let caller = Caller::anonymous();
    let layers = tiles::resolve_layers(st, &snap, ids, &caller).ok()?;
    let key = TileKey {
        layers: Arc::from(tiles::versions_key(&layers, &caller)),
        z: coord.z,
        x: coord.x,
        y: coord.y,
    };
    let cached = st.cache.get(&key).await?;
    // Charged only for a hit: a miss is charged once, by the router's
    // limiter. A refusal charges nothing, so the router refuses it again
    // with the usual 429.
    if !st.limits.allow_anonymous(st.limits.client_ip(peer.ip(), h)) {
        return None;
    }
    st.metrics.cache_hits.inc();
    let resp = match tiles::answer(st, &layers, cached, v, h).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    };
    // The safety headers the router's `limits::guard` adds to every answer.
    let mut resp = super::limits::finish(st, req.uri().path(), resp);
    // What the router's `CorsLayer` (any origin, exposing every header)
    // adds to a simple request.
    let rh = resp.headers_mut();
    rh.insert(
        header::ACCESS_CONTROL_EXPOSE_HEADERS,
        HeaderValue::from_static("*"),
    );
    rh.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    super::record_request(st, TILE_ROUTE, resp.status().as_u16(), started);
    Some(resp)
}

/// `/tiles/{ids}/{z}/{x}/{y}` split into its four parts; `None` for any
/// other shape or a path with percent-escapes (the router decodes those).
fn split_path(path: &str) -> Option<(&str, &str, &str, &str)> {
    let rest = path.strip_prefix("/tiles/")?;
    if rest.contains('%') {
        return None;
    }
    let mut parts = rest.split('/');
    let out = (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    parts.next().is_none().then_some(out)
}

/// The `v` parameter of a plain query (`Some(None)` when absent). `None`
/// (router, please) for anything the router's decoder would treat
/// specially: escapes, `+`, a repeated or value-less `v`.
fn version_param(query: &str) -> Option<Option<&str>> {
    if query.contains(['%', '+']) {
        return None;
    }
    let mut v = None;
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        match pair.split_once('=') {
            Some(("v", value)) if v.is_none() => v = Some(value),
            Some(("v", _)) => return None,
            None if pair == "v" => return None,
            _ => {}
        }
    }
    Some(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths() {
        assert_eq!(
            split_path("/tiles/a,b/14/1/2.mvt"),
            Some(("a,b", "14", "1", "2.mvt"))
        );
        assert_eq!(split_path("/tiles/a/14/1"), None);
        assert_eq!(split_path("/tiles/a/14/1/2/3"), None);
        assert_eq!(split_path("/tiles/a%2Cb/14/1/2"), None);
        assert_eq!(split_path("/tilesx/a/14/1/2"), None);
        assert_eq!(split_path("/tiles/a"), None);
    }

    #[test]
    fn queries() {
        assert_eq!(version_param(""), Some(None));
        assert_eq!(version_param("v=3.abc"), Some(Some("3.abc")));
        assert_eq!(version_param("x=1&v=3.abc&y"), Some(Some("3.abc")));
        assert_eq!(version_param("v=1&v=2"), None);
        assert_eq!(version_param("v"), None);
        assert_eq!(version_param("v=a%20b"), None);
        assert_eq!(version_param("v=a+b"), None);
    }
}
