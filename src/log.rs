//! Standard error as latch's log: event lines (login, logout, errors) are
//! written at once; access lines (one per request) are gathered in memory
//! and written together every `FLUSH_INTERVAL`, or sooner when many pile
//! up. A `write(2)` per request, and the wake-up of whoever reads the log,
//! cost more than the request itself on a busy server (profiled with
//! `perf record -e cpu-clock`: pipe writes and wake-ups led the kernel time).
//!
//! Every event line first writes out the access lines gathered before it,
//! so the log keeps the order in which things happened.

use std::fmt::{Arguments, Write as _};
use std::io::Write as _;
use std::sync::Mutex;
use std::time::Duration;

/// How long an access line may wait in memory.
pub const FLUSH_INTERVAL: Duration = Duration::from_millis(100);
/// Write out early past this many bytes, so memory stays small.
const MAX_BUFFERED: usize = 32 * 1024;

static BUFFER: Mutex<String> = Mutex::new(String::new());

/// Gathers one access line.
pub fn access(line: Arguments) {
    let mut buffer = lock();
    let _ = buffer.write_fmt(line);
    buffer.push('\n');
    if buffer.len() >= MAX_BUFFERED {
        write_out(&mut buffer);
    }
}

/// Writes one event line now, after the access lines gathered before it.
pub fn event(line: Arguments) {
    let mut buffer = lock();
    let _ = buffer.write_fmt(line);
    buffer.push('\n');
    write_out(&mut buffer);
}

/// Writes out whatever is gathered (every `FLUSH_INTERVAL`, and at exit).
pub fn flush() {
    let mut buffer = lock();
    if !buffer.is_empty() {
        write_out(&mut buffer);
    }
}

fn write_out(buffer: &mut String) {
    let _ = std::io::stderr().lock().write_all(buffer.as_bytes());
    buffer.clear();
}

fn lock() -> std::sync::MutexGuard<'static, String> {
    BUFFER.lock().unwrap_or_else(|p| p.into_inner())
}
