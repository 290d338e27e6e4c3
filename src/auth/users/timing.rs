//! Failed logins that take the same time whoever the name belongs to, at a
//! price no line of the users file can raise (docs/contract.md, "Users
//! file", gives the rule). Checking a password costs what its hash's kind
//! costs: a cost-5 bcrypt hash fails in 3 ms, a cost-12 one in 300 ms,
//! latch's argon2id in 30 ms. Answer an unknown name at once, or after one
//! fixed decoy check, and the time of a failure tells which names exist.
//!
//! 1. Estimates: two checks are timed once per process (latch's own
//!    argon2id, bcrypt at cost 8) and each kind in the file is scaled from
//!    its scheme's (`Kind::work`): no costly hash is made just to time it.
//! 2. The decoy, for a name with no usable line, is of latch's own kind:
//!    one costly line must not set the price (in memory above all) of
//!    every failure for a made-up name.
//! 3. The floor, no sooner than which every failure is answered: the
//!    estimate covers the costliest hash before anyone uses it; the
//!    slowest check seen lately covers a machine busier than when it was
//!    timed. The wait is a timer, not work: it holds no slot and no core.
//!
//! A success is not held back: whoever knows the password knows the name.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::hashes::{hash_as, verify, Kind, DEFAULT_KIND};
use super::random_password;

/// The bcrypt cost timed at start (about 16 ms): costs are scaled from it.
const TIMED_BCRYPT: Kind = Kind::Bcrypt { cost: 8 };
/// How long a seen check counts toward the floor: this, up to twice this.
const SEEN_FOR: Duration = Duration::from_secs(60);

/// The two timed checks and the decoy, made once per process (steps 1
/// and 2), and the slowest checks seen lately (step 3).
pub struct Decoys {
    /// A hash of latch's own kind (step 2).
    decoy: String,
    argon2: Duration,
    bcrypt: Duration,
    seen: Seen,
}

impl Default for Decoys {
    /// Makes the decoy and times it, and a bcrypt hash: slow (about 50
    /// ms), so call it off the async workers.
    fn default() -> Decoys {
        let (decoy, argon2) = timed(DEFAULT_KIND);
        let (_, bcrypt) = timed(TIMED_BCRYPT);
        Decoys {
            decoy,
            argon2,
            bcrypt,
            seen: Seen::default(),
        }
    }
}

fn timed(kind: Kind) -> (String, Duration) {
    let started = Instant::now();
    let hash = hash_as(kind, &random_password());
    (hash, started.elapsed())
}

impl Decoys {
    /// How long one check of `kind` should take here (step 1).
    pub fn estimate(&self, kind: Kind) -> Duration {
        let (base, took) = match kind {
            Kind::Argon2id { .. } => (DEFAULT_KIND, self.argon2),
            Kind::Bcrypt { .. } => (TIMED_BCRYPT, self.bcrypt),
        };
        took.mul_f64(kind.work() / base.work())
    }

    /// The estimated floor (step 3) for the kinds of hash in one users
    /// file: the slowest estimate, with half again as margin.
    pub fn floor_for(&self, kinds: impl IntoIterator<Item = Kind>) -> Duration {
        let slowest = std::iter::once(DEFAULT_KIND)
            .chain(kinds)
            .map(|kind| self.estimate(kind))
            .max()
            .expect("the default kind is always there");
        slowest * 3 / 2
    }
}

/// What sign-ins cost with one users file, for `latch check`.
pub struct SignInCost {
    /// How long a failed sign-in takes to be answered (the floor).
    pub failure: Duration,
    /// The memory a failed sign-in for an unknown name holds (the decoy).
    pub decoy_kib: u32,
    /// The costliest line's user, its kind and its estimated check, when
    /// it costs more than the decoy.
    pub costliest: Option<(String, Kind, Duration)>,
}

impl SignInCost {
    /// Times the two reference checks (about 50 ms) and estimates the rest.
    pub fn of(users: &super::Users) -> SignInCost {
        let decoys = Decoys::default();
        let costliest = users
            .accounts
            .iter()
            .filter_map(|(name, named)| Some((name, named.account.as_ref().ok()?.kind)))
            .map(|(name, kind)| (name.clone(), kind, decoys.estimate(kind)))
            .max_by_key(|(_, kind, took)| (*took, kind.memory_kib()))
            .filter(|(_, kind, took)| {
                *took > decoys.argon2 || kind.memory_kib() > DEFAULT_KIND.memory_kib()
            });
        SignInCost {
            failure: decoys.floor_for(users.kinds()),
            decoy_kib: DEFAULT_KIND.memory_kib(),
            costliest,
        }
    }
}

/// The slowest check seen in the current stretch of `SEEN_FOR`, and in the
/// one before it: a bounded memory of what checks cost lately.
#[derive(Debug, Default)]
struct Seen {
    stretches: Mutex<[(u64, Duration); 2]>,
}

impl Seen {
    fn record(&self, took: Duration, now: Instant) {
        let stretch = stretch_of(now);
        let mut s = self.stretches.lock().unwrap_or_else(|p| p.into_inner());
        if s[1].0 != stretch {
            s[0] = if s[1].0 + 1 == stretch {
                s[1]
            } else {
                (0, Duration::ZERO)
            };
            s[1] = (stretch, Duration::ZERO);
        }
        s[1].1 = s[1].1.max(took);
    }

