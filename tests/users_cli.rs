//! The users file and its commands (contract: Commands, Users file):
//! `adduser` and `deluser` on real files, a running server picking up their
//! changes, bcrypt from `htpasswd -B`, the first-run
//! admin, and login timing that does not reveal which names exist.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::support::{
    login, median, run_cli, timed_failed_login, Options, Response, Server, TempDir, TIMEOUT,
};

/// The spec promises a running server sees a changed users file within
/// 5 seconds; polls give it that plus a margin for a loaded machine.
const RELOAD_BOUND: Duration = Duration::from_secs(6);
const POLL_EVERY: Duration = Duration::from_millis(250);

/// What `latch adduser` writes: argon2id with OWASP's minimum parameters.
const ARGON2ID_PREFIX: &str = "$argon2id$v=19$m=19456,t=2,p=1$";

/// `secret` hashed once with bcrypt cost 5 (what `htpasswd -nbB -C 5` gives),
/// pasted as a literal so the test does not depend on today's bcrypt crate.
const BCRYPT_2Y_SECRET: &str = "$2y$05$7FezIbPqvroD/J2FvPOiG.XTGpnUF0a50BI1Xzln7AqsD08N3jQei";

fn users_path(dir: &TempDir) -> PathBuf {
    dir.path().join("users.htpasswd")
}

fn text_of(path: &Path) -> &str {
    path.to_str().expect("temp paths are UTF-8")
}

