//! The service: one request in, one response out, never an error.
//! It routes, runs the cross-origin check on every POST, reads form bodies,
//! loads the request's session, calls the handler, and turns every error
//! into a response.

use std::convert::Infallible;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hyper::body::Incoming;
use hyper::header::{HeaderMap, HOST};
use hyper::http::request::Parts;
use hyper::{Method, Request, StatusCode, Version};
use tokio::sync::Semaphore;

use crate::auth::throttle::Throttle;
use crate::auth::users::{session_auth_hash, UsersFile};
use crate::cli::Config;
use crate::error::{self, Error};
use crate::handlers;
use crate::http::cookies::{self, SessionCookie};
use crate::http::form::{self, Form};
use crate::http::forwarded::client_address;
use crate::http::origin;
use crate::http::response::{self as http, Response};
use crate::http::router::{route, Route};
use crate::sessions::files::{file_prefix, Store};
use crate::sessions::quota::SessionQuota;
use crate::sessions::{self, Record, Session, SessionId};
use crate::static_files;
use crate::trace;

/// At most this many `sid` cookies of one request are looked up. A
/// browser sends one per path or parent domain that set one, a handful at
/// most; the bound keeps one request from costing a thousand file look-ups.
pub const MAX_SESSION_COOKIES: usize = 16;

/// What every request can reach: configuration, users and the session store.
pub struct App {
    pub config: Config,
    pub store: Store,
    pub users: UsersFile,
    pub throttle: Throttle,
    /// New anonymous sessions per client address.
    pub quota: SessionQuota,
    /// Password checks running at once: one per core. A login flood then
    /// queues here instead of taking every core (and 19 MiB per check)
    /// from the other requests.
    pub hashing: Semaphore,
    pub cookie: SessionCookie,
    /// The www dir, canonicalized once at start; `None` when it is missing.
    pub www_root: Option<PathBuf>,
}

impl App {
    pub fn new(config: Config, store: Store, users: UsersFile) -> App {
        let www_root = std::fs::canonicalize(&config.www).ok();
        App {
            cookie: SessionCookie {
                secure: config.secure_cookies,
            },
            store,
            users,
            throttle: Throttle::new(config.login_throttle),
            quota: SessionQuota::default(),
            hashing: Semaphore::new(std::thread::available_parallelism().map_or(1, |n| n.get())),
            www_root,
            config,
        }
    }

    /// The request's live session, or `None`: the first `sid` cookie, in
    /// header order, that names a live session (`live_session`). A cookie
    /// that names a dead one does not hide a live one behind it: a sibling
    /// subdomain can plant a cookie of our name ahead of ours ("cookie
    /// tossing"; without `--secure-cookies` and its `__Host-` prefix, RFC
    /// 6265bis §4.1.3.2, nothing stops it), and the user must not then look
    /// signed out while their session lives on.
    pub async fn session(self: &Arc<Self>, headers: &HeaderMap) -> Result<Option<Session>, Error> {
        for id in self.named_ids(headers) {
            if let Some(session) = self.live_session(id).await? {
                return Ok(Some(session));
            }
        }
        Ok(None)
    }

    /// Every live session the request's `sid` cookies name, in header
    /// order: what a logout ends.
    pub async fn sessions(self: &Arc<Self>, headers: &HeaderMap) -> Result<Vec<Session>, Error> {
        let mut sessions = Vec::new();
        for id in self.named_ids(headers) {
            if let Some(session) = self.live_session(id).await? {
                sessions.push(session);
            }
        }
        Ok(sessions)
    }

    /// The well-formed ids among the request's cookies of our name, in
    /// order, each once, at most `MAX_SESSION_COOKIES` of them. Anything
    /// else (a forged, truncated or path-like value) is no session, decided
    /// without touching the disk.
    fn named_ids(&self, headers: &HeaderMap) -> Vec<SessionId> {
        let mut ids: Vec<SessionId> = Vec::new();
        let well_formed = cookies::values(headers, self.cookie.name()).filter_map(SessionId::parse);
        for id in well_formed {
            if ids.len() == MAX_SESSION_COOKIES {
                break;
            }
            if !ids.contains(&id) {
                ids.push(id);
            }
        }
        if ids.is_empty() {
            trace::row("session", || {
                match cookies::values(headers, self.cookie.name()).next() {
                    None => format!("no {} cookie: no session", self.cookie.name()),
                    Some(value) => format!(
                        "{}={} is not a well-formed id: no session, disk untouched",
                        self.cookie.name(),
                        trace::short(value)
                    ),
                }
            });
        }
        ids
    }

