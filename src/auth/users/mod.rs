//! The users file: htpasswd format, one `name:hash` per line, read line by
//! line (docs/contract.md, "Users file": what is skipped, and what a line
//! latch cannot use does).
//!
//! - A name on more than one line: the first line counts, as in Apache's
//!   mod_authn_file, which stops at the first match; the later lines are
//!   problems. If the first line is unusable, that user cannot sign in.
//! - The lines are kept as they were read, so `adduser` and `deluser`
//!   change only the named user's lines and write back the operator's
//!   comments, blank lines and lines latch cannot use untouched.
//! - The file is read as the session store reads its files
//!   (`os::regular_file`): a FIFO or a link to `/dev/zero` can neither
//!   block the reader nor fill the memory.

mod hashes;
mod timing;
mod watch;

use std::collections::HashMap;
use std::fmt;
use std::path::Path;

use crate::http::encoding::base64url;
use crate::os::atomic_file;
use crate::os::random::random_32;
use crate::os::regular_file::{self, Contents, Symlinks};

pub use hashes::{hash_password, verify, HASHING_BUDGET_MIB};
pub use timing::{PasswordCheck, SignInCost};
pub use watch::UsersFile;

/// The largest users file latch reads: 4 MiB, some 40,000 users at about
/// 100 bytes a line. A larger file is refused whole (a link to `/dev/zero`
/// or a runaway script must not fill the memory), as an unreadable one is.
pub const MAX_FILE_BYTES: u64 = 4 * 1024 * 1024;

/// The users of one version of the file.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Users {
    /// Every line as read (without the BOM and the line end).
    lines: Vec<String>,
    /// Each name with a line: the first line for it, and its hash, or why
    /// that line is unusable.
    accounts: HashMap<String, Named>,
}

#[derive(Clone, Debug, PartialEq)]
struct Named {
    /// 1-based.
    line: usize,
    account: Result<Account, String>,
}

#[derive(Clone, Debug, PartialEq)]
struct Account {
    hash: String,
    kind: hashes::Kind,
}

/// One user as `latch users` shows it: the name, and why its line is
/// unusable when it is (never a hash).
#[derive(Debug, PartialEq, Eq)]
pub struct Listed<'a> {
    pub name: &'a str,
    /// The name's first line, 1-based.
    pub line: usize,
    pub unusable: Option<&'a str>,
}

/// A line latch cannot use, and why. The reason never quotes the hash.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LineProblem {
    /// 1-based, as editors count.
    pub line: usize,
    pub why: String,
}

impl fmt::Display for LineProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.why)
    }
}

impl Users {
    /// Reads htpasswd text line by line. Never fails: every line latch
    /// cannot use comes back as a problem, and the other lines stand.
    pub fn parse(text: &str) -> (Users, Vec<LineProblem>) {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let mut users = Users {
            lines: text
                .lines()
                .map(|l| l.trim_end_matches('\r').to_owned())
                .collect(),
            accounts: HashMap::new(),
        };
        let problems = users.index();
        (users, problems)
    }

    /// Reads a users file. Only a file that cannot be read at all is an
    /// error, one line naming it: missing, no permission, not a regular
    /// file (a directory, a FIFO, a device such as `/dev/zero`), larger
    /// than `MAX_FILE_BYTES`. Bytes that are not UTF-8 spoil just their line.
    pub fn load(path: &Path) -> Result<(Users, Vec<LineProblem>), String> {
        let cannot =
            |why: &dyn fmt::Display| format!("cannot read users file {}: {why}", path.display());
        match regular_file::read(path, MAX_FILE_BYTES, Symlinks::Followed) {
            Ok(Contents::File(bytes, _)) => Ok(Users::parse(&String::from_utf8_lossy(&bytes))),
            Ok(Contents::Refused(why)) => Err(cannot(&why)),
            Err(e) => Err(cannot(&e)),
        }
    }

