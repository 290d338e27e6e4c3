//! latch: a single-binary HTTP server, written directly on hyper 1.x, that
//! signs people in and out with sessions kept as JSON files on disk.
//!
//! Reading order for a learner: `server` (sockets) → `app` (one request) →
//! `router` → `handlers/*` (one route each), with the mechanics each
//! handler uses in their own files: `cookies`, `form`, `redirect`,
//! `origin`, `csrf`, `session`, `session_store`, `static_files`, `http`.

// First: it declares `log_event!`, which the modules below use.
#[macro_use]
pub mod log;

pub mod app;
pub mod atomic_file;
pub mod body;
pub mod cli;
pub mod cookies;
pub mod csrf;
pub mod dates;
pub mod encoding;
pub mod error;
pub mod form;
pub mod forwarded;
pub mod handlers;
pub mod http;
pub mod memory;
pub mod notice;
pub mod origin;
pub mod pages;
pub mod redirect;
pub mod router;
pub mod server;
pub mod session;
pub mod session_cache;
pub mod session_dir;
pub mod session_quota;
pub mod session_redis;
pub mod session_store;
pub mod static_files;
pub mod sys;
pub mod throttle;
pub mod trace;
pub mod users;
