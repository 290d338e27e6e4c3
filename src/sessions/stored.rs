//! What every store backend answers with (`sessions::store`): a live
//! session, what a rotation did, a listing, and why a call failed; and how
//! strictly a store must show it keeps writes. Plain values, shared by the
//! contract and its backends.

use std::fmt;

use crate::os::blocking::Crashed;
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
/// The file store keeps none (it reads under the session's lock, from the
/// disk, never its cache).
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

/// What a sweep or `latch clearsessions` removed, by why: what an operator
/// reads (`latch clearsessions` prints it, a sweep logs it).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Removed {
    /// Sessions past their expiry, absolute or idle.
    pub expired: usize,
    /// Stored values that are no session latch can read (not JSON, another
    /// format version, too large, not a regular file): each was logged
    /// with why when it was judged.
    pub unreadable: usize,
    /// The file store's temporary files left by a write a crash cut short.
    pub leftovers: usize,
}

impl Removed {
    pub fn total(&self) -> usize {
        self.expired + self.unreadable + self.leftovers
    }
}

/// `1 expired session, 2 unreadable sessions`, or `nothing (no expired or
/// unreadable session)`.
impl fmt::Display for Removed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let counts = [
            (self.expired, "expired session", "expired sessions"),
            (self.unreadable, "unreadable session", "unreadable sessions"),
            (
                self.leftovers,
                "temporary file left by a crash",
                "temporary files left by a crash",
            ),
        ];
        let said: Vec<String> = counts
            .iter()
            .filter(|(n, _, _)| *n > 0)
            .map(|(n, one, many)| match n {
                1 => format!("1 {one}"),
                n => format!("{n} {many}"),
            })
            .collect();
        match said.is_empty() {
            true => f.write_str("nothing (no expired or unreadable session)"),
            false => f.write_str(&said.join(", ")),
        }
    }
}

/// Why a store call failed, whatever the backend: each backend maps its
/// own failures into this one type (as tower-sessions' `session_store::Error`
/// asks of its stores), so nothing above the store names a backend. Sorted
/// by what the caller does about it; what each means to a client is
/// decided in one place, `error::Error::into_response`.
#[derive(Debug)]
pub enum StoreError {
    /// The store cannot answer now (Redis unreachable, restarting, loading
    /// its data, too slow, a replica after a failover): 503 with
    /// `Retry-After`, and service resumes by itself.
    Unavailable(String),
    /// The store has no room (a full disk, no inodes, a spent quota; Redis
    /// at `maxmemory`): a sign-out deletes instead of moving, anything else
    /// gets 503 saying the store is full.
    Full(String),
    /// The store does not keep writes durably, or this cannot be verified
    /// (the setting is named): latch will not start on it, and while
    /// serving answers 503 until it is fixed. The store logs it, once.
    NotDurable(String),
    /// The store cannot be used as it is named: a URL that does not parse,
    /// credentials refused.
    Unusable(String),
    /// Anything else: an I/O error (a read-only file system, permissions),
    /// an answer latch did not expect, a session too contended to write.
    Failed(String),
    /// The store's work did not finish: it panicked (a bug), or the
    /// server is shutting down.
    Crashed(Crashed),
}

impl StoreError {
    /// Whether the store failed for lack of room: a sign-out then deletes
    /// instead of moving (`auth::sign_out`).
    pub fn is_out_of_space(&self) -> bool {
        matches!(self, StoreError::Full(_))
    }

    /// Whether the store logs this failure itself, once per change (a
    /// store found not durable, or full): the requests it refuses
    /// meanwhile add no line of their own.
    pub fn is_logged_by_the_store(&self) -> bool {
        matches!(self, StoreError::NotDurable(_) | StoreError::Full(_))
    }
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Each backend words its own failures: "Redis is unavailable: …",
        // "sessions dir /var/lib/latch/sessions: No space left on device".
        match self {
            StoreError::Unavailable(why)
            | StoreError::Full(why)
            | StoreError::NotDurable(why)
            | StoreError::Unusable(why)
            | StoreError::Failed(why) => f.write_str(why),
            StoreError::Crashed(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for StoreError {}

impl From<Crashed> for StoreError {
    fn from(e: Crashed) -> StoreError {
        StoreError::Crashed(e)
    }
}

/// What `latch check` found of a store (`Store::check`): what is fine,
/// and each shortfall (a reason strict durability refuses the setup), one
/// sentence each.
#[derive(Debug, Default)]
pub struct Survey {
    pub fine: Vec<String>,
    pub shortfalls: Vec<String>,
}

/// Whether a store that cannot show it keeps writes durably may be used
/// (`--redis-durability`). The file store always is: every write is
/// fsynced before the call returns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Durability {
    /// Every setting must be durable; anything else (or a server whose
    /// settings cannot be read) is an error naming the setting.
    Strict,
    /// The operator accepts a server that may lose writes: each shortfall
    /// is logged once, and latch runs.
    Relaxed,
}

impl Durability {
    /// `strict` or `relaxed`, as `--redis-durability` takes them.
    pub fn parse(text: &str) -> Option<Durability> {
        match text {
            "strict" => Some(Durability::Strict),
            "relaxed" => Some(Durability::Relaxed),
            _ => None,
        }
    }
}

/// How a store is opened: the serve flags it needs.
#[derive(Clone, Copy, Debug)]
pub struct Settings {
    /// `--idle-timeout` (0: none).
    pub idle_timeout: u64,
    /// `--max-sessions`: new anonymous sessions are refused past it
    /// (`None`: no cap, for the commands that only read).
    pub max_sessions: Option<u64>,
    pub durability: Durability,
    /// `--redis-replica-acks`: how many replicas confirm a sign-out before
    /// its answer (`Store::confirm`).
    pub replica_acks: u32,
}
