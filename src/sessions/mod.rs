//! Sessions: the id a cookie carries, the record a session holds, and the
//! store that keeps records (docs/contract.md, "Sessions").

pub mod files;
pub mod id;
pub mod pace;
pub mod quota;
pub mod record;
pub mod redis;
pub mod store;
pub mod stored;

use std::time::{SystemTime, UNIX_EPOCH};

pub use id::{CookieIds, SessionId, SessionLabel};
pub use record::{Record, AUTH_PREFIX, CSRF, THEME};

/// Seconds since the Unix epoch: every time in a session file is one.
pub fn now() -> u64 {
    now_ms() / 1000
}

/// Milliseconds since the Unix epoch: the clock of the paces (`pace`).
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// A live session: the id from the cookie, the record stored under it,
/// and the version of it this request loaded (`stored::Version`).
#[derive(Debug)]
pub struct Session {
    pub id: SessionId,
    pub record: Record,
    pub version: stored::Version,
}
