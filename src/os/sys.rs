//! The few Linux system interfaces latch uses that std does not name: open
//! flags, error numbers and `flock(2)`. They are declared here, in one
//! place, rather than pulling in the `libc` crate for a handful of numbers.
//!
//! The values come from the kernel's UAPI headers
//! (`include/uapi/asm-generic/fcntl.h`, `errno-base.h`, `errno.h`,
//! `include/uapi/linux/fcntl.h` via `asm-generic/fcntl.h` for `LOCK_*`). Most
//! are the same on every Linux architecture; `O_NOFOLLOW` is not: arm64
//! overrides it (`arch/arm64/include/uapi/asm/fcntl.h`). latch is built for
//! x86_64 and aarch64 Linux only, and refuses to compile elsewhere rather
//! than run with a wrong flag.

use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::os::raw::c_int;

#[cfg(not(all(
    target_os = "linux",
    any(target_arch = "x86_64", target_arch = "aarch64")
)))]
compile_error!("src/os/sys.rs declares Linux constants for x86_64 and aarch64 only");

/// `open(2)`: fail with `ELOOP` if the last path component is a symlink.
#[cfg(target_arch = "x86_64")]
pub const O_NOFOLLOW: c_int = 0o400_000;
/// `open(2)`: fail with `ELOOP` if the last path component is a symlink.
#[cfg(target_arch = "aarch64")]
pub const O_NOFOLLOW: c_int = 0o100_000;
/// `open(2)`: never wait, e.g. for a FIFO's other end.
pub const O_NONBLOCK: c_int = 0o4000;

/// No such device or address: what `open(2)` of a socket file returns.
pub const ENXIO: c_int = 6;
/// The operation would block: `flock(2)` with `LOCK_NB` on a held lock.
pub const EWOULDBLOCK: c_int = 11;
/// No space left on device (blocks or inodes).
pub const ENOSPC: c_int = 28;
/// Too many levels of symbolic links: `open(2)` with `O_NOFOLLOW` on one.
pub const ELOOP: c_int = 40;
/// Disk quota exceeded.
pub const EDQUOT: c_int = 122;

const LOCK_EX: c_int = 2;
const LOCK_NB: c_int = 4;

extern "C" {
    /// `int flock(int fd, int operation);` from the C library std already
    /// links.
    fn flock(fd: c_int, operation: c_int) -> c_int;
}

/// Takes an exclusive `flock(2)` on `file` without waiting: `Ok(true)` when
/// taken, `Ok(false)` when another open file holds it. The lock lasts as
/// long as the file stays open, and the kernel drops it when the process
/// dies, however it dies: no stale lock to clean up after a crash.
pub fn try_lock_exclusive(file: &File) -> io::Result<bool> {
    loop {
        // SAFETY: flock takes a file descriptor and a flag word and touches
        // no memory of ours; the descriptor stays open for the call since
        // `file` is borrowed.
        let result = unsafe { flock(file.as_raw_fd(), LOCK_EX | LOCK_NB) };
        if result == 0 {
            return Ok(true);
        }
        let error = io::Error::last_os_error();
        match error.raw_os_error() {
            Some(EWOULDBLOCK) => return Ok(false),
            _ if error.kind() == io::ErrorKind::Interrupted => continue,
            _ => return Err(error),
        }
    }
}

/// Whether an error means the file system is out of room: no free blocks,
/// no free inodes (both `ENOSPC`), or the owner's quota spent (`EDQUOT`).
pub fn is_out_of_space(error: &io::Error) -> bool {
    matches!(error.raw_os_error(), Some(ENOSPC | EDQUOT))
        || error.kind() == io::ErrorKind::StorageFull
}
