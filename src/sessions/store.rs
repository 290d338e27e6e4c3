//! The session store contract: what every backend promises, and the one
//! type the rest of latch talks to.
//!
//! A store keeps session records under ids it makes itself. Everything
//! else about a session (who is signed in, whether that still stands, what
//! a logout removes) is decided above it, in `auth` and the handlers, by
//! changes handed to the store. The promises of every backend (each call
//! below adds its own):
//!
//! - `Err` means the store itself failed, and nothing else does: the
//!   caller answers 503 (`error::Error`) and cannot count on the change
//!   having been made. No session under an id (never made, deleted, moved,
//!   expired, or bytes that are no session, logged) is `Ok(None)` or its
//!   like, never an error and never a hang.
//! - An id is fresh from the OS random source, never one a client sent.
//! - A change (`modify`, `rotate`, and the sweep's) is applied to the
//!   session as it is stored *now*, never to a copy loaded earlier. It may
//!   run more than once (a backend may retry it after losing a race), so
//!   it must only edit the record it is given: no I/O, no counters, no
//!   randomness it relies on being drawn once.
//! - No backend ever writes back a session that is gone: a request that
//!   loaded a session before a logout cannot undo the logout
//!   (express-session #632, Django #21608).
//! - A write is durable when the call returns: a crash after that keeps
//!   it, and no reader or crash ever sees half of one.
//!
//! The backends are a closed set, one variant each, and each answers every
//! call of the contract with the same signature, so `Store` only hands a
//! call on (`on_backend!`). A new backend is a new variant here and a
//! module beside `files`, and must pass the contract suite
//! (`tests/store_contract.rs`; the Redis run leaves out the sweep's
//! sign-out, see `sweep`). Nothing outside `sessions` names a backend: it
//! names a `Location` (what `--sessions` says), and `Store::open` does the
//! rest. Each backend maps its failures into the one `StoreError`.
//!
//! Every change a backend reports passes here, so here `--trace`'s
//! variable tracker learns it (`trace::session_changed`), whichever the
//! backend: a session created, rewritten or deleted, by the file or the key
//! that holds it.

use std::path::PathBuf;

use crate::sessions::files::FileStore;
use crate::sessions::pace::{Counter, Limit, Paced};
use crate::sessions::redis::{self, RedisStore};
use crate::sessions::{Record, SessionId};
use crate::trace::{self, Change, Place, Seen};

pub use crate::sessions::stored::{
    Durability, Listing, Removed, Rotated, Settings, StoreError, Stored, Survey, Version,
};

pub enum Store {
    /// Session files in a directory (`sessions::files`).
    Files(FileStore),
    /// Sessions in one Redis primary, shared by every instance
    /// (`sessions::redis`; docs/contract.md, "The Redis store"). Boxed: it
    /// is ten times the size of the other.
    Redis(Box<RedisStore>),
}

/// Where sessions are kept, as `--sessions` names it: a directory, or a
/// Redis URL (`redis://`, `rediss://`, `redis+unix://`, or
/// `redis+sentinel://`: the primary Sentinel names). Any other `SCHEME://`
/// is a mistake (a typo, a scheme latch does not speak), not a directory
/// to create.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Location {
    Dir(PathBuf),
    Redis(String),
}

/// The schemes `Location::parse` takes as a Redis URL.
const REDIS_SCHEMES: [&str; 4] = ["redis", "rediss", "redis+unix", "redis+sentinel"];

impl Location {
    /// What `--sessions` says; `Err` says what was expected.
    pub fn parse(url: &str) -> Result<Location, String> {
        match url.split_once("://") {
            Some((scheme, _)) if REDIS_SCHEMES.contains(&scheme) => {
                Ok(Location::Redis(url.to_owned()))
            }
            Some((scheme, _)) if !scheme.is_empty() && !scheme.contains('/') => Err(format!(
                "{scheme}:// is not a sessions store latch knows: a directory, or a \
                 redis://, rediss://, redis+unix:// or redis+sentinel:// URL"
            )),
            _ => Ok(Location::Dir(PathBuf::from(url))),
        }
    }

