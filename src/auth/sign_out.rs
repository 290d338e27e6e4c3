//! Signing out (Django's `logout`): one session (docs/contract.md,
//! "Logout", step 3), or every session of a user (step 4). The handler
//! `handlers::logout` puts the steps in order; here is what each does to
//! the store, and a value saying exactly what happened.

use std::fmt;

use crate::auth::csrf;
use crate::sessions::store::{Rotated, Store, StoreError};
use crate::sessions::{Record, Session, SessionId, SessionLabel};

/// What remains of a session after its sign-in goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Move what remains to a fresh id (the default).
    Keep,
    /// Delete the session (`--logout-flush`, and every session a request
    /// names beside the first).
    Flush,
}

/// What signing one session out did.
#[derive(Debug)]
pub enum SignedOut {
    /// Keep mode: the sign-in removed, `_csrf` replaced, and what remains
    /// moved to a fresh id; the old id names nothing.
    Moved {
        from: SessionLabel,
        to: SessionId,
        record: Record,
    },
    /// Deleted: flush mode, or nothing but `_csrf` was left to keep.
    Deleted { label: SessionLabel, mode: Mode },
    /// Keep mode, but the store had no room to write the moved session
    /// (disk, inodes or quota full): deleted instead, as a flush. Deleting
    /// needs no room, and losing a theme is a small price for a sign-out
    /// that holds (docs/contract.md, "Sessions": sign-out never fails for
    /// lack of space).
    DeletedForSpace { label: SessionLabel },
    /// Already gone: a concurrent logout got there first, and it answered,
    /// logged and set the cookie. Nothing was done here.
    AlreadyGone { label: SessionLabel },
    /// Only after "sign out everywhere" committed: the session could be
    /// neither moved nor deleted. Its sign-in is void already (its epoch
    /// moved), so it is signed out all the same; the next sweep signs it
    /// out in the store too. It is still there.
    VoidInPlace {
        label: SessionLabel,
        error: StoreError,
    },
}

impl SignedOut {
    /// The `mode=` of the log line: `keep` when the session moved, `flush`
    /// when it was deleted, `none` when it is still there (void); no line
    /// at all when a concurrent logout did it (`None`).
    pub fn logged_mode(&self) -> Option<&'static str> {
        match self {
            SignedOut::Moved { .. } => Some("keep"),
            SignedOut::Deleted { .. } | SignedOut::DeletedForSpace { .. } => Some("flush"),
            SignedOut::VoidInPlace { .. } => Some("none"),
            SignedOut::AlreadyGone { .. } => None,
        }
    }

    /// Whether the store was written (and so, by the contract, durably).
    pub fn wrote(&self) -> bool {
        !matches!(
            self,
            SignedOut::AlreadyGone { .. } | SignedOut::VoidInPlace { .. }
        )
    }
}

/// Step 3 for one session: every `_auth_` field removed and `_csrf`
/// replaced, then what remains moved to a fresh id (`Mode::Keep`, unless
/// only `_csrf` would remain) or the session deleted (`Mode::Flush`), on
/// the session as stored now (`Store::rotate`). A store without room for
/// the move deletes instead (`DeletedForSpace`).
pub async fn sign_out(
    store: &Store,
    session: &Session,
    mode: Mode,
    now: u64,
) -> Result<SignedOut, StoreError> {
    let label = session.id.label();
    let token = csrf::new_token();
    let strip = move |record: &mut Record| {
        record.remove_auth();
        record.set_csrf(&token);
        mode == Mode::Keep && !record.holds_only_csrf()
    };
    match store
        .rotate(&session.id, &session.version, now, strip)
        .await
    {
        Ok(Rotated::Moved(to, record)) => Ok(SignedOut::Moved {
            from: label,
            to,
            record,
        }),
        Ok(Rotated::Deleted) => Ok(SignedOut::Deleted { label, mode }),
        Ok(Rotated::Gone) => Ok(SignedOut::AlreadyGone { label }),
        Err(e) if e.is_out_of_space() => {
            log_event!(
                "no space to keep the signed-out session {label}'s data ({e}): deleted instead"
            );
            Ok(match store.delete(&session.id).await? {
                true => SignedOut::DeletedForSpace { label },
                false => SignedOut::AlreadyGone { label },
            })
        }
        Err(e) => Err(e),
    }
}

/// Step 3 once "sign out everywhere" has committed (step 4): the user is
/// signed out everywhere already, so a failure here must not turn the
/// answer into a 5xx. A session that cannot be moved is deleted; one that
/// cannot be deleted either stays, void (`VoidInPlace`).
pub async fn sign_out_after_commit(
    store: &Store,
    session: &Session,
    mode: Mode,
    now: u64,
) -> SignedOut {
    let label = session.id.label();
    let error = match sign_out(store, session, mode, now).await {
        Ok(done) => return done,
        Err(error) => error,
    };
    log_event!("session {label}: signed out everywhere, but not moved ({error}): deleting it");
    match store.delete(&session.id).await {
        Ok(true) => SignedOut::Deleted {
            label,
            mode: Mode::Flush,
        },
        Ok(false) => SignedOut::AlreadyGone { label },
        Err(error) => {
            log_event!("session {label}: signed out everywhere, but still stored: {error}");
            SignedOut::VoidInPlace { label, error }
        }
    }
}

/// What step 4 did: the user's epoch advanced, and with it every session
/// of theirs, however many, stopped being signed in.
#[derive(Debug)]
pub struct SignedOutEverywhere {
    pub user: String,
    pub epoch: u64,
}

/// Step 4: advances the user's epoch (`Store::bump_epoch`), one small
/// durable write that voids the `_auth_hash` of every session of theirs
/// at its next request; on a full store too.
pub async fn sign_out_everywhere(
    store: &Store,
    user: &str,
) -> Result<SignedOutEverywhere, StoreError> {
    let epoch = store.bump_epoch(user).await?;
    Ok(SignedOutEverywhere {
        user: user.to_owned(),
        epoch,
    })
}

/// The `--trace` row of step 3.
impl fmt::Display for SignedOut {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SignedOut::Moved { from, to, record } => write!(
                f,
                "keep: _auth_* removed, _csrf replaced, moved to session {}; session {from} deleted\n{}",
                to.label(),
                record.traced()
            ),
            SignedOut::Deleted {
                label,
                mode: Mode::Flush,
            } => write!(f, "flush: session {label} deleted, the cookie removed"),
            SignedOut::Deleted {
                label,
                mode: Mode::Keep,
            } => write!(
                f,
                "flush: nothing but _csrf to keep, so session {label} deleted, the cookie removed"
            ),
            SignedOut::DeletedForSpace { label } => write!(
                f,
                "flush: no room to keep the data, so session {label} deleted, the cookie removed"
            ),
            SignedOut::AlreadyGone { label } => write!(
                f,
                "session {label} already gone: a concurrent logout got there first; nothing done"
            ),
            SignedOut::VoidInPlace { label, error } => write!(
                f,
                "session {label} neither moved nor deleted ({error}): still stored, its sign-in void; the cookie removed"
            ),
        }
    }
}

/// The `--trace` row of step 4.
impl fmt::Display for SignedOutEverywhere {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "scope=all: {}'s epoch advanced to {}: every session of theirs signed out",
            self.user, self.epoch
        )
    }
}
