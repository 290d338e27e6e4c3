//! What an operator sees: how many sessions are live, and a list of them
//! (`latch sessions`), never with an id.

use std::collections::HashSet;

use super::keys::{SessionKey, LIVE_INDEX, SESSION_PATTERN};
use super::stored::Stored;
use super::{Listing, RedisStore, StoreError};

impl RedisStore {
    /// How many sessions are live (for `--max-sessions`): one `ZCOUNT` on
    /// the index of session deadlines that every write keeps, in the same
    /// script as the write, not a `SCAN`. Entries past their deadline are
    /// not counted (and `create` removes them, a hundred at a time); a
    /// session key deleted behind latch's back (`DEL` by hand) is counted
    /// until its deadline.
    pub async fn live_sessions(&self, now: u64) -> Result<u64, StoreError> {
        let after_now = format!("({}", now.saturating_mul(1000));
        self.query(
            redis::cmd("ZCOUNT")
                .arg(LIVE_INDEX)
                .arg(after_now)
                .arg("+inf"),
        )
        .await
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
            let batch: Vec<SessionKey> = names
                .iter()
                .filter_map(|name| SessionKey::from_key_name(name))
                .filter(|key| seen.insert(key.clone()))
                .collect();
            if !batch.is_empty() {
                let names: Vec<String> = batch.iter().map(SessionKey::name).collect();
                let values: Vec<Option<Vec<u8>>> =
                    self.query(redis::cmd("MGET").arg(names)).await?;
                for (key, value) in batch.iter().zip(values) {
                    if let Stored::Live(_, record) = self.judge(key, value, now) {
                        let epoch = match record.user() {
                            Some(user) => self.epoch(user).await?,
                            None => 0,
                        };
                        listings.push(Listing {
                            label: key.label(),
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
    /// (`PXAT`), and `create` tidies the live index. Kept so that both
    /// stores answer the same calls.
    pub async fn sweep(&self, _now: u64) -> Result<usize, StoreError> {
        Ok(0)
    }
}
