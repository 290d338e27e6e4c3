//! Login throttling over the wire (docs/contract.md, "Login throttling").

use std::io::{Read, Write};
use std::time::Duration;

use latch::auth::throttle::{ADDRESS_BURST, ADDRESS_INTERVAL};

use crate::support::{self, login, Server, ALICE};

fn attempt(server: &Server, user: &str, password: &str) -> support::Response {
    server.post(
        "/login",
        None,
        &format!("username={user}&password={password}"),
    )
}

#[test]
fn after_n_failures_a_pair_gets_429_with_retry_after_even_with_the_right_password() {
    let server = Server::with_users(&[ALICE], &["--login-throttle", "3"]);
    for _ in 0..3 {
        assert_eq!(attempt(&server, "alice", "wrong").status, 422);
    }
    let refused = attempt(&server, "alice", "wonderland");
    assert_eq!(refused.status, 429);
    let retry_after: u64 = refused.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=900).contains(&retry_after), "{retry_after}");
    assert_eq!(refused.header("set-cookie"), None);
}

#[test]
fn a_throttled_login_shows_the_sign_in_form_as_html_with_retry_after() {
    let server = Server::with_users(&[ALICE], &["--login-throttle", "1"]);
    assert_eq!(attempt(&server, "alice", "wrong").status, 422);
    let body = "username=alice&password=wonderland&next=%2Fdeep";
    let refused = server.post("/login", None, body);
    assert_eq!(refused.status_line, "HTTP/1.1 429 Too Many Requests");
    let retry_after: u64 = refused.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=900).contains(&retry_after), "{retry_after}");
    assert_eq!(
        refused.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    assert_eq!(refused.header("cache-control"), Some("no-store"));
    let html = refused.text();
    assert!(
        html.contains("Too many sign-in attempts for this user name from your network."),
        "{html}"
    );
    assert!(!html.contains("failed"), "nothing claims failures: {html}");
    assert!(html.contains("<form method=\"post\" action=\"/login\""));
    assert!(html.contains("name=\"password\""));
    assert!(html.contains("value=\"alice\""), "the name is kept");
    assert!(html.contains("name=\"next\" value=\"/deep\""), "{html}");
}

/// The status of every response in `bytes`, one HTTP/1.1 response after
/// another, each with a `Content-Length` body (as latch sends them).
fn statuses(mut bytes: &[u8]) -> Vec<u16> {
    let mut statuses = Vec::new();
    while !bytes.is_empty() {
        let head_end = bytes
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .expect("a whole head");
        let head = std::str::from_utf8(&bytes[..head_end]).unwrap();
        statuses.push(head[9..12].parse().unwrap());
        let length: usize = head
            .lines()
            .find_map(|l| {
                let (name, value) = l.split_once(':')?;
                name.eq_ignore_ascii_case("content-length")
                    .then(|| value.trim().parse().unwrap())
            })
            .expect("a Content-Length");
        bytes = &bytes[head_end + 4 + length..];
    }
    statuses
}

#[test]
fn two_hundred_logins_sent_at_once_get_at_most_n_checks_and_429_for_the_rest() {
    let server = Server::with_users(&[ALICE], &["--login-throttle", "5"]);
    let body = "username=alice&password=wrong";
    let request = |last: bool| {
        format!(
            "POST /login HTTP/1.1\r\nHost: x\r\n\
             Content-Type: application/x-www-form-urlencoded\r\n\
             Content-Length: {}\r\n{}\r\n{body}",
            body.len(),
            if last { "Connection: close\r\n" } else { "" }
        )
    };
    // 25 connections with one request each, 25 with seven pipelined: 200.
    let per_connection: Vec<usize> = (0..50).map(|i| if i % 2 == 0 { 1 } else { 7 }).collect();
    assert_eq!(per_connection.iter().sum::<usize>(), 200);
    let start = std::sync::Barrier::new(per_connection.len());
    let all: Vec<u16> = std::thread::scope(|scope| {
        let clients: Vec<_> = per_connection
            .iter()
            .map(|&count| {
                let mut stream = server.connect();
                let bytes: String = (0..count).map(|i| request(i + 1 == count)).collect();
                let start = &start;
                scope.spawn(move || {
                    start.wait();
                    stream.write_all(bytes.as_bytes()).unwrap();
                    let mut answer = Vec::new();
                    stream.read_to_end(&mut answer).unwrap();
                    let got = statuses(&answer);
                    assert_eq!(got.len(), count, "{}", String::from_utf8_lossy(&answer));
                    got
                })
            })
            .collect();
        clients
            .into_iter()
            .flat_map(|c| c.join().unwrap())
            .collect()
    });
    let checked = all.iter().filter(|&&s| s == 422).count();
    let refused = all.iter().filter(|&&s| s == 429).count();
    assert!((1..=5).contains(&checked), "{checked} passwords checked");
    assert_eq!(checked + refused, 200, "{all:?}");
    server.log_barrier();
    let log = server.stderr();
    assert_eq!(log.matches("login failed user=alice").count(), checked);
}

