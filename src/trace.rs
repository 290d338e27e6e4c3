//! `--trace`: for every request, a numbered table on standard error of what
//! latch saw, decided and did, in the spirit of a textbook's execution
//! table. It shows the request line and the headers that matter, the
//! session as loaded, each step a handler took, what changed in the store,
//! and the response. Secrets (cookie values, CSRF tokens, `_auth_hash`) are
//! cut to their first characters; passwords never appear.
//!
//! A row carries a value that says what happened (an outcome type's
//! `Display`, or `format_args!` over the values just used), formatted only
//! when the request is traced. Off, a row costs two failed thread-local
//! lookups and nothing is formatted.
//!
//! The table belongs to the request's task; work the request hands to the
//! blocking pool takes it along (`carry`, used by `os::blocking`), so a row
//! written anywhere in the request's work reaches the table.

use std::cell::RefCell;
use std::fmt::Display;
use std::future::Future;
use std::sync::{Arc, Mutex};

use crate::log::cut;

/// One row: a label and what happened, possibly on several lines.
pub type Row = (&'static str, String);

/// One request's rows, shared with the blocking work it starts.
type Table = Arc<Mutex<Vec<Row>>>;

tokio::task_local! {
    static TABLE: Table;
}

thread_local! {
    /// The table of the request whose blocking work runs on this thread.
    static LENT: RefCell<Option<Table>> = const { RefCell::new(None) };
}

/// Runs one request's future with a table to write to; returns its output
/// and the rows gathered.
pub async fn collect<F: Future>(request: F) -> (F::Output, Vec<Row>) {
    let table = Table::default();
    let output = TABLE.scope(Arc::clone(&table), request).await;
    let rows = std::mem::take(&mut *lock(&table));
    (output, rows)
}

/// Adds a row, if this request is traced. `detail` is formatted only then.
pub fn row(label: &'static str, detail: impl Display) {
    let push = |table: &Table| lock(table).push((label, detail.to_string()));
    if TABLE.try_with(push).is_err() {
        LENT.with(|lent| {
            if let Some(table) = lent.borrow().as_ref() {
                push(table);
            }
        });
    }
}

/// `log_event!("…")`: one event line (login, logout, a fault), written to
/// standard error at once (`log::event`) and, when the request is traced,
/// as a row of its table where it happened (`event`). Modules bring it in
/// with `use crate::log_event;`.
#[macro_export]
macro_rules! log_event {
    ($($arg:tt)*) => {
        $crate::trace::event(format_args!($($arg)*))
    };
}

/// An event line (`log_event!`): written to the log at once, and, when
/// the request is traced, as a row of its table too, where it happened.
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
struct Lent(Option<Table>);

impl Drop for Lent {
    fn drop(&mut self) {
        LENT.with(|lent| *lent.borrow_mut() = self.0.take());
    }
}

fn lock(table: &Table) -> std::sync::MutexGuard<'_, Vec<Row>> {
    table.lock().unwrap_or_else(|p| p.into_inner())
}

/// The first four characters of a secret and an ellipsis: enough to tell
/// two apart in a trace, far too little to use.
pub fn short(secret: &str) -> String {
    let head: String = secret.chars().take(4).collect();
    if head.len() == secret.len() && secret.len() < 4 {
        return "…".into();
    }
    format!("{head}…")
}

/// A `Cookie` or `Set-Cookie` line with every cookie value shortened.
pub fn cookie_line(line: &str) -> String {
    line.split(';')
        .map(|part| match part.split_once('=') {
            Some((name, value)) if !is_attribute(name) => format!("{name}={}", short(value)),
            _ => part.to_owned(),
        })
        .collect::<Vec<_>>()
        .join(";")
}

fn is_attribute(name: &str) -> bool {
    let name = name.trim().to_ascii_lowercase();
    matches!(
        name.as_str(),
        "path" | "max-age" | "samesite" | "expires" | "domain"
    )
}

/// The longest line of the table, in bytes: a request line or a header
/// value is the client's to choose, and the log must stay bounded.
const MAX_LINE: usize = 256;

/// The table: one numbered row per line, labels in a column, each line cut
/// to `MAX_LINE`.
pub fn render(title: &str, rows: &[Row]) -> String {
    let mut out = format!("trace {}\n", cut(title, MAX_LINE));
    for (n, (label, detail)) in rows.iter().enumerate() {
        let mut lines = detail.lines().map(|line| cut(line, MAX_LINE));
        out.push_str(&format!(
            "  {:>2}  {label:<12} {}\n",
            n + 1,
            lines.next().unwrap_or_default()
        ));
        for more in lines {
            out.push_str(&format!("      {:<12} {more}\n", ""));
        }
    }
    out.pop();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_cut_short() {
        assert_eq!(short("AX-SecA7HPgkfB_P3hr_cIbNzFg"), "AX-S…");
        assert_eq!(short("ab"), "…");
        assert_eq!(
            cookie_line("sid=AX-SecA7HPgkfB; Path=/; HttpOnly; SameSite=Lax; Max-Age=60"),
            "sid=AX-S…; Path=/; HttpOnly; SameSite=Lax; Max-Age=60"
        );
        assert_eq!(
            cookie_line("theme=dark; sid=abcdefgh"),
            "theme=dark…; sid=abcd…"
        );
    }

    #[test]
    fn every_line_of_the_table_is_bounded() {
        let long = "x".repeat(60 * 1024);
        let rows = vec![("request", format!("GET /{long}\nhost: {long}"))];
        let table = render(&format!("GET /{long}"), &rows);
        assert_eq!(table.lines().count(), 3, "{table}");
        for line in table.lines() {
            assert!(line.len() < MAX_LINE + 32, "{line}");
            assert!(line.ends_with('…'), "{line}");
        }
    }

    /// Counts the times it is formatted.
    struct Counted<'a>(&'a std::cell::Cell<u32>);

    impl Display for Counted<'_> {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            self.0.set(self.0.get() + 1);
            f.write_str("counted")
        }
    }

    #[test]
    fn rows_outside_a_traced_request_are_never_formatted() {
        let formatted = std::cell::Cell::new(0);
        row("x", Counted(&formatted));
        assert_eq!(formatted.get(), 0);
    }

    #[tokio::test]
    async fn rows_inside_a_traced_request_are_collected_in_order() {
        let ((), rows) = collect(async {
            row("one", "a");
            row("two", format_args!("{}", "b"));
        })
        .await;
        assert_eq!(rows, vec![("one", "a".into()), ("two", "b".into())]);
    }

    #[tokio::test]
    async fn rows_written_on_the_blocking_pool_reach_the_table_in_order() {
        let ((), rows) = collect(async {
            row("before", "async");
            let work = carry(|| row("inside", "blocking"));
            tokio::task::spawn_blocking(work).await.unwrap();
            row("after", "async");
        })
        .await;
        let labels: Vec<&str> = rows.iter().map(|(label, _)| *label).collect();
        assert_eq!(labels, ["before", "inside", "after"]);
        // The thread is lent the table only while the work runs.
        let later = tokio::task::spawn_blocking(|| LENT.with(|lent| lent.borrow().is_none()));
        assert!(later.await.unwrap());
    }
}
