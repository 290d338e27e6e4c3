//! The file session store: the only code that touches session files.
//!
//! Contract (what the rest of latch may rely on):
//! - `load` returns `Ok(None)` for no file, an expired session (whose file it
//!   deletes) and an unreadable or corrupt file (logged), which includes
//!   anything under a session's name that is not a regular file of at most
//!   64 KiB (a symlink, a FIFO, a device); `Err` only for a genuine I/O
//!   fault. It never creates a file, and never blocks on what it opens.
//! - `create`, `modify` and `rotate` write atomically and durably: a reader or
//!   a crash sees the old file or the new one, never a torn one, and the
//!   change is on disk when they return.
//! - `modify`, `rotate`, `sign_out` and `delete` are serialized per session
//!   and re-read the file under the lock. A change is applied to what is on
//!   disk *now*, never to a copy loaded earlier, and a session whose file is
//!   gone (a logout, an expiry) is never written back: they return
//!   `Ok(None)` or `Rotated::Gone`. This is what keeps an in-flight request
//!   from undoing a logout (express-session #632, session-file-store PR #55,
//!   Django #21608). The locks are this process's, so `Store::open` takes
//!   the dir for one process (see `dir::lock`).
//! - `create_anonymous` refuses (`Ok(None)`) once the dir holds
//!   `max_sessions` session files; nothing else is refused by that count.
//! - `sign_out` never fails for lack of space, and `bump_epoch` gets
//!   through on a full disk (see each).
//!
//! The functions block (file I/O, fsync): async callers run them with
//! `tokio::task::spawn_blocking`.

pub mod cache;
pub mod dir;

use std::collections::HashMap;
use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, RwLock};
use std::time::{Duration, SystemTime};

use sha2::{Digest, Sha256};

use crate::http::encoding::hex;
use crate::os::atomic_file::{self, TEMP_PREFIX};
use crate::sessions::{Record, SessionId};
use cache::{FileVersion, SessionCache};
use dir::Found;

/// A temporary file older than this is a crash's leftover, not a write in
/// progress (a write takes milliseconds).
const TEMP_MAX_AGE: Duration = Duration::from_secs(600);
/// Number of per-session locks. A session maps to one by its file name, so
/// two sessions rarely share one, and memory stays fixed however many
/// sessions there are.
const LOCK_STRIPES: usize = 64;
/// A session file is a few hundred bytes; anything larger than this under a
/// session's name is not one of ours, and is not read.
pub const SESSION_MAX_BYTES: u64 = 64 * 1024;

/// The file of per-user "sign out everywhere" epochs, beside the sessions.
const EPOCHS_FILE: &str = ".epochs.json";
/// The epochs file holds a number per user: a few dozen bytes each.
const EPOCHS_MAX_BYTES: u64 = 16 * 1024 * 1024;

pub struct Store {
    dir: PathBuf,
    idle_timeout: u64,
    /// New anonymous sessions are refused once this many files are there.
    max_sessions: usize,
    /// Session files in the dir: counted at open, adjusted by every create
    /// and unlink, recounted by every sweep (which also catches files
    /// removed behind our back), so no request has to list the dir.
    files: AtomicUsize,
    /// New session files begun and finished (written or failed) since
    /// open: a sweep's recount adds every file not finished before its
    /// walk began, which the walk may not have seen.
    begun: AtomicUsize,
    finished: AtomicUsize,
    /// Set while anonymous sessions are refused, so that the log says so
    /// once, not once per refused request.
    full: AtomicBool,
    /// The dir lock, held by the serving store; `None` for a read-only
    /// store (`Store::at`), which never writes epochs, the reserve or the
    /// dir itself.
    dir_lock: Option<Mutex<File>>,
    locks: Vec<Mutex<()>>,
    /// Read on every signed-in request, written at "sign out everywhere".
    epochs: RwLock<HashMap<String, u64>>,
    cache: SessionCache,
}

/// What `rotate` and `sign_out` did.
#[derive(Debug)]
pub enum Rotated {
    /// There was no live session: nothing was written.
    Gone,
    /// The data moved to this new id; the old file is deleted.
    Moved(SessionId, Record),
    /// The old file is deleted and no new one made: nothing was worth
    /// keeping (or, for `sign_out`, there was no room to keep it).
    Deleted,
}

