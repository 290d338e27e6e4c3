//! The Redis URL: the forms latch takes, parsed as the client library
//! parses them, and the one way latch shows one to a person (`latch check`,
//! error messages, logs), its password hidden however it is spelled.
//!
//! The URL often carries a password (`redis://user:PASSWORD@host`, or
//! `redis+unix:///path?pass=PASSWORD`), and a password made by `openssl rand
//! -base64` holds `/`, `+` and `=`. A `/`, `?` or `#` that is not
//! percent-encoded ends the URL's authority early (RFC 3986 §3.2), so the
//! parser reads part of the password as a host, a port or a path: a
//! redaction that trusts the parser shows it. `redacted` trusts the text
//! instead, and hides more rather than less.

use redis::{ConnectionAddr, ConnectionInfo, IntoConnectionInfo};

use super::error;
use crate::http::encoding::percent_decode;
use crate::sessions::stored::StoreError;

/// What a URL that does not parse is shown as, after its scheme: none of
/// it can be told apart from a password.
const UNPARSEABLE: &str = "(unparseable, not shown)";

/// What a URL that does not parse is told: the usual cause is a password
/// with a character the URL syntax reserves.
const DOES_NOT_PARSE: &str = "the URL does not parse (user, password, host, port, database \
     number?); in a password, percent-encode / ? # @ : % (/ as %2F, ? as %3F, # as %23, \
     @ as %40, : as %3A, % as %25)";

/// Where the primary is, as the URL says.
#[derive(Clone, Debug)]
pub(super) enum Target {
    /// At one address, always (`redis://`, `rediss://`, `redis+unix://`).
    Server(ConnectionInfo),
    /// Wherever the Sentinels say (`redis+sentinel://`).
    Sentinel(Sentinels),
}

impl Target {
    /// How to reach a server of the setup at `host:port` (the primary a
    /// Sentinel names, a replica the primary lists), with the URL's
    /// credentials, database and TLS.
    pub fn server_at(&self, host: &str, port: u16) -> ConnectionInfo {
        let (host, port) = (host.to_owned(), port);
        let like = match self {
            Target::Server(info) => info,
            Target::Sentinel(sentinels) => &sentinels.servers,
        };
        let addr = match like.addr() {
            ConnectionAddr::TcpTls {
                insecure,
                tls_params,
                ..
            } => ConnectionAddr::TcpTls {
                host,
                port,
                insecure: *insecure,
                tls_params: tls_params.clone(),
            },
            _ => ConnectionAddr::Tcp(host, port),
        };
        like.clone().set_addr(addr)
    }
}

/// A `redis+sentinel://` URL: whom to ask, about which primary, and how
/// to talk to the servers they name.
#[derive(Clone, Debug)]
pub(super) struct Sentinels {
    /// The Sentinels, in the URL's order (TCP: Sentinel has no socket).
    pub addrs: Vec<ConnectionAddr>,
    /// The name the Sentinels monitor the primary under.
    pub service: String,
    /// The user, password and database for the primary and its replicas
    /// (the Sentinels themselves are asked without them), at a placeholder
    /// address.
    servers: ConnectionInfo,
}

/// Sentinel's own port, when the URL names none.
const SENTINEL_PORT: u16 = 26379;

/// The primary `url` names, in one of the four forms latch takes:
/// `redis://[USER:PASSWORD@]HOST[:PORT][/DB]`, the same with `rediss://`
/// (TLS, with the `redis-tls` feature),
/// `redis+unix:///PATH?db=N&user=USER&pass=PASSWORD`, or
/// `redis+sentinel://[USER:PASSWORD@]HOST[:PORT][,HOST[:PORT]…]/SERVICE[?db=N]`.
/// The errors never repeat the URL, nor the library's own messages (some
/// quote it).
pub(super) fn parse(url: &str) -> Result<Target, StoreError> {
    let scheme = url.split_once("://").map(|(scheme, _)| scheme);
    if scheme == Some("redis+sentinel") {
        return sentinels(url).map(Target::Sentinel);
    }
    if !matches!(scheme, Some("redis" | "rediss" | "redis+unix")) {
        return Err(error::unusable(
            "expected redis://HOST:PORT/DB, rediss://HOST:PORT/DB, redis+unix:///PATH?db=N \
             or redis+sentinel://HOST:PORT,HOST:PORT/SERVICE?db=N",
        ));
    }
    if scheme == Some("rediss") && !cfg!(feature = "redis-tls") {
        return Err(error::unusable(
            "rediss:// (TLS) needs latch built with `--features redis-tls`",
        ));
    }
    url.into_connection_info()
        .map(Target::Server)
        .map_err(|_| error::unusable(DOES_NOT_PARSE))
}

