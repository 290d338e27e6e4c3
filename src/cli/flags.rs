//! Every flag, defined once: its name, its environment variable, its
//! default, its help text, the commands that take it and how its value is
//! read into `Config`. The parser, the environment lookup, the defaults and
//! the help text are all generated from `FLAGS`, so a flag cannot be
//! documented in one place and parsed in another (contract: Commands).

use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::path::PathBuf;

use super::{UsageError, Verb};
use crate::http::redirect::safe_next;
use crate::sessions::store::{Durability, Location, Settings};
use crate::trace::Mode;

/// Everything a command may need to know; each command reads only the
/// fields of its own flags, and the rest keep their defaults.
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    pub addr: SocketAddr,
    /// A directory, or a `redis://`, `rediss://`, `redis+unix://` or
    /// `redis+sentinel://` URL.
    pub sessions: Location,
    /// How strictly a Redis store holds the server to durable settings.
    pub redis_durability: Durability,
    /// How many replicas confirm a sign-out (`None`: as `sessions` implies,
    /// `Location::default_replica_acks`).
    pub redis_replica_acks: Option<u32>,
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
    /// Live sessions the store holds; new anonymous ones are refused past it.
    pub max_sessions: u64,
    /// Seconds a client has to send its request head, send its body, and
    /// read our response.
    pub client_timeout: u64,
    /// The reverse proxy whose `X-Forwarded-For` names the client.
    pub trusted_proxy: Option<IpAddr>,
    /// Trace every request on standard error, and keep each browser's
    /// recent requests for `GET /_trace` (`trace`); `None`: off.
    pub trace: Option<Mode>,
}

/// One flag of the command line.
pub struct Flag {
    /// As typed: `--addr`.
    pub name: &'static str,
    /// What it takes after its name.
    pub takes: Takes,
    /// The environment variable that sets it when the flag is absent.
    pub env: &'static str,
    /// The default, read by `set` like any value; `None`: unset (a switch
    /// is off, an optional value is absent).
    pub default: Option<&'static str>,
    pub help: &'static str,
    /// The commands that take this flag (and read its variable).
    pub commands: &'static [Verb],
    /// Reads `value` into the config; `source` (the flag or the variable)
    /// is what an error names.
    pub set: fn(&mut Config, value: &str, source: &str) -> Result<(), UsageError>,
}

/// What a flag takes after its name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Takes {
    /// Nothing: a switch, turned on by being there (`set` reads `1`).
    Nothing,
    /// A value (the next word, or after `=`), which looks like this in the
    /// help: `HOST:PORT`.
    Value(&'static str),
    /// A switch that may be given this value after `=`: `--trace`, or
    /// `--trace=summary`.
    Optional(&'static str),
}

impl Flag {
    /// How the help spells it: `--addr HOST:PORT`, `--trace[=summary]`.
    pub fn spelled(&self) -> String {
        match self.takes {
            Takes::Nothing => self.name.to_owned(),
            Takes::Value(value) => format!("{} {value}", self.name),
            Takes::Optional(value) => format!("{}[={value}]", self.name),
        }
    }

    /// How the help shows the default.
    pub fn default_text(&self) -> &'static str {
        match (self.default, self.takes) {
            (Some(text), _) => text,
            (None, Takes::Value(_)) => "none",
            (None, _) => "off",
        }
    }

    /// How the help shows the variable: a switch's with the value that
    /// turns it on.
    pub fn env_text(&self) -> String {
        match self.takes {
            Takes::Nothing => format!("{}=1", self.env),
            Takes::Value(_) => self.env.to_owned(),
            Takes::Optional(value) => format!("{}=1|{value}", self.env),
        }
    }
}

/// Serve reads every flag; `check` validates what serve would read.
const SERVE: &[Verb] = &[Verb::Serve, Verb::Check];
const USERS: &[Verb] = &[
    Verb::Serve,
    Verb::Check,
    Verb::AddUser,
    Verb::DelUser,
    Verb::Users,
    Verb::CheckPassword,
    Verb::Sessions,
];
const SESSIONS: &[Verb] = &[
    Verb::Serve,
    Verb::Check,
    Verb::Sessions,
    Verb::ClearSessions,
];

