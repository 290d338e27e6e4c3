//! Hostile bytes on the wire. Each test writes a malformed or ambiguous
//! request to a live server and reads everything until the server closes.
//! docs/contract.md, "Limits and bad input": bad input gets a 4xx (or, for bytes the
//! HTTP parser refuses, a 400 or a closed connection), never a 5xx and never
//! a panic, and the server keeps serving everyone else afterwards.
//!
//! The requests that reach the application carry `Connection: close`, so
//! that a keep-alive connection cannot be mistaken for a hang.

use std::io::{ErrorKind, Read, Write};

use crate::support::Server;

/// The status code of every line of `reply` that looks like an HTTP/1.x
/// status line. More than one means the server answered a request we did
/// not send as one (request smuggling).
fn status_codes(reply: &[u8]) -> Vec<u16> {
    reply
        .split(|&b| b == b'\n')
        .filter_map(|line| line.strip_prefix(b"HTTP/1."))
        .filter_map(|rest| rest.get(2..5))
        .filter_map(|code| std::str::from_utf8(code).ok()?.parse().ok())
        .collect()
}

/// The status code of a reply that starts with a status line; `None` for an
/// empty reply (the server closed without answering).
fn status(reply: &[u8], what: &str) -> Option<u16> {
    if reply.is_empty() {
        return None;
    }
    assert!(
        reply.starts_with(b"HTTP/1."),
        "{what}: the reply is not an HTTP response: {:?}",
        String::from_utf8_lossy(reply)
    );
    let codes = status_codes(reply);
    assert_eq!(
        codes.len(),
        1,
        "{what}: expected exactly one response, got {codes:?}: {:?}",
        String::from_utf8_lossy(reply)
    );
    Some(codes[0])
}

/// The reply is one 4xx response, or nothing at all (closed).
fn assert_refused(reply: &[u8], what: &str) {
    if let Some(code) = status(reply, what) {
        assert!(
            (400..500).contains(&code),
            "{what}: expected a 4xx or a closed connection, got {code}: {:?}",
            String::from_utf8_lossy(reply)
        );
    }
}

/// The reply is one response of one of `allowed`, or nothing at all.
fn assert_status_in(reply: &[u8], allowed: &[u16], what: &str) {
    if let Some(code) = status(reply, what) {
        assert!(
            allowed.contains(&code),
            "{what}: expected one of {allowed:?} or a closed connection, got {code}: {:?}",
            String::from_utf8_lossy(reply)
        );
    }
}

/// A fresh connection still gets `GET /healthz` → 200 `ok`.
fn assert_healthy(server: &Server) {
    let response = server.get("/healthz", None);
    assert_eq!(response.status, 200, "healthz after hostile input");
    assert_eq!(response.text(), "ok\n");
}

/// No session file was written: a refused POST /theme changed nothing.
fn assert_no_session_written(server: &Server) {
    assert_eq!(
        server.stored_sessions(),
        0,
        "a refused request wrote a session"
    );
}

/// A `POST /theme` head (without the blank line) that would store
/// `theme=dark` if its body were read as the client meant it.
fn theme_post_head(framing: &str) -> String {
    format!(
        "POST /theme HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\
         Content-Type: application/x-www-form-urlencoded\r\n{framing}"
    )
}

/// `Server::raw_until_close` for a request big enough that the server may
/// answer and close before it has read it all: a write that fails then, or
/// a reset, just ends the exchange with whatever arrived.
fn send_large(server: &Server, request: &[u8]) -> Vec<u8> {
    let mut stream = server.connect();
    let _ = stream.write_all(request);
    let mut reply = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        match stream.read(&mut chunk) {
            Ok(0) => return reply,
            Ok(n) => reply.extend_from_slice(&chunk[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                panic!("the server neither answered nor closed in time")
            }
            Err(_) => return reply,
        }
    }
}

#[test]
fn a_request_line_without_a_version_is_refused() {
    let server = Server::start(&[]);
    for request in [
        &b"GET /healthz\r\n\r\n"[..],
        b"GET /healthz\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
        b"GET /healthz HTTP/\r\nHost: 127.0.0.1\r\n\r\n",
        b"GET /healthz HTTP/9.9\r\nHost: 127.0.0.1\r\n\r\n",
    ] {
        let reply = server.raw_until_close(request);
        assert_refused(&reply, &String::from_utf8_lossy(request));
    }
    assert_healthy(&server);
}

