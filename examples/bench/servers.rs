//! The processes under test and their setup: the release `latch` binary,
//! the bare hyper `hello` example and its same-bytes mode, users, and
//! signed-in sessions.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use latch::auth::auth_hash as session_auth_hash;
use latch::auth::users::Users;
use latch::http::encoding::hex;
use latch::sessions::{Record, SessionId, THEME};

pub const USER: &str = "bench";
pub const PASSWORD: &str = "bench-password";

/// A server process, killed on drop.
pub struct Process {
    child: Child,
    pub addr: SocketAddr,
}

impl Process {
    /// Starts `binary args…` and waits (at most 10 s) for its
    /// `… listening on http://ADDR` line on standard error.
    pub fn start(binary: &Path, args: &[String]) -> Process {
        let mut child = Command::new(binary)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", binary.display()));
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            // Read every line (so the pipe never fills), announce the first.
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some((_, addr)) = line.split_once(" listening on http://") {
                    let _ = tx.send(addr.to_string());
                }
            }
        });
        let addr = rx
            .recv_timeout(Duration::from_secs(10))
            .expect("the server announces its address")
            .parse()
            .unwrap();
        Process { child, addr }
    }

    /// Resets the kernel's peak-RSS mark to the current RSS (proc(5),
    /// `/proc/PID/clear_refs`, value 5), so a later reading covers only
    /// what happened after setup.
    pub fn reset_peak_rss(&self) {
        let _ = std::fs::write(format!("/proc/{}/clear_refs", self.child.id()), "5");
    }

    /// CPU time the process has used so far (`cpu_time_of`).
    pub fn cpu_time(&self) -> Duration {
        cpu_time_of(&self.child.id().to_string())
    }

    /// Peak resident memory so far (VmHWM), in MiB.
    pub fn peak_rss_mib(&self) -> f64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default();
        let kib: f64 = status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(f64::NAN);
        kib / 1024.0
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A fresh directory for one server: `sessions/` and the users file.
pub struct Site {
    pub root: PathBuf,
}

impl Site {
    pub fn new(parent: &Path, name: &str, users: &Path) -> Site {
        let root = parent.join(name);
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(root.join("sessions")).unwrap();
        std::fs::copy(users, root.join("users.htpasswd")).unwrap();
        Site { root }
    }

    pub fn sessions(&self) -> PathBuf {
        self.root.join("sessions")
    }

    /// `latch serve` flags for this site, plus `extra`.
    pub fn args(&self, www: &Path, extra: &[&str]) -> Vec<String> {
        let mut args = vec![
            "serve".to_string(),
            "--addr=127.0.0.1:0".into(),
            format!("--sessions={}", self.sessions().display()),
            format!("--users={}", self.root.join("users.htpasswd").display()),
            format!("--www={}", www.display()),
            "--login-throttle=0".into(),
            "--max-connections=4096".into(),
        ];
        args.extend(extra.iter().map(|s| s.to_string()));
        args
    }

    /// Writes `count` signed-in sessions of `USER` straight into the
    /// sessions dir, byte for byte as latch writes them (the same `Record`
    /// type and serializer, file named by the id's SHA-256, mode 0600), but
    /// without fsync: setting up tens of thousands through `POST /login`
    /// would take argon2's 30 ms each. Returns (cookie, csrf token) pairs.
    pub fn write_sessions(&self, count: usize, password_hash: &str) -> Vec<(String, String)> {
        let dir = self.sessions();
        let now = latch::sessions::now();
        let auth_hash = session_auth_hash(password_hash, 0);
        (0..count)
            .map(|_| {
                let id = SessionId::generate();
                let mut record = Record::new(now, 3600, 0, latch::auth::csrf::new_token());
                record.sign_in(USER, &auth_hash, now, &latch::auth::csrf::new_token());
                // A theme to keep, so a default logout moves the session
                // to a new file instead of deleting it.
                record.set_str(THEME, "dark");
                let name = format!("{}.json", hex(&Sha256::digest(id.as_str().as_bytes())));
                let mut file = std::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(0o600)
                    .open(dir.join(name))
                    .unwrap();
                file.write_all(&serde_json::to_vec(&record).unwrap())
                    .unwrap();
                (
                    format!("sid={}", id.as_str()),
                    record.csrf_token().unwrap().to_owned(),
                )
            })
            .collect()
    }
}

/// How many users the sign-ins of `login` take turns as: one user holds
/// at most `MAX_SIGN_INS_PER_USER` sessions, and a run signs in once per
/// connection (64).
const SIGN_IN_USERS: usize = 4;

/// The name of the `n`-th user of `SIGN_IN_USERS` (the first is `USER`).
fn user(n: usize) -> String {
    match n % SIGN_IN_USERS {
        0 => USER.to_owned(),
        k => format!("{USER}{k}"),
    }
}

