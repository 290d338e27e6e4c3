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

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::header::{HeaderValue, COOKIE, SET_COOKIE};
    use hyper::StatusCode;

    fn with_cookie(value: &'static str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(COOKIE, HeaderValue::from_static(value));
        headers
    }

    const PLAIN: Cookie = Cookie::notice(false);

    #[test]
    fn a_notice_set_is_read_back() {
        let mut response = crate::http::response::response(StatusCode::SEE_OTHER, "");
        set(&mut response, PLAIN, Notice::SignedOut);
        let line = response.headers()[SET_COOKIE].to_str().unwrap();
        assert_eq!(
            line,
            "notice=signed-out; Path=/; HttpOnly; SameSite=Lax; Max-Age=60"
        );
        let sent_back = with_cookie("sid=x; notice=signed-out");
        assert_eq!(carried(&sent_back, PLAIN), Some(Notice::SignedOut));
    }

    #[test]
    fn under_secure_cookies_only_the_host_prefixed_name_is_read() {
        let secure = Cookie::notice(true);
        let mut response = crate::http::response::response(StatusCode::SEE_OTHER, "");
        set(&mut response, secure, Notice::SignedOut);
        assert_eq!(
            response.headers()[SET_COOKIE],
            "__Host-notice=signed-out; Path=/; HttpOnly; SameSite=Lax; Max-Age=60; Secure"
        );
        let planted = with_cookie("notice=signed-out");
        assert_eq!(carried(&planted, secure), None);
        let sent_back = with_cookie("__Host-notice=signed-out");
        assert_eq!(carried(&sent_back, secure), Some(Notice::SignedOut));
    }

    #[test]
    fn each_notice_is_read_back_as_itself() {
        for notice in Notice::ALL {
            let mut response = crate::http::response::response(StatusCode::SEE_OTHER, "");
            set(&mut response, PLAIN, notice);
            let line = response.headers()[SET_COOKIE].to_str().unwrap();
            let pair = line.split(';').next().unwrap().to_owned();
            let sent_back = HeaderMap::from_iter([(COOKIE, HeaderValue::from_str(&pair).unwrap())]);
            assert_eq!(carried(&sent_back, PLAIN), Some(notice), "{line}");
        }
    }

    #[test]
    fn an_unknown_or_missing_notice_is_none() {
        assert_eq!(carried(&with_cookie("notice=<script>"), PLAIN), None);
        assert_eq!(carried(&HeaderMap::new(), PLAIN), None);
    }

    #[test]
    fn clearing_sends_the_removal_only_when_a_notice_was_shown() {
        let mut response = crate::http::response::response(StatusCode::OK, "");
        clear(&mut response, PLAIN, None);
        assert!(response.headers().get(SET_COOKIE).is_none());
        clear(&mut response, PLAIN, Some(Notice::SignedOut));
        assert_eq!(
            response.headers()[SET_COOKIE],
            "notice=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0"
        );
    }
}
