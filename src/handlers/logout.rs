//! `POST /logout`: the centre of latch. Its steps, as docs/contract.md's
//! "Logout" section numbers them, and as `post` takes them:
//!
//! 1. A cross-origin request is refused with 403; nothing changes.
//! 2. A signed-in session whose token does not match its `_csrf` gets 403;
//!    nothing changes.
//! 3. Every live session the request's cookies name ends: the first (the
//!    one every page shows) as configured, keep or flush; any other (a
//!    cookie tossed in beside ours) by deletion, since the answer can set
//!    only one cookie of our name.
//! 4. `scope=all`: every other session of the user stops being signed in
//!    too, with one small write however many sessions exist.
//! 5. The answer: `303 See Other` to the safe `next`, else
//!    `--logout-redirect`; `Cache-Control: no-store`; `Clear-Site-Data:
//!    "cache"`; the cookie change of step 3; the signed-out notice.
//! 6. Without a signed-in session: the same 303, and nothing changes.
//! 7. One log line per signed-in logout: `logout user=NAME scope=this|all
//!    mode=keep|flush`.
//! 8. The change is durable before the answer leaves.
//!
//! One order differs: step 4 runs before step 3, because its write is the
//! commit point (if it fails, nothing has changed and the answer is 503;
//! once it has, the user is signed out everywhere, and a failure in step 3
//! must not turn that into a 5xx). Steps 6 and 8 need no code of their
//! own: without a signed-in session, steps 2 to 4 find nothing to do, and
//! every store call is durable when it returns (`sessions::store`). Each
//! step leaves a `--trace` row written from the value it produced, so the
//! trace can only describe what ran.
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

use std::fmt;

use hyper::header::HeaderName;

use crate::app::App;
use crate::auth::sign_out::{self, Mode, SignedOut, SignedOutEverywhere};
use crate::auth::{self, csrf};
use crate::error::Error;
use crate::handlers::{requested_next, Request};
use crate::http::form::Form;
use crate::http::notice::{self, Notice};
use crate::http::response::{insert_static, see_other, set_cookie, Response};
use crate::sessions::store::StoreError;
use crate::sessions::{self, Session};
use crate::trace;

pub async fn post(app: &App, request: &Request<'_>, form: &Form) -> Result<Response, Error> {
    let now = sessions::now();
    // 1. `service::read_post` refused a cross-origin POST with 403 before
    //    this handler ran (it guards every POST).
    trace::row("logout 1", "cross-origin check passed (service::read_post)");
    let named = auth::session::every(&app.store, &app.users, request.ids, now).await?;
    let signed_in: Vec<Session> = named
        .into_iter()
        .filter(|s| s.record.user().is_some())
        .collect();

    // 2. The token (form field `csrf_token` or header `X-CSRF-Token`)
    //    must equal the `_csrf` of a signed-in session the request names.
    let checked = csrf::check(
        signed_in.iter().map(|s| &s.record),
        csrf::given(form, &request.parts.headers),
    );
    trace::row("logout 2", &checked);
    if !checked.passed() {
        return Err(Error::Csrf);
    }

    // 4. (before 3: the commit point, see the module comment)
    let scope = match form.get("scope") {
        Some("all") => Scope::All,
        _ => Scope::This,
    };
    let everywhere = sign_out_everywhere(app, &signed_in, scope).await?;

    // 3.
    let mode = match app.config.logout_flush {
        true => Mode::Flush,
        false => Mode::Keep,
    };
    let ended = end_each(app, signed_in, &everywhere, mode, now).await?;
    for end in &ended {
        trace::row("logout 3", end);
    }
    match (everywhere.is_empty(), ended.is_empty()) {
        (false, _) => everywhere.iter().for_each(|e| trace::row("logout 4", e)),
        (true, false) => trace::row("logout 4", "scope=this: other sessions untouched"),
        (true, true) => {}
    }

    // 5.
    let target =
        requested_next(form, request.parts).unwrap_or_else(|| app.config.logout_redirect.clone());
    let (response, cookie) = answer(app, &target, ended.first(), now);
    trace::row(
        "logout 5",
        format_args!("303 to {target}, no-store, Clear-Site-Data: \"cache\"{cookie}"),
    );

    // 6.
    match ended.first() {
        Some(first) => trace::row(
            "logout 6",
            format_args!("{} was signed in: not the anonymous case", first.user),
        ),
        None => trace::row(
            "logout 6",
            "no signed-in session: the same 303, nothing changed",
        ),
    }

    // 7.
    for line in ended.iter().filter_map(Ended::log_line) {
        log_event!("{line}");
        trace::row("logout 7", format_args!("log line: {line}"));
    }

    // 8.
    if ended.iter().any(Ended::wrote) || !everywhere.is_empty() {
        trace::row(
            "logout 8",
            "durable: every store write returned before this answer, and returned means durable",
        );
    }
    Ok(response)
}

/// `scope=this` or `scope=all`.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Scope {
    This,
    All,
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Scope::This => "this",
            Scope::All => "all",
        })
    }
}

