//! Absolute and idle expiry over the wire (docs/contract.md, "Sessions"),
//! on both backends but where a test says why not.

use std::time::Duration;

use crate::support::{self, on_both_backends, session_file_for, Backend, Server};

fn new_session(server: &Server) -> String {
    server
        .post("/theme", None, "theme=dark")
        .set_cookie_value("sid")
        .unwrap()
}

fn theme_of(server: &Server, id: &str) -> bool {
    server
        .get("/", Some(&format!("sid={id}")))
        .text()
        .contains("data-theme=\"dark\"")
}

fn an_idle_session_expires_and_is_deleted(backend: Backend) {
    let server = Server::start_on(backend, &["--idle-timeout", "2"]);
    let id = new_session(&server);
    let json = server.session_json(&id).unwrap();
    assert!(
        json["seen"].is_u64(),
        "idle sessions record their last use: {json}"
    );
    std::thread::sleep(Duration::from_millis(3100));
    assert!(!theme_of(&server, &id));
    assert_eq!(server.stored_bytes(&id), None);
}

fn a_session_in_use_outlives_its_idle_timeout(backend: Backend) {
    let server = Server::start_on(backend, &["--idle-timeout", "2"]);
    let id = new_session(&server);
    for _ in 0..8 {
        std::thread::sleep(Duration::from_millis(500));
        assert!(theme_of(&server, &id));
    }
}

fn reads_stay_reads_until_a_tenth_of_the_idle_timeout_has_passed(backend: Backend) {
    let server = Server::start_on(backend, &["--idle-timeout", "600"]);
    let id = new_session(&server);
    let before = server.stored_bytes(&id).unwrap();
    for _ in 0..5 {
        assert!(theme_of(&server, &id));
    }
    assert_eq!(
        server.stored_bytes(&id).unwrap(),
        before,
        "no write for a fresh session"
    );
}

// File store only: `clearsessions` removes nothing from Redis, which
// expires keys itself (the commands on Redis: redis_instances).
#[test]
fn sessions_and_clearsessions_apply_the_idle_timeout_they_are_given() {
    // The server runs without an idle timeout, so its own sweeper leaves
    // the file alone; the commands are told the timeout.
    let server = Server::start(&[]);
    let id = new_session(&server);
    std::thread::sleep(Duration::from_millis(2100));
    let dir = server.sessions_dir();
    let dir = dir.to_str().unwrap();
    // Without the idle timeout the session is still live by its 14-day ttl...
    let users = server.users_file();
    let users = users.to_str().unwrap();
    let (_, listed, _) = support::run_cli(&["sessions", "--sessions", dir, "--users", users], "");
    assert_eq!(listed.lines().count(), 2, "{listed}");
    // ...with it, it is expired, and clearsessions removes it.
    let (status, out, _) = support::run_cli(
        &["clearsessions", "--sessions", dir, "--idle-timeout", "1"],
        "",
    );
    assert_eq!((status, out.trim()), (0, "removed 1 expired session"));
    assert!(!session_file_for(&server.sessions_dir(), &id).exists());
}

// File store only: the sweeper is its own; Redis expires keys itself.
#[test]
fn the_background_sweeper_removes_expired_files_without_any_request() {
    let server = Server::start(&["--session-ttl", "1"]);
    let id = new_session(&server);
    let file = session_file_for(&server.sessions_dir(), &id);
    assert!(file.exists());
    let deadline = std::time::Instant::now() + Duration::from_secs(6);
    while file.exists() {
        assert!(
            std::time::Instant::now() < deadline,
            "the sweeper never came"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(server.wait_for_log("sweep: removed 1"));
}

on_both_backends! {
    an_idle_session_expires_and_is_deleted,
    a_session_in_use_outlives_its_idle_timeout,
    reads_stay_reads_until_a_tenth_of_the_idle_timeout_has_passed,
}
