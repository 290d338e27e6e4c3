//! Signing in and the protected page (docs/contract.md, Routes: /login, /account).

use crate::support::{on_both_backends, Backend, Server, ALICE, BOB};

fn account_without_a_session_redirects_to_login_with_next(backend: Backend) {
    let server = Server::with_users_on(backend, &[ALICE], &[]);
    let response = server.get("/account", None);
    assert_eq!(response.status_line, "HTTP/1.1 303 See Other");
    assert_eq!(response.header("location"), Some("/login?next=%2Faccount"));
    assert_eq!(response.header("cache-control"), Some("no-store"));
}

fn the_login_form_carries_a_safe_next_and_drops_an_unsafe_one(backend: Backend) {
    let server = Server::with_users_on(backend, &[ALICE], &[]);
    let page = server.get("/login?next=%2Faccount", None);
    assert_eq!(page.status, 200);
    assert_eq!(page.header("cache-control"), Some("no-store"));
    let html = page.text();
    assert!(html.contains("name=\"username\"") && html.contains("name=\"password\""));
    assert!(
        html.contains("<input type=\"hidden\" name=\"next\" value=\"/account\">"),
        "{html}"
    );
    let hostile = server.get("/login?next=%2F%2Fevil.example", None).text();
    assert!(!hostile.contains("evil.example"));
    let quoted = server
        .get(
            "/login?next=%2F%22%3E%3Cscript%3Ealert(1)%3C%2Fscript%3E",
            None,
        )
        .text();
    assert!(!quoted.contains("<script>"), "{quoted}");
}

fn a_good_login_is_303_to_account_with_a_fresh_cookie_and_the_auth_fields(backend: Backend) {
    let server = Server::with_users_on(backend, &[ALICE], &["--session-ttl", "600"]);
    let response = server.post("/login", None, "username=alice&password=wonderland");
    assert_eq!(response.status, 303);
    assert_eq!(response.header("location"), Some("/account"));
    assert_eq!(response.header("cache-control"), Some("no-store"));
    let id = response.set_cookie_value("sid").unwrap();
    assert_eq!(
        response.header("set-cookie").unwrap(),
        format!("sid={id}; Path=/; HttpOnly; SameSite=Lax; Max-Age=600")
    );
    let json = server.session_json(&id).unwrap();
    let data = &json["data"];
    assert_eq!(data["_auth_user"], "alice");
    assert_eq!(data["_auth_hash"].as_str().unwrap().len(), 64);
    assert!(
        !data["_auth_hash"].as_str().unwrap().contains("argon2"),
        "no password hash in sessions"
    );
    let login_time = data["_auth_time"].as_u64().unwrap();
    assert!(login_time >= json["created"].as_u64().unwrap());

    let account = server.get("/account", Some(&format!("sid={id}")));
    assert_eq!(account.status, 200);
    assert_eq!(account.header("cache-control"), Some("no-store"));
    let html = account.text();
    assert!(html.contains("<dd id=\"user\">alice</dd>"));
    assert!(html.contains(&latch::http::dates::iso8601(login_time).to_string()));
    assert!(html.contains("action=\"/logout\""));
    assert!(server.wait_for_log("login user=alice"));
}

fn login_honours_a_safe_next_and_ignores_an_unsafe_one(backend: Backend) {
    let server = Server::with_users_on(backend, &[ALICE], &[]);
    for (next, want) in [
        ("%2Fview%3Fa%3Db", "/view?a=b"),
        ("%2F%2Fevil.example", "/account"),
        ("https%3A%2F%2Fevil.example%2F", "/account"),
        ("%2F%5Cevil.example", "/account"),
        // A search for `C:\work`, a two-line value, a tab: escapes in the
        // query are kept as they are, only the path is decoded again.
        ("%2Fsearch%3Fq%3DC%253A%255Cwork", "/search?q=C%3A%5Cwork"),
        ("%2Fsearch%3Fq%3Da%250Ab", "/search?q=a%0Ab"),
        ("%2Fsearch%3Fq%3Da%2509b", "/search?q=a%09b"),
        ("%2F%252F%252Fevil.example%3Fq%3D1", "/account"),
        ("%2F%255Cevil.example%3Fq%3D%255C", "/account"),
    ] {
        let body = format!("username=alice&password=wonderland&next={next}");
        let response = server.post("/login", None, &body);
        assert_eq!(response.header("location"), Some(want), "{next}");
    }
    let response = server.post(
        "/login?next=/from-query",
        None,
        "username=alice&password=wonderland",
    );
    assert_eq!(response.header("location"), Some("/from-query"));
}

fn a_wrong_password_or_unknown_user_is_422_and_grants_nothing(backend: Backend) {
    let server = Server::with_users_on(backend, &[ALICE], &[]);
    let anonymous = server
        .post("/theme", None, "theme=dark")
        .set_cookie_value("sid")
        .unwrap();
    let before = server.session_json(&anonymous).unwrap();
    for body in [
        "username=alice&password=wrong",
        "username=alice&password=",
        "username=mallory&password=wonderland",
        "username=&password=",
        "",
    ] {
        let response = server.post("/login", Some(&format!("sid={anonymous}")), body);
        assert_eq!(response.status, 422, "{body}");
        assert_eq!(response.header("set-cookie"), None);
        assert!(response.text().contains("Wrong user name or password."));
        assert!(response.text().contains("name=\"password\""));
    }
    assert_eq!(
        server.session_json(&anonymous).unwrap(),
        before,
        "the session is untouched"
    );
    assert_eq!(server.stored_sessions(), 1);
}