    /// The session `id` names, if it is live.
    ///
    /// 1. Load its file. A well-formed id with no live file is no session:
    ///    latch never adopts an id it did not issue (OWASP "strict session
    ///    management").
    /// 2. A signed-in session whose `_auth_hash` no longer matches its user
    ///    (password changed, user removed, "sign out everywhere") is signed
    ///    out now, in its file too.
    /// 3. With `--idle-timeout`, record this use, but only when the last
    ///    recorded one is older than a tenth of the timeout, so that most
    ///    reads stay reads.
    ///
    /// Steps 2 and 3 write through `Store::modify`, which re-checks under
    /// the session's lock: a concurrent logout is never undone.
    ///
    /// The file is read on the async worker: it is a few hundred bytes,
    /// almost always in the page cache, and a thread hop would cost more.
    async fn live_session(self: &Arc<Self>, id: SessionId) -> Result<Option<Session>, Error> {
        // 1.
        let now = sessions::now();
        let Some(record) = self.store.load(&id, now)? else {
            trace::row("session", || {
                format!(
                    "{}.json: no live file (missing, expired or unreadable): no session",
                    file_prefix(&id)
                )
            });
            return Ok(None);
        };
        trace::row("session", || {
            format!(
                "loaded {}.json\n{}",
                file_prefix(&id),
                trace::record_json(&record)
            )
        });
        // 2.
        let stale_auth = !self.auth_is_current(&record);
        // 3.
        let idle = self.store.idle_timeout();
        let last_seen = record.seen.unwrap_or(record.created);
        let touch = idle > 0 && now.saturating_sub(last_seen) >= (idle / 10).max(1);
        if !stale_auth && !touch {
            return Ok(Some(Session { id, record }));
        }
        let mut fallback = Session {
            id: id.clone(),
            record: record.clone(),
        };
        if stale_auth {
            fallback.record.remove_auth();
        }
        let app = Arc::clone(self);
        let updated = blocking(move || {
            let changed = app.store.modify(&id, now, |r| {
                if !app.auth_is_current(r) {
                    log_event!(
                        "signed out user={}: password changed, user removed or signed out everywhere",
                        r.user().unwrap_or("-")
                    );
                    r.remove_auth();
                    r.renew_csrf();
                }
                if idle > 0 {
                    r.seen = Some(now);
                }
            })?;
            Ok(changed.map(|(record, ())| Session { id, record }))
        })
        .await?;
        trace::row("session", || {
            let file = file_prefix(&fallback.id);
            if stale_auth {
                format!("sign-in void (_auth_hash no longer matches the user): auth fields removed, {file}.json rewritten")
            } else {
                format!("last use recorded (seen={now}): {file}.json rewritten")
            }
        });
        // A write that fails here (disk full, read-only) must not fail a
        // read: the sign-in check above holds without it, so the request
        // goes on with the change made in memory only.
        updated.or_else(|e| {
            log_event!(
                "session {} not updated, serving from memory: {e}",
                file_prefix(&fallback.id)
            );
            Ok(Some(fallback))
        })
    }

    /// The session an error page is rendered for (its theme, who is signed
    /// in): read only, as an error answer changes no session; its sign-in
    /// dropped (in memory) when it no longer stands; `None` when it cannot
    /// be read.
    fn record_for_error_page(&self, id: Option<SessionId>) -> Option<Record> {
        let mut record = self.store.load(&id?, sessions::now()).ok()??;
        if !self.auth_is_current(&record) {
            record.remove_auth();
        }
        Some(record)
    }

