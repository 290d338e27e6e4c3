//! One session file on disk: the unlocked read of a request (through the
//! cache), the read from the disk itself, the one function that writes a
//! file and the one that unlinks one (each forgetting the cached record
//! first), and the upkeep of the dir they write in.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use super::cache::FileVersion;
use super::dir;
use super::epochs::EPOCHS_FILE;
use super::Files;
use crate::log_event;
use crate::os::regular_file::{self, Contents, Symlinks};
use crate::os::{atomic_file, sys};
use crate::sessions::id::Digest;
use crate::sessions::record::{self, Judged, MAX_STORED_BYTES};

impl Files {
    /// The read of a request, without the lock: one `lstat`, and the file
    /// is read only when it changed since it was last read (see `cache`).
    /// Anything but a regular file goes to `read_from_disk`, which refuses
    /// it.
    pub(super) fn read_unlocked(&self, key: &Digest, now: u64) -> io::Result<Option<Judged>> {
        let meta = match fs::symlink_metadata(self.path(key)) {
            Ok(meta) => meta,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                self.cache.forget(key);
                return Ok(None);
            }
            Err(e) => return Err(e),
        };
        if !meta.is_file() {
            self.cache.forget(key);
            return self.read_from_disk(key, now);
        }
        match self.cache.get(key, FileVersion::of(&meta)) {
            Some(record) if record.is_expired(now, self.idle_timeout) => Ok(Some(Judged::Expired)),
            Some(record) => Ok(Some(Judged::Live(record))),
            None => self.read_from_disk(key, now),
        }
    }

    /// Reads and judges one session file (`record::judge`); `Ok(None)`
    /// when there is none. A live record is remembered with the version it
    /// was read from.
    pub(super) fn read_from_disk(&self, key: &Digest, now: u64) -> io::Result<Option<Judged>> {
        let max = MAX_STORED_BYTES as u64;
        let (bytes, version) = match regular_file::read(&self.path(key), max, Symlinks::Refused) {
            Ok(Contents::File(bytes, meta)) => (bytes, FileVersion::of(&meta)),
            Ok(Contents::Refused(why)) => return Ok(Some(record::unreadable(key.label(), &why))),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        let judged = record::judge(key.label(), &bytes, now, self.idle_timeout);
        if let Judged::Live(record) = &judged {
            self.cache.insert(*key, version, record.clone());
        }
        Ok(Some(judged))
    }

    /// The one function that writes a session file: the cached record goes
    /// first, so no read is served a version that is no longer on disk.
    pub(super) fn replace(&self, key: &Digest, json: &[u8]) -> io::Result<()> {
        self.cache.forget(key);
        self.write_file(&self.path(key), json)
    }

    /// The one function that unlinks a session file, durably; `Ok(false)`
    /// if it was already gone.
    pub(super) fn unlink(&self, key: &Digest) -> io::Result<bool> {
        self.cache.forget(key);
        let path = self.path(key);
        match atomic_file::step(
            fs::remove_file(&path),
            format_args!("unlink {}", path.display()),
        ) {
            Ok(()) => {
                self.count.removed();
                self.dir_sync.sync(&self.dir).map(|()| true)
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// `atomic_file::write`; when the dir itself is gone (deleted while
    /// the server runs), the serving store makes it again, 0700, and
    /// writes once more.
    pub(super) fn write_file(&self, path: &Path, bytes: &[u8]) -> io::Result<()> {
        match atomic_file::write_synced(path, bytes, &self.dir_sync) {
            Err(e) if e.kind() == io::ErrorKind::NotFound && self.dir_lock.is_some() => {
                self.recreate_dir()?;
                atomic_file::write_synced(path, bytes, &self.dir_sync)
            }
            other => other,
        }
    }

    /// The sessions dir was deleted under the running server: make it
    /// again (0700), with a new lock file held by this process, since the
    /// old one went with the dir.
    pub(super) fn recreate_dir(&self) -> io::Result<()> {
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

    /// Fills the space reserve (serving store only); a failure other than a
    /// full disk is logged.
    pub(super) fn fill_reserve(&self) {
        if self.dir_lock.is_none() {
            return;
        }
        let epochs_len = fs::symlink_metadata(self.dir.join(EPOCHS_FILE)).map_or(0, |m| m.len());
        match dir::fill_reserve(&self.dir, epochs_len) {
            Err(e) if !sys::is_out_of_space(&e) => {
                log_event!("sessions dir {}: space reserve: {e}", self.dir.display())
            }
            _ => {}
        }
    }

    /// A session's file: its id's digest in hex, `.json`. The directory
    /// then holds no usable cookie: a file name cannot be turned back into
    /// an id, so a leaked listing (or backup) grants nothing.
    /// (Asked for on every read: the path is sized once, not grown.)
    pub(super) fn path(&self, key: &Digest) -> PathBuf {
        let mut name = [0u8; 64 + ".json".len()];
        name[..64].copy_from_slice(&key.hex());
        name[64..].copy_from_slice(b".json");
        let mut path = PathBuf::with_capacity(self.dir.as_os_str().len() + 1 + name.len());
        path.push(&self.dir);
        path.push(std::str::from_utf8(&name).expect("hex is ASCII"));
        path
    }
}