#[test]
fn a_throttled_login_is_answered_without_checking_the_password() {
    let server = Server::with_users(&[ALICE], &["--login-throttle", "1"]);
    assert_eq!(attempt(&server, "alice", "wrong").status, 422);
    for _ in 0..3 {
        assert_eq!(attempt(&server, "alice", "wrong").status, 429);
    }
    // A checked password logs "login failed"; a throttled attempt logs
    // "login throttled" and goes no further.
    assert!(server.wait_for_log("login throttled user=alice"));
    std::thread::sleep(Duration::from_millis(100));
    server.log_barrier();
    let log = server.stderr();
    assert_eq!(log.matches("login failed user=alice").count(), 1, "{log}");
    assert_eq!(
        log.matches("login throttled user=alice").count(),
        3,
        "{log}"
    );
}

#[test]
fn spraying_from_one_address_is_paced_past_its_burst_for_seconds_never_the_window() {
    let server = Server::with_users(&[ALICE], &["--login-throttle", "2"]);
    // alice's browser has signed in before: it holds a device cookie.
    let first = login(&server, "alice", "wonderland");
    let device = first.set_cookie_value("device").expect("a device cookie");
    // One wrong password tried on ADDRESS_BURST names from this address.
    for i in 0..ADDRESS_BURST {
        assert_eq!(attempt(&server, &format!("user{i}"), "x").status, 422);
    }
    // Past the burst the address is paced: a new browser is told the
    // seconds to wait, never the 15-minute window.
    let paced = attempt(&server, "alice", "wonderland");
    assert_eq!(paced.status, 429);
    let retry_after: u64 = paced.header("retry-after").unwrap().parse().unwrap();
    assert!(
        (1..=ADDRESS_INTERVAL.as_secs()).contains(&retry_after),
        "{retry_after}"
    );
    assert!(paced
        .text()
        .contains("Too many failed sign-ins from your network"));
    // alice's own browser is counted apart, and gets in at once.
    let known = server.send(
        "POST",
        "/login",
        Some(&format!("device={device}")),
        &[("Content-Type", "application/x-www-form-urlencoded")],
        "username=alice&password=wonderland",
    );
    assert_eq!(known.status, 303, "{}", known.text());
    // And the new browser, once it has waited, gets in too.
    std::thread::sleep(Duration::from_secs(retry_after));
    assert_eq!(attempt(&server, "alice", "wonderland").status, 303);
    server.log_barrier();
    let log = server.stderr();
    assert!(log.contains("login throttled user=alice client=127.0.0.1 counted=address"));
}

#[test]
fn a_success_clears_the_pairs_count() {
    let server = Server::with_users(&[ALICE], &["--login-throttle", "2"]);
    assert_eq!(attempt(&server, "alice", "wrong").status, 422);
    assert_eq!(attempt(&server, "alice", "wonderland").status, 303);
    assert_eq!(attempt(&server, "alice", "wrong").status, 422);
    assert_eq!(attempt(&server, "alice", "wonderland").status, 303);
}

#[test]
fn zero_turns_throttling_off() {
    let server = Server::with_users(&[ALICE], &["--login-throttle", "0"]);
    for _ in 0..12 {
        assert_eq!(attempt(&server, "alice", "wrong").status, 422);
    }
    assert_eq!(attempt(&server, "alice", "wonderland").status, 303);
}

#[test]
fn pages_keep_answering_while_logins_are_hammered() {
    let server = Server::with_users(&[ALICE], &["--login-throttle", "0"]);
    let id = server.login("alice", "wonderland");
    let cookie = format!("sid={id}");
    let stop = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|scope| {
        for _ in 0..8 {
            scope.spawn(|| {
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    assert_eq!(attempt(&server, "alice", "wrong").status, 422);
                }
            });
        }
        std::thread::sleep(Duration::from_millis(300));
        // Eight clients keep every password-checking slot busy; the account
        // page must still come back (within the support's socket timeout).
        // How fast it comes back is measured by the benchmark, not here.
        for _ in 0..10 {
            assert_eq!(server.get("/account", Some(&cookie)).status, 200);
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
    });
}

