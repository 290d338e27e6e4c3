//! The file backend: each session a JSON file named by its id's digest, in
//! one directory this process holds (docs/contract.md, "Sessions"). It
//! keeps the store contract (`sessions::store`) as Django's `file.py`
//! keeps `base.py`'s, and fsyncs what Django's does not.
//!
//! How it keeps each promise:
//! - Durable and atomic: every write is `atomic_file::write` (temporary
//!   file, fsync, rename, fsync of the dir); every unlink fsyncs the dir.
//!   The dir's fsyncs are a group commit (`os::group_commit`): writers done
//!   at the same moment share one, and each still returns only after one
//!   that began after its own rename or unlink.
//! - Never writing back a session that is gone: a change takes the
//!   session's lock (`Locked`), re-reads the file from disk, and writes
//!   only if it is still there and live. The locks are this process's,
//!   so `open` takes the dir for one process (`dir::lock`).
//! - Never trusting the dir: only a regular file of at most 64 KiB, opened
//!   without following a symlink and without blocking, is read
//!   (`os::regular_file`); anything else under a session's name is no
//!   session.
//! - Fast reads: a request's read is one `lstat` when the file is unchanged
//!   (`cache`), and runs on the async worker; all other work (writes,
//!   fsyncs, scans) runs on the blocking pool.
//! - Sign-out on a full disk: the epochs file has a space reserve
//!   (`dir::fill_reserve`) to release.

mod cache;
mod changes;
mod count;
mod dir;
mod disk;
mod epochs;
mod sign_ins;
mod sweep;

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};

use crate::os::blocking;
use crate::os::group_commit::DirSync;
use crate::sessions::id::Digest;
use crate::sessions::pace::{Counter, Limit, Paced, Paces};
use crate::sessions::record::Judged;
use crate::sessions::stored::{StoreError, Stored, Version};
use crate::sessions::{Record, SessionId};
use crate::trace::Place;
use cache::SessionCache;
use count::FileCount;
use epochs::Epochs;
use sign_ins::SignIns;

/// Number of per-session locks. A session maps to one by its file name, so
/// two sessions rarely share one, and memory stays fixed however many
/// sessions there are.
const LOCK_STRIPES: usize = 64;

/// The file store. Cheap to share: the state is behind one `Arc`, which
/// the work sent to the blocking pool holds.
pub struct FileStore {
    files: Arc<Files>,
}

struct Files {
    dir: PathBuf,
    idle_timeout: u64,
    /// New anonymous sessions are refused once this many files are there
    /// (`usize::MAX`: `--max-sessions` not set, so no cap).
    max_sessions: usize,
    count: FileCount,
    /// Set while anonymous sessions are refused, so that the log says so
    /// once, not once per refused request.
    full: AtomicBool,
    /// The dir lock, held by the serving store; `None` for a read-only
    /// store (`FileStore::at`), which never writes epochs, the reserve or
    /// the dir itself.
    dir_lock: Option<Mutex<File>>,
    /// The dir's fsyncs, shared by the writes and unlinks done at once.
    dir_sync: DirSync,
    locks: Vec<Mutex<()>>,
    epochs: Epochs,
    cache: SessionCache,
    /// The paces of sign-ins and new sessions (`sessions::pace`).
    paces: Paces,
    /// Which sessions each user is signed in to.
    sign_ins: SignIns,
}

/// The digest a file name stands for: `<64 hex digits>.json` (see
/// `Files::path`); `None` for every other name (temporary files, the lock,
/// the epochs).
fn digest_of_file_name(name: &str) -> Option<Digest> {
    Digest::from_hex(name.strip_suffix(".json")?.as_bytes())
}

impl FileStore {
    /// Opens the sessions dir for serving:
    /// 1. create it 0700 when missing, tighten it to 0700 when wider;
    /// 2. take it for this process (`dir::lock`): a second server on the
    ///    same dir gets `Err` naming the first;
    /// 3. remove every temporary file: with the lock held, none can be a
    ///    write in progress;
    /// 4. read the epochs, count the session files, fill the space reserve.
    ///
    /// No cap on anonymous sessions until `with_max_sessions`.
    pub fn open(dir: &Path, idle_timeout: u64) -> io::Result<FileStore> {
        // 1.
        dir::prepare(dir)?;
        // 2.
        let lock = dir::lock(dir)?;
        // 3.
        let mut files = Files::new(dir, idle_timeout, Epochs::read(dir)?);
        files.dir_lock = Some(Mutex::new(lock));
        files.remove_temp_files(std::time::Duration::ZERO)?;
        // 4.
        files.count = FileCount::starting_at(sweep::count_session_files(dir)?);
        files.fill_reserve();
        Ok(FileStore {
            files: Arc::new(files),
        })
    }

    /// What `latch check` says of `dir` as the sessions dir, changing
    /// nothing: what serve will find, or why it would fail, in the words
    /// `open` fails with.
    pub fn check(dir: &Path) -> io::Result<String> {
        dir::check(dir)
    }

    /// A read-only store over an existing dir, for the `sessions` and
    /// `clearsessions` commands, which may run beside a server: no lock, no
    /// start-up work. It reads the epochs (a missing file is none), and can
    /// never write them: `bump_epoch` refuses. A missing dir is `Err`: a
    /// typo or the wrong working directory, not an empty store.
    pub fn at(dir: &Path, idle_timeout: u64) -> io::Result<FileStore> {
        if !std::fs::metadata(dir)?.is_dir() {
            return Err(io::Error::from(io::ErrorKind::NotADirectory));
        }
        Ok(FileStore {
            files: Arc::new(Files::new(dir, idle_timeout, Epochs::read(dir)?)),
        })
    }

