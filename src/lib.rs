//! latch: a single-binary HTTP server, written directly on hyper 1.x, that
//! signs people in and out with sessions kept as JSON files on disk.

// First: it declares `log_event!`, which the modules below use.
#[macro_use]
pub mod log;

pub mod app;
pub mod auth;
pub mod cli;
pub mod error;
pub mod handlers;
pub mod http;
pub mod os;
pub mod pages;
pub mod server;
pub mod service;
pub mod sessions;
pub mod static_files;
pub mod trace;
