//! The command line: words, flags and environment variables to a `Command`.
//!
//! `latch [COMMAND] [NAME] [FLAGS]`. Each command takes only its own flags
//! and reads only their variables (`flags::FLAGS` says which); a flag beats
//! its variable, a variable beats the default. Every error is one line
//! naming the flag (or variable) and the bad value; `main` prints it and
//! exits with status 2 (contract: Commands).

pub mod check;
pub mod flags;
pub mod help;
pub mod password;

use std::ffi::OsString;
use std::fmt;
use std::path::PathBuf;

use lexopt::prelude::*;

pub use flags::{Config, Flag, FLAGS};

use crate::sessions::store::{Durability, Location};

/// The commands, each described once (`Verb::about`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verb {
    Serve,
    Check,
    AddUser,
    DelUser,
    Users,
    CheckPassword,
    Sessions,
    ClearSessions,
}

/// What the help says about a command.
pub struct About {
    pub name: &'static str,
    /// The word after the command's name, if it takes one (`NAME`).
    pub operand: Option<&'static str>,
    /// One line for the list of commands.
    pub summary: &'static str,
    /// A paragraph for the command's own help.
    pub details: &'static str,
}

impl Verb {
    pub const ALL: [Verb; 8] = [
        Verb::Serve,
        Verb::Check,
        Verb::AddUser,
        Verb::DelUser,
        Verb::Users,
        Verb::CheckPassword,
        Verb::Sessions,
        Verb::ClearSessions,
    ];

    pub fn about(self) -> About {
        let (name, operand, summary, details) = match self {
            Verb::Serve => (
                "serve",
                None,
                "serve HTTP (the command when none is given)",
                "Serves HTTP until SIGINT or SIGTERM. When the users file does not exist, \
                 creates it with one user, admin, and prints admin's random password once.",
            ),
            Verb::Check => (
                "check",
                None,
                "check a configuration before a (re)start",
                "Reads the flags and variables serve would read and checks, without changing \
                 anything, the users file (readable, owner-only, every line usable), the \
                 sessions directory (owner-only, writable, or creatable), the www dir and the \
                 address. Prints each problem; exit 1 if there is one, 0 with a summary if not.",
            ),
            Verb::AddUser => (
                "adduser",
                Some("NAME"),
                "add a user, or change their password",
                "Adds user NAME, or replaces their password, with an argon2id hash. At a \
                 terminal it asks twice, without echo; otherwise the password is the first line \
                 of standard input. An empty password is refused. Creates the users file when \
                 missing.",
            ),
            Verb::DelUser => (
                "deluser",
                Some("NAME"),
                "remove a user",
                "Removes user NAME.",
            ),
            Verb::Users => (
                "users",
                None,
                "list the user names",
                "Prints the user names, one a line; never a hash.",
            ),
            Verb::CheckPassword => (
                "checkpassword",
                Some("NAME"),
                "check a user's password (as htpasswd -v)",
                "Reads a password as adduser does (asked once at a terminal) and checks it \
                 against NAME's hash: exit 0 when it is right, 1 when it is not.",
            ),
            Verb::Sessions => (
                "sessions",
                None,
                "list live sessions",
                "One line per live session: the start of its file name, the user (or - when \
                 no sign-in stands), created and expires. Never a session id.",
            ),
            Verb::ClearSessions => (
                "clearsessions",
                None,
                "delete expired and unreadable session files",
                "Deletes expired and unreadable session files and prints how many.",
            ),
        };
        About {
            name,
            operand,
            summary,
            details,
        }
    }

    pub fn named(word: &str) -> Option<Verb> {
        Verb::ALL.into_iter().find(|verb| verb.about().name == word)
    }
}

impl fmt::Display for Verb {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.about().name)
    }
}

