//! README.md's examples, run against the real binary so they cannot drift.
//!
//! The test reads README.md and runs its fenced blocks in order, with bash,
//! in a temporary directory laid out like a fresh clone after
//! `cargo run --release` (a copy of `www/`, an empty `sessions/`, and
//! `target/release/latch` standing for the binary cargo built), against a
//! real `latch serve --trace` that it starts there on `127.0.0.1:0`.
//!
//! What each kind of block means:
//!
//! - ```` ```console ````: `$ command` lines, each followed by the output it
//!   must print (standard output and standard error together). In the
//!   expected output, `[..]` inside a line stands for any text, and `...`
//!   alone on a line for any number of lines. Trailing spaces and trailing
//!   blank lines do not count, and `\r` is dropped (curl -i prints CRLF).
//!   The exit status is not checked (an example may show a failure), except
//!   for a command shown without output (`$ TOKEN=...`, `$ sleep 5`): it must
//!   exit 0, or a silent failure would pass unseen.
//! - ```` ```sh ````: commands that must exit 0; their output is not checked.
//!   Each line is one command (a line ending in `\` continues); `#` lines
//!   are comments.
//! - anything else (`text`, `mermaid`, `ini`): not run.
//!
//! An HTML comment on the line before a block changes that:
//!
//! - `<!-- readme-test: skip -->`, or `skip (why)`: the block is not run (it
//!   builds, benchmarks, or needs root). Every `sh` or `console` block that
//!   must not run says so explicitly.
//! - `<!-- readme-test: server -->`: the `console` block that starts the
//!   server. Its command is not run; its expected output is compared with
//!   what the test's own server printed when it started (the first run
//!   creating `users.htpasswd`).
//! - `<!-- readme-test: trace POST /logout -->` (any method and path): the
//!   block is a `--trace` table. It is compared, row by row, with the last
//!   table of that title the server printed while the blocks above it ran,
//!   after masking what changes from run to run (see `mask`).
//! - `<!-- readme-test: summary Walkthrough 2 -->`: the block is what
//!   `--trace=summary` prints for the requests the blocks of that section
//!   (`## Walkthrough 2…`) made: each table's first line.
//! - `<!-- readme-test: log Walkthrough 2 -->`: the block is what the server
//!   logged while that section's blocks ran, its `--trace` tables left out:
//!   the events and the access lines, as a server without `--trace` logs.
//!
//! The three kinds come from the one server of the run, so their ids match.
//! When one differs, the test prints what latch printed;
//! `README_REGENERATE=1 cargo test --test tests readme::` writes it into
//! README.md instead of failing.
//!
//! Commands and outputs say `127.0.0.1:8080`, as a reader's server does: the
//! test replaces it with the real address in commands, and the real address
//! with it in output. Every curl is bounded (`max-time` in a `.curlrc` the
//! test points `CURL_HOME` at), and so is every command (`COMMAND_TIMEOUT`).
//! The shell's `PATH` leaves out every directory that holds a `latch`, so
//! the README's own step that puts `latch` on the `PATH` is what finds it.
//!
//! Needs bash and curl (and coreutils, grep, awk), as the README does.

use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use crate::support::{self, Options, Server, TempDir};

/// How long one README command may take (the slowest is a `sleep 5`).
const COMMAND_TIMEOUT: Duration = Duration::from_secs(30);
/// The address the README's commands use.
const README_ADDR: &str = "127.0.0.1:8080";
const MARKER_PREFIX: &str = "<!-- readme-test:";

