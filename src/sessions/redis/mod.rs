//! The Redis session store: sessions in one Redis (or Valkey) primary,
//! shared by any number of latch instances (docs/contract.md, "The Redis
//! store"). It keeps the file store's contract (`session_store`), across
//! instances:
//!
//! - `load_with_epoch` returns `Ok(None)` for no session, an expired one (which it
//!   deletes, if no one changed it meanwhile) and a value that cannot be
//!   read (logged); `Err` only when Redis fails. It never writes a session.
//! - `create`, `modify` and `rotate` are durable when they return (the
//!   server acknowledges a write only once it is on disk: `durability`)
//!   and atomic (one Lua script each: `scripts`).
//! - `modify` and `rotate` are compare-and-set: they read the session, apply
//!   the change to a copy, and write only if the stored bytes are still
//!   exactly the ones read; if not, they read again and re-apply the change
//!   (so a change may run more than once, and must only edit the record).
//!   A session that is gone (a logout, an expiry, on any instance) is never
//!   written back: they return `Ok(None)` / `Rotated::Gone`.
//! - No key holds a session id (`keys`); a value is the exact JSON of a
//!   session file.
//! - Redis expires sessions itself (`PXAT` their deadline), and latch
//!   still refuses an expired record it reads.
//!
//! - Signing out never fails for lack of memory: `delete`, a `rotate` that
//!   keeps nothing, and `bump_epoch` are allowed past `maxmemory`.
//!
//! Every call is bounded in time (`connection::COMMAND_TIMEOUT`); see
//! `StoreError` for what each failure means to the caller. A write that
//! timed out may still have happened: like any 503, the caller cannot know.
//!
//! Needs Redis 7.0 or later, or Valkey (script flags, `SET … PXAT`,
//! `CONFIG GET` of several names), and one primary: not Redis Cluster, whose
//! scripts cannot touch keys in two slots.

mod connection;
mod durability;
mod error;
mod keys;
mod listing;
mod pace;
mod scripts;
mod stored;
mod url;

use std::sync::atomic::AtomicBool;
use std::sync::Mutex;
use std::time::Instant;

use redis::aio::ConnectionManager;

pub use crate::sessions::stored::{Listing, Rotated};
use crate::sessions::{Record, SessionId};
pub use connection::{COMMAND_TIMEOUT, RECHECK_EVERY};
pub use durability::Durability;
pub use error::StoreError;
use keys::{
    deadline_ms, epoch_key, sign_ins_key, SessionKey, EPOCH_PREFIX, LIVE_INDEX, SESSION_PREFIX,
};
use stored::Stored;
pub use url::redacted;

/// How many times `modify` and `rotate` re-read and re-apply a change that
/// lost the compare-and-set before they give up (`StoreError::Contended`).
/// Each loss means another write to the same session succeeded, so this
/// many concurrent writers to one session all get through.
const MAX_TRIES: usize = 32;

pub struct RedisStore {
    conn: ConnectionManager,
    durability: Durability,
    idle_timeout: u64,
    /// When the server's settings were last found durable; `None` after
    /// connection trouble or a refusal. A check older than
    /// `connection::RECHECK_EVERY`, or none, is made again before the next
    /// call (see `connection`).
    checked: Mutex<Option<Instant>>,
    /// Whether the last check refused the server (strict mode): the
    /// refusal is logged once, not per request.
    refused: AtomicBool,
    /// Whether the last session write met a Redis out of memory: logged
    /// once, not per request (`connection::note_room`).
    full: AtomicBool,
}

impl RedisStore {
    pub fn idle_timeout(&self) -> u64 {
        self.idle_timeout
    }

    /// The session `id`, if it is live, with the epoch of its signed-in
    /// user (0 when no one is signed in) and the exact bytes read (for a
    /// compare-and-set later, `Version`): what a signed-in request needs,
    /// in one round trip. `Ok(None)` for no session, an expired one (which
    /// it deletes, if no one changed it meanwhile) or an unreadable value.
    pub async fn load_with_epoch(
        &self,
        id: &SessionId,
        now: u64,
    ) -> Result<Option<(Record, u64, Vec<u8>)>, StoreError> {
        let key = SessionKey::of(id);
        let mut script = scripts::READ_WITH_EPOCH.prepare_invoke();
        script.key(key.name()).arg(EPOCH_PREFIX);
        let reply: Vec<Vec<u8>> = self.run("READ_WITH_EPOCH", &key.name(), &script).await?;
        let (value, epoch) = match <[Vec<u8>; 2]>::try_from(reply) {
            Ok([value, epoch]) => (Some(value), parse_epoch(&epoch)?),
            Err(_) => (None, 0),
        };
        let live = self.live_or_drop(&key, value, now).await?;
        Ok(live.map(|(record, read)| (record, epoch, read)))
    }

