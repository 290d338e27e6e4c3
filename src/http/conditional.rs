//! Conditional requests (RFC 9110 §13.1-13.2): the validators a response
//! carries (§8.8), and whether the copy a client holds is still current,
//! so that a 304 answers instead of the body.

use hyper::header::{
    HeaderMap, HeaderValue, ETAG, IF_MODIFIED_SINCE, IF_NONE_MATCH, LAST_MODIFIED,
};

use super::dates::{http_date, parse_http_date};

/// What tells one version of a representation from the next.
pub struct Validators {
    /// A strong entity tag, quotes included (RFC 9110 §8.8.3).
    pub etag: String,
    /// Modification time, unix seconds (the `Last-Modified` value); `None`
    /// when there is no date to give.
    pub modified: Option<u64>,
}

impl Validators {
    /// Whether the client's cached copy is current, so a 304 can answer
    /// (RFC 9110 §13.2.2: `If-None-Match` first; `If-Modified-Since` only
    /// when there is no `If-None-Match`).
    pub fn not_modified(&self, headers: &HeaderMap) -> bool {
        if let Some(value) = headers.get(IF_NONE_MATCH) {
            return if_none_match_hits(value.as_bytes(), &self.etag);
        }
        headers
            .get(IF_MODIFIED_SINCE)
            .and_then(|v| v.to_str().ok())
            .and_then(parse_http_date)
            .zip(self.modified)
            .is_some_and(|(since, modified)| modified <= since)
    }

    /// `ETag` and `Last-Modified`, sent with a 200 and repeated with a 304
    /// (RFC 9110 §15.4.5).
    pub fn insert_into(&self, headers: &mut HeaderMap) {
        if let Ok(etag) = HeaderValue::from_str(&self.etag) {
            headers.insert(ETAG, etag);
        }
        if let Some(Ok(date)) = self.modified.map(|t| HeaderValue::from_str(&http_date(t))) {
            headers.insert(LAST_MODIFIED, date);
        }
    }
}

/// `If-None-Match: "a", W/"b"` or `*`, compared weakly (RFC 9110 §13.1.2:
/// the `W/` prefix is ignored for this header).
fn if_none_match_hits(value: &[u8], etag: &str) -> bool {
    let Ok(value) = std::str::from_utf8(value) else {
        return false;
    };
    value.split(',').map(str::trim).any(|candidate| {
        candidate == "*" || candidate.strip_prefix("W/").unwrap_or(candidate) == etag
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn if_none_match_compares_weakly_and_accepts_lists() {
        let etag = "\"3-1\"";
        assert!(if_none_match_hits(b"\"3-1\"", etag));
        assert!(if_none_match_hits(b"W/\"3-1\"", etag));
        assert!(if_none_match_hits(b"\"x\", \"3-1\"", etag));
        assert!(if_none_match_hits(b"*", etag));
        assert!(!if_none_match_hits(b"\"3-2\"", etag));
        assert!(!if_none_match_hits(b"3-1", etag));
    }
}
