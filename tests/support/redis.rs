//! A `redis-server` of the test's own, for the tests of the Redis store
//! (docs/contract.md, "The Redis store").
//!
//! Each one listens on a unix socket in its own temp dir (`--port 0`: no
//! TCP port, so tests running at once never collide), keeps its files in
//! that dir, and is killed by its PID when dropped. It is durable unless
//! the test says otherwise, because latch's strict mode refuses anything
//! less: `--appendonly yes --appendfsync always`, and `--save ''` so that
//! no snapshot hides what the append-only file alone keeps.
//!
//! Where `redis-server` cannot start, the test fails with a message saying
//! how to install it: a test of the Redis store never passes without
//! having run.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::{TempDir, TIMEOUT};

/// What an ignored test's reason, and a failure to start, tell the reader.
pub const NEEDS_REDIS: &str = "needs redis-server: apt-get install redis-server";

/// The settings of a durable server: what strict mode demands.
pub const DURABLE: &[&str] = &["--appendonly", "yes", "--appendfsync", "always"];

/// Debian's default (`/etc/redis/redis.conf`): snapshots only, so an
/// acknowledged write can be lost. Strict mode refuses it.
pub const NOT_DURABLE: &[&str] = &["--appendonly", "no"];

/// A `redis-server` on `DIR/redis.sock`, killed on drop.
pub struct RedisServer {
    child: Option<Child>,
    dir: TempDir,
    /// What it was last started with, for `restart`.
    settings: Vec<String>,
}

impl RedisServer {
    /// A durable server (`DURABLE`).
    pub fn start() -> RedisServer {
        RedisServer::start_with(DURABLE)
    }

    /// A server that may lose acknowledged writes (`NOT_DURABLE`).
    pub fn start_not_durable() -> RedisServer {
        RedisServer::start_with(NOT_DURABLE)
    }

    /// A server with these settings (`--name value` pairs, as
    /// `redis-server` takes them) on top of the socket, the dir and
    /// `--save ''`. Pass `DURABLE` among them for a durable one.
    pub fn start_with(settings: &[&str]) -> RedisServer {
        let mut server = RedisServer {
            child: None,
            dir: TempDir::new(),
            settings: Vec::new(),
        };
        server.launch(settings);
        server
    }

    pub fn socket(&self) -> PathBuf {
        self.dir.path().join("redis.sock")
    }

    /// The URL latch takes: `redis+unix:///…/redis.sock`.
    pub fn url(&self) -> String {
        format!("redis+unix://{}", self.socket().display())
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("redis-server is running").id()
    }

