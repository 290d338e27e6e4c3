//! Login throttling: which counters a sign-in attempt passes
//! (docs/contract.md, "Login throttling"; OWASP Authentication Cheat
//! Sheet, "Protect against automated attacks"). The counters live in the
//! store (`sessions::pace`), so that every instance counts the same
//! attempts. The throttle decides at the head of the address's line
//! (`auth::password`), before the password is checked, so it knows how
//! the address's earlier checks ended; a refused attempt writes nothing.
//!
//! - **The name from this address** (the pair) bounds guessing one
//!   account. It counts when admitted, so attempts sent at once buy no
//!   more checks than sent one by one; another address is never refused
//!   for it, so a guesser elsewhere cannot lock the real user out.
//! - **This address's failures, for any name** bound password spraying,
//!   which passes every pair once. Only failures count, once their check
//!   has ended: people behind one address (a classroom, an office,
//!   carrier-grade NAT) never use it up with their correct sign-ins.
//! - **A known browser** (a device cookie for this name, `auth::device`)
//!   is counted on its own instead of the two above.
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
        let counters = match device {
            Some(device) => vec![(Counted::Browser, device.counter_name(&user))],
            None => vec![
                (Counted::Name, format!("login pair {client} {user}")),
                (Counted::Address, format!("login failures {client}")),
            ],
        };
        let limits = counters
            .into_iter()
            .map(|(counted, name)| (counted, self.limit(counted, &name)))
            .collect();
        Attempt { limits }
    }

    /// A name (from an address or a browser): N attempts, then one per
    /// `WINDOW`, counted when admitted. An address: its failures, counted
    /// once the check has failed (`Attempt::failed`).
    fn limit(&self, counted: Counted, name: &str) -> Limit {
        let (burst, interval, counts) = match counted {
            Counted::Name | Counted::Browser => (self.limit, WINDOW, Counts::WhenAdmitted),
            Counted::Address => (ADDRESS_BURST, ADDRESS_INTERVAL, Counts::Later),
        };
        Limit {
            counter: Counter::named(name),
            rule: Rule {
                burst,
                interval,
                max_wait: Duration::ZERO,
            },
            counts,
        }
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
    fn a_name_is_refused_from_one_address_after_n_attempts_but_not_from_its_known_browser() {
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

        let cookie = crate::http::cookies::Cookie::device(false);
        let header = crate::auth::device::set_cookie(cookie, "alice", "h");
        let value = header.split(';').next().unwrap().to_owned();
        let mut headers = hyper::HeaderMap::new();
        headers.insert(hyper::header::COOKIE, value.parse().unwrap());
        let device = crate::auth::device::presented(&headers, cookie, "alice", "h");
        let known = t.attempt(A, "alice", device);
        for _ in 0..3 {
            assert!(try_at(&paces, &known, T0).is_ok());
        }
        assert_eq!(try_at(&paces, &known, T0), Err(Counted::Browser));
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
