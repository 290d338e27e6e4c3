//! `GET /login` and `POST /login`: signing in.

use hyper::header::{HeaderValue, RETRY_AFTER};
use hyper::StatusCode;

use crate::app::App;
use crate::auth::{self, device, password};
use crate::error::Error;
use crate::handlers::{page_with_notice, requested_next, viewer, Request};
use crate::http::form::Form;
use crate::http::response::{html, see_other, set_cookie, Response};
use crate::log_event;
use crate::pages::error::readable_wait;
use crate::pages::{self, Viewer};
use crate::sessions;
use crate::sessions::pace::{retry_after_secs, Paced};
use crate::trace;

/// The form, carrying a safe `next` from the query into a hidden field.
pub async fn get(app: &App, request: &Request<'_>) -> Result<Response, Error> {
    let next = requested_next(&Form::default(), request.parts);
    let form = |viewer: &Viewer| pages::login(viewer, next.as_deref(), "", None);
    page_with_notice(app, request, form).await
}

/// 1. The cross-origin check has already run (every POST, in `service`).
///    Wait for this address's turn: one sign-in at a time from each
///    address (`auth::password`; at most `password::HASHING_WAIT`, else
///    503).
/// 2. The throttle decides (`auth::throttle`): this name from this address
///    and the address's failures, or this browser if its device cookie
///    proves an earlier sign-in as this name. Refused: 429 (RFC 6585 §4)
///    with `Retry-After` in seconds (RFC 9110 §10.2.3) and the form, saying
///    what was counted and how long to wait, so a person who mistyped once
///    too often sees where they are; nothing checked and nothing counted.
/// 3. Check the password off the async workers, within the hashing
///    budget. A name with no usable line is checked against a decoy, and
///    every failure is held to a floor, so that timing does not tell which
///    names exist.
/// 4. Wrong: the address counts a failure; 422 with the form and an
///    error. Nothing is granted and the session is left as it was.
/// 5. Right: the throttle forgets the name's attempts. Sign in under a
///    fresh session id (`auth::sign_in`): the old session is deleted, its
///    non-auth data coming along unless it was another user's.
/// 6. 303 to the safe `next`, else `/account`, with the new session
///    cookie and a new device cookie for this name.
pub async fn post(app: &App, request: &Request<'_>, form: &Form) -> Result<Response, Error> {
    let username = form.get("username").unwrap_or_default().to_owned();
    let password = form.get("password").unwrap_or_default().to_owned();
    let next = requested_next(form, request.parts);
    let client = request.client;
    let now = sessions::now();
    let session = auth::session::current(&app.store, &app.users, request.ids, now).await?;
    // The form again, saying what went wrong (2. and 4.).
    let form_again = |status, error: &str| {
        let viewer = viewer(session.as_ref());
        let page = pages::login(&viewer, next.as_deref(), &username, Some(error));
        html(status, page)
    };
    // 1.
    let turn = app.hashing.turn(client).await?;
    // 2. (`check`: the name's line, or the decoy, from one version of the
    //    users file for the device cookie and the check of step 3.)
    let check = app.users.password_check(&username);
    let device = check.user_hash().and_then(|hash| {
        device::presented(&request.parts.headers, app.device_cookie, &username, hash)
    });
    let attempt = app.throttle.attempt(client, &username, device);
    let limits = attempt.limits();
    if !limits.is_empty() {
        if let Paced::Refused { limit, retry_after } = app.store.pace(&limits).await? {
            let counted = attempt.counted(limit);
            log_event!(
                "login throttled user={} client={client} counted={}",
                loggable(&username),
                counted.word()
            );
            trace::row(
                "throttle",
                format_args!("{} 429, password not checked", counted.sentence()),
            );
            let retry_after = retry_after_secs(retry_after);
            let wait = readable_wait(retry_after);
            let error = format!("{} Try again in {wait}.", counted.sentence());
            let mut response = form_again(StatusCode::TOO_MANY_REQUESTS, &error);
            let retry_after = HeaderValue::from(retry_after);
            response.headers_mut().insert(RETRY_AFTER, retry_after);
            return Ok(response);
        }
    }
    trace::row(
        "throttle",
        match device {
            Some(_) => "this browser signed in as this name before: counted on its own",
            None => "this name from this address may try: attempt counted",
        },
    );
    // 3.
    let known_user = check.user_hash().is_some();
    let matched = app.hashing.check(turn, check, password).await?;
    trace::row(
        "password",
        password::Verdict {
            user: &username,
            known_user,
            matched: matched.is_some(),
        },
    );
    // 4.
    let Some(password_hash) = matched else {
        attempt.failed(&app.store).await?;
        log_event!("login failed user={}", loggable(&username));
        let error = "Wrong user name or password.";
        return Ok(form_again(StatusCode::UNPROCESSABLE_ENTITY, error));
    };
    // 5.
    attempt.succeeded(&app.store).await?;
    let ttl = app.config.session_ttl;
    let signed_in =
        auth::sign_in::sign_in(&app.store, session, &username, &password_hash, ttl, now).await?;
    trace::row("store", &signed_in);
    log_event!("login user={username}");
    // 6.
    let new = &signed_in.session;
    let mut response = see_other(next.as_deref().unwrap_or("/account"));
    set_cookie(
        &mut response,
        app.cookie.set(new.id.as_str(), new.record.max_age(now)),
    );
    set_cookie(
        &mut response,
        device::set_cookie(app.device_cookie, &username, &password_hash),
    );
    Ok(response)
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
