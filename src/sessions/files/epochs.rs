//! The per-user "sign out everywhere" epochs, in `.epochs.json` beside the
//! sessions: a number per user, read on every signed-in request, advanced
//! by a `scope=all` logout (docs/contract.md, "Logout", step 4).
//!
//! Readers never wait for a writer's disk: an advance writes the new file
//! (two fsyncs) while readers still see the old map, then swaps the map in
//! at once. Advances are serialized among themselves by `writer`, so no
//! two of them can write from the same old map and lose one.

use std::collections::HashMap;
use std::io;
use std::path::Path;
use std::sync::{Mutex, RwLock};

use crate::os::regular_file::{self, Contents, Symlinks};

/// The file's name, in the sessions dir.
pub(super) const EPOCHS_FILE: &str = ".epochs.json";
/// The epochs file holds a number per user: a few dozen bytes each.
const EPOCHS_MAX_BYTES: u64 = 16 * 1024 * 1024;

pub(super) struct Epochs {
    current: RwLock<HashMap<String, u64>>,
    writer: Mutex<()>,
}

impl Epochs {
    /// Reads the epochs file in `dir`; a missing file is no epochs. A
    /// damaged one (or anything but a regular file under its name) is an
    /// error, not an empty map: ignoring it would sign back in every
    /// session that a "sign out everywhere" ended.
    pub(super) fn read(dir: &Path) -> io::Result<Epochs> {
        let path = dir.join(EPOCHS_FILE);
        let damaged = |why: String| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{}: {why}", path.display()),
            )
        };
        let current = match regular_file::read(&path, EPOCHS_MAX_BYTES, Symlinks::Refused) {
            Ok(Contents::File(bytes, _)) => {
                serde_json::from_slice(&bytes).map_err(|e| damaged(e.to_string()))?
            }
            Ok(Contents::Refused(why)) => return Err(damaged(why)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => HashMap::new(),
            Err(e) => return Err(e),
        };
        Ok(Epochs {
            current: RwLock::new(current),
            writer: Mutex::new(()),
        })
    }

    /// The user's epoch: 0 until their first "sign out everywhere".
    pub(super) fn of(&self, user: &str) -> u64 {
        let current = self.current.read().unwrap_or_else(|p| p.into_inner());
        current.get(user).copied().unwrap_or(0)
    }

    /// Advances the user's epoch: `persist` writes the new file's bytes
    /// durably, and only once it has are they what `of` answers.
    ///
    /// The epoch only ever grows: at `u64::MAX` (only a hand edit gets
    /// there) it refuses rather than wrap to a value that would sign old
    /// sessions back in.
    pub(super) fn advance(
        &self,
        user: &str,
        persist: impl FnOnce(&[u8]) -> io::Result<()>,
    ) -> io::Result<u64> {
        let _writer = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        let mut next = self
            .current
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let epoch = next.get(user).copied().unwrap_or(0).checked_add(1).ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{EPOCHS_FILE}: the epoch of {user} is at its largest value and cannot advance (edited by hand?)"),
            )
        })?;
        next.insert(user.to_owned(), epoch);
        persist(&serde_json::to_vec(&next).map_err(io::Error::other)?)?;
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = next;
        Ok(epoch)
    }

    /// Writes the epochs as they are now with `persist` (for a file
    /// deleted while the server runs), serialized with `advance` so that
    /// an older map can never land after a newer one. `None`, and nothing
    /// written, when no user has an epoch.
    pub(super) fn write_back(
        &self,
        persist: impl FnOnce(&[u8]) -> io::Result<()>,
    ) -> Option<io::Result<()>> {
        let _writer = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        let json = {
            let current = self.current.read().unwrap_or_else(|p| p.into_inner());
            if current.is_empty() {
                return None;
            }
            serde_json::to_vec(&*current).map_err(io::Error::other)
        };
        Some(json.and_then(|json| persist(&json)))
    }
}
