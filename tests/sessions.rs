//! The session contract over the wire and in the store (docs/contract.md,
//! "Sessions"), on both backends but where a test says why not.

use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use crate::support::{
    on_both_backends, read_response, run_cli, session_file_for, stored_name, Backend, Options,
    Server, TempDir,
};

/// POSTs a theme without a session and returns the new session id.
fn new_session(server: &Server, theme: &str) -> String {
    let response = server.post("/theme", None, &format!("theme={theme}"));
    assert_eq!(response.status, 303);
    response
        .set_cookie_value("sid")
        .expect("a new session sets its cookie")
}

fn read_json(path: &std::path::Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

// File store only: the names and modes of its files (what a session is on
// Redis: the first test of redis_instances).
#[test]
fn theme_post_creates_one_0600_file_named_by_the_id_hash_in_a_0700_dir() {
    let server = Server::start(&["--session-ttl", "3600"]);
    let response = server.post("/theme", None, "theme=dark");
    assert_eq!(response.status_line, "HTTP/1.1 303 See Other");
    assert_eq!(response.header("location"), Some("/"));
    let cookie = response.header("set-cookie").unwrap();
    let id = response.set_cookie_value("sid").unwrap();
    assert_eq!(id.len(), 43);
    assert!(id
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
    assert_eq!(
        cookie,
        format!("sid={id}; Path=/; HttpOnly; SameSite=Lax; Max-Age=3600")
    );

    let files = server.session_files();
    let expected = session_file_for(&server.sessions_dir(), &id);
    assert_eq!(files, vec![expected.clone()]);
    let mode = std::fs::metadata(&expected).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    let dir_mode = std::fs::metadata(server.sessions_dir())
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(dir_mode & 0o777, 0o700);

    let json = read_json(&expected);
    assert_eq!(json["v"], 1);
    let created = json["created"].as_u64().unwrap();
    assert_eq!(json["expires"].as_u64().unwrap(), created + 3600);
    assert_eq!(json["data"]["theme"], "dark");
    assert_eq!(json["data"]["_csrf"].as_str().unwrap().len(), 43);
    // No file, listing or log line holds the id.
    assert!(!std::fs::read_to_string(&expected).unwrap().contains(&id));
    assert!(!server.stderr().contains(&id));
}

fn the_theme_comes_back_on_the_next_page_and_can_change(backend: Backend) {
    let server = Server::start_on(backend, &[]);
    let id = new_session(&server, "dark");
    let cookie = format!("sid={id}");
    let page = server.get("/", Some(&cookie)).text();
    assert!(page.contains("data-theme=\"dark\""), "{page}");

    let again = server.post("/theme", Some(&cookie), "theme=light&next=%2Faccount");
    assert_eq!(again.status, 303);
    assert_eq!(again.header("location"), Some("/account"));
    assert_eq!(
        again.header("set-cookie"),
        None,
        "an existing session keeps its cookie"
    );
    assert!(server
        .get("/", Some(&cookie))
        .text()
        .contains("data-theme=\"light\""));
    assert_eq!(server.stored_names().len(), 1);
}

fn an_unsafe_next_falls_back_to_the_home_page(backend: Backend) {
    let server = Server::start_on(backend, &[]);
    for next in [
        "%2F%2Fevil.example",
        "https%3A%2F%2Fevil.example",
        "%2F%252F%252Fevil.example",
    ] {
        let response = server.post("/theme", None, &format!("theme=dark&next={next}"));
        assert_eq!(response.header("location"), Some("/"), "{next}");
    }
}

fn a_forged_well_formed_id_is_not_adopted(backend: Backend) {
    let server = Server::start_on(backend, &[]);
    let forged = "A".repeat(43);
    let response = server.post("/theme", Some(&format!("sid={forged}")), "theme=dark");
    assert_eq!(response.status, 303);
    let issued = response.set_cookie_value("sid").unwrap();
    assert_ne!(issued, forged);
    assert_eq!(server.stored_bytes(&forged), None);
    assert_eq!(server.stored_names(), vec![stored_name(&issued)]);
}

fn malformed_cookie_values_never_give_a_5xx_nor_touch_the_disk(backend: Backend) {
    let server = Server::start_on(backend, &[]);
    let long = "x".repeat(3000);
    let values = [
        "sid=",
        "sid",
        "sid=../../etc/passwd",
        "sid=..%2F..%2Fetc%2Fpasswd",
        "sid=a\\b\\c",
        "sid=\"quoted\"",
        "sid=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAB",
        "sid=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        "=;=;;;sid==",
        &format!("sid={long}"),
        "sid=%00%00",
    ];
    for value in values {
        for response in [
            server.get("/", Some(value)),
            server.post("/theme", Some(value), "theme=dark"),
        ] {
            assert!(response.status < 500, "{value}: {}", response.status_line);
        }
    }
    // Raw bytes that are not UTF-8 in the Cookie header.
    let response = server.raw(
        b"GET / HTTP/1.1\r\nHost: x\r\nCookie: sid=\xff\xfe; a=b\r\nConnection: close\r\n\r\n",
    );
    assert!(response.status < 500);
    // Only the theme POSTs stored sessions, each under a fresh id's hash,
    // and nothing else reached the disk.
    for name in server.stored_names() {
        assert_eq!(name.len(), 64, "{name}");
    }
    assert!(std::fs::read_dir(server.dir.path()).unwrap().all(|e| {
        let name = e.unwrap().file_name();
        name == "sessions" || name == "users.htpasswd"
    }));
}

fn get_and_head_never_create_sessions(backend: Backend) {
    let server = Server::start_on(backend, &[]);
    for path in [
        "/",
        "/healthz",
        "/login",
        "/account",
        "/style.css",
        "/missing",
        "/logged-out.html",
    ] {
        server.get(path, None);
        server.send("HEAD", path, None, &[], "");
        server.get(path, Some(&format!("sid={}", "B".repeat(43))));
    }
    assert_eq!(server.stored_names(), Vec::<String>::new());
}

fn an_expired_session_is_no_session_and_is_deleted(backend: Backend) {
    let server = Server::start_on(backend, &["--session-ttl", "1"]);
    let id = new_session(&server, "dark");
    assert!(server.stored_bytes(&id).is_some());
    std::thread::sleep(Duration::from_millis(2100));
    let page = server.get("/", Some(&format!("sid={id}"))).text();
    assert!(page.contains("data-theme=\"auto\""));
    assert_eq!(server.stored_bytes(&id), None, "deleted when met");
}

fn a_corrupt_session_record_is_no_session_and_is_logged(backend: Backend) {
    let server = Server::start_on(backend, &[]);
    let id = new_session(&server, "dark");
    for garbage in [
        &b""[..],
        b"{\"v\":1,",
        b"\x00\xff",
        b"{\"v\":2,\"created\":0,\"expires\":9999999999,\"data\":{}}",
    ] {
        server.put_stored_bytes(&id, garbage);
        let response = server.get("/", Some(&format!("sid={id}")));
        assert_eq!(response.status, 200);
        assert!(response.text().contains("data-theme=\"auto\""));
    }
    assert!(
        server.stderr().contains("unreadable"),
        "{}",
        server.stderr()
    );
    // A POST with that cookie gets a fresh session; the corrupt file is not adopted.
    let response = server.post("/theme", Some(&format!("sid={id}")), "theme=light");
    assert_ne!(
        response.set_cookie_value("sid").as_deref(),
        Some(id.as_str())
    );
    assert!(response.set_cookie_value("sid").is_some());
}

fn concurrent_theme_posts_on_one_session_leave_one_parseable_record(backend: Backend) {
    let server = Server::start_on(backend, &[]);
    let id = new_session(&server, "dark");
    let cookie = format!("sid={id}");
    std::thread::scope(|scope| {
        for t in 0..8 {
            let (server, cookie) = (&server, &cookie);
            scope.spawn(move || {
                for i in 0..25 {
                    let theme = if (t + i) % 2 == 0 { "dark" } else { "light" };
                    let response = server.post("/theme", Some(cookie), &format!("theme={theme}"));
                    assert_eq!(response.status, 303);
                    assert_eq!(response.header("set-cookie"), None);
                }
            });
        }
    });
    assert_eq!(server.stored_names(), vec![stored_name(&id)]);
    let json: serde_json::Value =
        serde_json::from_slice(&server.stored_bytes(&id).unwrap()).unwrap();
    assert!(json["data"]["theme"] == "dark" || json["data"]["theme"] == "light");
    // Temporary files are the file store's: how it writes atomically.
    if backend == Backend::Files {
        let leftovers = std::fs::read_dir(server.sessions_dir())
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .file_name()
                    .to_string_lossy()
                    .starts_with(".tmp-")
            })
            .count();
        assert_eq!(leftovers, 0, "no temporary files remain");
    }
}

