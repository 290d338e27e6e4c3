//! The service: one request in, one response out, never an error. It
//! routes, runs the gate every POST passes (the cross-origin check, then
//! the form body within its limits), calls the route's handler, turns every
//! error into a status, and writes the access line (and, with `--trace`,
//! the table).
//!
//! The request's session cookies are parsed here, once (`CookieIds`), and
//! handed to the handler, the error page and the access line.

mod traced;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper::header::HOST;
use hyper::http::request::Parts;
use hyper::{Method, Request as HttpRequest, StatusCode, Version};

use crate::app::App;
use crate::auth;
use crate::error::Error;
use crate::handlers::{self, Request};
use crate::http::cookies;
use crate::http::form::{self, Form, FormError, MAX_BODY_BYTES};
use crate::http::forwarded::{client_address, ignored_forwarded_for};
use crate::http::origin;
use crate::http::response::{self, Response};
use crate::http::router::{self, route, Route, TRACE_PATH};
use crate::log_event;
use crate::pages::error::present;
use crate::sessions::{self, CookieIds};
use crate::static_files;
use crate::trace;
use traced::{traced, traced_form};

/// hyper's entry point. The error type is `Infallible`: every failure is
/// answered with a status line. Each request leaves one access-log line.
pub async fn handle(
    app: &App,
    peer: SocketAddr,
    request: HttpRequest<Incoming>,
) -> Result<Response, Infallible> {
    let started = Instant::now();
    let (parts, body) = request.into_parts();
    let ids = CookieIds::parse(cookies::values(&parts.headers, app.cookie.name()));
    let client = client_address(peer.ip(), app.config.trusted_proxy, &parts.headers);
    if let Some(ignored) =
        ignored_forwarded_for(peer.ip(), app.config.trusted_proxy, &parts.headers)
    {
        // Once per process: a client's forgery would repeat it forever.
        static SAID: std::sync::Once = std::sync::Once::new();
        SAID.call_once(|| log_event!("{ignored} (said once)"));
    }
    let request = Request {
        parts: &parts,
        client,
        ids: &ids,
    };
    let response = match app.config.trace {
        Some(mode) => traced(app, &request, body, mode).await,
        None => answer(app, &request, body).await,
    };
    access_log(&request, response.status(), started);
    Ok(response)
}

/// The response to one request, errors turned into statuses (a page for a
/// browser, see `pages::error::present`), HEAD without a body.
async fn answer(app: &App, request: &Request<'_>, body: Incoming) -> Response {
    let parts = request.parts;
    let answered = dispatch(app, request, body).await;
    // A store that has just failed this request is not asked again for
    // the error page: a stalled Redis would make a browser wait for it
    // twice (2 s, then 2 s more) for the same 503. The page goes without
    // the session's theme instead.
    let store_failed = matches!(answered, Err(Error::Store(_)));
    let response = answered.unwrap_or_else(Error::into_response);
    let response = present(response, parts, || async move {
        if store_failed {
            return None;
        }
        auth::session::for_error_page(&app.store, &app.users, request.ids, sessions::now()).await
    })
    .await;
    if parts.method == Method::HEAD {
        response::strip_body_for_head(response)
    } else {
        response
    }
}