    /// How many replicas a sign-out waits for when `--redis-replica-acks`
    /// does not say: 1 behind Sentinel, whose failovers promote a replica;
    /// none for one primary, or files.
    pub fn default_replica_acks(&self) -> u32 {
        match self {
            Location::Redis(url) if url.starts_with("redis+sentinel://") => 1,
            _ => 0,
        }
    }

    /// As latch shows it (`check`, errors, logs): a directory as it is, a
    /// Redis URL without its password (`redis::redacted`).
    pub fn shown(&self) -> String {
        match self {
            Location::Dir(dir) => format!("sessions dir {}", dir.display()),
            Location::Redis(url) => format!("sessions URL {}", redis::redacted(url)),
        }
    }
}

/// A dir that cannot be opened, in the system's own words (the caller
/// names the dir).
fn opening(e: std::io::Error) -> StoreError {
    StoreError::Failed(e.to_string())
}

/// Hands one call of the contract to the backend.
macro_rules! on_backend {
    ($store:expr, $backend:ident => $call:expr) => {
        match $store {
            Store::Files($backend) => $call,
            Store::Redis($backend) => $call,
        }
    };
}

impl Store {
    /// Opens the store `location` names, for serving: the file store takes
    /// its dir for this process (a second server on it is refused), the
    /// Redis store connects and checks that the server keeps writes
    /// durably (`StoreError::NotDurable` names the setting).
    pub async fn open(location: &Location, settings: &Settings) -> Result<Store, StoreError> {
        Ok(match location {
            Location::Dir(dir) => {
                let files = FileStore::open(dir, settings.idle_timeout).map_err(opening)?;
                Store::Files(files.with_max_sessions(settings.max_sessions))
            }
            Location::Redis(url) => {
                Store::Redis(Box::new(RedisStore::connect(url, *settings).await?))
            }
        })
    }

    /// Opens the store for a command that may run beside a server (`latch
    /// sessions`, `latch clearsessions`): the dir as it is (no lock, no
    /// reserve, no epochs written), or the Redis server, connected as
    /// `serve` connects to it.
    pub async fn open_beside_server(
        location: &Location,
        settings: &Settings,
    ) -> Result<Store, StoreError> {
        match location {
            Location::Dir(dir) => Ok(Store::Files(
                FileStore::at(dir, settings.idle_timeout).map_err(opening)?,
            )),
            Location::Redis(_) => Store::open(location, settings).await,
        }
    }

    /// The session `id` names, holding `record`, as `--trace`'s variable
    /// tracker shows it: where it is stored, who is signed in, its `_csrf`
    /// cut, its other data, and the record with its secrets cut.
    pub fn seen(&self, id: &SessionId, record: &Record) -> Seen {
        Seen {
            label: id.label().to_string(),
            place: self.place(id),
            user: record.user().map(str::to_owned),
            csrf: record.csrf_token().map(trace::short),
            data: record.other_data(),
            record: record.traced(),
        }
    }

    fn deleted(&self, id: &SessionId) -> Change {
        Change::Deleted {
            label: id.label().to_string(),
            place: self.place(id),
        }
    }

    /// Where the session `id` names is kept: its file, or its Redis key.
    /// Neither is a secret: a digest cannot be turned back into the id.
    fn place(&self, id: &SessionId) -> Place {
        on_backend!(self, b => b.place(id))
    }

    /// What `latch check` says of the store `location` names, changing
    /// nothing: what `serve` will find (the caller names the location
    /// before each line), each shortfall that strict durability refuses,
    /// or `Err` in the words `open` would fail with. A dir: writable, or
    /// will be created. Redis: connected as `open` connects, and everything
    /// its checks at start look at (durability, replicas, Sentinels).
    pub async fn check(location: &Location, settings: &Settings) -> Result<Survey, StoreError> {
        match location {
            Location::Dir(dir) => FileStore::check(dir).map_err(opening).map(|fine| Survey {
                fine: vec![fine],
                shortfalls: Vec::new(),
            }),
            Location::Redis(url) => RedisStore::open(url, *settings).await?.survey().await,
        }
    }

