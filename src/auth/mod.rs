//! The sign-in rules, in one place, against the store contract (as Django's
//! `auth/__init__.py` holds `login`, `logout` and `get_user` against its
//! session API):
//!
//! - the request's session, with a sign-in that no longer stands signed
//!   out (`session`; Django's `get_user`);
//! - sign in under a fresh id (`sign_in`; Django's `login`);
//! - sign out this session, or everywhere (`sign_out`; Django's `logout`);
//! - whether a sign-in still stands: its `_auth_hash` against the user's
//!   password hash and "sign out everywhere" epoch (`auth_hash`,
//!   `sign_in_stands`; Django's `get_session_auth_hash`);
//! - the CSRF check of signed-in POSTs (`csrf`), password checks
//!   (`password`), the users file (`users`), login throttling
//!   (`throttle`) and its device cookies (`device`).

pub mod csrf;
pub mod device;
pub mod password;
pub mod session;
pub mod sign_in;
pub mod sign_out;
pub mod throttle;
pub mod users;

use sha2::{Digest, Sha256};

use crate::http::encoding::hex;
use crate::sessions::store::{Removed, Store, StoreError};
use crate::sessions::Record;
use users::{Users, UsersFile};

/// The `_auth_hash` a session of this user must carry: a digest of the
/// user's current password hash and their "sign out everywhere" epoch.
/// Changing the password, removing the user or signing out everywhere
/// changes it, and every session holding the old one is signed out at its
/// next request (Django's `get_session_auth_hash`). The password hash
/// itself never goes into a session.
pub fn auth_hash(password_hash: &str, epoch: u64) -> String {
    let mut digest = Sha256::new();
    digest.update(b"latch session auth v1\0");
    digest.update(password_hash.as_bytes());
    digest.update(b"\0");
    digest.update(epoch.to_be_bytes());
    hex(&digest.finalize())
}

/// Whether the sign-in `record` holds still stands, given its user's
/// epoch: true when no one is signed in; otherwise the user must still
/// have a usable line in the users file, and `_auth_hash` must equal
/// `auth_hash` of their password hash and `epoch` (compared in constant
/// time).
pub fn sign_in_stands(users: &Users, record: &Record, epoch: u64) -> bool {
    let Some(user) = record.user() else {
        return true;
    };
    let Some(password_hash) = users.hash_of(user) else {
        return false;
    };
    let stored = record.auth_hash().unwrap_or_default();
    csrf::matches(&auth_hash(password_hash, epoch), stored)
}

/// The change that signs a session out when its sign-in no longer stands:
/// every `_auth_` field removed and the CSRF token replaced; true when it
/// did. Only edits the record, so a store may run it more than once.
pub fn sign_out_if_void(users: &Users, record: &mut Record, epoch: u64) -> bool {
    if sign_in_stands(users, record, epoch) {
        return false;
    }
    record.remove_auth();
    record.set_csrf(&csrf::new_token());
    true
}

/// One sweep of the store (`Store::sweep`), signing out in the store the
/// sessions whose sign-in no longer stands, so that losing the epochs
/// cannot bring one back. While the users file holds no user at all
/// (missing, or emptied mid-edit), no session is signed out for it: that
/// is far likelier a moment of an edit than every user removed, and each
/// request still checks its own sign-in.
pub async fn sweep(store: &Store, users: &UsersFile, now: u64) -> Result<Removed, StoreError> {
    let users = users.snapshot();
    let anyone = !users.is_empty();
    store
        .sweep(now, move |record, epoch| {
            anyone && sign_out_if_void(&users, record, epoch)
        })
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_auth_hash_changes_with_the_password_hash_and_the_epoch() {
        let a = auth_hash("h1", 0);
        assert_eq!(a, auth_hash("h1", 0));
        assert_ne!(a, auth_hash("h2", 0));
        assert_ne!(a, auth_hash("h1", 1));
    }

    /// A users file with alice, whose password hash is `hash`.
    fn alice(hash: &str) -> Users {
        Users::parse(&format!("alice:{hash}\n")).0
    }

    #[test]
    fn a_sign_in_stands_while_its_auth_hash_is_the_expected_one_else_it_is_signed_out() {
        let hash = users::hash_password("pw");
        let users = alice(&hash);
        let mut r = Record::new(0, 10, 0, "t".into());
        assert!(sign_in_stands(&users, &r, 0), "no sign-in: nothing to void");
        r.sign_in("alice", &auth_hash(&hash, 3), 0, "t2");
        r.set_str(crate::sessions::THEME, "dark");
        assert!(sign_in_stands(&users, &r, 3));
        assert!(!sign_in_stands(&users, &r, 4), "signed out everywhere");
        let changed = alice(&users::hash_password("new"));
        assert!(!sign_in_stands(&changed, &r, 3), "password changed");
        assert!(!sign_in_stands(&Users::default(), &r, 3), "user removed");

        assert!(!sign_out_if_void(&users, &mut r, 3), "it stands");
        assert_eq!(r.user(), Some("alice"));
        assert!(sign_out_if_void(&users, &mut r, 4));
        assert_eq!(r.user(), None);
        assert_ne!(r.csrf_token(), Some("t2"));
        assert_eq!(r.theme(), Some("dark"), "the rest stays");
    }
}