/// A `redis+sentinel://` URL, read piece by piece: the client library has
/// no such form. Its user information and database are read by the
/// library all the same (as a `redis://` URL's), so a password is
/// percent-decoded exactly as in the other forms.
fn sentinels(url: &str) -> Result<Sentinels, StoreError> {
    let bad = || error::unusable(DOES_NOT_PARSE);
    let rest = url.strip_prefix("redis+sentinel://").ok_or_else(bad)?;
    let (body, query) = rest.split_once('?').unwrap_or((rest, ""));
    // The first `/` ends the authority (RFC 3986 §3.2), as for the library.
    let (authority, service) = body.split_once('/').ok_or_else(|| {
        error::unusable("a redis+sentinel:// URL names its primary: …/SERVICE (Sentinel's name)")
    })?;
    let (userinfo, hosts) = match authority.rsplit_once('@') {
        Some((userinfo, hosts)) => (Some(userinfo), hosts),
        None => (None, authority),
    };
    let addrs = hosts
        .split(',')
        .map(sentinel_addr)
        .collect::<Option<Vec<_>>>()
        .ok_or_else(bad)?;
    let plain = |c: char| c.is_ascii_alphanumeric() || "._-".contains(c);
    if service.is_empty() || !service.chars().all(plain) {
        return Err(error::unusable(
            "the service name after the hosts is letters, digits, `.`, `_` and `-`",
        ));
    }
    let db = match query {
        "" => "0",
        _ => query
            .strip_prefix("db=")
            .ok_or_else(|| error::unusable("a redis+sentinel:// URL takes one parameter: ?db=N"))?,
    };
    let userinfo = userinfo.map_or(String::new(), |u| format!("{u}@"));
    let servers = format!("redis://{userinfo}sentinel.invalid/{db}")
        .into_connection_info()
        .map_err(|_| bad())?;
    Ok(Sentinels {
        addrs,
        service: service.to_owned(),
        servers,
    })
}

/// One `HOST[:PORT]` of the list (`[v6]:PORT` for IPv6).
fn sentinel_addr(text: &str) -> Option<ConnectionAddr> {
    let (host, port) = match text.rsplit_once(':') {
        Some((host, port)) if !host.ends_with(':') => (host, port.parse().ok()?),
        _ => (text, SENTINEL_PORT),
    };
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    let fits = |c: char| c.is_ascii_alphanumeric() || ".-:".contains(c);
    (!host.is_empty() && host.chars().all(fits)).then(|| ConnectionAddr::Tcp(host.to_owned(), port))
}