    /// Rebuilds `accounts` from `lines`; returns the lines it could not use.
    fn index(&mut self) -> Vec<LineProblem> {
        let mut problems = Vec::new();
        self.accounts.clear();
        for (i, line) in self.lines.iter().enumerate() {
            let number = i + 1;
            let verdict = match read_line(line) {
                Line::Skipped => continue,
                Line::Nameless(why) => Err(why),
                Line::Entry(name, _) if self.accounts.contains_key(name) => Err(format!(
                    "user {name} is already on line {}: this line is ignored (the first line for a name counts)",
                    self.accounts[name].line
                )),
                Line::Entry(name, hash) => {
                    let account = hashes::recognize(hash).map(|kind| Account {
                        hash: hash.to_owned(),
                        kind,
                    });
                    let verdict = match &account {
                        Ok(_) => Ok(()),
                        Err(why) => Err(format!("user {name}: {why}; {name} cannot sign in")),
                    };
                    let named = Named {
                        line: number,
                        account,
                    };
                    self.accounts.insert(name.to_owned(), named);
                    verdict
                }
            };
            if let Err(why) = verdict {
                problems.push(LineProblem { line: number, why });
            }
        }
        problems
    }

    /// The password hash of `name`, when its line is usable.
    pub fn hash_of(&self, name: &str) -> Option<&str> {
        self.account_of(name).map(|(hash, _)| hash)
    }

    /// The password hash of `name` and its kind, when its line is usable.
    fn account_of(&self, name: &str) -> Option<(&str, hashes::Kind)> {
        let account = self.accounts.get(name)?.account.as_ref().ok()?;
        Some((&account.hash, account.kind))
    }

    /// The kind of hash of each usable line, for `timing`.
    fn kinds(&self) -> impl Iterator<Item = hashes::Kind> + '_ {
        let usable = self
            .accounts
            .values()
            .filter_map(|n| n.account.as_ref().ok());
        usable.map(|account| account.kind)
    }

    /// Adds `name`, or gives it this hash: its first line is rewritten in
    /// place (even one latch could not use) and its later lines removed.
    pub fn set(&mut self, name: &str, hash: String) {
        let first = self.lines.iter().position(|l| name_of(l) == Some(name));
        self.lines.retain(|l| name_of(l) != Some(name));
        // No line before the first one of `name` was removed.
        let at = first.unwrap_or(self.lines.len());
        self.lines.insert(at, format!("{name}:{hash}"));
        self.index();
    }

    /// Removes every line of `name`; false if there was none.
    pub fn remove(&mut self, name: &str) -> bool {
        let before = self.lines.len();
        self.lines.retain(|l| name_of(l) != Some(name));
        self.index();
        self.lines.len() != before
    }

    /// Each user name once, in the order of their first lines, usable or
    /// not; never a hash (`latch users`). A name is never a control or
    /// bidi character (`check_name`), so it prints as it reads.
    pub fn listing(&self) -> Vec<Listed<'_>> {
        let mut listed: Vec<Listed> = self
            .accounts
            .iter()
            .map(|(name, named)| Listed {
                name,
                line: named.line,
                unusable: named.account.as_ref().err().map(String::as_str),
            })
            .collect();
        listed.sort_by_key(|l| l.line);
        listed
    }

    /// How many users can sign in.
    pub fn len(&self) -> usize {
        self.kinds().count()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Writes the file atomically with mode 0600 (see `atomic_file`): a
    /// running server never reads half of it. An error is one line naming it.
    pub fn save(&self, path: &Path) -> Result<(), String> {
        let text: String = self.lines.iter().map(|l| format!("{l}\n")).collect();
        atomic_file::write(path, text.as_bytes())
            .map_err(|e| format!("cannot write users file {}: {e}", path.display()))
    }
}

/// What one line of the file holds.
enum Line<'a> {
    /// Blank, or a `#` comment.
    Skipped,
    /// Not `name:hash` with a name latch allows: why.
    Nameless(String),
    /// A name and whatever follows the first `:` (trailing blanks cut).
    Entry(&'a str, &'a str),
}