/// A users file with `USER` and the others `login` signs in as, all with
/// `PASSWORD`, and its password hash.
pub fn write_users(path: &Path) -> String {
    let hash = latch::auth::users::hash_password(PASSWORD);
    let mut users = Users::default();
    for n in 0..SIGN_IN_USERS {
        users.set(&user(n), hash.clone());
    }
    users.save(path).unwrap();
    hash
}

/// Signs in through the real `POST /login` (a blocking one-off client) and
/// returns the session cookie; each call signs in as the next user.
pub fn login(addr: SocketAddr) -> String {
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let user = user(NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed));
    let body = format!("username={user}&password={PASSWORD}");
    let request = format!(
        "POST /login HTTP/1.1\r\nHost: bench.local\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.write_all(request.as_bytes()).unwrap();
    let mut reply = String::new();
    stream.read_to_string(&mut reply).unwrap();
    let line = reply
        .lines()
        .find(|l| l.to_ascii_lowercase().starts_with("set-cookie: sid="))
        .unwrap_or_else(|| panic!("login failed: {reply}"));
    line["set-cookie: ".len()..]
        .split(';')
        .next()
        .unwrap()
        .to_string()
}

/// Time from spawning `latch` to its first answered request, in ms.
pub fn start_to_first_answer(binary: &Path, args: &[String]) -> f64 {
    let spawned = Instant::now();
    let process = Process::start(binary, args);
    let mut stream = TcpStream::connect(process.addr).unwrap();
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: bench.local\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut reply = String::new();
    stream.read_to_string(&mut reply).unwrap();
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
    spawned.elapsed().as_secs_f64() * 1000.0
}

/// Starts the same-bytes baseline for `GET path`: captures latch's answer
/// into `file` (asked for as the load generator asks: same `host`, same
/// `cookie`), starts `hello` answering that file, and checks that it sends
/// the same bytes, `date` aside. Panics if it does not: a baseline that
/// sends something else would make the ratio meaningless.
pub fn start_same_bytes(
    hello: &Path,
    latch: SocketAddr,
    path: &str,
    cookie: Option<&str>,
    file: &Path,
) -> Process {
    let original = capture(latch, path, cookie);
    std::fs::write(file, &original).unwrap();
    let server = Process::start(hello, &["127.0.0.1:0".into(), file.display().to_string()]);
    let copy = capture(server.addr, path, cookie);
    let (original, copy) = (without_date(&original), without_date(&copy));
    assert!(
        original == copy,
        "the same-bytes server answers other bytes than latch:\n{original}\n---\n{copy}"
    );
    server
}

/// One `GET path` on a fresh keep-alive connection, and the response
/// exactly as it came off the wire: the head, then `content-length` bytes.
pub fn capture(addr: SocketAddr, path: &str, cookie: Option<&str>) -> Vec<u8> {
    let cookie = cookie.map_or(String::new(), |c| format!("cookie: {c}\r\n"));
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nhost: bench.local\r\n{cookie}\r\n"
    )
    .unwrap();
    let mut reply = Vec::new();
    let mut chunk = [0; 16 * 1024];
    loop {
        let n = stream.read(&mut chunk).expect("the server answers");
        assert!(n > 0, "the server closed the connection mid-answer");
        reply.extend_from_slice(&chunk[..n]);
        if let Some(end) = whole_response(&reply) {
            reply.truncate(end);
            return reply;
        }
    }
}

/// The length of the whole response at the start of `bytes`, once it is
/// all there (a `content-length` body; latch's pages all have one).
fn whole_response(bytes: &[u8]) -> Option<usize> {
    let head_end = bytes.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
    let head = String::from_utf8_lossy(&bytes[..head_end]).to_ascii_lowercase();
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .map_or(0, |v| v.trim().parse().expect("a numeric content-length"));
    (bytes.len() >= head_end + length).then_some(head_end + length)
}

/// A response as text, the `date` line left out of its head.
fn without_date(response: &[u8]) -> String {
    let text = String::from_utf8_lossy(response);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let head: Vec<&str> = head
        .split("\r\n")
        .filter(|line| !line.to_ascii_lowercase().starts_with("date:"))
        .collect();
    format!("{}\r\n\r\n{body}", head.join("\r\n"))
}

/// CPU time process `pid` (or `self`) has used so far, user and system,
/// all its threads: `/proc/PID/stat` fields 14 and 15 (proc(5)), counted
/// in clock ticks of USER_HZ, which is 100 per second on Linux.
pub fn cpu_time_of(pid: &str) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields are counted from 1; the command name (field 2) is in
    // parentheses and may hold spaces, so count from after its `)`.
    let after_name = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let ticks: u64 = after_name
        .split_whitespace()
        .skip(14 - 3)
        .take(2)
        .filter_map(|t| t.parse::<u64>().ok())
        .sum();
    Duration::from_millis(ticks * 10)
}
