//! What the sources keep true: the kernel binary's layers, `asm!` only in
//! `kernel/src/arch/`, no issue numbers in code. (rustfmt, clippy, rustdoc and
//! the kernel mutants' list are checks `./qemu-run.sh test` runs first.)
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// Every source file of the three crates: the library (`src/`), the kernel
/// (`kernel/src/`), the host's study code (`host/src/`).
fn sources() -> Vec<(String, String)> {
    let mut files = Vec::new();
    for dir in ["src", "kernel/src", "host/src"] {
        rust_files(Path::new(dir), &mut files);
    }
    files.sort();
    let text = |p: &PathBuf| std::fs::read_to_string(p).unwrap();
    files.iter().map(|p| (p.display().to_string(), text(p))).collect()
}

/// The kernel binary's top modules, lowest first: each may use only those
/// before it (`cmd` and `kunit` share a rank and never use each other). The
/// crates themselves (the library below the kernel and the host code) are
/// kept apart by the compiler; inside the kernel's one crate this lint does.
const LAYERS: [(&str, u32); 5] = [("arch", 0), ("kernel", 1), ("cmd", 2), ("kunit", 2), ("main", 3)];

#[test]
fn the_binary_is_layered_without_cycles() {
    let rank = |m: &str| LAYERS.iter().find(|(n, _)| *n == m).map(|l| l.1);
    let mut edges = BTreeSet::new();
    for (path, text) in sources() {
        let Some(rest) = path.strip_prefix("kernel/src/") else {
            continue;
        };
        let from = match rest.split_once('/') {
            Some((m, _)) if rank(m).is_some() => m,
            None if rest == "main.rs" => "main",
            _ => continue,
        };
        let code: String = text
            .lines()
            .filter(|l| !l.trim_start().starts_with("//"))
            .collect::<Vec<_>>()
            .join("\n");
        for (i, _) in code.match_indices("crate::") {
            let to: String = code[i + 7..]
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            if to != from && rank(&to).is_some() {
                edges.insert((from.to_string(), to, path.clone()));
            }
        }
    }
    assert!(
        !edges.is_empty(),
        "no crate:: paths found: is the test reading kernel/src/?"
    );
    for (from, to, path) in &edges {
        assert!(
            rank(to) < rank(from),
            "{path}: {from} uses crate::{to}, which is not below it"
        );
    }
}

#[test]
fn asm_only_in_arch() {
    for (path, text) in sources() {
        if !path.starts_with("kernel/src/arch/") {
            assert!(
                !text.contains("asm!"),
                "{path} contains asm! (privileged code belongs in kernel/src/arch/)"
            );
        }
    }
}

#[test]
fn no_issue_numbers_in_code() {
    for (path, text) in sources() {
        for (n, line) in text.lines().enumerate() {
            let l = line.to_lowercase();
            let hit = l
                .match_indices("issue ")
                .any(|(i, _)| l[i + 6..].starts_with(|c: char| c.is_ascii_digit() || c == '#'));
            assert!(
                !hit,
                "{path}:{}: an issue number in code (the history lives in git): {line}",
                n + 1
            );
        }
    }
}
