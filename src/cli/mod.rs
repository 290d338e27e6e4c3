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

use lexopt::prelude::*;

pub use flags::{Config, Flag, Takes, FLAGS};

/// The commands, each described once: its name, its NAME and its help in
/// `Verb::about` (`help.rs`), its flags in `FLAGS`.
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
    /// A command, with its NAME when it takes one, and its flags and
    /// variables read into `config` (the fields of flags it does not take
    /// keep their defaults).
    Run {
        verb: Verb,
        name: Option<String>,
        config: Box<Config>,
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

/// The async runtime a command runs its store work on: the store contract
/// is async (the file store works on tokio's blocking pool, the Redis store
/// drives its connection on the runtime). `serve` gives a multi-threaded
/// builder, the other commands a single-threaded one.
pub fn runtime(mut builder: tokio::runtime::Builder) -> Result<tokio::runtime::Runtime, String> {
    builder
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the async runtime: {e}"))
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
        if !flag.taken_by(verb) {
            let message = format!("{verb} does not take {}", flag.name);
            return Err(UsageError::new(message).of(verb));
        }
    }
    let config = configure(verb, &words.flags, &env).map_err(|e| e.of(verb))?;
    Ok(Command::Run {
        verb,
        name,
        config: Box::new(config),
    })
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
                let flag = FLAGS
                    .iter()
                    .find(|flag| flag.name == spelled)
                    .ok_or_else(|| UsageError::new(format!("unknown flag {spelled}")))?;
                let value = match flag.takes {
                    Takes::Nothing => "1".to_owned(),
                    Takes::Value(_) => text(parser.value()?)?,
                    Takes::Optional(_) => match parser.optional_value() {
                        Some(value) => text(value)?,
                        None => "1".to_owned(),
                    },
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
        let name = flag.env();
        if let Some(value) = env(&name) {
            (flag.set)(&mut config, &value, &name)?;
        }
    }
    for (flag, value) in given {
        (flag.set)(&mut config, value, flag.name)?;
    }
    Ok(config)
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
    use std::path::PathBuf;

    use super::*;
    use crate::sessions::store::Location;

    fn run(args: &[&str], env: &[(&str, &str)]) -> Result<Command, UsageError> {
        parse(args.iter().map(OsString::from), |key| {
            env.iter()
                .find(|(k, _)| *k == key)
                .map(|(_, v)| v.to_string())
        })
    }

    /// The command `args` run, with its NAME and its config.
    fn runs(args: &[&str], env: &[(&str, &str)]) -> (Verb, Option<String>, Config) {
        match run(args, env) {
            Ok(Command::Run { verb, name, config }) => (verb, name, *config),
            other => panic!("expected a command, got {other:?}"),
        }
    }

    fn serve(args: &[&str], env: &[(&str, &str)]) -> Config {
        let (verb, _, config) = runs(args, env);
        assert_eq!(verb, Verb::Serve);
        config
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

    /// What tests/cli.rs does not already refuse through the binary.
    #[test]
    fn bad_values_name_the_flag() {
        for (args, env, needle) in [
            (
                vec![],
                vec![("LATCH_SECURE_COOKIES", "maybe")],
                "LATCH_SECURE_COOKIES",
            ),
            (vec!["--logout-flush=1"], vec![], "--logout-flush"),
            (vec!["adduser"], vec![], "NAME"),
            (vec!["adduser", "a", "b"], vec![], "'b'"),
            (vec!["users", "a"], vec![], "'a'"),
            (vec!["help", "--users", "u"], vec![], "--users"),
        ] {
            let err = run(&args, &env).unwrap_err().to_string();
            assert!(err.contains(needle), "{err} should name {needle}");
            assert!(!err.contains('\n'), "one line: {err}");
        }
    }

    #[test]
    fn trace_is_a_switch_that_may_ask_for_the_summary() {
        use crate::trace::Mode;
        assert_eq!(serve(&["--trace"], &[]).trace, Some(Mode::Full));
        assert_eq!(serve(&["--trace=summary"], &[]).trace, Some(Mode::Summary));
        assert_eq!(serve(&["--trace=0"], &[]).trace, None);
        let env = [("LATCH_TRACE", "summary")];
        assert_eq!(serve(&[], &env).trace, Some(Mode::Summary));
        assert_eq!(serve(&["--trace"], &env).trace, Some(Mode::Full));
        assert_eq!(serve(&[], &[("LATCH_TRACE", "1")]).trace, Some(Mode::Full));
        // `summary` is the flag's value, never the next word: a command.
        assert!(run(&["--trace", "summary"], &[]).is_err());
    }

    #[test]
    fn a_flag_says_the_same_least_value_to_every_value_it_refuses() {
        for (flag, least) in [
            ("--session-ttl", "1 or more"),
            ("--max-connections", "1 or more"),
            ("--max-sessions", "1 or more"),
            ("--client-timeout", "1 or more"),
            ("--idle-timeout", "0 or more"),
            ("--login-throttle", "0 or more"),
        ] {
            for value in ["soon", "-1", "0"] {
                let refused = run(&[flag, value], &[]);
                if least == "0 or more" && value == "0" {
                    assert!(refused.is_ok(), "{flag} 0 turns it off");
                    continue;
                }
                let err = refused.unwrap_err().to_string();
                assert!(err.contains(least) && err.contains(flag), "{value}: {err}");
            }
        }
    }

    #[test]
    fn flags_may_come_before_the_command_and_mix_with_its_variables() {
        let users = Config {
            users: "u.txt".into(),
            ..Config::default()
        };
        let checkpassword = runs(&["--users", "u.txt", "checkpassword", "bob"], &[]);
        assert_eq!(
            checkpassword,
            (Verb::CheckPassword, Some("bob".into()), users)
        );
        let args = ["sessions", "--sessions", "/tmp/s", "--idle-timeout", "60"];
        let sessions = Config {
            sessions: Location::Dir("/tmp/s".into()),
            idle_timeout: 60,
            users: "u".into(),
            ..Config::default()
        };
        assert_eq!(
            runs(&args, &[("LATCH_USERS", "u")]),
            (Verb::Sessions, None, sessions)
        );
    }
}
