//! What `GET /_trace` shows: each browser's recent requests, traced, kept
//! in memory for that browser alone, known by its `trace` cookie
//! (docs/contract.md, "Tracing"). A value latch did not issue, or has
//! forgotten, names nothing: as with session ids, latch never adopts a
//! value a client made up. Values are compared in constant time (the
//! `subtle` crate), as a CSRF token is. Memory is bounded: `PER_BROWSER`
//! requests for each of at most `BROWSERS` browsers, each request's table
//! bounded too (`traced`).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};

use subtle::ConstantTimeEq;

use super::Traced;

/// The requests kept for each browser.
pub const PER_BROWSER: usize = 20;
/// The `trace` cookie's lifetime: a day of learning.
pub const COOKIE_MAX_AGE: u64 = 24 * 60 * 60;
/// The browsers kept.
const BROWSERS: usize = 64;

/// The recent requests of each browser, the one seen last at the back.
#[derive(Default)]
pub struct Recent {
    browsers: Mutex<VecDeque<Browser>>,
}

struct Browser {
    /// The value of its `trace` cookie.
    key: String,
    requests: VecDeque<Arc<Traced>>,
}

impl Recent {
    /// Whether `key` (a `trace` cookie's value) names a browser kept here.
    pub fn knows(&self, key: &str) -> bool {
        position(&self.lock(), key).is_some()
    }

    /// Starts keeping a new browser under `key`, a fresh random value;
    /// when `BROWSERS` are kept, the one unseen the longest is forgotten.
    pub fn add(&self, key: String) {
        let mut browsers = self.lock();
        if browsers.len() == BROWSERS {
            browsers.pop_front();
        }
        browsers.push_back(Browser {
            key,
            requests: VecDeque::new(),
        });
    }

    /// Keeps `traced` for the browser `key` names, forgetting its oldest
    /// request past `PER_BROWSER`. Nothing when `key` names none.
    pub fn keep(&self, key: &str, traced: Traced) {
        let mut browsers = self.lock();
        let Some(at) = position(&browsers, key) else {
            return;
        };
        let mut browser = browsers.remove(at).expect("a position found just now");
        if browser.requests.len() == PER_BROWSER {
            browser.requests.pop_front();
        }
        browser.requests.push_back(Arc::new(traced));
        browsers.push_back(browser);
    }

    /// The requests of the browser `key` names, oldest first; none for a
    /// key that names no browser.
    pub fn of(&self, key: &str) -> Vec<Arc<Traced>> {
        let browsers = self.lock();
        position(&browsers, key).map_or_else(Vec::new, |at| {
            browsers[at].requests.iter().cloned().collect()
        })
    }

    fn lock(&self) -> MutexGuard<'_, VecDeque<Browser>> {
        self.browsers.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Where the browser `key` names is kept, each kept key compared with it
/// in constant time: how long a made-up key takes to be refused does not
/// tell how much of it was right.
fn position(browsers: &VecDeque<Browser>, key: &str) -> Option<usize> {
    browsers
        .iter()
        .position(|b| bool::from(b.key.as_bytes().ct_eq(key.as_bytes())))
}

#[cfg(test)]
mod tests {
    use super::super::{CookieSet, Table};
    use super::*;

    fn request(n: usize) -> Traced {
        Traced::new(
            &format!("GET /{n}"),
            Table::default(),
            None,
            CookieSet::Kept,
            "200 OK".into(),
        )
    }

    fn paths(recent: &Recent, key: &str) -> Vec<String> {
        recent.of(key).iter().map(|t| t.request.clone()).collect()
    }

    // That a browser sees its own requests and not another's is asserted
    // through the server in tests/trace.rs.
    #[test]
    fn a_key_latch_did_not_issue_names_nothing_not_even_a_prefix() {
        let recent = Recent::default();
        recent.add("key-a".into());
        recent.keep("key-a", request(1));
        recent.keep("made-up", request(3));
        assert_eq!(paths(&recent, "key-a"), ["GET /1"]);
        assert!(recent.of("made-up").is_empty() && !recent.knows("made-up"));
        assert!(recent.of("key-").is_empty(), "a prefix names nothing");
    }

    #[test]
    fn memory_is_bounded_the_oldest_forgotten() {
        let recent = Recent::default();
        for b in 0..=BROWSERS {
            recent.add(format!("key-{b}"));
            if b == 1 {
                // key-0 seen again: the browser unseen the longest is key-1.
                recent.keep("key-0", request(0));
            }
        }
        assert!(!recent.knows("key-1"), "the one unseen longest");
        assert!(recent.knows("key-0") && recent.knows(&format!("key-{BROWSERS}")));
        for n in 0..PER_BROWSER + 5 {
            recent.keep("key-0", request(n));
        }
        let kept = paths(&recent, "key-0");
        assert_eq!(kept.len(), PER_BROWSER);
        assert_eq!(kept[0], "GET /5");
        assert_eq!(kept[PER_BROWSER - 1], format!("GET /{}", PER_BROWSER + 4));
    }
}
