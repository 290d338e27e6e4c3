//! CSRF tokens: a per-session secret that a form must echo back
//! (OWASP CSRF cheat sheet, "Synchronizer Token Pattern").

use subtle::ConstantTimeEq;

use crate::http::encoding::base64url;
use crate::os::random::random_32;

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
}
