//! Style endpoints: `GET /styles` (names and titles) and
//! `GET /styles/{name}` (the MapLibre style with its `tudi://` URLs pointing
//! at this server's public base URL; see [`crate::styles`]).

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde_json::json;

use super::base_url::base_url;
use super::error::ApiError;
use super::state::AppState;
use crate::auth::Caller;
use crate::styles::{resolve, visible_only};

/// Fallback base URL when the request names no host.
const FALLBACK: &str = "http://127.0.0.1:3000";

/// The base URL depends on these request headers (unless configured).
const VARY: &str = "host, x-forwarded-host, x-forwarded-proto, authorization";

fn base(st: &AppState, headers: &HeaderMap) -> String {
    base_url(st.config.public_url.as_deref(), headers, FALLBACK)
}

fn with_headers(body: serde_json::Value) -> Response {
    let mut resp = Json(body).into_response();
    let h = resp.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(header::VARY, HeaderValue::from_static(VARY));
    resp
}

/// `GET /styles`: `[{"name", "title", "url"}]` in name order.
pub async fn list(State(st): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    let base = base(&st, &headers);
    let items: Vec<_> = st
        .styles
        .iter()
        .flat_map(|s| s.iter())
        .map(|s| {
            json!({
                "name": s.name,
                "title": s.title,
                "url": format!("{base}/styles/{}", s.name),
            })
        })
        .collect();
    with_headers(json!(items))
}

/// `GET /styles/{name}` (a `.json` suffix is accepted).
pub async fn get_one(
    State(st): State<Arc<AppState>>,
    Path(name): Path<String>,
    caller: Option<Extension<Caller>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let caller = caller.map(|Extension(c)| c).unwrap_or_default();
    let key = name.strip_suffix(".json").unwrap_or(&name);
    let style = st.styles.as_ref().and_then(|s| s.get(key)).ok_or_else(|| {
        let shown: String = name.chars().take(80).collect();
        ApiError::NotFound(format!("no style `{shown}`"))
    })?;
    // Sources and layers the caller may not see are left out, so a map
    // client never asks for a tile it would be refused.
    let visible = |id: &str| st.is_visible(id, &caller);
    let doc = visible_only(&style.doc, &visible);
    Ok(with_headers(resolve(&doc, &base(&st, &headers))))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layer::Registry;
    use crate::styles::load_dir_for;
    use axum::body::Body;
    use axum::http::{Request, StatusCode};
    use tower::ServiceExt;

    fn state(public_url: Option<&str>) -> Arc<AppState> {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let defs = crate::layer::config::read_dir(&root.join("layers")).expect("layers");
        let styles = load_dir_for(&root.join("styles"), &defs).expect("styles");
        let config = super::super::ServerConfig {
            public_url: public_url.map(str::to_string),
            ..Default::default()
        };
        Arc::new(
            AppState::new(Arc::new(Registry::default()), defs, config)
                .with_styles(Arc::new(styles)),
        )
    }

    async fn fetch(
        st: Arc<AppState>,
        req: Request<Body>,
    ) -> (StatusCode, HeaderMap, serde_json::Value) {
        let resp = super::super::app(st).oneshot(req).await.expect("response");
        let status = resp.status();
        let headers = resp.headers().clone();
        let bytes = axum::body::to_bytes(resp.into_body(), 1 << 20)
            .await
            .expect("body");
        (
            status,
            headers,
            serde_json::from_slice(&bytes).expect("json"),
        )
    }

    #[tokio::test]
    async fn forwarded_host_is_honoured() {
        let req = Request::get("/styles/land-review")
            .header("host", "127.0.0.1:3000")
            .header("x-forwarded-proto", "https")
            .header("x-forwarded-host", "gis.example.cn")
            .body(Body::empty())
            .expect("request");
        let (status, headers, style) = fetch(state(None), req).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(headers[header::VARY], VARY);
        let url = style["sources"]["land"]["url"].as_str().expect("url");
        assert!(
            url.starts_with("https://gis.example.cn/tiles/district_boundary,"),
            "{url}"
        );
        assert_eq!(
            style["glyphs"],
            "https://gis.example.cn/fonts/{fontstack}/{range}.pbf"
        );
    }

    #[tokio::test]
    async fn configured_public_url_wins_and_list_has_titles() {
        let st = state(Some("https://a.example/tudi/"));
        let req = Request::get("/styles")
            .header("x-forwarded-host", "b.example")
            .body(Body::empty())
            .expect("request");
        let (status, _, list) = fetch(st.clone(), req).await;
        assert_eq!(status, StatusCode::OK);
        let names: Vec<&str> = list
            .as_array()
            .expect("array")
            .iter()
            .filter_map(|s| s["name"].as_str())
            .collect();
        assert_eq!(names, ["land-review", "parcels"]);
        assert_eq!(list[0]["url"], "https://a.example/tudi/styles/land-review");
        assert!(list[0]["title"].as_str().is_some_and(|t| !t.is_empty()));
        let req = Request::get("/styles/parcels.json")
            .body(Body::empty())
            .expect("request");
        let (_, _, style) = fetch(st, req).await;
        assert_eq!(
            style["sources"]["admin"]["url"],
            "https://a.example/tudi/tiles/district_boundary,towns,villages,village_boundary"
        );
        // Anonymous callers do not get the restricted parcels source.
        assert!(style["sources"].get("parcels").is_none(), "{style}");
    }

    #[tokio::test]
    async fn unknown_style_is_404_json() {
        let req = Request::get("/styles/nope")
            .body(Body::empty())
            .expect("request");
        let (status, _, body) = fetch(state(None), req).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert_eq!(body["error"], "not_found");
        assert!(body["message"].as_str().is_some_and(|m| m.contains("nope")));
    }
}
