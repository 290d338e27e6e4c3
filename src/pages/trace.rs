//! `GET /_trace`: this browser's recent requests, as `--trace` saw them,
//! laid out as a lesson's execution table (one row per request: the
//! request, signed in before → after, the session before → after, the
//! answer), each row opening into its steps and its variable tracker.
//! `<details>`, so it opens without a script (the CSP allows none inline).
//! Every value is escaped: a trace holds what clients sent.

use std::fmt::Write;
use std::sync::Arc;

use super::{escape_html, layout, Viewer};
use crate::trace::{before_after, Changed, Traced, PER_BROWSER};

/// The page for `requests`, oldest first.
pub fn page(viewer: &Viewer, requests: &[Arc<Traced>]) -> String {
    layout("Trace", viewer, |main| {
        let _ = write!(
            main,
            "<div class=\"trace\">\n<h1>What latch did for this browser</h1>\n\
             <p>The last requests this browser made (up to {PER_BROWSER}), oldest first, \
             as <code>latch --trace</code> saw them. Open one to see each step it took and \
             what changed.</p>\n\
             <p class=\"notice\">Only this browser sees these: latch tells browsers apart by \
             a cookie of its own, <code>trace</code>, random and out of reach of scripts. \
             Anyone who can reach this server sees their own requests here, and its terminal \
             shows everyone's: <code>--trace</code> is for learning on your own machine, \
             never for production.</p>\n"
        );
        if requests.is_empty() {
            main.push_str(
                "<p id=\"no-requests\">No requests from this browser yet. Sign in, change the \
                 theme, sign out, then come back here.</p>\n</div>\n",
            );
            return;
        }
        main.push_str(
            "<div class=\"columns\" aria-hidden=\"true\"><span>#</span><span>request</span>\
             <span>signed in</span><span>session</span><span>answer</span></div>\n\
             <ol class=\"requests\">\n",
        );
        for (n, traced) in requests.iter().enumerate() {
            request(main, n + 1, traced);
        }
        main.push_str("</ol>\n</div>\n");
    })
}

/// One request: its row of the execution table, then, opened, its steps
/// and its variable tracker.
fn request(html: &mut String, n: usize, traced: &Traced) {
    let (signed_in, session) = traced.columns();
    let _ = write!(
        html,
        "<li><details>\n<summary><span class=\"n\">{n}</span>\
         <span class=\"request\"><code>{request}</code></span>\
         <span data-label=\"signed in\">{signed_in}</span>\
         <span data-label=\"session\"><code>{session}</code></span>\
         <span class=\"answer\">{response}</span></summary>\n",
        request = escape_html(&traced.request),
        signed_in = escape_html(&signed_in),
        session = escape_html(&session),
        response = escape_html(&traced.response),
    );
    steps(html, traced);
    tracker(html, &traced.changed);
    html.push_str("</details></li>\n");
}

/// The step table: one row per step, in the order they ran.
fn steps(html: &mut String, traced: &Traced) {
    html.push_str(
        "<h2>Steps</h2>\n<table class=\"steps\">\n\
         <thead><tr><th>#</th><th>step</th><th>what happened</th></tr></thead>\n<tbody>\n",
    );
    for (n, (label, detail)) in traced.rows.iter().enumerate() {
        let _ = writeln!(
            html,
            "<tr><td>{}</td><th scope=\"row\">{}</th><td><pre>{}</pre></td></tr>",
            n + 1,
            escape_html(label),
            escape_html(detail),
        );
    }
    html.push_str("</tbody>\n</table>\n");
}

/// The variable tracker: each value before and after, what happened in
/// the store, and the record before and after a write.
fn tracker(html: &mut String, changed: &Changed) {
    html.push_str("<h2>What changed</h2>\n");
    if !changed.looked() {
        let _ = writeln!(
            html,
            "<p>Nothing: this request did not look its session up. The session cookie: \
             <code>{}</code>.</p>",
            escape_html(&before_after(&changed.cookie.0, &changed.cookie.1)),
        );
        return;
    }
    html.push_str(
        "<table class=\"changed\">\n\
         <thead><tr><th></th><th>before</th><th>after</th></tr></thead>\n<tbody>\n",
    );
    for (name, before, after) in changed.variables() {
        let class = if before == after { "same" } else { "new" };
        let _ = writeln!(
            html,
            "<tr class=\"{class}\"><th scope=\"row\">{}</th><td><code>{}</code></td>\
             <td><code>{}</code></td></tr>",
            escape_html(name),
            escape_html(&before),
            escape_html(&after),
        );
    }
    html.push_str("</tbody>\n</table>\n<p>In the store:</p>\n<ul class=\"store\">\n");
    for line in changed.stored() {
        let _ = writeln!(html, "<li><code>{}</code></li>", escape_html(&line));
    }
    html.push_str("</ul>\n");
    if let Some((before, after)) = changed.records() {
        let _ = writeln!(
            html,
            "<p>The record before</p>\n<pre class=\"record\">{}</pre>\n\
             <p>and after</p>\n<pre class=\"record\">{}</pre>",
            escape_html(&before),
            escape_html(&after),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trace::{CookieSet, Table};

    #[test]
    fn every_value_is_escaped() {
        let table = Table {
            rows: vec![("request", "GET /<script>alert(1)</script>".into())],
            ..Table::default()
        };
        let traced = Traced::new(
            "GET /<b>",
            table,
            Some("\"><i>".into()),
            CookieSet::Kept,
            "404 <Not Found>".into(),
        );
        let page = page(&Viewer::of(None), &[Arc::new(traced)]);
        for raw in ["<script>", "<b>", "<i>", "<Not"] {
            assert!(!page.contains(raw), "{raw} unescaped");
        }
        assert!(page.contains("GET /&lt;script&gt;"));
        // A page with no requests (its `no-requests`) is tests/trace.rs's.
        assert!(page.contains("never for production"));
    }
}
