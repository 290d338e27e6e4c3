//! Redis with replicas and Sentinel, on loopback, for the failover tests
//! (docs/contract.md, "The Redis store": replicas and Sentinel).
//!
//! A primary, its replicas and its Sentinels are processes of the test's
//! own, in one temp dir, on free loopback TCP ports (replication and
//! Sentinel speak TCP only), killed by PID on drop. The replicas reach the
//! primary through a `Forwarder` the test controls: on loopback the
//! primary writes a reply and the replication stream in the same
//! event-loop turn, so without injected lag nothing is ever lost, even by
//! a store that does not wait, and a test could not fail. The forwarder
//! can stop the stream, as a slow or cut link does, before the primary is
//! killed.
//!
//! Timing (measured here): Sentinels find the replicas and each other in
//! 5 to 7 s (hello messages every 2 s); with `down-after-milliseconds
//! 1000` a new primary is named about 2.3 s after the old one dies. The
//! `failover-timeout` is far longer than any test, or Sentinel would
//! re-point the replicas straight at the primary, past the forwarder.

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::redis::DURABLE;
use super::{free_port, TempDir};

/// What an ignored test's reason, and a failure to start, tell the reader.
pub const NEEDS_SENTINEL: &str =
    "needs redis-server and redis-sentinel: apt-get install redis-server redis-sentinel";

/// The name the Sentinels monitor the primary under.
pub const SERVICE: &str = "latch";

/// What a primary needs for one confirmation: refusing writes without a
/// replica (every server gets it, each being a future primary).
pub const ONE_REPLICA: &[&str] = &["--min-replicas-to-write", "1"];

/// How long setting up, a failover and a recovery may each take.
const SETUP_TIMEOUT: Duration = Duration::from_secs(30);

/// What to start.
pub struct Plan<'a> {
    /// Settings of every data server (primary and replicas), after the
    /// durable ones.
    pub servers: &'a [&'a str],
    /// Settings of each replica, after those: one entry per replica.
    pub replicas: &'a [&'a [&'a str]],
    /// Sentinels started (quorum 2); 0: none, and the URL is `redis://`.
    pub sentinels: usize,
    /// Sentinels the URL names that are not running (free ports).
    pub absent_sentinels: usize,
}

/// A primary, replicas and Sentinels, running.
pub struct Setup {
    primary: Node,
    replicas: Vec<Node>,
    sentinels: Vec<Node>,
    absent: Vec<u16>,
    forwarder: Forwarder,
    _dir: TempDir,
}

impl Setup {
    /// Starts what `plan` says and waits (bounded) until the replicas are
    /// online and, with two Sentinels or more, the Sentinels know the
    /// replicas and each other and can authorize a failover.
    pub fn start(plan: &Plan) -> Setup {
        let dir = TempDir::new();
        let data = |name: &str, extra: &[&str]| {
            // Durable, and `--save ''`: the append-only file alone keeps
            // what is kept.
            let args: Vec<String> = DURABLE
                .iter()
                .chain(&["--save", ""])
                .chain(plan.servers)
                .chain(extra)
                .map(|s| s.to_string())
                .collect();
            Node::start_server(&dir, name, &args)
        };
        let primary = data("primary", &[]);
        let forwarder = Forwarder::start(primary.port);
        let replicas = plan
            .replicas
            .iter()
            .enumerate()
            .map(|(n, extra)| {
                let port = forwarder.port.to_string();
                let mut args = vec!["--replicaof", "127.0.0.1", &port];
                args.extend(extra.iter());
                data(&format!("replica{n}"), &args)
            })
            .collect();
        let sentinels = (0..plan.sentinels)
            .map(|n| Node::start_sentinel(&dir, n, primary.port))
            .collect();
        let absent = (0..plan.absent_sentinels).map(|_| free_port()).collect();
        let setup = Setup {
            primary,
            replicas,
            sentinels,
            absent,
            forwarder,
            _dir: dir,
        };
        setup.wait_until_ready();
        setup
    }

    /// The URL latch takes: the Sentinels (running and absent), or the
    /// primary itself when there are none.
    pub fn url(&self) -> String {
        if self.sentinels.is_empty() && self.absent.is_empty() {
            return format!("redis://127.0.0.1:{}/0", self.primary.port);
        }
        let ports = self
            .sentinels
            .iter()
            .map(|s| s.port)
            .chain(self.absent.iter().copied());
        let hosts: Vec<String> = ports.map(|port| format!("127.0.0.1:{port}")).collect();
        format!("redis+sentinel://{}/{SERVICE}", hosts.join(","))
    }

