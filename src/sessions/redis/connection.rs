//! The one connection to Redis every call goes through: opened from the
//! URL, reconnected by itself, each exchange bounded in time, and the
//! server's durability re-checked after every reconnect and every
//! `RECHECK_EVERY` while serving.
//!
//! How a reconnect is noticed: redis-rs's `ConnectionManager` replaces its
//! connection only when a command on it has failed (latch speaks RESP2, so
//! no disconnect push can trigger it behind our back), and every command
//! goes through `bounded` here. `bounded` marks the store unchecked in the
//! same poll in which it sees the failure, before the new connection can
//! exist; the next call then checks the settings of whatever server it now
//! reaches before it reads or writes anything. So a Redis restarted with
//! `appendonly no`, or a failover to a differently configured server, is
//! caught at the first request after it.
//!
//! The settings can also change under a running server, with no reconnect
//! at all (`CONFIG SET appendfsync no`): so a check stands for
//! `RECHECK_EVERY` only, and the first call after that checks again. In
//! strict mode, once a check finds the server not durable, every call is
//! refused (`NotDurable`: 503) and checks again first, so service resumes
//! at the first call after the setting is fixed. Each change of verdict is
//! logged once, naming the setting; the requests refused in between are
//! not (see `note_verdict`).

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{Client, Cmd, FromRedisValue, ProtocolVersion};
use redis::{RedisError, RedisResult, ScriptInvocation, Value};

use super::durability::{shortfalls, unverifiable, Durability, REQUIRED};
use super::{error, RedisStore};
use crate::log_event;
use crate::sessions::stored::StoreError;
use crate::trace;

