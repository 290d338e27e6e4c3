//! The session id (what the cookie carries, and nothing else), the label
//! that names a session in logs, traces and listings, and the ids a
//! request's cookies name. Pure but for `generate`, which draws from the OS
//! random source.

use std::fmt;

use sha2::{Digest as _, Sha256};

use crate::http::encoding::{base64url, base64url_value, hex_into, is_base64url_char};
use crate::os::random::random_32;

/// At most this many session cookies of one request are looked up, the
/// first ones in header order: ours, one tossed in ahead of it by a
/// sibling subdomain, and one to spare (a stale cookie of a parent
/// domain). Each is a store read (a Redis round trip: redis-rs cannot
/// pipeline its scripts with their reload on `NOSCRIPT`, so the reads are
/// one after the other, and this small bound is what keeps them cheap):
/// 16 well-formed made-up cookies cost 3 reads, not 16.
pub const MAX_SESSION_COOKIES: usize = 3;

/// A session id: 32 random bytes as 43 base64url characters (256 bits,
/// well over OWASP's 64-bit floor), and the SHA-256 of those characters,
/// which is what a store names the session by.
///
/// The only ways to get one are `generate` and `parse`, and `parse` accepts
/// exactly that shape, so a `SessionId` can never hold `/`, `..` or NUL: it
/// is safe to derive a file name from (gorilla/sessions #275). It holds
/// its characters inline: parsing a cookie allocates nothing.
#[derive(Clone, PartialEq, Eq)]
pub struct SessionId {
    text: [u8; SessionId::LEN],
    digest: Digest,
}

impl SessionId {
    pub const LEN: usize = 43;

    pub fn generate() -> SessionId {
        let text = base64url(&random_32());
        SessionId::parse(&text).expect("base64url of 32 bytes is a canonical id")
    }

    /// `Some` only for exactly 43 base64url characters. Anything else from a
    /// cookie is treated as no session, without touching the store.
    pub fn parse(value: &str) -> Option<SessionId> {
        let well_formed = value.len() == Self::LEN && value.bytes().all(is_base64url_char);
        // 43 characters carry 258 bits; the last character of a real id only
        // uses its top 4 bits, so reject spellings `generate` never makes.
        // One id, one spelling: no two cookie values name the same session.
        let canonical = value
            .bytes()
            .last()
            .is_some_and(|c| base64url_value(c).is_some_and(|v| v & 0b11 == 0));
        if !(well_formed && canonical) {
            return None;
        }
        let mut text = [0; Self::LEN];
        text.copy_from_slice(value.as_bytes());
        Some(SessionId {
            text,
            digest: Digest(Sha256::digest(value.as_bytes()).into()),
        })
    }

    /// The cookie value. Never log it: it is a bearer credential.
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.text).expect("parse admits base64url characters only")
    }

    /// What a store names the session by (`Digest`).
    pub fn digest(&self) -> Digest {
        self.digest
    }

    /// The label that names this session in logs, traces and listings.
    pub fn label(&self) -> SessionLabel {
        self.digest.label()
    }
}

/// The SHA-256 of a session id: the name every store keeps the session
/// under, in lowercase hex (a file `<hex>.json`, a Redis key
/// `latch:s:<hex>`), so that a listing or a backup of the store holds no
/// usable cookie. It cannot be turned back into an id.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Digest([u8; 32]);

impl Digest {
    /// The 64 lowercase hex digits, on the stack: asked for on every read.
    pub fn hex(&self) -> [u8; 64] {
        let mut hex = [0u8; 64];
        hex_into(&self.0, &mut hex);
        hex
    }

    /// Parses 64 lowercase hex digits (the name a store gave it); `None`
    /// for anything else, so a name found in a listing is a digest or
    /// nothing.
    pub fn from_hex(text: &[u8]) -> Option<Digest> {
        let lowercase = text.iter().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        if text.len() != 64 || !lowercase {
            return None;
        }
        let mut digest = [0u8; 32];
        for (byte, pair) in digest.iter_mut().zip(text.chunks(2)) {
            *byte = u8::from_str_radix(std::str::from_utf8(pair).ok()?, 16).ok()?;
        }
        Some(Digest(digest))
    }

    /// The label that names the session in logs, traces and listings.
    pub fn label(&self) -> SessionLabel {
        let mut head = [0; 6];
        head.copy_from_slice(&self.0[..6]);
        SessionLabel(head)
    }

    /// The first byte, for spreading sessions over a fixed set of locks.
    pub fn first_byte(&self) -> u8 {
        self.0[0]
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(std::str::from_utf8(&self.hex()).expect("hex digits are ASCII"))
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Digest({self})")
    }
}