fn mode_of(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

fn lines_of(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

/// The hash on `name`'s line; panics unless there is exactly one such line.
fn hash_of(path: &Path, name: &str) -> String {
    let prefix = format!("{name}:");
    let hashes: Vec<String> = lines_of(path)
        .iter()
        .filter_map(|line| line.strip_prefix(&prefix).map(str::to_owned))
        .collect();
    assert_eq!(hashes.len(), 1, "one line for {name}: {hashes:?}");
    hashes.into_iter().next().unwrap()
}

fn adduser(users: &Path, name: &str, stdin: &str) -> (i32, String, String) {
    run_cli(&["adduser", name, "--users", text_of(users)], stdin)
}

fn deluser(users: &Path, name: &str) -> (i32, String, String) {
    run_cli(&["deluser", name, "--users", text_of(users)], "")
}

/// Retries `login` until it answers `status`, within the reload bound.
fn login_until(server: &Server, user: &str, password: &str, status: u16) -> Response {
    let deadline = Instant::now() + RELOAD_BOUND;
    loop {
        let response = login(server, user, password);
        if response.status == status {
            return response;
        }
        assert!(
            Instant::now() < deadline,
            "login {user} still {} after {RELOAD_BOUND:?}, expected {status}",
            response.status
        );
        std::thread::sleep(POLL_EVERY);
    }
}

/// A server whose users file holds `text` before it starts.
fn server_with_users(text: &str, args: &[&str]) -> Server {
    let dir = TempDir::new();
    std::fs::write(users_path(&dir), text).unwrap();
    Server::start_with(Options {
        args: args.iter().map(|a| a.to_string()).collect(),
        dir: Some(dir),
        ..Options::default()
    })
}

/// Waits (bounded) until the server's standard output contains `needle`.
fn stdout_once_it_has(server: &Server, needle: &str) -> String {
    let deadline = Instant::now() + TIMEOUT;
    loop {
        let out = server.stdout();
        if out.contains(needle) {
            return out;
        }
        assert!(
            Instant::now() < deadline,
            "no {needle:?} on stdout: {out:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

// adduser and deluser

#[test]
fn adduser_creates_a_0600_file_with_one_argon2id_line_and_no_bootstrap_admin() {
    let dir = TempDir::new();
    let users = users_path(&dir);

    let (status, _, err) = adduser(&users, "alice", "s3cret\n");
    assert_eq!(status, 0, "{err}");
    assert_eq!(mode_of(&users), 0o600);
    let lines = lines_of(&users);
    assert_eq!(lines.len(), 1, "no admin is added: {lines:?}");
    let hash = lines[0].strip_prefix("alice:").expect("an alice line");
    assert!(hash.starts_with(ARGON2ID_PREFIX), "{hash}");
    assert!(latch::auth::users::verify("s3cret", hash));
    assert!(
        !latch::auth::users::verify("s3cret\n", hash),
        "the newline is cut"
    );
}

#[test]
fn adduser_for_an_existing_user_replaces_the_hash_and_a_new_user_is_appended() {
    let dir = TempDir::new();
    let users = users_path(&dir);
    assert_eq!(adduser(&users, "alice", "one\n").0, 0);
    let first = hash_of(&users, "alice");

    assert_eq!(adduser(&users, "alice", "two\n").0, 0);
    let second = hash_of(&users, "alice");
    assert_ne!(first, second);
    assert!(latch::auth::users::verify("two", &second));
    assert_eq!(lines_of(&users).len(), 1);

    assert_eq!(adduser(&users, "bob", "three\n").0, 0);
    let lines = lines_of(&users);
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0], format!("alice:{second}"), "alice is kept, first");
    assert!(lines[1].starts_with(&format!("bob:{ARGON2ID_PREFIX}")));
}

#[test]
fn adduser_with_an_empty_first_line_fails_and_leaves_the_file_unchanged() {
    let dir = TempDir::new();
    let users = users_path(&dir);
    assert_eq!(adduser(&users, "alice", "s3cret\n").0, 0);
    let before = std::fs::read(&users).unwrap();

    for stdin in ["\n", "", "\r\n", "\nsecond line\n"] {
        let (status, _, err) = adduser(&users, "bob", stdin);
        assert_ne!(status, 0, "stdin {stdin:?} was accepted");
        assert!(!err.trim().is_empty(), "stdin {stdin:?}: no message");
        assert_eq!(std::fs::read(&users).unwrap(), before, "stdin {stdin:?}");
    }
}

#[test]
fn adduser_with_an_empty_password_does_not_create_a_missing_file() {
    let dir = TempDir::new();
    let users = users_path(&dir);
    let (status, _, _) = adduser(&users, "alice", "\n");
    assert_ne!(status, 0);
    assert!(!users.exists());
}

#[test]
fn adduser_with_an_invalid_name_fails_and_leaves_the_file_unchanged() {
    let dir = TempDir::new();
    let users = users_path(&dir);
    assert_eq!(adduser(&users, "alice", "s3cret\n").0, 0);
    let before = std::fs::read(&users).unwrap();

    for name in ["a b", "a:b", ""] {
        let (status, _, err) = adduser(&users, name, "pw\n");
        assert_ne!(status, 0, "name {name:?} was accepted");
        assert!(!err.trim().is_empty(), "name {name:?}: no message");
        assert_eq!(std::fs::read(&users).unwrap(), before, "name {name:?}");
    }
}

#[test]
fn adduser_writes_the_file_0600_even_when_an_editor_left_it_wider() {
    let dir = TempDir::new();
    let users = users_path(&dir);
    assert_eq!(adduser(&users, "alice", "s3cret\n").0, 0);
    std::fs::set_permissions(&users, std::fs::Permissions::from_mode(0o644)).unwrap();

    assert_eq!(adduser(&users, "bob", "pw\n").0, 0);
    assert_eq!(mode_of(&users), 0o600);
}

#[test]
fn deluser_removes_the_users_line_and_keeps_the_file_0600() {
    let dir = TempDir::new();
    let users = users_path(&dir);
    assert_eq!(adduser(&users, "alice", "one\n").0, 0);
    assert_eq!(adduser(&users, "bob", "two\n").0, 0);
    let bob = hash_of(&users, "bob");

    let (status, _, err) = deluser(&users, "alice");
    assert_eq!(status, 0, "{err}");
    assert_eq!(lines_of(&users), vec![format!("bob:{bob}")]);
    assert_eq!(mode_of(&users), 0o600);
}

#[test]
fn deluser_of_a_missing_user_exits_1_naming_the_user_and_changes_nothing() {
    let dir = TempDir::new();
    let users = users_path(&dir);
    assert_eq!(adduser(&users, "alice", "one\n").0, 0);
    let before = std::fs::read(&users).unwrap();

    let (status, _, err) = deluser(&users, "zebedee");
    assert_eq!(status, 1);
    assert!(err.contains("zebedee"), "{err}");
    assert_eq!(std::fs::read(&users).unwrap(), before);
    assert_eq!(mode_of(&users), 0o600);
}

// A running server and the file

#[test]
fn a_running_server_sees_adduser_within_5_seconds() {
    let server = Server::start(&["--login-throttle", "0"]);
    assert_eq!(login(&server, "carol", "pw").status, 422);

    assert_eq!(adduser(&server.users_file(), "carol", "pw\n").0, 0);
    let response = login_until(&server, "carol", "pw", 303);
    assert_eq!(response.header("location"), Some("/account"));
    assert!(response.set_cookie_value("sid").is_some());
}

#[test]
fn a_running_server_sees_deluser_within_5_seconds() {
    let server = Server::start(&["--login-throttle", "0"]);
    assert_eq!(adduser(&server.users_file(), "carol", "pw\n").0, 0);
    login_until(&server, "carol", "pw", 303);

    assert_eq!(deluser(&server.users_file(), "carol").0, 0);
    login_until(&server, "carol", "pw", 422);
}

/// Adds carol to a running server and returns a cookie signed in as her,
/// checked against `/account`.
fn signed_in_carol(server: &Server) -> String {
    assert_eq!(adduser(&server.users_file(), "carol", "pw\n").0, 0);
    let response = login_until(server, "carol", "pw", 303);
    let cookie = format!("sid={}", response.set_cookie_value("sid").unwrap());
    let account = server.get("/account", Some(&cookie));
    assert_eq!(account.status, 200);
    assert!(account.text().contains("carol"));
    cookie
}

fn assert_signed_out(server: &Server, cookie: &str) {
    for _ in 0..2 {
        let account = server.get("/account", Some(cookie));
        assert_eq!(account.status, 303, "{}", account.text());
        assert_eq!(account.header("location"), Some("/login?next=%2Faccount"));
    }
}

#[test]
fn a_deleted_users_session_is_signed_out_on_its_next_request() {
    let server = Server::start(&["--login-throttle", "0"]);
    let cookie = signed_in_carol(&server);

    assert_eq!(deluser(&server.users_file(), "carol").0, 0);
    login_until(&server, "carol", "pw", 422);
    assert_signed_out(&server, &cookie);
}

#[test]
fn a_password_changed_by_adduser_signs_out_the_users_sessions() {
    let server = Server::start(&["--login-throttle", "0"]);
    let cookie = signed_in_carol(&server);

    assert_eq!(adduser(&server.users_file(), "carol", "new pw\n").0, 0);
    login_until(&server, "carol", "new+pw", 303);
    assert_signed_out(&server, &cookie);
    assert_eq!(login(&server, "carol", "pw").status, 422);
}

// bcrypt from htpasswd -B

#[test]
fn a_2y_bcrypt_hash_logs_in_with_the_right_password_only() {
    let server = server_with_users(&format!("bob:{BCRYPT_2Y_SECRET}\n"), &[]);

    let right = login(&server, "bob", "secret");
    assert_eq!(right.status, 303);
    assert_eq!(right.header("location"), Some("/account"));
    assert!(right.set_cookie_value("sid").is_some());

    let wrong = login(&server, "bob", "Secret");
    assert_eq!(wrong.status, 422);
    assert!(wrong.set_cookie_value("sid").is_none());
}

#[test]
fn a_2b_bcrypt_hash_logs_in() {
    // `$2b$` and `$2y$` name the same algorithm; htpasswd writes `$2y$`.
    let hash = BCRYPT_2Y_SECRET.replacen("$2y$", "$2b$", 1);
    let server = server_with_users(&format!("bob:{hash}\n"), &[]);
    assert_eq!(login(&server, "bob", "secret").status, 303);
    assert_eq!(login(&server, "bob", "wrong").status, 422);
}

// First run

#[test]
fn first_run_creates_a_0600_file_with_admin_and_prints_a_password_that_logs_in() {
    let mut server = Server::start(&[]);
    stdout_once_it_has(&server, "admin password: ");
    let users = server.users_file();
    assert_eq!(mode_of(&users), 0o600);
    let lines = lines_of(&users);
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(lines[0].starts_with(&format!("admin:{ARGON2ID_PREFIX}")));

    let out = server.stdout();
    let password = out
        .lines()
        .find_map(|line| line.strip_prefix("admin password: "))
        .unwrap()
        .to_owned();
    assert!(!password.is_empty());
    assert!(!server.stderr().contains(&password), "only on stdout");
    let response = login(&server, "admin", &password);
    assert_eq!(response.status, 303);
    assert_eq!(response.header("location"), Some("/account"));

    // Once: all of its standard output, once it has exited.
    assert_eq!(server.stop("TERM").code(), Some(0));
    let out = server.stdout();
    assert_eq!(out.matches("password").count(), 1, "{out}");
}

#[test]
fn a_first_run_that_cannot_start_creates_no_users_file() {
    let dir = TempDir::new();
    let users = dir.path().join("users.htpasswd");
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let sessions = dir.path().join("sessions");
    let (status, out, err) = run_cli(
        &[
            "serve",
            "--addr",
            &addr,
            "--users",
            users.to_str().unwrap(),
            "--sessions",
            sessions.to_str().unwrap(),
        ],
        "",
    );
    assert_eq!(status, 1, "{out}{err}");
    assert!(err.contains(&format!("cannot listen on {addr}")), "{err}");
    assert!(!out.contains("password"), "{out}");
    assert!(!users.exists(), "a refused start left a users file");
}

#[test]
fn a_start_with_an_existing_users_file_prints_no_password() {
    let mut first = Server::start(&[]);
    stdout_once_it_has(&first, "admin password: ");
    let users_before = std::fs::read(first.users_file()).unwrap();
    // Keep the first server's dir (and its users file) for the second.
    let dir = std::mem::replace(&mut first.dir, TempDir::new());
    drop(first);

    let mut second = Server::start_with(Options {
        dir: Some(dir),
        ..Options::default()
    });
    // SIGTERM right after "listening": the handler is already installed.
    assert_eq!(second.stop("TERM").code(), Some(0));
    let out = second.stdout();
    assert!(!out.contains("password"), "{out}");
    assert_eq!(std::fs::read(second.users_file()).unwrap(), users_before);
}

// Timing

#[test]
fn a_login_for_an_unknown_user_takes_about_as_long_as_a_wrong_password() {
    // The first-run admin is the known user; throttling off so that ten
    // failures in a row are all checked.
    let server = Server::start(&["--login-throttle", "0"]);
    timed_failed_login(&server, "admin", "warm-up");
    timed_failed_login(&server, "nobody", "warm-up");

    // Interleaved, so that a busy spell on the machine hits both sides.
    let (mut wrong_password, mut unknown_user) = (Vec::new(), Vec::new());
    for _ in 0..5 {
        wrong_password.push(timed_failed_login(&server, "admin", "wrong"));
        unknown_user.push(timed_failed_login(&server, "nobody", "wrong"));
    }
    let (wrong_password, unknown_user) = (median(wrong_password), median(unknown_user));
    assert!(
        unknown_user * 2 >= wrong_password,
        "unknown user {unknown_user:?} vs wrong password {wrong_password:?}"
    );
}
