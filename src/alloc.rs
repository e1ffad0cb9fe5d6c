//! The process allocator (mimalloc) and the one setting tudi changes at run
//! time: how soon freed memory goes back to the operating system.
//!
//! mimalloc 3 returns ("purges") freed pages 1 s after they were freed, on
//! the owning thread's next allocation. Start-up loads layers on worker
//! threads that then go idle, so what the load freed (read buffers, owned
//! attributes before the store, the R-tree's sort scratch) stayed resident
//! for good: RSS at ready was 131-188 B per stored vertex for a model of 67
//! (BENCHMARKS.md, "District scale"). Purging at once while layers load
//! brings it to 96 at no measured cost to the load; kept on while serving it
//! costs ~40% of cold-tile throughput (`benches/tiles_ab.sh`), so the delay
//! goes back to its previous value when the load ends.
//!
//! The only `unsafe` of the package: calls to three functions of mimalloc's
//! C API, which neither crate wraps safely. It lives in the binary; the
//! `unsafe_code` lint is `deny` everywhere else, so the library has none.
#![allow(unsafe_code)]

use libmimalloc_sys::{mi_collect, mi_option_get, mi_option_set, mi_option_t};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// `mi_option_purge_delay` in mimalloc 3's `mi_option_e` (mimalloc.h); the
/// Rust bindings only name mimalloc 2's options. The test below checks the
/// number still means the purge delay (its documented default, 1000 ms).
const PURGE_DELAY: mi_option_t = 15;

/// Purge freed memory at once until the returned guard is dropped, then
/// restore the previous delay and return what is free now.
pub fn purge_at_once() -> PurgeGuard {
    // SAFETY: mimalloc options are process-wide atomics, valid to read and
    // set from any thread at any time; the option number is checked below.
    let previous = unsafe { mi_option_get(PURGE_DELAY) };
    unsafe { mi_option_set(PURGE_DELAY, 0) };
    PurgeGuard { previous }
}

/// Restores the purge delay when dropped (see [`purge_at_once`]).
pub struct PurgeGuard {
    previous: std::os::raw::c_long,
}

impl Drop for PurgeGuard {
    fn drop(&mut self) {
        // SAFETY: as in `purge_at_once`; `mi_collect` may be called from
        // any thread and only frees what this thread's heap no longer uses.
        unsafe {
            mi_collect(true);
            mi_option_set(PURGE_DELAY, self.previous);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_option_number_is_the_purge_delay() {
        if std::env::var_os("MIMALLOC_PURGE_DELAY").is_some() {
            return;
        }
        // SAFETY: reading an option, as above.
        assert_eq!(unsafe { mi_option_get(PURGE_DELAY) }, 1000);
        let guard = purge_at_once();
        assert_eq!(unsafe { mi_option_get(PURGE_DELAY) }, 0);
        drop(guard);
        assert_eq!(unsafe { mi_option_get(PURGE_DELAY) }, 1000);
    }
}
