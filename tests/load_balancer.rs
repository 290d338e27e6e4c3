//! One person's visit through a load balancer: nginx, round-robin over two
//! latch instances that share one Redis (docs/contract.md, "The Redis
//! store"; the setup of deploy/two-instances/). Every request of the visit
//! may land on either instance, and the visit must read as it would on one
//! server.
//!
//! The test starts its own `redis-server`, two `latch serve` and an
//! unprivileged nginx (from a temp prefix, one process, `daemon off`), and
//! kills them by PID at the end. Ignored by a plain `cargo test`; run it
//! with `cargo test --test tests load_balancer:: -- --ignored`. Where a program
//! cannot start, it fails: it never passes without having run.

use std::io::Write;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::redis::RedisServer;
use crate::support::{
    self, read_response, Response, Server, TempDir, UsersFile, ALICE, FORM, TIMEOUT,
};

const NEEDS: &str = "needs redis-server and nginx: apt-get install redis-server nginx";

/// The client address the visit comes from: not nginx's own 127.0.0.1, so
/// that latch's log shows whether it believed nginx's `X-Forwarded-For`.
const VISITOR: [u8; 4] = [127, 0, 0, 2];

/// nginx in front of the given upstreams, from a temp prefix: its config,
/// pid file, logs and temp dirs all under one temp dir; one process
/// (`master_process off`), in the foreground, killed on drop.
struct Nginx {
    child: Option<Child>,
    dir: TempDir,
    addr: SocketAddr,
}

impl Nginx {
    fn start(upstreams: &[SocketAddr]) -> Nginx {
        let dir = TempDir::new();
        let addr = free_loopback_port();
        let config = config(dir.path().to_str().unwrap(), addr, upstreams);
        let config_file = dir.path().join("nginx.conf");
        std::fs::write(&config_file, config).unwrap();
        let child = Command::new(nginx_binary())
            .arg("-p")
            .arg(dir.path())
            .arg("-c")
            .arg(&config_file)
            .arg("-e")
            .arg(dir.path().join("error.log"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start nginx ({e}): {NEEDS}"));
        let mut nginx = Nginx {
            child: Some(child),
            dir,
            addr,
        };
        nginx.wait_until_listening();
        nginx
    }

    /// Waits (bounded) until the port accepts; panics with nginx's error
    /// log if it exits or never does.
    fn wait_until_listening(&mut self) {
        let deadline = Instant::now() + TIMEOUT;
        while TcpStream::connect_timeout(&self.addr, Duration::from_secs(1)).is_err() {
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                self.child = None;
                panic!("nginx exited ({status}): {}", self.error_log());
            }
            assert!(
                Instant::now() < deadline,
                "nginx not listening: {}",
                self.error_log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn error_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("error.log")).unwrap_or_default()
    }

    fn access_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("access.log")).unwrap_or_default()
    }

    /// One request through nginx, on its own connection from `VISITOR`,
    /// as a browser on the site's own page sends a form: with `Origin`.
    fn send(&self, method: &str, path: &str, cookie: Option<&str>, body: &str) -> Response {
        let origin = format!("http://{}", self.addr);
        let mut headers = vec![("Accept", "text/html")];
        if method == "POST" {
            headers.extend([("Origin", origin.as_str()), FORM]);
        }
        let request = support::request(self.addr, method, path, cookie, &headers, body);
        let mut stream = connect_from(self.addr, VISITOR);
        stream.write_all(&request).unwrap();
        read_response(&mut stream)
    }

    fn get(&self, path: &str, cookie: Option<&str>) -> Response {
        self.send("GET", path, cookie, "")
    }