    /// Whether a session's sign-in still stands: true when no one is signed
    /// in; otherwise its `_auth_hash` must equal the one computed from the
    /// user's current password hash and epoch (compared in constant time).
    pub fn auth_is_current(&self, record: &Record) -> bool {
        let users = self.users.snapshot();
        record.sign_in_stands(|user| {
            Some(session_auth_hash(
                users.hash_of(user)?,
                self.store.epoch(user),
            ))
        })
    }

    /// One sweep of the sessions dir (`Store::sweep`), signing out in their
    /// files the sessions whose sign-in no longer stands. While the users
    /// file holds no user at all (missing, or emptied mid-edit), no file is
    /// changed for it: that is far likelier a moment of an edit than every
    /// user removed, and each request still checks its own sign-in.
    pub fn sweep(&self, now: u64) -> io::Result<usize> {
        if self.users.snapshot().is_empty() {
            return self.store.sweep(now, &|_| true);
        }
        self.store
            .sweep(now, &|record| self.auth_is_current(record))
    }
}

/// hyper's entry point. The error type is `Infallible`: every failure is
/// answered with a status line. Each request leaves one access-log line.
pub async fn handle(
    app: Arc<App>,
    peer: SocketAddr,
    request: Request<Incoming>,
) -> Result<Response, Infallible> {
    let started = Instant::now();
    let (method, path) = (request.method().clone(), request.uri().path().to_owned());
    let session = session_file_prefix(&app, request.headers());
    let client = client_address(peer.ip(), app.config.trusted_proxy, request.headers());
    let response = if app.config.trace {
        let (response, rows) = trace::collect(traced(&app, client, request)).await;
        log_event!("{}", trace::render(&format!("{method} {path}"), &rows));
        response
    } else {
        answer(&app, client, request).await
    };
    access_log(&method, &path, response.status(), started, client, &session);
    Ok(response)
}

/// The response to one request, errors turned into statuses (a page for a
/// browser, see `error::present`), HEAD without a body.
async fn answer(app: &Arc<App>, client: IpAddr, request: Request<Incoming>) -> Response {
    let is_head = request.method() == Method::HEAD;
    let asked = error::Asked::of(request.method(), request.uri().path(), request.headers());
    let id = cookies::values(request.headers(), app.cookie.name()).find_map(SessionId::parse);
    let response = dispatch(app, client, request).await.unwrap_or_else(|e| {
        trace::row("error", || format!("{e:?}"));
        e.into_response()
    });
    let response = error::present(response, &asked, || app.record_for_error_page(id));
    if is_head {
        http::strip_body_for_head(response)
    } else {
        response
    }
}

/// `answer`, with the request and the response in the trace table.
async fn traced(app: &Arc<App>, client: IpAddr, request: Request<Incoming>) -> Response {
    trace::row("request", || trace_request(&request, client));
    let response = answer(app, client, request).await;
    trace::row("response", || trace_response(&response));
    response
}

/// The request line and the headers latch looks at, secrets shortened.
fn trace_request(request: &Request<Incoming>, client: IpAddr) -> String {
    let mut text = format!(
        "{} {} {:?} from {client}",
        request.method(),
        request.uri(),
        request.version()
    );
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
        for value in request.headers().get_all(name) {
            let value = String::from_utf8_lossy(value.as_bytes());
            let shown = match name {
                "cookie" => trace::cookie_line(&value),
                "x-csrf-token" => trace::short(&value),
                _ => value.into_owned(),
            };
            text.push_str(&format!("\n{name}: {shown}"));
        }
    }
    text
}

/// The status line and every header, `Set-Cookie` values shortened.
fn trace_response(response: &Response) -> String {
    let mut text = format!("HTTP/1.1 {}", response.status());
    for (name, value) in response.headers() {
        let value = String::from_utf8_lossy(value.as_bytes());
        let shown = if name == hyper::header::SET_COOKIE {
            trace::cookie_line(&value)
        } else {
            value.into_owned()
        };
        text.push_str(&format!("\n{name}: {shown}"));
    }
    text
}

