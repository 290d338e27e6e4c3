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
/// fields of its own flags, and the rest keep their defaults. A field is
/// what the flag of its name says in `FLAGS` (its `help`).
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    pub addr: SocketAddr,
    pub sessions: Location,
    pub redis_durability: Durability,
    /// `None`: as `sessions` implies (`Location::default_replica_acks`).
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
    pub max_connections: usize,
    pub max_sessions: u64,
    pub client_timeout: u64,
    pub trusted_proxy: Option<IpAddr>,
    /// `None`: off.
    pub trace: Option<Mode>,
}

/// One flag of the command line.
pub struct Flag {
    /// As typed: `--addr`.
    pub name: &'static str,
    /// What it takes after its name.
    pub takes: Takes,
    /// The default, read by `set` like any value; `None`: unset (a switch
    /// is off, an optional value is absent).
    pub default: Option<&'static str>,
    pub help: &'static str,
    /// The commands that take this flag (and read its variable) besides
    /// serve, which reads every flag, and check, which checks what serve reads.
    pub also: &'static [Verb],
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
    pub fn taken_by(&self, verb: Verb) -> bool {
        matches!(verb, Verb::Serve | Verb::Check) || self.also.contains(&verb)
    }

    /// How the help spells it: `--addr HOST:PORT`, `--trace[=summary]`.
    pub fn spelled(&self) -> String {
        match self.takes {
            Takes::Nothing => self.name.to_owned(),
            Takes::Value(value) => format!("{} {value}", self.name),
            Takes::Optional(value) => format!("{}[={value}]", self.name),
        }
    }

    /// The environment variable that sets it when the flag is absent:
    /// `--session-ttl` is `LATCH_SESSION_TTL`.
    pub fn env(&self) -> String {
        format!("LATCH_{}", self.name[2..].replace('-', "_").to_uppercase())
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
            Takes::Nothing => format!("{}=1", self.env()),
            Takes::Value(_) => self.env(),
            Takes::Optional(value) => format!("{}=1|{value}", self.env()),
        }
    }
}

const SESSIONS: &[Verb] = &[Verb::Sessions, Verb::ClearSessions];

