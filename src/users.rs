//! The users file: htpasswd format, one `name:hash` per line, with argon2id
//! (what `latch adduser` writes) and bcrypt (what `htpasswd -B` writes).

use std::fmt;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use sha2::{Digest, Sha256};

use crate::atomic_file;
use crate::encoding::{base64url, hex};
use crate::session::random_32;

/// argon2id parameters for new hashes: 19 MiB of memory, 2 passes, 1 lane,
/// OWASP's Password Storage Cheat Sheet minimum for argon2id. About 30 ms
/// on one core of this machine; a Raspberry Pi 4 takes about 4x that.
pub const ARGON2_MEMORY_KIB: u32 = 19 * 1024;
pub const ARGON2_PASSES: u32 = 2;
pub const ARGON2_LANES: u32 = 1;

/// The users, by name, with their password hashes.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Users {
    entries: Vec<(String, String)>,
}

/// A users file latch cannot use, naming the line (1-based).
#[derive(Debug, PartialEq)]
pub struct ParseError {
    pub line: usize,
    pub why: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.why)
    }
}

impl Users {
    /// Parses htpasswd text. Blank lines are skipped; every other line must be
    /// `name:hash` with a hash latch can verify. An entry latch cannot check
    /// (`{SHA}`, `$apr1$`, DES crypt) is refused rather than silently never
    /// matching, so the operator learns now, not at someone's failed login.
    pub fn parse(text: &str) -> Result<Users, ParseError> {
        let mut entries = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim_end_matches('\r');
            if line.trim().is_empty() {
                continue;
            }
            let fail = |why: &str| ParseError {
                line: i + 1,
                why: why.to_owned(),
            };
            let (name, hash) = line
                .split_once(':')
                .ok_or_else(|| fail("expected name:hash"))?;
            if let Err(why) = check_name(name) {
                return Err(fail(&why));
            }
            if scheme(hash).is_none() {
                return Err(fail(&format!(
                    "user '{name}' has an unsupported hash scheme (latch accepts $argon2id$ and bcrypt $2y$/$2b$)"
                )));
            }
            entries.push((name.to_owned(), hash.to_owned()));
        }
        Ok(Users { entries })
    }

    /// Reads and parses a users file.
    pub fn load(path: &Path) -> Result<Users, String> {
        let text =
            fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        Users::parse(&text).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// The password hash of `name`; the last entry wins if a name repeats.
    pub fn hash_of(&self, name: &str) -> Option<&str> {
        self.entries
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, h)| h.as_str())
    }

    /// Adds `name`, or replaces its hash.
    pub fn set(&mut self, name: &str, hash: String) {
        match self.entries.iter_mut().find(|(n, _)| n == name) {
            Some(entry) => entry.1 = hash,
            None => self.entries.push((name.to_owned(), hash)),
        }
    }

    /// Removes `name`; false if there was no such user.
    pub fn remove(&mut self, name: &str) -> bool {
        let before = self.entries.len();
        self.entries.retain(|(n, _)| n != name);
        self.entries.len() != before
    }

    /// Each user name once, in file order; never a hash (`latch users`).
    pub fn names(&self) -> impl Iterator<Item = &str> {
        let mut seen = std::collections::HashSet::new();
        self.entries
            .iter()
            .map(|(name, _)| name.as_str())
            .filter(move |name| seen.insert(*name))
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Writes the file atomically with mode 0600 (see `atomic_file`): a
    /// running server never reads half of it.
    pub fn save(&self, path: &Path) -> io::Result<()> {
        let text: String = self
            .entries
            .iter()
            .map(|(name, hash)| format!("{name}:{hash}\n"))
            .collect();
        atomic_file::write(path, text.as_bytes())
    }
}

/// A user name latch will store: 1 to 64 printable characters, none of
/// them a space or `:` (the htpasswd separator), so a name is safe in a
/// log line and in the file.
pub fn check_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.chars().count() <= 64
        && name
            .chars()
            .all(|c| !c.is_control() && !c.is_whitespace() && c != ':');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "invalid user name {name:?}: 1-64 characters, no spaces, controls or ':'"
        ))
    }
}