/// One line per request on standard error: method, path (never the query,
/// which may hold a `next` or worse), status, duration, client address, and
/// the first hex digits of the session's file name. Never a cookie value,
/// a password or a token.
fn access_log(
    method: &Method,
    path: &str,
    status: StatusCode,
    started: Instant,
    client: IpAddr,
    session: &str,
) {
    // A client chooses both, so both are cut (see `log`).
    let method = crate::log::cut(method.as_str(), crate::log::MAX_VALUE);
    let path = crate::log::cut(path, crate::log::MAX_PATH);
    let micros = started.elapsed().as_micros();
    crate::log::access(format_args!(
        "access {method} {path} {} {micros}us client={} session={session}",
        status.as_u16(),
        client
    ));
}

/// The file-name prefix of the session the request's cookie names, or `-`.
fn session_file_prefix(app: &App, headers: &HeaderMap) -> String {
    cookies::values(headers, app.cookie.name())
        .find_map(SessionId::parse)
        .map_or_else(|| "-".into(), |id| file_prefix(&id))
}

/// 1. HTTP/1.1 requires one `Host` (RFC 9112 §3.2: a request that lacks it
///    or carries more than one "MUST" get 400), and the cross-origin check
///    compares against it.
/// 2. Route, and hand the request to its handler; POST bodies pass
///    `read_post` first.
async fn dispatch(
    app: &Arc<App>,
    client: IpAddr,
    request: Request<Incoming>,
) -> Result<Response, Error> {
    // 1.
    if request.version() == Version::HTTP_11 && !request.headers().contains_key(HOST) {
        return Err(Error::BadRequest(
            "HTTP/1.1 requests must carry a Host header",
        ));
    }
    if request.headers().get_all(HOST).iter().nth(1).is_some() {
        return Err(Error::BadRequest(
            "a request must carry one Host header, not several",
        ));
    }
    // 2.
    let route = route(request.method(), request.uri().path());
    let (parts, body) = request.into_parts();
    match route {
        Route::Options(allow) => Ok(http::options(allow)),
        Route::MethodNotAllowed(allow) => Ok(http::method_not_allowed(allow)),
        Route::Healthz => Ok(http::text(StatusCode::OK, "ok\n")),
        Route::Static => static_files::respond(app, &parts).await,
        Route::Home => handlers::home::get(app, &parts).await,
        Route::Theme => {
            let form = read_post(app, &parts, body).await?;
            handlers::theme::post(app, client, &parts, &form).await
        }
        Route::LoginForm => handlers::login::get(app, &parts).await,
        Route::Login => {
            let form = read_post(app, &parts, body).await?;
            handlers::login::post(app, client, &parts, &form).await
        }
        Route::Account => handlers::account::get(app, &parts).await,
        Route::Logout => {
            let form = read_post(app, &parts, body).await?;
            handlers::logout::post(app, &parts, &form).await
        }
    }
}

/// The gate every POST passes before its handler runs:
/// 1. the cross-origin check (403), before any byte of the body is read;
/// 2. the form body, within its size, type and time limits (413, 415, 408).
async fn read_post(app: &App, parts: &Parts, body: Incoming) -> Result<Form, Error> {
    // 1.
    let verdict = origin::check(&parts.headers);
    trace::row("origin", || match verdict {
        Ok(why) => format!("cross-origin check passed: {why}"),
        Err(why) => format!("cross-origin check refused: {why} → 403"),
    });
    if verdict.is_err() {
        return Err(Error::CrossOrigin);
    }
    // 2.
    let time_limit = Duration::from_secs(app.config.client_timeout);
    let form = form::read(&parts.headers, body, time_limit).await?;
    trace::row("form", || trace_form(&form));
    Ok(form)
}

/// The form's fields; the password hidden, the CSRF token shortened.
fn trace_form(form: &Form) -> String {
    let fields: Vec<String> = form
        .fields()
        .map(|(name, value)| match name {
            "password" => format!("{name}=(hidden)"),
            "csrf_token" => format!("{name}={}", trace::short(value)),
            _ => format!("{name}={value}"),
        })
        .collect();
    if fields.is_empty() {
        "(empty)".into()
    } else {
        fields.join(" ")
    }
}

/// Runs blocking file work (writes with fsync, directory scans) on tokio's
/// blocking pool, so the async workers keep serving other requests.
pub async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> io::Result<T> + Send + 'static,
) -> Result<io::Result<T>, Error> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| Error::Internal(format!("blocking task failed: {e}")))
}
