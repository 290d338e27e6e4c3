//! Everything that can stop a request short, and the one place that turns
//! each into an HTTP status and a short plain-text answer: status line, one
//! sentence, its own headers such as `Retry-After`. The service never hands
//! hyper an `Err` (which would close the connection with no status line at
//! all). When a browser asked, `pages::error` dresses the answer as a page.

use hyper::header::{HeaderValue, RETRY_AFTER};
use hyper::StatusCode;

use crate::auth::password::NotChecked;
use crate::http::form::FormError;
use crate::http::response::{no_store, text, Response};
use crate::log_event;
use crate::os::blocking::Crashed;
use crate::sessions::store::StoreError;
use crate::trace;

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
        let store_full = matches!(&self, Error::Store(e) if e.is_out_of_space());
        // Retry-After (RFC 9110 §10.2.3), the third of each, tells a client
        // when to come back.
        let (status, message, retry_after): (_, String, _) = match self {
            Error::Form(FormError::UnsupportedMediaType) => (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "forms must be sent as application/x-www-form-urlencoded".into(),
                None,
            ),
            Error::Form(FormError::TooLarge) => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "form bodies are limited to 16 KiB".into(),
                None,
            ),
            Error::Form(FormError::Timeout) => (
                StatusCode::REQUEST_TIMEOUT,
                "the request body did not arrive in time".into(),
                None,
            ),
            Error::Form(FormError::UnknownTransferCoding) => (
                StatusCode::BAD_REQUEST,
                "only the chunked transfer coding is understood".into(),
                None,
            ),
            Error::Form(FormError::Broken) => (
                StatusCode::BAD_REQUEST,
                "the request body could not be read".into(),
                None,
            ),
            Error::BadRequest(why) => (StatusCode::BAD_REQUEST, why.into(), None),
            Error::CrossOrigin => (
                StatusCode::FORBIDDEN,
                "cross-origin request refused (Sec-Fetch-Site / Origin do not match this site)"
                    .into(),
                None,
            ),
            Error::Csrf => (
                StatusCode::FORBIDDEN,
                "missing or wrong CSRF token: reload the page and try again".into(),
                None,
            ),
            Error::Busy => (
                StatusCode::SERVICE_UNAVAILABLE,
                "too many sign-ins at once; try again shortly".into(),
                Some(5),
            ),
            Error::NewSessionsThrottled(seconds) => (
                StatusCode::TOO_MANY_REQUESTS,
                format!("too many new sessions from your address; try again in {seconds} seconds"),
                Some(seconds),
            ),
            // Room comes back as sessions end or expire; the sweeper
            // removes expired ones every minute.
            Error::SessionsFull => (
                StatusCode::SERVICE_UNAVAILABLE,
                "the server holds all the sessions it may; try again later (signing in still works)"
                    .into(),
                Some(60),
            ),
            Error::Store(e) => {
                if !e.is_logged_by_the_store() {
                    log_event!("session store error: {e}");
                }
                // A full store needs its operator: ask browsers back in a minute.
                let (message, retry_after) = match store_full {
                    true => (
                        "the session store is full: new sign-ins and new sessions are \
                         paused until the operator makes room; signing out still works",
                        60,
                    ),
                    false => ("the session store is unavailable", 5),
                };
                let status = StatusCode::SERVICE_UNAVAILABLE;
                (status, message.into(), Some(retry_after))
            }
            Error::Crashed(why) => {
                log_event!("internal error: {why}");
                let status = StatusCode::INTERNAL_SERVER_ERROR;
                (status, "internal error".into(), None)
            }
        };
        trace::row("error", format_args!("{status}: {message}"));
        let mut response = text(status, format!("{} {message}\n", status.as_u16()));
        no_store(&mut response);
        if store_full {
            response.extensions_mut().insert(StoreFull);
        }
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
pub struct StoreFull;
