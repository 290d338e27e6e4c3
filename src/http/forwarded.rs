//! The client's address behind a reverse proxy.
//!
//! Behind nginx or Caddy every connection comes from the proxy, so login
//! throttling would count every client as one. The proxy names the real
//! client in `X-Forwarded-For`, appending the address it saw to whatever
//! the client sent (a client can put anything there). So latch believes
//! the header only when the connection comes from the proxy it was told to
//! trust (`--trusted-proxy`), and then only its last entry: the one that
//! proxy wrote (MDN, "X-Forwarded-For: security and privacy concerns").
//! No RFC defines `X-Forwarded-For`, but it is what nginx and Caddy send;
//! the standard `Forwarded` (RFC 7239) is not read (docs/contract.md, "The
//! client address").

use std::fmt;
use std::net::{IpAddr, Ipv6Addr};

use hyper::header::HeaderMap;

/// Whether a connection from `peer` comes from the trusted proxy: the one
/// place that decides it, for the connection share and for every
/// per-client count.
///
/// Both sides are compared in their canonical form: on a dual-stack
/// listener (`--addr [::]:8080`) an IPv4 peer arrives as
/// `::ffff:127.0.0.1`, which `127.0.0.1` matches. `127.0.0.1` and `::1`
/// are one proxy (docs/contract.md, "The client address"): nginx told to
/// reach `localhost` tries each address it has, and otherwise every client
/// would count as the proxy's one address.
pub fn is_trusted_proxy(peer: IpAddr, trusted_proxy: Option<IpAddr>) -> bool {
    let Some(proxy) = trusted_proxy.map(|p| p.to_canonical()) else {
        return false;
    };
    let peer = peer.to_canonical();
    peer == proxy || (is_localhost(proxy) && is_localhost(peer))
}

/// `127.0.0.1` or `::1`: the two addresses of `localhost`.
fn is_localhost(address: IpAddr) -> bool {
    address == IpAddr::V4(std::net::Ipv4Addr::LOCALHOST)
        || address == IpAddr::V6(Ipv6Addr::LOCALHOST)
}

/// The address to count a request under: the last `X-Forwarded-For`
/// entry from the trusted proxy, else the peer.
pub fn client_address(peer: IpAddr, trusted_proxy: Option<IpAddr>, headers: &HeaderMap) -> IpAddr {
    let peer = peer.to_canonical();
    match is_trusted_proxy(peer, trusted_proxy) {
        true => last_forwarded_for(headers).unwrap_or(peer),
        false => peer,
    }
}

/// `X-Forwarded-For` from a peer that is not the trusted proxy while
/// `--trusted-proxy` is set, for the caller to tell the operator: either a
/// client's forgery (ignored, as it should be) or a proxy arriving from an
/// address the flag does not name, under which every client would be
/// counted as one. The words are written only where they are shown: the
/// caller says them once, and a client sending the header on every request
/// must not cost a string each time.
pub fn ignored_forwarded_for(
    peer: IpAddr,
    trusted_proxy: Option<IpAddr>,
    headers: &HeaderMap,
) -> Option<impl fmt::Display> {
    let proxy = trusted_proxy?;
    let peer = peer.to_canonical();
    let ignored = headers.contains_key("x-forwarded-for") && !is_trusted_proxy(peer, Some(proxy));
    ignored.then(|| {
        fmt::from_fn(move |f| {
            write!(
                f,
                "X-Forwarded-For from {peer}, which is not --trusted-proxy {proxy}: ignored, \
                 the request counts as {peer}. If {peer} is your proxy, set --trusted-proxy to it"
            )
        })
    })
}

/// The last address in the last `X-Forwarded-For` field, if it parses.
fn last_forwarded_for(headers: &HeaderMap) -> Option<IpAddr> {
    let last_field = headers.get_all("x-forwarded-for").iter().next_back()?;
    let last_entry = last_field.to_str().ok()?.rsplit(',').next()?;
    last_entry.trim().parse().ok()
}

