//! The paces (`sessions::pace`) kept in Redis, so that every instance sees
//! every attempt: a guesser spreading tries over instances behind a load
//! balancer gets no more than against one (docs/contract.md, "The Redis
//! store": login throttling counts across all instances). Each counter is
//! a key holding its TAT and expiring when the TAT is reached.

use std::time::Duration;

use super::keys::pace_key;
use super::{scripts, RedisStore};
use crate::sessions::pace::{millis, Counter, Counts, Limit, Paced};
use crate::sessions::stored::StoreError;

impl RedisStore {
    /// `Paces::admit`, in one script: every counter is checked before any
    /// is written, so a refused attempt writes nothing.
    pub async fn pace(&self, limits: &[Limit]) -> Result<Paced, StoreError> {
        let keys: Vec<String> = limits.iter().map(|l| pace_key(&l.counter)).collect();
        let mut script = scripts::PACE.prepare_invoke();
        for (key, limit) in keys.iter().zip(limits) {
            script
                .key(key)
                .arg(millis(limit.rule.interval).max(1))
                .arg(limit.rule.burst)
                .arg(millis(limit.rule.max_wait))
                .arg(u8::from(limit.counts == Counts::WhenAdmitted));
        }
        let first = keys.first().map_or("", String::as_str);
        let (admitted, index, wait): (i64, i64, i64) = self.run("PACE", first, &script).await?;
        let wait = Duration::from_millis(u64::try_from(wait).unwrap_or(0));
        Ok(if admitted == 1 {
            Paced::Admitted { wait }
        } else {
            Paced::Refused {
                limit: usize::try_from(index - 1).unwrap_or(0),
                retry_after: wait,
            }
        })
    }

    /// `Paces::forget`.
    pub async fn forget(&self, counter: &Counter) -> Result<(), StoreError> {
        self.query(redis::cmd("DEL").arg(pace_key(counter))).await
    }
}
