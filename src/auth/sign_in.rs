//! Signing in (Django's `login`): the sign-in always lands under a fresh
//! session id (OWASP: renew the id at login, against session fixation),
//! with a new CSRF token (Django's `rotate_token`), and starts a new
//! lifetime (docs/contract.md, "Routes": `POST /login`).

use std::fmt;

use crate::auth::{auth_hash, csrf};
use crate::sessions::store::{Rotated, Store, StoreError, Version};
use crate::sessions::{Record, Session, SessionLabel};

/// What a sign-in did: the new session, and the one it replaced.
pub struct SignedIn {
    pub session: Session,
    /// The request's session before, now deleted; `None` when there was
    /// none (or it ended meanwhile).
    pub replaced: Option<SessionLabel>,
}

/// Signs `user` in, whose password hash is `password_hash`, for `ttl`
/// seconds.
///
/// 1. The `_auth_hash` binds the sign-in to the password hash and the
///    user's epoch as they are now (`auth_hash`).
/// 2. With a session already (`old`), move it to a fresh id: its non-auth
///    data (the theme) comes along, unless it was signed in as someone
///    else; the old id then names nothing.
/// 3. Otherwise (or if it ended meanwhile), a new session.
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
    let fresh = Record::new(now, ttl, store.idle_timeout(), csrf::new_token());
    // 2.
    if let Some(old) = old {
        let (user, hash, token) = (user.to_owned(), hash.clone(), csrf::new_token());
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
            return Ok(SignedIn {
                session: Session {
                    id,
                    record,
                    version: Version::UNKNOWN,
                },
                replaced: Some(old.id.label()),
            });
        }
    }
    // 3.
    let mut record = fresh;
    let token = csrf::new_token();
    record.sign_in(user, &hash, now, &token);
    let id = store.create(&record).await?;
    Ok(SignedIn {
        session: Session {
            id,
            record,
            version: Version::UNKNOWN,
        },
        replaced: None,
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
            ),
            None => write!(f, "session {new} written (fresh id, signed in)"),
        }
    }
}
