//! `application/x-www-form-urlencoded` bodies and query strings:
//! `form::Form::parse` and `Form::from_query`.
#![no_main]

use latch::http::form::Form;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let form = Form::parse(data);
    let fields: Vec<(&str, &str)> = form.fields().collect();
    let parts = data.split(|&b| b == b'&').filter(|p| !p.is_empty());
    assert_eq!(fields.len(), parts.clone().count(), "one field per part");
    // The first duplicate wins.
    for &(name, _) in &fields {
        let first = fields.iter().find(|(n, _)| *n == name).map(|(_, v)| *v);
        assert_eq!(form.get(name), first);
    }
    // Without escapes or '+', decoding is the identity.
    if let Ok(text) = std::str::from_utf8(data) {
        if !text.contains(['%', '+']) {
            for (&(name, value), part) in
                fields.iter().zip(text.split('&').filter(|p| !p.is_empty()))
            {
                let (n, v) = part.split_once('=').unwrap_or((part, ""));
                assert_eq!((name, value), (n, v));
            }
        }
    }
    // A query string is parsed the same way, when hyper accepts the URI.
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(uri) = format!("/?{text}").parse::<hyper::Uri>() {
            let query = Form::from_query(&uri);
            let from_query: Vec<_> = query.fields().collect();
            let direct = Form::parse(uri.query().unwrap_or_default().as_bytes());
            assert_eq!(from_query, direct.fields().collect::<Vec<_>>());
        }
    }
});
