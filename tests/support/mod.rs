//! Test support: start the real `latch` binary on 127.0.0.1:0 with temp
//! dirs (`Server`), and speak raw HTTP/1.1 to it over TCP (`Response`). No
//! mocks, no HTTP client library: what the tests send and read is what
//! goes over the wire.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// The users most tests sign in as, with their passwords.
pub const ALICE: (&str, &str) = ("alice", "wonderland");
pub const BOB: (&str, &str) = ("bob", "builder");

/// Every wait in the tests is bounded by this.
pub const TIMEOUT: Duration = Duration::from_secs(10);

/// A directory under the system temp dir, removed on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new() -> TempDir {
        let mut bytes = [0u8; 8];
        getrandom::fill(&mut bytes).unwrap();
        let path =
            std::env::temp_dir().join(format!("latch-test-{}", latch::http::encoding::hex(&bytes)));
        std::fs::create_dir_all(&path).unwrap();
        TempDir(path)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The path of the built `latch` binary, or of another build named by
/// `LATCH_TEST_BINARY` (to see what an earlier build did in the same
/// tests: how a fix changed a figure).
pub fn binary() -> &'static str {
    static BINARY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    BINARY.get_or_init(|| {
        std::env::var("LATCH_TEST_BINARY").unwrap_or_else(|_| env!("CARGO_BIN_EXE_latch").into())
    })
}

/// The repository's own www dir.
pub fn repo_www() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("www")
}

/// A running `latch serve`, killed (and reaped) on drop.
pub struct Server {
    child: Option<Child>,
    pub addr: SocketAddr,
    pub dir: TempDir,
    /// Where its sessions are (`--sessions`): a dir, or a Redis URL.
    sessions: String,
    /// The `redis-server` it keeps its sessions in (`Backend::Redis`),
    /// killed after it.
    redis: Option<RedisServer>,
    users: PathBuf,
    /// Its standard output and error, as files: read whole at any time,
    /// everything written before an answer is there once it arrives.
    output: TempDir,
}

/// How to start a server: extra flags and environment on top of the
/// defaults (temp sessions dir, temp users file, the repo's www).
#[derive(Default)]
pub struct Options {
    /// Flags after the defaults (of a flag given twice, the later counts).
    pub args: Vec<String>,
    /// Environment on top of the test's own (the whole of it, with
    /// `checkout`).
    pub env: Vec<(String, String)>,
    /// Keep the dir (sessions dir, users file) of an earlier server.
    pub dir: Option<TempDir>,
    /// Sessions in the dir, or in a Redis of the server's own.
    pub backend: Backend,
    /// Sessions elsewhere: a dir or Redis URL that several servers share,
    /// or that outlives one server (its restarts).
    pub sessions: Option<String>,
    /// A users file elsewhere, for the same reasons.
    pub users: Option<PathBuf>,
    /// Start the server inside this cgroup: its `cgroup.procs` file.
    pub cgroup_procs: Option<PathBuf>,
    /// Run as a reader runs it in a fresh checkout: from this dir, on
    /// latch's defaults (no `--sessions`, `--users`, `--www`), with `env`
    /// as its whole environment, and standard output written to the same
    /// stream as standard error (`stderr()` holds both, in their order).
    pub checkout: Option<PathBuf>,
}

impl Server {
    pub fn start(args: &[&str]) -> Server {
        Server::start_on(Backend::Files, args)
    }

