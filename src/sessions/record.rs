//! The session record: the JSON document a session holds, its auth fields,
//! and the one codec every store keeps it with (`encode`, `judge`: as
//! Django's `SessionBase.encode/decode` sit once in `base.py`, so that each
//! backend only names keys and moves bytes). Pure: no I/O and no
//! randomness here (a new CSRF token is handed in); the store reads and
//! writes records, `auth` decides what the auth fields mean.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::log_event;
use crate::sessions::SessionLabel;
use crate::trace;

/// The key of the signed-in user's name. Every key starting with
/// `AUTH_PREFIX` is an auth field, removed at logout.
pub const AUTH_USER: &str = "_auth_user";
/// The key binding the session to the user's password hash.
pub const AUTH_HASH: &str = "_auth_hash";
/// The key of the login time (unix seconds).
pub const AUTH_TIME: &str = "_auth_time";
pub const AUTH_PREFIX: &str = "_auth_";
/// The key of the session's CSRF token.
pub const CSRF: &str = "_csrf";
/// The key of the one piece of non-auth data latch itself stores.
pub const THEME: &str = "theme";

/// A session is a few hundred bytes; anything larger stored under a
/// session's name is not one of ours, and is not read.
pub const MAX_STORED_BYTES: usize = 64 * 1024;

/// What stored bytes hold, at a given moment (`judge`).
#[derive(Debug)]
pub enum Judged {
    Live(Record),
    /// Past its expiry or idle timeout: as good as gone.
    Expired,
    /// Not a session latch can read (logged when judged).
    Unreadable,
}

/// The bytes stored under the session `label`, judged at `now`: a live
/// record, an expired one, or no session at all. A session latch cannot
/// read (larger than `MAX_STORED_BYTES`, not JSON, of another format
/// version) is logged, naming it by its label only, and is no session,
/// never an error.
pub fn judge(label: SessionLabel, bytes: &[u8], now: u64, idle_timeout: u64) -> Judged {
    let decoded = match bytes.len() {
        n if n > MAX_STORED_BYTES => Err(format!("{n} bytes, more than 64 KiB")),
        _ => serde_json::from_slice::<Record>(bytes).map_err(|e| e.to_string()),
    };
    match decoded {
        Ok(record) if record.v != Record::VERSION => {
            unreadable(label, &format!("unknown format version {}", record.v))
        }
        Ok(record) if record.is_expired(now, idle_timeout) => Judged::Expired,
        Ok(record) => Judged::Live(record),
        Err(why) => unreadable(label, &why),
    }
}

/// A stored session that is no session, and an operator should hear
/// about it. Only the label is logged: it is not the cookie.
pub fn unreadable(label: SessionLabel, why: &str) -> Judged {
    log_event!("session {label}… unreadable, treated as no session: {why}");
    Judged::Unreadable
}

/// The JSON in a session file:
/// `{"v":1,"created":…,"expires":…,"seen":…,"data":{…}}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Record {
    /// Format version; a file with any other is treated as unreadable.
    pub v: u32,
    /// When the session was created (unix s).
    pub created: u64,
    /// Absolute expiry (unix s): the session is dead from this second on.
    pub expires: u64,
    /// Last use (unix s), kept only with `--idle-timeout`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seen: Option<u64>,
    pub data: Map<String, Value>,
}

impl Record {
    pub const VERSION: u32 = 1;

    /// A fresh record living `ttl` seconds, holding the CSRF token `csrf`.
    pub fn new(now: u64, ttl: u64, idle_timeout: u64, csrf: String) -> Record {
        let mut data = Map::new();
        data.insert(CSRF.into(), Value::String(csrf));
        Record {
            v: Self::VERSION,
            created: now,
            expires: now.saturating_add(ttl),
            seen: (idle_timeout > 0).then_some(now),
            data,
        }
    }

    /// The bytes a store keeps: the record's JSON, the same for a file
    /// and a Redis key.
    pub fn encode(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("a record is plain JSON: strings, numbers, maps")
    }

    /// Dead by its absolute expiry, or (with an idle timeout) by disuse.
    pub fn is_expired(&self, now: u64, idle_timeout: u64) -> bool {
        let idle_deadline = self
            .seen
            .unwrap_or(self.created)
            .saturating_add(idle_timeout);
        now >= self.expires || (idle_timeout > 0 && now >= idle_deadline)
    }

    /// Whether a use at `now` should be recorded in `seen`: with an idle
    /// timeout, only once the last recorded use is older than a tenth of
    /// it, so that most reads stay reads (docs/contract.md, "Sessions":
    /// expiry).
    pub fn needs_touch(&self, now: u64, idle_timeout: u64) -> bool {
        let last_seen = self.seen.unwrap_or(self.created);
        idle_timeout > 0 && now.saturating_sub(last_seen) >= (idle_timeout / 10).max(1)
    }

    /// Seconds until `expires`: the cookie's `Max-Age`, so the browser
    /// forgets the cookie when the server forgets the session.
    pub fn max_age(&self, now: u64) -> u64 {
        self.expires.saturating_sub(now)
    }

    pub fn get_str(&self, key: &str) -> Option<&str> {
        self.data.get(key).and_then(Value::as_str)
    }

    pub fn set_str(&mut self, key: &str, value: &str) {
        self.data.insert(key.into(), Value::String(value.into()));
    }

    /// The signed-in user's name, if any.
    pub fn user(&self) -> Option<&str> {
        self.get_str(AUTH_USER)
    }

    /// The session's CSRF token, if it has one.
    pub fn csrf_token(&self) -> Option<&str> {
        self.get_str(CSRF)
    }

