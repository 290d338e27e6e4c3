//! What every store backend answers with (`sessions::store`): a live
//! session, what a rotation did, a listing, and why a call failed. Plain
//! values, shared by the contract and its backends.

use std::fmt;
use std::io;

use crate::os::blocking::Crashed;
use crate::os::sys;
use crate::sessions::redis;
use crate::sessions::{Record, SessionId, SessionLabel};

/// A live session as `load` finds it: its record, and the "sign out
/// everywhere" epoch of its signed-in user (0 when no one is signed in),
/// read together because every signed-in request needs both, and the
/// version read.
#[derive(Debug)]
pub struct Stored {
    pub record: Record,
    pub epoch: u64,
    pub version: Version,
}

/// Which version of a session a request loaded, kept by a store that can
/// compare against it: for Redis, the exact bytes read, the very bytes a
/// compare-and-set compares. A change made later in the same request
/// (`Store::modify`, `Store::rotate`) tries its compare-and-set against
/// this version first, and reads the session again only if that try
/// loses: one round trip to a shared store saved in the usual case. It is
/// only where the change starts, never what makes it safe: the compare
/// decides, so a stale version costs one more try, never a wrong write.
/// The file store keeps none (it reads under the session's lock, from its
/// cache).
#[derive(Debug)]
pub struct Version(Option<Vec<u8>>);

impl Version {
    /// No version: a change reads the session first.
    pub const UNKNOWN: Version = Version(None);

    pub(crate) fn of_bytes(bytes: Vec<u8>) -> Version {
        Version(Some(bytes))
    }

    pub(crate) fn bytes(&self) -> Option<&[u8]> {
        self.0.as_deref()
    }
}

/// What `rotate` did.
#[derive(Debug)]
pub enum Rotated {
    /// There was no live session: nothing was written.
    Gone,
    /// The record moved to this new id; the old id names nothing.
    Moved(SessionId, Record),
    /// The change left nothing worth keeping: the session is deleted.
    Deleted,
}

/// One live session, for `latch sessions`: never its id.
#[derive(Debug)]
pub struct Listing {
    pub label: SessionLabel,
    pub record: Record,
    /// The epoch of the record's user (0 when no one is signed in).
    pub epoch: u64,
}

/// Why a store call failed. What it means to a client is decided in one
/// place, `error::Error::into_response`.
#[derive(Debug)]
pub enum StoreError {
    /// The file backend's disk work failed: a full disk, a read-only file
    /// system, permissions, a damaged epochs file.
    Files(io::Error),
    /// The Redis backend's call failed: Redis unreachable, loading, too
    /// slow, out of memory, not durable after a reconnect, a session too
    /// contended, or an answer latch did not expect (`redis::StoreError`).
    Redis(redis::StoreError),
    /// The store's work did not finish: it panicked (a bug), or the
    /// server is shutting down.
    Crashed(Crashed),
}

impl StoreError {
    /// Whether the store failed for lack of room (a full disk, inodes or
    /// quota): a sign-out then deletes instead of moving (`auth`).
    pub fn is_out_of_space(&self) -> bool {
        match self {
            StoreError::Files(e) => sys::is_out_of_space(e),
            StoreError::Redis(e) => matches!(e, redis::StoreError::Full),
            StoreError::Crashed(_) => false,
        }
    }

    /// Whether the store logs this failure itself, once per change (a
    /// Redis found not durable, or out of memory, `redis::connection`): the
    /// requests it refuses meanwhile add no line of their own.
    pub fn is_logged_by_the_store(&self) -> bool {
        matches!(
            self,
            StoreError::Redis(redis::StoreError::NotDurable(_) | redis::StoreError::Full)
        )
    }
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreError::Files(e) => write!(f, "session files: {e}"),
            StoreError::Redis(e) => write!(f, "redis: {e}"),
            StoreError::Crashed(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for StoreError {}

impl From<io::Error> for StoreError {
    fn from(e: io::Error) -> StoreError {
        StoreError::Files(e)
    }
}

impl From<redis::StoreError> for StoreError {
    fn from(e: redis::StoreError) -> StoreError {
        StoreError::Redis(e)
    }
}

impl From<Crashed> for StoreError {
    fn from(e: Crashed) -> StoreError {
        StoreError::Crashed(e)
    }
}
