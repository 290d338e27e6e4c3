//! `GET /account`: the protected page.

use std::sync::Arc;

use hyper::http::request::Parts;
use hyper::StatusCode;

use crate::app::App;
use crate::error::Error;
use crate::handlers::viewer;
use crate::http::response::{html, see_other, Response};
use crate::pages;
use crate::trace;

/// Signed in: 200 with the user, the login time and a logout form, never
/// cached (`html` adds `no-store`), so Back after a logout cannot show it.
/// Not signed in: 303 to the sign-in page, which comes back here after.
pub async fn get(app: &Arc<App>, parts: &Parts) -> Result<Response, Error> {
    let session = app.session(&parts.headers).await?;
    let signed_in = session.as_ref().and_then(|s| Some((s, s.record.user()?)));
    let Some((session, user)) = signed_in else {
        trace::row("account", || {
            "not signed in: 303 to the sign-in page, which comes back here".into()
        });
        return Ok(see_other("/login?next=%2Faccount"));
    };
    trace::row("account", || {
        format!("signed in as {user}: the page, never cached")
    });
    let signed_in_at = session.record.auth_time();
    let page = pages::account(&viewer(Some(session)), user, signed_in_at);
    Ok(html(StatusCode::OK, page))
}