#[test]
fn a_lowercase_or_garbage_method_is_refused() {
    let server = Server::start(&[]);
    // Methods are case-sensitive (RFC 9110 §9.1): `get` is an unknown
    // method (405 on a known path), and bytes outside `token` are no method.
    for method in [
        &b"get"[..],
        b"gEt",
        b"G\x01T",
        b"\xff\xfe",
        b"GE(T",
        b"\x00",
    ] {
        let mut request = method.to_vec();
        request.extend_from_slice(
            b" /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
        );
        let reply = server.raw_until_close(&request);
        assert_refused(&reply, &String::from_utf8_lossy(method));
    }
    assert_healthy(&server);
}

#[test]
fn a_request_line_with_double_spaces_is_refused() {
    let server = Server::start(&[]);
    for request in [
        "GET  /  HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
        "GET /healthz  HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
        "GET\t/healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
        " GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
    ] {
        let reply = server.raw_until_close(request.as_bytes());
        assert_refused(&reply, request);
    }
    assert_healthy(&server);
}

#[test]
fn an_absolute_form_target_naming_another_host_is_never_proxied_or_reflected() {
    let server = Server::start(&[]);
    // RFC 9112 §3.2.2: a server must accept the absolute form, and then
    // uses its authority instead of Host. latch is no proxy: it may serve
    // its own page or refuse (400, or 421 Misdirected Request), but must
    // never fetch from, redirect to or echo the other host, nor fail.
    for request in [
        "GET http://evil.example/ HTTP/1.1\r\nHost: evil.example\r\nConnection: close\r\n\r\n",
        "GET http://evil.example/account HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
        "GET https://evil.example:8443/login HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
    ] {
        let reply = server.raw_until_close(request.as_bytes());
        assert_status_in(&reply, &[200, 303, 400, 404, 421], request);
        let text = String::from_utf8_lossy(&reply).to_ascii_lowercase();
        assert!(
            !text.contains("evil.example"),
            "{request:?}: the reply names the other host: {text}"
        );
        if let Some(location) = text.lines().find_map(|l| l.strip_prefix("location:")) {
            let location = location.trim();
            assert!(
                location.starts_with('/') && !location.starts_with("//"),
                "{request:?}: redirected off-site to {location:?}"
            );
        }
    }
    assert_healthy(&server);
}

