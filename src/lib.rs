//! latch: a single-binary HTTP server, written directly on hyper 1.x, that
//! signs people in and out with sessions kept as JSON files on disk.
//!
//! The modules in reading order, from the socket inward: each imports only
//! modules listed below it (and `log`, which comes first for its macro).
//! `http` is pure (strings, headers and bytes in, values out); `os`,
//! `sessions::files`, `static_files` and `server` are where the disk and
//! the network are touched.

// First, so that every module below can use `log_event!`.
#[macro_use]
/// Standard error: event lines at once, access lines in batches, `log_event!`.
pub mod log;

/// What every request can reach: configuration, store, users, limits.
pub mod app;
/// The sign-in rules: sign in, sign out, does it still stand, CSRF, users, passwords, throttling.
pub mod auth;
/// The command line: flags, variables, help, `check`, password prompts.
pub mod cli;
/// Everything that stops a request short, as a status and as a page.
pub mod error;
/// One route each: home, login, account, logout, theme.
pub mod handlers;
/// The wire mechanics, sans I/O: routing, cookies, forms, redirects, origin, dates, responses.
pub mod http;
/// Where latch touches the OS: atomic files, Linux calls, randomness, the blocking pool, malloc.
pub mod os;
/// The HTML latch renders, and `escape_html`.
pub mod pages;
/// Sockets: bind, accept, connection bounds and timeouts, graceful shutdown.
pub mod server;
/// One request: route, the POST gate, the handler, errors to statuses, the access line.
pub mod service;
/// Session ids, records, the store contract and its file backend.
pub mod sessions;
/// The www dir: contained paths, validators, 304, streamed files.
pub mod static_files;
/// `--trace`: each request's table of what ran, rows from the values that ran.
pub mod trace;
