//! `GET /`: the home page. Reading a page never creates a session.

use hyper::StatusCode;

use crate::app::App;
use crate::auth;
use crate::error::Error;
use crate::handlers::{viewer_with_notice, Request};
use crate::http::notice;
use crate::http::response::{html, Response};
use crate::pages;
use crate::sessions;

/// The page for the session, with the notice the request carries (after a
/// logout: "You have signed out."), shown once: the answer clears it.
pub async fn get(app: &App, request: &Request<'_>) -> Result<Response, Error> {
    let now = sessions::now();
    let session = auth::session::current(&app.store, &app.users, request.ids, now).await?;
    let (viewer, carried) = viewer_with_notice(app, session.as_ref(), request);
    let mut response = html(StatusCode::OK, pages::home(&viewer));
    notice::clear(&mut response, app.notice_cookie, carried);
    Ok(response)
}
