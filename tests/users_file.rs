//! The users file read line by line (docs/contract.md, "Users file" and
//! "Command line"): comments, a BOM and lines latch cannot use do not stop
//! the server or spoil the other lines; a running server follows the file;
//! a failed login takes as long whoever the name belongs to.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::support::{
    self, login, median, run_cli, timed_failed_login, Options, Server, TempDir, ALICE,
};

/// The contract's bound for seeing a change, plus a margin for a loaded
/// machine (the server itself reads a change within about 2 s).
const RELOAD_BOUND: Duration = Duration::from_secs(6);

fn bcrypt_2y(password: &str, cost: u32) -> String {
    bcrypt::hash_with_result(password, cost)
        .unwrap()
        .format_for_version(bcrypt::Version::TwoY)
}

/// A server whose users file holds exactly `text` before it starts.
fn server_with_file(text: &str, args: &[&str]) -> Server {
    let dir = TempDir::new();
    std::fs::write(dir.path().join("users.htpasswd"), text).unwrap();
    Server::start_with(Options {
        args: args.iter().map(|a| a.to_string()).collect(),
        dir: Some(dir),
        ..Options::default()
    })
}

/// Rewrites the file in place, as `htpasswd` does (it copies its temporary
/// file over the original), not by an atomic rename.
fn rewrite_in_place(path: &Path, text: &str) {
    use std::io::Write;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(path)
        .unwrap();
    file.write_all(text.as_bytes()).unwrap();
}

