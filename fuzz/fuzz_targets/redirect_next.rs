//! The `next` parameter: `redirect::safe_next`, with its documented property
//! checked on every input it accepts (not only "does not crash"):
//! the `Location` value starts with exactly one `/` (not `//`, not `/\`),
//! holds no backslash and no control character, is a valid header value,
//! and its path part (before `?` or `#`) decoded once more still gives such
//! a local path, at most 2048 bytes long with the rest of the value.
#![no_main]

use hyper::header::HeaderValue;
use latch::http::encoding::percent_decode;
use latch::http::redirect::{safe_next, MAX_NEXT_BYTES};
use libfuzzer_sys::fuzz_target;

fn assert_local_path(path: &[u8], what: &str) {
    assert_eq!(path.first(), Some(&b'/'), "{what} does not start with '/'");
    assert!(
        !matches!(path.get(1), Some(b'/' | b'\\')),
        "{what} starts with // or /\\"
    );
    assert!(
        !path.iter().any(|&b| b == b'\\' || b < 0x20 || b == 0x7f),
        "{what} holds a backslash or a control character"
    );
}

fuzz_target!(|data: &[u8]| {
    // Every form or query value reaches safe_next decoded once, as UTF-8
    // with U+FFFD for what was not.
    let value = String::from_utf8_lossy(data);
    let Some(location) = safe_next(&value) else {
        return;
    };
    assert_local_path(location.as_bytes(), "Location");
    assert!(
        location.bytes().all(|b| b.is_ascii_graphic()),
        "Location holds a byte a URI may not carry raw: {location:?}"
    );
    assert!(HeaderValue::from_str(&location).is_ok());
    // The query and fragment may hold any escape (`?q=C%3A%5Cwork`); the
    // path part is what a second decoder could turn into another origin.
    let path_of = |s: &str| s.split(['?', '#']).next().unwrap_or_default().len();
    let decoded = percent_decode(&location.as_bytes()[..path_of(&location)]);
    assert_local_path(&decoded, "Location's path decoded once more");
    let value_path = &value.as_bytes()[..path_of(&value)];
    let value_decoded = percent_decode(value_path);
    assert!(
        value_decoded.len() + (value.len() - value_path.len()) <= MAX_NEXT_BYTES,
        "over the length cap"
    );
    // The header means what was checked: encoding for the header adds no
    // escape and removes none.
    assert_eq!(decoded, value_decoded);
});
