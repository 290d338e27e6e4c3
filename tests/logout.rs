//! `POST /logout`, step by step as docs/contract.md ("Logout") numbers it. Each test names the
//! step it holds the server to.

use crate::support::{on_both_backends, Backend, Response, Server, ALICE, BOB};

fn logout(server: &Server, id: &str, body: &str) -> Response {
    server.post("/logout", Some(&format!("sid={id}")), body)
}

fn signed_in(server: &Server) -> (String, String) {
    let id = server.login(ALICE.0, ALICE.1);
    let token = server.csrf_token(&format!("sid={id}"));
    (id, token)
}

fn auth_keys(json: &serde_json::Value) -> Vec<String> {
    json["data"]
        .as_object()
        .unwrap()
        .keys()
        .filter(|k| k.starts_with("_auth_"))
        .cloned()
        .collect()
}

fn count(haystack: &str, needle: &str) -> usize {
    haystack.matches(needle).count()
}

// Methods.

fn logout_by_get_head_put_delete_is_405_with_allow_post_and_the_user_stays_signed_in(
    backend: Backend,
) {
    let server = Server::with_users_on(backend, &[ALICE], &[]);
    let (id, token) = signed_in(&server);
    let cookie = format!("sid={id}");
    for method in ["GET", "HEAD", "PUT", "DELETE", "PATCH"] {
        let response = server.send(
            method,
            "/logout",
            Some(&cookie),
            &[("X-CSRF-Token", &token)],
            "",
        );
        assert_eq!(response.status, 405, "{method}");
        assert_eq!(response.header("allow"), Some("POST, OPTIONS"), "{method}");
    }
    assert!(server.is_signed_in(&cookie));
}

fn options_on_logout_is_204_with_allow(backend: Backend) {
    let server = Server::start_on(backend, &[]);
    let response = server.send("OPTIONS", "/logout", None, &[], "");
    assert_eq!(response.status, 204);
    assert_eq!(response.header("allow"), Some("POST, OPTIONS"));
}

// Step 1: the cross-origin check.

fn step1_a_cross_origin_logout_is_403_and_changes_nothing(backend: Backend) {
    let server = Server::with_users_on(backend, &[ALICE], &[]);
    let (id, token) = signed_in(&server);
    let cookie = format!("sid={id}");
    let before = server.session_json(&id).unwrap();
    let body = format!("csrf_token={token}");
    let host_origin = format!("http://{}", server.addr);
    for headers in [
        vec![("Sec-Fetch-Site", "cross-site")],
        vec![("Sec-Fetch-Site", "same-site")],
        vec![("Origin", "http://evil.example")],
        vec![("Origin", "null")],
        vec![
            ("Sec-Fetch-Site", "cross-site"),
            ("Origin", host_origin.as_str()),
        ],
    ] {
        let mut all = vec![("Content-Type", "application/x-www-form-urlencoded")];
        all.extend(headers.iter().copied());
        let response = server.send("POST", "/logout", Some(&cookie), &all, &body);
        assert_eq!(response.status, 403, "{headers:?}");
        assert_eq!(response.header("set-cookie"), None);
    }
    assert_eq!(server.session_json(&id).unwrap(), before);
    assert!(server.is_signed_in(&cookie));
    server.log_barrier();
    assert_eq!(count(&server.stderr(), "logout user="), 0);
}

fn step1_same_origin_browsers_and_plain_clients_pass(backend: Backend) {
    let server = Server::with_users_on(backend, &[ALICE], &[]);
    let host_origin = format!("http://{}", server.addr);
    for headers in [
        vec![("Sec-Fetch-Site", "same-origin")],
        vec![("Sec-Fetch-Site", "none")],
        vec![("Origin", host_origin.as_str())],
        vec![],
    ] {
        let (id, token) = signed_in(&server);
        let mut all = vec![("Content-Type", "application/x-www-form-urlencoded")];
        all.extend(headers.iter().copied());
        let body = format!("csrf_token={token}");
        let response = server.send("POST", "/logout", Some(&format!("sid={id}")), &all, &body);
        assert_eq!(response.status, 303, "{headers:?}");
    }
}

