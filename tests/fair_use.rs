//! What one client can cost everyone else is bounded, and people behind
//! one shared address are not punished for each other (docs/contract.md,
//! "Login throttling" and "Limits and bad input"): abandoned sign-ins,
//! a classroom behind one address, a flood from many addresses.

use std::io::Write;
use std::net::TcpStream;
use std::sync::Barrier;
use std::time::{Duration, Instant};

use crate::support::{self, Options, Response, Server, TempDir, ALICE};

/// A sign-in sent from `source`, its answer never read: the client hangs
/// up `after` it sent it.
fn abandoned_sign_in(server: &Server, source: [u8; 4], user: &str, after: Duration) {
    let mut stream = server.connect_from(source);
    let body = format!("username={user}&password=guess");
    let request = format!(
        "POST /login HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).unwrap();
    std::thread::sleep(after);
    drop(stream);
}

/// The most threads the server ran while `during` ran, sampled.
fn peak_threads(server: &Server, during: impl FnOnce() + Send) -> u64 {
    let done = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|scope| {
        let sampler = scope.spawn(|| {
            let mut peak = 0;
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                peak = peak.max(server.status("Threads"));
                std::thread::sleep(Duration::from_millis(10));
            }
            peak
        });
        during();
        // Let the checks that started end (and their threads show).
        std::thread::sleep(Duration::from_millis(500));
        done.store(true, std::sync::atomic::Ordering::Relaxed);
        sampler.join().unwrap()
    })
}

/// `count` sign-ins for made-up names from each of `addresses`, all sent
/// at once and abandoned 0.2 s later.
fn abandon_from(server: &Server, addresses: u8, count: usize) {
    let start = Barrier::new(usize::from(addresses) * count);
    std::thread::scope(|scope| {
        for a in 0..addresses {
            for n in 0..count {
                let start = &start;
                scope.spawn(move || {
                    start.wait();
                    let name = format!("nobody{a}x{n}");
                    abandoned_sign_in(
                        server,
                        [127, 0, 3, a + 1],
                        &name,
                        Duration::from_millis(200),
                    );
                });
            }
        }
    });
}

/// The hashing budget, in KiB, plus what latch itself holds and the
/// allocator's slack: what the peak resident memory may reach.
const MEMORY_BOUND_KIB: u64 = (latch::auth::users::HASHING_BUDGET_MIB as u64 + 40) * 1024;
/// The async workers, the blocking threads a few checks and writes need,
/// the signal and log threads: far below the 67 abandoned sign-ins took.
const THREADS_BOUND: u64 = 16;

/// Sign-ins abandoned from `addresses`, 20 each: the server's peak
/// threads and resident memory stay within the bounds, and it still
/// signs alice in.
fn abandoned_sign_ins_stay_within_the_budget(addresses: u8) {
    let server = Server::with_users(&[ALICE], &[]);
    let threads = peak_threads(&server, || abandon_from(&server, addresses, 20));
    let peak = server.status("VmHWM");
    eprintln!("peak: {threads} threads, {peak} KiB resident");
    assert!(threads <= THREADS_BOUND, "{threads} threads");
    assert!(peak <= MEMORY_BOUND_KIB, "peak {peak} KiB");
    assert_eq!(support::login(&server, "alice", "wonderland").status, 303);
}

#[test]
fn abandoned_sign_ins_from_one_address_never_outrun_the_hashing_budget() {
    abandoned_sign_ins_stay_within_the_budget(1);
}

#[test]
fn abandoned_sign_ins_from_eight_addresses_never_outrun_the_hashing_budget() {
    abandoned_sign_ins_stay_within_the_budget(8);
}

