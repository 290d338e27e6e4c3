//! Work that blocks a thread (file writes with fsync, directory scans,
//! password hashes) runs on tokio's blocking pool, so the async workers
//! keep serving other requests. The request's `--trace` table goes with it.

use std::fmt;

use crate::trace;

/// Runs `work` on the blocking pool and waits for it. `Err` only when the
/// work did not finish: it panicked (a bug), or the runtime is shutting
/// down.
pub async fn run<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, Crashed> {
    tokio::task::spawn_blocking(trace::carry(work))
        .await
        .map_err(|e| Crashed(e.to_string()))
}

/// Blocking work that did not finish, and why.
#[derive(Debug)]
pub struct Crashed(String);

impl fmt::Display for Crashed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "blocking task failed: {}", self.0)
    }
}

impl std::error::Error for Crashed {}
