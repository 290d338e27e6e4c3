//! The command line: flags and environment variables to a `Command`.
//! Every error is one line naming the flag (or variable) and the bad value;
//! `main` prints it and exits with status 2.

use std::ffi::OsString;
use std::fmt;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::path::PathBuf;

use lexopt::prelude::*;

use crate::redirect::safe_next;

pub const USAGE: &str = "\
latch: sign people in and out, with sessions kept as JSON files

usage:
  latch [serve] [FLAGS]            serve HTTP
  latch adduser NAME [--users FILE]  add or replace a user (password: first line of stdin)
  latch deluser NAME [--users FILE]  remove a user
  latch sessions [--sessions DIR] [--users FILE] [--idle-timeout S]  list live sessions
  latch clearsessions [--sessions DIR] [--idle-timeout S]  delete expired and unreadable session files

serve flags (environment variable, default):
  --addr HOST:PORT         LATCH_ADDR             127.0.0.1:8080
  --sessions DIR           LATCH_SESSIONS         sessions
  --www DIR                LATCH_WWW              www
  --users FILE             LATCH_USERS            users.htpasswd
  --session-ttl SECONDS    LATCH_SESSION_TTL      1209600 (14 days)
  --logout-redirect PATH   LATCH_LOGOUT_REDIRECT  /
  --logout-flush           LATCH_LOGOUT_FLUSH=1   off: logout keeps non-auth data
  --secure-cookies         LATCH_SECURE_COOKIES=1 off: on means __Host-sid and Secure
  --idle-timeout SECONDS   LATCH_IDLE_TIMEOUT     0 (off)
  --login-throttle N       LATCH_LOGIN_THROTTLE   5 (0: off)
  --max-connections N      LATCH_MAX_CONNECTIONS  512 (more are answered 503 and closed)
  --max-sessions N         LATCH_MAX_SESSIONS     100000 (session files; past it new anonymous ones get 503)
  --trace                  LATCH_TRACE=1          off: a step table per request on stderr
  --trusted-proxy IP       LATCH_TRUSTED_PROXY    none: X-Forwarded-For is believed only from this address
  -h, --help               this text
";

/// What the command line asks for.
#[derive(Debug, PartialEq)]
pub enum Command {
    Serve(Config),
    AddUser {
        name: String,
        users: PathBuf,
    },
    DelUser {
        name: String,
        users: PathBuf,
    },
    Sessions {
        sessions: PathBuf,
        users: PathBuf,
        idle_timeout: u64,
    },
    ClearSessions {
        sessions: PathBuf,
        idle_timeout: u64,
    },
    Help,
}

/// Everything `latch serve` needs to know.
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    pub addr: SocketAddr,
    pub sessions: PathBuf,
    pub www: PathBuf,
    pub users: PathBuf,
    pub session_ttl: u64,
    /// Already checked to be a safe local path, encoded for `Location`.
    pub logout_redirect: String,
    pub logout_flush: bool,
    pub secure_cookies: bool,
    pub idle_timeout: u64,
    pub login_throttle: u32,
    /// Open connections served at once; more are refused.
    pub max_connections: usize,
    /// Session files the dir may hold before new anonymous sessions are
    /// refused (sign-in and existing sessions are not).
    pub max_sessions: usize,
    /// The reverse proxy whose `X-Forwarded-For` names the client.
    pub trusted_proxy: Option<IpAddr>,
    /// Print a step table for every request (`trace`).
    pub trace: bool,
}

/// A bad command line, as the one line to print.
#[derive(Debug, PartialEq)]
pub struct UsageError(pub String);

impl fmt::Display for UsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "latch: {} (try --help)", self.0)
    }
}

impl From<lexopt::Error> for UsageError {
    fn from(e: lexopt::Error) -> UsageError {
        UsageError(e.to_string())
    }
}

