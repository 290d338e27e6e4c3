//! The file session store: the only code that touches the sessions dir.
//!
//! Contract (what the rest of latch may rely on):
//! - `load` returns `Ok(None)` for no file, an expired session (whose file it
//!   deletes) and an unreadable or corrupt file (logged); `Err` only for a
//!   genuine I/O fault. It never creates a file.
//! - `create`, `modify` and `rotate` write atomically and durably: a reader or
//!   a crash sees the old file or the new one, never a torn one, and the
//!   change is on disk when they return.
//! - `modify`, `rotate` and `delete` are serialized per session and re-read
//!   the file under the lock. A change is applied to what is on disk *now*,
//!   never to a copy loaded earlier, and a session whose file is gone (a
//!   logout, an expiry) is never written back: they return `Ok(None)`.
//!   This is what keeps an in-flight request from undoing a logout
//!   (express-session #632, session-file-store PR #55, Django #21608).
//!
//! The functions block (file I/O, fsync): async callers run them with
//! `tokio::task::spawn_blocking`.

use std::collections::HashMap;
use std::fs::{self, DirBuilder};
use std::io;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, RwLock};
use std::time::{Duration, SystemTime};

use sha2::{Digest, Sha256};

use crate::atomic_file::{self, TEMP_PREFIX};
use crate::encoding::hex;
use crate::session::{Record, SessionId};
use crate::session_cache::{FileVersion, SessionCache};

/// A temporary file older than this is a crash's leftover, not a write in
/// progress (a write takes milliseconds).
const TEMP_MAX_AGE: Duration = Duration::from_secs(600);
/// Number of per-session locks. A session maps to one by its file name, so
/// two sessions rarely share one, and memory stays fixed however many
/// sessions there are.
const LOCK_STRIPES: usize = 64;

/// The file of per-user "sign out everywhere" epochs, beside the sessions.
const EPOCHS_FILE: &str = ".epochs.json";

pub struct Store {
    dir: PathBuf,
    idle_timeout: u64,
    locks: Vec<Mutex<()>>,
    /// Read on every signed-in request, written at "sign out everywhere".
    epochs: RwLock<HashMap<String, u64>>,
    cache: SessionCache,
}

/// What `rotate` did.
#[derive(Debug)]
pub enum Rotated {
    /// There was no live session: nothing was written.
    Gone,
    /// The data moved to this new id; the old file is deleted.
    Moved(SessionId, Record),
    /// Nothing was worth keeping: the old file is deleted, no new one made.
    Deleted,
}

/// One line of `latch sessions`.
pub struct Listing {
    pub file_prefix: String,
    pub user: Option<String>,
    pub created: u64,
    pub expires: u64,
}

/// What became of a session file read by `sweep` or `list`.
enum Inspected {
    Live(Record),
    Expired,
    Unreadable,
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
}

impl Store {
    /// Opens the sessions dir: creates it 0700 when missing, tightens it to
    /// 0700 when wider (a fresh checkout's `sessions/` is 0755), and removes
    /// every temporary file, since at start none can be a write in progress.
    pub fn open(dir: &Path, idle_timeout: u64) -> io::Result<Store> {
        DirBuilder::new().recursive(true).mode(0o700).create(dir)?;
        let mode = fs::metadata(dir)?.permissions().mode();
        if mode & 0o077 != 0 {
            fs::set_permissions(dir, fs::Permissions::from_mode(0o700))?;
        }
        let store = Store::at(dir, idle_timeout);
        store.remove_temp_files(Duration::ZERO)?;
        *store.epochs.write().unwrap_or_else(|p| p.into_inner()) = store.read_epochs()?;
        Ok(store)
    }

    /// A store over an existing dir, without the start-up work of `open`:
    /// for the `sessions` and `clearsessions` commands, which may run while a
    /// server writes to the same dir.
    pub fn at(dir: &Path, idle_timeout: u64) -> Store {
        Store {
            dir: dir.to_path_buf(),
            idle_timeout,
            locks: (0..LOCK_STRIPES).map(|_| Mutex::new(())).collect(),
            epochs: RwLock::new(HashMap::new()),
            cache: SessionCache::default(),
        }
    }

