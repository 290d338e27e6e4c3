//! `POST /logout`: the centre of latch. Its steps, as docs/contract.md's
//! "Logout" section numbers them:
//!
//! 1. A cross-origin request is refused with 403; nothing changes
//!    (`service::read_post`, before any handler runs, for every POST).
//! 2. A signed-in session whose token does not match its `_csrf` gets 403;
//!    nothing changes.
//! 3. The sign-in ends: keep (a fresh id) or flush (deleted).
//! 4. `scope=all`: every other session of the user stops being signed in.
//! 5. The answer: `303 See Other` to the safe `next`, else
//!    `--logout-redirect`, with `Cache-Control: no-store`,
//!    `Clear-Site-Data: "cache"`, the cookie change and the notice.
//! 6. Without a signed-in session: the same 303, and nothing changes.
//! 7. One log line per signed-in logout.
//! 8. The change is durable before the answer leaves.
//!
//! Steps 3, 4, 6 and 8 are `auth::sign_out`'s (as Django's view calls
//! `logout(request)`); the answer follows from the one value it returns.
//!
//! Why each piece is there:
//! - POST only (the router answers 405 to the rest): a GET must be safe
//!   (RFC 9110 §9.2.1), and a logout link can be fired by a prefetcher or
//!   by an `<img>` on someone else's page (Django removed GET logout in 5.0).
//! - A new session id even when the data stays, so a copied cookie is dead
//!   and the browser sees its cookie change (OWASP Session Management).
//! - The change is durable before the answer leaves (express-session
//!   #526), and an in-flight request cannot write the sign-in back (#632):
//!   see `Store::rotate`.

use hyper::header::HeaderName;

use crate::app::App;
use crate::auth::sign_out::{self, Mode, Scope, SignedOut};
use crate::auth::{self, csrf};
use crate::error::Error;
use crate::handlers::{requested_next, Request};
use crate::http::form::Form;
use crate::http::notice;
use crate::http::response::{insert_static, see_other, set_cookie, Response};
use crate::log_event;
use crate::sessions;
use crate::trace;

pub async fn post(app: &App, request: &Request<'_>, form: &Form) -> Result<Response, Error> {
    let now = sessions::now();
    let named = auth::session::every(&app.store, &app.users, request.ids, now).await?;
    // A cookie that names no live session: what made it gone may be
    // another request's sign-out that replicas have not confirmed yet.
    let named_gone = named.len() < request.ids.iter().count();
    let signed_in: Vec<_> = named
        .into_iter()
        .filter(|s| s.record.user().is_some())
        .collect();
    // 2. The token (form field `csrf_token` or header `X-CSRF-Token`) must
    //    equal the `_csrf` of a signed-in session the request names.
    let checked = csrf::check(
        signed_in.iter().map(|s| &s.record),
        csrf::given(form, &request.parts.headers),
    );
    trace::row("csrf", format_args!("step 2: {checked}"));
    if !checked.passed() {
        return Err(Error::Csrf);
    }
    // 3, 4, 6 and 8.
    let scope = Scope::of(form.get("scope"));
    let mode = match app.config.logout_flush {
        true => Mode::Flush,
        false => Mode::Keep,
    };
    let user = signed_in.first().and_then(|s| s.record.user());
    let user = user.unwrap_or("-").to_owned();
    let signed_out =
        match sign_out::sign_out(&app.store, signed_in, named_gone, scope, mode, now).await {
            Ok(signed_out) => signed_out,
            Err(e) => {
                // 7, for a sign-out that failed: nothing changed, and the
                // audit trail says so (the store's own line says why).
                log_event!("logout user={user} scope={scope} failed: still signed in");
                return Err(e.into());
            }
        };
    // 7.
    if let Some(line) = signed_out.log_line() {
        log_event!("{line}");
    }
    // 5.
    let target =
        requested_next(form, request.parts).unwrap_or_else(|| app.config.logout_redirect.clone());
    Ok(answer(app, &target, &signed_out, now))
}

/// Step 5: `303 See Other` to `target` (RFC 9110 §15.4.4), which
/// `see_other` already marks `Cache-Control: no-store` (RFC 9111
/// §5.2.2.5), plus `Clear-Site-Data: "cache"` (W3C Clear Site Data §3.1),
/// so the browser also drops pages it cached while signed in; then the
/// cookie change and the signed-out notice, as `signed_out` says.
fn answer(app: &App, target: &str, signed_out: &SignedOut, now: u64) -> Response {
    let mut response = see_other(target);
    insert_static(
        &mut response,
        HeaderName::from_static("clear-site-data"),
        "\"cache\"",
    );
    if let Some(cookie) = signed_out.cookie(app.cookie, now) {
        set_cookie(&mut response, cookie);
    }
    if let Some(shown) = signed_out.notice() {
        notice::set(&mut response, app.notice_cookie, shown);
    }
    response
}
