//! The file store when its directory is not what it should be
//! (docs/contract.md, "Sessions"): what sits under a session's name is not
//! trusted, the dir may vanish, the epochs file may be lost, and only one
//! server may use a dir at a time.

use std::fs;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use latch::sessions::SessionId;

use crate::support::{
    self, mkfifo, run_cli, session_file_for, write_users, Server, TempDir, ALICE, BOB, TIMEOUT,
};

/// A sessions dir and a users file that outlive one server, so that a
/// test can stop a server and start another on them.
struct Home {
    dir: TempDir,
}

impl Home {
    fn new(users: &[(&str, &str)]) -> Home {
        let dir = TempDir::new();
        write_users(&dir.path().join("users.htpasswd"), users);
        Home { dir }
    }

    fn sessions(&self) -> PathBuf {
        self.dir.path().join("sessions")
    }

    fn users(&self) -> PathBuf {
        self.dir.path().join("users.htpasswd")
    }

    /// Flags that point a server (given after support's own) here.
    fn flags(&self, extra: &[&str]) -> Vec<String> {
        let mut flags = vec![
            format!("--sessions={}", self.sessions().display()),
            format!("--users={}", self.users().display()),
        ];
        flags.extend(extra.iter().map(|f| f.to_string()));
        flags
    }

    fn serve(&self, extra: &[&str]) -> Server {
        let flags = self.flags(extra);
        Server::start(&flags.iter().map(String::as_str).collect::<Vec<_>>())
    }

    /// `sessions` or `clearsessions` on this dir; `sessions` also reads
    /// the users file, to tell which sign-ins still stand.
    fn cli(&self, command: &str) -> (i32, String, String) {
        let sessions = self.sessions();
        let users = self.users();
        let mut args = vec![command, "--sessions", sessions.to_str().unwrap()];
        if command == "sessions" {
            args.extend(["--users", users.to_str().unwrap()]);
        }
        run_cli(&args, "")
    }
}

