//! `latch check`: would `latch serve` start, and serve what the operator
//! meant, with this configuration? Run it before a restart. It reads what
//! serve would read and changes nothing (the one exception: a probe file,
//! created and removed at once, to learn whether the sessions dir is
//! writable; its name is a temporary file's, which a server removes if it
//! is ever left behind).

use std::fs::{self, OpenOptions};
use std::io::{self, ErrorKind};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

use super::Config;
use crate::auth::users::{SignInCost, Users, HASHING_BUDGET_MIB};
use crate::http::encoding::hex;
use crate::os::atomic_file::TEMP_PREFIX;
use crate::os::random::random_32;
use crate::sessions::store::{Durability, Location, Store};

/// What `check` found: lines that are fine, warnings (it would serve, but
/// maybe not as meant), and problems, each naming the thing it is about.
#[derive(Debug, Default)]
pub struct Report {
    pub fine: Vec<String>,
    pub warnings: Vec<String>,
    pub problems: Vec<String>,
}

impl Report {
    fn fine(&mut self, line: String) {
        self.fine.push(line);
    }

    fn warning(&mut self, line: String) {
        self.warnings.push(line);
    }

    fn problem(&mut self, line: String) {
        self.problems.push(line);
    }
}

/// Checks, in order: the users file, the sessions store, the www dir and
/// the address.
pub fn run(config: &Config) -> Report {
    let mut report = Report::default();
    users_file(&config.users, &mut report);
    match &config.sessions {
        Location::Dir(dir) => sessions_dir(dir, &mut report),
        redis => redis_url(redis, config, &mut report),
    }
    www_dir(&config.www, &mut report);
    // The parser has resolved it already; a running server holds the
    // port, so trying to bind it here would only give a false alarm.
    report.fine(format!("addr {}", config.addr));
    report
}

/// Readable, owner-only (it holds password hashes), every line usable,
/// at least one user.
fn users_file(path: &Path, report: &mut Report) {
    let name = format!("users file {}", path.display());
    let meta = match fs::metadata(path) {
        Ok(meta) if meta.is_file() => meta,
        Ok(_) => return report.problem(format!("{name}: not a regular file")),
        Err(e) if e.kind() == ErrorKind::NotFound => {
            return report.problem(format!(
                "{name}: does not exist (serve would create it with a new admin user)"
            ))
        }
        Err(e) => return report.problem(format!("{name}: {e}")),
    };
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        report.problem(format!(
            "{name}: mode {mode:04o} lets others read the password hashes (chmod 600 it)"
        ));
    }
    // Read as serve reads it: bounded, and never blocking on what was
    // swapped in since the look above.
    let (users, line_problems) = match Users::load(path) {
        Ok(loaded) => loaded,
        Err(why) => return report.problem(why),
    };
    let clean = line_problems.is_empty();
    for problem in line_problems {
        report.problem(format!("{name}: {problem}"));
    }
    match users.len() {
        0 if clean => report.problem(format!("{name}: holds no user, so nobody can sign in")),
        1 => report.fine(format!("{name}: 1 user, mode {mode:04o}")),
        count => report.fine(format!("{name}: {count} users, mode {mode:04o}")),
    }
    sign_in_cost(&users, report);
}

