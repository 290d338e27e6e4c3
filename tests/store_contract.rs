//! The session store contract (`latch::sessions::store`), written once as
//! functions of a `&Store`, and run against each backend: the file store
//! now (`mod files` at the end). A new backend adds its own runner module
//! with the same list.

use latch::sessions::files::FileStore;
use latch::sessions::store::{Rotated, Store, Stored, Version};
use latch::sessions::{Record, SessionId, THEME};
use serde_json::json;

use crate::support::TempDir;

const NOW: u64 = 1_800_000_000;
/// No cap on anonymous sessions.
const UNCAPPED: Option<u64> = None;

fn record() -> Record {
    Record::new(NOW, 3600, 0, "token".into())
}

fn signed_in(user: &str) -> Record {
    let mut record = record();
    record.sign_in(user, "hash", NOW, "token-2");
    record
}

async fn live(store: &Store) -> usize {
    store.list(NOW).await.unwrap().len()
}

// Load.

async fn load_of_an_unknown_id_is_none_and_creates_nothing(store: &Store) {
    assert!(store
        .load(&SessionId::generate(), NOW)
        .await
        .unwrap()
        .is_none());
    assert_eq!(live(store).await, 0);
    assert_eq!(store.count(NOW).await.unwrap(), 0);
}

async fn create_stores_the_record_under_a_fresh_id(store: &Store) {
    let mut first = record();
    first.set_str(THEME, "dark");
    let a = store.create(&first).await.unwrap();
    let b = store.create(&first).await.unwrap();
    assert_ne!(a, b, "every create makes a new id");
    let Stored { record, epoch, .. } = store.load(&a, NOW).await.unwrap().unwrap();
    assert_eq!(record, first);
    assert_eq!(epoch, 0, "no one signed in: epoch 0");
    assert_eq!(live(store).await, 2);
}

async fn load_returns_the_epoch_of_the_signed_in_user(store: &Store) {
    let alice = store.create(&signed_in("alice")).await.unwrap();
    let bob = store.create(&signed_in("bob")).await.unwrap();
    assert_eq!(store.bump_epoch("alice").await.unwrap(), 1);
    assert_eq!(store.bump_epoch("alice").await.unwrap(), 2);
    assert_eq!(store.load(&alice, NOW).await.unwrap().unwrap().epoch, 2);
    assert_eq!(store.load(&bob, NOW).await.unwrap().unwrap().epoch, 0);
    assert_eq!(store.epoch("alice").await.unwrap(), 2);
    assert_eq!(store.epoch("carol").await.unwrap(), 0);
}

async fn an_expired_session_loads_as_none(store: &Store) {
    let id = store.create(&record()).await.unwrap();
    assert!(store.load(&id, NOW + 3599).await.unwrap().is_some());
    assert!(store.load(&id, NOW + 3600).await.unwrap().is_none());
    assert!(store.list(NOW + 3600).await.unwrap().is_empty());
}

/// Run with an idle timeout of 60 s.
async fn idle_timeout_expires_an_unused_session(store: &Store) {
    assert_eq!(store.idle_timeout(), 60);
    let id = store
        .create(&Record::new(NOW, 3600, 60, "token".into()))
        .await
        .unwrap();
    assert!(store.load(&id, NOW + 59).await.unwrap().is_some());
    store
        .modify(&id, &Version::UNKNOWN, NOW + 59, |r| {
            r.seen = Some(NOW + 59)
        })
        .await
        .unwrap();
    assert!(store.load(&id, NOW + 100).await.unwrap().is_some());
    assert!(store.load(&id, NOW + 119).await.unwrap().is_none());
}

// Modify.

async fn modify_after_delete_writes_nothing_back(store: &Store) {
    // Django #21608, express-session #632: a request that loaded the
    // session before a logout must not resurrect it when it saves.
    let id = store.create(&record()).await.unwrap();
    let loaded_earlier = store.load(&id, NOW).await.unwrap();
    assert!(loaded_earlier.is_some());
    assert!(store.delete(&id).await.unwrap());
    let outcome = store
        .modify(&id, &Version::UNKNOWN, NOW, |r| r.set_str(THEME, "dark"))
        .await
        .unwrap();
    assert!(outcome.is_none());
    assert!(store.load(&id, NOW).await.unwrap().is_none());
    assert_eq!(live(store).await, 0);
}

