//! The store's line in `/health`: `{"kind": "postgres", "ok": true}`. A
//! database round trip runs on a blocking thread, at most one at a time and
//! at most once per [`FRESH`]; `/health` waits for it up to [`WAIT`] and
//! otherwise reports the last result. The store's state never changes the
//! health check's status: tiles are served from memory either way.

use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::store::Catalog;

/// A result younger than this is reported without a new round trip.
pub const FRESH: Duration = Duration::from_secs(1);
/// Longest wait for a round trip in `/health`.
pub const WAIT: Duration = Duration::from_millis(500);

#[derive(Default)]
pub struct StoreProbe {
    /// The last completed check: when, and whether it succeeded.
    last: Arc<Mutex<Option<(Instant, bool)>>>,
    running: Arc<AtomicBool>,
}

impl StoreProbe {
    fn last(&self) -> Option<(Instant, bool)> {
        match self.last.lock() {
            Ok(g) => *g,
            Err(p) => *p.into_inner(),
        }
    }

    /// The `store` object of `/health` (`null` without a catalog).
    pub async fn report(&self, catalog: Option<&Arc<dyn Catalog>>) -> Value {
        let Some(catalog) = catalog else {
            return Value::Null;
        };
        let kind = catalog.kind();
        let fresh = self.last().filter(|(at, _)| at.elapsed() < FRESH);
        if fresh.is_none() && !self.running.swap(true, Ordering::AcqRel) {
            let (catalog, last, running) =
                (catalog.clone(), self.last.clone(), self.running.clone());
            let check = tokio::task::spawn_blocking(move || {
                let ok = catalog.ping().is_ok();
                match last.lock() {
                    Ok(mut g) => *g = Some((Instant::now(), ok)),
                    Err(p) => *p.into_inner() = Some((Instant::now(), ok)),
                }
                running.store(false, Ordering::Release);
            });
            // Not waited for past WAIT: the check finishes on its own.
            let _ = tokio::time::timeout(WAIT, check).await;
        }
        match self.last() {
            Some((at, ok)) => json!({
                "kind": kind,
                "ok": ok,
                "checked_ms_ago": at.elapsed().as_millis() as u64,
            }),
            // The first check is still running (a database that does not
            // answer within WAIT is not healthy).
            None => json!({"kind": kind, "ok": false, "checked_ms_ago": null}),
        }
    }
}