// Step 2: the CSRF token.

fn step2_a_missing_or_wrong_token_is_403_and_the_user_stays_signed_in(backend: Backend) {
    let server = Server::with_users_on(backend, &[ALICE], &[]);
    let (id, token) = signed_in(&server);
    let cookie = format!("sid={id}");
    let mut wrong = token.clone().into_bytes();
    wrong[0] = if wrong[0] == b'A' { b'B' } else { b'A' };
    let wrong = String::from_utf8(wrong).unwrap();
    for body in [
        String::new(),
        "csrf_token=".into(),
        format!("csrf_token={wrong}"),
        format!("csrf_token={}", &token[..42]),
        format!("csrf_token={token}x"),
    ] {
        let response = logout(&server, &id, &body);
        assert_eq!(response.status, 403, "{body}");
    }
    assert!(server.is_signed_in(&cookie));
    assert!(server.session_json(&id).is_some());
}

fn step2_the_token_may_come_in_the_x_csrf_token_header(backend: Backend) {
    let server = Server::with_users_on(backend, &[ALICE], &[]);
    let (id, token) = signed_in(&server);
    let cookie = format!("sid={id}");
    let response = server.send(
        "POST",
        "/logout",
        Some(&cookie),
        &[("X-CSRF-Token", &token)],
        "",
    );
    assert_eq!(response.status, 303);
    assert!(!server.is_signed_in(&cookie));
}

// Step 3: keep and flush.

fn step3_keep_moves_non_auth_data_to_a_fresh_id_and_deletes_the_old_session(backend: Backend) {
    let server = Server::with_users_on(backend, &[ALICE], &["--session-ttl", "5000"]);
    let (id, token) = signed_in(&server);
    let cookie = format!("sid={id}");
    assert_eq!(server.set_theme(&cookie, &token, "dark").status, 303);
    let before = server.session_json(&id).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(1100));

    let response = logout(&server, &id, &format!("csrf_token={token}"));
    assert_eq!(response.status, 303);
    let new_id = response
        .set_cookie_value("sid")
        .expect("keep mode sets a new cookie");
    assert_ne!(new_id, id);
    assert!(server.session_json(&id).is_none(), "old session deleted");
    let after = server
        .session_json(&new_id)
        .expect("new session stored before the answer");
    assert!(auth_keys(&after).is_empty(), "{after}");
    assert_eq!(after["data"]["theme"], "dark");
    assert_ne!(
        after["data"]["_csrf"], before["data"]["_csrf"],
        "_csrf replaced"
    );
    assert_eq!(after["created"], before["created"]);
    assert_eq!(after["expires"], before["expires"]);
    // The cookie's Max-Age counts down to the kept expiry.
    let line = response.header("set-cookie").unwrap();
    let max_age: u64 = line.rsplit("Max-Age=").next().unwrap().parse().unwrap();
    assert!((4990..5000).contains(&max_age), "{line}");
    assert!(line.starts_with(&format!(
        "sid={new_id}; Path=/; HttpOnly; SameSite=Lax; Max-Age="
    )));
    // The old cookie is worth nothing; the new one keeps the theme, signed out.
    assert!(!server.is_signed_in(&cookie));
    let page = server.get("/", Some(&format!("sid={new_id}"))).text();
    assert!(page.contains("data-theme=\"dark\"") && page.contains("not signed in"));
    assert!(server.wait_for_log("logout user=alice scope=this mode=keep"));
}

fn step3_keep_with_nothing_but_csrf_left_is_a_flush(backend: Backend) {
    let server = Server::with_users_on(backend, &[ALICE], &[]);
    let (id, token) = signed_in(&server);
    let response = logout(&server, &id, &format!("csrf_token={token}"));
    assert_eq!(
        response.header("set-cookie"),
        Some("sid=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0")
    );
    assert_eq!(server.stored_sessions(), 0);
    assert!(server.wait_for_log("logout user=alice scope=this mode=flush"));
}

