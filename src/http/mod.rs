//! The HTTP surface (axum): routes, middleware, and serving with graceful
//! shutdown. Only this module knows axum and JSON wire shapes.

pub mod asof;
pub mod auth;
pub mod base_url;
pub mod catalog;
pub mod cpu_pool;
pub mod error;
pub mod fast_tile;
pub mod fonts;
pub mod keys;
pub mod layers;
pub mod limits;
pub mod ops;
pub mod propagate;
pub mod reviews;
pub mod state;
pub mod store_probe;
pub mod styles;
pub mod tiles;
pub mod upload;
pub mod web;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::extract::{MatchedPath, Request, State};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{delete, get, post};
use tokio::net::TcpListener;
use tower_http::compression::CompressionLayer;
use tower_http::cors::{Any, CorsLayer};

pub use error::ApiError;
pub use state::{AppState, ServerConfig};

use crate::auth::Role;
use crate::layer::{LayerDef, load_all};
use crate::metrics::{LayerLabel, Route, RouteLabels};

/// The application router.
pub fn app(state: Arc<AppState>) -> Router {
    let cors = CorsLayer::new()
        .allow_origin(Any)
        .allow_methods(Any)
        .allow_headers(Any)
        .expose_headers(Any);
    Router::new()
        .route("/", get(web::index))
        .route("/review", get(web::review))
        .route("/web/{*path}", get(web::asset))
        .route("/fonts", get(fonts::list))
        .route("/fonts/{stack}/{range}", get(fonts::glyphs))
        .route("/health", get(ops::health))
        .route("/metrics", get(ops::metrics))
        .route("/catalog", get(catalog::catalog))
        .route("/styles", get(styles::list))
        .route("/styles/{name}", get(styles::get_one))
        .route("/tiles/{ids}", get(tiles::tilejson))
        .route("/tiles/{ids}/{z}/{x}/{y}", get(tiles::tile))
        .route("/api/me", get(keys::me))
        .merge(approver_routes(&state))
        .merge(publisher_routes(&state))
        .merge(admin_routes())
        .fallback(not_found)
        .layer(middleware::from_fn(limits::json_errors))
        .layer(CompressionLayer::new())
        .layer(middleware::from_fn_with_state(
            state.clone(),
            limits::rate_limit,
        ))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            auth::authenticate,
        ))
        .layer(middleware::from_fn_with_state(state.clone(), limits::guard))
        .layer(middleware::from_fn_with_state(state.clone(), track))
        .layer(cors)
        .with_state(state)
}

/// Routes guarded by a minimum role.
fn guarded(router: Router<Arc<AppState>>, min: Role) -> Router<Arc<AppState>> {
    router.route_layer(middleware::from_fn(move |req: Request, next: Next| {
        auth::require(min, req, next)
    }))
}

/// Reviews and the audit trail: `approver`.
fn approver_routes(state: &AppState) -> Router<Arc<AppState>> {
    let r = Router::new()
        .route(
            "/api/reviews",
            post(reviews::create).layer(DefaultBodyLimit::max(state.config.max_review_bytes)),
        )
        .route(
            "/api/reviews/batch",
            post(reviews::batch).layer(DefaultBodyLimit::max(state.config.max_batch_bytes)),
        )
        .route("/api/reviews/{id}", get(reviews::get_one))
        .route("/api/reviews/{id}/report", get(reviews::report))
        .route("/api/reviews/{id}/rerun", post(reviews::rerun))
        .route("/api/audit/verify", get(reviews::verify));
    guarded(r, Role::Approver)
}

/// Publishing: `publisher`.
fn publisher_routes(state: &AppState) -> Router<Arc<AppState>> {
    // The upload code enforces the cap itself (413 before buffering); the
    // extractor limit sits just above it.
    let limit =
        DefaultBodyLimit::max((state.config.max_upload_bytes as usize).saturating_add(1 << 20));
    let r = Router::new()
        .route("/api/layers", post(layers::create).get(layers::list))
        .route("/api/layers/{id}", delete(layers::delete))
        .route(
            "/api/layers/{id}/versions",
            post(layers::new_version).get(layers::versions),
        )
        .route("/api/layers/{id}/rollback", post(layers::rollback))
        .layer(limit);
    guarded(r, Role::Publisher)
}

