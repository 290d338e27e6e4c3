//! What latch writes to standard error: one access line per request, the
//! login and logout audit lines, and never a secret.

mod support;

use support::Server;

#[test]
fn a_full_login_logout_run_logs_no_cookie_password_or_token() {
    let password = "Tr0ub4dor-and-3";
    let server = Server::with_users(&[("alice", password)], &[]);
    let anonymous = server
        .post("/theme", None, "theme=dark")
        .set_cookie_value("sid")
        .unwrap();
    let failed = server.post(
        "/login",
        Some(&format!("sid={anonymous}")),
        "username=alice&password=not-the-password-42",
    );
    assert_eq!(failed.status, 422);
    let id = server.login_with("alice", password, Some(&format!("sid={anonymous}")));
    let cookie = format!("sid={id}");
    let token = server.csrf_token(&cookie);
    server.get("/account?next=%2Fsecret-query", Some(&cookie));
    let logout = server.post("/logout", Some(&cookie), &format!("csrf_token={token}"));
    let after = logout.set_cookie_value("sid").unwrap();
    assert!(server.wait_for_log("logout user=alice scope=this mode=keep"));
    server.log_barrier();

    let log = server.stderr();
    for secret in [
        anonymous.as_str(),
        id.as_str(),
        after.as_str(),
        token.as_str(),
        password,
        "not-the-password-42",
    ] {
        assert!(
            !log.contains(secret),
            "the log holds a secret: {secret}\n{log}"
        );
    }
    assert!(!log.contains("secret-query"), "queries are not logged");
    // One access line per request, with method, path, status, timing,
    // client and the session-file prefix.
    assert!(log.contains("access POST /theme 303 "), "{log}");
    assert!(log.contains("access POST /login 422 "), "{log}");
    assert!(log.contains("access GET /account 200 "), "{log}");
    assert!(log.contains("access POST /logout 303 "), "{log}");
    let prefix = &support::session_file_for(&server.sessions_dir(), &id)
        .file_name()
        .unwrap()
        .to_string_lossy()[..8]
        .to_string();
    let account_line = log
        .lines()
        .find(|l| l.starts_with("access GET /account 200"))
        .unwrap();
    assert!(
        account_line.contains(&format!("session={prefix}")),
        "{account_line}"
    );
    assert!(account_line.contains("client=127.0.0.1"), "{account_line}");
    assert!(log.contains("login user=alice"));
    assert_eq!(log.matches("logout user=alice").count(), 1);
}

#[test]
fn every_request_gets_exactly_one_access_line() {
    let server = Server::start(&[]);
    for path in ["/", "/healthz", "/missing", "/style.css"] {
        server.get(path, None);
    }
    server.send("DELETE", "/", None, &[], "");
    server.log_barrier();
    let log = server.stderr();
    // The barrier's event line wrote out every access line gathered before
    // it (access lines are buffered, events are not); the barrier's own
    // access line may still be in the buffer, so POST /login is left out.
    let access: Vec<&str> = log
        .lines()
        .filter(|l| l.starts_with("access ") && !l.starts_with("access POST /login"))
        .collect();
    assert_eq!(access.len(), 5, "four GETs and one DELETE: {log}");
    assert!(access
        .iter()
        .any(|l| l.starts_with("access GET /missing 404 ")));
    assert!(access.iter().any(|l| l.starts_with("access DELETE / 405 ")));
    assert!(access.iter().all(|l| l.contains("session=-")));
}
