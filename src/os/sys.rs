//! The few Unix system calls latch makes that std does not wrap: `flock(2)`,
//! `geteuid(2)` and the `SIGPIPE` disposition. Their flags and error numbers,
//! like the open flags and errors used elsewhere, come from the `libc` crate
//! (which std's own platform code mirrors), so each value is right for the
//! architecture being built, `O_NOFOLLOW` included (arm64 numbers it
//! differently from x86_64).

use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;

/// Takes an exclusive `flock(2)` on `file` without waiting: `Ok(true)` when
/// taken, `Ok(false)` when another open file holds it. The lock lasts as
/// long as the file stays open, and the kernel drops it when the process
/// dies, however it dies: no stale lock to clean up after a crash.
pub fn try_lock_exclusive(file: &File) -> io::Result<bool> {
    loop {
        // SAFETY: flock takes a file descriptor and a flag word and touches
        // no memory of ours; the descriptor stays open for the call since
        // `file` is borrowed.
        let result = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        if result == 0 {
            return Ok(true);
        }
        let error = io::Error::last_os_error();
        match error.raw_os_error() {
            Some(libc::EWOULDBLOCK) => return Ok(false),
            _ if error.kind() == io::ErrorKind::Interrupted => continue,
            _ => return Err(error),
        }
    }
}

/// The user id this process acts as (`geteuid(2)`), to tell an operator
/// whose a file must be.
pub fn effective_uid() -> u32 {
    // SAFETY: geteuid takes nothing, touches no memory and cannot fail.
    unsafe { libc::geteuid() }
}

/// Whether an error means the file system is out of room: no free blocks,
/// no free inodes (both `ENOSPC`), or the owner's quota spent (`EDQUOT`).
pub fn is_out_of_space(error: &io::Error) -> bool {
    matches!(error.raw_os_error(), Some(libc::ENOSPC | libc::EDQUOT))
        || error.kind() == io::ErrorKind::StorageFull
}

/// Lets `SIGPIPE` end the process quietly, as it ends `ls` or `cat`, so that
/// `latch sessions | head` stops when `head` has read enough instead of
/// panicking on the closed pipe. Rust programs start with `SIGPIPE` ignored;
/// only the one-shot commands restore it: the server must see a closed
/// socket as an error to handle, never as a signal that kills it.
pub fn die_quietly_on_closed_stdout() {
    // SAFETY: setting a signal's disposition to its default touches no
    // memory of ours; it is done once, before any thread is started.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}
