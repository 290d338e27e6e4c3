//! The server: bind, accept, serve each connection on its own task, keep
//! every connection bounded in number and in time, and shut down
//! gracefully. The wiring follows hyper-util's `server.rs` and
//! `server_graceful.rs` examples, with hyper's HTTP/1 builder: latch speaks
//! HTTP/1.1 and 1.0 only (docs/contract.md, "Limits and bad input"). The
//! graceful shutdown is hyper's own `graceful_shutdown` on each
//! connection, asked for by a signal every connection task watches, as
//! hyper-util's `GracefulShutdown` does: written out here because a
//! connection may also be asked to close alone, to make room (`admission`).

mod admission;
mod background;
mod write_deadline;

use std::io;
use std::sync::Arc;
use std::time::Duration;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::watch;

use crate::app::App;
use crate::log_event;
use crate::service;
use admission::Admission;
use write_deadline::WriteDeadline;

/// The largest request head latch reads; a larger one is answered 431
/// (RFC 6585 §5) by hyper. hyper's default (about 400 KiB) is generous for
/// a server whose largest legitimate header is a cookie of a few dozen bytes.
/// It is set twice: `max_header_size` checks every complete head, while
/// `max_buf_size` (which also bounds the buffers) is only checked while a
/// head is incomplete, so one large read can slip a longer head past it.
pub const MAX_HEAD_BYTES: usize = 64 * 1024;
/// How long shutdown waits for requests in flight before giving up. Every
/// stage of a connection is bounded by `--client-timeout` already; this
/// only caps a request whose handler itself is slow.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);
/// How often the users file is looked at. A change is read at the look
/// after the one that saw it (`UsersFile::refresh`), so within about 2 s
/// (docs/contract.md, "Users file": within 5 s); SIGHUP reads it at once.
pub const USERS_CHECK_INTERVAL: Duration = Duration::from_secs(1);
/// How often expired session files are swept, at most.
pub const SWEEP_INTERVAL: Duration = Duration::from_secs(60);

/// Serves until SIGINT or SIGTERM, then finishes the requests in flight.
///
/// 1. Accept a connection. An accept error (EMFILE when out of file
///    descriptors, a connection reset before accept) is logged and the
///    loop goes on: one bad moment must not stop the server.
/// 2. Admit it, or refuse it with a readable 503 (`admission`), so a flood
///    of idle clients runs into our limits before it runs the process out
///    of file descriptors. The place is given back when the connection ends.
/// 3. Serve it on its own task as HTTP/1.1 (keep-alive) or 1.0. There is
///    no HTTP/2: an h2c preface fails to parse, and hyper closes the
///    connection at once. Each stage is bounded by `--client-timeout`:
///    - the request head: hyper's `header_read_timeout` starts when the
///      connection opens and again after each response, before any byte
///      arrives (hyper PRs #3305 and #3828), and bytes trickling in do not
///      reset it (slowloris);
///    - the body: `service::read_post` answers 408;
///    - our response: `WriteDeadline` fails a write that makes no progress.
/// 4. On SIGINT or SIGTERM: stop accepting, let each connection finish the
///    request it is on (idle and silent ones close at once), and return
///    once every connection has closed.
pub async fn serve(app: Arc<App>, listener: TcpListener) -> io::Result<()> {
    let client_timeout = Duration::from_secs(app.config.client_timeout);
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(client_timeout)
        .max_header_size(MAX_HEAD_BYTES)
        .max_buf_size(MAX_HEAD_BYTES)
        .keep_alive(true);
    // Signal handlers first: until they are installed, the default action
    // of SIGINT (Ctrl-C), SIGTERM (`kill`, systemd) and SIGHUP kills the
    // process, and a supervisor may send one any time after it sees the
    // address.
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut terminate = signal(SignalKind::terminate())?;
    let reload = signal(SignalKind::hangup())?;
    let addr = listener.local_addr()?;
    log_event!("latch listening on http://{addr}");
    if app.config.trace.is_some() {
        log_event!(
            "--trace: every request traced below; a browser sees its own at http://{addr}/_trace \
             (for learning on your own machine, never in production)"
        );
    }
    let (stopping, stop_watch) = watch::channel(false);
    let admission = Admission::new(app.config.max_connections, app.config.trusted_proxy);
    tokio::spawn(background::sweep_forever(Arc::clone(&app)));
    tokio::spawn(background::watch_users(Arc::clone(&app), reload));
    tokio::spawn(background::flush_log_forever());
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
            // 4.
            _ = interrupt.recv() => break,
            _ = terminate.recv() => break,
        };
        // Small responses go out at once, not held back by Nagle's algorithm
        // waiting for an ACK the client delays (RFC 896, RFC 1122 §4.2.3.2).
        let _ = stream.set_nodelay(true);
        // 2.
        let ticket = match admission.admit(peer.ip()) {
            Ok(ticket) => ticket,
            Err(why) => {
                admission.refuse(stream, why);
                continue;
            }
        };
        // 3.
        let app = Arc::clone(&app);
        let service = service_fn(move |request| {
            let app = Arc::clone(&app);
            async move { service::handle(&app, peer, request).await }
        });
        let io = TokioIo::new(WriteDeadline::new(stream, client_timeout));
        let connection = builder.serve_connection(io, service);
        let mut stop_watch = stop_watch.clone();
        tokio::spawn(async move {
            tokio::pin!(connection);
            // A client that resets or times out is its own business.
            let asked_to_close = tokio::select! {
                _ = connection.as_mut() => false,
                () = ticket.close_requested() => true,
                _ = stop_watch.wait_for(|stop| *stop) => true,
            };
            if asked_to_close {
                // Idle: closes at once. Mid-request: after its response.
                connection.as_mut().graceful_shutdown();
                let _ = connection.await;
            }
            drop(ticket);
        });
    }
    // 4.
    drop(listener);
    log_event!("shutting down: finishing requests in flight");
    let _ = stopping.send(true);
    if tokio::time::timeout(SHUTDOWN_GRACE, admission.all_closed())
        .await
        .is_err()
    {
        log_event!("shutdown: gave up waiting for open connections");
    }
    crate::log::flush();
    Ok(())
}
