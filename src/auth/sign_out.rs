//! Signing out (Django's `logout`): the request's signed-in sessions lose
//! their sign-in, and with `scope=all` so does every other session of
//! their users (docs/contract.md, "Logout", steps 3, 4, 6 and 8). The
//! handler asks; this decides, and answers with one value saying exactly
//! what happened, whose methods say what the answer carries.
//!
//! The steps, in the order they run:
//!
//! 4. `scope=all`: each user signed in on the request has their epoch
//!    advanced, once (`Store::bump_epoch`): one small write that voids the
//!    `_auth_hash` of every session of theirs at its next request, however
//!    many there are. It runs before step 3 because it is the commit point:
//!    if it fails for the request's own session, nothing has changed and
//!    the answer is 503; once it has, the user is signed out everywhere,
//!    and a failure in step 3 must not turn that into a 5xx.
//! 3. Every `_auth_` field removed and `_csrf` replaced. The request's own
//!    session (the one its pages show) then moves to a fresh id (keep
//!    mode, unless only `_csrf` would remain) or is deleted (flush); any
//!    other signed-in session its cookies name (a cookie tossed in beside
//!    ours) is deleted, since the answer can set only one cookie of our
//!    name. A store without room for the move deletes instead
//!    (docs/contract.md, "Sessions": sign-out never fails for lack of
//!    space).
//! 6. No signed-in session: nothing to do, and nothing changes.
//! 8. Durable before the answer: every store call is, when it returns
//!    (`sessions::store`); and with replicas, confirmed by them
//!    (`Store::confirm`), so that a failover cannot undo what the answer
//!    says. A logout that finds its session gone already confirms too, and
//!    so does one whose cookie names nothing (a retry after a 503): the
//!    delete it saw may be another request's, or its own, not confirmed
//!    yet.
//!
//! Each step leaves a `--trace` row written from the value it produced.

use std::fmt;

use crate::auth::csrf;
use crate::http::cookies::Cookie;
use crate::http::notice::Notice;
use crate::log_event;
use crate::sessions::store::{Rotated, Store, StoreError};
use crate::sessions::{Record, Session, SessionId, SessionLabel};
use crate::trace;

/// What remains of the request's session after its sign-in goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Move what remains to a fresh id (the default).
    Keep,
    /// Delete the session (`--logout-flush`).
    Flush,
}

/// `scope=this` or `scope=all`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    This,
    All,
}

impl Scope {
    /// The form's `scope` field: `all`, or anything else for `this`.
    pub fn of(field: Option<&str>) -> Scope {
        match field {
            Some("all") => Scope::All,
            _ => Scope::This,
        }
    }
}

/// What a logout did to the request's own session.
#[derive(Debug)]
pub enum SignedOut {
    /// No signed-in session: nothing changed (step 6).
    NotSignedIn,
    /// A concurrent logout ended it first: that one answered, logged and
    /// set the cookie. Nothing was done here.
    AlreadyGone,
    /// Its sign-in ended; how far (`scope`), and what became of it.
    Ended {
        user: String,
        scope: Scope,
        session: Ended,
    },
}

/// What became of a session whose sign-in ended.
#[derive(Debug)]
pub enum Ended {
    /// Keep mode: what remains moved to a fresh id; the old id names
    /// nothing.
    Moved {
        from: SessionLabel,
        to: SessionId,
        record: Record,
    },
    /// Deleted, and why.
    Deleted { label: SessionLabel, why: Deleted },
    /// Only after "sign out everywhere" committed: neither moved nor
    /// deleted. Its sign-in is void already (its epoch moved), so it is
    /// signed out all the same; the next sweep signs it out in the store
    /// too.
    VoidInPlace {
        label: SessionLabel,
        error: StoreError,
    },
}

/// Why a session was deleted rather than moved.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Deleted {
    /// `--logout-flush`, or a session the request named beside its own.
    Flush,
    /// Keep mode, but nothing but `_csrf` was left to keep.
    NothingToKeep,
    /// Keep mode, but the store had no room to write the moved session.
    NoRoom,
    /// The move failed after "sign out everywhere" committed.
    NotMoved,
}

