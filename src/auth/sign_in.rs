//! Signing in (Django's `login`): the sign-in always lands under a fresh
//! session id (OWASP: renew the id at login, against session fixation),
//! with a new CSRF token (Django's `rotate_token`), and starts a new
//! lifetime (docs/contract.md, "Routes": `POST /login`).

use std::fmt;

use crate::auth::{auth_hash, csrf};
use crate::log_event;
use crate::sessions::store::{Rotated, Store, StoreError, Version};
use crate::sessions::{Record, Session, SessionId, SessionLabel};

/// How many sessions one user may be signed in to at once. A new sign-in
/// past it ends that user's oldest: one account signing in over and over
/// (a script, a leaked password) cannot fill the store, while a person
/// with a phone, a laptop and a few browsers, or a class sharing one
/// account, is never signed out by it.
pub const MAX_SIGN_INS_PER_USER: usize = 32;

/// What a sign-in did: the new session, the one it replaced, and how many
/// of the user's oldest sessions it ended.
pub struct SignedIn {
    pub session: Session,
    /// The request's session before, now deleted; `None` when there was
    /// none (or it ended meanwhile).
    pub replaced: Option<SessionLabel>,
    /// The user's oldest sessions ended for `MAX_SIGN_INS_PER_USER`.
    pub ended: usize,
}

/// Signs `user` in, whose password hash is `password_hash`, for `ttl`
/// seconds.
///
/// 1. The `_auth_hash` binds the sign-in to the password hash and the
///    user's epoch as they are now (`auth_hash`), beside one new CSRF
///    token, whichever way the session is made.
/// 2. With a session already (`old`), move it to a fresh id: its non-auth
///    data (the theme) comes along, unless it was signed in as someone
///    else; the old id then names nothing.
/// 3. Otherwise (or if it ended meanwhile), a new session.
/// 4. The user keeps at most `MAX_SIGN_INS_PER_USER` signed-in sessions:
///    the store ends the oldest.
pub async fn sign_in(
    store: &Store,
    old: Option<Session>,
    user: &str,
    password_hash: &str,
    ttl: u64,
    now: u64,
) -> Result<SignedIn, StoreError> {
    // 1.
    let epoch = store.epoch(user).await?;
    let hash = auth_hash(password_hash, epoch);
    let token = csrf::new_token();
    let fresh = Record::new(now, ttl, store.idle_timeout(), token.clone());
    // 2.
    if let Some(old) = old {
        let (user, hash, token) = (user.to_owned(), hash.clone(), token.clone());
        let lifetime = (fresh.created, fresh.expires, fresh.seen);
        let start = move |r: &mut Record| {
            if r.user().is_some_and(|previous| previous != user) {
                r.data.clear();
            }
            r.remove_auth();
            (r.created, r.expires, r.seen) = lifetime;
            r.sign_in(&user, &hash, now, &token);
            true
        };
        if let Rotated::Moved(id, record) = store.rotate(&old.id, &old.version, now, start).await? {
            return keep_newest(store, id, record, Some(old.id.label())).await;
        }
    }
    // 3.
    let mut record = fresh;
    record.sign_in(user, &hash, now, &token);
    let id = store.create(&record).await?;
    keep_newest(store, id, record, None).await
}

/// Step 4, for the session `id` just signed in. The sessions it ends are
/// signed out like a logout's, so with replicas they are confirmed
/// (`Store::confirm`) before the answer.
async fn keep_newest(
    store: &Store,
    id: SessionId,
    record: Record,
    replaced: Option<SessionLabel>,
) -> Result<SignedIn, StoreError> {
    let ended = store
        .keep_newest_sign_ins(&id, &record, MAX_SIGN_INS_PER_USER)
        .await?;
    if ended > 0 {
        log_event!(
            "login user={}: signed in to more than {MAX_SIGN_INS_PER_USER} sessions, the oldest {ended} ended",
            record.user().unwrap_or("-")
        );
        store.confirm().await?;
    }
    Ok(SignedIn {
        session: Session {
            id,
            record,
            version: Version::UNKNOWN,
        },
        replaced,
        ended,
    })
}

/// The `--trace` row of the change in the store.
impl fmt::Display for SignedIn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let new = self.session.id.label();
        match self.replaced {
            Some(old) => write!(
                f,
                "session {new} written (fresh id, signed in, new _csrf); session {old} deleted"
            )?,
            None => write!(f, "session {new} written (fresh id, signed in)")?,
        }
        if self.ended > 0 {
            let ended = self.ended;
            write!(
                f,
                "; the user's oldest {ended} ended (at most {MAX_SIGN_INS_PER_USER} each)"
            )?;
        }
        Ok(())
    }
}