// File store only: its dir.
#[test]
fn a_wide_sessions_dir_is_tightened_and_crash_leftovers_are_removed_at_start() {
    let dir = TempDir::new();
    let sessions = dir.path().join("sessions");
    std::fs::create_dir(&sessions).unwrap();
    std::fs::set_permissions(&sessions, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::write(sessions.join(".tmp-deadbeef"), b"{\"v\":1,").unwrap();
    let server = Server::start_with(Options {
        dir: Some(dir),
        ..Options::default()
    });
    let mode = std::fs::metadata(server.sessions_dir())
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o700);
    assert!(!server.sessions_dir().join(".tmp-deadbeef").exists());
}

fn secure_cookies_use_the_host_prefix_and_ignore_a_plain_sid(backend: Backend) {
    let server = Server::start_on(backend, &["--secure-cookies"]);
    let response = server.post("/theme", None, "theme=dark");
    let line = response.header("set-cookie").unwrap();
    assert!(line.starts_with("__Host-sid="), "{line}");
    assert!(line.contains("; Secure"), "{line}");
    let id = response.set_cookie_value("__Host-sid").unwrap();
    assert!(server
        .get("/", Some(&format!("__Host-sid={id}")))
        .text()
        .contains("data-theme=\"dark\""));
    assert!(server
        .get("/", Some(&format!("sid={id}")))
        .text()
        .contains("data-theme=\"auto\""));
}

