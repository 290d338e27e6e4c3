//! Small, dependency-free encodings used on the wire and on disk.
//!
//! - base64url without padding (RFC 4648 §5) for session ids and tokens;
//! - lowercase hex (RFC 4648 §8) for session file names and ETags;
//! - percent-decoding (RFC 3986 §2.1) for URL paths, queries and form bodies.

const BASE64URL: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// Encodes bytes as base64url without `=` padding (RFC 4648 §5, §3.2).
pub fn base64url(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        // A chunk of k bytes yields k + 1 significant characters.
        for i in 0..=chunk.len() {
            out.push(BASE64URL[(n >> (18 - 6 * i) & 0x3f) as usize] as char);
        }
    }
    out
}

/// The 6-bit value of a base64url character (RFC 4648 §5, Table 2), or
/// `None` for a character outside the alphabet.
pub fn base64url_value(c: u8) -> Option<u8> {
    match c {
        b'A'..=b'Z' => Some(c - b'A'),
        b'a'..=b'z' => Some(c - b'a' + 26),
        b'0'..=b'9' => Some(c - b'0' + 52),
        b'-' => Some(62),
        b'_' => Some(63),
        _ => None,
    }
}

/// Decodes base64url without padding, strictly: `None` for a character
/// outside the alphabet, a length no encoding has, or a spelling
/// `base64url` would not write (unused low bits set). One value, one
/// spelling.
pub fn base64url_decode(text: &str) -> Option<Vec<u8>> {
    if text.len() % 4 == 1 {
        return None;
    }
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    for chunk in text.as_bytes().chunks(4) {
        let mut n = 0u32;
        for (i, &c) in chunk.iter().enumerate() {
            n |= u32::from(base64url_value(c)?) << (18 - 6 * i);
        }
        let bytes = n.to_be_bytes();
        out.extend_from_slice(&bytes[1..chunk.len()]);
    }
    (base64url(&out) == text).then_some(out)
}

/// True for the 64 characters of the base64url alphabet.
pub fn is_base64url_char(c: u8) -> bool {
    base64url_value(c).is_some()
}

/// Encodes bytes as lowercase hex. (Pushed into a string sized up front,
/// not zeroed first: zeroed memory is `calloc`, which glibc serves under
/// its allocator lock, and this runs twice per signed-in request.)
pub fn hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(HEX_DIGITS[usize::from(b >> 4)]));
        out.push(char::from(HEX_DIGITS[usize::from(b & 0xf)]));
    }
    out
}

/// Writes the lowercase hex of `bytes` into `out`, two digits a byte
/// (`out` must hold `2 * bytes.len()`): hex without an allocation.
pub fn hex_into(bytes: &[u8], out: &mut [u8]) {
    for (b, pair) in bytes.iter().zip(out.chunks_exact_mut(2)) {
        pair[0] = HEX_DIGITS[usize::from(b >> 4)];
        pair[1] = HEX_DIGITS[usize::from(b & 0xf)];
    }
}

const HEX_DIGITS: &[u8; 16] = b"0123456789abcdef";

/// Decodes `%XX` escapes (RFC 3986 §2.1). A `%` not followed by two hex
/// digits is kept as it is, as browsers and WHATWG URL parsing do: decoding
/// never fails, it only ever yields bytes.
pub fn percent_decode(input: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;
    while i < input.len() {
        if input[i] == b'%' && i + 2 < input.len() {
            if let (Some(h), Some(l)) = (hex_value(input[i + 1]), hex_value(input[i + 2])) {
                out.push(h << 4 | l);
                i += 3;
                continue;
            }
        }
        out.push(input[i]);
        i += 1;
    }
    out
}

fn hex_value(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// Percent-encodes everything but RFC 3986 "unreserved" characters
/// (§2.3), so the result is safe inside a query string.
pub fn percent_encode(input: &str) -> String {
    percent_encode_except(input, |_| false)
}

/// Percent-encodes every byte except unreserved characters and those for
/// which `keep` is true (RFC 3986 §2.1: `%` and two uppercase hex digits).
pub fn percent_encode_except(input: &str, keep: impl Fn(u8) -> bool) -> String {
    let mut out = String::with_capacity(input.len());
    for &b in input.as_bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') || keep(b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64url_matches_rfc4648_test_vectors() {
        // RFC 4648 §10, in the URL-safe alphabet and without padding.
        assert_eq!(base64url(b""), "");
        assert_eq!(base64url(b"f"), "Zg");
        assert_eq!(base64url(b"fo"), "Zm8");
        assert_eq!(base64url(b"foo"), "Zm9v");
        assert_eq!(base64url(b"foob"), "Zm9vYg");
        assert_eq!(base64url(b"fooba"), "Zm9vYmE");
        assert_eq!(base64url(b"foobar"), "Zm9vYmFy");
        assert_eq!(base64url(&[0xfb, 0xff]), "-_8");
    }

    #[test]
    fn every_character_maps_back_to_its_value() {
        for (value, &c) in BASE64URL.iter().enumerate() {
            assert_eq!(base64url_value(c), Some(value as u8));
        }
        assert_eq!(base64url_value(b'='), None);
        assert_eq!(base64url_value(b'+'), None);
    }

    #[test]
    fn base64url_decodes_what_it_encodes_and_nothing_else() {
        for len in 0..40 {
            let bytes: Vec<u8> = (0..len).map(|i| (i * 37 + 5) as u8).collect();
            assert_eq!(base64url_decode(&base64url(&bytes)), Some(bytes));
        }
        for bad in ["A", "Zm9v=", "Zm9v+", "Zg==", "Zh"] {
            assert_eq!(base64url_decode(bad), None, "{bad}");
        }
    }

    #[test]
    fn hex_is_lowercase() {
        assert_eq!(hex(&[0x00, 0xab, 0xff]), "00abff");
    }

    #[test]
    fn percent_decode_keeps_broken_escapes() {
        assert_eq!(percent_decode(b"a%20b"), b"a b");
        assert_eq!(percent_decode(b"%2e%2E"), b"..");
        assert_eq!(percent_decode(b"100%"), b"100%");
        assert_eq!(percent_decode(b"%zz%4"), b"%zz%4");
        assert_eq!(percent_decode(b"%ff"), [0xff]);
    }

    #[test]
    fn percent_encode_round_trips() {
        let s = "/account?x=a b&c=ü";
        assert_eq!(percent_decode(percent_encode(s).as_bytes()), s.as_bytes());
        assert_eq!(percent_encode("/account"), "%2Faccount");
    }
}
