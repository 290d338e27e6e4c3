//! One Redis server reached, and how latch talks to any server: the
//! connection every call shares (redis-rs's `ConnectionManager`, which
//! reconnects by itself), connections of their own (a confirmation's
//! `WAIT` blocks its connection, so it never runs on the shared one), one
//! question to a replica or a Sentinel (`ask`), and the one time bound
//! every exchange has (`bounded`).

use std::future::Future;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig, MultiplexedConnection};
use redis::{AsyncConnectionConfig, Client, Cmd, FromRedisValue, IntoConnectionInfo};
use redis::{ProtocolVersion, RedisResult, Value};

use super::error;
use crate::sessions::stored::StoreError;

/// No request waits longer than this for one Redis exchange: a hung or
/// unreachable Redis is a 503 after 2 s, never a request that hangs.
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(2);
/// One attempt to open a connection (TCP or unix socket, then the
/// handshake: `AUTH`, `SELECT`).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
/// Idle connections of their own kept for confirmations
/// (`replicas::confirm`); more are opened when more sign-outs wait at once.
const MAX_SPARE: usize = 16;

/// One primary, reached: the connection every call shares, and the
/// connections of their own that confirmations wait on.
pub(super) struct Link {
    /// Where it is (`HOST:PORT`, or a socket's path), for logs and `check`.
    pub addr: String,
    shared: ConnectionManager,
    client: Client,
    /// Connections of their own, idle.
    spare: Mutex<Vec<MultiplexedConnection>>,
}

impl Link {
    /// Connects to the server `info` names, trying `retries` more times
    /// (and as often when the connection is lost later).
    pub(super) async fn open(
        info: impl IntoConnectionInfo,
        retries: usize,
    ) -> Result<Link, StoreError> {
        let client = client_for(info)?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(CONNECT_TIMEOUT))
            .set_response_timeout(Some(COMMAND_TIMEOUT))
            .set_number_of_retries(retries)
            .set_min_delay(Duration::from_millis(50))
            .set_max_delay(Duration::from_millis(500));
        let shared = ConnectionManager::new_with_config(client.clone(), config)
            .await
            .map_err(error::from_redis)?;
        Ok(Link {
            addr: client.get_connection_info().addr().to_string(),
            shared,
            client,
            spare: Mutex::default(),
        })
    }

    /// The connection every call shares.
    pub(super) fn shared(&self) -> ConnectionManager {
        self.shared.clone()
    }

    /// An idle connection of its own, or a new one.
    pub(super) async fn own(&self) -> RedisResult<MultiplexedConnection> {
        if let Some(conn) = lock(&self.spare).pop() {
            return Ok(conn);
        }
        connection_of(&self.client).await
    }

    /// Forgets the idle connections (after trouble: they may be dead).
    pub(super) fn drop_spares(&self) {
        lock(&self.spare).clear();
    }

    /// Keeps a connection that served well for the next confirmation.
    pub(super) fn give_back(&self, conn: MultiplexedConnection) {
        let mut spare = lock(&self.spare);
        if spare.len() < MAX_SPARE {
            spare.push(conn);
        }
    }

    /// Whether the server is a primary (`ROLE`): during a failover a
    /// Sentinel may still name the old one, now a replica.
    pub(super) async fn is_primary(&self) -> Result<(), StoreError> {
        let ask = redis::cmd("ROLE");
        let role: Vec<Value> = bounded(&self.addr, ask.query_async(&mut self.shared())).await?;
        match role.first() {
            Some(Value::BulkString(word)) if word == b"master" => Ok(()),
            Some(Value::BulkString(word)) => Err(StoreError::Unavailable(format!(
                "Redis is unavailable: {} is a {}, not a primary (a failover under way?)",
                self.addr,
                String::from_utf8_lossy(word)
            ))),
            _ => Err(error::unexpected("ROLE did not name a role")),
        }
    }
}

/// Awaits one exchange with `whom` for at most `COMMAND_TIMEOUT`, its
/// failure sorted as `error::from_redis` says.
pub(super) async fn bounded<T>(
    whom: &str,
    exchange: impl Future<Output = RedisResult<T>>,
) -> Result<T, StoreError> {
    match tokio::time::timeout(COMMAND_TIMEOUT, exchange).await {
        Ok(reply) => reply.map_err(error::from_redis),
        Err(_) => Err(error::no_answer(whom)),
    }
}

/// One question to the server `info` names, on a connection of its own
/// opened for it: a replica's settings, a Sentinel's answer.
pub(super) async fn ask<T: FromRedisValue>(
    info: impl IntoConnectionInfo,
    question: &Cmd,
) -> Result<T, StoreError> {
    let client = client_for(info)?;
    let whom = client.get_connection_info().addr().to_string();
    let exchange = async {
        let mut conn = connection_of(&client).await?;
        question.query_async(&mut conn).await
    };
    bounded(&whom, exchange).await
}

/// A client for the server `info` names, speaking RESP2: RESP3 would let
/// the library reconnect on a push message, which no `bounded` would see.
fn client_for(info: impl IntoConnectionInfo) -> Result<Client, StoreError> {
    let unusable = |e: redis::RedisError| error::unusable(&format!("{:?}", e.kind()));
    let info = info.into_connection_info().map_err(unusable)?;
    let redis = info
        .redis_settings()
        .clone()
        .set_protocol(ProtocolVersion::RESP2);
    Client::open(info.set_redis_settings(redis)).map_err(unusable)
}

/// A new connection of its own to `client`'s server, bounded like the
/// shared one.
async fn connection_of(client: &Client) -> RedisResult<MultiplexedConnection> {
    let config = AsyncConnectionConfig::new()
        .set_connection_timeout(Some(CONNECT_TIMEOUT))
        .set_response_timeout(Some(COMMAND_TIMEOUT));
    client
        .get_multiplexed_async_connection_with_config(&config)
        .await
}

pub(super) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