/// Keys: `admin`.
fn admin_routes() -> Router<Arc<AppState>> {
    let r = Router::new()
        .route("/api/keys", post(keys::create).get(keys::list))
        .route("/api/keys/{id}", delete(keys::revoke));
    guarded(r, Role::Admin)
}

async fn not_found(req: Request) -> ApiError {
    let path: String = req.uri().path().chars().take(120).collect();
    ApiError::NotFound(format!("no route for `{path}`"))
}

/// Counts requests and records latency by matched route.
async fn track(State(st): State<Arc<AppState>>, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_string())
        .unwrap_or_else(|| "unmatched".to_string());
    let start = Instant::now();
    let resp = next.run(req).await;
    record_request(&st, &route, resp.status().as_u16(), start);
    resp
}

/// Counts one answered request and its latency under its route pattern.
pub fn record_request(st: &AppState, route: &str, status: u16, start: Instant) {
    st.metrics
        .latency
        .get_or_create(&Route {
            route: route.to_string(),
        })
        .observe(start.elapsed().as_secs_f64());
    st.metrics
        .requests
        .get_or_create(&RouteLabels {
            route: route.to_string(),
            status,
        })
        .inc();
}

/// Loads every layer in the background, publishing each to the registry as
/// it completes. Returns the load errors (start-up fails on any).
pub async fn load_layers(state: Arc<AppState>, defs: Vec<LayerDef>) -> Vec<String> {
    let st = state.clone();
    let result = tokio::task::spawn_blocking(move || {
        let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
        let progress = |done: usize, _total: usize| {
            st.progress.read.store(done, Ordering::Relaxed);
        };
        // With a catalog, it decides which version of each layer to load
        // (and where from: a file or the version store).
        let plan = match &st.publish {
            Some(p) => match p.plan() {
                Ok(plan) => Some(plan),
                Err(e) => return vec![format!("catalog: {e}")],
            },
            None => None,
        };
        let (defs, versions): (Vec<LayerDef>, Vec<Option<u64>>) = match &plan {
            Some(plan) => plan.iter().map(|pl| (pl.def.clone(), pl.version)).unzip(),
            None => {
                let n = defs.len();
                (defs, vec![Some(1); n])
            }
        };
        st.progress.total.store(defs.len(), Ordering::Relaxed);
        for d in &defs {
            st.set_def(d.clone());
        }
        let results: Vec<Result<_, String>> = match (&plan, &st.publish) {
            (Some(plan), Some(p)) => p.load_plan(plan, threads, &progress),
            _ => load_all(&defs, threads, &progress)
                .into_iter()
                .map(|r| r.map_err(|e| e.to_string()))
                .collect(),
        };
        let mut errors = Vec::new();
        for (r, version) in results.into_iter().zip(versions) {
            let r = r.map(|(mut layer, report)| {
                match (version, &st.publish) {
                    (Some(v), _) => layer.version = v,
                    (None, Some(p)) => {
                        if let Err(e) = p.record_bootstrap(&mut layer) {
                            return Err(format!("layer `{}`: catalog: {e}", layer.def.id));
                        }
                    }
                    (None, None) => {}
                }
                Ok((layer, report))
            });
            let r = match r {
                Ok(Ok(x)) => Ok(x),
                Ok(Err(msg)) => {
                    st.progress.failed.fetch_add(1, Ordering::Relaxed);
                    errors.push(msg);
                    continue;
                }
                Err(e) => Err(e),
            };
            match r {
                Ok((layer, report)) => {
                    if report.repaired + report.dropped > 0 {
                        tracing::warn!(
                            layer = %report.layer,
                            repaired = report.repaired,
                            dropped = report.dropped,
                            "invalid geometries: {}",
                            report.problems.iter().take(5).map(|(id, r)| format!("feature {id}: {r}")).collect::<Vec<_>>().join("; ")
                        );
                    }
                    tracing::info!(
                        layer = %report.layer,
                        features = report.features,
                        vertices = report.vertices,
                        memory_bytes = report.memory_bytes,
                        millis = report.millis as u64,
                        "layer loaded"
                    );
                    let label = LayerLabel {
                        layer: report.layer.clone(),
                    };
                    st.metrics
                        .layer_memory
                        .get_or_create(&label)
                        .set(report.memory_bytes as i64);
                    st.metrics
                        .layer_features
                        .get_or_create(&label)
                        .set(report.features as i64);
                    st.registry.put(layer);
                    st.progress.loaded.fetch_add(1, Ordering::Relaxed);
                }
                Err(e) => {
                    st.progress.failed.fetch_add(1, Ordering::Relaxed);
                    errors.push(e.to_string());
                }
            }
        }
        errors
    })
    .await;
    let errors = result.unwrap_or_else(|e| vec![format!("layer loading task failed: {e}")]);
    if errors.is_empty()
        && let Some(svc) = state.review.as_ref()
    {
        // Build the review side indexes (parcels by household ...) before
        // reporting ready, so the first review does not pay for them.
        let rules = svc.rules.clone();
        let snap = state.registry.snapshot();
        let started = Instant::now();
        let _ = tokio::task::spawn_blocking(move || crate::review::prepare(&rules, &snap)).await;
        tracing::info!(
            millis = started.elapsed().as_millis() as u64,
            "review indexes prepared"
        );
    }
    if errors.is_empty() {
        state.progress.ready.store(true, Ordering::Release);
    }
    errors
}