    /// Stores `record` under a fresh id (never one a client sent) and
    /// returns the id.
    pub async fn create(&self, record: &Record) -> Result<SessionId, StoreError> {
        let created = self
            .create_within(record, crate::sessions::now(), 0)
            .await?;
        created.ok_or_else(|| StoreError::BadData("a create without a cap was refused".into()))
    }

    /// `create`, unless `max_live` sessions (0: no cap) are already live:
    /// then `Ok(None)` and nothing is written. The count and the write are
    /// one step, so instances creating at once cannot overshoot the cap.
    pub async fn create_if_room(
        &self,
        record: &Record,
        now: u64,
        max_live: u64,
    ) -> Result<Option<SessionId>, StoreError> {
        self.create_within(record, now, max_live).await
    }

    async fn create_within(
        &self,
        record: &Record,
        now: u64,
        max_live: u64,
    ) -> Result<Option<SessionId>, StoreError> {
        let value = to_json(record)?;
        // 256 random bits never repeat in practice; the script refuses an
        // existing key anyway (`SET NX`), and a second draw settles it.
        for _ in 0..MAX_TRIES {
            let id = SessionId::generate();
            let key = SessionKey::of(&id);
            let mut script = scripts::CREATE.prepare_invoke();
            script
                .key(key.name())
                .key(LIVE_INDEX)
                .arg(&value)
                .arg(deadline_ms(record, self.idle_timeout))
                .arg(key.member())
                .arg(now.saturating_mul(1000))
                .arg(max_live);
            match self.run::<i64>("CREATE", &key.name(), &script).await? {
                1 => return Ok(Some(id)),
                0 => return Ok(None),
                _ => continue,
            }
        }
        Err(StoreError::Contended)
    }

    /// Applies `change` to the session as it is stored now, and writes it
    /// if no one changed it meanwhile (else reads again and re-applies:
    /// `change` may run more than once and must only edit the record).
    /// The first try starts from `loaded`, the bytes this request loaded,
    /// when it has them (`Version`). `Ok(None)`, and nothing written, when
    /// the session is gone or expired.
    pub async fn modify<T>(
        &self,
        id: &SessionId,
        loaded: Option<&[u8]>,
        now: u64,
        mut change: impl FnMut(&mut Record) -> T,
    ) -> Result<Option<(Record, T)>, StoreError> {
        let key = SessionKey::of(id);
        for lost in 0..MAX_TRIES {
            back_off(lost).await;
            let Stored::Live(read, mut record) =
                self.read_or_reuse(&key, loaded, lost, now).await?
            else {
                return Ok(None);
            };
            let out = change(&mut record);
            let mut script = scripts::SWAP.prepare_invoke();
            script
                .key(key.name())
                .key(LIVE_INDEX)
                .arg(read)
                .arg(to_json(&record)?)
                .arg(deadline_ms(&record, self.idle_timeout))
                .arg(key.member());
            if self.run::<i64>("SWAP", &key.name(), &script).await? == 1 {
                return Ok(Some((record, out)));
            }
        }
        Err(StoreError::Contended)
    }