#[derive(Clone, Copy)]
enum Scheme {
    Argon2id,
    Bcrypt,
}

fn scheme(hash: &str) -> Option<Scheme> {
    let complete_phc = |h| PasswordHash::new(h).is_ok_and(|p| p.salt.is_some() && p.hash.is_some());
    if hash.starts_with("$argon2id$") && complete_phc(hash) {
        Some(Scheme::Argon2id)
    } else if ["$2y$", "$2b$", "$2a$"].iter().any(|p| hash.starts_with(p)) && hash.len() == 60 {
        Some(Scheme::Bcrypt)
    } else {
        None
    }
}

/// A new argon2id hash of `password`, as a PHC string (`$argon2id$v=19$…`).
pub fn hash_password(password: &str) -> String {
    let salt = SaltString::encode_b64(&random_32()[..16]).expect("16 bytes is a valid salt length");
    argon2()
        .hash_password(password.as_bytes(), &salt)
        .expect("argon2 with fixed, valid parameters cannot fail")
        .to_string()
}

fn argon2() -> Argon2<'static> {
    let params = Params::new(ARGON2_MEMORY_KIB, ARGON2_PASSES, ARGON2_LANES, None)
        .expect("the argon2 parameters are constants within range");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Whether `password` matches `hash`. Deliberately slow (that is the point
/// of a password hash): call it off the async workers.
pub fn verify(password: &str, hash: &str) -> bool {
    match scheme(hash) {
        Some(Scheme::Argon2id) => PasswordHash::new(hash).is_ok_and(|parsed| {
            argon2()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
        }),
        Some(Scheme::Bcrypt) => bcrypt::verify(password, hash).unwrap_or(false),
        None => false,
    }
}

/// A random password for the first-run `admin` user: 18 random bytes, 24
/// base64url characters.
pub fn random_password() -> String {
    base64url(&random_32()[..18])
}

/// The `_auth_hash` a session of this user must carry: a digest of the
/// user's current password hash and their "sign out everywhere" epoch.
/// Changing the password, removing the user or signing out everywhere
/// changes it, and every session holding the old one is signed out on its
/// next request (Django's `get_session_auth_hash`). The password hash
/// itself never goes into a session file.
pub fn session_auth_hash(password_hash: &str, epoch: u64) -> String {
    let mut digest = Sha256::new();
    digest.update(b"latch session auth v1\0");
    digest.update(password_hash.as_bytes());
    digest.update(b"\0");
    digest.update(epoch.to_be_bytes());
    hex(&digest.finalize())
}

/// The users file as the running server sees it: reloaded when it changes
/// on disk, so `adduser`, `deluser`, `htpasswd` or an editor take effect
/// without a restart.
pub struct UsersFile {
    path: PathBuf,
    current: RwLock<(Option<FileStamp>, Arc<Users>)>,
}

/// Verified against when the user name is unknown, so that a miss costs
/// what a wrong password costs and response times do not reveal which
/// names exist. It is the hash of a random password nobody kept, made with
/// the same parameters as `hash_password` (a test checks they stay equal),
/// and its result is ignored anyway: an unknown name never signs in.
pub const DECOY_HASH: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$tXPlk3sTyoKOrWI7Zi9L3g$Avx4oahUp62GwqtzCSB87A0lwI27YCr+nOhYYBXQcFo";

/// What identifies a version of the file without reading it.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
struct FileStamp {
    modified: std::time::SystemTime,
    len: u64,
    inode: u64,
}

fn stamp(path: &Path) -> Option<FileStamp> {
    use std::os::unix::fs::MetadataExt;
    let meta = fs::metadata(path).ok()?;
    Some(FileStamp {
        modified: meta.modified().ok()?,
        len: meta.len(),
        inode: meta.ino(),
    })
}

impl UsersFile {
    /// Loads the users file; a parse error stops the server (SPEC.md).
    pub fn open(path: &Path) -> Result<UsersFile, String> {
        let before = stamp(path);
        let users = Users::load(path)?;
        Ok(UsersFile {
            path: path.to_path_buf(),
            current: RwLock::new((before, Arc::new(users))),
        })
    }

    /// The users as last loaded.
    pub fn snapshot(&self) -> Arc<Users> {
        let guard = self.current.read().unwrap_or_else(|p| p.into_inner());
        Arc::clone(&guard.1)
    }

    /// Reloads the file if it changed since the last look. A file that
    /// no longer parses is logged and the previous users are kept; a file
    /// that was removed means no users.
    pub fn refresh(&self) {
        let now = stamp(&self.path);
        if self.current.read().unwrap_or_else(|p| p.into_inner()).0 == now {
            return;
        }
        let users = match now {
            None => Users::default(),
            Some(_) => match Users::load(&self.path) {
                Ok(users) => users,
                Err(e) => {
                    log_event!("users file not reloaded, keeping the previous users: {e}");
                    return;
                }
            },
        };
        log_event!("users file reloaded: {} users", users.len());
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = (now, Arc::new(users));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_argon2id_and_bcrypt_entries() {
        let argon = hash_password("pw");
        let text = format!(
            "alice:{argon}\n\nbob:$2y$05$3t7y.hLZO3x4Fc/E6QqPmeyLyUVNcYLbSy5aZfNjjIqdHVXLhNa0O\r\n"
        );
        let users = Users::parse(&text).unwrap();
        assert_eq!(users.len(), 2);
        assert!(users.hash_of("alice").unwrap().starts_with("$argon2id$"));
        assert!(users.hash_of("carol").is_none());
    }

    #[test]
    fn unsupported_schemes_and_garbage_name_their_line() {
        for (text, line) in [
            ("a:{SHA}qUqP5cyxm6YcTAhz05Hph5gvu9M=\n", 1),
            ("\nb:$apr1$abc$defghijklmnopqrstuv\n", 2),
            ("c:rl.fgs8Q5aJpA\n", 1),
            ("no colon here\n", 1),
            (
                ":$2y$05$3t7y.hLZO3x4Fc/E6QqPmeyLyUVNcYLbSy5aZfNjjIqdHVXLhNa0O\n",
                1,
            ),
            ("d:$argon2id$garbage\n", 1),
        ] {
            assert_eq!(Users::parse(text).unwrap_err().line, line, "{text:?}");
        }
    }

    #[test]
    fn argon2id_verifies_the_right_password_only() {
        let hash = hash_password("correct horse");
        assert!(
            hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{hash}"
        );
        assert!(verify("correct horse", &hash));
        assert!(!verify("wrong", &hash));
    }

    #[test]
    fn bcrypt_from_htpasswd_verifies() {
        // `htpasswd -nbB -C 5 bob secret`
        let hash = bcrypt::hash_with_result("secret", 5)
            .unwrap()
            .format_for_version(bcrypt::Version::TwoY);
        assert!(hash.starts_with("$2y$05$"));
        assert!(verify("secret", &hash));
        assert!(!verify("Secret", &hash));
    }

    #[test]
    fn the_decoy_costs_what_a_real_hash_costs() {
        let real = hash_password("x");
        let params = |h: &str| h.split('$').nth(3).unwrap().to_owned();
        assert_eq!(params(DECOY_HASH), params(&real));
        assert!(scheme(DECOY_HASH).is_some());
        assert!(!verify("", DECOY_HASH));
    }

    #[test]
    fn set_and_remove() {
        let mut users = Users::default();
        users.set("a", "h1".into());
        users.set("a", "h2".into());
        assert_eq!(users.hash_of("a"), Some("h2"));
        assert!(users.remove("a"));
        assert!(!users.remove("a"));
    }

    #[test]
    fn names_are_checked() {
        assert!(check_name("alice@example.com").is_ok());
        for bad in ["", "a b", "a:b", "a\nb", &"x".repeat(65)] {
            assert!(check_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn the_auth_hash_changes_with_the_password_hash_and_the_epoch() {
        let a = session_auth_hash("h1", 0);
        assert_eq!(a, session_auth_hash("h1", 0));
        assert_ne!(a, session_auth_hash("h2", 0));
        assert_ne!(a, session_auth_hash("h1", 1));
    }
}