#[test]
fn a_real_user_is_served_ahead_of_a_flood_of_sign_ins_from_forty_addresses() {
    const ADDRESSES: u8 = 40;
    const EACH: usize = 20;
    let server = Server::with_users(&[ALICE], &["--max-connections", "2048"]);
    // 40 addresses × 20 sign-ins for made-up names, all waiting to be
    // checked. Each address has one place in line, so alice, from an
    // address of her own, waits for about one check per address, not for
    // all 800 (as in arrival order).
    let flood: Vec<TcpStream> = (0..ADDRESSES)
        .flat_map(|a| (0..EACH).map(move |n| (a, n)))
        .map(|(a, n)| {
            let mut stream = server.connect_from([127, 0, 4, a + 1]);
            let body = format!("username=nobody{a}x{n}&password=guess");
            let request = format!(
                "POST /login HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n\
                 Content-Length: {}\r\n\r\n{body}",
                body.len()
            );
            stream.write_all(request.as_bytes()).unwrap();
            stream
        })
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    // How many of the flood have had their answer so far.
    let answered = || {
        flood
            .iter()
            .filter(|stream| {
                stream.set_nonblocking(true).unwrap();
                matches!(stream.peek(&mut [0u8; 1]), Ok(1..))
            })
            .count()
    };
    let before = answered();
    let mut alice = server.connect_from([127, 0, 5, 1]);
    let body = "username=alice&password=wonderland";
    let request = format!(
        "POST /login HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    alice.write_all(request.as_bytes()).unwrap();
    let answer = support::read_response(&mut alice);
    assert_eq!(answer.status, 303, "{}", answer.text());
    let ahead = answered() - before;
    eprintln!(
        "{ahead} of the flood's {} waiting were answered ahead of alice",
        800 - before
    );
    assert!(
        ahead <= 2 * usize::from(ADDRESSES),
        "{ahead} answered ahead of alice"
    );
}

// ------------------------------------------------- a classroom, one address

const CLASS: usize = 30;

/// A server whose users file holds a class of `CLASS` students.
fn classroom() -> Server {
    let names: Vec<(String, String)> = (0..CLASS)
        .map(|i| (format!("student{i}"), format!("pw{i}")))
        .collect();
    let users: Vec<(&str, &str)> = names
        .iter()
        .map(|(n, p)| (n.as_str(), p.as_str()))
        .collect();
    Server::with_users(&users, &[])
}

fn sign_in(server: &Server, student: usize, right: bool) -> Response {
    let password = if right {
        format!("pw{student}")
    } else {
        "oops".into()
    };
    support::login(server, &format!("student{student}"), &password)
}

/// Every student signs in at the same moment, on a connection each.
fn all_at_once(server: &Server) -> Vec<u16> {
    let start = Barrier::new(CLASS);
    std::thread::scope(|scope| {
        let students: Vec<_> = (0..CLASS)
            .map(|i| {
                let start = &start;
                scope.spawn(move || {
                    start.wait();
                    sign_in(server, i, true).status
                })
            })
            .collect();
        students.into_iter().map(|s| s.join().unwrap()).collect()
    })
}

#[test]
fn thirty_correct_sign_ins_at_once_from_one_address_all_succeed() {
    let server = classroom();
    assert_eq!(all_at_once(&server), vec![303; CLASS]);
}

#[test]
fn students_who_mistype_do_not_refuse_the_rest_of_the_class() {
    let server = classroom();
    for student in 0..4 {
        for _ in 0..5 {
            assert_eq!(sign_in(&server, student, false).status, 422);
        }
    }
    // The class signs in over a few seconds. The four who mistyped five
    // times have used up their own names' tries from here (without a
    // device cookie); nobody else is refused.
    let statuses: Vec<u16> = (0..CLASS)
        .map(|i| {
            std::thread::sleep(Duration::from_millis(100));
            sign_in(&server, i, true).status
        })
        .collect();
    assert_eq!(statuses[..4], [429; 4]);
    assert_eq!(statuses[4..], vec![303; CLASS - 4][..]);
}

#[test]
fn a_prankster_failing_with_made_up_names_refuses_no_student() {
    let server = classroom();
    for n in 0..20 {
        assert_eq!(
            support::login(&server, &format!("made-up{n}"), "x").status,
            422
        );
    }
    assert_eq!(all_at_once(&server), vec![303; CLASS]);
}

#[test]
fn a_prankster_failing_as_a_student_does_not_refuse_that_students_own_browser() {
    let server = classroom();
    let earlier = sign_in(&server, 7, true);
    let device = earlier.set_cookie_value("device").expect("a device cookie");
    for _ in 0..10 {
        let status = sign_in(&server, 7, false).status;
        assert!(matches!(status, 422 | 429), "{status}");
    }
    assert_eq!(sign_in(&server, 7, true).status, 429, "an unknown browser");
    let known = server.send(
        "POST",
        "/login",
        Some(&format!("device={device}")),
        &[("Content-Type", "application/x-www-form-urlencoded")],
        "username=student7&password=pw7",
    );
    assert_eq!(known.status, 303, "{}", known.text());
}

#[test]
fn thirty_students_choosing_a_theme_at_once_all_get_a_session() {
    let server = classroom();
    let start = Barrier::new(CLASS);
    let statuses: Vec<u16> = std::thread::scope(|scope| {
        let students: Vec<_> = (0..CLASS)
            .map(|_| {
                let start = &start;
                let server = &server;
                scope.spawn(move || {
                    start.wait();
                    server.post("/theme", None, "theme=dark").status
                })
            })
            .collect();
        students.into_iter().map(|s| s.join().unwrap()).collect()
    });
    assert_eq!(statuses, vec![303; CLASS]);
}

#[test]
fn forty_browsers_behind_one_address_with_two_connections_each_are_all_served() {
    let server = Server::start(&[]);
    let connections: Vec<TcpStream> = (0..80).map(|_| server.connect()).collect();
    std::thread::sleep(Duration::from_millis(200));
    let started = Instant::now();
    for mut connection in connections {
        connection
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            .unwrap();
        let answer = support::read_response(&mut connection);
        assert_eq!(answer.status, 200, "after {:?}", started.elapsed());
    }
}

// ------------------------------------------------- within the unit's memory

/// An argon2id hash of `password` with argon2-cffi's defaults (64 MiB,
/// 3 passes, 4 lanes): the costliest the users file accepts.
fn costly_hash(password: &str) -> String {
    use argon2::password_hash::{PasswordHasher, SaltString};
    let params = argon2::Params::new(64 * 1024, 3, 4, Some(32)).unwrap();
    let salt = SaltString::encode_b64(b"sixteen byte salt").unwrap();
    argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params)
        .hash_password(password.as_bytes(), &salt)
        .unwrap()
        .to_string()
}

