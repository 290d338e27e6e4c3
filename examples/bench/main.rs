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
//! The workloads are a table (`workloads::WORKLOADS`): each says its
//! letter, what it measures, what it runs on and which workloads it is
//! compared with; `main` runs those `--only` asks for, in table order.
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
mod workloads;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use load::{run, MakeRequest, Stats};
use redis::RedisProcess;
use servers::{cpu_time_of, start_same_bytes, start_to_first_answer, Process, Site};
use workloads::{FilesServer, RedisSite, Run};

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

fn main() {
    let mut bench = Bench::new(parse_options());
    println!(
        "latch benchmark: {} cores, {} connections, {}s per workload, closed loop on hyper's client",
        cores(),
        bench.options.connections,
        bench.options.seconds
    );
    bench.baseline();
    // What a workload runs on is started when the first workload needs it,
    // and stopped when the next one needs something else.
    let (mut files, mut redis): (Option<FilesServer>, Option<RedisSite>) = (None, None);
    for workload in workloads::wanted(&bench.options) {
        match workload.run {
            Run::Alone(run) => {
                (files, redis) = (None, None);
                run(&mut bench, workload);
            }
            Run::OnFiles(run) => {
                redis = None;
                let files = files.get_or_insert_with(|| FilesServer::start(&bench));
                run(&mut bench, workload, files);
            }
            Run::OnRedis(run) => {
                files = None;
                let redis = redis.get_or_insert_with(|| RedisSite::start(&bench));
                run(&mut bench, workload, redis);
            }
        }
    }
    drop((files, redis));
    bench.report();
}

/// What every workload runs with, the rows so far, and what the workloads
/// before it measured for it to compare with (`NaN` until measured).
struct Bench {
    options: Options,
    latch: PathBuf,
    hello: PathBuf,
    /// `target/bench/`, each server's directory under it.
    root: PathBuf,
    users: PathBuf,
    password_hash: String,
    www: PathBuf,
    runtime: tokio::runtime::Runtime,
    rows: Vec<Row>,
    splits: Vec<CpuSplit>,
    /// Bare hyper's rate, the baseline of every `vs`.
    base_rate: f64,
    /// (a)'s rate and p99: (g) and (j) are compared with them.
    account_rate: f64,
    account_p99: f64,
    /// (i): what (d) and (e) are compared with.
    disk_ceiling: f64,
    /// (l): what (k) is compared with, and the rate the CPU splits read.
    set_rate: f64,
}

impl Bench {
    /// Builds what is measured, and lays out `target/bench/`.
    fn new(options: Options) -> Bench {
        let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        build(&repo);
        let root = repo.join("target/bench");
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(&root).unwrap();
        let users = root.join("users.htpasswd");
        Bench {
            options,
            // LATCH_BENCH_BINARY=target/profiling/latch runs the build with
            // symbols, for `perf record -p PID` while a workload runs.
            latch: std::env::var_os("LATCH_BENCH_BINARY")
                .map_or_else(|| repo.join("target/release/latch"), PathBuf::from),
            hello: repo.join("target/release/examples/hello"),
            password_hash: servers::write_users(&users),
            users,
            root,
            www: repo.join("www"),
            runtime: tokio::runtime::Runtime::new().unwrap(),
            rows: Vec::new(),
            splits: Vec::new(),
            base_rate: f64::NAN,
            account_rate: f64::NAN,
            account_p99: f64::NAN,
            disk_ceiling: f64::NAN,
            set_rate: f64::NAN,
        }
    }

    fn connections(&self) -> usize {
        self.options.connections
    }

    fn duration(&self) -> Duration {
        Duration::from_secs(self.options.seconds)
    }

    /// A fresh directory for a server of the workload `name`.
    fn site(&self, name: &str) -> Site {
        Site::new(&self.root, name, &self.users)
    }

    /// `latch serve` on `site`, plus `extra` flags.
    fn start_latch(&self, site: &Site, extra: &[&str]) -> Process {
        Process::start(&self.latch, &site.args(&self.www, extra))
    }

    /// Loads the server at `addr` for the run's duration.
    fn drive(&self, addr: std::net::SocketAddr, expect: u16, make: MakeRequest) -> Stats {
        let load = run(addr, self.connections(), self.duration(), expect, make);
        self.runtime.block_on(load)
    }

    /// Adds the row of a workload measured on `server`.
    fn push(&mut self, name: &str, stats: &Stats, versus: String, server: &Process) {
        self.rows.push(row(name, stats, versus, server));
    }

