//! Every connection is bounded in time, whatever the client does
//! (docs/contract.md, "Limits and bad input"), and latch speaks HTTP/1.x
//! only. Most tests shorten the limits with `--client-timeout`; one checks
//! the 10 s default end to end.

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use crate::support::{self, Server};

/// Reads until the server closes the connection (or resets it); returns
/// what arrived and how long the close took from `since`. Bounded: a
/// server that keeps the connection open past `limit` fails the test.
fn read_until_closed(
    stream: &mut std::net::TcpStream,
    since: Instant,
    limit: Duration,
) -> (Vec<u8>, Duration) {
    stream.set_read_timeout(Some(limit)).unwrap();
    let mut bytes = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        match stream.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => bytes.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                panic!("still open after {:?}", since.elapsed())
            }
            Err(_) => break,
        }
    }
    (bytes, since.elapsed())
}

/// Asks for `/healthz` from 127.0.0.1 until it is answered 200, for at
/// most `limit`; returns how long that took.
fn wait_until_served(server: &Server, limit: Duration) -> Duration {
    let started = Instant::now();
    loop {
        let answer = server
            .raw_until_close(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        if answer.starts_with(b"HTTP/1.1 200 OK") {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < limit,
            "not served within {limit:?}; last answer: {}",
            String::from_utf8_lossy(&answer)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_connection_that_sends_nothing_is_closed_after_the_client_timeout() {
    let server = Server::start(&["--client-timeout", "1"]);
    let mut stream = server.connect();
    let (bytes, took) = read_until_closed(&mut stream, Instant::now(), Duration::from_secs(5));
    assert!(!String::from_utf8_lossy(&bytes).contains(" 200 "));
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(3),
        "{took:?}"
    );
}

#[test]
fn a_head_trickled_byte_by_byte_is_cut_off_after_the_client_timeout() {
    let server = Server::start(&["--client-timeout", "2"]);
    let mut stream = server.connect();
    let started = Instant::now();
    // One byte every 100 ms: each arrives well within any per-read
    // timeout, but the whole head never does (slowloris).
    let writer = {
        let mut stream = stream.try_clone().unwrap();
        std::thread::spawn(move || {
            for byte in b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" {
                if stream.write_all(&[*byte]).is_err() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        })
    };
    let (bytes, took) = read_until_closed(&mut stream, started, Duration::from_secs(8));
    assert!(!String::from_utf8_lossy(&bytes).contains(" 200 "));
    assert!(
        took >= Duration::from_millis(1900) && took < Duration::from_secs(4),
        "{took:?}"
    );
    writer.join().unwrap();
    assert_eq!(server.get("/healthz", None).status, 200);
}

#[test]
fn an_idle_keep_alive_connection_is_closed_after_ten_seconds_by_default() {
    let server = Server::start(&[]);
    let mut stream = server.connect();
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    assert_eq!(support::read_response(&mut stream).status, 200);
    let (bytes, took) = read_until_closed(&mut stream, Instant::now(), Duration::from_secs(20));
    assert!(bytes.is_empty());
    assert!(
        took >= Duration::from_secs(9) && took < Duration::from_secs(15),
        "{took:?}"
    );
}

#[test]
fn a_body_that_never_finishes_gets_408_after_the_client_timeout() {
    let server = Server::start(&["--client-timeout", "1"]);
    let mut stream = server.connect();
    let started = Instant::now();
    stream
        .write_all(b"POST /theme HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\ntheme=")
        .unwrap();
    let response = support::read_response(&mut stream);
    assert_eq!(response.status, 408);
    assert!(started.elapsed() < Duration::from_secs(4));
    assert_eq!(server.stored_sessions(), 0);
}

#[test]
fn an_h2c_preface_is_closed_at_once_and_holds_no_slot() {
    // One slot in all: if the preface held it, the request after would
    // wait for the 10 s default timeout.
    let server = Server::start(&["--max-connections", "1"]);
    let started = Instant::now();
    let answer = server.raw_until_close(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
    let answer = String::from_utf8_lossy(&answer);
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 4"),
        "{answer}"
    );
    assert!(started.elapsed() < Duration::from_secs(2));
    assert!(wait_until_served(&server, Duration::from_secs(2)) < Duration::from_secs(2));
}

#[test]
fn http2_frames_get_a_prompt_400_or_close() {
    let server = Server::start(&[]);
    // The preface followed by an empty SETTINGS frame (RFC 9113 §3.4,
    // §6.5), and a SETTINGS frame alone: what an h2c client sends first.
    let settings = b"\x00\x00\x00\x04\x00\x00\x00\x00\x00";
    let mut with_preface = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
    with_preface.extend_from_slice(settings);
    for bytes in [&with_preface[..], &settings[..]] {
        let started = Instant::now();
        let answer = server.raw_until_close(bytes);
        let answer = String::from_utf8_lossy(&answer);
        assert!(
            answer.is_empty() || answer.starts_with("HTTP/1.1 400"),
            "{answer}"
        );
        assert!(started.elapsed() < Duration::from_secs(2));
    }
}

#[test]
fn an_upgrade_to_h2c_is_not_taken() {
    let server = Server::start(&[]);
    let response = server.raw(
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, HTTP2-Settings\r\n\
          Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\n\r\n",
    );
    assert_eq!(response.status, 200);
    assert!(response.header("upgrade").is_none());
}

#[test]
fn two_host_headers_are_a_400() {
    let server = Server::start(&[]);
    let response = server.raw(
        b"GET / HTTP/1.1\r\nHost: good.example\r\nHost: evil.example\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(response.status, 400);
    assert!(response.text().contains("Host"), "{}", response.text());
}

#[test]
fn a_client_that_never_reads_its_answers_is_cut_off_and_its_slot_freed() {
    // 4 / 4: one connection per client address, so a second connection
    // from 127.0.0.1 is refused while the stalled one holds its slot.
    let server = Server::start(&["--client-timeout", "2", "--max-connections", "4"]);
    let mut stalled = server.connect_small_receive_buffer();
    // Pipelined requests whose answers (about 1.5 KiB each, some 9 MiB in
    // all) overflow the server's send buffer (4 MiB at most by default on
    // Linux) and our small receive buffer; we never read a byte.
    let request = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n";
    let writer = {
        let mut stalled = stalled.try_clone().unwrap();
        std::thread::spawn(move || {
            for _ in 0..6000 {
                if stalled.write_all(request).is_err() {
                    return;
                }
            }
        })
    };
    let started = Instant::now();
    std::thread::sleep(Duration::from_millis(500));
    let refused = server.raw_until_close(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
    assert!(
        refused.starts_with(b"HTTP/1.1 503 "),
        "the stalled connection should still hold the address's slot"
    );
    let waited = wait_until_served(&server, Duration::from_secs(10));
    assert!(
        started.elapsed() >= Duration::from_secs(2),
        "freed after {:?}",
        started.elapsed()
    );
    assert!(waited < Duration::from_secs(8), "{waited:?}");
    writer.join().unwrap();
    // What the server wrote before it gave up is still there to read; a
    // reset may also cut it short. Either way the connection ends.
    let (_, _) = read_until_closed(&mut stalled, Instant::now(), Duration::from_secs(10));
}
