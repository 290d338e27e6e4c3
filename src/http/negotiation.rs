//! Content negotiation, as far as latch needs it: does the client want an
//! HTML page? An error answer is a page for a browser and one line of text
//! for curl or a script (`error::Error::into_response`).

use hyper::header::{HeaderMap, ACCEPT};

/// Whether the `Accept` header (RFC 9110 §12.5.1) names `text/html` (or
/// `text/*`) with a weight above zero. Browsers name it in every page load
/// and form post; curl (`*/*`), scripts, and clients that send no `Accept`
/// at all get the plain-text answer, which is what a terminal wants.
pub fn accepts_html(headers: &HeaderMap) -> bool {
    headers
        .get_all(ACCEPT)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .any(|range| {
            let mut parts = range.split(';');
            let media = parts.next().unwrap_or_default().trim();
            let html =
                media.eq_ignore_ascii_case("text/html") || media.eq_ignore_ascii_case("text/*");
            html && !parts.any(weight_is_zero)
        })
}

/// `q=0` (RFC 9110 §12.4.2): "not acceptable".
fn weight_is_zero(parameter: &str) -> bool {
    parameter.split_once('=').is_some_and(|(name, value)| {
        name.trim().eq_ignore_ascii_case("q") && value.trim().parse::<f32>() == Ok(0.0)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::header::HeaderValue;

    fn accept(value: &'static str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(ACCEPT, HeaderValue::from_static(value));
        headers
    }

    #[test]
    fn browsers_accept_html_and_curl_does_not() {
        for browser in [
            "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8",
            "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
            "TEXT/HTML",
            "text/*; q=0.5",
        ] {
            assert!(accepts_html(&accept(browser)), "{browser}");
        }
        for other in [
            "*/*",
            "application/json",
            "text/html;q=0",
            "text/html; q=0.000, */*",
            "image/*",
        ] {
            assert!(!accepts_html(&accept(other)), "{other}");
        }
        assert!(!accepts_html(&HeaderMap::new()), "no Accept");
    }
}
