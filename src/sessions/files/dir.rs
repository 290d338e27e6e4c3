//! The sessions dir as a place on disk, apart from what the sessions in it
//! mean: making it (0700), reading a file in it without trusting what
//! sits under the name, the one-server lock, and the space reserve that
//! lets "sign out everywhere" commit on a full disk.
//! (docs/contract.md, "Sessions".)

use std::fs::{self, DirBuilder, File, Metadata, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{DirBuilderExt, FileTypeExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

use super::cache::FileVersion;
use crate::os::sys::{self, ELOOP, ENXIO, O_NOFOLLOW, O_NONBLOCK};

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

/// What `read_regular` found under a name.
pub(super) enum Found {
    /// A regular file within the size limit: its bytes and version.
    File(Vec<u8>, FileVersion),
    /// Something that must not be read as a file: why.
    Refused(String),
}

/// Reads the file at `path` without trusting what is there:
/// 1. open it with `O_NOFOLLOW` (a symlink is refused, so a link cannot
///    make another file count as a session) and `O_NONBLOCK` (opening a
///    FIFO returns at once instead of waiting for a writer forever);
/// 2. `fstat` the open file: only a regular file of at most `max_len`
///    bytes is read (a FIFO, socket, device or directory is refused);
/// 3. read at most `max_len` bytes, refusing a file that grew meanwhile.
///
/// A missing file is `Err` of kind `NotFound`.
pub(super) fn read_regular(path: &Path, max_len: u64) -> io::Result<Found> {
    // 1.
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(O_NOFOLLOW | O_NONBLOCK)
        .open(path);
    let mut file = match file {
        Ok(file) => file,
        Err(e) if e.raw_os_error() == Some(ELOOP) => {
            return Ok(Found::Refused("a symbolic link".into()))
        }
        Err(e) if e.raw_os_error() == Some(ENXIO) => {
            return Ok(Found::Refused("a socket or device".into()))
        }
        Err(e) => return Err(e),
    };
    // 2.
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Ok(Found::Refused(format!(
            "not a regular file ({})",
            kind(&meta)
        )));
    }
    if meta.len() > max_len {
        return Ok(Found::Refused(format!(
            "{} bytes, over the {max_len}-byte limit",
            meta.len()
        )));
    }
    // 3. One `read` into a buffer a byte larger than the file: a short
    //    read of a regular file is its end, so the usual case costs open,
    //    fstat, one read and close (`fs::read` reads once more to see the
    //    end; profiled, these calls were most of a page view's kernel
    //    time). Only a file that grew since the fstat is read on.
    let want = meta.len().min(max_len) as usize + 1;
    let mut bytes = vec![0; want];
    let n = loop {
        match file.read(&mut bytes) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            other => break other?,
        }
    };
    bytes.truncate(n);
    if n == want {
        (&mut file)
            .take(max_len + 1 - n as u64)
            .read_to_end(&mut bytes)?;
    }
    if bytes.len() as u64 > max_len {
        return Ok(Found::Refused(format!("over the {max_len}-byte limit")));
    }
    Ok(Found::File(bytes, FileVersion::of(&meta)))
}

/// What kind of thing a non-regular entry is, for the log.
fn kind(meta: &Metadata) -> &'static str {
    let t = meta.file_type();
    if t.is_dir() {
        "a directory"
    } else if t.is_fifo() {
        "a FIFO"
    } else if t.is_socket() {
        "a socket"
    } else if t.is_char_device() || t.is_block_device() {
        "a device"
    } else {
        "not a file"
    }
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
    drop(open_lock_file(&path, true)?);
    let mut held = open_lock_file(&path, false)?;
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
    let mut writer = open_lock_file(&path, true)?;
    writer.set_len(0)?;
    writer.write_all(format!("{}\n", std::process::id()).as_bytes())?;
    Ok(held)
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
        return Err(io::Error::other(format!(
            "{} is not a regular file",
            path.display()
        )));
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
    fn a_regular_file_is_read_and_anything_else_refused() {
        let dir = temp_dir();
        fs::write(dir.join("small"), b"{}").unwrap();
        assert!(matches!(
            read_regular(&dir.join("small"), 10),
            Ok(Found::File(bytes, _)) if bytes == b"{}"
        ));
        fs::write(dir.join("large"), [b' '; 11]).unwrap();
        std::os::unix::fs::symlink(dir.join("small"), dir.join("link")).unwrap();
        fs::create_dir(dir.join("subdir")).unwrap();
        for name in ["large", "link", "subdir"] {
            assert!(
                matches!(read_regular(&dir.join(name), 10), Ok(Found::Refused(_))),
                "{name}"
            );
        }
        let missing = read_regular(&dir.join("missing"), 10).map(|_| ());
        assert_eq!(missing.map_err(|e| e.kind()), Err(io::ErrorKind::NotFound));
        fs::remove_dir_all(dir).unwrap();
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
