//! `--trace`: a step table per request, with no secret in it.

use crate::support::Server;

#[test]
fn a_traced_login_account_logout_run_shows_each_step_and_no_secret() {
    let password = "s3cret-horse-battery";
    let server = Server::with_users(&[("alice", password)], &["--trace"]);
    let login = server.post(
        "/login",
        None,
        &format!("username=alice&password={password}"),
    );
    let id = login.set_cookie_value("sid").unwrap();
    let cookie = format!("sid={id}");
    let token = server.csrf_token(&cookie);
    server.set_theme(&cookie, &token, "dark");
    let logout = server.logout(&cookie, &token);
    let new_id = logout.set_cookie_value("sid").unwrap();
    assert!(server.wait_for_log("trace POST /logout"));
    server.log_barrier();
    let log = server.stderr();

    // The login: the form with the password hidden, the check, the new file.
    let login_table = table(&log, "trace POST /login");
    assert!(login_table.contains("password=(hidden)"), "{login_table}");
    assert!(
        login_table.contains("matches alice's hash"),
        "{login_table}"
    );
    assert!(
        login_table.contains("written (fresh id, signed in)"),
        "{login_table}"
    );
    assert!(login_table.contains("set-cookie: sid="), "{login_table}");
    // The account page: the session as loaded, secrets cut short.
    let account = table(&log, "trace GET /account");
    assert!(account.contains("loaded "), "{account}");
    assert!(account.contains("\"_auth_user\":\"alice\""), "{account}");
    assert!(
        account.contains(&format!("\"_csrf\":\"{}…\"", &token[..4])),
        "{account}"
    );
    assert!(account.contains("HTTP/1.1 200 OK"), "{account}");
    // The logout: its rows in the order things ran (the token, the
    // change in the store, the log line), then the response.
    let logout_table = table(&log, "trace POST /logout");
    let mut at = 0;
    for row in [
        "logout 2 ",
        "logout 3 ",
        "log          logout user=alice scope=this mode=keep",
        "response ",
    ] {
        let found = logout_table[at..]
            .find(row)
            .unwrap_or_else(|| panic!("{row} missing or out of order:\n{logout_table}"));
        at += found;
    }
    assert!(
        logout_table.contains("keep: _auth_* removed"),
        "{logout_table}"
    );
    assert!(
        logout_table.contains("clear-site-data: \"cache\""),
        "{logout_table}"
    );

    for secret in [id.as_str(), new_id.as_str(), token.as_str(), password] {
        assert!(!log.contains(secret), "the trace shows a secret: {secret}");
    }
}

#[test]
fn a_logout_that_finds_no_signed_in_session_traces_no_change_and_no_log_line() {
    let server = Server::with_users(&[("alice", "pw")], &["--trace"]);
    let id = server.login("alice", "pw");
    let cookie = format!("sid={id}");
    let token = server.csrf_token(&cookie);
    let body = format!("csrf_token={token}");
    assert_eq!(server.post("/logout", Some(&cookie), &body).status, 303);
    // The same cookie again: its session is gone, so nothing is to be done.
    assert_eq!(server.post("/logout", Some(&cookie), &body).status, 303);
    server.log_barrier();
    let log = server.stderr();
    let second = last_table(&log, "trace POST /logout");
    assert!(second.contains("none live"), "{second}");
    assert!(
        second.contains("logout 6     no signed-in session"),
        "{second}"
    );
    for step in ["logout 3 ", "logout 4 ", "log   "] {
        assert!(!second.contains(step), "{step} did not run:\n{second}");
    }
    let logged = log.lines().filter(|l| l.starts_with("logout user=alice"));
    assert_eq!(logged.count(), 1, "one log line, for the first logout");
}

#[test]
fn a_traced_sign_out_everywhere_shows_the_epoch_it_wrote_and_the_log_line() {
    let server = Server::with_users(&[("alice", "pw")], &["--trace"]);
    let id = server.login("alice", "pw");
    let cookie = format!("sid={id}");
    let token = server.csrf_token(&cookie);
    let body = format!("csrf_token={token}&scope=all");
    assert_eq!(server.post("/logout", Some(&cookie), &body).status, 303);
    server.log_barrier();
    let log = server.stderr();
    let logout = table(&log, "trace POST /logout");
    let epoch = logout.find("logout 4     scope=all: alice's epoch advanced to 1");
    let change = logout.find("logout 3 ");
    let line = logout.find("log          logout user=alice scope=all mode=flush");
    assert!(
        epoch < change && change < line && epoch.is_some(),
        "the epoch (the commit point), then the change, then the log line:\n{logout}"
    );
    assert!(logout.contains("the cookie removed"), "{logout}");
}

#[test]
fn sixteen_well_formed_unknown_cookies_cost_three_lookups_not_sixteen() {
    let server = Server::start(&["--trace"]);
    let cookies: Vec<String> = (0..16)
        .map(|_| format!("sid={}", latch::sessions::SessionId::generate().as_str()))
        .collect();
    let home = server.get("/", Some(&cookies.join("; ")));
    assert_eq!(home.status, 200);
    assert!(server.wait_for_log("trace GET /"));
    server.log_barrier();
    let log = server.stderr();
    let lookups = table(&log, "trace GET /").matches("none live").count();
    assert_eq!(lookups, 3, "{log}");
}

#[test]
fn without_trace_there_is_no_table() {
    let server = Server::start(&[]);
    server.get("/", None);
    server.log_barrier();
    assert!(!server.stderr().contains("trace "));
}

/// The block of lines that starts with the first `title`.
fn table<'a>(log: &'a str, title: &str) -> &'a str {
    let start = log
        .find(title)
        .unwrap_or_else(|| panic!("no {title}:\n{log}"));
    block_at(log, start)
}

/// The block of lines that starts with the last `title`.
fn last_table<'a>(log: &'a str, title: &str) -> &'a str {
    let start = log
        .rfind(title)
        .unwrap_or_else(|| panic!("no {title}:\n{log}"));
    block_at(log, start)
}

fn block_at(log: &str, start: usize) -> &str {
    let rest = &log[start..];
    let end = rest[1..]
        .find("\ntrace ")
        .or_else(|| rest[1..].find("\naccess "))
        .map_or(rest.len(), |i| i + 1);
    &rest[..end]
}