    /// Reads the epochs file. A damaged one stops the server rather than
    /// being ignored, since ignoring it would sign back in every session
    /// that a "sign out everywhere" ended.
    fn read_epochs(&self) -> io::Result<HashMap<String, u64>> {
        let path = self.dir.join(EPOCHS_FILE);
        match fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("{}: {e}", path.display()),
                )
            }),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(HashMap::new()),
            Err(e) => Err(e),
        }
    }

    pub fn idle_timeout(&self) -> u64 {
        self.idle_timeout
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
    /// random bytes, never one a client sent.
    pub fn create(&self, record: &Record) -> io::Result<SessionId> {
        let id = SessionId::generate();
        // 256 random bits: a collision with an existing file is not a
        // possibility worth a check.
        self.write(&FileKey::of(&id), record)?;
        Ok(id)
    }

    /// Applies `change` to the session as it is on disk now, and writes it.
    /// `Ok(None)` (and nothing written) when the session is gone.
    pub fn modify<T>(
        &self,
        id: &SessionId,
        now: u64,
        change: impl FnOnce(&mut Record) -> T,
    ) -> io::Result<Option<(Record, T)>> {
        let key = FileKey::of(id);
        let _guard = self.lock(&key);
        let Some(Inspected::Live(mut record)) = self.inspect(&key, now)? else {
            return Ok(None);
        };
        let out = change(&mut record);
        self.write(&key, &record)?;
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
        let old = FileKey::of(id);
        let _guard = self.lock(&old);
        let Some(Inspected::Live(mut record)) = self.inspect(&old, now)? else {
            return Ok(Rotated::Gone);
        };
        let keep = change(&mut record);
        let rotated = if keep {
            Rotated::Moved(self.create(&record)?, record)
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
    pub fn bump_epoch(&self, user: &str) -> io::Result<u64> {
        let mut epochs = self.epochs.write().unwrap_or_else(|p| p.into_inner());
        let mut next = epochs.clone();
        let epoch = next.get(user).copied().unwrap_or(0) + 1;
        next.insert(user.to_owned(), epoch);
        let json = serde_json::to_vec(&next).map_err(io::Error::other)?;
        atomic_file::write(&self.dir.join(EPOCHS_FILE), &json)?;
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
    /// files; returns how many files it removed.
    ///
    /// It walks the directory one entry at a time, so memory stays flat with
    /// any number of files; a file that vanishes under it (a logout, another
    /// sweeper) is skipped; and an expired file is deleted only after a
    /// re-check under its lock, so a session refreshed meanwhile survives.
    pub fn sweep(&self, now: u64) -> io::Result<usize> {
        let mut removed = self.remove_temp_files(TEMP_MAX_AGE)?;
        for entry in fs::read_dir(&self.dir)? {
            let name = entry?.file_name();
            let Some(key) = name.to_str().and_then(FileKey::from_file_name) else {
                continue;
            };
            match self.inspect(&key, now)? {
                Some(Inspected::Expired) if self.delete_if_dead(&key, now)? => removed += 1,
                Some(Inspected::Unreadable) if self.unlink(&key)? => removed += 1,
                _ => {}
            }
        }
        Ok(removed)
    }

    /// Every live session, for `latch sessions`.
    pub fn list(&self, now: u64) -> io::Result<Vec<Listing>> {
        let mut listings = Vec::new();
        for entry in fs::read_dir(&self.dir)? {
            let name = entry?.file_name();
            let Some(key) = name.to_str().and_then(FileKey::from_file_name) else {
                continue;
            };
            if let Some(Inspected::Live(record)) = self.inspect(&key, now)? {
                listings.push(Listing {
                    file_prefix: hex(&key.0[..6]),
                    user: record.user().map(str::to_owned),
                    created: record.created,
                    expires: record.expires,
                });
            }
        }
        Ok(listings)
    }

    /// `inspect` for the read path of a request: one `stat`, and the file is
    /// read only when it changed since it was last read (see `session_cache`).
    fn inspect_cached(&self, key: &FileKey, now: u64) -> io::Result<Option<Inspected>> {
        let version = match fs::metadata(self.path(key)) {
            Ok(meta) => FileVersion::of(&meta),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                self.cache.forget(&key.0);
                return Ok(None);
            }
            Err(e) => return Err(e),
        };
        match self.cache.get(&key.0, version) {
            Some(record) => Ok(Some(self.judge(record, now))),
            None => self.inspect(key, now),
        }
    }

    /// Reads and judges one session file; `Ok(None)` when there is none.
    /// A record that parses is remembered with the version it was read from.
    fn inspect(&self, key: &FileKey, now: u64) -> io::Result<Option<Inspected>> {
        let (bytes, version) = match read_small_file(&self.path(key)) {
            Ok(read) => read,
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
        atomic_file::write(&self.path(key), &json)
    }

    /// Unlinks a session file durably; `Ok(false)` if it was already gone.
    fn unlink(&self, key: &FileKey) -> io::Result<bool> {
        self.cache.forget(&key.0);
        match fs::remove_file(self.path(key)) {
            Ok(()) => self.sync_dir().map(|()| true),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(e),
        }
    }

    fn sync_dir(&self) -> io::Result<()> {
        atomic_file::sync_dir(&self.dir)
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

/// Reads a file expected to be small (a session is a few hundred bytes),
/// with the version of the file it read: open, `fstat`, one read, close.
/// `fs::read` would make five calls (it also reads once more to see the
/// end). A read that returns less than asked for has met the end of a
/// regular file; only a file that fills the buffer is read on to its end.
fn read_small_file(path: &Path) -> io::Result<(Vec<u8>, FileVersion)> {
    use std::io::Read;
    const EXPECTED_MAX: usize = 4096;
    let mut file = fs::File::open(path)?;
    let version = FileVersion::of(&file.metadata()?);
    let mut bytes = vec![0; EXPECTED_MAX];
    let n = loop {
        match file.read(&mut bytes) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            other => break other?,
        }
    };
    bytes.truncate(n);
    if n == EXPECTED_MAX {
        file.read_to_end(&mut bytes)?;
    }
    Ok((bytes, version))
}

/// The first 8 hex digits of the session's file name: enough to find the
/// file, useless as a cookie. For log lines.
pub fn file_prefix(id: &SessionId) -> String {
    hex(&FileKey::of(id).0[..4])
}

/// A corrupt file is no session, and an operator should hear about it.
/// Only the file name prefix is logged: the file name is not the cookie.
fn log_unreadable(key: &FileKey, why: &str) {
    log_event!(
        "session file {}… unreadable, treated as no session: {why}",
        hex(&key.0[..6])
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
            "abc.json",
            &name.to_uppercase(),
            &name.replace(".json", ".tmp"),
        ] {
            assert!(FileKey::from_file_name(other).is_none(), "{other}");
        }
    }
}
