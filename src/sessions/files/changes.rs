//! Changes to session files: each one takes the session's lock, reads
//! the file as it is on disk now (`Locked::read`, never the cache), and
//! writes or unlinks through the one function that does (`disk`), so a
//! session that is gone is never written back. New files need no lock:
//! their id is fresh. And the epochs, advanced on a full disk too. All of
//! it runs on the blocking pool (`FileStore::blocking`).

use std::io;
use std::sync::atomic::Ordering;
use std::sync::MutexGuard;

use super::epochs::EPOCHS_FILE;
use super::{dir, FileStore, Files, LOCK_STRIPES};
use crate::log_event;
use crate::os::sys;
use crate::sessions::id::Digest;
use crate::sessions::record::Judged;
use crate::sessions::stored::{Rotated, StoreError, Version};
use crate::sessions::{Record, SessionId};

/// A session file under its lock: the only way to change one. It reads
/// from the disk, never from the cache (see `cache`), and its writes and
/// unlinks are the store's only ones, each forgetting the cached record
/// first.
pub(super) struct Locked<'a> {
    files: &'a Files,
    key: &'a Digest,
    _guard: MutexGuard<'a, ()>,
}

impl Locked<'_> {
    /// The file as it is on disk now.
    pub(super) fn read(&self, now: u64) -> io::Result<Option<Judged>> {
        self.files.read_from_disk(self.key, now)
    }

    pub(super) fn write(&self, record: &Record) -> io::Result<()> {
        self.files.replace(self.key, &record.encode())
    }

    /// Unlinks the file durably; `Ok(false)` if it was already gone.
    pub(super) fn unlink(&self) -> io::Result<bool> {
        self.files.unlink(self.key)
    }
}

impl Files {
    /// The lock serializing changes to this session. The mutex guards no
    /// data, only the file, so a poisoned one (a panic while held) is as
    /// good as any.
    pub(super) fn lock<'a>(&'a self, key: &'a Digest) -> Locked<'a> {
        let stripe = usize::from(key.first_byte()) % LOCK_STRIPES;
        let guard = self.locks[stripe]
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        Locked {
            files: self,
            key,
            _guard: guard,
        }
    }

    /// Stores a new session under a fresh id if the dir holds fewer than
    /// `max` session files. The id is new random bytes, never one a client
    /// sent; 256 random bits make a collision with an existing file not a
    /// possibility worth a check.
    fn create_within(&self, max: usize, json: &[u8]) -> io::Result<Option<SessionId>> {
        let admitted = self.count.begin(max);
        let written = if admitted {
            let id = SessionId::generate();
            self.replace(&id.digest(), json).map(|()| Some(id))
        } else {
            Ok(None)
        };
        self.count.finish(admitted, matches!(written, Ok(Some(_))));
        written
    }
}

impl FileStore {
    pub async fn create(&self, record: &Record) -> Result<SessionId, StoreError> {
        let json = record.encode();
        let created = self
            .blocking(move |files| files.create_within(usize::MAX, &json))
            .await?;
        Ok(created.expect("a create without a cap is never refused"))
    }

    /// Refused once `--max-sessions` files are there, which is logged once
    /// until one is made again. Files count as files until the sweep drops
    /// the dead, so `now` is not needed here.
    pub async fn create_anonymous(
        &self,
        record: &Record,
        _now: u64,
    ) -> Result<Option<SessionId>, StoreError> {
        let json = record.encode();
        self.blocking(move |files| {
            let created = files.create_within(files.max_sessions, &json)?;
            let was_full = files.full.swap(created.is_none(), Ordering::Relaxed);
            if created.is_none() && !was_full {
                log_event!(
                    "sessions dir {} holds {} session files (--max-sessions): new anonymous sessions refused until some end",
                    files.dir.display(),
                    files.max_sessions
                );
            }
            Ok(created)
        })
        .await
    }

