//! Routing on the wire (docs/contract.md, "Routes" and "Every response"): which paths
//! exist, which methods each takes (405 with `Allow`, RFC 9110 §15.5.6),
//! what `OPTIONS` (§9.3.7) and `HEAD` (§9.3.2) answer, and how one
//! HTTP/1.1 connection carries several requests (RFC 9112 §9.3).

use std::io::Write;

use crate::support::{read_response, Server};

/// The exact policy docs/contract.md puts on every HTML page latch renders.
const CSP: &str = "default-src 'self'; frame-ancestors 'none'";

/// Splits a raw response at the blank line that ends its head: the head's
/// header lines (names lowercased, `Date` left out because it ticks) and
/// every byte after the head.
fn split_head(bytes: &[u8]) -> (String, Vec<(String, String)>, Vec<u8>) {
    let end = bytes
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a complete response head");
    let head = std::str::from_utf8(&bytes[..end]).expect("an ASCII head");
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap().to_string();
    let mut headers: Vec<(String, String)> = lines
        .map(|line| {
            let (name, value) = line.split_once(':').unwrap();
            (name.trim().to_ascii_lowercase(), value.trim().to_string())
        })
        .filter(|(name, _)| name != "date")
        .collect();
    headers.sort();
    (status_line, headers, bytes[end + 4..].to_vec())
}