/// One line of `latch sessions`.
pub struct Listing {
    pub file_prefix: String,
    /// The signed-in user, `None` when no sign-in stands.
    pub user: Option<String>,
    pub created: u64,
    pub expires: u64,
}

/// What became of a session file read by `inspect`.
enum Inspected {
    Live(Record),
    Expired,
    /// Corrupt, of an unknown format, or not a regular file within
    /// `SESSION_MAX_BYTES` (logged when found).
    Unreadable,
}

/// What a sweep did with one session file.
enum Swept {
    /// Gone before the sweep got to it (a logout, another sweeper).
    Gone,
    Kept,
    SignedOut,
    Removed,
}

/// The name under which a session is stored: the hex SHA-256 of its id.
/// The directory then holds no usable cookie: a file name cannot be turned
/// back into an id, so a leaked listing (or backup) grants nothing.
struct FileKey([u8; 32]);

impl FileKey {
    fn of(id: &SessionId) -> FileKey {
        FileKey(Sha256::digest(id.as_str().as_bytes()).into())
    }

    /// Parses `<64 hex digits>.json`; `None` for every other name.
    fn from_file_name(name: &str) -> Option<FileKey> {
        let stem = name.strip_suffix(".json")?;
        if stem.len() != 64 || !stem.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            return None;
        }
        let mut key = [0u8; 32];
        for (i, byte) in key.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&stem[2 * i..2 * i + 2], 16).ok()?;
        }
        Some(FileKey(key))
    }

    fn file_name(&self) -> String {
        format!("{}.json", hex(&self.0))
    }

    fn prefix(&self) -> String {
        hex(&self.0[..6])
    }
}

impl Store {
    /// Opens the sessions dir for serving:
    /// 1. create it 0700 when missing, tighten it to 0700 when wider;
    /// 2. take it for this process (`dir::lock`): a second server
    ///    on the same dir gets `Err` naming the first;
    /// 3. remove every temporary file: with the lock held, none can be a
    ///    write in progress;
    /// 4. read the epochs, count the session files, fill the space reserve.
    ///
    /// No cap on anonymous sessions until `with_max_sessions`.
    pub fn open(dir: &Path, idle_timeout: u64) -> io::Result<Store> {
        // 1.
        dir::prepare(dir)?;
        // 2.
        let lock = dir::lock(dir)?;
        // 3.
        let mut store = Store::new(dir, idle_timeout, read_epochs(dir)?);
        store.dir_lock = Some(Mutex::new(lock));
        store.remove_temp_files(Duration::ZERO)?;
        // 4.
        store.files = AtomicUsize::new(count_session_files(dir)?);
        store.fill_reserve();
        Ok(store)
    }

    /// A read-only store over an existing dir, for the `sessions` and
    /// `clearsessions` commands, which may run beside a server: no lock, no
    /// start-up work. It reads the epochs (a missing file is none), and can
    /// never write them: `bump_epoch` refuses.
    pub fn at(dir: &Path, idle_timeout: u64) -> io::Result<Store> {
        Ok(Store::new(dir, idle_timeout, read_epochs(dir)?))
    }

    fn new(dir: &Path, idle_timeout: u64, epochs: HashMap<String, u64>) -> Store {
        Store {
            dir: dir.to_path_buf(),
            idle_timeout,
            max_sessions: usize::MAX,
            files: AtomicUsize::new(0),
            begun: AtomicUsize::new(0),
            finished: AtomicUsize::new(0),
            full: AtomicBool::new(false),
            dir_lock: None,
            locks: (0..LOCK_STRIPES).map(|_| Mutex::new(())).collect(),
            epochs: RwLock::new(epochs),
            cache: SessionCache::default(),
        }
    }

    /// Caps the session files `create_anonymous` lets the dir hold.
    pub fn with_max_sessions(mut self, max_sessions: usize) -> Store {
        self.max_sessions = max_sessions;
        self
    }

    pub fn idle_timeout(&self) -> u64 {
        self.idle_timeout
    }

    /// Session files in the dir, as last counted.
    pub fn file_count(&self) -> usize {
        self.files.load(Ordering::Relaxed)
    }

