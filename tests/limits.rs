//! Limits and bad input on the wire (docs/contract.md, "Limits and bad input" and
//! "Cross-origin check"), through `POST /theme`, the one form anyone can
//! send without signing in: 413 for bodies over 16 KiB, 415 for other media
//! types, 400 for values the form does not take, 403 for cross-origin
//! POSTs; never a 5xx, and a refused request leaves no session file.

use std::io::Write;
use std::time::Duration;

use crate::support::{read_response, Response, Server};

const FORM: &str = "application/x-www-form-urlencoded";
/// docs/contract.md, "Limits and bad input": form bodies over 16 KiB get 413.
const LIMIT: usize = 16 * 1024;

/// `POST /theme` with `body` and `headers` (a `Content-Type` among them
/// when the test wants one).
fn post_theme(server: &Server, headers: &[(&str, &str)], body: &str) -> Response {
    server.send("POST", "/theme", None, headers, body)
}

/// `POST /theme theme=dark` as a form, plus `headers`.
fn post_dark_theme_with(server: &Server, headers: &[(&str, &str)]) -> Response {
    let mut all = vec![("Content-Type", FORM)];
    all.extend_from_slice(headers);
    post_theme(server, &all, "theme=dark")
}

/// The request was refused with `status`, and nothing reached the disk.
fn assert_refused(server: &Server, response: &Response, status: u16) {
    assert_eq!(response.status, status, "{}", response.status_line);
    assert!(
        response.header("set-cookie").is_none(),
        "a refused request set a cookie"
    );
    assert_eq!(
        server.stored_sessions(),
        0,
        "a refused request created a session"
    );
}

/// The theme was stored: 303 to `/` and one new session file.
fn assert_stored(server: &Server, response: &Response) {
    assert_eq!(response.status_line, "HTTP/1.1 303 See Other");
    assert_eq!(response.header("location"), Some("/"));
    assert_eq!(server.stored_sessions(), 1);
}

#[test]
fn a_declared_content_length_over_16_kib_is_413() {
    let server = Server::start(&[]);
    // Only the head is sent: the length alone must be enough to refuse.
    let head = format!(
        "POST /theme HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\
         Content-Type: {FORM}\r\nContent-Length: {}\r\n\r\n",
        LIMIT + 1
    );
    let response = server.raw(head.as_bytes());
    assert_refused(&server, &response, 413);
}

