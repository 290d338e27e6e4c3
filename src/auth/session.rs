//! The request's session (Django's `get_user`): among the sessions the
//! request's cookies name (at most `MAX_SESSION_COOKIES` of them, in
//! header order), the first live one that is signed in, else the first
//! live one; with a sign-in that no longer stands signed out and, with
//! `--idle-timeout`, this use recorded (docs/contract.md, "Sessions").
//!
//! Why not simply the first cookie: without `--secure-cookies` (and its
//! `__Host-` prefix), a sibling subdomain can plant a cookie of our name
//! ahead of ours ("cookie tossing", see `CookieIds`). A cookie that names
//! a dead session must not hide a live one behind it, and a live
//! *anonymous* one (a session the tosser made for the purpose) must not
//! hide a sign-in: the page would say "You are not signed in" and offer no
//! Sign out while the user's session lives on. A tossed *signed-in* cookie
//! (the tosser's own account) still comes first when it comes first: only
//! `--secure-cookies` keeps such cookies out.

use std::fmt;
use std::sync::Arc;

use crate::auth::users::{Users, UsersFile};
use crate::auth::{sign_in_stands, sign_out_if_void};
use crate::log_event;
use crate::sessions::store::{Store, StoreError, Stored, Version};
use crate::sessions::{CookieIds, Record, Session, SessionId, SessionLabel};
use crate::trace;

/// The request's live session, or `None`.
pub async fn current(
    store: &Store,
    users: &UsersFile,
    ids: &CookieIds,
    now: u64,
) -> Result<Option<Session>, StoreError> {
    trace_no_ids(ids);
    let users = users.snapshot();
    match chosen(store, &users, ids, now).await? {
        Some((id, stored, stands)) => settle(store, users, id, stored, stands, now).await,
        None => Ok(None),
    }
}

/// Every live session the request's cookies name, in header order: what a
/// logout ends. The tracker's "before" is the first one signed in, else
/// the first, as `current` would choose.
pub async fn every(
    store: &Store,
    users: &UsersFile,
    ids: &CookieIds,
    now: u64,
) -> Result<Vec<Session>, StoreError> {
    trace_no_ids(ids);
    let users = users.snapshot();
    let mut loaded = Vec::new();
    for id in ids.iter() {
        if let Some((stored, stands)) = load(store, &users, id, now).await? {
            loaded.push((id, stored, stands));
        }
    }
    trace::session_before(|| {
        let signed_in = loaded.iter().find(|(_, s, _)| s.record.user().is_some());
        let (id, stored, _) = signed_in.or(loaded.first())?;
        Some(store.seen(id, &stored.record))
    });
    let mut sessions = Vec::new();
    for (id, stored, stands) in loaded {
        let users = Arc::clone(&users);
        if let Some(session) = settle(store, users, id, stored, stands, now).await? {
            sessions.push(session);
        }
    }
    Ok(sessions)
}

/// The record an error page is rendered for (its theme, who is signed
/// in), by the same rule as `current`, but read only: an error answer
/// changes no session. A sign-in that no longer stands is dropped in
/// memory; `None` when there is no live session or the store fails.
pub async fn for_error_page(
    store: &Store,
    users: &UsersFile,
    ids: &CookieIds,
    now: u64,
) -> Option<Record> {
    let users = users.snapshot();
    let (_, stored, stands) = chosen(store, &users, ids, now).await.ok()??;
    let mut record = stored.record;
    if !stands {
        record.remove_auth();
    }
    Some(record)
}

/// Which session the request's cookies choose: the first live one whose
/// sign-in stands, else the first live one; the tracker's "before" is it.
/// Loading stops at the first signed-in one, so a request looks up at most
/// `MAX_SESSION_COOKIES` sessions, and one in the usual case (one cookie).
async fn chosen<'a>(
    store: &Store,
    users: &Users,
    ids: &'a CookieIds,
    now: u64,
) -> Result<Option<(&'a SessionId, Stored, bool)>, StoreError> {
    let mut first_live: Option<(&SessionId, Stored, bool)> = None;
    let mut signed_in = None;
    for id in ids.iter() {
        let Some((stored, stands)) = load(store, users, id, now).await? else {
            continue;
        };
        if stored.record.user().is_some() && stands {
            if let Some((passed, ..)) = &first_live {
                trace::row("session", Looked::Preferred(id.label(), passed.label()));
            }
            signed_in = Some((id, stored, stands));
            break;
        }
        first_live.get_or_insert((id, stored, stands));
    }
    let chosen = signed_in.or(first_live);
    trace::session_before(|| {
        let (id, stored, _) = chosen.as_ref()?;
        Some(store.seen(id, &stored.record))
    });
    Ok(chosen)
}

