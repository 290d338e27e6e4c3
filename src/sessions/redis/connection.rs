//! How every call reaches the Redis primary: through the `link` opened
//! from the URL (directly, or at the address Sentinel names), each
//! exchange bounded in time, and the server re-checked after every
//! reconnect and every `RECHECK_EVERY` while serving (docs/contract.md,
//! "The Redis store").
//!
//! How a reconnect is noticed: redis-rs's `ConnectionManager` replaces its
//! connection only when a command on it has failed (latch speaks RESP2, so
//! no disconnect push can trigger it behind our back), and every command
//! goes through `bounded` here. `bounded` marks the store unchecked in the
//! same poll in which it sees the failure, before the new connection can
//! exist; the next call then checks whatever server it now reaches before
//! it reads or writes anything. So a Redis restarted with `appendonly no`
//! is caught at the first request after it.
//!
//! With `redis+sentinel://`, that check first asks Sentinel again where the
//! primary is, connects there, and makes sure it is one (`ROLE`): the
//! library's manager would only ever reconnect to the address it started
//! with (redis-rs #1438), which after a failover is a dead server or a
//! replica.
//!
//! The settings can also change with no reconnect at all (`CONFIG SET
//! appendfsync no`, a primary demoted while latch stays connected): so a
//! check stands for `RECHECK_EVERY` only, and a check that refused the
//! server is made again at the next call. One check runs at a time; the
//! calls that arrive meanwhile wait for its verdict. Each change of
//! verdict is logged once (`note_verdict`).

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant};

use redis::aio::ConnectionLike;
use redis::{Cmd, FromRedisValue, RedisError, RedisResult, ScriptInvocation, Value};

use super::durability::{config_get, durable, shortfalls, unverifiable};
use super::link::{self, lock, Link, COMMAND_TIMEOUT};
use super::url::Target;
use super::{error, sentinel, RedisStore};
use crate::log_event;
use crate::sessions::stored::{Durability, Settings, StoreError, Survey};
use crate::trace;

/// How long `connect` waits for the first connection, retries included.
const FIRST_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long one check stands (docs/contract.md, "The Redis store"): a
/// setting changed at run time is caught within this, plus one request.
/// One `CONFIG GET` per 10 s is nothing next to the requests.
pub const RECHECK_EVERY: Duration = Duration::from_secs(10);

impl RedisStore {
    /// Connects to the primary `url` names (`url::parse`), and checks
    /// everything `survey` looks at: in strict mode a shortfall is
    /// `NotDurable`, naming each.
    pub async fn connect(url: &str, settings: Settings) -> Result<RedisStore, StoreError> {
        let store = RedisStore::open(url, settings).await?;
        let survey = store.survey().await?;
        store.judged(survey.shortfalls)?;
        store.mark_checked(Some(Instant::now()));
        Ok(store)
    }

    /// Connects to the primary `url` names, and checks nothing: for
    /// `connect`, and for `latch check`, which reports what `survey` finds.
    pub async fn open(url: &str, settings: Settings) -> Result<RedisStore, StoreError> {
        let target = super::url::parse(url)?;
        let link = match tokio::time::timeout(FIRST_CONNECT_TIMEOUT, reach(&target)).await {
            Ok(link) => link?,
            Err(_) => {
                return Err(StoreError::Unavailable(format!(
                    "no connection within {} s",
                    FIRST_CONNECT_TIMEOUT.as_secs()
                )))
            }
        };
        Ok(RedisStore {
            target,
            link: RwLock::new(Arc::new(link)),
            settings,
            checked: Default::default(),
            checking: Default::default(),
            waitaof: Default::default(),
            refused: Default::default(),
            full: Default::default(),
        })
    }

    /// The primary as last reached.
    pub(super) fn link(&self) -> Arc<Link> {
        Arc::clone(&self.link.read().unwrap_or_else(PoisonError::into_inner))
    }

    /// Sends one command on the shared connection and reads its reply.
    pub(super) async fn query<T: FromRedisValue>(&self, cmd: &Cmd) -> Result<T, StoreError> {
        self.verified().await?;
        self.query_unverified(cmd).await
    }

    /// `query` without a check first: for the questions of the check and
    /// of `survey`, which come before any verdict.
    pub(super) async fn query_unverified<T: FromRedisValue>(
        &self,
        cmd: &Cmd,
    ) -> Result<T, StoreError> {
        self.send_on(&mut self.link().shared(), Sent::Command(cmd))
            .await
    }

    /// Runs the script `name` (one of `scripts`) on `key`, on the shared
    /// connection, and reads its reply.
    pub(super) async fn run<T: FromRedisValue>(
        &self,
        name: &'static str,
        key: &str,
        script: &ScriptInvocation<'_>,
    ) -> Result<T, StoreError> {
        self.verified().await?;
        self.send_on(&mut self.link().shared(), Sent::Script(name, key, script))
            .await
    }

