//! Anonymous sessions are bounded (docs/contract.md, "Sessions"): one
//! client address creates at most `quota::BURST` new ones at once, then
//! one per `quota::INTERVAL` (429 with `Retry-After` beyond it), and past `--max-sessions`
//! files a new anonymous session is refused with 503 and `Retry-After`,
//! while sign-in, sign-out and existing sessions keep working.

use latch::sessions::quota::{BURST, INTERVAL};

use crate::support::{Response, Server, ALICE};

/// A cookieless `POST /theme` that the trusted proxy says came from
/// `client`.
fn theme_from(server: &Server, client: &str) -> Response {
    server.send(
        "POST",
        "/theme",
        None,
        &[
            ("Content-Type", "application/x-www-form-urlencoded"),
            ("X-Forwarded-For", client),
        ],
        "theme=dark",
    )
}

fn assert_retry_after(response: &Response, status: u16, at_most: u64) {
    assert_eq!(response.status, status, "{}", response.text());
    let retry = response.header("retry-after").unwrap_or_default();
    assert!(
        retry
            .parse::<u64>()
            .is_ok_and(|s| (1..=at_most).contains(&s)),
        "Retry-After {retry:?}"
    );
    assert_eq!(response.header("set-cookie"), None, "no session was made");
}

#[test]
fn a_flood_of_new_anonymous_sessions_from_one_address_is_429_past_the_rate() {
    let server = Server::with_users(&[ALICE], &[]);
    for i in 0..BURST {
        let response = server.post("/theme", None, "theme=dark");
        assert_eq!(response.status, 303, "new session {i}");
        assert!(response.set_cookie_value("sid").is_some());
    }
    for _ in 0..5 {
        let refused = server.post("/theme", None, "theme=dark");
        assert_retry_after(&refused, 429, INTERVAL.as_secs());
    }
    assert_eq!(server.stored_sessions(), BURST as usize);
    // The same address still signs in, uses its session and signs out.
    let id = server.login(ALICE.0, ALICE.1);
    let cookie = format!("sid={id}");
    let token = server.csrf_token(&cookie);
    assert_eq!(server.set_theme(&cookie, &token, "light").status, 303);
    let logout = server.logout(&cookie, &token);
    assert_eq!(logout.status, 303);
    assert!(!server.is_signed_in(&cookie));
}

#[test]
fn the_rate_is_per_address_and_an_ipv6_client_is_counted_by_its_64_prefix() {
    let server = Server::start(&["--trusted-proxy", "127.0.0.1"]);
    for i in 0..BURST {
        let client = format!("2001:db8:1:2::{:x}", i + 1);
        assert_eq!(theme_from(&server, &client).status, 303, "{client}");
    }
    let same_64 = theme_from(&server, "2001:db8:1:2:ffff:ffff:ffff:ffff");
    assert_retry_after(&same_64, 429, INTERVAL.as_secs());
    assert_eq!(theme_from(&server, "2001:db8:1:3::1").status, 303);
    assert_eq!(theme_from(&server, "192.0.2.1").status, 303);
}

#[test]
fn past_max_sessions_a_new_anonymous_session_is_503_while_users_still_sign_in_and_out() {
    const CAP: usize = 6;
    let cap = CAP.to_string();
    let server = Server::with_users(
        &[ALICE],
        &["--max-sessions", &cap, "--trusted-proxy", "127.0.0.1"],
    );
    // A flood from many addresses, each well within its own rate.
    let mut anonymous = Vec::new();
    for i in 0..CAP + 4 {
        let response = theme_from(&server, &format!("198.51.100.{}", i + 1));
        if anonymous.len() < CAP {
            assert_eq!(response.status, 303, "session {i}");
            anonymous.push(response.set_cookie_value("sid").unwrap());
        } else {
            assert_retry_after(&response, 503, 3600);
        }
    }
    assert_eq!(server.stored_sessions(), CAP, "the dir stops at the cap");

    // Sign-in, use and sign-out all still work.
    let id = server.login(ALICE.0, ALICE.1);
    let cookie = format!("sid={id}");
    assert!(server.is_signed_in(&cookie));
    let token = server.csrf_token(&cookie);
    assert_eq!(server.set_theme(&cookie, &token, "dark").status, 303);
    let logout = server.logout(&cookie, &token);
    assert_eq!(logout.status, 303, "{}", logout.text());
    let moved = logout
        .set_cookie_value("sid")
        .expect("keep mode moves the theme");
    assert!(!moved.is_empty());
    assert!(!server.is_signed_in(&cookie));
    // Existing anonymous sessions keep working.
    let first = format!("sid={}", anonymous[0]);
    assert_eq!(
        server.post("/theme", Some(&first), "theme=light").status,
        303
    );
    assert!(server
        .get("/", Some(&first))
        .text()
        .contains("data-theme=\"light\""));
    assert!(server.wait_for_log("new anonymous sessions refused"));
}

#[test]
fn a_session_that_ends_makes_room_for_a_new_one() {
    let server = Server::with_users(
        &[ALICE],
        &["--max-sessions", "2", "--trusted-proxy", "127.0.0.1"],
    );
    assert_eq!(theme_from(&server, "192.0.2.1").status, 303);
    let id = server.login(ALICE.0, ALICE.1);
    assert_retry_after(&theme_from(&server, "192.0.2.2"), 503, 3600);
    let cookie = format!("sid={id}");
    let token = server.csrf_token(&cookie);
    let logout = server.logout(&cookie, &token);
    assert_eq!(logout.status, 303);
    assert_eq!(
        theme_from(&server, "192.0.2.2").status,
        303,
        "a slot was freed"
    );
}

#[test]
fn one_account_signing_in_over_and_over_holds_at_most_the_cap_of_sessions() {
    use latch::auth::sign_in::MAX_SIGN_INS_PER_USER;
    let server = Server::with_users(&[ALICE], &[]);
    let ids: Vec<String> = (0..MAX_SIGN_INS_PER_USER + 8)
        .map(|_| server.login(ALICE.0, ALICE.1))
        .collect();
    assert_eq!(server.stored_sessions(), MAX_SIGN_INS_PER_USER);
    // The oldest were ended; the newest still stand.
    for (i, id) in ids.iter().enumerate() {
        let standing = server.is_signed_in(&format!("sid={id}"));
        assert_eq!(standing, i >= 8, "sign-in {i}");
    }
    assert!(server.wait_for_log("the oldest 1 ended"));
}
