//! The workloads, one entry each: its letter (`--only`), what it measures
//! (its row's name), what it runs on, and which workloads it is compared
//! with (run first, whether asked for or not). `main` runs them in table
//! order, starting what they run on once for the workloads that share it.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use crate::load::{request, run, MakeRequest};
use crate::redis::RedisProcess;
use crate::servers::{self, login, Process, Site};
use crate::{cores, disk, ratio, ratio_of, Bench, CpuSplit, Options, Row};

pub struct Workload {
    pub letter: char,
    pub name: &'static str,
    /// The letters of the workloads whose results this one's row is
    /// compared with.
    pub after: &'static str,
    pub run: Run,
}

/// How a workload runs, by what it runs on.
pub enum Run {
    /// It starts its own servers.
    Alone(fn(&mut Bench, &Workload)),
    /// One latch on the file store, shared with the workloads around it.
    OnFiles(fn(&mut Bench, &Workload, &FilesServer)),
    /// One redis-server, shared likewise; each workload starts its latch.
    OnRedis(fn(&mut Bench, &Workload, &RedisSite)),
}

use Run::{Alone, OnFiles, OnRedis};

/// In the order they run.
pub const WORKLOADS: &[Workload] = &[
    Workload {
        letter: 'a',
        name: "GET /account signed in",
        after: "",
        run: OnFiles(account),
    },
    Workload {
        letter: 'b',
        name: "GET / anonymous",
        after: "",
        run: OnFiles(home),
    },
    Workload {
        letter: 'c',
        name: "GET /style.css",
        after: "",
        run: OnFiles(style_css),
    },
    Workload {
        letter: 'g',
        name: "GET /account under a login flood",
        after: "a",
        run: OnFiles(login_flood),
    },
    Workload {
        letter: 'f',
        name: "POST /login (argon2id m=19MiB t=2 p=1)",
        after: "",
        run: OnFiles(sign_in),
    },
    Workload {
        letter: 'i',
        name: "disk: temp+fsync+rename+fsync dir",
        after: "",
        run: Alone(disk_ceiling),
    },
    Workload {
        letter: 'd',
        name: "POST /logout keep",
        after: "i",
        run: Alone(|bench, w| logout(bench, w, &[])),
    },
    Workload {
        letter: 'e',
        name: "POST /logout --logout-flush",
        after: "i",
        run: Alone(|bench, w| logout(bench, w, &["--logout-flush"])),
    },
    Workload {
        letter: 'l',
        name: "redis-benchmark -t set, fsync always",
        after: "",
        run: OnRedis(set_ceiling),
    },
    Workload {
        letter: 'j',
        name: "GET /account signed in, Redis",
        after: "l",
        run: OnRedis(account_on_redis),
    },
    Workload {
        letter: 'k',
        name: "POST /logout keep, Redis",
        after: "l",
        run: OnRedis(logout_on_redis),
    },
    Workload {
        letter: 'h',
        name: "GET /account, 1,000 and 100,000 files",
        after: "",
        run: Alone(many_files),
    },
];

impl Workload {
    /// The row's name: `(a) GET /account signed in`.
    pub fn title(&self) -> String {
        format!("({}) {}", self.letter, self.name)
    }
}

/// The workloads `--only` asks for and those they are compared with, in
/// table order.
pub fn wanted(options: &Options) -> impl Iterator<Item = &'static Workload> {
    let asked: Vec<&Workload> = WORKLOADS
        .iter()
        .filter(|w| options.wants(w.letter))
        .collect();
    WORKLOADS.iter().filter(move |w| {
        asked
            .iter()
            .any(|a| a.letter == w.letter || a.after.contains(w.letter))
    })
}

/// One latch on the file store, with one signed-in session per
/// connection, made through `POST /login`.
pub struct FilesServer {
    server: Process,
    cookies: Arc<Vec<String>>,
}

impl FilesServer {
    pub fn start(bench: &Bench) -> FilesServer {
        let server = bench.start_latch(&bench.site("a"), &[]);
        let cookies = sign_in_each_connection(bench, &server);
        server.reset_peak_rss();
        FilesServer { server, cookies }
    }
}

/// A durable redis-server (fsync always), and the site whose latch
/// servers keep their sessions in it.
pub struct RedisSite {
    redis: RedisProcess,
    site: Site,
}

impl RedisSite {
    pub fn start(bench: &Bench) -> RedisSite {
        RedisSite {
            redis: RedisProcess::start(&bench.root.join("redis")),
            site: bench.site("redis-site"),
        }
    }

