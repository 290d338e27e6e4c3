//! `POST /theme`: non-auth data in the session, so a person can see a
//! session at work without signing in.

use std::net::IpAddr;
use std::sync::Arc;

use hyper::http::request::Parts;

use crate::app::{blocking, App};
use crate::error::Error;
use crate::handlers::{check_csrf, requested_next};
use crate::http::form::Form;
use crate::http::response::{see_other, set_cookie, Response};
use crate::sessions::files::file_prefix;
use crate::sessions::quota;
use crate::sessions::{self, Record, Session, SessionId, THEME};
use crate::trace;

/// 1. `theme` must be `light`, `dark` or `auto` (400 otherwise); `auto`
///    removes the stored theme, so the page follows the browser's
///    preference again.
/// 2. A signed-in session must send its CSRF token (403 otherwise).
/// 3. Store the theme in the session as it is on disk now.
/// 4. When there is no session (or it ended while this request ran),
///    create one and set its cookie (`auto` needs none), within the bounds on anonymous
///    sessions: this client address's share per minute (429, see
///    `session_quota`), and `--max-sessions` files in the dir (503).
/// 5. 303 to the safe `next`, else `/`.
pub async fn post(
    app: &Arc<App>,
    client: IpAddr,
    parts: &Parts,
    form: &Form,
) -> Result<Response, Error> {
    // 1.
    let theme = match form.get("theme") {
        Some(t @ ("light" | "dark" | "auto")) => t.to_owned(),
        _ => return Err(Error::BadRequest("theme must be light, dark or auto")),
    };
    // 2.
    let session = app.session(&parts.headers).await?;
    check_csrf(session.as_ref(), form, parts)?;
    let now = sessions::now();
    // 3.
    let stored = match session {
        Some(session) => store_theme(app, session, &theme, now).await?,
        None => false,
    };
    // 4.
    let created = if stored || theme == "auto" {
        None
    } else {
        Some(create_session(app, client, &theme, now).await?)
    };
    // 5.
    let mut response = see_other(requested_next(form, parts).as_deref().unwrap_or("/"));
    if let Some((id, max_age)) = created {
        set_cookie(&mut response, app.cookie.set(id.as_str(), max_age));
    }
    Ok(response)
}

/// Step 3: `false` when the session ended before its lock was taken.
async fn store_theme(
    app: &Arc<App>,
    session: Session,
    theme: &str,
    now: u64,
) -> Result<bool, Error> {
    let store_app = Arc::clone(app);
    let theme = theme.to_owned();
    let file = file_prefix(&session.id);
    let modified = blocking(move || {
        let changed = store_app
            .store
            .modify(&session.id, now, |r| match theme.as_str() {
                "auto" => {
                    r.data.remove(THEME);
                }
                chosen => r.set_str(THEME, chosen),
            })?;
        Ok(changed.is_some())
    })
    .await??;
    trace::row("disk", || match modified {
        true => {
            format!("{file}.json rewritten with the theme (under its lock, as it is on disk now)")
        }
        false => format!("{file}.json ended meanwhile: a new session instead"),
    });
    Ok(modified)
}

/// Step 4: a new anonymous session holding the theme; its id and the
/// cookie's `Max-Age`.
async fn create_session(
    app: &Arc<App>,
    client: IpAddr,
    theme: &str,
    now: u64,
) -> Result<(SessionId, u64), Error> {
    if let Err(retry_after) = app.quota.admit(client, now) {
        trace::row("quota", || {
            format!(
                "{client} made {} new sessions this minute: 429",
                quota::PER_MINUTE
            )
        });
        return Err(Error::NewSessionsThrottled(retry_after));
    }
    let store_app = Arc::clone(app);
    let theme = theme.to_owned();
    let created = blocking(move || {
        let config = &store_app.config;
        let mut record = Record::new(now, config.session_ttl, config.idle_timeout);
        record.set_str(THEME, &theme);
        let id = store_app.store.create_anonymous(&record)?;
        Ok(id.map(|id| (id, record.max_age(now))))
    })
    .await??;
    trace::row("disk", || match &created {
        Some((id, _)) => format!(
            "new session {}.json created with the theme",
            file_prefix(id)
        ),
        None => "the sessions dir holds --max-sessions files: 503".into(),
    });
    created.ok_or(Error::SessionsFull)
}