fn the_first_well_formed_duplicate_cookie_counts(backend: Backend) {
    let server = Server::start_on(backend, &[]);
    let id = new_session(&server, "dark");
    let header = format!("sid=garbage; sid={id}; sid={}", "A".repeat(43));
    assert!(server
        .get("/", Some(&header))
        .text()
        .contains("data-theme=\"dark\""));
}

// File store only: it edits and plants files, and `clearsessions` removes
// nothing from Redis, which expires keys itself (the commands on Redis:
// redis_instances).
#[test]
fn sessions_lists_live_sessions_and_clearsessions_counts_what_it_removes() {
    let server = Server::start(&[]);
    let live = new_session(&server, "dark");
    let dead = new_session(&server, "light");
    let dead_file = session_file_for(&server.sessions_dir(), &dead);
    let mut json = read_json(&dead_file);
    json["expires"] = serde_json::json!(1);
    std::fs::write(&dead_file, json.to_string()).unwrap();
    std::fs::write(
        server
            .sessions_dir()
            .join(format!("{}.json", "ab".repeat(32))),
        b"garbage",
    )
    .unwrap();
    let dir = server.sessions_dir();
    let dir = dir.to_str().unwrap();

    let users = server.users_file();
    let users = users.to_str().unwrap();
    let (status, out, _) = run_cli(&["sessions", "--sessions", dir, "--users", users], "");
    assert_eq!(status, 0);
    let live_prefix = &session_file_for(&server.sessions_dir(), &live)
        .file_name()
        .unwrap()
        .to_str()
        .unwrap()[..8]
        .to_string();
    let rows: Vec<&str> = out.lines().skip(1).collect();
    assert_eq!(rows.len(), 1, "{out}");
    assert!(rows[0].starts_with(live_prefix.as_str()), "{out}");
    assert!(
        rows[0].contains(" - "),
        "anonymous sessions show '-': {out}"
    );
    assert!(!out.contains(&live) && !out.contains(&dead));

    let (status, out, _) = run_cli(&["clearsessions", "--sessions", dir], "");
    assert_eq!(
        (status, out.trim()),
        (0, "removed 1 expired session, 1 unreadable session")
    );
    assert_eq!(
        server.session_files(),
        vec![session_file_for(&server.sessions_dir(), &live)]
    );
}

