//! Everything that can stop a request short, the one place that turns
//! each into an HTTP status, and how an error answer is shown to a person.
//! The service never hands hyper an `Err` (which would close the connection
//! with no status line at all).
//!
//! Every error answer is first a short plain-text response (status line,
//! one sentence, its own headers such as `Allow` or `Retry-After`). When a
//! browser asked, `page` then dresses it as an HTML page in the site's look,
//! saying what happened and offering a way on (docs/contract.md, "Every
//! response").

use std::future::Future;

use hyper::header::{HeaderMap, HeaderValue, ALLOW, CONTENT_TYPE, RETRY_AFTER, VARY};
use hyper::{Method, StatusCode};

use crate::auth::password::NotChecked;
use crate::http::form::FormError;
use crate::http::negotiation::accepts_html;
use crate::http::redirect::safe_next;
use crate::http::response::{html, no_store, text, Response};
use crate::log_event;
use crate::os::blocking::Crashed;
use crate::pages::{self, Sentence, Viewer};
use crate::sessions::store::StoreError;
use crate::sessions::Record;

#[derive(Debug)]
pub enum Error {
    /// The body was not a readable form.
    Form(FormError),
    /// A request latch will not act on: a form field with a value the route
    /// does not take, a missing `Host`.
    BadRequest(&'static str),
    /// The cross-origin check refused a POST.
    CrossOrigin,
    /// A signed-in session's POST did not carry its CSRF token.
    Csrf,
    /// Every password-hashing slot stayed busy too long.
    Busy,
    /// This client address made its share of new sessions this minute
    /// (seconds to wait).
    NewSessionsThrottled(u64),
    /// The sessions dir holds `--max-sessions` files: no new anonymous one.
    SessionsFull,
    /// The session store failed (disk full, read-only, permissions; its
    /// work did not finish).
    Store(StoreError),
    /// Blocking work did not finish: a bug (it panicked), or shutdown.
    Crashed(Crashed),
}

impl From<FormError> for Error {
    fn from(e: FormError) -> Error {
        Error::Form(e)
    }
}

impl From<StoreError> for Error {
    fn from(e: StoreError) -> Error {
        match e {
            StoreError::Crashed(e) => Error::Crashed(e),
            e => Error::Store(e),
        }
    }
}

impl From<NotChecked> for Error {
    fn from(e: NotChecked) -> Error {
        match e {
            NotChecked::Busy => Error::Busy,
            NotChecked::Crashed(e) => Error::Crashed(e),
        }
    }
}

impl From<Crashed> for Error {
    fn from(e: Crashed) -> Error {
        Error::Crashed(e)
    }
}

impl Error {
    /// The response for this error. 4xx: the client can fix it; 5xx: we
    /// must, and nothing was saved (docs/contract.md, "Sessions": a 5xx saves
    /// no session change).
    pub fn into_response(self) -> Response {
        // A full store needs its operator: ask browsers back in a minute.
        let store_full = matches!(&self, Error::Store(e) if e.is_out_of_space());
        let retry_after = match &self {
            Error::Store(_) if store_full => Some(60),
            Error::Busy | Error::Store(_) => Some(5),
            Error::NewSessionsThrottled(seconds) => Some(*seconds),
            // Room comes back as sessions end or expire; the sweeper
            // removes expired ones every minute.
            Error::SessionsFull => Some(60),
            _ => None,
        };
        let (status, message) = match self {
            Error::Form(FormError::UnsupportedMediaType) => (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "forms must be sent as application/x-www-form-urlencoded".into(),
            ),
            Error::Form(FormError::TooLarge) => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "form bodies are limited to 16 KiB".into(),
            ),
            Error::Form(FormError::Timeout) => (
                StatusCode::REQUEST_TIMEOUT,
                "the request body did not arrive in time".into(),
            ),
            Error::Form(FormError::UnknownTransferCoding) => (
                StatusCode::BAD_REQUEST,
                "only the chunked transfer coding is understood".into(),
            ),
            Error::Form(FormError::Broken) => (
                StatusCode::BAD_REQUEST,
                "the request body could not be read".into(),
            ),
            Error::BadRequest(why) => (StatusCode::BAD_REQUEST, why.to_string()),
            Error::CrossOrigin => (
                StatusCode::FORBIDDEN,
                "cross-origin request refused (Sec-Fetch-Site / Origin do not match this site)"
                    .into(),
            ),
            Error::Csrf => (
                StatusCode::FORBIDDEN,
                "missing or wrong CSRF token: reload the page and try again".into(),
            ),
            Error::Busy => (
                StatusCode::SERVICE_UNAVAILABLE,
                "too many sign-ins at once; try again shortly".into(),
            ),
            Error::NewSessionsThrottled(seconds) => (
                StatusCode::TOO_MANY_REQUESTS,
                format!("too many new sessions from your address; try again in {seconds} seconds"),
            ),
            Error::SessionsFull => (
                StatusCode::SERVICE_UNAVAILABLE,
                "the server holds all the sessions it may; try again later (signing in still works)"
                    .into(),
            ),
            Error::Store(e) => {
                if !e.is_logged_by_the_store() {
                    log_event!("session store error: {e}");
                }
                let message = match store_full {
                    true => "the session store is full: new sign-ins and new sessions are \
                             paused until the operator makes room; signing out still works",
                    false => "the session store is unavailable",
                };
                (StatusCode::SERVICE_UNAVAILABLE, message.into())
            }
            Error::Crashed(why) => {
                log_event!("internal error: {why}");
                (StatusCode::INTERNAL_SERVER_ERROR, "internal error".into())
            }
        };
        let mut response = text(status, format!("{} {message}\n", status.as_u16()));
        no_store(&mut response);
        if store_full {
            response.extensions_mut().insert(StoreFull);
        }
        // Retry-After (RFC 9110 §10.2.3) tells a client when to come back.
        if let Some(seconds) = retry_after {
            response
                .headers_mut()
                .insert(RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

/// Marks an error answer (in its extensions, never on the wire) as the
/// session store's being full, which its page explains apart from other
/// 503s: what is paused, and that signing out still works.
#[derive(Clone, Copy)]
struct StoreFull;

/// What the error page needs from the request, taken before the request
/// is handed on (and consumed).
pub struct Asked<'a> {
    /// The request's headers: `Accept` is read only when an error answer
    /// is to be presented, never on the way of a page that succeeded.
    headers: &'a HeaderMap,
    method: &'a Method,
    /// The path as sent (still percent-encoded).
    path: &'a str,
}

impl<'a> Asked<'a> {
    pub fn of(method: &'a Method, path: &'a str, headers: &'a HeaderMap) -> Asked<'a> {
        Asked {
            headers,
            method,
            path,
        }
    }

    /// The path as it was sent: still percent-encoded, as the address bar
    /// shows it. Decoded, a link to `/.%20Your%20account%20is%20locked.`
    /// would put a sentence of the attacker's on the site's page, and
    /// `%E2%80%AE` a right-to-left override (U+202E) that reorders the words
    /// around it. The request target is ASCII (RFC 9112 §3.2); any byte
    /// that is not visible ASCII is encoded here all the same. Cut to a
    /// bounded length, never inside a `%XX`, with `…` only when cut. The
    /// page shows it as code and escapes it like any other text.
    fn shown_path(&self) -> String {
        const SHOWN: usize = 120;
        let mut shown = String::with_capacity(self.path.len().min(SHOWN));
        for &b in self.path.as_bytes() {
            if b.is_ascii_graphic() {
                shown.push(b as char);
            } else {
                shown.push_str(&format!("%{b:02X}"));
            }
        }
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
}

/// An error answer as the client asked for it. `response` passes through
/// unless it is latch's terse plain-text error answer (a 4xx or 5xx; a page
/// that is already HTML, such as the sign-in form after a wrong password,
/// stays as it is). Such an answer varies with `Accept` (RFC 9110
/// §12.5.5), and a client that accepts HTML gets it as a page, rendered for
/// the request's session: `session` is called only then.
pub async fn present<F: Future<Output = Option<Record>>>(
    response: Response,
    asked: &Asked<'_>,
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
    if !accepts_html(asked.headers) {
        let mut response = response;
        response
            .headers_mut()
            .insert(VARY, HeaderValue::from_static("Accept"));
        return response;
    }
    let record = session().await;
    page(response, asked, &Viewer::of(record.as_ref()))
}

/// The error answer `response` as an HTML page for `viewer`: the same
/// status and the answer's own headers (`Allow`, `Retry-After`, any
/// `Set-Cookie`), plus the headers of every page latch renders (`http::response::html`:
/// `no-store`, the CSP, `X-Frame-Options`, `Referrer-Policy`). `Vary:
/// Accept` because the plain-text answer goes to other clients (RFC 9110
/// §12.5.5).
fn page(response: Response, asked: &Asked<'_>, viewer: &Viewer) -> Response {
    let (parts, _text) = response.into_parts();
    let header = |name| {
        parts
            .headers
            .get(name)
            .and_then(|v: &HeaderValue| v.to_str().ok())
    };
    let full = parts.extensions.get::<StoreFull>().is_some();
    let explained = explain(
        parts.status,
        asked,
        header(ALLOW),
        header(RETRY_AFTER),
        full,
    );
    let body = pages::error(
        viewer,
        parts.status.as_u16(),
        explained.title,
        &explained.sentences,
        &explained.ways_on,
    );
    let mut page = html(parts.status, body);
    // The answer's own headers stay; the page's replace the text's.
    let own: Vec<_> = parts
        .headers
        .iter()
        .filter(|(name, _)| !page.headers().contains_key(*name))
        .map(|(name, value)| (name.clone(), value.clone()))
        .collect();
    for (name, value) in own {
        page.headers_mut().append(name, value);
    }
    page.headers_mut()
        .insert(VARY, HeaderValue::from_static("Accept, Cookie"));
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

/// An error said for a person.
struct Explained {
    title: &'static str,
    sentences: Vec<Sentence>,
    /// Links, the most useful first: (href, label).
    ways_on: Vec<(String, &'static str)>,
}

/// What happened, from the status and the answer's headers (and, for a
/// 503, whether the session store is full), in words a person can act on;
/// and where to go from here.
fn explain(
    status: StatusCode,
    asked: &Asked,
    allow: Option<&str>,
    retry_after: Option<&str>,
    store_full: bool,
) -> Explained {
    let home = ("/".to_string(), "Go to the home page");
    let wait = retry_after
        .and_then(|s| s.parse::<u64>().ok())
        .map_or_else(|| "a moment".to_string(), readable_wait);
    let (title, sentences): (&str, Vec<Sentence>) = match status.as_u16() {
        400 => ("Bad request", vec![BAD_REQUEST.into()]),
        403 => ("Request refused", vec![REFUSED.into(), RELOAD.into()]),
        404 => (
            "Page not found",
            vec![Sentence {
                before: "There is no page at ".into(),
                quoted: Some(asked.shown_path()),
                after: ".".into(),
            }],
        ),
        405 => ("Not a page to open", not_allowed(asked, allow)),
        408 => ("Too slow", vec![TOO_SLOW.into()]),
        413 => ("Form too large", vec![TOO_LARGE.into()]),
        415 => ("Form not understood", vec![UNREADABLE_FORM.into()]),
        429 => (
            "Too many attempts",
            vec![format!("{TOO_MANY} Please wait {wait}, then try again.").into()],
        ),
        503 if store_full => (
            "Session store full",
            vec![
                STORE_FULL.into(),
                format!("{SIGN_OUT_WORKS} Please try again in {wait}.").into(),
            ],
        ),
        503 => (
            "Temporarily unavailable",
            vec![format!("{UNAVAILABLE} Please try again in {wait}.").into()],
        ),
        500..=599 => ("Something went wrong", vec![FAILED.into()]),
        _ => (
            "Request not handled",
            vec![format!("latch could not handle this request ({status}).").into()],
        ),
    };
    let retry = matches!(status.as_u16(), 408 | 429 | 503);
    let ways_on = match retry_target(asked) {
        Some(again) if retry => vec![(again, "Try again"), home],
        _ => vec![home],
    };
    Explained {
        title,
        sentences,
        ways_on,
    }
}

/// The 405 sentences: which methods the address takes, and, when GET is
/// not one of them, that it is a button rather than an address (typing
/// `/logout` into the address bar is the usual way here).
fn not_allowed(asked: &Asked, allow: Option<&str>) -> Vec<Sentence> {
    let allow = allow.unwrap_or("other methods");
    let mut sentences = vec![Sentence {
        before: String::new(),
        quoted: Some(asked.shown_path()),
        after: format!(" answers to {allow}, not to {}.", asked.method),
    }];
    if !allow.split(", ").any(|m| m == "GET") {
        sentences.push("It is a button on this site's pages, not an address to visit.".into());
    }
    sentences
}

/// Where "Try again" leads: the same address when it is a page (a GET or
/// HEAD to a safe local path), else none.
fn retry_target(asked: &Asked) -> Option<String> {
    let page = asked.method == Method::GET || asked.method == Method::HEAD;
    page.then(|| safe_next(asked.path)).flatten()
}

/// A `Retry-After` in seconds, as a person says it.
pub fn readable_wait(seconds: u64) -> String {
    match seconds {
        0..=1 => "a second".into(),
        2..=90 => format!("{seconds} seconds"),
        _ => format!("{} minutes", seconds.div_ceil(60)),
    }
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
        let shown = |path: &str| Asked::of(&Method::GET, path, &HeaderMap::new()).shown_path();
        assert_eq!(shown("/caf%C3%A9/%3Cb%3E"), "/caf%C3%A9/%3Cb%3E");
        assert_eq!(
            shown("/.%20Your%20account%20is%20locked"),
            "/.%20Your%20account%20is%20locked"
        );
        assert_eq!(shown("/a%E2%80%AEb"), "/a%E2%80%AEb");
        // Never sent so by hyper, which refuses such targets; encoded all the same.
        assert_eq!(shown("/a b\u{202E}\n"), "/a%20b%E2%80%AE%0A");
        let exact = format!("/{}", "x".repeat(119));
        assert_eq!(shown(&exact), exact);
        let long = format!("/{}", "x".repeat(500));
        assert_eq!(shown(&long), format!("/{}…", "x".repeat(119)));
        // A cut never splits an escape: `%2` or `%` alone would read as another byte.
        for prefix in [117, 118, 119] {
            let path = format!("/{}{}", "x".repeat(prefix), "%41".repeat(10));
            let cut = shown(&path);
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
        let retry =
            |method: Method, path: &str| retry_target(&Asked::of(&method, path, &HeaderMap::new()));
        assert_eq!(retry(Method::GET, "/login"), Some("/login".into()));
        assert_eq!(retry(Method::GET, "//evil.example"), None);
        assert_eq!(retry(Method::POST, "/login"), None);
    }
}
