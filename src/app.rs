//! The service: one request in, one response out, never an error.
//! It routes, runs the cross-origin check on every POST, reads form bodies,
//! loads the request's session, calls the handler, and turns every error
//! into a response.

use std::convert::Infallible;
use std::io;
use std::path::PathBuf;
use std::sync::Arc;

use hyper::body::Incoming;
use hyper::header::HeaderMap;
use hyper::http::request::Parts;
use hyper::{Method, Request, StatusCode};

use crate::cli::Config;
use crate::cookies::{self, SessionCookie};
use crate::error::Error;
use crate::form::{self, Form};
use crate::handlers;
use crate::http::{self, Response};
use crate::origin;
use crate::router::{route, Route};
use crate::session::{self, Session, SessionId};
use crate::session_store::Store;
use crate::static_files;

/// What every request can reach: configuration and the session store.
pub struct App {
    pub config: Config,
    pub store: Store,
    pub cookie: SessionCookie,
    /// The www dir, canonicalized once at start; `None` when it is missing.
    pub www_root: Option<PathBuf>,
}

impl App {
    pub fn new(config: Config, store: Store) -> App {
        let www_root = std::fs::canonicalize(&config.www).ok();
        App {
            cookie: SessionCookie {
                secure: config.secure_cookies,
            },
            store,
            www_root,
            config,
        }
    }

    /// The request's live session, or `None`.
    ///
    /// 1. Take the first cookie of our name whose value is a well-formed id;
    ///    anything else (a forged, truncated or path-like value) is no
    ///    session, decided without touching the disk.
    /// 2. Load its file. A well-formed id with no live file is no session
    ///    too: latch never adopts an id it did not issue (OWASP "strict
    ///    session management").
    /// 3. With `--idle-timeout`, record this use, but only when the last
    ///    recorded one is older than a tenth of the timeout, so that most
    ///    reads stay reads.
    ///
    /// The file is read on the async worker: it is a few hundred bytes,
    /// almost always in the page cache, and a thread hop would cost more.
    pub async fn session(self: &Arc<Self>, headers: &HeaderMap) -> Result<Option<Session>, Error> {
        // 1.
        let Some(id) = cookies::values(headers, self.cookie.name()).find_map(SessionId::parse)
        else {
            return Ok(None);
        };
        // 2.
        let now = session::now();
        let Some(record) = self.store.load(&id, now)? else {
            return Ok(None);
        };
        // 3.
        let idle = self.store.idle_timeout();
        let last_seen = record.seen.unwrap_or(record.created);
        if idle > 0 && now.saturating_sub(last_seen) >= (idle / 10).max(1) {
            let app = Arc::clone(self);
            let refreshed = blocking(move || {
                app.store
                    .modify(&id, now, |r| r.seen = Some(now))
                    .map(|m| m.map(|(r, ())| (id, r)))
            })
            .await??;
            return Ok(refreshed.map(|(id, record)| Session { id, record }));
        }
        Ok(Some(Session { id, record }))
    }
}

/// hyper's entry point. The error type is `Infallible`: every failure is
/// answered with a status line.
pub async fn handle(app: Arc<App>, request: Request<Incoming>) -> Result<Response, Infallible> {
    let is_head = request.method() == Method::HEAD;
    let response = dispatch(&app, request)
        .await
        .unwrap_or_else(Error::into_response);
    Ok(if is_head {
        http::strip_body_for_head(response)
    } else {
        response
    })
}

async fn dispatch(app: &Arc<App>, request: Request<Incoming>) -> Result<Response, Error> {
    let route = route(request.method(), request.uri().path());
    let (parts, body) = request.into_parts();
    match route {
        Route::Options(allow) => Ok(http::options(allow)),
        Route::MethodNotAllowed(allow) => Ok(http::method_not_allowed(allow)),
        Route::Healthz => Ok(http::text(StatusCode::OK, "ok\n")),
        Route::Static => static_files::respond(app, &parts).await,
        Route::Home => handlers::home::get(app, &parts).await,
        Route::Theme => {
            let form = read_post(&parts, body).await?;
            handlers::theme::post(app, &parts, &form).await
        }
        Route::LoginForm | Route::Login | Route::Account | Route::Logout => Ok(http::not_found()),
    }
}

/// The gate every POST passes before its handler runs:
/// 1. the cross-origin check (403), before any byte of the body is read;
/// 2. the form body, within its size, type and time limits (413, 415, 408).
async fn read_post(parts: &Parts, body: Incoming) -> Result<Form, Error> {
    // 1.
    if !origin::is_allowed(&parts.headers) {
        return Err(Error::CrossOrigin);
    }
    // 2.
    Ok(form::read(&parts.headers, body).await?)
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
