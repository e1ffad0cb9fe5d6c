//! Operations endpoints: `GET /health` (loading progress, then ready) and
//! `GET /metrics` (Prometheus text format). Neither names nor counts a
//! layer the caller may not see: `/health` counts visible layers only, and
//! `/metrics` leaves out per-layer series (`layer="..."`) of the others
//! unless the server runs with `--public-metrics`.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde_json::json;

use super::state::AppState;
use crate::auth::Caller;

pub async fn health(
    State(st): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
) -> Response {
    let p = &st.progress;
    let all = p.total.load(Ordering::Relaxed);
    let all_loaded = p.loaded.load(Ordering::Relaxed);
    let failed = p.failed.load(Ordering::Relaxed);
    // Layers are read in parallel and published together at the end:
    // progress counts the ones read so far.
    let done = p.read.load(Ordering::Relaxed).max(all_loaded + failed);
    let ready = p.is_ready();
    let snap = st.registry.snapshot();
    let visible = |l: &&Arc<crate::layer::Layer>| l.def.access.allows(&caller);
    let memory: usize = snap
        .layers
        .values()
        .filter(visible)
        .map(|l| l.memory_bytes())
        .sum();
    let hidden = hidden_ids(&st, &caller).len();
    // Once ready, the registry is the truth (layers published, created or
    // deleted since start-up included); while loading, the counters are.
    let (total, loaded) = if ready {
        let n = snap.layers.values().filter(visible).count();
        (n + failed, n)
    } else if hidden == 0 {
        (all, all_loaded)
    } else {
        (
            all.saturating_sub(hidden),
            snap.layers.values().filter(visible).count(),
        )
    };
    let body = json!({
        "status": if ready { "ready" } else { "loading" },
        "layers_total": total,
        "layers_loaded": loaded,
        "layers_failed": failed,
        "progress": if all == 0 { 1.0 } else { (done.min(all) as f64 / all as f64 * 1000.0).round() / 1000.0 },
        "uptime_s": st.started.elapsed().as_secs(),
        "layer_memory_bytes": memory,
        "cache_bytes": st.cache.weighted_size(),
        // Reported, never failing the check: tiles are served from memory
        // with the database down.
        "store": st.store_probe.report(st.catalog.as_ref()).await,
    });
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(body)).into_response()
}

/// Configured layers the caller may not see.
fn hidden_ids(st: &AppState, caller: &Caller) -> Vec<String> {
    let defs = match st.defs.read() {
        Ok(d) => d,
        Err(p) => p.into_inner(),
    };
    defs.values()
        .filter(|d| !d.access.allows(caller))
        .map(|d| d.id.clone())
        .collect()
}

pub async fn metrics(
    State(st): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
) -> Response {
    let text = st.metrics.encode();
    let text = if st.config.public_metrics {
        text
    } else {
        // Series of a layer the caller may not see (or that is gone) are
        // left out; layer ids need no escaping (a-z 0-9 _ -).
        let mut out = String::with_capacity(text.len());
        for line in text.lines() {
            let named = line
                .split_once("layer=\"")
                .and_then(|(_, rest)| rest.split_once('"'))
                .map(|(id, _)| id);
            if let Some(id) = named
                && !st.is_visible(id, &caller)
            {
                continue;
            }
            out.push_str(line);
            out.push('\n');
        }
        out
    };
    let mut resp = (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        text,
    )
        .into_response();
    resp.headers_mut().insert(
        header::CACHE_CONTROL,
        axum::http::HeaderValue::from_static("private, no-store"),
    );
    resp
}
