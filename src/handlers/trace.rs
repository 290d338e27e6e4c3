//! `GET /_trace`, only with `--trace` (docs/contract.md, "Tracing"): this
//! browser's recent requests (`trace::Recent`), laid out by `pages::trace`.

use hyper::StatusCode;

use crate::app::App;
use crate::auth;
use crate::error::Error;
use crate::handlers::{viewer, Request};
use crate::http::cookies;
use crate::http::response::{html, Response};
use crate::pages;
use crate::sessions;

/// The page, for the session's theme and navigation like any other, with
/// the requests of the browser the request's `trace` cookie names: none
/// for a cookie latch did not set, or has forgotten.
pub async fn get(app: &App, request: &Request<'_>) -> Result<Response, Error> {
    let now = sessions::now();
    let session = auth::session::current(&app.store, &app.users, request.ids, now).await?;
    let requests = app.recent.as_ref().map_or_else(Vec::new, |recent| {
        let mut keys = cookies::values(&request.parts.headers, app.trace_cookie.name());
        keys.find(|key| recent.knows(key))
            .map_or_else(Vec::new, |key| recent.of(key))
    });
    let page = pages::trace::page(&viewer(session.as_ref()), &requests);
    Ok(html(StatusCode::OK, page))
}
