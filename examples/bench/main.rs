//! latch's benchmark: every workload of issue #5 against the release binary
//! and, in the same run, bare hyper servers as the physical limits.
//!
//! `cargo run --release --example bench [-- --seconds 10 --connections 64]`
//!
//! It builds the release `latch` and the `hello` example, starts each
//! server on 127.0.0.1:0 with a fresh directory under `target/bench/`,
//! drives it with `load::run` (a closed loop per connection on hyper's
//! client), and prints one table. It is a measurement, not a test: it
//! never fails on slowness. Ratios are what to read: this machine is shared
//! and its absolute numbers drift from run to run.
//!
//! Two baselines, both `examples/hello.rs`: answering `hello` (the limit
//! for any request), and answering the very bytes latch answered for a
//! page (status, headers, body, captured in this run), the limit for that
//! page. A page workload shows its ratio to each; it and its same-bytes
//! baseline are measured in alternating one-second turns (`in_turns`).
//!
//! The Redis workloads (j, k, l) also print where a request's CPU went:
//! the load generator's, latch's and redis-server's user + system time
//! over the run, per request answered, and the cores the three together
//! would need at half the rate of (l), the target for (k).

mod disk;
mod load;
mod redis;
mod servers;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use load::{request, run, MakeRequest, Stats};
use servers::{cpu_time_of, login, start_same_bytes, start_to_first_answer, Process, Site};

struct Options {
    seconds: u64,
    connections: usize,
    /// Workload letters to run (`--only ad`); the baseline always runs.
    only: Option<String>,
}

impl Options {
    fn wants(&self, letter: char) -> bool {
        self.only.as_ref().is_none_or(|only| only.contains(letter))
    }
}

struct Row {
    name: String,
    rate: f64,
    p50: f64,
    p99: f64,
    versus: String,
    versus_same_bytes: String,
    cpu_us: f64,
    rss_mib: f64,
}

impl Row {
    /// Adds what a page workload measured in turns with its same-bytes
    /// baseline: the server's CPU per request, and the ratios to the
    /// baseline of requests per second and of CPU per request (the
    /// baseline's over the page's, so that here too 1.00 is as fast).
    fn beside(self, stats: &Stats, same_bytes: &Stats) -> Row {
        let cpu_ratio = same_bytes.server_cpu_us() / stats.server_cpu_us();
        Row {
            versus_same_bytes: format!(
                "{} (CPU {cpu_ratio:.2})",
                ratio(stats.rate(), same_bytes.rate())
            ),
            cpu_us: stats.server_cpu_us(),
            ..self
        }
    }
}

