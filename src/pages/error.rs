//! The error page. Every error answer is first a short plain-text response
//! (`error::Error::into_response`: status line, one sentence, its own
//! headers such as `Allow` or `Retry-After`). When a browser asked,
//! `present` dresses it as an HTML page in the site's look, saying what
//! happened in words a person can act on and offering a way on
//! (docs/contract.md, "Every response").

use std::fmt::Write;
use std::future::Future;

use hyper::header::{HeaderValue, ALLOW, CONTENT_TYPE, RETRY_AFTER, VARY};
use hyper::http::{request, response};
use hyper::{Method, StatusCode};

use super::{escape_html, layout, sign_out_form, Viewer};
use crate::error::StoreFull;
use crate::http::encoding::percent_encode_except;
use crate::http::negotiation::accepts_html;
use crate::http::redirect::safe_next;
use crate::http::response::{html, insert_static, Response};
use crate::sessions::Record;

/// The path as it was sent: still percent-encoded, as the address bar
/// shows it. Decoded, a link to `/.%20Your%20account%20is%20locked.`
/// would put a sentence of the attacker's on the site's page, and
/// `%E2%80%AE` a right-to-left override (U+202E) that reorders the words
/// around it. The request target is ASCII (RFC 9112 §3.2); any byte
/// that is not visible ASCII is encoded here all the same. Cut to a
/// bounded length, never inside a `%XX`, with `…` only when cut. The
/// page shows it as code and escapes it like any other text.
fn shown_path(path: &str) -> String {
    const SHOWN: usize = 120;
    let mut shown = percent_encode_except(path, |b| b.is_ascii_graphic());
    if shown.len() > SHOWN {
        // A `%` in the last two places starts an escape the cut would split.
        let cut = shown[SHOWN - 2..SHOWN]
            .find('%')
            .map_or(SHOWN, |at| SHOWN - 2 + at);
        shown.truncate(cut);
        shown.push('…');
    }
    shown
}

/// An error answer as the client asked for it (`asked`: the request's head,
/// whose `Accept` is read only here, never for a page that succeeded).
/// `response` passes through unless it is latch's terse plain-text error
/// answer (a 4xx or 5xx; a page that is already HTML, such as the sign-in
/// form after a wrong password, stays as it is). Such an answer varies with
/// `Accept` (RFC 9110 §12.5.5), and a client that accepts HTML gets it as a
/// page, rendered for the request's session: `session` is called only then.
pub async fn present<F: Future<Output = Option<Record>>>(
    response: Response,
    asked: &request::Parts,
    session: impl FnOnce() -> F,
) -> Response {
    let status = response.status();
    let terse = response
        .headers()
        .get(CONTENT_TYPE)
        .is_some_and(|t| t.as_bytes().starts_with(b"text/plain"));
    if !terse || !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    if !accepts_html(&asked.headers) {
        let mut response = response;
        insert_static(&mut response, VARY, "Accept");
        return response;
    }
    let record = session().await;
    page(response, asked, &Viewer::of(record.as_ref()))
}

/// The error answer `response` as an HTML page for `viewer`: the same
/// status and the answer's own headers (`Allow`, `Retry-After`, any
/// `Set-Cookie`), plus those of every page latch renders (docs/contract.md,
/// "Every response"), and `Vary` (see `present`).
fn page(response: Response, asked: &request::Parts, viewer: &Viewer) -> Response {
    let (parts, _text) = response.into_parts();
    let explained = explain(&parts, asked, viewer);
    let body = render(viewer, parts.status.as_u16(), &explained);
    let mut page = html(parts.status, body);
    // The answer's own headers stay; the page's replace the text's.
    let mut headers = parts.headers;
    for (name, value) in page.headers() {
        headers.insert(name, value.clone());
    }
    *page.headers_mut() = headers;
    insert_static(&mut page, VARY, "Accept, Cookie");
    page
}

// What each error says, in words a person can act on.
const BAD_REQUEST: &str = "latch could not make sense of that request.";
const REFUSED: &str = "This form did not come from one of this site's pages, \
                       or the page it came from was out of date.";
const RELOAD: &str = "Go back, reload the page and try again.";
const TOO_SLOW: &str = "The request took too long to arrive, so latch stopped waiting. \
                        Please try again.";
const TOO_LARGE: &str = "latch accepts forms of up to 16 KiB; this one was larger.";
const UNREADABLE_FORM: &str = "This form was sent in a format latch does not read. \
                               Please use the forms on this site's pages.";
const TOO_MANY: &str = "Too many attempts came from your network.";
const UNAVAILABLE: &str = "latch cannot handle this right now.";
const STORE_FULL: &str = "latch's session store is full, so new sign-ins and new sessions \
                          are paused until the operator makes room.";
