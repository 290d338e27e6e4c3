//! What every request can reach: the configuration, the session store,
//! the users file and the in-memory limits, built once at start.

use std::path::PathBuf;

use tokio::sync::Semaphore;

use crate::auth::throttle::Throttle;
use crate::auth::users::UsersFile;
use crate::cli::Config;
use crate::http::cookies::Cookie;
use crate::sessions::quota::SessionQuota;
use crate::sessions::store::Store;

pub struct App {
    pub config: Config,
    pub store: Store,
    pub users: UsersFile,
    /// Failed sign-ins per client address and user name.
    pub throttle: Throttle,
    /// New anonymous sessions per client address.
    pub quota: SessionQuota,
    /// Password checks running at once: one per core. A login flood then
    /// queues here instead of taking every core (and 19 MiB per check)
    /// from the other requests.
    pub hashing: Semaphore,
    /// The session id's cookie.
    pub cookie: Cookie,
    /// The one-time notice's cookie, under the same rules.
    pub notice_cookie: Cookie,
    /// The www dir, canonicalized once at start; `None` when it is missing.
    pub www_root: Option<PathBuf>,
}

impl App {
    pub fn new(config: Config, store: Store, users: UsersFile) -> App {
        let www_root = std::fs::canonicalize(&config.www).ok();
        App {
            cookie: Cookie::session(config.secure_cookies),
            notice_cookie: Cookie::notice(config.secure_cookies),
            store,
            users,
            throttle: Throttle::new(config.login_throttle),
            quota: SessionQuota::default(),
            hashing: Semaphore::new(std::thread::available_parallelism().map_or(1, |n| n.get())),
            www_root,
            config,
        }
    }
}