/// Deliberately opaque, so an id cannot end up in a log by `{:?}`.
impl fmt::Debug for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SessionId(…)")
    }
}

/// How a session is named wherever a person reads about it: the first 12
/// hex digits of its digest, which are also the first 12 characters of its
/// file name (and of its Redis key's hash). Enough to find it and to tell
/// sessions apart in any realistic listing (48 bits), useless as a cookie.
/// The same whatever the backend.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SessionLabel([u8; 6]);

impl fmt::Display for SessionLabel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut digits = [0u8; 12];
        hex_into(&self.0, &mut digits);
        f.write_str(std::str::from_utf8(&digits).expect("hex digits are ASCII"))
    }
}

impl fmt::Debug for SessionLabel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SessionLabel({self})")
    }
}

/// The session ids a request's cookies of our name hold, parsed once per
/// request: the well-formed ones, in header order, each once, at most
/// `MAX_SESSION_COOKIES`. Anything else (a forged, truncated or path-like
/// value) is no session, decided without touching the store.
///
/// Several are kept, not just the first: a sibling subdomain can plant a
/// cookie of our name ahead of ours ("cookie tossing"; without
/// `--secure-cookies` and its `__Host-` prefix, RFC 6265bis §4.1.3.2,
/// nothing stops it), and the one that counts is the first that names a
/// signed-in live session, else the first that names a live one
/// (`auth::session`; docs/contract.md, "Sessions": never adopted).
#[derive(Debug, Default)]
pub struct CookieIds {
    ids: Vec<SessionId>,
    /// Whether the request carried a cookie of our name at all.
    any_cookie: bool,
}

impl CookieIds {
    /// The ids among `values`, the values of every cookie of our name.
    pub fn parse<'a>(values: impl Iterator<Item = &'a str>) -> CookieIds {
        let mut found = CookieIds::default();
        for value in values {
            found.any_cookie = true;
            let Some(id) = SessionId::parse(value) else {
                continue;
            };
            if found.ids.len() == MAX_SESSION_COOKIES {
                break;
            }
            if !found.ids.contains(&id) {
                found.ids.push(id);
            }
        }
        found
    }

    /// Every well-formed id, in header order.
    pub fn iter(&self) -> impl Iterator<Item = &SessionId> {
        self.ids.iter()
    }

    /// The label of the first well-formed id: what the access log names.
    pub fn first_label(&self) -> Option<SessionLabel> {
        self.ids.first().map(SessionId::label)
    }

    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// Whether the request carried a cookie of our name (well-formed or not).
    pub fn any_cookie(&self) -> bool {
        self.any_cookie
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn cookie_ids_keep_the_well_formed_ones_in_order_each_once_and_bounded() {
        let (a, b) = (SessionId::generate(), SessionId::generate());
        let values = ["junk", a.as_str(), "", b.as_str(), a.as_str()];
        let ids = CookieIds::parse(values.into_iter());
        assert_eq!(ids.iter().cloned().collect::<Vec<_>>(), [a.clone(), b]);
        assert_eq!(ids.first_label(), Some(a.label()));
        assert!(ids.any_cookie());
        let none = CookieIds::parse(["../etc/passwd"].into_iter());
        assert!(none.is_empty() && none.any_cookie());
        assert!(!CookieIds::parse(std::iter::empty()).any_cookie());
        let many: Vec<SessionId> = (0..40).map(|_| SessionId::generate()).collect();
        let ids = CookieIds::parse(many.iter().map(SessionId::as_str));
        assert_eq!(ids.iter().count(), MAX_SESSION_COOKIES);
    }

    #[test]
    fn the_digest_is_the_ids_sha256_in_lowercase_hex_read_back_only_so_and_the_label_its_head() {
        let id = SessionId::generate();
        let digest = id.digest();
        let hex = digest.hex();
        let sha256 = crate::http::encoding::hex(&Sha256::digest(id.as_str().as_bytes()));
        assert_eq!(digest.to_string(), sha256);
        assert_eq!(id.label().to_string(), sha256[..12]);
        assert_eq!(Digest::from_hex(&hex), Some(digest));
        for bad in [
            &hex[..63],
            &hex.to_ascii_uppercase()[..],
            b"g".repeat(64).as_slice(),
        ] {
            assert_eq!(Digest::from_hex(bad), None);
        }
    }

    #[test]
    fn debug_never_shows_the_id() {
        let id = SessionId::generate();
        assert!(!format!("{id:?}").contains(id.as_str()));
    }
}
