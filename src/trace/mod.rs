//! `--trace`: for every request, a numbered table on standard error of what
//! latch saw, decided and did, in the spirit of a textbook's execution
//! table, ending with what changed, before → after (`tracker`); its first
//! line alone with `--trace=summary` (`traced`); a browser's own recent
//! requests at `GET /_trace` (`recent`). What a table holds and what it
//! never shows: docs/contract.md, "Tracing".
//!
//! A row carries a value that says what happened (an outcome type's
//! `Display`, or `format_args!` over the values just used), formatted only
//! when the request is traced. Off, a row costs two failed thread-local
//! lookups and nothing is formatted.
//!
//! The table belongs to the request's task; work the request hands to the
//! blocking pool takes it along (`carry`, used by `os::blocking`), so a row
//! written anywhere in the request's work reaches the table.

mod recent;
mod traced;
mod tracker;

use std::cell::RefCell;
use std::fmt::Display;
use std::future::Future;
use std::sync::{Arc, Mutex};

pub use recent::{Recent, COOKIE_MAX_AGE, PER_BROWSER};
pub use traced::Traced;
pub use tracker::{before_after, Change, Changed, CookieSet, Place, Seen, Tracker};

/// How much `--trace` prints.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// `--trace`: each request's whole table.
    Full,
    /// `--trace=summary`: one line per request.
    Summary,
}

/// The longest line of a table, in bytes: a request line or a header value
/// is the client's to choose, and the log must stay bounded.
const MAX_LINE: usize = 256;

/// One row: a label and what happened, possibly on several lines.
pub type Row = (&'static str, String);

/// One request's rows and its variable tracker, as gathered while it ran.
#[derive(Debug, Default)]
pub struct Table {
    pub rows: Vec<Row>,
    pub tracker: Tracker,
}

/// Shared with the blocking work the request starts.
type Shared = Arc<Mutex<Table>>;

tokio::task_local! {
    static TABLE: Shared;
}

thread_local! {
    /// The table of the request whose blocking work runs on this thread.
    static LENT: RefCell<Option<Shared>> = const { RefCell::new(None) };
}

/// Runs one request's future with a table to write to; returns its output
/// and the table gathered.
pub async fn collect<F: Future>(request: F) -> (F::Output, Table) {
    let table = Shared::default();
    let output = TABLE.scope(Arc::clone(&table), request).await;
    let gathered = std::mem::take(&mut *lock(&table));
    (output, gathered)
}

/// Runs `write` on the current request's table, if it is traced.
fn with_table(write: impl FnOnce(&mut Table)) {
    let table = TABLE
        .try_with(Arc::clone)
        .ok()
        .or_else(|| LENT.with(|lent| lent.borrow().clone()));
    if let Some(table) = table {
        write(&mut lock(&table));
    }
}

/// Adds a row, if this request is traced. `detail` is formatted only then.
pub fn row(label: &'static str, detail: impl Display) {
    with_table(|table| table.rows.push((label, detail.to_string())));
}

/// The session the request chose (`auth::session`), for the tracker's
/// "before": `seen` runs only when the request is traced, on its first
/// look.
pub fn session_before(seen: impl FnOnce() -> Option<Seen>) {
    with_table(|table| table.tracker.before(seen));
}

/// A change the store made to a session, for the tracker: `change` runs
/// only when the request is traced.
pub fn session_changed(change: impl FnOnce() -> Change) {
    with_table(|table| table.tracker.changed(change()));
}

/// `log_event!("…")`: one event line (login, logout, a fault), written to
/// standard error at once (`log::event`) and, when the request is traced,
/// as a row of its table where it happened. Modules bring it in with
/// `use crate::log_event;`.
#[macro_export]
macro_rules! log_event {
    ($($arg:tt)*) => {
        $crate::trace::event(format_args!($($arg)*))
    };
}

/// What `log_event!` calls.
pub fn event(line: std::fmt::Arguments) {
    row("log", line);
    crate::log::event(line);
}

/// `work`, made to write its rows to the current request's table on
/// whatever thread it runs (for `tokio::task::spawn_blocking`).
pub fn carry<T>(work: impl FnOnce() -> T) -> impl FnOnce() -> T {
    let table = TABLE.try_with(Arc::clone).ok();
    move || {
        let Some(table) = table else {
            return work();
        };
        let _lent = Lent(LENT.with(|lent| lent.replace(Some(table))));
        work()
    }
}

/// Gives the thread back the table it held before, when the work ends
/// (even by a panic: blocking-pool threads are reused).
struct Lent(Option<Shared>);

impl Drop for Lent {
    fn drop(&mut self) {
        LENT.with(|lent| *lent.borrow_mut() = self.0.take());
    }
}

fn lock(table: &Shared) -> std::sync::MutexGuard<'_, Table> {
    table.lock().unwrap_or_else(|p| p.into_inner())
}

