//! `POST /logout`: the centre of latch. Read it beside docs/contract.md's "Logout"
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
use crate::auth::csrf;
use crate::error::Error;
use crate::handlers::requested_next;
use crate::http::form::Form;
use crate::http::response::{insert_static, see_other, set_cookie, Response};
use crate::sessions::files::{file_prefix, Rotated};
use crate::sessions::{self, Session, SessionId};
use crate::trace;

/// `scope=this` or `scope=all`.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Scope {
    This,
    All,
}

impl Scope {
    /// As the log line spells it.
    fn name(self) -> &'static str {
        match self {
            Scope::This => "this",
            Scope::All => "all",
        }
    }
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
    let sessions = app.sessions(&parts.headers).await?;

    // 6. No signed-in session: the same 303, and nothing changes; an
    //    anonymous session's file stays as it is, in flush mode too.
    let signed_in: Vec<Session> = sessions
        .into_iter()
        .filter(|s| s.record.user().is_some())
        .collect();
    if signed_in.is_empty() {
        trace::row("logout 6", || {
            format!("no signed-in session: 303 to {target}, nothing changes")
        });
        return Ok(answer(&target));
    }

    // 2. The CSRF token (form field `csrf_token` or header `X-CSRF-Token`)
    //    must equal the `_csrf` of a signed-in session the request names;
    //    otherwise 403 and nothing changes. See `check_token`.
    check_token(&signed_in, form, parts)?;

    // 3., 4. and 8.: see `end_sign_in`. Every signed-in session the
    // request's cookies name ends: the first one (the one every page
    // shows) as configured, any other (a cookie tossed in beside it) by
    // deletion, since the answer can set only one cookie of our name.
    let scope = match form.get("scope") {
        Some("all") => Scope::All,
        _ => Scope::This,
    };
    let now = sessions::now();
    let mut response = answer(&target);
    let mut others = signed_in.into_iter();
    let first = others.next().expect("signed_in is not empty");
    let user = first.record.user().unwrap_or_default().to_owned();
    let old_file = file_prefix(&first.id);
    let flush = app.config.logout_flush;
    let outcome = end_sign_in(app, first.id, &user, scope, flush, now).await?;
    trace_steps(&outcome, &old_file, &user, scope, &target);

    // 5. 303 See Other to the target, never cached, asking the browser to
    //    drop what it cached for this site; plus the cookie change of step 3.
    let mode = match outcome {
        Rotated::Moved(id, record) => {
            set_cookie(
                &mut response,
                app.cookie.set(id.as_str(), record.max_age(now)),
            );
            Some("keep")
        }
        Rotated::Deleted => {
            set_cookie(&mut response, app.cookie.removal());
            Some("flush")
        }
        // A concurrent logout got there first: it logged, it set the cookie.
        Rotated::Gone => None,
    };
    crate::http::notice::set(&mut response, crate::http::notice::Notice::SignedOut);

    // 7. One audit line per signed-in logout.
    if let Some(mode) = mode {
        log_event!("logout user={user} scope={} mode={mode}", scope.name());
    }
    end_other_sign_ins(app, others, user, scope, now).await;
    Ok(response)
}

/// Steps 3, 4 and 7 for the other signed-in sessions a request names (a
/// cookie tossed in beside ours): each file is deleted, whatever the mode,
/// since the answer's one cookie belongs to the first; `scope=all`
/// advances each user's epoch once. The sign-out asked for (the first
/// session) is done by now, so a failure here is logged, not turned into
/// a 5xx that would hide it.
async fn end_other_sign_ins(
    app: &Arc<App>,
    others: impl Iterator<Item = Session>,
    first_user: String,
    scope: Scope,
    now: u64,
) {
    let mut ended = vec![first_user];
    for other in others {
        let user = other.record.user().unwrap_or_default().to_owned();
        let scope = if ended.contains(&user) {
            Scope::This
        } else {
            scope
        };
        match end_sign_in(app, other.id, &user, scope, true, now).await {
            Ok(Rotated::Gone) => {}
            Ok(_) => log_event!("logout user={user} scope={} mode=flush", scope.name()),
            Err(e) => log_event!(
                "logout user={user}: another session the request named was not ended: {e:?}"
            ),
        }
        ended.push(user);
    }
}

/// Step 2. A request may name several signed-in sessions: a sibling
/// subdomain can toss a cookie of our name in beside ours. Its token must
/// equal the `_csrf` of one of them (each compared in constant time): the
/// page that holds the logout form was rendered for one of them (the first
/// live one, see `App::session`), and only a page of this origin can know a
/// session's token. Asking for the token of every one would leave the
/// very user whose browser carries a tossed cookie unable to sign out.
fn check_token(signed_in: &[Session], form: &Form, parts: &Parts) -> Result<(), Error> {
    let given = form
        .get("csrf_token")
        .or_else(|| {
            parts
                .headers
                .get("x-csrf-token")
                .and_then(|v| v.to_str().ok())
        })
        .unwrap_or_default();
    let matched = signed_in.iter().fold(false, |matched, session| {
        let expected = session.record.csrf_token().unwrap_or_default();
        matched | (!expected.is_empty() && csrf::matches(expected, given))
    });
    trace::row("logout 2", || match matched {
        true => format!(
            "token {} equals the _csrf of a signed-in session named (constant-time compare)",
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

/// Steps 3, 4 and 8, on a blocking thread (they write and fsync):
///
/// 3. Remove every `_auth_` field and replace `_csrf`, then either move what
///    remains to a fresh id ("keep"), or, with `flush` (`--logout-flush`)
///    or when only `_csrf` would remain, delete the file ("flush").
///    `Store::sign_out` does it under the session's lock, on the file as it
///    is now; when the disk is too full to write the moved session, it
///    deletes the old file anyway: a flush, never a failed sign-out.
/// 4. `scope=all`: first advance the user's epoch, which ends every session
///    of the user (this one too) at their next request, at the cost of one
///    small write however many sessions exist, on a full disk too (see
///    `Store::bump_epoch`). That write is the commit point: if it fails,
///    503 and nothing changed; once it is done, the user is signed out
///    everywhere, so a failure to move this session afterwards must not
///    turn the answer into a 5xx. Its file, void already, is dropped with
///    the cookie, and the next sweep signs it out on disk too.
/// 8. Every write and unlink is fsynced, with its directory, before the
///    store returns: the change is durable before the answer is sent.
async fn end_sign_in(
    app: &Arc<App>,
    id: SessionId,
    user: &str,
    scope: Scope,
    flush: bool,
    now: u64,
) -> Result<Rotated, Error> {
    let app = Arc::clone(app);
    let user = user.to_owned();
    let outcome = blocking(move || {
        // 4.
        if scope == Scope::All {
            app.store.bump_epoch(&user)?;
        }
        // 3.
        let moved = app.store.sign_out(&id, now, |record| {
            record.remove_auth();
            record.renew_csrf();
            !flush && !record.holds_only_csrf()
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

/// The `--trace` rows of steps 3 to 8 of a signed-in logout, in the contract's
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
