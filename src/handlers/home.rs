//! `GET /`: the home page. Reading a page never creates a session.

use std::sync::Arc;

use hyper::http::request::Parts;
use hyper::StatusCode;

use crate::app::App;
use crate::error::Error;
use crate::handlers::viewer;
use crate::http::notice;
use crate::http::response::{html, Response};
use crate::pages::{self, Viewer};

/// The page for the session, with the notice the request carries (after a
/// logout: "You have signed out."), shown once: the answer clears it.
pub async fn get(app: &Arc<App>, parts: &Parts) -> Result<Response, Error> {
    let session = app.session(&parts.headers).await?;
    let shown = notice::carried(&parts.headers);
    let viewer = Viewer {
        notice: shown.map(notice::Notice::text),
        ..viewer(session.as_ref())
    };
    let mut response = html(StatusCode::OK, pages::home(&viewer));
    notice::clear(&mut response, shown);
    Ok(response)
}