/// No request waits longer than this for one Redis exchange: a hung or
/// unreachable Redis is a 503 after 2 s, never a request that hangs.
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(2);
/// One attempt to open a connection (TCP or unix socket, then the
/// handshake: `AUTH`, `SELECT`).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
/// How long `connect` waits for the first connection, retries included.
const FIRST_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long one durability check stands (docs/contract.md, "The Redis
/// store"): a setting changed at run time is caught within this, plus one
/// request. One `CONFIG GET` per 10 s is nothing next to the requests.
pub const RECHECK_EVERY: Duration = Duration::from_secs(10);

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
            Ok(Err(e)) => return Err(error::from_redis(e)),
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
            max_sessions: None,
            checked: Default::default(),
            refused: Default::default(),
            full: Default::default(),
        };
        store.check_durability().await?;
        store.mark_checked(Some(Instant::now()));
        Ok(store)
    }

    /// Sends one command and reads its reply (a `--trace` row).
    pub(super) async fn query<T: FromRedisValue>(&self, cmd: &Cmd) -> Result<T, StoreError> {
        self.verified().await?;
        let mut conn = self.conn.clone();
        let reply = self.bounded(cmd.query_async::<Value>(&mut conn)).await;
        trace::row("redis", Exchange(Sent::Command(cmd), &reply));
        parse(reply?)
    }

    /// Runs the script `name` (one of `scripts`) on `key`: `EVALSHA`, and
    /// `EVAL` when the server lost it (a `--trace` row).
    pub(super) async fn run<T: FromRedisValue>(
        &self,
        name: &'static str,
        key: &str,
        script: &ScriptInvocation<'_>,
    ) -> Result<T, StoreError> {
        self.verified().await?;
        let mut conn = self.conn.clone();
        let reply = self.bounded(script.invoke_async::<Value>(&mut conn)).await;
        trace::row("redis", Exchange(Sent::Script(name, key), &reply));
        self.note_room(name, &reply);
        parse(reply?)
    }

    /// Logs a change in Redis's room for new data, once each way: the
    /// first write refused for lack of memory (`-OOM`) names `maxmemory`
    /// and what it stops; the first session write that runs after it says
    /// service is back. The requests refused in between add no line (a
    /// flood of sign-ins would otherwise write one each).
    fn note_room(&self, name: &str, reply: &Result<Value, StoreError>) {
        let full = match reply {
            Err(StoreError::Full(_)) => true,
            Ok(_) if super::scripts::SESSION_WRITES.contains(&name) => false,
            _ => return,
        };
        if self.full.swap(full, Ordering::SeqCst) == full {
            return;
        }
        match full {
            true => log_event!(
                "redis: out of memory (maxmemory reached, nothing evicted under noeviction): \
                 new sign-ins and new sessions get 503 until there is room (raise maxmemory, \
                 or find what fills it: redis-cli --bigkeys); signing out still works"
            ),
            false => log_event!("redis: room for new data again: sign-ins and new sessions resume"),
        }
    }

    /// Awaits one exchange for at most `COMMAND_TIMEOUT`. Connection
    /// trouble marks the store unchecked (see the module comment).
    async fn bounded<T>(
        &self,
        exchange: impl Future<Output = RedisResult<T>>,
    ) -> Result<T, StoreError> {
        let error = match tokio::time::timeout(COMMAND_TIMEOUT, exchange).await {
            Ok(Ok(reply)) => return Ok(reply),
            Ok(Err(e)) => error::from_redis(e),
            Err(_) => {
                let seconds = COMMAND_TIMEOUT.as_secs();
                StoreError::Unavailable(format!(
                    "Redis is unavailable: no answer within {seconds} s"
                ))
            }
        };
        if matches!(error, StoreError::Unavailable(_)) {
            self.mark_checked(None);
        }
        Err(error)
    }

    /// Re-checks durability first if connection trouble was seen since the
    /// last check, or the last check is older than `RECHECK_EVERY`, or it
    /// found the server not durable. Strict mode only: relaxed accepts
    /// whatever it reaches.
    async fn verified(&self) -> Result<(), StoreError> {
        if self.durability == Durability::Relaxed {
            return Ok(());
        }
        let checked = *self.checked.lock().unwrap_or_else(|e| e.into_inner());
        if checked.is_some_and(|at| at.elapsed() < RECHECK_EVERY) {
            return Ok(());
        }
        let verdict = self.check_durability().await;
        self.note_verdict(&verdict);
        verdict?;
        self.mark_checked(Some(Instant::now()));
        Ok(())
    }

    /// When the settings were last found durable (`None`: check at the
    /// next call).
    fn mark_checked(&self, at: Option<Instant>) {
        *self.checked.lock().unwrap_or_else(|e| e.into_inner()) = at;
    }

    /// Logs a change of verdict, once: the first refusal names the
    /// setting, and the first durable check after refusals says service
    /// resumes. The requests refused in between log nothing more
    /// (`error::Error` skips its store-error line for them:
    /// `StoreError::is_logged_by_the_store`).
    fn note_verdict(&self, verdict: &Result<(), StoreError>) {
        let refused = match verdict {
            Err(StoreError::NotDurable(_)) => true,
            Ok(()) => false,
            Err(_) => return,
        };
        if self.refused.swap(refused, Ordering::SeqCst) == refused {
            return;
        }
        match verdict {
            Err(why) => log_event!("redis: requests get 503 until it is fixed: {why}"),
            Ok(()) => log_event!(
                "redis: durable again (appendonly yes, appendfsync always, \
                 no-appendfsync-on-rewrite no, maxmemory-policy noeviction): serving"
            ),
        }
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
            Err(StoreError::Failed(why)) => vec![unverifiable(&why)],
            Err(e) => return Err(e),
        };
        if found.is_empty() {
            return Ok(());
        }
        let message = found.join("; ");
        match self.durability {
            Durability::Strict => Err(error::not_durable(&format!(
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

/// A client for one of the three URL forms latch takes (`url::parse`),
/// speaking RESP2.
fn open_client(url: &str) -> Result<Client, StoreError> {
    let info = super::url::parse(url)?;
    // RESP3 would let the library reconnect on a push message, which
    // `bounded` would not see; RESP2 reconnects only after a failed command.
    let redis = info
        .redis_settings()
        .clone()
        .set_protocol(ProtocolVersion::RESP2);
    Client::open(info.set_redis_settings(redis))
        .map_err(|e| error::unusable(&format!("{:?}", e.kind())))
}

/// A reply read as the caller's type; a reply of another shape is
/// `BadData`, as the library's own conversion would sort it.
fn parse<T: FromRedisValue>(reply: Value) -> Result<T, StoreError> {
    T::from_redis_value(reply).map_err(|e| error::from_redis(RedisError::from(e)))
}

/// What one exchange sent: a command, or a script by name and its key.
enum Sent<'a> {
    Command(&'a Cmd),
    Script(&'static str, &'a str),
}

/// One exchange as `--trace` shows it, formatted only when the request is
/// traced: `GET latch:epoch:616c6963 → 2`, `EVALSHA SWAP latch:s:<the 64
/// hex digits of the id's digest> → 1`. A key is no secret (a digest cannot
/// be turned back into an id), so it is shown whole, as `redis-cli` would
/// find it; a value is shown by its size: a session's JSON holds its CSRF
/// token.
struct Exchange<'a>(Sent<'a>, &'a Result<Value, StoreError>);

impl fmt::Display for Exchange<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Sent::Script(name, key) => write!(f, "EVALSHA {name} {key}")?,
            Sent::Command(cmd) => {
                let mut args = cmd.args_iter().map(|arg| match arg {
                    redis::Arg::Simple(bytes) => String::from_utf8_lossy(bytes).into_owned(),
                    _ => "cursor".to_owned(),
                });
                let verb = args.next().unwrap_or_default();
                write!(f, "{}", verb.to_ascii_uppercase())?;
                if let Some(first) = args.next() {
                    write!(f, " {first}")?;
                }
                let more = args.count();
                if more > 0 {
                    write!(f, " (+{more} args)")?;
                }
            }
        }
        match self.1 {
            Ok(reply) => write!(f, " → {}", Shown(reply)),
            Err(e) => write!(f, " → error: {e}"),
        }
    }
}

/// A reply, never a stored value's bytes: numbers and short numeric
/// strings as they are, other strings by their size.
struct Shown<'a>(&'a Value);

impl fmt::Display for Shown<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Value::Nil => f.write_str("nil"),
            Value::Int(n) => write!(f, "{n}"),
            Value::Okay => f.write_str("OK"),
            Value::BulkString(bytes)
                if bytes.len() <= 20 && bytes.iter().all(u8::is_ascii_digit) =>
            {
                f.write_str(std::str::from_utf8(bytes).unwrap_or_default())
            }
            Value::BulkString(bytes) => write!(f, "{} bytes", bytes.len()),
            Value::Array(items) => {
                f.write_str("[")?;
                for (n, item) in items.iter().enumerate() {
                    if n > 0 {
                        f.write_str(", ")?;
                    }
                    match item {
                        Value::Array(inner) => write!(f, "{} items", inner.len())?,
                        item => write!(f, "{}", Shown(item))?,
                    }
                }
                f.write_str("]")
            }
            _ => f.write_str("a reply"),
        }
    }
}