/// The client an address counts as, for every per-client limit
/// (connections, new sessions, failed logins): an IPv4 address as it is;
/// an IPv4-mapped IPv6 address (`::ffff:a.b.c.d`, from a dual-stack
/// listener) as the IPv4 address it carries; any other IPv6 address by its
/// /64 prefix. One IPv6 host normally owns a whole /64 (RFC 4291 §2.5.1:
/// the low 64 bits are the interface identifier, which the host picks
/// freely, as with temporary addresses, RFC 8981), so counting single IPv6
/// addresses would give one attacker 2^64 identities.
pub fn client_key(address: IpAddr) -> IpAddr {
    match address.to_canonical() {
        IpAddr::V6(v6) => IpAddr::V6(Ipv6Addr::from(u128::from(v6) & !u128::from(u64::MAX))),
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::header::HeaderValue;

    const LOCALHOST: &str = "127.0.0.1";
    const CLIENT: &str = "203.0.113.7";

    fn addr(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    fn forwarded(values: &[&'static str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for v in values {
            headers.append("x-forwarded-for", HeaderValue::from_static(v));
        }
        headers
    }

    #[test]
    fn the_client_is_the_trusted_proxys_last_entry_else_the_peer() {
        let (other, proxy) = ("192.0.2.9", Some(LOCALHOST));
        for (peer, proxy, header, client) in [
            // Without a trusted proxy, or from anyone else: ignored.
            (LOCALHOST, None, &[CLIENT][..], LOCALHOST),
            (other, proxy, &[CLIENT], other),
            // From the proxy: its last entry, in one field or split.
            (LOCALHOST, proxy, &["198.51.100.1, 203.0.113.7"], CLIENT),
            (LOCALHOST, proxy, &["198.51.100.1", "203.0.113.7"], CLIENT),
            // A mapped or IPv6 peer is the localhost proxy too; else plain IPv4.
            ("::ffff:127.0.0.1", proxy, &[CLIENT], CLIENT),
            ("::1", proxy, &[CLIENT], CLIENT),
            ("::ffff:127.0.0.1", None, &[CLIENT], LOCALHOST),
            // Garbage, or no header: the peer.
            (LOCALHOST, proxy, &[""], LOCALHOST),
            (LOCALHOST, proxy, &["not-an-ip"], LOCALHOST),
            (LOCALHOST, proxy, &["203.0.113.7:80"], LOCALHOST),
            (LOCALHOST, proxy, &["unknown"], LOCALHOST),
            (LOCALHOST, proxy, &[], LOCALHOST),
        ] {
            let found = client_address(addr(peer), proxy.map(addr), &forwarded(header));
            assert_eq!(found, addr(client), "{peer} {proxy:?} {header:?}");
        }
    }

    #[test]
    fn a_header_from_anyone_else_is_said_to_be_ignored() {
        let (other, proxy) = (addr("192.0.2.9"), Some(addr(LOCALHOST)));
        let h = forwarded(&[CLIENT]);
        let said = ignored_forwarded_for(other, proxy, &h).unwrap().to_string();
        assert!(said.starts_with("X-Forwarded-For from 192.0.2.9, which is not"));
        assert!(
            ignored_forwarded_for(other, None, &h).is_none(),
            "no proxy set"
        );
        assert!(ignored_forwarded_for(addr(LOCALHOST), proxy, &h).is_none());
        assert!(ignored_forwarded_for(other, proxy, &HeaderMap::new()).is_none());
    }

    #[test]
    fn a_localhost_proxy_is_either_address_of_localhost() {
        let proxy = Some(addr(LOCALHOST));
        for peer in ["127.0.0.1", "::1", "::ffff:127.0.0.1"] {
            assert!(is_trusted_proxy(addr(peer), proxy), "{peer}");
        }
        assert!(is_trusted_proxy(addr("127.0.0.1"), Some(addr("::1"))));
        for peer in [
            "127.0.0.53",
            "::ffff:127.1.2.3",
            "192.0.2.9",
            "::2",
            "::ffff:192.0.2.9",
            "fe80::1",
            "0.0.0.0",
            "::",
        ] {
            assert!(!is_trusted_proxy(addr(peer), proxy), "{peer}");
        }
    }

    #[test]
    fn a_proxy_elsewhere_is_only_its_own_address() {
        let proxy = Some(addr("192.0.2.1"));
        assert!(is_trusted_proxy(addr("192.0.2.1"), proxy));
        assert!(is_trusted_proxy(addr("::ffff:192.0.2.1"), proxy));
        for peer in ["192.0.2.2", "127.0.0.1", "::1"] {
            assert!(!is_trusted_proxy(addr(peer), proxy), "{peer}");
        }
        assert!(!is_trusted_proxy(addr("192.0.2.1"), None));
        let v6 = Some(addr("2001:db8::1"));
        assert!(is_trusted_proxy(addr("2001:db8::1"), v6));
        assert!(!is_trusted_proxy(addr("2001:db8::2"), v6));
    }

    #[test]
    fn a_client_counts_as_its_ipv4_address_or_its_ipv6_64_bit_prefix() {
        assert_eq!(client_key(addr("::ffff:192.0.2.7")), addr("192.0.2.7"));
        assert_eq!(client_key(addr("192.0.2.7")), addr("192.0.2.7"));
        let a = client_key(addr("2001:db8:1:2:aaaa:bbbb:cccc:dddd"));
        assert_eq!(a, addr("2001:db8:1:2::"));
        assert_eq!(a, client_key(addr("2001:db8:1:2::1")));
        assert_ne!(a, client_key(addr("2001:db8:1:3::1")));
    }
}