fn main() {
    let options = parse_options();
    let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    build(&repo);
    // LATCH_BENCH_BINARY=target/profiling/latch runs the build with symbols,
    // for `perf record -p PID` while a workload runs.
    let latch = std::env::var_os("LATCH_BENCH_BINARY")
        .map_or_else(|| repo.join("target/release/latch"), PathBuf::from);
    let hello = repo.join("target/release/examples/hello");
    let root = repo.join("target/bench");
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(&root).unwrap();
    let users = root.join("users.htpasswd");
    let password_hash = servers::write_users(&users);
    let www = repo.join("www");
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let duration = Duration::from_secs(options.seconds);
    let conns = options.connections;
    let drive = |addr, expect, make: MakeRequest| {
        runtime.block_on(run(addr, conns, duration, expect, make))
    };

    println!(
        "latch benchmark: {} cores, {conns} connections, {}s per workload, closed loop on hyper's client",
        std::thread::available_parallelism().map_or(1, |n| n.get()),
        options.seconds
    );
    let mut rows = Vec::new();

    // Baseline: bare hyper, same wiring, no work.
    let base_server = Process::start(&hello, &["127.0.0.1:0".into()]);
    let base = drive(base_server.addr, 200, fixed(get("/", None)));
    let base_rate = base.rate();
    rows.push(row(
        "bare hyper hello (baseline)",
        &base,
        "1.00".into(),
        &base_server,
    ));
    drop(base_server);

    // A page workload beside its same-bytes baseline: latch's answer to
    // `GET path` becomes the baseline's, then both are measured in turns.
    // Returns latch's measurement and the two rows, baseline first.
    let beside_same_bytes =
        |name: &str, server: &Process, path: &str, cookie: Option<&str>, make: &MakeRequest| {
            let capture = root.join("same-bytes.http");
            let same = start_same_bytes(&hello, server.addr, path, cookie, &capture);
            let (page, baseline) = in_turns(&runtime, conns, duration, [server, &same], make);
            let versus = |stats: &Stats| ratio(stats.rate(), base_rate);
            let baseline_name = format!("same bytes as {} (baseline)", &name[..3]);
            let rows = [
                row(&baseline_name, &baseline, versus(&baseline), &same)
                    .beside(&baseline, &baseline),
                row(name, &page, versus(&page), server).beside(&page, &baseline),
            ];
            (page, rows)
        };

    // (a)'s rate, for (j) to compare with.
    let mut files_account_rate = f64::NAN;
    if "abcfg".chars().any(|w| options.wants(w)) {
        // One server; one session per connection, made through POST /login.
        let site = Site::new(&root, "a", &users);
        let server = Process::start(&latch, &site.args(&www, &[]));
        let cookies: Arc<Vec<String>> = Arc::new((0..conns).map(|_| login(server.addr)).collect());
        // (a) GET /account, signed in: the session read path.
        server.reset_peak_rss();
        let account_get = per_connection_get("/account", &cookies);
        let account = if options.wants('a') {
            let (account, both) = beside_same_bytes(
                "(a) GET /account signed in",
                &server,
                "/account",
                Some(&cookies[0]),
                &account_get,
            );
            rows.extend(both);
            account
        } else {
            drive(server.addr, 200, account_get)
        };
        let account_p99 = account.percentile_ms(99.0);
        files_account_rate = account.rate();
        // (b) GET / anonymous; (c) a static file.
        if options.wants('b') {
            let home_get = fixed(get("/", None));
            let (_, both) = beside_same_bytes("(b) GET / anonymous", &server, "/", None, &home_get);
            rows.extend(both);
        }
        if options.wants('c') {
            let file = drive(server.addr, 200, fixed(get("/style.css", None)));
            rows.push(row(
                "(c) GET /style.css",
                &file,
                ratio(file.rate(), base_rate),
                &server,
            ));
        }
        // (g) GET /account while 16 more connections hammer POST /login.
        if options.wants('g') {
            let flooded = runtime.block_on(async {
                let wrong = post("/login", None, "username=bench&password=wrong".into());
                let flood = run(server.addr, 16, duration, 422, fixed(wrong));
                let pages = run(
                    server.addr,
                    conns,
                    duration,
                    200,
                    per_connection_get("/account", &cookies),
                );
                tokio::join!(pages, flood).0
            });
            let versus = format!(
                "p99 x{:.1} of (a)",
                flooded.percentile_ms(99.0) / account_p99
            );
            rows.push(row(
                "(g) GET /account under a login flood",
                &flooded,
                versus,
                &server,
            ));
        }
        // (f) POST /login: argon2id, one check per core at a time.
        if options.wants('f') {
            let form = format!("username={}&password={}", servers::USER, servers::PASSWORD);
            let logins = drive(server.addr, 303, fixed(post("/login", None, form)));
            let per_core = format!("{:.0}/s per core", logins.rate() / cores());
            rows.push(row(
                "(f) POST /login (argon2id m=19MiB t=2 p=1)",
                &logins,
                per_core,
                &server,
            ));
        }
    }

    if "die".chars().any(|w| options.wants(w)) {
        // (i) The disk's durable write ceiling at the same concurrency.
        let (ceiling, p50, p99) = disk::ceiling(&root.join("disk"), conns, duration);
        rows.push(Row {
            name: "(i) disk: temp+fsync+rename+fsync dir".into(),
            rate: ceiling,
            p50,
            p99,
            versus: "1.00 of (i)".into(),
            versus_same_bytes: "-".into(),
            cpu_us: f64::NAN,
            rss_mib: f64::NAN,
        });
        // (d) and (e) POST /logout, each request a different signed-in session.
        for (letter, name, extra) in [
            ('d', "(d) POST /logout keep", &[][..]),
            (
                'e',
                "(e) POST /logout --logout-flush",
                &["--logout-flush"][..],
            ),
        ] {
            if !options.wants(letter) {
                continue;
            }
            let site = Site::new(&root, &name[..3], &users);
            let budget = ((ceiling * options.seconds as f64) as usize * 3).clamp(2_000, 200_000);
            let sessions = Arc::new(site.write_sessions(budget, &password_hash));
            let server = Process::start(&latch, &site.args(&www, extra));
            server.reset_peak_rss();
            let logouts = drive(server.addr, 303, one_session_each(&sessions));
            rows.push(row(
                name,
                &logouts,
                ratio_of(logouts.rate(), ceiling, "(i)"),
                &server,
            ));
        }
    }

    // Through the Redis store: (j) GET /account, (k) POST /logout keep,
    // and (l) what the same durable server acknowledges at most.
    let mut splits = Vec::new();
    let mut set_rate = f64::NAN;
    if "jkl".chars().any(|w| options.wants(w)) {
        let redis = redis::RedisProcess::start(&root.join("redis"));
        // (l) redis-benchmark's durable SETs at the same concurrency.
        let ceiling = redis.set_ceiling(conns, (conns * 200).max(10_000));
        set_rate = ceiling.rate;
        rows.push(Row {
            name: "(l) redis-benchmark -t set, fsync always".into(),
            rate: set_rate,
            p50: f64::NAN,
            p99: f64::NAN,
            versus: "1.00 of (l)".into(),
            versus_same_bytes: "-".into(),
            cpu_us: f64::NAN,
            rss_mib: f64::NAN,
        });
        splits.push(CpuSplit {
            name: "(l) SET, redis-benchmark",
            requests: ceiling.requests,
            generator: ceiling.client_cpu,
            latch: None,
            redis: ceiling.server_cpu,
        });
        let site = Site::new(&root, "redis-site", &users);
        let sessions_flag = format!("--sessions={}", redis.url());
        // Runs a workload, timing the CPU of all three processes.
        let drive_split = |name, server: &Process, expect, make| {
            let (generator, latch, redis_cpu) =
                (cpu_time_of("self"), server.cpu_time(), redis.cpu_time());
            let stats = drive(server.addr, expect, make);
            let split = CpuSplit {
                name,
                requests: stats.ok,
                generator: cpu_time_of("self") - generator,
                latch: Some(server.cpu_time() - latch),
                redis: redis.cpu_time() - redis_cpu,
            };
            (stats, split)
        };
        if options.wants('j') {
            let server = Process::start(&latch, &site.args(&www, &[&sessions_flag]));
            let cookies: Arc<Vec<String>> =
                Arc::new((0..conns).map(|_| login(server.addr)).collect());
            server.reset_peak_rss();
            let (stats, split) = drive_split(
                "(j) GET /account, Redis",
                &server,
                200,
                per_connection_get("/account", &cookies),
            );
            splits.push(split);
            let versus = match files_account_rate.is_nan() {
                true => ratio(stats.rate(), base_rate),
                false => ratio_of(stats.rate(), files_account_rate, "(a)"),
            };
            rows.push(row(
                "(j) GET /account signed in, Redis",
                &stats,
                versus,
                &server,
            ));
        }
        if options.wants('k') {
            let budget = ((set_rate * options.seconds as f64) as usize).clamp(2_000, 200_000);
            let sessions = Arc::new(redis.write_sessions(&runtime, budget, &password_hash));
            let server = Process::start(&latch, &site.args(&www, &[&sessions_flag]));
            server.reset_peak_rss();
            let (logouts, split) = drive_split(
                "(k) POST /logout keep, Redis",
                &server,
                303,
                one_session_each(&sessions),
            );
            splits.push(split);
            rows.push(row(
                "(k) POST /logout keep, Redis",
                &logouts,
                ratio_of(logouts.rate(), set_rate, "(l)"),
                &server,
            ));
        }
    }

    if options.wants('h') {
        // (h) GET /account with 1,000 and with 100,000 session files around.
        let mut thousand_rate = f64::NAN;
        for (name, files) in [
            ("(h) GET /account, 1,000 files", 1_000),
            ("(h) GET /account, 100,000 files", 100_000),
        ] {
            let site = Site::new(&root, &name[..3], &users);
            let sessions = site.write_sessions(files, &password_hash);
            let cookies: Arc<Vec<String>> =
                Arc::new(sessions.into_iter().take(conns).map(|(c, _)| c).collect());
            let server = Process::start(&latch, &site.args(&www, &[]));
            server.reset_peak_rss();
            let stats = drive(server.addr, 200, per_connection_get("/account", &cookies));
            let versus = if files == 1_000 {
                thousand_rate = stats.rate();
                ratio(stats.rate(), base_rate)
            } else {
                ratio_of(stats.rate(), thousand_rate, "1k files")
            };
            rows.push(row(name, &stats, versus, &server));
        }
    }

    print_table(&rows);
    print_cpu_splits(&splits, set_rate);
    let site = Site::new(&root, "start", &users);
    let starts: Vec<f64> = (0..5)
        .map(|_| start_to_first_answer(&latch, &site.args(&www, &[])))
        .collect();
    let best = starts.iter().cloned().fold(f64::INFINITY, f64::min);
    let size = std::fs::metadata(&latch).map_or(0, |m| m.len());
    println!();
    println!(
        "release binary (stripped): {:.2} MiB",
        size as f64 / 1024.0 / 1024.0
    );
    println!("start to first answered request: best {best:.1} ms of 5 (all: {starts:.1?})");
    println!("peak RSS: the server's VmHWM, reset after setup (/proc/PID/clear_refs), so it covers the load only");
    println!("(d), (e), (h): sessions written straight to disk as latch writes them; (a), (j): through POST /login; (k): through latch's RedisStore");
    println!("same bytes: examples/hello.rs answering the response latch gave for that page in this run (checked: the same bytes, date aside), measured in one-second turns with the page");
    println!("CPU/req: the server's CPU time (user + system, all threads) per answered request; unlike req/s, it does not depend on what the load generator and the machine's other work leave of the cores");
    let _ = std::fs::remove_dir_all(&root);
}

