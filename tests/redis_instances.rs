//! Two latch instances, A and B, sharing one Redis (docs/contract.md, "The
//! Redis store"): every rule of "Sessions" holds across them, as a client
//! and an operator see it. Each test starts its own `redis-server` (on a
//! unix socket in a temp dir, durable unless the test says otherwise) and
//! its own `latch serve` processes, which read one users file written once
//! (the operator keeps the instances' files identical), and kills them all
//! by PID at the end.
//!
//! Ignored by a plain `cargo test`; run them with
//! `cargo test --test tests redis_instances:: -- --ignored`. Where
//! `redis-server` or latch cannot start, they fail: they never pass without
//! having run.

use std::sync::{Barrier, Mutex};
use std::time::{Duration, Instant};

use latch::sessions::redis::{COMMAND_TIMEOUT, RECHECK_EVERY};

use crate::support::redis::{RedisServer, DURABLE};
use crate::support::{
    redis_key, repo_www, run_cli, stored_name, try_send, Response, Server, TempDir, UsersFile,
    ALICE, BOB, FORM, TIMEOUT,
};

/// `latch serve --sessions <redis URL> --users <the shared file>` with
/// extra flags.
fn instance(redis: &RedisServer, users: &UsersFile, extra: &[&str]) -> Server {
    Server::sharing(&redis.url(), users, extra)
}

/// Instances A and B on one Redis, with the same flags.
fn two_instances(redis: &RedisServer, users: &UsersFile, extra: &[&str]) -> (Server, Server) {
    (instance(redis, users, extra), instance(redis, users, extra))
}

fn cookie(id: &str) -> String {
    format!("sid={id}")
}

/// The auth fields (`_auth_*`) a stored session holds.
fn auth_fields(value: &[u8]) -> Vec<String> {
    let json: serde_json::Value = serde_json::from_slice(value).unwrap();
    json["data"]
        .as_object()
        .expect("a session holds a data object")
        .keys()
        .filter(|key| key.starts_with("_auth_"))
        .cloned()
        .collect()
}

/// Every session key that holds an auth field.
fn signed_in_keys(redis: &RedisServer) -> Vec<String> {
    redis
        .keys()
        .into_iter()
        .filter(|key| key.starts_with("latch:s:"))
        .filter(|key| {
            redis
                .get(key)
                .is_some_and(|value| !auth_fields(&value).is_empty())
        })
        .collect()
}

/// Runs `latch ARGS…` (bounded) and returns (status, stdout, stderr).
fn latch(args: &[String]) -> (i32, String, String) {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    run_cli(&args, "")
}

// ------------------------------------------------------------ one store

#[test]
#[ignore = "needs redis-server: apt-get install redis-server"]
fn a_sign_in_on_a_is_signed_in_on_b_and_redis_holds_the_file_json_under_a_hashed_key() {
    let redis = RedisServer::start();
    let users = UsersFile::new(&[ALICE]);
    let (a, b) = two_instances(&redis, &users, &[]);

    let id = a.login(ALICE.0, ALICE.1);
    let page = b.get("/account", Some(&cookie(&id)));
    assert_eq!(page.status, 200, "{}", page.text());
    assert!(page.text().contains("alice"), "{}", page.text());

    // No key holds the id; the session's key is named by its hash.
    let keys = redis.keys();
    assert!(keys.contains(&redis_key(&id)), "{keys:?}");
    for key in &keys {
        assert!(!key.contains(&id), "{key} holds the session id");
    }

    // The value is a session file's JSON document, byte for byte as the
    // file store writes it.
    let value = redis.get(&redis_key(&id)).unwrap();
    let json: serde_json::Value = serde_json::from_slice(&value).unwrap();
    for field in json.as_object().unwrap().keys() {
        let known = ["v", "created", "expires", "data", "seen"];
        assert!(known.contains(&field.as_str()), "{field} in {json}");
    }
    assert_eq!(json["v"], 1, "{json}");
    assert!(
        json["expires"].as_u64() > json["created"].as_u64(),
        "{json}"
    );
    assert_eq!(json["data"]["_auth_user"], "alice", "{json}");
    assert!(json["data"]["_auth_hash"].is_string(), "{json}");
    assert!(json["data"]["_auth_time"].is_u64(), "{json}");
    assert_eq!(json["data"]["_csrf"].as_str().map(str::len), Some(43));
    let record: latch::sessions::Record = serde_json::from_slice(&value).unwrap();
    assert_eq!(serde_json::to_vec(&record).unwrap(), value);
    assert!(!String::from_utf8_lossy(&value).contains(&id));

    // A change made on B is what A reads next.
    let token = b.csrf_token(&cookie(&id));
    assert_eq!(b.set_theme(&cookie(&id), &token, "dark").status, 303);
    let home = a.get("/", Some(&cookie(&id)));
    assert!(
        home.text().contains("data-theme=\"dark\""),
        "{}",
        home.text()
    );
}

