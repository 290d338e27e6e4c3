//! `X-Forwarded-For` behind a trusted proxy: `forwarded::client_address`.
//!
//! The input is one or more header field values, one per line. From the
//! trusted proxy the answer is the peer or the last entry of the last
//! field; from anyone else it is always the peer.
#![no_main]

use std::net::{IpAddr, Ipv4Addr};

use hyper::header::{HeaderMap, HeaderValue};
use latch::http::forwarded::client_address;
use libfuzzer_sys::fuzz_target;

const PROXY: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

fuzz_target!(|data: &[u8]| {
    let mut headers = HeaderMap::new();
    for line in data.split(|&b| b == b'\n') {
        if let Ok(value) = HeaderValue::from_bytes(line) {
            headers.append("x-forwarded-for", value);
        }
    }
    let stranger: IpAddr = "192.0.2.9".parse().unwrap();
    assert_eq!(client_address(stranger, Some(PROXY), &headers), stranger);
    assert_eq!(client_address(PROXY, None, &headers), PROXY);

    let last_entry: Option<IpAddr> = headers
        .get_all("x-forwarded-for")
        .iter()
        .next_back()
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.rsplit(',').next())
        .and_then(|entry| entry.trim().parse().ok());
    let expected = last_entry.unwrap_or(PROXY);
    assert_eq!(client_address(PROXY, Some(PROXY), &headers), expected);
    // An IPv4-mapped peer on a dual-stack listener is the same proxy.
    let mapped: IpAddr = "::ffff:127.0.0.1".parse().unwrap();
    assert_eq!(client_address(mapped, Some(PROXY), &headers), expected);
});
