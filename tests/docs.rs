//! The docs tell the truth: a number or a command that README.md,
//! deploy/README.md, docs/ and deploy/latch.service give is held here to the
//! code, to the build, or to the other places that give it, so that a change
//! to one shows up as a failure instead of a quiet contradiction.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// The text of a file of the repository.
fn read(path: &str) -> String {
    let full = Path::new(env!("CARGO_MANIFEST_DIR")).join(path);
    std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("{}: {e}", full.display()))
}

/// The docs a reader meets: the README, the deploy guide, the contract, and
/// the performance notes.
const DOCS: [&str; 4] = [
    "README.md",
    "deploy/README.md",
    "docs/contract.md",
    "docs/performance.md",
];

/// docs/contract.md ("Users file") promises that a running server sees a
/// changed users file within 5 seconds. Every doc that says how soon says
/// that, and the code keeps it: a change is read at the second look after
/// it (`UsersFile::refresh`), so two intervals must fit.
#[test]
fn every_doc_gives_the_users_file_reload_bound_of_the_contract_and_the_code_keeps_it() {
    let bound = Duration::from_secs(5);
    assert!(
        latch::server::USERS_CHECK_INTERVAL * 2 <= bound,
        "two looks at the users file take longer than the contract's {bound:?}"
    );
    for doc in ["README.md", "deploy/README.md", "docs/contract.md"] {
        let text = read(doc).replace('\n', " ");
        assert!(text.contains("within 5 seconds"), "{doc}");
        for other in ["within about 2 seconds", "within about two seconds"] {
            assert!(!text.contains(other), "{doc} says {other:?}");
        }
    }
}

/// The binary's size is said as "a stripped release binary of about N MiB",
/// the same N wherever it is said. When a release build newer than every
/// source is at hand (`cargo run --release` made one; `.ci/run` builds one
/// first), N is within 10% of its size. A debug build says nothing of it.
#[test]
fn the_binary_size_the_docs_give_is_one_number_and_a_fresh_release_build_has_it() {
    const SAID: &str = "stripped release binary of about ";
    let mut said = Vec::new();
    for doc in DOCS {
        let text = read(doc).replace('\n', " ");
        for (at, _) in text.match_indices(SAID) {
            let rest = &text[at + SAID.len()..];
            let (number, unit) = rest.split_once(' ').unwrap();
            assert!(unit.starts_with("MiB"), "{doc}: {SAID}{number} {unit:.10}");
            let mib: f64 = number.parse().unwrap_or_else(|_| panic!("{doc}: {number}"));
            said.push((doc, mib));
        }
    }
    assert!(
        said.len() >= 2,
        "said in README.md and deploy/README.md: {said:?}"
    );
    let mib = said[0].1;
    assert!(said.iter().all(|(_, n)| *n == mib), "{said:?}");

    let binary = target_dir().join("release/latch");
    let Some(built) = fresh(&binary) else {
        eprintln!("no release build newer than the sources: the size is not compared");
        return;
    };
    let actual = built as f64 / (1024.0 * 1024.0);
    assert!(
        (actual - mib).abs() <= mib * 0.10,
        "the docs say about {mib} MiB; {} is {actual:.2} MiB: update the docs",
        binary.display()
    );
}

/// Where cargo put this test binary's build: `TARGET/debug/deps/tests-…`.
fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    exe.ancestors().nth(3).unwrap().to_path_buf()
}

/// The size of `binary` if it is newer than every file it is built from
/// (`src/`, `www/`, which it carries, and the manifests).
fn fresh(binary: &Path) -> Option<u64> {
    let meta = std::fs::metadata(binary).ok()?;
    let built = meta.modified().ok()?;
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut newest = SystemTime::UNIX_EPOCH;
    let mut dirs = vec![repo.join("src"), repo.join("www")];
    let mut files = vec![repo.join("Cargo.toml"), repo.join("Cargo.lock")];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            match path.is_dir() {
                true => dirs.push(path),
                false => files.push(path),
            }
        }
    }
    for file in files {
        newest = newest.max(std::fs::metadata(file).unwrap().modified().unwrap());
    }
    (built >= newest).then_some(meta.len())
}