#[test]
fn every_readme_example_runs_as_written_against_the_real_binary() {
    let readme_path = Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md");
    let readme = fs::read_to_string(&readme_path).expect("README.md is readable");
    let blocks = parse_blocks(&readme);

    let clone = TempDir::new(); // the reader's checkout
    let harness = TempDir::new(); // curlrc
    lay_out_fresh_clone(clone.path());
    fs::write(harness.path().join(".curlrc"), "max-time = 10\n").unwrap();

    // `latch serve --trace` as the reader starts it, in the checkout.
    let server = Server::start_with(Options {
        args: vec!["--trace".into()],
        env: vec![("PATH".into(), path_without_latch())],
        checkout: Some(clone.path().to_owned()),
        ..Options::default()
    });
    let mut shell = Shell::start(clone.path(), harness.path(), server.addr.to_string());
    let mut report = Report::default();
    // (fence line, block, what latch printed) for README_REGENERATE=1.
    let mut regenerated: Vec<(usize, &Block, Vec<String>)> = Vec::new();
    let mut sections = Sections::default();

    for block in &blocks {
        sections.enter(&block.section, &server);
        match (block.marker.as_deref(), block.info.as_str()) {
            (Some(marker), _) if marker == "skip" || marker.starts_with("skip ") => {}
            (Some("server"), "console") => check_server_block(block, &server, &mut report),
            (Some(marker), _) if marker.starts_with("trace ") => {
                let log = server.stderr();
                let real = last_trace_table(&log, marker);
                check_printed(block, marker, real, &server, &mut report, &mut regenerated);
            }
            (Some(marker), _) if marker.starts_with("summary ") || marker.starts_with("log ") => {
                let (kind, section) = marker.split_once(' ').unwrap();
                let real = sections.log_of(section, &server).map(|log| match kind {
                    "summary" => summary_lines(&log),
                    _ => log_lines(&log),
                });
                check_printed(block, marker, real, &server, &mut report, &mut regenerated);
            }
            (Some(marker), _) => panic!(
                "README.md:{}: unknown marker `{MARKER_PREFIX} {marker} -->`",
                block.fence_line
            ),
            (None, "console") => run_console_block(block, &mut shell, &server, &mut report),
            (None, "sh") => run_sh_block(block, &mut shell, &server, &mut report),
            (None, _) => {}
        }
    }
    drop(shell);
    drop(server);

    assert!(
        report.server_blocks == 1,
        "README.md has no block marked `server` (or several)"
    );
    assert!(
        report.printed_blocks >= 3,
        "README.md lacks a `trace`, `summary` or `log` block"
    );
    assert!(
        report.commands >= 20,
        "only {} README commands ran",
        report.commands
    );
    if !regenerated.is_empty() {
        // From the last block up, so that each block's lines are where
        // they were read from.
        let mut text = readme.clone();
        regenerated.sort_by_key(|(line, _, _)| std::cmp::Reverse(*line));
        for (_, block, real) in &regenerated {
            text = replace_block_body(&text, block, real);
        }
        fs::write(&readme_path, &text).unwrap();
        eprintln!("README_REGENERATE=1: README.md's samples rewritten from this run");
    }
    if regenerated.is_empty() {
        check_one_run(&blocks, &mut report);
    }
    if !report.failures.is_empty() {
        panic!(
            "{} README example(s) differ from the real binary:\n\n{}",
            report.failures.len(),
            report.failures.join("\n\n")
        );
    }
}

// --- the README's blocks -----------------------------------------------------

/// One fenced block of README.md.
struct Block {
    /// 1-based line number of the opening fence.
    fence_line: usize,
    /// The info string: `console`, `sh`, `text`, ...
    info: String,
    /// What the `<!-- readme-test: ... -->` line before the fence says.
    marker: Option<String>,
    /// The `## ` heading the block is under.
    section: String,
    /// The lines between the fences, with their 1-based line numbers.
    lines: Vec<(usize, String)>,
}