    fn start_latch(&self, bench: &Bench) -> Process {
        let sessions = format!("--sessions={}", self.redis.url());
        bench.start_latch(&self.site, &[&sessions])
    }
}

/// (a) The session read path.
fn account(bench: &mut Bench, w: &Workload, files: &FilesServer) {
    let make = per_connection_get("/account", &files.cookies);
    let cookie = Some(files.cookies[0].as_str());
    let stats = bench.beside_same_bytes(&w.title(), &files.server, "/account", cookie, &make);
    bench.account_rate = stats.rate();
    bench.account_p99 = stats.percentile_ms(99.0);
}

/// (b) An anonymous page.
fn home(bench: &mut Bench, w: &Workload, files: &FilesServer) {
    let make = fixed(get("/", None));
    bench.beside_same_bytes(&w.title(), &files.server, "/", None, &make);
}

/// (c) A static file.
fn style_css(bench: &mut Bench, w: &Workload, files: &FilesServer) {
    let stats = bench.drive(files.server.addr, 200, fixed(get("/style.css", None)));
    let versus = ratio(stats.rate(), bench.base_rate);
    bench.push(&w.title(), &stats, versus, &files.server);
}

/// (g) (a) while 16 more connections hammer `POST /login`.
fn login_flood(bench: &mut Bench, w: &Workload, files: &FilesServer) {
    let addr = files.server.addr;
    let flooded = bench.runtime.block_on(async {
        let wrong = post("/login", None, "username=bench&password=wrong".into());
        let flood = run(addr, 16, bench.duration(), 422, fixed(wrong));
        let make = per_connection_get("/account", &files.cookies);
        let pages = run(addr, bench.connections(), bench.duration(), 200, make);
        tokio::join!(pages, flood).0
    });
    let p99 = flooded.percentile_ms(99.0) / bench.account_p99;
    let versus = format!("p99 x{p99:.1} of (a)");
    bench.push(&w.title(), &flooded, versus, &files.server);
}

/// (f) argon2id, one check per core at a time.
fn sign_in(bench: &mut Bench, w: &Workload, files: &FilesServer) {
    let form = format!("username={}&password={}", servers::USER, servers::PASSWORD);
    let logins = bench.drive(files.server.addr, 303, fixed(post("/login", None, form)));
    let per_core = format!("{:.0}/s per core", logins.rate() / cores() as f64);
    bench.push(&w.title(), &logins, per_core, &files.server);
}

/// (i) The disk's durable write ceiling at the same concurrency.
fn disk_ceiling(bench: &mut Bench, w: &Workload) {
    let dir = bench.root.join("disk");
    let (ceiling, p50, p99) = disk::ceiling(&dir, bench.connections(), bench.duration());
    bench.disk_ceiling = ceiling;
    let row = Row::measured(&w.title(), ceiling, p50, p99, "1.00 of (i)");
    bench.rows.push(row);
}

/// (d), (e) with `extra` flags: each request a different signed-in
/// session, written to disk beforehand (about three times as many as the
/// disk's ceiling allows).
fn logout(bench: &mut Bench, w: &Workload, extra: &[&str]) {
    let site = bench.site(&w.title()[..3]);
    let seconds = bench.options.seconds as f64;
    let budget = ((bench.disk_ceiling * seconds) as usize * 3).clamp(2_000, 200_000);
    let sessions = Arc::new(site.write_sessions(budget, &bench.password_hash));
    let server = bench.start_latch(&site, extra);
    server.reset_peak_rss();
    let logouts = bench.drive(server.addr, 303, one_session_each(&sessions));
    let versus = ratio_of(logouts.rate(), bench.disk_ceiling, "(i)");
    bench.push(&w.title(), &logouts, versus, &server);
}

/// (l) What the durable Redis server acknowledges at most:
/// redis-benchmark's SETs at the same concurrency.
fn set_ceiling(bench: &mut Bench, w: &Workload, redis: &RedisSite) {
    let conns = bench.connections();
    let ceiling = redis.redis.set_ceiling(conns, (conns * 200).max(10_000));
    bench.set_rate = ceiling.rate;
    let row = Row::measured(&w.title(), ceiling.rate, f64::NAN, f64::NAN, "1.00 of (l)");
    bench.rows.push(row);
    bench.splits.push(CpuSplit {
        name: "(l) SET, redis-benchmark",
        requests: ceiling.requests,
        generator: ceiling.client_cpu,
        latch: None,
        redis: ceiling.server_cpu,
    });
}

