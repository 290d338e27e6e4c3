//! Safe redirect targets: which user-supplied `next` values latch will put in
//! a `Location` header without becoming an open redirect (OWASP "Unvalidated
//! Redirects and Forwards"; Django's `url_has_allowed_host_and_scheme`).

use crate::http::encoding::{percent_decode, percent_encode_except};

/// Longest `next` accepted, its path part decoded again; the same cap
/// Django added for CVE-2025-27556.
pub const MAX_NEXT_BYTES: usize = 2048;

/// `next` if it is a safe local path, as a `Location` value; else `None`.
///
/// `value` was already percent-decoded once (as every form or query value
/// is). docs/contract.md's rule ("Safe redirect targets"):
/// 1. `value` must be a local path;
/// 2. so must its path part (before the first `?` or `#`) percent-decoded
///    once more, since a second decoder on the way (a proxy, a framework,
///    the browser's own fix-ups) could turn `/%2F%2Fevil.example` into
///    `///evil.example`. The query and fragment are not decoded again:
///    whatever they decode to, they cannot change the origin the path
///    leads to, and `/search?q=C%3A%5Cwork` (a backslash the user typed)
///    or `?q=a%0Ab` (a newline) are ordinary values there. They reach the
///    `Location` still encoded, so no control character or backslash is
///    ever in it raw;
/// 3. `value`, its path part decoded again, is at most 2048 bytes.
pub fn safe_next(value: &str) -> Option<String> {
    // 1.
    if !is_local_path(value.as_bytes()) {
        return None;
    }
    // 2.
    let (path, rest) = value.split_at(value.find(['?', '#']).unwrap_or(value.len()));
    let path_decoded_again = percent_decode(path.as_bytes());
    if !is_local_path(&path_decoded_again) {
        return None;
    }
    // 3.
    if path_decoded_again.len() + rest.len() > MAX_NEXT_BYTES {
        return None;
    }
    Some(to_location(value))
}

/// A local path (a RFC 3986 §4.2 "path-absolute" reference, resolved against
/// our own origin): it starts with exactly one `/`.
///
/// - `//host` is a network-path reference: another origin.
/// - `/\host`, and a backslash anywhere, because browsers treat `\` as `/`
///   in URLs (WHATWG URL §4.4, "special" schemes), making `/\evil` `//evil`.
/// - Control characters, because browsers strip tabs and newlines from URLs
///   (so `/\n/evil` becomes `//evil`) and a header must not carry them.
/// - A scheme (`javascript:`, `https:`) needs a letter first, so a value
///   starting with `/` never has one.
fn is_local_path(path: &[u8]) -> bool {
    let starts_with_one_slash = path.first() == Some(&b'/') && path.get(1) != Some(&b'/');
    starts_with_one_slash && !path.iter().any(|&b| b == b'\\' || is_control(b))
}

/// ASCII controls (C0 and DEL). Non-ASCII bytes, C1 controls among them, are
/// percent-encoded by `to_location`, so they never reach the header raw.
fn is_control(b: u8) -> bool {
    b < 0x20 || b == 0x7f
}

/// Percent-encodes what may not appear raw in a `Location` URI (non-ASCII,
/// spaces, quotes, C1 controls) and leaves everything else, including
/// existing `%XX` escapes, as it is (RFC 3986 §2.1, RFC 9110 §10.2.2).
fn to_location(path: &str) -> String {
    percent_encode_except(path, |b| b"!$&'()*+,;=:@/?%#[]".contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_local_paths_are_safe() {
        for ok in [
            "/",
            "/account",
            "/view/?param=http://example.com",
            "/view/?param=https://example.com",
            "/view?param=ftp://example.com",
            "/%7Euser/",
            "/a?b=c&d=e#frag",
        ] {
            assert_eq!(safe_next(ok).as_deref(), Some(ok), "{ok}");
        }
    }

    #[test]
    fn a_query_or_fragment_may_hold_any_escape() {
        // What the form value is after its one decoding: a search for
        // `C:\work`, a two-line value, a tab, in the query or the fragment.
        for ok in [
            "/search?q=C%3A%5Cwork",
            "/search?q=a%0Ab",
            "/search?q=a%09b",
            "/?next=%2F%2Fevil.example",
            "/a#%5C%0A",
            "/a?%5C#%2F%2F",
        ] {
            assert_eq!(safe_next(ok).as_deref(), Some(ok), "{ok}");
        }
        // Decoded once already, the same characters are refused anywhere.
        for bad in ["/search?q=C:\\work", "/search?q=a\nb", "/a#\t"] {
            assert_eq!(safe_next(bad), None, "{bad:?}");
        }
        // The path part is still decoded again, whatever follows it.
        for bad in ["/%2F%2Fevil.example?q=1", "/%5Cevil.example#x", "/%0A?"] {
            assert_eq!(safe_next(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn spaces_and_non_ascii_are_encoded_for_the_header() {
        assert_eq!(
            safe_next("/url with spaces/").as_deref(),
            Some("/url%20with%20spaces/")
        );
        assert_eq!(safe_next("/ü").as_deref(), Some("/%C3%BC"));
    }

    #[test]
    fn hostile_spellings_are_refused() {
        // Django's URLHasAllowedHostAndSchemeTests.test_bad_urls and
        // LoginTest.test_security_check, plus double-encoding tricks; the
        // rest of those lists is refused over the wire by `tests/logout.rs`
        // (step 5).
        for bad in [
            "",
            "account",
            "HTTPS://testserver/",
            "//testserver/",
            "http:\\/example.com",
            "java\nscript:alert(x)",
            "/\t/example.com",
            "/\n/example.com",
            "http://[2001:cdba::3257:9652/",
            "/%2fevil.example",
            "/%5cevil.example",
            "/%0A/evil.example",
            "/%09/evil.example",
            "/ok\x7f",
        ] {
            assert_eq!(safe_next(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn length_is_capped_after_the_second_decoding() {
        let at_limit = format!("/{}", "a".repeat(MAX_NEXT_BYTES - 1));
        assert!(safe_next(&at_limit).is_some());
        let over = format!("/{}", "a".repeat(MAX_NEXT_BYTES));
        assert!(safe_next(&over).is_none());
        // 3 * 700 encoded bytes decode to 700: under the cap.
        let encoded = format!("/{}", "%61".repeat(700));
        assert!(safe_next(&encoded).is_some());
        // The query counts as it is, not decoded again.
        let query = format!("/?{}", "%61".repeat(682));
        assert!(safe_next(&query).is_some());
        let query = format!("/?{}", "%61".repeat(683));
        assert!(safe_next(&query).is_none());
    }
}