/// The flags, in the order the help lists them.
pub const FLAGS: &[Flag] = &[
    Flag {
        name: "--addr",
        takes: Takes::Value("HOST:PORT"),
        env: "LATCH_ADDR",
        default: Some("127.0.0.1:8080"),
        help: "where to listen",
        commands: SERVE,
        set: |c, v, source| {
            c.addr = parse_addr(source, v)?;
            Ok(())
        },
    },
    Flag {
        name: "--sessions",
        takes: Takes::Value("DIR|URL"),
        env: "LATCH_SESSIONS",
        default: Some("sessions"),
        help: "the sessions directory (created 0700), or a redis://, rediss://, redis+unix:// \
               or redis+sentinel:// URL",
        commands: SESSIONS,
        set: |c, v, source| {
            c.sessions = match v.is_empty() {
                true => return Err(bad(source, v, "a path or a URL")),
                false => {
                    Location::parse(v).map_err(|why| UsageError::new(format!("{source}: {why}")))?
                }
            };
            Ok(())
        },
    },
    Flag {
        name: "--redis-durability",
        takes: Takes::Value("strict|relaxed"),
        env: "LATCH_REDIS_DURABILITY",
        default: Some("strict"),
        help: "with a Redis store: strict refuses a server that may lose a write \
               (appendonly, appendfsync, maxmemory-policy); relaxed logs it and runs",
        commands: SESSIONS,
        set: |c, v, source| {
            c.redis_durability =
                Durability::parse(v).ok_or_else(|| bad(source, v, "strict or relaxed"))?;
            Ok(())
        },
    },
    Flag {
        name: "--redis-replica-acks",
        takes: Takes::Value("N"),
        env: "LATCH_REDIS_REPLICA_ACKS",
        default: None,
        help: "with a Redis store: how many replicas must hold a sign-out before it is \
               answered (none given: 1 with redis+sentinel://, else 0)",
        commands: SESSIONS,
        set: |c, v, source| {
            c.redis_replica_acks = Some(parse_number(source, v)?);
            Ok(())
        },
    },
    Flag {
        name: "--www",
        takes: Takes::Value("DIR"),
        env: "LATCH_WWW",
        default: Some("www"),
        help: "static files served as they are",
        commands: SERVE,
        set: |c, v, source| {
            c.www = parse_path(source, v)?;
            Ok(())
        },
    },
    Flag {
        name: "--users",
        takes: Takes::Value("FILE"),
        env: "LATCH_USERS",
        default: Some("users.htpasswd"),
        help: "the users file (htpasswd format; serve creates it with an admin when missing)",
        commands: USERS,
        set: |c, v, source| {
            c.users = parse_path(source, v)?;
            Ok(())
        },
    },
    Flag {
        name: "--session-ttl",
        takes: Takes::Value("SECONDS"),
        env: "LATCH_SESSION_TTL",
        default: Some("1209600"),
        help: "a session's lifetime from its creation (1209600: 14 days)",
        commands: SERVE,
        set: |c, v, source| {
            c.session_ttl = parse_positive(source, v)?;
            Ok(())
        },
    },
    Flag {
        name: "--logout-redirect",
        takes: Takes::Value("PATH"),
        env: "LATCH_LOGOUT_REDIRECT",
        default: Some("/"),
        help: "where logout sends the browser when the form names no safe `next` \
               (www/logged-out.html is a page for it: --logout-redirect /logged-out.html)",
        commands: SERVE,
        set: |c, v, source| {
            c.logout_redirect = parse_redirect(source, v)?;
            Ok(())
        },
    },
    Flag {
        name: "--logout-flush",
        takes: Takes::Nothing,
        env: "LATCH_LOGOUT_FLUSH",
        default: None,
        help: "logout deletes the whole session (off: it keeps the non-auth data under a new id)",
        commands: SERVE,
        set: |c, v, source| {
            c.logout_flush = parse_switch(source, v)?;
            Ok(())
        },
    },
    Flag {
        name: "--secure-cookies",
        takes: Takes::Nothing,
        env: "LATCH_SECURE_COOKIES",
        default: None,
        help: "name the cookie __Host-sid and mark it Secure (behind HTTPS)",
        commands: SERVE,
        set: |c, v, source| {
            c.secure_cookies = parse_switch(source, v)?;
            Ok(())
        },
    },
    Flag {
        name: "--idle-timeout",
        takes: Takes::Value("SECONDS"),
        env: "LATCH_IDLE_TIMEOUT",
        default: Some("0"),
        help: "a session unused this long expires (0: off)",
        commands: SESSIONS,
        set: |c, v, source| {
            c.idle_timeout = parse_number(source, v)?;
            Ok(())
        },
    },
    Flag {
        name: "--login-throttle",
        takes: Takes::Value("N"),
        env: "LATCH_LOGIN_THROTTLE",
        default: Some("5"),
        help: "failed logins per address and name in 15 minutes before 429 (0: off)",
        commands: SERVE,
        set: |c, v, source| {
            c.login_throttle = parse_number(source, v)?;
            Ok(())
        },
    },
    Flag {
        name: "--max-connections",
        takes: Takes::Value("N"),
        env: "LATCH_MAX_CONNECTIONS",
        default: Some("512"),
        help: "connections served at once; more are answered 503 and closed",
        commands: SERVE,
        set: |c, v, source| {
            c.max_connections = parse_positive(source, v)?;
            Ok(())
        },
    },
    Flag {
        name: "--max-sessions",
        takes: Takes::Value("N"),
        env: "LATCH_MAX_SESSIONS",
        default: Some("100000"),
        help: "live sessions the store holds; new anonymous ones are refused past it",
        commands: SERVE,
        set: |c, v, source| {
            c.max_sessions = parse_positive(source, v)?;
            Ok(())
        },
    },
    Flag {
        name: "--client-timeout",
        takes: Takes::Value("SECONDS"),
        env: "LATCH_CLIENT_TIMEOUT",
        default: Some("10"),
        help:
            "a client must send its request head, send its body, and read our response within this",
        commands: SERVE,
        set: |c, v, source| {
            c.client_timeout = parse_positive(source, v)?;
            Ok(())
        },
    },
    Flag {
        name: "--trusted-proxy",
        takes: Takes::Value("IP"),
        env: "LATCH_TRUSTED_PROXY",
        default: None,
        help: "the reverse proxy whose X-Forwarded-For names the client",
        commands: SERVE,
        set: |c, v, source| {
            c.trusted_proxy = Some(parse_ip(source, v)?);
            Ok(())
        },
    },
    Flag {
        name: "--trace",
        takes: Takes::Optional("summary"),
        env: "LATCH_TRACE",
        default: None,
        help: "trace each request on standard error: a table of its steps and what changed \
               (=summary: one line each); GET /_trace shows a browser its own. For learning \
               on your own machine, never in production",
        commands: SERVE,
        set: |c, v, source| {
            c.trace = match v {
                "summary" => Some(Mode::Summary),
                v => parse_switch(source, v)
                    .map_err(|_| bad(source, v, "1, 0 or summary"))?
                    .then_some(Mode::Full),
            };
            Ok(())
        },
    },
];

