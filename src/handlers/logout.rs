//! `POST /logout`: the centre of latch. Read it beside SPEC.md's "Logout"
//! section; the numbered comments are its steps, in its order.
//!
//! Why each piece is there:
//! - POST only (the router answers 405 to the rest): a GET must be safe
//!   (RFC 9110 §9.2.1), and a logout link can be fired by a prefetcher or
//!   by an `<img>` on someone else's page (Django removed GET logout in 5.0).
//! - A new session id even when the data stays, so a copied cookie is dead
//!   and the browser sees its cookie change (OWASP Session Management).
//! - The change is on disk before the answer leaves (express-session #526),
//!   and an in-flight request cannot write the sign-in back (#632): see
//!   `Store::rotate`.

use std::sync::Arc;

use hyper::header::HeaderName;
use hyper::http::request::Parts;

use crate::app::{blocking, App};
use crate::error::Error;
use crate::form::Form;
use crate::handlers::{check_csrf, requested_next};
use crate::http::{insert_static, see_other, set_cookie, Response};
use crate::session::{self, SessionId};
use crate::session_store::{file_prefix, Rotated};
use crate::trace;

/// `scope=this` or `scope=all`.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Scope {
    This,
    All,
}

pub async fn post(app: &Arc<App>, parts: &Parts, form: &Form) -> Result<Response, Error> {
    // 1. Cross-origin check: `app::read_post` refused a cross-origin POST
    //    with 403 before this handler ran (it guards every POST).
    trace::row("logout 1", || {
        "cross-origin check passed (app::read_post)".into()
    });

    // 5. (decided first, used by every answer below) The target: the safe
    //    `next` (body, then query), else `--logout-redirect`.
    let target = requested_next(form, parts).unwrap_or_else(|| app.config.logout_redirect.clone());
    let session = app.session(&parts.headers).await?;

    // 6. No signed-in session: the same 303, and nothing changes; an
    //    anonymous session's file stays as it is, in flush mode too.
    let Some(session) = session.filter(|s| s.record.user().is_some()) else {
        trace::row("logout 6", || {
            format!("no signed-in session: 303 to {target}, nothing changes")
        });
        return Ok(answer(&target));
    };
    let user = session.record.user().unwrap_or_default().to_owned();

    // 2. A signed-in session must send its CSRF token (form field
    //    `csrf_token` or header `X-CSRF-Token`), compared in constant
    //    time; otherwise 403 and nothing changes.
    trace::row("logout 2", || "signed in: its CSRF token must match".into());
    check_csrf(Some(&session), form, parts)?;

    // 3., 4. and 8.: see `end_sign_in`.
    let scope = match form.get("scope") {
        Some("all") => Scope::All,
        _ => Scope::This,
    };
    let now = session::now();
    let old_file = file_prefix(&session.id);
    let outcome = end_sign_in(app, session.id, &user, scope, now).await?;
    trace_steps(&outcome, &old_file, &user, scope, &target);

    // 5. 303 See Other to the target, never cached, asking the browser to
    //    drop what it cached for this site; plus the cookie change of step 3.
    let mut response = answer(&target);
    let mode = match outcome {
        Rotated::Moved(id, record) => {
            set_cookie(
                &mut response,
                app.cookie.set(id.as_str(), record.max_age(now)),
            );
            "keep"
        }
        Rotated::Deleted => {
            set_cookie(&mut response, app.cookie.removal());
            "flush"
        }
        // A concurrent logout got there first: it logged, it set the cookie.
        Rotated::Gone => return Ok(response),
    };
    crate::notice::set(&mut response, crate::notice::Notice::SignedOut);

    // 7. One audit line per signed-in logout.
    let scope = if scope == Scope::All { "all" } else { "this" };
    log_event!("logout user={user} scope={scope} mode={mode}");
    Ok(response)
}

/// Steps 3, 4 and 8, on a blocking thread (they write and fsync):
///
/// 3. Remove every `_auth_` field and replace `_csrf`, then either move what
///    remains to a fresh id ("keep"), or, with `--logout-flush` or when only
///    `_csrf` would remain, delete the file ("flush"). `Store::rotate` does
///    it under the session's lock, on the file as it is now.
/// 4. `scope=all`: first advance the user's epoch, which ends every session
///    of the user (this one too) at their next request, at the cost of one
///    small write however many sessions exist. That write is the commit
///    point: if it fails, 503 and nothing changed; once it is done, the user
///    is signed out everywhere, so a failure to move this session afterwards
///    must not turn the answer into a 5xx. Its file, void already, is
///    dropped with the cookie and expires in time.
/// 8. Every write and unlink is fsynced, with its directory, before the
///    store returns: the change is durable before the answer is sent.
async fn end_sign_in(
    app: &Arc<App>,
    id: SessionId,
    user: &str,
    scope: Scope,
    now: u64,
) -> Result<Rotated, Error> {
    let app = Arc::clone(app);
    let user = user.to_owned();
    let flush_always = app.config.logout_flush;
    let outcome = blocking(move || {
        // 4.
        if scope == Scope::All {
            app.store.bump_epoch(&user)?;
        }
        // 3.
        let moved = app.store.rotate(&id, now, |record| {
            record.remove_auth();
            record.renew_csrf();
            !flush_always && !record.holds_only_csrf()
        });
        match moved {
            Err(e) if scope == Scope::All => {
                log_event!("logout user={user}: signed out everywhere, but this session's file was not moved: {e}");
                Ok(Rotated::Deleted)
            }
            other => other,
        }
    })
    .await??;
    Ok(outcome)
}

/// Every logout answer: `303 See Other` to `target` (RFC 9110 §15.4.4),
/// which `see_other` already marks `Cache-Control: no-store` (RFC 9111
/// §5.2.2.5), plus `Clear-Site-Data: "cache"` (W3C Clear Site Data §3.1), so
/// the browser also drops pages it cached while signed in.
fn answer(target: &str) -> Response {
    let mut response = see_other(target);
    insert_static(
        &mut response,
        HeaderName::from_static("clear-site-data"),
        "\"cache\"",
    );
    response
}

/// The `--trace` rows of steps 3 to 8 of a signed-in logout, in SPEC.md's
/// order.
fn trace_steps(outcome: &Rotated, old_file: &str, user: &str, scope: Scope, target: &str) {
    trace::row("logout 3", || match outcome {
        Rotated::Moved(id, record) => format!(
            "keep: _auth_* removed, _csrf replaced, moved to {}.json; {old_file}.json deleted\n{}",
            file_prefix(id),
            trace::record_json(record)
        ),
        Rotated::Deleted => format!("flush: {old_file}.json deleted, the cookie removed"),
        Rotated::Gone => "a concurrent logout got there first: nothing left to do".into(),
    });
    trace::row("logout 4", || match scope {
        Scope::All => format!("scope=all: {user}'s epoch advanced, all their other sessions void"),
        Scope::This => "scope=this: other sessions untouched".into(),
    });
    trace::row("logout 5", || {
        format!("303 to {target}, no-store, Clear-Site-Data: \"cache\"")
    });
    trace::row("logout 6", || {
        format!("{user} was signed in: not the anonymous case")
    });
    trace::row("logout 7", || format!("log line: logout user={user}"));
    trace::row("logout 8", || {
        "durable: every change fsynced, with its directory, before this answer".into()
    });
}
