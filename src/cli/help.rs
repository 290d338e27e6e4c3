//! The usage text: each command's name and words (`Verb::about`, whose
//! names the parser reads too), with the flags it takes from `FLAGS`, so the
//! help cannot drift from what the parser reads.

use super::{flags, Verb};

/// What the help says about a command.
pub struct About {
    pub name: &'static str,
    /// The word after the command's name, if it takes one (`NAME`).
    pub operand: Option<&'static str>,
    /// One line for the list of commands.
    pub summary: &'static str,
    /// A paragraph for the command's own help.
    pub details: &'static str,
}

impl Verb {
    pub fn about(self) -> About {
        match self {
            Verb::Serve => About {
                name: "serve",
                operand: None,
                summary: "serve HTTP (the command when none is given)",
                details: "Serves HTTP until SIGINT or SIGTERM. When the users file does not \
                         exist, creates it with one user, admin, and prints admin's random \
                         password once.",
            },
            Verb::Check => About {
                name: "check",
                operand: None,
                summary: "check a configuration before a (re)start",
                details: "Reads the flags and variables serve would read and checks, without \
                         changing anything, the users file (readable, owner-only, every line \
                         usable), the sessions directory (owner-only, writable, or creatable), \
                         the www dir and the address. Prints each problem; exit 1 if there is \
                         one, 0 with a summary if not.",
            },
            Verb::AddUser => About {
                name: "adduser",
                operand: Some("NAME"),
                summary: "add a user, or change their password",
                details: "Adds user NAME, or replaces their password, with an argon2id hash. At \
                         a terminal it asks twice, without echo; otherwise the password is the \
                         first line of standard input. An empty password is refused. Creates \
                         the users file when missing.",
            },
            Verb::DelUser => About {
                name: "deluser",
                operand: Some("NAME"),
                summary: "remove a user",
                details: "Removes user NAME.",
            },
            Verb::Users => About {
                name: "users",
                operand: None,
                summary: "list the user names",
                details: "Prints the user names, one a line; never a hash.",
            },
            Verb::CheckPassword => About {
                name: "checkpassword",
                operand: Some("NAME"),
                summary: "check a user's password (as htpasswd -v)",
                details: "Reads a password as adduser does (asked once at a terminal) and \
                         checks it against NAME's hash: exit 0 when it is right, 1 when it is \
                         not.",
            },
            Verb::Sessions => About {
                name: "sessions",
                operand: None,
                summary: "list live sessions",
                details: "One line per live session: the start of its file name, the user (or - \
                         when no sign-in stands), created and expires. Never a session id.",
            },
            Verb::ClearSessions => About {
                name: "clearsessions",
                operand: None,
                summary: "delete expired and unreadable sessions",
                details: "Deletes expired and unreadable sessions (files, or Redis keys) and \
                         says how many of each it removed; why each unreadable one could not be \
                         read is on standard error. Signs no one out.",
            },
        }
    }
}

/// Where a flag's help text starts.
const HELP_COLUMN: usize = 28;
/// Help text is wrapped to stay within this many columns.
const WIDTH: usize = 80;

/// `latch --help`, or `latch COMMAND --help` when `verb` is given.
pub fn usage(verb: Option<Verb>) -> String {
    let Some(verb) = verb else {
        return overview();
    };
    let mut out = format!("usage: latch {} [FLAGS]\n\n", synopsis(verb));
    out += &wrap(verb.about().details, 0).join("\n");
    out += "\n\n";
    out += &flag_list(verb);
    out
}

/// `latch VERSION`, from Cargo.toml.
pub fn version() -> String {
    format!("latch {}", env!("CARGO_PKG_VERSION"))
}

fn overview() -> String {
    let mut out = format!(
        "{}: signs people in and out, with sessions kept as JSON files\n\n\
         usage: latch [COMMAND] [NAME] [FLAGS]\n\ncommands:\n",
        version()
    );
    for verb in Verb::ALL {
        out += &row(&synopsis(verb), verb.about().summary);
    }
    out += &row("help [COMMAND]", "this text, or one command's");
    out += "\n";
    out += &flag_list(Verb::Serve);
    out += "\n`latch help COMMAND` (or `latch COMMAND --help`) lists a command's own flags.\n";
    out
}

/// `adduser NAME`.
fn synopsis(verb: Verb) -> String {
    let about = verb.about();
    match about.operand {
        Some(operand) => format!("{} {operand}", about.name),
        None => about.name.to_owned(),
    }
}

/// Every flag `verb` takes: the flag and its help, then its variable and
/// default on the line below.
fn flag_list(verb: Verb) -> String {
    let mut out = format!("{verb} flags (a flag beats its variable, which beats the default):\n");
    for flag in flags::of(verb) {
        out += &row(&flag.spelled(), flag.help);
        let source = format!("env {}, default {}", flag.env_text(), flag.default_text());
        out += &row("", &source);
    }
    out += &row("-h, --help", "this text");
    out += &row("-V, --version", "latch's version");
    out
}

/// One row of a two-column list, the right column wrapped.
fn row(left: &str, right: &str) -> String {
    let mut out = format!("  {left:<width$}", width = HELP_COLUMN - 2);
    if left.len() > HELP_COLUMN - 3 {
        out.push('\n');
        out += &" ".repeat(HELP_COLUMN);
    }
    out += &wrap(right, HELP_COLUMN).join(&format!("\n{}", " ".repeat(HELP_COLUMN)));
    out.push('\n');
    out
}

/// `text` as lines that fit within `WIDTH` after `indent` columns.
fn wrap(text: &str, indent: usize) -> Vec<String> {
    let room = WIDTH - indent;
    let mut lines: Vec<String> = Vec::new();
    for word in text.split_whitespace() {
        match lines.last_mut() {
            Some(line) if line.len() + 1 + word.len() <= room => {
                line.push(' ');
                line.push_str(word);
            }
            _ => lines.push(word.to_owned()),
        }
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_line_is_wider_than_80_columns() {
        for verb in [None].into_iter().chain(Verb::ALL.map(Some)) {
            for line in usage(verb).lines() {
                assert!(line.len() <= WIDTH, "{verb:?}: {line:?}");
            }
        }
    }
}
