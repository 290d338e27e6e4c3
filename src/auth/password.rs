//! Checking a password at sign-in (docs/contract.md, "Users file"):
//! off the async workers, at most one check per core at a time, and a
//! failure answered no sooner than the users file's floor (`users::timing`),
//! so that the time of a failure does not tell which names exist.

use std::fmt;
use std::time::Duration;

use tokio::sync::Semaphore;

use crate::auth::users::PasswordCheck;
use crate::os::blocking::{self, Crashed};

/// How long a sign-in waits for a free password-hashing slot.
pub const HASHING_WAIT: Duration = Duration::from_secs(10);

/// Why a password could not be checked.
#[derive(Debug)]
pub enum NotChecked {
    /// Every hashing slot stayed busy for `HASHING_WAIT`.
    Busy,
    /// The check did not finish (a bug, or shutdown).
    Crashed(Crashed),
}

/// Runs `check` on the blocking pool, taking one of `hashing`'s slots
/// (one per core: a login flood then queues here instead of taking every
/// core, and 19 MiB per check, from the other requests). Returns the
/// user's password hash when `password` matches it. A failure is answered
/// no sooner than the check's floor after the check began (a timer: the
/// hashing slot is free by then), so every failure takes as long as the
/// slowest hash.
pub async fn check(
    hashing: &Semaphore,
    check: PasswordCheck,
    password: String,
) -> Result<Option<String>, NotChecked> {
    let permit = tokio::time::timeout(HASHING_WAIT, hashing.acquire())
        .await
        .map_err(|_| NotChecked::Busy)?
        .map_err(|_| NotChecked::Busy)?;
    let floor = tokio::time::Instant::now() + check.floor();
    let matched = blocking::run(move || check.run(&password))
        .await
        .map_err(NotChecked::Crashed)?;
    drop(permit);
    if matched.is_none() {
        tokio::time::sleep_until(floor).await;
    }
    Ok(matched)
}

/// What a password check found, for the `--trace` row.
pub struct Verdict<'a> {
    pub user: &'a str,
    /// Whether the name has a usable line (else the decoy was checked).
    pub known_user: bool,
    pub matched: bool,
}

impl fmt::Display for Verdict<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let user = self.user;
        match (self.known_user, self.matched) {
            (true, true) => write!(f, "matches {user}'s hash (checked on a blocking thread)"),
            (true, false) => write!(f, "does not match {user}'s hash (answered at the floor)"),
            (false, _) => {
                f.write_str("no such user: checked against the decoy, answered at the floor")
            }
        }
    }
}