    /// The `_auth_hash` the sign-in was made with, if any (see `auth`).
    pub fn auth_hash(&self) -> Option<&str> {
        self.get_str(AUTH_HASH)
    }

    /// Replaces the CSRF token with `csrf`: at login and at logout, so a
    /// token seen under one identity is worthless under the next.
    pub fn set_csrf(&mut self, csrf: &str) {
        self.set_str(CSRF, csrf);
    }

    /// Signs `user` in: the auth fields, and the new CSRF token `csrf`
    /// (Django's `rotate_token` at login), so a token planted before login
    /// is dead.
    pub fn sign_in(&mut self, user: &str, auth_hash: &str, now: u64, csrf: &str) {
        self.set_str(AUTH_USER, user);
        self.set_str(AUTH_HASH, auth_hash);
        self.data.insert(AUTH_TIME.into(), Value::from(now));
        self.set_csrf(csrf);
    }

    /// When the user signed in (unix s), if someone is signed in.
    pub fn auth_time(&self) -> Option<u64> {
        self.data.get(AUTH_TIME).and_then(Value::as_u64)
    }

    /// Removes every `_auth_` field; the rest of the data stays.
    pub fn remove_auth(&mut self) {
        self.data.retain(|key, _| !key.starts_with(AUTH_PREFIX));
    }

    /// True when nothing but the CSRF token is left: nothing worth keeping.
    pub fn holds_only_csrf(&self) -> bool {
        self.data.keys().all(|key| key == CSRF)
    }

    /// The theme, if one was chosen and is one latch knows.
    pub fn theme(&self) -> Option<&'static str> {
        let chosen = self.get_str(THEME)?;
        ["dark", "light"].into_iter().find(|known| *known == chosen)
    }

    /// The record as `--trace` shows it: its JSON, with `_csrf` and
    /// `_auth_hash` cut short (`trace::short`).
    pub fn traced(&self) -> String {
        let mut shown = self.clone();
        for key in [CSRF, AUTH_HASH] {
            if let Some(value) = shown.get_str(key).map(trace::short) {
                shown.set_str(key, &value);
            }
        }
        serde_json::to_string(&shown).unwrap_or_default()
    }

    /// The data that is not about signing in (neither `_auth_*` nor
    /// `_csrf`), as JSON: what a logout in keep mode carries over.
    pub fn other_data(&self) -> String {
        let other: Map<String, Value> = self
            .data
            .iter()
            .filter(|(key, _)| !key.starts_with(AUTH_PREFIX) && *key != CSRF)
            .map(|(key, value)| (key.clone(), value.clone()))
            .collect();
        serde_json::to_string(&other).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_serializes_in_the_spec_shape() {
        let mut r = Record::new(100, 50, 0, "t".into());
        r.data.clear();
        r.set_str(THEME, "dark");
        assert_eq!(
            serde_json::to_string(&r).unwrap(),
            r#"{"v":1,"created":100,"expires":150,"data":{"theme":"dark"}}"#
        );
    }

    #[test]
    fn expiry_is_absolute_and_optionally_idle() {
        let mut r = Record::new(100, 50, 0, "t".into());
        assert!(!r.is_expired(149, 0));
        assert!(r.is_expired(150, 0));
        r.seen = Some(120);
        assert!(!r.is_expired(129, 10));
        assert!(r.is_expired(130, 10));
        assert_eq!(r.max_age(110), 40);
        assert_eq!(r.max_age(999), 0);
    }

    #[test]
    fn a_use_is_recorded_only_past_a_tenth_of_the_idle_timeout() {
        let mut r = Record::new(100, 1000, 100, "t".into());
        assert!(!r.needs_touch(109, 100));
        assert!(r.needs_touch(110, 100));
        assert!(!r.needs_touch(500, 0), "no idle timeout: never");
        r.seen = Some(200);
        assert!(!r.needs_touch(209, 100));
    }

    #[test]
    fn the_traced_record_cuts_its_secrets_short() {
        let mut r = Record::new(0, 10, 0, "csrf-token-value".into());
        r.sign_in("alice", "auth-hash-value", 0, "new-csrf-value");
        let shown = r.traced();
        assert!(shown.contains("\"_csrf\":\"new-…\""), "{shown}");
        assert!(shown.contains("\"_auth_hash\":\"auth…\""), "{shown}");
        assert!(!shown.contains("new-csrf-value") && !shown.contains("auth-hash-value"));
        assert!(shown.contains("\"_auth_user\":\"alice\""), "{shown}");
    }

    #[test]
    fn other_data_is_what_is_not_about_signing_in() {
        let mut r = Record::new(0, 10, 0, "csrf-token-value".into());
        assert_eq!(r.other_data(), "{}");
        r.set_str(THEME, "dark");
        r.sign_in("alice", "auth-hash-value", 0, "new-csrf-value");
        assert_eq!(r.other_data(), r#"{"theme":"dark"}"#);
    }

    #[test]
    fn remove_auth_keeps_other_data() {
        let mut r = Record::new(0, 10, 0, "t".into());
        r.set_str(AUTH_USER, "alice");
        r.set_str(AUTH_HASH, "h");
        r.set_str("_auth_extra", "x");
        r.set_str(THEME, "dark");
        r.remove_auth();
        let mut keys: Vec<_> = r.data.keys().cloned().collect();
        keys.sort();
        assert_eq!(keys, [CSRF, THEME]);
        assert!(!r.holds_only_csrf());
        r.data.remove(THEME);
        assert!(r.holds_only_csrf());
    }
}
