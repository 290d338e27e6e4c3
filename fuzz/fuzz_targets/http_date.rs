//! HTTP dates: `dates::parse_http_date`, and `If-Modified-Since` (and
//! `If-None-Match`) through `http::conditional::Validators::not_modified`.
#![no_main]

use hyper::header::{HeaderMap, HeaderValue, IF_MODIFIED_SINCE, IF_NONE_MATCH};
use latch::http::conditional::Validators;
use latch::http::dates::{http_date, parse_http_date};
use libfuzzer_sys::fuzz_target;

/// 10000-01-01T00:00:00Z: the first second IMF-fixdate's four-digit year
/// cannot spell.
const YEAR_10000: u64 = 253_402_300_800;

fn file(modified: Option<u64>) -> Validators {
    Validators {
        etag: "\"3-1\"".into(),
        modified,
    }
}

fuzz_target!(|data: &[u8]| {
    let parsed = std::str::from_utf8(data).ok().and_then(parse_http_date);
    if let Some(t) = parsed {
        assert!(t <= YEAR_10000, "{t}: past 9999-12-31 23:59:60");
        // What it parsed, it formats as a date that parses back to itself,
        // but for a leap second on the very last day, which is year 10000.
        if t < YEAR_10000 {
            assert_eq!(parse_http_date(&http_date(t)), Some(t), "{t}");
        }
    }
    let Ok(value) = HeaderValue::from_bytes(data) else {
        return;
    };
    let mut since = HeaderMap::new();
    since.insert(IF_MODIFIED_SINCE, value.clone());
    let header_date = value.to_str().ok().and_then(parse_http_date);
    let edges = [0, 1, u64::MAX];
    let near = parsed
        .into_iter()
        .flat_map(|t| [t.saturating_sub(1), t, t.saturating_add(1)]);
    for modified in edges.into_iter().chain(near) {
        let fresh = file(Some(modified)).not_modified(&since);
        assert_eq!(fresh, header_date.is_some_and(|since| modified <= since));
    }
    assert!(
        !file(None).not_modified(&since),
        "a built-in file has no date"
    );
    let mut matching = HeaderMap::new();
    matching.insert(IF_NONE_MATCH, value);
    let _ = file(Some(0)).not_modified(&matching);
});
