//! The operator's command line (contract: Commands), run as the real
//! binary: `--version`, help generated from the flag table, each command
//! taking only its own flags and variables, `users`, `checkpassword`,
//! `check`, and passwords asked at a real terminal (a pty from `script`)
//! without echo.

use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use latch::cli::{Takes, Verb, FLAGS};

use crate::support::{self, binary, wait_bounded, write_users, TempDir, TIMEOUT};

/// Runs `latch` with only these environment variables (none of the
/// caller's `LATCH_*` leak in) and this standard input; returns
/// (status, stdout, stderr).
fn run(args: &[&str], env: &[(&str, &str)], stdin: &str) -> (i32, String, String) {
    let mut command = Command::new(binary());
    command.args(args).env_clear().envs(env.iter().copied());
    support::run_command(&mut command, stdin)
}

fn text(path: &Path) -> &str {
    path.to_str().expect("temp paths are UTF-8")
}

/// Asserts a usage error: exit 2, nothing on stdout, one line naming `needle`.
fn assert_usage_error((status, out, err): (i32, String, String), needle: &str) {
    assert_eq!(status, 2, "{needle}: {err}");
    assert_eq!(out, "", "{needle}");
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    assert!(err.contains(needle), "{err:?} should name {needle}");
}

/// The lines of the help that describe `flag`: its own line and the
/// indented lines under it.
fn block_of(help: &str, flag: &str) -> Option<String> {
    // `--addr HOST:PORT`, `--trace[=summary]`.
    let spelled = |word: &str| word == flag || word.starts_with(&format!("{flag}["));
    let starts_block = |line: &str| line.split_whitespace().next().is_some_and(spelled);
    let mut lines = help.lines().skip_while(|line| !starts_block(line));
    let first = lines.next()?;
    let rest = lines.take_while(|line| line.starts_with("    "));
    Some(
        std::iter::once(first)
            .chain(rest)
            .collect::<Vec<_>>()
            .join("\n"),
    )
}

// --version and help

#[test]
fn version_prints_latch_and_the_cargo_version() {
    // Found anywhere on the line, as --help is.
    for args in [&["--version"][..], &["-V"], &["serve", "--version"]] {
        let (status, out, err) = run(args, &[], "");
        assert_eq!(status, 0, "{err}");
        assert_eq!(out, format!("latch {}\n", env!("CARGO_PKG_VERSION")));
        assert_eq!(err, "");
    }
}

#[test]
fn help_in_every_spelling_is_the_same_text_on_stdout_with_exit_0() {
    let (status, general, err) = run(&["--help"], &[], "");
    assert_eq!((status, err.as_str()), (0, ""));
    for args in [&["-h"][..], &["help"]] {
        assert_eq!(run(args, &[], ""), (0, general.clone(), String::new()));
    }
    for verb in Verb::ALL {
        let name = verb.to_string();
        let (status, own, err) = run(&["help", &name], &[], "");
        assert_eq!((status, err.as_str()), (0, ""), "{name}");
        let synopsis = match verb.about().operand {
            Some(operand) => format!("{name} {operand}"),
            None => name.clone(),
        };
        let usage = format!("usage: latch {synopsis} [FLAGS]\n");
        assert!(own.starts_with(&usage), "{own}");
        for help in ["--help", "-h"] {
            assert_eq!(
                run(&[&name, help], &[], ""),
                (0, own.clone(), String::new())
            );
        }
    }
}

#[test]
fn help_shows_every_serve_flag_with_its_variable_and_default() {
    for args in [&["--help"][..], &["help", "serve"]] {
        let (_, help, _) = run(args, &[], "");
        for flag in FLAGS {
            let block = block_of(&help, flag.name)
                .unwrap_or_else(|| panic!("{args:?}: no {} in\n{help}", flag.name));
            assert!(block.contains(&flag.spelled()), "{block}");
            assert!(
                block.contains(&format!("env {}", flag.env_text())),
                "{block}"
            );
            let default = format!("default {}", flag.default_text());
            assert!(block.contains(&default), "{block}");
            let first_words: String = flag
                .help
                .split_whitespace()
                .take(3)
                .collect::<Vec<_>>()
                .join(" ");
            assert!(block.contains(&first_words), "{block}");
        }
    }
}

