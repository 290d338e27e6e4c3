//! What an operator sees and clears: how many sessions are live, a list
//! of them (`latch sessions`, never with an id), and the dead ones Redis
//! keeps (`latch clearsessions`).

use std::collections::HashSet;

use super::keys::{digest_of_key, session_key, SESSION_PREFIX};
use super::RedisStore;
use crate::sessions::id::Digest;
use crate::sessions::record::{self, Judged};
use crate::sessions::stored::{Listing, Removed, StoreError};
use crate::sessions::Record;

impl RedisStore {
    /// How many sessions the store holds, as `--max-sessions` counts them:
    /// the keys in latch's database (`DBSIZE`, one O(1) command, so that no
    /// index has to follow every write), which docs/contract.md, "The
    /// Redis store", says are its sessions and a bounded few others.
    pub async fn count(&self, _now: u64) -> Result<usize, StoreError> {
        self.query(&redis::cmd("DBSIZE")).await
    }

    /// Every live session, for `latch sessions`, labelled by its key's hash
    /// (never by its id), oldest first, as the store contract lists.
    pub async fn list(&self, now: u64) -> Result<Vec<Listing>, StoreError> {
        let mut listings = Vec::new();
        self.judge_each(now, async |digest, _, judged| {
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
            Ok(())
        })
        .await?;
        listings.sort_by_key(|listing| (listing.record.created, listing.label));
        Ok(listings)
    }

    /// Removes nothing: Redis drops expired sessions itself (`PXAT`), and
    /// a void sign-in is refused at the session's next use (`Store::sweep`).
    pub async fn sweep(
        &self,
        _now: u64,
        _sign_out_if_void: impl Fn(&mut Record, u64) -> bool,
    ) -> Result<Removed, StoreError> {
        Ok(Removed::default())
    }

    /// `latch clearsessions`: what Redis does not drop by itself (a
    /// session past `--idle-timeout` before its absolute expiry, a value
    /// latch cannot read). Each is deleted only if it still holds the bytes
    /// judged (`DROP`), so a session written meanwhile is never lost.
    pub async fn clear(&self, now: u64) -> Result<Removed, StoreError> {
        let mut removed = Removed::default();
        self.judge_each(now, async |digest, bytes, judged| {
            let count = match judged {
                Judged::Live(_) => return Ok(()),
                Judged::Expired => &mut removed.expired,
                Judged::Unreadable => &mut removed.unreadable,
            };
            if self.drop_if_unchanged(&digest, bytes).await? {
                *count += 1;
            }
            Ok(())
        })
        .await?;
        Ok(removed)
    }

    /// Judges every session, with the bytes judged, batch by batch: `SCAN`
    /// (never `KEYS`, which stops the server while it runs), then one
    /// `MGET` per batch. A key `SCAN` returns twice is judged once, and a
    /// key gone between the two is left out.
    async fn judge_each(
        &self,
        now: u64,
        mut judged: impl AsyncFnMut(Digest, Vec<u8>, Judged) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let (mut cursor, mut seen) = (0, HashSet::new());
        loop {
            let command = redis::cmd("SCAN")
                .arg(cursor)
                .arg("MATCH")
                .arg(format!("{SESSION_PREFIX}*"))
                .arg("COUNT")
                .arg(1000)
                .clone();
            let (next, names): (u64, Vec<Vec<u8>>) = self.query(&command).await?;
            let digests: Vec<Digest> = names
                .iter()
                .filter_map(|name| digest_of_key(name))
                .filter(|digest| seen.insert(*digest))
                .collect();
            if !digests.is_empty() {
                let keys: Vec<String> = digests.iter().map(session_key).collect();
                let values: Vec<Option<Vec<u8>>> = self.query(redis::cmd("MGET").arg(keys)).await?;
                for (digest, value) in digests.into_iter().zip(values) {
                    let Some(bytes) = value else { continue };
                    let verdict =
                        record::judge(digest.label(), &bytes, now, self.settings.idle_timeout);
                    judged(digest, bytes, verdict).await?;
                }
            }
            if next == 0 {
                return Ok(());
            }
            cursor = next;
        }
    }
}