const SIGN_OUT_WORKS: &str = "Signing out still works.";
const FAILED: &str = "latch failed to handle this request; nothing was changed.";
const SIGN_OUT_IS_A_BUTTON: &str = "Signing out is a button, not an address, so that no other \
                                    site, and no browser opening links ahead of you, can sign \
                                    you out just by opening this address.";
const NOT_SIGNED_IN: &str = "You are not signed in, so there is nothing to sign out of.";

/// An error said for a person.
struct Explained {
    title: &'static str,
    /// What the request sent, its path, shown as code between the two
    /// words given, as the first sentence: words an attacker put in a link
    /// never read as the site's own.
    quoted: Option<(&'static str, String, String)>,
    sentences: Vec<String>,
    /// Links, the most useful first: (href, label).
    ways_on: Vec<(String, &'static str)>,
    /// Whether the page offers the "Sign out" button itself (to someone
    /// signed in), before the links.
    sign_out: bool,
}

/// What happened, from the status and the answer's headers (and, for a
/// 503, whether the session store is full), in words a person can act on;
/// and where to go from here.
fn explain(answer: &response::Parts, asked: &request::Parts, viewer: &Viewer) -> Explained {
    let header = |name| {
        answer
            .headers
            .get(name)
            .and_then(|v: &HeaderValue| v.to_str().ok())
    };
    let status = answer.status;
    let sign_out = status == StatusCode::METHOD_NOT_ALLOWED && asked.uri.path() == "/logout";
    let home = ("/".to_string(), "Go to the home page");
    let wait = header(RETRY_AFTER)
        .and_then(|s| s.parse::<u64>().ok())
        .map_or_else(|| "a moment".to_string(), readable_wait);
    let path = || shown_path(asked.uri.path());
    let quoted = match status.as_u16() {
        404 => Some(("There is no page at ", path(), ".".into())),
        405 if !sign_out => Some(("", path(), not_allowed(asked, header(ALLOW)))),
        _ => None,
    };
    let (title, sentences): (&str, Vec<String>) = match status.as_u16() {
        400 => ("Bad request", vec![BAD_REQUEST.into()]),
        403 => ("Request refused", vec![REFUSED.into(), RELOAD.into()]),
        404 => ("Page not found", vec![]),
        405 if sign_out => ("Signing out is a button", signing_out(viewer)),
        405 => ("Not a page to open", vec![]),
        408 => ("Too slow", vec![TOO_SLOW.into()]),
        413 => ("Form too large", vec![TOO_LARGE.into()]),
        415 => ("Form not understood", vec![UNREADABLE_FORM.into()]),
        429 => (
            "Too many attempts",
            vec![format!("{TOO_MANY} Please wait {wait}, then try again.")],
        ),
        503 if answer.extensions.get::<StoreFull>().is_some() => (
            "Session store full",
            vec![
                STORE_FULL.into(),
                format!("{SIGN_OUT_WORKS} Please try again in {wait}."),
            ],
        ),
        503 => (
            "Temporarily unavailable",
            vec![format!("{UNAVAILABLE} Please try again in {wait}.")],
        ),
        500..=599 => ("Something went wrong", vec![FAILED.into()]),
        _ => (
            "Request not handled",
            vec![format!("latch could not handle this request ({status}).")],
        ),
    };
    let retry = matches!(status.as_u16(), 408 | 429 | 503);
    let ways_on = match retry_target(&asked.method, asked.uri.path()) {
        Some(again) if retry => vec![(again, "Try again"), home],
        _ => vec![home],
    };
    Explained {
        title,
        quoted,
        sentences,
        ways_on,
        sign_out,
    }
}

/// The 405 of `/logout` (typed into the address bar, or a link someone
/// made): why signing out is a button (a GET must change nothing, RFC 9110
/// §9.2.1; the contract's "Logout"), and whether there is anything to sign
/// out of; the button itself follows (`render`).
fn signing_out(viewer: &Viewer) -> Vec<String> {
    let mut sentences = vec![SIGN_OUT_IS_A_BUTTON.into()];
    if viewer.user.is_none() {
        sentences.push(NOT_SIGNED_IN.into());
    }
    sentences
}

/// What follows the path in the other 405s: an address that takes a
/// form's button rather than a visit, or (for a method the address does
/// not take) which it does.
fn not_allowed(asked: &request::Parts, allow: Option<&str>) -> String {
    let allow = allow.unwrap_or("other methods");
    match allow.split(", ").any(|m| m == "GET") {
        false => {
            " is where a button on this site's pages sends its form, not a page to open.".into()
        }
        true => format!(" answers to {allow}, not to {}.", asked.method),
    }
}

/// Where "Try again" leads: the same address when it is a page (a GET or
/// HEAD to a safe local path), else none.
fn retry_target(method: &Method, path: &str) -> Option<String> {
    let page = method == Method::GET || method == Method::HEAD;
    page.then(|| safe_next(path)).flatten()
}

/// A `Retry-After` in seconds, as a person says it.
pub fn readable_wait(seconds: u64) -> String {
    match seconds {
        0..=1 => "a second".into(),
        2..=90 => format!("{seconds} seconds"),
        _ => format!("{} minutes", seconds.div_ceil(60)),
    }
}

/// An error answer a person sees: what happened in a few plain sentences,
/// then the ways on. Everything given is text, escaped here.
fn render(viewer: &Viewer, status: u16, explained: &Explained) -> String {
    layout(explained.title, viewer, |main| {
        let _ = write!(
            main,
            "<p class=\"status\">Error {status}</p>\n<h1>{}</h1>\n",
            escape_html(explained.title)
        );
        if let Some((before, path, after)) = &explained.quoted {
            let _ = writeln!(
                main,
                "<p>{}<code>{}</code>{}</p>",
                escape_html(before),
                escape_html(path),
                escape_html(after)
            );
        }
        for sentence in &explained.sentences {
            let _ = writeln!(main, "<p>{}</p>", escape_html(sentence));
        }
        // The button, when there is something to sign out of, is the way on.
        let sign_out = explained.sign_out && viewer.user.is_some();
        if sign_out {
            main.push_str("<div class=\"primary-action\">");
            sign_out_form(main, viewer, "logout-here");
            main.push_str("</div>\n");
        }
        main.push_str("<p class=\"way-on\">");
        for (i, (href, label)) in explained.ways_on.iter().enumerate() {
            let class = if i == 0 && !sign_out {
                " class=\"primary\""
            } else {
                ""
            };
            let _ = write!(
                main,
                "<a href=\"{}\"{class}>{}</a> ",
                escape_html(href),
                escape_html(label)
            );
        }
        main.push_str("</p>\n");
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wait_reads_in_seconds_then_minutes() {
        assert_eq!(readable_wait(1), "a second");
        assert_eq!(readable_wait(42), "42 seconds");
        assert_eq!(readable_wait(900), "15 minutes");
        assert_eq!(readable_wait(61 * 2), "3 minutes");
    }

    #[test]
    fn the_path_is_shown_as_sent_visible_ascii_and_bounded() {
        assert_eq!(shown_path("/caf%C3%A9/%3Cb%3E"), "/caf%C3%A9/%3Cb%3E");
        assert_eq!(
            shown_path("/.%20Your%20account%20is%20locked"),
            "/.%20Your%20account%20is%20locked"
        );
        assert_eq!(shown_path("/a%E2%80%AEb"), "/a%E2%80%AEb");
        // Never sent so by hyper, which refuses such targets; encoded all the same.
        assert_eq!(shown_path("/a b\u{202E}\n"), "/a%20b%E2%80%AE%0A");
        let exact = format!("/{}", "x".repeat(119));
        assert_eq!(shown_path(&exact), exact);
        let long = format!("/{}", "x".repeat(500));
        assert_eq!(shown_path(&long), format!("/{}…", "x".repeat(119)));
        // A cut never splits an escape: `%2` or `%` alone would read as another byte.
        for prefix in [117, 118, 119] {
            let path = format!("/{}{}", "x".repeat(prefix), "%41".repeat(10));
            let cut = shown_path(&path);
            let kept = cut.strip_suffix('…').unwrap();
            assert!(kept.len() <= 120 && kept.len() >= 118, "{cut}");
            assert!(
                !kept.ends_with('%') && !kept[kept.len() - 2..].starts_with('%'),
                "{cut}"
            );
        }
    }

    #[test]
    fn try_again_leads_back_only_to_a_safe_page() {
        let retry = |method: Method, path: &str| retry_target(&method, path);
        assert_eq!(retry(Method::GET, "/login"), Some("/login".into()));
        assert_eq!(retry(Method::GET, "//evil.example"), None);
        assert_eq!(retry(Method::POST, "/login"), None);
    }

    #[test]
    fn an_error_page_escapes_its_text_and_links() {
        let explained = Explained {
            title: "Page not found",
            quoted: Some((
                "There is no page at ",
                "/<script>alert(1)</script>".into(),
                ".".into(),
            )),
            sentences: vec![],
            ways_on: vec![("/\"><script>".into(), "Home")],
            sign_out: false,
        };
        let page = render(&Viewer::of(None), 404, &explained);
        assert!(!page.contains("<script>"), "{page}");
        assert!(page.contains(
            "<p>There is no page at <code>/&lt;script&gt;alert(1)&lt;/script&gt;</code>.</p>"
        ));
        assert!(page.contains("<p class=\"status\">Error 404</p>"));
    }
}