#[test]
fn each_commands_help_lists_exactly_the_flags_it_takes() {
    for verb in Verb::ALL {
        let (_, help, _) = run(&["help", &verb.to_string()], &[], "");
        for flag in FLAGS {
            let listed = block_of(&help, flag.name);
            match flag.taken_by(verb) {
                true => {
                    let block = listed.unwrap_or_else(|| panic!("{verb}: no {}", flag.name));
                    assert!(
                        block.contains(&format!("env {}", flag.env_text())),
                        "{block}"
                    );
                    let default = format!("default {}", flag.default_text());
                    assert!(block.contains(&default), "{block}");
                }
                false => assert!(listed.is_none(), "{verb} lists {}", flag.name),
            }
        }
    }
}

#[test]
fn help_for_an_unknown_command_is_a_usage_error() {
    assert_usage_error(run(&["help", "frobnicate"], &[], ""), "frobnicate");
    assert_usage_error(run(&["frobnicate"], &[], ""), "frobnicate");
}

// Each command takes only its own flags and variables

/// A value `flag` accepts, so that only the command can refuse it.
fn a_value_for(flag: &latch::cli::Flag) -> Vec<String> {
    match (flag.takes, flag.default) {
        (Takes::Nothing | Takes::Optional(_), _) => vec![flag.name.to_owned()],
        (Takes::Value(_), Some(default)) => vec![flag.name.to_owned(), default.to_owned()],
        (Takes::Value(_), None) => vec![flag.name.to_owned(), "127.0.0.1".to_owned()],
    }
}

#[test]
fn a_flag_of_another_command_is_refused_naming_it_with_exit_2() {
    let dir = TempDir::new();
    let users = dir.path().join("users.htpasswd");
    for verb in Verb::ALL {
        for flag in FLAGS.iter().filter(|f| !f.taken_by(verb)) {
            let mut args = vec![verb.to_string()];
            if verb.about().operand.is_some() {
                args.push("zed".into());
            }
            args.extend(a_value_for(flag));
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let env = [("LATCH_USERS", text(&users))];
            assert_usage_error(run(&args, &env, "pw\n"), flag.name);
        }
    }
    assert!(!users.exists(), "no command ran");
}

#[test]
fn adduser_with_session_ttl_is_refused_and_writes_nothing() {
    let dir = TempDir::new();
    let users = dir.path().join("users.htpasswd");
    let result = run(
        &[
            "adduser",
            "zed",
            "--session-ttl",
            "5",
            "--users",
            text(&users),
        ],
        &[],
        "pw\n",
    );
    assert_usage_error(result, "--session-ttl");
    assert!(!users.exists());
}

#[test]
fn a_command_does_not_read_a_variable_it_has_no_flag_for() {
    let dir = TempDir::new();
    let sessions = dir.path().join("sessions");
    std::fs::create_dir(&sessions).unwrap();
    let users = dir.path().join("users.htpasswd");
    write_users(&users, &[]);
    let env = [
        ("LATCH_ADDR", "bogus"),
        ("LATCH_SESSION_TTL", "never"),
        ("LATCH_SESSIONS", text(&sessions)),
        ("LATCH_USERS", text(&users)),
    ];
    for verb in ["sessions", "clearsessions"] {
        let (status, _, err) = run(&[verb], &env, "");
        assert_eq!(status, 0, "{verb}: {err}");
    }
    // serve and check do read them, and refuse the bad one.
    assert_usage_error(run(&["serve"], &env, ""), "LATCH_");
    assert_usage_error(run(&["check"], &env, ""), "LATCH_");
}