/// The memory controller's directory for a new cgroup of this test's, with
/// its limit set: cgroup v2 (`memory.max`) or v1 (`memory.limit_in_bytes`).
struct MemoryCgroup {
    dir: std::path::PathBuf,
    peak_file: &'static str,
}

impl MemoryCgroup {
    fn new(limit_bytes: u64) -> MemoryCgroup {
        let name = format!("latch-test-{}", std::process::id());
        let v2 = std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists();
        let (dir, limit_file, peak_file) = if v2 {
            (
                format!("/sys/fs/cgroup/{name}"),
                "memory.max",
                "memory.peak",
            )
        } else {
            (
                format!("/sys/fs/cgroup/memory/{name}"),
                "memory.limit_in_bytes",
                "memory.max_usage_in_bytes",
            )
        };
        let dir = std::path::PathBuf::from(dir);
        std::fs::create_dir(&dir).unwrap_or_else(|e| panic!("cannot create {dir:?}: {e}"));
        std::fs::write(dir.join(limit_file), limit_bytes.to_string()).unwrap();
        // No swap to hide in, where the kernel offers the setting.
        let _ = std::fs::write(dir.join("memory.swap.max"), "0");
        let _ = std::fs::write(
            dir.join("memory.memsw.limit_in_bytes"),
            limit_bytes.to_string(),
        );
        MemoryCgroup { dir, peak_file }
    }

