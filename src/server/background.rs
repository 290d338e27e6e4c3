//! The server's work beside requests: the sweep of the session store,
//! the users file watched for changes (and SIGHUP), and the access log
//! written out in batches.

use std::sync::Arc;
use std::time::Duration;

use tokio::signal::unix::Signal;

use super::{SWEEP_INTERVAL, USERS_CHECK_INTERVAL};
use crate::app::App;
use crate::auth;
use crate::log_event;
use crate::os::blocking;
use crate::sessions;

/// Removes expired session files now and then, off the async workers:
/// every minute, or every half lifetime when sessions live shorter than
/// two minutes, so no dead file lingers much longer than it lived.
pub(super) async fn sweep_forever(app: Arc<App>) {
    let config = &app.config;
    let shortest = match config.idle_timeout {
        0 => config.session_ttl,
        idle => idle.min(config.session_ttl),
    };
    let every = SWEEP_INTERVAL.min(Duration::from_secs((shortest / 2).max(1)));
    let mut interval = tokio::time::interval(every);
    loop {
        interval.tick().await;
        match auth::sweep(&app.store, &app.users, sessions::now()).await {
            Ok(removed) if removed.total() == 0 => {}
            Ok(removed) => log_event!("sweep: removed {removed}"),
            Err(e) => log_event!("sweep failed: {e}"),
        }
    }
}

/// Writes out gathered access-log lines now and then (see `log`).
pub(super) async fn flush_log_forever() {
    let mut interval = tokio::time::interval(crate::log::FLUSH_INTERVAL);
    loop {
        interval.tick().await;
        crate::log::flush();
    }
}

/// Reloads the users file when it changes, so `adduser`, `deluser` or an
/// editor take effect without a restart: every `USERS_CHECK_INTERVAL`, and
/// at once on SIGHUP (the Unix convention for "re-read your configuration";
/// it never stops the server).
pub(super) async fn watch_users(app: Arc<App>, mut reload: Signal) {
    let mut interval = tokio::time::interval(USERS_CHECK_INTERVAL);
    loop {
        let signalled = tokio::select! {
            _ = interval.tick() => false,
            _ = reload.recv() => true,
        };
        if signalled {
            log_event!("SIGHUP: re-reading the users file");
        }
        let app = Arc::clone(&app);
        let _ = blocking::run(move || {
            if signalled {
                app.users.reload();
            } else {
                app.users.refresh();
            }
        })
        .await;
    }
}
