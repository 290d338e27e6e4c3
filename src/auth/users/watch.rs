//! The users file as the running server sees it: looked at every second or
//! so and reloaded when it changes, so that `adduser`, `deluser`, `htpasswd`
//! or an editor take effect without a restart (docs/contract.md, "Users
//! file": within 5 seconds, line by line).

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use super::timing::{Decoys, PasswordCheck};
use super::{LineProblem, Users};
use crate::log_event;

/// At most this many unusable lines are logged per load, then a count: a
/// file of garbage must not flood the log each time it changes.
const PROBLEMS_LOGGED: usize = 20;

pub struct UsersFile {
    path: PathBuf,
    current: RwLock<Loaded>,
    /// A new version seen at the last look, not yet read (see `refresh`).
    unsettled: Mutex<Option<Option<FileStamp>>>,
    decoys: Arc<Decoys>,
}

/// One version of the file, as the requests use it.
struct Loaded {
    /// `None`: the file was missing when this version was taken.
    stamp: Option<FileStamp>,
    users: Arc<Users>,
    /// Its failures' estimated floor (`Decoys::floor_for`).
    floor: Duration,
}

impl Loaded {
    fn new(stamp: Option<FileStamp>, users: Users, decoys: &Decoys) -> Loaded {
        Loaded {
            stamp,
            floor: decoys.floor_for(users.kinds()),
            users: Arc::new(users),
        }
    }
}

/// What identifies a version of the file without reading it. The change
/// time is in it so that a `chmod` or `chown` is noticed too.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
struct FileStamp {
    modified: (i64, i64),
    changed: (i64, i64),
    len: u64,
    device: u64,
    inode: u64,
}

fn stamp(path: &Path) -> Option<FileStamp> {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(path).ok()?;
    Some(FileStamp {
        modified: (meta.mtime(), meta.mtime_nsec()),
        changed: (meta.ctime(), meta.ctime_nsec()),
        len: meta.len(),
        device: meta.dev(),
        inode: meta.ino(),
    })
}

impl UsersFile {
    /// Loads the users file at start. A file that cannot be read at all
    /// is an error (latch exits 1); each unusable line is logged, and the
    /// server starts with the others.
    pub fn open(path: &Path) -> Result<UsersFile, String> {
        let before = stamp(path);
        let (users, problems) = Users::load(path)?;
        log_problems(path, &problems);
        let decoys = Decoys::default();
        Ok(UsersFile {
            path: path.to_path_buf(),
            current: RwLock::new(Loaded::new(before, users, &decoys)),
            unsettled: Mutex::new(None),
            decoys: Arc::new(decoys),
        })
    }

    /// The users as last loaded.
    pub fn snapshot(&self) -> Arc<Users> {
        Arc::clone(&self.read().users)
    }

    /// What a login for `name` checks, from one version of the file: the
    /// user's hash, or the decoy, and the floor (see `timing`).
    pub fn password_check(&self, name: &str) -> PasswordCheck {
        let loaded = self.read();
        let decoys = Arc::clone(&self.decoys);
        PasswordCheck::new(loaded.users.account_of(name), decoys, loaded.floor)
    }

    /// One look at the file; reloads it when a new version holds still.
    ///
    /// 1. The same stamp as the loaded version: nothing to do.
    /// 2. A new stamp is only noted, and read at the next look if it is
    ///    still the same. A writer that rewrites the file in place
    ///    (`htpasswd` copies its temporary file over the original) or an
    ///    editor that moves it away and writes it anew is thus not read
    ///    halfway, which would sign out every user it had not written yet.
    /// 3. Read it, and if the stamp moved meanwhile, wait for the next look.
    /// 4. A file that is gone or cannot be read leaves no users: the server
    ///    cannot tell a removed user from a kept one, so it keeps none, and
    ///    says so. Keeping the last users would keep a removed user signed
    ///    in for as long as the file stays unreadable (say, owned by root
    ///    after `sudo latch deluser`).
    /// 5. Otherwise each usable line counts and each unusable one is logged.
    pub fn refresh(&self) {
        // 1.
        let now = stamp(&self.path);
        let mut unsettled = self.unsettled.lock().unwrap_or_else(|p| p.into_inner());
        if self.read().stamp == now {
            *unsettled = None;
            return;
        }
        // 2.
        if *unsettled != Some(now) {
            *unsettled = Some(now);
            return;
        }
        // 3.
        self.load(now, &mut unsettled);
    }