    /// Sends a command, or runs a script (`EVALSHA`, and `EVAL` when the
    /// server lost it), on `conn`, checked already, and reads its reply (a
    /// `--trace` row).
    pub(super) async fn send_on<T: FromRedisValue>(
        &self,
        conn: &mut impl ConnectionLike,
        sent: Sent<'_>,
    ) -> Result<T, StoreError> {
        let reply = match sent {
            Sent::Command(cmd) => self.bounded(cmd.query_async::<Value>(conn)).await,
            Sent::Script(.., script) => self.bounded(script.invoke_async::<Value>(conn)).await,
        };
        trace::row("redis", Exchange(&sent, &reply));
        if let Sent::Script(name, ..) = sent {
            self.note_room(name, &reply);
        }
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

    /// Awaits one exchange with the primary (`link::bounded`). Connection
    /// trouble marks the store unchecked (see the module comment).
    pub(super) async fn bounded<T>(
        &self,
        exchange: impl Future<Output = RedisResult<T>>,
    ) -> Result<T, StoreError> {
        let reply = link::bounded("Redis", exchange).await;
        if let Err(StoreError::Unavailable(_)) = reply {
            self.mark_checked(None);
        }
        reply
    }

    /// Checks first, if a check is due (see the module comment): after
    /// connection trouble, when the last check is older than
    /// `RECHECK_EVERY` (strict mode, or Sentinel's primary), or when it
    /// refused the server. One check at a time; a call that waited for
    /// another's takes its verdict. Bounded by `COMMAND_TIMEOUT` in all.
    pub(super) async fn verified(&self) -> Result<(), StoreError> {
        if self.due().is_none() {
            return Ok(());
        }
        let checked = async {
            let _one_at_a_time = self.checking.lock().await;
            let Some(after_trouble) = self.due() else {
                return Ok(());
            };
            // Boxed as a trait object: the check's future (Sentinel, a new
            // connection) is deep, and every call's future would carry its
            // type inline, past the compiler's recursion limit.
            let check: Pin<Box<dyn Future<Output = _> + Send + '_>> =
                Box::pin(self.check(after_trouble));
            let verdict = check.await;
            self.note_verdict(&verdict);
            match verdict {
                Ok(()) => self.mark_checked(Some(Instant::now())),
                // Not reached (a demoted primary too): reach it again first.
                Err(StoreError::Unavailable(_)) => self.mark_checked(None),
                Err(_) => {}
            }
            verdict
        };
        tokio::time::timeout(COMMAND_TIMEOUT, checked)
            .await
            .unwrap_or_else(|_| Err(error::no_answer("the primary")))
    }

    /// `Some(true)`: a check is due after connection trouble;
    /// `Some(false)`: the last check is too old; `None`: none is due.
    fn due(&self) -> Option<bool> {
        let rechecks = self.settings.durability == Durability::Strict
            || matches!(self.target, Target::Sentinel(_));
        match *lock(&self.checked) {
            None => Some(true),
            Some(at) if rechecks && at.elapsed() >= RECHECK_EVERY => Some(false),
            Some(_) => None,
        }
    }

    /// One check: after trouble, the primary reached again (Sentinel
    /// asked again; else the stale connections of its own dropped, the
    /// manager reconnects by itself) and what it can `WAIT` with; else,
    /// with Sentinel, that it is still the primary; then, in strict mode,
    /// its settings.
    async fn check(&self, after_trouble: bool) -> Result<(), StoreError> {
        if after_trouble {
            match &self.target {
                Target::Server(_) => self.link().drop_spares(),
                Target::Sentinel(_) => self.follow_primary().await?,
            }
            self.learn_wait().await?;
        } else if let Target::Sentinel(_) = self.target {
            self.link().is_primary().await?;
        }
        match self.settings.durability {
            Durability::Strict => self.judged(self.primary_shortfalls().await?),
            Durability::Relaxed => Ok(()),
        }
    }

    /// Asks Sentinel where the primary is now and reaches it there; logs
    /// a move, once.
    async fn follow_primary(&self) -> Result<(), StoreError> {
        let link = reach(&self.target).await?;
        let was = self.link().addr.clone();
        if link.addr != was {
            log_event!(
                "redis: Sentinel names a new primary, {} (was {was})",
                link.addr
            );
        }
        *self.link.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(link);
        Ok(())
    }

    /// When the checks were last passed (`None`: check at the next call).
    pub(super) fn mark_checked(&self, at: Option<Instant>) {
        *lock(&self.checked) = at;
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
            Ok(()) => log_event!("redis: durable again ({}): serving", durable()),
        }
    }