/// `url` as latch shows it: the scheme, the user name, the host, the path
/// and the other query parameters, but never a password:
///
/// - everything between `://` and the last `@` is the user information
///   (even when the password holds `/`, `?` or `#`): only the user name
///   before its first `:` is shown, and none of it unless that name is
///   plain (no `/ ? # & =`);
/// - after it, from the first `?` or `&` on, every `&`-separated parameter
///   whose name, percent-decoded, is `pass` or `password` (any case) shows
///   `***` (redis-rs takes a unix socket's password from `pass`, decoded:
///   `pa%73s` is `pass`);
/// - a fragment other than `#insecure` (the one redis-rs knows) is `#***`:
///   a `#` in a password starts one;
/// - a URL that does not parse (as `parse` reads it, TLS aside) shows its
///   scheme and `UNPARSEABLE` only.
pub fn redacted(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return UNPARSEABLE.to_owned();
    };
    if !scheme.bytes().all(|c| c.is_ascii_lowercase() || c == b'+') {
        return UNPARSEABLE.to_owned();
    }
    // TLS support, a build feature, has no say in what may be shown.
    let without_tls = url
        .strip_prefix("rediss://")
        .map(|rest| format!("redis://{rest}"));
    if parse(without_tls.as_deref().unwrap_or(url)).is_err() {
        return format!("{scheme}://{UNPARSEABLE}");
    }
    let (userinfo, after) = split_userinfo(rest);
    let (body, fragment) = match after.split_once('#') {
        Some((body, fragment)) => (body, Some(fragment)),
        None => (after, None),
    };
    let query_at = body.find(['?', '&']).unwrap_or(body.len());
    let (head, query) = body.split_at(query_at);
    let mut shown = format!("{scheme}://{userinfo}{head}");
    if let Some(separator) = query.chars().next() {
        shown.push(separator);
        let pairs: Vec<String> = query[1..].split('&').map(hide_password).collect();
        shown.push_str(&pairs.join("&"));
    }
    match fragment {
        Some("insecure") => shown.push_str("#insecure"),
        Some(_) => shown.push_str("#***"),
        None => {}
    }
    shown
}

/// The user information as shown (`user@`, `user:***@`, `***@` or
/// nothing) and what follows it. A URL with no authority
/// (`redis+unix:///…`) has none, whatever `@` its query holds.
fn split_userinfo(rest: &str) -> (String, &str) {
    if rest.starts_with('/') {
        return (String::new(), rest);
    }
    let Some((userinfo, after)) = rest.rsplit_once('@') else {
        return (String::new(), rest);
    };
    let (user, password) = match userinfo.split_once(':') {
        Some((user, _)) => (user, true),
        None => (userinfo, false),
    };
    let plain = !user.contains(['/', '?', '#', '&', '=']);
    let shown = match (plain, password) {
        (true, true) => format!("{user}:***@"),
        (true, false) => format!("{user}@"),
        (false, _) => "***@".to_owned(),
    };
    (shown, after)
}

