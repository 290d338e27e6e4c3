//! Reading a password for `adduser` and `checkpassword`, as `htpasswd`
//! does: at a terminal, asked for on the terminal without echo; from a pipe,
//! the first line of standard input, so a script can feed it and it never
//! appears in the process list or the shell history.

use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, BufReader, IsTerminal, Write};
use std::mem::MaybeUninit;
use std::os::fd::AsRawFd;

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
    if !stdin.is_terminal() {
        return first_line(stdin.lock());
    }
    let ask_for =
        |text| prompt(text).map_err(|e| format!("cannot read the password from the terminal: {e}"));
    let password = ask_for("Password: ")?;
    if password.is_empty() {
        return Err("empty password".into());
    }
    if ask == Ask::Twice && ask_for("Again: ")? != password {
        return Err("the two passwords differ".into());
    }
    Ok(password)
}

/// Asks on the terminal, as readpassphrase(3) does, in this order:
/// 1. turn echo off, discarding anything typed before the prompt (it was
///    echoed);
/// 2. only then show the prompt, so that nothing typed in answer to it,
///    however fast (a paste, an `expect` script), is ever echoed;
/// 3. read one line, the terminal's own line editing working as usual;
/// 4. turn echo back on (when `EchoOff` drops, on every path out).
///
/// A signal (Ctrl-C) ends the process with echo still off; interactive
/// shells (bash, zsh) restore a killed job's terminal settings.
fn prompt(text: &str) -> io::Result<String> {
    let tty = OpenOptions::new().read(true).write(true).open("/dev/tty")?;
    // 1.
    let quiet = EchoOff::on(&tty)?;
    // 2.
    (&tty).write_all(text.as_bytes())?;
    // 3.
    let mut line = String::new();
    BufReader::new(&tty).read_line(&mut line)?;
    // 4.
    drop(quiet);
    Ok(line.trim_end_matches(['\n', '\r']).to_owned())
}

/// A terminal with echo off until this drops (termios(3)). `ECHONL` keeps
/// the newline of Enter visible, so the next output starts a new line.
struct EchoOff<'a> {
    tty: &'a File,
    saved: libc::termios,
}

impl<'a> EchoOff<'a> {
    fn on(tty: &'a File) -> io::Result<EchoOff<'a>> {
        let mut saved = MaybeUninit::<libc::termios>::uninit();
        // SAFETY: the descriptor is open for as long as `tty` is borrowed,
        // and tcgetattr writes the whole struct when it returns 0.
        if unsafe { libc::tcgetattr(tty.as_raw_fd(), saved.as_mut_ptr()) } != 0 {
            return Err(io::Error::last_os_error());
        }
        let saved = unsafe { saved.assume_init() };
        let mut quiet = saved;
        quiet.c_lflag &= !libc::ECHO;
        quiet.c_lflag |= libc::ECHONL;
        // TCSAFLUSH: the change waits for pending output and discards
        // pending input.
        // SAFETY: a valid descriptor and a fully initialised termios.
        if unsafe { libc::tcsetattr(tty.as_raw_fd(), libc::TCSAFLUSH, &quiet) } != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(EchoOff { tty, saved })
    }
}

impl Drop for EchoOff<'_> {
    fn drop(&mut self) {
        // SAFETY: as in `on`. Nothing to do on failure: the terminal is
        // gone, or the shell restores it.
        unsafe { libc::tcsetattr(self.tty.as_raw_fd(), libc::TCSANOW, &self.saved) };
    }
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