#[test]
#[ignore = "needs redis-server: apt-get install redis-server"]
fn a_logout_on_a_racing_theme_changes_and_page_views_on_b_is_never_undone() {
    let redis = RedisServer::start();
    let users = UsersFile::new(&[ALICE]);
    let (a, b) = two_instances(&redis, &users, &[]);
    let mut resurrections = Vec::new();
    for round in 0..50 {
        let id = a.login(ALICE.0, ALICE.1);
        let old = cookie(&id);
        let token = b.csrf_token(&old);
        // Half the rounds hold a theme, so that the logout keeps data and
        // moves it to a new id; the others flush.
        if round % 2 == 0 {
            assert_eq!(b.set_theme(&old, &token, "dark").status, 303);
        }
        let logout = Mutex::new(None);
        let start = Barrier::new(6);
        std::thread::scope(|scope| {
            for worker in 0..6 {
                let (a, b, old, token, logout, start) = (&a, &b, &old, &token, &logout, &start);
                scope.spawn(move || {
                    start.wait();
                    let answer = match worker {
                        0 => {
                            let answer = a.logout(old, token);
                            *logout.lock().unwrap() = answer.set_cookie_value("sid");
                            answer
                        }
                        1 | 3 => {
                            let theme = ["light", "dark"][(worker + round) % 2];
                            b.set_theme(old, token, theme)
                        }
                        _ => b.get("/account", Some(old)),
                    };
                    assert!(answer.status < 500, "round {round}: {}", answer.status_line);
                });
            }
        });
        // The old cookie is signed in nowhere, the session the logout moved
        // the data to holds no auth field, and neither does any other.
        for (name, server) in [("A", &a), ("B", &b)] {
            if server.is_signed_in(&old) {
                resurrections.push(format!("round {round}: the old cookie on {name}"));
            }
        }
        let moved = logout.lock().unwrap().take().filter(|id| !id.is_empty());
        if let Some(moved) = moved {
            if let Some(value) = redis.get(&redis_key(&moved)) {
                let fields = auth_fields(&value);
                if !fields.is_empty() {
                    resurrections.push(format!("round {round}: the new session holds {fields:?}"));
                }
            }
            if b.is_signed_in(&cookie(&moved)) {
                resurrections.push(format!("round {round}: the new cookie on B"));
            }
        }
        for key in signed_in_keys(&redis) {
            resurrections.push(format!("round {round}: {key} signed in again"));
        }
    }
    assert!(
        resurrections.is_empty(),
        "{} resurrections: {resurrections:#?}",
        resurrections.len()
    );
}

#[test]
#[ignore = "needs redis-server: apt-get install redis-server"]
fn a_sigkill_of_one_instance_mid_logouts_loses_no_answered_logout_and_leaves_no_half_move() {
    const SESSIONS: usize = 120;
    let redis = RedisServer::start();
    // Four users, 30 sessions each: within the cap of signed-in sessions
    // one user may hold.
    let users = UsersFile::new(&[("u0", "pw"), ("u1", "pw"), ("u2", "pw"), ("u3", "pw")]);
    let b = instance(&redis, &users, &[]);
    // Signed-in sessions holding a theme, so that each logout moves data
    // to a new key (the step that could be left half done).
    let sessions: Vec<(String, String)> = (0..SESSIONS)
        .map(|n| {
            let id = b.login(&format!("u{}", n % 4), "pw");
            let token = b.csrf_token(&cookie(&id));
            assert_eq!(b.set_theme(&cookie(&id), &token, "dark").status, 303);
            (id, token)
        })
        .collect();
    let a = instance(&redis, &users, &[]);
    let queue = Mutex::new(sessions.iter().collect::<Vec<_>>());
    let answered = Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..4 {
            scope.spawn(|| loop {
                let Some((id, token)) = queue.lock().unwrap().pop() else {
                    return;
                };
                let body = format!("csrf_token={token}");
                let cookie = cookie(id);
                match try_send(a.addr, "POST", "/logout", Some(&cookie), &[FORM], &body) {
                    Ok(answer) if answer.status == 303 => {
                        let new = answer
                            .set_cookie_value("sid")
                            .expect("a logout sets the cookie");
                        answered.lock().unwrap().push((id.clone(), new));
                    }
                    Ok(answer) => panic!("logout answered {}", answer.status),
                    // The server is gone.
                    Err(_) => return,
                }
            });
        }
        let give_up = Instant::now() + TIMEOUT;
        while answered.lock().unwrap().len() < 20 {
            assert!(Instant::now() < give_up, "logouts too slow");
            std::thread::sleep(Duration::from_millis(1));
        }
        a.send_signal("KILL");
    });
    let answered = answered.into_inner().unwrap();
    assert!(
        answered.len() < SESSIONS,
        "the kill came after every logout"
    );

    // Every answered logout holds: the old key is gone, and its data is
    // under the new id, signed out.
    for (old, new) in &answered {
        assert_eq!(
            redis.get(&redis_key(old)),
            None,
            "an answered logout was lost"
        );
        assert!(!b.is_signed_in(&cookie(old)));
        let moved = redis
            .get(&redis_key(new))
            .expect("the moved session is stored");
        assert!(auth_fields(&moved).is_empty());
        assert!(String::from_utf8_lossy(&moved).contains("\"theme\":\"dark\""));
    }
    // No logout was left half done: each session is in exactly one key,
    // and the only keys signed in are sessions no logout reached.
    let keys: Vec<String> = redis
        .keys()
        .into_iter()
        .filter(|key| key.starts_with("latch:s:"))
        .collect();
    assert_eq!(keys.len(), SESSIONS, "a session lost or doubled: {keys:?}");
    let untouched: Vec<String> = sessions.iter().map(|(id, _)| redis_key(id)).collect();
    for key in signed_in_keys(&redis) {
        assert!(untouched.contains(&key), "{key} is a new key, signed in");
    }
    eprintln!(
        "{} logouts answered before the SIGKILL, {} sessions still signed in",
        answered.len(),
        signed_in_keys(&redis).len()
    );
}

