//! `--trace`: a step table per request that ends with what changed, before
//! → after (the variable tracker), with no secret in it. Every expected
//! row is built from the values the run produced (ids, tokens, the file or
//! key each id names), so a different session makes different rows.

use latch::trace::short;

use crate::support::{
    on_both_backends, redis_key, session_file_for, Backend, Options, Server, UsersFile, ALICE,
};

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
        account.contains(&format!("\"_csrf\":\"{}\"", short(&token))),
        "{account}"
    );
    assert!(account.contains("HTTP/1.1 200 OK"), "{account}");
    // The logout: its rows in the order things ran (the token, the disk,
    // the change, the log line), then the response and what changed.
    let logout_table = table(&log, "trace POST /logout");
    in_order(
        logout_table,
        &[
            "csrf         step 2: token",
            "disk         write ",
            "sign out     step 3, keep: _auth_* removed",
            "log          logout user=alice scope=this mode=keep",
            "response     HTTP/1.1 303 See Other: the browser follows with GET /",
            "changed      signed in    alice → -",
        ],
    );
    assert!(
        logout_table.contains("clear-site-data: \"cache\""),
        "{logout_table}"
    );
    // The notice is a fixed word, not a secret: shown whole.
    assert!(
        logout_table.contains("set-cookie: notice=signed-out; Path=/"),
        "{logout_table}"
    );

    for secret in [id.as_str(), new_id.as_str(), token.as_str(), password] {
        assert!(!log.contains(secret), "the trace shows a secret: {secret}");
    }
}

/// The logout's table on either backend: the variable tracker from the
/// real ids, and the change in the store by the file's path or the key.
fn a_logout_table_ends_with_the_session_before_and_after(backend: Backend) {
    let server = Server::with_users_on(backend, &[ALICE], &["--trace"]);
    let id = server.login(ALICE.0, ALICE.1);
    let cookie = format!("sid={id}");
    let token = server.csrf_token(&cookie);
    assert_eq!(server.set_theme(&cookie, &token, "dark").status, 303);
    let logout = server.logout(&cookie, &token);
    let new_id = logout.set_cookie_value("sid").unwrap();
    assert!(server.wait_for_log("trace POST /logout"));
    server.log_barrier();
    let log = server.stderr();
    let logout_table = table(&log, "trace POST /logout");
    let (old, new) = match backend {
        Backend::Files => {
            let dir = server.sessions_dir();
            let file = |id: &str| format!("file {}", session_file_for(&dir, id).display());
            (file(&id), file(&new_id))
        }
        Backend::Redis => (
            format!("key {}", redis_key(&id)),
            format!("key {}", redis_key(&new_id)),
        ),
    };
    let label = |id: &str| {
        latch::sessions::SessionId::parse(id)
            .unwrap()
            .label()
            .to_string()
    };
    in_order(
        logout_table,
        &[
            &format!("session      {} → {}", label(&id), label(&new_id)),
            &format!("cookie       {} → {}", short(&id), short(&new_id)),
            &format!("_csrf        {} → ", short(&token)),
            "data         {\"theme\":\"dark\"} (unchanged)",
            &format!("store        {new} created"),
            &format!("store        {old} deleted"),
            "record       before {\"v\":1,",
            "             after  {\"v\":1,",
        ],
    );
    let after = logout_table
        .lines()
        .find(|line| line.trim_start().starts_with("after  {"))
        .unwrap();
    assert!(
        after.contains("\"theme\":\"dark\"") && !after.contains("_auth_"),
        "{after}"
    );
    // The summary line names the same two sessions.
    let first = logout_table.lines().next().unwrap();
    assert!(
        first.contains("signed in alice → -") && first.contains(&label(&new_id)),
        "{first}"
    );
    assert!(!log.contains(&id) && !log.contains(&new_id) && !log.contains(&token));
}