#[test]
fn bad_values_name_the_flag_or_variable_exit_2_and_serve_nothing() {
    for (args, env, needle) in [
        (&["--addr", "bogus"][..], &[][..], "--addr"),
        (&[], &[("LATCH_ADDR", "bogus")], "LATCH_ADDR"),
        (&["--session-ttl", "0"], &[], "--session-ttl"),
        (&[], &[("LATCH_MAX_SESSIONS", "0")], "LATCH_MAX_SESSIONS"),
        (&["--client-timeout", "-1"], &[], "--client-timeout"),
        (
            &["--logout-redirect", "//evil.example"],
            &[],
            "--logout-redirect",
        ),
        (
            &["--logout-redirect", "https://evil.example/"],
            &[],
            "--logout-redirect",
        ),
        (
            &["--trusted-proxy", "proxy.example"],
            &[],
            "--trusted-proxy",
        ),
        (&["--trace=loud"], &[], "--trace"),
        (&["--bogus"], &[], "--bogus"),
        (&["serve", "extra"], &[], "extra"),
    ] {
        let (status, out, err) = run(args, env, "");
        assert!(!out.contains("listening") && !err.contains("listening"));
        assert_usage_error((status, out, err), needle);
    }
}

// users and checkpassword

fn users_file(dir: &TempDir, users: &[(&str, &str)]) -> String {
    let path = dir.path().join("users.htpasswd");
    write_users(&path, users);
    text(&path).to_owned()
}

#[test]
fn users_lists_the_names_once_each_and_never_a_hash() {
    let dir = TempDir::new();
    let path = users_file(&dir, &[("alice", "a"), ("bob", "b")]);
    let (status, out, err) = run(&["users", "--users", &path], &[], "");
    assert_eq!(status, 0, "{err}");
    assert_eq!(out, "alice\nbob\n");
    assert!(!out.contains('$'));
}

#[test]
fn users_of_a_missing_file_exits_1_naming_it() {
    let dir = TempDir::new();
    let path = dir.path().join("nope.htpasswd");
    let (status, out, err) = run(&["users"], &[("LATCH_USERS", text(&path))], "");
    assert_eq!((status, out.as_str()), (1, ""));
    assert!(err.contains("nope.htpasswd"), "{err}");
}

#[test]
fn checkpassword_exits_0_for_the_right_password_and_1_for_a_wrong_one() {
    let dir = TempDir::new();
    let path = users_file(&dir, &[("alice", "right one")]);
    let check =
        |name: &str, stdin: &str| run(&["checkpassword", name, "--users", &path], &[], stdin);

    let (status, out, err) = check("alice", "right one\n");
    assert_eq!((status, out.as_str()), (0, ""), "{err}");
    assert!(err.contains("correct"), "{err}");

    let (status, out, err) = check("alice", "wrong\n");
    assert_eq!((status, out.as_str()), (1, ""));
    assert!(err.contains("wrong"), "{err}");

    let (status, _, err) = check("nobody", "right one\n");
    assert_eq!(status, 1);
    assert!(err.contains("nobody"), "{err}");

    let (status, _, err) = check("alice", "\n");
    assert_eq!(status, 1);
    assert!(err.contains("empty"), "{err}");
}

#[test]
fn adduser_from_a_pipe_prints_only_its_result() {
    let dir = TempDir::new();
    let path = dir.path().join("users.htpasswd");
    let (status, out, err) = run(&["adduser", "zed", "--users", text(&path)], &[], "pw\n");
    assert_eq!((status, err.as_str()), (0, ""));
    assert_eq!(out, format!("added user zed in {}\n", path.display()));
}

// check