#[test]
#[ignore = "needs redis-server: apt-get install redis-server"]
fn sign_out_everywhere_on_a_ends_the_users_session_served_by_b() {
    let redis = RedisServer::start();
    let users = UsersFile::new(&[ALICE, BOB]);
    let (a, b) = two_instances(&redis, &users, &[]);
    // Two browsers signed in as alice, one on each instance, and bob.
    let laptop = cookie(&a.login(ALICE.0, ALICE.1));
    let phone = cookie(&b.login(ALICE.0, ALICE.1));
    let bobs = cookie(&b.login(BOB.0, BOB.1));
    assert!(a.is_signed_in(&phone) && b.is_signed_in(&laptop));

    let token = a.csrf_token(&laptop);
    let body = format!("csrf_token={token}&scope=all");
    assert_eq!(a.post("/logout", Some(&laptop), &body).status, 303);
    assert!(a.wait_for_log("logout user=alice scope=all"));

    assert!(!b.is_signed_in(&phone), "B still serves alice's phone");
    assert!(!a.is_signed_in(&phone));
    assert!(!b.is_signed_in(&laptop));
    assert!(b.is_signed_in(&bobs), "bob was signed out too");
    // Alice can sign in again, on either instance.
    let again = cookie(&b.login(ALICE.0, ALICE.1));
    assert!(a.is_signed_in(&again));
}

#[test]
#[ignore = "needs redis-server: apt-get install redis-server"]
fn the_login_throttle_counts_failures_made_on_both_instances() {
    let redis = RedisServer::start();
    let users = UsersFile::new(&[ALICE]);
    let (a, b) = two_instances(&redis, &users, &["--login-throttle", "3"]);
    let attempt = |server: &Server, password: &str| {
        server.post(
            "/login",
            None,
            &format!("username=alice&password={password}"),
        )
    };
    for server in [&a, &b, &a] {
        assert_eq!(attempt(server, "wrong").status, 422);
    }
    // The fourth attempt, on either instance, with the right password too.
    for (name, server) in [("B", &b), ("A", &a)] {
        let refused = attempt(server, ALICE.1);
        assert_eq!(refused.status, 429, "{name}: {}", refused.status_line);
        let retry_after: u64 = refused.header("retry-after").unwrap().parse().unwrap();
        assert!((1..=900).contains(&retry_after), "{name}: {retry_after}");
        assert_eq!(refused.header("set-cookie"), None);
    }
}

#[test]
#[ignore = "needs redis-server: apt-get install redis-server"]
fn new_anonymous_sessions_from_one_address_are_counted_across_both_instances() {
    let redis = RedisServer::start();
    let users = UsersFile::new(&[ALICE]);
    let (a, b) = two_instances(&redis, &users, &[]);
    let new_session = |server: &Server| server.post("/theme", None, "theme=dark");
    // The address's burst, half on each instance.
    let burst = latch::sessions::quota::BURST as usize;
    for n in 0..burst {
        let server = [&a, &b][n % 2];
        let made = new_session(server);
        assert_eq!(made.status, 303, "session {n}: {}", made.status_line);
    }
    for (name, server) in [("A", &a), ("B", &b)] {
        let refused = new_session(server);
        assert_eq!(refused.status, 429, "{name}: {}", refused.status_line);
        let retry_after: u64 = refused.header("retry-after").unwrap().parse().unwrap();
        let interval = latch::sessions::quota::INTERVAL.as_secs();
        assert!(
            (1..=interval).contains(&retry_after),
            "{name}: {retry_after}"
        );
        assert_eq!(refused.header("set-cookie"), None, "{name}");
    }
}