    /// The session `id`, if it is live. See the module contract.
    pub fn load(&self, id: &SessionId, now: u64) -> io::Result<Option<Record>> {
        let key = FileKey::of(id);
        match self.inspect_cached(&key, now)? {
            Some(Inspected::Live(record)) => Ok(Some(record)),
            Some(Inspected::Expired) => {
                self.delete_if_dead(&key, now)?;
                Ok(None)
            }
            Some(Inspected::Unreadable) | None => Ok(None),
        }
    }

    /// Stores `record` under a fresh id and returns the id. The id is new
    /// random bytes, never one a client sent. Not capped: sign-in and the
    /// moves of `rotate` must work whatever anonymous sessions fill.
    pub fn create(&self, record: &Record) -> io::Result<SessionId> {
        self.create_within(usize::MAX, record)?
            .ok_or_else(|| io::Error::other("no session file slot"))
    }

    /// `create` for a session with no sign-in: `Ok(None)`, and nothing
    /// written, when the dir already holds `max_sessions` session files.
    pub fn create_anonymous(&self, record: &Record) -> io::Result<Option<SessionId>> {
        let created = self.create_within(self.max_sessions, record)?;
        let was_full = self.full.swap(created.is_none(), Ordering::Relaxed);
        if created.is_none() && !was_full {
            log_event!(
                "sessions dir {} holds {} session files (--max-sessions): new anonymous sessions refused until some end",
                self.dir.display(),
                self.max_sessions
            );
        }
        Ok(created)
    }