/// The flag spelled `name` (`--addr`), if there is one.
pub fn find(name: &str) -> Option<&'static Flag> {
    FLAGS.iter().find(|flag| flag.name == name)
}

/// The flags `verb` takes, in table order.
pub fn of(verb: Verb) -> impl Iterator<Item = &'static Flag> {
    FLAGS
        .iter()
        .filter(move |flag| flag.commands.contains(&verb))
}

impl Config {
    /// How the store is opened, with this many sessions at most (`None`:
    /// no cap, for the commands that only read).
    pub fn store_settings(&self, max_sessions: Option<u64>) -> Settings {
        Settings {
            idle_timeout: self.idle_timeout,
            max_sessions,
            durability: self.redis_durability,
            replica_acks: self
                .redis_replica_acks
                .unwrap_or_else(|| self.sessions.default_replica_acks()),
        }
    }
}

impl Default for Config {
    /// Every flag's default, read by the same `set` that reads a flag.
    fn default() -> Config {
        let mut config = Config {
            addr: SocketAddr::from(([0, 0, 0, 0], 0)),
            sessions: Location::Dir(PathBuf::new()),
            redis_durability: Durability::Strict,
            redis_replica_acks: None,
            www: PathBuf::new(),
            users: PathBuf::new(),
            session_ttl: 0,
            logout_redirect: String::new(),
            logout_flush: false,
            secure_cookies: false,
            idle_timeout: 0,
            login_throttle: 0,
            max_connections: 0,
            max_sessions: 0,
            client_timeout: 0,
            trusted_proxy: None,
            trace: None,
        };
        for flag in FLAGS {
            if let Some(default) = flag.default {
                (flag.set)(&mut config, default, flag.name)
                    .expect("every default in FLAGS is a valid value (a unit test reads them all)");
            }
        }
        config
    }
}

