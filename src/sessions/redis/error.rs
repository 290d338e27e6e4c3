//! What can go wrong talking to Redis, sorted by what the caller does about
//! it: come back later (503 with `Retry-After`), fall back to a flush (the
//! server is full), stop (the server does not keep writes), or report bad
//! data. A session value that cannot be read is none of these: like an
//! unreadable session file, it is no session (logged), never an error.

use std::fmt;

use redis::{ErrorKind, RedisError, ServerErrorKind};

#[derive(Debug)]
pub enum StoreError {
    /// Redis cannot answer now: unreachable, restarting, loading its data,
    /// too slow (no answer within the command timeout), or a replica after
    /// a failover. The store reconnects by itself: answer 503 with
    /// `Retry-After`.
    Unavailable(String),
    /// Redis refused a write for lack of memory (`-OOM` under
    /// `maxmemory-policy noeviction`): the Redis twin of a full disk.
    /// Deleting still works, so a keep-mode logout can fall back to a flush.
    Full,
    /// The server does not acknowledge a write only once it is on disk, or
    /// may evict session keys, or this cannot be verified (the setting is
    /// named). At start latch exits 1; found while serving (after a
    /// reconnect, or by the periodic re-check), requests get 503 until the
    /// server is fixed.
    NotDurable(String),
    /// Writes to one session kept losing the compare-and-set to other
    /// writers (a bounded number of tries): answer 503, try again.
    Contended,
    /// The URL cannot be used, or Redis refused its credentials (its text is
    /// never repeated: it may hold a password).
    BadUrl(String),
    /// Redis answered something latch did not write or expect: a command
    /// refused (`NOPERM`, an unknown command), a key of the wrong type, an
    /// epoch that is not a number.
    BadData(String),
}

impl StoreError {
    /// Sorts an error from the client library. Connection trouble of every
    /// kind is `Unavailable`; of the server's error replies, those that
    /// say "not now" are too (`LOADING` after a restart, `BUSY` while a
    /// slow script runs, `READONLY`/`MASTERDOWN` around a failover, `TRYAGAIN`).
    pub(crate) fn from_redis(e: RedisError) -> StoreError {
        let code = e.code().unwrap_or_default();
        if code == "OOM" {
            return StoreError::Full;
        }
        if e.kind() == ErrorKind::AuthenticationFailed || matches!(code, "NOAUTH" | "WRONGPASS") {
            return StoreError::BadUrl(format!(
                "Redis refused the URL's credentials (user and password): {code}"
            ));
        }
        let unavailable = e.is_io_error()
            || e.is_timeout()
            || e.is_connection_dropped()
            || e.is_connection_refusal()
            || matches!(
                e.kind(),
                ErrorKind::Server(
                    ServerErrorKind::BusyLoading
                        | ServerErrorKind::ReadOnly
                        | ServerErrorKind::MasterDown
                        | ServerErrorKind::TryAgain
                        | ServerErrorKind::ClusterDown
                )
            )
            || matches!(code, "BUSY" | "MISCONF");
        if unavailable {
            StoreError::Unavailable(e.to_string())
        } else {
            StoreError::BadData(e.to_string())
        }
    }
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreError::Unavailable(why) => write!(f, "Redis is unavailable: {why}"),
            StoreError::Full => f.write_str("Redis is out of memory (maxmemory reached)"),
            StoreError::NotDurable(why) => write!(f, "Redis does not keep sessions durably: {why}"),
            StoreError::Contended => {
                f.write_str("a session kept changing under this write; try again")
            }
            StoreError::BadUrl(why) => write!(f, "unusable Redis URL: {why}"),
            StoreError::BadData(why) => write!(f, "unexpected answer from Redis: {why}"),
        }
    }
}

impl std::error::Error for StoreError {}
