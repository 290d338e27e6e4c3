//! `GET /`: the home page. Reading a page never creates a session.

use hyper::StatusCode;

use crate::app::App;
use crate::auth;
use crate::error::Error;
use crate::handlers::{viewer, Request};
use crate::http::notice;
use crate::http::response::{html, Response};
use crate::pages::{self, Viewer};
use crate::sessions;

/// The page for the session, with the notice the request carries (after a
/// logout: "You have signed out."), shown once: the answer clears it.
pub async fn get(app: &App, request: &Request<'_>) -> Result<Response, Error> {
    let now = sessions::now();
    let session = auth::session::current(&app.store, &app.users, request.ids, now).await?;
    let carried = notice::carried(&request.parts.headers);
    // Shown only to someone signed out: signed in again within the notice's
    // minute, "You have signed out" would contradict the page. Cleared
    // either way.
    let signed_in = session.as_ref().is_some_and(|s| s.record.user().is_some());
    let shown = carried.filter(|_| !signed_in);
    let viewer = Viewer {
        notice: shown.map(notice::Notice::text),
        ..viewer(session.as_ref())
    };
    let mut response = html(StatusCode::OK, pages::home(&viewer));
    notice::clear(&mut response, carried);
    Ok(response)
}