fn bad(source: &str, value: &str, expected: &str) -> UsageError {
    UsageError::new(format!(
        "invalid value '{value}' for {source}: expected {expected}"
    ))
}

fn parse_path(source: &str, value: &str) -> Result<PathBuf, UsageError> {
    match value.is_empty() {
        true => Err(bad(source, value, "a path")),
        false => Ok(value.into()),
    }
}

fn parse_addr(source: &str, value: &str) -> Result<SocketAddr, UsageError> {
    value
        .to_socket_addrs()
        .ok()
        .and_then(|mut addrs| addrs.next())
        .ok_or_else(|| bad(source, value, "HOST:PORT, such as 127.0.0.1:8080"))
}

fn parse_ip(source: &str, value: &str) -> Result<IpAddr, UsageError> {
    value
        .parse()
        .map_err(|_| bad(source, value, "an IP address, such as 127.0.0.1"))
}

/// A whole number, 0 or more (`0` turns the limit off).
fn parse_number<T: std::str::FromStr>(source: &str, value: &str) -> Result<T, UsageError> {
    value
        .parse()
        .map_err(|_| bad(source, value, "a whole number, 0 or more"))
}

/// A whole number, 1 or more: one message for every value it refuses,
/// `soon` as `0` (a flag that says "1 or more" to `0` must not say "0 or
/// more" to `soon`).
fn parse_positive<T: std::str::FromStr + PartialEq + Default>(
    source: &str,
    value: &str,
) -> Result<T, UsageError> {
    match value.parse() {
        Ok(n) if n != T::default() => Ok(n),
        _ => Err(bad(source, value, "a whole number, 1 or more")),
    }
}

/// A switch's variable: `1` turns it on, `0` (or empty) leaves it off.
fn parse_switch(source: &str, value: &str) -> Result<bool, UsageError> {
    match value {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" | "" => Ok(false),
        _ => Err(bad(source, value, "1 or 0")),
    }
}

/// The logout target must itself be safe (contract: Safe redirect targets).
fn parse_redirect(source: &str, value: &str) -> Result<String, UsageError> {
    safe_next(value).ok_or_else(|| bad(source, value, "a local path such as /goodbye.html"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_default_is_a_value_its_flag_accepts() {
        for flag in FLAGS {
            if let Some(default) = flag.default {
                let mut config = Config::default();
                assert!(
                    (flag.set)(&mut config, default, flag.name).is_ok(),
                    "{}",
                    flag.name
                );
            }
        }
    }

    #[test]
    fn names_and_variables_are_unique_and_spelled_alike() {
        for (i, flag) in FLAGS.iter().enumerate() {
            assert!(FLAGS[..i]
                .iter()
                .all(|f| f.name != flag.name && f.env != flag.env));
            let from_name = flag.name[2..].replace('-', "_").to_uppercase();
            assert_eq!(flag.env, format!("LATCH_{from_name}"));
            assert!(flag.commands.contains(&Verb::Serve), "{}", flag.name);
        }
    }

    #[test]
    fn defaults_are_the_documented_ones() {
        let c = Config::default();
        assert_eq!(c.addr.to_string(), "127.0.0.1:8080");
        assert_eq!(c.sessions, Location::Dir(PathBuf::from("sessions")));
        assert_eq!(c.www, PathBuf::from("www"));
        assert_eq!(c.users, PathBuf::from("users.htpasswd"));
        assert_eq!(c.session_ttl, 1_209_600);
        assert_eq!(c.logout_redirect, "/");
        assert!(!c.logout_flush && !c.secure_cookies && c.trace.is_none());
        assert_eq!((c.idle_timeout, c.login_throttle), (0, 5));
        assert_eq!((c.max_connections, c.max_sessions), (512, 100_000));
        assert_eq!(c.client_timeout, 10);
        assert_eq!(c.trusted_proxy, None);
    }
}