/// Runs the same requests against latch and against its same-bytes
/// baseline in alternating one-second turns until each has had `duration`.
/// Whatever slows this shared machine down meanwhile (another build, a
/// change of CPU clock) then falls on both alike, so their ratio holds
/// steadier than that of two runs one after the other. Each turn starts
/// with fresh connections, as a run does. Each server's CPU time is read
/// around its turns, for its CPU per request.
fn in_turns(
    runtime: &tokio::runtime::Runtime,
    connections: usize,
    duration: Duration,
    [latch, same_bytes]: [&Process; 2],
    make: &MakeRequest,
) -> (Stats, Stats) {
    let turns = duration.as_secs().max(1);
    let turn = duration / turns as u32;
    let (mut on_latch, mut on_same_bytes) = (Stats::default(), Stats::default());
    for _ in 0..turns {
        for (server, total) in [(latch, &mut on_latch), (same_bytes, &mut on_same_bytes)] {
            let cpu = server.cpu_time();
            let load = run(server.addr, connections, turn, 200, Arc::clone(make));
            let mut stats = runtime.block_on(load);
            stats.server_cpu = server.cpu_time() - cpu;
            total.add(stats);
        }
    }
    (on_latch, on_same_bytes)
}

fn cores() -> f64 {
    std::thread::available_parallelism().map_or(1, |n| n.get()) as f64
}

