//! Login throttling (docs/contract.md, "Login throttling"; OWASP
//! Authentication Cheat Sheet, "Protect against automated attacks").
//!
//! Every sign-in attempt is paced on counters kept in the store
//! (`sessions::pace`: in memory with the file store, in Redis with the
//! Redis store, so that every instance counts the same attempts). The
//! throttle decides when the attempt reaches the head of its address's
//! line (`auth::password`: one sign-in at a time per address), before its
//! password is checked, and a refused attempt counts nowhere (it writes
//! nothing). Which counters an attempt passes depends on whether its
//! browser is known:
//!
//! - **Unknown browser, the name from this address** (the pair): N
//!   attempts (`--login-throttle`), then one per 15 minutes; past it, 429
//!   for that name from that address, without a password check. This is
//!   what bounds guessing one account. An attempt counts when it is
//!   admitted, so a guesser who sends 200 at once, over many connections
//!   or pipelined on one, gets no more checks than if they had come one by
//!   one. Another address is never refused for it, so a guesser elsewhere
//!   cannot lock the real user out.
//! - **Unknown browser, this address's failures, for any name**: password
//!   spraying (one password tried on many names) passes every pair once,
//!   so the address's failed sign-ins are paced too: `ADDRESS_BURST`
//!   failures, then one every `ADDRESS_INTERVAL`; past that, 429 for a few
//!   seconds, never for the window. Only failures count, once the check
//!   has ended (one at a time per address, so none can be missed): people
//!   behind one address (a classroom, an office, carrier-grade NAT) never
//!   use it up with their correct sign-ins, however many sign in at once,
//!   and someone else's failures there slow them down at worst.
//! - **Known browser** (a device cookie for this name, `auth::device`): N
//!   attempts, then one per 15 minutes, on the browser's own counter,
//!   instead of the two above. A prankster at the same address failing as
//!   `alice`, or a flood of failures by others there, does not refuse
//!   alice's own browser.
//!
//! A success empties the pair's (or the device's) counter.

use std::net::IpAddr;
use std::time::Duration;

use crate::auth::device::Device;
use crate::http::forwarded::client_key;
use crate::sessions::pace::{Counter, Counts, Limit, Rule};
use crate::sessions::store::{Store, StoreError};

/// The window of `--login-throttle`: N attempts per name, then one per this.
pub const WINDOW: Duration = Duration::from_secs(15 * 60);
/// Failed sign-ins one address may make at once, for any names.
pub const ADDRESS_BURST: u32 = 30;
/// After the burst, one failure per this from one address: password
/// spraying from one address gets at most 6 names a minute (8,640 a day).
pub const ADDRESS_INTERVAL: Duration = Duration::from_secs(10);
/// User names are counted by their first this-many characters, so a client
/// cannot make a counter's name as large as a form body.
const MAX_NAME_CHARS: usize = 64;

/// The throttle: `--login-throttle` N, `0` turning it off.
pub struct Throttle {
    limit: u32,
}

/// What a refused attempt was refused for: what the 429 says was counted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Counted {
    /// Attempts for this name from this address.
    Name,
    /// Failed sign-ins from this address, for any names.
    Address,
    /// Attempts for this name from this browser.
    Browser,
}

/// The counters one sign-in attempt passes.
pub struct Attempt {
    limits: Vec<(Counted, Limit)>,
}

impl Throttle {
    pub fn new(limit: u32) -> Throttle {
        Throttle { limit }
    }

    /// The counters for an attempt to sign in as `user` from `address`,
    /// from a browser that proved `device` for that name, if any.
    pub fn attempt(&self, address: IpAddr, user: &str, device: Option<Device>) -> Attempt {
        if self.limit == 0 {
            return Attempt { limits: Vec::new() };
        }
        let user: String = user.chars().take(MAX_NAME_CHARS).collect();
        let client = client_key(address);
        let per_name = Rule {
            burst: self.limit,
            interval: WINDOW,
            max_wait: Duration::ZERO,
        };
        let failures = Rule {
            burst: ADDRESS_BURST,
            interval: ADDRESS_INTERVAL,
            max_wait: Duration::ZERO,
        };
        let limits = match device {
            Some(device) => vec![(
                Counted::Browser,
                limit(&device.counter_name(&user), per_name, Counts::WhenAdmitted),
            )],
            None => vec![
                (
                    Counted::Name,
                    limit(
                        &format!("login pair {client} {user}"),
                        per_name,
                        Counts::WhenAdmitted,
                    ),
                ),
                (
                    Counted::Address,
                    limit(&format!("login failures {client}"), failures, Counts::Later),
                ),
            ],
        };
        Attempt { limits }
    }
}

