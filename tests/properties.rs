//! Property tests for the pure (sans-I/O) modules: the parsers that take
//! whatever a client sends and the rules that decide what is safe. Each
//! property states one line of docs/contract.md (or of the module's doc comment) for
//! every input proptest can think of, not just the examples we thought of.

use std::path::{Component, Path};

use hyper::header::{HeaderMap, HeaderValue, COOKIE};
use proptest::prelude::*;

use latch::http::cookies;
use latch::http::encoding::{percent_decode, percent_encode};
use latch::http::form::Form;
use latch::http::paths::relative_path;
use latch::http::redirect::safe_next;
use latch::sessions::SessionId;

/// Every function here is a few microseconds, so a few hundred cases each
/// keep the whole file well under a second in a debug build.
fn config() -> ProptestConfig {
    ProptestConfig::with_cases(512)
}

/// Characters that make parsers of paths, URLs and forms branch: separators,
/// escapes, dots, backslashes, controls, non-ASCII, and any char at all.
fn tricky_char() -> impl Strategy<Value = char> {
    prop_oneof![
        4 => prop::sample::select(vec![
            '/', '/', '%', '%', '.', '\\', '2', 'e', 'E', 'f', 'F', '5', 'c', 'C', '0',
            'a', '=', '&', '+', ';', ':', '?', '#', ' ', '\t', '\n', '\r', '\0', '\x7f',
            '\u{85}', 'é', '\u{202e}',
        ]),
        1 => any::<char>(),
    ]
}

fn tricky_string(max: usize) -> impl Strategy<Value = String> {
    prop::collection::vec(tricky_char(), 0..max).prop_map(|chars| chars.into_iter().collect())
}

/// A `Cookie` header map with one field per value.
fn cookie_headers(values: &[HeaderValue]) -> HeaderMap {
    let mut headers = HeaderMap::new();
    for value in values {
        headers.append(COOKIE, value.clone());
    }
    headers
}

// --- cookies (RFC 6265 §5.4: parse leniently, never fail) ---

/// Bytes for a `Cookie` value, weighted towards the separators the parser
/// splits on.
fn cookie_bytes() -> impl Strategy<Value = Vec<u8>> {
    let byte = prop_oneof![
        3 => prop::sample::select(b"=;; \t\"\\,abcsid".to_vec()),
        2 => 0x20u8..=0x7e,
        1 => any::<u8>(),
    ];
    prop::collection::vec(byte, 0..80)
}

/// RFC 6265 §4.1.1 `token` characters for names (without `sid` itself).
fn cookie_name() -> impl Strategy<Value = String> {
    "[A-Za-z0-9!#$%&'*+.^_`|~-]{1,12}".prop_filter("not the session cookie", |n| n != "sid")
}

/// RFC 6265 §4.1.1 `cookie-octet`s: no whitespace, `"`, `,`, `;` or `\`.
fn cookie_value() -> impl Strategy<Value = String> {
    "[!#$%&'()*+./0-9:<=>?@A-Z\\[\\]^_`a-z{|}~-]{0,24}"
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn cookie_pairs_never_panic_and_names_are_clean(
        raw in prop::collection::vec(cookie_bytes(), 0..3)
    ) {
        // HeaderValue refuses controls other than tab; hyper would have
        // refused those bytes on the wire, so they never reach the parser.
        let Ok(values) = raw
            .iter()
            .map(|bytes| HeaderValue::from_bytes(bytes))
            .collect::<Result<Vec<_>, _>>()
        else {
            return Ok(());
        };
        let headers = cookie_headers(&values);
        for (name, value) in cookies::pairs(&headers) {
            prop_assert!(!name.is_empty(), "empty name");
            prop_assert_eq!(name, name.trim());
            prop_assert!(!name.contains(';') && !name.contains('='), "name {:?}", name);
            prop_assert_eq!(value, value.trim());
            prop_assert!(!value.contains(';'), "value {:?}", value);
        }
        let _ = cookies::values(&headers, "sid").count();
    }

    #[test]
    fn a_well_formed_sid_among_other_pairs_is_always_found(
        before in prop::collection::vec((cookie_name(), cookie_value()), 0..6),
        after in prop::collection::vec((cookie_name(), cookie_value()), 0..6),
        sid in prop_oneof!["[A-Za-z0-9_-]{43}", cookie_value()],
        tight in any::<bool>(),
        split in any::<bool>(),
    ) {
        // Browsers join with "; " (RFC 6265 §5.4 step 4); be lenient about
        // the space, and about HTTP/2 splitting the header (RFC 9113 §8.2.3).
        let separator = if tight { ";" } else { "; " };
        let join = |pairs: &[(String, String)]| {
            pairs
                .iter()
                .map(|(n, v)| format!("{n}={v}"))
                .collect::<Vec<_>>()
                .join(separator)
        };
        let mut fields = Vec::new();
        let head = join(&before);
        let tail = join(&after);
        if split {
            fields.extend([head, format!("sid={sid}"), tail]);
        } else {
            let all: Vec<String> = [head, format!("sid={sid}"), tail]
                .into_iter()
                .filter(|s| !s.is_empty())
                .collect();
            fields.push(all.join(separator));
        }
        let values: Vec<HeaderValue> = fields
            .iter()
            .map(|f| HeaderValue::from_str(f).expect("cookie-octets are valid header bytes"))
            .collect();
        let headers = cookie_headers(&values);
        let found: Vec<&str> = cookies::values(&headers, "sid").collect();
        prop_assert_eq!(found, vec![sid.as_str()]);
    }
}