async fn modify_applies_the_change_to_what_is_stored_now(store: &Store) {
    let id = store.create(&record()).await.unwrap();
    store
        .modify(&id, &Version::UNKNOWN, NOW, |r| r.set_str("a", "1"))
        .await
        .unwrap();
    let (written, out) = store
        .modify(&id, &Version::UNKNOWN, NOW, |r| {
            r.set_str("b", "2");
            "returned"
        })
        .await
        .unwrap()
        .unwrap();
    assert_eq!(out, "returned");
    let r = store.load(&id, NOW).await.unwrap().unwrap().record;
    assert_eq!(r, written, "the record returned is the one stored");
    assert_eq!((r.get_str("a"), r.get_str("b")), (Some("1"), Some("2")));
}

async fn concurrent_modifies_lose_no_update(store: &Store) {
    let id = store.create(&record()).await.unwrap();
    let runtime = tokio::runtime::Handle::current();
    std::thread::scope(|scope| {
        for _ in 0..8 {
            scope.spawn(|| {
                runtime.block_on(async {
                    for _ in 0..50 {
                        store
                            .modify(&id, &Version::UNKNOWN, NOW, |r| {
                                let n = r.data.get("n").and_then(|v| v.as_u64()).unwrap_or(0);
                                r.data.insert("n".into(), json!(n + 1));
                            })
                            .await
                            .unwrap()
                            .unwrap();
                    }
                })
            });
        }
    });
    let r = store.load(&id, NOW).await.unwrap().unwrap().record;
    assert_eq!(r.data["n"], json!(400));
}

// A change started from the version a request loaded (`Version`).