    /// With `--idle-timeout`, a session unused this long is expired too
    /// (0: no idle timeout).
    pub fn idle_timeout(&self) -> u64 {
        on_backend!(self, b => b.idle_timeout())
    }

    /// The live session `id` names, with its user's epoch. `Ok(None)`:
    /// no live session. It never writes a session back.
    pub async fn load(&self, id: &SessionId, now: u64) -> Result<Option<Stored>, StoreError> {
        on_backend!(self, b => b.load(id, now).await)
    }

    /// Stores `record` under a fresh id, which it returns. Never refused
    /// for the count of sessions: sign-in and the moves of `rotate` must
    /// work whatever anonymous sessions fill.
    pub async fn create(&self, record: &Record) -> Result<SessionId, StoreError> {
        let id = on_backend!(self, b => b.create(record).await)?;
        trace::session_changed(|| Change::Created(self.seen(&id, record)));
        Ok(id)
    }

    /// `create` for a session with no sign-in. `Ok(None)`, and nothing
    /// stored: the store holds `--max-sessions` sessions already (live at
    /// `now`, for a backend that counts by time; the file backend counts
    /// its files).
    pub async fn create_anonymous(
        &self,
        record: &Record,
        now: u64,
    ) -> Result<Option<SessionId>, StoreError> {
        let created = on_backend!(self, b => b.create_anonymous(record, now).await)?;
        if let Some(id) = &created {
            trace::session_changed(|| Change::Created(self.seen(id, record)));
        }
        Ok(created)
    }

