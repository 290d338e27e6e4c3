//! Standard error as latch's log: event lines (login, logout, errors) are
//! written at once; access lines (one per request) are gathered in memory
//! and written together every `FLUSH_INTERVAL`, or sooner when many pile
//! up. A `write(2)` per request, and the wake-up of whoever reads the log,
//! cost more than the request itself on a busy server (profiled with
//! `perf record -e cpu-clock`: pipe writes and wake-ups led the kernel time).
//!
//! Every event line first writes out the access lines gathered before it,
//! so the log keeps the order in which things happened.
//!
//! A value a client chose (a path, a method, a user name) passes `cut`
//! before it reaches a line: one request must not be able to write more
//! than about a kilobyte of log, or a few connections could fill a disk
//! (a 60 KiB path, logged whole, made 8 connections write 200 MiB/s).

use std::fmt::{Arguments, Write as _};
use std::io::Write as _;
use std::sync::Mutex;
use std::time::Duration;

/// The longest path `cut` lets through to a log line, in bytes.
pub const MAX_PATH: usize = 200;
/// The longest other client-chosen value (a method, a user name), in bytes.
pub const MAX_VALUE: usize = 64;

/// How long an access line may wait in memory.
pub const FLUSH_INTERVAL: Duration = Duration::from_millis(100);
/// Write out early past this many bytes, so memory stays small.
const MAX_BUFFERED: usize = 32 * 1024;

static BUFFER: Mutex<String> = Mutex::new(String::new());

/// `text` as it may appear in a log line: at most `max` bytes, cut on a
/// character boundary, the cut marked with `…` (so a cut value never
/// passes for the whole one).
pub fn cut(text: &str, max: usize) -> std::borrow::Cow<'_, str> {
    if text.len() <= max {
        return text.into();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end]).into()
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_values_pass_whole_and_a_cut_is_marked_and_never_splits_a_character() {
        for (text, max, shown) in [
            ("/style.css", MAX_PATH, "/style.css"),
            ("", 0, ""),
            ("abc", 3, "abc"),
            ("abcdef", 3, "abc…"),
            ("abc", 0, "…"),
            // "é" is two bytes: a cut at 3 would fall inside the second one.
            ("éé", 3, "é…"),
            ("€", 2, "…"),
            ("a€", 3, "a…"),
        ] {
            assert_eq!(cut(text, max), shown, "{text:?} at {max}");
        }
        let long = "a".repeat(60 * 1024);
        assert_eq!(cut(&long, MAX_PATH).len(), MAX_PATH + "…".len());
    }
}
