//! `cargo test` passes for a normal user: a test that needs root (to mount
//! a file system, to run latch as another user, to make a memory cgroup)
//! says so in its `#[ignore = "needs root: …"]`, as a test that needs a
//! program says which; `.ci/run`, as root, runs them with `-- --ignored`.
//!
//! Two tests hold that. One runs this very binary (the one cargo built from
//! `tests/tests.rs`) again as uid 65534, with a temp dir of its own, and
//! asserts that every test a plain `cargo test` runs passes: the whole
//! suite, not a subset (about two minutes on two cores). The other holds
//! README.md's table of ignored tests to the real list: how many each group
//! has, and that its command selects exactly them.

use std::ffi::OsStr;
use std::fs;
use std::os::unix::fs::{chown, PermissionsExt};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::support::{wait_within, TempDir};

/// The user a normal user stands for: `nobody`, who owns nothing.
const NOBODY: u32 = 65534;
/// The whole suite takes about two minutes here; a run past this is a hang.
const SUITE_TIMEOUT: Duration = Duration::from_secs(15 * 60);

#[test]
#[ignore = "needs root: runs the suite again as uid 65534 (setpriv)"]
fn every_test_a_plain_cargo_test_runs_passes_as_a_user_without_root() {
    let suite = std::env::current_exe().unwrap();
    // Its temp files go to a dir only that user can write, as a user's
    // own TMPDIR would be.
    let home = TempDir::new();
    fs::set_permissions(home.path(), fs::Permissions::from_mode(0o700)).unwrap();
    chown(home.path(), Some(NOBODY), Some(NOBODY)).expect("needs root to chown");
    let out = home.path().join("suite.out");

    // The same sandbox, first for `id -u`: the run below is not root.
    let uid = as_nobody("id".as_ref(), &["-u"], home.path())
        .output()
        .expect("setpriv runs (util-linux)");
    assert_eq!(
        String::from_utf8_lossy(&uid.stdout).trim(),
        NOBODY.to_string(),
        "setpriv did not drop to uid {NOBODY}: {}",
        String::from_utf8_lossy(&uid.stderr)
    );

    let mut child = as_nobody(suite.as_os_str(), &[], home.path())
        .stdout(fs::File::create(&out).unwrap())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let status = wait_within(&mut child, SUITE_TIMEOUT)
        .unwrap_or_else(|| panic!("the suite as uid {NOBODY} took more than {SUITE_TIMEOUT:?}"));
    let output = fs::read_to_string(&out).unwrap();
    let summary = output
        .lines()
        .rfind(|line| line.starts_with("test result:"))
        .unwrap_or_else(|| panic!("no summary; cannot the suite be run by uid {NOBODY} (a parent dir 0700?):\n{output}"));
    assert!(
        status.success() && summary.starts_with("test result: ok."),
        "as uid {NOBODY}, {summary}\n{output}"
    );
    // "ok" over nothing proves nothing: the wire tests did run.
    let passed: usize = summary
        .split("; ")
        .find_map(|part| part.strip_suffix(" passed"))
        .and_then(|n| n.rsplit(' ').next()?.parse().ok())
        .unwrap();
    assert!(passed > 300, "only {passed} ran: {summary}");
}

/// The command, to be run as uid and gid 65534 with no other groups, with
/// nothing of this environment but `PATH`, and `dir` as its home and
/// temp dir.
fn as_nobody(program: &OsStr, args: &[&str], dir: &Path) -> Command {
    let mut command = Command::new("setpriv");
    command
        .arg(format!("--reuid={NOBODY}"))
        .arg(format!("--regid={NOBODY}"))
        .arg("--clear-groups")
        .arg(program)
        .args(args)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", dir)
        .env("TMPDIR", dir)
        .current_dir(dir)
        .stdin(Stdio::null());
    command
}

/// README.md, "Tests that need more than Rust": a table whose rows say
/// what a group needs, how many tests it has, and the command that runs
/// them, then the total. Each count is the real one, each command selects
/// exactly its group, and the groups together are every ignored test.
#[test]
fn the_readme_counts_the_ignored_tests_and_its_commands_select_them() {
    let readme = fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md"))
        .expect("README.md is readable");
    let all = ignored(&[]);
    let mut grouped = Vec::new();
    for row in readme.lines().filter(|l| l.starts_with("| ")) {
        let cells: Vec<&str> = row.trim_matches('|').split(" | ").map(str::trim).collect();
        let Some(command) = cells
            .last()
            .and_then(|c| c.strip_prefix("`cargo test --test tests "))
            .and_then(|c| c.strip_suffix('`'))
        else {
            continue;
        };
        let filters: Vec<&str> = command
            .split_whitespace()
            .filter(|word| !matches!(*word, "--" | "--ignored"))
            .collect();
        assert!(command.contains("--ignored"), "README: {row}");
        let selected = ignored(&filters);
        let said: usize = cells[cells.len() - 2]
            .parse()
            .unwrap_or_else(|_| panic!("README: no count in {row}"));
        assert_eq!(
            said,
            selected.len(),
            "README says {said} tests for `{command}`, which selects {}: {selected:#?}",
            selected.len()
        );
        grouped.extend(selected);
    }
    grouped.sort();
    assert_eq!(
        grouped, all,
        "README's groups of ignored tests are not every ignored test, each once"
    );
    let total = format!("{} tests are ignored", all.len());
    assert!(
        readme.contains(&total),
        "README.md should say \"{total}\" (the count changed)"
    );
}

/// The names of the ignored tests these filters select (all when none),
/// sorted, as this binary lists them.
fn ignored(filters: &[&str]) -> Vec<String> {
    let output = Command::new(std::env::current_exe().unwrap())
        .args(["--list", "--ignored"])
        .args(filters)
        .output()
        .unwrap();
    assert!(output.status.success());
    let mut names: Vec<String> = String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .filter_map(|line| line.strip_suffix(": test"))
        .map(str::to_owned)
        .collect();
    names.sort();
    names
}