fn step3_flush_deletes_the_session_and_sends_the_removal_cookie(backend: Backend) {
    let server = Server::with_users_on(backend, &[ALICE], &["--logout-flush"]);
    let (id, token) = signed_in(&server);
    let cookie = format!("sid={id}");
    server.set_theme(&cookie, &token, "dark");
    let response = logout(&server, &id, &format!("csrf_token={token}"));
    assert_eq!(response.status, 303);
    let session_cookies: Vec<&str> = response
        .headers_named("set-cookie")
        .into_iter()
        .filter(|line| line.starts_with("sid="))
        .collect();
    assert_eq!(
        session_cookies,
        vec!["sid=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0"]
    );
    assert_eq!(
        server.stored_sessions(),
        0,
        "theme is gone with the session"
    );
    assert!(server.wait_for_log("logout user=alice scope=this mode=flush"));
}

fn step3_the_removal_cookie_repeats_secure_and_the_host_prefix(backend: Backend) {
    let server = Server::with_users_on(backend, &[ALICE], &["--logout-flush", "--secure-cookies"]);
    let response = server.post("/login", None, "username=alice&password=wonderland");
    let id = response.set_cookie_value("__Host-sid").unwrap();
    let cookie = format!("__Host-sid={id}");
    let token = server.csrf_token(&cookie);
    let response = server.logout(&cookie, &token);
    assert_eq!(
        response.header("set-cookie"),
        Some("__Host-sid=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0; Secure")
    );
}

// Step 4: scope=all.

fn step4_scope_all_signs_out_every_session_of_the_user_and_no_one_else(backend: Backend) {
    let server = Server::with_users_on(backend, &[ALICE, BOB], &[]);
    let (first, token) = signed_in(&server);
    let second = server.login(ALICE.0, ALICE.1);
    let bobs = server.login(BOB.0, BOB.1);
    let response = logout(&server, &first, &format!("csrf_token={token}&scope=all"));
    assert_eq!(response.status, 303);
    assert!(!server.is_signed_in(&format!("sid={first}")));
    assert!(!server.is_signed_in(&format!("sid={second}")));
    assert!(server.is_signed_in(&format!("sid={bobs}")));
    assert!(server.wait_for_log("logout user=alice scope=all mode=flush"));
    // The other session lost its auth fields on its next request.
    if let Some(json) = server.session_json(&second) {
        assert!(auth_keys(&json).is_empty(), "{json}");
    }
    // Alice can sign in again afterwards.
    let again = server.login(ALICE.0, ALICE.1);
    assert!(server.is_signed_in(&format!("sid={again}")));
}

fn step4_scope_this_leaves_the_users_other_sessions_alone(backend: Backend) {
    let server = Server::with_users_on(backend, &[ALICE], &[]);
    let (first, token) = signed_in(&server);
    let second = server.login(ALICE.0, ALICE.1);
    logout(&server, &first, &format!("csrf_token={token}"));
    assert!(server.is_signed_in(&format!("sid={second}")));
}

// Step 5: the answer.

fn step5_the_answer_is_303_no_store_clear_site_data_to_the_default(backend: Backend) {
    let server = Server::with_users_on(backend, &[ALICE], &[]);
    let (id, token) = signed_in(&server);
    let response = logout(&server, &id, &format!("csrf_token={token}"));
    assert_eq!(response.status_line, "HTTP/1.1 303 See Other");
    assert_eq!(response.header("location"), Some("/"));
    assert_eq!(response.header("cache-control"), Some("no-store"));
    assert_eq!(response.header("clear-site-data"), Some("\"cache\""));
}