/// A secret cut short: its first characters and an ellipsis, enough to
/// tell two apart in a trace, far too little to use. At most 4 characters
/// and never more than half of it are shown, so something is always cut
/// and the `…` always means it; an empty value stays empty.
pub fn short(secret: &str) -> String {
    let length = secret.chars().count();
    if length == 0 {
        return String::new();
    }
    let head: String = secret.chars().take(4.min(length / 2)).collect();
    format!("{head}…")
}

/// A `Cookie` or `Set-Cookie` line with every cookie value cut short but
/// those of the cookies named in `public` (latch's notice: a fixed word).
/// A cookie latch does not know may be another site's secret on the same
/// host: it is cut too.
pub fn cookie_line(line: &str, public: &[&str]) -> String {
    // A `Set-Cookie`'s attributes after its value (RFC 6265 §4.1.1) are
    // no secret: they stay whole.
    const ATTRIBUTES: [&str; 5] = ["path", "max-age", "samesite", "expires", "domain"];
    line.split(';')
        .map(|part| match part.split_once('=') {
            Some((name, value))
                if !ATTRIBUTES
                    .iter()
                    .any(|a| a.eq_ignore_ascii_case(name.trim()))
                    && !public.contains(&name.trim()) =>
            {
                format!("{name}={}", short(value))
            }
            _ => part.to_owned(),
        })
        .collect::<Vec<_>>()
        .join(";")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_cut_short_and_the_ellipsis_means_a_cut() {
        assert_eq!(short("AX-SecA7HPgkfB_P3hr_cIbNzFg"), "AX-S…");
        assert_eq!(short("abcdefgh"), "abcd…");
        assert_eq!(short("abcd"), "ab…", "a 4-character value is cut too");
        assert_eq!(short("a"), "…");
        assert_eq!(short(""), "");
        assert_eq!(
            cookie_line(
                "sid=AX-SecA7HPgkfB; Path=/; HttpOnly; SameSite=Lax; Max-Age=60",
                &[]
            ),
            "sid=AX-S…; Path=/; HttpOnly; SameSite=Lax; Max-Age=60"
        );
        assert_eq!(
            cookie_line("notice=signed-out; sid=abcdefgh; other=secret", &["notice"]),
            "notice=signed-out; sid=abcd…; other=sec…"
        );
    }

    #[test]
    fn rows_outside_a_traced_request_are_never_formatted() {
        let formatted = std::cell::Cell::new(0);
        row(
            "x",
            std::fmt::from_fn(|f| {
                formatted.set(formatted.get() + 1);
                f.write_str("counted")
            }),
        );
        assert_eq!(formatted.get(), 0);
    }

    #[tokio::test]
    async fn rows_of_a_traced_request_and_its_blocking_work_are_collected_in_order() {
        let ((), table) = collect(async {
            row("before", "async");
            let work = carry(|| row("inside", "blocking"));
            tokio::task::spawn_blocking(work).await.unwrap();
            row("after", format_args!("{}", "async"));
        })
        .await;
        let rows = [
            ("before", "async"),
            ("inside", "blocking"),
            ("after", "async"),
        ];
        assert_eq!(
            table.rows,
            rows.map(|(label, detail)| (label, detail.to_owned()))
        );
        // The thread is lent the table only while the work runs.
        let later = tokio::task::spawn_blocking(|| LENT.with(|lent| lent.borrow().is_none()));
        assert!(later.await.unwrap());
    }
}
