//! The Redis session store: sessions in one Redis (or Valkey) primary,
//! shared by any number of latch instances. It keeps every promise of
//! `sessions::store` across instances, as docs/contract.md, "The Redis
//! store", lists them. Where each is kept: every write is one atomic Lua
//! script (`scripts`), acknowledged only once it is on disk
//! (`durability`), and with `--redis-replica-acks` once replicas hold it
//! (`replicas`); `modify` and `rotate` compare-and-set on the exact bytes
//! read, so a session gone on any instance (a logout, an expiry) is never
//! written back; no key holds a session id (`keys`); the primary is
//! followed across failovers (`connection`, `sentinel`).
//!
//! Every call is bounded in time (`COMMAND_TIMEOUT`); see `StoreError` for
//! what each failure means to the caller. A write that timed out may still
//! have happened: like any 503, the caller cannot know.
//!
//! Needs Redis 7.0 or later, or Valkey (script flags, `SET … PXAT`,
//! `CONFIG GET` of several names), and one primary at a time (replicas and
//! Sentinel are fine): not Redis Cluster, whose scripts cannot touch keys
//! in two slots.

mod connection;
mod durability;
mod error;
mod keys;
mod link;
mod listing;
mod pace;
mod replicas;
mod scripts;
mod sentinel;
mod url;

use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Instant;

use crate::sessions::id::Digest;
use crate::sessions::record::{self, Judged};
use crate::sessions::stored::{Rotated, Settings, StoreError, Stored, Version};
use crate::sessions::{Record, SessionId};
use crate::trace::Place;
pub use connection::RECHECK_EVERY;
use keys::{deadline_ms, epoch_key, session_key, sign_ins_key, EPOCH_PREFIX, SESSION_PREFIX};
pub use link::COMMAND_TIMEOUT;
pub use url::redacted;

/// How many times `modify` and `rotate` re-read and re-apply a change that
/// lost the compare-and-set before they give up (`error::contended`).
/// Each loss means another write to the same session succeeded, so this
/// many concurrent writers to one session all get through.
const MAX_TRIES: usize = 32;

pub struct RedisStore {
    /// Where the primary is: one address, or wherever Sentinel says.
    target: url::Target,
    /// The primary as last reached; replaced when Sentinel names another.
    link: RwLock<Arc<link::Link>>,
    /// The flags it serves with (`--max-sessions` caps `count`, for
    /// `create_anonymous`).
    settings: Settings,
    /// When the last check passed; `None` after connection trouble
    /// (`connection`).
    checked: Mutex<Option<Instant>>,
    /// Held while a check runs: one at a time.
    checking: tokio::sync::Mutex<()>,
    /// Whether the primary has `WAITAOF` (Redis 7.2 and later), learnt at
    /// each check after trouble (`replicas`).
    waitaof: AtomicBool,
    /// Whether the last check refused the server (strict mode): the
    /// refusal is logged once, not per request.
    refused: AtomicBool,
    /// Whether the last session write met a Redis out of memory: logged
    /// once, not per request (`connection::note_room`).
    full: AtomicBool,
}

impl RedisStore {
    pub fn idle_timeout(&self) -> u64 {
        self.settings.idle_timeout
    }

    /// The session's key (for `--trace`).
    pub fn place(&self, id: &SessionId) -> Place {
        Place {
            kind: "key",
            name: session_key(&id.digest()),
        }
    }

    /// The session `id`, if it is live, with its user's epoch and the
    /// exact bytes read (for a compare-and-set later, `Version`): one round
    /// trip (`READ_WITH_EPOCH`). An expired one is deleted, if no one
    /// changed it meanwhile.
    pub async fn load(&self, id: &SessionId, now: u64) -> Result<Option<Stored>, StoreError> {
        let key = session_key(&id.digest());
        let mut script = scripts::READ_WITH_EPOCH.prepare_invoke();
        script.key(&key).arg(EPOCH_PREFIX);
        let read: Option<(Vec<u8>, u64)> = self.run("READ_WITH_EPOCH", &key, &script).await?;
        let Some((bytes, epoch)) = read else {
            return Ok(None);
        };
        match record::judge(id.label(), &bytes, now, self.settings.idle_timeout) {
            Judged::Live(record) => Ok(Some(Stored {
                record,
                epoch,
                version: Version::of_bytes(bytes),
            })),
            Judged::Expired => {
                self.drop_if_unchanged(&id.digest(), bytes).await?;
                Ok(None)
            }
            Judged::Unreadable => Ok(None),
        }
    }

    /// Stores `record` under a fresh id, which it returns.
    pub async fn create(&self, record: &Record) -> Result<SessionId, StoreError> {
        let created = self.create_within(record, None).await?;
        created.ok_or_else(|| error::unexpected("a create without a cap was refused"))
    }

    /// `create`, unless `--max-sessions` keys are already there (`count`,
    /// by Redis's own clock: `now` is not needed). The count and the write
    /// are one step, so instances creating at once cannot overshoot the cap.
    pub async fn create_anonymous(
        &self,
        record: &Record,
        _now: u64,
    ) -> Result<Option<SessionId>, StoreError> {
        self.create_within(record, self.settings.max_sessions).await
    }

    async fn create_within(
        &self,
        record: &Record,
        max_live: Option<u64>,
    ) -> Result<Option<SessionId>, StoreError> {
        let value = record.encode();
        // 256 random bits never repeat in practice; the script refuses an
        // existing key anyway (`SET NX`), and a second draw settles it.
        for _ in 0..MAX_TRIES {
            let id = SessionId::generate();
            let key = session_key(&id.digest());
            let mut script = scripts::CREATE.prepare_invoke();
            script
                .key(&key)
                .arg(&value)
                .arg(deadline_ms(record, self.settings.idle_timeout))
                .arg(max_live.unwrap_or(0)); // the script's 0: no cap
            match self.run::<i64>("CREATE", &key, &script).await? {
                1 => return Ok(Some(id)),
                0 => return Ok(None),
                _ => continue,
            }
        }
        Err(error::contended())
    }