    /// Everything `connect` checks, as `latch check` reports it: the
    /// primary (where it is, its settings), and with replica acks its
    /// replicas and Sentinels (`replicas`, `sentinel`).
    pub async fn survey(&self) -> Result<Survey, StoreError> {
        let mut survey = Survey::default();
        let found = self.primary_shortfalls().await?;
        if found.is_empty() {
            let place = match &self.target {
                Target::Server(_) => String::new(),
                Target::Sentinel(_) => {
                    format!("primary {} (named by Sentinel): ", self.link().addr)
                }
            };
            survey.fine.push(format!("{place}durable ({})", durable()));
        }
        survey.shortfalls.extend(found);
        self.learn_wait().await?;
        self.survey_replicas(&mut survey).await?;
        if let Target::Sentinel(sentinels) = &self.target {
            sentinel::survey(sentinels, self.settings.replica_acks, &mut survey).await;
        }
        Ok(survey)
    }

    /// The shortfalls found: in strict mode, one `NotDurable` error naming
    /// them all; relaxed, each logged, and accepted.
    fn judged(&self, found: Vec<String>) -> Result<(), StoreError> {
        if found.is_empty() {
            return Ok(());
        }
        let message = found.join("; ");
        match self.settings.durability {
            Durability::Strict => Err(error::not_durable(&format!(
                "{message} (to run anyway: --redis-durability relaxed)"
            ))),
            Durability::Relaxed => {
                log_event!("redis: {message}; accepted by --redis-durability relaxed");
                Ok(())
            }
        }
    }

    /// The primary's settings, read (`durability::config_get`) and judged.
    async fn primary_shortfalls(&self) -> Result<Vec<String>, StoreError> {
        Ok(match self.query_unverified(&config_get()).await {
            Ok(config) => shortfalls(&config, self.settings.replica_acks),
            // A refused command (unknown, renamed, NOPERM) is not an outage.
            Err(StoreError::Failed(why)) => vec![unverifiable(&why)],
            Err(e) => return Err(e),
        })
    }
}

/// The primary `target` names, connected: at its one address, or where
/// the Sentinels say, and then only if it answers `ROLE` as a primary.
async fn reach(target: &Target) -> Result<Link, StoreError> {
    match target {
        // Retry a lost connection a few times, quickly: a request waits at
        // most COMMAND_TIMEOUT anyway, and once these retries are spent the
        // next command starts new ones.
        Target::Server(info) => Link::open(info.clone(), 3).await,
        // None: the next call asks Sentinel again, which may name another
        // server (during a failover, each call is a quick 503).
        Target::Sentinel(sentinels) => {
            let (host, port) = sentinel::primary(sentinels).await?;
            let link = Link::open(target.server_at(&host, port), 0).await?;
            link.is_primary().await?;
            Ok(link)
        }
    }
}

/// A reply read as the caller's type; a reply of another shape is
/// `BadData`, as the library's own conversion would sort it.
fn parse<T: FromRedisValue>(reply: Value) -> Result<T, StoreError> {
    T::from_redis_value(reply).map_err(|e| error::from_redis(RedisError::from(e)))
}

/// What one exchange sends: a command, or a script by name, its key, and
/// its invocation.
#[derive(Clone, Copy)]
pub(super) enum Sent<'a> {
    Command(&'a Cmd),
    Script(&'static str, &'a str, &'a ScriptInvocation<'a>),
}

/// One exchange as `--trace` shows it, formatted only when the request is
/// traced: `GET latch:epoch:616c6963 → 2`, `EVALSHA SWAP latch:s:<the 64
/// hex digits of the id's digest> → 1`, `WAIT 1 1000 → 1`. A key is no
/// secret (a digest cannot be turned back into an id), so it is shown
/// whole, as `redis-cli` would find it; a value is shown by its size: a
/// session's JSON holds its CSRF token.
struct Exchange<'a>(&'a Sent<'a>, &'a Result<Value, StoreError>);

impl fmt::Display for Exchange<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Sent::Script(name, key, _) => write!(f, "EVALSHA {name} {key}")?,
            // The verb and its first argument, and the rest by their
            // count, unless they are numbers only.
            Sent::Command(cmd) => {
                let args: Vec<String> = cmd.args_iter().map(shown_arg).collect();
                let number = |arg: &String| arg.bytes().all(|b| b.is_ascii_digit());
                match args.get(2..) {
                    Some(more) if !more.iter().all(number) => {
                        write!(f, "{} (+{} args)", args[..2].join(" "), more.len())?
                    }
                    _ => f.write_str(&args.join(" "))?,
                }
            }
        }
        match self.1 {
            Ok(reply) => write!(f, " → {}", Shown(reply)),
            Err(e) => write!(f, " → error: {e}"),
        }
    }
}

fn shown_arg(arg: redis::Arg<&[u8]>) -> String {
    match arg {
        redis::Arg::Simple(bytes) => String::from_utf8_lossy(bytes).into_owned(),
        _ => "cursor".to_owned(),
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