/// `HEAD path` answers with GET's status line and headers, `Content-Length`
/// equal to the length of GET's body, and not one byte after the head.
fn assert_head_mirrors_get(server: &Server, path: &str) {
    let get = server.raw_until_close(
        format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes(),
    );
    let head = server.raw_until_close(
        format!("HEAD {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes(),
    );
    let (get_status, get_headers, get_body) = split_head(&get);
    let (head_status, head_headers, after_head) = split_head(&head);
    assert_eq!(head_status, get_status, "HEAD {path}");
    assert_eq!(head_headers, get_headers, "HEAD {path}");
    let length = head_headers
        .iter()
        .find(|(name, _)| name == "content-length")
        .map(|(_, value)| value.parse::<usize>().unwrap());
    assert_eq!(length, Some(get_body.len()), "HEAD {path}: Content-Length");
    assert!(
        after_head.is_empty(),
        "HEAD {path} sent a body: {:?}",
        String::from_utf8_lossy(&after_head)
    );
}

/// A status line's code, when the server wrote one at all.
fn status_of(bytes: &[u8]) -> Option<u16> {
    let text = String::from_utf8_lossy(bytes);
    text.strip_prefix("HTTP/1.1 ")?.get(..3)?.parse().ok()
}

/// Sends a request hyper's parser must refuse, and checks the answer is a
/// 4xx or a closed connection, never a 5xx, and that the server still
/// serves the next client.
fn assert_refused_without_5xx(server: &Server, request: &[u8]) {
    let answer = server.raw_until_close(request);
    if let Some(status) = status_of(&answer) {
        assert!(
            (400..500).contains(&status),
            "{:?} got {status}",
            String::from_utf8_lossy(request)
        );
    } else {
        assert!(
            answer.is_empty(),
            "{:?} got bytes that are not a status line: {:?}",
            String::from_utf8_lossy(request),
            String::from_utf8_lossy(&answer)
        );
    }
    let health = server.get("/healthz", None);
    assert_eq!(
        health.status,
        200,
        "the server still serves after {:?}",
        String::from_utf8_lossy(request)
    );
}

#[test]
fn an_unknown_path_is_404() {
    let server = Server::start(&[]);
    for path in ["/nope", "/logout/", "/LOGOUT", "/healthz/x"] {
        let response = server.get(path, None);
        assert_eq!(response.status_line, "HTTP/1.1 404 Not Found", "{path}");
    }
}

#[test]
fn delete_on_home_is_405_with_allow_get_head_options() {
    let server = Server::start(&[]);
    let response = server.send("DELETE", "/", None, &[], "");
    assert_eq!(response.status_line, "HTTP/1.1 405 Method Not Allowed");
    assert_eq!(response.header("allow"), Some("GET, HEAD, OPTIONS"));
}

#[test]
fn logout_by_get_head_put_or_delete_is_405_with_allow_post_options() {
    let server = Server::start(&[]);
    for method in ["GET", "HEAD", "PUT", "DELETE"] {
        let response = server.send(method, "/logout", None, &[], "");
        assert_eq!(response.status, 405, "{method} /logout");
        assert_eq!(
            response.header("allow"),
            Some("POST, OPTIONS"),
            "{method} /logout"
        );
    }
}

#[test]
fn theme_by_get_is_405_with_allow_post_options() {
    let server = Server::start(&[]);
    let response = server.get("/theme", None);
    assert_eq!(response.status, 405);
    assert_eq!(response.header("allow"), Some("POST, OPTIONS"));
}

#[test]
fn post_on_healthz_is_405_with_allow_get_head_options() {
    let server = Server::start(&[]);
    let response = server.post("/healthz", None, "");
    assert_eq!(response.status, 405);
    assert_eq!(response.header("allow"), Some("GET, HEAD, OPTIONS"));
}

#[test]
fn options_on_a_known_route_is_204_with_allow() {
    let server = Server::start(&[]);
    for (path, allow) in [
        ("/", "GET, HEAD, OPTIONS"),
        ("/healthz", "GET, HEAD, OPTIONS"),
        ("/login", "GET, HEAD, POST, OPTIONS"),
        ("/logout", "POST, OPTIONS"),
        ("/theme", "POST, OPTIONS"),
    ] {
        let response = server.send("OPTIONS", path, None, &[], "");
        assert_eq!(response.status_line, "HTTP/1.1 204 No Content", "{path}");
        assert_eq!(response.header("allow"), Some(allow), "{path}");
        assert!(response.body.is_empty(), "{path}");
    }
}

#[test]
fn head_on_home_sends_gets_headers_and_no_body() {
    let server = Server::start(&[]);
    assert_head_mirrors_get(&server, "/");
}

#[test]
fn head_on_healthz_sends_gets_headers_and_no_body() {
    let server = Server::start(&[]);
    assert_head_mirrors_get(&server, "/healthz");
}

#[test]
fn home_page_carries_every_header_html_pages_must() {
    let server = Server::start(&[]);
    let response = server.get("/", None);
    assert_eq!(response.status_line, "HTTP/1.1 200 OK");
    assert_eq!(response.header("cache-control"), Some("no-store"));
    assert_eq!(
        response.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    assert_eq!(response.header("content-security-policy"), Some(CSP));
    assert_eq!(response.header("x-frame-options"), Some("DENY"));
    assert_eq!(response.header("referrer-policy"), Some("same-origin"));
    assert!(response.text().contains("href=\"/login\""));
}

#[test]
fn healthz_is_200_ok() {
    let server = Server::start(&[]);
    let response = server.get("/healthz", None);
    assert_eq!(response.status_line, "HTTP/1.1 200 OK");
    assert_eq!(response.text().trim_end(), "ok");
}

#[test]
fn a_query_string_does_not_change_the_route() {
    let server = Server::start(&[]);
    let response = server.get("/healthz?probe=1", None);
    assert_eq!(response.status, 200);
    assert_eq!(response.text().trim_end(), "ok");
}

#[test]
fn a_keep_alive_connection_serves_two_requests_in_a_row() {
    let server = Server::start(&[]);
    let mut stream = server.connect();
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let first = read_response(&mut stream);
    assert_eq!(first.status, 200);
    assert_ne!(first.header("connection"), Some("close"));
    stream
        .write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let second = read_response(&mut stream);
    assert_eq!(second.status, 200);
    assert_eq!(
        second.header("content-type"),
        Some("text/html; charset=utf-8")
    );
}

#[test]
fn pipelined_requests_on_one_connection_are_answered_in_order() {
    let server = Server::start(&[]);
    let answer = server.raw_until_close(
        b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n\
          DELETE / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    let text = String::from_utf8_lossy(&answer);
    let ok = text.find("HTTP/1.1 200 OK").expect("the first answer");
    let not_allowed = text
        .find("HTTP/1.1 405 Method Not Allowed")
        .expect("the second answer");
    assert!(ok < not_allowed, "{text}");
}

#[test]
fn a_raw_nul_in_the_request_line_is_a_4xx_or_a_close_never_a_5xx() {
    let server = Server::start(&[]);
    assert_refused_without_5xx(&server, b"GET /\0 HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_refused_without_5xx(&server, b"GET /a\0b HTTP/1.1\r\nHost: x\r\n\r\n");
}

#[test]
fn a_garbage_request_line_is_a_4xx_or_a_close_never_a_5xx() {
    let server = Server::start(&[]);
    for garbage in [
        &b"\x00\x01\x02\x03\r\n\r\n"[..],
        b"HELLO\r\n\r\n",
        b"GET\r\n\r\n",
        b"G@T / HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET / HTTP/9.9\r\nHost: x\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n",
        b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03\r\n\r\n",
    ] {
        assert_refused_without_5xx(&server, garbage);
    }
}
