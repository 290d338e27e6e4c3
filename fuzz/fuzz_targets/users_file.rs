//! The users file (htpasswd text): `auth::users::Users::parse`.
//!
//! Whatever it keeps is a user whose name passes `check_name` and whose
//! hash is the text after the first `:` of a line naming them.
#![no_main]

use latch::auth::users::{check_name, Users};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // `Users::load` reads the file as UTF-8; other bytes never get here.
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (users, problems) = Users::parse(text);
    let line_count = text.lines().count();
    for problem in &problems {
        assert!(
            (1..=line_count).contains(&problem.line),
            "a problem on line {} of {line_count}",
            problem.line
        );
    }
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let lines: Vec<&str> = text
        .lines()
        .map(|line| line.trim_end())
        .filter(|line| !line.trim().is_empty())
        .collect();
    assert!(users.len() <= lines.len());
    for line in &lines {
        let Some((name, _)) = line.split_once(':') else {
            continue;
        };
        let Some(hash) = users.hash_of(name) else {
            continue;
        };
        assert!(check_name(name).is_ok(), "kept the name {name:?}");
        let line_of_it = format!("{name}:{hash}");
        assert!(
            lines.contains(&line_of_it.as_str()),
            "{name:?}'s hash is not from the file"
        );
    }
});
