//! The names of latch's Redis keys, all under `latch:`. No key name holds
//! a session id, and none holds a client-chosen string as it was typed.
//!
//! | key | type | holds | expires |
//! | --- | --- | --- | --- |
//! | `latch:s:<hex SHA-256 of the id>` | string | the session file's JSON | `PXAT` the session's deadline |
//! | `latch:epoch:<hex of the user name>` | string (integer) | the user's "sign out everywhere" epoch | never |
//! | `latch:signins:<hex of the user name>` | sorted set | the hashes of the user's signed-in sessions, scored by sign-in time in ms | `PXAT` its newest session's deadline |
//! | `latch:pace:<hex SHA-256 of the counter's name>` | string (integer) | the counter's TAT in ms (`sessions::pace`) | `PXAT` the TAT |
//! | `latch:fence` | string (integer) | how many confirmations replicas were asked for (`replicas`) | never |

use crate::http::encoding::hex;
use crate::sessions::id::Digest;
use crate::sessions::pace::Counter;
use crate::sessions::Record;

/// What every session key starts with.
pub const SESSION_PREFIX: &str = "latch:s:";
/// What an epoch key starts with (the Lua script that reads a session
/// with its user's epoch builds the rest, as `epoch_key` does).
pub const EPOCH_PREFIX: &str = "latch:epoch:";

/// The key a confirmation writes before it waits for the replicas: a
/// write of its own, after every write it must cover (`replicas`).
pub const FENCE: &str = "latch:fence";

/// A session's key: `latch:s:` and the hex SHA-256 of its id (`Digest`),
/// the very name its file would have (without `.json`). A `SCAN`,
/// `MONITOR`, a backup or a replica then holds no usable cookie: the hash
/// cannot be turned back into an id (tower-sessions-redis-store and
/// connect-redis put raw ids in key names). Its member in a user's index
/// is the hex digest alone.
pub fn session_key(digest: &Digest) -> String {
    format!("{SESSION_PREFIX}{digest}")
}

/// The digest a key name found by `SCAN` stands for; `None` for anything
/// that is not `latch:s:` and 64 lowercase hex digits.
pub fn digest_of_key(name: &[u8]) -> Option<Digest> {
    Digest::from_hex(name.strip_prefix(SESSION_PREFIX.as_bytes())?)
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
    fn a_session_key_is_read_back_as_its_digest_and_nothing_else_is() {
        let id = crate::sessions::SessionId::generate();
        let key = session_key(&id.digest());
        assert_eq!(digest_of_key(key.as_bytes()), Some(id.digest()));
        for bad in [
            format!("latch:s:{}", "A".repeat(64)),
            format!("latch:s:{}", "a".repeat(63)),
            format!("latch:x:{}", "a".repeat(64)),
            FENCE.to_owned(),
        ] {
            assert!(digest_of_key(bad.as_bytes()).is_none(), "{bad}");
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