/// (j) (a) through the Redis store; compared with (a) when it ran.
fn account_on_redis(bench: &mut Bench, w: &Workload, redis: &RedisSite) {
    let server = redis.start_latch(bench);
    let cookies = sign_in_each_connection(bench, &server);
    server.reset_peak_rss();
    let make = per_connection_get("/account", &cookies);
    let stats = bench.drive_split("(j) GET /account, Redis", &server, &redis.redis, 200, make);
    let versus = match bench.account_rate.is_nan() {
        true => ratio(stats.rate(), bench.base_rate),
        false => ratio_of(stats.rate(), bench.account_rate, "(a)"),
    };
    bench.push(&w.title(), &stats, versus, &server);
}

/// (k) (d) through the Redis store, the sessions written by latch's own
/// RedisStore beforehand.
fn logout_on_redis(bench: &mut Bench, w: &Workload, redis: &RedisSite) {
    let budget = ((bench.set_rate * bench.options.seconds as f64) as usize).clamp(2_000, 200_000);
    let sessions = redis
        .redis
        .write_sessions(&bench.runtime, budget, &bench.password_hash);
    let server = redis.start_latch(bench);
    server.reset_peak_rss();
    let make = one_session_each(&Arc::new(sessions));
    let name = "(k) POST /logout keep, Redis";
    let logouts = bench.drive_split(name, &server, &redis.redis, 303, make);
    let versus = ratio_of(logouts.rate(), bench.set_rate, "(l)");
    bench.push(&w.title(), &logouts, versus, &server);
}

/// (h) (a) with 1,000 and with 100,000 session files around.
fn many_files(bench: &mut Bench, w: &Workload) {
    let mut thousand_rate = f64::NAN;
    for (shown, files) in [("1,000", 1_000), ("100,000", 100_000)] {
        let name = format!("({}) GET /account, {shown} files", w.letter);
        let site = bench.site(&name[..3]);
        let sessions = site.write_sessions(files, &bench.password_hash);
        let cookies: Arc<Vec<String>> = Arc::new(
            sessions
                .into_iter()
                .take(bench.connections())
                .map(|(c, _)| c)
                .collect(),
        );
        let server = bench.start_latch(&site, &[]);
        server.reset_peak_rss();
        let stats = bench.drive(server.addr, 200, per_connection_get("/account", &cookies));
        let versus = if files == 1_000 {
            thousand_rate = stats.rate();
            ratio(stats.rate(), bench.base_rate)
        } else {
            ratio_of(stats.rate(), thousand_rate, "1k files")
        };
        bench.push(&name, &stats, versus, &server);
    }
}

/// A session per connection, each made through `POST /login`.
fn sign_in_each_connection(bench: &Bench, server: &Process) -> Arc<Vec<String>> {
    let cookies = (0..bench.connections()).map(|_| login(server.addr));
    Arc::new(cookies.collect())
}

/// A request's parts: method, path, cookie, form body.
type Parts = (&'static str, &'static str, Option<String>, Option<String>);

pub fn get(path: &'static str, cookie: Option<String>) -> Parts {
    ("GET", path, cookie, None)
}

fn post(path: &'static str, cookie: Option<String>, form: String) -> Parts {
    ("POST", path, cookie, Some(form))
}

/// The same request over and over.
pub fn fixed(parts: Parts) -> MakeRequest {
    let (method, path, cookie, form) = parts;
    Arc::new(move |_| Some(request(method, path, cookie.as_deref(), form.clone())))
}

/// `GET path` with connection `c`'s own cookie.
fn per_connection_get(path: &'static str, cookies: &Arc<Vec<String>>) -> MakeRequest {
    let cookies = Arc::clone(cookies);
    Arc::new(move |c| {
        Some(request(
            "GET",
            path,
            Some(&cookies[c % cookies.len()]),
            None,
        ))
    })
}

/// `POST /logout` with the next unused session, until they run out.
fn one_session_each(sessions: &Arc<Vec<(String, String)>>) -> MakeRequest {
    let sessions = Arc::clone(sessions);
    let next = Arc::new(AtomicUsize::new(0));
    Arc::new(move |_| {
        let (cookie, token) = sessions.get(next.fetch_add(1, Ordering::Relaxed))?;
        Some(request(
            "POST",
            "/logout",
            Some(cookie),
            Some(format!("csrf_token={token}")),
        ))
    })
}
