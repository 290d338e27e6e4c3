//! Paces: how often one client may do something costly (try a password,
//! make a session), counted in the store so that every instance sees
//! every attempt (docs/contract.md, "Login throttling" and "Sessions").
//!
//! Every limit in latch is one rule, the generic cell rate algorithm
//! (GCRA; ITU-T I.371, and Brandur Leach's "Rate limiting, cells, and
//! GCRA", the algorithm behind redis-cell): a counter may take `burst`
//! attempts at once, and then one more every `interval`. It keeps one
//! number per counter, the *theoretical arrival time* (TAT): when the
//! counter would be empty again if nothing more came.
//!
//! 1. `tat` = the stored TAT, or now if that is past (an empty counter).
//! 2. This attempt would move it to `tat + interval`.
//! 3. It may start once `burst` intervals fit before that:
//!    `wait = tat + interval − burst × interval − now`.
//! 4. `wait ≤ 0`: admitted at once. `0 < wait ≤ max_wait`: admitted after
//!    a wait (a timer: it holds no core). Otherwise refused, and the
//!    client may come back after `wait`.
//! 5. Only when every counter of an attempt admits it are their TATs
//!    stored: a refused attempt writes nothing, anywhere, so refusals
//!    cannot fill a store. A limit may also be only checked at admission
//!    (`Counts::Later`) and counted afterwards, when what it counts has
//!    happened (a failed sign-in), by admitting it as `counted_now`.
//!
//! A counter's TAT is never more than `burst × interval + max_wait` ahead,
//! so it is forgotten (and its Redis key expires) within that time. With
//! `interval` equal to a whole window and `burst` N, this is "N attempts,
//! then one per window", which keeps the letter of a fixed window: after N
//! attempts within it, the next waits until the window since the first has
//! passed.
//!
//! `forget` empties a counter (a sign-in that succeeded).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use sha2::{Digest, Sha256};

/// How a counter is paced.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rule {
    /// Attempts that may come at once.
    pub burst: u32,
    /// After the burst, one attempt per this.
    pub interval: Duration,
    /// An attempt that would have to wait longer than this is refused.
    pub max_wait: Duration,
}

/// A counter's name, hashed: its length is fixed, and no address or user
/// name can be read from memory dumps or Redis key listings.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Counter([u8; 32]);

impl Counter {
    /// The counter for `name` (e.g. `login pair 192.0.2.1 alice`).
    pub fn named(name: &str) -> Counter {
        Counter(Sha256::digest(name.as_bytes()).into())
    }

    pub fn digest(&self) -> &[u8; 32] {
        &self.0
    }
}

/// One counter an attempt must pass, its rule, and when it counts.
#[derive(Clone, Copy, Debug)]
pub struct Limit {
    pub counter: Counter,
    pub rule: Rule,
    pub counts: Counts,
}

impl Limit {
    /// This limit as one that admits whatever its counter holds and counts
    /// at once: admitting it counts an attempt after the fact
    /// (`Store::count_attempt`).
    pub fn counted_now(self) -> Limit {
        Limit {
            rule: Rule {
                max_wait: Duration::MAX,
                ..self.rule
            },
            counts: Counts::WhenAdmitted,
            ..self
        }
    }
}

/// When an admitted attempt is counted on a limit's counter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Counts {
    /// At once, before its work: attempts sent together cannot buy more.
    WhenAdmitted,
    /// Only checked at admission; `Store::count_attempt` counts it later,
    /// if at all.
    Later,
}

/// What the counters said about an attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Paced {
    /// Counted on every counter; start after this wait (zero: now).
    Admitted { wait: Duration },
    /// Not counted anywhere: the `limit`-th counter (an index into the
    /// limits asked about) is spent; a try after `retry_after` goes through.
    Refused { limit: usize, retry_after: Duration },
}

/// Step 1 to 4 for one counter: the new TAT, or the wait that refuses it.
/// All times in ms since the Unix epoch.
fn next_tat(stored: u64, now: u64, rule: Rule) -> Result<(u64, u64), u64> {
    let interval = millis(rule.interval).max(1);
    // 1. and 2.
    let tat = stored.max(now).saturating_add(interval);
    // 3.
    let allowed_at = tat.saturating_sub(interval.saturating_mul(u64::from(rule.burst)));
    let wait = allowed_at.saturating_sub(now);
    // 4.
    if wait > millis(rule.max_wait) {
        Err(wait)
    } else {
        Ok((tat, wait))
    }
}

/// A wait as `Retry-After` says it (RFC 9110 §10.2.3): whole seconds,
/// rounded up, and at least 1 (a client told 0 would come straight back).
pub fn retry_after_secs(wait: Duration) -> u64 {
    wait.as_millis()
        .div_ceil(1000)
        .try_into()
        .unwrap_or(u64::MAX)
        .max(1)
}

/// A duration in whole ms, as the paces count (the Redis store's too).
pub(super) fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// At most this many counters are remembered in memory (about 64 bytes
/// each: 3 MiB). Past it, those already empty are dropped, then the tenth
/// nearest to empty: memory stays bounded whatever addresses and names a
/// flood uses. (The Redis store keeps its counters as keys that expire.)
const MAX_COUNTERS: usize = 50_000;