/// A directory holding a good configuration: users file, sessions dir
/// (0755, as git checks it out) and www dir; returns its flags.
fn good_setup(dir: &TempDir) -> Vec<String> {
    let users = users_file(dir, &[("alice", "a")]);
    let sessions = dir.path().join("sessions");
    let www = dir.path().join("www");
    std::fs::create_dir(&sessions).unwrap();
    std::fs::set_permissions(&sessions, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::create_dir(&www).unwrap();
    vec![
        "check".into(),
        "--users".into(),
        users,
        "--sessions".into(),
        text(&sessions).into(),
        "--www".into(),
        text(&www).into(),
        "--addr".into(),
        "127.0.0.1:0".into(),
    ]
}

fn check_with(args: &[String], env: &[(&str, &str)]) -> (i32, String, String) {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    run(&args, env, "")
}

#[test]
fn check_of_a_good_configuration_exits_0_with_an_ok_summary_and_changes_nothing() {
    let dir = TempDir::new();
    let args = good_setup(&dir);
    let (status, out, err) = check_with(&args, &[]);
    assert_eq!((status, err.as_str()), (0, ""), "{out}");
    assert!(out.ends_with("ok\n"), "{out}");
    assert!(out.contains("1 user"), "{out}");
    assert!(out.contains("127.0.0.1:0"), "{out}");
    let sessions = dir.path().join("sessions");
    let mode = std::fs::metadata(&sessions).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o755, "check does not tighten it; serve does");
    assert_eq!(
        std::fs::read_dir(&sessions).unwrap().count(),
        0,
        "no probe left"
    );
}

/// Runs check on the good setup with one change and asserts exit 1 with
/// a problem line naming `needle`.
fn assert_check_problem(args: &[String], env: &[(&str, &str)], needle: &str) -> String {
    let (status, out, err) = check_with(args, env);
    assert_eq!(status, 1, "{needle}: {out}{err}");
    assert!(!out.contains("ok\n"), "{out}");
    let named = err.lines().any(|line| line.contains(needle));
    assert!(named, "no problem naming {needle:?}: {err}");
    err
}

#[test]
fn check_names_a_users_file_that_others_can_read() {
    let dir = TempDir::new();
    let args = good_setup(&dir);
    let users = dir.path().join("users.htpasswd");
    std::fs::set_permissions(&users, std::fs::Permissions::from_mode(0o644)).unwrap();
    assert_check_problem(&args, &[], "0644");
}

#[test]
fn check_names_an_unusable_users_line_by_number() {
    let dir = TempDir::new();
    let args = good_setup(&dir);
    let users = dir.path().join("users.htpasswd");
    let mut text = std::fs::read_to_string(&users).unwrap();
    text.push_str("md5:$apr1$r31.....$HqJZimcKQFAMYayBlzkrA/\n");
    std::fs::write(&users, text).unwrap();
    assert_check_problem(&args, &[], "line 2");
}

#[test]
fn check_names_a_missing_users_file() {
    let dir = TempDir::new();
    let args = good_setup(&dir);
    std::fs::remove_file(dir.path().join("users.htpasswd")).unwrap();
    assert_check_problem(&args, &[], "users.htpasswd");
}

/// `serve` with the good setup's flags changed as `args` says (check's
/// flags, `check` swapped for `serve`): it must fail; its one line.
fn serve_fails(args: &[String]) -> String {
    let mut args = args.to_vec();
    args[0] = "serve".into();
    let (status, out, err) = check_with(&args, &[]);
    assert_eq!(status, 1, "serve started: {out}{err}");
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    err.trim_end().to_owned()
}

/// What `check` said about `subject` (a problem or a warning), without
/// its prefix.
fn check_said(err: &str, subject: &str) -> String {
    err.lines()
        .filter_map(|line| line.strip_prefix("latch check: "))
        .map(|line| line.strip_prefix("warning: ").unwrap_or(line))
        .find(|line| line.starts_with(subject))
        .unwrap_or_else(|| panic!("check says nothing of {subject}: {err}"))
        .to_owned()
}

