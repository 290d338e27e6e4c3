//! A one-time notice carried across a redirect (what Django and Rails call
//! a "flash message"): the answer that causes it sets a short-lived cookie,
//! and the next page latch renders shows the notice and clears the cookie.
//!
//! A cookie, not the session: in flush mode a logout leaves no session to
//! hold the notice, and in keep mode it would have to be written (and
//! fsynced) twice. The cookie holds one fixed word, never anything secret
//! or user-supplied; forging it shows a false "signed out" once, no more.
//! Its name and attributes follow the session cookie's rules
//! (`http::cookies::Cookie`): under `--secure-cookies` it is
//! `__Host-notice` and carries `Secure`.

use hyper::header::HeaderMap;

use crate::http::cookies::{self, Cookie};
use crate::http::response::{set_cookie, Response};

/// Long enough to survive the redirect that follows the answer setting it,
/// short enough that a notice nobody saw does not turn up much later.
const MAX_AGE: u64 = 60;

/// Every notice latch can carry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Notice {
    /// After "Sign out": this browser only.
    SignedOut,
    /// After "Sign out everywhere" (`scope=all`): every device, which the
    /// person cannot see happen, so the page says it.
    SignedOutEverywhere,
}

impl Notice {
    const ALL: [Notice; 2] = [Notice::SignedOut, Notice::SignedOutEverywhere];

    /// The cookie value: a fixed token, parsed back by `carried`.
    fn value(self) -> &'static str {
        match self {
            Notice::SignedOut => "signed-out",
            Notice::SignedOutEverywhere => "signed-out-everywhere",
        }
    }

    /// What the page says.
    pub fn text(self) -> &'static str {
        match self {
            Notice::SignedOut => "You have signed out.",
            Notice::SignedOutEverywhere => {
                "You have signed out here and on every other device: \
                 anyone signed in as you elsewhere must sign in again."
            }
        }
    }
}

/// Sets `notice` for the next page in `cookie` (RFC 6265 §4.1): `HttpOnly`
/// (no script needs it), `SameSite=Lax` and `Path=/` as every latch cookie,
/// so whichever page the redirect reaches sees it.
pub fn set(response: &mut Response, cookie: Cookie, notice: Notice) {
    set_cookie(response, cookie.set(notice.value(), MAX_AGE));
}

/// The notice this request carries in `cookie`, if any. An unknown value is
/// none.
pub fn carried(headers: &HeaderMap, cookie: Cookie) -> Option<Notice> {
    cookies::values(headers, cookie.name())
        .find_map(|value| Notice::ALL.into_iter().find(|n| n.value() == value))
}

/// After a page has shown `shown`, removes `cookie` (its removal repeats
/// the attributes), so the notice appears once. Nothing when no notice was
/// shown.
pub fn clear(response: &mut Response, cookie: Cookie, shown: Option<Notice>) {
    if shown.is_some() {
        set_cookie(response, cookie.removal());
    }
}

/// Setting, reading back, clearing and the `__Host-` name are held over
/// the wire by `tests/pages.rs`; what no request there sends is here.
#[cfg(test)]
mod tests {
    use super::*;
    use hyper::header::{HeaderValue, COOKIE};

    #[test]
    fn an_unknown_or_missing_notice_is_none() {
        let unknown = HeaderMap::from_iter([(COOKIE, HeaderValue::from_static("notice=<script>"))]);
        assert_eq!(carried(&unknown, Cookie::notice(false)), None);
        assert_eq!(carried(&HeaderMap::new(), Cookie::notice(false)), None);
    }
}
