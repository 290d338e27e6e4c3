//! Crash safety: the session store under the faults a real server meets.
//!
//! docs/contract.md, "Sessions": writes are atomic (temporary file, fsync, rename),
//! so a crash never leaves a torn file; temporary files left by a crash are
//! removed at the next start; a request answered with a 5xx saves no
//! session change. "Logout", step 8: the change is durable before the 303.
//!
//! The faults are real: SIGKILL of a busy server, a full file system, a
//! read-only one. The last two mount a tmpfs, which needs root (or
//! CAP_SYS_ADMIN), so those tests are `#[ignore = "needs root: …"]`: a plain
//! `cargo test` passes for a normal user, and `.ci/run` (root) runs them
//! with `cargo test --test tests crash_safety:: -- --ignored`. Run so
//! without root, they fail and say why, rather than pass without testing
//! anything.

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::{
    session_file_for, session_files, try_send, wait_within, Options, Response, Server, TempDir,
    UsersFile, ALICE, BOB, FORM, TIMEOUT,
};

// What the clients saw answered before the kill: facts the disk must keep.

/// A logout answered 303.
struct Logout {
    old: String,
    new: Option<String>,
    theme: &'static str,
}

/// The signed-in session a client was using when the server died.
struct Live {
    id: String,
    /// The theme of the last change answered 303.
    theme: Option<&'static str>,
    /// The request that got no answer, if it was not a login.
    in_flight: Option<InFlight>,
}

enum InFlight {
    Theme(&'static str),
    Logout,
}

#[derive(Default)]
struct Seen {
    logouts: Vec<Logout>,
    live: Option<Live>,
    themes_answered: usize,
    /// Answers no fault explains: this workload is all 303s.
    unexpected: Vec<String>,
}

const THEME_CHANGES: usize = 3;

/// Runs sessions (login, theme changes, logout) until the server dies or
/// `stop` is set; bounded by a deadline in case neither happens.
fn client(addr: SocketAddr, turn: usize, stop: &AtomicBool) -> Seen {
    let mut seen = Seen::default();
    let deadline = Instant::now() + TIMEOUT;
    while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
        let mut live = None;
        if one_session(addr, turn, &mut seen, &mut live).is_err() {
            seen.live = live;
            break;
        }
    }
    seen
}

/// One signed-in session's life. `Err` when the server stopped answering
/// (or answered something unexpected); `live` then holds the session.
fn one_session(
    addr: SocketAddr,
    turn: usize,
    seen: &mut Seen,
    live: &mut Option<Live>,
) -> io::Result<()> {
    let body = format!("username={}&password={}", ALICE.0, ALICE.1);
    let login = expect_303(seen, "login", post(addr, "/login", None, &body)?)?;
    let id = login
        .set_cookie_value("sid")
        .ok_or_else(|| unexpected(seen, "login without cookie"))?;
    let cookie = format!("sid={id}");
    let session = live.insert(Live {
        id: id.clone(),
        theme: None,
        in_flight: None,
    });
    let page = try_send(addr, "GET", "/account", Some(&cookie), &[], "")?;
    let token = page
        .csrf_token()
        .ok_or_else(|| unexpected(seen, &format!("account page {}", page.status)))?;
    for i in 0..THEME_CHANGES {
        let theme = ["light", "dark"][(turn + i) % 2];
        session.in_flight = Some(InFlight::Theme(theme));
        let body = format!("theme={theme}&csrf_token={token}");
        expect_303(seen, "theme", post(addr, "/theme", Some(&cookie), &body)?)?;
        seen.themes_answered += 1;
        session.theme = Some(theme);
        session.in_flight = None;
    }
    session.in_flight = Some(InFlight::Logout);
    let body = format!("csrf_token={token}");
    let answer = expect_303(seen, "logout", post(addr, "/logout", Some(&cookie), &body)?)?;
    seen.logouts.push(Logout {
        old: id,
        new: answer.set_cookie_value("sid"),
        theme: session.theme.expect("every session changed its theme"),
    });
    *live = None;
    Ok(())
}