#[test]
fn check_and_serve_say_a_sessions_path_that_is_not_a_directory_the_same_way_with_the_fix() {
    let dir = TempDir::new();
    let mut args = good_setup(&dir);
    let file = dir.path().join("a-file");
    std::fs::write(&file, "").unwrap();
    for (path, fix) in [
        (
            text(&file).to_owned(),
            "not a directory: move that file away",
        ),
        (
            format!("{}/below", text(&file)),
            "is not a directory: give --sessions another path",
        ),
    ] {
        args.extend(["--sessions".into(), path.clone()]);
        let subject = format!("sessions dir {path}: ");
        let checked = check_said(&assert_check_problem(&args, &[], &subject), &subject);
        assert!(checked.contains(fix), "{checked}");
        assert_eq!(serve_fails(&args), format!("latch: cannot use {checked}"));
    }
}

#[test]
fn check_warns_of_an_address_in_use_and_serve_fails_there_the_same_way_leaving_nothing() {
    let dir = TempDir::new();
    let mut args = good_setup(&dir);
    let holder = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = holder.local_addr().unwrap().to_string();
    let new_sessions = dir.path().join("new-sessions");
    let new_users = dir.path().join("new-users");
    args.extend(["--addr".into(), addr.clone()]);
    args.extend(["--sessions".into(), text(&new_sessions).into()]);

    // The usual case before a restart: a warning, and still ok.
    let (status, out, err) = check_with(&args, &[]);
    assert_eq!(status, 0, "{out}{err}");
    assert!(out.ends_with("ok\n"), "{out}");
    let subject = format!("addr {addr}: ");
    let checked = check_said(&err, &subject);
    assert!(
        err.contains(&format!("latch check: warning: {checked}")),
        "{err}"
    );
    assert!(checked.contains("in use (by a running latch?"), "{checked}");
    // Serve fails there in the same words, and makes nothing first.
    args.extend(["--users".into(), text(&new_users).into()]);
    let serve = serve_fails(&args);
    let said = checked.strip_prefix(&subject).unwrap();
    assert_eq!(serve, format!("latch: cannot listen on {addr}: {said}"));
    assert!(
        !new_sessions.exists(),
        "a failed start made its sessions dir"
    );
    assert!(!new_users.exists(), "a failed start made a users file");
    drop(holder);
}

#[test]
fn check_and_serve_say_an_address_not_of_this_host_the_same_way() {
    let dir = TempDir::new();
    let mut args = good_setup(&dir);
    // TEST-NET-1 (RFC 5737): never an address of this host.
    let addr = "192.0.2.1:8080";
    args.extend(["--addr".into(), addr.into()]);
    let subject = format!("addr {addr}: ");
    let checked = check_said(&assert_check_problem(&args, &[], &subject), &subject);
    assert!(checked.contains("not an address of this host"), "{checked}");
    let said = checked.strip_prefix(&subject).unwrap();
    assert_eq!(
        serve_fails(&args),
        format!("latch: cannot listen on {addr}: {said}")
    );
}

#[test]
fn sessions_and_clearsessions_name_a_missing_sessions_dir() {
    let dir = TempDir::new();
    let missing = dir.path().join("nonexistent");
    for command in ["sessions", "clearsessions"] {
        let (status, out, err) = run(&[command, "--sessions", text(&missing)], &[], "");
        assert_eq!((status, out.as_str()), (1, ""), "{err}");
        assert_eq!(
            err.trim_end(),
            format!(
                "latch: cannot read sessions dir {}: No such file or directory (os error 2)",
                missing.display()
            )
        );
    }
}

#[test]
fn check_accepts_a_sessions_dir_serve_would_create_and_creates_nothing() {
    let dir = TempDir::new();
    let mut args = good_setup(&dir);
    let missing = dir.path().join("new").join("sessions");
    args.extend(["--sessions".into(), text(&missing).into()]);
    let (status, out, err) = check_with(&args, &[]);
    assert_eq!(status, 0, "{err}");
    assert!(out.contains("will create"), "{out}");
    assert!(!dir.path().join("new").exists());
}

