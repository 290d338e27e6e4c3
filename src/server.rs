//! The server: bind, accept, serve each connection on its own task, and
//! shut down gracefully. The wiring follows hyper-util's `server.rs` and
//! `server_graceful.rs` examples.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;

use crate::app::{self, App};

/// A client must send its whole request head within this time, however
/// slowly it trickles in (slowloris); the same timer closes a keep-alive
/// connection that sits idle this long before its next request.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// The largest request head latch reads; a larger one is answered 431
/// (RFC 6585 §5) by hyper. hyper's default (about 400 KiB) is generous for
/// a server whose largest legitimate header is a cookie of a few dozen bytes.
pub const MAX_HEAD_BYTES: usize = 64 * 1024;
/// How long shutdown waits for requests in flight before giving up.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);
/// How often the users file is checked for changes (SPEC.md: within 5 s).
pub const USERS_CHECK_INTERVAL: Duration = Duration::from_secs(2);
/// How often expired session files are swept, at most.
pub const SWEEP_INTERVAL: Duration = Duration::from_secs(60);

/// Serves until SIGINT or SIGTERM, then finishes the requests in flight.
///
/// 1. Accept a connection. An accept error (EMFILE when out of file
///    descriptors, a connection reset before accept) is logged and the
///    loop goes on: one bad moment must not stop the server.
/// 2. Past `--max-connections` open connections, answer 503 and close, so a
///    flood of idle or slow clients runs into our limit before it runs the
///    process out of file descriptors. Otherwise wrap the socket for hyper
///    (`TokioIo`) and serve it on its own task, HTTP/1.1 with keep-alive,
///    or HTTP/2 when the client speaks it (h2c).
/// 3. On a signal: stop accepting, let each connection finish the request
///    it is on, and return.
pub async fn serve(app: Arc<App>, listener: TcpListener) -> io::Result<()> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT)
        .max_buf_size(MAX_HEAD_BYTES)
        .keep_alive(true);
    builder.http2().timer(TokioTimer::new());
    // Signal handlers first: until they are installed, SIGTERM's default
    // action kills the process, and a supervisor may send it any time after
    // it sees the address.
    let signal = shutdown_signal()?;
    let mut signal = std::pin::pin!(signal);
    log_event!("latch listening on http://{}", listener.local_addr()?);
    let graceful = GracefulShutdown::new();
    let slots = Arc::new(Semaphore::new(app.config.max_connections));
    tokio::spawn(sweep_forever(Arc::clone(&app)));
    tokio::spawn(watch_users(Arc::clone(&app)));
    tokio::spawn(flush_log_forever());
    loop {
        let (stream, peer) = tokio::select! {
            // 1.
            accepted = listener.accept() => match accepted {
                Ok(connection) => connection,
                Err(e) => {
                    log_event!("accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            // 3.
            () = &mut signal => break,
        };
        // 2.
        // Small responses go out at once, not held back by Nagle's algorithm
        // waiting for an ACK the client delays (RFC 896, RFC 1122 §4.2.3.2).
        let _ = stream.set_nodelay(true);
        let Ok(slot) = Arc::clone(&slots).try_acquire_owned() else {
            tokio::spawn(refuse(stream));
            continue;
        };
        let app = Arc::clone(&app);
        let service = service_fn(move |request| app::handle(Arc::clone(&app), peer, request));
        let connection = builder
            .serve_connection(TokioIo::new(stream), service)
            .into_owned();
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            // A client that resets or times out is its own business.
            let _ = connection.await;
            drop(slot);
        });
    }
    // 3.
    drop(listener);
    log_event!("shutting down: finishing requests in flight");
    if tokio::time::timeout(SHUTDOWN_GRACE, graceful.shutdown())
        .await
        .is_err()
    {
        log_event!("shutdown: gave up waiting for open connections");
    }
    crate::log::flush();
    Ok(())
}

/// Turns away a connection over the limit: a complete 503 (RFC 9110
/// §15.6.4) the client can show, written with a short deadline, then close.
async fn refuse(mut stream: TcpStream) {
    use tokio::io::AsyncWriteExt;
    const BUSY: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\n\
        Content-Type: text/plain; charset=utf-8\r\nContent-Length: 30\r\nConnection: close\r\n\r\n\
        503 too many open connections\n";
    let _ = tokio::time::timeout(Duration::from_secs(1), stream.write_all(BUSY)).await;
}

/// Installs the SIGINT (Ctrl-C) and SIGTERM (`kill`, systemd) handlers now,
/// and returns a future that resolves on the first of them.
fn shutdown_signal() -> io::Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut terminate = signal(SignalKind::terminate())?;
    Ok(async move {
        tokio::select! {
            _ = interrupt.recv() => {}
            _ = terminate.recv() => {}
        }
    })
}

/// Removes expired session files now and then, off the async workers:
/// every minute, or every half lifetime when sessions live shorter than
/// two minutes, so no dead file lingers much longer than it lived.
async fn sweep_forever(app: Arc<App>) {
    let config = &app.config;
    let shortest = match config.idle_timeout {
        0 => config.session_ttl,
        idle => idle.min(config.session_ttl),
    };
    let every = SWEEP_INTERVAL.min(Duration::from_secs((shortest / 2).max(1)));
    let mut interval = tokio::time::interval(every);
    loop {
        interval.tick().await;
        let app = Arc::clone(&app);
        match app::blocking(move || app.sweep(crate::session::now())).await {
            Ok(Ok(0)) => {}
            Ok(Ok(removed)) => {
                log_event!("sweep: removed {removed} expired or unreadable session files")
            }
            Ok(Err(e)) => log_event!("sweep failed: {e}"),
            Err(e) => log_event!("sweep failed: {e:?}"),
        }
    }
}

/// Writes out gathered access-log lines now and then (see `log`).
async fn flush_log_forever() {
    let mut interval = tokio::time::interval(crate::log::FLUSH_INTERVAL);
    loop {
        interval.tick().await;
        crate::log::flush();
    }
}

/// Reloads the users file when it changes, so `adduser`, `deluser` or an
/// editor take effect without a restart.
async fn watch_users(app: Arc<App>) {
    let mut interval = tokio::time::interval(USERS_CHECK_INTERVAL);
    loop {
        interval.tick().await;
        let app = Arc::clone(&app);
        let _ = app::blocking(move || {
            app.users.refresh();
            Ok(())
        })
        .await;
    }
}
