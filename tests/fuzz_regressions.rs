//! Inputs the fuzz targets (fuzz/fuzz_targets) found to break a parser,
//! each kept here as a test so the bug stays fixed. Each test names the
//! target that found it; the exact input is in the test.

use latch::http::dates::{http_date, parse_http_date};

use crate::support::Server;

/// Found by `http_date`: a year of 24 digits made the day count overflow
/// (a panic with overflow checks, a wrong date without). IMF-fixdate's year
/// has four digits (RFC 9110 §5.6.7).
const HUGE_YEAR: &str = "Fri, 31 Dec 000003619926490369024922 23:59:60 GMT";

#[test]
fn a_date_with_a_year_past_9999_is_not_a_date() {
    assert_eq!(parse_http_date(HUGE_YEAR), None);
    assert_eq!(parse_http_date("Sat, 01 Jan 10000 00:00:00 GMT"), None);
    assert_eq!(
        parse_http_date("Sun, 19 Jan 18446744073709551615 00:00:00 GMT"),
        None
    );
}

#[test]
fn the_last_second_of_year_9999_still_parses_back() {
    let last = parse_http_date("Fri, 31 Dec 9999 23:59:59 GMT").expect("a valid date");
    assert_eq!(http_date(last), "Fri, 31 Dec 9999 23:59:59 GMT");
}

#[test]
fn if_modified_since_with_a_huge_year_gets_the_full_file() {
    let server = Server::start(&[]);
    let response = server.send(
        "GET",
        "/style.css",
        None,
        &[("If-Modified-Since", HUGE_YEAR)],
        "",
    );
    assert_eq!(response.status, 200, "{}", response.status_line);
    assert!(!response.body.is_empty());
}

/// Found by `session_record`: serde_json (without its `float_roundtrip`
/// feature) reads `1.3e308` one unit in the last place off, so a float in a
/// session file's data (latch writes none; an edited file may hold one)
/// comes back slightly different after a rewrite. The record itself, its
/// times and everything that is not a float, must come back exactly.
#[test]
fn a_session_file_with_floats_in_its_data_reads_and_writes_back() {
    use latch::sessions::Record;
    let input = br#"{"v":0,"created":1,"expires":2,"data":{"x":1.3e308,"y":-0.0,"theme":"dark"}}"#;
    let record: Record = serde_json::from_slice(input).expect("a well-formed record");
    let written = serde_json::to_vec(&record).unwrap();
    let again: Record = serde_json::from_slice(&written).expect("reads back");
    assert_eq!(
        (again.v, again.created, again.expires, again.seen),
        (0, 1, 2, None)
    );
    assert_eq!(again.theme(), Some("dark"));
    assert_eq!(again.data["y"], record.data["y"]);
    let (x, x_again) = (
        record.data["x"].as_f64().unwrap(),
        again.data["x"].as_f64().unwrap(),
    );
    assert!(
        (x - x_again).abs() <= x.abs() * f64::EPSILON,
        "{x} vs {x_again}"
    );
}