    /// Applies `change` to the session as stored now and stores the result;
    /// returns the record written and what `change` returned. `Ok(None)`,
    /// and nothing written: the session is gone (deleted, moved or expired
    /// before the change could apply). `version`: the one this
    /// request loaded (`Session::version`), else `Version::UNKNOWN`; a
    /// backend may start from it, never trust it.
    pub async fn modify<T: Send + 'static>(
        &self,
        id: &SessionId,
        version: &Version,
        now: u64,
        change: impl Fn(&mut Record) -> T + Send + 'static,
    ) -> Result<Option<(Record, T)>, StoreError> {
        let modified = on_backend!(self, b => b.modify(id, version, now, change).await)?;
        if let Some((record, _)) = &modified {
            trace::session_changed(|| Change::Rewritten(self.seen(id, record)));
        }
        Ok(modified)
    }

    /// Applies `change` to the session as stored now, then moves it to a
    /// fresh id (OWASP: renew the id on any change of privilege), or, when
    /// `change` returns false (nothing left worth keeping), deletes it:
    /// either way the old id names nothing after. `created` and `expires`
    /// move with it. `Rotated::Gone`, and nothing
    /// written: the session is gone. `version` as for `modify`.
    pub async fn rotate(
        &self,
        id: &SessionId,
        version: &Version,
        now: u64,
        change: impl Fn(&mut Record) -> bool + Send + 'static,
    ) -> Result<Rotated, StoreError> {
        let rotated = on_backend!(self, b => b.rotate(id, version, now, change).await)?;
        if let Rotated::Moved(new, record) = &rotated {
            trace::session_changed(|| Change::Created(self.seen(new, record)));
        }
        if !matches!(rotated, Rotated::Gone) {
            trace::session_changed(|| self.deleted(id));
        }
        Ok(rotated)
    }

    /// Deletes the session, whatever it holds; `Ok(false)`: there was none.
    /// It needs no room, so it works on a full store.
    pub async fn delete(&self, id: &SessionId) -> Result<bool, StoreError> {
        let deleted = on_backend!(self, b => b.delete(id).await)?;
        if deleted {
            trace::session_changed(|| self.deleted(id));
        }
        Ok(deleted)
    }

    /// Notes that the session `id`, whose record `record` was just signed
    /// in, belongs to its user, and ends (deletes) that user's oldest
    /// signed-in sessions past `keep`, so that one account signing in over
    /// and over cannot fill the store. Only sessions still signed in as
    /// that user are counted or ended. Returns how many it ended.
    pub async fn keep_newest_sign_ins(
        &self,
        id: &SessionId,
        record: &Record,
        keep: usize,
    ) -> Result<usize, StoreError> {
        on_backend!(self, b => b.keep_newest_sign_ins(id, record, keep).await)
    }

    /// Returns once the writes made or read before it would survive the
    /// loss of the store's server: at once for the file store (every
    /// write is fsynced when it returns) and for Redis without replica
    /// acks; with `--redis-replica-acks N`, once N replicas confirm them
    /// (`sessions::redis` `replicas`). A sign-out calls it before its
    /// answer, so that a failover cannot undo what the answer said.
    /// `Err`: not confirmed in time (503; the writes may stand or not).
    pub async fn confirm(&self) -> Result<(), StoreError> {
        on_backend!(self, b => b.confirm().await)
    }

    /// The user's "sign out everywhere" epoch: 0 until the first time.
    pub async fn epoch(&self, user: &str) -> Result<u64, StoreError> {
        on_backend!(self, b => b.epoch(user).await)
    }

    /// Advances the user's epoch, durably, and returns it. Sessions bind to
    /// the epoch through `_auth_hash` (`auth`), so this one small write
    /// signs out every session of the user at its next use, however many
    /// there are. It gets through on a full store, and it never goes back:
    /// an epoch that cannot grow is an error, not a wrap to 0.
    pub async fn bump_epoch(&self, user: &str) -> Result<u64, StoreError> {
        on_backend!(self, b => b.bump_epoch(user).await)
    }

    /// Admits one attempt on every counter of `limits`, counting it on
    /// those that count when admitted, or refuses it and counts it nowhere
    /// (`sessions::pace`): in this process's memory for the file store,
    /// which one process owns; in Redis for the Redis store, where every
    /// instance counts against the same counters.
    pub async fn pace(&self, limits: &[Limit]) -> Result<Paced, StoreError> {
        on_backend!(self, b => b.pace(limits).await)
    }

    /// Counts one attempt on `limit`'s counter now (a `Counts::Later`
    /// limit, once what it counts has happened).
    pub async fn count_attempt(&self, limit: &Limit) -> Result<(), StoreError> {
        self.pace(&[limit.counted_now()]).await.map(|_| ())
    }

    /// Empties `counter`.
    pub async fn forget(&self, counter: &Counter) -> Result<(), StoreError> {
        on_backend!(self, b => b.forget(counter).await)
    }

    /// Every live session, oldest first; it changes nothing.
    pub async fn list(&self, now: u64) -> Result<Vec<Listing>, StoreError> {
        on_backend!(self, b => b.list(now).await)
    }

    /// How many sessions the store holds at `now`, as it last counted
    /// them (what `create_anonymous` compares with `--max-sessions`).
    pub async fn count(&self, now: u64) -> Result<usize, StoreError> {
        on_backend!(self, b => b.count(now).await)
    }

    /// Removes what is dead (expired or unreadable sessions, a backend's
    /// leftovers) and says how many of each it removed. Each live session
    /// is handed, with its user's epoch, to `sign_out_if_void`, a change as
    /// above: when it returns true, the edited record is stored. Redis does
    /// neither, having no sweep to run (docs/contract.md, "The Redis
    /// store"): every request checks its own sign-in anyway.
    pub async fn sweep(
        &self,
        now: u64,
        sign_out_if_void: impl Fn(&mut Record, u64) -> bool + Send + 'static,
    ) -> Result<Removed, StoreError> {
        on_backend!(self, b => b.sweep(now, sign_out_if_void).await)
    }

    /// `latch clearsessions`: removes every expired and unreadable session
    /// now, on every backend (Redis too, which expires sessions by itself
    /// but not one past `--idle-timeout` before its absolute expiry, nor a
    /// value it cannot read), signs no one out, and says how many of each
    /// it removed.
    pub async fn clear(&self, now: u64) -> Result<Removed, StoreError> {
        on_backend!(self, b => b.clear(now).await)
    }
}
