//! One request, traced (`--trace`, docs/contract.md, "Tracing"), and the
//! rows of what arrived and what left, secrets cut.

use hyper::body::Incoming;
use hyper::header::{LOCATION, SET_COOKIE};
use hyper::http::request::Parts;
use hyper::StatusCode;

use super::answer;
use crate::app::App;
use crate::handlers::Request;
use crate::http::cookies;
use crate::http::encoding::hex;
use crate::http::form::Form;
use crate::http::negotiation::accepts_html;
use crate::http::response::{set_cookie, Response};
use crate::http::router::{route, Route};
use crate::log_event;
use crate::os::random::random_32;
use crate::sessions::SessionId;
use crate::trace::{self, CookieSet, COOKIE_MAX_AGE};

/// `answer`, traced: the request and the response are the table's first
/// and last steps, and the variable tracker ends it, from the session
/// cookie the request sent and what the answer did to it. The table is
/// printed, and kept for the browser the request came from (`/_trace`).
pub(super) async fn traced(
    app: &App,
    request: &Request<'_>,
    body: Incoming,
    mode: trace::Mode,
) -> Response {
    let parts = request.parts;
    let public = [app.notice_cookie.name()];
    let browser = browser_of(app, parts);
    let (response, table) = trace::collect(async {
        trace::row("request", TracedRequest(request, &public));
        let mut response = answer(app, request, body).await;
        if let Some(Browser { key, new: true }) = &browser {
            set_cookie(&mut response, app.trace_cookie.set(key, COOKIE_MAX_AGE));
        }
        trace::row("response", TracedResponse(&response, &public));
        response
    })
    .await;
    let sent = cookies::values(&parts.headers, app.cookie.name()).next();
    let traced = trace::Traced::new(
        &format!("{} {}", parts.method, parts.uri.path()),
        table,
        sent.map(trace::short),
        cookie_set(&response, app.cookie.name()),
        in_a_few_words(&response),
    );
    log_event!("{}", traced.render(mode));
    if let (Some(browser), Some(recent)) = (browser, &app.recent) {
        if worth_keeping(parts, response.status()) {
            recent.keep(&browser.key, traced);
        }
    }
    response
}

/// The browser a traced request comes from, as `/_trace` knows it.
struct Browser {
    /// Its `trace` cookie's value.
    key: String,
    /// New: the answer sets the cookie.
    new: bool,
}

/// The browser its `trace` cookie names; or, for a browser without one
/// latch knows (a request that accepts HTML), a new one: a fresh value
/// from the OS random source, never one the client sent. `None` for a
/// client that is no browser (curl): its requests are printed only.
fn browser_of(app: &App, parts: &Parts) -> Option<Browser> {
    let recent = app.recent.as_ref()?;
    let mut sent = cookies::values(&parts.headers, app.trace_cookie.name());
    if let Some(key) = sent.find(|key| recent.knows(key)) {
        return Some(Browser {
            key: key.to_owned(),
            new: false,
        });
    }
    if !accepts_html(&parts.headers) {
        return None;
    }
    let key = hex(&random_32());
    recent.add(key.clone());
    Some(Browser { key, new: true })
}

/// Whether a request is kept for its browser's `/_trace`: not `/_trace`
/// itself, nor a file the www dir served (the stylesheet, the icon),
/// which would push the requests that teach out of the twenty kept.
fn worth_keeping(parts: &Parts, status: StatusCode) -> bool {
    match route(&parts.method, parts.uri.path()) {
        Route::Trace => false,
        Route::Static => status.is_client_error() || status.is_server_error(),
        _ => true,
    }
}

/// What the answer did to the session cookie `name`, from its
/// `Set-Cookie` lines: a new id, the removal cookie, or nothing.
fn cookie_set(response: &Response, name: &str) -> CookieSet {
    let lines = response.headers().get_all(SET_COOKIE);
    let value = lines.iter().find_map(|line| {
        let (n, rest) = line.to_str().ok()?.split_once('=')?;
        (n == name).then(|| rest.split(';').next().unwrap_or_default())
    });
    match value.map(|v| (v, SessionId::parse(v))) {
        None => CookieSet::Kept,
        Some((value, Some(id))) => CookieSet::New {
            shown: trace::short(value),
            label: id.label().to_string(),
        },
        Some((_, None)) => CookieSet::Removed,
    }
}

