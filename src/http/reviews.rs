//! Review endpoints: `POST /api/reviews`, `GET /api/reviews/{id}`,
//! `GET /api/reviews/{id}/report`, `POST /api/reviews/{id}/rerun`,
//! `POST /api/reviews/batch` (NDJSON stream) and `GET /api/audit/verify`.
//! A verdict is acknowledged only after its audit entry is durable.

use std::convert::Infallible;
use std::sync::Arc;

use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use serde_json::{Value, json};

use super::error::ApiError;
use super::state::{AppState, ReviewService};
use crate::review::input::Problem;
use crate::review::record::with_chain;
use crate::review::run::{Reviewed, collection_crs, feature_request, review};
use crate::store::{AuditEntry, StoreError};

/// Reviews evaluated per blocking task in a batch.
const BATCH_CHUNK: usize = 256;

fn service(st: &AppState) -> Result<&ReviewService, ApiError> {
    st.review.as_ref().ok_or_else(|| {
        ApiError::Unavailable("reviews are not configured on this server (no rule set)".into())
    })
}

fn store_error(e: StoreError) -> ApiError {
    match e {
        StoreError::WriteFailed(m) | StoreError::Corrupt(m) => {
            ApiError::Unavailable(format!("the audit store could not record the verdict: {m}"))
        }
        StoreError::Closed => ApiError::Unavailable("the audit store is shut down".into()),
        other => ApiError::Internal(other.to_string()),
    }
}

fn parse_json(body: &[u8]) -> Result<Value, ApiError> {
    serde_json::from_slice(body).map_err(|e| ApiError::Invalid {
        message: "the request body is not valid JSON".into(),
        problems: vec![Problem {
            field: String::new(),
            message: format!("malformed JSON: {e}"),
        }],
    })
}

fn entry_json(e: &AuditEntry) -> Value {
    with_chain(e.body.clone(), e.seq, &e.prev_hash, &e.entry_hash)
}

async fn append(svc: &ReviewService, r: Reviewed) -> Result<AuditEntry, ApiError> {
    svc.store
        .append(r.id, r.record)
        .await
        .map_err(|_| ApiError::Unavailable("the audit writer stopped".into()))?
        .map_err(store_error)
}

fn created(entry: &AuditEntry) -> Response {
    let mut resp = (StatusCode::CREATED, Json(entry_json(entry))).into_response();
    if let Ok(v) = HeaderValue::from_str(&format!("/api/reviews/{}", entry.id)) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    resp
}

async fn review_blocking(
    st: &Arc<AppState>,
    raw: Value,
    rerun_of: Option<String>,
) -> Result<Reviewed, ApiError> {
    let svc = service(st)?;
    let rules = svc.rules.clone();
    let snap = st.registry.snapshot();
    let district = st.district(&snap);
    tokio::task::spawn_blocking(move || {
        review(
            &rules,
            &snap,
            district.as_deref(),
            &raw,
            rerun_of.as_deref(),
        )
    })
    .await
    .map_err(|e| ApiError::Internal(format!("review task failed: {e}")))?
    .map_err(|problems| ApiError::Invalid {
        message: format!("the review request has {} problem(s)", problems.len()),
        problems,
    })
}

/// Turns axum's body rejection (over the size cap, unreadable) into the
/// API's JSON error shape.
fn body_bytes(body: Result<Bytes, BytesRejection>, cap: usize) -> Result<Bytes, ApiError> {
    body.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::TooLarge(format!("the request body is over the limit of {cap} bytes"))
        } else {
            ApiError::BadRequest(format!("cannot read the request body: {e}"))
        }
    })
}

pub async fn create(
    State(st): State<Arc<AppState>>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let body = body_bytes(body, st.config.max_review_bytes)?;
    let svc = service(&st)?;
    if !st.progress.is_ready() {
        return Err(ApiError::Unavailable("layers are still loading".into()));
    }
    let raw = parse_json(&body)?;
    let reviewed = review_blocking(&st, raw, None).await?;
    let entry = append(svc, reviewed).await?;
    Ok(created(&entry))
}

async fn load(st: &Arc<AppState>, id: &str) -> Result<AuditEntry, ApiError> {
    let svc = service(st)?;
    let store = svc.store.clone();
    let key = id.to_string();
    tokio::task::spawn_blocking(move || store.get(&key))
        .await
        .map_err(|e| ApiError::Internal(format!("store task failed: {e}")))?
        .map_err(store_error)?
        .ok_or_else(|| {
            ApiError::NotFound(format!(
                "no review `{}`",
                id.chars().take(64).collect::<String>()
            ))
        })
}

pub async fn get_one(
    State(st): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(entry_json(&load(&st, &id).await?)))
}

pub async fn report(
    State(st): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let entry = load(&st, &id).await?;
    let html = crate::report::render_html(&entry_json(&entry));
    Ok(Html(html).into_response())
}

/// Re-evaluates a stored review with the same rule set and layer versions.
pub async fn rerun(
    State(st): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let svc = service(&st)?;
    let entry = load(&st, &id).await?;
    let body = &entry.body;
    let want_hash = body["ruleset"]["hash"].as_str().unwrap_or_default();
    if want_hash != svc.rules.hash {
        return Err(ApiError::Conflict(format!(
            "review {id} used rule set hash {want_hash}; the server runs {}: cannot re-run with the same rules",
            svc.rules.hash
        )));
    }
    let snap = st.registry.snapshot();
    for (layer, tag) in body["layers"].as_object().into_iter().flatten() {
        let now = snap
            .get(layer)
            .map(|l| l.version_tag())
            .unwrap_or_else(|| "missing".into());
        if tag.as_str() != Some(now.as_str()) {
            return Err(ApiError::Conflict(format!(
                "review {id} used layer `{layer}` version {tag}; the server holds {now}"
            )));
        }
    }
    let raw = body["input"].clone();
    let reviewed = review_blocking(&st, raw, Some(id.clone())).await?;
    let entry2 = append(svc, reviewed).await?;
    let mut resp = created(&entry2);
    let same = entry2.body["outcome"] == body["outcome"];
    resp.headers_mut().insert(
        "x-same-outcome",
        HeaderValue::from_static(if same { "true" } else { "false" }),
    );
    Ok(resp)
}