/// What the command line asks for.
#[derive(Debug, PartialEq)]
pub enum Command {
    Serve(Config),
    Check(Config),
    AddUser {
        name: String,
        users: PathBuf,
    },
    DelUser {
        name: String,
        users: PathBuf,
    },
    Users {
        users: PathBuf,
    },
    CheckPassword {
        name: String,
        users: PathBuf,
    },
    Sessions {
        sessions: Location,
        redis_durability: Durability,
        idle_timeout: u64,
        /// To tell a sign-in that no longer stands (user removed or
        /// password changed) from one that does.
        users: PathBuf,
    },
    ClearSessions {
        sessions: Location,
        redis_durability: Durability,
        idle_timeout: u64,
    },
    /// The usage of one command, or of latch as a whole.
    Help(Option<Verb>),
    Version,
}

/// A bad command line, as the one line to print: what is wrong, and where
/// the help is (the command's own, once the command is known).
#[derive(Debug, PartialEq)]
pub struct UsageError {
    pub message: String,
    pub verb: Option<Verb>,
}

impl UsageError {
    pub fn new(message: impl Into<String>) -> UsageError {
        UsageError {
            message: message.into(),
            verb: None,
        }
    }

    fn of(self, verb: Verb) -> UsageError {
        UsageError {
            verb: Some(verb),
            ..self
        }
    }
}

impl fmt::Display for UsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.verb {
            Some(verb) => write!(f, "latch: {} (see latch help {verb})", self.message),
            None => write!(f, "latch: {} (see latch --help)", self.message),
        }
    }
}

impl From<lexopt::Error> for UsageError {
    fn from(e: lexopt::Error) -> UsageError {
        UsageError::new(e.to_string())
    }
}