#[test]
fn check_says_a_redis_url_with_no_server_behind_it_is_unavailable_and_hides_its_password() {
    let dir = TempDir::new();
    let args = good_setup(&dir);
    let mut args = args;
    // Port 1: nothing listens there, so the connection is refused.
    args.extend([
        "--sessions".into(),
        "redis://latch:hunter2@127.0.0.1:1/0".into(),
    ]);
    let err = assert_check_problem(&args, &[], "unavailable");
    assert!(!err.contains("hunter2"), "{err}");
    assert!(err.contains("redis://latch:***@127.0.0.1:1/0"), "{err}");
    args.extend(["--sessions".into(), "redis://127.0.0.1:port/0".into()]);
    assert_check_problem(&args, &[], "port");
}

/// A `SCHEME://` latch does not speak is a mistake, never a directory to
/// create: serve exits 2 naming the schemes it knows, and leaves nothing
/// behind; `redis+sentinel://` is one it knows (here with no Sentinel
/// behind it: unavailable, its password hidden).
#[test]
fn an_unknown_sessions_scheme_exits_2_naming_the_known_ones_and_creates_no_directory() {
    let dir = TempDir::new();
    let run_in_dir = |args: &[&str], env: &[(&str, &str)]| {
        let mut command = Command::new(binary());
        command
            .current_dir(dir.path())
            .args(args)
            .env_clear()
            .envs(env.iter().copied());
        support::run_command(&mut command, "")
    };
    for url in [
        "redis+sentinal://h:26379/m",
        "memcached://h:11211",
        "rediss+unix://x",
    ] {
        let (status, out, err) = run_in_dir(&["serve", "--sessions", url], &[]);
        assert_eq!(status, 2, "{url}: {out}{err}");
        assert!(err.contains("redis+sentinel://"), "{err}");
        let (status, _, err) = run_in_dir(&["serve"], &[("LATCH_SESSIONS", url)]);
        assert_eq!(status, 2, "{url}: {err}");
    }
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    let mut args = good_setup(&dir);
    args.extend([
        "--sessions".into(),
        "redis+sentinel://latch:hunter2@127.0.0.1:1,127.0.0.1:2/main?db=0".into(),
    ]);
    let err = assert_check_problem(&args, &[], "no Sentinel named the primary of main");
    assert!(!err.contains("hunter2"), "{err}");
    assert!(
        err.contains("redis+sentinel://latch:***@127.0.0.1:1,127.0.0.1:2/main?db=0"),
        "{err}"
    );
}

/// Sessions URLs whose password (every piece of `Zq1/Wv2?Kp3`, the kind
/// of characters `openssl rand -base64` makes) the URL syntax breaks up:
/// reserved characters left as they are, partly encoded, or a unix
/// socket's query key spelled `pa%73s`.
const HOSTILE_URLS: [&str; 5] = [
    "redis://u:Zq1%2FWv2/Kp3?x@127.0.0.1:1/0",
    "redis://u:Zq1/Wv2?Kp3@127.0.0.1:1/0",
    "redis://u:1#Zq1@127.0.0.1:1/0",
    "redis://latch:Zq1%2FWv2%3FKp3@127.0.0.1:1/0",
    "redis+unix:///nonexistent/r.sock?db=0&pa%73s=Zq1/Wv2?Kp3",
];

fn assert_no_password(url: &str, said: &str) {
    for piece in ["Zq1", "Wv2", "Kp3"] {
        assert!(!said.contains(piece), "{url}: {said}");
    }
}

