//! HTML form bodies: `application/x-www-form-urlencoded` (WHATWG URL
//! standard §5.1, the format of HTML forms and of query strings): whether a
//! request's headers announce one latch will read, and parsing its bytes.
//! Reading the body itself, within its size and time limits, is
//! `service::read_post`'s.

use hyper::header::{HeaderMap, CONTENT_LENGTH, CONTENT_TYPE, TRANSFER_ENCODING};

use crate::http::encoding::percent_decode;

/// Form bodies larger than this are refused with 413 (docs/contract.md, Limits).
pub const MAX_BODY_BYTES: usize = 16 * 1024;

/// The decoded `name=value` fields of a form, in order.
#[derive(Debug, Default)]
pub struct Form {
    fields: Vec<(String, String)>,
}

/// Why a form body was not read; each maps to one 4xx status.
#[derive(Debug, PartialEq, Eq)]
pub enum FormError {
    /// 415: RFC 9110 §15.5.16.
    UnsupportedMediaType,
    /// 413: RFC 9110 §15.5.14.
    TooLarge,
    /// 408: the body did not arrive in time (RFC 9110 §15.5.9).
    Timeout,
    /// 400: a transfer coding other than `chunked` (RFC 9112 §6.1).
    UnknownTransferCoding,
    /// 400: the connection broke or the framing was invalid mid-body.
    Broken,
}

impl Form {
    /// Parses urlencoded bytes (WHATWG URL §5.1): split on `&`, split each
    /// part at its first `=`, turn `+` into a space, then percent-decode.
    /// Parsing never fails: bytes that are not UTF-8 after decoding become
    /// U+FFFD, so a hostile form can only ever yield odd strings.
    pub fn parse(input: &[u8]) -> Form {
        let fields = input
            .split(|&b| b == b'&')
            .filter(|part| !part.is_empty())
            .map(|part| {
                let (name, value) = match part.iter().position(|&b| b == b'=') {
                    Some(i) => (&part[..i], &part[i + 1..]),
                    None => (part, &[][..]),
                };
                (decode_component(name), decode_component(value))
            })
            .collect();
        Form { fields }
    }

    /// The query string of a URI, parsed the same way (it has the same
    /// format: WHATWG URL §5.1).
    pub fn from_query(uri: &hyper::Uri) -> Form {
        Form::parse(uri.query().unwrap_or_default().as_bytes())
    }

    /// Every field, in order.
    pub fn fields(&self) -> impl Iterator<Item = (&str, &str)> {
        self.fields.iter().map(|(n, v)| (n.as_str(), v.as_str()))
    }

    /// The first value of `name`; later duplicates are ignored, so a field
    /// cannot be overridden by appending another copy of it.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

fn decode_component(raw: &[u8]) -> String {
    let plus_as_space: Vec<u8> = raw
        .iter()
        .map(|&b| if b == b'+' { b' ' } else { b })
        .collect();
    String::from_utf8_lossy(&percent_decode(&plus_as_space)).into_owned()
}

/// Whether the headers announce a form body latch will read.
///
/// 1. A `Content-Type` other than urlencoded is refused (415). A request
///    with no `Content-Type` and no body is an empty form: that is how
///    `curl -X POST` or a `fetch` with only a header token looks. A
///    transfer coding other than `chunked` (which hyper decodes) is refused
///    (400): hyper would pass, say, gzip bytes on undecoded (RFC 9112 §6.1).
/// 2. A declared `Content-Length` over the limit is refused before reading.
///
/// The body must still be read through a byte limit (for chunked bodies,
/// whose size is unknown up front) and a time limit.
pub fn admit(headers: &HeaderMap) -> Result<(), FormError> {
    let declared_len = headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    // 1.
    let codings = headers.get_all(TRANSFER_ENCODING).iter();
    let only_chunked = codings
        .flat_map(|v| v.as_bytes().split(|&b| b == b','))
        .all(|coding| coding.trim_ascii().eq_ignore_ascii_case(b"chunked"));
    if !only_chunked {
        return Err(FormError::UnknownTransferCoding);
    }
    match headers.get(CONTENT_TYPE) {
        Some(value) if is_urlencoded(value.as_bytes()) => {}
        None if declared_len.unwrap_or(0) == 0 => {}
        _ => return Err(FormError::UnsupportedMediaType),
    }
    // 2.
    if declared_len.is_some_and(|len| len > MAX_BODY_BYTES as u64) {
        return Err(FormError::TooLarge);
    }
    Ok(())
}

/// True when a `Content-Type` value names the urlencoded media type.
/// Media types are case-insensitive and may carry parameters such as
/// `; charset=UTF-8` (RFC 9110 §8.3.1).
fn is_urlencoded(value: &[u8]) -> bool {
    let essence = value.split(|&b| b == b';').next().unwrap_or_default();
    essence
        .trim_ascii()
        .eq_ignore_ascii_case(b"application/x-www-form-urlencoded")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// That `+` is a space and `%2B` a plus, that the first duplicate wins
    /// and that no input panics, `tests/properties.rs` holds for any input.
    #[test]
    fn decodes_escapes_and_keeps_odd_fields() {
        let form = Form::parse(b"username=al+ice&next=%2Faccount%3Fx%3D1&empty=&flag&=v");
        assert_eq!(form.get("username"), Some("al ice"));
        assert_eq!(form.get("next"), Some("/account?x=1"));
        assert_eq!(form.get("empty"), Some(""));
        assert_eq!(form.get("flag"), Some(""));
        assert_eq!(form.get(""), Some("v"));
        assert_eq!(form.get("missing"), None);
        // Bytes that are not UTF-8 once decoded become U+FFFD.
        let form = Form::parse(b"name=%ff%fe&ok=yes");
        assert_eq!(form.get("name"), Some("\u{fffd}\u{fffd}"));
        assert_eq!(form.get("ok"), Some("yes"));
    }

    #[test]
    fn content_type_may_carry_parameters_and_any_case() {
        assert!(is_urlencoded(b"application/x-www-form-urlencoded"));
        assert!(is_urlencoded(
            b"Application/X-WWW-Form-URLEncoded; charset=UTF-8"
        ));
        assert!(!is_urlencoded(b"multipart/form-data; boundary=x"));
        assert!(!is_urlencoded(b"application/json"));
        assert!(!is_urlencoded(b"application/x-www-form-urlencodedX"));
    }
}