/// deploy/latch.service's comment and deploy/README.md ("How this was
/// checked") give the same count of the system calls latch was seen to
/// make, and the list has that many, each once.
#[test]
fn the_unit_and_the_deploy_guide_count_the_same_system_calls_and_list_them() {
    let unit = read("deploy/latch.service").replace("\n# ", " ");
    let counted: usize = unit
        .split_once("found ")
        .and_then(|(_, rest)| rest.split_once(" distinct calls"))
        .and_then(|(n, _)| n.parse().ok())
        .expect("deploy/latch.service: found N distinct calls");
    let guide = read("deploy/README.md").replace("\n   ", " ");
    let (_, rest) = guide
        .split_once(" distinct system calls: `")
        .expect("deploy/README.md: N distinct system calls: `…`");
    let said: usize = guide
        .split_once(" distinct system calls: `")
        .and_then(|(before, _)| before.rsplit(' ').next()?.parse().ok())
        .unwrap();
    let listed: Vec<&str> = rest.split('`').next().unwrap().split_whitespace().collect();
    let mut unique = listed.clone();
    unique.sort();
    unique.dedup();
    assert_eq!((counted, said), (listed.len(), listed.len()), "{listed:?}");
    assert_eq!(
        unique.len(),
        listed.len(),
        "a call listed twice: {listed:?}"
    );
}

/// deploy/README.md's commands are for a root shell on the host, which
/// need not have sudo (a container's has none): none starts with `sudo`.
#[test]
fn the_deploy_guides_commands_run_in_a_root_shell_without_sudo() {
    let guide = read("deploy/README.md");
    let mut in_block = false;
    for (number, line) in guide.lines().enumerate() {
        if line.starts_with("```") {
            in_block = !in_block;
        } else if in_block {
            let command = line.trim_start();
            assert!(
                !command.starts_with("sudo ") && !command.contains("| sudo "),
                "deploy/README.md:{}: {line}",
                number + 1
            );
        }
    }
}

/// README.md, "Read these files first": each file is there, in the order
/// the table numbers them, and has about the lines the table says (within
/// a tenth, or 10 lines), so the list stays a true guide as the code moves.
#[test]
fn the_reading_list_names_files_that_exist_with_their_line_counts() {
    let readme = read("README.md");
    let (_, list) = readme
        .split_once("## Read these files first")
        .expect("README.md has a section \"Read these files first\"");
    let list = list.split("\n## ").next().unwrap();
    let mut rows = 0;
    for row in list
        .lines()
        .filter(|l| l.starts_with("| ") && l.contains("`src/"))
    {
        let cells: Vec<&str> = row.trim_matches('|').split(" | ").map(str::trim).collect();
        let [number, file, lines, _what] = cells[..] else {
            panic!("README.md: a row of four cells: {row}");
        };
        rows += 1;
        assert_eq!(number, rows.to_string(), "numbered in order: {row}");
        let path = file.trim_matches('`');
        let said: usize = lines.parse().unwrap_or_else(|_| panic!("{row}"));
        let actual = read(path).lines().count();
        let slack = (said / 10).max(10);
        assert!(
            actual.abs_diff(said) <= slack,
            "README.md says {path} has {said} lines; it has {actual}: update the list"
        );
    }
    assert!((10..=15).contains(&rows), "about twelve files: {rows}");
}

/// Performance lives in docs/performance.md, linked once from the README.
#[test]
fn the_readme_links_the_performance_notes_once() {
    let readme = read("README.md");
    assert_eq!(readme.matches("](docs/performance.md)").count(), 1);
    assert!(read("docs/performance.md").starts_with("# Performance"));
}