#[test]
fn check_and_serve_never_print_a_redis_password_however_the_url_spells_it() {
    let dir = TempDir::new();
    let setup = good_setup(&dir);
    for url in HOSTILE_URLS {
        let mut args = setup.clone();
        args.extend(["--sessions".into(), url.into()]);
        let (status, out, err) = check_with(&args, &[]);
        assert_eq!(status, 1, "{url}: {out}{err}");
        assert!(err.contains("sessions URL redis"), "{url}: {err}");
        assert_no_password(url, &format!("{out}{err}"));

        let users = dir.path().join("users.htpasswd");
        let (status, out, err) = run(
            &[
                "serve",
                "--addr=127.0.0.1:0",
                "--users",
                text(&users),
                "--sessions",
                url,
            ],
            &[],
            "",
        );
        assert_eq!(status, 1, "{url}: {out}{err}");
        assert!(err.contains("cannot use sessions URL"), "{url}: {err}");
        assert_no_password(url, &format!("{out}{err}"));
    }
    // What does not parse says how to write a password that does.
    let mut args = setup;
    args.extend(["--sessions".into(), HOSTILE_URLS[1].into()]);
    let err = assert_check_problem(&args, &[], "percent-encode");
    assert!(err.contains("%2F"), "{err}");
}

#[test]
fn check_names_a_missing_www_dir() {
    let dir = TempDir::new();
    let mut args = good_setup(&dir);
    args.extend(["--www".into(), text(&dir.path().join("wwww")).into()]);
    assert_check_problem(&args, &[], "wwww");
}

#[test]
fn check_lists_every_problem_not_just_the_first() {
    let dir = TempDir::new();
    let mut args = good_setup(&dir);
    std::fs::remove_file(dir.path().join("users.htpasswd")).unwrap();
    args.extend(["--www".into(), text(&dir.path().join("wwww")).into()]);
    let err = assert_check_problem(&args, &[], "wwww");
    assert!(err.contains("users.htpasswd"), "{err}");
    assert!(err.contains("2 problems"), "{err}");
}

// Passwords at a terminal: `script` runs latch on a pty, as a person's
// terminal would (util-linux's script(1), in Debian's essential bsdutils).

/// `latch ARGS` on a pseudo-terminal, with what it shows collected.
struct Terminal {
    child: Child,
    screen: Arc<Mutex<Vec<u8>>>,
}