// --- forms (WHATWG URL §5.1: parsing never fails) ---

/// Names drawn partly from a tiny alphabet, so duplicates happen often.
fn form_name() -> impl Strategy<Value = String> {
    prop_oneof![1 => "[ab]{0,1}", 2 => any::<String>(), 1 => tricky_string(8)]
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn form_parse_never_panics(
        input in prop_oneof![
            any::<Vec<u8>>(),
            tricky_string(64).prop_map(String::into_bytes),
        ],
        probe in form_name(),
    ) {
        let form = Form::parse(&input);
        let _ = form.get(&probe);
        let _ = form.get("");
    }

    #[test]
    fn percent_encoded_fields_parse_back_to_their_first_values(
        fields in prop::collection::vec((form_name(), prop_oneof![any::<String>(), tricky_string(12)]), 0..8),
        plus_for_space in any::<bool>(),
    ) {
        // Browsers serialize a space as `+` (WHATWG URL §5.2); `%20` is the
        // same space. `percent_encode` encodes `+` itself, so no `+` in the
        // body stands for anything but a space.
        let encode = |s: &str| {
            let encoded = percent_encode(s);
            if plus_for_space { encoded.replace("%20", "+") } else { encoded }
        };
        let body = fields
            .iter()
            .map(|(n, v)| format!("{}={}", encode(n), encode(v)))
            .collect::<Vec<_>>()
            .join("&");
        let form = Form::parse(body.as_bytes());
        for (name, _) in &fields {
            let first = fields.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str());
            prop_assert_eq!(form.get(name), first, "field {:?} of {:?}", name, body);
        }
    }
}

// --- safe redirect targets (docs/contract.md "Safe redirect targets") ---

/// RFC 3986 path-absolute as docs/contract.md words it: exactly one leading `/`, not
/// `//` or `/\`, and no backslash or control character anywhere.
fn is_local_path(bytes: &[u8]) -> bool {
    bytes.first() == Some(&b'/')
        && !matches!(bytes.get(1), Some(b'/' | b'\\'))
        && !bytes.iter().any(|&b| b == b'\\' || b < 0x20 || b == 0x7f)
}

/// Mostly values that already start with `/`, so the interesting branches
/// (the second decoding, the encoding for the header) are reached.
fn next_value() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => tricky_string(40).prop_map(|s| format!("/{s}")),
        1 => tricky_string(40),
        1 => any::<String>(),
    ]
}

/// Spellings that a browser, proxy or second decoder turns into another
/// origin or a script (Django's `url_has_allowed_host_and_scheme` tests).
const ATTACK_PREFIXES: &[&str] = &[
    "//",
    "///",
    "/\\",
    "\\\\",
    "\\/",
    "/%2F",
    "/%2f",
    "/%5C",
    "/%5c",
    "/%2f%2f",
    "/%2F%2F",
    "http:",
    "https://",
    "HTTP://",
    "javascript:",
    "JaVaScRiPt:",
    "data:",
    "\t/",
    "\n/",
    " //",
    "/\t/",
    "/\n/",
    "/\r/",
    "/%09/",
    "/%0a/",
    "/%0D/",
    "/\x00/",
    "/\x7f/",
];

proptest! {
    #![proptest_config(config())]

    #[test]
    fn safe_next_never_panics_and_only_returns_local_ascii_paths(value in next_value()) {
        let Some(location) = safe_next(&value) else {
            return Ok(());
        };
        let bytes = location.as_bytes();
        prop_assert!(bytes.first() == Some(&b'/') && bytes.get(1) != Some(&b'/'), "{:?}", location);
        prop_assert!(!location.contains('\\'), "{:?}", location);
        prop_assert!(!bytes.iter().any(|b| b.is_ascii_control()), "{:?}", location);
        prop_assert!(bytes.is_ascii(), "{:?} is not percent-encoded", location);
        // Decoded again, the path part (before `?` or `#`) stays local; the
        // query and fragment may hold any escape, kept encoded.
        let path = location.split(['?', '#']).next().unwrap_or_default();
        let decoded = percent_decode(path.as_bytes());
        prop_assert!(is_local_path(&decoded), "{:?} decodes to {:?}", location, String::from_utf8_lossy(&decoded));
    }

    #[test]
    fn safe_next_refuses_every_spelling_of_another_origin(
        prefix in prop::sample::select(ATTACK_PREFIXES),
        host in "[A-Za-z0-9.:@\\[\\]-]{0,24}",
        rest in prop_oneof![Just(String::new()), tricky_string(16)],
    ) {
        let value = format!("{prefix}{host}{rest}");
        prop_assert_eq!(safe_next(&value), None, "{:?}", value);
    }
}