/// The command line split into its words, before any is interpreted.
#[derive(Default)]
struct Words {
    positional: Vec<String>,
    /// Each flag given, with its value (`1` for a switch), in order.
    flags: Vec<(&'static Flag, String)>,
    help: bool,
    version: bool,
}

/// Parses `args` (without the program name). `env` looks up an environment
/// variable; only the variables of the command's own flags are looked up.
pub fn parse(
    args: impl IntoIterator<Item = OsString>,
    env: impl Fn(&str) -> Option<String>,
) -> Result<Command, UsageError> {
    let words = split(args)?;
    if words.version {
        return Ok(Command::Version);
    }
    let mut positional = words.positional.into_iter();
    let first = positional.next();
    if first.as_deref() == Some("help") {
        if let Some((flag, _)) = words.flags.first() {
            return Err(UsageError::new(format!("help does not take {}", flag.name)));
        }
        return help_for(positional.next(), positional.next());
    }
    let verb = match &first {
        None => Verb::Serve,
        Some(word) => Verb::named(word).ok_or_else(|| unknown_command(word))?,
    };
    if words.help {
        return Ok(Command::Help(first.map(|_| verb)));
    }
    let name = operand(verb, positional).map_err(|e| e.of(verb))?;
    for (flag, _) in &words.flags {
        if !flag.commands.contains(&verb) {
            let message = format!("{verb} does not take {}", flag.name);
            return Err(UsageError::new(message).of(verb));
        }
    }
    let config = configure(verb, &words.flags, &env).map_err(|e| e.of(verb))?;
    Ok(command(verb, name, config))
}

/// Splits the line into positional words and known flags with their values.
fn split(args: impl IntoIterator<Item = OsString>) -> Result<Words, UsageError> {
    let mut parser = lexopt::Parser::from_args(args);
    let mut words = Words::default();
    while let Some(arg) = parser.next()? {
        match arg {
            Short('h') | Long("help") => words.help = true,
            Short('V') | Long("version") => words.version = true,
            Long(name) => {
                let spelled = format!("--{name}");
                let flag = flags::find(&spelled)
                    .ok_or_else(|| UsageError::new(format!("unknown flag {spelled}")))?;
                let value = match flag.is_switch() {
                    true => "1".to_owned(),
                    false => text(parser.value()?)?,
                };
                words.flags.push((flag, value));
            }
            Value(value) => words.positional.push(text(value)?),
            Short(_) => return Err(arg.unexpected().into()),
        }
    }
    Ok(words)
}

/// `latch help [COMMAND]`.
fn help_for(topic: Option<String>, extra: Option<String>) -> Result<Command, UsageError> {
    if let Some(extra) = extra {
        return Err(unexpected(&extra));
    }
    match topic.as_deref() {
        None | Some("help") => Ok(Command::Help(None)),
        Some(word) => Verb::named(word)
            .map(|verb| Command::Help(Some(verb)))
            .ok_or_else(|| unknown_command(word)),
    }
}

/// The command's NAME, when it takes one; no other word is allowed.
fn operand(
    verb: Verb,
    mut rest: impl Iterator<Item = String>,
) -> Result<Option<String>, UsageError> {
    let name = match verb.about().operand {
        Some(what) => Some(
            rest.next()
                .ok_or_else(|| UsageError::new(format!("{verb} needs a user {what}")))?,
        ),
        None => None,
    };
    match rest.next() {
        Some(extra) => Err(unexpected(&extra)),
        None => Ok(name),
    }
}

/// Defaults, then the variables of `verb`'s flags, then the flags given.
fn configure(
    verb: Verb,
    given: &[(&'static Flag, String)],
    env: &impl Fn(&str) -> Option<String>,
) -> Result<Config, UsageError> {
    let mut config = Config::default();
    for flag in flags::of(verb) {
        if let Some(value) = env(flag.env) {
            (flag.set)(&mut config, &value, flag.env)?;
        }
    }
    for (flag, value) in given {
        (flag.set)(&mut config, value, flag.name)?;
    }
    Ok(config)
}

fn command(verb: Verb, name: Option<String>, config: Config) -> Command {
    let name = || name.expect("operand() gave every command that takes a NAME its NAME");
    match verb {
        Verb::Serve => Command::Serve(config),
        Verb::Check => Command::Check(config),
        Verb::AddUser => Command::AddUser {
            name: name(),
            users: config.users,
        },
        Verb::DelUser => Command::DelUser {
            name: name(),
            users: config.users,
        },
        Verb::Users => Command::Users {
            users: config.users,
        },
        Verb::CheckPassword => Command::CheckPassword {
            name: name(),
            users: config.users,
        },
        Verb::Sessions => Command::Sessions {
            sessions: config.sessions,
            redis_durability: config.redis_durability,
            idle_timeout: config.idle_timeout,
            users: config.users,
        },
        Verb::ClearSessions => Command::ClearSessions {
            sessions: config.sessions,
            redis_durability: config.redis_durability,
            idle_timeout: config.idle_timeout,
        },
    }
}

fn text(value: OsString) -> Result<String, UsageError> {
    value
        .into_string()
        .map_err(|v| UsageError::new(format!("{v:?} is not valid UTF-8")))
}

fn unknown_command(word: &str) -> UsageError {
    UsageError::new(format!("unknown command '{word}'"))
}

fn unexpected(word: &str) -> UsageError {
    UsageError::new(format!("unexpected argument '{word}'"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(args: &[&str], env: &[(&str, &str)]) -> Result<Command, UsageError> {
        parse(args.iter().map(OsString::from), |key| {
            env.iter()
                .find(|(k, _)| *k == key)
                .map(|(_, v)| v.to_string())
        })
    }

    fn serve(args: &[&str], env: &[(&str, &str)]) -> Config {
        match run(args, env) {
            Ok(Command::Serve(config)) => config,
            other => panic!("expected serve, got {other:?}"),
        }
    }

    #[test]
    fn no_command_is_serve_with_the_defaults() {
        assert_eq!(serve(&[], &[]), Config::default());
    }

    #[test]
    fn flags_win_over_environment() {
        let env = [
            ("LATCH_SESSION_TTL", "60"),
            ("LATCH_LOGOUT_FLUSH", "1"),
            ("LATCH_WWW", "/srv"),
        ];
        let c = serve(
            &["serve", "--session-ttl", "30", "--addr=127.0.0.1:0"],
            &env,
        );
        assert_eq!(c.session_ttl, 30);
        assert!(c.logout_flush);
        assert_eq!(c.www, PathBuf::from("/srv"));
        assert_eq!(c.addr.port(), 0);
    }

    #[test]
    fn bad_values_name_the_flag() {
        for (args, env, needle) in [
            (vec!["--addr", "nope"], vec![], "--addr"),
            (vec!["--session-ttl", "0"], vec![], "--session-ttl"),
            (vec!["--idle-timeout", "-1"], vec![], "--idle-timeout"),
            (vec!["--login-throttle", "x"], vec![], "--login-throttle"),
            (vec!["--max-sessions", "0"], vec![], "--max-sessions"),
            (vec!["--client-timeout", "soon"], vec![], "--client-timeout"),
            (
                vec!["--logout-redirect", "//evil.example"],
                vec![],
                "--logout-redirect",
            ),
            (
                vec!["--logout-redirect", "https://evil.example/"],
                vec![],
                "--logout-redirect",
            ),
            (
                vec![],
                vec![("LATCH_SECURE_COOKIES", "maybe")],
                "LATCH_SECURE_COOKIES",
            ),
            (vec!["--trace=1"], vec![], "--trace"),
            (vec!["--bogus"], vec![], "--bogus"),
            (vec!["frobnicate"], vec![], "frobnicate"),
            (vec!["adduser"], vec![], "NAME"),
            (vec!["adduser", "a", "b"], vec![], "'b'"),
            (vec!["users", "a"], vec![], "'a'"),
            (
                vec!["adduser", "a", "--session-ttl", "5"],
                vec![],
                "--session-ttl",
            ),
            (vec!["help", "frobnicate"], vec![], "frobnicate"),
            (vec!["help", "--users", "u"], vec![], "--users"),
        ] {
            let err = run(&args, &env).unwrap_err().to_string();
            assert!(err.contains(needle), "{err} should name {needle}");
            assert!(!err.contains('\n'), "one line: {err}");
        }
    }

    #[test]
    fn a_command_reads_only_its_own_variables() {
        let env = [("LATCH_ADDR", "bogus"), ("LATCH_SESSIONS", "/s")];
        assert_eq!(
            run(&["clearsessions"], &env),
            Ok(Command::ClearSessions {
                sessions: Location::Dir("/s".into()),
                redis_durability: Durability::Strict,
                idle_timeout: 0
            })
        );
        assert!(run(&["serve"], &env).is_err());
    }

    #[test]
    fn subcommands_take_their_own_flags() {
        assert_eq!(
            run(&["adduser", "alice", "--users", "u.txt"], &[]),
            Ok(Command::AddUser {
                name: "alice".into(),
                users: "u.txt".into()
            })
        );
        assert_eq!(
            run(&["--users", "u.txt", "checkpassword", "bob"], &[]),
            Ok(Command::CheckPassword {
                name: "bob".into(),
                users: "u.txt".into()
            })
        );
        assert_eq!(
            run(
                &["sessions", "--sessions", "/tmp/s", "--idle-timeout", "60"],
                &[("LATCH_USERS", "u")]
            ),
            Ok(Command::Sessions {
                sessions: Location::Dir("/tmp/s".into()),
                redis_durability: Durability::Strict,
                idle_timeout: 60,
                users: "u".into(),
            })
        );
    }

    #[test]
    fn help_and_version_are_found_anywhere() {
        assert_eq!(run(&["--help"], &[]), Ok(Command::Help(None)));
        assert_eq!(run(&["help"], &[]), Ok(Command::Help(None)));
        assert_eq!(
            run(&["help", "adduser"], &[]),
            Ok(Command::Help(Some(Verb::AddUser)))
        );
        assert_eq!(
            run(&["adduser", "-h"], &[]),
            Ok(Command::Help(Some(Verb::AddUser)))
        );
        assert_eq!(run(&["serve", "--version"], &[]), Ok(Command::Version));
    }
}
