//! `--trace`: a step table per request, with no secret in it.

mod support;

use support::Server;

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
    let logout = server.post("/logout", Some(&cookie), &format!("csrf_token={token}"));
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
        login_table.contains(".json written (fresh id, signed in)"),
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
    // The logout: SPEC's steps 1 to 8, in order, then the response.
    let logout_table = table(&log, "trace POST /logout");
    let mut at = 0;
    for step in 1..=8 {
        let found = logout_table[at..]
            .find(&format!("logout {step} "))
            .unwrap_or_else(|| panic!("step {step} missing or out of order:\n{logout_table}"));
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
fn without_trace_there_is_no_table() {
    let server = Server::start(&[]);
    server.get("/", None);
    server.log_barrier();
    assert!(!server.stderr().contains("trace "));
}

/// The block of lines that starts with `title`.
fn table<'a>(log: &'a str, title: &str) -> &'a str {
    let start = log
        .find(title)
        .unwrap_or_else(|| panic!("no {title}:\n{log}"));
    let rest = &log[start..];
    let end = rest[1..]
        .find("\ntrace ")
        .or_else(|| rest[1..].find("\naccess "))
        .map_or(rest.len(), |i| i + 1);
    &rest[..end]
}
