//! A sign-out confirmed by replicas before it is answered
//! (docs/contract.md, "Replicas and Sentinel", says which wait and what a
//! shortfall answers; the README's "Why a sign-out's 303 waits for a
//! replica" has the measurement).
//!
//! `WAIT N T` returns how many replicas hold every write made on its
//! connection before it (`WAITAOF 0 N T`, Redis 7.2 and later: on disk
//! too), and the replication stream is one ordered log. So `confirm` makes
//! one small write of its own (`FENCE`) and waits for that: it covers the
//! writes of this request, and also a write by another request that this
//! one only *saw* (a logout that finds its session already gone).
//!
//! A `WAIT` blocks its connection until it returns, and the shared
//! connection carries every request's commands (64 pipelined logouts took
//! 1.5 ms without and 136 ms with a `WAIT` each): so each confirmation
//! runs on a connection of its own (`link::Link::own`), kept for the next
//! one.

use std::sync::atomic::Ordering;
use std::time::Duration;

use redis::Value;

use super::connection::Sent;
use super::durability::{config_get, listed_replicas, replica_shortfalls, Replica};
use super::keys::FENCE;
use super::link::ask;
use super::{error, scripts, RedisStore};
use crate::sessions::stored::{StoreError, Survey};

/// How long a confirmation waits for the replicas (within
/// `COMMAND_TIMEOUT`, so the answer is a count, not a timeout).
const WAIT_FOR: Duration = Duration::from_millis(1000);

impl RedisStore {
    /// Returns once `--redis-replica-acks` replicas hold every write this
    /// store made or read before the call; at once when that is 0.
    pub async fn confirm(&self) -> Result<(), StoreError> {
        let needed = self.settings.replica_acks;
        if needed == 0 {
            return Ok(());
        }
        self.verified().await?;
        let link = self.link();
        let mut conn = self.bounded(link.own()).await?;
        let mut fence = scripts::BUMP.prepare_invoke();
        fence.key(FENCE);
        self.send_on::<u64>(&mut conn, Sent::Script("BUMP", FENCE, &fence))
            .await?;
        let mut wait = match self.waitaof.load(Ordering::SeqCst) {
            // numlocal 0: the primary's own fsync came before its reply
            // (appendfsync always), and 1 would fail on a primary without
            // appendonly, which relaxed mode allows.
            true => redis::cmd("WAITAOF").arg(0).clone(),
            false => redis::cmd("WAIT"),
        };
        wait.arg(needed).arg(WAIT_FOR.as_millis() as u64);
        let confirmed = match self.send_on(&mut conn, Sent::Command(&wait)).await? {
            // WAIT: replicas; WAITAOF: [local, replicas].
            Value::Int(n) => n,
            Value::Array(counts) => match counts.last() {
                Some(Value::Int(n)) => *n,
                _ => return Err(error::unexpected("WAITAOF did not answer two counts")),
            },
            _ => return Err(error::unexpected("WAIT did not answer a count")),
        };
        link.give_back(conn);
        if confirmed < i64::from(needed) {
            return Err(StoreError::Unavailable(format!(
                "Redis replicas did not confirm a sign-out: {confirmed} of the {needed} \
                 --redis-replica-acks within {} ms; answered 503, not retried",
                WAIT_FOR.as_millis()
            )));
        }
        Ok(())
    }

    /// Learns whether the primary has `WAITAOF` (`COMMAND INFO` answers
    /// nil for a command it does not know), when confirmations are asked
    /// for: at connect, and after trouble (a failover may reach another
    /// version).
    pub(super) async fn learn_wait(&self) -> Result<(), StoreError> {
        if self.settings.replica_acks == 0 {
            return Ok(());
        }
        let mut ask = redis::cmd("COMMAND");
        ask.arg("INFO").arg("WAITAOF");
        let known: Vec<Value> = self.query_unverified(&ask).await?;
        let has = matches!(known.first(), Some(Value::Array(_)));
        self.waitaof.store(has, Ordering::SeqCst);
        Ok(())
    }

    /// What `survey` says of the replicas, when sign-outs wait for some:
    /// the ones the primary lists (`INFO replication`), and each one's
    /// settings, read on a connection of its own with the URL's
    /// credentials (`durability::replica_shortfalls` judges them).
    pub(super) async fn survey_replicas(&self, survey: &mut Survey) -> Result<(), StoreError> {
        if self.settings.replica_acks == 0 {
            return Ok(());
        }
        let info: String = self
            .query_unverified(redis::cmd("INFO").arg("replication"))
            .await?;
        let listed = listed_replicas(&info);
        let mut replicas = Vec::new();
        for replica in &listed {
            let info = self.target.server_at(&replica.host, replica.port);
            replicas.push(Replica {
                addr: info.addr().to_string(),
                settings: ask(info, &config_get()).await.map_err(|e| e.to_string()),
            });
        }
        let online = listed.iter().filter(|replica| replica.online).count();
        let (fine, found) = replica_shortfalls(self.settings.replica_acks, online, &replicas);
        if found.is_empty() {
            survey.fine.push(fine);
        }
        survey.shortfalls.extend(found);
        Ok(())
    }
}
