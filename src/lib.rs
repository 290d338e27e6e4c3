//! latch: a single-binary HTTP server, written directly on hyper 1.x, that
//! signs people in and out, with sessions kept as JSON files on disk or, for
//! several instances behind a load balancer, in one Redis (docs/contract.md).
//!
//! The modules in the order their imports give, from the socket inward:
//! each imports only modules listed below it (`tests/layers.rs` fails on an
//! import that points up the list, and on a cycle anywhere in `src/`).
//! `http` is pure (strings, headers and bytes in, values out); `server`,
//! `static_files`, `sessions::files`, `sessions::redis` and `os` are where
//! the network and the disk are touched. (Each item stands apart, so that
//! rustfmt keeps this order instead of sorting it.)

/// Sockets: bind, accept, connection bounds and timeouts, graceful shutdown.
pub mod server;

/// One request: route, the POST gate, the handler, errors to statuses, the access line.
pub mod service;

/// One route each: home, login, account, logout, theme.
pub mod handlers;

/// The www dir: finding and streaming files, the built-in ones.
pub mod static_files;

/// The HTML latch renders (error pages included), and `escape_html`.
pub mod pages;

/// Everything that stops a request short, and the one map to its status.
pub mod error;

/// What every request can reach: configuration, store, users, limits.
pub mod app;

/// The command line: flags, variables, help, `check`, password prompts.
pub mod cli;

/// The sign-in rules: sign in, sign out, does it still stand, CSRF, users, passwords, throttling.
pub mod auth;

/// Session ids, records, the store contract and its two backends (files, Redis), paces.
pub mod sessions;

/// Where latch touches the OS: atomic files, Linux calls, randomness, the blocking pool, malloc.
pub mod os;

/// The wire mechanics, sans I/O: routing, cookies, forms, redirects, origin, dates, paths,
/// conditional requests, responses.
pub mod http;

/// `--trace`: each request's table of what ran, rows from the values that ran; `log_event!`.
pub mod trace;

/// Standard error: event lines at once, access lines in batches.
pub mod log;