fn sigterm_finishes_the_request_in_flight_and_exits_zero(backend: Backend) {
    use std::io::Write;
    let mut server = Server::start_on(backend, &[]);
    let mut stream = server.connect();
    let body = "theme=dark";
    let head = format!(
        "POST /theme HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\ntheme=",
        body.len()
    );
    stream.write_all(head.as_bytes()).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let child_exit = std::thread::scope(|scope| {
        let waiter = scope.spawn(|| server.stop("TERM"));
        std::thread::sleep(Duration::from_millis(300));
        stream.write_all(b"dark").unwrap();
        let response = read_response(&mut stream);
        assert_eq!(response.status, 303, "the request in flight completes");
        waiter.join().unwrap()
    });
    assert_eq!(child_exit.code(), Some(0));
    assert_eq!(server.stored_names().len(), 1);
}

/// `latch clearsessions` says what it removed and why, on either store: an
/// expired session, and a value that is no session, here one with no
/// expiry of its own (on Redis a key without a TTL, which Redis would keep
/// forever). Why it is unreadable is on standard error; a live session
/// stays; a second run finds nothing.
fn clearsessions_removes_expired_and_unreadable_sessions_and_says_which(backend: Backend) {
    let server = Server::start_on(backend, &[]);
    let live = new_session(&server, "dark");
    let expired = new_session(&server, "light");
    let mut json: serde_json::Value =
        serde_json::from_slice(&server.stored_bytes(&expired).unwrap()).unwrap();
    json["expires"] = serde_json::json!(1);
    server.put_stored_bytes(&expired, json.to_string().as_bytes());
    let never_issued = latch::sessions::SessionId::generate();
    server.put_stored_bytes(never_issued.as_str(), b"{not json");
    let clear = || run_cli(&["clearsessions", "--sessions", server.sessions_flag()], "");

    let (status, out, err) = clear();
    assert_eq!(
        (status, out.trim()),
        (0, "removed 1 expired session, 1 unreadable session"),
        "{err}"
    );
    let label = &stored_name(never_issued.as_str())[..12];
    assert!(
        err.contains(&format!("session {label}… unreadable")),
        "why it could not be read: {err}"
    );
    assert_eq!(server.stored_names(), vec![stored_name(&live)]);
    let (status, out, err) = clear();
    assert_eq!(
        (status, out.trim()),
        (0, "removed nothing (no expired or unreadable session)"),
        "{err}"
    );
}

on_both_backends! {
    the_theme_comes_back_on_the_next_page_and_can_change,
    an_unsafe_next_falls_back_to_the_home_page,
    a_forged_well_formed_id_is_not_adopted,
    malformed_cookie_values_never_give_a_5xx_nor_touch_the_disk,
    get_and_head_never_create_sessions,
    an_expired_session_is_no_session_and_is_deleted,
    a_corrupt_session_record_is_no_session_and_is_logged,
    concurrent_theme_posts_on_one_session_leave_one_parseable_record,
    secure_cookies_use_the_host_prefix_and_ignore_a_plain_sid,
    the_first_well_formed_duplicate_cookie_counts,
    sigterm_finishes_the_request_in_flight_and_exits_zero,
    clearsessions_removes_expired_and_unreadable_sessions_and_says_which,
}