fn read_line(line: &str) -> Line<'_> {
    if line.trim().is_empty() || line.trim_start().starts_with('#') {
        return Line::Skipped;
    }
    if line.contains('\u{fffd}') {
        return Line::Nameless("not valid UTF-8".into());
    }
    let Some((name, hash)) = line.split_once(':') else {
        return Line::Nameless("expected name:hash".into());
    };
    if check_name(name).is_err() {
        // The name is not quoted: a line this broken may hold anything.
        return Line::Nameless(format!("not a valid user name before ':' ({NAME_RULE})"));
    }
    Line::Entry(name, hash.trim_end())
}

/// The user a line names, usable or not.
fn name_of(line: &str) -> Option<&str> {
    match read_line(line) {
        Line::Entry(name, _) => Some(name),
        _ => None,
    }
}

const NAME_RULE: &str = "1-64 characters, no spaces, controls, bidi controls or ':'";

/// A user name latch will store: 1 to 64 printable characters, none of
/// them a space or `:` (the htpasswd separator), so a name is safe in a
/// log line, on a page and in the file. Nor a bidi control: one
/// (U+202E, right-to-left override) in a name shown on a page or in a
/// terminal reorders what follows it, so that `admin\u{202E}nimda`
/// reads as another name (CVE-2021-42574, "Trojan Source").
pub fn check_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.chars().count() <= 64
        && name
            .chars()
            .all(|c| !c.is_control() && !c.is_whitespace() && !is_bidi_control(c) && c != ':');
    if ok {
        Ok(())
    } else {
        // `{:?}` writes every control and bidi character as `\u{…}`.
        Err(format!("invalid user name {name:?}: {NAME_RULE}"))
    }
}