fn parse_options() -> Options {
    let mut options = Options {
        seconds: 10,
        connections: 64,
        only: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let value = args.next();
        let number = value.as_deref().and_then(|v| v.parse::<u64>().ok());
        match (arg.as_str(), number) {
            ("--seconds", Some(v)) => options.seconds = v,
            ("--connections", Some(v)) => options.connections = v as usize,
            ("--only", _) if value.is_some() => options.only = value,
            _ => {
                eprintln!(
                    "usage: cargo run --release --example bench [-- --seconds N --connections N --only abcdefghijkl]"
                );
                std::process::exit(2);
            }
        }
    }
    options
}

/// Builds what is measured, so the numbers are never of a stale binary.
fn build(repo: &Path) {
    let status = std::process::Command::new(env!("CARGO"))
        .args(["build", "--release", "--bin", "latch", "--example", "hello"])
        .current_dir(repo)
        .status()
        .expect("cargo runs");
    assert!(status.success(), "the release build failed");
}

/// A request's parts: method, path, cookie, form body.
type Parts = (&'static str, &'static str, Option<String>, Option<String>);

fn get(path: &'static str, cookie: Option<String>) -> Parts {
    ("GET", path, cookie, None)
}

fn post(path: &'static str, cookie: Option<String>, form: String) -> Parts {
    ("POST", path, cookie, Some(form))
}

