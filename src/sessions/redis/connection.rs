//! The one connection to Redis every call goes through: opened from the
//! URL, reconnected by itself, each exchange bounded in time, and the
//! server's durability re-checked after every reconnect.
//!
//! How a reconnect is noticed: redis-rs's `ConnectionManager` replaces its
//! connection only when a command on it has failed (latch speaks RESP2, so
//! no disconnect push can trigger it behind our back), and every command
//! goes through `bounded` here. `bounded` marks the store unverified in the
//! same poll in which it sees the failure, before the new connection can
//! exist; the next call then checks the settings of whatever server it now
//! reaches before it reads or writes anything. So a Redis restarted with
//! `appendonly no`, or a failover to a differently configured server, is
//! caught at the first request after it.

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{Client, Cmd, FromRedisValue, IntoConnectionInfo, ProtocolVersion};
use redis::{RedisResult, ScriptInvocation};

use super::durability::{shortfalls, unverifiable, Durability, REQUIRED};
use super::{RedisStore, StoreError};

/// No request waits longer than this for one Redis exchange: a hung or
/// unreachable Redis is a 503 after 2 s, never a request that hangs.
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(2);
/// One attempt to open a connection (TCP or unix socket, then the
/// handshake: `AUTH`, `SELECT`).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
/// How long `connect` waits for the first connection, retries included.
const FIRST_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

impl RedisStore {
    /// Connects to `url` (`redis://[user:password@]host:port/db`,
    /// `rediss://…` with the `redis-tls` feature, or
    /// `redis+unix:///path/to/socket?db=N`) and checks that the server keeps
    /// writes durably (see `durability`). `idle_timeout` (seconds, 0: off)
    /// is the sessions' idle timeout, as for the file store.
    ///
    /// Errors: `BadUrl` (the URL's text is never repeated: it may hold a
    /// password), `Unavailable` (no answer within 5 s), `NotDurable` in
    /// strict mode (the message names the setting).
    pub async fn connect(
        url: &str,
        durability: Durability,
        idle_timeout: u64,
    ) -> Result<RedisStore, StoreError> {
        let client = open_client(url)?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(CONNECT_TIMEOUT))
            .set_response_timeout(Some(COMMAND_TIMEOUT))
            // Retry a lost connection a few times, quickly: a request waits
            // at most COMMAND_TIMEOUT anyway, and once these retries are
            // spent the next command starts new ones.
            .set_number_of_retries(3)
            .set_min_delay(Duration::from_millis(50))
            .set_max_delay(Duration::from_millis(500));
        let first = ConnectionManager::new_with_config(client, config);
        let conn = match tokio::time::timeout(FIRST_CONNECT_TIMEOUT, first).await {
            Ok(Ok(conn)) => conn,
            Ok(Err(e)) => return Err(StoreError::from_redis(e)),
            Err(_) => {
                return Err(StoreError::Unavailable(format!(
                    "no connection within {} s",
                    FIRST_CONNECT_TIMEOUT.as_secs()
                )))
            }
        };
        let store = RedisStore {
            conn,
            durability,
            idle_timeout,
            unverified: AtomicBool::new(false),
        };
        store.check_durability().await?;
        Ok(store)
    }

    /// Sends one command and reads its reply.
    pub(super) async fn query<T: FromRedisValue>(&self, cmd: &Cmd) -> Result<T, StoreError> {
        self.verified().await?;
        let mut conn = self.conn.clone();
        self.bounded(cmd.query_async(&mut conn)).await
    }

    /// Runs a script (`EVALSHA`, and `EVAL` when the server lost it).
    pub(super) async fn run<T: FromRedisValue>(
        &self,
        script: &ScriptInvocation<'_>,
    ) -> Result<T, StoreError> {
        self.verified().await?;
        let mut conn = self.conn.clone();
        self.bounded(script.invoke_async(&mut conn)).await
    }

    /// Awaits one exchange for at most `COMMAND_TIMEOUT`. Connection
    /// trouble marks the store unverified (see the module comment).
    async fn bounded<T>(
        &self,
        exchange: impl Future<Output = RedisResult<T>>,
    ) -> Result<T, StoreError> {
        let error = match tokio::time::timeout(COMMAND_TIMEOUT, exchange).await {
            Ok(Ok(reply)) => return Ok(reply),
            Ok(Err(e)) => StoreError::from_redis(e),
            Err(_) => {
                StoreError::Unavailable(format!("no answer within {} s", COMMAND_TIMEOUT.as_secs()))
            }
        };
        if matches!(error, StoreError::Unavailable(_)) {
            self.unverified.store(true, Ordering::SeqCst);
        }
        Err(error)
    }

    /// Re-checks durability first if connection trouble was seen since the
    /// last check. Strict mode only: relaxed accepts whatever it reaches.
    async fn verified(&self) -> Result<(), StoreError> {
        if self.durability == Durability::Relaxed || !self.unverified.load(Ordering::SeqCst) {
            return Ok(());
        }
        self.check_durability().await?;
        self.unverified.store(false, Ordering::SeqCst);
        Ok(())
    }

    /// Reads the settings (one `CONFIG GET` naming all four, Redis 7.0
    /// and later) and judges them.
    async fn check_durability(&self) -> Result<(), StoreError> {
        let mut config_get = redis::cmd("CONFIG");
        config_get.arg("GET");
        for (name, _, _) in REQUIRED {
            config_get.arg(name);
        }
        let mut conn = self.conn.clone();
        let found = match self.bounded(config_get.query_async(&mut conn)).await {
            Ok(pairs) => shortfalls(&settings(pairs)),
            // A refused command (unknown, renamed, NOPERM) is not an outage.
            Err(StoreError::BadData(why)) => vec![unverifiable(&why)],
            Err(e) => return Err(e),
        };
        if found.is_empty() {
            return Ok(());
        }
        let message = found.join("; ");
        match self.durability {
            Durability::Strict => Err(StoreError::NotDurable(format!(
                "{message} (to run anyway: --redis-durability relaxed)"
            ))),
            Durability::Relaxed => {
                log_event!("redis: {message}; accepted by --redis-durability relaxed");
                Ok(())
            }
        }
    }
}