#[test]
fn the_file_stores_disk_steps_are_rows_in_the_order_they_ran() {
    let server = Server::with_users(&[ALICE], &["--trace"]);
    let id = server.login(ALICE.0, ALICE.1);
    let cookie = format!("sid={id}");
    let token = server.csrf_token(&cookie);
    // A theme, so that keep mode has data to move to a new file.
    assert_eq!(server.set_theme(&cookie, &token, "dark").status, 303);
    let new_id = server
        .logout(&cookie, &token)
        .set_cookie_value("sid")
        .unwrap();
    assert!(server.wait_for_log("trace POST /logout"));
    server.log_barrier();
    let log = server.stderr();
    let dir = server.sessions_dir();
    let (old, new) = (
        session_file_for(&dir, &id).display().to_string(),
        session_file_for(&dir, &new_id).display().to_string(),
    );
    let temp = format!("{}/.tmp-", dir.display());
    let logout_table = table(&log, "trace POST /logout");
    in_order(
        logout_table,
        &[
            &format!("disk         write {temp}"),
            &format!("disk         fsync {temp}"),
            &format!("disk         rename {temp}"),
            // Only the new name: a row is cut at `MAX_LINE`, which the
            // rest of this one passes under a long temp dir (a nested
            // TMPDIR, as the uid 65534 rerun has).
            &format!(" → {new}"),
            &format!("disk         fsync {} (the directory)", dir.display()),
            &format!("disk         unlink {old}"),
            &format!("disk         fsync {} (the directory)", dir.display()),
            "sign out     step 3",
        ],
    );
}

#[test]
fn a_theme_change_shows_the_record_rewritten_in_place() {
    let server = Server::with_users(&[ALICE], &["--trace"]);
    let id = server.login(ALICE.0, ALICE.1);
    let cookie = format!("sid={id}");
    let token = server.csrf_token(&cookie);
    assert_eq!(server.set_theme(&cookie, &token, "dark").status, 303);
    assert_eq!(server.set_theme(&cookie, &token, "light").status, 303);
    server.log_barrier();
    let log = server.stderr();
    let second = last_table(&log, "trace POST /theme");
    let file = session_file_for(&server.sessions_dir(), &id);
    in_order(
        second,
        &[
            "signed in    alice (unchanged)",
            &format!("cookie       {} (unchanged)", short(&id)),
            "data         {\"theme\":\"dark\"} → {\"theme\":\"light\"}",
            &format!("store        file {} rewritten", file.display()),
        ],
    );
    assert!(
        second.lines().next().unwrap().contains(" rewritten "),
        "{second}"
    );
}

#[test]
fn a_refused_method_says_why_and_an_error_reads_as_words() {
    let server = Server::with_users(&[ALICE], &["--trace"]);
    let id = server.login(ALICE.0, ALICE.1);
    let cookie = format!("sid={id}");
    assert_eq!(server.get("/logout", Some(&cookie)).status, 405);
    assert_eq!(server.get("/nope", Some(&cookie)).status, 404);
    let wrong = server.post("/logout", Some(&cookie), "csrf_token=wrong");
    assert_eq!(wrong.status, 403);
    server.log_barrier();
    let log = server.stderr();
    let refused = table(&log, "trace GET /logout");
    assert!(
        refused.contains(
            "router       GET refused: /logout takes POST, OPTIONS. Why: signing out changes state"
        ),
        "{refused}"
    );
    assert!(
        refused.contains("changed      nothing: this request did not look its session up"),
        "{refused}"
    );
    let missing = table(&log, "trace GET /nope");
    assert!(
        missing.contains("static       /nope: not a route, and no such file in the www dir: 404"),
        "{missing}"
    );
    let forbidden = table(&log, "trace POST /logout");
    assert!(
        forbidden.contains("error        403 Forbidden: missing or wrong CSRF token"),
        "{forbidden}"
    );
    assert!(
        forbidden.contains("signed in    alice (unchanged)"),
        "{forbidden}"
    );
}

