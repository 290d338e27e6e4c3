//! How many new anonymous sessions one client address may create
//! (docs/contract.md, "Sessions": anonymous sessions are bounded).
//!
//! An anonymous session costs a file and an inode for its whole lifetime
//! (14 days by default), and creating one needs nothing but a cookieless
//! `POST /theme`. Unbounded, one client wrote thousands of files a second.
//! So each address may create `PER_MINUTE` of them in a one-minute window,
//! counted from the first; beyond it, 429 with `Retry-After` until the
//! window ends. (The store's `--max-sessions` cap bounds what many addresses
//! can do together.) Sign-in is not counted here: the login throttle and
//! the password check already bound it.
//!
//! Why 20 a minute: a person makes a new anonymous session the first time
//! they choose a theme, and again only after losing the cookie, so one
//! address rarely makes more than one or two a minute. 20 leaves room for
//! a classroom or an office behind one NAT starting at once, while one
//! address alone needs more than three days (28,800 a day) to reach the
//! default cap of 100,000 live sessions, instead of 26 seconds.
//!
//! With the Redis store the counts live in Redis (`admit_in`), so that
//! every instance behind a load balancer counts against the same window
//! (docs/contract.md, "The Redis store").

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;

use crate::http::forwarded::client_key;
use crate::sessions::redis::Admission;
use crate::sessions::store::{Store, StoreError};

/// New anonymous sessions one address may create per window.
pub const PER_MINUTE: u32 = 20;
/// The counting window.
pub const WINDOW_SECS: u64 = 60;
/// At most this many addresses are remembered; past it, finished windows
/// are dropped, then the oldest. Memory stays bounded whatever addresses a
/// flood uses (the global cap still holds for an address forgotten early).
const MAX_ENTRIES: usize = 10_000;

/// The per-address counts.
#[derive(Default)]
pub struct SessionQuota {
    windows: Mutex<HashMap<IpAddr, Window>>,
}

#[derive(Clone, Copy)]
struct Window {
    started: u64,
    created: u32,
}

impl SessionQuota {
    /// `admit`, counted where `store` keeps shared state: in Redis for the
    /// Redis store (admitted and counted in one atomic step there), else
    /// here. `Ok(Err(seconds))`: the window is spent.
    pub async fn admit_in(
        &self,
        store: &Store,
        address: IpAddr,
        now: u64,
    ) -> Result<Result<(), u64>, StoreError> {
        let Store::Redis { redis, .. } = store else {
            return Ok(self.admit(address, now));
        };
        let counter = format!("new sessions {}", client_key(address));
        let window = std::time::Duration::from_secs(WINDOW_SECS);
        Ok(
            match redis.throttle_admit(&counter, PER_MINUTE, window).await? {
                Admission::Admitted { .. } => Ok(()),
                Admission::Refused { retry_after } => {
                    let seconds = retry_after.as_millis().div_ceil(1000);
                    Err(u64::try_from(seconds).unwrap_or(WINDOW_SECS).max(1))
                }
            },
        )
    }

    /// Counts one new session for `address` if its window allows it;
    /// otherwise `Err` with the seconds until it does. A session counts
    /// when it is admitted, so many requests sent at once cannot buy more
    /// than the limit.
    pub fn admit(&self, address: IpAddr, now: u64) -> Result<(), u64> {
        let key = client_key(address);
        let mut windows = self.windows.lock().unwrap_or_else(|p| p.into_inner());
        if !windows.contains_key(&key) && windows.len() >= MAX_ENTRIES {
            make_room(&mut windows, now);
        }
        let window = windows.entry(key).or_insert(Window {
            started: now,
            created: 0,
        });
        let ends = window.started.saturating_add(WINDOW_SECS);
        if now >= ends {
            *window = Window {
                started: now,
                created: 0,
            };
        } else if window.created >= PER_MINUTE {
            return Err((ends - now).max(1));
        }
        window.created += 1;
        Ok(())
    }
}

/// Drops finished windows, and if that frees nothing, the oldest one.
fn make_room(windows: &mut HashMap<IpAddr, Window>, now: u64) {
    windows.retain(|_, w| now < w.started.saturating_add(WINDOW_SECS));
    if windows.len() >= MAX_ENTRIES {
        let oldest = windows
            .iter()
            .min_by_key(|(_, w)| w.started)
            .map(|(k, _)| *k);
        if let Some(oldest) = oldest {
            windows.remove(&oldest);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn an_address_may_create_the_limit_per_window_then_waits_for_its_end() {
        let quota = SessionQuota::default();
        for _ in 0..PER_MINUTE {
            assert_eq!(quota.admit(ip("192.0.2.1"), 100), Ok(()));
        }
        assert_eq!(quota.admit(ip("192.0.2.1"), 100), Err(60));
        assert_eq!(quota.admit(ip("192.0.2.1"), 159), Err(1));
        assert_eq!(quota.admit(ip("192.0.2.1"), 160), Ok(()));
        assert_eq!(
            quota.admit(ip("192.0.2.2"), 100),
            Ok(()),
            "others unaffected"
        );
    }

    #[test]
    fn ipv6_addresses_share_their_64_prefix() {
        let quota = SessionQuota::default();
        for i in 0..PER_MINUTE {
            let address = ip(&format!("2001:db8:1:2:{i:x}::1"));
            assert_eq!(quota.admit(address, 100), Ok(()));
        }
        assert!(quota.admit(ip("2001:db8:1:2:ffff::9"), 100).is_err());
        assert_eq!(quota.admit(ip("2001:db8:1:3::1"), 100), Ok(()));
    }

    #[test]
    fn memory_is_capped() {
        let quota = SessionQuota::default();
        for i in 0..(MAX_ENTRIES as u32 + 100) {
            let _ = quota.admit(IpAddr::V4(i.into()), 100);
        }
        assert!(quota.windows.lock().unwrap().len() <= MAX_ENTRIES);
    }

    #[test]
    fn a_time_near_the_end_of_u64_does_not_overflow() {
        let quota = SessionQuota::default();
        assert_eq!(quota.admit(ip("192.0.2.1"), u64::MAX), Ok(()));
    }
}