/// The same request over and over.
fn fixed(parts: Parts) -> MakeRequest {
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

fn ratio(rate: f64, base: f64) -> String {
    format!("{:.2}", rate / base)
}

fn ratio_of(rate: f64, base: f64, of: &str) -> String {
    format!("{:.2} of {of}", rate / base)
}

fn row(name: &str, stats: &Stats, versus: String, server: &Process) -> Row {
    if stats.errors > 0 {
        eprintln!("{name}: {} errors", stats.errors);
    }
    Row {
        name: name.to_string(),
        rate: stats.rate(),
        p50: stats.percentile_ms(50.0),
        p99: stats.percentile_ms(99.0),
        versus,
        versus_same_bytes: "-".into(),
        cpu_us: f64::NAN,
        rss_mib: server.peak_rss_mib(),
    }
}

/// Where the CPU of one request went, across the three processes of a
/// Redis workload.
struct CpuSplit {
    name: &'static str,
    requests: u64,
    generator: Duration,
    latch: Option<Duration>,
    redis: Duration,
}

/// The CPU splits, in µs per request, and for each latch workload the
/// cores its three processes together would need at half the rate of (l),
/// `set_rate`: what the target asks of this machine's cores.
fn print_cpu_splits(splits: &[CpuSplit], set_rate: f64) {
    if splits.is_empty() {
        return;
    }
    let per = |d: Duration, n: u64| d.as_secs_f64() * 1e6 / n.max(1) as f64;
    println!();
    println!("CPU per request on the Redis workloads (user + system, µs):");
    println!(
        "| {:<28} | {:>14} | {:>8} | {:>12} | {:>8} | {:>22} |",
        "workload", "load generator", "latch", "redis-server", "total", "cores at 0.5 of (l)"
    );
    println!(
        "|{:-<30}|{:->16}|{:->10}|{:->14}|{:->10}|{:->24}|",
        "", "", "", "", "", ""
    );
    for s in splits {
        let generator = per(s.generator, s.requests);
        let redis = per(s.redis, s.requests);
        let latch = s.latch.map(|d| per(d, s.requests));
        let total = generator + latch.unwrap_or(0.0) + redis;
        let cores = match latch {
            Some(_) => format!("{:.2}", 0.5 * set_rate * total / 1e6),
            None => "-".into(),
        };
        println!(
            "| {:<28} | {:>14.1} | {:>8} | {:>12.1} | {:>8.1} | {:>22} |",
            s.name,
            generator,
            latch.map_or("-".into(), |l| format!("{l:.1}")),
            redis,
            total,
            cores
        );
    }
    println!(
        "({} cores here; redis-server runs commands on one thread)",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
}

fn print_table(rows: &[Row]) {
    println!();
    println!(
        "| {:<42} | {:>10} | {:>8} | {:>8} | {:<18} | {:<15} | {:>10} | {:>9} |",
        "workload", "req/s", "p50 ms", "p99 ms", "vs", "vs same bytes", "CPU/req", "peak RSS"
    );
    println!(
        "|{:-<44}|{:->12}|{:->10}|{:->10}|{:-<20}|{:-<17}|{:->12}|{:->11}|",
        "", "", "", "", "", "", "", ""
    );
    for r in rows {
        let or_dash = |value: f64, text: String| if value.is_nan() { "-".into() } else { text };
        let p50 = or_dash(r.p50, format!("{:.2}", r.p50));
        let p99 = or_dash(r.p99, format!("{:.2}", r.p99));
        let cpu = or_dash(r.cpu_us, format!("{:.1} µs", r.cpu_us));
        let rss = or_dash(r.rss_mib, format!("{:.1} MiB", r.rss_mib));
        println!(
            "| {:<42} | {:>10.0} | {:>8} | {:>8} | {:<18} | {:<15} | {:>10} | {:>9} |",
            r.name, r.rate, p50, p99, r.versus, r.versus_same_bytes, cpu, rss
        );
    }
}
