//! `GET /login` and `POST /login`: signing in.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper::header::{HeaderValue, RETRY_AFTER};
use hyper::http::request::Parts;
use hyper::StatusCode;

use crate::app::{blocking, App};
use crate::auth::throttle::Verdict;
use crate::auth::users::{session_auth_hash, PasswordCheck};
use crate::error::Error;
use crate::handlers::{requested_next, viewer};
use crate::http::form::Form;
use crate::http::notice;
use crate::http::redirect::safe_next;
use crate::http::response::{html, see_other, set_cookie, Response};
use crate::pages::{self, Viewer};
use crate::sessions::files::{file_prefix, Rotated};
use crate::sessions::{self, Record, Session};
use crate::trace;

/// How long a login waits for a free password-hashing slot.
const HASHING_WAIT: Duration = Duration::from_secs(10);

/// The form, carrying a safe `next` from the query into a hidden field.
pub async fn get(app: &Arc<App>, parts: &Parts) -> Result<Response, Error> {
    let session = app.session(&parts.headers).await?;
    let next = Form::from_query(&parts.uri).get("next").and_then(safe_next);
    let shown = notice::carried(&parts.headers);
    let viewer = Viewer {
        notice: shown.map(notice::Notice::text),
        ..viewer(session.as_ref())
    };
    let mut response = html(
        StatusCode::OK,
        pages::login(&viewer, next.as_deref(), "", None),
    );
    notice::clear(&mut response, shown);
    Ok(response)
}

/// 1. The cross-origin check has already run (every POST, in `app`); then
///    the throttle admits the attempt and counts it at once, or answers 429
///    with the form and `Retry-After`, checking nothing.
/// 2. Check the password off the async workers, one check per core at a
///    time (waiting at most `HASHING_WAIT`, else 503). A name with no usable
///    line is checked against a decoy, and every failure is held to a floor,
///    so that timing does not tell which names exist (`users::timing`).
/// 3. Wrong: 422 with the form and an error. Nothing is granted and the
///    session is left as it was; the attempt stays counted.
/// 4. Right: the throttle takes the attempt back. Sign in under a fresh
///    session id (OWASP: renew the id at login, against session fixation).
///    The old file is deleted; its non-auth data comes along unless it was
///    another user's session.
/// 5. 303 to the safe `next`, else `/account`, with the new cookie.
pub async fn post(
    app: &Arc<App>,
    client: IpAddr,
    parts: &Parts,
    form: &Form,
) -> Result<Response, Error> {
    let username = form.get("username").unwrap_or_default().to_owned();
    let password = form.get("password").unwrap_or_default().to_owned();
    let next = requested_next(form, parts);
    let session = app.session(&parts.headers).await?;
    // 1.
    if let Verdict::Throttled { retry_after } =
        app.throttle.admit(client, &username, sessions::now())
    {
        log_event!(
            "login throttled user={} client={client}",
            loggable(&username)
        );
        trace::row("throttle", || {
            format!("too many attempts from {client}: 429, password not checked")
        });
        return Ok(throttled(
            session.as_ref(),
            next.as_deref(),
            &username,
            retry_after,
        ));
    }
    trace::row("throttle", || format!("{client} may try: attempt counted"));
    // 2.
    let check = app.users.password_check(&username);
    let known_user = check.is_known_user();
    let matched = check_password(app, check, password).await?;
    trace::row("password", || match (known_user, matched.is_some()) {
        (true, true) => format!("matches {username}'s hash (checked on a blocking thread)"),
        (true, false) => format!("does not match {username}'s hash (answered at the floor)"),
        (false, _) => "no such user: checked against the decoy, answered at the floor".into(),
    });
    // 3.
    let Some(password_hash) = matched else {
        log_event!("login failed user={}", loggable(&username));
        let error = Some("Wrong user name or password.");
        let page = pages::login(&viewer(session.as_ref()), next.as_deref(), &username, error);
        return Ok(html(StatusCode::UNPROCESSABLE_ENTITY, page));
    };
    // 4.
    app.throttle.succeeded(client, &username);
    let auth_hash = session_auth_hash(&password_hash, app.store.epoch(&username));
    let old = session.as_ref().map(|s| file_prefix(&s.id));
    let (id, max_age) = sign_in(app, session, username.clone(), auth_hash).await?;
    trace::row("disk", || match &old {
        Some(old) => format!(
            "{}.json written (fresh id, signed in, new _csrf); {old}.json deleted",
            file_prefix(&id)
        ),
        None => format!("{}.json written (fresh id, signed in)", file_prefix(&id)),
    });
    log_event!("login user={username}");
    // 5.
    let mut response = see_other(next.as_deref().unwrap_or("/account"));
    set_cookie(&mut response, app.cookie.set(id.as_str(), max_age));
    Ok(response)
}