    /// Caps the session files `create_anonymous` lets the dir hold.
    pub fn with_max_sessions(mut self, max_sessions: Option<u64>) -> FileStore {
        let max_sessions =
            max_sessions.map_or(usize::MAX, |n| usize::try_from(n).unwrap_or(usize::MAX));
        Arc::get_mut(&mut self.files)
            .expect("a store is configured before it is shared")
            .max_sessions = max_sessions;
        self
    }

    pub fn idle_timeout(&self) -> u64 {
        self.files.idle_timeout
    }

    /// The session's file, by its path (for `--trace`).
    pub fn place(&self, id: &SessionId) -> Place {
        Place {
            kind: "file",
            name: self.files.path(&id.digest()).display().to_string(),
        }
    }

    /// The session and its user's epoch. The file is read on the async
    /// worker: it is a few hundred bytes, almost always in the page cache
    /// and usually unchanged (one `lstat`, see `cache`), and a thread hop
    /// would cost more. An expired file is deleted on the blocking pool.
    pub async fn load(&self, id: &SessionId, now: u64) -> Result<Option<Stored>, StoreError> {
        let key = id.digest();
        match self
            .files
            .read_unlocked(&key, now)
            .map_err(|e| self.files.failed(e))?
        {
            Some(Judged::Live(record)) => {
                let epoch = self.files.epoch_of(&record);
                Ok(Some(Stored {
                    record,
                    epoch,
                    version: Version::UNKNOWN,
                }))
            }
            Some(Judged::Expired) => {
                // Deleted if, re-read under its lock, it is still expired.
                self.blocking(move |files| {
                    let file = files.lock(&key);
                    match file.read(now)? {
                        Some(Judged::Expired) => file.unlink(),
                        _ => Ok(false),
                    }
                })
                .await?;
                Ok(None)
            }
            Some(Judged::Unreadable) | None => Ok(None),
        }
    }

    /// Nothing to wait for: every write was fsynced when its call
    /// returned, and there is no replica.
    pub async fn confirm(&self) -> Result<(), StoreError> {
        Ok(())
    }

    /// From memory: the epochs file is read once, at open.
    pub async fn epoch(&self, user: &str) -> Result<u64, StoreError> {
        Ok(self.files.epochs.of(user))
    }

    /// `Paces::admit`: the counters are kept in memory, since one process
    /// owns the dir.
    pub async fn pace(&self, limits: &[Limit]) -> Result<Paced, StoreError> {
        Ok(self.files.paces.admit(limits, crate::sessions::now_ms()))
    }

    pub async fn forget(&self, counter: &Counter) -> Result<(), StoreError> {
        self.files.paces.forget(counter);
        Ok(())
    }

    /// As last counted (see `count`): no request lists the dir. Files count
    /// as files until the sweep drops the dead, so `now` is not needed.
    pub async fn count(&self, _now: u64) -> Result<usize, StoreError> {
        Ok(self.files.count.current())
    }

    /// Runs `work` on the blocking pool (it writes, fsyncs or scans).
    async fn blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Files) -> io::Result<T> + Send + 'static,
    ) -> Result<T, StoreError> {
        let files = Arc::clone(&self.files);
        let done = blocking::run(move || work(&files)).await?;
        done.map_err(|e| self.files.failed(e))
    }
}

impl Files {
    /// The dir's I/O failing, as the store's failure: no room is `Full`,
    /// anything else `Failed`, and either names the dir, so that the log
    /// line says where to look (`sessions dir /var/lib/latch/sessions:
    /// Read-only file system (os error 30)`).
    fn failed(&self, e: io::Error) -> StoreError {
        let said = format!("sessions dir {}: {e}", self.dir.display());
        match crate::os::sys::is_out_of_space(&e) {
            true => StoreError::Full(said),
            false => StoreError::Failed(said),
        }
    }

    fn new(dir: &Path, idle_timeout: u64, epochs: Epochs) -> Files {
        Files {
            dir: dir.to_path_buf(),
            idle_timeout,
            max_sessions: usize::MAX,
            count: FileCount::default(),
            full: AtomicBool::new(false),
            dir_lock: None,
            dir_sync: DirSync::default(),
            locks: (0..LOCK_STRIPES).map(|_| Mutex::new(())).collect(),
            epochs,
            cache: SessionCache::default(),
            paces: Paces::default(),
            sign_ins: SignIns::default(),
        }
    }

    fn epoch_of(&self, record: &Record) -> u64 {
        record.user().map_or(0, |user| self.epochs.of(user))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_canonical_file_names_are_session_files() {
        let id = SessionId::generate();
        let name = format!("{}.json", id.digest());
        assert_eq!(digest_of_file_name(&name), Some(id.digest()));
        for other in [
            ".tmp-0011",
            ".lock",
            ".reserve",
            ".epochs.json",
            "abc.json",
            &name.to_uppercase(),
            &name.replace(".json", ".tmp"),
        ] {
            assert!(digest_of_file_name(other).is_none(), "{other}");
        }
    }
}
