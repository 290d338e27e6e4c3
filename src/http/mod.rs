//! HTTP as latch speaks it, sans I/O: each module takes strings, headers or
//! bytes and returns values; `response` builds what goes back.

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
