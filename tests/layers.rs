//! The first page tells the truth: `src/lib.rs` lists the modules in the
//! order their imports give, each importing only modules listed below it,
//! and no modules anywhere in `src/` import each other in a cycle.
//!
//! It reads the source as text: every `crate::a::b` path and `super::x`
//! path in a module (its unit tests included: they are compiled with it)
//! is an import of the longest module that path names. An import of a
//! module's own ancestor or descendant is how a module uses its parent's
//! items or its children's: only imports between modules that are not in
//! one line of descent count, lifted to the two children of their nearest
//! common ancestor (so `sessions::files::disk` importing `sessions::id`
//! is `files` importing `id`).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Every module of the library, by path (`sessions::files::disk`), with
/// its source.
fn modules() -> BTreeMap<Vec<String>, String> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut found = BTreeMap::new();
    let mut dirs = vec![src.clone()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
                continue;
            }
            let relative = path.strip_prefix(&src).unwrap().with_extension("");
            let mut module: Vec<String> = relative
                .iter()
                .map(|part| part.to_string_lossy().into_owned())
                .collect();
            if module == ["main"] {
                continue; // the binary, not a module of the library
            }
            if module
                .last()
                .is_some_and(|last| last == "mod" || last == "lib")
            {
                module.pop();
            }
            found.insert(module, std::fs::read_to_string(&path).unwrap());
        }
    }
    found
}

/// The modules `source` (the module `at`) imports, as paths of known modules.
fn imports(at: &[String], source: &str, known: &BTreeSet<Vec<String>>) -> BTreeSet<Vec<String>> {
    let mut imported = BTreeSet::new();
    for (prefix, base) in [
        ("crate::", Vec::new()),
        ("super::", at[..at.len().saturating_sub(1)].to_vec()),
    ] {
        let mut rest = source;
        while let Some(start) = rest.find(prefix) {
            // Only a whole path: `xcrate::` is not one.
            let before = rest[..start].chars().next_back();
            rest = &rest[start + prefix.len()..];
            if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
                continue;
            }
            let mut path = base.clone();
            let mut tail = rest;
            loop {
                let name: String = tail
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                if name.is_empty() {
                    break;
                }
                tail = &tail[name.len()..];
                path.push(name);
                match tail.strip_prefix("::") {
                    Some(next) => tail = next,
                    None => break,
                }
            }
            // `log_event!` is exported at the crate root from `trace`.
            if path == ["log_event"] {
                path = vec!["trace".into()];
            }
            while !path.is_empty() && !known.contains(&path) {
                path.pop();
            }
            if !path.is_empty() {
                imported.insert(path);
            }
        }
    }
    imported
}

/// `from` importing `to`, lifted to the two children of their nearest
/// common ancestor; `None` when one descends from the other.
fn lifted(from: &[String], to: &[String]) -> Option<(Vec<String>, Vec<String>)> {
    let common = from.iter().zip(to).take_while(|(a, b)| a == b).count();
    if common == from.len() || common == to.len() {
        return None;
    }
    Some((from[..=common].to_vec(), to[..=common].to_vec()))
}

/// Every import between modules not in one line of descent, lifted.
fn edges() -> BTreeSet<(Vec<String>, Vec<String>)> {
    let modules = modules();
    let known: BTreeSet<Vec<String>> = modules.keys().cloned().collect();
    let mut edges = BTreeSet::new();
    for (module, source) in &modules {
        for imported in imports(module, source, &known) {
            if let Some(edge) = lifted(module, &imported) {
                edges.insert(edge);
            }
        }
    }
    edges
}

/// The top-level modules in the order `src/lib.rs` declares them.
fn declared_order() -> Vec<String> {
    let lib =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("src/lib.rs")).unwrap();
    lib.lines()
        .filter_map(|line| line.strip_prefix("pub mod "))
        .map(|rest| rest.trim_end_matches(';').to_owned())
        .collect()
}

#[test]
fn every_top_level_module_imports_only_modules_listed_below_it_in_lib_rs() {
    let order = declared_order();
    assert!(order.len() >= 10, "{order:?}");
    let place = |name: &str| order.iter().position(|m| m == name);
    let upward: Vec<String> = edges()
        .into_iter()
        .filter(|(from, to)| from.len() == 1 && to.len() == 1)
        .filter(|(from, to)| place(&from[0]) >= place(&to[0]))
        .map(|(from, to)| format!("{} imports {}", from[0], to[0]))
        .collect();
    assert!(
        upward.is_empty(),
        "imports up the list of src/lib.rs: {upward:#?}"
    );
}

#[test]
fn no_modules_anywhere_in_src_import_each_other_in_a_cycle() {
    let edges = edges();
    let mut cycles = Vec::new();
    for (from, to) in &edges {
        // A path back from `to` to `from` among modules of the same parent.
        let mut seen = BTreeSet::new();
        let mut frontier = vec![to.clone()];
        while let Some(at) = frontier.pop() {
            if &at == from {
                cycles.push(format!("{} <-> {}", from.join("::"), to.join("::")));
                break;
            }
            if !seen.insert(at.clone()) {
                continue;
            }
            frontier.extend(
                edges
                    .iter()
                    .filter(|(a, _)| *a == at)
                    .map(|(_, b)| b.clone()),
            );
        }
    }
    assert!(cycles.is_empty(), "module cycles: {cycles:#?}");
}

#[test]
fn the_reading_finds_imports_it_is_shown() {
    let known: BTreeSet<Vec<String>> = [vec!["a"], vec!["a", "b"], vec!["c"]]
        .iter()
        .map(|m| m.iter().map(|s| s.to_string()).collect())
        .collect();
    let at: Vec<String> = vec!["a".into(), "b".into()];
    let found = imports(
        &at,
        "use crate::c::Thing;\nuse super::b::x; fn f() { crate::a::b::g(); mycrate::c::no(); }",
        &known,
    );
    let names: Vec<String> = found.iter().map(|p| p.join("::")).collect();
    assert_eq!(names, ["a::b", "c"]);
    assert_eq!(
        lifted(
            &["a".into(), "x".into()],
            &["a".into(), "y".into(), "z".into()]
        ),
        Some((vec!["a".into(), "x".into()], vec!["a".into(), "y".into()]))
    );
    assert_eq!(lifted(&["a".into()], &["a".into(), "y".into()]), None);
}