/// Parses `args` (without the program name). `env` looks up an environment
/// variable; flags win over variables, variables over defaults.
pub fn parse(
    args: impl IntoIterator<Item = OsString>,
    env: impl Fn(&str) -> Option<String>,
) -> Result<Command, UsageError> {
    let mut parser = lexopt::Parser::from_args(args);
    let mut config = Config::from_env(&env)?;
    let mut subcommand: Option<String> = None;
    let mut name: Option<String> = None;
    while let Some(arg) = parser.next()? {
        match arg {
            Short('h') | Long("help") => return Ok(Command::Help),
            Long("addr") => config.addr = parse_addr("--addr", &text(&mut parser)?)?,
            Long("sessions") => config.sessions = parser.value()?.into(),
            Long("www") => config.www = parser.value()?.into(),
            Long("users") => config.users = parser.value()?.into(),
            Long("session-ttl") => {
                config.session_ttl = parse_positive("--session-ttl", &text(&mut parser)?)?;
            }
            Long("logout-redirect") => {
                config.logout_redirect = parse_redirect("--logout-redirect", &text(&mut parser)?)?;
            }
            Long("logout-flush") => config.logout_flush = true,
            Long("trace") => config.trace = true,
            Long("secure-cookies") => config.secure_cookies = true,
            Long("idle-timeout") => {
                config.idle_timeout = parse_number("--idle-timeout", &text(&mut parser)?)?;
            }
            Long("trusted-proxy") => {
                config.trusted_proxy = Some(parse_ip("--trusted-proxy", &text(&mut parser)?)?);
            }
            Long("max-connections") => {
                config.max_connections = parse_positive("--max-connections", &text(&mut parser)?)?;
            }
            Long("max-sessions") => {
                config.max_sessions = parse_positive("--max-sessions", &text(&mut parser)?)?;
            }
            Long("login-throttle") => {
                config.login_throttle = parse_number("--login-throttle", &text(&mut parser)?)?;
            }
            Value(value) if subcommand.is_none() => subcommand = Some(os_text(value)?),
            Value(value) if name.is_none() && takes_name(subcommand.as_deref()) => {
                name = Some(os_text(value)?);
            }
            _ => return Err(arg.unexpected().into()),
        }
    }
    build(subcommand.as_deref(), name, config)
}

fn takes_name(subcommand: Option<&str>) -> bool {
    matches!(subcommand, Some("adduser" | "deluser"))
}

fn build(
    subcommand: Option<&str>,
    name: Option<String>,
    config: Config,
) -> Result<Command, UsageError> {
    let need_name = |name: Option<String>| {
        name.ok_or_else(|| UsageError("adduser and deluser need a user NAME".into()))
    };
    Ok(match subcommand {
        None | Some("serve") => Command::Serve(config),
        Some("adduser") => Command::AddUser {
            name: need_name(name)?,
            users: config.users,
        },
        Some("deluser") => Command::DelUser {
            name: need_name(name)?,
            users: config.users,
        },
        Some("sessions") => Command::Sessions {
            sessions: config.sessions,
            users: config.users,
            idle_timeout: config.idle_timeout,
        },
        Some("clearsessions") => Command::ClearSessions {
            sessions: config.sessions,
            idle_timeout: config.idle_timeout,
        },
        Some(other) => return Err(UsageError(format!("unknown command '{other}'"))),
    })
}

impl Config {
    /// The defaults, overridden by whichever `LATCH_*` variables are set.
    fn from_env(env: &impl Fn(&str) -> Option<String>) -> Result<Config, UsageError> {
        let mut c = Config {
            addr: SocketAddr::from(([127, 0, 0, 1], 8080)),
            sessions: "sessions".into(),
            www: "www".into(),
            users: "users.htpasswd".into(),
            session_ttl: 14 * 24 * 3600,
            logout_redirect: "/".into(),
            logout_flush: false,
            secure_cookies: false,
            idle_timeout: 0,
            login_throttle: 5,
            max_connections: 512,
            max_sessions: 100_000,
            trusted_proxy: None,
            trace: false,
        };
        if let Some(v) = env("LATCH_ADDR") {
            c.addr = parse_addr("LATCH_ADDR", &v)?;
        }
        if let Some(v) = env("LATCH_SESSIONS") {
            c.sessions = v.into();
        }
        if let Some(v) = env("LATCH_WWW") {
            c.www = v.into();
        }
        if let Some(v) = env("LATCH_USERS") {
            c.users = v.into();
        }
        if let Some(v) = env("LATCH_SESSION_TTL") {
            c.session_ttl = parse_positive("LATCH_SESSION_TTL", &v)?;
        }
        if let Some(v) = env("LATCH_LOGOUT_REDIRECT") {
            c.logout_redirect = parse_redirect("LATCH_LOGOUT_REDIRECT", &v)?;
        }
        if let Some(v) = env("LATCH_LOGOUT_FLUSH") {
            c.logout_flush = parse_switch("LATCH_LOGOUT_FLUSH", &v)?;
        }
        if let Some(v) = env("LATCH_SECURE_COOKIES") {
            c.secure_cookies = parse_switch("LATCH_SECURE_COOKIES", &v)?;
        }
        if let Some(v) = env("LATCH_IDLE_TIMEOUT") {
            c.idle_timeout = parse_number("LATCH_IDLE_TIMEOUT", &v)?;
        }
        if let Some(v) = env("LATCH_TRACE") {
            c.trace = parse_switch("LATCH_TRACE", &v)?;
        }
        if let Some(v) = env("LATCH_TRUSTED_PROXY") {
            c.trusted_proxy = Some(parse_ip("LATCH_TRUSTED_PROXY", &v)?);
        }
        if let Some(v) = env("LATCH_MAX_CONNECTIONS") {
            c.max_connections = parse_positive("LATCH_MAX_CONNECTIONS", &v)?;
        }
        if let Some(v) = env("LATCH_MAX_SESSIONS") {
            c.max_sessions = parse_positive("LATCH_MAX_SESSIONS", &v)?;
        }
        if let Some(v) = env("LATCH_LOGIN_THROTTLE") {
            c.login_throttle = parse_number("LATCH_LOGIN_THROTTLE", &v)?;
        }
        Ok(c)
    }
}