/// Waits (bounded) until `done` holds.
fn eventually(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + TIMEOUT;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

// What sits under a session's name.

#[test]
fn a_symlink_named_for_a_forged_id_signs_no_one_in() {
    let server = Server::with_users(&[ALICE], &[]);
    let real = server.login(ALICE.0, ALICE.1);
    let forged = SessionId::generate();
    let dir = server.sessions_dir();
    std::os::unix::fs::symlink(
        session_file_for(&dir, &real),
        session_file_for(&dir, forged.as_str()),
    )
    .unwrap();
    assert!(server.is_signed_in(&format!("sid={real}")));
    assert!(!server.is_signed_in(&format!("sid={}", forged.as_str())));
    assert!(server.wait_for_log("treated as no session: a symbolic link"));
}

#[test]
fn a_fifo_under_a_session_name_is_no_session_and_nothing_hangs_on_it() {
    let home = Home::new(&[ALICE]);
    fs::create_dir(home.sessions()).unwrap();
    // One planted before the start: the server starts, and its first
    // sweep removes it without waiting on it.
    mkfifo(&session_file_for(
        &home.sessions(),
        SessionId::generate().as_str(),
    ));
    let server = home.serve(&[]);
    assert!(server.wait_for_log("sweep: removed 1 unreadable session"));
    // One planted now, met by requests (the next sweep is a minute away).
    let forged = SessionId::generate();
    let fifo = session_file_for(&home.sessions(), forged.as_str());
    mkfifo(&fifo);
    let cookie = format!("sid={}", forged.as_str());
    std::thread::scope(|scope| {
        for _ in 0..2 {
            scope.spawn(|| {
                let page = server.get("/", Some(&cookie));
                assert_eq!(page.status, 200);
                assert!(page.text().contains("data-theme=\"auto\""));
            });
        }
    });
    assert_eq!(server.get("/healthz", None).status, 200, "still serving");
    let fresh = server.post("/theme", Some(&cookie), "theme=dark");
    assert_eq!(fresh.status, 303);
    assert_ne!(
        fresh.set_cookie_value("sid"),
        Some(forged.as_str().to_owned())
    );
    assert!(server.wait_for_log("treated as no session: not a regular file (a FIFO)"));
    assert!(
        fs::symlink_metadata(&fifo).unwrap().file_type().is_fifo(),
        "still there"
    );
    // `clearsessions` finishes (run_cli is bounded) and removes it.
    let (status, out, err) = home.cli("clearsessions");
    assert_eq!(
        (status, out.trim()),
        (0, "removed 1 unreadable session"),
        "{err}"
    );
    assert!(err.contains("not a regular file (a FIFO)"), "why: {err}");
    assert!(fs::symlink_metadata(&fifo).is_err());
}

#[test]
fn a_session_file_over_64_kib_is_no_session() {
    let server = Server::with_users(&[ALICE], &[]);
    let id = server.login(ALICE.0, ALICE.1);
    let cookie = format!("sid={id}");
    let file = session_file_for(&server.sessions_dir(), &id);
    let mut json = server.session_json(&id).unwrap();
    json["data"]["pad"] = serde_json::json!("x".repeat(65 * 1024));
    fs::write(&file, json.to_string()).unwrap();
    assert!(!server.is_signed_in(&cookie));
    assert!(server.wait_for_log("over the 65536-byte limit"));
}

// A dir that vanishes, an epochs file that is lost.

/// `fs::remove_dir_all` on a dir the server may be writing in at that
/// moment (its first sweep refills the space reserve at start): a file
/// made mid-removal leaves the dir not empty, so try again, bounded.
fn remove_dir_beside_a_writer(dir: &Path) {
    let deadline = Instant::now() + TIMEOUT;
    loop {
        match fs::remove_dir_all(dir) {
            Ok(()) => return,
            Err(e) if e.kind() == std::io::ErrorKind::DirectoryNotEmpty => {
                assert!(Instant::now() < deadline, "{} stayed: {e}", dir.display());
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(e) => panic!("removing {}: {e}", dir.display()),
        }
    }
}

#[test]
fn a_sessions_dir_removed_while_running_is_recreated_0700_by_the_next_write() {
    let home = Home::new(&[ALICE]);
    let server = home.serve(&[]);
    assert_eq!(server.post("/theme", None, "theme=dark").status, 303);
    remove_dir_beside_a_writer(&home.sessions());
    let response = server.post("/theme", None, "theme=light");
    assert_eq!(response.status, 303, "{}", response.text());
    let id = response.set_cookie_value("sid").unwrap();
    let mode = fs::metadata(home.sessions()).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o700);
    assert!(session_file_for(&home.sessions(), &id).exists());
    assert!(server
        .get("/", Some(&format!("sid={id}")))
        .text()
        .contains("data-theme=\"light\""));
    assert!(server.wait_for_log("was missing: created again (0700)"));
    // The recreated dir is held again: no second server can take it.
    let sessions = home.sessions();
    let (status, _, err) = run_cli(
        &[
            "serve",
            "--addr=127.0.0.1:0",
            "--sessions",
            sessions.to_str().unwrap(),
        ],
        "",
    );
    assert_eq!(status, 1, "{err}");
}

#[test]
fn losing_the_epochs_file_after_sign_out_everywhere_signs_no_one_back_in() {
    let home = Home::new(&[ALICE, BOB]);
    // Sessions of 16 s: the sweeper then runs every 8 s.
    let server = home.serve(&["--session-ttl", "16"]);
    // Bob's session shows that the sessions below end by sign-out, not
    // by age.
    let bob = server.login(BOB.0, BOB.1);
    let ender = server.login(ALICE.0, ALICE.1);
    let checked = server.login(ALICE.0, ALICE.1);
    let untouched = server.login(ALICE.0, ALICE.1);
    let token = server.csrf_token(&format!("sid={ender}"));
    let logout = server.post(
        "/logout",
        Some(&format!("sid={ender}")),
        &format!("csrf_token={token}&scope=all"),
    );
    assert_eq!(logout.status, 303);
    // Lost while the server runs (`cp sessions/*` leaves dotfiles behind).
    let epochs = home.sessions().join(".epochs.json");
    fs::remove_file(&epochs).unwrap();
    assert!(!server.is_signed_in(&format!("sid={checked}")));
    // The next sweep signs the untouched session out in its file, and
    // writes the epochs back from memory.
    assert!(server.wait_for_log("sweep: signed out 1 sessions"));
    eventually("the epochs file", || epochs.exists());
    let file = session_file_for(&home.sessions(), &untouched);
    let json: serde_json::Value = serde_json::from_slice(&fs::read(file).unwrap()).unwrap();
    assert!(json["data"].get("_auth_user").is_none(), "{json}");
    // Lost again, and the server restarted: nothing it ended comes back.
    drop(server);
    fs::remove_file(&epochs).unwrap();
    let server = home.serve(&["--session-ttl", "16"]);
    assert!(
        server.is_signed_in(&format!("sid={bob}")),
        "not expired yet"
    );
    for id in [&ender, &checked, &untouched] {
        assert!(!server.is_signed_in(&format!("sid={id}")));
    }
}

// One server per dir.

#[test]
fn a_second_serve_on_the_same_sessions_dir_exits_1_naming_the_holder() {
    let home = Home::new(&[ALICE]);
    let server = home.serve(&[]);
    let sessions = home.sessions();
    let users = home.users();
    let (status, out, err) = run_cli(
        &[
            "serve",
            "--addr=127.0.0.1:0",
            "--sessions",
            sessions.to_str().unwrap(),
            "--users",
            users.to_str().unwrap(),
        ],
        "",
    );
    assert_eq!(status, 1, "{out}{err}");
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    assert!(
        err.contains(&format!("process {}", server.pid())),
        "names the holder: {err}"
    );
    // The first server is untouched, and the commands still work beside it.
    assert_eq!(server.post("/theme", None, "theme=dark").status, 303);
    assert_eq!(home.cli("sessions").0, 0);
    assert_eq!(home.cli("clearsessions").0, 0);
    assert_eq!(support::session_files(&home.sessions()).len(), 1);
}

/// `serve` on `home` through `command` (the binary, maybe behind
/// `setpriv`), to meet a lock file it cannot open: (status, stdout, stderr).
fn serve_once(home: &Home, mut command: std::process::Command) -> (i32, String, String) {
    command
        .args(["serve", "--addr=127.0.0.1:0"])
        .args(home.flags(&[]));
    support::run_command(&mut command, "")
}

#[test]
fn a_lock_file_latch_cannot_open_stops_the_start_naming_it_and_the_fix() {
    let home = Home::new(&[ALICE]);
    fs::create_dir_all(home.sessions().join(".lock")).unwrap();
    let (status, out, err) = serve_once(&home, std::process::Command::new(support::binary()));
    assert_eq!(status, 1, "{out}{err}");
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    let lock = home.sessions().join(".lock");
    assert!(
        err.contains(&format!("cannot open its lock file {}:", lock.display())),
        "{err}"
    );
    assert!(err.contains("remove it"), "{err}");
}

/// The restart of a service after `sudo latch serve` once ran on its dir:
/// the lock file is root's, 0600, and the service's user cannot open it.
#[test]
#[ignore = "needs root: runs latch as uid 65534 (setpriv) beside a lock file root owns"]
fn a_lock_file_left_by_root_names_the_file_and_says_to_chown_it() {
    use std::os::unix::fs::chown;
    let home = Home::new(&[ALICE]);
    let nobody = 65534;
    let sessions = home.sessions();
    fs::create_dir(&sessions).unwrap();
    fs::set_permissions(&sessions, fs::Permissions::from_mode(0o700)).unwrap();
    let lock = sessions.join(".lock");
    fs::write(&lock, "1\n").unwrap();
    fs::set_permissions(&lock, fs::Permissions::from_mode(0o600)).unwrap();
    chown(&lock, Some(0), Some(0)).expect("needs root to give the lock file to root");
    fs::set_permissions(home.dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
    for mine in [sessions.as_path(), &home.users()] {
        chown(mine, Some(nobody), Some(nobody)).unwrap();
    }

    let mut command = std::process::Command::new("setpriv");
    command
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(support::binary());
    let (status, out, err) = serve_once(&home, command);
    assert_eq!(status, 1, "{out}{err}");
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    assert!(
        err.contains(&format!(
            "cannot open its lock file {}: Permission denied",
            lock.display()
        )),
        "{err}"
    );
    assert!(
        err.contains("it belongs to uid 0, and latch runs as uid 65534: chown it"),
        "{err}"
    );
}

/// A sessions dir another user owns (made by hand as root, say): `serve`
/// refuses it naming the owner and the fix, and `check` said it before, in
/// the same words.
#[test]
#[ignore = "needs root: runs latch as uid 65534 (setpriv) beside a sessions dir root owns"]
fn a_sessions_dir_of_another_user_is_refused_by_serve_and_check_alike_saying_chown_it() {
    use std::os::unix::fs::chown;
    let home = Home::new(&[ALICE]);
    let sessions = home.sessions();
    fs::create_dir(&sessions).unwrap();
    fs::set_permissions(&sessions, fs::Permissions::from_mode(0o755)).unwrap();
    fs::set_permissions(home.dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
    chown(home.users(), Some(65534), Some(65534)).expect("needs root to chown");
    let as_nobody = || {
        let mut command = std::process::Command::new("setpriv");
        command
            .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
            .arg(support::binary());
        command
    };

    let (status, out, err) = serve_once(&home, as_nobody());
    assert_eq!(status, 1, "{out}{err}");
    let said = format!(
        "sessions dir {0}: Operation not permitted (os error 1); {0} belongs to uid 0, \
         and latch runs as uid 65534: chown {0} to the user latch runs as",
        sessions.display()
    );
    assert_eq!(err.trim_end(), format!("latch: cannot use {said}"));
    let mut check = as_nobody();
    check
        .args(["check", "--addr=127.0.0.1:0"])
        .args(home.flags(&[]));
    let (status, out, err) = support::run_command(&mut check, "");
    assert_eq!(status, 1, "{out}{err}");
    assert!(err.contains(&format!("latch check: {said}\n")), "{err}");
}

// `latch sessions`.

/// The rows of `latch sessions` (header skipped) as (user, created).
fn listed(home: &Home) -> Vec<(String, String)> {
    let (status, out, err) = home.cli("sessions");
    assert_eq!(status, 0, "{err}");
    out.lines()
        .skip(1)
        .map(|row| {
            let columns: Vec<&str> = row.split_whitespace().collect();
            (columns[1].to_owned(), columns[2].to_owned())
        })
        .collect()
}

#[test]
fn sessions_shows_a_dash_for_sign_ins_ended_by_scope_all_or_deluser() {
    let home = Home::new(&[ALICE, BOB]);
    let server = home.serve(&[]);
    let ender = server.login(ALICE.0, ALICE.1);
    server.login(ALICE.0, ALICE.1);
    server.login(BOB.0, BOB.1);
    let mut users: Vec<String> = listed(&home).into_iter().map(|(u, _)| u).collect();
    users.sort();
    assert_eq!(users, ["alice", "alice", "bob"]);

    let token = server.csrf_token(&format!("sid={ender}"));
    let body = format!("csrf_token={token}&scope=all");
    assert_eq!(
        server
            .post("/logout", Some(&format!("sid={ender}")), &body)
            .status,
        303
    );
    let mut users: Vec<String> = listed(&home).into_iter().map(|(u, _)| u).collect();
    users.sort();
    assert_eq!(users, ["-", "bob"], "alice's other session is void");

    let users_file = home.users();
    let (status, _, err) = run_cli(
        &["deluser", "bob", "--users", users_file.to_str().unwrap()],
        "",
    );
    assert_eq!(status, 0, "{err}");
    let users: Vec<String> = listed(&home).into_iter().map(|(u, _)| u).collect();
    assert_eq!(users, ["-", "-"]);
}

#[test]
fn sessions_lists_oldest_first() {
    let home = Home::new(&[ALICE]);
    fs::create_dir(home.sessions()).unwrap();
    let now = latch::sessions::now();
    for age in [50, 300, 10, 200, 100] {
        let record = latch::sessions::Record::new(now - age, 3600, 0, "token".into());
        let id = SessionId::generate();
        fs::write(
            session_file_for(&home.sessions(), id.as_str()),
            serde_json::to_vec(&record).unwrap(),
        )
        .unwrap();
    }
    let created: Vec<String> = listed(&home).into_iter().map(|(_, c)| c).collect();
    let expected: Vec<String> = [300, 200, 100, 50, 10]
        .into_iter()
        .map(|age| latch::http::dates::iso8601(now - age).to_string())
        .collect();
    assert_eq!(created, expected);
}

#[test]
fn sessions_without_a_readable_users_file_is_a_one_line_error() {
    let home = Home::new(&[ALICE]);
    fs::create_dir(home.sessions()).unwrap();
    fs::remove_file(home.users()).unwrap();
    let (status, _, err) = home.cli("sessions");
    assert_eq!(status, 1);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("users.htpasswd"), "{err}");
}
