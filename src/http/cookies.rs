//! Cookies: lenient parsing of the `Cookie` request header (RFC 6265 §5.4)
//! and strict formatting of `Set-Cookie` (RFC 6265 §4.1), the one formatter
//! of every cookie latch sets (`Cookie`).

use hyper::header::{HeaderMap, COOKIE};

/// Every `name=value` pair of every `Cookie` header, in order.
///
/// RFC 6265 §5.4 has the browser join cookies with `"; "`; HTTP/2 may split
/// them over several header fields (RFC 9113 §8.2.3), so all are read. Parsing
/// never fails (parse leniently, emit strictly): a pair that is not valid
/// UTF-8, has no `=`, or has an empty name is skipped, and the rest survive.
/// Whitespace around names and values is trimmed (RFC 6265 §5.2 steps 4-5).
pub fn pairs(headers: &HeaderMap) -> impl Iterator<Item = (&str, &str)> {
    headers
        .get_all(COOKIE)
        .iter()
        .flat_map(|value| value.as_bytes().split(|&b| b == b';'))
        .filter_map(|pair| std::str::from_utf8(pair).ok())
        .filter_map(|pair| {
            let (name, value) = pair.split_once('=')?;
            let name = name.trim();
            (!name.is_empty()).then_some((name, value.trim()))
        })
}

/// The values of every cookie called `name`, in header order.
///
/// A browser may send the same name twice (cookies set for different paths
/// or, without the `__Host-` prefix, by a sibling subdomain: "cookie
/// tossing"). The caller decides which one counts (`sessions::CookieIds`,
/// `auth::session`).
pub fn values<'a>(headers: &'a HeaderMap, name: &'a str) -> impl Iterator<Item = &'a str> {
    pairs(headers).filter_map(move |(n, v)| (n == name).then_some(v))
}

/// A cookie latch sets, with the fixed attributes every one of them has.
///
/// `--secure-cookies` switches to the `__Host-` prefix (RFC 6265bis §4.1.3.2):
/// a browser accepts such a cookie only with `Secure`, `Path=/` and no
/// `Domain`, so no subdomain and no plain-HTTP page can plant or overwrite it.
/// The cookie is then read under that name only.
#[derive(Clone, Copy, Debug)]
pub struct Cookie {
    name: &'static str,
    secure: bool,
}

impl Cookie {
    /// The session id (docs/contract.md, "Sessions").
    pub const fn session(secure: bool) -> Cookie {
        Cookie::named("sid", "__Host-sid", secure)
    }

    /// The one-time notice (`http::notice`).
    pub const fn notice(secure: bool) -> Cookie {
        Cookie::named("notice", "__Host-notice", secure)
    }

    /// The browser's proof of an earlier sign-in (`auth::device`).
    pub const fn device(secure: bool) -> Cookie {
        Cookie::named("device", "__Host-device", secure)
    }

    /// With `--trace`: which browser a request comes from, so that
    /// `/_trace` shows it its own requests (`trace::Recent`).
    pub const fn trace(secure: bool) -> Cookie {
        Cookie::named("trace", "__Host-trace", secure)
    }

    /// `plain`, or with `--secure-cookies` `prefixed` (spelled out: a
    /// `&'static str` cannot be joined from two).
    const fn named(plain: &'static str, prefixed: &'static str, secure: bool) -> Cookie {
        let name = if secure { prefixed } else { plain };
        Cookie { name, secure }
    }

    pub fn name(self) -> &'static str {
        self.name
    }

    /// `Set-Cookie` that stores `value` for `max_age` seconds (RFC 6265 §4.1.1):
    /// `HttpOnly` keeps it from scripts, `SameSite=Lax` keeps it off
    /// cross-site subrequests and POSTs (RFC 6265bis §8.8).
    pub fn set(self, value: &str, max_age: u64) -> String {
        format!(
            "{}={value}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age}{}",
            self.name(),
            self.secure_attribute()
        )
    }

    /// `Set-Cookie` that deletes the cookie: an empty value with `Max-Age=0`
    /// (RFC 6265 §5.3 step 3 and §5.2.2). The attributes repeat the ones it was
    /// set with, or the browser treats it as a different cookie (or, for a
    /// `__Host-` name without `Secure`, rejects it): express-session #241,
    /// tower-sessions #152.
    pub fn removal(self) -> String {
        format!(
            "{}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0{}",
            self.name(),
            self.secure_attribute()
        )
    }

    fn secure_attribute(self) -> &'static str {
        if self.secure {
            "; Secure"
        } else {
            ""
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::header::HeaderValue;

    fn headers(values: &[&[u8]]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for v in values {
            map.append(COOKIE, HeaderValue::from_bytes(v).unwrap());
        }
        map
    }

    #[test]
    fn parses_a_gnarly_real_world_header() {
        // Shapes seen in the wild: analytics cookies with '=' inside values,
        // quoted values, flags without '=', stray separators, odd spacing.
        let h = headers(&[br#"_ga=GA1.2.1234.5678; ; flag; theme="dark";  sid = abc ;_gid=GA1.2.=x=; =nameless; lang=en-US"#]);
        let all: Vec<_> = pairs(&h).collect();
        assert_eq!(
            all,
            vec![
                ("_ga", "GA1.2.1234.5678"),
                ("theme", "\"dark\""),
                ("sid", "abc"),
                ("_gid", "GA1.2.=x="),
                ("lang", "en-US"),
            ]
        );
    }

    #[test]
    fn the_values_of_a_name_come_in_header_order() {
        for (fields, sids) in [
            // A pair that is not UTF-8 is skipped, and the rest survive.
            (&[&b"a=\xff\xfe; sid=good"[..]][..], &["good"][..]),
            // Duplicates, and fields split over several headers, all seen.
            (
                &[b"sid=first; other=1", b"sid=second"],
                &["first", "second"],
            ),
            // Names are case-sensitive.
            (&[b"SID=upper; sid=lower"], &["lower"]),
            (&[], &[]),
        ] {
            let h = headers(fields);
            assert_eq!(values(&h, "sid").collect::<Vec<_>>(), sids, "{h:?}");
            assert_eq!(values(&h, "a").count(), 0, "{h:?}");
        }
    }

    /// The notice cookie's lines, from the same formatter, are held over
    /// the wire by `tests/pages.rs`.
    #[test]
    fn set_and_removal_have_the_spec_attributes_in_order() {
        for (line, want) in [
            (
                Cookie::session(false).set("ID", 60),
                "sid=ID; Path=/; HttpOnly; SameSite=Lax; Max-Age=60",
            ),
            (
                Cookie::session(true).set("ID", 60),
                "__Host-sid=ID; Path=/; HttpOnly; SameSite=Lax; Max-Age=60; Secure",
            ),
            (
                Cookie::session(false).removal(),
                "sid=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0",
            ),
            (
                Cookie::session(true).removal(),
                "__Host-sid=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0; Secure",
            ),
        ] {
            assert_eq!(line, want);
        }
    }
}