    fn slowest(&self, now: Instant) -> Duration {
        let stretch = stretch_of(now);
        let s = self.stretches.lock().unwrap_or_else(|p| p.into_inner());
        s.iter()
            .filter(|(at, _)| *at + 1 >= stretch)
            .map(|(_, took)| *took)
            .max()
            .unwrap_or_default()
    }
}

/// Which stretch of `SEEN_FOR` `now` falls in, counted from the process's
/// start (a monotonic clock: a clock change cannot replay old stretches).
fn stretch_of(now: Instant) -> u64 {
    static START: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    let start = *START.get_or_init(Instant::now);
    (now.saturating_duration_since(start).as_secs() / SEEN_FOR.as_secs()) + 1
}

/// One login's password check, prepared from one version of the users file.
pub struct PasswordCheck {
    /// The user's hash and its kind; `None` for a name with no usable line.
    user_hash: Option<(String, Kind)>,
    decoys: Arc<Decoys>,
    /// That version's estimated floor (`Decoys::floor_for`).
    estimated_floor: Duration,
}

impl PasswordCheck {
    pub fn new(
        user_hash: Option<(&str, Kind)>,
        decoys: Arc<Decoys>,
        estimated_floor: Duration,
    ) -> PasswordCheck {
        PasswordCheck {
            user_hash: user_hash.map(|(hash, kind)| (hash.to_owned(), kind)),
            decoys,
            estimated_floor,
        }
    }

    /// The user's password hash; `None` for a name with no usable line,
    /// whose check is against the decoy.
    pub fn user_hash(&self) -> Option<&str> {
        self.user_hash.as_ref().map(|(hash, _)| hash.as_str())
    }

    /// The memory the check will hold, in KiB: the user's hash's, or the
    /// decoy's (latch's own kind).
    pub fn memory_kib(&self) -> u32 {
        self.user_hash
            .as_ref()
            .map_or(DEFAULT_KIND, |(_, kind)| *kind)
            .memory_kib()
    }

    /// How soon after its check began a failure may be answered (step 3).
    pub fn floor(&self) -> Duration {
        let seen = self.decoys.seen.slowest(Instant::now());
        self.estimated_floor.max(seen)
    }

    /// The slow part: call it off the async workers. The user's hash when
    /// `password` matches it; `None` otherwise, after checking against the
    /// decoy if the name has no usable line. How long it took is kept for
    /// the floor.
    pub fn run(&self, password: &str) -> Option<String> {
        let started = Instant::now();
        let matched = match &self.user_hash {
            Some((hash, _)) => verify(password, hash).then(|| hash.clone()),
            None => {
                verify(password, &self.decoys.decoy);
                None
            }
        };
        self.decoys.seen.record(started.elapsed(), Instant::now());
        matched
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::users::hashes::recognize;

    #[test]
    fn the_floor_covers_the_costliest_kind_by_estimate() {
        // Times planted as if measured, so that the test does not depend
        // on this machine's load of the moment.
        let decoys = Decoys {
            decoy: String::new(),
            argon2: Duration::from_millis(30),
            bcrypt: Duration::from_millis(16),
            seen: Seen::default(),
        };
        assert_eq!(
            decoys.estimate(Kind::Bcrypt { cost: 10 }),
            Duration::from_millis(64)
        );
        assert_eq!(decoys.floor_for([]), Duration::from_millis(45));
        assert_eq!(
            decoys.floor_for([Kind::Bcrypt { cost: 12 }]),
            Duration::from_millis(16 * 16 * 3 / 2)
        );
    }

    #[test]
    fn a_slow_check_seen_lately_raises_the_floor_then_is_forgotten() {
        let seen = Seen::default();
        stretch_of(Instant::now()); // the stretches start before `now`
        let now = Instant::now();
        seen.record(Duration::from_millis(400), now);
        assert_eq!(seen.slowest(now), Duration::from_millis(400));
        assert_eq!(seen.slowest(now + SEEN_FOR), Duration::from_millis(400));
        assert_eq!(seen.slowest(now + SEEN_FOR * 2), Duration::ZERO);
        seen.record(Duration::from_millis(10), now + SEEN_FOR * 5);
        assert_eq!(seen.slowest(now + SEEN_FOR * 5), Duration::from_millis(10));
    }

    #[test]
    fn an_unknown_name_is_checked_against_latchs_own_kind_and_never_matches() {
        let decoys = Arc::new(Decoys::default());
        assert_eq!(recognize(&decoys.decoy), Ok(DEFAULT_KIND));
        let floor = Duration::from_millis(45);
        let unknown = PasswordCheck::new(None, Arc::clone(&decoys), floor);
        assert_eq!(unknown.user_hash(), None);
        assert_eq!(unknown.memory_kib(), DEFAULT_KIND.memory_kib());
        assert_eq!(unknown.run(""), None);
        let hash = crate::auth::users::hash_password("pw");
        let known = PasswordCheck::new(Some((&hash, DEFAULT_KIND)), decoys, floor);
        assert_eq!(known.run("pw"), Some(hash.clone()));
        assert_eq!(known.run("no"), None);
        assert!(known.floor() >= floor);
    }
}