fn limit(name: &str, rule: Rule, counts: Counts) -> Limit {
    Limit {
        counter: Counter::named(name),
        rule,
        counts,
    }
}

impl Attempt {
    /// The limits to ask the store about (`Store::pace`); none when
    /// throttling is off.
    pub fn limits(&self) -> Vec<Limit> {
        self.limits.iter().map(|(_, limit)| *limit).collect()
    }

    /// What the `index`-th limit counts (`Paced::Refused::limit`).
    pub fn counted(&self, index: usize) -> Counted {
        self.limits.get(index).map_or(Counted::Name, |(c, _)| *c)
    }

    /// The password was wrong: the address counts a failure.
    pub async fn failed(&self, store: &Store) -> Result<(), StoreError> {
        for (counted, limit) in &self.limits {
            if *counted == Counted::Address {
                store.count_attempt(limit).await?;
            }
        }
        Ok(())
    }

    /// The password was right: the name's (or browser's) counter is
    /// emptied. The address's failures stay: one good password does not
    /// buy a guesser at that address more tries.
    pub async fn succeeded(&self, store: &Store) -> Result<(), StoreError> {
        for (counted, limit) in &self.limits {
            if *counted != Counted::Address {
                store.forget(&limit.counter).await?;
            }
        }
        Ok(())
    }
}

