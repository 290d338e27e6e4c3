//! The sessions dir as a place on disk, apart from what the sessions in it
//! mean: making it (0700), the one-server lock, and the space reserve that
//! lets "sign out everywhere" commit on a full disk. (Reading a file in it
//! without trusting what sits under the name is `os::regular_file`.)
//! (docs/contract.md, "Sessions".)

use std::fs::{self, DirBuilder, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use libc::{O_NOFOLLOW, O_NONBLOCK};

use crate::http::encoding::hex;
use crate::os::atomic_file::TEMP_PREFIX;
use crate::os::random::random_32;
use crate::os::sys;

/// The lock file a serving process holds (`flock`), holding its pid.
const LOCK_FILE: &str = ".lock";
/// The space reserve: zeros, released when the epochs file cannot be
/// written for lack of space.
const RESERVE_FILE: &str = ".reserve";
/// The reserve holds a whole new epochs file plus this much.
const RESERVE_MARGIN: u64 = 64 * 1024;

/// Creates `dir` 0700 when missing (parents too), and tightens it to 0700
/// when it is wider: a fresh checkout's `sessions/` is 0755, and a listing
/// of session files tells who is active when. A failure says what is
/// wrong and the fix (`unusable`).
pub fn prepare(dir: &Path) -> io::Result<()> {
    let prepared = || {
        DirBuilder::new().recursive(true).mode(0o700).create(dir)?;
        let mode = fs::metadata(dir)?.permissions().mode();
        if mode & 0o077 != 0 {
            fs::set_permissions(dir, fs::Permissions::from_mode(0o700))?;
        }
        Ok(())
    };
    prepared().map_err(|e| unusable(dir, e))
}

/// What `latch check` says of `dir` as the sessions dir: `Ok` with what
/// serve will find, or `Err` in the very words `prepare` (or the first
/// write) would fail with. It changes nothing, but for a probe file made
/// and removed at once (named as a temporary file, which a server removes
/// if it is ever left behind): mode bits say nothing of a read-only mount,
/// and nothing at all to root.
pub fn check(dir: &Path) -> io::Result<String> {
    let meta = match fs::metadata(dir) {
        Ok(meta) => meta,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            let parent = nearest_existing(dir);
            probe_writable(&parent).map_err(|e| unusable(dir, e))?;
            return Ok("serve will create it, mode 0700".into());
        }
        Err(e) => return Err(unusable(dir, e)),
    };
    if !meta.is_dir() {
        return Err(unusable(dir, io::Error::from(io::ErrorKind::AlreadyExists)));
    }
    let mode = meta.permissions().mode() & 0o777;
    let runs_as = sys::effective_uid();
    // Serve tightens a wider dir to 0700, which only its owner (or root)
    // may do.
    if mode & 0o077 != 0 && meta.uid() != runs_as && runs_as != 0 {
        return Err(unusable(dir, io::Error::from_raw_os_error(libc::EPERM)));
    }
    probe_writable(dir).map_err(|e| unusable(dir, e))?;
    let note = match mode & 0o077 {
        0 => "",
        _ => " (serve tightens it to 0700 at start)",
    };
    Ok(format!("writable, mode {mode:04o}{note}"))
}

/// Why `dir` cannot be the sessions dir: the system's words, then the fix,
/// said the same by `serve` and `latch check` (each names the dir before
/// it). `error` is what the system said.
fn unusable(dir: &Path, error: io::Error) -> io::Error {
    let at = nearest_existing(dir);
    let said = match fs::metadata(&at) {
        Ok(meta) if !meta.is_dir() && at == dir => {
            "not a directory: move that file away, or give --sessions a directory".into()
        }
        Ok(meta) if !meta.is_dir() => format!(
            "cannot be created, {} is not a directory: give --sessions another path",
            at.display()
        ),
        _ => match fix(dir, &error) {
            Some(fix) => format!("{error}; {fix}"),
            None => error.to_string(),
        },
    };
    io::Error::new(error.kind(), said)
}

/// What to do when the system refused `error` in the sessions dir `dir`
/// (or where it would be made): the owner or mode to change, or the
/// mount. `None` when there is nothing to say beyond the error.
fn fix(dir: &Path, error: &io::Error) -> Option<String> {
    match error.kind() {
        io::ErrorKind::ReadOnlyFilesystem => {
            Some("remount it read-write, or give --sessions a dir on a writable file system".into())
        }
        io::ErrorKind::PermissionDenied => {
            let at = nearest_existing(dir);
            let meta = fs::metadata(&at).ok()?;
            let (runs_as, owner) = (sys::effective_uid(), meta.uid());
            let shown = at.display();
            Some(match (owner == runs_as, at == dir) {
                (true, _) => format!(
                    "{shown} is mode {:04o}: chmod u+rwx {shown}",
                    meta.mode() & 0o7777
                ),
                (false, true) => format!(
                    "{shown} belongs to uid {owner}, and latch runs as uid {runs_as}: \
                     chown {shown} to the user latch runs as"
                ),
                (false, false) => format!(
                    "{shown} belongs to uid {owner}, and latch runs as uid {runs_as}: \
                     make {} (as uid {owner}) and chown it to the user latch runs as",
                    dir.display()
                ),
            })
        }
        _ => None,
    }
}

/// `dir` if it exists, else its nearest ancestor that does (what a new
/// dir would be created in).
fn nearest_existing(dir: &Path) -> PathBuf {
    // A relative path's last ancestor is "", which never exists: ".".
    dir.ancestors()
        .find(|a| fs::symlink_metadata(a).is_ok())
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
}

/// Creates and removes a file in `dir`.
fn probe_writable(dir: &Path) -> io::Result<()> {
    let probe = dir.join(format!("{TEMP_PREFIX}check-{}", hex(&random_32()[..8])));
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&probe)?;
    fs::remove_file(&probe)
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
    let open_lock_file = |write: bool| {
        let mut options = OpenOptions::new();
        let options = options.read(!write).write(write).create(write);
        open_own_file(&path, options.truncate(false)).map_err(|e| cannot_open(&path, e))
    };
    drop(open_lock_file(true)?);
    let mut held = open_lock_file(false)?;
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
    let mut writer = open_lock_file(true)?;
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
        // No lock file yet, or a read-only mount: the dir is the trouble.
        _ => match path.parent().and_then(|dir| fix(dir, &error)) {
            Some(fix) => format!("; {fix}"),
            None => String::new(),
        },
    };
    io::Error::new(
        error.kind(),
        format!("cannot open its lock file {}: {error}{fix}", path.display()),
    )
}

/// Opens a file latch keeps in the dir (the lock, the reserve) with
/// `options`, mode 0600 when made, never through a symlink nor blocking on
/// a FIFO, and only if it is a regular file.
fn open_own_file(path: &Path, options: &mut OpenOptions) -> io::Result<File> {
    let file = options
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
    let path = dir.join(RESERVE_FILE);
    let mut file = open_own_file(&path, OpenOptions::new().append(true).create(true))?;
    let zeros = [0u8; 4096];
    let mut len = file.metadata()?.len();
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
        let dir = std::env::temp_dir().join(format!("latch-dir-test-{}", hex(&random_32()[..8])));
        prepare(&dir).unwrap();
        dir
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