/// Step 1: the session `id` names, if it is live, with its user's epoch,
/// and whether its sign-in stands (`sign_in_stands`): judged here, once
/// per session and request. A well-formed id with no live session is no
/// session: latch never adopts an id it did not issue (OWASP "strict
/// session management").
async fn load(
    store: &Store,
    users: &Users,
    id: &SessionId,
    now: u64,
) -> Result<Option<(Stored, bool)>, StoreError> {
    let loaded = store.load(id, now).await?;
    match &loaded {
        Some(stored) => trace::row("session", Looked::Loaded(id.label(), &stored.record)),
        None => trace::row("session", Looked::NotLive(id.label())),
    }
    Ok(loaded.map(|stored| {
        let stands = sign_in_stands(users, &stored.record, stored.epoch);
        (stored, stands)
    }))
}

/// Steps 2 and 3 for a session the request uses, as loaded (step 1),
/// with `users` the version of the file it was judged by:
///
/// 2. A signed-in session whose `_auth_hash` no longer matches its user
///    (password changed, user removed, "sign out everywhere") is signed
///    out now, in the store too.
/// 3. With `--idle-timeout`, record this use (`Record::needs_touch`).
///
/// Steps 2 and 3 are one `Store::modify`, applied to the session as
/// stored now: a concurrent logout is never undone. A write that fails
/// (a full disk) must not fail a read: the sign-in check holds without
/// it, so the request goes on with the change made in memory only.
async fn settle(
    store: &Store,
    users: Arc<Users>,
    id: &SessionId,
    stored: Stored,
    stands: bool,
    now: u64,
) -> Result<Option<Session>, StoreError> {
    let label = id.label();
    let Stored {
        record,
        epoch,
        version,
    } = stored;
    // 2.
    let void = !stands;
    // 3.
    let idle = store.idle_timeout();
    let touch = record.needs_touch(now, idle);
    if !void && !touch {
        return Ok(Some(Session {
            id: id.clone(),
            record,
            version,
        }));
    }
    let change = move |r: &mut Record| {
        let signed_out = sign_out_if_void(&users, r, epoch);
        if idle > 0 {
            r.seen = Some(now);
        }
        signed_out
    };
    let user = record.user().unwrap_or("-").to_owned();
    let (settled, record) = match store.modify(id, &version, now, change).await {
        Ok(Some((record, signed_out))) => {
            if signed_out {
                log_event!("signed out user={user}: password changed, user removed or signed out everywhere");
            }
            let seen = now;
            (
                Settled::Written {
                    label,
                    signed_out,
                    seen,
                },
                Some(record),
            )
        }
        Ok(None) => (Settled::Ended(label), None),
        Err(error) => {
            log_event!("session {label} not updated, serving from memory: {error}");
            let mut record = record;
            if void {
                record.remove_auth();
            }
            (Settled::InMemory { label, error }, Some(record))
        }
    };
    trace::row("session", &settled);
    // The version loaded is stale once the change is written: a later
    // change in this request reads the session first.
    Ok(record.map(|record| Session {
        id: id.clone(),
        record,
        version: Version::UNKNOWN,
    }))
}

/// The "no session" row when no cookie of the request held an id.
fn trace_no_ids(ids: &CookieIds) {
    if ids.is_empty() {
        let looked = match ids.any_cookie() {
            true => Looked::Malformed,
            false => Looked::NoCookie,
        };
        trace::row("session", looked);
    }
}

/// What looking a session up found: the `--trace` rows of step 1.
enum Looked<'a> {
    NoCookie,
    Malformed,
    NotLive(SessionLabel),
    Loaded(SessionLabel, &'a Record),
    /// A signed-in session chosen over a live anonymous one named first.
    Preferred(SessionLabel, SessionLabel),
}

impl fmt::Display for Looked<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Looked::NoCookie => f.write_str("no session cookie: no session"),
            Looked::Malformed => f.write_str(
                "the session cookie is not a well-formed id: no session, store untouched",
            ),
            Looked::NotLive(label) => write!(
                f,
                "session {label}: none live (missing, expired or unreadable): no session"
            ),
            Looked::Loaded(label, record) => {
                write!(f, "loaded session {label}\n{}", record.traced())
            }
            Looked::Preferred(chosen, passed) => write!(
                f,
                "session {chosen} is signed in: it is the request's, not the anonymous \
                 session {passed} named before it"
            ),
        }
    }
}

/// What steps 2 and 3 did.
enum Settled {
    /// Stored: signed out (step 2) and/or this use recorded (step 3).
    Written {
        label: SessionLabel,
        signed_out: bool,
        seen: u64,
    },
    /// The session ended before the change could apply (a logout).
    Ended(SessionLabel),
    /// The store failed; the request goes on with the change in memory.
    InMemory {
        label: SessionLabel,
        error: StoreError,
    },
}

impl fmt::Display for Settled {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Settled::Written {
                label,
                signed_out: true,
                ..
            } => write!(
                f,
                "sign-in void (_auth_hash no longer matches the user): auth fields removed, session {label} rewritten"
            ),
            Settled::Written { label, seen, .. } => {
                write!(f, "last use recorded (seen={seen}): session {label} rewritten")
            }
            Settled::Ended(label) => {
                write!(f, "session {label} ended meanwhile (a logout): no session")
            }
            Settled::InMemory { label, error } => write!(
                f,
                "session {label} not rewritten ({error}): the change holds in memory only"
            ),
        }
    }
}