/// 429 Too Many Requests (RFC 6585 §4) with `Retry-After` in seconds (RFC
/// 9110 §10.2.3): the sign-in form again, saying how long to wait, so a
/// person who mistyped once too often sees where they are.
fn throttled(
    session: Option<&Session>,
    next: Option<&str>,
    username: &str,
    retry_after: u64,
) -> Response {
    let minutes = retry_after.div_ceil(60);
    let error = format!(
        "Too many failed sign-ins. Try again in {minutes} minute{}.",
        if minutes == 1 { "" } else { "s" }
    );
    let page = pages::login(&viewer(session), next, username, Some(&error));
    let mut response = html(StatusCode::TOO_MANY_REQUESTS, page);
    response
        .headers_mut()
        .insert(RETRY_AFTER, HeaderValue::from(retry_after));
    response
}

/// Runs `check` on the blocking pool, one per core at a time; the user's
/// hash when the password matches it. A failure is answered no sooner
/// than the check's floor after the check began (a timer: the hashing slot
/// is already free), so every failure takes as long as the slowest hash.
async fn check_password(
    app: &Arc<App>,
    check: PasswordCheck,
    password: String,
) -> Result<Option<String>, Error> {
    let permit = tokio::time::timeout(HASHING_WAIT, app.hashing.acquire())
        .await
        .map_err(|_| Error::Busy)?
        .map_err(|_| Error::Busy)?;
    let floor = tokio::time::Instant::now() + check.floor();
    let matched = blocking(move || Ok(check.run(&password))).await??;
    drop(permit);
    if matched.is_none() {
        tokio::time::sleep_until(floor).await;
    }
    Ok(matched)
}

/// Moves the session (or a new one) to a fresh id with `user` signed in;
/// returns the new id and the cookie's `Max-Age`. A sign-in starts a new
/// lifetime: `created` and `expires` are reset.
async fn sign_in(
    app: &Arc<App>,
    session: Option<Session>,
    user: String,
    auth_hash: String,
) -> Result<(sessions::SessionId, u64), Error> {
    let app = Arc::clone(app);
    let now = sessions::now();
    blocking(move || {
        let (ttl, idle) = (app.config.session_ttl, app.config.idle_timeout);
        let fresh = Record::new(now, ttl, idle);
        let start = |r: &mut Record| {
            if r.user().is_some_and(|previous| previous != user) {
                r.data.clear();
            }
            r.remove_auth();
            (r.created, r.expires, r.seen) = (fresh.created, fresh.expires, fresh.seen);
            r.sign_in(&user, &auth_hash, now);
            true
        };
        if let Some(old) = session {
            if let Rotated::Moved(id, record) = app.store.rotate(&old.id, now, start)? {
                return Ok((id, record.max_age(now)));
            }
        }
        let mut record = fresh.clone();
        record.sign_in(&user, &auth_hash, now);
        Ok((app.store.create(&record)?, record.max_age(now)))
    })
    .await?
    .map_err(Error::Storage)
}

/// A user name as it may appear in a log line: whatever a client typed,
/// with control characters escaped so it cannot forge log lines.
fn loggable(name: &str) -> String {
    let max = crate::log::MAX_VALUE;
    let escaped: String = name
        .chars()
        .take(max)
        .flat_map(char::escape_debug)
        .collect();
    crate::log::cut(&escaped, max).into_owned()
}
