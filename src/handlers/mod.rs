//! One route's flow per file, top to bottom with early returns.
//! What several handlers share lives here.

pub mod account;
pub mod home;
pub mod login;
pub mod logout;
pub mod theme;
pub mod trace;

use std::net::IpAddr;

use hyper::http::request::Parts;
use hyper::StatusCode;

use crate::app::App;
use crate::auth;
use crate::error::Error;
use crate::http::form::Form;
use crate::http::notice::{self, Notice};
use crate::http::redirect::safe_next;
use crate::http::response::{html, Response};
use crate::pages::Viewer;
use crate::sessions::{self, CookieIds, Session};

/// One request as a handler sees it, taken apart once by `service`.
pub struct Request<'a> {
    /// The request line and headers.
    pub parts: &'a Parts,
    /// The client's address (`http::forwarded`).
    pub client: IpAddr,
    /// The session ids its cookies name, parsed once.
    pub ids: &'a CookieIds,
}

/// The safe `next` of a request: the form's field first, then the query's
/// (as Django's `RedirectURLMixin` does), kept only if
/// `http::redirect::safe_next` accepts it.
pub fn requested_next(form: &Form, parts: &Parts) -> Option<String> {
    let query = Form::from_query(&parts.uri);
    form.get("next")
        .or_else(|| query.get("next"))
        .and_then(safe_next)
}

/// What a page needs to know about the session it is rendered for.
pub fn viewer(session: Option<&Session>) -> Viewer<'_> {
    Viewer::of(session.map(|s| &s.record))
}

/// `GET /` and `GET /login`: the page `render` makes for the request's
/// session, with the one-time notice the request carries (after a logout:
/// "You have signed out."), which the answer clears so it shows once. The
/// notice is shown only to someone signed out: signed in again within its
/// minute, "You have signed out" would contradict the page. It is cleared
/// either way.
pub async fn page_with_notice(
    app: &App,
    request: &Request<'_>,
    render: impl FnOnce(&Viewer) -> String,
) -> Result<Response, Error> {
    let now = sessions::now();
    let session = auth::session::current(&app.store, &app.users, request.ids, now).await?;
    let carried = notice::carried(&request.parts.headers, app.notice_cookie);
    let signed_in = session.as_ref().is_some_and(|s| s.record.user().is_some());
    let viewer = Viewer {
        notice: carried.filter(|_| !signed_in).map(Notice::text),
        ..viewer(session.as_ref())
    };
    let mut response = html(StatusCode::OK, render(&viewer));
    notice::clear(&mut response, app.notice_cookie, carried);
    Ok(response)
}
