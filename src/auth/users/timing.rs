//! Failed logins that take the same time whoever the name belongs to
//! (docs/contract.md, "Users file": the name cannot be learned from the
//! timing).
//!
//! Checking a password costs what its hash's kind costs: a cost-5 bcrypt
//! hash fails in 3 ms, a cost-12 one in 300 ms, latch's argon2id in 30 ms.
//! Answer an unknown name at once, or after one fixed decoy check, and the
//! time of a failure tells which names exist. So, each time the users file
//! is loaded:
//!
//! 1. For each kind of hash in it, and the kind `adduser` writes (so there
//!    is always one), make a decoy: the hash of a random password nobody
//!    kept, timing how long making it took, which is the work of checking
//!    it. A kind already timed by an earlier load is not timed again.
//! 2. The slowest decoy becomes *the* decoy. A name with no usable line is
//!    checked against it, so a miss does the work of the costliest real
//!    check, and slows down with it when the machine is busy.
//! 3. The floor is that decoy's time, with half again as margin for a
//!    machine busier than when it was timed. Every failed check is answered
//!    no sooner than the floor after it began, so a user with a cheap hash
//!    fails as slowly as the rest. The wait is a timer, not work: it holds
//!    no hashing slot and no core.
//!
//! A success is not held back: whoever knows the password knows the name.
//! The timing is therefore as slow as the slowest hash in the file, which
//! is one reason `hashes` refuses costs past about a second.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::hashes::{hash_as, verify, Kind, DEFAULT_KIND};
use super::random_password;

/// How a failed check looks from outside, for one version of the users file.
#[derive(Clone, Debug)]
pub struct FailureTiming {
    /// The slowest decoy (step 2).
    decoy: String,
    /// No failure is answered sooner than this after its check began (step 3).
    floor: Duration,
}

/// The decoys made so far, one per kind (step 1).
#[derive(Default)]
pub struct Decoys {
    timed: Mutex<HashMap<Kind, Decoy>>,
}

#[derive(Clone)]
struct Decoy {
    hash: String,
    took: Duration,
}

impl Decoys {
    /// Steps 1 to 3 for the kinds of hash in one users file. Slow the first
    /// time it meets a kind (one hash of it): call it off the async workers.
    pub fn timing_for(&self, kinds: impl IntoIterator<Item = Kind>) -> FailureTiming {
        let mut timed = self.timed.lock().unwrap_or_else(|p| p.into_inner());
        let mut now_used = HashMap::new();
        // 1.
        for kind in std::iter::once(DEFAULT_KIND).chain(kinds) {
            now_used
                .entry(kind)
                .or_insert_with(|| timed.remove(&kind).unwrap_or_else(|| make_decoy(kind)));
        }
        // Kinds no longer in the file are forgotten, so the cache stays the
        // size of the file's variety.
        *timed = now_used;
        // 2.
        let slowest = timed
            .values()
            .max_by_key(|decoy| decoy.took)
            .expect("the default kind is always there");
        // 3.
        FailureTiming {
            decoy: slowest.hash.clone(),
            floor: slowest.took * 3 / 2,
        }
    }
}

fn make_decoy(kind: Kind) -> Decoy {
    let started = Instant::now();
    let hash = hash_as(kind, &random_password());
    Decoy {
        hash,
        took: started.elapsed(),
    }
}

/// One login's password check, prepared from one version of the users file.
pub struct PasswordCheck {
    /// The user's hash; `None` for a name with no usable line.
    user_hash: Option<String>,
    timing: Arc<FailureTiming>,
}

impl PasswordCheck {
    pub fn new(user_hash: Option<&str>, timing: Arc<FailureTiming>) -> PasswordCheck {
        PasswordCheck {
            user_hash: user_hash.map(str::to_owned),
            timing,
        }
    }

    pub fn is_known_user(&self) -> bool {
        self.user_hash.is_some()
    }

    /// How soon after its check began a failure may be answered.
    pub fn floor(&self) -> Duration {
        self.timing.floor
    }

    /// The slow part: call it off the async workers. The user's hash when
    /// `password` matches it; `None` otherwise, after checking against the
    /// decoy if the name has no usable line.
    pub fn run(self, password: &str) -> Option<String> {
        match self.user_hash {
            Some(hash) => verify(password, &hash).then_some(hash),
            None => {
                verify(password, &self.timing.decoy);
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::users::hashes::recognize;

    #[test]
    fn the_decoy_is_of_the_slowest_kind_and_the_floor_exceeds_its_time() {
        // Times planted as if an earlier load had measured them (a kind
        // already timed is not timed again), so that the choice follows
        // the times and not this machine's load of the moment.
        let cheap = Kind::Bcrypt { cost: 4 };
        let costly = Kind::Bcrypt { cost: 5 };
        for (slowest, times_ms) in [(costly, [30, 1, 60]), (DEFAULT_KIND, [30, 1, 20])] {
            let decoys = Decoys::default();
            let planted = [DEFAULT_KIND, cheap, costly].into_iter().zip(times_ms);
            decoys
                .timed
                .lock()
                .unwrap()
                .extend(planted.map(|(kind, ms)| {
                    let hash = hash_as(kind, "a password nobody kept");
                    let took = Duration::from_millis(ms);
                    (kind, Decoy { hash, took })
                }));
            let timing = decoys.timing_for([cheap, costly]);
            assert_eq!(recognize(&timing.decoy), Ok(slowest));
            let slowest_ms = times_ms.into_iter().max().unwrap();
            assert_eq!(timing.floor, Duration::from_millis(slowest_ms * 3 / 2));
        }
    }

    #[test]
    fn kinds_already_timed_are_not_made_again_and_gone_ones_are_forgotten() {
        let decoys = Decoys::default();
        let first = decoys.timing_for([]);
        let again = decoys.timing_for([DEFAULT_KIND]);
        assert_eq!(first.decoy, again.decoy, "timed once");
        decoys.timing_for([Kind::Bcrypt { cost: 4 }]);
        decoys.timing_for([]);
        assert_eq!(decoys.timed.lock().unwrap().len(), 1);
    }

    #[test]
    fn an_unknown_name_never_matches_and_a_known_one_matches_its_password() {
        let timing = Arc::new(Decoys::default().timing_for([]));
        let unknown = PasswordCheck::new(None, Arc::clone(&timing));
        assert!(!unknown.is_known_user());
        assert_eq!(unknown.run(""), None);
        let hash = crate::auth::users::hash_password("pw");
        let known = PasswordCheck::new(Some(&hash), Arc::clone(&timing));
        assert_eq!(known.run("pw"), Some(hash.clone()));
        assert_eq!(PasswordCheck::new(Some(&hash), timing).run("no"), None);
    }
}
