//! `latch check` (contract: Commands): would `latch serve` start, and serve
//! what the operator meant, with this configuration? It changes nothing but
//! a probe file in the sessions dir (`Store::check`) and the address, bound
//! and let go at once; where serve would fail, it says so in serve's words.

use std::fs;
use std::io::{self, ErrorKind};
use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use super::Config;
use crate::auth::users::{SignInCost, Users, HASHING_BUDGET_MIB};
use crate::sessions::store::{Durability, Store};

/// What `check` found: lines that are fine, warnings (it would serve, but
/// maybe not as meant), and problems, each naming the thing it is about.
#[derive(Debug, Default)]
pub struct Report {
    pub fine: Vec<String>,
    pub warnings: Vec<String>,
    pub problems: Vec<String>,
}

/// Checks, in order: the users file, the sessions store, the www dir and
/// the address.
pub fn run(config: &Config) -> Report {
    let mut report = Report::default();
    users_file(&config.users, &mut report);
    sessions(config, &mut report);
    www_dir(&config.www, &mut report);
    addr(config.addr, &mut report);
    report
}

/// Readable, owner-only (it holds password hashes), every line usable,
/// at least one user.
fn users_file(path: &Path, report: &mut Report) {
    let name = format!("users file {}", path.display());
    let meta = match fs::metadata(path) {
        Ok(meta) if meta.is_file() => meta,
        Ok(_) => return report.problems.push(format!("{name}: not a regular file")),
        Err(e) if e.kind() == ErrorKind::NotFound => {
            return report.problems.push(format!(
                "{name}: does not exist (serve would create it with a new admin user)"
            ))
        }
        Err(e) => return report.problems.push(format!("{name}: {e}")),
    };
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        report.problems.push(format!(
            "{name}: mode {mode:04o} lets others read the password hashes (chmod 600 it)"
        ));
    }
    // Read as serve reads it: bounded, and never blocking on what was
    // swapped in since the look above.
    let (users, line_problems) = match Users::load(path) {
        Ok(loaded) => loaded,
        Err(why) => return report.problems.push(why),
    };
    let clean = line_problems.is_empty();
    for problem in line_problems {
        report.problems.push(format!("{name}: {problem}"));
    }
    match users.len() {
        0 if clean => report
            .problems
            .push(format!("{name}: holds no user, so nobody can sign in")),
        n => {
            let s = if n == 1 { "" } else { "s" };
            report
                .fine
                .push(format!("{name}: {n} user{s}, mode {mode:04o}"))
        }
    }
    sign_in_cost(&users, report);
}

/// What one failed sign-in will cost (docs/contract.md, "Login
/// throttling"), and a warning for a hash that makes every sign-in wait.
fn sign_in_cost(users: &Users, report: &mut Report) {
    let cost = SignInCost::of(users);
    let mib = |kib: u32| kib.div_ceil(1024);
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    report.fine.push(format!(
        "sign-in: a failed one is answered after about {} ms and holds {} MiB while checked; \
         checks run at most {cores} at once (one per core) within {HASHING_BUDGET_MIB} MiB",
        cost.failure.as_millis(),
        mib(cost.decoy_kib),
    ));
    let Some((user, kind, took)) = cost.costliest else {
        return;
    };
    let line = format!(
        "the costliest hash, {user}'s ({kind}), takes about {} ms and {} MiB per check",
        took.as_millis(),
        mib(kind.memory_kib())
    );
    let runs_alone = kind.memory_kib() > HASHING_BUDGET_MIB * 1024 / 2;
    if took > SLOW_CHECK || runs_alone {
        report.warnings.push(format!(
            "{line}: every failed sign-in is held that long, and such checks run alone \
             or nearly; rehash with `latch adduser {user}`"
        ));
    } else {
        report.fine.push(format!("sign-in: {line}"));
    }
}

/// A check slower than this makes every failed sign-in that slow.
const SLOW_CHECK: std::time::Duration = std::time::Duration::from_millis(500);

/// The store as `serve` would open it (`Store::check`): a dir writable or
/// creatable; a Redis reachable, with everything its checks at start look
/// at. Each shortfall is a problem, or, with `--redis-durability relaxed`,
/// fine, the line saying what it may lose.
fn sessions(config: &Config, report: &mut Report) {
    let name = config.sessions.shown();
    let settings = config.store_settings(None);
    let checked = super::runtime(tokio::runtime::Builder::new_current_thread()).and_then(|rt| {
        let survey = rt.block_on(Store::check(&config.sessions, &settings));
        survey.map_err(|e| e.to_string())
    });
    let survey = match checked {
        Ok(survey) => survey,
        Err(e) => return report.problems.push(format!("{name}: {e}")),
    };
    for line in survey.fine {
        report.fine.push(format!("{name}: {line}"));
    }
    for shortfall in survey.shortfalls {
        match config.redis_durability {
            Durability::Strict => report.problems.push(format!("{name}: {shortfall}")),
            Durability::Relaxed => report.fine.push(format!(
                "{name}: accepted by --redis-durability relaxed: {shortfall}"
            )),
        }
    }
}

/// The address, bound as `serve` binds it, and let go at once. In use is
/// only a warning: before a restart, the running latch holds it.
fn addr(addr: SocketAddr, report: &mut Report) {
    let Err(e) = std::net::TcpListener::bind(addr) else {
        return report.fine.push(format!("addr {addr}: free"));
    };
    let line = format!("addr {addr}: {}", cannot_listen(addr, &e));
    match e.kind() {
        ErrorKind::AddrInUse => report.warnings.push(line),
        _ => report.problems.push(line),
    }
}

/// Why `addr` cannot be listened on, and what to do: `serve` fails with it,
/// `check` says it.
pub fn cannot_listen(addr: SocketAddr, error: &io::Error) -> String {
    let port = addr.port();
    match error.kind() {
        ErrorKind::AddrInUse => format!(
            "in use (by a running latch? Then a restart frees it first; if not, \
             `ss -ltnp 'sport = :{port}'` names the program holding it)"
        ),
        ErrorKind::AddrNotAvailable => format!(
            "not an address of this host ({error}); give --addr one of its addresses \
             (`ip -brief address`), or 0.0.0.0 for all"
        ),
        ErrorKind::PermissionDenied if port < 1024 => format!(
            "{error}; a port below 1024 needs root or CAP_NET_BIND_SERVICE: \
             use a port above 1023 behind the reverse proxy"
        ),
        _ => error.to_string(),
    }
}

/// Serve runs without it (built-in pages only), but a www dir that is
/// configured and missing is most likely a typo.
fn www_dir(path: &Path, report: &mut Report) {
    let name = format!("www dir {}", path.display());
    match fs::read_dir(path) {
        Ok(_) => report.fine.push(name),
        Err(e) if e.kind() == ErrorKind::NotFound => report.problems.push(format!(
            "{name}: not found (serve would show its built-in pages only)"
        )),
        Err(e) => report.problems.push(format!("{name}: {e}")),
    }
}