fn step5_a_safe_next_wins_body_first_then_query(backend: Backend) {
    let server = Server::with_users_on(
        backend,
        &[ALICE],
        &["--logout-redirect", "/logged-out.html"],
    );
    let cases = [
        ("/logout", "", "/logged-out.html"),
        ("/logout?next=/login", "", "/login"),
        (
            "/logout?next=/from-query",
            "next=%2Ffrom-body",
            "/from-body",
        ),
        (
            "/logout",
            "next=%2Fview%2F%3Fparam%3Dhttp%3A%2F%2Fexample.com",
            "/view/?param=http://example.com",
        ),
        ("/logout", "next=%2F%257Euser%2F", "/%7Euser/"),
        (
            "/logout",
            "next=%2Fsearch%3Fq%3DC%253A%255Cwork",
            "/search?q=C%3A%5Cwork",
        ),
        ("/logout?next=/search%3Fq=a%250Ab", "", "/search?q=a%0Ab"),
    ];
    for (path, extra, want) in cases {
        let (id, token) = signed_in(&server);
        let body = format!("csrf_token={token}&{extra}");
        let response = server.post(path, Some(&format!("sid={id}")), &body);
        assert_eq!(response.header("location"), Some(want), "{path} {extra}");
    }
}

fn step5_unsafe_next_spellings_fall_back_to_the_default_and_still_log_out(backend: Backend) {
    // Django's test_security_check and URLHasAllowedHostAndSchemeTests lists.
    let server = Server::with_users_on(backend, &[ALICE], &["--logout-redirect", "/bye"]);
    let hostile = [
        "http://example.com",
        "http:///example.com",
        "https://example.com",
        "ftp://example.com",
        "///example.com",
        "//example.com",
        "javascript:alert(\"XSS\")",
        "\\\\example.com",
        "/\\example.com",
        "\\/example.com",
        "/\\/example.com",
        "http:/\\//example.com",
        "\njavascript:alert(x)",
        "\x08//example.com",
        "http://testserver\\@example.com",
        "http:999999999",
        "/%2F%2Fevil.example",
        "/%5Cevil.example",
        "view/?param=//example.com",
    ];
    for next in hostile {
        let (id, token) = signed_in(&server);
        let encoded = latch::http::encoding::percent_encode(next);
        let response = logout(&server, &id, &format!("csrf_token={token}&next={encoded}"));
        assert_eq!(response.header("location"), Some("/bye"), "{next:?}");
        assert!(!server.is_signed_in(&format!("sid={id}")), "{next:?}");
    }
    let long = format!("/{}", "a".repeat(2048));
    let (id, token) = signed_in(&server);
    let response = logout(&server, &id, &format!("csrf_token={token}&next={long}"));
    assert_eq!(response.header("location"), Some("/bye"));
}

// Step 6: no signed-in session.

fn step6_without_a_session_the_answer_is_the_same_303_and_no_cookie(backend: Backend) {
    let server = Server::start_on(backend, &[]);
    let response = server.post("/logout", None, "");
    assert_eq!(response.status, 303);
    assert_eq!(response.header("location"), Some("/"));
    assert_eq!(response.header("cache-control"), Some("no-store"));
    assert_eq!(response.header("set-cookie"), None);
    assert_eq!(server.stored_sessions(), 0);
}

fn step6_an_anonymous_session_is_left_exactly_as_it_was_even_in_flush_mode(backend: Backend) {
    let server = Server::start_on(backend, &["--logout-flush"]);
    let id = server
        .post("/theme", None, "theme=dark")
        .set_cookie_value("sid")
        .unwrap();
    let before = server.session_json(&id).unwrap();
    let response = logout(&server, &id, "");
    assert_eq!(response.status, 303);
    assert_eq!(response.header("set-cookie"), None);
    assert_eq!(server.session_json(&id).unwrap(), before);
    server.log_barrier();
    assert_eq!(count(&server.stderr(), "logout user="), 0);
}

// Step 7: one log line.

