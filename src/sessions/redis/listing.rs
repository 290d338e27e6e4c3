//! What an operator sees: how many sessions are live, and a list of them
//! (`latch sessions`), never with an id.

use std::collections::HashSet;

use super::keys::{digest_of_key, session_key, SESSION_PATTERN};
use super::RedisStore;
use crate::sessions::record::{self, Judged};
use crate::sessions::stored::{Listing, StoreError};
use crate::sessions::Record;

impl RedisStore {
    /// How many sessions the store holds, as `--max-sessions` counts them:
    /// the keys in latch's database (`DBSIZE`, one O(1) command), which are
    /// its sessions plus a bounded few of other kinds (an epoch per user
    /// signed out everywhere, a sign-in index per signed-in user, the pace
    /// counters of the last quarter hour). No index follows every write,
    /// which is what made a logout cost Redis several times a `SET`. Redis
    /// expires sessions itself; one past its deadline that Redis has not
    /// reclaimed yet is counted until it does (within seconds).
    pub async fn count(&self, _now: u64) -> Result<usize, StoreError> {
        self.query(&redis::cmd("DBSIZE")).await
    }

    /// Every live session, for `latch sessions`, labelled by its key's hash
    /// (never by its id). Walks the keys with `SCAN` (never `KEYS`, which
    /// stops the server while it runs); a key `SCAN` returns twice is
    /// listed once. Oldest first, as the store contract lists.
    pub async fn list(&self, now: u64) -> Result<Vec<Listing>, StoreError> {
        let mut listings = Vec::new();
        let mut seen = HashSet::new();
        let mut cursor = 0u64;
        loop {
            let scan = redis::cmd("SCAN")
                .arg(cursor)
                .arg("MATCH")
                .arg(SESSION_PATTERN)
                .arg("COUNT")
                .arg(1000)
                .clone();
            let (next, names): (u64, Vec<Vec<u8>>) = self.query(&scan).await?;
            let batch: Vec<_> = names
                .iter()
                .filter_map(|name| digest_of_key(name))
                .filter(|digest| seen.insert(*digest))
                .collect();
            if !batch.is_empty() {
                let names: Vec<String> = batch.iter().map(session_key).collect();
                let values: Vec<Option<Vec<u8>>> =
                    self.query(redis::cmd("MGET").arg(names)).await?;
                for (digest, value) in batch.iter().zip(values) {
                    let Some(bytes) = value else { continue };
                    let judged = record::judge(digest.label(), &bytes, now, self.idle_timeout);
                    if let Judged::Live(record) = judged {
                        let epoch = match record.user() {
                            Some(user) => self.epoch(user).await?,
                            None => 0,
                        };
                        listings.push(Listing {
                            label: digest.label(),
                            record,
                            epoch,
                        });
                    }
                }
            }
            if next == 0 {
                listings.sort_by_key(|listing| (listing.record.created, listing.label));
                return Ok(listings);
            }
            cursor = next;
        }
    }

    /// Removes nothing and returns 0: Redis drops expired sessions itself
    /// (`PXAT`), and `create` tidies the live index. A void sign-in is
    /// refused at the session's next use, as on every backend (see
    /// `Store::sweep`). Kept so that both stores answer the same calls.
    pub async fn sweep(
        &self,
        _now: u64,
        _sign_out_if_void: impl Fn(&mut Record, u64) -> bool,
    ) -> Result<usize, StoreError> {
        Ok(0)
    }
}