fn login_cycles_the_id_keeps_anonymous_data_and_renews_the_csrf_token(backend: Backend) {
    let server = Server::with_users_on(backend, &[ALICE], &[]);
    let anonymous = server
        .post("/theme", None, "theme=dark")
        .set_cookie_value("sid")
        .unwrap();
    let old_csrf = server.session_json(&anonymous).unwrap()["data"]["_csrf"].clone();
    let id = server.login_with(ALICE.0, ALICE.1, Some(&format!("sid={anonymous}")));
    assert_ne!(id, anonymous);
    assert!(server.session_json(&anonymous).is_none());
    let json = server.session_json(&id).unwrap();
    assert_eq!(json["data"]["theme"], "dark");
    assert_ne!(json["data"]["_csrf"], old_csrf);
    assert_eq!(server.stored_sessions(), 1);
}

fn login_as_another_user_drops_the_previous_users_data(backend: Backend) {
    let server = Server::with_users_on(backend, &[ALICE, BOB], &[]);
    let alices = server.login(ALICE.0, ALICE.1);
    let token = server.csrf_token(&format!("sid={alices}"));
    server.set_theme(&format!("sid={alices}"), &token, "dark");
    let bobs = server.login_with(BOB.0, BOB.1, Some(&format!("sid={alices}")));
    let json = server.session_json(&bobs).unwrap();
    assert_eq!(json["data"]["_auth_user"], "bob");
    assert!(json["data"].get("theme").is_none(), "{json}");
    assert!(server.session_json(&alices).is_none());
}

fn logging_in_again_as_the_same_user_still_cycles_the_id_and_keeps_data(backend: Backend) {
    let server = Server::with_users_on(backend, &[ALICE], &[]);
    let first = server.login(ALICE.0, ALICE.1);
    let token = server.csrf_token(&format!("sid={first}"));
    server.set_theme(&format!("sid={first}"), &token, "light");
    let second = server.login_with(ALICE.0, ALICE.1, Some(&format!("sid={first}")));
    assert_ne!(first, second);
    assert_eq!(
        server.session_json(&second).unwrap()["data"]["theme"],
        "light"
    );
}

fn a_signed_in_theme_change_needs_the_csrf_token(backend: Backend) {
    let server = Server::with_users_on(backend, &[ALICE], &[]);
    let id = server.login(ALICE.0, ALICE.1);
    let cookie = format!("sid={id}");
    assert_eq!(
        server.post("/theme", Some(&cookie), "theme=dark").status,
        403
    );
    let token = server.csrf_token(&cookie);
    assert_eq!(server.set_theme(&cookie, &token, "dark").status, 303);
}

fn a_hostile_user_name_is_escaped_on_every_page(backend: Backend) {
    let name = "<img/src=x/onerror=alert(1)>";
    let server = Server::with_users_on(backend, &[(name, "pw")], &[]);
    let encoded = latch::http::encoding::percent_encode(name);
    let response = server.post("/login", None, &format!("username={encoded}&password=pw"));
    assert_eq!(response.status, 303);
    let cookie = format!("sid={}", response.set_cookie_value("sid").unwrap());
    for path in ["/", "/account", "/login"] {
        let html = server.get(path, Some(&cookie)).text();
        assert!(!html.contains(name), "{path}");
        assert!(
            html.contains("&lt;img/src=x/onerror=alert(1)&gt;"),
            "{path}"
        );
    }
    let failed = server
        .post(
            "/login",
            None,
            &format!("username={encoded}&password=wrong"),
        )
        .text();
    assert!(!failed.contains(name));
}

fn a_cross_origin_login_is_refused(backend: Backend) {
    let server = Server::with_users_on(backend, &[ALICE], &[]);
    let headers = [
        ("Content-Type", "application/x-www-form-urlencoded"),
        ("Sec-Fetch-Site", "cross-site"),
    ];
    let response = server.send(
        "POST",
        "/login",
        None,
        &headers,
        "username=alice&password=wonderland",
    );
    assert_eq!(response.status, 403);
    assert_eq!(server.stored_sessions(), 0);
}

on_both_backends! {
    account_without_a_session_redirects_to_login_with_next,
    the_login_form_carries_a_safe_next_and_drops_an_unsafe_one,
    a_good_login_is_303_to_account_with_a_fresh_cookie_and_the_auth_fields,
    login_honours_a_safe_next_and_ignores_an_unsafe_one,
    a_wrong_password_or_unknown_user_is_422_and_grants_nothing,
    login_cycles_the_id_keeps_anonymous_data_and_renews_the_csrf_token,
    login_as_another_user_drops_the_previous_users_data,
    logging_in_again_as_the_same_user_still_cycles_the_id_and_keeps_data,
    a_signed_in_theme_change_needs_the_csrf_token,
    a_hostile_user_name_is_escaped_on_every_page,
    a_cross_origin_login_is_refused,
}
