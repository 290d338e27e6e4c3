//! `GET /account`: the protected page.

use hyper::StatusCode;

use crate::app::App;
use crate::auth;
use crate::error::Error;
use crate::handlers::{viewer, Request};
use crate::http::response::{html, see_other, Response};
use crate::pages;
use crate::sessions;
use crate::trace;

/// Signed in: 200 with the user, the login time and a logout form, never
/// cached (`html` adds `no-store`), so Back after a logout cannot show it.
/// Not signed in: 303 to the sign-in page, which comes back here after.
pub async fn get(app: &App, request: &Request<'_>) -> Result<Response, Error> {
    let now = sessions::now();
    let session = auth::session::current(&app.store, &app.users, request.ids, now).await?;
    let signed_in = session.as_ref().and_then(|s| Some((s, s.record.user()?)));
    let Some((session, user)) = signed_in else {
        trace::row(
            "account",
            "not signed in: 303 to the sign-in page, which comes back here",
        );
        return Ok(see_other("/login?next=%2Faccount"));
    };
    trace::row(
        "account",
        format_args!("signed in as {user}: the page, never cached"),
    );
    let signed_in_at = session.record.auth_time();
    let page = pages::account(&viewer(Some(session)), user, signed_in_at);
    Ok(html(StatusCode::OK, page))
}
