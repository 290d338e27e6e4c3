//! Reading a password for `adduser` and `checkpassword`, as `htpasswd`
//! does: at a terminal, asked for on the terminal without echo; from a pipe,
//! the first line of standard input, so a script can feed it and it never
//! appears in the process list or the shell history.

use std::io::{BufRead, IsTerminal};

/// How many times a terminal is asked: twice when setting a password, to
/// catch a typo nobody could see; once when checking one.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Ask {
    Once,
    Twice,
}

/// The password, never empty. The prompts go to the terminal itself
/// (`/dev/tty`), never to standard output, which stays for results.
pub fn read(ask: Ask) -> Result<String, String> {
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        from_terminal(ask)
    } else {
        first_line(stdin.lock())
    }
}

fn from_terminal(ask: Ask) -> Result<String, String> {
    let prompt = |text: &str| {
        rpassword::prompt_password(text)
            .map_err(|e| format!("cannot read the password from the terminal: {e}"))
    };
    let password = prompt("Password: ")?;
    if password.is_empty() {
        return Err("empty password".into());
    }
    if ask == Ask::Twice && prompt("Again: ")? != password {
        return Err("the two passwords differ".into());
    }
    Ok(password)
}

/// The first line, without its line ending; the rest is not read.
fn first_line(mut input: impl BufRead) -> Result<String, String> {
    let mut line = String::new();
    input
        .read_line(&mut line)
        .map_err(|e| format!("cannot read the password from standard input: {e}"))?;
    let password = line.trim_end_matches(['\n', '\r']);
    if password.is_empty() {
        return Err("empty password: write it as the first line of standard input".into());
    }
    Ok(password.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_line_is_the_password_without_its_line_ending() {
        assert_eq!(first_line(&b"pw one\r\nsecond\n"[..]), Ok("pw one".into()));
        assert_eq!(first_line(&b"no newline"[..]), Ok("no newline".into()));
        for empty in [&b""[..], b"\n", b"\r\n", b"\nsecond\n"] {
            assert!(first_line(empty).is_err(), "{empty:?}");
        }
    }
}