fn text(parser: &mut lexopt::Parser) -> Result<String, UsageError> {
    os_text(parser.value()?)
}

fn os_text(value: OsString) -> Result<String, UsageError> {
    value
        .into_string()
        .map_err(|v| UsageError(format!("{v:?} is not valid UTF-8")))
}

fn bad(flag: &str, value: &str, expected: &str) -> UsageError {
    UsageError(format!(
        "invalid value '{value}' for {flag}: expected {expected}"
    ))
}

fn parse_addr(flag: &str, value: &str) -> Result<SocketAddr, UsageError> {
    value
        .to_socket_addrs()
        .ok()
        .and_then(|mut addrs| addrs.next())
        .ok_or_else(|| bad(flag, value, "HOST:PORT, such as 127.0.0.1:8080"))
}

fn parse_ip(flag: &str, value: &str) -> Result<IpAddr, UsageError> {
    value
        .parse()
        .map_err(|_| bad(flag, value, "an IP address, such as 127.0.0.1"))
}

fn parse_number<T: std::str::FromStr>(flag: &str, value: &str) -> Result<T, UsageError> {
    value
        .parse()
        .map_err(|_| bad(flag, value, "a whole number, 0 or more"))
}

fn parse_positive<T: std::str::FromStr + PartialEq + Default>(
    flag: &str,
    value: &str,
) -> Result<T, UsageError> {
    match parse_number(flag, value)? {
        n if n == T::default() => Err(bad(flag, value, "a whole number, 1 or more")),
        n => Ok(n),
    }
}

fn parse_switch(flag: &str, value: &str) -> Result<bool, UsageError> {
    match value {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" | "" => Ok(false),
        _ => Err(bad(flag, value, "1 or 0")),
    }
}

fn parse_redirect(flag: &str, value: &str) -> Result<String, UsageError> {
    safe_next(value).ok_or_else(|| bad(flag, value, "a local path such as /goodbye.html"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(args: &[&str], env: &[(&str, &str)]) -> Result<Command, UsageError> {
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        parse(args.iter().map(OsString::from), |key| {
            env.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone())
        })
    }

    fn serve(args: &[&str], env: &[(&str, &str)]) -> Config {
        match run(args, env) {
            Ok(Command::Serve(config)) => config,
            other => panic!("expected serve, got {other:?}"),
        }
    }

    #[test]
    fn defaults_match_the_spec() {
        let c = serve(&[], &[]);
        assert_eq!(c.addr.to_string(), "127.0.0.1:8080");
        assert_eq!(c.sessions, PathBuf::from("sessions"));
        assert_eq!(c.www, PathBuf::from("www"));
        assert_eq!(c.users, PathBuf::from("users.htpasswd"));
        assert_eq!(c.session_ttl, 1_209_600);
        assert_eq!(c.logout_redirect, "/");
        assert!(!c.logout_flush && !c.secure_cookies);
        assert_eq!((c.idle_timeout, c.login_throttle), (0, 5));
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
            (vec!["--bogus"], vec![], "--bogus"),
            (vec!["frobnicate"], vec![], "frobnicate"),
            (vec!["adduser"], vec![], "NAME"),
        ] {
            let err = run(&args, &env).unwrap_err().to_string();
            assert!(err.contains(needle), "{err} should name {needle}");
            assert!(!err.contains('\n'), "one line: {err}");
        }
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
            run(
                &[
                    "clearsessions",
                    "--sessions",
                    "/tmp/s",
                    "--idle-timeout",
                    "60"
                ],
                &[]
            ),
            Ok(Command::ClearSessions {
                sessions: "/tmp/s".into(),
                idle_timeout: 60
            })
        );
        assert_eq!(run(&["--help"], &[]), Ok(Command::Help));
    }
}