    /// No `Version`: a change reads the file under its lock, from the disk.
    pub async fn modify<T: Send + 'static>(
        &self,
        id: &SessionId,
        _version: &Version,
        now: u64,
        change: impl Fn(&mut Record) -> T + Send + 'static,
    ) -> Result<Option<(Record, T)>, StoreError> {
        let key = id.digest();
        self.blocking(move |files| {
            let file = files.lock(&key);
            let Some(Judged::Live(mut record)) = file.read(now)? else {
                return Ok(None);
            };
            let out = change(&mut record);
            file.write(&record)?;
            Ok(Some((record, out)))
        })
        .await
    }

    /// The new file is written before the old is unlinked: a crash between
    /// the two leaves an orphan to expire, never no session.
    pub async fn rotate(
        &self,
        id: &SessionId,
        _version: &Version,
        now: u64,
        change: impl Fn(&mut Record) -> bool + Send + 'static,
    ) -> Result<Rotated, StoreError> {
        let key = id.digest();
        self.blocking(move |files| {
            let old = files.lock(&key);
            let Some(Judged::Live(mut record)) = old.read(now)? else {
                return Ok(Rotated::Gone);
            };
            let rotated = if change(&mut record) {
                let moved = files.create_within(usize::MAX, &record.encode())?;
                let new = moved.ok_or_else(|| io::Error::other("no session file slot"))?;
                Rotated::Moved(new, record)
            } else {
                Rotated::Deleted
            };
            old.unlink()?;
            Ok(rotated)
        })
        .await
    }

    pub async fn delete(&self, id: &SessionId) -> Result<bool, StoreError> {
        let key = id.digest();
        self.blocking(move |files| files.lock(&key).unlink()).await
    }

    /// Notes that `id` is signed in as its record's user, then ends the
    /// user's oldest sign-ins past `keep`. Newest first, each is read
    /// under its lock: the first `keep` that still hold that user's
    /// sign-in stay, every later one that does is deleted then and there
    /// (an entry that no longer does is just dropped from the index).
    pub async fn keep_newest_sign_ins(
        &self,
        id: &SessionId,
        record: &Record,
        keep: usize,
    ) -> Result<usize, StoreError> {
        let Some(user) = record.user().map(str::to_owned) else {
            return Ok(0);
        };
        let (key, at) = (id.digest(), record.auth_time().unwrap_or(record.created));
        let now = crate::sessions::now();
        self.blocking(move |files| {
            files.sign_ins.add(&user, at, key);
            let Some(oldest_first) = files.sign_ins.past(&user, keep) else {
                return Ok(0);
            };
            let (mut kept, mut ended) = (0, 0);
            for key in oldest_first.iter().rev() {
                let file = files.lock(key);
                let read = file.read(now)?;
                let holds =
                    matches!(read, Some(Judged::Live(r)) if r.user() == Some(user.as_str()));
                if holds && kept < keep {
                    kept += 1;
                    continue;
                }
                if holds && file.unlink()? {
                    ended += 1;
                }
                files.sign_ins.remove(&user, key);
            }
            Ok(ended)
        })
        .await
    }

    /// Advances the user's epoch, durably. On a full file system it
    /// releases the space reserve and writes again, so "sign out
    /// everywhere" commits even then; the reserve is filled again from the
    /// space the old epochs file gave back, and by the next sweep. A
    /// read-only store refuses: it must never replace the server's epochs
    /// with what it happens to hold.
    pub async fn bump_epoch(&self, user: &str) -> Result<u64, StoreError> {
        let user = user.to_owned();
        self.blocking(move |files| {
            if files.dir_lock.is_none() {
                return Err(io::Error::new(
                    io::ErrorKind::PermissionDenied,
                    "this sessions store is read-only: epochs are written by the server",
                ));
            }
            let path = files.dir.join(EPOCHS_FILE);
            files
                .epochs
                .advance(&user, |json| match files.write_file(&path, json) {
                    Err(e) if sys::is_out_of_space(&e) && dir::release_reserve(&files.dir) => {
                        log_event!(
                        "sessions dir full ({e}): the space reserve released for the epochs file"
                    );
                        let written = files.write_file(&path, json);
                        files.fill_reserve();
                        written
                    }
                    other => other,
                })
        })
        .await
    }
}