async fn a_change_from_a_stale_version_applies_to_what_is_stored_now(store: &Store) {
    let id = store.create(&record()).await.unwrap();
    let version = store.load(&id, NOW).await.unwrap().unwrap().version;
    // Another request changes the session after this one loaded it.
    store
        .modify(&id, &Version::UNKNOWN, NOW, |r| r.set_str("a", "1"))
        .await
        .unwrap()
        .unwrap();
    let (written, ()) = store
        .modify(&id, &version, NOW, |r| r.set_str("b", "2"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (written.get_str("a"), written.get_str("b")),
        (Some("1"), Some("2"))
    );
    // The same for a move: the other request's change moves with it.
    store
        .modify(&id, &Version::UNKNOWN, NOW, |r| r.set_str("c", "3"))
        .await
        .unwrap()
        .unwrap();
    let Rotated::Moved(new, moved) = store.rotate(&id, &version, NOW, |_| true).await.unwrap()
    else {
        panic!("expected a move");
    };
    assert_eq!(
        (moved.get_str("a"), moved.get_str("b"), moved.get_str("c")),
        (Some("1"), Some("2"), Some("3"))
    );
    assert_eq!(store.load(&new, NOW).await.unwrap().unwrap().record, moved);
    assert!(store.load(&id, NOW).await.unwrap().is_none());
}

async fn a_change_from_a_version_loaded_before_a_logout_writes_nothing_back(store: &Store) {
    let id = store.create(&signed_in("alice")).await.unwrap();
    let version = store.load(&id, NOW).await.unwrap().unwrap().version;
    // A logout elsewhere moves the session away.
    let Rotated::Moved(after_logout, _) = store
        .rotate(&id, &Version::UNKNOWN, NOW, |r| {
            r.remove_auth();
            true
        })
        .await
        .unwrap()
    else {
        panic!("expected a move");
    };
    let modified = store.modify(&id, &version, NOW, |r| r.set_str(THEME, "dark"));
    assert!(modified.await.unwrap().is_none());
    let rotated = store.rotate(&id, &version, NOW, |_| true).await.unwrap();
    assert!(matches!(rotated, Rotated::Gone), "{rotated:?}");
    assert!(store.load(&id, NOW).await.unwrap().is_none());
    let listed = store.list(NOW).await.unwrap();
    assert_eq!(listed.len(), 1, "only the logged-out session");
    assert_eq!(listed[0].label, after_logout.label());
    assert_eq!(listed[0].record.user(), None);
}

// Rotate and delete.

async fn rotate_moves_the_data_to_a_new_id_and_the_old_id_names_nothing(store: &Store) {
    let mut first = record();
    first.set_str(THEME, "dark");
    let old = store.create(&first).await.unwrap();
    let rotated = store
        .rotate(&old, &Version::UNKNOWN, NOW, |r| {
            r.set_str("x", "y");
            true
        })
        .await
        .unwrap();
    let Rotated::Moved(new, moved) = rotated else {
        panic!("expected a move, got {rotated:?}");
    };
    assert_ne!(new, old);
    assert!(store.load(&old, NOW).await.unwrap().is_none());
    let loaded = store.load(&new, NOW).await.unwrap().unwrap().record;
    assert_eq!(loaded, moved);
    assert_eq!(loaded.get_str(THEME), Some("dark"));
    assert_eq!(loaded.get_str("x"), Some("y"));
    assert_eq!(
        (loaded.created, loaded.expires),
        (first.created, first.expires)
    );
    assert_eq!(live(store).await, 1);
    // A second rotate of the old id finds nothing.
    assert!(matches!(
        store
            .rotate(&old, &Version::UNKNOWN, NOW, |_| true)
            .await
            .unwrap(),
        Rotated::Gone
    ));
    assert_eq!(live(store).await, 1);
}

async fn rotate_deletes_when_nothing_is_worth_keeping(store: &Store) {
    let id = store.create(&record()).await.unwrap();
    assert!(matches!(
        store
            .rotate(&id, &Version::UNKNOWN, NOW, |_| false)
            .await
            .unwrap(),
        Rotated::Deleted
    ));
    assert!(store.load(&id, NOW).await.unwrap().is_none());
    assert_eq!(live(store).await, 0);
}

async fn delete_says_whether_there_was_a_session(store: &Store) {
    let id = store.create(&record()).await.unwrap();
    assert!(store.delete(&id).await.unwrap());
    assert!(!store.delete(&id).await.unwrap());
    assert!(!store.delete(&SessionId::generate()).await.unwrap());
    assert!(store.load(&id, NOW).await.unwrap().is_none());
}

// Listing, counting and sweeping.

async fn list_shows_live_sessions_oldest_first_with_their_records_and_epochs(store: &Store) {
    for (created, user) in [(NOW - 5, "carol"), (NOW - 30, "alice"), (NOW - 10, "bob")] {
        let mut r = Record::new(created, 3600, 0, "token".into());
        r.sign_in(user, "hash", created, "token-2");
        store.create(&r).await.unwrap();
    }
    store.create(&record()).await.unwrap();
    store.bump_epoch("bob").await.unwrap();
    let rows: Vec<(u64, Option<String>, u64)> = store
        .list(NOW)
        .await
        .unwrap()
        .into_iter()
        .map(|l| {
            (
                l.record.created,
                l.record.user().map(str::to_owned),
                l.epoch,
            )
        })
        .collect();
    assert_eq!(
        rows,
        vec![
            (NOW - 30, Some("alice".into()), 0),
            (NOW - 10, Some("bob".into()), 1),
            (NOW - 5, Some("carol".into()), 0),
            (NOW, None, 0),
        ]
    );
    let labels: Vec<String> = store
        .list(NOW)
        .await
        .unwrap()
        .iter()
        .map(|l| l.label.to_string())
        .collect();
    assert!(labels.iter().all(|l| l.len() == 12), "{labels:?}");
}

/// Run with `max_sessions` 3.
async fn create_anonymous_refuses_past_max_sessions_and_deletions_make_room(store: &Store) {
    let first = store
        .create_anonymous(&record(), NOW)
        .await
        .unwrap()
        .unwrap();
    store
        .create_anonymous(&record(), NOW)
        .await
        .unwrap()
        .unwrap();
    store.create(&record()).await.unwrap();
    assert_eq!(store.count(NOW).await.unwrap(), 3);
    assert!(store
        .create_anonymous(&record(), NOW)
        .await
        .unwrap()
        .is_none());
    assert_eq!(live(store).await, 3, "nothing stored past the cap");
    // Sign-in is never refused by the cap.
    store.create(&record()).await.unwrap();
    assert_eq!(store.count(NOW).await.unwrap(), 4);
    assert!(store.delete(&first).await.unwrap());
    let moved_away = store.create(&record()).await.unwrap();
    assert!(store
        .rotate(&moved_away, &Version::UNKNOWN, NOW, |_| false)
        .await
        .is_ok());
    assert_eq!(store.count(NOW).await.unwrap(), 3);
    assert!(store
        .create_anonymous(&record(), NOW)
        .await
        .unwrap()
        .is_none());
}

async fn a_sweep_signs_out_what_the_change_says_and_keeps_the_rest(store: &Store) {
    let mut alices = signed_in("alice");
    alices.set_str(THEME, "dark");
    let void = store.create(&alices).await.unwrap();
    let kept = store.create(&signed_in("bob")).await.unwrap();
    store.bump_epoch("alice").await.unwrap();
    let sign_out_alice = |r: &mut Record, epoch: u64| {
        let void = r.user() == Some("alice") && epoch == 1;
        if void {
            r.remove_auth();
            r.set_csrf("renewed");
        }
        void
    };
    assert_eq!(store.sweep(NOW, sign_out_alice).await.unwrap().total(), 0);
    let stripped = store.load(&void, NOW).await.unwrap().unwrap().record;
    assert_eq!(stripped.user(), None, "signed out in the store");
    assert_eq!(stripped.get_str(THEME), Some("dark"), "the rest stays");
    assert_eq!(stripped.csrf_token(), Some("renewed"));
    let bobs = store.load(&kept, NOW).await.unwrap().unwrap().record;
    assert_eq!(bobs.user(), Some("bob"));
}

async fn a_sweep_forgets_expired_sessions(store: &Store) {
    let live_one = store.create(&record()).await.unwrap();
    let mut old = record();
    old.expires = NOW - 1;
    store.create(&old).await.unwrap();
    store.sweep(NOW, |_, _| false).await.unwrap();
    assert!(store.load(&live_one, NOW).await.unwrap().is_some());
    assert_eq!(live(store).await, 1);
}

// Epochs.

async fn an_epoch_only_grows(store: &Store) {
    assert_eq!(store.epoch("alice").await.unwrap(), 0);
    assert_eq!(store.bump_epoch("alice").await.unwrap(), 1);
    assert_eq!(store.bump_epoch("alice").await.unwrap(), 2);
    assert_eq!(store.bump_epoch("bob").await.unwrap(), 1, "per user");
    assert_eq!(store.epoch("alice").await.unwrap(), 2);
}

/// A backend whose stores can be closed and opened again on the same data.
trait Reopen {
    fn open(&self) -> Store;
}

async fn sessions_and_epochs_survive_a_restart(backend: &dyn Reopen) {
    let id = {
        let store = backend.open();
        assert_eq!(store.bump_epoch("alice").await.unwrap(), 1);
        assert_eq!(store.bump_epoch("alice").await.unwrap(), 2);
        store.create(&signed_in("alice")).await.unwrap()
    };
    let store = backend.open();
    assert_eq!(store.epoch("alice").await.unwrap(), 2);
    assert_eq!(store.epoch("bob").await.unwrap(), 0);
    assert_eq!(store.load(&id, NOW).await.unwrap().unwrap().epoch, 2);
    // The epochs are not sessions: sweeps and listings skip them.
    assert_eq!(store.sweep(NOW, |_, _| false).await.unwrap().total(), 0);
    assert_eq!(live(&store).await, 1);
}

// Sign-ins per user.

async fn keep_newest_sign_ins_ends_that_users_oldest_sessions_only(store: &Store) {
    let sign_in_at = |user: &str, at: u64| {
        let mut record = record();
        record.sign_in(user, "hash", at, "token-2");
        record
    };
    let bob = store.create(&sign_in_at("bob", NOW)).await.unwrap();
    let mut alice = Vec::new();
    for i in 0..5 {
        let record = sign_in_at("alice", NOW + i);
        let id = store.create(&record).await.unwrap();
        let ended = store.keep_newest_sign_ins(&id, &record, 3).await.unwrap();
        assert_eq!(ended, usize::from(i >= 3), "sign-in {i}");
        alice.push(id);
    }
    for (i, id) in alice.iter().enumerate() {
        let live = store.load(id, NOW).await.unwrap().is_some();
        assert_eq!(live, i >= 2, "alice's session {i}");
    }
    assert!(store.load(&bob, NOW).await.unwrap().is_some());
    // A session signed out meanwhile is not counted, and not ended.
    store
        .modify(&alice[2], &Version::UNKNOWN, NOW, |r| r.remove_auth())
        .await
        .unwrap();
    let latest = sign_in_at("alice", NOW + 10);
    let newest = store.create(&latest).await.unwrap();
    assert_eq!(
        store
            .keep_newest_sign_ins(&newest, &latest, 3)
            .await
            .unwrap(),
        0
    );
    for id in [&alice[2], &alice[3], &alice[4], &newest] {
        assert!(store.load(id, NOW).await.unwrap().is_some());
    }
    assert_eq!(
        store
            .keep_newest_sign_ins(&bob, &record(), 0)
            .await
            .unwrap(),
        0
    );
}

// Paces.

async fn a_pace_counts_an_attempt_on_every_counter_or_on_none(store: &Store) {
    use latch::sessions::pace::{Counter, Counts, Limit, Paced, Rule};
    use std::time::Duration;
    let limit = |name: &str, burst: u32, counts: Counts| Limit {
        counter: Counter::named(name),
        rule: Rule {
            burst,
            interval: Duration::from_secs(600),
            max_wait: Duration::ZERO,
        },
        counts,
    };
    let pair = limit("pair", 2, Counts::WhenAdmitted);
    let address = limit("address", 2, Counts::WhenAdmitted);
    let failures = limit("failures", 1, Counts::Later);
    for _ in 0..2 {
        let paced = store.pace(&[pair, failures]).await.unwrap();
        assert!(matches!(paced, Paced::Admitted { .. }), "{paced:?}");
    }
    let Paced::Refused {
        limit: which,
        retry_after,
    } = store.pace(&[pair, address]).await.unwrap()
    else {
        panic!("a third attempt on a burst of two");
    };
    assert_eq!(which, 0);
    assert!(retry_after > Duration::from_secs(590), "{retry_after:?}");
    // The refusal counted nowhere: the address has both places left.
    for _ in 0..2 {
        let paced = store.pace(&[address]).await.unwrap();
        assert!(matches!(paced, Paced::Admitted { .. }), "{paced:?}");
    }
    assert!(matches!(
        store.pace(&[address]).await.unwrap(),
        Paced::Refused { .. }
    ));
    // A limit counted later counts only when told.
    store.count_attempt(&failures).await.unwrap();
    let Paced::Refused {
        limit: which,
        retry_after,
    } = store.pace(&[failures]).await.unwrap()
    else {
        panic!("a counted failure past a burst of one");
    };
    assert_eq!(which, 0);
    assert!(retry_after > Duration::from_secs(590), "{retry_after:?}");
    store.forget(&pair.counter).await.unwrap();
    assert!(matches!(
        store.pace(&[pair]).await.unwrap(),
        Paced::Admitted { .. }
    ));
}

/// Every contract function the backends share, with the idle timeout
/// and session cap its store is opened with: one list, which each
/// backend's module hands to its own runner (`against_files`,
/// `against_redis`), so that no backend can miss a function.
macro_rules! every_contract_function {
    ($runner:ident) => {
        $runner! {
            load_of_an_unknown_id_is_none_and_creates_nothing(0, UNCAPPED);
            create_stores_the_record_under_a_fresh_id(0, UNCAPPED);
            load_returns_the_epoch_of_the_signed_in_user(0, UNCAPPED);
            an_expired_session_loads_as_none(0, UNCAPPED);
            idle_timeout_expires_an_unused_session(60, UNCAPPED);
            modify_after_delete_writes_nothing_back(0, UNCAPPED);
            modify_applies_the_change_to_what_is_stored_now(0, UNCAPPED);
            concurrent_modifies_lose_no_update(0, UNCAPPED);
            a_change_from_a_stale_version_applies_to_what_is_stored_now(0, UNCAPPED);
            a_change_from_a_version_loaded_before_a_logout_writes_nothing_back(0, UNCAPPED);
            rotate_moves_the_data_to_a_new_id_and_the_old_id_names_nothing(0, UNCAPPED);
            rotate_deletes_when_nothing_is_worth_keeping(0, UNCAPPED);
            delete_says_whether_there_was_a_session(0, UNCAPPED);
            list_shows_live_sessions_oldest_first_with_their_records_and_epochs(0, UNCAPPED);
            create_anonymous_refuses_past_max_sessions_and_deletions_make_room(0, Some(3));
            a_sweep_forgets_expired_sessions(0, UNCAPPED);
            an_epoch_only_grows(0, UNCAPPED);
            keep_newest_sign_ins_ends_that_users_oldest_sessions_only(0, UNCAPPED);
            a_pace_counts_an_attempt_on_every_counter_or_on_none(0, UNCAPPED);
        }
    };
}

/// The file backend: each test in its own temp dir.
mod files {
    use super::*;

    struct Files {
        dir: TempDir,
    }

    impl Files {
        fn new() -> Files {
            Files {
                dir: TempDir::new(),
            }
        }

        fn store(&self, idle_timeout: u64, max_sessions: Option<u64>) -> Store {
            let files = FileStore::open(&self.dir.path().join("s"), idle_timeout).unwrap();
            Store::Files(files.with_max_sessions(max_sessions))
        }
    }

    impl Reopen for Files {
        fn open(&self) -> Store {
            self.store(0, UNCAPPED)
        }
    }

    /// One test per contract function, on a store opened with the idle
    /// timeout and session cap it names.
    macro_rules! against_files {
        ($($test:ident($idle:expr, $max:expr);)*) => {$(
            #[tokio::test(flavor = "multi_thread")]
            async fn $test() {
                let files = Files::new();
                super::$test(&files.store($idle, $max)).await;
            }
        )*};
    }

    every_contract_function!(against_files);
    against_files! {
        // Files only: see the Redis module for why.
        a_sweep_signs_out_what_the_change_says_and_keeps_the_rest(0, UNCAPPED);
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn sessions_and_epochs_survive_a_restart() {
        super::sessions_and_epochs_survive_a_restart(&Files::new()).await;
    }
}

/// The Redis backend: each test on its own `redis-server` (durable, on a
/// unix socket in a temp dir). Ignored by a plain `cargo test`; run them
/// with `cargo test --test tests store_contract::redis:: -- --ignored`.
///
/// One contract function is left out:
/// `a_sweep_signs_out_what_the_change_says_and_keeps_the_rest`. Redis
/// expires sessions itself and its sweep is a no-op; the epochs it keeps
/// beside the sessions are durable and never evicted (the durability check
/// at connect), so there is no lost epochs file for a sweep to guard
/// against, and every request still checks its own sign-in.
mod redis {
    use super::*;
    use crate::support::redis::RedisServer;
    use crate::support::store_settings;
    use latch::sessions::redis::RedisStore;
    use latch::sessions::store::{Durability, Settings};

    struct Redis {
        server: RedisServer,
    }

    impl Redis {
        fn new() -> Redis {
            Redis {
                server: RedisServer::start(),
            }
        }

        async fn store(&self, idle_timeout: u64, max_sessions: Option<u64>) -> Store {
            let settings = Settings {
                max_sessions,
                ..store_settings(Durability::Strict, idle_timeout)
            };
            let redis = RedisStore::connect(&self.server.url(), settings).await;
            Store::Redis(Box::new(redis.unwrap()))
        }
    }

    impl Reopen for Redis {
        /// A new connection to the same server, as a restarted latch makes.
        fn open(&self) -> Store {
            let handle = tokio::runtime::Handle::current();
            tokio::task::block_in_place(|| handle.block_on(self.store(0, UNCAPPED)))
        }
    }

    macro_rules! against_redis {
        ($($test:ident($idle:expr, $max:expr);)*) => {$(
            #[tokio::test(flavor = "multi_thread")]
            #[ignore = "needs redis-server: apt-get install redis-server"]
            async fn $test() {
                let redis = Redis::new();
                super::$test(&redis.store($idle, $max).await).await;
            }
        )*};
    }

    every_contract_function!(against_redis);

    #[tokio::test(flavor = "multi_thread")]
    #[ignore = "needs redis-server: apt-get install redis-server"]
    async fn sessions_and_epochs_survive_a_restart() {
        super::sessions_and_epochs_survive_a_restart(&Redis::new()).await;
    }
}
