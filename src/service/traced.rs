//! One request, traced (`--trace`, docs/contract.md, "Tracing"), and the
//! rows of what arrived and what left, secrets cut.

use std::fmt::{self, Display, Formatter};

use hyper::body::Incoming;
use hyper::header::{HeaderValue, LOCATION, SET_COOKIE};
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
        trace::row("request", traced_request(request, &public));
        let mut response = answer(app, request, body).await;
        if let Some((key, true)) = &browser {
            set_cookie(&mut response, app.trace_cookie.set(key, COOKIE_MAX_AGE));
        }
        trace::row("response", traced_response(&response, &public));
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
    if let (Some((key, _)), Some(recent)) = (browser, &app.recent) {
        if worth_keeping(parts, response.status()) {
            recent.keep(&key, traced);
        }
    }
    response
}

/// The browser a traced request comes from, as `/_trace` knows it: its
/// `trace` cookie's value, and whether it is new (the answer sets the
/// cookie). The one its cookie names; or, for a browser without one latch
/// knows (a request that accepts HTML), a new one: a fresh value from the
/// OS random source, never one the client sent. `None` for a client that
/// is no browser (curl): its requests are printed only.
fn browser_of(app: &App, parts: &Parts) -> Option<(String, bool)> {
    let recent = app.recent.as_ref()?;
    let mut sent = cookies::values(&parts.headers, app.trace_cookie.name());
    if let Some(key) = sent.find(|key| recent.knows(key)) {
        return Some((key.to_owned(), false));
    }
    if !accepts_html(&parts.headers) {
        return None;
    }
    let key = hex(&random_32());
    recent.add(key.clone());
    Some((key, true))
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
        Some((_, next)) => format!("{} {reason} → {next}", status.as_u16()),
        None => format!("{} {reason}", status.as_u16()),
    }
}

/// What a browser does next on a redirect, whose `Location` latch set, and
/// how a person says it: after a 303 it follows with a GET (RFC 9110
/// §15.4.4: the Post/Redirect/Get pattern), after a 308 it asks again with
/// the same method (§15.4.9).
fn next_request(response: &Response) -> Option<(&'static str, String)> {
    let location = response.headers().get(LOCATION)?.to_str().ok()?;
    match response.status() {
        StatusCode::SEE_OTHER => Some(("follows with", format!("GET {location}"))),
        StatusCode::PERMANENT_REDIRECT => {
            Some(("asks again with", format!("the same method, at {location}")))
        }
        _ => None,
    }
}

/// The trace row of the request: the request line and the headers latch
/// looks at, secrets shortened (as `header` shows them).
fn traced_request<'a>(request: &'a Request<'_>, public: &'a [&str]) -> impl Display + 'a {
    fmt::from_fn(move |f| {
        let parts = request.parts;
        write!(
            f,
            "{} {} {:?} from {}",
            parts.method, parts.uri, parts.version, request.client
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
                header(f, name, value, public)?;
            }
        }
        Ok(())
    })
}

/// The trace row of the response: the status line, what a browser does
/// next after a redirect, and every header (as `header` shows them).
fn traced_response<'a>(response: &'a Response, public: &'a [&str]) -> impl Display + 'a {
    fmt::from_fn(move |f| {
        write!(f, "HTTP/1.1 {}", response.status())?;
        if let Some((does, next)) = next_request(response) {
            write!(f, ": the browser {does} {next}")?;
        }
        for (name, value) in response.headers() {
            header(f, name.as_str(), value, public)?;
        }
        Ok(())
    })
}

/// One header line of a trace row, secrets shortened: every cookie value
/// but those named in `public` (the notice, a fixed word), and a CSRF token.
fn header(f: &mut Formatter<'_>, name: &str, value: &HeaderValue, public: &[&str]) -> fmt::Result {
    let value = String::from_utf8_lossy(value.as_bytes());
    let shown = match name {
        "cookie" | "set-cookie" => trace::cookie_line(&value, public),
        "x-csrf-token" => trace::short(&value),
        _ => value.into_owned(),
    };
    write!(f, "\n{name}: {shown}")
}

/// The trace row of a form: its fields, the password hidden, the CSRF
/// token shortened.
pub(super) fn traced_form(form: &Form) -> impl Display + '_ {
    fmt::from_fn(move |f| {
        let mut fields = form.fields().peekable();
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
    })
}