/// A form POST to a server that may be killed meanwhile.
fn post(addr: SocketAddr, path: &str, cookie: Option<&str>, body: &str) -> io::Result<Response> {
    try_send(addr, "POST", path, cookie, &[FORM], body)
}

fn expect_303(seen: &mut Seen, what: &str, answer: Response) -> io::Result<Response> {
    if answer.status == 303 {
        return Ok(answer);
    }
    Err(unexpected(seen, &format!("{what}: {answer:?}")))
}

fn unexpected(seen: &mut Seen, what: &str) -> io::Error {
    seen.unexpected.push(what.to_owned());
    io::Error::other(what.to_owned())
}

// Checks on disk.

fn temp_files(dir: &Path) -> Vec<String> {
    fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with(".tmp-"))
        .collect()
}

fn read_json(path: &Path) -> Option<Value> {
    let bytes = fs::read(path).ok()?;
    Some(serde_json::from_slice(&bytes).unwrap_or_else(|e| {
        panic!(
            "{} is not JSON ({e}): {:?}",
            path.display(),
            String::from_utf8_lossy(&bytes)
        )
    }))
}

fn auth_keys(json: &Value) -> Vec<String> {
    json["data"]
        .as_object()
        .map(|data| {
            data.keys()
                .filter(|k| k.starts_with("_auth_"))
                .cloned()
                .collect()
        })
        .unwrap_or_default()
}

/// Every session file is whole: it parses, with the keys the contract fixes.
fn assert_every_file_is_whole(dir: &Path, round: usize) {
    for path in session_files(dir) {
        let json = read_json(&path).expect("listed files exist");
        if path.file_name().is_some_and(|n| n == ".epochs.json") {
            assert!(json.is_object(), "round {round}: {json}");
            continue;
        }
        for key in ["v", "created", "expires", "data"] {
            assert!(
                json.get(key).is_some(),
                "round {round}: {} lacks {key:?}: {json}",
                path.display()
            );
        }
        assert!(json["data"].is_object(), "round {round}: {json}");
    }
}

/// What the clients saw answered is on disk, whatever else was cut short.
fn assert_answers_survived(dir: &Path, round: usize, seen: &[Seen]) {
    for logout in seen.iter().flat_map(|s| &s.logouts) {
        // Step 8: a 303 means the old file was durably deleted.
        let old = read_json(&session_file_for(dir, &logout.old));
        assert!(
            old.is_none(),
            "round {round}: a logout was answered 303, yet its old session file is still there \
             (auth keys {:?}): {old:?}",
            old.as_ref().map(auth_keys)
        );
        // Step 3: and the theme moved to a new file, also before the 303.
        let new = logout.new.as_deref().unwrap_or_else(|| {
            panic!("round {round}: a keep-mode logout of a session with a theme set no new cookie")
        });
        let moved = read_json(&session_file_for(dir, new)).unwrap_or_else(|| {
            panic!("round {round}: a logout was answered 303 but the moved session has no file")
        });
        assert_eq!(auth_keys(&moved), Vec::<String>::new(), "round {round}");
        assert_eq!(moved["data"]["theme"], logout.theme, "round {round}");
    }
    for live in seen.iter().filter_map(|s| s.live.as_ref()) {
        let json = read_json(&session_file_for(dir, &live.id));
        let pending = match live.in_flight {
            // Cut short mid-logout: either state is fine, both are whole.
            Some(InFlight::Logout) => continue,
            Some(InFlight::Theme(theme)) => Some(theme),
            None => None,
        };
        let json = json.unwrap_or_else(|| {
            panic!("round {round}: a login was answered 303 but its session file is gone")
        });
        assert_eq!(json["data"]["_auth_user"], ALICE.0, "round {round}: {json}");
        let theme = json["data"]["theme"].as_str();
        assert!(
            theme == live.theme || (theme.is_some() && theme == pending),
            "round {round}: theme {theme:?} on disk, {:?} answered, {pending:?} in flight",
            live.theme
        );
    }
}