fn parse_blocks(readme: &str) -> Vec<Block> {
    let mut blocks = Vec::new();
    let mut open: Option<Block> = None;
    let mut last_text_line = "";
    let mut section = String::new();
    for (index, line) in readme.lines().enumerate() {
        let number = index + 1;
        if let Some(block) = open.as_mut() {
            if line.starts_with("```") {
                blocks.push(open.take().unwrap());
            } else {
                block.lines.push((number, line.to_string()));
            }
            continue;
        }
        if let Some(info) = line.strip_prefix("```") {
            let marker = last_text_line
                .trim()
                .strip_prefix(MARKER_PREFIX)
                .and_then(|rest| rest.strip_suffix("-->"))
                .map(|marker| marker.trim().to_string());
            open = Some(Block {
                fence_line: number,
                info: info.trim().to_string(),
                marker,
                section: section.clone(),
                lines: Vec::new(),
            });
        } else if let Some(heading) = line.strip_prefix("## ") {
            section = heading.to_string();
            last_text_line = line;
        } else if !line.trim().is_empty() {
            last_text_line = line;
        }
    }
    assert!(open.is_none(), "README.md ends inside a fenced block");
    blocks
}

/// A command of a block, joined across `\` line ends, with the README line
/// it starts on and (console blocks) the output it must print.
struct Example {
    line: usize,
    command: String,
    expected: Vec<(usize, String)>,
}

/// The commands of a block. In a console block a command is a line that
/// starts with `$ `, and the lines after it are the output it must print;
/// in an sh block every line is a command, blank lines and `#` comments
/// aside. Either way a line ending in `\` goes on on the next one.
fn examples(block: &Block, console: bool) -> Vec<Example> {
    let mut examples: Vec<Example> = Vec::new();
    let mut continuing = false;
    for (number, text) in &block.lines {
        let command = match console {
            true => text.strip_prefix("$ "),
            false => Some(text.as_str())
                .filter(|t| !t.trim().is_empty() && !t.trim_start().starts_with('#')),
        };
        if continuing {
            let example = examples.last_mut().unwrap();
            example.command.push('\n');
            example.command.push_str(text);
        } else if let Some(command) = command {
            examples.push(Example {
                line: *number,
                command: command.to_string(),
                expected: Vec::new(),
            });
        } else if console {
            match examples.last_mut() {
                Some(example) => example.expected.push((*number, text.clone())),
                None => panic!("README.md:{number}: console block output before any `$ ` command"),
            }
        }
        continuing = (continuing || command.is_some()) && text.ends_with('\\');
    }
    examples
}

// --- running blocks ----------------------------------------------------------

#[derive(Default)]
struct Report {
    failures: Vec<String>,
    commands: usize,
    server_blocks: usize,
    printed_blocks: usize,
}

fn run_console_block(block: &Block, shell: &mut Shell, server: &Server, report: &mut Report) {
    for example in examples(block, true) {
        let command = example
            .command
            .replace(README_ADDR, &server.addr.to_string());
        let (output, status) = shell.run(&command, example.line);
        report.commands += 1;
        let actual = normalize(&output.replace(&server.addr.to_string(), README_ADDR));
        let silent = example.expected.iter().all(|(_, l)| l.trim().is_empty());
        let result = if silent && status != 0 {
            Err(format!(
                "exited {status}: a command shown without output must succeed"
            ))
        } else {
            matches(&example.expected, &actual)
        };
        if let Err(why) = result {
            report.failures.push(format!(
                "README.md:{} (console block at line {}): `$ {}`\n{why}\n{}",
                example.line,
                block.fence_line,
                example.command,
                show_both(&example.expected, &actual)
            ));
        }
    }
}

fn run_sh_block(block: &Block, shell: &mut Shell, server: &Server, report: &mut Report) {
    for example in examples(block, false) {
        let command = example
            .command
            .replace(README_ADDR, &server.addr.to_string());
        let (output, status) = shell.run(&command, example.line);
        report.commands += 1;
        if status != 0 {
            report.failures.push(format!(
                "README.md:{} (sh block at line {}): `{}` exited {status}; it printed:\n{}",
                example.line,
                block.fence_line,
                example.command,
                indent(&normalize(
                    &output.replace(&server.addr.to_string(), README_ADDR)
                ))
            ));
        }
    }
}