impl SignedOut {
    /// The `Set-Cookie` the answer carries: the new id's cookie after a
    /// move, else the removal cookie, which repeats the attributes the
    /// cookie was set with (RFC 6265 §5.3; express-session #241). None when
    /// nothing was signed out here.
    pub fn cookie(&self, cookie: Cookie, now: u64) -> Option<String> {
        match self {
            SignedOut::NotSignedIn | SignedOut::AlreadyGone => None,
            SignedOut::Ended {
                session: Ended::Moved { to, record, .. },
                ..
            } => Some(cookie.set(to.as_str(), record.max_age(now))),
            SignedOut::Ended { .. } => Some(cookie.removal()),
        }
    }

    /// What the next page tells the person (a one-time notice): signed
    /// out, after a concurrent logout too, which signed this browser out;
    /// signed out everywhere after `scope=all`, so that the other devices
    /// are not left to guesswork. None when nothing was signed out.
    pub fn notice(&self) -> Option<Notice> {
        match self {
            SignedOut::NotSignedIn => None,
            SignedOut::Ended {
                scope: Scope::All, ..
            } => Some(Notice::SignedOutEverywhere),
            SignedOut::AlreadyGone | SignedOut::Ended { .. } => Some(Notice::SignedOut),
        }
    }

    /// Step 7's line, once per signed-in logout; none when nothing was
    /// signed out here.
    pub fn log_line(&self) -> Option<String> {
        match self {
            SignedOut::Ended {
                user,
                scope,
                session,
            } => Some(session.log_line(user, *scope)),
            SignedOut::NotSignedIn | SignedOut::AlreadyGone => None,
        }
    }
}

impl Ended {
    /// `logout user=NAME scope=this|all mode=keep|flush` (`none` when the
    /// session is still stored, void).
    fn log_line(&self, user: &str, scope: Scope) -> String {
        let mode = match self {
            Ended::Moved { .. } => "keep",
            Ended::Deleted { .. } => "flush",
            Ended::VoidInPlace { .. } => "none",
        };
        format!("logout user={user} scope={scope} mode={mode}")
    }
}

/// Steps 4, 3, 6 and 8 for `signed_in`, the signed-in sessions the
/// request names, its own first; `named_gone`: a cookie of the request
/// named a session that is gone (step 8). `Err` when the request's own session
/// could not be signed out (nor its user signed out everywhere), and when
/// the replicas did not confirm it: the answer is 503 either way, and the
/// client cannot count on the change. A failure with another session is
/// logged.
pub async fn sign_out(
    store: &Store,
    signed_in: Vec<Session>,
    named_gone: bool,
    scope: Scope,
    mode: Mode,
    now: u64,
) -> Result<SignedOut, StoreError> {
    let mut sessions = signed_in.into_iter();
    let Some(own) = sessions.next() else {
        trace::row(
            "sign out",
            "step 6: no signed-in session: nothing to sign out, nothing changes",
        );
        if named_gone {
            // 8.
            store.confirm().await?;
        }
        return Ok(SignedOut::NotSignedIn);
    };
    let user = own.record.user().unwrap_or_default().to_owned();
    let others: Vec<Session> = sessions.collect();
    // 4. `everywhere`: the users other than the request's own that this
    //    signed out everywhere, each once, whose log line is still to say so.
    let mut everywhere: Vec<&str> = Vec::new();
    if scope == Scope::All {
        sign_out_everywhere(store, &user).await?;
        for other in &others {
            let other_user = other.record.user().unwrap_or_default();
            if other_user == user || everywhere.contains(&other_user) {
                continue;
            }
            match sign_out_everywhere(store, other_user).await {
                Ok(()) => everywhere.push(other_user),
                Err(e) => log_event!("logout user={other_user}: not signed out everywhere: {e}"),
            }
        }
    }
    // 3.
    let ended = match end(store, &own, mode, now).await {
        Ok(Some(ended)) => ended,
        Ok(None) => {
            trace::row(
                "sign out",
                format_args!(
                    "step 3: session {} already gone: a concurrent logout got there first; nothing done",
                    own.id.label()
                ),
            );
            // 8.
            store.confirm().await?;
            return Ok(SignedOut::AlreadyGone);
        }
        Err(e) if scope == Scope::This => return Err(e),
        Err(error) => delete_after_commit(store, &own, error).await,
    };
    trace::row("sign out", format_args!("step 3, {ended}"));
    for other in &others {
        let other_user = other.record.user().unwrap_or_default();
        let scope = match everywhere.iter().position(|u| *u == other_user) {
            Some(i) => {
                everywhere.swap_remove(i);
                Scope::All
            }
            None => Scope::This,
        };
        end_another(store, other, scope, now).await;
    }
    // 8.
    store.confirm().await?;
    Ok(SignedOut::Ended {
        user,
        scope,
        session: ended,
    })
}

