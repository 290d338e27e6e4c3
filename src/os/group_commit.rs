//! Group commit of a directory's fsync: one fsync covers every rename and
//! unlink done in the directory before it began, so writers that finish at
//! the same moment share one instead of queueing for one each (as Redis
//! does for `appendfsync always`, and PostgreSQL with `commit_delay`).
//!
//! Each writer still returns only once an fsync that *began after* its own
//! rename or unlink has ended: durable before the answer. Only the count of
//! fsyncs drops, from one per write to about one per moment the disk is
//! busy.
//!
//! 1. A writer, its rename done, takes a ticket: the count of tickets so
//!    far. Every ticket up to it belongs to a rename already done.
//! 2. If an fsync that began after the ticket was taken has ended, the
//!    writer is done; if one such fsync failed, it fails too, even when a
//!    later one succeeded: after a failed fsync the kernel may have marked
//!    the unwritten change clean, so a later success proves nothing
//!    (PostgreSQL's "fsyncgate", 2018; its wiki page "Fsync Errors").
//! 3. If none is running, it starts one, covering every ticket taken so
//!    far, and wakes the others when it ends.
//! 4. Otherwise it waits for the running one to end, and looks again: the
//!    running one may have begun before its ticket, and then covers it not.

use std::fmt;
use std::fs::File;
use std::io;
use std::path::Path;
use std::sync::{Condvar, Mutex, MutexGuard};

use crate::trace;

/// The group commit of one directory's fsyncs.
#[derive(Default)]
pub struct DirSync {
    state: Mutex<State>,
    ended: Condvar,
}

#[derive(Default)]
struct State {
    /// Tickets taken so far.
    tickets: u64,
    /// Whether an fsync is running now.
    running: bool,
    /// Every ticket up to this one is covered by an fsync that ended well.
    synced: u64,
    /// The last fsync that failed: the tickets it covered, and why.
    failed: Option<(u64, io::ErrorKind, String)>,
}

impl DirSync {
    /// Returns once an fsync of `dir` that began after this call has
    /// ended: the renames and unlinks done in `dir` before the call are
    /// then durable.
    pub fn sync(&self, dir: &Path) -> io::Result<()> {
        let mut state = self.lock();
        // 1.
        state.tickets += 1;
        let ticket = state.tickets;
        let mut ran = None;
        loop {
            // 2.
            if let Some((covered, kind, why)) = &state.failed {
                if *covered >= ticket {
                    return trace_row(dir, ran, Err(io::Error::new(*kind, why.clone())));
                }
            }
            if state.synced >= ticket {
                return trace_row(dir, ran, Ok(()));
            }
            // 3.
            if !state.running {
                state.running = true;
                let covers = state.tickets;
                let from = state.synced.max(state.failed.as_ref().map_or(0, |f| f.0));
                drop(state);
                let synced = File::open(dir).and_then(|d| d.sync_all());
                state = self.lock();
                state.running = false;
                ran = Some(covers - from);
                match &synced {
                    Ok(()) => state.synced = state.synced.max(covers),
                    Err(e) => state.failed = Some((covers, e.kind(), e.to_string())),
                }
                self.ended.notify_all();
                continue;
            }
            // 4.
            state = self
                .ended
                .wait(state)
                .unwrap_or_else(|poisoned| poisoned.into_inner());
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The `--trace` row of one writer's fsync: run by it (`ran`: how many
/// writes that fsync covered), or shared with a writer that ran one.
/// Formatted only when the request is traced: every write passes here.
fn trace_row(dir: &Path, ran: Option<u64>, result: io::Result<()>) -> io::Result<()> {
    let how = fmt::from_fn(|f| match ran {
        Some(0 | 1) => Ok(()),
        Some(n) => write!(f, ", one fsync for {n} writes done at the same moment"),
        None => {
            f.write_str(", shared: run by a write done at the same moment, begun after this one")
        }
    });
    let done = fmt::from_fn(|f| match &result {
        Ok(()) => f.write_str("the names it holds now survive a crash"),
        Err(e) => write!(f, "failed: {e}"),
    });
    let dir = dir.display();
    trace::row(
        "disk",
        format_args!("fsync {dir} (the directory){how}: {done}"),
    );
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writers_at_once_share_fsyncs_and_each_returns_after_one_that_began_after_it() {
        let dir = std::env::temp_dir();
        let sync = DirSync::default();
        std::thread::scope(|scope| {
            for _ in 0..16 {
                scope.spawn(|| {
                    for _ in 0..20 {
                        sync.sync(&dir).unwrap();
                    }
                });
            }
        });
        let state = sync.lock();
        assert_eq!(state.tickets, 320);
        assert_eq!(state.synced, 320, "every ticket covered");
        assert!(!state.running);
    }

    #[test]
    fn a_failed_fsync_fails_the_writers_it_covered() {
        let sync = DirSync::default();
        let missing = std::env::temp_dir().join("latch-no-such-dir-for-group-commit");
        let error = sync.sync(&missing).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::NotFound);
        // A later writer starts an fsync of its own: a failure is not sticky.
        assert!(sync.sync(&std::env::temp_dir()).is_ok());
        // A writer whose fsync failed while it waited is told so, though a
        // later fsync succeeded before it looked.
        let mut state = sync.lock();
        let ticket = state.tickets + 1;
        state.failed = Some((ticket, io::ErrorKind::Other, "failed".into()));
        state.synced = ticket + 1;
        drop(state);
        assert!(sync.sync(&std::env::temp_dir()).is_err());
    }
}