    fn peak(&self) -> u64 {
        let text = std::fs::read_to_string(self.dir.join(self.peak_file)).unwrap();
        text.trim().parse().unwrap()
    }
}

impl Drop for MemoryCgroup {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir(&self.dir);
    }
}

#[test]
#[ignore = "needs root and a memory cgroup (v1 or v2) it may create: run as root"]
fn in_the_shipped_units_128_mib_latch_survives_every_login_flood_with_the_costliest_hash() {
    const LIMIT: u64 = 128 * 1024 * 1024;
    let cgroup = MemoryCgroup::new(LIMIT);
    let dir = TempDir::new();
    let users = format!(
        "alice:{}\ncostly:{}\n",
        latch::auth::users::hash_password("wonderland"),
        costly_hash("dear")
    );
    std::fs::write(dir.path().join("users.htpasswd"), users).unwrap();
    let mut server = Server::start_with(Options {
        dir: Some(dir),
        cgroup_procs: Some(cgroup.dir.join("cgroup.procs")),
        ..Options::default()
    });
    // Abandoned sign-ins from eight addresses, for made-up names and for
    // the user with the costly hash, and some that wait for their answer.
    abandon_from(&server, 8, 20);
    std::thread::scope(|scope| {
        for a in 0..8u8 {
            let server = &server;
            scope.spawn(move || {
                for _ in 0..3 {
                    abandoned_sign_in(
                        server,
                        [127, 0, 6, a + 1],
                        "costly",
                        Duration::from_millis(50),
                    );
                }
                // Four wrong tries for the costly user from 127.0.0.1 (one
                // fewer than the throttle allows), the rest for nobody.
                let user = if a < 4 { "costly" } else { "nobody" };
                assert_eq!(support::login(server, user, "wrong").status, 422);
            });
        }
    });
    assert!(server.is_running(), "latch was killed in its 128 MiB");
    assert_eq!(support::login(&server, "costly", "dear").status, 303);
    assert_eq!(support::login(&server, "alice", "wonderland").status, 303);
    let peak = cgroup.peak();
    eprintln!("the cgroup's peak: {} KiB", peak / 1024);
    assert!(peak < LIMIT, "peak {peak} bytes");
    drop(server);
}

#[test]
fn latch_check_states_what_a_failed_sign_in_costs_and_warns_about_a_costly_hash() {
    let dir = TempDir::new();
    let users = dir.path().join("users.htpasswd");
    let sessions = dir.path().join("sessions");
    let www = support::repo_www();
    let flags = [
        "check",
        "--users",
        users.to_str().unwrap(),
        "--sessions",
        sessions.to_str().unwrap(),
        "--www",
        www.to_str().unwrap(),
    ];
    support::write_users(&users, &[ALICE]);
    let (code, out, err) = support::run_cli(&flags, "");
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("sign-in: a failed one is answered after about"),
        "{out}"
    );
    assert!(out.contains("holds 19 MiB while checked"), "{out}");
    assert!(!err.contains("warning"), "{err}");
    // One line with argon2-cffi's defaults: accepted, and warned about.
    let mut text = std::fs::read_to_string(&users).unwrap();
    text.push_str(&format!("costly:{}\n", costly_hash("dear")));
    std::fs::write(&users, text).unwrap();
    let (code, _, err) = support::run_cli(&flags, "");
    assert_eq!(code, 0, "a warning is no problem: {err}");
    assert!(
        err.contains("warning: the costliest hash, costly's (argon2id m=65536 KiB, t=3, p=4)"),
        "{err}"
    );
    assert!(err.contains("64 MiB per check"), "{err}");
    // One more MiB is past the limit: that line is a problem.
    let over = costly_hash("dear").replace("m=65536", "m=66560");
    std::fs::write(&users, format!("over:{over}\n")).unwrap();
    let (code, _, err) = support::run_cli(&flags, "");
    assert_eq!(code, 1);
    assert!(err.contains("above latch's limit of 65536"), "{err}");
}