/// One query parameter, its value hidden if its name is a password's.
fn hide_password(pair: &str) -> String {
    let Some((name, _)) = pair.split_once('=') else {
        return pair.to_owned();
    };
    let decoded = percent_decode(name.as_bytes());
    let is_password = [&b"pass"[..], b"password"]
        .iter()
        .any(|word| decoded.eq_ignore_ascii_case(word));
    match is_password {
        true => format!("{name}=***"),
        false => pair.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_password_is_hidden_in_each_usual_place_and_an_unparseable_url_entirely() {
        for (url, shown) in [
            ("redis://u:hunter2@h:1/0", "redis://u:***@h:1/0"),
            ("rediss://:hunter2@h", "rediss://:***@h"),
            ("redis://h:1/0", "redis://h:1/0"),
            ("redis://u@h:1/0", "redis://u@h:1/0"),
            (
                "redis+unix:///r.sock?db=1&pass=hunter2",
                "redis+unix:///r.sock?db=1&pass=***",
            ),
            (
                "redis+unix:///r.sock?user=me&pass=hunter2&db=3",
                "redis+unix:///r.sock?user=me&pass=***&db=3",
            ),
            ("rediss://h:6380/0#insecure", "rediss://h:6380/0#insecure"),
            // Percent-encoded, a password with reserved characters parses.
            ("redis://u:Zq1%2FWv2%3FKp3@h:1/0", "redis://u:***@h:1/0"),
            (
                "redis://u:Zq1/Wv2@h:1/0",
                "redis://(unparseable, not shown)",
            ),
            ("redis://", "redis://(unparseable, not shown)"),
            ("no scheme", UNPARSEABLE),
        ] {
            assert_eq!(redacted(url), shown, "{url}");
        }
    }

    /// Every piece of a password (`Zq1`, `Wv2`, `Kp3`), spelled as people
    /// and `openssl rand -base64` spell it, stays hidden.
    #[test]
    fn a_password_is_hidden_however_the_url_spells_it() {
        for url in [
            // Reserved characters, percent-encoded or not.
            "redis://u:Zq1/Wv2?Kp3@h:1/0",
            "redis://u:12/Zq1@h/0",
            "redis://u:1#Zq1@h",
            "redis://:Zq1?Wv2#Kp3@h",
            "redis://u:Zq1+Wv2/Kp3=@h:6379/0",
            "redis://u:Zq1@Wv2@h:1/0",
            "redis://Zq1/Wv2@h:1/0",
            // A query and a fragment after the host.
            "redis://h:1/0?x=a@b&pass=Zq1",
            "redis://h:1/0#Zq1",
            // The unix socket's query, its key spelled in every way the
            // library decodes to `pass`.
            "redis+unix:///r.sock?pass=Zq1",
            "redis+unix:///r.sock?db=0&pa%73s=Zq1",
            "redis+unix:///r.sock?db=0&%70%61%73%73=Zq1",
            "redis+unix:///r.sock?PASS=Zq1&password=Wv2",
            "redis+unix:///r.sock?pass=Zq1?Wv2&db=0",
            "redis+unix:///r.sock?pass=Zq1#Wv2&db=0",
            "redis+unix:///r.sock?user=a@b&pass=Zq1",
            "redis+unix://u:Zq1@/r.sock",
            // Not a URL at all.
            "redis//u:Zq1@h",
            "Zq1",
            "REDIS://u:Zq1@h",
        ] {
            let shown = redacted(url);
            for piece in ["Zq1", "Wv2", "Kp3"] {
                assert!(!shown.contains(piece), "{url} shown as {shown}");
            }
        }
    }

    #[test]
    fn a_sentinel_url_names_the_sentinels_the_service_and_the_servers_credentials() {
        let url = "redis+sentinel://latch:Zq1%2FWv2@10.0.0.5:26379,10.0.0.6,[::1]:26380/main?db=2";
        let target = parse(url).unwrap();
        let Target::Sentinel(sentinels) = &target else {
            panic!("{url} is not a Sentinel URL");
        };
        let addrs: Vec<String> = sentinels.addrs.iter().map(|a| a.to_string()).collect();
        assert_eq!(addrs, ["10.0.0.5:26379", "10.0.0.6:26379", "::1:26380"]);
        assert_eq!(sentinels.service, "main");
        let primary = target.server_at("10.0.0.7", 6379);
        assert_eq!(primary.addr().to_string(), "10.0.0.7:6379");
        let redis = primary.redis_settings();
        assert_eq!(
            (redis.username(), redis.password(), redis.db()),
            (Some("latch"), Some("Zq1/Wv2"), 2)
        );
        assert_eq!(
            redacted(url),
            "redis+sentinel://latch:***@10.0.0.5:26379,10.0.0.6,[::1]:26380/main?db=2"
        );
        let bare = parse("redis+sentinel://h/m").unwrap();
        assert_eq!(bare.server_at("h", 1).redis_settings().db(), 0);
    }

    #[test]
    fn a_sentinel_url_without_a_service_or_with_a_bad_host_is_refused_unshown() {
        for url in [
            "redis+sentinel://h:26379",
            "redis+sentinel://h:26379/",
            "redis+sentinel://h:port/m",
            "redis+sentinel://h,,g/m",
            "redis+sentinel:///m",
            "redis+sentinel://h/m/x",
            "redis+sentinel://h/m?db=x",
            "redis+sentinel://h/m?pass=Zq1",
            "redis+sentinel://u:Zq1/Wv2@h/m",
        ] {
            let why = parse(url)
                .err()
                .unwrap_or_else(|| panic!("{url} parsed"))
                .to_string();
            assert!(!why.contains("Zq1"), "{why}");
            assert!(!redacted(url).contains("Zq1"), "{}", redacted(url));
        }
    }
}