/// The restarted server agrees with the files: answered logouts stay
/// signed out, interrupted sessions stay signed in.
fn assert_server_agrees(addr: SocketAddr, round: usize, seen: &[Seen]) {
    let account = |id: &str| {
        try_send(addr, "GET", "/account", Some(&format!("sid={id}")), &[], "")
            .expect("the restarted server answers")
            .status
    };
    for logout in seen.iter().flat_map(|s| &s.logouts) {
        assert_eq!(account(&logout.old), 303, "round {round}: old cookie");
    }
    for live in seen.iter().filter_map(|s| s.live.as_ref()) {
        if !matches!(live.in_flight, Some(InFlight::Logout)) {
            assert_eq!(account(&live.id), 200, "round {round}: live cookie");
        }
    }
}

/// Starts the server on `dir` after planting a crash leftover, and checks
/// that start removed it along with any the kill left.
fn restart(dir: &Path, users: &UsersFile) -> (Server, usize) {
    let left_by_kill = temp_files(dir).len();
    fs::write(dir.join(".tmp-planted-by-test"), b"{\"v\":1,\"crea").unwrap();
    let server = Server::start_with(Options {
        sessions: Some(dir.display().to_string()),
        users: Some(users.path()),
        ..Options::default()
    });
    // The store cleans up before the server announces its address, and no
    // client is connected yet: any temporary file now is a leftover.
    assert_eq!(temp_files(dir), Vec::<String>::new(), "after start");
    (server, left_by_kill)
}

fn random_below(n: u64) -> u64 {
    let mut bytes = [0u8; 8];
    getrandom::fill(&mut bytes).unwrap();
    u64::from_le_bytes(bytes) % n
}

#[test]
fn sigkill_during_write_heavy_load_loses_no_answered_logout_and_leaves_only_parseable_files() {
    const ROUNDS: usize = 10;
    const CLIENTS: usize = 4;
    let started = Instant::now();
    let tmp = TempDir::new();
    let dir = tmp.path().join("sessions");
    let users = UsersFile::new(&[ALICE]);
    fs::create_dir(&dir).unwrap();
    let (mut logouts, mut themes, mut leftovers) = (0, 0, 0);
    let mut previous: Vec<Seen> = Vec::new();
    for round in 0..ROUNDS {
        let (mut server, left) = restart(&dir, &users);
        leftovers += left;
        assert_server_agrees(server.addr, round, &previous);

        let stop = Arc::new(AtomicBool::new(false));
        let clients: Vec<_> = (0..CLIENTS)
            .map(|turn| {
                let stop = Arc::clone(&stop);
                let addr = server.addr;
                thread::spawn(move || client(addr, turn, &stop))
            })
            .collect();
        thread::sleep(Duration::from_millis(50 + random_below(251)));
        // SIGKILL: no signal handler runs, no request finishes, no
        // buffer is flushed.
        let status = server.stop("KILL");
        assert_eq!(status.signal(), Some(9), "killed by SIGKILL: {status}");
        stop.store(true, Ordering::Relaxed);
        let seen: Vec<Seen> = clients
            .into_iter()
            .map(|c| c.join().expect("client threads do not panic"))
            .collect();

        let unexpected: Vec<_> = seen.iter().flat_map(|s| &s.unexpected).collect();
        assert!(unexpected.is_empty(), "round {round}: {unexpected:?}");
        assert_every_file_is_whole(&dir, round);
        assert_answers_survived(&dir, round, &seen);
        logouts += seen.iter().map(|s| s.logouts.len()).sum::<usize>();
        themes += seen.iter().map(|s| s.themes_answered).sum::<usize>();
        previous = seen;
    }
    let (server, left) = restart(&dir, &users);
    leftovers += left;
    assert_server_agrees(server.addr, ROUNDS, &previous);
    drop(server);

    eprintln!(
        "{ROUNDS} SIGKILLs: {logouts} logouts and {themes} theme changes answered, \
         {leftovers} temporary files left by kills, in {:?}",
        started.elapsed()
    );
    // Without answered logouts under load the rounds proved nothing.
    assert!(logouts > 0, "no logout was answered in {ROUNDS} rounds");
}

