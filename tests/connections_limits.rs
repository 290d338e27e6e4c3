//! How many connections latch holds: `--max-connections` in all, a share
//! of them per client address (`--trusted-proxy` excepted), and a readable
//! 503 for the ones it turns away (docs/contract.md, "Limits and bad
//! input").

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use crate::support::Server;

const HEALTHZ: &[u8] = b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";

/// Sends `/healthz` on `stream` and reads until the server closes.
fn ask(mut stream: TcpStream) -> String {
    stream.write_all(HEALTHZ).unwrap();
    let mut bytes = Vec::new();
    let _ = stream.read_to_end(&mut bytes);
    String::from_utf8_lossy(&bytes).into_owned()
}

/// Opens connections that send nothing, from these source addresses, and
/// gives the server a moment to accept them all.
fn hold(server: &Server, sources: &[[u8; 4]]) -> Vec<TcpStream> {
    let held = sources.iter().map(|&s| server.connect_from(s)).collect();
    std::thread::sleep(Duration::from_millis(200));
    held
}

#[test]
fn connections_past_the_cap_get_503_and_the_server_recovers() {
    let server = Server::start(&["--max-connections", "4"]);
    let held = hold(
        &server,
        &[
            [127, 0, 0, 2],
            [127, 0, 0, 3],
            [127, 0, 0, 4],
            [127, 0, 0, 5],
        ],
    );
    let refused = ask(server.connect());
    assert!(
        refused.starts_with("HTTP/1.1 503 Service Unavailable\r\n"),
        "{refused}"
    );
    assert!(refused.contains("Retry-After: 1\r\n"));
    assert!(
        refused.ends_with("503 too many open connections\n"),
        "{refused}"
    );
    drop(held);
    let deadline = Instant::now() + Duration::from_secs(5);
    while !ask(server.connect()).starts_with("HTTP/1.1 200 OK") {
        assert!(Instant::now() < deadline, "slots were never freed");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn silent_connections_lock_no_one_out_once_the_client_timeout_passes() {
    let server = Server::start(&["--max-connections", "4", "--client-timeout", "2"]);
    let started = Instant::now();
    let _held = hold(
        &server,
        &[
            [127, 0, 0, 2],
            [127, 0, 0, 3],
            [127, 0, 0, 4],
            [127, 0, 0, 5],
        ],
    );
    assert!(ask(server.connect()).starts_with("HTTP/1.1 503 "));
    // The silent sockets stay open on our side, but the server closes
    // them when the client timeout passes, and their slots are free.
    let deadline = started + Duration::from_secs(5);
    while !ask(server.connect()).starts_with("HTTP/1.1 200 OK") {
        assert!(Instant::now() < deadline, "still locked out");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(started.elapsed() >= Duration::from_millis(1900));
}

#[test]
fn one_address_holds_at_most_a_quarter_of_the_connections() {
    // 16 / 4 = 4 per address.
    let server = Server::start(&["--max-connections", "16"]);
    let _held = hold(&server, &[[127, 0, 0, 1]; 4]);
    let refused = ask(server.connect());
    assert!(refused.starts_with("HTTP/1.1 503 "), "{refused}");
    assert!(refused.contains("Retry-After: 1\r\n"));
    assert!(refused.ends_with("from your address\n"), "{refused}");
    // Another address still gets in.
    assert!(ask(server.connect_from([127, 0, 0, 2])).starts_with("HTTP/1.1 200 OK"));
}

#[test]
fn the_trusted_proxy_is_held_only_to_the_total_cap() {
    let server = Server::start(&["--max-connections", "4", "--trusted-proxy", "127.0.0.1"]);
    // 4 / 4 is one per address, but the proxy speaks for everyone.
    let held = hold(&server, &[[127, 0, 0, 1], [127, 0, 0, 1], [127, 0, 0, 1]]);
    assert!(ask(server.connect()).starts_with("HTTP/1.1 200 OK"));
    std::thread::sleep(Duration::from_millis(100));
    let _fourth = hold(&server, &[[127, 0, 0, 1]]);
    let refused = ask(server.connect());
    assert!(
        refused.ends_with("503 too many open connections\n"),
        "{refused}"
    );
    drop(held);
}

#[test]
fn a_refused_client_reads_the_whole_503_before_the_close() {
    let server = Server::start(&["--max-connections", "4"]);
    let _held = hold(&server, &[[127, 0, 0, 1]]);
    for _ in 0..20 {
        let mut stream = server.connect();
        // The request goes out at once and we pause before reading: a
        // server that closed right after its answer, our bytes unread,
        // would reset the connection (RFC 1122 §4.2.2.13), and a reset may
        // destroy the answer or, at best, end the read with an error.
        stream
            .write_all(b"POST /login HTTP/1.1\r\nHost: x\r\nContent-Length: 8\r\n\r\nuser=bob")
            .unwrap();
        std::thread::sleep(Duration::from_millis(50));
        let mut bytes = Vec::new();
        let read = stream.read_to_end(&mut bytes);
        let text = String::from_utf8_lossy(&bytes);
        assert!(read.is_ok(), "{read:?} after {text:?}");
        let (head, body) = text.split_once("\r\n\r\n").expect("a whole head");
        assert!(head.starts_with("HTTP/1.1 503 Service Unavailable\r\n"));
        assert!(head.contains("\r\nRetry-After: 1"));
        assert!(head.contains("\r\nConnection: close"));
        let length: usize = head
            .split("\r\n")
            .find_map(|line| line.strip_prefix("Content-Length: "))
            .expect("a Content-Length")
            .parse()
            .unwrap();
        assert_eq!(body.len(), length, "{body:?}");
    }
}

#[test]
fn eight_addresses_holding_silent_sockets_cannot_keep_a_ninth_out() {
    // 16 slots, 4 per address: eight addresses that reopen every socket
    // the server closes keep it full, and idle.
    let server = Server::start(&["--max-connections", "16", "--client-timeout", "2"]);
    let stop = std::sync::atomic::AtomicBool::new(false);
    let served = std::thread::scope(|scope| {
        for n in 0..8u8 {
            let (server, stop) = (&server, &stop);
            scope.spawn(move || {
                let mut held: Vec<TcpStream> = Vec::new();
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    // Drop the sockets the server closed (or refused), then
                    // open more, up to the share and beyond.
                    held.retain(|s| {
                        let mut byte = [0u8; 1];
                        s.set_nonblocking(true).unwrap();
                        let open = matches!(
                            (&*s).read(&mut byte),
                            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock
                        );
                        s.set_nonblocking(false).unwrap();
                        open
                    });
                    while held.len() < 6 {
                        held.push(server.connect_from([127, 0, 1, n + 1]));
                    }
                    std::thread::sleep(Duration::from_millis(5));
                }
            });
        }
        std::thread::sleep(Duration::from_millis(500));
        // A ninth address asks ten times over a few seconds, through the
        // server's closing of idle sockets and the eight refilling.
        let served = (0..10)
            .filter(|_| {
                std::thread::sleep(Duration::from_millis(300));
                ask(server.connect_from([127, 0, 2, 1])).starts_with("HTTP/1.1 200 OK")
            })
            .count();
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        served
    });
    assert_eq!(served, 10, "the ninth address was turned away");
}
