//! Reading one session key and judging what it holds, as the file store
//! judges a session file: live, expired, or not a session at all.

use crate::sessions::Record;

use super::keys::{SessionKey, LIVE_INDEX};
use super::{scripts, RedisStore, StoreError};

/// The largest session value latch reads, as for session files.
const MAX_VALUE_BYTES: usize = 64 * 1024;

/// What a session key holds now.
pub(super) enum Stored {
    /// No key, or a value that is not a readable session (logged).
    Nothing,
    /// A session past its expiry (or idle timeout), with the bytes read.
    Expired(Vec<u8>),
    /// A live session, with the bytes read (for the compare-and-set).
    Live(Vec<u8>, Record),
}

impl RedisStore {
    /// Reads and judges one session key.
    pub(super) async fn read(&self, key: &SessionKey, now: u64) -> Result<Stored, StoreError> {
        let value = self.query(redis::cmd("GET").arg(key.name())).await?;
        Ok(self.judge(key, value, now))
    }

    /// A compare-and-set's starting point: on its first try, the bytes
    /// the request loaded, if it has them (judged as if just read: no
    /// round trip); on any later try, or without them, a fresh read.
    pub(super) async fn read_or_reuse(
        &self,
        key: &SessionKey,
        loaded: Option<&[u8]>,
        tries_lost: usize,
        now: u64,
    ) -> Result<Stored, StoreError> {
        match loaded {
            Some(bytes) if tries_lost == 0 => Ok(self.judge(key, Some(bytes.to_vec()), now)),
            _ => self.read(key, now).await,
        }
    }

    /// `load_with_epoch`'s ending: the live record with the bytes read, or `None`
    /// after deleting an expired one (only if it still holds the bytes
    /// read, so a session that another request just replaced is not
    /// touched).
    pub(super) async fn live_or_drop(
        &self,
        key: &SessionKey,
        value: Option<Vec<u8>>,
        now: u64,
    ) -> Result<Option<(Record, Vec<u8>)>, StoreError> {
        match self.judge(key, value, now) {
            Stored::Live(read, record) => Ok(Some((record, read))),
            Stored::Expired(read) => {
                self.drop_if_unchanged(key, read).await?;
                Ok(None)
            }
            Stored::Nothing => Ok(None),
        }
    }

    pub(super) fn judge(&self, key: &SessionKey, value: Option<Vec<u8>>, now: u64) -> Stored {
        let Some(bytes) = value else {
            return Stored::Nothing;
        };
        if bytes.len() > MAX_VALUE_BYTES {
            log_unreadable(key, &format!("{} bytes, more than 64 KiB", bytes.len()));
            return Stored::Nothing;
        }
        match serde_json::from_slice::<Record>(&bytes) {
            Ok(record) if record.v != Record::VERSION => {
                log_unreadable(key, &format!("unknown format version {}", record.v));
                Stored::Nothing
            }
            Ok(record) if record.is_expired(now, self.idle_timeout) => Stored::Expired(bytes),
            Ok(record) => Stored::Live(bytes, record),
            Err(e) => {
                log_unreadable(key, &e.to_string());
                Stored::Nothing
            }
        }
    }

    /// Deletes the session if it still holds `read`; true if it did.
    pub(super) async fn drop_if_unchanged(
        &self,
        key: &SessionKey,
        read: Vec<u8>,
    ) -> Result<bool, StoreError> {
        let mut script = scripts::DROP.prepare_invoke();
        script
            .key(key.name())
            .key(LIVE_INDEX)
            .arg(read)
            .arg(key.member());
        Ok(self.run::<i64>("DROP", &key.name(), &script).await? == 1)
    }
}

/// A damaged value is no session, and an operator should hear about it.
/// Only the key's label is logged: the key is not the cookie.
fn log_unreadable(key: &SessionKey, why: &str) {
    log_event!(
        "session key latch:s:{}… unreadable, treated as no session: {why}",
        key.label()
    );
}