pub async fn verify(State(st): State<Arc<AppState>>) -> Result<Json<Value>, ApiError> {
    let svc = service(&st)?;
    let store = svc.store.clone();
    let report = tokio::task::spawn_blocking(move || store.verify())
        .await
        .map_err(|e| ApiError::Internal(format!("verify task failed: {e}")))?
        .map_err(store_error)?;
    Ok(Json(json!(report)))
}

/// Streams one NDJSON line per feature: the verdict (after its audit entry
/// is durable) or `{"index", "error", "problems"}` for a bad feature.
pub async fn batch(
    State(st): State<Arc<AppState>>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let body = body_bytes(body, st.config.max_batch_bytes)?;
    service(&st)?;
    if !st.progress.is_ready() {
        return Err(ApiError::Unavailable("layers are still loading".into()));
    }
    let fc = parse_json(&body)?;
    drop(body);
    let Some(features) = fc.get("features").and_then(Value::as_array).cloned() else {
        return Err(ApiError::Invalid {
            message: "a batch must be a GeoJSON FeatureCollection".into(),
            problems: vec![Problem {
                field: "features".into(),
                message: "missing or not an array".into(),
            }],
        });
    };
    let crs = collection_crs(&fc);
    let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(16);
    let features = Arc::new(features);
    tokio::spawn(async move {
        let chunks = features.len().div_ceil(BATCH_CHUNK);
        // Two-stage pipeline: while chunk k's verdicts are awaited and
        // streamed, chunk k+1 is evaluated and queued for the audit writer.
        let mut next = (chunks > 0).then(|| spawn_chunk(&st, &features, crs.clone(), 0));
        for chunk_no in 0..chunks {
            let Some(handle) = next.take() else { return };
            let Ok(pending) = handle.await else { return };
            if chunk_no + 1 < chunks {
                next = Some(spawn_chunk(&st, &features, crs.clone(), chunk_no + 1));
            }
            for (index, p) in pending {
                let line = match p {
                    Ok(rx) => match rx.await {
                        Ok(Ok(entry)) => {
                            let mut v = with_chain(
                                entry.body,
                                entry.seq,
                                &entry.prev_hash,
                                &entry.entry_hash,
                            );
                            v["index"] = json!(index);
                            v
                        }
                        Ok(Err(e)) => {
                            json!({"index": index, "error": "unavailable", "message": e.to_string()})
                        }
                        Err(_) => {
                            json!({"index": index, "error": "unavailable", "message": "the audit writer stopped"})
                        }
                    },
                    Err(problems) => {
                        json!({"index": index, "error": "invalid", "problems": problems})
                    }
                };
                let mut bytes = serde_json::to_vec(&line).unwrap_or_default();
                bytes.push(b'\n');
                if tx.send(Bytes::from(bytes)).await.is_err() {
                    return; // client went away; what was appended stays audited
                }
            }
        }
    });
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|b| (Ok::<_, Infallible>(b), rx))
    });
    let mut resp = Response::new(Body::from_stream(stream));
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-ndjson"),
    );
    Ok(resp)
}

type Pending = Vec<(
    usize,
    Result<tokio::sync::oneshot::Receiver<Result<AuditEntry, StoreError>>, Vec<Problem>>,
)>;

/// Evaluates one chunk of a batch on a blocking thread and queues every
/// verdict for the audit writer; the receivers answer once each is durable.
fn spawn_chunk(
    st: &Arc<AppState>,
    features: &Arc<Vec<Value>>,
    crs: Option<Value>,
    chunk_no: usize,
) -> tokio::task::JoinHandle<Pending> {
    let st = st.clone();
    let features = features.clone();
    tokio::task::spawn_blocking(move || {
        let Some(svc) = st.review.as_ref() else {
            return Vec::new();
        };
        let start = chunk_no * BATCH_CHUNK;
        let end = (start + BATCH_CHUNK).min(features.len());
        let snap = st.registry.snapshot();
        let district = st.district(&snap);
        let reqs: Vec<Value> = features[start..end]
            .iter()
            .map(|f| feature_request(crs.as_ref(), f))
            .collect();
        // Each thread also makes the canonical form of its records (inside
        // `append`), so the single writer only hashes and inserts.
        let results = evaluate_parallel(&reqs, |raw| {
            review(&svc.rules, &snap, district.as_deref(), raw, None)
                .map(|rev| svc.store.append(rev.id, rev.record))
        });
        results
            .into_iter()
            .enumerate()
            .map(|(i, r)| (start + i, r))
            .collect()
    })
}

/// Runs `f` over `items` on up to two threads (the machine's cores),
/// keeping order.
pub fn evaluate_parallel<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, 4);
    if items.len() < 8 || threads == 1 {
        return items.iter().map(&f).collect();
    }
    let per = items.len().div_ceil(threads);
    std::thread::scope(|s| {
        let handles: Vec<_> = items
            .chunks(per)
            .map(|c| {
                let f = &f;
                s.spawn(move || c.iter().map(f).collect::<Vec<R>>())
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_default())
            .collect()
    })
}