fn step7_one_log_line_per_signed_in_logout_and_none_for_a_replay(backend: Backend) {
    let server = Server::with_users_on(backend, &[ALICE], &[]);
    let (id, token) = signed_in(&server);
    let body = format!("csrf_token={token}");
    assert_eq!(logout(&server, &id, &body).status, 303);
    assert_eq!(
        logout(&server, &id, &body).status,
        303,
        "a replay is an anonymous logout"
    );
    server.log_barrier();
    assert_eq!(
        count(&server.stderr(), "logout user=alice scope=this mode="),
        1
    );
}

// Step 8: durable before the answer.

fn step8_the_change_is_stored_when_the_answer_arrives(backend: Backend) {
    let server = Server::with_users_on(backend, &[ALICE], &[]);
    for _ in 0..5 {
        let (id, token) = signed_in(&server);
        server.set_theme(&format!("sid={id}"), &token, "light");
        let response = logout(&server, &id, &format!("csrf_token={token}"));
        // Checked the instant the response is read: no later save can be pending.
        assert!(server.session_json(&id).is_none());
        let new_id = response.set_cookie_value("sid").unwrap();
        assert!(auth_keys(&server.session_json(&new_id).unwrap()).is_empty());
    }
}

// The guarantee: a logout is never undone.

fn a_logout_is_never_undone_by_requests_racing_it(backend: Backend) {
    let server = Server::with_users_on(backend, &[ALICE], &[]);
    for round in 0..30 {
        let (id, token) = signed_in(&server);
        let cookie = format!("sid={id}");
        let theme_body = format!("theme=dark&csrf_token={token}");
        let logout_body = format!("csrf_token={token}");
        std::thread::scope(|scope| {
            for worker in 0..6 {
                let (server, cookie, theme_body, logout_body) =
                    (&server, &cookie, &theme_body, &logout_body);
                scope.spawn(move || match (worker + round) % 6 {
                    0 | 3 => {
                        assert!(server.post("/logout", Some(cookie), logout_body).status < 500)
                    }
                    1 | 4 => assert!(server.post("/theme", Some(cookie), theme_body).status < 500),
                    _ => assert!(server.get("/account", Some(cookie)).status < 500),
                });
            }
        });
        assert!(!server.is_signed_in(&cookie), "round {round}");
        for listing in server.listed_sessions() {
            let json = serde_json::to_value(&listing.record).unwrap();
            assert!(
                auth_keys(&json).is_empty(),
                "round {round}: session {} signed in again: {json}",
                listing.label
            );
        }
    }
}

// Cookie tossing: a sibling subdomain plants a `sid` cookie beside ours
// (no `__Host-` prefix without --secure-cookies), and the browser sends
// both, the planted one first.

/// A well-formed id that names no session.
fn dead_id() -> String {
    latch::sessions::SessionId::generate().as_str().to_owned()
}

fn a_dead_cookie_tossed_ahead_of_a_live_one_does_not_hide_the_sign_in(backend: Backend) {
    let server = Server::with_users_on(backend, &[ALICE], &[]);
    let (id, _) = signed_in(&server);
    let tossed = format!("sid={}; sid={id}", dead_id());
    assert!(
        server.is_signed_in(&tossed),
        "/account sees the live session"
    );
    assert!(server.get("/", Some(&tossed)).text().contains(ALICE.0));
}

fn logout_with_a_dead_cookie_tossed_ahead_signs_out_the_live_session(backend: Backend) {
    let server = Server::with_users_on(backend, &[ALICE], &[]);
    let (id, token) = signed_in(&server);
    let tossed = format!("sid={}; sid={id}", dead_id());
    let response = server.logout(&tossed, &token);
    assert_eq!(response.status, 303);
    assert_eq!(
        response.header("set-cookie"),
        Some("sid=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0")
    );
    assert!(server.session_json(&id).is_none());
    assert!(!server.is_signed_in(&format!("sid={id}")));
    assert!(!server.is_signed_in(&tossed));
    assert!(server.wait_for_log("logout user=alice scope=this mode=flush"));
}