/// Step 4 for one user: their epoch advanced, durably, on a full store
/// too.
async fn sign_out_everywhere(store: &Store, user: &str) -> Result<(), StoreError> {
    let epoch = store.bump_epoch(user).await?;
    trace::row(
        "everywhere",
        format_args!(
            "step 4, scope=all: {user}'s epoch advanced to {epoch}: every session of theirs signed out"
        ),
    );
    Ok(())
}

/// Step 3 for one session: the sign-in removed and `_csrf` replaced, then
/// moved (`Mode::Keep`, unless only `_csrf` would remain) or deleted, on
/// the session as stored now (`Store::rotate`); deleted instead when the
/// store has no room for the move. `None`: it was gone already.
async fn end(
    store: &Store,
    session: &Session,
    mode: Mode,
    now: u64,
) -> Result<Option<Ended>, StoreError> {
    let label = session.id.label();
    let token = csrf::new_token();
    let strip = move |record: &mut Record| {
        record.remove_auth();
        record.set_csrf(&token);
        mode == Mode::Keep && !record.holds_only_csrf()
    };
    let why = match mode {
        Mode::Keep => Deleted::NothingToKeep,
        Mode::Flush => Deleted::Flush,
    };
    match store
        .rotate(&session.id, &session.version, now, strip)
        .await
    {
        Ok(Rotated::Moved(to, record)) => Ok(Some(Ended::Moved {
            from: label,
            to,
            record,
        })),
        Ok(Rotated::Deleted) => Ok(Some(Ended::Deleted { label, why })),
        Ok(Rotated::Gone) => Ok(None),
        Err(e) if e.is_out_of_space() => {
            log_event!(
                "no space to keep the signed-out session {label}'s data ({e}): deleted instead"
            );
            let deleted = store.delete(&session.id).await?;
            Ok(deleted.then_some(Ended::Deleted {
                label,
                why: Deleted::NoRoom,
            }))
        }
        Err(e) => Err(e),
    }
}

/// Step 3 once "sign out everywhere" has committed: a session that could
/// not be moved is deleted; one that cannot be deleted either stays, void.
async fn delete_after_commit(store: &Store, session: &Session, error: StoreError) -> Ended {
    let label = session.id.label();
    log_event!("session {label}: signed out everywhere, but not moved ({error}): deleting it");
    match store.delete(&session.id).await {
        Ok(_) => Ended::Deleted {
            label,
            why: Deleted::NotMoved,
        },
        Err(error) => {
            log_event!("session {label}: signed out everywhere, but still stored: {error}");
            Ended::VoidInPlace { label, error }
        }
    }
}

/// Step 3 for a session the request named beside its own: deleted, with
/// its own log line (`scope=all` when step 4 signed its user out
/// everywhere); a failure is logged, and the request's own sign-out stands.
async fn end_another(store: &Store, session: &Session, scope: Scope, now: u64) {
    let user = session.record.user().unwrap_or_default();
    match end(store, session, Mode::Flush, now).await {
        Ok(Some(ended)) => {
            trace::row(
                "sign out",
                format_args!("step 3, another session the request named: {ended}"),
            );
            log_event!("{}", ended.log_line(user, scope));
        }
        Ok(None) => {}
        Err(e) => {
            log_event!("logout user={user}: another session the request named was not ended: {e}")
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Scope::This => "this",
            Scope::All => "all",
        })
    }
}

/// The `--trace` row of step 3 (the records are in the table's `changed`
/// block).
impl fmt::Display for Ended {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Ended::Moved { from, to, .. } => write!(
                f,
                "keep: _auth_* removed, _csrf replaced, the rest moved to session {}; session {from} deleted",
                to.label(),
            ),
            Ended::Deleted { label, why } => {
                let why = match why {
                    Deleted::Flush => "flush:",
                    Deleted::NothingToKeep => "flush: nothing but _csrf to keep, so",
                    Deleted::NoRoom => "flush: no room to keep the data, so",
                    Deleted::NotMoved => "signed out everywhere, but not moved:",
                };
                write!(f, "{why} session {label} deleted, the cookie removed")
            }
            Ended::VoidInPlace { label, error } => write!(
                f,
                "session {label} neither moved nor deleted ({error}): still stored, its sign-in void; the cookie removed"
            ),
        }
    }
}
