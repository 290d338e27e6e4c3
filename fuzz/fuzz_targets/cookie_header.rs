//! The `Cookie` request header: `cookies::pairs` and `cookies::values`.
//!
//! The input is one or more header field values, one per line (HTTP/2 may
//! split cookies over several fields); a value hyper's `HeaderValue` refuses
//! never reaches latch, so it is skipped.
#![no_main]

use hyper::header::{HeaderMap, HeaderValue, COOKIE};
use latch::http::cookies::{pairs, values};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut headers = HeaderMap::new();
    for line in data.split(|&b| b == b'\n') {
        if let Ok(value) = HeaderValue::from_bytes(line) {
            headers.append(COOKIE, value);
        }
    }
    let all: Vec<(&str, &str)> = pairs(&headers).collect();
    for &(name, value) in &all {
        assert!(!name.is_empty(), "an empty name survived");
        assert_eq!(name, name.trim(), "an untrimmed name: {name:?}");
        assert_eq!(value, value.trim(), "an untrimmed value: {value:?}");
        assert!(!name.contains(['=', ';']), "a separator in name {name:?}");
        assert!(!value.contains(';'), "a separator in value {value:?}");
    }
    for name in ["sid", "__Host-sid"] {
        let expected: Vec<&str> = all
            .iter()
            .filter(|&&(n, _)| n == name)
            .map(|&(_, v)| v)
            .collect();
        assert_eq!(values(&headers, name).collect::<Vec<_>>(), expected);
    }
});