/// The block showing the server's first start: its output is what the
/// test's server printed when it started.
fn check_server_block(block: &Block, server: &Server, report: &mut Report) {
    report.server_blocks += 1;
    let examples = examples(block, true);
    assert_eq!(
        examples.len(),
        1,
        "README.md:{}: the server block has one command",
        block.fence_line
    );
    let actual =
        normalize(&startup(&server.stderr()).replace(&server.addr.to_string(), README_ADDR));
    if let Err(why) = matches(&examples[0].expected, &actual) {
        report.failures.push(format!(
            "README.md:{} (server block): `$ {}`\n{why}\n{}",
            examples[0].line,
            examples[0].command,
            show_both(&examples[0].expected, &actual)
        ));
    }
}

/// A sample of what the server printed (`trace`, `summary`, `log`):
/// compared, masked, with `real`, what it did print (`None`: nothing).
fn check_printed<'a>(
    block: &'a Block,
    marker: &str,
    real: Option<Vec<String>>,
    server: &Server,
    report: &mut Report,
    regenerated: &mut Vec<(usize, &'a Block, Vec<String>)>,
) {
    report.printed_blocks += 1;
    let Some(real) = real else {
        report.failures.push(format!(
            "README.md:{}: the server printed nothing for `{marker}` while the blocks above ran",
            block.fence_line
        ));
        return;
    };
    let addr = server.addr.to_string();
    let real: Vec<String> = real.iter().map(|l| l.replace(&addr, README_ADDR)).collect();
    // Every sample is rewritten, whether it differs or not: then all of
    // them come from this one run.
    if std::env::var_os("README_REGENERATE").is_some_and(|v| v == "1") {
        regenerated.push((block.fence_line, block, real));
        return;
    }
    let sample: Vec<String> = block.lines.iter().map(|(_, l)| l.clone()).collect();
    let rows = sample.len().max(real.len());
    let mut differences = Vec::new();
    for row in 0..rows {
        let in_readme = sample.get(row).map(|l| mask(l));
        let printed = real.get(row).map(|l| mask(l));
        if in_readme != printed {
            differences.push(format!(
                "README.md:{}:\n    README: {}\n    latch:  {}",
                block.fence_line + 1 + row,
                sample.get(row).map_or("(no row)", String::as_str),
                real.get(row).map_or("(no row)", String::as_str)
            ));
        }
    }
    if differences.is_empty() {
        return;
    }
    report.failures.push(format!(
        "README.md:{} (`{marker}` block): {} row(s) differ after masking:\n{}\n\
         what latch printed (README_REGENERATE=1 cargo test --test tests readme:: writes it in):\n{}",
        block.fence_line,
        differences.len(),
        differences.join("\n"),
        real.join("\n")
    ));
}

/// Where each section's blocks begin and end in the server's log, so that
/// a `summary` or `log` block shows the requests of one section.
#[derive(Default)]
struct Sections {
    /// Each section seen so far, with its start and (once left) its end.
    spans: Vec<(String, usize, Option<usize>)>,
}

impl Sections {
    /// The blocks of `section` are about to run: the one before ends here.
    fn enter(&mut self, section: &str, server: &Server) {
        if self
            .spans
            .last()
            .is_some_and(|(name, _, _)| name == section)
        {
            return;
        }
        let end = self
            .spans
            .last()
            .map(|(_, start, _)| settled(server, *start));
        if let (Some(last), Some(end)) = (self.spans.last_mut(), end) {
            last.2 = Some(end);
        }
        let start = self.spans.last().and_then(|s| s.2).unwrap_or(0);
        self.spans.push((section.to_string(), start, None));
    }

    /// What the server logged while the blocks of the section whose
    /// heading starts with `heading` ran (so far, for the current one).
    fn log_of(&self, heading: &str, server: &Server) -> Option<String> {
        let (_, start, end) = self.spans.iter().find(|(n, _, _)| n.starts_with(heading))?;
        let end = end.unwrap_or_else(|| settled(server, *start));
        Some(server.stderr()[*start..end].to_string())
    }
}

