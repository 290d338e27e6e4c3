//! The Redis session store's contract, against a real `redis-server`.
//!
//! Each test starts its own `redis-server` on a unix socket in a temp dir
//! (no TCP port, so tests never collide; only the TLS test, built with
//! `--features redis-tls`, adds a free loopback port) and kills it by PID
//! when done. They are ignored by a plain `cargo test`; run them with
//! `cargo test --test tests redis_store:: -- --ignored`. Where
//! `redis-server` cannot start, they fail: they never pass without having
//! run.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use latch::sessions::pace::{Counter, Counts, Limit, Paced, Rule};
use latch::sessions::redis::{RedisStore, COMMAND_TIMEOUT};
use latch::sessions::store::{Durability, Rotated, Settings, StoreError, Stored, Version};
use latch::sessions::{now, Record, SessionId, AUTH_PREFIX, THEME};
use redis::aio::MultiplexedConnection;
use sha2::{Digest, Sha256};

use crate::support::redis::{RedisServer, DURABLE};
use crate::support::{store_settings, TempDir, TIMEOUT};

/// What the store tests need of their own server: the store itself, and a
/// plain connection for looking at what it wrote.
impl RedisServer {
    async fn inspect(&self) -> MultiplexedConnection {
        redis::Client::open(self.url())
            .unwrap()
            .get_multiplexed_async_connection()
            .await
            .unwrap()
    }

    async fn store(&self) -> RedisStore {
        self.store_with(0).await
    }

    async fn store_with(&self, idle_timeout: u64) -> RedisStore {
        RedisStore::connect(
            &self.url(),
            store_settings(Durability::Strict, idle_timeout),
        )
        .await
        .unwrap()
    }
}

fn record() -> Record {
    let mut r = Record::new(now(), 3600, 0, "csrf-token".into());
    r.set_str(THEME, "dark");
    r
}

fn signed_in(user: &str) -> Record {
    let mut r = record();
    r.sign_in(
        user,
        "hash-of-the-password-and-epoch",
        now(),
        "signed-in-token",
    );
    r
}

