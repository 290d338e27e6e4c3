//! What can go wrong talking to Redis, in the words of the store's one
//! error type (`sessions::stored::StoreError`), sorted by what the caller
//! does about it: come back later (503 with `Retry-After`), fall back to a
//! flush (the server is full), stop (the server does not keep writes), or
//! report a failure. A session value that cannot be read is none of these:
//! like an unreadable session file, it is no session (logged), never an
//! error.

use redis::{ErrorKind, RedisError};

use crate::sessions::stored::StoreError;

/// Sorts an error from the client library. Connection trouble of every
/// kind is `Unavailable`; of the server's error replies, those that say
/// "not now" are too (`LOADING` after a restart, `BUSY` while a slow script
/// runs, `MISCONF` while it cannot save; around a failover `READONLY`,
/// `MASTERDOWN`, `NOREPLICAS` while fewer replicas answer than
/// `min-replicas-to-write`, `TRYAGAIN`, `CLUSTERDOWN`). `-OOM` under
/// `maxmemory-policy noeviction` is the Redis twin of a full disk:
/// deleting still works, so a keep-mode logout can fall back to a flush.
pub(super) fn from_redis(e: RedisError) -> StoreError {
    let code = e.code().unwrap_or_default();
    if code == "OOM" {
        return StoreError::Full("Redis is out of memory (maxmemory reached)".into());
    }
    if e.kind() == ErrorKind::AuthenticationFailed || matches!(code, "NOAUTH" | "WRONGPASS") {
        return unusable(&format!(
            "Redis refused the URL's credentials (user and password): {code}"
        ));
    }
    let unavailable = e.is_io_error()
        || e.is_timeout()
        || e.is_connection_dropped()
        || e.is_connection_refusal()
        || matches!(code, "LOADING" | "BUSY" | "MISCONF")
        || matches!(
            code,
            "READONLY" | "MASTERDOWN" | "NOREPLICAS" | "TRYAGAIN" | "CLUSTERDOWN"
        );
    match unavailable {
        true => StoreError::Unavailable(format!("Redis is unavailable: {e}")),
        false => unexpected(&e.to_string()),
    }
}

/// No answer from `whom` within `COMMAND_TIMEOUT`.
pub(super) fn no_answer(whom: &str) -> StoreError {
    let seconds = super::COMMAND_TIMEOUT.as_secs();
    StoreError::Unavailable(format!(
        "Redis is unavailable: no answer from {whom} within {seconds} s"
    ))
}

/// The URL cannot be used (its text is never repeated: it may hold a
/// password).
pub(super) fn unusable(why: &str) -> StoreError {
    StoreError::Unusable(format!("unusable Redis URL: {why}"))
}

/// Redis answered something latch did not write or expect: a command
/// refused (`NOPERM`, an unknown command), a key of the wrong type, an
/// epoch that is not a number.
pub(super) fn unexpected(why: &str) -> StoreError {
    StoreError::Failed(format!("unexpected answer from Redis: {why}"))
}

/// Writes to one session kept losing the compare-and-set to other writers
/// (a bounded number of tries): 503, and the client may try again.
pub(super) fn contended() -> StoreError {
    StoreError::Failed("a session kept changing under this write; try again".into())
}

/// The server does not keep sessions durably (the setting named).
pub(super) fn not_durable(why: &str) -> StoreError {
    StoreError::NotDurable(format!("Redis does not keep sessions durably: {why}"))
}