    /// Bare hyper, same wiring, no work.
    fn baseline(&mut self) {
        let server = Process::start(&self.hello, &["127.0.0.1:0".into()]);
        let make = workloads::fixed(workloads::get("/", None));
        let stats = self.drive(server.addr, 200, make);
        self.base_rate = stats.rate();
        self.push(
            "bare hyper hello (baseline)",
            &stats,
            "1.00".into(),
            &server,
        );
    }

    /// A page workload beside its same-bytes baseline: latch's answer to
    /// `GET path` becomes the baseline's, then both are measured in turns.
    /// Adds the two rows, baseline first; returns latch's measurement.
    fn beside_same_bytes(
        &mut self,
        name: &str,
        server: &Process,
        path: &str,
        cookie: Option<&str>,
        make: &MakeRequest,
    ) -> Stats {
        let capture = self.root.join("same-bytes.http");
        let same = start_same_bytes(&self.hello, server.addr, path, cookie, &capture);
        let (page, baseline) = in_turns(self, [server, &same], make);
        let versus = |stats: &Stats| ratio(stats.rate(), self.base_rate);
        let baseline_name = format!("same bytes as {} (baseline)", &name[..3]);
        let rows = [
            row(&baseline_name, &baseline, versus(&baseline), &same).beside(&baseline, &baseline),
            row(name, &page, versus(&page), server).beside(&page, &baseline),
        ];
        self.rows.extend(rows);
        page
    }

    /// Drives a Redis workload, timing the CPU of all three processes
    /// (load generator, latch, redis-server) into a split named `name`.
    fn drive_split(
        &mut self,
        name: &'static str,
        server: &Process,
        redis: &RedisProcess,
        expect: u16,
        make: MakeRequest,
    ) -> Stats {
        let (generator, latch, redis_cpu) =
            (cpu_time_of("self"), server.cpu_time(), redis.cpu_time());
        let stats = self.drive(server.addr, expect, make);
        self.splits.push(CpuSplit {
            name,
            requests: stats.ok,
            generator: cpu_time_of("self") - generator,
            latch: Some(server.cpu_time() - latch),
            redis: redis.cpu_time() - redis_cpu,
        });
        stats
    }

    /// The tables, then what is measured once: the binary's size and its
    /// start.
    fn report(self) {
        print_table(&self.rows);
        print_cpu_splits(&self.splits, self.set_rate);
        let site = self.site("start");
        let starts: Vec<f64> = (0..5)
            .map(|_| start_to_first_answer(&self.latch, &site.args(&self.www, &[])))
            .collect();
        let best = starts.iter().cloned().fold(f64::INFINITY, f64::min);
        let size = std::fs::metadata(&self.latch).map_or(0, |m| m.len());
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
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

/// Runs the same requests against latch and against its same-bytes
/// baseline in alternating one-second turns until each has had the run's
/// duration. Whatever slows this shared machine down meanwhile (another
/// build, a change of CPU clock) then falls on both alike, so their ratio
/// holds steadier than that of two runs one after the other. Each turn
/// starts with fresh connections, as a run does. Each server's CPU time is
/// read around its turns, for its CPU per request.
fn in_turns(
    bench: &Bench,
    [latch, same_bytes]: [&Process; 2],
    make: &MakeRequest,
) -> (Stats, Stats) {
    let duration = bench.duration();
    let turns = duration.as_secs().max(1);
    let turn = duration / turns as u32;
    let (mut on_latch, mut on_same_bytes) = (Stats::default(), Stats::default());
    for _ in 0..turns {
        for (server, total) in [(latch, &mut on_latch), (same_bytes, &mut on_same_bytes)] {
            let cpu = server.cpu_time();
            let load = run(
                server.addr,
                bench.connections(),
                turn,
                200,
                Arc::clone(make),
            );
            let mut stats = bench.runtime.block_on(load);
            stats.server_cpu = server.cpu_time() - cpu;
            total.add(stats);
        }
    }
    (on_latch, on_same_bytes)
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
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
    /// A row for a ceiling another tool measured: no server of latch's,
    /// so no CPU or memory of its own.
    fn measured(name: &str, rate: f64, p50: f64, p99: f64, versus: &str) -> Row {
        Row {
            name: name.to_string(),
            rate,
            p50,
            p99,
            versus: versus.to_string(),
            versus_same_bytes: "-".into(),
            cpu_us: f64::NAN,
            rss_mib: f64::NAN,
        }
    }

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
    let (p50, p99) = (stats.percentile_ms(50.0), stats.percentile_ms(99.0));
    Row {
        rss_mib: server.peak_rss_mib(),
        ..Row::measured(name, stats.rate(), p50, p99, &versus)
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
        cores()
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