    /// Writes `record` as a new session if the dir holds fewer than `max`
    /// session files. `begun` is counted before `files` and `finished`
    /// after the write, so a sweep's recount never misses it (see `sweep`).
    fn create_within(&self, max: usize, record: &Record) -> io::Result<Option<SessionId>> {
        self.begun.fetch_add(1, Ordering::SeqCst);
        let admitted = self
            .files
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
                (n < max).then_some(n + 1)
            });
        let written = match admitted {
            Err(_) => Ok(None),
            Ok(_) => {
                let id = SessionId::generate();
                // 256 random bits: a collision with an existing file is not
                // a possibility worth a check.
                self.write(&FileKey::of(&id), record).map(|()| Some(id))
            }
        };
        self.finished.fetch_add(1, Ordering::SeqCst);
        if written.is_err() {
            self.uncount();
        }
        written
    }

    /// Applies `change` to the session as it is on disk now, and writes it.
    /// `Ok(None)` (and nothing written) when the session is gone.
    pub fn modify<T>(
        &self,
        id: &SessionId,
        now: u64,
        change: impl FnOnce(&mut Record) -> T,
    ) -> io::Result<Option<(Record, T)>> {
        self.modify_file(&FileKey::of(id), now, change)
    }

    fn modify_file<T>(
        &self,
        key: &FileKey,
        now: u64,
        change: impl FnOnce(&mut Record) -> T,
    ) -> io::Result<Option<(Record, T)>> {
        let _guard = self.lock(key);
        let Some(Inspected::Live(mut record)) = self.inspect(key, now)? else {
            return Ok(None);
        };
        let out = change(&mut record);
        self.write(key, &record)?;
        Ok(Some((record, out)))
    }

    /// Applies `change` to the session as it is on disk now, then moves it
    /// to a fresh id (OWASP: renew the id on any change of privilege), or,
    /// when `change` returns false (nothing left worth keeping), deletes it.
    /// Either way the old file is gone, so a copy of the old cookie is
    /// worth nothing. The new file is written before the old is deleted: a
    /// crash between the two leaves an orphan to expire, never no session.
    pub fn rotate(
        &self,
        id: &SessionId,
        now: u64,
        change: impl FnOnce(&mut Record) -> bool,
    ) -> io::Result<Rotated> {
        self.rotate_or(id, now, change, false)
    }

    /// `rotate` for a sign-out, which must never fail for lack of space:
    /// when the new file cannot be written because the file system is full
    /// (blocks, inodes or quota), the old file is deleted all the same and
    /// the answer is `Deleted`, a flush. Deleting needs no space, and
    /// losing a theme is a small price for a sign-out that holds.
    pub fn sign_out(
        &self,
        id: &SessionId,
        now: u64,
        change: impl FnOnce(&mut Record) -> bool,
    ) -> io::Result<Rotated> {
        self.rotate_or(id, now, change, true)
    }

    fn rotate_or(
        &self,
        id: &SessionId,
        now: u64,
        change: impl FnOnce(&mut Record) -> bool,
        delete_when_full: bool,
    ) -> io::Result<Rotated> {
        let old = FileKey::of(id);
        let _guard = self.lock(&old);
        let Some(Inspected::Live(mut record)) = self.inspect(&old, now)? else {
            return Ok(Rotated::Gone);
        };
        let rotated = if change(&mut record) {
            match self.create(&record) {
                Ok(new) => Rotated::Moved(new, record),
                Err(e) if delete_when_full && dir::is_out_of_space(&e) => {
                    log_event!(
                        "no space to keep the signed-out session {}…'s data ({e}): deleted instead",
                        old.prefix()
                    );
                    Rotated::Deleted
                }
                Err(e) => return Err(e),
            }
        } else {
            Rotated::Deleted
        };
        self.unlink(&old)?;
        Ok(rotated)
    }

    /// The user's "sign out everywhere" epoch: 0 until the first time.
    pub fn epoch(&self, user: &str) -> u64 {
        let epochs = self.epochs.read().unwrap_or_else(|p| p.into_inner());
        epochs.get(user).copied().unwrap_or(0)
    }

    /// Advances the user's epoch, durably. Sessions bind to the epoch
    /// through `_auth_hash`, so this one small write signs out every session
    /// of the user, however many files there are.
    ///
    /// 1. The epoch only ever grows: at `u64::MAX` (only a hand edit gets
    ///    there) it refuses rather than wrap to a value that would sign
    ///    old sessions back in.
    /// 2. On a full file system it releases the space reserve
    ///    (`dir::fill_reserve`) and writes again, so "sign out
    ///    everywhere" commits even then; the reserve is filled again from
    ///    the space the old epochs file gave back, and by the next sweep.
    /// 3. A read-only store (`Store::at`) refuses: it must never replace
    ///    the server's epochs with what it happens to hold.
    pub fn bump_epoch(&self, user: &str) -> io::Result<u64> {
        // 3.
        if self.dir_lock.is_none() {
            return Err(io::Error::new(
                io::ErrorKind::PermissionDenied,
                "this sessions store is read-only: epochs are written by the server",
            ));
        }
        let mut epochs = self.epochs.write().unwrap_or_else(|p| p.into_inner());
        // 1.
        let current = epochs.get(user).copied().unwrap_or(0);
        let epoch = current.checked_add(1).ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{EPOCHS_FILE}: the epoch of {user} is at its largest value and cannot advance (edited by hand?)"),
            )
        })?;
        let mut next = epochs.clone();
        next.insert(user.to_owned(), epoch);
        let json = serde_json::to_vec(&next).map_err(io::Error::other)?;
        // 2.
        let path = self.dir.join(EPOCHS_FILE);
        match self.write_file(&path, &json) {
            Err(e) if dir::is_out_of_space(&e) && dir::release_reserve(&self.dir) => {
                log_event!(
                    "sessions dir full ({e}): the space reserve released for the epochs file"
                );
                let written = self.write_file(&path, &json);
                self.fill_reserve();
                written?;
            }
            other => other?,
        }
        *epochs = next;
        Ok(epoch)
    }

    /// Deletes the session's file; `Ok(false)` if there was none.
    pub fn delete(&self, id: &SessionId) -> io::Result<bool> {
        let key = FileKey::of(id);
        let _guard = self.lock(&key);
        self.unlink(&key)
    }

    /// Removes expired and unreadable session files and leftover temporary
    /// files; returns how many files it removed. A live session whose
    /// sign-in no longer stands (`sign_in_stands` says so) is signed out in
    /// its file: after a sweep, no file holds a sign-in that only the
    /// epochs file voids, so losing that file cannot bring one back.
    ///
    /// It walks the directory one entry at a time, so memory stays flat with
    /// any number of files; a file that vanishes under it (a logout, another
    /// sweeper) is skipped; a file it cannot handle is logged and skipped;
    /// and every change is made under the session's lock after a re-read, so
    /// a session refreshed meanwhile survives. The serving store also
    /// recreates a missing dir, writes back a missing epochs file from
    /// memory, refills the space reserve and recounts the session files.
    pub fn sweep(&self, now: u64, sign_in_stands: &dyn Fn(&Record) -> bool) -> io::Result<usize> {
        if self.dir_lock.is_some() {
            self.repair();
        }
        let mut removed = self.remove_temp_files(TEMP_MAX_AGE)?;
        let finished_before = self.finished.load(Ordering::SeqCst);
        let (mut kept, mut signed_out) = (0, 0);
        for entry in fs::read_dir(&self.dir)? {
            let name = entry?.file_name();
            let Some(key) = name.to_str().and_then(FileKey::from_file_name) else {
                continue;
            };
            match self.sweep_one(&key, now, sign_in_stands) {
                Ok(Swept::Gone) => {}
                Ok(Swept::Removed) => removed += 1,
                Ok(Swept::SignedOut) => signed_out += 1,
                Ok(Swept::Kept) => kept += 1,
                Err(e) => {
                    log_event!("sweep: session file {}… skipped: {e}", key.prefix());
                    kept += 1;
                }
            }
        }
        // A file finished before the walk began is seen by it if it is
        // still there; one finished later may or may not be, so all those
        // are added, and files seen may have been unlinked since: the count
        // errs high (refusing a little early) until the next sweep, never low.
        let unseen = self
            .begun
            .load(Ordering::SeqCst)
            .saturating_sub(finished_before);
        self.files
            .store(kept + signed_out + unseen, Ordering::Relaxed);
        if signed_out > 0 {
            log_event!("sweep: signed out {signed_out} sessions whose sign-in no longer stands");
        }
        Ok(removed)
    }

    fn sweep_one(
        &self,
        key: &FileKey,
        now: u64,
        sign_in_stands: &dyn Fn(&Record) -> bool,
    ) -> io::Result<Swept> {
        let swept = match self.inspect(key, now)? {
            None => Swept::Gone,
            Some(Inspected::Expired) if self.delete_if_dead(key, now)? => Swept::Removed,
            Some(Inspected::Unreadable) if self.unlink(key)? => Swept::Removed,
            Some(Inspected::Live(record)) if !sign_in_stands(&record) => {
                let stripped = self.modify_file(key, now, |r| {
                    let void = !sign_in_stands(r);
                    if void {
                        r.remove_auth();
                        r.renew_csrf();
                    }
                    void
                })?;
                match stripped {
                    Some((_, true)) => Swept::SignedOut,
                    _ => Swept::Kept,
                }
            }
            Some(_) => Swept::Kept,
        };
        Ok(swept)
    }

    /// Every live session, oldest first, for `latch sessions`; a session
    /// whose sign-in does not stand (`sign_in_stands`) is listed with no
    /// user. It reads and deletes nothing.
    pub fn list(
        &self,
        now: u64,
        sign_in_stands: &dyn Fn(&Record) -> bool,
    ) -> io::Result<Vec<Listing>> {
        let mut listings = Vec::new();
        for entry in fs::read_dir(&self.dir)? {
            let name = entry?.file_name();
            let Some(key) = name.to_str().and_then(FileKey::from_file_name) else {
                continue;
            };
            if let Some(Inspected::Live(record)) = self.inspect(&key, now)? {
                listings.push(Listing {
                    file_prefix: key.prefix(),
                    user: record
                        .user()
                        .filter(|_| sign_in_stands(&record))
                        .map(str::to_owned),
                    created: record.created,
                    expires: record.expires,
                });
            }
        }
        listings.sort_by(|a, b| (a.created, &a.file_prefix).cmp(&(b.created, &b.file_prefix)));
        Ok(listings)
    }

    /// `inspect` for the read path of a request: one `lstat`, and the file
    /// is read only when it changed since it was last read (see
    /// `session_cache`). Anything but a regular file goes to `inspect`,
    /// which refuses it.
    fn inspect_cached(&self, key: &FileKey, now: u64) -> io::Result<Option<Inspected>> {
        let meta = match fs::symlink_metadata(self.path(key)) {
            Ok(meta) => meta,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                self.cache.forget(&key.0);
                return Ok(None);
            }
            Err(e) => return Err(e),
        };
        if !meta.is_file() {
            self.cache.forget(&key.0);
            return self.inspect(key, now);
        }
        match self.cache.get(&key.0, FileVersion::of(&meta)) {
            Some(record) => Ok(Some(self.judge(record, now))),
            None => self.inspect(key, now),
        }
    }

    /// Reads and judges one session file; `Ok(None)` when there is none.
    /// A record that parses is remembered with the version it was read from.
    fn inspect(&self, key: &FileKey, now: u64) -> io::Result<Option<Inspected>> {
        let (bytes, version) = match dir::read_regular(&self.path(key), SESSION_MAX_BYTES) {
            Ok(Found::File(bytes, version)) => (bytes, version),
            Ok(Found::Refused(why)) => {
                log_unreadable(key, &why);
                return Ok(Some(Inspected::Unreadable));
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        let record = match serde_json::from_slice::<Record>(&bytes) {
            Ok(record) if record.v == Record::VERSION => record,
            Ok(record) => {
                log_unreadable(key, &format!("unknown format version {}", record.v));
                return Ok(Some(Inspected::Unreadable));
            }
            Err(e) => {
                log_unreadable(key, &e.to_string());
                return Ok(Some(Inspected::Unreadable));
            }
        };
        self.cache.insert(key.0, version, record.clone());
        Ok(Some(self.judge(record, now)))
    }

    fn judge(&self, record: Record, now: u64) -> Inspected {
        if record.is_expired(now, self.idle_timeout) {
            Inspected::Expired
        } else {
            Inspected::Live(record)
        }
    }

    /// Deletes the file if, re-read under its lock, it is still expired.
    fn delete_if_dead(&self, key: &FileKey, now: u64) -> io::Result<bool> {
        let _guard = self.lock(key);
        match self.inspect(key, now)? {
            Some(Inspected::Expired) => self.unlink(key),
            _ => Ok(false),
        }
    }

    /// Writes `record` atomically and durably (see `atomic_file::write`).
    fn write(&self, key: &FileKey, record: &Record) -> io::Result<()> {
        let json = serde_json::to_vec(record).map_err(io::Error::other)?;
        self.cache.forget(&key.0);
        self.write_file(&self.path(key), &json)
    }

    /// `atomic_file::write`; when the dir itself is gone (deleted while
    /// the server runs), the serving store makes it again, 0700, and
    /// writes once more.
    fn write_file(&self, path: &Path, bytes: &[u8]) -> io::Result<()> {
        match atomic_file::write(path, bytes) {
            Err(e) if e.kind() == io::ErrorKind::NotFound && self.dir_lock.is_some() => {
                self.recreate_dir()?;
                atomic_file::write(path, bytes)
            }
            other => other,
        }
    }

    /// Unlinks a session file durably; `Ok(false)` if it was already gone.
    fn unlink(&self, key: &FileKey) -> io::Result<bool> {
        self.cache.forget(&key.0);
        match fs::remove_file(self.path(key)) {
            Ok(()) => {
                self.uncount();
                self.sync_dir().map(|()| true)
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(e),
        }
    }

    fn uncount(&self) {
        let _ = self
            .files
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                Some(n.saturating_sub(1))
            });
    }

    fn sync_dir(&self) -> io::Result<()> {
        atomic_file::sync_dir(&self.dir)
    }

    /// The sessions dir was deleted under the running server: make it
    /// again (0700), with a new lock file held by this process, since the
    /// old one went with the dir.
    fn recreate_dir(&self) -> io::Result<()> {
        if self.dir.exists() {
            return Ok(());
        }
        dir::prepare(&self.dir)?;
        log_event!(
            "sessions dir {} was missing: created again (0700)",
            self.dir.display()
        );
        if let Some(held) = &self.dir_lock {
            match dir::lock(&self.dir) {
                Ok(file) => *held.lock().unwrap_or_else(|p| p.into_inner()) = file,
                Err(e) => log_event!("sessions dir {}: {e}", self.dir.display()),
            }
        }
        Ok(())
    }

    /// The serving store's upkeep, at each sweep: a dir deleted while no
    /// write came is made again; an epochs file deleted while the server
    /// ran is written back from memory; the space reserve is refilled.
    fn repair(&self) {
        if let Err(e) = self.recreate_dir() {
            log_event!("sessions dir {}: {e}", self.dir.display());
            return;
        }
        let epochs = self.epochs.read().unwrap_or_else(|p| p.into_inner());
        let path = self.dir.join(EPOCHS_FILE);
        if !epochs.is_empty() && !path.exists() {
            let written = serde_json::to_vec(&*epochs)
                .map_err(io::Error::other)
                .and_then(|json| self.write_file(&path, &json));
            match written {
                Ok(()) => log_event!("{EPOCHS_FILE} was missing: written again from memory"),
                Err(e) => log_event!("{EPOCHS_FILE} was missing and could not be written: {e}"),
            }
        }
        drop(epochs);
        self.fill_reserve();
    }

    /// Fills the space reserve (serving store only); a failure other than a
    /// full disk is logged.
    fn fill_reserve(&self) {
        if self.dir_lock.is_none() {
            return;
        }
        let epochs_len = fs::symlink_metadata(self.dir.join(EPOCHS_FILE)).map_or(0, |m| m.len());
        match dir::fill_reserve(&self.dir, epochs_len) {
            Err(e) if !dir::is_out_of_space(&e) => {
                log_event!("sessions dir {}: space reserve: {e}", self.dir.display())
            }
            _ => {}
        }
    }

    /// Removes temporary files older than `min_age`; returns how many.
    fn remove_temp_files(&self, min_age: Duration) -> io::Result<usize> {
        let mut removed = 0;
        for entry in fs::read_dir(&self.dir)? {
            let entry = entry?;
            if !entry.file_name().to_string_lossy().starts_with(TEMP_PREFIX) {
                continue;
            }
            let age = entry
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| SystemTime::now().duration_since(t).ok())
                .unwrap_or_default();
            if age >= min_age && fs::remove_file(entry.path()).is_ok() {
                removed += 1;
            }
        }
        Ok(removed)
    }

    fn path(&self, key: &FileKey) -> PathBuf {
        self.dir.join(key.file_name())
    }

    /// The lock serializing writes to this session. The mutex guards no
    /// data, only the file, so a poisoned one (a panic while held) is as
    /// good as any.
    fn lock(&self, key: &FileKey) -> MutexGuard<'_, ()> {
        let stripe = usize::from(key.0[0]) % LOCK_STRIPES;
        self.locks[stripe]
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Reads the epochs file. A damaged one (or anything but a regular file
/// under its name) is an error, not an empty map: ignoring it would sign
/// back in every session that a "sign out everywhere" ended.
fn read_epochs(dir: &Path) -> io::Result<HashMap<String, u64>> {
    let path = dir.join(EPOCHS_FILE);
    let damaged = |why: String| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{}: {why}", path.display()),
        )
    };
    match dir::read_regular(&path, EPOCHS_MAX_BYTES) {
        Ok(Found::File(bytes, _)) => {
            serde_json::from_slice(&bytes).map_err(|e| damaged(e.to_string()))
        }
        Ok(Found::Refused(why)) => Err(damaged(why)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(HashMap::new()),
        Err(e) => Err(e),
    }
}