/// The length of the log once every request traced since `from` has its
/// access line (written in batches, `src/log.rs`), waiting a bounded time.
fn settled(server: &Server, from: usize) -> usize {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let log = server.stderr();
        let lines = log[from..].lines();
        let (traced, accessed) = lines.fold((0, 0), |(t, a), line| {
            (
                t + usize::from(line.starts_with("trace ")),
                a + usize::from(line.starts_with("access ")),
            )
        });
        if accessed >= traced || Instant::now() > deadline {
            return log.len();
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The `trace` and `log` samples name only sessions the `summary` sample
/// names: masking hides the ids, so this is what keeps the three from one
/// run, as a reader can follow a session from one to the next.
fn check_one_run(blocks: &[Block], report: &mut Report) {
    let labels = |block: &Block| -> Vec<(usize, String)> {
        let mut found = Vec::new();
        for (number, line) in &block.lines {
            let words = line.split(|c: char| !c.is_ascii_alphanumeric());
            for word in words.filter(|w| w.len() == 12 && w.chars().all(|c| c.is_ascii_hexdigit()))
            {
                found.push((*number, word.to_string()));
            }
        }
        found
    };
    let marked = |kind: &'static str| {
        blocks
            .iter()
            .filter(move |b| b.marker.as_deref().is_some_and(|m| m.starts_with(kind)))
    };
    let summary: Vec<String> = marked("summary ")
        .flat_map(&labels)
        .map(|(_, l)| l)
        .collect();
    if summary.is_empty() {
        return;
    }
    for block in marked("trace ").chain(marked("log ")) {
        for (number, label) in labels(block) {
            if !summary.contains(&label) {
                report.failures.push(format!(
                    "README.md:{number}: session {label} is not in the summary sample: the \
                     samples come from different runs (README_REGENERATE=1 cargo test --test \
                     tests readme:: rewrites them all from one)"
                ));
            }
        }
    }
}

/// Each request in `log` in one line: its table's first line, as
/// `--trace=summary` prints it.
fn summary_lines(log: &str) -> Vec<String> {
    log.lines()
        .filter(|line| line.starts_with("trace "))
        .map(|line| line.trim_end().to_string())
        .collect()
}

/// `log` without its `--trace` tables: the events and access lines.
fn log_lines(log: &str) -> Vec<String> {
    log.lines()
        .filter(|line| !line.starts_with("trace ") && !line.starts_with(' '))
        .map(|line| line.trim_end().to_string())
        .collect()
}

/// The last `trace TITLE` table in the log: the title line and every
/// indented row after it.
fn last_trace_table(log: &str, title: &str) -> Option<Vec<String>> {
    let lines: Vec<&str> = log.lines().collect();
    let start = lines.iter().rposition(|l| {
        l.strip_prefix(title)
            .is_some_and(|rest| rest.starts_with(' '))
    })?;
    let mut table = vec![lines[start].to_string()];
    for line in &lines[start + 1..] {
        if !line.starts_with(' ') {
            break;
        }
        table.push(line.trim_end().to_string());
    }
    Some(table)
}

/// What changes from run to run in a trace row, replaced by a fixed word:
/// a value cut short by the trace (`sid=m3g0…`, `csrf_token=rvQH…`), a
/// session's file name or key (64 hex digits), its label (12), a temporary
/// file's name (`.tmp-` and 16), a unix time (10 digits), and a cookie's
/// `Max-Age` (a logout's counts down to the kept `expires`).
fn mask(row: &str) -> String {
    let chars: Vec<char> = row.trim_end().chars().collect();
    let mut out = String::new();
    let mut i = 0;
    while i < chars.len() {
        let run = chars[i..].iter().take_while(|c| is_token_char(**c)).count();
        if run == 0 {
            out.push(chars[i]);
            i += 1;
            continue;
        }
        let word: String = chars[i..i + run].iter().collect();
        let rest: String = chars[i + run..].iter().take(5).collect();
        if rest.starts_with('…') {
            out.push_str("SHORT");
        } else if run == 64 && word.chars().all(|c| c.is_ascii_hexdigit()) {
            // A session's file name or Redis key: the digest of its id.
            out.push_str("DIGEST");
        } else if word
            .strip_prefix("tmp-")
            .is_some_and(|t| t.len() == 16 && t.chars().all(|c| c.is_ascii_hexdigit()))
        {
            // A temporary file's random name (`.tmp-` and 16 hex digits).
            out.push_str("tmp-TEMP");
        } else if run == 12 && word.chars().all(|c| c.is_ascii_hexdigit()) {
            // A session's label (`SessionLabel`): 12 hex digits of a digest.
            out.push_str("LABEL");
        } else if run == 10 && word.chars().all(|c| c.is_ascii_digit()) {
            out.push_str("TIME");
        } else if word
            .strip_suffix("us")
            .is_some_and(|n| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()))
        {
            // An access line's duration in microseconds.
            out.push_str("MICROSus");
        } else if out.ends_with("Max-Age=") && word.chars().all(|c| c.is_ascii_digit()) {
            out.push_str("SECONDS");
        } else {
            out.push_str(&word);
        }
        i += run;
    }
    out
}

