//! Operations endpoints: `GET /health` (loading progress, then ready) and
//! `GET /metrics` (Prometheus text format).

use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::state::AppState;

pub async fn health(State(st): State<Arc<AppState>>) -> Response {
    let p = &st.progress;
    let total = p.total.load(Ordering::Relaxed);
    let loaded = p.loaded.load(Ordering::Relaxed);
    let failed = p.failed.load(Ordering::Relaxed);
    let ready = p.is_ready();
    let snap = st.registry.snapshot();
    let memory: usize = snap.layers.values().map(|l| l.memory_bytes()).sum();
    let body = json!({
        "status": if ready { "ready" } else { "loading" },
        "layers_total": total,
        "layers_loaded": loaded,
        "layers_failed": failed,
        "progress": if total == 0 { 1.0 } else { (loaded + failed) as f64 / total as f64 },
        "uptime_s": st.started.elapsed().as_secs(),
        "layer_memory_bytes": memory,
        "cache_bytes": st.cache.weighted_size(),
    });
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(body)).into_response()
}

pub async fn metrics(State(st): State<Arc<AppState>>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        st.metrics.encode(),
    )
        .into_response()
}
