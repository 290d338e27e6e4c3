//! What every request can reach: the configuration, the session store,
//! the users file and the in-memory limits, built once at start.

use std::path::PathBuf;

use crate::auth::password::Hashing;
use crate::auth::throttle::Throttle;
use crate::auth::users::UsersFile;
use crate::cli::Config;
use crate::http::cookies::Cookie;
use crate::sessions::store::Store;
use crate::trace::Recent;

pub struct App {
    pub config: Config,
    pub store: Store,
    pub users: UsersFile,
    /// Which counters a sign-in attempt passes (kept in the store).
    pub throttle: Throttle,
    /// Password checks: one per core at most, within a memory budget, one
    /// at a time per client address. A login flood then queues here
    /// instead of taking every core and the memory from other requests.
    pub hashing: Hashing,
    /// The session id's cookie.
    pub cookie: Cookie,
    /// The one-time notice's cookie, under the same rules.
    pub notice_cookie: Cookie,
    /// The cookie that proves a browser signed in before (`auth::device`).
    pub device_cookie: Cookie,
    /// With `--trace`: each browser's recent requests, for `/_trace`, and
    /// the cookie that tells browsers apart.
    pub recent: Option<Recent>,
    pub trace_cookie: Cookie,
    /// The www dir, canonicalized once at start; `None` when it is missing.
    pub www_root: Option<PathBuf>,
}

impl App {
    pub fn new(config: Config, store: Store, users: UsersFile) -> App {
        let www_root = std::fs::canonicalize(&config.www).ok();
        App {
            cookie: Cookie::session(config.secure_cookies),
            notice_cookie: Cookie::notice(config.secure_cookies),
            device_cookie: Cookie::device(config.secure_cookies),
            recent: config.trace.map(|_| Recent::default()),
            trace_cookie: Cookie::trace(config.secure_cookies),
            store,
            users,
            throttle: Throttle::new(config.login_throttle),
            hashing: Hashing::new(std::thread::available_parallelism().map_or(1, |n| n.get())),
            www_root,
            config,
        }
    }
}