fn is_token_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '-'
}

/// README text with `block`'s lines replaced by `body`.
fn replace_block_body(readme: &str, block: &Block, body: &[String]) -> String {
    let lines: Vec<&str> = readme.lines().collect();
    let first = block.fence_line; // 0-based index of the first body line
    let end = first + block.lines.len();
    let mut out: Vec<String> = lines[..first].iter().map(|l| l.to_string()).collect();
    out.extend(body.iter().cloned());
    out.extend(lines[end..].iter().map(|l| l.to_string()));
    out.join("\n") + "\n"
}

// --- comparing output ----------------------------------------------------------

/// Output as compared: no `\r`, no trailing spaces, no trailing blank lines.
fn normalize(output: &str) -> Vec<String> {
    let mut lines: Vec<String> = output
        .replace('\r', "")
        .lines()
        .map(|l| l.trim_end().to_string())
        .collect();
    while lines.last().is_some_and(|l| l.is_empty()) {
        lines.pop();
    }
    lines
}

/// Whether `actual` matches the expected lines, `...` and `[..]` included;
/// if not, which expected line was the first that could not be matched.
fn matches(expected: &[(usize, String)], actual: &[String]) -> Result<(), String> {
    let mut expected: Vec<(usize, String)> = expected
        .iter()
        .map(|(n, l)| (*n, l.trim_end().to_string()))
        .collect();
    while expected.last().is_some_and(|(_, l)| l.is_empty()) {
        expected.pop();
    }
    let mut furthest = 0;
    if match_from(&expected, actual, &mut furthest) {
        return Ok(());
    }
    Err(match expected.get(furthest) {
        Some((number, line)) => {
            format!("first expected line not matched: README.md:{number}: {line}")
        }
        None => "the command printed more lines than the README shows".to_string(),
    })
}

/// Backtracking match of lines; `furthest` records the deepest expected
/// line reached, for the error message.
fn match_from(expected: &[(usize, String)], actual: &[String], furthest: &mut usize) -> bool {
    fn go(e: &[(usize, String)], a: &[String], ei: usize, ai: usize, furthest: &mut usize) -> bool {
        *furthest = (*furthest).max(ei);
        if ei == e.len() {
            return ai == a.len();
        }
        if e[ei].1 == "..." {
            return (ai..=a.len()).any(|skip| go(e, a, ei + 1, skip, furthest));
        }
        ai < a.len() && line_matches(&e[ei].1, &a[ai]) && go(e, a, ei + 1, ai + 1, furthest)
    }
    go(expected, actual, 0, 0, furthest)
}

