//! The sessions dir as a place on disk, apart from what the sessions in it
//! mean: making it (0700), the one-server lock, and the space reserve that
//! lets "sign out everywhere" commit on a full disk. (Reading a file in it
//! without trusting what sits under the name is `os::regular_file`.)
//! (docs/contract.md, "Sessions".)

use std::fs::{self, DirBuilder, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

use crate::os::sys::{self, O_NOFOLLOW, O_NONBLOCK};

/// The lock file a serving process holds (`flock`), holding its pid.
pub const LOCK_FILE: &str = ".lock";
/// The space reserve: zeros, released when the epochs file cannot be
/// written for lack of space.
pub const RESERVE_FILE: &str = ".reserve";
/// The reserve holds a whole new epochs file plus this much.
const RESERVE_MARGIN: u64 = 64 * 1024;

/// Creates `dir` 0700 when missing (parents too), and tightens it to 0700
/// when it is wider: a fresh checkout's `sessions/` is 0755, and a listing
/// of session files tells who is active when.
pub fn prepare(dir: &Path) -> io::Result<()> {
    DirBuilder::new().recursive(true).mode(0o700).create(dir)?;
    let mode = fs::metadata(dir)?.permissions().mode();
    if mode & 0o077 != 0 {
        fs::set_permissions(dir, fs::Permissions::from_mode(0o700))?;
    }
    Ok(())
}

/// Takes the sessions dir for this process: an exclusive `flock` on
/// `LOCK_FILE`, which then holds this process's id. Two servers on one
/// dir would each serialize writes only among their own requests, so one
/// could write back a session the other had just signed out. `Err` naming
/// the process that holds it when another does.
///
/// The file stays (removing a lock file races with the next taker); the
/// returned `File` must stay open for as long as the lock is meant to last.
pub fn lock(dir: &Path) -> io::Result<File> {
    let path = dir.join(LOCK_FILE);
    // Made when missing (which needs a writable handle), then held through
    // a read-only one: a file kept open for writing would stop an operator
    // from remounting the file system read-only.
    drop(open_lock_file(&path, true).map_err(|e| cannot_open(&path, e))?);
    let mut held = open_lock_file(&path, false).map_err(|e| cannot_open(&path, e))?;
    if !sys::try_lock_exclusive(&held)? {
        let mut holder = String::new();
        let _ = (&mut held).take(32).read_to_string(&mut holder);
        let holder = match holder.trim().parse::<u32>() {
            Ok(pid) => format!("process {pid}"),
            Err(_) => "another process".into(),
        };
        return Err(io::Error::new(
            io::ErrorKind::ResourceBusy,
            format!(
                "another latch serve ({holder}) is using it (lock {}): one server per sessions dir",
                path.display()
            ),
        ));
    }
    let mut writer = open_lock_file(&path, true).map_err(|e| cannot_open(&path, e))?;
    writer.set_len(0)?;
    writer.write_all(format!("{}\n", std::process::id()).as_bytes())?;
    Ok(held)
}

/// Why the lock file at `path` could not be opened, naming it and saying
/// what to do. The usual cause: `latch serve` once ran as root (by hand,
/// or before `User=` was set in the unit) and left a lock file only root
/// may open, so every start of the service's user fails there.
fn cannot_open(path: &Path, error: io::Error) -> io::Error {
    let fix = match fs::symlink_metadata(path) {
        Ok(meta) if !meta.is_file() => "; remove it (latch makes it anew)".to_string(),
        Ok(meta) if error.kind() == io::ErrorKind::PermissionDenied => {
            let runs_as = sys::effective_uid();
            if meta.uid() == runs_as {
                format!("; it is mode {:04o}: chmod 600 it", meta.mode() & 0o7777)
            } else {
                format!(
                    "; it belongs to uid {}, and latch runs as uid {runs_as}: \
                     chown it (and the dir) to the user latch runs as",
                    meta.uid()
                )
            }
        }
        _ => String::new(),
    };
    io::Error::new(
        error.kind(),
        format!("cannot open its lock file {}: {error}{fix}", path.display()),
    )
}

/// Opens the lock file, never through a symlink nor blocking on a FIFO,
/// and only if it is a regular file.
fn open_lock_file(path: &Path, write: bool) -> io::Result<File> {
    let file = OpenOptions::new()
        .read(!write)
        .write(write)
        .create(write)
        .truncate(false)
        .mode(0o600)
        .custom_flags(O_NOFOLLOW | O_NONBLOCK)
        .open(path)?;
    if !file.metadata()?.is_file() {
        return Err(io::Error::other("not a regular file"));
    }
    Ok(file)
}

/// Makes sure the reserve holds a whole epochs file of `epochs_len` bytes
/// plus a margin, written as zeros (a sparse file would reserve nothing).
/// Best effort: on a full disk it keeps what it could write, and the next
/// sweep tries again.
pub fn fill_reserve(dir: &Path, epochs_len: u64) -> io::Result<()> {
    let target = epochs_len.saturating_add(RESERVE_MARGIN);
    let mut file = OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o600)
        .custom_flags(O_NOFOLLOW | O_NONBLOCK)
        .open(dir.join(RESERVE_FILE))?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(io::Error::other(format!(
            "{RESERVE_FILE} is not a regular file"
        )));
    }
    let zeros = [0u8; 4096];
    let mut len = meta.len();
    let mut result = Ok(());
    while len < target {
        if let Err(e) = file.write_all(&zeros) {
            result = Err(e);
            break;
        }
        len += zeros.len() as u64;
    }
    // Allocated for certain once synced, even where allocation is delayed.
    file.sync_all().and(result)
}

/// Deletes the reserve, giving its blocks and inode back to the file
/// system; `false` when there was none.
pub fn release_reserve(dir: &Path) -> bool {
    fs::remove_file(dir.join(RESERVE_FILE)).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir() -> std::path::PathBuf {
        let mut bytes = [0u8; 8];
        getrandom::fill(&mut bytes).unwrap();
        let dir = std::env::temp_dir().join(format!(
            "latch-dir-test-{}",
            crate::http::encoding::hex(&bytes)
        ));
        prepare(&dir).unwrap();
        dir
    }

    #[test]
    fn a_second_lock_on_one_dir_is_refused_naming_the_holder() {
        let dir = temp_dir();
        let held = lock(&dir).unwrap();
        let refused = lock(&dir).unwrap_err().to_string();
        assert!(
            refused.contains(&format!("process {}", std::process::id())),
            "{refused}"
        );
        drop(held);
        assert!(lock(&dir).is_ok(), "free again once the holder closes it");
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn the_reserve_is_filled_and_released() {
        let dir = temp_dir();
        fill_reserve(&dir, 100).unwrap();
        let len = fs::metadata(dir.join(RESERVE_FILE)).unwrap().len();
        assert!(len >= RESERVE_MARGIN + 100, "{len}");
        assert!(release_reserve(&dir));
        assert!(!release_reserve(&dir));
        fs::remove_dir_all(dir).unwrap();
    }
}
