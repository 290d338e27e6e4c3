//! CSRF tokens: a per-session secret that a form must echo back (OWASP CSRF
//! cheat sheet, "Synchronizer Token Pattern"), and the check every
//! signed-in POST passes (docs/contract.md, "Routes": a signed-in
//! session's POST also needs its CSRF token).

use std::fmt;

use hyper::header::HeaderMap;
use subtle::ConstantTimeEq;

use crate::http::encoding::base64url;
use crate::http::form::Form;
use crate::os::random::random_32;
use crate::sessions::Record;
use crate::trace;

/// A fresh token: 32 random bytes, base64url (43 characters).
pub fn new_token() -> String {
    base64url(&random_32())
}

/// Whether the token a request sent equals the session's (also used for
/// any other secret compared with what a client or file holds).
///
/// The comparison takes the same time wherever the first differing byte
/// is, so response timing cannot reveal a token byte by byte (the `subtle`
/// crate; OWASP "Timing attacks"). Only the length, which is public, may
/// end it early.
pub fn matches(expected: &str, given: &str) -> bool {
    expected.as_bytes().ct_eq(given.as_bytes()).into()
}

/// The token a request sent: the form field `csrf_token`, else the header
/// `X-CSRF-Token` (for a `fetch` that sends no form); empty when neither.
pub fn given<'a>(form: &'a Form, headers: &'a HeaderMap) -> &'a str {
    form.get("csrf_token")
        .or_else(|| headers.get("x-csrf-token").and_then(|v| v.to_str().ok()))
        .unwrap_or_default()
}

/// What the check of a POST's token found. The token given is kept as it
/// came; only the `--trace` row shortens it (`Display`), so an untraced
/// POST formats nothing.
#[derive(Debug, PartialEq, Eq)]
pub enum Checked<'a> {
    /// No signed-in session: nothing worth forging, and the cross-origin
    /// check still covers the request. Passes.
    NotSignedIn,
    /// The token equals a signed-in session's `_csrf`. Passes.
    Matched(&'a str),
    /// No token was sent. Refused.
    Missing,
    /// The token equals no signed-in session's `_csrf`. Refused.
    Mismatched(&'a str),
}

impl Checked<'_> {
    pub fn passed(&self) -> bool {
        matches!(self, Checked::NotSignedIn | Checked::Matched(_))
    }
}

/// A state-changing POST must carry the CSRF token of a signed-in session
/// it names (`signed_in`: their records). Each is compared in constant
/// time, and all are compared, so the time does not tell which matched.
///
/// Why any of them, not the first: a sibling subdomain can toss a cookie of
/// our name in beside ours, and the page holding the form was rendered for
/// one of the sessions (the request's, `auth::session`); only a page of
/// this origin can know a session's token. Asking for the token of every
/// one would leave the very user whose browser carries a tossed cookie
/// unable to sign out.
pub fn check<'a, 'g>(
    signed_in: impl IntoIterator<Item = &'a Record>,
    given: &'g str,
) -> Checked<'g> {
    let mut any_signed_in = false;
    let mut matched = false;
    for record in signed_in {
        any_signed_in = true;
        let expected = record.csrf_token().unwrap_or_default();
        matched |= !expected.is_empty() && matches(expected, given);
    }
    match (any_signed_in, matched) {
        (false, _) => Checked::NotSignedIn,
        (true, true) => Checked::Matched(given),
        (true, false) if given.is_empty() => Checked::Missing,
        (true, false) => Checked::Mismatched(given),
    }
}

/// The `--trace` row of the check.
impl fmt::Display for Checked<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Checked::NotSignedIn => {
                f.write_str("not signed in: no token needed (the cross-origin check covers it)")
            }
            Checked::Matched(token) => write!(
                f,
                "token {} equals the _csrf of the signed-in session (constant-time compare)",
                trace::short(token)
            ),
            Checked::Missing => f.write_str("no csrf_token field or X-CSRF-Token header → 403"),
            Checked::Mismatched(token) => {
                write!(
                    f,
                    "token {} does not equal _csrf → 403",
                    trace::short(token)
                )
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_tokens_match_and_others_do_not() {
        let t = new_token();
        assert_eq!(t.len(), 43);
        assert!(matches(&t, &t.clone()));
        assert!(!matches(&t, &new_token()));
        assert!(!matches(&t, ""));
        assert!(!matches(&t, &t[..42]));
    }

    fn signed_in(token: &str) -> Record {
        let mut record = Record::new(0, 10, 0, token.into());
        record.sign_in("alice", "h", 0, token);
        record
    }

    #[test]
    fn a_signed_in_post_passes_only_with_a_token_of_one_of_its_sessions() {
        let (a, b) = (signed_in("token-a"), signed_in("token-b"));
        assert_eq!(check([], ""), Checked::NotSignedIn);
        assert!(check([&a, &b], "token-b").passed(), "any named session");
        assert_eq!(check([&a], ""), Checked::Missing);
        assert_eq!(check([&a], "token-b"), Checked::Mismatched("token-b"));
        assert!(check([&a], "token-b")
            .to_string()
            .contains("token tok… does not"));
        assert!(!check([&a], "token-b").passed());
        let mut no_token = a.clone();
        no_token.data.remove(crate::sessions::CSRF);
        assert!(
            !check([&no_token], "").passed(),
            "an empty token never matches"
        );
    }
}