/// 1. HTTP/1.1 requires one `Host` (RFC 9112 §3.2: a request that lacks it
///    or carries more than one "MUST" get 400), and the cross-origin check
///    compares against it.
/// 2. Route, and hand the request to its handler; POST bodies pass
///    `read_post` first.
async fn dispatch(app: &App, request: &Request<'_>, body: Incoming) -> Result<Response, Error> {
    let parts = request.parts;
    // 1.
    if parts.version == Version::HTTP_11 && !parts.headers.contains_key(HOST) {
        return Err(Error::BadRequest(
            "HTTP/1.1 requests must carry a Host header",
        ));
    }
    if parts.headers.get_all(HOST).iter().nth(1).is_some() {
        return Err(Error::BadRequest(
            "a request must carry one Host header, not several",
        ));
    }
    // 2.
    let path = parts.uri.path();
    let routed = match route(&parts.method, path) {
        // Without `--trace` the path is like any other latch does not own.
        _ if path == TRACE_PATH && app.recent.is_none() => Route::Static,
        routed => routed,
    };
    match routed {
        Route::Options(allow) => {
            trace::row("router", format_args!("{path} takes {allow}"));
            Ok(response::options(allow))
        }
        Route::MethodNotAllowed(allow) => {
            let why = router::why_only(path);
            let method = &parts.method;
            trace::row(
                "router",
                format_args!("{method} refused: {path} takes {allow}. Why: {why}"),
            );
            Ok(response::method_not_allowed(allow))
        }
        Route::Healthz => Ok(response::text(StatusCode::OK, "ok\n")),
        Route::Static => static_files::respond(app.www_root.as_deref(), parts).await,
        Route::Home => handlers::home::get(app, request).await,
        Route::Theme => {
            let form = read_post(app, parts, body).await?;
            handlers::theme::post(app, request, &form).await
        }
        Route::LoginForm => handlers::login::get(app, request).await,
        Route::Login => {
            let form = read_post(app, parts, body).await?;
            handlers::login::post(app, request, &form).await
        }
        Route::Account => handlers::account::get(app, request).await,
        Route::Logout => {
            let form = read_post(app, parts, body).await?;
            handlers::logout::post(app, request, &form).await
        }
        Route::Trace => handlers::trace::get(app, request).await,
    }
}

/// The gate every POST passes before its handler runs:
/// 1. the cross-origin check (403), before any byte of the body is read;
/// 2. the form body: the headers first (`form::admit`: 413, 415), then the
///    body through a byte limit (for chunked bodies, whose size is unknown
///    up front) and a time limit (`--client-timeout`, 408): a body that
///    never finishes must not hold a connection forever.
async fn read_post(app: &App, parts: &Parts, body: Incoming) -> Result<Form, Error> {
    // 1.
    match origin::check(&parts.headers) {
        Ok(why) => trace::row("origin", format_args!("cross-origin check passed: {why}")),
        Err(why) => {
            trace::row(
                "origin",
                format_args!("cross-origin check refused: {why} → 403"),
            );
            return Err(Error::CrossOrigin);
        }
    }
    // 2.
    form::admit(&parts.headers)?;
    let time_limit = Duration::from_secs(app.config.client_timeout);
    let limited = Limited::new(body, MAX_BODY_BYTES);
    let collected = tokio::time::timeout(time_limit, limited.collect())
        .await
        .map_err(|_| FormError::Timeout)?;
    let bytes: Bytes = match collected {
        Ok(collected) => collected.to_bytes(),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => Err(FormError::TooLarge)?,
        Err(_) => Err(FormError::Broken)?,
    };
    let form = Form::parse(&bytes);
    trace::row("form", traced_form(&form));
    Ok(form)
}

/// One line per request on standard error: method, path (never the query,
/// which may hold a `next` or worse), status, duration, client address, and
/// the label of the session the first session cookie names. Never a cookie
/// value, a password or a token.
fn access_log(request: &Request<'_>, status: StatusCode, started: Instant) {
    // A client chooses both, so both are cut (see `log`).
    let method = crate::log::cut(request.parts.method.as_str(), crate::log::MAX_VALUE);
    let path = crate::log::cut(request.parts.uri.path(), crate::log::MAX_PATH);
    let micros = started.elapsed().as_micros();
    let client = request.client;
    let session = request.ids.first_label();
    let session: &dyn std::fmt::Display = match &session {
        Some(label) => label,
        None => &"-",
    };
    crate::log::access(format_args!(
        "access {method} {path} {} {micros}us client={client} session={session}",
        status.as_u16(),
    ));
}