#[test]
fn a_chunked_body_that_grows_past_16_kib_is_413() {
    let server = Server::start(&[]);
    let mut stream = server.connect();
    let head = format!(
        "POST /theme HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\
         Content-Type: {FORM}\r\nTransfer-Encoding: chunked\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).unwrap();
    let mut body = b"theme=dark&pad=".to_vec();
    body.resize(LIMIT + 1024, b'a');
    for chunk in body.chunks(1024) {
        // The server may answer and stop reading as soon as the limit is
        // crossed; a write that fails then is expected.
        let framed = [format!("{:x}\r\n", chunk.len()).as_bytes(), chunk, b"\r\n"].concat();
        if stream.write_all(&framed).is_err() {
            break;
        }
    }
    let _ = stream.write_all(b"0\r\n\r\n");
    let response = read_response(&mut stream);
    assert_refused(&server, &response, 413);
}

#[test]
fn a_form_body_of_exactly_16_kib_is_accepted() {
    let server = Server::start(&[]);
    let mut body = "theme=dark&pad=".to_string();
    body.extend(std::iter::repeat_n('a', LIMIT - body.len()));
    assert_eq!(body.len(), LIMIT);
    let response = server.post("/theme", None, &body);
    assert_stored(&server, &response);
}

#[test]
fn a_json_body_is_415() {
    let server = Server::start(&[]);
    let response = post_theme(
        &server,
        &[("Content-Type", "application/json")],
        "{\"theme\":\"dark\"}",
    );
    assert_refused(&server, &response, 415);
}

#[test]
fn a_multipart_body_is_415() {
    let server = Server::start(&[]);
    let body = "--b\r\nContent-Disposition: form-data; name=\"theme\"\r\n\r\ndark\r\n--b--\r\n";
    let response = post_theme(
        &server,
        &[("Content-Type", "multipart/form-data; boundary=b")],
        body,
    );
    assert_refused(&server, &response, 415);
}

#[test]
fn a_body_without_a_content_type_is_415() {
    let server = Server::start(&[]);
    let response = post_theme(&server, &[], "theme=dark");
    assert_refused(&server, &response, 415);
}

#[test]
fn an_unknown_theme_is_400() {
    let server = Server::start(&[]);
    let response = server.post("/theme", None, "theme=purple");
    assert_refused(&server, &response, 400);
}

#[test]
fn a_theme_of_invalid_utf8_is_400() {
    let server = Server::start(&[]);
    let mut request = format!(
        "POST /theme HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\
         Content-Type: {FORM}\r\nContent-Length: 9\r\n\r\n"
    )
    .into_bytes();
    request.extend_from_slice(b"theme=\xff\xfe\x80");
    let response = server.raw(&request);
    assert_refused(&server, &response, 400);
}

#[test]
fn a_theme_of_percent_encoded_invalid_utf8_is_400() {
    let server = Server::start(&[]);
    let response = server.post("/theme", None, "theme=%ff%fe");
    assert_refused(&server, &response, 400);
}

#[test]
fn garbage_percent_escapes_are_400() {
    let server = Server::start(&[]);
    for body in [
        "theme=%zz",
        "theme=%",
        "theme=%d",
        "%%%=%%%&theme=%2",
        "&&=&",
    ] {
        let response = server.post("/theme", None, body);
        assert_refused(&server, &response, 400);
    }
}

#[test]
fn a_nul_in_the_theme_is_400() {
    let server = Server::start(&[]);
    let response = server.post("/theme", None, "theme=dark%00");
    assert_refused(&server, &response, 400);
}

#[test]
fn sec_fetch_site_cross_site_is_403() {
    let server = Server::start(&[]);
    let response = post_dark_theme_with(&server, &[("Sec-Fetch-Site", "cross-site")]);
    assert_refused(&server, &response, 403);
}

#[test]
fn sec_fetch_site_same_site_is_403() {
    // A sibling subdomain is another origin (RFC 6454 §5).
    let server = Server::start(&[]);
    let response = post_dark_theme_with(&server, &[("Sec-Fetch-Site", "same-site")]);
    assert_refused(&server, &response, 403);
}

#[test]
fn sec_fetch_site_same_origin_is_allowed() {
    let server = Server::start(&[]);
    let response = post_dark_theme_with(&server, &[("Sec-Fetch-Site", "same-origin")]);
    assert_stored(&server, &response);
}

#[test]
fn sec_fetch_site_none_is_allowed() {
    let server = Server::start(&[]);
    let response = post_dark_theme_with(&server, &[("Sec-Fetch-Site", "none")]);
    assert_stored(&server, &response);
}

#[test]
fn sec_fetch_site_cross_site_wins_over_a_matching_origin() {
    let server = Server::start(&[]);
    let origin = format!("http://{}", server.addr);
    let response = post_dark_theme_with(
        &server,
        &[("Sec-Fetch-Site", "cross-site"), ("Origin", &origin)],
    );
    assert_refused(&server, &response, 403);
}

#[test]
fn a_foreign_origin_without_sec_fetch_site_is_403() {
    let server = Server::start(&[]);
    let response = post_dark_theme_with(&server, &[("Origin", "http://evil.example")]);
    assert_refused(&server, &response, 403);
}

#[test]
fn an_origin_on_another_port_is_403() {
    let server = Server::start(&[]);
    let origin = format!("http://127.0.0.1:{}", server.addr.port() ^ 1);
    let response = post_dark_theme_with(&server, &[("Origin", &origin)]);
    assert_refused(&server, &response, 403);
}

#[test]
fn origin_null_is_403() {
    let server = Server::start(&[]);
    let response = post_dark_theme_with(&server, &[("Origin", "null")]);
    assert_refused(&server, &response, 403);
}

#[test]
fn an_origin_naming_the_host_header_is_allowed() {
    let server = Server::start(&[]);
    // `Server::send` writes `Host: <addr>`.
    let origin = format!("http://{}", server.addr);
    let response = post_dark_theme_with(&server, &[("Origin", &origin)]);
    assert_stored(&server, &response);
}

#[test]
fn a_post_with_neither_header_is_allowed() {
    let server = Server::start(&[]);
    let response = post_dark_theme_with(&server, &[]);
    assert_stored(&server, &response);
}

#[test]
fn a_cross_origin_post_is_refused_before_its_body_is_judged() {
    // The cross-origin check runs before any byte of the body is read, so
    // another site learns nothing from how its body would have been judged.
    let server = Server::start(&[]);
    let response = post_theme(
        &server,
        &[
            ("Content-Type", "application/json"),
            ("Sec-Fetch-Site", "cross-site"),
        ],
        "{}",
    );
    assert_refused(&server, &response, 403);
}

#[test]
fn a_request_head_that_trickles_in_within_two_seconds_is_served() {
    let server = Server::start(&[]);
    let mut stream = server.connect();
    for piece in [
        &b"GET /heal"[..],
        b"thz HTTP/1.1\r\n",
        b"Host: x\r\n",
        b"Connection: close\r\n",
        b"\r\n",
    ] {
        stream.write_all(piece).unwrap();
        stream.flush().unwrap();
        std::thread::sleep(Duration::from_millis(300));
    }
    let response = read_response(&mut stream);
    assert_eq!(response.status, 200);
    assert_eq!(response.text().trim_end(), "ok");
}