/// The counters of a store that keeps them in this process's memory (the
/// file store: one process owns its sessions dir).
#[derive(Default)]
pub struct Paces {
    tats: Mutex<HashMap<Counter, u64>>,
}

impl Paces {
    /// Steps 1 to 5 for every limit of one attempt, under one lock: two
    /// attempts at once cannot both take the last place.
    pub fn admit(&self, limits: &[Limit], now: u64) -> Paced {
        let mut tats = self.lock();
        let mut next = Vec::with_capacity(limits.len());
        let mut longest = 0;
        for (i, limit) in limits.iter().enumerate() {
            let stored = tats.get(&limit.counter).copied().unwrap_or(0);
            match next_tat(stored, now, limit.rule) {
                Ok((tat, wait)) => {
                    next.push(tat);
                    longest = longest.max(wait);
                }
                Err(wait) => {
                    return Paced::Refused {
                        limit: i,
                        retry_after: Duration::from_millis(wait),
                    }
                }
            }
        }
        // 5.
        for (limit, tat) in limits.iter().zip(next) {
            if limit.counts == Counts::WhenAdmitted {
                store_tat(&mut tats, limit.counter, tat, now);
            }
        }
        Paced::Admitted {
            wait: Duration::from_millis(longest),
        }
    }

    /// Empties `counter`.
    pub fn forget(&self, counter: &Counter) {
        self.lock().remove(counter);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Counter, u64>> {
        self.tats.lock().unwrap_or_else(|p| p.into_inner())
    }
}

fn store_tat(tats: &mut HashMap<Counter, u64>, counter: Counter, tat: u64, now: u64) {
    if !tats.contains_key(&counter) && tats.len() >= MAX_COUNTERS {
        make_room(tats, now);
    }
    tats.insert(counter, tat);
}

/// Drops the empty counters, and if that frees nothing, the tenth nearest
/// to empty (a partial sort, so a flood pays this once per tenth).
fn make_room(tats: &mut HashMap<Counter, u64>, now: u64) {
    tats.retain(|_, tat| *tat > now);
    if tats.len() < MAX_COUNTERS {
        return;
    }
    let mut all: Vec<u64> = tats.values().copied().collect();
    let tenth = all.len() / 10;
    let (_, cut, _) = all.select_nth_unstable(tenth);
    let cut = *cut;
    tats.retain(|_, tat| *tat > cut);
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINUTE: u64 = 60_000;

    fn rule(burst: u32, interval_ms: u64, max_wait_ms: u64) -> Rule {
        Rule {
            burst,
            interval: Duration::from_millis(interval_ms),
            max_wait: Duration::from_millis(max_wait_ms),
        }
    }

    fn limit(name: &str, rule: Rule) -> Limit {
        Limit {
            counter: Counter::named(name),
            rule,
            counts: Counts::WhenAdmitted,
        }
    }

    fn refused_after(paced: Paced) -> Option<u64> {
        match paced {
            Paced::Refused { retry_after, .. } => Some(millis(retry_after)),
            Paced::Admitted { .. } => None,
        }
    }

    #[test]
    fn a_whole_window_as_interval_keeps_n_per_window() {
        let five = [limit("pair", rule(5, 15 * MINUTE, 0))];
        let paces = Paces::default();
        let t0 = 1_000_000;
        for _ in 0..5 {
            assert_eq!(
                paces.admit(&five, t0),
                Paced::Admitted {
                    wait: Duration::ZERO
                }
            );
        }
        assert_eq!(refused_after(paces.admit(&five, t0)), Some(15 * MINUTE));
        assert_eq!(
            refused_after(paces.admit(&five, t0 + 14 * MINUTE)),
            Some(MINUTE)
        );
        assert!(refused_after(paces.admit(&five, t0 + 15 * MINUTE)).is_none());
        assert!(refused_after(paces.admit(&five, t0 + 15 * MINUTE)).is_some());
    }

    #[test]
    fn past_the_burst_an_attempt_waits_its_turn_or_is_refused() {
        let paced = [limit("address", rule(2, 1000, 1500))];
        let paces = Paces::default();
        let t0 = 1_000_000;
        let waits: Vec<_> = (0..4).map(|_| paces.admit(&paced, t0)).collect();
        assert_eq!(
            waits[..3],
            [0, 0, 1000].map(|ms| Paced::Admitted {
                wait: Duration::from_millis(ms)
            })
        );
        assert_eq!(refused_after(waits[3]), Some(2000));
    }

    #[test]
    fn memory_is_capped() {
        let paces = Paces::default();
        for i in 0..(MAX_COUNTERS + 1000) {
            paces.admit(&[limit(&i.to_string(), rule(5, MINUTE, 0))], 5_000);
        }
        assert!(paces.lock().len() <= MAX_COUNTERS);
    }

    #[test]
    fn times_at_the_ends_of_u64_do_not_overflow() {
        let paces = Paces::default();
        let huge = limit("x", rule(u32::MAX, u64::MAX, u64::MAX));
        assert!(refused_after(paces.admit(&[huge], u64::MAX)).is_none());
        assert!(refused_after(paces.admit(&[huge], 0)).is_none());
    }
}
