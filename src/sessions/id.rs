//! The session id: what the cookie carries, and nothing else. Pure but for
//! `generate`, which draws from the OS random source.

use crate::http::encoding::{base64url, base64url_value, is_base64url_char};
use crate::os::random::random_32;

/// A session id: 32 random bytes as 43 base64url characters (256 bits,
/// well over OWASP's 64-bit floor).
///
/// The only ways to get one are `generate` and `parse`, and `parse` accepts
/// exactly that shape, so a `SessionId` can never hold `/`, `..` or NUL: it
/// is safe to derive a file name from (gorilla/sessions #275).
#[derive(Clone, PartialEq, Eq)]
pub struct SessionId(String);

impl SessionId {
    pub const LEN: usize = 43;

    pub fn generate() -> SessionId {
        SessionId(base64url(&random_32()))
    }

    /// `Some` only for exactly 43 base64url characters. Anything else from a
    /// cookie is treated as no session, without touching the disk.
    pub fn parse(value: &str) -> Option<SessionId> {
        let well_formed = value.len() == Self::LEN && value.bytes().all(is_base64url_char);
        // 43 characters carry 258 bits; the last character of a real id only
        // uses its top 4 bits, so reject spellings `generate` never makes.
        // One id, one spelling: no two cookie values name the same session.
        let canonical = value
            .bytes()
            .last()
            .is_some_and(|c| base64url_value(c).is_some_and(|v| v & 0b11 == 0));
        (well_formed && canonical).then(|| SessionId(value.to_owned()))
    }

    /// The cookie value. Never log it: it is a bearer credential.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Deliberately opaque, so an id cannot end up in a log by `{:?}`.
impl std::fmt::Debug for SessionId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SessionId(…)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ids_parse_back() {
        for _ in 0..100 {
            let id = SessionId::generate();
            assert_eq!(id.as_str().len(), 43);
            assert_eq!(SessionId::parse(id.as_str()), Some(id));
        }
    }

    #[test]
    fn generated_ids_differ() {
        assert_ne!(SessionId::generate(), SessionId::generate());
    }

    #[test]
    fn malformed_ids_are_refused() {
        let good = "A".repeat(43);
        assert!(SessionId::parse(&good).is_some());
        for bad in [
            String::new(),
            "A".repeat(42),
            "A".repeat(44),
            format!("{}=", "A".repeat(42)),
            format!("../{}", "A".repeat(40)),
            format!("{}/", "A".repeat(42)),
            format!("{}\0", "A".repeat(42)),
            format!("{}+", "A".repeat(42)),
            format!("{}é", "A".repeat(41)),
            "../../etc/passwd".into(),
            "a\\b\\c".into(),
        ] {
            assert!(SessionId::parse(&bad).is_none(), "{bad:?}");
        }
    }

    #[test]
    fn non_canonical_last_characters_are_refused() {
        // 'B' (value 1) sets bits a 32-byte id never has.
        assert!(SessionId::parse(&format!("{}B", "A".repeat(42))).is_none());
        assert!(SessionId::parse(&format!("{}E", "A".repeat(42))).is_some());
    }

    #[test]
    fn debug_never_shows_the_id() {
        let id = SessionId::generate();
        assert!(!format!("{id:?}").contains(id.as_str()));
    }
}
