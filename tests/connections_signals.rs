//! Signals: SIGHUP re-reads the users file at once and never stops the
//! server; SIGTERM stops it promptly, whatever idle or silent connections
//! are open (docs/contract.md, "Limits and bad input").

use std::io::Write;
use std::time::{Duration, Instant};

use crate::support::{self, write_users, Server, ALICE};

#[test]
fn sighup_rereads_the_users_file_at_once_and_the_server_keeps_running() {
    let mut server = Server::with_users(&[ALICE], &[]);
    // The server also looks every second, but reads a changed file only
    // once it has held still for a whole look: a reload within 400 ms of
    // the write is the signal's doing.
    for (round, name) in ["bob", "carol", "dave"].into_iter().enumerate() {
        let mut users = vec![
            ALICE,
            ("bob", "bob-pw"),
            ("carol", "carol-pw"),
            ("dave", "dave-pw"),
        ];
        users.truncate(round + 2);
        write_users(&server.users_file(), &users);
        let signalled = Instant::now();
        server.send_signal("HUP");
        let reloaded = format!("reloaded: {} users can sign in", users.len());
        assert!(server.wait_for_log(&reloaded), "{}", server.stderr());
        assert!(
            signalled.elapsed() < Duration::from_millis(400),
            "round {round}: reloaded after {:?}",
            signalled.elapsed()
        );
        let password = format!("{name}-pw");
        server.login(name, &password);
        assert!(server.is_running());
    }
    assert_eq!(server.stderr().matches("SIGHUP: re-reading").count(), 3);
}

#[test]
fn sigterm_with_silent_and_idle_connections_open_exits_zero_at_once() {
    let mut server = Server::start(&[]);
    let _silent = server.connect();
    let mut idle = server.connect();
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    assert_eq!(support::read_response(&mut idle).status, 200);
    std::thread::sleep(Duration::from_millis(100));
    let asked = Instant::now();
    let status = server.stop("TERM");
    assert!(status.success(), "{status:?}");
    assert!(
        asked.elapsed() < Duration::from_secs(2),
        "took {:?}",
        asked.elapsed()
    );
}
