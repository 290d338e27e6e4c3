//! Redis with replicas and Sentinel (docs/contract.md, "The Redis store":
//! replicas and Sentinel): two latch instances on a `redis+sentinel://`
//! URL, a logout load over HTTP, the replication stream stopped shortly
//! before the primary is killed (SIGKILL), and then every cookie whose
//! logout got a 303 presented to both instances. Each test starts its own
//! primary, replicas and Sentinels on loopback (`support::sentinel`), and
//! kills them by PID at the end.
//!
//! Ignored by a plain `cargo test`; run them with
//! `cargo test --test tests redis_failover:: -- --ignored`. Where
//! redis-server or redis-sentinel cannot start, they fail.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use latch::auth::users::Users;
use latch::auth::{auth_hash, csrf};
use latch::sessions::store::{Durability, Location, Settings, Store};
use latch::sessions::{now, Record};

use crate::support::sentinel::{Plan, Setup, ONE_REPLICA};
use crate::support::{block_on, run_cli, store_settings, try_send, Server, UsersFile, ALICE, FORM};

/// A primary, two replicas of equal priority and three Sentinels, every
/// server durable and refusing writes without a replica: the topology the
/// deploy recipe gives.
const GOOD: Plan = Plan {
    servers: ONE_REPLICA,
    replicas: &[&[], &[]],
    sentinels: 3,
    absent_sentinels: 0,
};

/// One primary and one replica, no Sentinel: the wait for a replica alone.
const PAIR: Plan = Plan {
    servers: ONE_REPLICA,
    replicas: &[&[]],
    sentinels: 0,
    absent_sentinels: 0,
};

/// Signed-in sessions made for the load, more than it can use.
const SESSIONS: usize = 40_000;
/// Clients posting logouts at once.
const WORKERS: usize = 8;

fn instance(setup: &Setup, users: &UsersFile, extra: &[&str]) -> Server {
    Server::sharing(&setup.url(), users, extra)
}

/// `count` sessions signed in as alice, stored straight through the store
/// (a sign-in over HTTP costs a password hash): their cookies and CSRF
/// tokens.
fn signed_in_sessions(setup: &Setup, users: &UsersFile, count: usize) -> Vec<(String, String)> {
    let (loaded, _) = Users::load(&users.path()).unwrap();
    let hash = auth_hash(loaded.hash_of(ALICE.0).unwrap(), 0);
    let settings = Settings {
        replica_acks: 1,
        ..store_settings(Durability::Strict, 0)
    };
    block_on(async {
        let store = Store::open_beside_server(&Location::Redis(setup.url()), &settings)
            .await
            .unwrap();
        let store = std::sync::Arc::new(store);
        // Eight at a time: one round trip each.
        let mut makers = tokio::task::JoinSet::new();
        for share in 0..8 {
            let (store, hash) = (std::sync::Arc::clone(&store), hash.clone());
            makers.spawn(async move {
                let mut sessions = Vec::new();
                for _ in (share..count).step_by(8) {
                    let (at, token) = (now(), csrf::new_token());
                    let mut record = Record::new(at, 3600, 0, token.clone());
                    record.sign_in(ALICE.0, &hash, at, &token);
                    let id = store.create(&record).await.unwrap();
                    sessions.push((format!("sid={}", id.as_str()), token));
                }
                sessions
            });
        }
        makers.join_all().await.concat()
    })
}

/// One logout of the load: its cookie, which instance, what it got (0:
/// no answer), when, and how long it took.
struct Logout {
    cookie: String,
    instance: usize,
    status: u16,
    at: Instant,
    took: Duration,
}

/// What a failover under a logout load came to.
#[derive(Debug)]
struct Outcome {
    /// Logouts answered 303.
    acknowledged: usize,
    /// Of those, how many cookies were signed in again afterwards, on
    /// either instance or both.
    came_back: usize,
    /// Logouts answered 503 (or not at all) while the replication was
    /// stalled, and after the primary was killed; how long the slowest of
    /// them took.
    unavailable_in_stall: usize,
    unavailable_after_kill: usize,
    slowest_503: Duration,
    /// From the SIGKILL to Sentinel naming a new primary.
    failover: Duration,
    /// From the SIGKILL to a 303 on both instances again.
    recovery: Duration,
}