impl Counted {
    /// The 429's sentence, saying what was counted, never claiming
    /// failures that did not happen: attempts for a name count from when
    /// they are admitted, checked or not.
    pub fn sentence(self) -> &'static str {
        match self {
            Counted::Name => "Too many sign-in attempts for this user name from your network.",
            Counted::Address => {
                "Too many failed sign-ins from your network (everyone at your address counts together)."
            }
            Counted::Browser => "Too many sign-in attempts for this user name from this browser.",
        }
    }

    /// Its word in the log line.
    pub fn word(self) -> &'static str {
        match self {
            Counted::Name => "name",
            Counted::Address => "address",
            Counted::Browser => "browser",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sessions::pace::{Paced, Paces};

    const A: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 1));
    const B: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 2));
    const T0: u64 = 1_000_000_000;

    fn try_at(paces: &Paces, attempt: &Attempt, now: u64) -> Result<Duration, Counted> {
        match paces.admit(&attempt.limits(), now) {
            Paced::Admitted { wait } => Ok(wait),
            Paced::Refused { limit, .. } => Err(attempt.counted(limit)),
        }
    }

    /// An attempt that is admitted and then fails its check.
    fn fail_at(paces: &Paces, attempt: &Attempt, now: u64) -> Result<(), Counted> {
        try_at(paces, attempt, now)?;
        for (counted, limit) in &attempt.limits {
            if *counted == Counted::Address {
                paces.admit(&[limit.counted_now()], now);
            }
        }
        Ok(())
    }

    #[test]
    fn a_name_is_refused_from_one_address_after_n_attempts_only() {
        let (t, paces) = (Throttle::new(3), Paces::default());
        for _ in 0..3 {
            assert!(try_at(&paces, &t.attempt(A, "alice", None), T0).is_ok());
        }
        assert_eq!(
            try_at(&paces, &t.attempt(A, "alice", None), T0),
            Err(Counted::Name)
        );
        assert!(try_at(&paces, &t.attempt(B, "alice", None), T0).is_ok());
        assert!(try_at(&paces, &t.attempt(A, "bob", None), T0).is_ok());
        let later = T0 + 15 * 60 * 1000;
        assert!(try_at(&paces, &t.attempt(A, "alice", None), later).is_ok());
    }

    #[test]
    fn attempts_admitted_at_once_take_the_places_before_any_check_ends() {
        let (t, paces) = (Throttle::new(5), Paces::default());
        let admitted: usize = std::thread::scope(|scope| {
            let workers: Vec<_> = (0..8)
                .map(|_| {
                    let (t, paces) = (&t, &paces);
                    scope.spawn(move || {
                        (0..25)
                            .filter(|_| try_at(paces, &t.attempt(A, "alice", None), T0).is_ok())
                            .count()
                    })
                })
                .collect();
            workers.into_iter().map(|w| w.join().unwrap()).sum()
        });
        assert_eq!(admitted, 5);
    }

    #[test]
    fn an_address_is_paced_past_its_burst_of_failures_for_seconds_only() {
        let (t, paces) = (Throttle::new(5), Paces::default());
        // Correct sign-ins, however many, never use the address up.
        for i in 0..100 {
            assert!(try_at(&paces, &t.attempt(A, &format!("user{i}"), None), T0).is_ok());
        }
        for i in 0..ADDRESS_BURST {
            assert!(fail_at(&paces, &t.attempt(A, &format!("sprayed{i}"), None), T0).is_ok());
        }
        let next = t.attempt(A, "fresh", None);
        assert_eq!(try_at(&paces, &next, T0), Err(Counted::Address));
        let later = T0 + 10_000;
        assert!(try_at(&paces, &t.attempt(A, "fresh", None), later).is_ok());
        assert!(try_at(&paces, &t.attempt(B, "fresh", None), T0).is_ok());
    }

    #[test]
    fn a_success_empties_the_name_and_keeps_the_address_failures() {
        let (t, paces) = (Throttle::new(2), Paces::default());
        let attempt = t.attempt(A, "alice", None);
        assert!(fail_at(&paces, &attempt, T0).is_ok());
        assert!(fail_at(&paces, &attempt, T0).is_ok());
        assert_eq!(try_at(&paces, &attempt, T0), Err(Counted::Name));
        for (counted, limit) in &attempt.limits {
            if *counted == Counted::Name {
                paces.forget(&limit.counter);
            }
        }
        assert!(try_at(&paces, &attempt, T0).is_ok());
    }

    #[test]
    fn a_known_browser_is_counted_apart_from_its_address() {
        let (t, paces) = (Throttle::new(2), Paces::default());
        for _ in 0..2 {
            assert!(try_at(&paces, &t.attempt(A, "alice", None), T0).is_ok());
        }
        assert_eq!(
            try_at(&paces, &t.attempt(A, "alice", None), T0),
            Err(Counted::Name)
        );
        let cookie = crate::http::cookies::Cookie::device(false);
        let header = crate::auth::device::set_cookie(cookie, "alice", "h");
        let value = header.split(';').next().unwrap().to_owned();
        let mut headers = hyper::HeaderMap::new();
        headers.insert(hyper::header::COOKIE, value.parse().unwrap());
        let device = crate::auth::device::presented(&headers, cookie, "alice", "h");
        let known = t.attempt(A, "alice", device);
        assert!(try_at(&paces, &known, T0).is_ok());
        assert!(try_at(&paces, &known, T0).is_ok());
        assert_eq!(try_at(&paces, &known, T0), Err(Counted::Browser));
    }

    #[test]
    fn an_ipv6_client_is_counted_by_its_64_prefix() {
        let t = Throttle::new(1);
        let v6 = |text: &str| text.parse::<IpAddr>().unwrap();
        let first = t.attempt(v6("2001:db8:1:2::1"), "alice", None).limits();
        let same = t
            .attempt(v6("2001:db8:1:2:ffff::9"), "alice", None)
            .limits();
        let other = t.attempt(v6("2001:db8:1:3::1"), "alice", None).limits();
        assert_eq!(first[0].counter, same[0].counter);
        assert_ne!(first[0].counter, other[0].counter);
        let mapped = t.attempt(v6("::ffff:192.0.2.1"), "alice", None).limits();
        assert_eq!(
            mapped[0].counter,
            t.attempt(A, "alice", None).limits()[0].counter
        );
    }

    #[test]
    fn zero_turns_throttling_off_and_long_names_are_cut() {
        assert!(Throttle::new(0)
            .attempt(A, "alice", None)
            .limits()
            .is_empty());
        let t = Throttle::new(5);
        let long = t.attempt(A, &"x".repeat(10_000), None).limits();
        let cut = t.attempt(A, &"x".repeat(MAX_NAME_CHARS), None).limits();
        assert_eq!(long[0].counter, cut[0].counter);
    }
}
