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
use crate::review::record::{expand, finish_view, write_chain};
use crate::review::rules::RuleTexts;
use crate::review::run::{Reviewed, collection_crs, feature_request, review};
use crate::store::audit::{ChainLink, sha256_hex};
use crate::store::{AppendReply, AuditEntry, StoreError};
use tokio::sync::oneshot::error::TryRecvError;

/// Reviews evaluated per blocking task in a batch.
const BATCH_CHUNK: usize = 128;

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
        // Database down or restarting: `http::error` says so (503).
        other => other.into(),
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

/// The API view of a stored entry: the record with its rule set's titles
/// and legal bases (the server's own rule set, else the stored text checked
/// against its hash) and the chain fields.
fn entry_json(svc: &ReviewService, e: &AuditEntry) -> Result<Value, ApiError> {
    let body: Value = serde_json::from_str(&e.body)
        .map_err(|err| ApiError::Internal(format!("audit entry {} is not JSON: {err}", e.seq)))?;
    let hash = body["ruleset"]["hash"].as_str().unwrap_or_default();
    let texts = if hash == svc.rules.hash {
        Some(svc.rules.texts())
    } else {
        match svc.store.ruleset_source(hash) {
            Ok(Some(text)) if sha256_hex(text.as_bytes()) == hash => {
                RuleTexts::from_source(&text).ok()
            }
            Ok(_) => {
                tracing::warn!(
                    seq = e.seq,
                    hash,
                    "rule set of an audit entry is missing or edited"
                );
                None
            }
            Err(err) => return Err(store_error(err)),
        }
    };
    let link = ChainLink {
        seq: e.seq,
        prev_hash: e.prev_hash.clone(),
        entry_hash: e.entry_hash.clone(),
    };
    Ok(expand(body, texts.as_ref(), &link))
}

/// Appends a review; answers once it is durable.
async fn append(svc: &ReviewService, r: &mut Reviewed) -> Result<ChainLink, ApiError> {
    let body = std::mem::take(&mut r.body);
    svc.store
        .append(r.id.clone(), body, Some(&svc.rules.source))
        .await
        .map_err(|_| ApiError::Unavailable("the audit writer stopped".into()))?
        .map_err(store_error)
}

/// `201` with the view of a review just appended.
fn created(r: Reviewed, link: &ChainLink) -> Response {
    let location = HeaderValue::from_str(&format!("/api/reviews/{}", r.id)).ok();
    let mut resp = Response::new(Body::from(finish_view(r.view, link, None)));
    *resp.status_mut() = StatusCode::CREATED;
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    if let Some(v) = location {
        h.insert(header::LOCATION, v);
    }
    resp
}

async fn review_blocking(
    st: &Arc<AppState>,
    raw: Value,
    rerun_of: Option<String>,
    snap: Option<Arc<crate::layer::registry::Snapshot>>,
) -> Result<Reviewed, ApiError> {
    let svc = service(st)?;
    let rules = svc.rules.clone();
    // The live layers, or the versions of a date or of an earlier verdict.
    let snap = snap.unwrap_or_else(|| st.registry.snapshot());
    let district = st.district(&snap);
    st.reviews
        .run(move || review(&rules, &snap, district.as_deref(), raw, rerun_of))
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
    drop(body);
    let snap = super::asof::snapshot_for_request(&st, &raw).await?;
    let mut reviewed = review_blocking(&st, raw, None, snap).await?;
    let link = append(svc, &mut reviewed).await?;
    Ok(created(reviewed, &link))
}

/// A stored review and its API view (read on a blocking thread: the store
/// may be a database server).
async fn load(st: &Arc<AppState>, id: &str) -> Result<(AuditEntry, Value), ApiError> {
    service(st)?;
    let st2 = st.clone();
    let key = id.to_string();
    tokio::task::spawn_blocking(move || {
        let svc = service(&st2)?;
        let entry = svc.store.get(&key).map_err(store_error)?.ok_or_else(|| {
            ApiError::NotFound(format!(
                "no review `{}`",
                key.chars().take(64).collect::<String>()
            ))
        })?;
        let view = entry_json(svc, &entry)?;
        Ok((entry, view))
    })
    .await
    .map_err(|e| ApiError::Internal(format!("store task failed: {e}")))?
}

