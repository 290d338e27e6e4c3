//! The two session backends, for the wire tests that run on both: a
//! server on either (`Server::start_on`), what it stored, seen the same
//! way whichever holds it, and `on_both_backends!`, which makes each
//! listed test a file-store test and a Redis test, as
//! `every_contract_function!` does for the store contract.

use latch::sessions::store::{Durability, Listing, Settings, Store};
use sha2::Digest;

use super::{block_on, session_files, Options, Server, TempDir};

/// Where a test's server keeps its sessions.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Backend {
    /// A `sessions` dir in the server's temp dir.
    #[default]
    Files,
    /// A fresh `redis-server` of the server's own (`RedisServer::start`:
    /// durable, on a unix socket in a temp dir), killed after it.
    Redis,
}

/// Each test listed, a function of a `Backend`, becomes two: `files::NAME`
/// and `redis::NAME`, the second ignored by a plain `cargo test`, since it
/// needs `redis-server` (it fails, never skips, when asked to run without
/// one). One list per module, after its tests.
macro_rules! on_both_backends {
    ($($test:ident,)*) => {
        /// The tests above, on the file store.
        mod files {
            $(
                #[test]
                fn $test() {
                    super::$test($crate::support::Backend::Files);
                }
            )*
        }

        /// The tests above, each on a Redis of its own.
        mod redis {
            $(
                #[test]
                #[ignore = "needs redis-server: apt-get install redis-server"]
                fn $test() {
                    super::$test($crate::support::Backend::Redis);
                }
            )*
        }
    };
}
pub(crate) use on_both_backends;

/// The hex SHA-256 of a session id: the name its record is stored under
/// (the file `NAME.json`, the Redis key `latch:s:NAME`). No store keeps
/// the id itself.
pub fn stored_name(id: &str) -> String {
    latch::http::encoding::hex(&sha2::Sha256::digest(id.as_bytes()))
}

/// How a test opens a store itself: no cap, no replica acks (a test that
/// wants one sets it over these).
pub fn store_settings(durability: Durability, idle_timeout: u64) -> Settings {
    Settings {
        idle_timeout,
        max_sessions: None,
        durability,
        replica_acks: 0,
    }
}

/// The Redis key a session id's record is stored under.
pub fn redis_key(id: &str) -> String {
    format!("latch:s:{}", stored_name(id))
}

impl Server {
    /// `Server::start` on either backend.
    pub fn start_on(backend: Backend, args: &[&str]) -> Server {
        Server::start_with(Options {
            args: args.iter().map(|a| a.to_string()).collect(),
            backend,
            ..Options::default()
        })
    }

    /// `Server::with_users` on either backend.
    pub fn with_users_on(backend: Backend, users: &[(&str, &str)], args: &[&str]) -> Server {
        let dir = TempDir::new();
        super::write_users(&dir.path().join("users.htpasswd"), users);
        Server::start_with(Options {
            args: args.iter().map(|a| a.to_string()).collect(),
            backend,
            dir: Some(dir),
            ..Options::default()
        })
    }

    /// A store on the server's sessions, as `latch sessions` opens it
    /// beside a running server (read only, no idle timeout of its own).
    async fn store(&self) -> Store {
        use latch::sessions::store::Location;
        let location = match &self.redis {
            Some(redis) => Location::Redis(redis.url()),
            None => Location::Dir(self.sessions_dir()),
        };
        let settings = store_settings(Durability::Strict, 0);
        Store::open_beside_server(&location, &settings)
            .await
            .unwrap()
    }

    /// The session `id` names, as the store holds it now (its record as
    /// JSON), if it is live.
    pub fn session_json(&self, id: &str) -> Option<serde_json::Value> {
        let id = latch::sessions::SessionId::parse(id)?;
        let now = latch::sessions::now();
        let stored = block_on(async { self.store().await.load(&id, now).await }).unwrap()?;
        Some(serde_json::to_value(stored.record).unwrap())
    }

    /// Every live session the store holds, oldest first.
    pub fn listed_sessions(&self) -> Vec<Listing> {
        let now = latch::sessions::now();
        block_on(async { self.store().await.list(now).await }).unwrap()
    }

    /// How many live sessions the store holds now.
    pub fn stored_sessions(&self) -> usize {
        self.listed_sessions().len()
    }

    /// The epoch the store holds for `user` (how often they signed out
    /// everywhere).
    pub fn epoch(&self, user: &str) -> u64 {
        block_on(async { self.store().await.epoch(user).await }).unwrap()
    }

    // What is stored, below the store: bytes under names, whether or not
    // they read as a session (`stored_name`).

    /// Every name something is stored under as a session, sorted.
    pub fn stored_names(&self) -> Vec<String> {
        match &self.redis {
            Some(redis) => redis
                .keys()
                .iter()
                .filter_map(|key| key.strip_prefix("latch:s:"))
                .map(str::to_owned)
                .collect(),
            None => session_files(&self.sessions_dir())
                .iter()
                .map(|file| file.file_stem().unwrap().to_string_lossy().into_owned())
                .collect(),
        }
    }

    /// The bytes stored under `id`'s name, if any.
    pub fn stored_bytes(&self, id: &str) -> Option<Vec<u8>> {
        match &self.redis {
            Some(redis) => redis.get(&redis_key(id)),
            None => std::fs::read(super::session_file_for(&self.sessions_dir(), id)).ok(),
        }
    }

    /// Puts `bytes` under `id`'s name, as a bug or an operator might
    /// (keeping a Redis key's expiry).
    pub fn put_stored_bytes(&self, id: &str, bytes: &[u8]) {
        match &self.redis {
            Some(redis) => ::redis::cmd("SET")
                .arg(redis_key(id))
                .arg(bytes)
                .arg("KEEPTTL")
                .query::<()>(&mut redis.connection())
                .unwrap(),
            None => {
                std::fs::write(super::session_file_for(&self.sessions_dir(), id), bytes).unwrap()
            }
        }
    }
}