fn key_of(id: &SessionId) -> String {
    let hash: String = Sha256::digest(id.as_str().as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("latch:s:{hash}")
}

async fn all_keys(conn: &mut MultiplexedConnection) -> Vec<String> {
    let mut keys: Vec<String> = redis::cmd("KEYS").arg("*").query_async(conn).await.unwrap();
    keys.sort();
    keys
}

async fn session_keys(conn: &mut MultiplexedConnection) -> Vec<String> {
    let mut keys = all_keys(conn).await;
    keys.retain(|key| key.starts_with("latch:s:"));
    keys
}

/// When Redis will drop the session's key (unix ms).
async fn pexpiretime(conn: &mut MultiplexedConnection, id: &SessionId) -> u64 {
    redis::cmd("PEXPIRETIME")
        .arg(key_of(id))
        .query_async(conn)
        .await
        .unwrap()
}

async fn get(conn: &mut MultiplexedConnection, key: &str) -> Option<Vec<u8>> {
    redis::cmd("GET").arg(key).query_async(conn).await.unwrap()
}

fn has_auth_fields(value: &[u8]) -> bool {
    let record: Record = serde_json::from_slice(value).unwrap();
    record.data.keys().any(|k| k.starts_with(AUTH_PREFIX))
}

/// The live record under `id`, as a request's load reads it (without its
/// user's epoch and the bytes read).
async fn record_of(
    store: &RedisStore,
    id: &SessionId,
    now: u64,
) -> Result<Option<Record>, StoreError> {
    let loaded = store.load(id, now).await?;
    Ok(loaded.map(|stored| stored.record))
}

/// Logout in keep mode, as the logout handler does it.
fn keep_mode_logout(r: &mut Record) -> bool {
    r.remove_auth();
    r.set_csrf("renewed-token");
    !r.holds_only_csrf()
}

// ---------------------------------------------------------------- basics

#[tokio::test]
#[ignore = "needs redis-server: apt-get install redis-server"]
async fn a_created_session_loads_back_as_it_was() {
    let redis = RedisServer::start();
    let store = redis.store().await;
    let r = signed_in("alice");
    let id = store.create(&r).await.unwrap();
    assert_eq!(record_of(&store, &id, now()).await.unwrap(), Some(r));
    assert_eq!(
        record_of(&store, &SessionId::generate(), now())
            .await
            .unwrap(),
        None
    );
}

#[tokio::test]
#[ignore = "needs redis-server: apt-get install redis-server"]
async fn keys_hold_no_session_id_and_values_are_the_session_file_json() {
    let redis = RedisServer::start();
    let store = redis.store().await;
    let r = signed_in("alice");
    let id = store.create(&r).await.unwrap();
    store.bump_epoch("alice").await.unwrap();

    let mut conn = redis.inspect().await;
    let keys = all_keys(&mut conn).await;
    for key in &keys {
        assert!(!key.contains(id.as_str()), "{key} holds the id");
    }
    assert!(keys.contains(&key_of(&id)), "{keys:?}");

    // The value is byte for byte what the file store writes for the record.
    let files = TempDir::new();
    let file_store = latch::sessions::store::Store::Files(
        latch::sessions::files::FileStore::open(files.path(), 0).unwrap(),
    );
    let file_id = file_store.create(&r).await.unwrap();
    let file_name = format!("{}.json", &key_of(&file_id)["latch:s:".len()..]);
    let file_bytes = std::fs::read(files.path().join(file_name)).unwrap();
    assert_eq!(get(&mut conn, &key_of(&id)).await.unwrap(), file_bytes);
}

#[tokio::test]
#[ignore = "needs redis-server: apt-get install redis-server"]
async fn modify_of_a_deleted_session_writes_nothing() {
    let redis = RedisServer::start();
    let store = redis.store().await;
    let id = store.create(&signed_in("alice")).await.unwrap();
    assert!(store.delete(&id).await.unwrap());
    let outcome = store
        .modify(&id, &Version::UNKNOWN, now(), |r| r.set_str(THEME, "light"))
        .await;
    assert!(outcome.unwrap().is_none());
    assert!(!store.delete(&id).await.unwrap());
    // Nothing at all is left: no session key, and no index entry.
    let mut conn = redis.inspect().await;
    assert_eq!(all_keys(&mut conn).await, [] as [String; 0]);
}

#[tokio::test]
#[ignore = "needs redis-server: apt-get install redis-server"]
async fn modify_applies_the_change_to_what_is_stored_now() {
    let redis = RedisServer::start();
    let (a, b) = (redis.store().await, redis.store().await);
    let id = a.create(&record()).await.unwrap();
    a.modify(&id, &Version::UNKNOWN, now(), |r| r.set_str("a", "1"))
        .await
        .unwrap();
    b.modify(&id, &Version::UNKNOWN, now(), |r| r.set_str("b", "2"))
        .await
        .unwrap();
    let r = record_of(&a, &id, now()).await.unwrap().unwrap();
    assert_eq!((r.get_str("a"), r.get_str("b")), (Some("1"), Some("2")));
}

#[tokio::test]
#[ignore = "needs redis-server: apt-get install redis-server"]
async fn an_unreadable_value_is_no_session_and_is_left_alone() {
    let redis = RedisServer::start();
    let store = redis.store().await;
    let id = SessionId::generate();
    let mut conn = redis.inspect().await;
    let _: () = redis::cmd("SET")
        .arg(key_of(&id))
        .arg("{not json")
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(record_of(&store, &id, now()).await.unwrap(), None);
    assert!(store
        .modify(&id, &Version::UNKNOWN, now(), |_| ())
        .await
        .unwrap()
        .is_none());
    assert!(matches!(
        store
            .rotate(&id, &Version::UNKNOWN, now(), |_| true)
            .await
            .unwrap(),
        Rotated::Gone
    ));
    assert_eq!(get(&mut conn, &key_of(&id)).await.unwrap(), b"{not json");
}

// ------------------------------------------------- the logout race

/// One round: a signed-in session; eight changes from two instances (a
/// theme change each, as requests loaded before the logout would make)
/// racing one keep-mode logout. Half the changes start from the bytes
/// their own load read (as a request does), half read afresh. True if the
/// round brought the sign-in back: the old id still loads, or any session
/// key holds auth fields.
async fn race_round(
    a: &Arc<RedisStore>,
    b: &Arc<RedisStore>,
    conn: &mut MultiplexedConnection,
) -> bool {
    let id = a.create(&signed_in("alice")).await.unwrap();
    let mut tasks = Vec::new();
    for n in 0..8 {
        let store = Arc::clone(if n % 2 == 0 { a } else { b });
        let id = id.clone();
        tasks.push(tokio::spawn(async move {
            let theme = if n % 4 < 2 { "light" } else { "dark" };
            let loaded = match n % 2 {
                0 => store.load(&id, now()).await.unwrap(),
                _ => None,
            };
            let version = loaded.map_or(Version::UNKNOWN, |stored| stored.version);
            store
                .modify(&id, &version, now(), |r| r.set_str(THEME, theme))
                .await
        }));
    }
    let logout = {
        let store = Arc::clone(b);
        let id = id.clone();
        tokio::spawn(async move {
            store
                .rotate(&id, &Version::UNKNOWN, now(), keep_mode_logout)
                .await
        })
    };
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    let rotated = logout.await.unwrap().unwrap();
    assert!(matches!(rotated, Rotated::Moved(..)), "{rotated:?}");

    let mut resurrected = record_of(a, &id, now()).await.unwrap().is_some();
    for key in session_keys(conn).await {
        let value = get(conn, &key).await.unwrap();
        resurrected |= has_auth_fields(&value);
        let _: () = redis::cmd("DEL").arg(&key).query_async(conn).await.unwrap();
    }
    resurrected
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs redis-server: apt-get install redis-server"]
async fn changes_racing_a_logout_on_two_instances_never_bring_back_the_sign_in() {
    let redis = RedisServer::start();
    let a = Arc::new(redis.store().await);
    let b = Arc::new(redis.store().await);
    let mut conn = redis.inspect().await;
    let mut resurrections = 0;
    for _ in 0..250 {
        resurrections += usize::from(race_round(&a, &b, &mut conn).await);
    }
    assert_eq!(
        resurrections, 0,
        "rounds of 250 that wrote the sign-in back"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs redis-server: apt-get install redis-server"]
async fn changes_racing_a_flush_logout_never_recreate_the_session() {
    let redis = RedisServer::start();
    let a = Arc::new(redis.store().await);
    let b = Arc::new(redis.store().await);
    let mut conn = redis.inspect().await;
    for _ in 0..200 {
        let id = a.create(&signed_in("alice")).await.unwrap();
        let changes: Vec<_> = (0..8)
            .map(|n| {
                let store = Arc::clone(if n % 2 == 0 { &a } else { &b });
                let id = id.clone();
                tokio::spawn(async move {
                    store
                        .modify(&id, &Version::UNKNOWN, now(), |r| r.set_str(THEME, "light"))
                        .await
                })
            })
            .collect();
        let deleted = b.delete(&id).await.unwrap();
        for change in changes {
            change.await.unwrap().unwrap();
        }
        assert!(deleted);
        assert!(
            session_keys(&mut conn).await.is_empty(),
            "the session came back"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs redis-server: apt-get install redis-server"]
async fn rotate_moves_the_data_to_a_new_key_and_deletes_the_old_in_one_step() {
    let redis = RedisServer::start();
    let store = Arc::new(redis.store().await);
    // A watcher counts keys (DBSIZE: one command, so one instant) while
    // sessions rotate one after another: one session, always. A move done
    // as two steps would show 0 or 2 in between.
    let watching = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let sizes = Arc::new(Mutex::new(std::collections::BTreeSet::new()));
    let mut id = store.create(&signed_in("alice")).await.unwrap();
    let watcher = {
        let (watching, sizes) = (Arc::clone(&watching), Arc::clone(&sizes));
        let mut conn = redis.inspect().await;
        tokio::spawn(async move {
            while watching.load(std::sync::atomic::Ordering::SeqCst) {
                let size: u64 = redis::cmd("DBSIZE").query_async(&mut conn).await.unwrap();
                sizes.lock().unwrap().insert(size);
            }
        })
    };
    for _ in 0..300 {
        let before = record_of(&store, &id, now()).await.unwrap().unwrap();
        let Rotated::Moved(new_id, moved) = store
            .rotate(&id, &Version::UNKNOWN, now(), |_| true)
            .await
            .unwrap()
        else {
            panic!("not moved");
        };
        assert_eq!(record_of(&store, &id, now()).await.unwrap(), None);
        assert_eq!(
            record_of(&store, &new_id, now()).await.unwrap(),
            Some(moved.clone())
        );
        assert_eq!(moved, before);
        id = new_id;
    }
    watching.store(false, std::sync::atomic::Ordering::SeqCst);
    watcher.await.unwrap();
    assert_eq!(*sizes.lock().unwrap(), [1].into());

    let Rotated::Deleted = store
        .rotate(&id, &Version::UNKNOWN, now(), |_| false)
        .await
        .unwrap()
    else {
        panic!("not deleted");
    };
    let mut conn = redis.inspect().await;
    assert!(session_keys(&mut conn).await.is_empty());
}

// ---------------------------------------------------------------- expiry

#[tokio::test]
#[ignore = "needs redis-server: apt-get install redis-server"]
async fn redis_expires_a_session_at_its_deadline() {
    let redis = RedisServer::start();
    let store = redis.store().await;
    let mut r = record();
    r.expires = now() + 2;
    let id = store.create(&r).await.unwrap();
    let mut conn = redis.inspect().await;
    let deadline = pexpiretime(&mut conn, &id).await;
    assert_eq!(deadline, r.expires * 1000);
    let give_up = Instant::now() + TIMEOUT;
    while get(&mut conn, &key_of(&id)).await.is_some() {
        assert!(Instant::now() < give_up, "the key outlived its PXAT");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(store.count(now()).await.unwrap(), 0);
}

#[tokio::test]
#[ignore = "needs redis-server: apt-get install redis-server"]
async fn an_expired_record_that_is_read_is_refused_and_deleted() {
    // Redis has not dropped it yet (its clock lags ours, or an operator
    // restored a backup): latch judges the record itself.
    let redis = RedisServer::start();
    let store = redis.store().await;
    let mut r = record();
    r.expires = now() - 1;
    let id = SessionId::generate();
    let mut conn = redis.inspect().await;
    let _: () = redis::cmd("SET")
        .arg(key_of(&id))
        .arg(serde_json::to_vec(&r).unwrap())
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!(store
        .modify(&id, &Version::UNKNOWN, now(), |r| r.set_str(THEME, "light"))
        .await
        .unwrap()
        .is_none());
    assert!(matches!(
        store
            .rotate(&id, &Version::UNKNOWN, now(), |_| true)
            .await
            .unwrap(),
        Rotated::Gone
    ));
    assert!(store.load(&id, now()).await.unwrap().is_none());
    assert_eq!(
        get(&mut conn, &key_of(&id)).await,
        None,
        "the expired record was not deleted"
    );
}

#[tokio::test]
#[ignore = "needs redis-server: apt-get install redis-server"]
async fn with_an_idle_timeout_the_deadline_follows_seen() {
    let redis = RedisServer::start();
    let store = redis.store_with(60).await;
    let t = now();
    let r = Record::new(t, 3600, 60, "csrf-token".into());
    let id = store.create(&r).await.unwrap();
    let mut conn = redis.inspect().await;
    assert_eq!(pexpiretime(&mut conn, &id).await, (t + 60) * 1000);
    store
        .modify(&id, &Version::UNKNOWN, t + 30, |r| r.seen = Some(t + 30))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(pexpiretime(&mut conn, &id).await, (t + 90) * 1000);
    // Unused for the whole idle timeout: refused, whatever Redis still holds.
    assert_eq!(record_of(&store, &id, t + 90).await.unwrap(), None);
}

// ------------------------------------------------- epochs and throttling

#[tokio::test]
#[ignore = "needs redis-server: apt-get install redis-server"]
async fn a_bumped_epoch_is_seen_by_the_other_instance_in_the_same_read() {
    let redis = RedisServer::start();
    let (a, b) = (redis.store().await, redis.store().await);
    let user = "böb*[x]?";
    let id = a.create(&signed_in(user)).await.unwrap();
    assert_eq!(b.epoch(user).await.unwrap(), 0);
    assert_eq!(b.load(&id, now()).await.unwrap().unwrap().epoch, 0);
    assert_eq!(a.bump_epoch(user).await.unwrap(), 1);
    assert_eq!(a.bump_epoch(user).await.unwrap(), 2);
    assert_eq!(b.epoch(user).await.unwrap(), 2);
    let Stored {
        record: loaded,
        epoch,
        ..
    } = b.load(&id, now()).await.unwrap().unwrap();
    assert_eq!((loaded.user(), epoch), (Some(user), 2));
    assert_eq!(b.epoch("böb").await.unwrap(), 0, "epochs are per user");
    let anonymous = a.create(&record()).await.unwrap();
    assert_eq!(b.load(&anonymous, now()).await.unwrap().unwrap().epoch, 0);
}

fn paced(name: &str, burst: u32, interval: Duration) -> Limit {
    Limit {
        counter: Counter::named(name),
        rule: Rule {
            burst,
            interval,
            max_wait: Duration::ZERO,
        },
        counts: Counts::WhenAdmitted,
    }
}

fn admitted(paced: Paced) -> bool {
    matches!(paced, Paced::Admitted { .. })
}

#[tokio::test]
#[ignore = "needs redis-server: apt-get install redis-server"]
async fn a_pace_counts_attempts_on_every_instance() {
    let redis = RedisServer::start();
    let (a, b) = (redis.store().await, redis.store().await);
    let window = Duration::from_secs(900);
    let pair = paced("203.0.113.7 alice", 5, window);
    for store in [&a, &b, &a, &b, &a] {
        assert!(admitted(store.pace(&[pair]).await.unwrap()));
    }
    let Paced::Refused { limit, retry_after } = b.pace(&[pair]).await.unwrap() else {
        panic!("a sixth attempt was admitted");
    };
    assert_eq!(limit, 0);
    assert!(
        retry_after > Duration::from_secs(890) && retry_after <= window,
        "{retry_after:?}"
    );
    let other = paced("203.0.113.7 bob", 5, window);
    assert!(admitted(a.pace(&[other]).await.unwrap()));
    b.forget(&pair.counter).await.unwrap();
    assert!(admitted(a.pace(&[pair]).await.unwrap()));
}

#[tokio::test]
#[ignore = "needs redis-server: apt-get install redis-server"]
async fn a_refused_attempt_writes_no_key() {
    let redis = RedisServer::start();
    let store = redis.store().await;
    let spent = paced("spent", 1, Duration::from_secs(60));
    assert!(admitted(store.pace(&[spent]).await.unwrap()));
    let pace_keys = || {
        let keys = redis.keys();
        keys.into_iter()
            .filter(|k| k.starts_with("latch:pace:"))
            .count()
    };
    let keys_before = pace_keys();
    for i in 0..200 {
        let fresh = paced(&format!("name {i}"), 5, Duration::from_secs(900));
        let Paced::Refused { limit, .. } = store.pace(&[fresh, spent]).await.unwrap() else {
            panic!("admitted past a spent counter");
        };
        assert_eq!(limit, 1);
    }
    assert_eq!(pace_keys(), keys_before, "200 refusals wrote no key");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs redis-server: apt-get install redis-server"]
async fn attempts_admitted_at_once_never_exceed_the_burst() {
    let redis = RedisServer::start();
    let a = Arc::new(redis.store().await);
    let b = Arc::new(redis.store().await);
    let carol = paced("198.51.100.1 carol", 7, Duration::from_secs(60));
    let attempts: Vec<_> = (0..60)
        .map(|n| {
            let store = Arc::clone(if n % 2 == 0 { &a } else { &b });
            tokio::spawn(async move { store.pace(&[carol]).await })
        })
        .collect();
    let mut count = 0;
    for attempt in attempts {
        count += usize::from(admitted(attempt.await.unwrap().unwrap()));
    }
    assert_eq!(count, 7);
}

#[tokio::test]
#[ignore = "needs redis-server: apt-get install redis-server"]
async fn a_pace_counter_empties_by_itself() {
    let redis = RedisServer::start();
    let store = redis.store().await;
    let x = paced("x", 1, Duration::from_millis(300));
    assert!(admitted(store.pace(&[x]).await.unwrap()));
    assert!(!admitted(store.pace(&[x]).await.unwrap()));
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert!(admitted(store.pace(&[x]).await.unwrap()));
    tokio::time::sleep(Duration::from_millis(400)).await;
    let keys = redis.keys();
    assert!(
        !keys.iter().any(|k| k.starts_with("latch:pace:")),
        "the key expired with its TAT: {keys:?}"
    );
}

// ------------------------------------------------- counting and listing

#[tokio::test]
#[ignore = "needs redis-server: apt-get install redis-server"]
async fn the_live_count_follows_creates_rotates_and_deletes() {
    let redis = RedisServer::start();
    let store = redis.store().await;
    let a = store.create(&record()).await.unwrap();
    let b = store.create(&record()).await.unwrap();
    assert_eq!(store.count(now()).await.unwrap(), 2);
    let Rotated::Moved(..) = store
        .rotate(&a, &Version::UNKNOWN, now(), |_| true)
        .await
        .unwrap()
    else {
        panic!("not moved");
    };
    assert_eq!(store.count(now()).await.unwrap(), 2);
    store.delete(&b).await.unwrap();
    assert_eq!(store.count(now()).await.unwrap(), 1);
    // Past its deadline, a session stops counting once Redis reclaims it.
    let short = Record::new(now(), 1, 0, "token".into());
    store.create(&short).await.unwrap();
    assert_eq!(store.count(now()).await.unwrap(), 2);
    let give_up = Instant::now() + TIMEOUT;
    while store.count(now()).await.unwrap() > 1 {
        assert!(Instant::now() < give_up, "the expired session still counts");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs redis-server: apt-get install redis-server"]
async fn create_anonymous_never_goes_past_the_cap_even_from_two_instances() {
    let redis = RedisServer::start();
    let capped = Settings {
        max_sessions: Some(10),
        ..store_settings(Durability::Strict, 0)
    };
    let a = Arc::new(RedisStore::connect(&redis.url(), capped).await.unwrap());
    let b = Arc::new(RedisStore::connect(&redis.url(), capped).await.unwrap());
    let creates: Vec<_> = (0..40)
        .map(|n| {
            let store = Arc::clone(if n % 2 == 0 { &a } else { &b });
            tokio::spawn(async move { store.create_anonymous(&record(), now()).await })
        })
        .collect();
    let mut made = 0;
    for create in creates {
        made += usize::from(create.await.unwrap().unwrap().is_some());
    }
    assert_eq!(made, 10);
    assert_eq!(a.count(now()).await.unwrap(), 10);
    // Signing in is never refused for room: `create` has no cap.
    a.create(&signed_in("alice")).await.unwrap();
    assert_eq!(b.count(now()).await.unwrap(), 11);
}

#[tokio::test]
#[ignore = "needs redis-server: apt-get install redis-server"]
async fn list_labels_sessions_by_key_hash_never_by_id() {
    let redis = RedisServer::start();
    let store = redis.store().await;
    let alice = store.create(&signed_in("alice")).await.unwrap();
    let anonymous = store.create(&record()).await.unwrap();
    let mut listed = store.list(now()).await.unwrap();
    listed.sort_by_key(|l| l.record.user().map(str::to_owned));
    assert_eq!(listed.len(), 2);
    assert_eq!(listed[0].record.user(), None);
    assert_eq!(listed[1].record.user(), Some("alice"));
    for (listing, id) in listed.iter().zip([&anonymous, &alice]) {
        let label = listing.label.to_string();
        assert_eq!(label, key_of(id)["latch:s:".len()..][..12]);
        assert!(!id.as_str().contains(&label));
    }
    assert_eq!(store.sweep(now(), |_, _| false).await.unwrap().total(), 0);
}

// ---------------------------------------------------------------- durability

/// What strict mode says of a server, after the sentence every such
/// refusal starts with.
fn settings_named(why: &str) -> &str {
    why.strip_prefix("Redis does not keep sessions durably: ")
        .unwrap_or_else(|| panic!("not the durability sentence: {why}"))
}

async fn strict_error(redis: &RedisServer) -> String {
    match RedisStore::connect(&redis.url(), store_settings(Durability::Strict, 0)).await {
        Err(StoreError::NotDurable(why)) => settings_named(&why).to_owned(),
        Err(other) => panic!("not a durability error: {other}"),
        Ok(_) => panic!("strict mode accepted a server that can lose writes"),
    }
}

#[tokio::test]
#[ignore = "needs redis-server: apt-get install redis-server"]
async fn strict_mode_refuses_debians_default_naming_appendonly() {
    // Debian's /etc/redis/redis.conf: RDB snapshots only.
    let redis = RedisServer::start_with(&["--appendonly", "no"]);
    let why = strict_error(&redis).await;
    assert!(
        why.starts_with("appendonly is \"no\", latch needs \"yes\""),
        "{why}"
    );
    assert!(why.contains("--redis-durability relaxed"), "{why}");
}

#[tokio::test]
#[ignore = "needs redis-server: apt-get install redis-server"]
async fn strict_mode_names_each_setting_that_can_lose_a_write() {
    for (settings, named) in [
        (
            &["--appendonly", "yes", "--appendfsync", "everysec"][..],
            "appendfsync is \"everysec\"",
        ),
        (
            &[
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
                "--no-appendfsync-on-rewrite",
                "yes",
            ],
            "no-appendfsync-on-rewrite is \"yes\"",
        ),
        (
            &[
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
                "--maxmemory-policy",
                "allkeys-lru",
            ],
            "maxmemory-policy is \"allkeys-lru\"",
        ),
        (
            &[
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
                "--maxmemory-policy",
                "volatile-lru",
            ],
            "maxmemory-policy is \"volatile-lru\"",
        ),
    ] {
        let redis = RedisServer::start_with(settings);
        let why = strict_error(&redis).await;
        assert!(why.starts_with(named), "{settings:?}: {why}");
    }
}

#[tokio::test]
#[ignore = "needs redis-server: apt-get install redis-server"]
async fn strict_mode_refuses_a_server_whose_settings_cannot_be_read() {
    let mut settings = DURABLE.to_vec();
    settings.extend(["--rename-command", "CONFIG", ""]);
    let redis = RedisServer::start_with(&settings);
    let why = strict_error(&redis).await;
    assert!(
        why.starts_with("its settings cannot be read (CONFIG GET refused"),
        "{why}"
    );
    assert!(
        RedisStore::connect(&redis.url(), store_settings(Durability::Relaxed, 0))
            .await
            .is_ok()
    );
}

#[tokio::test]
#[ignore = "needs redis-server: apt-get install redis-server"]
async fn strict_mode_accepts_a_durable_server() {
    let redis = RedisServer::start();
    assert!(
        RedisStore::connect(&redis.url(), store_settings(Durability::Strict, 0))
            .await
            .is_ok()
    );
}

#[tokio::test]
#[ignore = "needs redis-server: apt-get install redis-server"]
async fn relaxed_mode_accepts_a_server_without_appendonly() {
    let redis = RedisServer::start_with(&["--appendonly", "no"]);
    let store = RedisStore::connect(&redis.url(), store_settings(Durability::Relaxed, 0))
        .await
        .unwrap();
    let id = store.create(&record()).await.unwrap();
    assert!(record_of(&store, &id, now()).await.unwrap().is_some());
}

#[tokio::test]
#[ignore = "needs redis-server: apt-get install redis-server"]
async fn a_restart_without_appendonly_is_caught_at_the_next_call() {
    let mut redis = RedisServer::start();
    let store = redis.store().await;
    let id = store.create(&signed_in("alice")).await.unwrap();
    redis.restart_with(&["--appendonly", "no"]);
    // The first call after the restart meets the dropped connection; the
    // next ones check the new server before touching any session.
    let _ = record_of(&store, &id, now()).await;
    let give_up = Instant::now() + TIMEOUT;
    loop {
        match record_of(&store, &id, now()).await {
            Err(StoreError::NotDurable(why)) => {
                let named = settings_named(&why);
                assert!(named.starts_with("appendonly is \"no\""), "{why}");
                break;
            }
            Err(StoreError::Unavailable(_)) => {}
            other => panic!("a non-durable server was used: {other:?}"),
        }
        assert!(Instant::now() < give_up, "never noticed the restart");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    redis.restart_with(DURABLE);
    wait_until_available(&store).await;
}

// ---------------------------------------------------------------- outages

/// Polls until the store answers again (bounded).
async fn wait_until_available(store: &RedisStore) {
    let give_up = Instant::now() + TIMEOUT;
    while let Err(e) = store.epoch("alice").await {
        assert!(matches!(e, StoreError::Unavailable(_)), "{e}");
        assert!(Instant::now() < give_up, "the store did not come back: {e}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
#[ignore = "needs redis-server: apt-get install redis-server"]
async fn a_killed_redis_is_unavailable_within_the_bound_and_the_store_recovers_by_itself() {
    let mut redis = RedisServer::start();
    let store = redis.store().await;
    let id = store.create(&signed_in("alice")).await.unwrap();
    redis.kill();
    for _ in 0..3 {
        let started = Instant::now();
        let result = record_of(&store, &id, now()).await;
        assert!(
            matches!(result, Err(StoreError::Unavailable(_))),
            "{result:?}"
        );
        assert!(
            started.elapsed() <= COMMAND_TIMEOUT + Duration::from_millis(500),
            "{:?}",
            started.elapsed()
        );
        let result = store
            .modify(&id, &Version::UNKNOWN, now(), |r| r.set_str(THEME, "light"))
            .await;
        assert!(
            matches!(result, Err(StoreError::Unavailable(_))),
            "{result:?}"
        );
    }
    redis.restart_with(DURABLE);
    wait_until_available(&store).await;
    // appendfsync always: the session written before the kill is there.
    assert!(record_of(&store, &id, now()).await.unwrap().is_some());
    assert!(store
        .modify(&id, &Version::UNKNOWN, now(), |r| r.set_str(THEME, "light"))
        .await
        .unwrap()
        .is_some());
}

#[tokio::test]
#[ignore = "needs redis-server: apt-get install redis-server"]
async fn a_stopped_redis_never_hangs_a_call_past_the_bound() {
    // SIGSTOP: the socket accepts, nothing answers (a hung server).
    let redis = RedisServer::start();
    let store = redis.store().await;
    redis.signal("STOP");
    let started = Instant::now();
    let result = record_of(&store, &SessionId::generate(), now()).await;
    let waited = started.elapsed();
    redis.signal("CONT");
    assert!(
        matches!(result, Err(StoreError::Unavailable(_))),
        "{result:?}"
    );
    assert!(
        waited <= COMMAND_TIMEOUT + Duration::from_millis(500),
        "{waited:?}"
    );
    wait_until_available(&store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs redis-server: apt-get install redis-server"]
async fn logouts_acknowledged_before_a_kill_survive_the_restart() {
    let mut redis = RedisServer::start();
    let store = Arc::new(redis.store().await);
    let mut ids = Vec::new();
    for _ in 0..2000 {
        ids.push(store.create(&signed_in("alice")).await.unwrap());
    }
    // Sixteen workers sign sessions out (keep mode and flush mode in turn)
    // and note each logout Redis acknowledged; Redis is killed mid-way.
    let queue = Arc::new(Mutex::new(ids));
    let acknowledged = Arc::new(Mutex::new(Vec::new()));
    let workers: Vec<_> = (0..16)
        .map(|_| {
            let (store, queue, acknowledged) = (
                Arc::clone(&store),
                Arc::clone(&queue),
                Arc::clone(&acknowledged),
            );
            tokio::spawn(async move {
                loop {
                    let next = queue.lock().unwrap().pop();
                    let Some(id) = next else { return };
                    let flush = id.as_str().as_bytes()[0] % 2 == 0;
                    let done = if flush {
                        store.delete(&id).await.map(|_| None)
                    } else {
                        store
                            .rotate(&id, &Version::UNKNOWN, now(), keep_mode_logout)
                            .await
                            .map(|r| match r {
                                Rotated::Moved(new_id, _) => Some(new_id),
                                other => panic!("{other:?}"),
                            })
                    };
                    match done {
                        Ok(new_id) => acknowledged.lock().unwrap().push((id, new_id)),
                        Err(_) => return,
                    }
                }
            })
        })
        .collect();
    let give_up = Instant::now() + TIMEOUT;
    while acknowledged.lock().unwrap().len() < 150 {
        assert!(Instant::now() < give_up, "logouts too slow");
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    redis.kill();
    let killed_at = acknowledged.lock().unwrap().len();
    for worker in workers {
        worker.await.unwrap();
    }
    let acknowledged = std::mem::take(&mut *acknowledged.lock().unwrap());
    // The kill came mid-way: some logouts were acknowledged, not all.
    assert!(
        acknowledged.len() >= killed_at && acknowledged.len() < 2000,
        "{}",
        acknowledged.len()
    );
    eprintln!(
        "{} logouts acknowledged before the kill",
        acknowledged.len()
    );

    redis.restart_with(DURABLE);
    let store = redis.store().await;
    for (old, new) in &acknowledged {
        assert_eq!(
            record_of(&store, old, now()).await.unwrap(),
            None,
            "a logout was lost"
        );
        if let Some(new) = new {
            let moved = record_of(&store, new, now())
                .await
                .unwrap()
                .expect("the moved session was lost");
            assert_eq!(moved.user(), None);
        }
    }
}

#[tokio::test]
#[ignore = "needs redis-server: apt-get install redis-server"]
async fn a_full_redis_refuses_new_data_but_a_logout_can_still_delete() {
    let mut settings = DURABLE.to_vec();
    settings.extend(["--maxmemory", "3mb", "--maxmemory-policy", "noeviction"]);
    let redis = RedisServer::start_with(&settings);
    let store = redis.store().await;
    let id = store.create(&signed_in("alice")).await.unwrap();
    let other = store.create(&signed_in("alice")).await.unwrap();
    let mut conn = redis.inspect().await;
    fill(&mut conn).await;
    let full = |r: Result<_, StoreError>| matches!(r, Err(StoreError::Full(_)));
    assert!(full(store.create(&record()).await.map(|_| ())));
    assert!(full(
        store
            .modify(&id, &Version::UNKNOWN, now(), |r| r.set_str(THEME, "light"))
            .await
            .map(|_| ())
    ));
    assert!(full(
        store
            .rotate(&id, &Version::UNKNOWN, now(), keep_mode_logout)
            .await
            .map(|_| ())
    ));
    // The sign-in still stands: nothing was half done.
    assert_eq!(
        record_of(&store, &id, now()).await.unwrap().unwrap().user(),
        Some("alice")
    );
    // What a logout needs still works, each at the limit: "sign out
    // everywhere", a flush, and a keep-mode logout falling back to a flush.
    assert_eq!(store.bump_epoch("alice").await.unwrap(), 1);
    fill(&mut conn).await;
    assert!(store.delete(&other).await.unwrap());
    fill(&mut conn).await;
    assert!(matches!(
        store
            .rotate(&id, &Version::UNKNOWN, now(), |_| false)
            .await
            .unwrap(),
        Rotated::Deleted
    ));
    assert!(session_keys(&mut conn).await.is_empty());
}

/// Fills Redis up to its `maxmemory` with keys of its own, in smaller and
/// smaller values (a refused value stops counting once it is refused).
async fn fill(conn: &mut MultiplexedConnection) {
    for size in [64 * 1024, 4096, 256, 16] {
        let filler = vec![b'x'; size];
        for n in 0.. {
            assert!(n < 100_000, "maxmemory never reached");
            let mut name = [0u8; 8];
            getrandom::fill(&mut name).unwrap();
            let set: redis::RedisResult<()> = redis::cmd("SET")
                .arg(format!("filler:{}", latch::http::encoding::hex(&name)))
                .arg(&filler)
                .query_async(conn)
                .await;
            if set.is_err() {
                break;
            }
        }
    }
}

// ---------------------------------------------------------------- URLs

#[tokio::test]
async fn a_bad_url_is_refused_without_repeating_it() {
    for url in [
        "http://user:s3cret@host/0",
        "redis://user:s3cret@host:notaport/0",
        "/var/run/redis.sock",
    ] {
        match RedisStore::connect(url, store_settings(Durability::Strict, 0)).await {
            Err(StoreError::Unusable(why)) => assert!(!why.contains("s3cret"), "{why}"),
            Err(other) => panic!("{url}: {other}"),
            Ok(_) => panic!("{url} accepted"),
        }
    }
}

#[tokio::test]
#[ignore = "needs redis-server: apt-get install redis-server"]
async fn credentials_come_from_the_url_and_a_refusal_names_no_password() {
    let mut settings = DURABLE.to_vec();
    settings.extend(["--requirepass", "s3cret"]);
    let redis = RedisServer::start_with(&settings);
    for url in [redis.url(), format!("{}?pass=wrong", redis.url())] {
        match RedisStore::connect(&url, store_settings(Durability::Strict, 0)).await {
            Err(StoreError::Unusable(why)) => {
                assert!(
                    why.contains("credentials") && !why.contains("wrong"),
                    "{why}"
                )
            }
            other => panic!("{:?}", other.err()),
        }
    }
    let url = format!("{}?pass=s3cret", redis.url());
    let store = RedisStore::connect(&url, store_settings(Durability::Strict, 0))
        .await
        .unwrap();
    store.create(&record()).await.unwrap();
}

/// `rediss://`: TLS with the server's certificate checked against the
/// system's roots, or the file `SSL_CERT_FILE` names (here: a CA made for
/// the test with `openssl`).
#[cfg(feature = "redis-tls")]
#[tokio::test]
#[ignore = "needs redis-server: apt-get install redis-server"]
async fn rediss_speaks_tls_and_checks_the_server_certificate() {
    use std::process::{Command, Stdio};
    let certs = TempDir::new();
    let dir = certs.path();
    let openssl = |args: &[&str]| {
        let status = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("openssl");
        assert!(status.success(), "openssl {args:?}");
    };
    openssl(&[
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-days",
        "1",
        "-subj",
        "/CN=test CA",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
    ]);
    openssl(&[
        "req",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-subj",
        "/CN=localhost",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
    ]);
    std::fs::write(dir.join("san.ext"), "subjectAltName=DNS:localhost\n").unwrap();
    openssl(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "1",
        "-extfile",
        "san.ext",
        "-out",
        "server.pem",
    ]);

    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
        .to_string();
    let path = |name: &str| dir.join(name).display().to_string();
    let (cert, key, ca) = (path("server.pem"), path("server.key"), path("ca.pem"));
    let mut settings = DURABLE.to_vec();
    settings.extend([
        "--bind",
        "127.0.0.1",
        "--tls-port",
        &port,
        "--tls-auth-clients",
        "no",
    ]);
    settings.extend([
        "--tls-cert-file",
        &cert,
        "--tls-key-file",
        &key,
        "--tls-ca-cert-file",
        &ca,
    ]);
    let redis = RedisServer::start_with(&settings);
    // SAFETY: set before any TLS connection of this test binary is made;
    // no other test reads it.
    std::env::set_var("SSL_CERT_FILE", &ca);
    let url = format!("rediss://localhost:{port}/0");
    let store = RedisStore::connect(&url, store_settings(Durability::Strict, 0))
        .await
        .unwrap();
    let id = store.create(&record()).await.unwrap();
    assert!(record_of(&store, &id, now()).await.unwrap().is_some());
    // The certificate names localhost, not 127.0.0.1: refused.
    let wrong_name = format!("rediss://127.0.0.1:{port}/0");
    let refused = RedisStore::connect(&wrong_name, store_settings(Durability::Strict, 0)).await;
    let Err(why) = refused else {
        panic!("a certificate for another name was accepted");
    };
    assert!(why.to_string().contains("certificate"), "{why}");
    drop(redis);
}

#[cfg(not(feature = "redis-tls"))]
#[tokio::test]
async fn rediss_without_the_tls_feature_says_how_to_get_it() {
    let Err(StoreError::Unusable(why)) =
        RedisStore::connect("rediss://h:6380/0", store_settings(Durability::Strict, 0)).await
    else {
        panic!("rediss:// accepted without TLS support");
    };
    assert!(why.contains("--features redis-tls"), "{why}");
}

#[tokio::test]
async fn an_unreachable_redis_is_unavailable_within_the_bound() {
    let dir = TempDir::new();
    let url = format!("redis+unix://{}", dir.path().join("nobody.sock").display());
    let started = Instant::now();
    let result = RedisStore::connect(&url, store_settings(Durability::Strict, 0)).await;
    assert!(
        matches!(result, Err(StoreError::Unavailable(_))),
        "{:?}",
        result.err()
    );
    assert!(
        started.elapsed() < Duration::from_secs(6),
        "{:?}",
        started.elapsed()
    );
}