pub async fn get_one(
    State(st): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let (_, view) = load(&st, &id).await?;
    Ok(Json(view))
}

pub async fn report(
    State(st): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let (_, view) = load(&st, &id).await?;
    let html = crate::report::render_html(&view);
    Ok(Html(html).into_response())
}

/// Re-evaluates a stored review with the same rule set and layer versions.
pub async fn rerun(
    State(st): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let svc = service(&st)?;
    let (entry, _) = load(&st, &id).await?;
    let body: Value = serde_json::from_str(&entry.body)
        .map_err(|e| ApiError::Internal(format!("audit entry {} is not JSON: {e}", entry.seq)))?;
    let want_hash = body["ruleset"]["hash"].as_str().unwrap_or_default();
    if want_hash != svc.rules.hash {
        return Err(ApiError::Conflict(format!(
            "review {id} used rule set hash {want_hash}; the server runs {}: cannot re-run with the same rules",
            svc.rules.hash
        )));
    }
    // The same layer versions: live if unchanged, else restored from the
    // catalog's stored versions (409 if that is impossible).
    let empty = serde_json::Map::new();
    let tags = body["layers"].as_object().unwrap_or(&empty);
    let snap = super::asof::snapshot_for_tags(&st, tags).await?;
    let raw = body["input"].clone();
    let mut reviewed = review_blocking(&st, raw, Some(id.clone()), Some(snap)).await?;
    let same = body["outcome"].as_str() == Some(reviewed.outcome.as_str());
    let link = append(svc, &mut reviewed).await?;
    let mut resp = created(reviewed, &link);
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
///
/// The features are split into chunks of [`BATCH_CHUNK`] moved (not copied)
/// to blocking tasks, evaluated in order, one per core at a time; up to
/// [`CHUNKS_AHEAD`] chunks are evaluated or awaiting their group commit
/// while the oldest one streams, so the cores keep evaluating while a
/// commit's fsync is slow. Each verdict is queued for the audit writer as
/// soon as it is evaluated, and its line is written only when its group's
/// commit has returned.
pub async fn batch(
    State(st): State<Arc<AppState>>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let body = body_bytes(body, st.config.max_batch_bytes)?;
    service(&st)?;
    if !st.progress.is_ready() {
        return Err(ApiError::Unavailable("layers are still loading".into()));
    }
    let mut fc = parse_json(&body)?;
    drop(body);
    let Some(Value::Array(features)) = fc.get_mut("features").map(Value::take) else {
        return Err(ApiError::Invalid {
            message: "a batch must be a GeoJSON FeatureCollection".into(),
            problems: vec![Problem {
                field: "features".into(),
                message: "missing or not an array".into(),
            }],
        });
    };
    let crs = collection_crs(&fc);
    drop(fc);
    let mut chunks = Vec::with_capacity(features.len().div_ceil(BATCH_CHUNK));
    let mut it = features.into_iter();
    loop {
        let c: Vec<Value> = it.by_ref().take(BATCH_CHUNK).collect();
        if c.is_empty() {
            break;
        }
        chunks.push(c);
    }
    let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(16);
    tokio::spawn(async move {
        let mut waiting = std::collections::VecDeque::new();
        let mut chunks = chunks.into_iter().enumerate();
        let cores = Arc::new(tokio::sync::Semaphore::new(cores()));
        let mut spawn_next = |waiting: &mut std::collections::VecDeque<_>| {
            if let Some((no, c)) = chunks.next() {
                let (st, crs, cores) = (st.clone(), crs.clone(), cores.clone());
                waiting.push_back(tokio::spawn(async move {
                    // Permits are granted in request order: chunks are
                    // evaluated in order.
                    let permit = cores.acquire_owned().await.ok();
                    spawn_chunk(st, c, crs, no * BATCH_CHUNK, permit).await
                }));
            }
        };
        for _ in 0..CHUNKS_AHEAD {
            spawn_next(&mut waiting);
        }
        let mut out: Vec<u8> = Vec::new();
        while let Some(handle) = waiting.pop_front() {
            spawn_next(&mut waiting);
            let Ok(Ok(pending)) = handle.await else {
                return;
            };
            for (index, p) in pending {
                match p {
                    Ok((view, mut reply)) => {
                        let link = match reply.try_recv() {
                            Ok(r) => Ok(r),
                            Err(TryRecvError::Empty) => {
                                // Send what is durable before waiting.
                                if !flush(&tx, &mut out).await {
                                    return;
                                }
                                reply.await
                            }
                            Err(TryRecvError::Closed) => reply.await,
                        };
                        match link {
                            Ok(Ok(link)) => {
                                out.extend_from_slice(&view);
                                write_chain(&mut out, &link, Some(index));
                            }
                            Ok(Err(e)) => line(
                                &mut out,
                                &json!({"index": index, "error": "unavailable", "message": e.to_string()}),
                            ),
                            Err(_) => line(
                                &mut out,
                                &json!({"index": index, "error": "unavailable", "message": "the audit writer stopped"}),
                            ),
                        }
                    }
                    Err(problems) => line(
                        &mut out,
                        &json!({"index": index, "error": "invalid", "problems": problems}),
                    ),
                }
                out.push(b'\n');
                if out.len() >= FLUSH_BYTES && !flush(&tx, &mut out).await {
                    return; // client went away; what was appended stays audited
                }
            }
            if !flush(&tx, &mut out).await {
                return;
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

/// NDJSON bytes sent in one piece at most (about a hundred verdicts).
const FLUSH_BYTES: usize = 1 << 20;

/// Chunks evaluated ahead of the one streaming (about 2,000 verdicts,
/// ~30 MB): enough to keep evaluating through a slow fsync.
const CHUNKS_AHEAD: usize = 16;

/// Chunks evaluated at once: one per core.
fn cores() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get())
}

fn line(out: &mut Vec<u8>, v: &Value) {
    // Writing to a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, v);
}

/// Sends what `out` holds; false when the client went away.
async fn flush(tx: &tokio::sync::mpsc::Sender<Bytes>, out: &mut Vec<u8>) -> bool {
    if out.is_empty() {
        return true;
    }
    let bytes = Bytes::from(std::mem::replace(out, Vec::with_capacity(FLUSH_BYTES)));
    tx.send(bytes).await.is_ok()
}

type Pending = Vec<(usize, Result<(Vec<u8>, AppendReply), Vec<Problem>>)>;

/// Evaluates one chunk of a batch on a blocking thread, queueing each
/// verdict for the audit writer as soon as it is made; the replies answer
/// once each is durable. `first` is the index of the chunk's first feature;
/// `permit` (a core) is released when the evaluation is done.
fn spawn_chunk(
    st: Arc<AppState>,
    features: Vec<Value>,
    crs: Option<Value>,
    first: usize,
    permit: Option<tokio::sync::OwnedSemaphorePermit>,
) -> tokio::task::JoinHandle<Pending> {
    tokio::task::spawn_blocking(move || {
        let _permit = permit;
        let Some(svc) = st.review.as_ref() else {
            return Vec::new();
        };
        let snap = st.registry.snapshot();
        let district = st.district(&snap);
        features
            .into_iter()
            .enumerate()
            .map(|(i, f)| {
                let raw = feature_request(crs.as_ref(), f);
                let r = review(&svc.rules, &snap, district.as_deref(), raw, None).map(|rev| {
                    let reply = svc.store.append(rev.id, rev.body, Some(&svc.rules.source));
                    (rev.view, reply)
                });
                (first + i, r)
            })
            .collect()
    })
}