/// Serves `app` on `listener` until `shutdown` resolves, then stops
/// accepting and drains: idle connections are closed, requests in flight
/// finish. Handlers can read the peer address (`ConnectInfo<SocketAddr>`).
///
/// An accept loop on hyper's HTTP/1 connection builder rather than
/// `axum::serve`, which sets no timer, so hyper's header read timeout would
/// not apply: here a client that does not finish its headers within
/// [`ServerConfig::header_read_timeout`] (also the keep-alive idle time) is
/// disconnected (slowloris).
pub async fn serve(
    listener: TcpListener,
    state: Arc<AppState>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    use futures_util::FutureExt;
    use tokio::sync::watch;

    let header_timeout = state.config.header_read_timeout;
    let router = app(state.clone());
    // Dropping `signal_rx` tells the loop and every connection to stop.
    let (signal_tx, signal_rx) = watch::channel(());
    tokio::spawn(async move {
        shutdown.await;
        drop(signal_rx);
    });
    // Each connection holds a `close_rx`; draining waits for all of them.
    let (close_tx, close_rx) = watch::channel(());
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(c) => c,
                Err(e) => {
                    if !is_connection_error(&e) {
                        // Out of file descriptors and the like: back off.
                        tracing::error!(error = %e, "accept failed");
                        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
                    }
                    continue;
                }
            },
            _ = signal_tx.closed() => break,
        };
        let _ = stream.set_nodelay(true);
        let router = router.clone();
        let st = state.clone();
        let service = hyper::service::service_fn(move |mut req: Request<hyper::body::Incoming>| {
            let (router, st) = (router.clone(), st.clone());
            async move {
                if let Some(resp) = fast_tile::try_answer(&st, &req, peer).await {
                    return Ok(resp);
                }
                req.extensions_mut()
                    .insert(axum::extract::ConnectInfo(peer));
                tower::ServiceExt::oneshot(router, req.map(axum::body::Body::new)).await
            }
        });
        let signal_tx = signal_tx.clone();
        let close_rx = close_rx.clone();
        tokio::spawn(async move {
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder
                .timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(header_timeout);
            let conn = builder
                .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                .with_upgrades();
            let mut conn = std::pin::pin!(conn);
            let mut stopping = std::pin::pin!(signal_tx.closed().fuse());
            loop {
                tokio::select! {
                    result = conn.as_mut() => {
                        if let Err(e) = result {
                            tracing::debug!(%peer, error = %e, "connection ended");
                        }
                        break;
                    }
                    _ = &mut stopping => conn.as_mut().graceful_shutdown(),
                }
            }
            drop(close_rx);
        });
    }
    drop(close_rx);
    drop(listener);
    close_tx.closed().await;
    Ok(())
}

/// Accept errors about one connection (the next accept may well succeed).
fn is_connection_error(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::ConnectionRefused
            | std::io::ErrorKind::ConnectionAborted
            | std::io::ErrorKind::ConnectionReset
    )
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutting down");
}
