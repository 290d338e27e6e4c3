//! Slow and numerous clients (issue: robust under hostile traffic). These
//! tests wait out the real 10 s timeouts, so each takes about 11 s; they run
//! in parallel with the rest.

mod support;

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use support::Server;

/// Reads until the server closes the connection; returns what arrived and
/// how long the close took from `since`.
fn read_until_closed(stream: &mut std::net::TcpStream, since: Instant) -> (Vec<u8>, Duration) {
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let mut bytes = Vec::new();
    let _ = stream.read_to_end(&mut bytes);
    (bytes, since.elapsed())
}

#[test]
fn a_head_dribbled_byte_by_byte_is_cut_off_after_ten_seconds() {
    let server = Server::start(&[]);
    let mut stream = server.connect();
    let started = Instant::now();
    // One byte every 500 ms: each arrives well within any per-read
    // timeout, but the whole head never does (slowloris).
    let writer = {
        let mut stream = stream.try_clone().unwrap();
        std::thread::spawn(move || {
            for byte in
                b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
            {
                if stream.write_all(&[*byte]).is_err() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(500));
            }
        })
    };
    let (bytes, took) = read_until_closed(&mut stream, started);
    assert!(!String::from_utf8_lossy(&bytes).contains("200 OK"));
    assert!(
        took >= Duration::from_secs(9) && took < Duration::from_secs(15),
        "{took:?}"
    );
    writer.join().unwrap();
    assert_eq!(server.get("/healthz", None).status, 200);
}

#[test]
fn a_body_that_never_finishes_gets_408() {
    let server = Server::start(&[]);
    let mut stream = server.connect();
    stream
        .write_all(b"POST /theme HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\ntheme=")
        .unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let response = support::read_response(&mut stream);
    assert_eq!(response.status, 408);
    assert!(server.session_files().is_empty());
}

#[test]
fn an_idle_keep_alive_connection_is_closed_after_ten_seconds() {
    let server = Server::start(&[]);
    let mut stream = server.connect();
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    assert_eq!(support::read_response(&mut stream).status, 200);
    let (bytes, took) = read_until_closed(&mut stream, Instant::now());
    assert!(bytes.is_empty());
    assert!(
        took >= Duration::from_secs(9) && took < Duration::from_secs(15),
        "{took:?}"
    );
}

#[test]
fn connections_past_the_cap_get_503_and_the_server_recovers() {
    let server = Server::start(&["--max-connections", "4"]);
    // Four idle connections hold every slot (they have sent nothing yet).
    let held: Vec<_> = (0..4).map(|_| server.connect()).collect();
    std::thread::sleep(Duration::from_millis(200));
    let refused = server.raw_until_close(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
    let text = String::from_utf8_lossy(&refused);
    assert!(
        text.starts_with("HTTP/1.1 503 Service Unavailable\r\n"),
        "{text}"
    );
    assert!(text.contains("Retry-After: 1"));
    // Freeing the slots lets the next client in.
    drop(held);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let answer = server
            .raw_until_close(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        if answer.starts_with(b"HTTP/1.1 200 OK") {
            break;
        }
        assert!(Instant::now() < deadline, "slots were never freed");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn many_slow_clients_cannot_starve_a_normal_one_below_the_cap() {
    let server = Server::start(&["--max-connections", "64"]);
    let slow: Vec<_> = (0..40)
        .map(|_| {
            let mut stream = server.connect();
            stream.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n").unwrap();
            stream
        })
        .collect();
    for _ in 0..5 {
        assert_eq!(server.get("/healthz", None).status, 200);
    }
    drop(slow);
}
