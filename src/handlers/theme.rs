//! `POST /theme`: non-auth data in the session, so a person can see a
//! session at work without signing in.

use crate::app::App;
use crate::auth::{self, csrf};
use crate::error::Error;
use crate::handlers::{requested_next, Request};
use crate::http::form::Form;
use crate::http::response::{see_other, set_cookie, Response};
use crate::sessions::pace::{retry_after_secs, Paced};
use crate::sessions::quota;
use crate::sessions::{self, Record, Session, THEME};
use crate::trace;

/// 1. `theme` must be `light`, `dark` or `auto` (400 otherwise); `auto`
///    removes the stored theme, so the page follows the browser's
///    preference again.
/// 2. A signed-in session must send its CSRF token (403 otherwise).
/// 3. Store the theme in the session as it is stored now.
/// 4. When there is no session (or it ended while this request ran),
///    create one and set its cookie (`auto` needs none), within the
///    bounds on anonymous sessions: this client address's pace (429,
///    see `sessions::quota`), and `--max-sessions` in the
///    store (503).
/// 5. 303 to the safe `next`, else `/`.
pub async fn post(app: &App, request: &Request<'_>, form: &Form) -> Result<Response, Error> {
    // 1.
    let theme = match form.get("theme") {
        Some(t @ ("light" | "dark" | "auto")) => t.to_owned(),
        _ => return Err(Error::BadRequest("theme must be light, dark or auto")),
    };
    // 2.
    let now = sessions::now();
    let session = auth::session::current(&app.store, &app.users, request.ids, now).await?;
    let signed_in = session.iter().filter(|s| s.record.user().is_some());
    let checked = csrf::check(
        signed_in.map(|s| &s.record),
        csrf::given(form, &request.parts.headers),
    );
    trace::row("csrf", &checked);
    if !checked.passed() {
        return Err(Error::Csrf);
    }
    // 3.
    let stored = match session {
        Some(session) => store_theme(app, session, &theme, now).await?,
        None => false,
    };
    // 4.
    let created = if stored || theme == "auto" {
        None
    } else {
        Some(create_session(app, request, &theme, now).await?)
    };
    // 5.
    let next = requested_next(form, request.parts);
    let mut response = see_other(next.as_deref().unwrap_or("/"));
    if let Some(cookie) = created {
        set_cookie(&mut response, cookie);
    }
    Ok(response)
}

/// Step 3: `false` when the session ended before the change could apply.
async fn store_theme(app: &App, session: Session, theme: &str, now: u64) -> Result<bool, Error> {
    let chosen = theme.to_owned();
    let change = move |r: &mut Record| match chosen.as_str() {
        "auto" => {
            r.data.remove(THEME);
        }
        chosen => r.set_str(THEME, chosen),
    };
    let modified = app
        .store
        .modify(&session.id, &session.version, now, change)
        .await?
        .is_some();
    let what = match modified {
        true => "rewritten with the theme (as it is stored now)",
        false => "ended meanwhile: a new session instead",
    };
    let label = session.id.label();
    trace::row("store", format_args!("session {label} {what}"));
    Ok(modified)
}

/// Step 4: a new anonymous session holding the theme; its cookie.
async fn create_session(
    app: &App,
    request: &Request<'_>,
    theme: &str,
    now: u64,
) -> Result<String, Error> {
    let client = request.client;
    if let Paced::Refused { retry_after, .. } =
        app.store.pace(&[quota::new_sessions(client)]).await?
    {
        trace::row(
            "quota",
            format_args!(
                "{client} made {} new sessions at once, then one per {} s: 429",
                quota::BURST,
                quota::INTERVAL.as_secs()
            ),
        );
        return Err(Error::NewSessionsThrottled(retry_after_secs(retry_after)));
    }
    let ttl = app.config.session_ttl;
    let mut record = Record::new(now, ttl, app.store.idle_timeout(), csrf::new_token());
    record.set_str(THEME, theme);
    let Some(id) = app.store.create_anonymous(&record, now).await? else {
        trace::row("store", "the store holds --max-sessions sessions: 503");
        return Err(Error::SessionsFull);
    };
    let label = id.label();
    trace::row(
        "store",
        format_args!("new session {label} created with the theme"),
    );
    Ok(app.cookie.set(id.as_str(), record.max_age(now)))
}
