//! The session cookie's value: `session::SessionId::parse`. `Some` only for
//! 43 characters of `[A-Za-z0-9_-]` (whose last one a 32-byte id can end
//! with), and the id round-trips.
#![no_main]

use latch::http::encoding::base64url_value;
use latch::sessions::SessionId;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(value) = std::str::from_utf8(data) else {
        return;
    };
    let shaped = value.len() == 43
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    let canonical = value
        .bytes()
        .last()
        .and_then(base64url_value)
        .is_some_and(|v| v & 0b11 == 0);
    match SessionId::parse(value) {
        Some(id) => {
            assert!(shaped, "accepted {value:?}");
            assert!(canonical, "accepted a non-canonical spelling {value:?}");
            assert_eq!(id.as_str(), value);
            assert_eq!(SessionId::parse(id.as_str()), Some(id.clone()));
            let label = id.label().to_string();
            assert!(label.len() == 12 && label.bytes().all(|b| b.is_ascii_hexdigit()));
        }
        None => assert!(!(shaped && canonical), "refused {value:?}"),
    }
});