    fn post(&self, path: &str, cookie: Option<&str>, body: &str) -> Response {
        self.send("POST", path, cookie, body)
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// `nginx` on the PATH, else where Debian puts it (`/usr/sbin` is not on
/// every user's PATH).
fn nginx_binary() -> PathBuf {
    let on_path = std::env::var_os("PATH")
        .map(|path| std::env::split_paths(&path).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .map(|dir| dir.join("nginx"))
        .find(|candidate| candidate.is_file());
    on_path.unwrap_or_else(|| PathBuf::from("/usr/sbin/nginx"))
}

/// A loopback port nobody listens on now: bind port 0, note the port the
/// kernel picked, close. (Another process could take it before nginx
/// does; then nginx fails to start and the test says so.)
fn free_loopback_port() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

/// The nginx configuration: the proxy part is deploy/two-instances/
/// nginx.conf's (round-robin, keep-alive, `Host` and `X-Forwarded-For`),
/// the rest keeps every file under `dir` so that it runs unprivileged.
fn config(dir: &str, addr: SocketAddr, upstreams: &[SocketAddr]) -> String {
    let servers: String = upstreams
        .iter()
        .map(|upstream| format!("        server {upstream};\n"))
        .collect();
    format!(
        r#"daemon off;
master_process off;
worker_processes 1;
pid {dir}/nginx.pid;
error_log {dir}/error.log notice;
events {{ worker_connections 64; }}
http {{
    log_format upstream '$remote_addr "$request" $status upstream=$upstream_addr';
    access_log {dir}/access.log upstream;
    client_body_temp_path {dir}/client_body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;

    upstream latch {{
{servers}        keepalive 8;
        keepalive_timeout 5s;
    }}

    server {{
        listen {addr};
        client_max_body_size 16k;
        location / {{
            proxy_pass http://latch;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $http_host;
            proxy_set_header X-Forwarded-For $remote_addr;
            proxy_redirect off;
        }}
    }}
}}
"#
    )
}

/// A connection to `addr` from the loopback address `source` (Linux routes
/// all of 127.0.0.0/8 to this machine).
fn connect_from(addr: SocketAddr, source: [u8; 4]) -> TcpStream {
    support::connect_with(addr, source, None)
}

fn new_session_cookie(answer: &Response) -> String {
    let id = answer
        .set_cookie_value("sid")
        .filter(|id| !id.is_empty())
        .unwrap_or_else(|| panic!("no new session cookie: {answer:?}"));
    format!("sid={id}")
}

/// `latch serve` behind nginx: sessions in `redis`, users from `users`,
/// and `X-Forwarded-For` believed from nginx at 127.0.0.1.
fn instance(redis: &RedisServer, users: &UsersFile) -> Server {
    Server::sharing(&redis.url(), users, &["--trusted-proxy=127.0.0.1"])
}

/// How many `access GET /account 200` lines an instance logged.
fn accounts_served(server: &Server) -> usize {
    server.stderr().matches("access GET /account 200").count()
}

#[test]
#[ignore = "needs redis-server and nginx: apt-get install redis-server nginx"]
fn a_visit_through_nginx_round_robin_is_served_by_both_instances_and_its_logout_holds_on_both() {
    let redis = RedisServer::start();
    let users = UsersFile::new(&[ALICE]);
    let (a, b) = (instance(&redis, &users), instance(&redis, &users));
    let nginx = Nginx::start(&[a.addr, b.addr]);

    // Sign in (a same-origin form, with Origin: Host must reach latch).
    let login = nginx.post("/login", None, "username=alice&password=wonderland");
    assert_eq!(login.status, 303, "{}", login.text());
    assert_eq!(login.header("location"), Some("/account"));
    let alice = new_session_cookie(&login);

    // The account page, several times: nginx takes turns.
    let mut token = String::new();
    for _ in 0..6 {
        let page = nginx.get("/account", Some(&alice));
        assert_eq!(page.status, 200, "{}", page.text());
        assert!(page.text().contains("alice"));
        token = page
            .csrf_token()
            .expect("the account page has a logout form");
    }

    // A theme, seen on the next pages whichever instance serves them.
    let theme = nginx.post(
        "/theme",
        Some(&alice),
        &format!("theme=dark&csrf_token={token}"),
    );
    assert_eq!(theme.status, 303, "{}", theme.text());
    for _ in 0..2 {
        let home = nginx.get("/", Some(&alice));
        assert!(
            home.text().contains("data-theme=\"dark\""),
            "{}",
            home.text()
        );
    }

    // Sign out: the theme moves to a new session, signed in nowhere.
    let logout = nginx.post("/logout", Some(&alice), &format!("csrf_token={token}"));
    assert_eq!(logout.status, 303, "{}", logout.text());
    let after = new_session_cookie(&logout);
    assert_ne!(after, alice);
    for _ in 0..2 {
        let page = nginx.get("/account", Some(&after));
        assert_eq!(page.status, 303);
        assert_eq!(page.header("location"), Some("/login?next=%2Faccount"));
    }

    // A copy of the cookie from before the logout is refused everywhere:
    // through nginx (both turns) and at each instance directly.
    for _ in 0..2 {
        assert_eq!(nginx.get("/account", Some(&alice)).status, 303);
    }
    assert!(!a.is_signed_in(&alice), "A still takes the old cookie");
    assert!(!b.is_signed_in(&alice), "B still takes the old cookie");

    // Both instances served the visit, and both saw the visitor's address.
    a.log_barrier();
    b.log_barrier();
    assert!(accounts_served(&a) > 0, "A served no account page");
    assert!(accounts_served(&b) > 0, "B served no account page");
    for server in [&a, &b] {
        assert!(
            server.stderr().contains("client=127.0.0.2"),
            "{}",
            server.stderr()
        );
    }
    let log = nginx.access_log();
    for upstream in [a.addr, b.addr] {
        assert!(log.contains(&format!("upstream={upstream}")), "{log}");
    }
}
