//! Atomic, durable file replacement: the one sequence latch uses for every
//! file it writes (session files, the epochs file, the users file). Each
//! step is a `--trace` row (`disk`), from the path and the result it had.

use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use crate::http::encoding::hex;
use crate::os::group_commit::DirSync;
use crate::os::random::random_32;
use crate::trace;

/// Temporary files start with this. In the sessions dir, any such file
/// that outlives a write is a crash's leftover, and is removed.
pub const TEMP_PREFIX: &str = ".tmp-";

/// Replaces `path` with `bytes`, mode 0600 (the classic sequence; see
/// rename(2) and fsync(2)):
/// 1. write a new temporary file in the same directory (a rename is atomic
///    only within one file system);
/// 2. fsync it, so its contents are on disk before its name is;
/// 3. rename it over `path`: readers see the old file or the new, never half;
/// 4. fsync the directory, so the rename itself survives a crash.
///
/// On failure the temporary file is removed and the error returned: a full
/// disk is reported, never silently swallowed (as Django's file backend does).
pub fn write(path: &Path, bytes: &[u8]) -> io::Result<()> {
    write_synced(path, bytes, &DirSync::default())
}

/// `write`, with step 4 shared through `dir_sync` by every writer of the
/// directory (the file store's group commit).
pub fn write_synced(path: &Path, bytes: &[u8], dir_sync: &DirSync) -> io::Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let temp = dir.join(format!("{TEMP_PREFIX}{}", hex(&random_32()[..8])));
    let (shown_temp, shown_path) = (temp.display(), path.display());
    let result = (|| {
        // 1.
        let written = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&temp)
            .and_then(|mut file| file.write_all(bytes).map(|()| file));
        let n = bytes.len();
        let file = step(
            written,
            format_args!("write {shown_temp}: {n} bytes, a new file, mode 0600"),
        )?;
        // 2.
        step(
            file.sync_data(),
            format_args!("fsync {shown_temp}: its bytes are on the disk before its name is"),
        )?;
        // 3.
        step(
            fs::rename(&temp, path),
            format_args!(
                "rename {shown_temp} → {shown_path}: a reader sees the old file or the new, never half of one"
            ),
        )?;
        // 4.
        dir_sync.sync(dir)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&temp);
    }
    result
}

/// `result`, with its `--trace` row: what was done, and the error if it
/// failed.
pub fn step<T>(result: io::Result<T>, done: std::fmt::Arguments) -> io::Result<T> {
    match &result {
        Ok(_) => trace::row("disk", done),
        Err(e) => trace::row("disk", format_args!("{done}: failed: {e}")),
    }
    result
}
