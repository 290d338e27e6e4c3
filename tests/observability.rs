//! What latch writes to standard error: one access line per request, the
//! login and logout audit lines, never a secret, and never more than about
//! a kilobyte for one request, whatever the client sends.

use crate::support::{self, Server};

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
    let logout = server.logout(&cookie, &token);
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

/// About a kilobyte: what one request may make latch write to its log.
const LOG_BUDGET: usize = 1024;

/// What the log gained while `request` ran, without the log barrier's own
/// lines: the log is read up to a barrier before and after.
fn log_written_by(server: &Server, request: impl FnOnce()) -> String {
    server.log_barrier();
    let before = server.stderr().len();
    request();
    server.log_barrier();
    let log = server.stderr();
    log[before..]
        .lines()
        .filter(|l| !l.contains("user=barrier") && !l.starts_with("access POST /login 422 "))
        .map(|l| format!("{l}\n"))
        .collect()
}

#[test]
fn a_path_with_a_60_kib_segment_writes_at_most_about_a_kilobyte_of_log() {
    let server = Server::start(&[]);
    let segment = "a".repeat(60 * 1024);
    let written = log_written_by(&server, || {
        let response = server.get(&format!("/long-{segment}"), None);
        assert_eq!(response.status, 404);
    });
    assert!(
        written.len() <= LOG_BUDGET,
        "{} bytes:\n{written}",
        written.len()
    );
    // The request is logged, its path cut and marked as cut.
    let line = written
        .lines()
        .find(|l| l.starts_with("access GET /long-aaaa"))
        .unwrap_or_else(|| panic!("no access line:\n{written}"));
    assert!(line.contains("… 404 "), "{line}");
}

#[test]
fn a_long_method_writes_at_most_about_a_kilobyte_of_log() {
    let server = Server::start(&[]);
    let method = "X".repeat(4 * 1024);
    let written = log_written_by(&server, || {
        let response = server.send(&method, "/missing", None, &[], "");
        assert!(response.status >= 400, "{}", response.status_line);
    });
    assert!(
        written.len() <= LOG_BUDGET,
        "{} bytes:\n{written}",
        written.len()
    );
    assert!(written.contains("access XXXX"), "{written}");
}

#[test]
fn a_long_user_name_writes_at_most_about_a_kilobyte_of_log() {
    let server = Server::start(&[]);
    // A newline and U+10FFFF, both escaped in the log (to `\n` and
    // `\u{10ffff}`): the escaping must not undo the cut. (The request's
    // access line is left out with the barrier's; it holds no user name.)
    let name = "n%0A%F4%8F%BF%BF".repeat(800);
    let written = log_written_by(&server, || {
        let response = server.post("/login", None, &format!("username={name}&password=x"));
        assert_eq!(response.status, 422);
    });
    assert!(
        written.len() <= LOG_BUDGET,
        "{} bytes:\n{written}",
        written.len()
    );
    assert!(written.contains("login failed user=n\\n"), "{written}");
}

#[test]
fn with_trace_every_line_of_a_request_with_a_60_kib_segment_is_cut() {
    let server = Server::start(&["--trace"]);
    let segment = "b".repeat(60 * 1024);
    let written = log_written_by(&server, || {
        let response = server.send(
            "GET",
            &format!("/long-{segment}"),
            None,
            &[("If-None-Match", &segment[..1024])],
            "",
        );
        assert_eq!(response.status, 404);
    });
    assert!(written.contains("trace GET /long-bbbb"), "{written}");
    for line in written.lines() {
        assert!(line.len() <= 512, "a line of {} bytes:\n{line}", line.len());
    }
}
