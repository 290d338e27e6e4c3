//! One traced request as it ended: its steps, what changed, its answer;
//! and its text on standard error: the whole table (`--trace`), or its
//! first line alone (`--trace=summary`), one line per request, so that a
//! walk through the site reads as a lesson's execution table.

use std::fmt::Write;

use super::{Changed, CookieSet, Mode, Row, Table, MAX_LINE};
use crate::log::cut;

/// The most text one request's steps keep, in bytes: a request line or a
/// header is the client's to choose, and `/_trace` keeps many requests.
const MAX_STEPS: usize = 16 * 1024;

/// One request, traced.
#[derive(Debug)]
pub struct Traced {
    /// `POST /logout`.
    pub request: String,
    /// The answer in a few words: `303 See Other → GET /`.
    pub response: String,
    /// The steps in the order they ran, each line at most `MAX_LINE`.
    pub rows: Vec<Row>,
    /// The variable tracker: before → after.
    pub changed: Changed,
}

impl Traced {
    /// The request `request` (`POST /logout`) as it ended: `table` as it
    /// ran, the session cookie it sent (cut) and what the answer did to
    /// that cookie, and the answer in a few words.
    pub fn new(
        request: &str,
        table: Table,
        sent: Option<String>,
        set: CookieSet,
        response: String,
    ) -> Traced {
        Traced {
            request: cut(request, MAX_LINE).into_owned(),
            response,
            rows: bounded(table.rows),
            changed: table.tracker.finish(sent, set),
        }
    }

    /// The execution table's two middle columns: signed in before →
    /// after, and the session before → after by label (`rewritten` when
    /// it was written in place).
    pub fn columns(&self) -> (String, String) {
        if !self.changed.looked() {
            return ("(not read)".to_owned(), "(not read)".to_owned());
        }
        let [(_, user, user_after), (_, session, session_after), ..] = self.changed.variables();
        let mut session = format!("{session} → {session_after}");
        if self.changed.rewritten() {
            session.push_str(" rewritten");
        }
        (format!("{user} → {user_after}"), session)
    }

    /// The text for standard error: `trace` and the summary line (the
    /// request, signed in before → after, the session before → after, the
    /// answer), then (`Full`) one numbered row per step, labels in a
    /// column, the `changed` block last.
    pub fn render(&self, mode: Mode) -> String {
        let (signed_in, session) = self.columns();
        let summary = format!(
            "{:<15} signed in {signed_in:<14} session {session:<28} {}",
            self.request, self.response
        );
        let mut out = format!("trace {}", cut(&summary, MAX_LINE));
        if mode == Mode::Summary {
            return out;
        }
        let changed = self.changed.to_string();
        let rows = self.rows.iter().map(|(l, d)| (*l, d.as_str()));
        for (n, (label, detail)) in rows.chain([("changed", changed.as_str())]).enumerate() {
            let mut lines = detail.lines().map(|line| cut(line, MAX_LINE));
            let first = lines.next().unwrap_or_default();
            let _ = write!(out, "\n  {:>2}  {label:<12} {first}", n + 1);
            for more in lines {
                let _ = write!(out, "\n      {:<12} {more}", "");
            }
        }
        out
    }
}

/// The rows with each line cut to `MAX_LINE`, and no more than
/// `MAX_STEPS` bytes in all (a last row says how many were left out).
fn bounded(rows: Vec<Row>) -> Vec<Row> {
    let count = rows.len();
    let mut kept = Vec::with_capacity(count);
    let mut total = 0;
    for (label, detail) in rows {
        let detail: Vec<_> = detail.lines().map(|l| cut(l, MAX_LINE)).collect();
        let detail = detail.join("\n");
        total += detail.len();
        if total > MAX_STEPS {
            let left = count - kept.len();
            kept.push((
                "cut",
                format!("{left} more rows: more than {MAX_STEPS} bytes for one request"),
            ));
            break;
        }
        kept.push((label, detail));
    }
    kept
}

#[cfg(test)]
mod tests {
    use super::super::tracker::tests::seen;
    use super::super::{Change, Tracker};
    use super::*;

    fn traced(rows: Vec<Row>, tracker: Tracker, set: CookieSet) -> Traced {
        let table = Table { rows, tracker };
        Traced::new("POST /x", table, Some("abcd…".into()), set, "200 OK".into())
    }

    #[test]
    fn every_line_of_the_table_is_bounded() {
        let long = "x".repeat(60 * 1024);
        let rows = vec![("request", format!("GET /{long}\nhost: {long}"))];
        let table = Table {
            rows,
            ..Table::default()
        };
        let traced = Traced::new(
            &format!("GET /{long}"),
            table,
            None,
            CookieSet::Kept,
            "404 Not Found".into(),
        );
        let text = traced.render(Mode::Full);
        assert_eq!(text.lines().count(), 5, "{text}");
        for line in text.lines().take(3) {
            assert!(line.len() < MAX_LINE + 32, "{line}");
            assert!(line.ends_with('…'), "{line}");
        }
    }

    #[test]
    fn a_request_keeps_at_most_its_share_of_memory() {
        let rows = (0..1000).map(|n| ("row", format!("{n:>100}"))).collect();
        let traced = traced(rows, Tracker::default(), CookieSet::Kept);
        let kept: usize = traced.rows.iter().map(|(_, d)| d.len()).sum();
        assert!(kept <= MAX_STEPS + 100, "{kept}");
        assert!(traced.rows.last().unwrap().1.ends_with("for one request"));
    }

    #[test]
    fn the_summary_is_the_tables_first_line_and_all_of_summary_mode() {
        let mut tracker = Tracker::default();
        tracker.before(|| Some(seen("aaaaaaaaaaaa", Some("alice"), "dark")));
        tracker.changed(Change::Created(seen("bbbbbbbbbbbb", None, "dark")));
        let set = CookieSet::New {
            shown: "Mrv0…".into(),
            label: "bbbbbbbbbbbb".into(),
        };
        let traced = traced(vec![("form", "csrf_token=wTvG…".into())], tracker, set);
        let summary = traced.render(Mode::Summary);
        assert_eq!(
            summary,
            "trace POST /x         signed in alice → -      \
             session aaaaaaaaaaaa → bbbbbbbbbbbb  200 OK"
        );
        let full = traced.render(Mode::Full);
        assert!(
            full.starts_with(&format!("{summary}\n   1  form ")),
            "{full}"
        );
        assert!(full.contains("\n   2  changed      signed in    alice → -"));
    }
}
