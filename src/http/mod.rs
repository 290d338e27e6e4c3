//! HTTP as latch speaks it, sans I/O: each module takes strings, headers or
//! bytes and returns values. Routing, cookies, forms, redirects, the
//! cross-origin check, the client address, content negotiation, URL paths
//! as file names, conditional requests, dates, encodings and the response
//! builders.

pub mod conditional;
pub mod cookies;
pub mod dates;
pub mod encoding;
pub mod form;
pub mod forwarded;
pub mod negotiation;
pub mod notice;
pub mod origin;
pub mod paths;
pub mod redirect;
pub mod response;
pub mod router;