    pub fn start_with(options: Options) -> Server {
        let dir = options.dir.unwrap_or_else(TempDir::new);
        let redis = (options.backend == Backend::Redis).then(RedisServer::start);
        let sessions = options
            .sessions
            .or_else(|| redis.as_ref().map(RedisServer::url))
            .unwrap_or_else(|| dir.path().join("sessions").display().to_string());
        let users = options
            .users
            .unwrap_or_else(|| dir.path().join("users.htpasswd"));
        let output = TempDir::new();
        let stderr = std::fs::File::create(output.path().join("stderr")).unwrap();
        let mut command = Command::new(binary());
        command.arg("serve").arg("--addr=127.0.0.1:0");
        match &options.checkout {
            Some(checkout) => {
                command
                    .current_dir(checkout)
                    .env_clear()
                    .stdout(stderr.try_clone().unwrap());
            }
            None => {
                command
                    .arg(format!("--sessions={sessions}"))
                    .arg(format!("--users={}", users.display()))
                    .arg(format!("--www={}", repo_www().display()))
                    .stdout(std::fs::File::create(output.path().join("stdout")).unwrap());
            }
        }
        command
            .args(&options.args)
            .envs(options.env)
            .stdin(Stdio::null())
            .stderr(stderr);
        if let Some(procs) = options.cgroup_procs {
            use std::os::unix::process::CommandExt;
            // SAFETY: between fork and exec the child only writes its own
            // pid to a file, which needs no lock another thread may hold
            // but the allocator's for the formatted number.
            unsafe {
                command.pre_exec(move || std::fs::write(&procs, std::process::id().to_string()));
            }
        }
        let child = command.spawn().expect("the latch binary starts");
        let mut server = Server {
            child: Some(child),
            addr: SocketAddr::from(([0, 0, 0, 0], 0)),
            dir,
            sessions,
            redis,
            users,
            output,
        };
        server.addr = server.wait_until_listening();
        server
    }