/// Step 4: with `scope=all`, each user signed in on the request has their
/// epoch advanced, once. For the first session's user this is the commit
/// point: a failure is a 503 with nothing changed. Any other user's
/// (a tossed cookie's) failure is logged: the sign-out asked for stands.
async fn sign_out_everywhere(
    app: &App,
    signed_in: &[Session],
    scope: Scope,
) -> Result<Vec<SignedOutEverywhere>, Error> {
    let mut done: Vec<SignedOutEverywhere> = Vec::new();
    if scope == Scope::This {
        return Ok(done);
    }
    for (i, session) in signed_in.iter().enumerate() {
        let user = session.record.user().unwrap_or_default();
        if done.iter().any(|e| e.user == user) {
            continue;
        }
        match sign_out::sign_out_everywhere(&app.store, user).await {
            Ok(everywhere) => done.push(everywhere),
            Err(e) if i == 0 => return Err(e.into()),
            Err(e) => log_event!(
                "logout user={user}: another session the request named was not signed out everywhere: {e}"
            ),
        }
    }
    Ok(done)
}

/// Step 3 for one session the request named.
struct Ended {
    user: String,
    /// `all` when this session's user was signed out everywhere in step 4
    /// (said once per user), else `this`.
    scope: Scope,
    /// Whether it is the first session (else a tossed one, deleted).
    first: bool,
    outcome: Result<SignedOut, StoreError>,
}

/// Step 3: the first session ends as `mode` says, every other one by
/// deletion. Where step 4 committed for the session's user, the end cannot
/// fail (`sign_out_after_commit`). Otherwise a failure of the first is a
/// 503 with nothing changed, and a failure of another is logged.
async fn end_each(
    app: &App,
    signed_in: Vec<Session>,
    everywhere: &[SignedOutEverywhere],
    mode: Mode,
    now: u64,
) -> Result<Vec<Ended>, Error> {
    let mut ended: Vec<Ended> = Vec::new();
    for (i, session) in signed_in.into_iter().enumerate() {
        let user = session.record.user().unwrap_or_default().to_owned();
        let mode = if i == 0 { mode } else { Mode::Flush };
        let committed = everywhere.iter().any(|e| e.user == user);
        let outcome = match committed {
            true => Ok(sign_out::sign_out_after_commit(&app.store, &session, mode, now).await),
            false => sign_out::sign_out(&app.store, &session, mode, now).await,
        };
        let outcome = match outcome {
            Err(e) if i == 0 => return Err(e.into()),
            Err(e) => {
                log_event!(
                    "logout user={user}: another session the request named was not ended: {e}"
                );
                Err(e)
            }
            done => done,
        };
        let said = ended.iter().any(|e| e.user == user);
        let scope = match committed && !said {
            true => Scope::All,
            false => Scope::This,
        };
        ended.push(Ended {
            user,
            scope,
            first: i == 0,
            outcome,
        });
    }
    Ok(ended)
}

impl Ended {
    /// Step 7's line, when this session's sign-out is this request's to
    /// log (not when a concurrent logout did it, nor when it failed).
    fn log_line(&self) -> Option<String> {
        let mode = self.outcome.as_ref().ok()?.logged_mode()?;
        Some(format!(
            "logout user={} scope={} mode={mode}",
            self.user, self.scope
        ))
    }

    fn wrote(&self) -> bool {
        self.outcome.as_ref().is_ok_and(SignedOut::wrote)
    }
}

/// Step 3's `--trace` row for one session.
impl fmt::Display for Ended {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.first {
            f.write_str("another session the request named: ")?;
        }
        match &self.outcome {
            Ok(outcome) => outcome.fmt(f),
            Err(e) => write!(f, "not ended: {e}"),
        }
    }
}

/// Step 5: `303 See Other` to `target` (RFC 9110 §15.4.4), which
/// `see_other` already marks `Cache-Control: no-store` (RFC 9111
/// §5.2.2.5), plus `Clear-Site-Data: "cache"` (W3C Clear Site Data §3.1),
/// so the browser also drops pages it cached while signed in. After a
/// signed-in logout it carries the first session's cookie change (the new
/// id, or the removal cookie with the attributes it was set with) and the
/// signed-out notice; after a concurrent logout won, the notice only (the
/// winner set the cookie). Returns the answer and what it says of cookies,
/// for the trace.
fn answer(app: &App, target: &str, first: Option<&Ended>, now: u64) -> (Response, &'static str) {
    let mut response = see_other(target);
    insert_static(
        &mut response,
        HeaderName::from_static("clear-site-data"),
        "\"cache\"",
    );
    let Some(first) = first else {
        return (response, "");
    };
    let cookie = match &first.outcome {
        Ok(SignedOut::Moved { to, record, .. }) => {
            set_cookie(
                &mut response,
                app.cookie.set(to.as_str(), record.max_age(now)),
            );
            ", the new id's cookie, the signed-out notice"
        }
        Ok(SignedOut::AlreadyGone { .. }) | Err(_) => {
            ", the signed-out notice (the cookie is the concurrent logout's)"
        }
        Ok(_) => {
            set_cookie(&mut response, app.cookie.removal());
            ", the removal cookie, the signed-out notice"
        }
    };
    notice::set(&mut response, app.notice_cookie, Notice::SignedOut);
    (response, cookie)
}