fn an_anonymous_live_cookie_tossed_ahead_does_not_hide_the_sign_in_and_logout_ends_it(
    backend: Backend,
) {
    let server = Server::with_users_on(backend, &[ALICE], &[]);
    let (id, token) = signed_in(&server);
    // The tosser's own session: live, anonymous (a theme makes one).
    let anonymous = server
        .post("/theme", None, "theme=dark")
        .set_cookie_value("sid")
        .expect("a theme makes an anonymous session");
    let tossed = format!("sid={anonymous}; sid={id}");

    let home = server.get("/", Some(&tossed));
    let page = home.text();
    assert!(
        page.contains("Signed in as <strong>alice</strong>"),
        "{page}"
    );
    assert!(page.contains("id=\"logout\""), "no Sign out button: {page}");
    assert!(!page.contains("not signed in"), "{page}");
    // The page's forms carry alice's token: the one a Sign out sends.
    assert_eq!(home.csrf_token(), Some(token.clone()));
    assert!(server.is_signed_in(&tossed));

    let response = server.logout(&tossed, &token);
    assert_eq!(response.status, 303, "{}", response.text());
    assert!(server.wait_for_log("logout user=alice scope=this"));
    assert!(
        server.session_json(&id).is_none(),
        "alice's session lives on"
    );
    assert!(!server.is_signed_in(&format!("sid={id}")));
    assert!(!server.is_signed_in(&tossed));
}

fn logout_ends_every_signed_in_session_the_cookies_name(backend: Backend) {
    let server = Server::with_users_on(backend, &[ALICE, BOB], &[]);
    let (alice, alice_token) = signed_in(&server);
    let bob = server.login(BOB.0, BOB.1);
    let both = format!("sid={bob}; sid={alice}");
    // The pages show the first live session: bob's.
    assert_eq!(
        server.csrf_token(&both),
        server.csrf_token(&format!("sid={bob}"))
    );
    // Either session's token will do: here alice's, the second one named.
    let response = server.logout(&both, &alice_token);
    assert_eq!(response.status, 303, "{}", response.text());
    assert!(!server.is_signed_in(&format!("sid={alice}")));
    assert!(!server.is_signed_in(&format!("sid={bob}")));
    server.log_barrier();
    let log = server.stderr();
    assert_eq!(count(&log, "logout user=bob scope=this mode=flush"), 1);
    assert_eq!(count(&log, "logout user=alice scope=this mode=flush"), 1);
}

fn logout_naming_several_signed_in_sessions_without_a_matching_token_is_403_and_changes_nothing(
    backend: Backend,
) {
    let server = Server::with_users_on(backend, &[ALICE, BOB], &[]);
    let (alice, _) = signed_in(&server);
    let bob = server.login(BOB.0, BOB.1);
    let both = format!("sid={bob}; sid={alice}");
    for body in ["", "csrf_token=", &format!("csrf_token={}", dead_id())] {
        let response = server.post("/logout", Some(&both), body);
        assert_eq!(response.status, 403, "{body:?}");
    }
    assert!(server.is_signed_in(&format!("sid={alice}")));
    assert!(server.is_signed_in(&format!("sid={bob}")));
}

fn scope_all_with_a_tossed_cookie_signs_the_user_out_everywhere_once(backend: Backend) {
    let server = Server::with_users_on(backend, &[ALICE], &[]);
    let (first, token) = signed_in(&server);
    let second = server.login(ALICE.0, ALICE.1);
    let elsewhere = server.login(ALICE.0, ALICE.1);
    let both = format!("sid={first}; sid={second}");
    let response = server.post(
        "/logout",
        Some(&both),
        &format!("csrf_token={token}&scope=all"),
    );
    assert_eq!(response.status, 303);
    for id in [&first, &second, &elsewhere] {
        assert!(!server.is_signed_in(&format!("sid={id}")));
    }
    let epoch = server.epoch("alice");
    assert_eq!(epoch, 1, "one advance for one user");
}