/// The Unicode bidi controls (UAX #9, "Explicit Directional Formatting"
/// and the marks): ALM, LRM, RLM, LRE..RLO, LRI..PDI.
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// A random password for the first-run `admin` user: 18 random bytes, 24
/// base64url characters.
pub fn random_password() -> String {
    base64url(&random_32()[..18])
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `htpasswd -nbB -C 5 bob secret`
    const BOB: &str = "bob:$2y$05$3t7y.hLZO3x4Fc/E6QqPmeyLyUVNcYLbSy5aZfNjjIqdHVXLhNa0O";

    fn lines_of(problems: &[LineProblem]) -> Vec<usize> {
        problems.iter().map(|p| p.line).collect()
    }

    #[test]
    fn usable_lines_stand_skipped_ones_are_silent_and_each_unusable_one_is_a_problem() {
        let text = format!(
            "\u{feff}# staff\n\n   \n  # indented comment\n\
             alice:{}\n\
             a:{{SHA}}qUqP5cyxm6YcTAhz05Hph5gvu9M=\n\
             b:$apr1$r31.....$HqJZimcKQFAMYayBlzkrA/\n\
             {BOB}\r\n\
             c:rl.fgs8Q5aJpA\n\
             no colon here\n\
             :$2y$05$3t7y.hLZO3x4Fc/E6QqPmeyLyUVNcYLbSy5aZfNjjIqdHVXLhNa0O\n\
             d:$argon2id$garbage\n\
             bad\u{fffd}:x\n",
            hash_password("pw")
        );
        let (users, problems) = Users::parse(&text);
        assert_eq!(lines_of(&problems), [6, 7, 9, 10, 11, 12, 13]);
        assert_eq!(users.len(), 2);
        assert!(users.hash_of("alice").unwrap().starts_with("$argon2id$"));
        assert!(users.hash_of("bob").unwrap().starts_with("$2y$05$"));
        for name in ["a", "b", "c", "d", "carol"] {
            assert!(users.hash_of(name).is_none(), "{name}");
        }
        assert_eq!(problems[0].to_string().split(':').next(), Some("line 6"));
        assert!(problems[1].why.contains("$apr1$") && problems[1].why.contains("user b"));
        for problem in &problems {
            assert!(!problem.why.contains("qUqP5") && !problem.why.contains("HqJZ"));
            assert!(!problem.why.contains("rl.fgs8Q5aJpA"), "{problem}");
        }
    }

    #[test]
    fn the_first_line_for_a_name_counts_even_when_unusable() {
        let other = "bob:$2y$05$7FezIbPqvroD/J2FvPOiG.XTGpnUF0a50BI1Xzln7AqsD08N3jQei";
        let (users, problems) = Users::parse(&format!("{BOB}\n{other}\n"));
        assert_eq!(users.hash_of("bob"), BOB.strip_prefix("bob:"));
        assert_eq!(lines_of(&problems), [2]);
        assert!(problems[0].why.contains("line 1"), "{}", problems[0]);

        let (users, problems) = Users::parse(&format!("bob:$apr1$x$y\n{BOB}\n"));
        assert_eq!(users.hash_of("bob"), None);
        assert_eq!(lines_of(&problems), [1, 2]);
    }

    #[test]
    fn set_rewrites_the_first_line_of_a_name_and_drops_the_later_ones() {
        let text = format!("# keep me\nbob:$apr1$x$y\nzed:plain\n{BOB}\n");
        let (mut users, _) = Users::parse(&text);
        let fresh = hash_password("new");
        users.set("bob", fresh.clone());
        assert_eq!(
            users.lines,
            [
                "# keep me".to_string(),
                format!("bob:{fresh}"),
                "zed:plain".into()
            ]
        );
        assert_eq!(users.hash_of("bob"), Some(fresh.as_str()));
        users.set("carol", fresh.clone());
        assert_eq!(users.lines.last(), Some(&format!("carol:{fresh}")));
    }

    #[test]
    fn remove_drops_every_line_of_the_name_and_keeps_the_rest() {
        let text = format!("# keep me\n{BOB}\n\nzed:plain\nbob:$apr1$x$y\n");
        let (mut users, _) = Users::parse(&text);
        assert!(users.remove("bob"));
        assert!(!users.remove("bob"));
        assert_eq!(users.lines, ["# keep me", "", "zed:plain"]);
        assert_eq!(users.hash_of("bob"), None);
    }

    #[test]
    fn names_are_checked() {
        assert!(check_name("alice@example.com").is_ok());
        assert!(check_name("zoë").is_ok());
        for bad in ["", "a b", "a:b", "a\nb", &"x".repeat(65), "a\u{85}b"] {
            assert!(check_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_bidi_control_in_a_name_is_refused_and_never_echoed_raw() {
        for bidi in [
            '\u{061C}', '\u{200E}', '\u{200F}', '\u{202A}', '\u{202E}', '\u{2066}', '\u{2069}',
        ] {
            let name = format!("admin{bidi}nimda");
            let why = check_name(&name).unwrap_err();
            assert!(!why.contains(bidi), "{why}");
            assert!(why.contains("\\u{"), "{why}");

            let text = format!("{name}:{}\n{BOB}\n", hash_password("pw"));
            let (users, problems) = Users::parse(&text);
            assert_eq!(lines_of(&problems), [1], "{bidi:?}");
            assert!(!problems[0].to_string().contains(bidi));
            assert!(problems[0].why.contains("not a valid user name"));
            assert_eq!(users.len(), 1);
            let listed: Vec<_> = users.listing().iter().map(|l| l.name.to_owned()).collect();
            assert_eq!(listed, ["bob"]);
        }
    }

    #[test]
    fn the_listing_has_every_name_once_in_order_marking_unusable_lines() {
        let text = format!(
            "# staff\nzed:$apr1$x$y\n{BOB}\nzed:{}\nno colon\n",
            hash_password("pw")
        );
        let (users, _) = Users::parse(&text);
        let listing = users.listing();
        assert_eq!(listing.len(), 2);
        assert_eq!((listing[0].name, listing[0].line), ("zed", 2));
        assert!(listing[0].unusable.unwrap().contains("$apr1$"));
        assert_eq!(
            listing[1],
            Listed {
                name: "bob",
                line: 3,
                unusable: None
            }
        );
    }
}