    /// The address of the "latch listening on" line, once it is written
    /// whole (newline included, or the port may be cut short). Panics
    /// with what the server wrote if it exits first or takes too long.
    fn wait_until_listening(&mut self) -> SocketAddr {
        const LISTENING: &str = "latch listening on http://";
        let deadline = Instant::now() + TIMEOUT;
        loop {
            let log = self.stderr();
            let mut lines = log.split_inclusive('\n');
            if let Some(line) = lines.find(|l| l.starts_with(LISTENING) && l.ends_with('\n')) {
                return line[LISTENING.len()..].trim_end().parse().unwrap();
            }
            let exited = self.child.as_mut().unwrap().try_wait().unwrap().is_some();
            if exited || Instant::now() > deadline {
                panic!("server did not start: {}", self.stderr());
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    pub fn sessions_dir(&self) -> PathBuf {
        assert!(
            !self.sessions.starts_with("redis"),
            "a server on Redis has no sessions dir"
        );
        PathBuf::from(&self.sessions)
    }

    /// Its `--sessions`: the dir, or the Redis URL, as a command beside it
    /// (`latch sessions`, `latch clearsessions`) takes it.
    pub fn sessions_flag(&self) -> &str {
        &self.sessions
    }

    pub fn users_file(&self) -> PathBuf {
        self.users.clone()
    }

    /// What the server wrote to standard error so far.
    pub fn stderr(&self) -> String {
        self.written("stderr")
    }

    /// What the server wrote to standard output so far.
    pub fn stdout(&self) -> String {
        self.written("stdout")
    }

    fn written(&self, stream: &str) -> String {
        let bytes = std::fs::read(self.output.path().join(stream)).unwrap_or_default();
        // A character the server is writing as we read may be cut short.
        String::from_utf8_lossy(&bytes).into_owned()
    }

    /// Waits (bounded) until standard error holds `needle`: for a line
    /// the server writes after it answers, or while it works.
    pub fn wait_for_log(&self, needle: &str) -> bool {
        let deadline = Instant::now() + TIMEOUT;
        while Instant::now() < deadline {
            if self.stderr().contains(needle) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        false
    }

    /// Makes sure every log line of the requests answered so far has been
    /// written: a failed (or throttled) login with a unique name logs a
    /// line, and standard error keeps order, so once that line is in, all
    /// earlier ones are.
    pub fn log_barrier(&self) {
        let mut bytes = [0u8; 6];
        getrandom::fill(&mut bytes).unwrap();
        let marker = format!("barrier{}", latch::http::encoding::hex(&bytes));
        let response = self.post("/login", None, &format!("username={marker}&password=x"));
        assert!(matches!(response.status, 422 | 429), "{}", response.status);
        assert!(self.wait_for_log(&format!("user={marker}")), "log barrier");
    }

    /// Sends raw bytes on a new connection and reads one response.
    pub fn raw(&self, request: &[u8]) -> Response {
        exchange(self.addr, request).unwrap_or_else(|e| panic!("no whole response: {e}"))
    }

    /// Sends raw bytes on a new connection and returns every byte the
    /// server writes until it closes the connection (or resets it): for
    /// checking that nothing follows a head, or that a bad request is
    /// answered by a close.
    pub fn raw_until_close(&self, request: &[u8]) -> Vec<u8> {
        let mut stream = self.connect();
        stream.write_all(request).unwrap();
        let mut bytes = Vec::new();
        let mut chunk = [0u8; 4096];
        loop {
            match read_retrying(&mut stream, &mut chunk) {
                Ok(0) => return bytes,
                Ok(n) => bytes.extend_from_slice(&chunk[..n]),
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) =>
                {
                    panic!(
                        "the server neither answered nor closed in time; got {:?}",
                        String::from_utf8_lossy(&bytes)
                    )
                }
                // A reset after (or instead of) an answer: keep what arrived.
                Err(_) => return bytes,
            }
        }
    }

    pub fn connect(&self) -> TcpStream {
        connect(self.addr).unwrap()
    }

    /// `GET path` with an optional `Cookie` header.
    pub fn get(&self, path: &str, cookie: Option<&str>) -> Response {
        self.send("GET", path, cookie, &[], "")
    }

    /// A same-origin form POST (no Origin, no Sec-Fetch-Site: a non-browser
    /// client, which the cross-origin check allows).
    pub fn post(&self, path: &str, cookie: Option<&str>, body: &str) -> Response {
        self.send("POST", path, cookie, &[FORM], body)
    }

    /// Any request, with extra headers, on its own connection.
    pub fn send(
        &self,
        method: &str,
        path: &str,
        cookie: Option<&str>,
        headers: &[(&str, &str)],
        body: &str,
    ) -> Response {
        self.raw(&request(self.addr, method, path, cookie, headers, body))
    }

    /// Every `*.json` session file, sorted.
    pub fn session_files(&self) -> Vec<PathBuf> {
        session_files(&self.sessions_dir())
    }

    /// Sends a signal (`TERM`, `KILL`) and waits (bounded) for the exit
    /// status.
    pub fn stop(&mut self, name: &str) -> ExitStatus {
        let mut child = self.child.take().expect("server still running");
        signal(child.id(), name);
        wait_bounded(&mut child)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Sends signal `name` (`TERM`, `STOP`, ...) to process `pid`, with kill(1).
pub fn signal(pid: u32, name: &str) {
    let status = Command::new("kill")
        .arg(format!("-{name}"))
        .arg(pid.to_string())
        .status()
        .unwrap();
    assert!(status.success(), "kill -{name} {pid}");
}

pub fn wait_bounded(child: &mut Child) -> ExitStatus {
    wait_within(child, TIMEOUT).expect("process did not exit in time")
}

/// How the child exited, or `None` (and the child killed and reaped) when
/// it ran past `timeout`.
pub fn wait_within(child: &mut Child, timeout: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return Some(status);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A loopback port free now, for a program that cannot be told to pick one
/// (Redis and chromedriver have no "port 0 = any").
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Makes a FIFO at `path`, with mkfifo(1).
pub fn mkfifo(path: &Path) {
    let status = Command::new("mkfifo").arg(path).status().unwrap();
    assert!(status.success());
}

pub fn session_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .map(|e| e.unwrap().path())
                .filter(|p| p.extension().is_some_and(|e| e == "json"))
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files
}

/// The file a session id is stored in: `stored_name`, `.json`.
pub fn session_file_for(dir: &Path, id: &str) -> PathBuf {
    dir.join(format!("{}.json", stored_name(id)))
}

/// A parsed HTTP/1.1 response.
#[derive(Debug)]
pub struct Response {
    pub status_line: String,
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    /// The first header of that name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers_named(name).first().copied()
    }

    /// Every header of that name, in order (case-insensitive).
    pub fn headers_named(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The CSRF token a signed-in page embeds in its forms (the logout
    /// form's), if it has one.
    pub fn csrf_token(&self) -> Option<String> {
        let html = self.text();
        let marker = "name=\"csrf_token\" value=\"";
        let start = html.find(marker)? + marker.len();
        html.get(start..start + 43).map(str::to_owned)
    }

    /// The value the response's `Set-Cookie` gives cookie `name`, if any.
    pub fn set_cookie_value(&self, name: &str) -> Option<String> {
        self.headers_named("set-cookie")
            .into_iter()
            .find_map(|line| {
                let (pair, _) = line.split_once(';').unwrap_or((line, ""));
                let (n, v) = pair.split_once('=')?;
                (n == name).then(|| v.to_string())
            })
    }
}

/// A form's media type, as a browser's form POST has it.
pub const FORM: (&str, &str) = ("Content-Type", "application/x-www-form-urlencoded");

/// `Server::send` to a server that may be gone: a refused, reset or
/// closed connection is an `Err`, never a panic, for the tests that kill a
/// server while requests are in flight. Threads can own the address.
pub fn try_send(
    addr: SocketAddr,
    method: &str,
    path: &str,
    cookie: Option<&str>,
    headers: &[(&str, &str)],
    body: &str,
) -> io::Result<Response> {
    exchange(addr, &request(addr, method, path, cookie, headers, body))
}

/// A request's bytes: the request line, `Host`, `Connection: close`, the
/// cookie and headers given, and `Content-Length` when there is a body (or
/// a POST).
pub fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    cookie: Option<&str>,
    headers: &[(&str, &str)],
    body: &str,
) -> Vec<u8> {
    let mut request = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    if let Some(cookie) = cookie {
        request.push_str(&format!("Cookie: {cookie}\r\n"));
    }
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    if !body.is_empty() || method == "POST" {
        request.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    request.push_str("\r\n");
    request.push_str(body);
    request.into_bytes()
}

/// Sends `request` on a new connection and reads one response.
fn exchange(addr: SocketAddr, request: &[u8]) -> io::Result<Response> {
    let mut stream = connect(addr)?;
    stream.write_all(request)?;
    try_read_response(&mut stream)
}

/// A connection whose every wait is bounded.
fn connect(addr: SocketAddr) -> io::Result<TcpStream> {
    let stream = TcpStream::connect_timeout(&addr, TIMEOUT)?;
    stream.set_read_timeout(Some(TIMEOUT))?;
    stream.set_write_timeout(Some(TIMEOUT))?;
    Ok(stream)
}

/// Reads one response: the head, then a body of `Content-Length` bytes,
/// or (without one) everything until the server closes.
pub fn read_response(stream: &mut TcpStream) -> Response {
    try_read_response(stream).unwrap_or_else(|e| panic!("no whole response: {e}"))
}

/// `read_response`, where a connection that fails or times out before the
/// response is whole is an `Err`. A body cut short by the server closing
/// is kept as far as it came.
fn try_read_response(stream: &mut TcpStream) -> io::Result<Response> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(i) = find(&buf, b"\r\n\r\n") {
            break i;
        }
        let n = read_retrying(stream, &mut chunk)?;
        if n == 0 {
            let seen = String::from_utf8_lossy(&buf);
            let why = format!("connection closed before a response head: {seen:?}");
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, why));
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8(buf[..head_end].to_vec()).expect("ASCII head");
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap().to_string();
    let status = status_line.split(' ').nth(1).unwrap().parse().unwrap();
    let headers: Vec<(String, String)> = lines
        .map(|l| {
            let (n, v) = l.split_once(':').unwrap();
            (n.trim().to_string(), v.trim().to_string())
        })
        .collect();
    let mut body = buf[head_end + 4..].to_vec();
    let length = headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
        .map(|(_, v)| v.parse::<usize>().unwrap());
    let bodiless = status == 304 || status == 204 || status_line.is_empty();
    match length {
        _ if bodiless => {}
        Some(len) => {
            while body.len() < len {
                let n = read_retrying(stream, &mut chunk)?;
                if n == 0 {
                    break;
                }
                body.extend_from_slice(&chunk[..n]);
            }
        }
        None => {
            let _ = stream.read_to_end(&mut body);
        }
    }
    Ok(Response {
        status_line,
        status,
        headers,
        body,
    })
}

/// `read`, retried when a signal interrupts it (EINTR): a plain `read`
/// returns `Interrupted` instead of retrying, as `read_exact` would.
fn read_retrying(stream: &mut TcpStream, buf: &mut [u8]) -> std::io::Result<usize> {
    loop {
        match stream.read(buf) {
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            other => return other,
        }
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Runs `latch` with arguments and stdin, bounded; returns (status, stdout, stderr).
pub fn run_cli(args: &[&str], stdin: &str) -> (i32, String, String) {
    let mut command = Command::new(binary());
    command.args(args);
    run_command(&mut command, stdin)
}

/// Runs a prepared command with this standard input, bounded; returns
/// (status, stdout, stderr).
pub fn run_command(command: &mut Command, stdin: &str) -> (i32, String, String) {
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // A command that refuses its arguments exits without reading its
    // input; the broken pipe that leaves is not the test's concern.
    let _ = child.stdin.take().unwrap().write_all(stdin.as_bytes());
    let status = wait_bounded(&mut child);
    let mut out = String::new();
    let mut err = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    (status.code().unwrap_or(-1), out, err)
}

impl Server {
    /// A server whose users file holds these users (argon2id, as
    /// `latch adduser` writes them), with extra flags.
    pub fn with_users(users: &[(&str, &str)], args: &[&str]) -> Server {
        Server::with_users_on(Backend::Files, users, args)
    }

    /// `latch serve --sessions <url> --users <users>` with extra flags: one
    /// of several instances on one store and one users file.
    pub fn sharing(url: &str, users: &UsersFile, extra: &[&str]) -> Server {
        Server::start_with(Options {
            args: extra.iter().map(|flag| flag.to_string()).collect(),
            sessions: Some(url.to_owned()),
            users: Some(users.path()),
            ..Options::default()
        })
    }

    /// Signs in through `POST /login` and returns the new session id.
    pub fn login(&self, user: &str, password: &str) -> String {
        self.login_with(user, password, None)
    }

    /// Signs in carrying an existing session cookie; returns the new id.
    pub fn login_with(&self, user: &str, password: &str, cookie: Option<&str>) -> String {
        let body = format!("username={user}&password={password}");
        let response = self.post("/login", cookie, &body);
        assert_eq!(response.status, 303, "login as {user}: {}", response.text());
        response
            .headers_named("set-cookie")
            .iter()
            .find_map(|line| {
                let (pair, _) = line.split_once(';')?;
                let (_, value) = pair.split_once('=')?;
                Some(value.to_string())
            })
            .expect("a login sets the session cookie")
    }

    /// `POST /theme` as a signed-in page sends it: the theme and the
    /// session's CSRF token.
    pub fn set_theme(&self, cookie: &str, token: &str, theme: &str) -> Response {
        self.post(
            "/theme",
            Some(cookie),
            &format!("theme={theme}&csrf_token={token}"),
        )
    }

    /// `POST /logout` as the signed-in page's form sends it: the session's
    /// CSRF token, nothing else (this session, keep or flush as configured).
    pub fn logout(&self, cookie: &str, token: &str) -> Response {
        self.post("/logout", Some(cookie), &format!("csrf_token={token}"))
    }

    /// The CSRF token the account page embeds for this session cookie.
    pub fn csrf_token(&self, cookie: &str) -> String {
        let page = self.get("/account", Some(cookie));
        page.csrf_token()
            .expect("the account page has a logout form")
    }

    /// Whether `GET /account` with this cookie shows the account page.
    pub fn is_signed_in(&self, cookie: &str) -> bool {
        match self.get("/account", Some(cookie)).status {
            200 => true,
            303 => false,
            other => panic!("GET /account answered {other}"),
        }
    }
}

/// Writes a users file with these users (argon2id hashes).
pub fn write_users(path: &Path, users: &[(&str, &str)]) {
    let mut file = latch::auth::users::Users::default();
    for (name, password) in users {
        file.set(name, latch::auth::users::hash_password(password));
    }
    file.save(path).unwrap();
}

/// A users file in a temp dir of its own, written once, for servers that
/// share it (instances on one Redis) or for one server's restarts.
pub struct UsersFile {
    dir: TempDir,
}

impl UsersFile {
    pub fn new(users: &[(&str, &str)]) -> UsersFile {
        let dir = TempDir::new();
        write_users(&dir.path().join("users.htpasswd"), users);
        UsersFile { dir }
    }

    pub fn path(&self) -> PathBuf {
        self.dir.path().join("users.htpasswd")
    }
}

impl Server {
    /// A line of `/proc/<pid>/status` (proc(5)), as a number: `VmHWM`
    /// (the peak resident memory, in KiB), `Threads`.
    pub fn status(&self, field: &str) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap();
        status
            .lines()
            .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
            .and_then(|value| value.split_whitespace().next()?.parse().ok())
            .unwrap_or_else(|| panic!("/proc/<pid>/status has no {field}"))
    }

    /// The server process's id, for reading `/proc/<pid>/…`.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("server still running").id()
    }

    /// Bytes the server process has read so far through `read(2)` and its
    /// kin, files and sockets alike: `rchar` in `/proc/<pid>/io` (proc(5)).
    pub fn bytes_read(&self) -> u64 {
        let io = std::fs::read_to_string(format!("/proc/{}/io", self.pid())).unwrap();
        io.lines()
            .find_map(|line| line.strip_prefix("rchar: "))
            .expect("/proc/<pid>/io has an rchar line")
            .parse()
            .unwrap()
    }

    /// Sends a signal (`HUP`, `TERM`, ...) to the running server.
    pub fn send_signal(&self, name: &str) {
        signal(self.pid(), name);
    }

    /// Whether the server process is still running.
    pub fn is_running(&mut self) -> bool {
        let child = self.child.as_mut().expect("server not reaped yet");
        child.try_wait().unwrap().is_none()
    }

    /// A connection from another loopback address (Linux routes all of
    /// 127.0.0.0/8 to this machine): latch counts connections per client
    /// address, and every other helper connects from 127.0.0.1.
    pub fn connect_from(&self, source: [u8; 4]) -> TcpStream {
        connect_with(self.addr, source, None)
    }

    /// A connection whose receive buffer is as small as the kernel allows,
    /// so that a client that stops reading stalls the server's writes soon.
    pub fn connect_small_receive_buffer(&self) -> TcpStream {
        connect_with(self.addr, [127, 0, 0, 1], Some(4096))
    }
}

/// std's `TcpStream` cannot pick its source address or size its buffers
/// before connecting; tokio's `TcpSocket` can, and latch depends on tokio.
pub fn connect_with(addr: SocketAddr, source: [u8; 4], receive_buffer: Option<u32>) -> TcpStream {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .enable_time()
        .build()
        .unwrap();
    let stream = runtime.block_on(async {
        let socket = tokio::net::TcpSocket::new_v4()?;
        if let Some(bytes) = receive_buffer {
            socket.set_recv_buffer_size(bytes)?;
        }
        socket.bind(SocketAddr::from((source, 0)))?;
        tokio::time::timeout(TIMEOUT, socket.connect(addr)).await?
    });
    let stream = stream
        .expect("connect within the timeout")
        .into_std()
        .unwrap();
    stream.set_nonblocking(false).unwrap();
    stream.set_read_timeout(Some(TIMEOUT)).unwrap();
    stream.set_write_timeout(Some(TIMEOUT)).unwrap();
    stream
}

/// Runs one store call to its end: the store contract is async.
pub fn block_on<T>(call: impl std::future::Future<Output = T>) -> T {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(call)
}

/// A `redis-server` of the test's own (tests of the Redis store).
pub mod redis;
/// A primary, replicas and Sentinels of the test's own, on loopback.
pub mod sentinel;

mod backend;
pub(crate) use backend::on_both_backends;
pub use backend::{redis_key, store_settings, stored_name, Backend};
use redis::RedisServer;

/// `POST /login` with a user name and password, whatever it answers.
pub fn login(server: &Server, user: &str, password: &str) -> Response {
    server.post(
        "/login",
        None,
        &format!("username={user}&password={password}"),
    )
}

/// How long a login that must fail (422) took to answer.
pub fn timed_failed_login(server: &Server, user: &str, password: &str) -> Duration {
    let started = Instant::now();
    let response = login(server, user, password);
    let elapsed = started.elapsed();
    assert_eq!(response.status, 422, "{user}");
    elapsed
}

/// The middle one of `samples`.
pub fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}