/// "Sign out everywhere" with two sessions of another user named beside
/// ours (cookies tossed in): that user is signed out everywhere too, with
/// one advance of their epoch however many of their sessions the request
/// names. Each ended session has its log line; the user's first says
/// `scope=all`, the next one `scope=this`, as for the request's own user.
fn scope_all_with_two_sessions_of_another_user_named_signs_that_user_out_everywhere_once(
    backend: Backend,
) {
    let server = Server::with_users_on(backend, &[ALICE, BOB], &[]);
    let (alice, token) = signed_in(&server);
    let (bob_1, bob_2) = (server.login(BOB.0, BOB.1), server.login(BOB.0, BOB.1));
    let bob_elsewhere = server.login(BOB.0, BOB.1);
    let named = format!("sid={alice}; sid={bob_1}; sid={bob_2}");
    let response = server.post(
        "/logout",
        Some(&named),
        &format!("csrf_token={token}&scope=all"),
    );
    assert_eq!(response.status, 303, "{}", response.text());
    for id in [&alice, &bob_1, &bob_2, &bob_elsewhere] {
        assert!(!server.is_signed_in(&format!("sid={id}")));
    }
    assert_eq!(server.epoch("bob"), 1, "one advance for one user");
    server.log_barrier();
    let log = server.stderr();
    assert_eq!(count(&log, "logout user=bob scope=all"), 1, "{log}");
    assert_eq!(count(&log, "logout user=bob scope=this"), 1, "{log}");
}

on_both_backends! {
    logout_by_get_head_put_delete_is_405_with_allow_post_and_the_user_stays_signed_in,
    options_on_logout_is_204_with_allow,
    step1_a_cross_origin_logout_is_403_and_changes_nothing,
    step1_same_origin_browsers_and_plain_clients_pass,
    step2_a_missing_or_wrong_token_is_403_and_the_user_stays_signed_in,
    step2_the_token_may_come_in_the_x_csrf_token_header,
    step3_keep_moves_non_auth_data_to_a_fresh_id_and_deletes_the_old_session,
    step3_keep_with_nothing_but_csrf_left_is_a_flush,
    step3_flush_deletes_the_session_and_sends_the_removal_cookie,
    step3_the_removal_cookie_repeats_secure_and_the_host_prefix,
    step4_scope_all_signs_out_every_session_of_the_user_and_no_one_else,
    step4_scope_this_leaves_the_users_other_sessions_alone,
    step5_the_answer_is_303_no_store_clear_site_data_to_the_default,
    step5_a_safe_next_wins_body_first_then_query,
    step5_unsafe_next_spellings_fall_back_to_the_default_and_still_log_out,
    step6_without_a_session_the_answer_is_the_same_303_and_no_cookie,
    step6_an_anonymous_session_is_left_exactly_as_it_was_even_in_flush_mode,
    step7_one_log_line_per_signed_in_logout_and_none_for_a_replay,
    step8_the_change_is_stored_when_the_answer_arrives,
    a_logout_is_never_undone_by_requests_racing_it,
    a_dead_cookie_tossed_ahead_of_a_live_one_does_not_hide_the_sign_in,
    logout_with_a_dead_cookie_tossed_ahead_signs_out_the_live_session,
    an_anonymous_live_cookie_tossed_ahead_does_not_hide_the_sign_in_and_logout_ends_it,
    logout_ends_every_signed_in_session_the_cookies_name,
    logout_naming_several_signed_in_sessions_without_a_matching_token_is_403_and_changes_nothing,
    scope_all_with_a_tossed_cookie_signs_the_user_out_everywhere_once,
    scope_all_with_two_sessions_of_another_user_named_signs_that_user_out_everywhere_once,
}
