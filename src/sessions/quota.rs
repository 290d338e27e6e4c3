//! How many new anonymous sessions one client address may create
//! (docs/contract.md, "Sessions": anonymous sessions are bounded).
//!
//! An anonymous session costs a file (or a Redis key) for its whole
//! lifetime, 14 days by default, and creating one needs nothing but a
//! cookieless `POST /theme`. Unbounded, one client wrote thousands of files
//! a second. So each address is paced (`sessions::pace`): `BURST` new
//! sessions at once, then one every `INTERVAL`; past that, 429 with
//! `Retry-After`. (`--max-sessions` bounds what many addresses can do
//! together.) Sign-in is not counted here: the login throttle and the
//! per-user cap bound it.
//!
//! Why these numbers: a person makes a new anonymous session the first
//! time they choose a theme, and again only after losing the cookie. A
//! classroom or an office behind one address may all do it in the same
//! minute: 60 at once leaves room for 40 browsers and more. After that, 20
//! a minute (28,800 a day): one address alone needs more than three days to
//! reach the default cap of 100,000 live sessions.

use std::net::IpAddr;
use std::time::Duration;

use crate::http::forwarded::client_key;
use crate::sessions::pace::{Counter, Counts, Limit, Rule};

/// New anonymous sessions one address may create at once.
pub const BURST: u32 = 60;
/// After the burst, one more per this.
pub const INTERVAL: Duration = Duration::from_secs(3);

/// The pace of new anonymous sessions from `address` (an IPv6 client by
/// its /64). A theme change does not wait its turn: past the pace, 429.
pub fn new_sessions(address: IpAddr) -> Limit {
    Limit {
        counter: Counter::named(&format!("new sessions {}", client_key(address))),
        rule: Rule {
            burst: BURST,
            interval: INTERVAL,
            max_wait: Duration::ZERO,
        },
        counts: Counts::WhenAdmitted,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sessions::pace::{Paced, Paces};

    /// The burst and the 429 past it are the suite's (`session_bounds`);
    /// here, the exact wait, and that it is enough.
    #[test]
    fn past_the_burst_an_address_waits_one_interval() {
        let (paces, t0) = (Paces::default(), 1_000_000);
        let from = [new_sessions("192.0.2.1".parse().unwrap())];
        for _ in 0..BURST {
            assert!(matches!(paces.admit(&from, t0), Paced::Admitted { .. }));
        }
        let refused = paces.admit(&from, t0);
        assert!(
            matches!(refused, Paced::Refused { limit: 0, retry_after } if retry_after == INTERVAL)
        );
        let later = t0 + 3000;
        assert!(matches!(paces.admit(&from, later), Paced::Admitted { .. }));
    }
}
