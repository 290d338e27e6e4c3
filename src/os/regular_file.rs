//! Reading a file whose name someone else may have put anything under: a
//! session file, the epochs file, the users file. A FIFO there would hang
//! the reader for ever, a link to `/dev/zero` would fill its memory, so
//! only a regular file of a bounded size is read, and nothing blocks.

use std::fs::{Metadata, OpenOptions};
use std::io::{self, Read};
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::Path;

use libc::{ELOOP, ENXIO, O_NOFOLLOW, O_NONBLOCK};

/// Whether a symlink at the path is followed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Symlinks {
    /// Refused: in a directory latch owns, a link can only be someone
    /// making another file count as one of latch's.
    Refused,
    /// Followed to what it names, which must then be a regular file: an
    /// operator's file is often a link (into `/etc`, a config checkout).
    Followed,
}

/// What `read` found under a name.
pub enum Contents {
    /// A regular file within the size limit: its bytes, and its metadata
    /// as the open file had it.
    File(Vec<u8>, Metadata),
    /// Something that must not be read as a file: why, in a few words.
    Refused(String),
}

/// Reads the file at `path` without trusting what is there:
/// 1. open it with `O_NONBLOCK` (opening a FIFO returns at once instead of
///    waiting for a writer for ever) and, unless `symlinks` says to follow
///    them, `O_NOFOLLOW`;
/// 2. `fstat` the open file: only a regular file of at most `max_len`
///    bytes is read (a FIFO, socket, device or directory is refused);
/// 3. read at most `max_len` bytes, refusing a file that grew meanwhile.
///
/// A missing file is `Err` of kind `NotFound`; other open errors
/// (permissions) come back as they are.
pub fn read(path: &Path, max_len: u64, symlinks: Symlinks) -> io::Result<Contents> {
    // 1.
    let no_follow = match symlinks {
        Symlinks::Refused => O_NOFOLLOW,
        Symlinks::Followed => 0,
    };
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(no_follow | O_NONBLOCK)
        .open(path);
    let mut file = match file {
        Ok(file) => file,
        Err(e) if e.raw_os_error() == Some(ELOOP) && symlinks == Symlinks::Refused => {
            return Ok(Contents::Refused("a symbolic link".into()))
        }
        Err(e) if e.raw_os_error() == Some(ENXIO) => {
            return Ok(Contents::Refused("a socket or device".into()))
        }
        Err(e) => return Err(e),
    };
    // 2.
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Ok(Contents::Refused(format!(
            "not a regular file ({})",
            kind(&meta)
        )));
    }
    if meta.len() > max_len {
        return Ok(Contents::Refused(format!(
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
        return Ok(Contents::Refused(format!("over the {max_len}-byte limit")));
    }
    Ok(Contents::File(bytes, meta))
}

/// What kind of thing a non-regular entry is, for a message.
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn temp_dir() -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "latch-regular-file-test-{}",
            crate::http::encoding::hex(&crate::os::random::random_32()[..8])
        ));
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn refused(found: io::Result<Contents>) -> Option<String> {
        match found {
            Ok(Contents::Refused(why)) => Some(why),
            _ => None,
        }
    }

    #[test]
    fn a_regular_file_is_read_and_anything_else_refused() {
        let dir = temp_dir();
        fs::write(dir.join("small"), b"{}").unwrap();
        assert!(matches!(
            read(&dir.join("small"), 10, Symlinks::Refused),
            Ok(Contents::File(bytes, _)) if bytes == b"{}"
        ));
        fs::write(dir.join("large"), [b' '; 11]).unwrap();
        std::os::unix::fs::symlink(dir.join("small"), dir.join("link")).unwrap();
        fs::create_dir(dir.join("subdir")).unwrap();
        for name in ["large", "link", "subdir"] {
            let path = dir.join(name);
            assert!(
                refused(read(&path, 10, Symlinks::Refused)).is_some(),
                "{name}"
            );
        }
        let missing = read(&dir.join("missing"), 10, Symlinks::Refused).map(|_| ());
        assert_eq!(missing.map_err(|e| e.kind()), Err(io::ErrorKind::NotFound));
        fs::remove_dir_all(dir).unwrap();
    }
}
