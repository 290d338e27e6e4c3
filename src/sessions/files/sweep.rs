//! The file backend's walks over its dir: the sweep (expired, unreadable
//! and void sessions, leftover temporary files, and the serving store's
//! upkeep), the listing for `latch sessions`, and the count at open.
//!
//! Each walks the directory one entry at a time, so memory stays flat with
//! any number of files; a file that vanishes under it (a logout, another
//! sweeper) is skipped; and every change is made under the session's lock
//! after a re-read, so a session changed meanwhile is judged as it is now.

use std::fs;
use std::io;
use std::path::Path;
use std::time::{Duration, SystemTime};

use super::epochs::EPOCHS_FILE;
use super::sign_ins::Seen;
use super::{digest_of_file_name, FileStore, Files};
use crate::log_event;
use crate::os::atomic_file::TEMP_PREFIX;
use crate::sessions::id::Digest;
use crate::sessions::record::Judged;
use crate::sessions::stored::{Listing, Removed, StoreError};
use crate::sessions::Record;

/// A temporary file older than this is a crash's leftover, not a write in
/// progress (a write takes milliseconds).
const TEMP_MAX_AGE: Duration = Duration::from_secs(600);

/// What a sweep did with one session file.
enum Swept {
    /// Gone before the sweep got to it (a logout, another sweeper).
    Gone,
    /// Live, and still signed in as this user since this time, if so.
    Kept(Option<(String, u64)>),
    SignedOut,
    Expired,
    Unreadable,
}

impl FileStore {
    pub async fn sweep(
        &self,
        now: u64,
        sign_out_if_void: impl Fn(&mut Record, u64) -> bool + Send + 'static,
    ) -> Result<Removed, StoreError> {
        self.blocking(move |files| files.sweep(now, &sign_out_if_void))
            .await
    }

    /// The sweep, signing no one out: the dir holds nothing a sweep would
    /// not remove anyway.
    pub async fn clear(&self, now: u64) -> Result<Removed, StoreError> {
        self.sweep(now, |_, _| false).await
    }

    /// Every live session with its user's epoch, oldest first (then by
    /// label), for `latch sessions`. It writes and deletes nothing.
    pub async fn list(&self, now: u64) -> Result<Vec<Listing>, StoreError> {
        self.blocking(move |files| {
            let mut listings = Vec::new();
            for key in session_files(&files.dir)? {
                let key = key?;
                if let Some(Judged::Live(record)) = files.read_from_disk(&key, now)? {
                    let epoch = files.epoch_of(&record);
                    listings.push(Listing {
                        label: key.label(),
                        record,
                        epoch,
                    });
                }
            }
            listings.sort_by_key(|l| (l.record.created, l.label));
            Ok(listings)
        })
        .await
    }
}

impl Files {
    /// Removes expired and unreadable session files and leftover temporary
    /// files; returns how many of each it removed. Each live session is
    /// handed to `sign_out_if_void` with its user's epoch; when it signs
    /// the session out (returns true), the file is rewritten. The serving
    /// store also recreates a missing dir, writes back a missing epochs
    /// file from memory, refills the space reserve and recounts the
    /// session files.
    pub(super) fn sweep(
        &self,
        now: u64,
        sign_out_if_void: &dyn Fn(&mut Record, u64) -> bool,
    ) -> io::Result<Removed> {
        if self.dir_lock.is_some() {
            self.repair();
        }
        let mut removed = Removed {
            leftovers: self.remove_temp_files(TEMP_MAX_AGE)?,
            ..Removed::default()
        };
        let finished_before = self.count.finished_so_far();
        let walk = self.sign_ins.walk_begins();
        let mut seen = Seen::new();
        let (mut kept, mut signed_out) = (0, 0);
        for key in session_files(&self.dir)? {
            let key = key?;
            match self.sweep_one(&key, now, sign_out_if_void) {
                Ok(Swept::Gone) => {}
                Ok(Swept::Expired) => removed.expired += 1,
                Ok(Swept::Unreadable) => removed.unreadable += 1,
                Ok(Swept::SignedOut) => signed_out += 1,
                Ok(Swept::Kept(signed_in)) => {
                    kept += 1;
                    if let Some((user, at)) = signed_in {
                        seen.entry(user).or_default().push((at, key));
                    }
                }
                Err(e) => {
                    log_event!("sweep: session file {}… skipped: {e}", key.label());
                    kept += 1;
                }
            }
        }
        self.count.recount(kept + signed_out, finished_before);
        self.sign_ins.rebuild(walk, seen);
        if signed_out > 0 {
            log_event!("sweep: signed out {signed_out} sessions whose sign-in no longer stands");
        }
        Ok(removed)
    }

    fn sweep_one(
        &self,
        key: &Digest,
        now: u64,
        sign_out_if_void: &dyn Fn(&mut Record, u64) -> bool,
    ) -> io::Result<Swept> {
        let file = self.lock(key);
        let swept = match file.read(now)? {
            None => Swept::Gone,
            Some(Judged::Expired) if file.unlink()? => Swept::Expired,
            Some(Judged::Unreadable) if file.unlink()? => Swept::Unreadable,
            Some(Judged::Live(mut record)) => {
                let epoch = self.epoch_of(&record);
                if sign_out_if_void(&mut record, epoch) {
                    file.write(&record)?;
                    Swept::SignedOut
                } else {
                    let signed_in = record.user().map(|user| {
                        let at = record.auth_time().unwrap_or(record.created);
                        (user.to_owned(), at)
                    });
                    Swept::Kept(signed_in)
                }
            }
            Some(_) => Swept::Kept(None),
        };
        Ok(swept)
    }

    /// The serving store's upkeep, at each sweep: a dir deleted while no
    /// write came is made again; an epochs file deleted while the server
    /// ran is written back from memory; the space reserve is refilled.
    fn repair(&self) {
        if let Err(e) = self.recreate_dir() {
            log_event!("sessions dir {}: {e}", self.dir.display());
            return;
        }
        let path = self.dir.join(EPOCHS_FILE);
        if !path.exists() {
            match self.epochs.write_back(|json| self.write_file(&path, json)) {
                None => {}
                Some(Ok(())) => log_event!("{EPOCHS_FILE} was missing: written again from memory"),
                Some(Err(e)) => {
                    log_event!("{EPOCHS_FILE} was missing and could not be written: {e}")
                }
            }
        }
        self.fill_reserve();
    }

    /// Removes temporary files older than `min_age`; returns how many.
    pub(super) fn remove_temp_files(&self, min_age: Duration) -> io::Result<usize> {
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
}

/// The digest of each session file in `dir`, read one entry at a time:
/// every other name (temporary files, the lock, the epochs) is passed over.
fn session_files(dir: &Path) -> io::Result<impl Iterator<Item = io::Result<Digest>>> {
    Ok(fs::read_dir(dir)?.filter_map(|entry| match entry {
        Ok(entry) => entry
            .file_name()
            .to_str()
            .and_then(digest_of_file_name)
            .map(Ok),
        Err(e) => Some(Err(e)),
    }))
}

/// How many entries of `dir` carry a session file's name.
pub(super) fn count_session_files(dir: &Path) -> io::Result<usize> {
    session_files(dir)?.try_fold(0, |n, key| key.map(|_| n + 1))
}