#[test]
#[ignore = "needs redis-server: apt-get install redis-server"]
fn trace_shows_the_redis_commands_and_scripts_a_request_ran_and_never_an_id() {
    let redis = RedisServer::start();
    let users = UsersFile::new(&[ALICE]);
    let server = instance(&redis, &users, &["--trace"]);
    let id = server.login(ALICE.0, ALICE.1);
    let alice = cookie(&id);
    let token = server.csrf_token(&alice);
    assert_eq!(server.set_theme(&alice, &token, "dark").status, 303);
    let logout = server.logout(&alice, &token);
    assert_eq!(logout.status, 303);
    assert!(server.wait_for_log("trace POST /logout"));
    server.log_barrier();
    let log = server.stderr();
    let traced = |title: &str| {
        let start = log.find(title).unwrap();
        let table = &log[start..];
        table[..table[1..].find("\ntrace ").map_or(table.len(), |i| i + 1)].to_owned()
    };

    // Each write is one round trip after the load (session and epoch in
    // one): the compare-and-set starts from the bytes the load read, so
    // no second GET of the session comes between them.
    for (title, write) in [
        ("trace POST /theme", "EVALSHA SWAP latch:s:"),
        ("trace POST /logout", "EVALSHA MOVE latch:s:"),
    ] {
        let table = traced(title);
        let rows: Vec<&str> = table
            .lines()
            .filter(|line| line.split_whitespace().nth(1) == Some("redis"))
            .collect();
        assert_eq!(rows.len(), 2, "{table}");
        assert!(
            rows[0].contains("EVALSHA READ_WITH_EPOCH latch:s:"),
            "{table}"
        );
        assert!(
            rows[1].contains(write) && rows[1].ends_with("→ 1"),
            "{table}"
        );
    }
    let login = &log[log.find("trace POST /login").unwrap()..];
    assert!(login.contains("EVALSHA PACE latch:pace:"), "{login}");
    assert!(login.contains("EVALSHA CREATE latch:s:"), "{login}");
    assert!(login.contains("→ 1"), "{login}");
    // Never the id; its key whole (a digest is no secret), as `redis-cli`
    // would find it.
    let key = format!("latch:s:{}", stored_name(&id));
    assert!(!log.contains(&id), "{log}");
    assert!(log.contains(&format!("EVALSHA CREATE {key} → 1")), "{log}");
}

#[test]
#[ignore = "needs redis-server: apt-get install redis-server"]
fn sixteen_made_up_session_cookies_run_three_redis_scripts_and_a_tossed_one_hides_no_sign_in() {
    let redis = RedisServer::start();
    let users = UsersFile::new(&[ALICE]);
    let server = instance(&redis, &users, &["--trace"]);
    let made_up: Vec<String> = (0..16)
        .map(|_| cookie(latch::sessions::SessionId::generate().as_str()))
        .collect();
    let home = server.get("/", Some(&made_up.join("; ")));
    assert_eq!(home.status, 200);
    // An anonymous session planted ahead of alice's, and a made-up one.
    let alice = server.login(ALICE.0, ALICE.1);
    let anonymous = server
        .post("/theme", None, "theme=dark")
        .set_cookie_value("sid")
        .expect("a theme makes an anonymous session");
    let tossed = format!("{}; {}; {}", cookie(&anonymous), made_up[0], cookie(&alice));
    let account = server.get("/account", Some(&tossed));
    assert_eq!(account.status, 200, "{}", account.text());
    assert!(server.wait_for_log("trace GET /account"));
    server.log_barrier();
    let log = server.stderr();
    let reads = |title: &str| {
        let start = log.find(title).unwrap();
        let table = &log[start..];
        let table = &table[..table[1..].find("\ntrace ").map_or(table.len(), |i| i + 1)];
        table.matches("EVALSHA READ_WITH_EPOCH").count()
    };
    assert_eq!(reads("trace GET / "), 3, "{log}");
    assert_eq!(reads("trace GET /account"), 3, "{log}");
}

#[test]
#[ignore = "needs redis-server: apt-get install redis-server"]
fn a_keep_mode_logout_on_a_full_redis_deletes_the_session_instead_and_still_signs_out() {
    let redis = RedisServer::start();
    let users = UsersFile::new(&[ALICE]);
    let (a, b) = two_instances(&redis, &users, &[]);
    let id = a.login(ALICE.0, ALICE.1);
    let alice = cookie(&id);
    let token = b.csrf_token(&alice);
    // A theme: keep mode would move it to a new session.
    assert_eq!(b.set_theme(&alice, &token, "dark").status, 303);
    // Full: a memory limit below what Redis uses, under `noeviction`, so
    // every write that needs memory is refused (-OOM), as on a full disk.
    ::redis::cmd("CONFIG")
        .arg("SET")
        .arg("maxmemory")
        .arg("1")
        .query::<()>(&mut redis.connection())
        .unwrap();

    let logout = a.logout(&alice, &token);
    assert_eq!(logout.status, 303, "{}", logout.text());
    assert_eq!(logout.set_cookie_value("sid").as_deref(), Some(""));
    assert!(a.wait_for_log("deleted instead"), "{}", a.stderr());
    assert!(
        !redis.keys().contains(&redis_key(&id)),
        "{:?}",
        redis.keys()
    );
    assert!(!b.is_signed_in(&alice) && !a.is_signed_in(&alice));
}