// --- session ids (docs/contract.md "Sessions": 43 characters of [A-Za-z0-9_-]) ---

/// base64url characters whose 6-bit value has its low two bits clear: the
/// only ones that can end a 32-byte id (256 bits in 43 × 6 = 258).
const CANONICAL_LAST: &[u8] = b"AEIMQUYcgkosw048";

proptest! {
    #![proptest_config(config())]

    #[test]
    fn session_id_parse_never_panics_and_accepts_only_the_id_shape(
        value in prop_oneof![
            any::<String>(),
            "[A-Za-z0-9_-]{43}",
            "[A-Za-z0-9_-]{40,46}",
            "[A-Za-z0-9_=+/.-]{42,44}",
            tricky_string(45),
        ]
    ) {
        if let Some(id) = SessionId::parse(&value) {
            prop_assert_eq!(value.len(), 43);
            prop_assert!(value.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
            prop_assert_eq!(id.as_str(), value.as_str());
        }
    }

    #[test]
    fn every_canonical_43_character_id_parses(
        body in "[A-Za-z0-9_-]{42}",
        last in prop::sample::select(CANONICAL_LAST),
    ) {
        let value = format!("{body}{}", last as char);
        let id = SessionId::parse(&value);
        prop_assert_eq!(id.as_ref().map(SessionId::as_str), Some(value.as_str()));
    }

    #[test]
    fn a_non_canonical_last_character_is_refused(
        body in "[A-Za-z0-9_-]{42}",
        last in "[A-Za-z0-9_-]".prop_filter("non-canonical", |c| !CANONICAL_LAST.contains(&c.as_bytes()[0])),
    ) {
        // session.rs: one id, one spelling; `generate` never makes these.
        let value = format!("{body}{last}");
        prop_assert!(SessionId::parse(&value).is_none(), "{:?}", value);
    }

    #[test]
    fn a_generated_id_always_parses_back(_case in 0u8..8) {
        let id = SessionId::generate();
        prop_assert_eq!(id.as_str().len(), SessionId::LEN);
        let parsed = SessionId::parse(id.as_str());
        prop_assert_eq!(parsed.as_ref().map(SessionId::as_str), Some(id.as_str()));
    }
}

// --- static paths (docs/contract.md "Static files": never leave the www dir) ---

/// Segments that spell `..`, a separator, a backslash or NUL once decoded.
const TRAVERSAL: &[&str] = &[
    "..",
    "%2e%2e",
    "%2E%2e",
    ".%2e",
    "%2e.",
    "..%2f",
    "%2f..",
    "..\\",
    "%5c..",
    "%00",
    "..%00",
    "%2e%2e%2f",
    "..%5C",
];

fn plain_segment() -> impl Strategy<Value = String> {
    "[A-Za-z0-9_-][A-Za-z0-9._-]{0,8}"
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn relative_path_never_panics_and_stays_inside_the_root(
        raw in prop_oneof![
            3 => tricky_string(48).prop_map(|s| format!("/{s}")),
            1 => tricky_string(48),
            1 => any::<String>(),
        ]
    ) {
        let Some(path) = relative_path(&raw) else {
            return Ok(());
        };
        prop_assert!(path.is_relative(), "{:?} -> {:?}", raw, path);
        for component in path.components() {
            let Component::Normal(name) = component else {
                return Err(TestCaseError::fail(format!("{raw:?} -> {path:?}: {component:?}")));
            };
            let name = name.to_string_lossy();
            prop_assert!(!name.starts_with('.'), "{:?} -> {:?}", raw, path);
            prop_assert!(!name.contains(['\\', '\0']), "{:?} -> {:?}", raw, path);
        }
        let root = Path::new("/srv/www");
        let joined = root.join(&path);
        prop_assert!(joined.starts_with(root), "{:?} -> {:?}", raw, joined);
        prop_assert!(
            !joined.components().any(|c| c == Component::ParentDir),
            "{:?} -> {:?}", raw, joined
        );
    }

    #[test]
    fn every_traversal_spelling_is_refused(
        before in prop::collection::vec(plain_segment(), 0..4),
        bad in prop::sample::select(TRAVERSAL),
        glued in any::<bool>(),
        after in prop::collection::vec(prop_oneof![
            plain_segment(),
            prop::sample::select(TRAVERSAL).prop_map(str::to_owned),
        ], 0..4),
        trailing_slash in any::<bool>(),
    ) {
        // A traversal spelling is its own segment, or (for those that hold a
        // separator, backslash or NUL once decoded) glued to a plain name.
        let holds_separator = percent_decode(bad.as_bytes())
            .iter()
            .any(|b| matches!(b, b'/' | b'\\' | 0));
        let mut segments = before;
        match segments.last_mut() {
            Some(name) if glued && holds_separator => name.push_str(bad),
            _ => segments.push(bad.to_owned()),
        }
        segments.extend(after);
        let mut raw = format!("/{}", segments.join("/"));
        if trailing_slash {
            raw.push('/');
        }
        prop_assert_eq!(relative_path(&raw), None, "{:?}", raw);
    }
}