#[test]
fn a_logout_that_finds_no_signed_in_session_traces_no_change_and_no_log_line() {
    let server = Server::with_users(&[("alice", "pw")], &["--trace"]);
    let id = server.login("alice", "pw");
    let cookie = format!("sid={id}");
    let token = server.csrf_token(&cookie);
    assert_eq!(server.logout(&cookie, &token).status, 303);
    // The same cookie again: its session is gone, so nothing is to be done.
    assert_eq!(server.logout(&cookie, &token).status, 303);
    server.log_barrier();
    let log = server.stderr();
    let second = last_table(&log, "trace POST /logout");
    assert!(second.contains("none live"), "{second}");
    assert!(
        second.contains("sign out     step 6: no signed-in session"),
        "{second}"
    );
    for step in ["step 3", "step 4", "log   ", "disk   ", "store   "] {
        assert!(!second.contains(step), "{step} did not run:\n{second}");
    }
    assert!(second.contains("signed in    - (unchanged)"), "{second}");
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
    let epochs = server.sessions_dir().join(".epochs.json");
    in_order(
        logout,
        &[
            // The epoch is the commit point: written first, durably.
            &format!(" → {}: a reader sees", epochs.display()),
            "everywhere   step 4, scope=all: alice's epoch advanced to 1",
            "sign out     step 3, flush: nothing but _csrf to keep",
            "log          logout user=alice scope=all mode=flush",
            "cookie       ",
        ],
    );
    assert!(logout.contains("the cookie removed"), "{logout}");
    assert!(
        logout.contains(&format!("cookie       {} → removed", short(&id))),
        "{logout}"
    );
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
fn trace_summary_prints_one_line_per_request_the_walk_as_an_execution_table() {
    let users = UsersFile::new(&[ALICE]);
    let server = Server::start_with(Options {
        env: vec![("LATCH_TRACE".into(), "summary".into())],
        users: Some(users.path()),
        ..Options::default()
    });
    let id = server.login(ALICE.0, ALICE.1);
    let cookie = format!("sid={id}");
    let token = server.csrf_token(&cookie); // the account page
    assert_eq!(server.set_theme(&cookie, &token, "dark").status, 303);
    let new_id = server
        .logout(&cookie, &token)
        .set_cookie_value("sid")
        .unwrap();
    // Back: the account page again, with the cookie the logout set.
    let back = server.get("/account", Some(&format!("sid={new_id}")));
    assert_eq!(back.status, 303);
    server.log_barrier();
    let log = server.stderr();
    assert!(
        !log.contains("\n   1  "),
        "no step rows in summary mode:\n{log}"
    );
    let label = |id: &str| {
        latch::sessions::SessionId::parse(id)
            .unwrap()
            .label()
            .to_string()
    };
    let (a, b) = (label(&id), label(&new_id));
    let walk: Vec<&str> = log
        .lines()
        .filter(|l| l.starts_with("trace "))
        .skip_while(|l| !l.contains("signed in - → alice"))
        .take(5) // then the log barrier's own failed sign-in
        .collect();
    let expected = [
        (
            "POST /login",
            "signed in - → alice",
            format!("session none → {a}"),
            "303 See Other → GET /account",
        ),
        (
            "GET /account",
            "signed in alice → alice",
            format!("session {a} → {a} "),
            "200 OK",
        ),
        (
            "POST /theme",
            "signed in alice → alice",
            format!("session {a} → {a} rewritten"),
            "303 See Other → GET /",
        ),
        (
            "POST /logout",
            "signed in alice → -",
            format!("session {a} → {b}"),
            "303 See Other → GET /",
        ),
        (
            "GET /account",
            "signed in - → -",
            format!("session {b} → {b}"),
            "303 See Other → GET /login?next=%2Faccount",
        ),
    ];
    assert_eq!(walk.len(), expected.len(), "{log}");
    for (line, (request, signed_in, session, response)) in walk.iter().zip(&expected) {
        let columns = [
            format!("trace {request} "),
            signed_in.to_string(),
            session.clone(),
        ];
        for column in columns {
            assert!(line.contains(&column), "{column:?} in {line}");
        }
        assert!(line.ends_with(response), "{line}");
    }
}

/// What a browser sends with a page load or a form: it accepts HTML.
const BROWSER: (&str, &str) = ("Accept", "text/html,application/xhtml+xml,*/*;q=0.8");

#[test]
fn a_browser_gets_a_trace_cookie_of_its_own_and_sees_only_its_own_requests() {
    let server = Server::with_users(&[ALICE], &["--trace"]);
    // A browser's first request: a random cookie of its own, HttpOnly.
    let home = server.send("GET", "/", None, &[BROWSER], "");
    let line = home
        .headers_named("set-cookie")
        .into_iter()
        .find(|l| l.starts_with("trace="))
        .expect("a browser gets a trace cookie")
        .to_owned();
    assert!(
        line.ends_with("; Path=/; HttpOnly; SameSite=Lax; Max-Age=86400"),
        "{line}"
    );
    let mine = home.set_cookie_value("trace").unwrap();
    assert_eq!(mine.len(), 64, "32 random bytes in hex: {mine}");
    // Its sign-in, then the sign-out it wants to understand.
    let trace = format!("trace={mine}");
    let body = format!("username={}&password={}", ALICE.0, ALICE.1);
    let headers = [BROWSER, crate::support::FORM];
    let login = server.send("POST", "/login", Some(&trace), &headers, &body);
    assert_eq!(login.status, 303);
    assert!(
        login.set_cookie_value("trace").is_none(),
        "known: no new cookie"
    );
    let id = login.set_cookie_value("sid").unwrap();
    let cookies = format!("{trace}; sid={id}");
    let token = server.csrf_token(&format!("sid={id}"));
    let body = format!("csrf_token={token}");
    let logout = server.send("POST", "/logout", Some(&cookies), &headers, &body);
    assert_eq!(logout.status, 303);

    let page = server.send("GET", "/_trace", Some(&trace), &[BROWSER], "");
    assert_eq!(page.status, 200);
    let text = page.text();
    in_order(
        &text,
        &[
            "<code>GET /</code>",
            "<code>POST /login</code>",
            "<code>POST /logout</code>",
            "<span data-label=\"signed in\">alice → -</span>",
            "303 See Other → GET /",
            "<th scope=\"row\">sign out</th>",
            &format!(
                "<td><code>{}</code></td><td><code>removed</code></td>",
                short(&id)
            ),
        ],
    );
    assert!(
        !text.contains("GET /_trace"),
        "the page does not list itself"
    );
    for secret in [id.as_str(), token.as_str(), mine.as_str()] {
        assert!(!text.contains(secret), "the page shows a secret");
    }
    // The curl-like request for the CSRF token (no Accept: text/html) is
    // no browser's: printed, never kept.
    assert_eq!(
        text.matches("<code>GET /account</code>").count(),
        0,
        "{text}"
    );

    // Another browser, and a made-up cookie: none of it.
    for other in [
        None,
        Some("trace=0000000000000000000000000000000000000000000000000000000000000000"),
    ] {
        let page = server.send("GET", "/_trace", other, &[BROWSER], "");
        assert_eq!(page.status, 200);
        assert!(
            page.text().contains("id=\"no-requests\""),
            "{}",
            page.text()
        );
        assert!(!page.text().contains("POST /logout"));
        let new = page.set_cookie_value("trace").expect("a cookie of its own");
        assert_ne!(new, mine);
    }
}

#[test]
fn the_trace_page_escapes_what_clients_sent() {
    let server = Server::start(&["--trace"]);
    let home = server.send("GET", "/", None, &[BROWSER], "");
    let trace = format!("trace={}", home.set_cookie_value("trace").unwrap());
    let hostile = "\"><script>alert(1)</script>";
    let sent = server.send(
        "GET",
        "/nope",
        Some(&trace),
        &[BROWSER, ("If-None-Match", hostile)],
        "",
    );
    assert_eq!(sent.status, 404);
    let page = server
        .send("GET", "/_trace", Some(&trace), &[BROWSER], "")
        .text();
    assert!(page.contains("<code>GET /nope</code>"), "{page}");
    assert!(!page.contains("<script>alert(1)"), "{page}");
    assert!(
        page.contains("if-none-match: &quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;"),
        "{page}"
    );
}

#[test]
fn without_trace_the_trace_page_is_404_and_no_cookie_is_set() {
    let server = Server::start(&[]);
    let page = server.send("GET", "/_trace", None, &[BROWSER], "");
    assert_eq!(page.status, 404);
    let home = server.send("GET", "/", None, &[BROWSER], "");
    assert!(home.set_cookie_value("trace").is_none());
    assert_eq!(server.send("OPTIONS", "/_trace", None, &[], "").status, 404);
}

#[test]
fn without_trace_there_is_no_table() {
    let server = Server::start(&[]);
    server.get("/", None);
    server.log_barrier();
    assert!(!server.stderr().contains("trace "));
}

on_both_backends! {
    a_logout_table_ends_with_the_session_before_and_after,
}

/// Each of `rows` in `table`, in this order.
fn in_order(table: &str, rows: &[&str]) {
    let mut at = 0;
    for row in rows {
        let found = table[at..]
            .find(row)
            .unwrap_or_else(|| panic!("{row:?} missing or out of order:\n{table}"));
        at += found + row.len();
    }
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
