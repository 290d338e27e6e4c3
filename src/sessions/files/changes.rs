//! Changes to session files: each one takes the session's lock, reads
//! the file as it is on disk now (`Locked::read`, never the cache), and
//! writes or unlinks through the one function that does (`disk`), so a
//! session that is gone is never written back. New files need no lock:
//! their id is fresh. And the epochs, advanced on a full disk too.

use std::io;
use std::sync::atomic::Ordering;
use std::sync::MutexGuard;

use super::epochs::EPOCHS_FILE;
use super::{dir, Files, LOCK_STRIPES};
use crate::log_event;
use crate::os::sys;
use crate::sessions::id::Digest;
use crate::sessions::record::Judged;
use crate::sessions::stored::Rotated;
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
    pub(super) fn create_within(&self, max: usize, json: &[u8]) -> io::Result<Option<SessionId>> {
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

    pub(super) fn create_anonymous(&self, json: &[u8]) -> io::Result<Option<SessionId>> {
        let created = self.create_within(self.max_sessions, json)?;
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

    pub(super) fn modify<T>(
        &self,
        key: &Digest,
        now: u64,
        change: impl Fn(&mut Record) -> T,
    ) -> io::Result<Option<(Record, T)>> {
        let file = self.lock(key);
        let Some(Judged::Live(mut record)) = file.read(now)? else {
            return Ok(None);
        };
        let out = change(&mut record);
        file.write(&record)?;
        Ok(Some((record, out)))
    }

    /// The new file is written before the old is unlinked: a crash between
    /// the two leaves an orphan to expire, never no session.
    pub(super) fn rotate(
        &self,
        key: &Digest,
        now: u64,
        change: impl Fn(&mut Record) -> bool,
    ) -> io::Result<Rotated> {
        let old = self.lock(key);
        let Some(Judged::Live(mut record)) = old.read(now)? else {
            return Ok(Rotated::Gone);
        };
        let rotated = if change(&mut record) {
            let moved = self.create_within(usize::MAX, &record.encode())?;
            let new = moved.ok_or_else(|| io::Error::other("no session file slot"))?;
            Rotated::Moved(new, record)
        } else {
            Rotated::Deleted
        };
        old.unlink()?;
        Ok(rotated)
    }

    /// Notes that `key` is signed in as `user` since `at`, then ends the user's
    /// oldest sign-ins past `keep`: each one is re-read under its lock and
    /// deleted only if it still holds that user's sign-in (an entry that
    /// no longer does is just dropped from the index). Returns how many
    /// it ended.
    pub(super) fn keep_newest_sign_ins(
        &self,
        user: &str,
        key: Digest,
        at: u64,
        keep: usize,
        now: u64,
    ) -> io::Result<usize> {
        self.sign_ins.add(user, at, key);
        let Some(oldest_first) = self.sign_ins.past(user, keep) else {
            return Ok(0);
        };
        let holds = |file: &Locked| -> io::Result<bool> {
            Ok(matches!(file.read(now)?, Some(Judged::Live(r)) if r.user() == Some(user)))
        };
        let mut live = Vec::new();
        for key in oldest_first {
            if holds(&self.lock(&key))? {
                live.push(key);
            } else {
                self.sign_ins.remove(user, &key);
            }
        }
        let mut ended = 0;
        for key in live.iter().take(live.len().saturating_sub(keep)) {
            let file = self.lock(key);
            if holds(&file)? && file.unlink()? {
                ended += 1;
            }
            self.sign_ins.remove(user, key);
        }
        Ok(ended)
    }

    /// Deletes the file if, re-read under its lock, it is still expired.
    pub(super) fn delete_if_expired(&self, key: &Digest, now: u64) -> io::Result<bool> {
        let file = self.lock(key);
        match file.read(now)? {
            Some(Judged::Expired) => file.unlink(),
            _ => Ok(false),
        }
    }

    /// Advances the user's epoch, durably. On a full file system it
    /// releases the space reserve and writes again, so "sign out
    /// everywhere" commits even then; the reserve is filled again from the
    /// space the old epochs file gave back, and by the next sweep. A
    /// read-only store refuses: it must never replace the server's epochs
    /// with what it happens to hold.
    pub(super) fn bump_epoch(&self, user: &str) -> io::Result<u64> {
        if self.dir_lock.is_none() {
            return Err(io::Error::new(
                io::ErrorKind::PermissionDenied,
                "this sessions store is read-only: epochs are written by the server",
            ));
        }
        let path = self.dir.join(EPOCHS_FILE);
        self.epochs
            .advance(user, |json| match self.write_file(&path, json) {
                Err(e) if sys::is_out_of_space(&e) && dir::release_reserve(&self.dir) => {
                    log_event!(
                        "sessions dir full ({e}): the space reserve released for the epochs file"
                    );
                    let written = self.write_file(&path, json);
                    self.fill_reserve();
                    written
                }
                other => other,
            })
    }
}
