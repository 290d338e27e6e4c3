//! Signing in and out: the users file, password hashes, CSRF tokens and
//! login throttling (docs/contract.md, "Users file", "Login throttling").

pub mod csrf;
pub mod throttle;
pub mod users;