#[test]
fn behind_a_trusted_proxy_each_forwarded_client_is_counted_apart() {
    let server = Server::with_users(
        &[ALICE],
        &["--login-throttle", "1", "--trusted-proxy", "127.0.0.1"],
    );
    let from = |client: &str, password: &str| {
        let headers = [
            ("Content-Type", "application/x-www-form-urlencoded"),
            ("X-Forwarded-For", client),
        ];
        let body = format!("username=alice&password={password}");
        server.send("POST", "/login", None, &headers, &body).status
    };
    assert_eq!(from("203.0.113.1", "wrong"), 422);
    assert_eq!(from("203.0.113.1", "wonderland"), 429);
    // Another client behind the same proxy is not locked out...
    assert_eq!(from("203.0.113.2", "wonderland"), 303);
    // ...and a client cannot dodge its count by prepending an address:
    // only the entry the proxy appended counts.
    assert_eq!(from("198.51.100.9, 203.0.113.1", "wonderland"), 429);
    assert!(server.wait_for_log("client=203.0.113.2"));
}

/// nginx told to reach `localhost` may connect over `::1` while latch was
/// told `--trusted-proxy 127.0.0.1`: both addresses of `localhost` are the
/// proxy, so each forwarded client still counts apart (otherwise one
/// client's failures would lock out everyone behind the proxy).
#[test]
fn a_loopback_proxy_arriving_over_ipv6_still_counts_each_forwarded_client_apart() {
    let server = Server::with_users(
        &[ALICE],
        &[
            "--login-throttle",
            "1",
            "--trusted-proxy",
            "127.0.0.1",
            "--addr=[::1]:0",
        ],
    );
    assert!(server.addr.ip().is_ipv6() && server.addr.ip().is_loopback());
    let from = |client: &str, password: &str| {
        let headers = [
            ("Content-Type", "application/x-www-form-urlencoded"),
            ("X-Forwarded-For", client),
        ];
        let body = format!("username=alice&password={password}");
        server.send("POST", "/login", None, &headers, &body).status
    };
    assert_eq!(from("203.0.113.1", "wrong"), 422);
    assert_eq!(from("203.0.113.1", "wonderland"), 429);
    assert_eq!(from("203.0.113.2", "wonderland"), 303);
    assert!(server.wait_for_log("client=203.0.113.2"));
    assert!(!server.stderr().contains("which is not --trusted-proxy"));
}

/// `X-Forwarded-For` from a peer that is not the trusted proxy is ignored,
/// and said once in the log, naming the peer and the flag's value, so an
/// operator whose proxy arrives from another address sees why every client
/// counts as one.
#[test]
fn x_forwarded_for_from_a_peer_that_is_not_the_trusted_proxy_is_logged_once() {
    let server = Server::with_users(
        &[ALICE],
        &["--login-throttle", "1", "--trusted-proxy", "192.0.2.1"],
    );
    let wrong = |client: &str| {
        let headers = [
            ("Content-Type", "application/x-www-form-urlencoded"),
            ("X-Forwarded-For", client),
        ];
        server
            .send(
                "POST",
                "/login",
                None,
                &headers,
                "username=alice&password=x",
            )
            .status
    };
    assert_eq!(server.get("/healthz", None).status, 200);
    assert!(!server.stderr().contains("X-Forwarded-For from"));
    assert_eq!(wrong("203.0.113.1"), 422);
    let line = "X-Forwarded-For from 127.0.0.1, which is not --trusted-proxy 192.0.2.1: ignored";
    assert!(server.wait_for_log(line), "{}", server.stderr());
    assert_eq!(wrong("203.0.113.2"), 429, "both count as 127.0.0.1");
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(server.stderr().matches("X-Forwarded-For from").count(), 1);
}

#[test]
fn without_trusted_proxy_x_forwarded_for_is_ignored() {
    let server = Server::with_users(&[ALICE], &["--login-throttle", "1"]);
    let headers = [
        ("Content-Type", "application/x-www-form-urlencoded"),
        ("X-Forwarded-For", "203.0.113.1"),
    ];
    let wrong = server.send(
        "POST",
        "/login",
        None,
        &headers,
        "username=alice&password=x",
    );
    assert_eq!(wrong.status, 422);
    let other = [
        ("Content-Type", "application/x-www-form-urlencoded"),
        ("X-Forwarded-For", "203.0.113.2"),
    ];
    let response = server.send(
        "POST",
        "/login",
        None,
        &other,
        "username=alice&password=wonderland",
    );
    assert_eq!(response.status, 429, "both count as 127.0.0.1");
}
