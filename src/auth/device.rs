//! Device cookies (OWASP, "Slow Down Online Guessing Attacks with Device
//! Cookies"): a browser that has signed in as a user keeps a cookie that
//! proves it, so that its later sign-ins as that user are throttled on
//! their own counter, apart from its address (docs/contract.md, "Login
//! throttling"). Many people share one address (a classroom, an office,
//! carrier-grade NAT): without it, anyone there failing as `alice` five
//! times, by mistake or as a prank, would lock alice out for the window.
//!
//! The cookie is `<nonce>.<mac>`: 16 random bytes, and the HMAC-SHA256
//! (RFC 2104) of the user name and the nonce, keyed by the user's
//! password hash, which only the server knows. So it cannot be forged or
//! moved to another name, and a new password voids every device cookie of
//! the user. It grants nothing by itself: the password is still checked.
//! Nothing about it is stored on the server.

use hmac::{Hmac, Mac};
use hyper::header::HeaderMap;
use sha2::Sha256;

use crate::http::cookies::{self, Cookie};
use crate::http::encoding::{base64url, base64url_decode, hex};
use crate::os::random::random_32;

/// How long a browser stays known: a year, renewed at each sign-in.
pub const MAX_AGE: u64 = 365 * 24 * 3600;
/// At most this many device cookies of one request are looked at.
const MAX_PRESENTED: usize = 3;

/// A browser known to have signed in as a user: its cookie's nonce.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Device {
    nonce: [u8; 16],
}

impl Device {
    /// The name of this device's throttle counter for `user`.
    pub fn counter_name(&self, user: &str) -> String {
        format!("login device {} {user}", hex(&self.nonce))
    }
}

/// `Set-Cookie` for a new device cookie (`http::cookies::Cookie::device`)
/// of `user`, whose password hash is `password_hash`.
pub fn set_cookie(cookie: Cookie, user: &str, password_hash: &str) -> String {
    let nonce: [u8; 16] = random_32()[..16].try_into().expect("16 of 32 bytes");
    let tag = mac(user, password_hash, &nonce).finalize().into_bytes();
    let value = format!("{}.{}", base64url(&nonce), base64url(&tag));
    cookie.set(&value, MAX_AGE)
}

/// The device the request's cookies prove for `user`, whose password hash
/// is `password_hash`; `None` when none does (no cookie, a forged one, one
/// for another name or an older password).
pub fn presented(
    headers: &HeaderMap,
    cookie: Cookie,
    user: &str,
    password_hash: &str,
) -> Option<Device> {
    cookies::values(headers, cookie.name())
        .take(MAX_PRESENTED)
        .find_map(|value| verify(value, user, password_hash))
}

fn verify(value: &str, user: &str, password_hash: &str) -> Option<Device> {
    let (nonce, tag) = value.split_once('.')?;
    // Strict base64url without padding, as `base64url` writes it.
    let nonce: [u8; 16] = base64url_decode(nonce)?.try_into().ok()?;
    let tag = base64url_decode(tag)?;
    // Constant time (hmac's `verify_slice`): a guesser learns nothing from
    // how long a wrong tag takes.
    mac(user, password_hash, &nonce).verify_slice(&tag).ok()?;
    Some(Device { nonce })
}

/// The HMAC keyed by the password hash, over a label, so that no other
/// HMAC latch might make is ever the same, the name, and the nonce (the
/// name's end marked by a NUL, which a user name never holds).
fn mac(user: &str, password_hash: &str, nonce: &[u8; 16]) -> Hmac<Sha256> {
    let mut mac = Hmac::<Sha256>::new_from_slice(password_hash.as_bytes())
        .expect("HMAC takes a key of any size");
    mac.update(b"latch device cookie v1\0");
    mac.update(user.as_bytes());
    mac.update(b"\0");
    mac.update(nonce);
    mac
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::header::{HeaderValue, COOKIE};

    const PLAIN: Cookie = Cookie::device(false);

    fn request_with(cookie: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(COOKIE, HeaderValue::from_str(cookie).unwrap());
        headers
    }

    fn value_of(set_cookie: &str) -> &str {
        let pair = set_cookie.split(';').next().unwrap();
        pair.split_once('=').unwrap().1
    }

    #[test]
    fn a_device_cookie_proves_its_user_and_password_only() {
        let set = set_cookie(PLAIN, "alice", "$hash-1");
        assert!(set.starts_with("device="), "{set}");
        assert!(set.contains("HttpOnly; SameSite=Lax; Max-Age=31536000"));
        let headers = request_with(&format!("sid=x; device={}", value_of(&set)));
        let device = presented(&headers, PLAIN, "alice", "$hash-1").unwrap();
        assert!(device.counter_name("alice").starts_with("login device "));
        assert_eq!(presented(&headers, PLAIN, "bob", "$hash-1"), None);
        assert_eq!(presented(&headers, PLAIN, "alice", "$hash-2"), None);
        let secure = Cookie::device(true);
        assert_eq!(presented(&headers, secure, "alice", "$hash-1"), None);
    }

    #[test]
    fn a_forged_or_damaged_cookie_proves_nothing() {
        let set = set_cookie(PLAIN, "alice", "h");
        let good = value_of(&set);
        let (nonce, tag) = good.split_once('.').unwrap();
        let another = set_cookie(PLAIN, "alice", "h");
        let other_nonce = value_of(&another).split_once('.').unwrap().0;
        for bad in [
            format!("{other_nonce}.{tag}"),
            format!("{nonce}.{}", &tag[..42]),
            format!("{nonce}{tag}"),
            format!("{nonce}.{tag}="),
            String::new(),
            "..".into(),
        ] {
            let headers = request_with(&format!("device={bad}"));
            assert_eq!(presented(&headers, PLAIN, "alice", "h"), None, "{bad}");
        }
        let secure = set_cookie(Cookie::device(true), "alice", "h");
        assert!(secure.starts_with("__Host-device=") && secure.ends_with("; Secure"));
    }
}
