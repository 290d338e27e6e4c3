//! Response builders: each HTTP mechanic latch answers with, named after
//! what it does and the RFC section that defines it.

use std::io;
use std::pin::Pin;

use bytes::Bytes;
use http_body_util::{Either, Full};
use hyper::header::{
    HeaderName, HeaderValue, ALLOW, CACHE_CONTROL, CONTENT_LENGTH, CONTENT_SECURITY_POLICY,
    CONTENT_TYPE, LOCATION, REFERRER_POLICY, SET_COOKIE, VARY, X_CONTENT_TYPE_OPTIONS,
    X_FRAME_OPTIONS,
};
use hyper::StatusCode;

/// The body of every latch response: bytes already in memory (a page, an
/// error, a built-in file), or a stream (a file from the www dir, sent as it
/// is read: `static_files`). `Either`, so that the pages, on the hot path,
/// pay one `match` per poll and no allocation for being able to stream.
pub type Body = Either<Full<Bytes>, Stream>;
pub type Stream = Pin<Box<dyn hyper::body::Body<Data = Bytes, Error = io::Error> + Send>>;
pub type Response = hyper::Response<Body>;

/// A response with `status` and `body`, nothing else.
pub fn response(status: StatusCode, body: impl Into<Bytes>) -> Response {
    let mut response = hyper::Response::new(Either::Left(Full::new(body.into())));
    *response.status_mut() = status;
    response
}

/// An HTML page latch rendered, with the headers every one carries
/// (docs/contract.md, "Every response"):
/// - `Cache-Control: no-store`: a page about a session must not be kept by
///   any cache, nor shown again from one after logout (RFC 9111 §5.2.2.5);
/// - `Content-Security-Policy`: scripts, styles and frames only from
///   here, and no framing by others (CSP Level 3; clickjacking);
/// - `X-Frame-Options: DENY` for browsers without CSP (RFC 7034);
/// - `Referrer-Policy: same-origin`: URLs are not leaked to other sites;
/// - `Vary: Cookie`: the page depends on the session (RFC 9110 §12.5.5).
pub fn html(status: StatusCode, page: String) -> Response {
    let mut response = response(status, page);
    for (name, value) in [
        (CONTENT_TYPE, "text/html; charset=utf-8"),
        (
            CONTENT_SECURITY_POLICY,
            "default-src 'self'; frame-ancestors 'none'",
        ),
        (X_FRAME_OPTIONS, "DENY"),
        (REFERRER_POLICY, "same-origin"),
        (VARY, "Cookie"),
    ] {
        insert_static(&mut response, name, value);
    }
    no_store(&mut response);
    response
}

/// A short plain-text answer: errors, `/healthz`.
pub fn text(status: StatusCode, body: impl Into<Bytes>) -> Response {
    let mut response = response(status, body);
    insert_static(&mut response, CONTENT_TYPE, "text/plain; charset=utf-8");
    insert_static(&mut response, X_CONTENT_TYPE_OPTIONS, "nosniff");
    response
}

/// 303 See Other (RFC 9110 §15.4.4): "go GET this other URL". Unlike 302,
/// it tells every client to switch a POST to a GET, which is exactly the
/// Post/Redirect/Get pattern: reloading the next page never re-submits.
pub fn see_other(location: &str) -> Response {
    let mut response = redirect(StatusCode::SEE_OTHER, location);
    no_store(&mut response);
    response
}

/// A redirect with `status` (a 303, or a 308 Permanent Redirect, RFC 9110
/// §15.4.9: "this resource lives at that URL now, ask there with the same
/// method") to `location`, which must already be a safe local path (see
/// `http::redirect`).
pub fn redirect(status: StatusCode, location: &str) -> Response {
    let mut response = text(status, "");
    let value = HeaderValue::from_str(location).unwrap_or(HeaderValue::from_static("/"));
    response.headers_mut().insert(LOCATION, value);
    response
}

/// 405 Method Not Allowed, with the `Allow` header the status requires
/// (RFC 9110 §15.5.6, §10.2.1).
pub fn method_not_allowed(allow: &'static str) -> Response {
    let mut response = text(
        StatusCode::METHOD_NOT_ALLOWED,
        format!("405 Method Not Allowed: this path takes {allow}\n"),
    );
    insert_static(&mut response, ALLOW, allow);
    no_store(&mut response);
    response
}

/// 204 answer to `OPTIONS`, listing the methods (RFC 9110 §9.3.7).
pub fn options(allow: &'static str) -> Response {
    let mut response = response(StatusCode::NO_CONTENT, Bytes::new());
    insert_static(&mut response, ALLOW, allow);
    response
}

/// 404 Not Found (RFC 9110 §15.5.5).
pub fn not_found() -> Response {
    text(StatusCode::NOT_FOUND, "404 Not Found\n")
}

/// `Cache-Control: no-store` (RFC 9111 §5.2.2.5): no cache, private or
/// shared, may keep any part of this response.
pub fn no_store(response: &mut Response) {
    insert_static(response, CACHE_CONTROL, "no-store");
}

/// Adds a `Set-Cookie` line (RFC 6265 §4.1). Its value comes from
/// `http::cookies::Cookie`, the one formatter, so it is always valid.
pub fn set_cookie(response: &mut Response, cookie: String) {
    if let Ok(value) = HeaderValue::try_from(cookie) {
        response.headers_mut().append(SET_COOKIE, value);
    }
}

/// Adds a header whose value latch built from constants.
pub fn insert_static(response: &mut Response, name: HeaderName, value: &'static str) {
    response
        .headers_mut()
        .insert(name, HeaderValue::from_static(value));
}

/// The answer to HEAD: the headers GET would send, `Content-Length`
/// included, and no body (RFC 9110 §9.3.2). hyper would drop the body on
/// its own; doing it here keeps the rule visible.
pub fn strip_body_for_head(response: Response) -> Response {
    let (mut parts, body) = response.into_parts();
    let len = hyper::body::Body::size_hint(&body).exact().unwrap_or(0);
    if !parts.headers.contains_key(CONTENT_LENGTH) && parts.status != StatusCode::NO_CONTENT {
        parts.headers.insert(CONTENT_LENGTH, HeaderValue::from(len));
    }
    hyper::Response::from_parts(parts, Either::Left(Full::default()))
}
