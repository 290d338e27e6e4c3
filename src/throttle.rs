//! Login throttling (SPEC.md, "Login throttling"; OWASP Authentication
//! Cheat Sheet, "Protect against automated attacks").
//!
//! Failed logins are counted in 15-minute windows, per (client address,
//! user name) pair and per client address. Past `limit` failures for a pair,
//! or `4 × limit` for an address, further logins from that address are
//! answered 429 until the window ends, without checking the password (a
//! check is what a guesser wants, and what costs us 19 MiB and 30 ms).
//! Counting by address means a guesser elsewhere cannot lock the real user
//! out: the user's own address has its own count.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;

/// The counting window (SPEC.md: 15 minutes).
pub const WINDOW_SECS: u64 = 15 * 60;
/// At most this many entries per table; past it, finished windows are
/// dropped, then the oldest. Memory stays bounded however many addresses
/// and names a flood uses.
pub const MAX_ENTRIES: usize = 10_000;
/// User names are counted by their first this-many characters, so a client
/// cannot make one entry as large as a form body.
const MAX_NAME_CHARS: usize = 64;

pub struct Throttle {
    /// Failures allowed per pair; `0` turns throttling off.
    limit: u32,
    tables: Mutex<Tables>,
}

#[derive(Default)]
struct Tables {
    pairs: HashMap<(IpAddr, String), Window>,
    addresses: HashMap<IpAddr, Window>,
}

#[derive(Clone, Copy, Debug)]
struct Window {
    started: u64,
    failures: u32,
}

/// Whether a login may go ahead.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    Allowed,
    /// Refused; the client may try again after this many seconds.
    Throttled {
        retry_after: u64,
    },
}

impl Throttle {
    pub fn new(limit: u32) -> Throttle {
        Throttle {
            limit,
            tables: Mutex::new(Tables::default()),
        }
    }

    /// Decides before any password is checked.
    pub fn check(&self, address: IpAddr, user: &str, now: u64) -> Verdict {
        if self.limit == 0 {
            return Verdict::Allowed;
        }
        let tables = self.lock();
        let pair = tables.pairs.get(&(address, key(user)));
        let from_address = tables.addresses.get(&address);
        let over = |window: Option<&Window>, limit: u32| {
            window
                .filter(|w| w.live(now) && w.failures >= limit)
                .map(|w| w.ends() - now)
        };
        match over(pair, self.limit).max(over(from_address, self.limit.saturating_mul(4))) {
            Some(retry_after) => Verdict::Throttled {
                retry_after: retry_after.max(1),
            },
            None => Verdict::Allowed,
        }
    }

    /// Counts a failed login.
    pub fn failed(&self, address: IpAddr, user: &str, now: u64) {
        if self.limit == 0 {
            return;
        }
        let mut tables = self.lock();
        count(&mut tables.pairs, (address, key(user)), now);
        count(&mut tables.addresses, address, now);
    }

    /// A success clears the pair's count (not the address's: one good
    /// password does not buy a guesser at that address more tries).
    pub fn succeeded(&self, address: IpAddr, user: &str) {
        self.lock().pairs.remove(&(address, key(user)));
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Tables> {
        self.tables.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Window {
    fn ends(&self) -> u64 {
        self.started + WINDOW_SECS
    }

    fn live(&self, now: u64) -> bool {
        now < self.ends()
    }
}

fn key(user: &str) -> String {
    user.chars().take(MAX_NAME_CHARS).collect()
}

/// Adds a failure to `key`'s window, opening a new window when the old one
/// has ended, and keeps the table within `MAX_ENTRIES`.
fn count<K: std::hash::Hash + Eq + Clone>(table: &mut HashMap<K, Window>, key: K, now: u64) {
    if !table.contains_key(&key) && table.len() >= MAX_ENTRIES {
        table.retain(|_, w| w.live(now));
        if table.len() >= MAX_ENTRIES {
            let oldest = table
                .iter()
                .min_by_key(|(_, w)| w.started)
                .map(|(k, _)| k.clone());
            if let Some(oldest) = oldest {
                table.remove(&oldest);
            }
        }
    }
    let window = table.entry(key).or_insert(Window {
        started: now,
        failures: 0,
    });
    if !window.live(now) {
        *window = Window {
            started: now,
            failures: 0,
        };
    }
    window.failures += 1;
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 1));
    const B: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 2));

    #[test]
    fn a_pair_is_throttled_after_limit_failures_until_the_window_ends() {
        let t = Throttle::new(3);
        for _ in 0..3 {
            assert_eq!(t.check(A, "alice", 100), Verdict::Allowed);
            t.failed(A, "alice", 100);
        }
        assert_eq!(
            t.check(A, "alice", 100),
            Verdict::Throttled { retry_after: 900 }
        );
        assert_eq!(
            t.check(A, "alice", 999),
            Verdict::Throttled { retry_after: 1 }
        );
        assert_eq!(t.check(A, "alice", 1000), Verdict::Allowed);
    }

    #[test]
    fn another_address_is_never_locked_out() {
        let t = Throttle::new(3);
        for _ in 0..50 {
            t.failed(A, "alice", 100);
        }
        assert_eq!(t.check(B, "alice", 100), Verdict::Allowed);
    }

    #[test]
    fn an_address_is_throttled_after_four_times_the_limit_across_names() {
        let t = Throttle::new(2);
        for i in 0..8 {
            t.failed(A, &format!("user{i}"), 100);
        }
        assert!(matches!(
            t.check(A, "fresh-name", 100),
            Verdict::Throttled { .. }
        ));
        assert_eq!(t.check(B, "fresh-name", 100), Verdict::Allowed);
    }

    #[test]
    fn a_success_clears_the_pair() {
        let t = Throttle::new(2);
        t.failed(A, "alice", 100);
        t.failed(A, "alice", 100);
        assert!(matches!(
            t.check(A, "alice", 100),
            Verdict::Throttled { .. }
        ));
        t.succeeded(A, "alice");
        assert_eq!(t.check(A, "alice", 100), Verdict::Allowed);
    }

    #[test]
    fn zero_turns_throttling_off() {
        let t = Throttle::new(0);
        for _ in 0..100 {
            t.failed(A, "alice", 100);
        }
        assert_eq!(t.check(A, "alice", 100), Verdict::Allowed);
    }

    #[test]
    fn memory_is_capped() {
        let t = Throttle::new(5);
        for i in 0..(MAX_ENTRIES as u32 + 500) {
            let address = IpAddr::V4(std::net::Ipv4Addr::from(i));
            t.failed(address, &"x".repeat(10_000), 100);
        }
        let tables = t.lock();
        assert!(tables.pairs.len() <= MAX_ENTRIES && tables.addresses.len() <= MAX_ENTRIES);
        assert!(tables
            .pairs
            .keys()
            .all(|(_, name)| name.len() <= MAX_NAME_CHARS));
    }
}
