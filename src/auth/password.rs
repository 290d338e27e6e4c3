//! Checking a password at sign-in (docs/contract.md, "Login throttling":
//! password checks): off the async workers, within a fixed budget of cores
//! and memory whatever clients do, fairly between client addresses, and a
//! failure answered no sooner than the users file's floor
//! (`users::timing`), so that the time of a failure does not tell which
//! names exist. A hash is slow by design (OWASP Password Storage Cheat
//! Sheet, "Work Factors"), for the server too: unbounded, sign-ins alone
//! could take every core and all the memory.
//!
//! The places a check takes are moved into the work itself, on the
//! blocking pool, and given back when the hash is done: a client that
//! hangs up before its check starts never starts it, and one that hangs
//! up during it leaves it holding its places until it ends. So abandoned
//! sign-ins cannot take more checks, threads or memory than the budget.

use std::collections::HashMap;
use std::fmt;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::auth::users::{PasswordCheck, HASHING_BUDGET_MIB};
use crate::http::forwarded::client_key;
use crate::os::blocking::{self, Crashed};

/// How long a sign-in waits for its turn and its place in the budget, in
/// all.
pub const HASHING_WAIT: Duration = Duration::from_secs(10);

/// Why a password could not be checked.
#[derive(Debug)]
pub enum NotChecked {
    /// No turn came within `HASHING_WAIT`.
    Busy,
    /// The check did not finish (a bug, or shutdown).
    Crashed(Crashed),
}

/// Who may check a password, and when.
///
/// 1. **One sign-in at a time per client address** (an IPv6 client by
///    its /64), in arrival order (`turn`): each address keeps one place in
///    the line for the cores below, so 150 addresses sending 20 sign-ins
///    each put a real user's one sign-in behind at most 150 checks, not
///    3,000. The login throttle decides at the head of this line.
/// 2. **The budget**: `HASHING_BUDGET_MIB` of memory, in permits of a
///    MiB, shared by every check running. A check takes its hash's memory,
///    and at least one core's share of the budget, so at most one check
///    runs per core, and fewer when their hashes are large (a 64 MiB
///    argon2 hash runs alone).
pub struct Hashing {
    lines: Arc<Mutex<HashMap<IpAddr, Arc<Semaphore>>>>,
    budget: Arc<Semaphore>,
    /// The least a check takes of the budget: one core's share.
    core_share: u32,
}

impl Hashing {
    /// A budget shared by `cores` checks at most.
    pub fn new(cores: usize) -> Hashing {
        let cores = u32::try_from(cores).unwrap_or(u32::MAX).max(1);
        Hashing {
            lines: Arc::default(),
            budget: Arc::new(Semaphore::new(HASHING_BUDGET_MIB as usize)),
            core_share: (HASHING_BUDGET_MIB / cores).max(1),
        }
    }

    /// Step 1: waits for `client`'s turn (the one place in line its
    /// address has), at most `HASHING_WAIT`.
    pub async fn turn(&self, client: IpAddr) -> Result<Turn, NotChecked> {
        let deadline = tokio::time::Instant::now() + HASHING_WAIT;
        let key = client_key(client);
        let line = {
            let mut lines = self.lines.lock().unwrap_or_else(|p| p.into_inner());
            let line = lines
                .entry(key)
                .or_insert_with(|| Arc::new(Semaphore::new(1)));
            Arc::clone(line)
        };
        // Held while waiting too: a sign-in given up removes its claim.
        let place = Place {
            lines: Arc::clone(&self.lines),
            client: key,
            line,
        };
        let permit = Arc::clone(&place.line).acquire_owned();
        let Ok(permit) = tokio::time::timeout_at(deadline, permit).await else {
            return Err(NotChecked::Busy);
        };
        Ok(Turn {
            _permit: permit.expect("a line's semaphore is never closed"),
            _place: place,
            deadline,
        })
    }

    /// Step 2, then the check: takes the check's place in the budget
    /// (until the turn's deadline), then runs the check on the blocking
    /// pool, holding both places until it ends. Returns the user's
    /// password hash when `password` matches it. A failure is answered no
    /// sooner than the check's floor after the check began (a timer: the
    /// places are free by then).
    pub async fn check(
        &self,
        turn: Turn,
        check: PasswordCheck,
        password: String,
    ) -> Result<Option<String>, NotChecked> {
        let cost = check
            .memory_kib()
            .div_ceil(1024)
            .clamp(self.core_share, HASHING_BUDGET_MIB);
        let memory = Arc::clone(&self.budget).acquire_many_owned(cost);
        let Ok(Ok(memory)) = tokio::time::timeout_at(turn.deadline, memory).await else {
            return Err(NotChecked::Busy);
        };
        let places = (turn, memory);
        let started = tokio::time::Instant::now();
        let matched = blocking::run(move || {
            let matched = check.run(&password);
            let floor = check.floor();
            drop(places);
            (matched, floor)
        })
        .await
        .map_err(NotChecked::Crashed)?;
        let (matched, floor) = matched;
        if matched.is_none() {
            tokio::time::sleep_until(started + floor).await;
        }
        Ok(matched)
    }
}

/// An address's turn: its permit, then its entry in the table. The fields
/// drop in this order, so that the entry is removed only when no one else
/// holds or waits for that address's line.
pub struct Turn {
    _permit: OwnedSemaphorePermit,
    _place: Place,
    /// When the sign-in stops waiting for the budget too.
    deadline: tokio::time::Instant,
}

/// A claim on an address's line, kept while waiting for it and while
/// holding it; the last one gone removes the line from the table, which so
/// holds only addresses with a sign-in under way.
struct Place {
    lines: Arc<Mutex<HashMap<IpAddr, Arc<Semaphore>>>>,
    client: IpAddr,
    line: Arc<Semaphore>,
}

impl Drop for Place {
    fn drop(&mut self) {
        let mut lines = self.lines.lock().unwrap_or_else(|p| p.into_inner());
        // Ours and the table's: no one else waits for or holds it.
        if Arc::strong_count(&self.line) == 2 {
            lines.remove(&self.client);
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_check_takes_at_least_one_cores_share_of_the_budget() {
        let two = Hashing::new(2);
        assert_eq!(two.core_share, HASHING_BUDGET_MIB / 2);
        assert_eq!(Hashing::new(1000).core_share, 1);
        assert_eq!(Hashing::new(0).core_share, HASHING_BUDGET_MIB);
    }

    #[tokio::test]
    async fn an_address_line_is_forgotten_once_no_one_holds_or_waits_for_it() {
        let hashing = Hashing::new(2);
        let client: IpAddr = "192.0.2.1".parse().unwrap();
        let first = hashing.turn(client).await.unwrap();
        let waiting = tokio::time::timeout(Duration::from_millis(50), hashing.turn(client)).await;
        assert!(waiting.is_err(), "one place per address");
        assert_eq!(hashing.lines.lock().unwrap().len(), 1);
        drop(first);
        assert!(hashing.lines.lock().unwrap().is_empty());
        let other: IpAddr = "192.0.2.2".parse().unwrap();
        let _a = hashing.turn(client).await.unwrap();
        let _b = hashing.turn(other).await.unwrap();
        assert_eq!(hashing.lines.lock().unwrap().len(), 2);
    }
}
