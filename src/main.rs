//! `latch`: pick the subcommand, run it, map errors to exit codes
//! (2: a bad command line; 1: anything else that stops us).

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use latch::app::App;
use latch::cli::{self, Command, Config};
use latch::dates::iso8601;
use latch::session::now;
use latch::session_store::Store;
use latch::users::{self, Users, UsersFile};

fn main() -> ExitCode {
    latch::memory::return_large_blocks_to_the_system();
    let command = match cli::parse(std::env::args_os().skip(1), |key| std::env::var(key).ok()) {
        Ok(command) => command,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let result = match command {
        Command::Help => {
            print!("{}", cli::USAGE);
            Ok(())
        }
        Command::Serve(config) => serve(config),
        Command::Sessions {
            sessions,
            users,
            idle_timeout,
        } => list_sessions(&sessions, &users, idle_timeout),
        Command::ClearSessions {
            sessions,
            idle_timeout,
        } => Store::at(&sessions, idle_timeout)
            .and_then(|store| store.sweep(now(), &|_| true))
            .map(|removed| println!("{removed}"))
            .map_err(|e| format!("cannot clear {}: {e}", sessions.display())),
        Command::AddUser { name, users } => add_user(&name, &users),
        Command::DelUser { name, users } => del_user(&name, &users),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("latch: {message}");
            ExitCode::FAILURE
        }
    }
}

fn serve(config: Config) -> Result<(), String> {
    if !config.users.exists() {
        bootstrap_users(&config.users)?;
    }
    let users = UsersFile::open(&config.users)?;
    let store = Store::open(&config.sessions, config.idle_timeout)
        .map_err(|e| format!("cannot use sessions dir {}: {e}", config.sessions.display()))?
        .with_max_sessions(config.max_sessions);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the async runtime: {e}"))?;
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(config.addr)
            .await
            .map_err(|e| format!("cannot listen on {}: {e}", config.addr))?;
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

/// `latch sessions`: one line per live session, oldest first. The file
/// name prefix identifies it; the id (the cookie) is never shown, since
/// the store cannot know it. The user is shown only while the sign-in
/// stands, judged as the server judges it (users file and epochs, read
/// only): after `deluser`, a password change or "sign out everywhere" it
/// is `-`, as it is for a session no one signed in to.
fn list_sessions(sessions: &Path, users: &Path, idle_timeout: u64) -> Result<(), String> {
    let users = Users::load(users)?;
    let store = Store::at(sessions, idle_timeout)
        .map_err(|e| format!("cannot read sessions dir {}: {e}", sessions.display()))?;
    let stands = |record: &latch::session::Record| {
        record.sign_in_stands(|user| {
            Some(users::session_auth_hash(
                users.hash_of(user)?,
                store.epoch(user),
            ))
        })
    };
    let listings = store
        .list(now(), &stands)
        .map_err(|e| format!("cannot list sessions: {e}"))?;
    println!(
        "{:<14} {:<20} {:<20} {:<20}",
        "FILE", "USER", "CREATED", "EXPIRES"
    );
    for s in listings {
        println!(
            "{:<14} {:<20} {:<20} {:<20}",
            s.file_prefix,
            s.user.as_deref().unwrap_or("-"),
            iso8601(s.created),
            iso8601(s.expires)
        );
    }
    Ok(())
}

/// First run: no users file yet. Create one with `admin` and a random
/// password, and show that password this once: it is stored only hashed.
fn bootstrap_users(path: &Path) -> Result<(), String> {
    let password = users::random_password();
    let mut users = Users::default();
    users.set("admin", users::hash_password(&password));
    users
        .save(path)
        .map_err(|e| format!("cannot create users file {}: {e}", path.display()))?;
    println!(
        "first run: created users file {} with user admin",
        path.display()
    );
    println!("admin password: {password}");
    Ok(())
}

/// `latch adduser NAME`: the password is the first line of standard input,
/// so it never appears in the process list or the shell history.
fn add_user(name: &str, path: &Path) -> Result<(), String> {
    users::check_name(name)?;
    let mut line = String::new();
    std::io::stdin()
        .read_line(&mut line)
        .map_err(|e| format!("cannot read the password from standard input: {e}"))?;
    let password = line.trim_end_matches(['\n', '\r']);
    if password.is_empty() {
        return Err("empty password: write it as the first line of standard input".into());
    }
    let mut users = if path.exists() {
        Users::load(path)?
    } else {
        Users::default()
    };
    let replaced = users.hash_of(name).is_some();
    users.set(name, users::hash_password(password));
    users
        .save(path)
        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    let verb = if replaced { "updated" } else { "added" };
    println!("{verb} user {name} in {}", path.display());
    Ok(())
}

/// `latch deluser NAME`.
fn del_user(name: &str, path: &Path) -> Result<(), String> {
    let mut users = Users::load(path)?;
    if !users.remove(name) {
        return Err(format!("no user {name} in {}", path.display()));
    }
    users
        .save(path)
        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    println!("removed user {name} from {}", path.display());
    Ok(())
}
