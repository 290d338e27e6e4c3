//! Everything that can stop a request short, and the one place that turns
//! each into an HTTP status. The service never hands hyper an `Err` (which
//! would close the connection with no status line at all).

use std::io;

use hyper::header::{HeaderValue, RETRY_AFTER};
use hyper::StatusCode;

use crate::form::FormError;
use crate::http::{no_store, text, Response};

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
    /// Too many failed logins from this client (seconds to wait).
    Throttled(u64),
    /// Every password-hashing slot stayed busy too long.
    Busy,
    /// This client address made its share of new sessions this minute
    /// (seconds to wait).
    NewSessionsThrottled(u64),
    /// The sessions dir holds `--max-sessions` files: no new anonymous one.
    SessionsFull,
    /// The session store failed (disk full, read-only, permissions).
    Storage(io::Error),
    /// A bug: a blocking task panicked.
    Internal(String),
}

impl From<FormError> for Error {
    fn from(e: FormError) -> Error {
        Error::Form(e)
    }
}

impl From<io::Error> for Error {
    fn from(e: io::Error) -> Error {
        Error::Storage(e)
    }
}

impl Error {
    /// The response for this error. 4xx: the client can fix it; 5xx: we
    /// must, and nothing was saved (SPEC.md: a 5xx saves no session change).
    pub fn into_response(self) -> Response {
        let retry_after = match &self {
            Error::Throttled(seconds) => Some(*seconds),
            Error::Busy | Error::Storage(_) => Some(5),
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
            Error::Throttled(seconds) => (
                StatusCode::TOO_MANY_REQUESTS,
                format!("too many failed sign-ins; try again in {seconds} seconds"),
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
            Error::Storage(e) => {
                log_event!("session store error: {e}");
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    "the session store is unavailable".into(),
                )
            }
            Error::Internal(why) => {
                log_event!("internal error: {why}");
                (StatusCode::INTERNAL_SERVER_ERROR, "internal error".into())
            }
        };
        let mut response = text(status, format!("{} {message}\n", status.as_u16()));
        no_store(&mut response);
        // Retry-After (RFC 9110 §10.2.3) tells a client when to come back.
        if let Some(seconds) = retry_after {
            response
                .headers_mut()
                .insert(RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}