/// What one failed sign-in will cost (docs/contract.md, "Login
/// throttling"), and a warning for a hash that makes every sign-in wait.
fn sign_in_cost(users: &Users, report: &mut Report) {
    let cost = SignInCost::of(users);
    let mib = |kib: u32| kib.div_ceil(1024);
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    report.fine(format!(
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
        report.warning(format!(
            "{line}: every failed sign-in is held that long, and such checks run alone \
             or nearly; rehash with `latch adduser {user}`"
        ));
    } else {
        report.fine(format!("sign-in: {line}"));
    }
}

/// A check slower than this makes every failed sign-in that slow.
const SLOW_CHECK: std::time::Duration = std::time::Duration::from_millis(500);

/// Exists and is a writable directory, or can be created. Wider than
/// owner-only is fine: serve tightens it to 0700 at start.
fn sessions_dir(path: &Path, report: &mut Report) {
    let name = format!("sessions dir {}", path.display());
    match fs::metadata(path) {
        Ok(meta) if meta.is_dir() => {
            let mode = meta.permissions().mode() & 0o777;
            if let Err(e) = probe_writable(path) {
                return report.problem(format!("{name}: not writable: {e}"));
            }
            let note = match mode & 0o077 {
                0 => String::new(),
                _ => " (serve tightens it to 0700 at start)".to_owned(),
            };
            report.fine(format!("{name}: writable, mode {mode:04o}{note}"));
        }
        Ok(_) => report.problem(format!("{name}: not a directory")),
        Err(e) if e.kind() == ErrorKind::NotFound => match creatable(path) {
            Ok(()) => report.fine(format!("{name}: serve will create it, mode 0700")),
            Err(e) => report.problem(format!("{name}: does not exist and cannot be created: {e}")),
        },
        Err(e) => report.problem(format!("{name}: {e}")),
    }
}

/// Creates and removes a file in `dir`: the only sure test, since mode
/// bits say nothing of a read-only mount, and nothing at all to root.
fn probe_writable(dir: &Path) -> io::Result<()> {
    let probe = dir.join(format!("{TEMP_PREFIX}check-{}", hex(&random_32()[..8])));
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&probe)?;
    fs::remove_file(&probe)
}

/// Whether the nearest existing ancestor is a directory we can write in.
fn creatable(path: &Path) -> io::Result<()> {
    let ancestor = path
        .ancestors()
        .skip(1)
        .map(|a| {
            if a.as_os_str().is_empty() {
                Path::new(".")
            } else {
                a
            }
        })
        .find(|a| a.exists())
        .unwrap_or(Path::new("."));
    if !ancestor.is_dir() {
        let why = format!("{} is not a directory", ancestor.display());
        return Err(io::Error::new(ErrorKind::NotADirectory, why));
    }
    probe_writable(ancestor)
}

/// The URL parses, the server answers, and the setup keeps a sign-out:
/// what `serve`'s checks at start look at (docs/contract.md, "The Redis
/// store"), each line naming what it found, each shortfall a problem. With
/// `--redis-durability relaxed` a shortfall is fine, and the line says
/// what it may lose. A URL that does not parse is refused before anything
/// is tried, with the same words `serve` would print.
fn redis_url(location: &Location, config: &Config, report: &mut Report) {
    let name = location.shown();
    let settings = config.store_settings(None);
    let surveyed = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())
        .map(|runtime| runtime.block_on(Store::survey(location, &settings)));
    let survey = match surveyed {
        Ok(Ok(Some(survey))) => survey,
        Ok(Ok(None)) => return,
        Ok(Err(e)) => return report.problem(format!("{name}: {e}")),
        Err(e) => return report.problem(format!("{name}: cannot start the async runtime: {e}")),
    };
    for line in survey.fine {
        report.fine(format!("{name}: {line}"));
    }
    for shortfall in survey.shortfalls {
        match config.redis_durability {
            Durability::Strict => report.problem(format!("{name}: {shortfall}")),
            Durability::Relaxed => report.fine(format!(
                "{name}: accepted by --redis-durability relaxed: {shortfall}"
            )),
        }
    }
}

/// Serve runs without it (built-in pages only), but a www dir that is
/// configured and missing is most likely a typo.
fn www_dir(path: &Path, report: &mut Report) {
    let name = format!("www dir {}", path.display());
    match fs::read_dir(path) {
        Ok(_) => report.fine(name),
        Err(e) if e.kind() == ErrorKind::NotFound => report.problem(format!(
            "{name}: not found (serve would show its built-in pages only)"
        )),
        Err(e) => report.problem(format!("{name}: {e}")),
    }
}