/// The flags, in the order the help lists them.
pub const FLAGS: &[Flag] = &[
    Flag {
        name: "--addr",
        takes: Takes::Value("HOST:PORT"),
        default: Some("127.0.0.1:8080"),
        help: "where to listen",
        also: &[],
        set: |c, v, source| parse_addr(source, v).map(|parsed| c.addr = parsed),
    },
    Flag {
        name: "--sessions",
        takes: Takes::Value("DIR|URL"),
        default: Some("sessions"),
        help: "the sessions directory (created 0700), or a redis://, rediss://, redis+unix:// \
               or redis+sentinel:// URL",
        also: SESSIONS,
        set: |c, v, source| match v {
            "" => Err(bad(source, v, "a path or a URL")),
            v => Location::parse(v)
                .map(|parsed| c.sessions = parsed)
                .map_err(|why| UsageError::new(format!("{source}: {why}"))),
        },
    },
    Flag {
        name: "--redis-durability",
        takes: Takes::Value("strict|relaxed"),
        default: Some("strict"),
        help: "with a Redis store: strict refuses a server that may lose a write \
               (appendonly, appendfsync, maxmemory-policy); relaxed logs it and runs",
        also: SESSIONS,
        set: |c, v, source| {
            Durability::parse(v)
                .map(|parsed| c.redis_durability = parsed)
                .ok_or_else(|| bad(source, v, "strict or relaxed"))
        },
    },
    Flag {
        name: "--redis-replica-acks",
        takes: Takes::Value("N"),
        default: None,
        help: "with a Redis store: how many replicas must hold a sign-out before it is \
               answered (none given: 1 with redis+sentinel://, else 0)",
        also: SESSIONS,
        set: |c, v, source| {
            parse_number(source, v).map(|parsed| c.redis_replica_acks = Some(parsed))
        },
    },
    Flag {
        name: "--www",
        takes: Takes::Value("DIR"),
        default: Some("www"),
        help: "static files served as they are",
        also: &[],
        set: |c, v, source| parse_path(source, v).map(|parsed| c.www = parsed),
    },
    Flag {
        name: "--users",
        takes: Takes::Value("FILE"),
        default: Some("users.htpasswd"),
        help: "the users file (htpasswd format; serve creates it with an admin when missing)",
        also: &[
            Verb::AddUser,
            Verb::DelUser,
            Verb::Users,
            Verb::CheckPassword,
            Verb::Sessions,
        ],
        set: |c, v, source| parse_path(source, v).map(|parsed| c.users = parsed),
    },
    Flag {
        name: "--session-ttl",
        takes: Takes::Value("SECONDS"),
        default: Some("1209600"),
        help: "a session's lifetime from its creation (1209600: 14 days)",
        also: &[],
        set: |c, v, source| parse_positive(source, v).map(|parsed| c.session_ttl = parsed),
    },
    Flag {
        name: "--logout-redirect",
        takes: Takes::Value("PATH"),
        default: Some("/"),
        help: "where logout sends the browser when the form names no safe `next` \
               (www/logged-out.html is a page for it: --logout-redirect /logged-out.html)",
        also: &[],
        set: |c, v, source| parse_redirect(source, v).map(|parsed| c.logout_redirect = parsed),
    },
    Flag {
        name: "--logout-flush",
        takes: Takes::Nothing,
        default: None,
        help: "logout deletes the whole session (off: it keeps the non-auth data under a new id)",
        also: &[],
        set: |c, v, source| parse_switch(source, v).map(|parsed| c.logout_flush = parsed),
    },
    Flag {
        name: "--secure-cookies",
        takes: Takes::Nothing,
        default: None,
        help: "name the cookie __Host-sid and mark it Secure (behind HTTPS)",
        also: &[],
        set: |c, v, source| parse_switch(source, v).map(|parsed| c.secure_cookies = parsed),
    },
    Flag {
        name: "--idle-timeout",
        takes: Takes::Value("SECONDS"),
        default: Some("0"),
        help: "a session unused this long expires (0: off)",
        also: SESSIONS,
        set: |c, v, source| parse_number(source, v).map(|parsed| c.idle_timeout = parsed),
    },
    Flag {
        name: "--login-throttle",
        takes: Takes::Value("N"),
        default: Some("5"),
        help: "failed logins per address and name in 15 minutes before 429 (0: off)",
        also: &[],
        set: |c, v, source| parse_number(source, v).map(|parsed| c.login_throttle = parsed),
    },
    Flag {
        name: "--max-connections",
        takes: Takes::Value("N"),
        default: Some("512"),
        help: "connections served at once; more are answered 503 and closed",
        also: &[],
        set: |c, v, source| parse_positive(source, v).map(|parsed| c.max_connections = parsed),
    },
    Flag {
        name: "--max-sessions",
        takes: Takes::Value("N"),
        default: Some("100000"),
        help: "live sessions the store holds; new anonymous ones are refused past it",
        also: &[],
        set: |c, v, source| parse_positive(source, v).map(|parsed| c.max_sessions = parsed),
    },
    Flag {
        name: "--client-timeout",
        takes: Takes::Value("SECONDS"),
        default: Some("10"),
        help:
            "a client must send its request head, send its body, and read our response within this",
        also: &[],
        set: |c, v, source| parse_positive(source, v).map(|parsed| c.client_timeout = parsed),
    },
    Flag {
        name: "--trusted-proxy",
        takes: Takes::Value("IP"),
        default: None,
        help: "the reverse proxy whose X-Forwarded-For names the client",
        also: &[],
        set: |c, v, source| parse_ip(source, v).map(|parsed| c.trusted_proxy = Some(parsed)),
    },
    Flag {
        name: "--trace",
        takes: Takes::Optional("summary"),
        default: None,
        help: "trace each request on standard error: a table of its steps and what changed \
               (=summary: one line each); GET /_trace shows a browser its own. For learning \
               on your own machine, never in production",
        also: &[],
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

/// The flags `verb` takes, in table order.
pub fn of(verb: Verb) -> impl Iterator<Item = &'static Flag> {
    FLAGS.iter().filter(move |flag| flag.taken_by(verb))
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
    fn names_are_unique() {
        for (i, flag) in FLAGS.iter().enumerate() {
            assert!(
                FLAGS[..i].iter().all(|f| f.name != flag.name),
                "{}",
                flag.name
            );
        }
    }

    /// `Config::default` reads every default with its flag's `set`, so
    /// this also fails on a default its flag refuses.
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