#[test]
#[ignore = "needs redis-server: apt-get install redis-server"]
fn a_full_redis_says_new_sign_ins_are_paused_and_signing_out_works_logged_once_naming_maxmemory() {
    let redis = RedisServer::start();
    let users = UsersFile::new(&[ALICE]);
    let a = instance(&redis, &users, &[]);
    let alice = cookie(&a.login(ALICE.0, ALICE.1));
    let token = a.csrf_token(&alice);
    // Full: a memory limit below what Redis already uses, under
    // `noeviction`, so every write that needs memory is refused (-OOM).
    config_set(&redis, "maxmemory", "1");

    // A sign-in with the right password, and a new session: each says
    // what happened, as plain text and as a page.
    for (what, path, body) in [
        ("a sign-in", "/login", "username=alice&password=wonderland"),
        ("a new session", "/theme", "theme=dark"),
    ] {
        let answer = a.post(path, None, body);
        assert_eq!(answer.status, 503, "{what}: {}", answer.text());
        assert!(answer.header("retry-after").is_some(), "{what}");
        let text = answer.text();
        assert!(
            text.contains("the session store is full")
                && text.contains("paused")
                && text.contains("signing out still works"),
            "{what}: {text}"
        );
        let headers = [
            ("Content-Type", "application/x-www-form-urlencoded"),
            ("Accept", "text/html"),
        ];
        let page = a.send("POST", path, None, &headers, body);
        assert_eq!(page.status, 503, "{what}");
        let html = page.text();
        assert!(
            html.contains("Session store full")
                && html.contains("paused until the operator makes room")
                && html.contains("Signing out still works"),
            "{what}: {html}"
        );
    }
    // Signing out still works.
    let logout = a.logout(&alice, &token);
    assert_eq!(logout.status, 303, "{}", logout.text());
    assert!(!a.is_signed_in(&alice));
    // One line names maxmemory, not one per refused request (the log
    // line of the logout comes after theirs).
    assert!(a.wait_for_log("logout user=alice"), "{}", a.stderr());
    let log = a.stderr();
    let naming = log.lines().filter(|l| l.contains("maxmemory")).count();
    assert_eq!(naming, 1, "{log}");

    // Room again: sign-ins resume, and the log says so.
    config_set(&redis, "maxmemory", "0");
    let again = a.login(ALICE.0, ALICE.1);
    assert!(a.is_signed_in(&cookie(&again)));
    assert!(a.wait_for_log("room for new data again"), "{}", a.stderr());
}

// ------------------------------------------------------------ outages

/// A browser's `GET /account`, timed.
fn browse_account(server: &Server, cookie: &str) -> (Response, Duration) {
    let started = Instant::now();
    let headers = [("Accept", "text/html,application/xhtml+xml,*/*;q=0.8")];
    let answer = server.send("GET", "/account", Some(cookie), &headers, "");
    (answer, started.elapsed())
}

/// Asserts a complete `503 Service Unavailable` with a `Retry-After` in
/// seconds, answered within the bound on Redis commands.
fn assert_unavailable(name: &str, answer: &Response, waited: Duration) {
    assert_eq!(
        answer.status_line,
        "HTTP/1.1 503 Service Unavailable",
        "{name}: {}",
        answer.text()
    );
    let retry_after: u64 = answer
        .header("retry-after")
        .unwrap_or_else(|| panic!("{name}: 503 without Retry-After"))
        .parse()
        .unwrap();
    assert!(retry_after >= 1, "{name}: Retry-After {retry_after}");
    assert!(
        waited <= 2 * COMMAND_TIMEOUT + Duration::from_secs(1),
        "{name}: answered after {waited:?}"
    );
}

