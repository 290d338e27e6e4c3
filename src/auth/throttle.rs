//! Login throttling (docs/contract.md, "Login throttling"; OWASP
//! Authentication Cheat Sheet, "Protect against automated attacks").
//!
//! Login attempts are counted in 15-minute windows, per (client, user name)
//! pair and per client. An attempt counts the moment it is admitted, before
//! its password is checked: a guesser who sends 200 logins at once, over
//! many connections or pipelined on one, gets `limit` of them checked and
//! the rest refused, just as if they had come one by one. A success then
//! takes its attempt back: it clears the pair's count and returns its place
//! in the client's count. So what stays counted is exactly the failures,
//! plus whatever is still being checked.
//!
//! Past `limit` for a pair, or `4 × limit` for a client, further logins
//! from that client are answered 429 until the window ends, without
//! checking the password (a check is what a guesser wants, and what costs
//! us 19 MiB and 30 ms). Counting by client means a guesser elsewhere
//! cannot lock the real user out: the user's own address has its own count.
//!
//! With the Redis store the counts live in Redis (`admit_in`), so that a
//! guesser spreading tries over instances behind a load balancer gets no
//! more than against one (docs/contract.md, "The Redis store"). Each
//! counter is admitted and counted in one atomic step there; the pair is
//! asked first, so an attempt the client's count refuses still counts for
//! its pair (that client is refused anyway). A success clears the pair's
//! count and gives back its place in the client's, as here.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;

use crate::http::forwarded::client_key;
use crate::sessions::redis::{Admission, RedisStore};
use crate::sessions::store::{Store, StoreError};

/// The counting window (docs/contract.md: 15 minutes).
pub const WINDOW_SECS: u64 = 15 * 60;
/// At most this many entries per table; past it, finished windows are
/// dropped, then the oldest. Memory stays bounded however many addresses
/// and names a flood uses.
pub const MAX_ENTRIES: usize = 10_000;
/// User names are counted by their first this-many characters, so a client
/// cannot make one entry as large as a form body.
const MAX_NAME_CHARS: usize = 64;

pub struct Throttle {
    /// Attempts allowed per pair; `0` turns throttling off.
    limit: u32,
    tables: Mutex<Tables>,
}

#[derive(Default)]
struct Tables {
    pairs: HashMap<(IpAddr, String), Window>,
    clients: HashMap<IpAddr, Window>,
}

#[derive(Clone, Copy, Debug)]
struct Window {
    started: u64,
    attempts: u32,
}

/// Whether a login may go ahead.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Go ahead: the attempt is counted.
    Admitted,
    /// Refused; the client may try again after this many seconds.
    Throttled { retry_after: u64 },
}

impl Throttle {
    pub fn new(limit: u32) -> Throttle {
        Throttle {
            limit,
            tables: Mutex::new(Tables::default()),
        }
    }

    /// Decides before any password is checked, and counts the attempt if
    /// it is admitted: deciding and counting happen under one lock, so two
    /// requests at once cannot both take the last place.
    pub fn admit(&self, address: IpAddr, user: &str, now: u64) -> Verdict {
        if self.limit == 0 {
            return Verdict::Admitted;
        }
        let client = client_key(address);
        let pair = (client, key(user));
        let mut tables = self.lock();
        let full = |window: Option<&Window>, limit: u32| {
            window
                .filter(|w| w.live(now) && w.attempts >= limit)
                .map(|w| w.ends() - now)
        };
        let client_limit = self.limit.saturating_mul(4);
        let wait = full(tables.pairs.get(&pair), self.limit)
            .max(full(tables.clients.get(&client), client_limit));
        if let Some(retry_after) = wait {
            return Verdict::Throttled {
                retry_after: retry_after.max(1),
            };
        }
        count(&mut tables.pairs, pair, now);
        count(&mut tables.clients, client, now);
        Verdict::Admitted
    }

    /// The password was right: the pair's count is cleared, and this
    /// attempt's place in the client's count is given back (the client's
    /// earlier failures stay: one good password does not buy a guesser at
    /// that address more tries).
    pub fn succeeded(&self, address: IpAddr, user: &str) {
        if self.limit == 0 {
            return;
        }
        let client = client_key(address);
        let mut tables = self.lock();
        tables.pairs.remove(&(client, key(user)));
        if let Some(window) = tables.clients.get_mut(&client) {
            window.attempts = window.attempts.saturating_sub(1);
        }
    }

    /// `admit`, counted where `store` keeps shared state: in Redis for the
    /// Redis store (every instance sees every attempt), else here.
    pub async fn admit_in(
        &self,
        store: &Store,
        address: IpAddr,
        user: &str,
        now: u64,
    ) -> Result<Verdict, StoreError> {
        match store {
            Store::Redis { redis, .. } => Ok(self.admit_shared(redis, address, user).await?),
            Store::Files(_) => Ok(self.admit(address, user, now)),
        }
    }

    /// `succeeded`, where `admit_in` counted: in Redis, the pair's counter
    /// is deleted.
    pub async fn succeeded_in(
        &self,
        store: &Store,
        address: IpAddr,
        user: &str,
    ) -> Result<(), StoreError> {
        match store {
            Store::Redis { redis, .. } if self.limit > 0 => {
                redis.throttle_reset(&pair_counter(address, user)).await?;
                Ok(redis.throttle_release(&client_counter(address)).await?)
            }
            Store::Redis { .. } => Ok(()),
            Store::Files(_) => {
                self.succeeded(address, user);
                Ok(())
            }
        }
    }