/// One line against a pattern where `[..]` stands for any text.
fn line_matches(pattern: &str, line: &str) -> bool {
    let parts: Vec<&str> = pattern.split("[..]").collect();
    if parts.len() == 1 {
        return pattern == line;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !line.starts_with(first) || line.len() < first.len() + last.len() || !line.ends_with(last) {
        return false;
    }
    let mut rest = &line[first.len()..line.len() - last.len()];
    for part in &parts[1..parts.len() - 1] {
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    true
}

fn show_both(expected: &[(usize, String)], actual: &[String]) -> String {
    let expected: Vec<String> = expected
        .iter()
        .map(|(n, l)| format!("{n:>5}| {l}"))
        .collect();
    format!(
        "  README expects:\n{}\n  latch printed:\n{}",
        indent(&expected),
        indent(actual)
    )
}

fn indent(lines: &[String]) -> String {
    if lines.is_empty() {
        return "    (nothing)".to_string();
    }
    lines
        .iter()
        .map(|l| format!("    {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

// --- the reader's machine ------------------------------------------------------

/// A fresh clone after `cargo run --release`: `www/`, an empty `sessions/`
/// (with its `.gitignore`), no users file, and `target/release/latch`.
fn lay_out_fresh_clone(dir: &Path) {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    copy_dir(&repo.join("www"), &dir.join("www"));
    fs::create_dir(dir.join("sessions")).unwrap();
    fs::copy(
        repo.join("sessions/.gitignore"),
        dir.join("sessions/.gitignore"),
    )
    .unwrap();
    fs::create_dir_all(dir.join("target/release")).unwrap();
    std::os::unix::fs::symlink(support::binary(), dir.join("target/release/latch")).unwrap();
}

fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for entry in fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// This process's `PATH` without any directory that holds a `latch`.
fn path_without_latch() -> String {
    let path = std::env::var("PATH").unwrap_or_else(|_| "/usr/bin:/bin".to_string());
    path.split(':')
        .filter(|dir| !dir.is_empty() && !Path::new(dir).join("latch").exists())
        .collect::<Vec<_>>()
        .join(":")
}

/// Everything the server printed until it was listening, that line
/// included: what the reader sees at the first start.
fn startup(log: &str) -> &str {
    let listening = log.find("latch listening on http://").unwrap();
    &log[..listening + log[listening..].find('\n').unwrap() + 1]
}

/// One bash that runs the README's commands in turn, so variables and
/// functions defined by one command are there for the next, as in the
/// reader's terminal. Killed on drop.
struct Shell {
    child: Child,
    stdin: ChildStdin,
    output: Receiver<String>,
    sentinel: String,
}

impl Shell {
    fn start(dir: &Path, harness: &Path, server_addr: String) -> Shell {
        let mut child = Command::new("bash")
            .args(["--noprofile", "--norc"])
            .current_dir(dir)
            .env_clear()
            .env("PATH", path_without_latch())
            .env("HOME", harness)
            .env("CURL_HOME", harness)
            .env("LANG", "C.UTF-8")
            // `latch check` checks the address of the reader's running
            // server (which the test's server stands for).
            .env("LATCH_ADDR", &server_addr)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("bash starts (tests/readme.rs needs bash and curl)");
        let stdin = child.stdin.take().unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, output) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut nonce = [0u8; 8];
        getrandom::fill(&mut nonce).unwrap();
        let mut shell = Shell {
            child,
            stdin,
            output,
            sentinel: format!("readme-test-done-{}", latch::http::encoding::hex(&nonce)),
        };
        // bash's own complaints (a syntax error) belong to the output too;
        // and a pipeline fails when any part of it does, so that
        // `TOKEN=$(curl ... | grep ... | cut ...)` cannot fail silently.
        shell.send("exec 2>&1; set -o pipefail");
        let (_, status) = shell.run("command -v curl >/dev/null", 0);
        assert_eq!(status, 0, "tests/readme.rs needs curl, as the README does");
        shell
    }

    fn send(&mut self, text: &str) {
        writeln!(self.stdin, "{text}").expect("bash reads its commands");
    }

    /// Runs one command (its standard input empty, its standard error with
    /// its output) and returns what it printed and its exit status.
    fn run(&mut self, command: &str, readme_line: usize) -> (String, i32) {
        let script = format!(
            "{{ {command}\n}} </dev/null 2>&1; printf '\\n{} %d\\n' \"$?\"",
            self.sentinel
        );
        self.send(&script);
        let deadline = Instant::now() + COMMAND_TIMEOUT;
        let mut lines = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.output.recv_timeout(left) {
                Ok(line) => match line.strip_prefix(&format!("{} ", self.sentinel)) {
                    Some(status) => {
                        // The newline printed before the sentinel.
                        if lines.last().is_some_and(|l: &String| l.is_empty()) {
                            lines.pop();
                        }
                        return (lines.join("\n"), status.trim().parse().unwrap_or(-1));
                    }
                    None => lines.push(line),
                },
                Err(RecvTimeoutError::Timeout) => panic!(
                    "README.md:{readme_line}: `{command}` did not finish within \
                     {COMMAND_TIMEOUT:?}; it printed:\n{}",
                    lines.join("\n")
                ),
                Err(RecvTimeoutError::Disconnected) => panic!(
                    "README.md:{readme_line}: bash exited while running `{command}`; \
                     it printed:\n{}",
                    lines.join("\n")
                ),
            }
        }
    }
}

impl Drop for Shell {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// --- the checker's own checks ----------------------------------------------------

#[test]
fn a_wildcard_matches_any_text_inside_a_line_and_nothing_else() {
    assert!(line_matches(
        "set-cookie: sid=[..]; Path=/",
        "set-cookie: sid=abc; Path=/"
    ));
    assert!(line_matches(
        "[..]Z [..]Z",
        "2026-11-30T11:55:12Z 2026-12-14T11:55:12Z"
    ));
    assert!(!line_matches(
        "set-cookie: sid=[..]; Path=/",
        "set-cookie: sid=abc; Path=/x"
    ));
    assert!(!line_matches("ab[..]ba", "aba"));
    assert!(!line_matches("exact", "exact "));
}

#[test]
fn an_ellipsis_line_matches_any_number_of_lines_and_a_missing_line_is_named() {
    let expected = |lines: &[&str]| -> Vec<(usize, String)> {
        lines
            .iter()
            .enumerate()
            .map(|(i, l)| (i + 10, l.to_string()))
            .collect()
    };
    let actual: Vec<String> = ["a", "b", "c", "d"].iter().map(|s| s.to_string()).collect();
    assert!(matches(&expected(&["a", "...", "d"]), &actual).is_ok());
    assert!(matches(&expected(&["...", "b", "...", ""]), &actual).is_ok());
    assert!(matches(&expected(&["a", "b", "c"]), &actual).is_err());
    let error = matches(&expected(&["a", "x", "c", "d"]), &actual).unwrap_err();
    assert!(error.contains("README.md:11: x"), "{error}");
}

#[test]
fn masking_keeps_a_trace_row_but_what_changes_between_runs() {
    let digest = "ed6ee9351737c4d1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f70819";
    assert_eq!(
        mask(&format!(
            "   9  disk         rename sessions/.tmp-24edca3b65534cb9 → sessions/{digest}.json"
        )),
        "   9  disk         rename sessions/.tmp-TEMP → sessions/DIGEST.json"
    );
    assert_eq!(
        mask(r#"{"created":1795245238,"data":{"_csrf":"lGhX…","theme":"dark"}}"#),
        r#"{"created":TIME,"data":{"_csrf":"SHORT…","theme":"dark"}}"#
    );
    assert_eq!(
        mask("   7  sign out     moved to session 9178a138d886; session 13444334f149 deleted"),
        "   7  sign out     moved to session LABEL; session LABEL deleted"
    );
    assert_eq!(mask("cookie: sid=m3g0…"), "cookie: sid=SHORT…");
    assert_eq!(
        mask("set-cookie: sid=35ps…; Path=/; Max-Age=1209599"),
        "set-cookie: sid=SHORT…; Path=/; Max-Age=SECONDS"
    );
    assert_eq!(mask("content-length: 54"), "content-length: 54");
    assert_eq!(
        mask("access GET /account 200 986us client=127.0.0.1 session=5f06ba06c1d2"),
        "access GET /account 200 MICROSus client=127.0.0.1 session=LABEL"
    );
}