#[test]
fn a_request_target_of_20_kib_is_refused() {
    let server = Server::start(&[]);
    let long_name = "a".repeat(20 * 1024);
    let many_segments = "a/".repeat(10 * 1024);
    let many_dots = "..%2f".repeat(4 * 1024);
    for target in [long_name, many_segments, many_dots] {
        let request =
            format!("GET /{target} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
        let reply = send_large(&server, request.as_bytes());
        assert_refused(&reply, &format!("a target of {} bytes", target.len() + 1));
    }
    assert_healthy(&server);
}

#[test]
fn a_header_value_of_100_kib_is_refused() {
    let server = Server::start(&[]);
    let big = "a".repeat(100 * 1024);
    for header in [format!("X-Big: {big}"), format!("Cookie: sid={big}")] {
        let request = format!(
            "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n{header}\r\n\r\n"
        );
        let reply = send_large(&server, request.as_bytes());
        assert_status_in(&reply, &[400, 431], &header[..12]);
    }
    assert_healthy(&server);
}

#[test]
fn two_hundred_headers_are_refused() {
    let server = Server::start(&[]);
    let mut request =
        String::from("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n");
    for i in 0..200 {
        request.push_str(&format!("X-Header-{i}: {i}\r\n"));
    }
    request.push_str("\r\n");
    let reply = server.raw_until_close(request.as_bytes());
    assert_status_in(&reply, &[400, 431], "200 headers");
    assert_healthy(&server);
}

#[test]
fn invalid_utf8_in_a_header_value_is_refused_or_ignored_never_a_5xx() {
    let server = Server::start(&[]);
    // An `Origin` that is not UTF-8 cannot match `Host`: the POST is
    // refused by the cross-origin check, and nothing is stored.
    let mut request = theme_post_head("Content-Length: 10\r\n").into_bytes();
    request.extend_from_slice(b"Origin: http://\xff\xfe.example\r\n\r\ntheme=dark");
    let reply = server.raw_until_close(&request);
    assert_status_in(&reply, &[400, 403], "Origin with invalid UTF-8");
    assert_no_session_written(&server);
    // A session cookie that is not UTF-8 is no session (docs/contract.md: a malformed
    // cookie value is treated as no session, never a 5xx).
    let reply = server.raw_until_close(
        b"GET /account HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\
          Cookie: sid=\xff\xfe\xc3\x28; other=\x80\r\n\r\n",
    );
    assert_status_in(&reply, &[303, 400], "Cookie with invalid UTF-8");
    if status(&reply, "cookie") == Some(303) {
        let text = String::from_utf8_lossy(&reply).to_ascii_lowercase();
        assert!(
            text.contains("location: /login?next=%2faccount"),
            "not signed in, so /account sends to the login page: {text}"
        );
    }
    // Any other header with such bytes is not the server's concern.
    let reply = server.raw_until_close(
        b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nX-Junk: \xc3\x28\xa0\xa1\r\n\r\n",
    );
    assert_status_in(&reply, &[200, 400], "X-Junk with invalid UTF-8");
    assert_healthy(&server);
}

#[test]
fn invalid_utf8_in_the_path_is_refused() {
    let server = Server::start(&[]);
    for target in [
        &b"/\xff\xfe"[..],
        b"/\xc3\x28",
        b"/%ff%fe",
        b"/%c3%28.html",
        b"/style.css%ff",
        b"/healthz\x80",
    ] {
        let mut request = b"GET ".to_vec();
        request.extend_from_slice(target);
        request.extend_from_slice(b" HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
        let reply = server.raw_until_close(&request);
        assert_refused(&reply, &String::from_utf8_lossy(target));
    }
    assert_healthy(&server);
}

#[test]
fn two_different_content_lengths_are_refused() {
    let server = Server::start(&[]);
    // RFC 9112 §6.3 rule 5: differing lengths are unrecoverable framing.
    for framing in [
        "Content-Length: 10\r\nContent-Length: 11\r\n",
        "Content-Length: 10\r\nContent-Length: 4\r\n",
        "Content-Length: 10, 11\r\n",
    ] {
        let request = format!("{}\r\ntheme=dark&next=/x", theme_post_head(framing));
        let reply = server.raw_until_close(request.as_bytes());
        assert_refused(&reply, framing);
    }
    assert_no_session_written(&server);
    assert_healthy(&server);
}

#[test]
fn a_negative_or_non_decimal_content_length_is_refused() {
    let server = Server::start(&[]);
    // RFC 9110 §8.6: Content-Length = 1*DIGIT.
    for length in [
        "-1",
        "1e3",
        "+10",
        "0x0a",
        "10.0",
        "ten",
        "99999999999999999999999",
    ] {
        let request = format!(
            "{}\r\ntheme=dark",
            theme_post_head(&format!("Content-Length: {length}\r\n"))
        );
        let reply = server.raw_until_close(request.as_bytes());
        assert_refused(&reply, length);
    }
    assert_no_session_written(&server);
    assert_healthy(&server);
}

#[test]
fn chunked_with_content_length_never_answers_a_smuggled_request() {
    let server = Server::start(&[]);
    let smuggled = "GET /smuggled HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
    // CL.TE: the chunked body ends at once and the smuggled request follows
    // it; a server that honours Content-Length reads it all as body.
    let cl_te_body = format!("0\r\n\r\n{smuggled}");
    let cl_te = format!(
        "{}\r\n{cl_te_body}",
        theme_post_head(&format!(
            "Content-Length: {}\r\nTransfer-Encoding: chunked\r\n",
            cl_te_body.len()
        ))
    );
    // TE.CL: the smuggled request is chunk data; a server that honours
    // Content-Length stops after "2c\r\n" and reads the rest as a request.
    let te_cl = format!(
        "{}\r\n{:x}\r\n{smuggled}\r\n0\r\n\r\n",
        theme_post_head("Transfer-Encoding: chunked\r\nContent-Length: 4\r\n"),
        smuggled.len()
    );
    // Both again without `Connection: close`: hyper must close on its own
    // (RFC 9112 §6.1: a server that sees both must close after responding).
    let keep_alive = |request: &str| request.replace("Connection: close\r\n", "");
    for (name, request) in [
        ("CL.TE", cl_te.clone()),
        ("TE.CL", te_cl.clone()),
        ("CL.TE keep-alive", keep_alive(&cl_te)),
        ("TE.CL keep-alive", keep_alive(&te_cl)),
    ] {
        let reply = server.raw_until_close(request.as_bytes());
        let codes = status_codes(&reply);
        assert!(
            codes.len() <= 1,
            "{name}: the smuggled request was answered: {codes:?} {:?}",
            String::from_utf8_lossy(&reply)
        );
        // Whatever the body is read as, it holds no theme: 400 (or a close).
        assert_refused(&reply, name);
    }
    assert_no_session_written(&server);
    assert_healthy(&server);
}

#[test]
fn transfer_encoding_xchunked_is_refused() {
    let server = Server::start(&[]);
    // RFC 9112 §6.3 rule 4: a request whose final transfer coding is not
    // `chunked` has no determinable length: 400, then close.
    for coding in [
        "xchunked",
        "chunked, gzip",
        "identity",
        "chunked\x0b",
        "chunk",
    ] {
        let request = format!(
            "{}\r\na\r\ntheme=dark\r\n0\r\n\r\n",
            theme_post_head(&format!("Transfer-Encoding: {coding}\r\n"))
        );
        let reply = server.raw_until_close(request.as_bytes());
        assert_refused(&reply, coding);
    }
    assert_no_session_written(&server);
    assert_healthy(&server);
}

#[test]
fn transfer_encoding_gzip_then_chunked_is_refused_not_read_as_a_plain_form() {
    let server = Server::start(&[]);
    // RFC 9112 §6.1: a transfer coding the server does not understand must
    // not be ignored (the RFC suggests 501; docs/contract.md wants a 4xx for bad
    // input). latch does not decode gzip, so reading this body as a plain
    // form would act on bytes the client never sent as a form.
    for framing in [
        "Transfer-Encoding: gzip, chunked\r\n",
        "Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n",
    ] {
        let request = format!(
            "{}\r\na\r\ntheme=dark\r\n0\r\n\r\n",
            theme_post_head(framing)
        );
        let reply = server.raw_until_close(request.as_bytes());
        assert_refused(&reply, framing);
    }
    assert_no_session_written(&server);
    assert_healthy(&server);
}

#[test]
fn an_obs_folded_header_line_is_refused() {
    let server = Server::start(&[]);
    // RFC 9112 §5.2: obsolete line folding in a request is refused with 400
    // (or replaced by spaces; hyper refuses).
    for request in [
        "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nX-Folded: a\r\n b\r\n\r\n",
        "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nX-Folded: a\r\n\tb\r\n\r\n",
        "GET /healthz HTTP/1.1\r\n Host: 127.0.0.1\r\nConnection: close\r\n\r\n",
    ] {
        let reply = server.raw_until_close(request.as_bytes());
        assert_refused(&reply, request);
    }
    assert_healthy(&server);
}

#[test]
fn bare_lf_line_endings_are_read_as_one_request_or_refused() {
    let server = Server::start(&[]);
    // RFC 9112 §2.2: a recipient may accept a bare LF as a line terminator.
    // Either way the request is one request: answered once, as sent, or
    // refused.
    for request in [
        "GET /healthz HTTP/1.1\nHost: 127.0.0.1\nConnection: close\n\n",
        "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\nConnection: close\r\n\r\n",
    ] {
        let reply = server.raw_until_close(request.as_bytes());
        assert_status_in(&reply, &[200, 400], request);
        if status(&reply, request) == Some(200) {
            assert!(reply.ends_with(b"\r\n\r\nok\n"), "{request:?}: not healthz");
        }
    }
    // A bare CR, unlike a bare LF, must be refused (RFC 9112 §2.2).
    for request in [
        "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\rX-A: 1\r\nConnection: close\r\n\r\n",
        "GET /healthz HTTP/1.1\rHost: 127.0.0.1\r\r",
    ] {
        let reply = server.raw_until_close(request.as_bytes());
        assert_refused(&reply, request);
    }
    assert_healthy(&server);
}

#[test]
fn an_http_1_0_request_without_host_is_served_or_refused() {
    let server = Server::start(&[]);
    // HTTP/1.0 has no Host requirement (RFC 9112 §3.2 is for 1.1), and
    // closes after one response by default.
    let reply = server.raw_until_close(b"GET /healthz HTTP/1.0\r\n\r\n");
    assert_status_in(&reply, &[200, 400], "HTTP/1.0 without Host");
    if status(&reply, "HTTP/1.0") == Some(200) {
        assert!(reply.ends_with(b"\r\n\r\nok\n"), "not the healthz answer");
    }
    let reply = server.raw_until_close(b"GET / HTTP/1.0\r\n\r\n");
    assert_status_in(&reply, &[200, 400], "HTTP/1.0 home without Host");
    // Transfer-Encoding does not exist in HTTP/1.0 (RFC 9112 §6.1).
    let reply = server.raw_until_close(
        b"POST /theme HTTP/1.0\r\nContent-Type: application/x-www-form-urlencoded\r\n\
          Transfer-Encoding: chunked\r\n\r\na\r\ntheme=dark\r\n0\r\n\r\n",
    );
    assert_refused(&reply, "HTTP/1.0 with Transfer-Encoding");
    assert_no_session_written(&server);
    assert_healthy(&server);
}

#[test]
fn a_chunked_body_with_a_bad_chunk_size_is_refused() {
    let server = Server::start(&[]);
    for size in ["zz", "-1", "0x0a", "1 2", "", "ffffffffffffffffffff"] {
        let request = format!(
            "{}\r\n{size}\r\ntheme=dark\r\n0\r\n\r\n",
            theme_post_head("Transfer-Encoding: chunked\r\n")
        );
        let reply = server.raw_until_close(request.as_bytes());
        assert_refused(&reply, &format!("chunk size {size:?}"));
    }
    assert_no_session_written(&server);
    assert_healthy(&server);
}

/// One request of each shape above, for the concurrency test.
fn hostile_requests() -> Vec<Vec<u8>> {
    let smuggled = "0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
    let mut requests: Vec<Vec<u8>> = vec![
        b"GET /healthz\r\n\r\n".to_vec(),
        b"G\x01T / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".to_vec(),
        b"GET  /  HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".to_vec(),
        b"GET /\xff\xfe HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".to_vec(),
        b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX: a\r\n b\r\n\r\n".to_vec(),
    ];
    let mut many = String::from("GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n");
    for i in 0..200 {
        many.push_str(&format!("X-{i}: {i}\r\n"));
    }
    many.push_str("\r\n");
    requests.push(many.into_bytes());
    for framing in [
        "Content-Length: 10\r\nContent-Length: 11\r\n".to_string(),
        "Content-Length: -1\r\n".to_string(),
        "Content-Length: 1e3\r\n".to_string(),
        "Transfer-Encoding: xchunked\r\n".to_string(),
        format!(
            "Content-Length: {}\r\nTransfer-Encoding: chunked\r\n",
            smuggled.len()
        ),
    ] {
        let body = if framing.contains("Transfer-Encoding: chunked") {
            smuggled
        } else {
            "theme=dark"
        };
        requests.push(format!("{}\r\n{body}", theme_post_head(&framing)).into_bytes());
    }
    requests.push(
        format!(
            "{}\r\nzz\r\ntheme=dark\r\n0\r\n\r\n",
            theme_post_head("Transfer-Encoding: chunked\r\n")
        )
        .into_bytes(),
    );
    requests
}

#[test]
fn fifty_bad_requests_from_each_of_five_threads_leave_the_server_healthy() {
    let server = Server::start(&[]);
    let requests = hostile_requests();
    std::thread::scope(|scope| {
        for thread in 0..5 {
            let (server, requests) = (&server, &requests);
            scope.spawn(move || {
                for i in 0..50 {
                    let request = &requests[(thread * 7 + i) % requests.len()];
                    let reply = server.raw_until_close(request);
                    assert_refused(&reply, &format!("thread {thread}, request {i}"));
                }
            });
        }
    });
    assert_no_session_written(&server);
    assert_healthy(&server);
    assert!(
        !server.stderr().contains("panicked"),
        "the server panicked: {}",
        server.stderr()
    );
}

#[test]
fn an_http_1_1_request_without_host_is_400() {
    let server = Server::start(&[]);
    let reply = server.raw_until_close(b"GET /healthz HTTP/1.1\r\nConnection: close\r\n\r\n");
    let text = String::from_utf8_lossy(&reply);
    assert!(text.starts_with("HTTP/1.1 400 Bad Request\r\n"), "{text}");
    assert!(text.contains("Host header"), "{text}");
    assert_eq!(server.get("/healthz", None).status, 200);
}