    /// The pair's counter, then the client's, each admitted and counted in
    /// one step in Redis; the window starts at a counter's first attempt.
    async fn admit_shared(
        &self,
        redis: &RedisStore,
        address: IpAddr,
        user: &str,
    ) -> Result<Verdict, crate::sessions::redis::StoreError> {
        let window = std::time::Duration::from_secs(WINDOW_SECS);
        let counters = [
            (pair_counter(address, user), self.limit),
            (client_counter(address), self.limit.saturating_mul(4)),
        ];
        for (counter, limit) in counters {
            if let Admission::Refused { retry_after } =
                redis.throttle_admit(&counter, limit, window).await?
            {
                let seconds = retry_after.as_millis().div_ceil(1000);
                return Ok(Verdict::Throttled {
                    retry_after: u64::try_from(seconds).unwrap_or(WINDOW_SECS).max(1),
                });
            }
        }
        Ok(Verdict::Admitted)
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

/// The Redis counter of a (client, user name) pair (hashed into its key
/// by the store: no address or name is readable there).
fn pair_counter(address: IpAddr, user: &str) -> String {
    format!("pair {} {}", client_key(address), key(user))
}

/// The Redis counter of a client address (its /64 for IPv6).
fn client_counter(address: IpAddr) -> String {
    format!("client {}", client_key(address))
}

/// Adds an attempt to `key`'s window, opening a new window when the old one
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
        attempts: 0,
    });
    if !window.live(now) {
        *window = Window {
            started: now,
            attempts: 0,
        };
    }
    window.attempts += 1;
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 1));
    const B: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 2));

    fn v6(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn a_pair_is_throttled_after_limit_attempts_until_the_window_ends() {
        let t = Throttle::new(3);
        for _ in 0..3 {
            assert_eq!(t.admit(A, "alice", 100), Verdict::Admitted);
        }
        assert_eq!(
            t.admit(A, "alice", 100),
            Verdict::Throttled { retry_after: 900 }
        );
        assert_eq!(
            t.admit(A, "alice", 999),
            Verdict::Throttled { retry_after: 1 }
        );
        assert_eq!(t.admit(A, "alice", 1000), Verdict::Admitted);
    }

    #[test]
    fn attempts_admitted_at_once_take_the_places_before_any_check_ends() {
        let t = std::sync::Arc::new(Throttle::new(5));
        let admitted: usize = std::thread::scope(|scope| {
            let workers: Vec<_> = (0..8)
                .map(|_| {
                    let t = &t;
                    scope.spawn(move || {
                        (0..25)
                            .filter(|_| t.admit(A, "alice", 100) == Verdict::Admitted)
                            .count()
                    })
                })
                .collect();
            workers.into_iter().map(|w| w.join().unwrap()).sum()
        });
        assert_eq!(admitted, 5);
    }

    #[test]
    fn another_address_is_never_locked_out() {
        let t = Throttle::new(3);
        for _ in 0..50 {
            t.admit(A, "alice", 100);
        }
        assert_eq!(t.admit(B, "alice", 100), Verdict::Admitted);
    }

    #[test]
    fn a_client_is_throttled_after_four_times_the_limit_across_names() {
        let t = Throttle::new(2);
        for i in 0..8 {
            assert_eq!(t.admit(A, &format!("user{i}"), 100), Verdict::Admitted);
        }
        assert!(matches!(
            t.admit(A, "fresh-name", 100),
            Verdict::Throttled { .. }
        ));
        assert_eq!(t.admit(B, "fresh-name", 100), Verdict::Admitted);
    }

    #[test]
    fn a_success_clears_the_pair_and_gives_back_its_place_only() {
        let t = Throttle::new(2);
        t.admit(A, "alice", 100);
        t.admit(A, "alice", 100);
        t.succeeded(A, "alice");
        assert_eq!(t.admit(A, "alice", 100), Verdict::Admitted);
        assert_eq!(
            t.lock().clients[&A].attempts,
            2,
            "one failure, one checking"
        );
    }

    #[test]
    fn an_ipv6_client_is_counted_by_its_64_prefix() {
        let t = Throttle::new(1);
        assert_eq!(
            t.admit(v6("2001:db8:1:2::1"), "alice", 100),
            Verdict::Admitted
        );
        assert!(matches!(
            t.admit(v6("2001:db8:1:2:ffff::9"), "alice", 100),
            Verdict::Throttled { .. }
        ));
        assert_eq!(
            t.admit(v6("2001:db8:1:3::1"), "alice", 100),
            Verdict::Admitted
        );
    }

    #[test]
    fn an_ipv4_mapped_address_is_counted_as_its_ipv4_address() {
        let t = Throttle::new(1);
        t.admit(v6("::ffff:192.0.2.1"), "alice", 100);
        assert!(matches!(
            t.admit(A, "alice", 100),
            Verdict::Throttled { .. }
        ));
    }

    #[test]
    fn zero_turns_throttling_off() {
        let t = Throttle::new(0);
        for _ in 0..100 {
            assert_eq!(t.admit(A, "alice", 100), Verdict::Admitted);
        }
    }

    #[test]
    fn memory_is_capped() {
        let t = Throttle::new(5);
        for i in 0..(MAX_ENTRIES as u32 + 500) {
            let address = IpAddr::V4(std::net::Ipv4Addr::from(i));
            t.admit(address, &"x".repeat(10_000), 100);
        }
        let tables = t.lock();
        assert!(tables.pairs.len() <= MAX_ENTRIES && tables.clients.len() <= MAX_ENTRIES);
        assert!(tables
            .pairs
            .keys()
            .all(|(_, name)| name.len() <= MAX_NAME_CHARS));
    }
}
