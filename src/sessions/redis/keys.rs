//! The names of latch's Redis keys, all under `latch:`. No key name holds
//! a session id, and none holds a client-chosen string as it was typed.
//!
//! | key | type | holds | expires |
//! | --- | --- | --- | --- |
//! | `latch:s:<hex SHA-256 of the id>` | string | the session file's JSON | `PXAT` the session's deadline |
//! | `latch:live` | sorted set | one member per session (the hash), scored by its deadline in ms | never |
//! | `latch:epoch:<hex of the user name>` | string (integer) | the user's "sign out everywhere" epoch | never |
//! | `latch:signins:<hex of the user name>` | sorted set | the hashes of the user's signed-in sessions, scored by sign-in time in ms | `PXAT` its newest session's deadline |
//! | `latch:pace:<hex SHA-256 of the counter's name>` | string (integer) | the counter's TAT in ms (`sessions::pace`) | `PXAT` the TAT |

use crate::http::encoding::hex;
use crate::sessions::pace::Counter;
use crate::sessions::{Record, SessionId, SessionLabel};

/// What every session key starts with.
pub const SESSION_PREFIX: &str = "latch:s:";
/// `SCAN … MATCH` pattern of every session key.
pub const SESSION_PATTERN: &str = "latch:s:*";
/// The sorted set that counts live sessions without a `SCAN`.
pub const LIVE_INDEX: &str = "latch:live";
/// What an epoch key starts with (the Lua script that reads a session
/// with its user's epoch builds the rest, as `epoch_key` does).
pub const EPOCH_PREFIX: &str = "latch:epoch:";

/// A session's key: the hex SHA-256 of its id, the very name its file
/// would have (without `.json`). A `SCAN`, `MONITOR`, a backup or a
/// replica then holds no usable cookie: the hash cannot be turned back
/// into an id (tower-sessions-redis-store and connect-redis put raw ids
/// in key names).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct SessionKey {
    digest: [u8; 32],
}

impl SessionKey {
    /// The id's key, from the SHA-256 the id already carries.
    pub fn of(id: &SessionId) -> SessionKey {
        SessionKey {
            digest: *id.digest(),
        }
    }

    /// Parses a key name found by `SCAN`; `None` for anything that is not
    /// `latch:s:` and 64 lowercase hex digits.
    pub fn from_key_name(name: &[u8]) -> Option<SessionKey> {
        let hash = name.strip_prefix(b"latch:s:")?;
        if hash.len() != 64 || !hash.iter().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            return None;
        }
        let mut digest = [0u8; 32];
        for (byte, pair) in digest.iter_mut().zip(hash.chunks(2)) {
            *byte = u8::from_str_radix(std::str::from_utf8(pair).ok()?, 16).ok()?;
        }
        Some(SessionKey { digest })
    }

    pub fn name(&self) -> String {
        format!("{SESSION_PREFIX}{}", self.member())
    }

    /// Its member in `LIVE_INDEX`: the hex digest.
    pub fn member(&self) -> String {
        hex(&self.digest)
    }

    /// The backend-neutral label of the session, what `latch sessions`
    /// and log lines show: the same first bytes of the id's SHA-256 a
    /// session file's name starts with.
    pub fn label(&self) -> SessionLabel {
        SessionLabel::of_digest(&self.digest)
    }
}

/// A user's epoch key. A user name may hold `*`, `?` or `[` (a `SCAN`
/// pattern's wildcards) and any Unicode, so it is spelled in hex: one
/// spelling per name, plain ASCII, never a pattern.
pub fn epoch_key(user: &str) -> String {
    format!("{EPOCH_PREFIX}{}", hex(user.as_bytes()))
}

/// A user's index of signed-in sessions, named like the epoch key.
pub fn sign_ins_key(user: &str) -> String {
    format!("latch:signins:{}", hex(user.as_bytes()))
}

/// A pace counter's key (`sessions::pace`): the counter is already a
/// digest, so no address or name is readable in a key listing.
pub fn pace_key(counter: &Counter) -> String {
    format!("latch:pace:{}", hex(counter.digest()))
}

/// The largest deadline latch asks Redis for, in ms (the year 2255):
/// exact as a sorted-set score (a double) and far from Redis's limit.
const MAX_DEADLINE_MS: u64 = 1 << 43;

/// When Redis should drop the session (unix ms, for `SET … PXAT`): its
/// absolute expiry, or with an idle timeout the end of its idle time if
/// that comes first, the same deadline `Record::is_expired` enforces.
/// Never 0, which `PXAT` refuses; a deadline in the past deletes at once.
pub fn deadline_ms(record: &Record, idle_timeout: u64) -> u64 {
    let mut deadline = record.expires;
    if idle_timeout > 0 {
        let idle = record
            .seen
            .unwrap_or(record.created)
            .saturating_add(idle_timeout);
        deadline = deadline.min(idle);
    }
    deadline.saturating_mul(1000).clamp(1, MAX_DEADLINE_MS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_key_is_named_like_its_file() {
        let id = SessionId::generate();
        let key = SessionKey::of(&id);
        assert!(key.name().starts_with("latch:s:"));
        assert!(!key.name().contains(id.as_str()));
        assert!(key.member().starts_with(&id.label().to_string()));
        assert_eq!(key.label(), id.label());
        assert_eq!(SessionKey::from_key_name(key.name().as_bytes()), Some(key));
    }

    #[test]
    fn only_canonical_key_names_are_session_keys() {
        let good = format!("latch:s:{}", "a".repeat(64));
        assert!(SessionKey::from_key_name(good.as_bytes()).is_some());
        for bad in [
            format!("latch:s:{}", "A".repeat(64)),
            format!("latch:s:{}", "a".repeat(63)),
            format!("latch:x:{}", "a".repeat(64)),
            "latch:live".to_owned(),
        ] {
            assert!(SessionKey::from_key_name(bad.as_bytes()).is_none(), "{bad}");
        }
    }

    #[test]
    fn epoch_keys_spell_user_names_in_hex() {
        assert_eq!(epoch_key("a*"), "latch:epoch:612a");
        assert_ne!(epoch_key("ab"), epoch_key("a:b"));
    }

    #[test]
    fn the_deadline_is_the_earlier_of_expiry_and_idle_end() {
        let mut r = Record::new(100, 50, 0, "token".into());
        assert_eq!(deadline_ms(&r, 0), 150_000);
        r.seen = Some(120);
        assert_eq!(deadline_ms(&r, 10), 130_000);
        assert_eq!(deadline_ms(&r, 100), 150_000);
        r.expires = 0;
        assert_eq!(deadline_ms(&r, 0), 1);
        r.expires = u64::MAX;
        assert_eq!(deadline_ms(&r, 0), MAX_DEADLINE_MS);
    }
}