    /// From now on nothing the primary sends reaches the replicas: its
    /// writes are acknowledged (to a client that does not wait) and never
    /// replicated.
    pub fn stall_replication(&self) {
        self.forwarder.stall();
    }

    /// SIGKILL the primary, and drop what the stalled stream still held.
    pub fn kill_primary(&mut self) {
        self.primary.kill();
        self.forwarder.cut();
    }

    /// Sends a signal (`STOP`, `CONT`) to replica `n`.
    pub fn signal_replica(&self, n: usize, signal: &str) {
        self.replicas[n].signal(signal);
    }

    /// Waits (bounded) until a Sentinel names another primary and that
    /// server says it is one; returns how long that took.
    pub fn wait_for_new_primary(&self) -> Duration {
        let started = Instant::now();
        let old = self.primary.port;
        wait_until("a new primary", || {
            let named: Option<(String, u16)> = self.sentinels.iter().find_map(|s| {
                ask(
                    s.port,
                    ::redis::cmd("SENTINEL")
                        .arg("GET-MASTER-ADDR-BY-NAME")
                        .arg(SERVICE),
                )
                .ok()
            });
            named.is_some_and(|(_, port)| {
                port != old
                    && ask::<Vec<::redis::Value>>(port, &::redis::cmd("ROLE"))
                        .is_ok_and(|role| role.first() == Some(&bulk("master")))
            })
        });
        started.elapsed()
    }

    fn wait_until_ready(&self) {
        let replicas = self.replicas.len();
        wait_until("the replicas online", || {
            ask::<String>(self.primary.port, ::redis::cmd("INFO").arg("replication"))
                .is_ok_and(|info| info.matches("state=online").count() == replicas)
        });
        if self.sentinels.len() < 2 {
            return;
        }
        let others = self.sentinels.len() - 1;
        for sentinel in &self.sentinels {
            let count = |what: &str| {
                ask::<Vec<::redis::Value>>(
                    sentinel.port,
                    ::redis::cmd("SENTINEL").arg(what).arg(SERVICE),
                )
                .map_or(0, |list| list.len())
            };
            wait_until("the Sentinels to find each other", || {
                count("REPLICAS") == replicas
                    && count("SENTINELS") == others
                    && ask::<String>(
                        sentinel.port,
                        ::redis::cmd("SENTINEL").arg("CKQUORUM").arg(SERVICE),
                    )
                    .is_ok()
            });
        }
    }

    /// What every process logged, for a failure's message.
    pub fn logs(&self) -> String {
        let nodes = [&self.primary]
            .into_iter()
            .chain(&self.replicas)
            .chain(&self.sentinels);
        nodes
            .map(|node| format!("--- {}\n{}", node.name, node.log()))
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// One `redis-server` or `redis-sentinel`, killed on drop.
struct Node {
    name: String,
    child: Option<Child>,
    port: u16,
    log: PathBuf,
}

impl Node {
    fn start_server(dir: &TempDir, name: &str, settings: &[String]) -> Node {
        let port = free_port();
        let data = dir.path().join(name);
        std::fs::create_dir(&data).unwrap();
        let log = data.join("log");
        let mut command = Command::new("redis-server");
        command
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--dir"])
            .arg(&data)
            .arg("--logfile")
            .arg(&log)
            .args(settings);
        Node::spawn(name, command, port, log)
    }

    /// A Sentinel watching the primary on `primary` (quorum 2). It
    /// rewrites its configuration file, so each has one of its own.
    fn start_sentinel(dir: &TempDir, n: usize, primary: u16) -> Node {
        let port = free_port();
        let name = format!("sentinel{n}");
        let log = dir.path().join(format!("{name}.log"));
        let conf = dir.path().join(format!("{name}.conf"));
        std::fs::write(
            &conf,
            format!(
                "port {port}\nbind 127.0.0.1\ndir {dir}\nlogfile {log}\n\
                 sentinel monitor {SERVICE} 127.0.0.1 {primary} 2\n\
                 sentinel down-after-milliseconds {SERVICE} 1000\n\
                 sentinel failover-timeout {SERVICE} 600000\n",
                dir = dir.path().display(),
                log = log.display(),
            ),
        )
        .unwrap();
        let mut command = Command::new("redis-sentinel");
        command.arg(&conf);
        Node::spawn(&name, command, port, log)
    }

    fn spawn(name: &str, mut command: Command, port: u16, log: PathBuf) -> Node {
        let child = command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name} ({e}): {NEEDS_SENTINEL}"));
        let node = Node {
            name: name.to_owned(),
            child: Some(child),
            port,
            log,
        };
        wait_until(&format!("{name} to answer"), || {
            ask::<String>(port, &::redis::cmd("PING")).is_ok()
        });
        node
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().unwrap();
            child.wait().unwrap();
        }
    }