    /// Applies `change` to the session as it is stored now, then moves it
    /// to a fresh id (OWASP: renew the id on any change of privilege), or,
    /// when `change` returns false (nothing left worth keeping), deletes it.
    /// The new key is written and the old one deleted in one atomic step,
    /// and only if the old one still holds the bytes read; a copy of the old
    /// cookie is worth nothing after. `Rotated::Gone` (nothing written) when
    /// the session is gone or expired. `change` may run more than once;
    /// its first try starts from `loaded`, as for `modify`.
    pub async fn rotate(
        &self,
        id: &SessionId,
        loaded: Option<&[u8]>,
        now: u64,
        mut change: impl FnMut(&mut Record) -> bool,
    ) -> Result<Rotated, StoreError> {
        let old = SessionKey::of(id);
        for lost in 0..MAX_TRIES {
            back_off(lost).await;
            let Stored::Live(read, mut record) =
                self.read_or_reuse(&old, loaded, lost, now).await?
            else {
                return Ok(Rotated::Gone);
            };
            if !change(&mut record) {
                if self.drop_if_unchanged(&old, read).await? {
                    return Ok(Rotated::Deleted);
                }
                continue;
            }
            let new_id = SessionId::generate();
            let new = SessionKey::of(&new_id);
            let mut script = scripts::MOVE.prepare_invoke();
            script
                .key(old.name())
                .key(new.name())
                .key(LIVE_INDEX)
                .arg(read)
                .arg(to_json(&record)?)
                .arg(deadline_ms(&record, self.idle_timeout))
                .arg(old.member())
                .arg(new.member());
            if self.run::<i64>("MOVE", &old.name(), &script).await? == 1 {
                return Ok(Rotated::Moved(new_id, record));
            }
        }
        Err(StoreError::Contended)
    }

    /// Deletes the session, whatever it holds; `Ok(false)` if there was none.
    /// Works even when Redis is full.
    pub async fn delete(&self, id: &SessionId) -> Result<bool, StoreError> {
        let key = SessionKey::of(id);
        let mut script = scripts::DELETE.prepare_invoke();
        script.key(key.name()).key(LIVE_INDEX).arg(key.member());
        let deleted: u64 = self.run("DELETE", &key.name(), &script).await?;
        Ok(deleted == 1)
    }

    /// Notes that `id`, whose record is `record`, is signed in, and ends
    /// that user's oldest sign-ins past `keep` (one script: `KEEP_NEWEST`).
    /// Returns how many it ended.
    pub async fn keep_newest_sign_ins(
        &self,
        id: &SessionId,
        record: &Record,
        keep: usize,
    ) -> Result<usize, StoreError> {
        let Some(user) = record.user() else {
            return Ok(0);
        };
        let key = SessionKey::of(id);
        let index = sign_ins_key(user);
        let at = record.auth_time().unwrap_or(record.created);
        let mut script = scripts::KEEP_NEWEST.prepare_invoke();
        script
            .key(&index)
            .key(LIVE_INDEX)
            .arg(key.member())
            .arg(at.saturating_mul(1000))
            .arg(keep)
            .arg(user)
            .arg(deadline_ms(record, self.idle_timeout))
            .arg(SESSION_PREFIX);
        let ended: usize = self.run("KEEP_NEWEST", &index, &script).await?;
        Ok(ended)
    }

    /// The user's "sign out everywhere" epoch: 0 until the first time.
    pub async fn epoch(&self, user: &str) -> Result<u64, StoreError> {
        let epoch: Option<u64> = self.query(redis::cmd("GET").arg(epoch_key(user))).await?;
        Ok(epoch.unwrap_or(0))
    }

    /// Advances the user's epoch (`INCR`, durable when it returns, and
    /// allowed even when Redis is full).
    /// Sessions bind to the epoch through `_auth_hash`, so this one small
    /// write signs out every session of the user, on every instance at its
    /// next request, however many sessions there are.
    pub async fn bump_epoch(&self, user: &str) -> Result<u64, StoreError> {
        let key = epoch_key(user);
        let mut script = scripts::BUMP.prepare_invoke();
        script.key(&key);
        self.run("BUMP", &key, &script).await
    }
}

/// Before the next try of a compare-and-set that lost `lost` times: none
/// the first time, then a random wait of up to `lost` ms, so that writers
/// that keep colliding on one session spread out instead of colliding
/// again in step (at most about half a second over all the tries).
async fn back_off(lost: usize) {
    if lost == 0 {
        return;
    }
    let random = crate::os::random::random_32();
    let draw = u64::from_le_bytes(random[..8].try_into().expect("8 bytes"));
    let micros = draw % (1000 * lost as u64);
    tokio::time::sleep(std::time::Duration::from_micros(micros)).await;
}

/// A session file's exact bytes.
fn to_json(record: &Record) -> Result<Vec<u8>, StoreError> {
    serde_json::to_vec(record).map_err(|e| StoreError::BadData(e.to_string()))
}

fn parse_epoch(bytes: &[u8]) -> Result<u64, StoreError> {
    std::str::from_utf8(bytes)
        .ok()
        .and_then(|text| text.parse().ok())
        .ok_or_else(|| {
            StoreError::BadData("an epoch key holds something other than a number".into())
        })
}