// A tmpfs: a file system this test can fill up or make read-only.

/// A small tmpfs mounted on a temp dir; unmounted on drop (lazily if it is
/// busy), so that no mount outlives the test, then the dir is removed.
struct Tmpfs {
    dir: TempDir,
}

impl Tmpfs {
    fn mount() -> Tmpfs {
        Tmpfs::mount_with("size=256k,mode=0700")
    }

    fn mount_with(options: &str) -> Tmpfs {
        let dir = TempDir::new();
        let mounted = run(Command::new("mount")
            .args(["-t", "tmpfs", "-o", options, "tmpfs"])
            .arg(dir.path()));
        if let Err(why) = mounted {
            panic!(
                "cannot mount a tmpfs on {} ({why}). This test needs root (or CAP_SYS_ADMIN) \
                 to fill a file system or make it read-only; run it as root (.ci/run does)",
                dir.path().display()
            );
        }
        Tmpfs { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn remount(&self, mode: &str) {
        let remounted = run(Command::new("mount")
            .arg("-o")
            .arg(format!("remount,{mode}"))
            .arg(self.path()));
        if let Err(why) = remounted {
            panic!("remount {mode}: {why}");
        }
    }

    /// Fills the file system with one file until a write fails with
    /// ENOSPC, and checks that a new file cannot get a byte in.
    fn fill(&self) -> PathBuf {
        let path = self.path().join("filler");
        let mut file = File::create(&path).unwrap();
        let chunk = [0u8; 4096];
        let mut full = false;
        for _ in 0..1024 {
            match file.write(&chunk) {
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::StorageFull => {
                    full = true;
                    break;
                }
                Err(e) => panic!("filling the tmpfs: {e}"),
            }
        }
        assert!(full, "a 256 KiB tmpfs took 4 MiB");
        let probe = self.path().join("probe");
        let write = fs::write(&probe, b"x");
        let _ = fs::remove_file(&probe);
        assert_eq!(write.map_err(|e| e.kind()), Err(io::ErrorKind::StorageFull));
        path
    }
}

impl Tmpfs {
    /// Uses up every inode with empty files, and checks that a new file
    /// cannot be made.
    fn fill_inodes(&self) {
        let dir = self.path().join("inodes");
        fs::create_dir(&dir).unwrap();
        for i in 0.. {
            match File::create(dir.join(i.to_string())) {
                Ok(_) => assert!(i < 100_000, "the tmpfs has no inode limit"),
                Err(e) if e.kind() == io::ErrorKind::StorageFull => break,
                Err(e) => panic!("filling the inodes: {e}"),
            }
        }
        let probe = fs::write(self.path().join("probe"), b"");
        assert_eq!(probe.map_err(|e| e.kind()), Err(io::ErrorKind::StorageFull));
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let path = self.path().to_owned();
        if run(Command::new("umount").arg(&path)).is_err() {
            if let Err(why) = run(Command::new("umount").arg("-l").arg(&path)) {
                eprintln!("could not unmount {}: {why}", path.display());
            }
        }
    }
}

/// Runs a command, bounded; `Err` with its standard error when it fails.
fn run(command: &mut Command) -> Result<(), String> {
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| e.to_string())?;
    let status = wait_within(&mut child, TIMEOUT).ok_or("did not finish in time")?;
    let mut stderr = String::new();
    let _ = child.stderr.take().unwrap().read_to_string(&mut stderr);
    if status.success() {
        Ok(())
    } else {
        Err(format!("{status}: {}", stderr.trim()))
    }
}

fn sessions_flag(tmpfs: &Tmpfs) -> String {
    // Given after support's own --sessions, so this one counts.
    format!("--sessions={}", tmpfs.path().display())
}

/// A 503 for a storage fault: retry later (RFC 9110 §15.6.4, §10.2.3), and
/// no cookie, since nothing was saved.
fn assert_503_retry_later(response: &Response, what: &str) {
    assert_eq!(response.status, 503, "{what}: {}", response.text());
    let retry = response.header("retry-after").unwrap_or_default();
    assert!(
        retry.parse::<u64>().is_ok_and(|s| s > 0),
        "{what}: Retry-After {retry:?}"
    );
    assert_eq!(response.header("set-cookie"), None, "{what}");
}

fn sid_of(response: &Response) -> String {
    assert_eq!(response.status, 303, "{}", response.text());
    response.set_cookie_value("sid").expect("a session cookie")
}

#[test]
#[ignore = "needs root: mounts a tmpfs to fill it"]
fn a_full_disk_answers_503_and_keeps_the_old_session_file() {
    let tmpfs = Tmpfs::mount();
    let server = Server::start(&[&sessions_flag(&tmpfs)]);
    let dir = tmpfs.path();
    let id = sid_of(&server.post("/theme", None, "theme=dark"));
    let cookie = format!("sid={id}");
    let file = session_file_for(dir, &id);
    let before = fs::read(&file).unwrap();
    let files = session_files(dir);

    let filler = tmpfs.fill();
    let change = server.post("/theme", Some(&cookie), "theme=light");
    assert_503_retry_later(&change, "a theme change");
    assert_eq!(fs::read(&file).unwrap(), before);
    let create = server.post("/theme", None, "theme=light");
    assert_503_retry_later(&create, "a new session");
    assert_eq!(session_files(dir), files);
    assert_eq!(temp_files(dir), Vec::<String>::new());

    fs::remove_file(filler).unwrap();
    assert_eq!(
        server.post("/theme", Some(&cookie), "theme=light").status,
        303
    );
    assert_eq!(read_json(&file).unwrap()["data"]["theme"], "light");
    let fresh = sid_of(&server.post("/theme", None, "theme=dark"));
    assert!(session_file_for(dir, &fresh).exists());
}

#[test]
#[ignore = "needs root: mounts a tmpfs to make it read-only"]
fn a_read_only_sessions_dir_answers_503_and_keeps_the_old_session_file() {
    let tmpfs = Tmpfs::mount();
    let server = Server::with_users(&[ALICE], &[&sessions_flag(&tmpfs)]);
    let dir = tmpfs.path();
    let anonymous = sid_of(&server.post("/theme", None, "theme=dark"));
    // One signed-in session whose logout moves its theme to a new file
    // (a write), one whose logout only deletes its file (an unlink).
    let keeper = server.login(ALICE.0, ALICE.1);
    let keeper_token = server.csrf_token(&format!("sid={keeper}"));
    let body = format!("theme=dark&csrf_token={keeper_token}");
    let themed = server.post("/theme", Some(&format!("sid={keeper}")), &body);
    assert_eq!(themed.status, 303);
    let flusher = server.login(ALICE.0, ALICE.1);
    let flusher_token = server.csrf_token(&format!("sid={flusher}"));
    let ids = [&anonymous, &keeper, &flusher];
    let before: Vec<Vec<u8>> = ids
        .iter()
        .map(|id| fs::read(session_file_for(dir, id)).unwrap())
        .collect();
    let files = session_files(dir);

    tmpfs.remount("ro");
    let probe = fs::write(dir.join("probe"), b"x").map_err(|e| e.kind());
    assert_eq!(probe, Err(io::ErrorKind::ReadOnlyFilesystem));
    let change = server.post("/theme", Some(&format!("sid={anonymous}")), "theme=light");
    assert_503_retry_later(&change, "a theme change");
    assert_503_retry_later(&server.post("/theme", None, "theme=light"), "a new session");
    for (id, token) in [(&keeper, &keeper_token), (&flusher, &flusher_token)] {
        let cookie = format!("sid={id}");
        let logout = server.logout(&cookie, token);
        assert_503_retry_later(&logout, "a logout");
        assert!(server.is_signed_in(&cookie), "reads still work");
    }
    let after: Vec<Vec<u8>> = ids
        .iter()
        .map(|id| fs::read(session_file_for(dir, id)).unwrap())
        .collect();
    assert!(after == before, "a 503 changed a session file");
    assert_eq!(session_files(dir), files);
    // The log names the dir and says which logouts failed.
    let log = server.stderr();
    let named = format!("sessions dir {}: Read-only file system", dir.display());
    assert!(log.contains(&named), "{log}");
    let failed = "logout user=alice scope=this failed: still signed in";
    assert_eq!(log.matches(failed).count(), 2, "{log}");

    tmpfs.remount("rw");
    assert_eq!(temp_files(dir), Vec::<String>::new());
    for (id, token) in [(&keeper, &keeper_token), (&flusher, &flusher_token)] {
        let cookie = format!("sid={id}");
        assert!(server.is_signed_in(&cookie), "still signed in");
        let logout = server.logout(&cookie, token);
        assert_eq!(logout.status, 303, "the same logout, once writable");
        assert!(!session_file_for(dir, id).exists());
    }
}

#[test]
#[ignore = "needs root: mounts a tmpfs to fill it"]
fn a_keep_mode_logout_on_a_full_disk_deletes_the_session_and_answers_like_a_flush() {
    // Sign-out never fails for lack of space: the moved session cannot be
    // written, so the old file is deleted anyway, losing only the theme.
    let tmpfs = Tmpfs::mount();
    let server = Server::with_users(&[ALICE], &[&sessions_flag(&tmpfs)]);
    let dir = tmpfs.path();
    let id = server.login(ALICE.0, ALICE.1);
    let cookie = format!("sid={id}");
    let token = server.csrf_token(&cookie);
    // A theme makes this a "keep" logout: the data would move to a new file.
    assert_eq!(server.set_theme(&cookie, &token, "dark").status, 303);
    let file = session_file_for(dir, &id);
    let files = session_files(dir);

    let filler = tmpfs.fill();
    let logout = server.logout(&cookie, &token);
    assert_eq!(logout.status, 303, "{}", logout.text());
    assert_eq!(
        logout.header("set-cookie"),
        Some("sid=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0"),
        "the removal cookie, as a flush sends it"
    );
    assert!(server.wait_for_log("logout user=alice scope=this mode=flush"));
    assert!(!file.exists(), "the signed-in file is gone");
    let left: Vec<PathBuf> = files.into_iter().filter(|f| *f != file).collect();
    assert_eq!(session_files(dir), left, "and no new file was made");
    assert_eq!(temp_files(dir), Vec::<String>::new());
    assert!(!server.is_signed_in(&cookie));

    // Once there is room again, the old cookie is still worth nothing.
    fs::remove_file(filler).unwrap();
    assert!(!server.is_signed_in(&cookie));
    server.log_barrier();
    assert_eq!(server.stderr().matches("logout user=").count(), 1);
}

#[test]
#[ignore = "needs root: mounts a tmpfs to fill it"]
fn a_scope_all_logout_on_a_full_disk_commits_and_signs_out_every_session() {
    let tmpfs = Tmpfs::mount();
    let server = Server::with_users(&[ALICE, BOB], &[&sessions_flag(&tmpfs)]);
    let id = server.login(ALICE.0, ALICE.1);
    let other = server.login(ALICE.0, ALICE.1);
    let cookie = format!("sid={id}");
    let token = server.csrf_token(&cookie);
    assert_eq!(server.set_theme(&cookie, &token, "dark").status, 303);

    // Full to the last block: the epoch write gets through on the space
    // reserve the store keeps for it.
    let bob = server.login(BOB.0, BOB.1);
    let bob_elsewhere = server.login(BOB.0, BOB.1);
    let filler = tmpfs.fill();
    let logout = server.post(
        "/logout",
        Some(&cookie),
        &format!("csrf_token={token}&scope=all"),
    );
    assert_eq!(
        logout.status,
        303,
        "the epoch is the commit point: {}",
        logout.text()
    );
    assert_eq!(
        logout.header("set-cookie"),
        Some("sid=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0")
    );
    assert!(server.wait_for_log("logout user=alice scope=all mode=flush"));
    assert!(server.wait_for_log("space reserve released"));
    let epochs = read_json(&tmpfs.path().join(".epochs.json")).expect("the epochs file");
    assert_eq!(epochs["alice"], 1, "durable on disk: {epochs}");
    // Both sessions are signed out, and reading them while the disk is
    // still full is a redirect to the sign-in page, not a 503.
    assert!(!server.is_signed_in(&cookie));
    assert!(!server.is_signed_in(&format!("sid={other}")));
    // Another "sign out everywhere" on the still full disk gets through too:
    // the reserve was refilled from what the old epochs file gave back.
    let bob_cookie = format!("sid={bob}");
    let bob_token = server.csrf_token(&bob_cookie);
    let logout = server.post(
        "/logout",
        Some(&bob_cookie),
        &format!("csrf_token={bob_token}&scope=all"),
    );
    assert_eq!(logout.status, 303, "{}", logout.text());
    assert!(!server.is_signed_in(&format!("sid={bob_elsewhere}")));
    fs::remove_file(filler).unwrap();
    assert!(!server.is_signed_in(&format!("sid={other}")));
    assert!(!server.is_signed_in(&format!("sid={bob_elsewhere}")));
}

#[test]
#[ignore = "needs root: mounts a tmpfs to use up its inodes"]
fn sign_out_when_the_inodes_run_out_still_signs_out_this_session_and_everywhere() {
    let tmpfs = Tmpfs::mount_with("size=1m,nr_inodes=64,mode=0700");
    let server = Server::with_users(&[ALICE, BOB], &[&sessions_flag(&tmpfs)]);
    let id = server.login(ALICE.0, ALICE.1);
    let cookie = format!("sid={id}");
    let token = server.csrf_token(&cookie);
    assert_eq!(server.set_theme(&cookie, &token, "dark").status, 303);
    let bob = server.login(BOB.0, BOB.1);
    let bob_elsewhere = server.login(BOB.0, BOB.1);
    let bob_cookie = format!("sid={bob}");
    let bob_token = server.csrf_token(&bob_cookie);

    tmpfs.fill_inodes();
    // Keep mode cannot make the new file: a flush instead.
    let logout = server.logout(&cookie, &token);
    assert_eq!(logout.status, 303, "{}", logout.text());
    assert_eq!(
        logout.header("set-cookie"),
        Some("sid=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0")
    );
    assert!(!server.is_signed_in(&cookie));
    // Use up the inode that logout gave back, then sign out everywhere.
    let _ = File::create(tmpfs.path().join("inodes").join("last"));
    let logout = server.post(
        "/logout",
        Some(&bob_cookie),
        &format!("csrf_token={bob_token}&scope=all"),
    );
    assert_eq!(logout.status, 303, "{}", logout.text());
    assert!(!server.is_signed_in(&format!("sid={bob_elsewhere}")));
    assert!(server.wait_for_log("logout user=alice scope=this mode=flush"));
    assert!(server.wait_for_log("logout user=bob scope=all mode=flush"));
    assert!(server.wait_for_log("space reserve released"));
}