impl Terminal {
    fn run(args: &[&str], env: &[(&str, &str)]) -> Terminal {
        let line = std::iter::once(binary())
            .chain(args.iter().copied())
            .map(|word| format!("'{word}'"))
            .collect::<Vec<_>>()
            .join(" ");
        let mut child = Command::new("script")
            .args(["-qec", &line, "/dev/null"])
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .envs(env.iter().copied())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("script(1) from util-linux: apt-get install bsdutils");
        let screen = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&screen);
        let mut out = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            let mut chunk = [0u8; 256];
            while let Ok(n @ 1..) = out.read(&mut chunk) {
                sink.lock().unwrap().extend_from_slice(&chunk[..n]);
            }
        });
        Terminal { child, screen }
    }

    fn screen(&self) -> String {
        String::from_utf8_lossy(&self.screen.lock().unwrap()).into_owned()
    }

    /// Waits (bounded) until the screen shows `needle` `times` times.
    fn wait_for(&self, needle: &str, times: usize) {
        let deadline = Instant::now() + TIMEOUT;
        while self.screen().matches(needle).count() < times {
            assert!(
                Instant::now() < deadline,
                "no {needle:?}: {:?}",
                self.screen()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Types a line once the prompt is on screen, as a person would.
    fn answer(&mut self, prompt: &str, times: usize, line: &str) {
        self.wait_for(prompt, times);
        let stdin = self.child.stdin.as_mut().unwrap();
        stdin.write_all(format!("{line}\r").as_bytes()).unwrap();
        stdin.flush().unwrap();
    }

    /// The exit status and everything the terminal showed.
    fn finish(mut self) -> (i32, String) {
        let status = wait_bounded(&mut self.child);
        // The reader thread may still hold the last bytes.
        std::thread::sleep(Duration::from_millis(100));
        (status.code().unwrap_or(-1), self.screen())
    }
}

#[test]
fn adduser_at_a_terminal_asks_twice_without_echo() {
    let dir = TempDir::new();
    let users = dir.path().join("users.htpasswd");
    let mut tty = Terminal::run(&["adduser", "zed"], &[("LATCH_USERS", text(&users))]);
    tty.answer("Password:", 1, "tty s3cret");
    tty.answer("Again:", 1, "tty s3cret");
    let (status, screen) = tty.finish();
    assert_eq!(status, 0, "{screen}");
    assert!(
        !screen.contains("s3cret"),
        "the password was echoed: {screen:?}"
    );
    assert!(screen.contains("added user zed"), "{screen:?}");
    let hash = std::fs::read_to_string(&users).unwrap();
    let hash = hash.trim_end().strip_prefix("zed:").unwrap();
    assert!(latch::auth::users::verify("tty s3cret", hash));
}

#[test]
fn adduser_at_a_terminal_refuses_two_different_passwords() {
    let dir = TempDir::new();
    let users = dir.path().join("users.htpasswd");
    let mut tty = Terminal::run(&["adduser", "zed"], &[("LATCH_USERS", text(&users))]);
    tty.answer("Password:", 1, "one");
    tty.answer("Again:", 1, "two");
    let (status, screen) = tty.finish();
    assert_eq!(status, 1, "{screen}");
    assert!(screen.contains("differ"), "{screen:?}");
    assert!(!users.exists());
}

#[test]
fn adduser_at_a_terminal_refuses_an_empty_password_without_asking_again() {
    let dir = TempDir::new();
    let users = dir.path().join("users.htpasswd");
    let mut tty = Terminal::run(&["adduser", "zed"], &[("LATCH_USERS", text(&users))]);
    tty.answer("Password:", 1, "");
    let (status, screen) = tty.finish();
    assert_eq!(status, 1, "{screen}");
    assert!(screen.contains("empty password"), "{screen:?}");
    assert!(!screen.contains("Again:"), "{screen:?}");
    assert!(!users.exists());
}

#[test]
fn checkpassword_at_a_terminal_asks_once_without_echo() {
    let dir = TempDir::new();
    let path = users_file(&dir, &[("alice", "tty s3cret")]);
    for (typed, status_wanted) in [("tty s3cret", 0), ("tty wrong", 1)] {
        let mut tty = Terminal::run(&["checkpassword", "alice"], &[("LATCH_USERS", &path)]);
        tty.answer("Password:", 1, typed);
        let (status, screen) = tty.finish();
        assert_eq!(status, status_wanted, "{screen}");
        assert!(!screen.contains(typed), "echoed: {screen:?}");
        assert!(!screen.contains("Again:"), "{screen:?}");
    }
}

#[test]
fn a_listing_cut_short_by_its_reader_ends_quietly() {
    // More lines than a pipe holds (64 KiB), so `latch sessions` is still
    // writing when its reader goes away, as with `latch sessions | head`.
    let dir = TempDir::new();
    let sessions = dir.path().join("sessions");
    std::fs::create_dir(&sessions).unwrap();
    let now = latch::sessions::now();
    for i in 0..1500u32 {
        let record = latch::sessions::Record::new(now, 3600, 0, "token".into());
        let name = format!("{:064x}.json", u128::from(i) + 1);
        std::fs::write(sessions.join(name), serde_json::to_vec(&record).unwrap()).unwrap();
    }
    let users = users_file(&dir, &[]);
    let mut child = Command::new(binary())
        .args(["sessions", "--sessions", text(&sessions), "--users", &users])
        .env_clear()
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = [0u8; 16];
    child.stdout.take().unwrap().read_exact(&mut first).unwrap();
    // The read end is closed here, with the listing unfinished.
    let status = wait_bounded(&mut child);
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert!(!err.contains("panicked"), "{err}");
    assert!(err.is_empty(), "{err}");
    assert!(
        status.success() || std::os::unix::process::ExitStatusExt::signal(&status) == Some(13),
        "{status:?}"
    );
}
