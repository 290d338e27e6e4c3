//! `latch`: pick the subcommand, run it, map errors to exit codes
//! (2: a bad command line; 1: anything else that stops us).

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use latch::app::App;
use latch::auth::users::{self, Users, UsersFile};
use latch::cli::password::{self, Ask};
use latch::cli::{self, check, help, Command, Config, Verb};
use latch::http::dates::iso8601;
use latch::sessions::now;
use latch::sessions::store::Store;
use tokio::runtime::Builder;

fn main() -> ExitCode {
    latch::os::memory::return_large_blocks_to_the_system();
    let command = match cli::parse(std::env::args_os().skip(1), |key| std::env::var(key).ok()) {
        Ok(command) => command,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    if !matches!(&command, Command::Run { verb, .. } if *verb == Verb::Serve) {
        latch::os::sys::die_quietly_on_closed_stdout();
    }
    let result = match command {
        Command::Help(verb) => {
            print!("{}", help::usage(verb));
            Ok(())
        }
        Command::Version => {
            println!("{}", help::version());
            Ok(())
        }
        Command::Run { verb, name, config } => {
            let name = || name.expect("the parser gives NAME to every command that takes one");
            match verb {
                Verb::Serve => serve(*config),
                Verb::Check => return check_config(&config),
                Verb::Sessions => run(list_sessions(&config)),
                Verb::ClearSessions => run(clear_sessions(&config)),
                Verb::AddUser => add_user(&name(), &config.users),
                Verb::DelUser => del_user(&name(), &config.users),
                Verb::Users => list_users(&config.users),
                Verb::CheckPassword => check_password(&name(), &config.users),
            }
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("latch: {message}");
            ExitCode::FAILURE
        }
    }
}

/// Serves, once everything that can refuse a start has said yes, in the
/// order that leaves nothing behind when one says no: the address bound
/// (a failure there has made nothing yet), then the sessions store opened
/// (the file store's dir made, its lock and space reserve; the Redis store
/// connected, and its durability checked, on the runtime that will drive
/// its connection). Only then does a first run create the users file.
fn serve(config: Config) -> Result<(), String> {
    cli::runtime(Builder::new_multi_thread())?.block_on(async {
        let listener = tokio::net::TcpListener::bind(config.addr)
            .await
            .map_err(|e| {
                let why = check::cannot_listen(config.addr, &e);
                format!("cannot listen on {}: {why}", config.addr)
            })?;
        let settings = config.store_settings(Some(config.max_sessions));
        let store = Store::open(&config.sessions, &settings)
            .await
            .map_err(|e| format!("cannot use {}: {e}", config.sessions.shown()))?;
        if !config.users.exists() {
            bootstrap_users(&config.users)?;
        }
        let users = UsersFile::open(&config.users)?;
        let app = App::new(config, store, users);
        if app.www_root.is_none() {
            eprintln!(
                "www dir {} not found: serving built-in pages only",
                app.config.www.display()
            );
        }
        latch::server::serve(Arc::new(app), listener)
            .await
            .map_err(|e| e.to_string())
    })
}

/// The store `latch sessions` and `latch clearsessions` read, beside a
/// server that may be running on it (`Store::open_beside_server`).
async fn open_beside_server(config: &Config) -> Result<Store, String> {
    let sessions = &config.sessions;
    Store::open_beside_server(sessions, &config.store_settings(None))
        .await
        .map_err(|e| format!("cannot read {}: {e}", sessions.shown()))
}

/// `latch sessions` (contract: Commands). The user shows only while the
/// sign-in stands, judged as the server judges it (`auth::sign_in_stands`).
async fn list_sessions(config: &Config) -> Result<(), String> {
    let store = open_beside_server(config).await?;
    let (users, _) = Users::load(&config.users)?;
    let listings = store
        .list(now())
        .await
        .map_err(|e| format!("cannot list sessions: {e}"))?;
    println!(
        "{:<14} {:<20} {:<20} {:<20}",
        "SESSION", "USER", "CREATED", "EXPIRES"
    );
    for s in listings {
        let user = s
            .record
            .user()
            .filter(|_| latch::auth::sign_in_stands(&users, &s.record, s.epoch));
        println!(
            "{:<14} {:<20} {:<20} {:<20}",
            s.label.to_string(),
            user.unwrap_or("-"),
            iso8601(s.record.created),
            iso8601(s.record.expires)
        );
    }
    Ok(())
}

/// `latch clearsessions` (contract: Commands; what goes, `Store::clear`).
async fn clear_sessions(config: &Config) -> Result<(), String> {
    let store = open_beside_server(config).await?;
    let removed = store
        .clear(now())
        .await
        .map_err(|e| format!("cannot clear {}: {e}", config.sessions.shown()))?;
    println!("removed {removed}");
    Ok(())
}

/// Runs a command's store work on a single-threaded runtime.
fn run(work: impl std::future::Future<Output = Result<(), String>>) -> Result<(), String> {
    cli::runtime(Builder::new_current_thread())?.block_on(work)
}

/// First run: no users file yet. Create one with `admin` and a random
/// password, and show that password this once: it is stored only hashed.
fn bootstrap_users(path: &Path) -> Result<(), String> {
    let password = users::random_password();
    let mut users = Users::default();
    users.set("admin", users::hash_password(&password));
    users.save(path)?;
    println!(
        "first run: created users file {} with user admin",
        path.display()
    );
    println!("admin password: {password}");
    Ok(())
}

/// `latch adduser NAME`, the password read as `password` says (asked twice
/// at a terminal).
fn add_user(name: &str, path: &Path) -> Result<(), String> {
    users::check_name(name)?;
    let password = password::read(Ask::Twice)?;
    let mut users = if path.exists() {
        Users::load(path)?.0
    } else {
        Users::default()
    };
    let replaced = users.hash_of(name).is_some();
    users.set(name, users::hash_password(&password));
    users.save(path)?;
    let verb = if replaced { "updated" } else { "added" };
    println!("{verb} user {name} in {}", path.display());
    Ok(())
}

/// `latch deluser NAME`.
fn del_user(name: &str, path: &Path) -> Result<(), String> {
    let (mut users, _) = Users::load(path)?;
    if !users.remove(name) {
        return Err(format!("no user {name} in {}", path.display()));
    }
    users.save(path)?;
    println!("removed user {name} from {}", path.display());
    Ok(())
}

/// `latch users` (contract: Commands). A line that names no user (or
/// repeats one) is said as `serve` logs it: never quoted, it may hold anything.
fn list_users(path: &Path) -> Result<(), String> {
    let (users, problems) = Users::load(path)?;
    let listing = users.listing();
    for user in &listing {
        match user.unusable {
            None => println!("{}", user.name),
            Some(why) => println!("{} (disabled: line {}: {why})", user.name, user.line),
        }
    }
    for problem in problems {
        if !listing.iter().any(|user| user.line == problem.line) {
            eprintln!("latch: users file {} {problem}", path.display());
        }
    }
    Ok(())
}

/// `latch checkpassword NAME` (contract: Commands): the verdict goes to
/// standard error, leaving standard output empty for scripts.
fn check_password(name: &str, path: &Path) -> Result<(), String> {
    let (users, _) = Users::load(path)?;
    let hash = users
        .hash_of(name)
        .ok_or_else(|| format!("no user {name} in {}", path.display()))?;
    let password = password::read(Ask::Once)?;
    if !users::verify(&password, hash) {
        return Err(format!("password for user {name} is wrong"));
    }
    eprintln!("latch: password for user {name} is correct");
    Ok(())
}

/// `latch check`: what is fine on standard output, each problem on
/// standard error; exit 1 if there is any problem.
fn check_config(config: &Config) -> ExitCode {
    let report = check::run(config);
    for line in &report.fine {
        println!("{line}");
    }
    for warning in &report.warnings {
        eprintln!("latch check: warning: {warning}");
    }
    for problem in &report.problems {
        eprintln!("latch check: {problem}");
    }
    match report.problems.len() {
        0 => {
            println!("ok");
            ExitCode::SUCCESS
        }
        n => {
            let s = if n == 1 { "" } else { "s" };
            eprintln!("latch check: {n} problem{s}");
            ExitCode::FAILURE
        }
    }
}
