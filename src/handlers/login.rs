//! `GET /login` and `POST /login`: signing in.

use hyper::header::{HeaderValue, RETRY_AFTER};
use hyper::StatusCode;

use crate::app::App;
use crate::auth::throttle::Verdict;
use crate::auth::{self, password};
use crate::error::Error;
use crate::handlers::{requested_next, viewer, viewer_with_notice, Request};
use crate::http::form::Form;
use crate::http::notice;
use crate::http::redirect::safe_next;
use crate::http::response::{html, see_other, set_cookie, Response};
use crate::pages;
use crate::sessions::{self, Session};
use crate::trace;

/// The form, carrying a safe `next` from the query into a hidden field.
pub async fn get(app: &App, request: &Request<'_>) -> Result<Response, Error> {
    let now = sessions::now();
    let session = auth::session::current(&app.store, &app.users, request.ids, now).await?;
    let next = Form::from_query(&request.parts.uri)
        .get("next")
        .and_then(safe_next);
    let (viewer, carried) = viewer_with_notice(app, session.as_ref(), request);
    let mut response = html(
        StatusCode::OK,
        pages::login(&viewer, next.as_deref(), "", None),
    );
    notice::clear(&mut response, app.notice_cookie, carried);
    Ok(response)
}

/// 1. The cross-origin check has already run (every POST, in `service`);
///    then the throttle admits the attempt and counts it at once, or
///    answers 429 with the form and `Retry-After`, checking nothing.
/// 2. Check the password off the async workers, one check per core at a
///    time (waiting at most `password::HASHING_WAIT`, else 503). A name
///    with no usable line is checked against a decoy, and every failure is
///    held to a floor, so that timing does not tell which names exist
///    (`auth::password`).
/// 3. Wrong: 422 with the form and an error. Nothing is granted and the
///    session is left as it was; the attempt stays counted.
/// 4. Right: the throttle takes the attempt back. Sign in under a fresh
///    session id (`auth::sign_in`): the old session is deleted, its
///    non-auth data coming along unless it was another user's.
/// 5. 303 to the safe `next`, else `/account`, with the new cookie.
pub async fn post(app: &App, request: &Request<'_>, form: &Form) -> Result<Response, Error> {
    let username = form.get("username").unwrap_or_default().to_owned();
    let password = form.get("password").unwrap_or_default().to_owned();
    let next = requested_next(form, request.parts);
    let client = request.client;
    let now = sessions::now();
    let session = auth::session::current(&app.store, &app.users, request.ids, now).await?;
    // 1.
    let verdict = app
        .throttle
        .admit_in(&app.store, client, &username, now)
        .await?;
    if let Verdict::Throttled { retry_after } = verdict {
        log_event!(
            "login throttled user={} client={client}",
            loggable(&username)
        );
        trace::row(
            "throttle",
            format_args!("too many attempts from {client}: 429, password not checked"),
        );
        return Ok(throttled(
            session.as_ref(),
            next.as_deref(),
            &username,
            retry_after,
        ));
    }
    trace::row(
        "throttle",
        format_args!("{client} may try: attempt counted"),
    );
    // 2.
    let check = app.users.password_check(&username);
    let known_user = check.is_known_user();
    let matched = password::check(&app.hashing, check, password).await?;
    trace::row(
        "password",
        password::Verdict {
            user: &username,
            known_user,
            matched: matched.is_some(),
        },
    );
    // 3.
    let Some(password_hash) = matched else {
        log_event!("login failed user={}", loggable(&username));
        let error = Some("Wrong user name or password.");
        let page = pages::login(&viewer(session.as_ref()), next.as_deref(), &username, error);
        return Ok(html(StatusCode::UNPROCESSABLE_ENTITY, page));
    };
    // 4.
    app.throttle
        .succeeded_in(&app.store, client, &username)
        .await?;
    let ttl = app.config.session_ttl;
    let signed_in =
        auth::sign_in::sign_in(&app.store, session, &username, &password_hash, ttl, now).await?;
    trace::row("store", &signed_in);
    log_event!("login user={username}");
    // 5.
    let new = &signed_in.session;
    let mut response = see_other(next.as_deref().unwrap_or("/account"));
    set_cookie(
        &mut response,
        app.cookie.set(new.id.as_str(), new.record.max_age(now)),
    );
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
