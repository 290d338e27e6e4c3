//! A small memory of session records recently read, each tied to the exact
//! version of the file it came from, so the read path of a request can skip
//! opening and parsing an unchanged file.
//!
//! Why it stays correct: an entry is used only while the file's identity
//! (device, inode, size, modification time to the nanosecond) is the one it
//! was read with. latch replaces a file by renaming a new one over it,
//! which always makes a new inode; an editor or another program that
//! rewrites a file changes its size or time. A check of the identity is one
//! `stat` call, where a read is open, read and close (profiled: those three
//! were the largest part of the time a signed-in page view spent in the
//! kernel, beside sending the response).
//!
//! Private to the file backend, and used in exactly two places (see
//! `Files`): the unlocked read of a request asks `get`; the one function
//! that replaces a file and the one that unlinks it call `forget` first. A
//! read under a session's lock never asks the cache (`Locked` has no way
//! to): an identity can repeat (an inode freed by an unlink and reused, a
//! file system whose timestamps are coarse), and what a lock guards must be
//! read from the disk itself.

use std::collections::HashMap;
use std::fs::Metadata;
use std::os::unix::fs::MetadataExt;
use std::sync::RwLock;

use crate::sessions::id::Digest;
use crate::sessions::Record;

/// At most this many records are kept; past it the cache starts over. A
/// few hundred bytes each: about 2 MiB at the most.
const MAX_ENTRIES: usize = 4096;

/// The identity of one version of a file.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) struct FileVersion {
    device: u64,
    inode: u64,
    size: u64,
    modified_ns: i128,
}

impl FileVersion {
    pub(super) fn of(meta: &Metadata) -> FileVersion {
        FileVersion {
            device: meta.dev(),
            inode: meta.ino(),
            size: meta.size(),
            modified_ns: i128::from(meta.mtime()) * 1_000_000_000 + i128::from(meta.mtime_nsec()),
        }
    }
}

#[derive(Default)]
pub(super) struct SessionCache {
    entries: RwLock<HashMap<Digest, (FileVersion, Record)>>,
}

impl SessionCache {
    /// The record read from exactly this version of the file, if kept.
    pub(super) fn get(&self, key: &Digest, version: FileVersion) -> Option<Record> {
        let entries = self.entries.read().unwrap_or_else(|p| p.into_inner());
        let (kept, record) = entries.get(key)?;
        (*kept == version).then(|| record.clone())
    }

    pub(super) fn insert(&self, key: Digest, version: FileVersion, record: Record) {
        let mut entries = self.entries.write().unwrap_or_else(|p| p.into_inner());
        if entries.len() >= MAX_ENTRIES && !entries.contains_key(&key) {
            entries.clear();
        }
        entries.insert(key, (version, record));
    }

    pub(super) fn forget(&self, key: &Digest) {
        self.entries
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .remove(key);
    }
}