/// The answer as the summary shows it: `303 See Other → GET /`.
fn in_a_few_words(response: &Response) -> String {
    let status = response.status();
    let reason = status.canonical_reason().unwrap_or_default();
    match next_request(response) {
        Some(next) => format!("{} {reason} → {next}", status.as_u16()),
        None => format!("{} {reason}", status.as_u16()),
    }
}

/// What a browser does next on a redirect, whose `Location` latch set:
/// after a 303 it follows with a GET (RFC 9110 §15.4.4: the
/// Post/Redirect/Get pattern), after a 308 it asks again with the same
/// method (§15.4.9).
fn next_request(response: &Response) -> Option<String> {
    let location = response.headers().get(LOCATION)?.to_str().ok()?;
    match response.status() {
        StatusCode::SEE_OTHER => Some(format!("GET {location}")),
        StatusCode::PERMANENT_REDIRECT => Some(format!("the same method, at {location}")),
        _ => None,
    }
}

/// The trace row of the request: the request line and the headers latch
/// looks at, secrets shortened (every cookie value but those named in the
/// second field: the notice, a fixed word).
struct TracedRequest<'a, 'b>(&'a Request<'b>, &'a [&'a str]);

impl std::fmt::Display for TracedRequest<'_, '_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let parts = self.0.parts;
        write!(
            f,
            "{} {} {:?} from {}",
            parts.method, parts.uri, parts.version, self.0.client
        )?;
        for name in [
            "host",
            "cookie",
            "content-type",
            "content-length",
            "transfer-encoding",
            "origin",
            "sec-fetch-site",
            "x-csrf-token",
            "x-forwarded-for",
            "if-none-match",
            "if-modified-since",
        ] {
            for value in parts.headers.get_all(name) {
                let value = String::from_utf8_lossy(value.as_bytes());
                let shown = match name {
                    "cookie" => trace::cookie_line(&value, self.1),
                    "x-csrf-token" => trace::short(&value),
                    _ => value.into_owned(),
                };
                write!(f, "\n{name}: {shown}")?;
            }
        }
        Ok(())
    }
}

/// The trace row of the response: the status line, what a browser does
/// next after a redirect, and every header, `Set-Cookie` values shortened
/// (as in `TracedRequest`).
struct TracedResponse<'a>(&'a Response, &'a [&'a str]);

impl std::fmt::Display for TracedResponse<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "HTTP/1.1 {}", self.0.status())?;
        match (self.0.status(), next_request(self.0)) {
            (StatusCode::SEE_OTHER, Some(next)) => write!(f, ": the browser follows with {next}")?,
            (_, Some(next)) => write!(f, ": the browser asks again with {next}")?,
            _ => {}
        }
        for (name, value) in self.0.headers() {
            let value = String::from_utf8_lossy(value.as_bytes());
            let shown = if name == SET_COOKIE {
                trace::cookie_line(&value, self.1)
            } else {
                value.into_owned()
            };
            write!(f, "\n{name}: {shown}")?;
        }
        Ok(())
    }
}

/// The trace row of a form: its fields, the password hidden, the CSRF
/// token shortened.
pub(super) struct TracedForm<'a>(pub(super) &'a Form);

impl std::fmt::Display for TracedForm<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut fields = self.0.fields().peekable();
        if fields.peek().is_none() {
            return f.write_str("(empty)");
        }
        for (i, (name, value)) in fields.enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            match name {
                "password" => write!(f, "{name}=(hidden)")?,
                "csrf_token" => write!(f, "{name}={}", trace::short(value))?,
                _ => write!(f, "{name}={value}")?,
            }
        }
        Ok(())
    }
}
