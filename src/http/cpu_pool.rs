//! Fixed pools of threads for the server's CPU work: one of
//! [`ServerConfig::max_renders`](super::state::ServerConfig::max_renders)
//! threads cuts and compresses cold tiles, one of a thread per core
//! evaluates single reviews, so that the work runs on a few threads whose
//! allocator heaps stay warm.
//!
//! Why not `tokio::task::spawn_blocking`: its pool starts a thread whenever
//! none is idle, and each thread's mimalloc heap keeps what its renders
//! freed. Under 16 connections it grew to 13-30 threads and the server from
//! 0.3 GB resident at ready to 0.6-1.1 GB, memory that stayed resident
//! after the load stopped (BENCHMARKS.md, "Cold tiles"). Rendering is CPU
//! work bounded by the render slots anyway; a queue in front of exactly
//! that many threads changes nothing else. Reviews on their own pool:
//! 16 connections, 9,866 / 10,522 -> 10,992 / 11,899 req/s, p99 9.6 / 8.8
//! -> 8.8 / 7.6 ms (`benches/review_api.sh`, alternated). Not rayon: one
//! more dependency for forty lines, and its pool is global.

use std::panic::AssertUnwindSafe;
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex};

type Job = Box<dyn FnOnce() + Send>;

/// Why a job gave no result.
#[derive(Debug, thiserror::Error)]
pub enum PoolError {
    #[error("the pool's threads are gone")]
    Closed,
    #[error("the job panicked")]
    Panicked,
}

/// A fixed set of threads taking jobs from one queue.
pub struct CpuPool {
    tx: Sender<Job>,
}

impl CpuPool {
    /// Starts `threads` (at least one) threads named `tudi-{name}-N`.
    pub fn new(name: &str, threads: usize) -> CpuPool {
        let (tx, rx) = channel::<Job>();
        let rx = Arc::new(Mutex::new(rx));
        for i in 0..threads.max(1) {
            let rx = rx.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("tudi-{name}-{i}"))
                .spawn(move || work(&rx));
            if let Err(e) = spawned {
                tracing::error!("{name} thread {i} not started: {e}");
            }
        }
        CpuPool { tx }
    }

    /// Runs `f` on one of the pool's threads and returns its result.
    pub async fn run<T, F>(&self, f: F) -> Result<T, PoolError>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        let (done, result) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move || {
            let r = std::panic::catch_unwind(AssertUnwindSafe(f));
            let _ = done.send(r);
        });
        self.tx.send(job).map_err(|_| PoolError::Closed)?;
        match result.await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(_)) => Err(PoolError::Panicked),
            Err(_) => Err(PoolError::Closed),
        }
    }
}

/// One pool thread: takes the next job until the pool is dropped.
fn work(rx: &Mutex<Receiver<Job>>) {
    loop {
        let job = match rx.lock() {
            Ok(rx) => rx.recv(),
            Err(_) => return,
        };
        match job {
            Ok(job) => job(),
            Err(_) => return,
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn jobs_run_on_the_pool_threads_and_panics_are_errors() {
        let pool = CpuPool::new("render", 2);
        let mut names = std::collections::BTreeSet::new();
        for _ in 0..20 {
            let name = pool
                .run(|| std::thread::current().name().map(str::to_string))
                .await
                .unwrap();
            names.insert(name.unwrap());
        }
        assert!(
            names.iter().all(|n| n.starts_with("tudi-render-")),
            "{names:?}"
        );
        assert!(names.len() <= 2);
        let r = pool.run(|| -> u32 { panic!("boom") }).await;
        assert!(matches!(r, Err(PoolError::Panicked)));
        // The thread survived its job's panic.
        assert_eq!(pool.run(|| 7).await.unwrap(), 7);
    }
}