    /// Applies `change` to the session as it is stored now, and writes it
    /// if no one changed it meanwhile (`SWAP`), else reads again and
    /// re-applies it. The first try starts from the bytes this request
    /// loaded, when it has them (`Version`).
    pub async fn modify<T>(
        &self,
        id: &SessionId,
        version: &Version,
        now: u64,
        mut change: impl FnMut(&mut Record) -> T,
    ) -> Result<Option<(Record, T)>, StoreError> {
        let (digest, key) = (id.digest(), session_key(&id.digest()));
        for lost in 0..MAX_TRIES {
            let Some((read, mut record)) = self.read_or_reuse(&digest, version, lost, now).await?
            else {
                return Ok(None);
            };
            let out = change(&mut record);
            let mut script = scripts::SWAP.prepare_invoke();
            script
                .key(&key)
                .arg(read)
                .arg(record.encode())
                .arg(deadline_ms(&record, self.settings.idle_timeout));
            if self.run::<i64>("SWAP", &key, &script).await? == 1 {
                return Ok(Some((record, out)));
            }
        }
        Err(error::contended())
    }

    /// Applies `change` to the session as it is stored now, then moves it
    /// to a fresh id (OWASP: renew the id on any change of privilege), or,
    /// when `change` returns false (nothing left worth keeping), deletes it:
    /// in one atomic step (`MOVE`, `DROP`), and only if the old key still
    /// holds the bytes read, retried as `modify` is.
    pub async fn rotate(
        &self,
        id: &SessionId,
        version: &Version,
        now: u64,
        mut change: impl FnMut(&mut Record) -> bool,
    ) -> Result<Rotated, StoreError> {
        let (old, old_key) = (id.digest(), session_key(&id.digest()));
        for lost in 0..MAX_TRIES {
            let Some((read, mut record)) = self.read_or_reuse(&old, version, lost, now).await?
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
            let new = new_id.digest();
            let mut script = scripts::MOVE.prepare_invoke();
            script
                .key(&old_key)
                .key(session_key(&new))
                .arg(read)
                .arg(record.encode())
                .arg(deadline_ms(&record, self.settings.idle_timeout));
            if self.run::<i64>("MOVE", &old_key, &script).await? == 1 {
                return Ok(Rotated::Moved(new_id, record));
            }
        }
        Err(error::contended())
    }

    /// Deletes the session, whatever it holds; `Ok(false)` if there was none.
    /// Works even when Redis is full (`DEL` only frees memory).
    pub async fn delete(&self, id: &SessionId) -> Result<bool, StoreError> {
        let key = session_key(&id.digest());
        let deleted: u64 = self.query(redis::cmd("DEL").arg(&key)).await?;
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
        let index = sign_ins_key(user);
        let at = record.auth_time().unwrap_or(record.created);
        let mut script = scripts::KEEP_NEWEST.prepare_invoke();
        script
            .key(&index)
            .arg(id.digest().to_string())
            .arg(at.saturating_mul(1000))
            .arg(keep)
            .arg(user)
            .arg(deadline_ms(record, self.settings.idle_timeout))
            .arg(SESSION_PREFIX);
        self.run("KEEP_NEWEST", &index, &script).await
    }

    /// The user's "sign out everywhere" epoch: 0 until the first time.
    pub async fn epoch(&self, user: &str) -> Result<u64, StoreError> {
        let epoch: Option<u64> = self.query(redis::cmd("GET").arg(epoch_key(user))).await?;
        Ok(epoch.unwrap_or(0))
    }

    /// Advances the user's epoch (`BUMP`: `INCR`, allowed even when Redis
    /// is full), which every instance reads with each session.
    pub async fn bump_epoch(&self, user: &str) -> Result<u64, StoreError> {
        let key = epoch_key(user);
        let mut script = scripts::BUMP.prepare_invoke();
        script.key(&key);
        self.run("BUMP", &key, &script).await
    }

    /// A compare-and-set's starting point, when the session is live: on
    /// its first try, the bytes the request loaded, if it has them (judged
    /// as if just read: no round trip); on any later try (after a
    /// `back_off`), or without them, a fresh read. With the bytes read, for
    /// the compare.
    async fn read_or_reuse(
        &self,
        digest: &Digest,
        version: &Version,
        lost: usize,
        now: u64,
    ) -> Result<Option<(Vec<u8>, Record)>, StoreError> {
        let bytes = match version.bytes() {
            Some(loaded) if lost == 0 => Some(loaded.to_vec()),
            _ => {
                back_off(lost).await;
                self.query(redis::cmd("GET").arg(session_key(digest)))
                    .await?
            }
        };
        let Some(bytes) = bytes else {
            return Ok(None);
        };
        Ok(
            match record::judge(digest.label(), &bytes, now, self.settings.idle_timeout) {
                Judged::Live(record) => Some((bytes, record)),
                Judged::Expired | Judged::Unreadable => None,
            },
        )
    }

    /// Deletes the session if it still holds `read`; true if it did.
    async fn drop_if_unchanged(&self, digest: &Digest, read: Vec<u8>) -> Result<bool, StoreError> {
        let key = session_key(digest);
        let mut script = scripts::DROP.prepare_invoke();
        script.key(&key).arg(read);
        Ok(self.run::<i64>("DROP", &key, &script).await? == 1)
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