/// Polls until `done` holds, within `RELOAD_BOUND`; returns how long it took.
fn within_reload_bound(what: &str, mut done: impl FnMut() -> bool) -> Duration {
    let started = Instant::now();
    while !done() {
        assert!(
            started.elapsed() < RELOAD_BOUND,
            "{what}: not within {RELOAD_BOUND:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    started.elapsed()
}

const APR1_LINE: &str = "carol:$apr1$r31.....$HqJZimcKQFAMYayBlzkrA/";
const SHA_LINE: &str = "dave:{SHA}qUqP5cyxm6YcTAhz05Hph5gvu9M=";
const PLAIN_LINE: &str = "erin:hunter2";

#[test]
fn a_file_with_a_bom_comments_and_unusable_lines_serves_its_good_users_and_names_each_bad_line() {
    let alice = latch::auth::users::hash_password("wonderland");
    let bob = bcrypt_2y("builder", 4);
    let text = format!(
        "\u{feff}# staff, managed by hand\n\
         alice:{alice}\n\
         \n\
         {APR1_LINE}\n\
         bob:{bob}\r\n\
         {SHA_LINE}\n\
         # a comment between users\n\
         {PLAIN_LINE}\n\
         no colon on this line\n"
    );
    let server = server_with_file(&text, &["--login-throttle", "0"]);

    assert_eq!(login(&server, "alice", "wonderland").status, 303);
    assert_eq!(login(&server, "bob", "builder").status, 303);
    assert_eq!(login(&server, "erin", "hunter2").status, 422);
    for user in ["carol", "dave"] {
        assert_eq!(login(&server, user, "x").status, 422, "{user}");
    }
    let log = server.stderr();
    for (line, says) in [
        (4, "$apr1$"),
        (6, "{SHA}"),
        (8, "plain text"),
        (9, "name:hash"),
    ] {
        let wanted = format!("line {line}: ");
        let entry = log
            .lines()
            .find(|l| l.contains(&wanted))
            .unwrap_or_else(|| panic!("no {wanted:?} in {log}"));
        assert!(entry.contains(says), "{entry}");
    }
    for secret in [
        "HqJZimcKQFAMYayBlzkrA",
        "qUqP5cyxm6YcTAhz05Hph5gvu9M",
        "hunter2",
    ] {
        assert!(
            !log.contains(secret),
            "a hash or password in the log: {log}"
        );
    }
    for good in [2, 5] {
        assert!(!log.contains(&format!("line {good}: ")), "{log}");
    }
}

#[test]
fn a_user_removed_while_other_lines_are_broken_is_refused_and_signed_out_within_5_seconds() {
    let alice = latch::auth::users::hash_password("wonderland");
    let bob = bcrypt_2y("builder", 4);
    let server = server_with_file(
        &format!("alice:{alice}\nbob:{bob}\n{APR1_LINE}\n"),
        &["--login-throttle", "0"],
    );
    let bobs = format!("sid={}", server.login("bob", "builder"));
    assert!(server.is_signed_in(&bobs));

    // What `htpasswd -D users bob` then `htpasswd -b users carol …` (which
    // writes $apr1$ on Debian) leave, plus an operator's comment.
    let after = format!("# bob left\nalice:{alice}\n{APR1_LINE}\n{SHA_LINE}\n");
    rewrite_in_place(&server.users_file(), &after);
    within_reload_bound("bob's session ends", || !server.is_signed_in(&bobs));
    assert_eq!(login(&server, "bob", "builder").status, 422);
    assert_eq!(login(&server, "alice", "wonderland").status, 303);
    assert!(
        server.wait_for_log("line 4: user dave"),
        "{}",
        server.stderr()
    );
}

#[test]
fn a_users_file_removed_while_serving_leaves_no_one_signed_in() {
    let server = Server::with_users(&[ALICE], &["--login-throttle", "0"]);
    let alices = format!("sid={}", server.login("alice", "wonderland"));
    std::fs::remove_file(server.users_file()).unwrap();
    within_reload_bound("alice's session ends", || !server.is_signed_in(&alices));
    assert_eq!(login(&server, "alice", "wonderland").status, 422);
    assert!(server.wait_for_log("no one can sign in"));
}

#[test]
fn a_users_file_that_cannot_be_read_stops_the_start_with_one_line_naming_it() {
    let dir = TempDir::new();
    let not_a_file = dir.path().join("users.d");
    std::fs::create_dir(&not_a_file).unwrap();
    let (status, out, err) = run_cli(
        &[
            "serve",
            "--addr=127.0.0.1:0",
            &format!("--users={}", not_a_file.display()),
            &format!("--sessions={}", dir.path().join("sessions").display()),
        ],
        "",
    );
    assert_eq!(status, 1, "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(err.contains(&not_a_file.display().to_string()), "{err}");
    assert!(!err.contains("listening") && out.is_empty(), "{out}{err}");
}

// What sits under the users file's name.

/// `serve`, `users` and `checkpassword` with the users file at `users`:
/// (status, stdout, stderr, how long it took). Each is bounded (support's
/// `TIMEOUT` kills it and fails the test).
fn each_command_on(users: &Path, dir: &TempDir) -> Vec<(String, (i32, String, String), Duration)> {
    let users = users.to_str().unwrap();
    let sessions = dir.path().join("sessions");
    let commands: [(&[&str], &str); 3] = [
        (
            &[
                "serve",
                "--addr=127.0.0.1:0",
                "--sessions",
                sessions.to_str().unwrap(),
            ],
            "",
        ),
        (&["users"], ""),
        (&["checkpassword", "alice"], "wonderland\n"),
    ];
    commands
        .into_iter()
        .map(|(args, stdin)| {
            let mut args = args.to_vec();
            args.extend(["--users", users]);
            let started = Instant::now();
            let outcome = run_cli(&args, stdin);
            (args[0].to_string(), outcome, started.elapsed())
        })
        .collect()
}

/// Each command exits 1 at once with one line naming the file and `why`.
fn assert_each_command_refuses(users: &Path, dir: &TempDir, why: &str) {
    for (command, (status, out, err), took) in each_command_on(users, dir) {
        assert_eq!(status, 1, "{command}: {out}{err}");
        assert!(took < Duration::from_secs(3), "{command} took {took:?}");
        assert_eq!(err.trim_end().lines().count(), 1, "{command}: {err}");
        assert!(
            err.contains(&format!("cannot read users file {}", users.display())),
            "{command}: {err}"
        );
        assert!(err.contains(why), "{command}: {err}");
        assert!(
            !out.contains("listening") && !out.contains("password"),
            "{command}: {out}"
        );
    }
}

#[test]
fn a_fifo_as_the_users_file_is_refused_at_once_not_waited_on() {
    let dir = TempDir::new();
    let fifo = dir.path().join("users.htpasswd");
    support::mkfifo(&fifo);
    assert_each_command_refuses(&fifo, &dir, "not a regular file (a FIFO)");
    let link = dir.path().join("link.htpasswd");
    std::os::unix::fs::symlink(&fifo, &link).unwrap();
    assert_each_command_refuses(&link, &dir, "not a regular file (a FIFO)");
}

#[test]
fn a_users_file_linked_to_dev_zero_is_refused_at_once_not_read_until_memory_runs_out() {
    let dir = TempDir::new();
    let link = dir.path().join("users.htpasswd");
    std::os::unix::fs::symlink("/dev/zero", &link).unwrap();
    assert_each_command_refuses(&link, &dir, "not a regular file (a device)");
}

#[test]
fn a_users_file_over_4_mib_is_refused_naming_the_limit() {
    let dir = TempDir::new();
    let path = dir.path().join("users.htpasswd");
    let line = format!("# {}\n", "x".repeat(1021));
    std::fs::write(&path, line.repeat(4 * 1024) + "\n").unwrap();
    assert_each_command_refuses(&path, &dir, "4194305 bytes, over the 4194304-byte limit");
    // At the limit it is read.
    let alice = format!("alice:{}\n", bcrypt_2y("wonderland", 4));
    let fill = "#".repeat(4 * 1024 * 1024 - alice.len() - 1) + "\n";
    std::fs::write(&path, fill + &alice).unwrap();
    let (status, out, err) = run_cli(&["users", "--users", path.to_str().unwrap()], "");
    assert_eq!((status, out.as_str()), (0, "alice\n"), "{err}");
}

#[test]
fn a_users_file_reached_through_a_symlink_is_read() {
    let dir = TempDir::new();
    let real = dir.path().join("real.htpasswd");
    std::fs::write(&real, format!("alice:{}\n", bcrypt_2y("wonderland", 4))).unwrap();
    let link = dir.path().join("users.htpasswd");
    std::os::unix::fs::symlink(&real, &link).unwrap();
    let users = link.to_str().unwrap();
    let (status, out, err) = run_cli(&["users", "--users", users], "");
    assert_eq!((status, out.as_str()), (0, "alice\n"), "{err}");
    let checked = run_cli(
        &["checkpassword", "alice", "--users", users],
        "wonderland\n",
    );
    assert_eq!(checked.0, 0, "{checked:?}");
    let server = Server::start_with(Options {
        dir: Some(dir),
        ..Options::default()
    });
    assert_eq!(login(&server, "alice", "wonderland").status, 303);
}

#[test]
fn a_users_file_swapped_for_a_fifo_or_dev_zero_while_serving_is_not_waited_on() {
    let server = Server::with_users(&[ALICE], &["--login-throttle", "0"]);
    let path = server.users_file();
    for (make, why) in [
        (
            &(|p: &Path| support::mkfifo(p)) as &dyn Fn(&Path),
            "not a regular file (a FIFO)",
        ),
        (
            &|p: &Path| std::os::unix::fs::symlink("/dev/zero", p).unwrap(),
            "not a regular file (a device)",
        ),
    ] {
        std::fs::remove_file(&path).unwrap();
        make(&path);
        assert!(server.wait_for_log(why), "{}", server.stderr());
        assert_eq!(login(&server, "alice", "wonderland").status, 422);
        assert_eq!(server.get("/healthz", None).status, 200);
        // The next good file is read as ever: the watcher was not stuck.
        std::fs::remove_file(&path).unwrap();
        std::fs::write(&path, format!("alice:{}\n", bcrypt_2y("wonderland", 4))).unwrap();
        within_reload_bound("alice can sign in again", || {
            login(&server, "alice", "wonderland").status == 303
        });
    }
}

// Names that would read as something else.

#[test]
fn a_bidi_control_in_a_name_disables_its_line_and_is_never_printed_raw() {
    let dir = TempDir::new();
    let path = dir.path().join("users.htpasswd");
    let bob = bcrypt_2y("builder", 4);
    std::fs::write(
        &path,
        format!(
            "alice:{bob}\nadmin\u{202E}nimda:{bob}\nx\u{2066}y:{bob}\n{APR1_LINE}\nbob:{bob}\n"
        ),
    )
    .unwrap();
    let (status, out, err) = run_cli(&["users", "--users", path.to_str().unwrap()], "");
    assert_eq!(status, 0, "{err}");
    for bidi in ['\u{202E}', '\u{2066}'] {
        assert!(!out.contains(bidi) && !err.contains(bidi), "{out}{err}");
    }
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 3, "{out}");
    assert_eq!(lines[0], "alice");
    assert!(
        lines[1].starts_with(
            "carol (disabled: line 4: hash scheme Apache MD5 ($apr1$) is not supported"
        ),
        "{out}"
    );
    assert_eq!(lines[2], "bob");
    assert!(err.contains("line 2: not a valid user name"), "{err}");
    assert!(err.contains("line 3: not a valid user name"), "{err}");

    let server = Server::start_with(Options {
        dir: Some(dir),
        ..Options::default()
    });
    assert!(server.wait_for_log("line 2: not a valid user name"));
    assert!(!server.stderr().contains('\u{202E}'));
    assert_eq!(login(&server, "bob", "builder").status, 303);
    let body = "username=admin%E2%80%AEnimda&password=builder";
    assert_eq!(server.post("/login", None, body).status, 422);
}

#[test]
fn adduser_and_deluser_keep_comments_and_lines_latch_cannot_use() {
    let dir = TempDir::new();
    let path = dir.path().join("users.htpasswd");
    let bob = bcrypt_2y("builder", 4);
    std::fs::write(
        &path,
        format!("# ops: rotate quarterly\n{APR1_LINE}\n\nbob:{bob}\n"),
    )
    .unwrap();
    let users = path.to_str().unwrap();

    let (status, _, err) = run_cli(&["adduser", "alice", "--users", users], "pw\n");
    assert_eq!(status, 0, "{err}");
    let (status, _, err) = run_cli(&["deluser", "bob", "--users", users], "");
    assert_eq!(status, 0, "{err}");

    let text = std::fs::read_to_string(&path).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[..3], ["# ops: rotate quarterly", APR1_LINE, ""]);
    assert!(lines[3].starts_with("alice:$argon2id$"), "{text}");
    assert_eq!(lines.len(), 4, "{text}");
}

// Timing

#[test]
fn a_failed_login_takes_as_long_for_an_unknown_name_as_for_bcrypt_users_of_cost_4_and_10() {
    // Without equal timing, cost 4 fails in about 1 ms, cost 10 in about
    // 70 ms, and an unknown name in what the decoy costs.
    let text = format!(
        "cheap:{}\ncostly:{}\n",
        bcrypt_2y("a", 4),
        bcrypt_2y("b", 10)
    );
    let server = server_with_file(&text, &["--login-throttle", "0"]);
    let names = ["cheap", "costly", "nobody"];
    for name in names {
        timed_failed_login(&server, name, "wrong");
    }
    // Interleaved, so that a busy spell on the machine hits every name.
    let mut samples = [Vec::new(), Vec::new(), Vec::new()];
    for _ in 0..7 {
        for (name, times) in names.iter().zip(&mut samples) {
            times.push(timed_failed_login(&server, name, "wrong"));
        }
    }
    let medians: Vec<Duration> = samples.into_iter().map(median).collect();
    let (fastest, slowest) = (medians.iter().min().unwrap(), medians.iter().max().unwrap());
    assert!(
        slowest.as_secs_f64() <= fastest.as_secs_f64() * 1.35,
        "medians for {names:?}: {medians:?}"
    );
}
