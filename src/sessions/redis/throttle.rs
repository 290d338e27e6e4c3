//! Login throttling counted in Redis, so that every instance sees every
//! attempt: a guesser spreading tries over instances behind a load
//! balancer gets no more than against one (docs/contract.md, "The Redis
//! store": login throttling counts across all instances).

use std::time::Duration;

use super::keys::throttle_key;
use super::{scripts, RedisStore, StoreError};

/// Whether an attempt may go ahead.
#[derive(Debug, PartialEq, Eq)]
pub enum Admission {
    /// Go ahead; the attempt is counted, and this many more fit the window.
    Admitted { remaining: u32 },
    /// The window's attempts are spent; the client may try again after this.
    Refused { retry_after: Duration },
}

impl RedisStore {
    /// Admits one attempt on the counter named `counter` (e.g. an address
    /// and a user name) if fewer than `limit` were admitted in the current
    /// `window`, and counts it, in one atomic step: attempts are counted
    /// when they are admitted, not when they fail, so however many arrive
    /// at once on however many instances, at most `limit` get through per
    /// window. The window starts at its first attempt. `limit` 0 turns
    /// throttling off: everything is admitted and nothing counted.
    pub async fn throttle_admit(
        &self,
        counter: &str,
        limit: u32,
        window: Duration,
    ) -> Result<Admission, StoreError> {
        if limit == 0 {
            return Ok(Admission::Admitted {
                remaining: u32::MAX,
            });
        }
        let window_ms = u64::try_from(window.as_millis()).unwrap_or(u64::MAX).max(1);
        let key = throttle_key(counter);
        let mut script = scripts::ADMIT.prepare_invoke();
        script.key(&key).arg(limit).arg(window_ms);
        let (admitted, n): (i64, i64) = self.run("ADMIT", &key, &script).await?;
        Ok(if admitted == 1 {
            Admission::Admitted {
                remaining: u32::try_from(n).unwrap_or(0),
            }
        } else {
            // PTTL is -1/-2 only for a key without expiry or none at all,
            // which the script never leaves; wait a whole window then.
            let wait = u64::try_from(n).unwrap_or(window_ms);
            Admission::Refused {
                retry_after: Duration::from_millis(wait),
            }
        })
    }

    /// Gives back one attempt `throttle_admit` counted on `counter` (a
    /// success that should not use up a place), in one atomic step; a
    /// window that ended is left ended.
    pub async fn throttle_release(&self, counter: &str) -> Result<(), StoreError> {
        let key = throttle_key(counter);
        let mut script = scripts::RELEASE.prepare_invoke();
        script.key(&key);
        let _left: i64 = self.run("RELEASE", &key, &script).await?;
        Ok(())
    }

    /// Forgets the counter's attempts (e.g. after a successful sign-in).
    pub async fn throttle_reset(&self, counter: &str) -> Result<(), StoreError> {
        self.query(redis::cmd("DEL").arg(throttle_key(counter)))
            .await
    }
}