/// Polls (bounded) until `server` shows `cookie` signed in again.
fn wait_until_signed_in(name: &str, server: &Server, cookie: &str) {
    let give_up = Instant::now() + TIMEOUT;
    loop {
        let (answer, _) = browse_account(server, cookie);
        match answer.status {
            200 => return,
            503 => {}
            _ => panic!("{name}: {} while Redis came back", answer.status_line),
        }
        assert!(
            Instant::now() < give_up,
            "{name} did not come back by itself"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
#[ignore = "needs redis-server: apt-get install redis-server"]
fn a_killed_redis_makes_both_instances_answer_503_with_retry_after_and_they_come_back_by_themselves(
) {
    let mut redis = RedisServer::start();
    let users = UsersFile::new(&[ALICE]);
    let (a, b) = two_instances(&redis, &users, &[]);
    let alice = cookie(&a.login(ALICE.0, ALICE.1));
    assert!(b.is_signed_in(&alice));

    redis.kill();
    for (name, server) in [("A", &a), ("B", &b)] {
        let (page, waited) = browse_account(server, &alice);
        assert_unavailable(name, &page, waited);
        let html = page.header("content-type").unwrap_or_default();
        assert!(html.starts_with("text/html"), "{name}: {html}");
        assert!(page.text().contains("<html"), "{name}: {}", page.text());

        let started = Instant::now();
        let login = server.post("/login", None, "username=alice&password=wonderland");
        assert_unavailable(name, &login, started.elapsed());
    }

    // The same socket and data dir: appendfsync always kept the session.
    redis.restart();
    wait_until_signed_in("A", &a, &alice);
    wait_until_signed_in("B", &b, &alice);
    // And new sign-ins work again, on either.
    let again = b.login(ALICE.0, ALICE.1);
    assert!(a.is_signed_in(&cookie(&again)));
}

#[test]
#[ignore = "needs redis-server: apt-get install redis-server"]
fn a_redis_loading_its_data_after_a_restart_gets_503_with_retry_after_then_service_by_itself() {
    let mut redis = RedisServer::start();
    let users = UsersFile::new(&[ALICE]);
    let a = instance(&redis, &users, &[]);
    let alice = cookie(&a.login(ALICE.0, ALICE.1));
    // 20,000 keys to read back, each slowed by 200 µs (`key-load-delay`,
    // Redis's own knob for this): 4 to 5 s in which it answers -LOADING,
    // longer than latch's bound on one request. It answers clients
    // between every KiB it loads (by default, every 2 MiB).
    redis.fill(20_000);
    let mut loading = DURABLE.to_vec();
    loading.extend(["--key-load-delay", "200"]);
    loading.extend(["--loading-process-events-interval-bytes", "1024"]);
    redis.restart_loading(&loading);

    // The first request finds the old connection gone (503, and a
    // reconnect); the next ones reach Redis, which answers -LOADING.
    while !a.stderr().contains("Redis is loading the dataset") {
        assert!(
            redis.is_loading(),
            "Redis finished loading before latch met it: {}",
            a.stderr()
        );
        let (page, waited) = browse_account(&a, &alice);
        assert_unavailable("A while Redis loads", &page, waited);
    }
    wait_until_signed_in("A", &a, &alice);
}

#[test]
#[ignore = "needs redis-server: apt-get install redis-server"]
fn a_stalled_redis_makes_both_instances_answer_503_within_the_bound_never_hang() {
    let redis = RedisServer::start();
    let users = UsersFile::new(&[ALICE]);
    let (a, b) = two_instances(&redis, &users, &[]);
    let alice = cookie(&a.login(ALICE.0, ALICE.1));

    // SIGSTOP: the socket accepts, nothing answers.
    redis.signal("STOP");
    let answers: Vec<(Response, Duration)> = [&a, &b]
        .into_iter()
        .map(|server| browse_account(server, &alice))
        .collect();
    redis.signal("CONT");
    for (name, (answer, waited)) in ["A", "B"].into_iter().zip(&answers) {
        assert_unavailable(name, answer, *waited);
    }
    wait_until_signed_in("A", &a, &alice);
    wait_until_signed_in("B", &b, &alice);
}

#[test]
#[ignore = "needs redis-server: apt-get install redis-server"]
fn a_stalled_redis_gives_a_browser_its_503_page_after_one_command_timeout_not_two() {
    let redis = RedisServer::start();
    let users = UsersFile::new(&[ALICE]);
    let a = instance(&redis, &users, &[]);
    let alice = cookie(&a.login(ALICE.0, ALICE.1));

    // SIGSTOP: the socket accepts, nothing answers. The page's request
    // waits for its session once (COMMAND_TIMEOUT); the error page must
    // not wait for it again.
    redis.signal("STOP");
    let (page, waited) = browse_account(&a, &alice);
    redis.signal("CONT");
    assert_unavailable("A", &page, waited);
    let html = page.header("content-type").unwrap_or_default();
    assert!(html.starts_with("text/html"), "{html}");
    assert!(
        waited < COMMAND_TIMEOUT + Duration::from_millis(500),
        "a browser waited {waited:?}"
    );
    wait_until_signed_in("A", &a, &alice);
}

// ------------------------------------------------------------ durability

fn serve_args(url: &str, users: &UsersFile, extra: &[&str]) -> Vec<String> {
    let mut args = vec![
        "serve".to_owned(),
        "--addr=127.0.0.1:0".to_owned(),
        format!("--sessions={url}"),
        format!("--users={}", users.path().display()),
        format!("--www={}", repo_www().display()),
    ];
    args.extend(extra.iter().map(|flag| flag.to_string()));
    args
}

#[test]
#[ignore = "needs redis-server: apt-get install redis-server"]
fn serve_on_a_redis_without_appendonly_exits_1_naming_it_unless_durability_is_relaxed() {
    let redis = RedisServer::start_not_durable();
    let users = UsersFile::new(&[ALICE]);

    let (status, _, err) = latch(&serve_args(&redis.url(), &users, &[]));
    assert_eq!(status, 1, "{err}");
    assert!(
        err.lines().any(|line| line.contains("appendonly")),
        "no line names appendonly: {err}"
    );
    assert!(!err.contains("listening"), "{err}");
    // A first run refused for the store leaves no users file behind.
    let missing = TempDir::new();
    let first_run_users = missing.path().join("users.htpasswd");
    let (status, out, err) = latch(&[
        "serve".into(),
        format!("--sessions={}", redis.url()),
        format!("--users={}", first_run_users.display()),
    ]);
    assert_eq!(status, 1, "{err}");
    assert!(
        !out.contains("password") && !first_run_users.exists(),
        "{out}"
    );

    let relaxed = instance(&redis, &users, &["--redis-durability", "relaxed"]);
    assert!(relaxed.wait_for_log("appendonly"), "{}", relaxed.stderr());
    let id = relaxed.login(ALICE.0, ALICE.1);
    assert!(relaxed.is_signed_in(&cookie(&id)));
}

/// `CONFIG SET name value` on the running server.
fn config_set(redis: &RedisServer, name: &str, value: &str) {
    ::redis::cmd("CONFIG")
        .arg("SET")
        .arg(name)
        .arg(value)
        .query::<()>(&mut redis.connection())
        .unwrap();
}

#[test]
#[ignore = "needs redis-server: apt-get install redis-server"]
fn appendfsync_turned_off_at_run_time_gets_503_within_the_recheck_and_service_resumes_once_fixed() {
    let redis = RedisServer::start();
    let users = UsersFile::new(&[ALICE]);
    let a = instance(&redis, &users, &[]);
    let alice = cookie(&a.login(ALICE.0, ALICE.1));
    let token = a.csrf_token(&alice);

    // No reconnect, no restart: only the setting changes under latch.
    config_set(&redis, "appendfsync", "no");
    let changed = Instant::now();
    loop {
        let started = Instant::now();
        let theme = a.set_theme(&alice, &token, "dark");
        match theme.status {
            303 => {}
            503 => {
                assert_unavailable("a theme", &theme, started.elapsed());
                break;
            }
            _ => panic!("{} while appendfsync was no", theme.status_line),
        }
        assert!(
            changed.elapsed() < RECHECK_EVERY + Duration::from_secs(3),
            "appendfsync no went unnoticed for {:?}",
            changed.elapsed()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    // Every request is refused now, a sign-in too.
    let (page, waited) = browse_account(&a, &alice);
    assert_unavailable("a page", &page, waited);
    let started = Instant::now();
    let login = a.post("/login", None, "username=alice&password=wonderland");
    assert_unavailable("a sign-in", &login, started.elapsed());

    // Fixed: service resumes by itself, at the next request.
    config_set(&redis, "appendfsync", "always");
    wait_until_signed_in("A", &a, &alice);
    assert_eq!(a.set_theme(&alice, &token, "light").status, 303);
    // The log named the setting once, not once per refused request (the
    // lines of those requests all came before this one).
    assert!(a.wait_for_log("durable again"), "{}", a.stderr());
    let log = a.stderr();
    let naming = log
        .lines()
        .filter(|line| line.contains("appendfsync is \"no\""))
        .count();
    assert_eq!(naming, 1, "{log}");
}

#[test]
#[ignore = "needs redis-server: apt-get install redis-server"]
fn a_redis_password_in_the_url_is_never_printed() {
    let mut settings = DURABLE.to_vec();
    settings.extend(["--requirepass", "s3cret-pw"]);
    let redis = RedisServer::start_with(&settings);
    let users = UsersFile::new(&[ALICE]);

    // Refused credentials: latch stops, saying why, without the password.
    let wrong = format!("{}?pass=wr0ng-pw", redis.url());
    let (status, out, err) = latch(&serve_args(&wrong, &users, &[]));
    assert_ne!(status, 0, "served with refused credentials: {err}");
    assert!(!err.trim().is_empty(), "no reason given");
    assert!(!format!("{out}{err}").contains("wr0ng-pw"), "{out}{err}");

    // Accepted: nothing latch logs while serving holds it either.
    let right = format!("{}?pass=s3cret-pw", redis.url());
    let server = Server::sharing(&right, &users, &[]);
    let alice = cookie(&server.login(ALICE.0, ALICE.1));
    let token = server.csrf_token(&alice);
    let logout = server.logout(&alice, &token);
    assert_eq!(logout.status, 303);
    server.log_barrier();
    assert!(
        !server.stderr().contains("s3cret-pw"),
        "{}",
        server.stderr()
    );
}

// ------------------------------------------------------------ commands

/// `latch COMMAND --sessions <redis URL> --users <file>`.
fn command_args(command: &str, redis: &RedisServer, users: &UsersFile) -> Vec<String> {
    let mut args = vec![command.to_owned(), "--sessions".to_owned(), redis.url()];
    if command != "clearsessions" {
        args.extend(["--users".to_owned(), users.path().display().to_string()]);
    }
    args
}

#[test]
#[ignore = "needs redis-server: apt-get install redis-server"]
fn latch_sessions_with_the_redis_url_lists_both_instances_sessions_and_never_an_id() {
    let redis = RedisServer::start();
    let users = UsersFile::new(&[ALICE]);
    let (a, b) = two_instances(&redis, &users, &[]);
    let alices = a.login(ALICE.0, ALICE.1);
    let anonymous = b
        .post("/theme", None, "theme=dark")
        .set_cookie_value("sid")
        .expect("a theme makes an anonymous session");

    let (status, out, err) = latch(&command_args("sessions", &redis, &users));
    assert_eq!(status, 0, "{err}");
    assert!(!out.contains(&alices) && !out.contains(&anonymous), "{out}");
    // One row per session: a label (the start of its key's hash), the
    // user or `-`, created, expires. Other lines (a header) are not rows.
    let mut rows: Vec<(String, String)> = out
        .lines()
        .filter_map(|line| {
            let columns: Vec<&str> = line.split_whitespace().collect();
            let (label, user) = (columns.first()?, columns.get(1)?);
            let hex = label.len() >= 8 && label.bytes().all(|c| c.is_ascii_hexdigit());
            hex.then(|| (label.to_string(), user.to_string()))
        })
        .collect();
    rows.sort_by(|x, y| x.1.cmp(&y.1));
    assert_eq!(rows.len(), 2, "{out}");
    assert_eq!(rows[0].1, "-", "{out}");
    assert!(stored_name(&anonymous).starts_with(&rows[0].0), "{out}");
    assert_eq!(rows[1].1, "alice", "{out}");
    assert!(stored_name(&alices).starts_with(&rows[1].0), "{out}");
}

#[test]
#[ignore = "needs redis-server: apt-get install redis-server"]
fn latch_clearsessions_with_the_redis_url_keeps_live_sessions() {
    let redis = RedisServer::start();
    let users = UsersFile::new(&[ALICE]);
    let (a, b) = two_instances(&redis, &users, &[]);
    let alice = cookie(&a.login(ALICE.0, ALICE.1));

    let (status, out, err) = latch(&command_args("clearsessions", &redis, &users));
    assert_eq!(status, 0, "{err}");
    assert_eq!(
        out.trim(),
        "removed nothing (no expired or unreadable session)"
    );
    assert!(
        b.is_signed_in(&alice),
        "clearsessions removed a live session"
    );
}

#[test]
#[ignore = "needs redis-server: apt-get install redis-server"]
fn latch_check_with_the_redis_url_says_whether_redis_keeps_sessions_durably() {
    let users = UsersFile::new(&[ALICE]);
    let check = |redis: &RedisServer| {
        let mut args = command_args("check", redis, &users);
        args.extend([
            format!("--www={}", repo_www().display()),
            "--addr=127.0.0.1:0".to_owned(),
        ]);
        latch(&args)
    };

    let durable = RedisServer::start();
    let (status, out, err) = check(&durable);
    assert_eq!((status, err.as_str()), (0, ""), "{out}");
    assert!(out.ends_with("ok\n"), "{out}");
    let verdict = out.to_lowercase();
    assert!(
        verdict.contains("durab") || verdict.contains("appendfsync"),
        "no durability verdict: {out}"
    );

    let not_durable = RedisServer::start_not_durable();
    let (status, out, err) = check(&not_durable);
    assert_eq!(status, 1, "{out}{err}");
    assert!(
        err.lines().any(|line| line.contains("appendonly")),
        "no problem names appendonly: {err}"
    );
}

#[test]
#[ignore = "needs redis-server: apt-get install redis-server"]
fn a_flood_of_refused_sign_ins_writes_no_key_and_one_account_holds_at_most_the_cap() {
    use latch::auth::sign_in::MAX_SIGN_INS_PER_USER;
    use latch::auth::throttle::ADDRESS_BURST;
    let redis = RedisServer::start();
    let users = UsersFile::new(&[ALICE]);
    let (a, b) = two_instances(&redis, &users, &[]);
    let count = |prefix: &str| {
        redis
            .keys()
            .iter()
            .filter(|k| k.starts_with(prefix))
            .count()
    };
    // One account signing in over and over, on both instances, holds at
    // most the cap of sessions.
    for n in 0..MAX_SIGN_INS_PER_USER + 5 {
        [&a, &b][n % 2].login(ALICE.0, ALICE.1);
    }
    assert_eq!(count("latch:s:"), MAX_SIGN_INS_PER_USER);
    // One address sprays one wrong password over ADDRESS_BURST names,
    // half on each instance: a counter per name, one for its failures.
    let before = count("latch:pace:");
    for n in 0..ADDRESS_BURST {
        let body = format!("username=sprayed{n}&password=x");
        assert_eq!(
            [&a, &b][n as usize % 2].post("/login", None, &body).status,
            422
        );
    }
    let after_burst = count("latch:pace:");
    assert_eq!(after_burst, before + ADDRESS_BURST as usize + 1);
    // Past the burst, 200 more names are refused on both instances, and
    // not one of them leaves a key behind.
    for n in 0..200 {
        let body = format!("username=fresh{n}&password=x");
        assert_eq!([&a, &b][n % 2].post("/login", None, &body).status, 429);
    }
    assert_eq!(count("latch:pace:"), after_burst, "refusals wrote keys");
}
