//! Workloads through the Redis store: a durable `redis-server`
//! (`appendonly yes`, `appendfsync always`) on a unix socket under the
//! bench dir, latch's own `RedisStore` to set up sessions, and
//! `redis-benchmark` against the same server as the ceiling of its durable
//! writes (what (i) is for the file store).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use latch::auth::auth_hash as session_auth_hash;
use latch::sessions::redis::RedisStore;
use latch::sessions::store::{Durability, Settings};
use latch::sessions::{Record, THEME};

use crate::servers::USER;

/// A durable `redis-server`, killed on drop.
pub struct RedisProcess {
    child: Child,
    dir: PathBuf,
}

impl RedisProcess {
    /// Starts it in `dir` (created) and waits (at most 10 s) for its socket.
    pub fn start(dir: &Path) -> RedisProcess {
        let _ = std::fs::remove_dir_all(dir);
        std::fs::create_dir_all(dir).unwrap();
        let socket = dir.join("redis.sock");
        let child = Command::new("redis-server")
            .args(["--port", "0", "--save", "", "--appendonly", "yes"])
            .args(["--appendfsync", "always"])
            .arg("--unixsocket")
            .arg(&socket)
            .arg("--dir")
            .arg(dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server runs (apt-get install redis-server)");
        let give_up = Instant::now() + Duration::from_secs(10);
        while !socket.exists() {
            assert!(Instant::now() < give_up, "redis-server did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        RedisProcess {
            child,
            dir: dir.to_path_buf(),
        }
    }

    pub fn socket(&self) -> PathBuf {
        self.dir.join("redis.sock")
    }

    /// The `--sessions` URL for latch.
    pub fn url(&self) -> String {
        format!("redis+unix://{}", self.socket().display())
    }

    /// Stores `count` signed-in sessions of `USER` through latch's own
    /// `RedisStore::create` (the same keys, values and expiry latch
    /// writes), 64 at a time. Setup only: the server is told not to fsync
    /// meanwhile (as the file setup skips fsync), and set back to
    /// `appendfsync always` before anything is measured. Returns (cookie,
    /// csrf token) pairs.
    pub fn write_sessions(
        &self,
        runtime: &tokio::runtime::Runtime,
        count: usize,
        password_hash: &str,
    ) -> Vec<(String, String)> {
        let auth_hash = session_auth_hash(password_hash, 0);
        runtime.block_on(async {
            let settings = Settings {
                idle_timeout: 0,
                max_sessions: None,
                durability: Durability::Strict,
                replica_acks: 0,
            };
            let store = RedisStore::connect(&self.url(), settings)
                .await
                .expect("latch connects to the bench's redis-server");
            self.set_appendfsync("no");
            let store = Arc::new(store);
            let now = latch::sessions::now();
            let mut sessions = Vec::with_capacity(count);
            while sessions.len() < count {
                let mut creates = tokio::task::JoinSet::new();
                for _ in 0..(count - sessions.len()).min(64) {
                    let mut record = Record::new(now, 3600, 0, latch::auth::csrf::new_token());
                    record.sign_in(USER, &auth_hash, now, &latch::auth::csrf::new_token());
                    // A theme to keep: a default logout moves the session.
                    record.set_str(THEME, "dark");
                    let store = Arc::clone(&store);
                    creates.spawn(async move {
                        let id = store.create(&record).await.unwrap();
                        (
                            format!("sid={}", id.as_str()),
                            record.csrf_token().unwrap().to_owned(),
                        )
                    });
                }
                while let Some(created) = creates.join_next().await {
                    sessions.push(created.unwrap());
                }
            }
            self.set_appendfsync("always");
            sessions
        })
    }

    fn set_appendfsync(&self, value: &str) {
        let status = Command::new("redis-cli")
            .arg("-s")
            .arg(self.socket())
            .args(["CONFIG", "SET", "appendfsync", value])
            .stdout(Stdio::null())
            .status()
            .expect("redis-cli runs");
        assert!(status.success(), "CONFIG SET appendfsync {value}");
    }

    /// CPU time the server has used so far (`servers::cpu_time_of`).
    pub fn cpu_time(&self) -> Duration {
        crate::servers::cpu_time_of(&self.child.id().to_string())
    }

    /// `redis-benchmark -t set -c CONNECTIONS -n REQUESTS` on the socket:
    /// durable `SET`s per second, the most this server can acknowledge,
    /// with the CPU time it took redis-benchmark and the server.
    pub fn set_ceiling(&self, connections: usize, requests: usize) -> Ceiling {
        let server_before = self.cpu_time();
        let client_before = children_cpu_time();
        let output = Command::new("redis-benchmark")
            .arg("-s")
            .arg(self.socket())
            .args(["-t", "set", "-q"])
            .args(["-c", &connections.to_string()])
            .args(["-n", &requests.to_string()])
            .output()
            .expect("redis-benchmark runs");
        let text = String::from_utf8_lossy(&output.stdout);
        // The last `SET: N requests per second` (it rewrites the line).
        let rate = text
            .rsplit("SET: ")
            .next()
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|rate| rate.parse().ok())
            .unwrap_or_else(|| panic!("no rate in redis-benchmark's output: {text}"));
        Ceiling {
            rate,
            requests: requests as u64,
            client_cpu: children_cpu_time() - client_before,
            server_cpu: self.cpu_time() - server_before,
        }
    }
}

/// What `set_ceiling` measured.
pub struct Ceiling {
    pub rate: f64,
    pub requests: u64,
    /// redis-benchmark's CPU time (user + system).
    pub client_cpu: Duration,
    /// redis-server's CPU time meanwhile.
    pub server_cpu: Duration,
}

/// CPU time of this process's children that have ended and been waited
/// for (getrusage(2), `RUSAGE_CHILDREN`): around one `Command::output`,
/// the difference is that command's.
fn children_cpu_time() -> Duration {
    // SAFETY: getrusage only writes the struct it is given.
    let usage = unsafe {
        let mut usage = std::mem::zeroed::<libc::rusage>();
        libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage);
        usage
    };
    let micros = |t: libc::timeval| t.tv_sec as u64 * 1_000_000 + t.tv_usec as u64;
    Duration::from_micros(micros(usage.ru_utime) + micros(usage.ru_stime))
}

impl Drop for RedisProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
