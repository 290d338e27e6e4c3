//! `POST /theme`: non-auth data in the session, so a person can see a
//! session at work without signing in.

use std::sync::Arc;

use hyper::http::request::Parts;

use crate::app::{blocking, App};
use crate::error::Error;
use crate::form::Form;
use crate::handlers::{check_csrf, requested_next};
use crate::http::{see_other, set_cookie, Response};
use crate::session::{self, Record, THEME};
use crate::session_store::file_prefix;
use crate::trace;

/// 1. `theme` must be `light`, `dark` or `auto` (400 otherwise).
/// 2. A signed-in session must send its CSRF token (403 otherwise).
/// 3. Store the theme in the session as it is on disk now; when there is no
///    session (or it ended while this request ran), create one and set its
///    cookie. `auto` removes the stored theme (the page then follows the
///    browser's preference); with no session there is nothing to remove.
/// 4. 303 to the safe `next`, else `/`.
pub async fn post(app: &Arc<App>, parts: &Parts, form: &Form) -> Result<Response, Error> {
    // 1.
    let theme = match form.get("theme") {
        Some(t @ ("light" | "dark" | "auto")) => t.to_owned(),
        _ => return Err(Error::BadRequest("theme must be light, dark or auto")),
    };
    // 2.
    let session = app.session(&parts.headers).await?;
    check_csrf(session.as_ref(), form, parts)?;
    // 3.
    let now = session::now();
    let store_app = Arc::clone(app);
    let id = session.map(|s| s.id);
    let existing = id.as_ref().map(file_prefix);
    let created = blocking(move || {
        let app = store_app;
        if let Some(id) = id {
            let choose = |r: &mut Record| match theme.as_str() {
                "auto" => {
                    r.data.remove(THEME);
                }
                chosen => r.set_str(THEME, chosen),
            };
            if app.store.modify(&id, now, choose)?.is_some() {
                return Ok(None);
            }
        }
        if theme == "auto" {
            return Ok(None);
        }
        let mut record = Record::new(now, app.config.session_ttl, app.config.idle_timeout);
        record.set_str(THEME, &theme);
        let id = app.store.create(&record)?;
        Ok(Some((id, record.max_age(now))))
    })
    .await??;
    trace::row("disk", || match (&created, &existing) {
        (None, Some(file)) => {
            format!("{file}.json rewritten with the theme (under its lock, as it is on disk now)")
        }
        (Some((id, _)), _) => format!(
            "new session {}.json created with the theme",
            file_prefix(id)
        ),
        (None, None) => "auto and no session: nothing to store, no session created".into(),
    });
    // 4.
    let mut response = see_other(requested_next(form, parts).as_deref().unwrap_or("/"));
    if let Some((id, max_age)) = created {
        set_cookie(&mut response, app.cookie.set(id.as_str(), max_age));
    }
    Ok(response)
}