/// `CONFIG GET` answers `name, value, name, value…`, leaving out names
/// the server does not know.
fn settings(pairs: Vec<String>) -> HashMap<String, String> {
    pairs
        .chunks_exact(2)
        .map(|pair| (pair[0].clone(), pair[1].clone()))
        .collect()
}

/// A client for one of the three URL forms latch takes, speaking RESP2.
fn open_client(url: &str) -> Result<Client, StoreError> {
    let scheme = url.split_once("://").map(|(scheme, _)| scheme);
    if !matches!(scheme, Some("redis" | "rediss" | "redis+unix")) {
        return Err(StoreError::BadUrl(
            "expected redis://HOST:PORT/DB, rediss://HOST:PORT/DB or redis+unix:///PATH?db=N"
                .into(),
        ));
    }
    if scheme == Some("rediss") && !cfg!(feature = "redis-tls") {
        return Err(StoreError::BadUrl(
            "rediss:// (TLS) needs latch built with `--features redis-tls`".into(),
        ));
    }
    // The library's own messages are not repeated: some quote the URL.
    let info = url.into_connection_info().map_err(|_| {
        StoreError::BadUrl(
            "the URL does not parse (user, password, host, port, database number?)".into(),
        )
    })?;
    // RESP3 would let the library reconnect on a push message, which
    // `bounded` would not see; RESP2 reconnects only after a failed command.
    let redis = info
        .redis_settings()
        .clone()
        .set_protocol(ProtocolVersion::RESP2);
    Client::open(info.set_redis_settings(redis))
        .map_err(|e| StoreError::BadUrl(format!("{:?}", e.kind())))
}
