//! The cross-origin check run before every POST, modelled on Go 1.25's
//! `net/http.CrossOriginProtection` (golang/go #73626): a token-less CSRF
//! defence built on what browsers say about where a request came from.

use hyper::header::{HeaderMap, HOST, ORIGIN};

/// Whether an unsafe request (POST) may proceed, from its headers alone.
///
/// 1. `Sec-Fetch-Site` (W3C Fetch Metadata) is sent by every current browser
///    and cannot be set by page scripts: `same-origin` or `none` (typed into
///    the address bar, a bookmark) is allowed, anything else is refused.
/// 2. Without it, an `Origin` header (RFC 6454 §7, sent with every POST by
///    browsers) must name our own `Host`; `Origin: null` never does.
/// 3. With neither, the client is not a browser (curl, a script), which no
///    other site can drive with a user's cookies: allowed.
///
/// `Ok(why)` when allowed, `Err(why)` when refused; `why` is for `--trace`.
pub fn check(headers: &HeaderMap) -> Result<&'static str, &'static str> {
    // 1.
    if let Some(site) = headers.get("sec-fetch-site") {
        return match site.as_bytes() {
            b"same-origin" => Ok("Sec-Fetch-Site: same-origin"),
            b"none" => Ok("Sec-Fetch-Site: none (typed or bookmarked)"),
            _ => Err("Sec-Fetch-Site names another site"),
        };
    }
    // 2.
    if let Some(origin) = headers.get(ORIGIN) {
        let host = headers.get(HOST).map(|h| h.as_bytes());
        return if host.is_some() && origin_host(origin.as_bytes()) == host {
            Ok("no Sec-Fetch-Site; Origin matches Host")
        } else {
            Err("no Sec-Fetch-Site; Origin does not match Host")
        };
    }
    // 3.
    Ok("neither Sec-Fetch-Site nor Origin: not a browser")
}

/// The `host[:port]` of a serialized origin `scheme://host[:port]`
/// (RFC 6454 §6.2); `None` for `null` or anything else. Like Go, the scheme
/// is not compared with ours: latch cannot know it behind a proxy.
fn origin_host(origin: &[u8]) -> Option<&[u8]> {
    let text = std::str::from_utf8(origin).ok()?;
    let (_scheme, rest) = text.split_once("://")?;
    (!rest.is_empty() && !rest.contains(['/', '?', '#', '@'])).then_some(rest.as_bytes())
}

/// The common values of each header are held over the wire by
/// `tests/limits.rs` and `tests/logout.rs` (step 1); the odd ones are here.
#[cfg(test)]
mod tests {
    use super::*;
    use hyper::header::HeaderValue;

    #[test]
    fn odd_values_are_refused_and_any_scheme_may_match() {
        for (pairs, allowed) in [
            (&[("sec-fetch-site", "bogus")][..], false),
            (&[("origin", "garbage"), ("host", "a.test")], false),
            (&[("origin", "http://"), ("host", "a.test")], false),
            (&[("origin", "http://a.test")], false),
            (&[("origin", "https://a.test"), ("host", "a.test")], true),
        ] {
            let mut headers = HeaderMap::new();
            for (name, value) in pairs {
                headers.insert(*name, HeaderValue::from_static(value));
            }
            assert_eq!(check(&headers).is_ok(), allowed, "{pairs:?}");
        }
    }
}
