//! `--trace`: for every request, a numbered table on standard error of what
//! latch saw, decided and did, in the spirit of a textbook's execution
//! table. It shows the request line and the headers that matter, the
//! session as loaded, each step a handler took, what changed in
//! `sessions/`, and the response. Secrets (cookie values, CSRF tokens,
//! `_auth_hash`) are cut to their first characters; passwords never appear.
//!
//! Off, it costs a failed task-local lookup per row: the closure that would
//! format the row is never called.

use std::cell::RefCell;
use std::future::Future;

use crate::log::cut;

tokio::task_local! {
    static ROWS: RefCell<Vec<(String, String)>>;
}

/// Runs one request's future with a table to write to; returns its output
/// and the rows gathered.
pub async fn collect<F: Future>(request: F) -> (F::Output, Vec<(String, String)>) {
    let (output, rows) = ROWS
        .scope(RefCell::new(Vec::new()), async {
            let output = request.await;
            (output, ROWS.with(|rows| rows.take()))
        })
        .await;
    (output, rows)
}

/// Adds a row, if this request is traced. `detail` runs only then.
pub fn row(label: &str, detail: impl FnOnce() -> String) {
    let _ = ROWS.try_with(|rows| rows.borrow_mut().push((label.to_owned(), detail())));
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

/// A session record as JSON, with `_csrf` and `_auth_hash` shortened.
pub fn record_json(record: &crate::sessions::Record) -> String {
    let mut shown = record.clone();
    for key in [crate::sessions::CSRF, crate::sessions::AUTH_HASH] {
        if let Some(value) = shown.get_str(key).map(short) {
            shown.set_str(key, &value);
        }
    }
    serde_json::to_string(&shown).unwrap_or_default()
}

/// The longest line of the table, in bytes: a request line or a header
/// value is the client's to choose, and the log must stay bounded.
const MAX_LINE: usize = 256;

/// The table: one numbered row per line, labels in a column, each line cut
/// to `MAX_LINE`.
pub fn render(title: &str, rows: &[(String, String)]) -> String {
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
        let rows = vec![("request".to_owned(), format!("GET /{long}\nhost: {long}"))];
        let table = render(&format!("GET /{long}"), &rows);
        assert_eq!(table.lines().count(), 3, "{table}");
        for line in table.lines() {
            assert!(line.len() < MAX_LINE + 32, "{line}");
            assert!(line.ends_with('…'), "{line}");
        }
    }

    #[test]
    fn rows_outside_a_traced_request_cost_nothing() {
        let mut called = false;
        row("x", || {
            called = true;
            String::new()
        });
        assert!(!called);
    }

    #[tokio::test]
    async fn rows_inside_a_traced_request_are_collected_in_order() {
        let ((), rows) = collect(async {
            row("one", || "a".into());
            row("two", || "b".into());
        })
        .await;
        assert_eq!(
            rows,
            vec![("one".into(), "a".into()), ("two".into(), "b".into())]
        );
    }
}
