//! One route's flow per file, top to bottom with early returns.
//! What several handlers share lives here.

pub mod account;
pub mod home;
pub mod login;
pub mod logout;
pub mod theme;

use hyper::http::request::Parts;

use crate::auth::csrf;
use crate::error::Error;
use crate::http::form::Form;
use crate::http::redirect::safe_next;
use crate::pages::Viewer;
use crate::sessions::Session;
use crate::trace;

/// The safe `next` of a POST: the body's field first, then the query's
/// (as Django's `RedirectURLMixin` does), kept only if `redirect::safe_next`
/// accepts it.
pub fn requested_next(form: &Form, parts: &Parts) -> Option<String> {
    let query = Form::from_query(&parts.uri);
    form.get("next")
        .or_else(|| query.get("next"))
        .and_then(safe_next)
}

/// A signed-in session's state-changing POST must carry the session's CSRF
/// token, as the form field `csrf_token` or the header `X-CSRF-Token`
/// (OWASP "Synchronizer Token Pattern"), compared in constant time.
/// Sessions without a sign-in have nothing worth forging, and the
/// cross-origin check still covers them.
pub fn check_csrf(session: Option<&Session>, form: &Form, parts: &Parts) -> Result<(), Error> {
    let Some(session) = session.filter(|s| s.record.user().is_some()) else {
        trace::row("csrf", || {
            "not signed in: no token needed (the cross-origin check covers it)".into()
        });
        return Ok(());
    };
    let given = form
        .get("csrf_token")
        .or_else(|| {
            parts
                .headers
                .get("x-csrf-token")
                .and_then(|v| v.to_str().ok())
        })
        .unwrap_or_default();
    let matched = session
        .record
        .csrf_token()
        .is_some_and(|expected| csrf::matches(expected, given));
    trace::row("csrf", || match matched {
        true => format!(
            "token {} equals the session's _csrf (constant-time compare)",
            trace::short(given)
        ),
        false if given.is_empty() => "no csrf_token field or X-CSRF-Token header → 403".into(),
        false => format!("token {} does not equal _csrf → 403", trace::short(given)),
    });
    if matched {
        Ok(())
    } else {
        Err(Error::Csrf)
    }
}

/// What a page needs to know about the session it is rendered for.
pub fn viewer(session: Option<&Session>) -> Viewer<'_> {
    Viewer::of(session.map(|s| &s.record))
}