/// The scenario: a logout load on two instances (`flags` each); after
/// 1.5 s the replication stream stops, 1.5 s later the primary is killed;
/// the load goes on until both instances answered a logout again, and 1 s
/// more. Then every acknowledged cookie is presented to both instances.
fn failover_under_logouts(flags: &[&str]) -> Outcome {
    let mut setup = Setup::start(&GOOD);
    let users = UsersFile::new(&[ALICE]);
    let instances = [
        instance(&setup, &users, flags),
        instance(&setup, &users, flags),
    ];
    let queue = Mutex::new(signed_in_sessions(&setup, &users, SESSIONS));
    let done = Mutex::new(Vec::<Logout>::new());
    let stop = AtomicBool::new(false);
    let (mut stalled, mut killed) = (Instant::now(), Instant::now());
    let mut failover = Duration::ZERO;
    std::thread::scope(|scope| {
        for worker in 0..WORKERS {
            let (queue, done, stop, instances) = (&queue, &done, &stop, &instances);
            scope.spawn(move || {
                let mut n = worker;
                while !stop.load(Ordering::SeqCst) {
                    let Some((cookie, token)) = queue.lock().unwrap().pop() else {
                        return;
                    };
                    n += 1;
                    let instance = n % 2;
                    let body = format!("csrf_token={token}");
                    let addr = instances[instance].addr;
                    let started = Instant::now();
                    let answer = try_send(addr, "POST", "/logout", Some(&cookie), &[FORM], &body);
                    let status = answer.map_or(0, |answer| answer.status);
                    let at = Instant::now();
                    done.lock().unwrap().push(Logout {
                        cookie,
                        instance,
                        status,
                        at,
                        took: at - started,
                    });
                    if status != 303 {
                        // As a browser would, not at once (and without
                        // spending every session on the outage).
                        std::thread::sleep(Duration::from_millis(20));
                    }
                }
            });
        }
        std::thread::sleep(Duration::from_millis(1500));
        setup.stall_replication();
        stalled = Instant::now();
        // Longer than a confirmation waits (1 s): the sign-outs the stall
        // holds up get their 503 before the kill.
        std::thread::sleep(Duration::from_millis(1500));
        killed = Instant::now();
        setup.kill_primary();
        failover = setup.wait_for_new_primary();
        let deadline = Instant::now() + Duration::from_secs(30);
        let answered_again = |instance: usize| {
            let done = done.lock().unwrap();
            done.iter()
                .any(|l| l.instance == instance && l.status == 303 && l.at > killed + failover)
        };
        while !(answered_again(0) && answered_again(1)) {
            if Instant::now() > deadline {
                stop.store(true, Ordering::SeqCst);
                let after: Vec<(usize, u16, u128)> = done
                    .lock()
                    .unwrap()
                    .iter()
                    .filter(|l| l.at > killed)
                    .map(|l| (l.instance, l.status, l.took.as_millis()))
                    .collect();
                panic!(
                    "no logout answered on both instances 30 s after the failover: \
                     {after:?}\n{}\n{}\n{}",
                    instances[0].stderr(),
                    instances[1].stderr(),
                    setup.logs()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        std::thread::sleep(Duration::from_millis(1000));
        stop.store(true, Ordering::SeqCst);
    });
    let done = done.into_inner().unwrap();
    assert!(
        !queue.lock().unwrap().is_empty(),
        "the load ran out of sessions"
    );
    let first_after = |instance: usize| {
        done.iter()
            .filter(|l| l.instance == instance && l.status == 303 && l.at > killed)
            .map(|l| l.at - killed)
            .min()
            .expect("answered again")
    };
    let recovery = first_after(0).max(first_after(1));
    let acknowledged: Vec<&Logout> = done.iter().filter(|l| l.status == 303).collect();
    let refused: Vec<&Logout> = done
        .iter()
        .filter(|l| l.status == 503 || l.status == 0)
        .collect();
    let slowest_503 = refused.iter().map(|l| l.took).max().unwrap_or_default();
    let other: Vec<u16> = done
        .iter()
        .map(|l| l.status)
        .filter(|s| ![0, 303, 503].contains(s))
        .collect();
    assert!(other.is_empty(), "logouts answered {other:?}");
    let came_back = signed_in_again(&instances, &acknowledged);
    Outcome {
        acknowledged: acknowledged.len(),
        came_back,
        unavailable_in_stall: refused
            .iter()
            .filter(|l| l.at > stalled && l.at < killed)
            .count(),
        unavailable_after_kill: refused.iter().filter(|l| l.at > killed).count(),
        slowest_503,
        failover,
        recovery,
    }
}

/// How many cookies among `logouts` `GET /account` shows signed in on
/// either instance (several clients at once).
fn signed_in_again(instances: &[Server; 2], logouts: &[&Logout]) -> usize {
    let came_back = Mutex::new(std::collections::HashSet::new());
    let next = Mutex::new(logouts.iter());
    std::thread::scope(|scope| {
        for _ in 0..WORKERS {
            scope.spawn(|| loop {
                let Some(logout) = next.lock().unwrap().next() else {
                    return;
                };
                for instance in instances {
                    let page = instance.get("/account", Some(&logout.cookie));
                    match page.status {
                        200 => {
                            came_back.lock().unwrap().insert(&logout.cookie);
                        }
                        303 => {}
                        other => panic!("GET /account answered {other}: {}", page.text()),
                    }
                }
            });
        }
    });
    came_back.into_inner().unwrap().len()
}

#[test]
#[ignore = "needs redis-server and redis-sentinel: apt-get install redis-server redis-sentinel"]
fn a_failover_after_a_stalled_replication_undoes_no_answered_logout_and_service_comes_back() {
    let outcome = failover_under_logouts(&[]);
    eprintln!("waiting for 1 replica: {outcome:?}");
    assert_eq!(outcome.came_back, 0, "{outcome:#?}");
    // Logouts met the stall and the failover (503s), and were answered
    // before and after them, on both instances, without a restart.
    assert!(outcome.unavailable_in_stall > 0, "{outcome:?}");
    assert!(outcome.unavailable_after_kill > 0, "{outcome:?}");
    assert!(
        outcome.slowest_503 < Duration::from_millis(2500),
        "{outcome:?}"
    );
    assert!(outcome.acknowledged > 100, "{outcome:?}");
    assert!(outcome.failover < Duration::from_secs(10), "{outcome:?}");
    assert!(
        outcome.recovery < outcome.failover + Duration::from_secs(5),
        "{outcome:?}"
    );
}

/// The same with no wait for a replica: it must lose logouts, or the
/// scenario could not tell a store that waits from one that does not.
#[test]
#[ignore = "needs redis-server and redis-sentinel: apt-get install redis-server redis-sentinel"]
fn without_the_wait_the_same_failover_brings_answered_logouts_back() {
    let flags = ["--redis-replica-acks", "0", "--redis-durability", "relaxed"];
    let outcome = failover_under_logouts(&flags);
    eprintln!("waiting for no replica: {outcome:?}");
    assert!(outcome.came_back > 0, "{outcome:?}");
}

#[test]
#[ignore = "needs redis-server and redis-sentinel: apt-get install redis-server redis-sentinel"]
fn a_replica_down_makes_sign_outs_503_within_about_a_second_and_reads_go_on() {
    // The wait is asked for.
    let setup = Setup::start(&PAIR);
    let users = UsersFile::new(&[ALICE]);
    let server = instance(&setup, &users, &["--redis-replica-acks", "1"]);
    let mut sessions = signed_in_sessions(&setup, &users, 3);
    let (cookie, token) = sessions.pop().unwrap();
    assert_eq!(server.logout(&cookie, &token).status, 303);

    setup.signal_replica(0, "STOP");
    let (cookie, token) = sessions.pop().unwrap();
    let started = Instant::now();
    let refused = server.logout(&cookie, &token);
    let waited = started.elapsed();
    assert_eq!(refused.status, 503, "{}", refused.text());
    assert!(refused.header("retry-after").is_some());
    assert!(waited < Duration::from_millis(1900), "{waited:?}");
    assert!(
        server.wait_for_log("0 of the 1 --redis-replica-acks"),
        "{}",
        server.stderr()
    );
    // The same logout again (a user's retry): its session may be gone, by
    // the first try's unconfirmed write, and that is not a sign-out either.
    assert_eq!(server.logout(&cookie, &token).status, 503);
    // Reads do not wait for replicas.
    let (reader, _) = sessions.pop().unwrap();
    let started = Instant::now();
    assert!(server.is_signed_in(&reader));
    assert!(started.elapsed() < Duration::from_millis(500));

    setup.signal_replica(0, "CONT");
    assert_eq!(server.logout(&cookie, &token).status, 303);
    let token = server.csrf_token(&reader);
    assert_eq!(server.logout(&reader, &token).status, 303);
}

/// What the wait costs a sign-out, one client at a time on one host: 400
/// logouts on a latch that waits for the replica and 400 on one that does
/// not, interleaved, on the same primary. The wait must cost something,
/// or it is not made.
#[test]
#[ignore = "needs redis-server and redis-sentinel: apt-get install redis-server redis-sentinel"]
fn the_wait_for_a_replica_costs_each_sign_out_about_the_replicas_fsync() {
    let setup = Setup::start(&PAIR);
    let users = UsersFile::new(&[ALICE]);
    let waits = instance(&setup, &users, &["--redis-replica-acks", "1"]);
    let not = instance(&setup, &users, &[]);
    let mut sessions = signed_in_sessions(&setup, &users, 800);
    let mut took = [Vec::new(), Vec::new()];
    for n in 0..800 {
        let (cookie, token) = sessions.pop().unwrap();
        let started = Instant::now();
        let answer = [&waits, &not][n % 2].logout(&cookie, &token);
        took[n % 2].push(started.elapsed());
        assert_eq!(answer.status, 303, "{}", answer.text());
    }
    let [mut waited, mut unwaited] = took;
    waited.sort();
    unwaited.sort();
    let at = |samples: &[Duration], p: usize| samples[samples.len() * p / 100];
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    eprintln!(
        "logout, one client: p50 {:.2} ms, p99 {:.2} ms with the wait; \
         p50 {:.2} ms, p99 {:.2} ms without; added p50 {:.2} ms, p99 {:.2} ms",
        ms(at(&waited, 50)),
        ms(at(&waited, 99)),
        ms(at(&unwaited, 50)),
        ms(at(&unwaited, 99)),
        ms(at(&waited, 50)) - ms(at(&unwaited, 50)),
        ms(at(&waited, 99)) - ms(at(&unwaited, 99)),
    );
    assert!(at(&waited, 50) > at(&unwaited, 50));
}

/// `latch check` on a good and a bad setup, and `serve` refusing the bad
/// one: every shortfall named on a line of its own.
#[test]
#[ignore = "needs redis-server and redis-sentinel: apt-get install redis-server redis-sentinel"]
fn check_names_each_thing_a_sentinel_setup_lacks_and_serve_refuses_it() {
    let users = UsersFile::new(&[ALICE]);
    let check = |url: &str, extra: &[&str]| {
        let mut args = vec![
            "check".to_owned(),
            format!("--sessions={url}"),
            format!("--users={}", users.path().display()),
            format!("--www={}", crate::support::repo_www().display()),
        ];
        args.extend(extra.iter().map(|s| s.to_string()));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        run_cli(&args, "")
    };
    // One Sentinel of the three the URL names; a primary that takes
    // writes without replicas; replicas of unequal priority, one of them
    // not durable.
    let bad = Setup::start(&Plan {
        servers: &[],
        replicas: &[&["--replica-priority", "50"], &["--appendonly", "no"]],
        sentinels: 1,
        absent_sentinels: 2,
    });
    let (status, out, err) = check(&bad.url(), &[]);
    eprintln!("latch check, a bad setup:\n{out}{err}");
    assert_eq!(status, 1, "{out}{err}");
    for shortfall in [
        "min-replicas-to-write is \"0\", latch needs at least 1",
        "appendonly is \"no\"",
        "replica-priority differ",
        "no Sentinel of 3 can authorize a failover",
    ] {
        let line = err.lines().find(|line| line.contains(shortfall));
        assert!(line.is_some(), "no line says {shortfall}: {err}");
    }
    let (status, _, err) = run_cli(
        &[
            "serve",
            &format!("--sessions={}", bad.url()),
            &format!("--users={}", users.path().display()),
            "--addr=127.0.0.1:0",
        ],
        "",
    );
    assert_eq!(status, 1, "{err}");
    assert!(err.contains("replica-priority differ"), "{err}");
    let (status, out, err) = check(&bad.url(), &["--redis-durability", "relaxed"]);
    assert_eq!(status, 0, "{out}{err}");
    drop(bad);

    let good = Setup::start(&GOOD);
    let (status, out, err) = check(&good.url(), &[]);
    eprintln!("latch check, a good setup:\n{out}{err}");
    assert_eq!((status, err.as_str()), (0, ""), "{out}");
    for fine in [
        "primary 127.0.0.1:",
        "a sign-out waits for 1 of 2 replica(s) online",
        "Sentinels: 3 of 3 can authorize a failover",
    ] {
        assert!(out.contains(fine), "no line says {fine}: {out}");
    }
    // Sentinel without the wait is refused too.
    let (status, _, err) = check(&good.url(), &["--redis-replica-acks", "0"]);
    assert_eq!(status, 1);
    assert!(err.contains("--redis-replica-acks is 0"), "{err}");
}