    /// What `redis-server` logged (it logs to `DIR/log`).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("log")).unwrap_or_default()
    }

    /// SIGKILL: no shutdown, no last save; what is on disk is what is left.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().unwrap();
            child.wait().unwrap();
        }
    }

    /// A new `redis-server` on the same socket and dir, with the same
    /// settings (the old one is killed first, if it still runs).
    pub fn restart(&mut self) {
        let settings = self.settings.clone();
        let settings: Vec<&str> = settings.iter().map(String::as_str).collect();
        self.restart_with(&settings);
    }

    /// A new `redis-server` on the same socket and dir, with other settings.
    pub fn restart_with(&mut self, settings: &[&str]) {
        self.kill();
        self.launch(settings);
    }

    /// Sends a signal (`STOP`, `CONT`) to the server.
    pub fn signal(&self, name: &str) {
        super::signal(self.pid(), name);
    }

    /// Starts `redis-server` and waits (bounded) until it answers PING.
    /// Panics, failing the test, when it cannot.
    fn launch(&mut self, settings: &[&str]) {
        self.spawn(settings);
        self.wait_until("ready", RedisServer::answers_ping);
    }

    /// Starts `redis-server` with the test's socket, dir and log, and
    /// these settings.
    fn spawn(&mut self, settings: &[&str]) {
        let dir = self.dir.path();
        let child = Command::new("redis-server")
            .args(["--port", "0", "--unixsocket"])
            .arg(self.socket())
            .args(["--unixsocketperm", "700", "--dir"])
            .arg(dir)
            .args(["--save", "", "--logfile"])
            .arg(dir.join("log"))
            .args(settings)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start redis-server ({e}): {NEEDS_REDIS}"));
        self.child = Some(child);
        self.settings = settings.iter().map(|s| s.to_string()).collect();
    }

    /// Waits (bounded) until `check` holds; fails the test if the server
    /// exits first.
    fn wait_until(&mut self, what: &str, check: fn(&RedisServer) -> bool) {
        let deadline = Instant::now() + TIMEOUT;
        while !check(self) {
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                self.child = None;
                panic!("redis-server exited ({status}): {}", self.log());
            }
            assert!(
                Instant::now() < deadline,
                "redis-server not {what}: {}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// True once the server answers: PONG, or NOAUTH when it wants a
    /// password first.
    pub fn answers_ping(&self) -> bool {
        self.ping_reply()
            .is_some_and(|reply| &reply == b"+PONG\r\n" || reply.starts_with(b"-NOAUTH"))
    }

    /// True while the server answers, but only `-LOADING`: it is reading
    /// its data back after a start.
    pub fn is_loading(&self) -> bool {
        self.ping_reply()
            .is_some_and(|reply| reply.starts_with(b"-LOADIN"))
    }

    /// The first 7 bytes of the server's answer to `PING`, if any.
    fn ping_reply(&self) -> Option<[u8; 7]> {
        let mut socket = UnixStream::connect(self.socket()).ok()?;
        socket
            .set_read_timeout(Some(Duration::from_secs(1)))
            .unwrap();
        let mut reply = [0u8; 7];
        socket.write_all(b"PING\r\n").ok()?;
        socket.read_exact(&mut reply).ok()?;
        Some(reply)
    }

    /// Writes `count` filler keys and rewrites the append-only file, so
    /// that a restart has that many keys to load back.
    pub fn fill(&self, count: usize) {
        let mut conn = self.connection();
        let _: i64 = ::redis::cmd("EVAL")
            .arg("for i = 1, tonumber(ARGV[1]) do redis.call('SET', 'filler:' .. i, 'x') end return 1")
            .arg(0)
            .arg(count)
            .query(&mut conn)
            .unwrap();
        let _: String = ::redis::cmd("BGREWRITEAOF").query(&mut conn).unwrap();
        let deadline = Instant::now() + TIMEOUT;
        loop {
            let info: String = ::redis::cmd("INFO")
                .arg("persistence")
                .query(&mut conn)
                .unwrap();
            if info.contains("aof_rewrite_in_progress:0")
                && info.contains("aof_rewrite_scheduled:0")
            {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "BGREWRITEAOF did not end: {info}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Restarts on the same socket and dir with these settings, returning
    /// as soon as the server answers `-LOADING` (not once it is ready).
    pub fn restart_loading(&mut self, settings: &[&str]) {
        self.kill();
        self.spawn(settings);
        self.wait_until("loading", RedisServer::is_loading);
    }

    /// A plain (blocking) connection, for looking at what latch wrote.
    pub fn connection(&self) -> ::redis::Connection {
        let conn = ::redis::Client::open(self.url())
            .unwrap()
            .get_connection()
            .unwrap_or_else(|e| panic!("cannot connect to redis-server: {e}"));
        conn.set_read_timeout(Some(TIMEOUT)).unwrap();
        conn.set_write_timeout(Some(TIMEOUT)).unwrap();
        conn
    }

    /// Every key of database 0, sorted (`KEYS *`: fine for a test's few).
    pub fn keys(&self) -> Vec<String> {
        let mut keys: Vec<String> = ::redis::cmd("KEYS")
            .arg("*")
            .query(&mut self.connection())
            .unwrap();
        keys.sort();
        keys
    }

    /// The value of a string key, if there is one.
    pub fn get(&self, key: &str) -> Option<Vec<u8>> {
        ::redis::cmd("GET")
            .arg(key)
            .query(&mut self.connection())
            .unwrap()
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
