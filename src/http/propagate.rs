//! Several instances on one PostgreSQL: each follows the shared catalog so
//! a publish, rollback or delete through any instance is served by all
//! within about a second. A thread listens for the catalog's notifications
//! (`LISTEN tudi_layers`, sent in the committing transaction) and syncs the
//! named layer; every [`RECHECK`] it compares every layer's current version
//! with the registry (the fallback for notifications lost with a broken
//! connection). Syncing loads the catalog's current version (never a newer
//! one), swaps it into the registry and drops the layer's cached tiles:
//! the same steps as a local publish.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::AppState;
use crate::metrics::LayerLabel;
use crate::publish::sync::Synced;
use crate::publish::{PublishError, Publisher};
use crate::store::pg::{Listener, Pool};

/// Period of the full comparison with the catalog.
pub const RECHECK: Duration = Duration::from_secs(5);
/// Longest wait for a notification before looking at the clock again.
const WAIT: Duration = Duration::from_millis(500);

/// Starts the follower thread (runs for the life of the process).
pub fn spawn(state: Arc<AppState>, pool: Arc<Pool>) -> std::io::Result<()> {
    std::thread::Builder::new()
        .name("tudi-propagate".into())
        .spawn(move || follow(&state, &pool))
        .map(|_| ())
}

fn follow(st: &AppState, pool: &Pool) {
    let Some(publisher) = st.publish.clone() else {
        return;
    };
    // Start-up loads the current versions first.
    while !st.progress.is_ready() {
        std::thread::sleep(WAIT);
    }
    let mut listener: Option<Listener> = None;
    let mut last_check = Instant::now();
    let mut down_since: Option<Instant> = None;
    loop {
        if listener.is_none() {
            match Listener::open(pool) {
                Ok(l) => {
                    if down_since.take().is_some() {
                        tracing::info!("listening for catalog changes again");
                    }
                    listener = Some(l);
                    // Whatever was missed while not listening.
                    check_all(st, &publisher);
                    last_check = Instant::now();
                }
                Err(e) => {
                    if down_since.is_none() {
                        tracing::warn!("cannot listen for catalog changes: {e}; retrying");
                        down_since = Some(Instant::now());
                    }
                    std::thread::sleep(WAIT);
                }
            }
        }
        if let Some(l) = listener.as_mut() {
            match l.wait(WAIT) {
                Ok(ids) => {
                    let ids: BTreeSet<String> = ids.into_iter().collect();
                    for id in ids {
                        apply(st, &id, publisher.sync_layer(&id));
                    }
                }
                Err(e) => {
                    tracing::warn!("lost the catalog notification connection: {e}");
                    down_since = Some(Instant::now());
                    listener = None;
                }
            }
        }
        if last_check.elapsed() >= RECHECK {
            check_all(st, &publisher);
            last_check = Instant::now();
        }
    }
}

fn check_all(st: &AppState, publisher: &Publisher) {
    match publisher.sync_all() {
        Ok(changes) => {
            for (id, r) in changes {
                apply(st, &id, r);
            }
        }
        Err(e) => tracing::debug!("catalog re-check failed: {e}"),
    }
}

/// The server-side effects of a sync: definitions (access checks, catalog),
/// cached tiles, metrics.
fn apply(st: &AppState, id: &str, r: Result<Synced, PublishError>) {
    match r {
        Ok(Synced::Unchanged) => {}
        Ok(Synced::Loaded(layer)) => {
            st.set_def(layer.def.clone());
            st.cache.invalidate_layer(id);
            let label = LayerLabel {
                layer: id.to_string(),
            };
            st.metrics
                .layer_features
                .get_or_create(&label)
                .set(layer.features.len() as i64);
            tracing::info!(layer = %id, version = layer.version, "now serving the catalog's current version");
        }
        Ok(Synced::Removed) => {
            st.remove_def(id);
            st.cache.invalidate_layer(id);
            tracing::info!(layer = %id, "deleted in the catalog; no longer served");
        }
        Err(e) => tracing::warn!(layer = %id, "could not follow a catalog change: {e}"),
    }
}