    fn signal(&self, name: &str) {
        super::signal(self.child.as_ref().expect("running").id(), name);
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A TCP forwarder from the replicas to the primary: one pair of threads
/// per connection, the primary's direction stoppable.
struct Forwarder {
    port: u16,
    state: Arc<Forwarding>,
}

#[derive(Default)]
struct Forwarding {
    /// Nothing more goes from the primary to the replicas.
    stalled: AtomicBool,
    /// Every connection closed; no new one taken.
    cut: AtomicBool,
    streams: Mutex<Vec<TcpStream>>,
}

impl Forwarder {
    fn start(to: u16) -> Forwarder {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let state = Arc::new(Forwarding::default());
        let shared = Arc::clone(&state);
        std::thread::spawn(move || {
            while !shared.cut.load(Ordering::SeqCst) {
                let Ok((replica, _)) = listener.accept() else {
                    std::thread::sleep(Duration::from_millis(10));
                    continue;
                };
                let Ok(primary) = TcpStream::connect(("127.0.0.1", to)) else {
                    continue;
                };
                replica.set_nonblocking(false).unwrap();
                // As Redis's own links: no Nagle delay (40 ms per ACK).
                replica.set_nodelay(true).unwrap();
                primary.set_nodelay(true).unwrap();
                let mut streams = shared.streams.lock().unwrap();
                streams.push(replica.try_clone().unwrap());
                streams.push(primary.try_clone().unwrap());
                let (down, up) = (Arc::clone(&shared), Arc::clone(&shared));
                let (from_primary, to_replica) =
                    (primary.try_clone().unwrap(), replica.try_clone().unwrap());
                std::thread::spawn(move || pump(from_primary, to_replica, &down, true));
                std::thread::spawn(move || pump(replica, primary, &up, false));
            }
        });
        Forwarder { port, state }
    }

    fn stall(&self) {
        self.state.stalled.store(true, Ordering::SeqCst);
    }

    fn cut(&self) {
        self.state.cut.store(true, Ordering::SeqCst);
        for stream in self.state.streams.lock().unwrap().iter() {
            let _ = stream.shutdown(Shutdown::Both);
        }
    }
}

/// Copies `from` to `to` until either end closes or the forwarder is cut;
/// with `stoppable`, drops whatever arrives once the forwarder is stalled.
fn pump(mut from: TcpStream, mut to: TcpStream, state: &Forwarding, stoppable: bool) {
    from.set_read_timeout(Some(Duration::from_millis(20)))
        .unwrap();
    let mut buffer = vec![0u8; 64 * 1024];
    while !state.cut.load(Ordering::SeqCst) {
        if stoppable && state.stalled.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(5));
            continue;
        }
        match from.read(&mut buffer) {
            Ok(0) => break,
            Ok(_) if stoppable && state.stalled.load(Ordering::SeqCst) => continue,
            Ok(n) => {
                if to.write_all(&buffer[..n]).is_err() {
                    break;
                }
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(_) => break,
        }
    }
    let _ = to.shutdown(Shutdown::Both);
    let _ = from.shutdown(Shutdown::Both);
}

/// One command to the server or Sentinel on `port`, bounded.
pub fn ask<T: ::redis::FromRedisValue>(port: u16, cmd: &::redis::Cmd) -> ::redis::RedisResult<T> {
    let client = ::redis::Client::open(format!("redis://127.0.0.1:{port}/"))?;
    let mut conn = client.get_connection_with_timeout(Duration::from_secs(1))?;
    conn.set_read_timeout(Some(Duration::from_secs(2)))?;
    cmd.query(&mut conn)
}

fn bulk(text: &str) -> ::redis::Value {
    ::redis::Value::BulkString(text.as_bytes().to_vec())
}

/// Polls `done` until it holds; fails the test after `SETUP_TIMEOUT`.
fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + SETUP_TIMEOUT;
    while !done() {
        assert!(Instant::now() < deadline, "gave up waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}