    /// Reads the file now, without waiting for it to hold still: SIGHUP,
    /// the operator's word that the file is ready.
    pub fn reload(&self) {
        let mut unsettled = self.unsettled.lock().unwrap_or_else(|p| p.into_inner());
        self.load(stamp(&self.path), &mut unsettled);
    }

    /// Steps 3 to 5 of `refresh`: reads the file whose stamp is `now`, and
    /// settles it; nothing changes when it moved during the read.
    fn load(&self, now: Option<FileStamp>, unsettled: &mut Option<Option<FileStamp>>) {
        let loaded = Users::load(&self.path);
        if stamp(&self.path) != now {
            return;
        }
        let users = match loaded {
            // 4.
            Err(why) => {
                log_event!("{why}: no one can sign in until it can be read");
                Users::default()
            }
            // 5.
            Ok((users, problems)) => {
                log_problems(&self.path, &problems);
                log_event!(
                    "users file {} reloaded: {} users can sign in",
                    self.path.display(),
                    users.len()
                );
                users
            }
        };
        *self.current.write().unwrap_or_else(|p| p.into_inner()) =
            Loaded::new(now, users, &self.decoys);
        *unsettled = None;
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Loaded> {
        self.current.read().unwrap_or_else(|p| p.into_inner())
    }
}

/// One log line per unusable line (`users file F line N: why`), up to
/// `PROBLEMS_LOGGED`.
fn log_problems(path: &Path, problems: &[LineProblem]) {
    for problem in problems.iter().take(PROBLEMS_LOGGED) {
        log_event!("users file {} {problem}", path.display());
    }
    if problems.len() > PROBLEMS_LOGGED {
        log_event!(
            "users file {}: {} more lines latch cannot use",
            path.display(),
            problems.len() - PROBLEMS_LOGGED
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `htpasswd -nbB -C 5 bob secret`
    const BOB: &str = "bob:$2y$05$3t7y.hLZO3x4Fc/E6QqPmeyLyUVNcYLbSy5aZfNjjIqdHVXLhNa0O";
    const CAROL: &str = "carol:$2y$05$7FezIbPqvroD/J2FvPOiG.XTGpnUF0a50BI1Xzln7AqsD08N3jQei";

    fn temp_file(text: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "latch-users-{}",
            crate::http::encoding::hex(&crate::os::random::random_32()[..8])
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("users.htpasswd");
        std::fs::write(&path, text).unwrap();
        path
    }

    #[test]
    fn a_change_is_read_once_it_holds_still_and_a_removed_file_leaves_no_users() {
        let path = temp_file(&format!("{BOB}\n{CAROL}\n"));
        let file = UsersFile::open(&path).unwrap();
        std::fs::write(&path, format!("# bob left\nbob:$apr1$x$y\n{CAROL}\n")).unwrap();
        file.refresh();
        assert!(file.snapshot().hash_of("bob").is_some(), "only noted");
        file.refresh();
        assert!(file.snapshot().hash_of("bob").is_none(), "read");
        assert!(file.snapshot().hash_of("carol").is_some());
        assert_eq!(file.password_check("bob").user_hash(), None);

        std::fs::remove_file(&path).unwrap();
        file.refresh();
        file.refresh();
        assert!(file.snapshot().is_empty());
        std::fs::write(&path, format!("{BOB}\n")).unwrap();
        file.refresh();
        file.refresh();
        assert!(file.snapshot().hash_of("bob").is_some());
        let _ = std::fs::remove_dir_all(path.parent().unwrap());
    }
}