/// How many entries of `dir` carry a session file's name.
fn count_session_files(dir: &Path) -> io::Result<usize> {
    let mut count = 0;
    for entry in fs::read_dir(dir)? {
        let name = entry?.file_name();
        if name.to_str().and_then(FileKey::from_file_name).is_some() {
            count += 1;
        }
    }
    Ok(count)
}

/// The first 8 hex digits of the session's file name: enough to find the
/// file, useless as a cookie. For log lines.
pub fn file_prefix(id: &SessionId) -> String {
    hex(&FileKey::of(id).0[..4])
}

/// A file that is no session, and an operator should hear about it.
/// Only the file name prefix is logged: the file name is not the cookie.
fn log_unreadable(key: &FileKey, why: &str) {
    log_event!(
        "session file {}… unreadable, treated as no session: {why}",
        key.prefix()
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_canonical_file_names_are_session_files() {
        let id = SessionId::generate();
        let name = FileKey::of(&id).file_name();
        assert!(FileKey::from_file_name(&name).is_some());
        assert_eq!(
            FileKey::from_file_name(&name).unwrap().0,
            FileKey::of(&id).0
        );
        for other in [
            ".tmp-0011",
            ".lock",
            ".reserve",
            ".epochs.json",
            "abc.json",
            &name.to_uppercase(),
            &name.replace(".json", ".tmp"),
        ] {
            assert!(FileKey::from_file_name(other).is_none(), "{other}");
        }
    }
}
