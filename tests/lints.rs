//! What configuration keeps true: clippy with `-D warnings` on the host and on
//! s390x (Cargo.toml turns on `undocumented_unsafe_blocks`), rustdoc's links,
//! rustfmt, the kernel binary's layers, `asm!` only in `kernel/src/arch/`, no issue
//! numbers in code.
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

fn cargo(args: &[&str]) {
    let out = Command::new(env!("CARGO")).args(args).output().expect("run cargo");
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "cargo {}:\n{text}", args.join(" "));
}

#[test]
fn clippy_is_clean_on_the_host() {
    cargo(&["clippy", "-q", "--all-targets", "--", "-D", "warnings"]);
}

#[test]
fn clippy_is_clean_on_s390x() {
    let t = "s390x-unknown-linux-gnu";
    cargo(&[
        "clippy",
        "-q",
        "--release",
        "-p",
        "foldkern-kernel",
        "--target",
        t,
        "--bin",
        "foldkern",
        "--",
        "-D",
        "warnings",
    ]);
}

/// Every intra-doc link resolves: in the library, and in the kernel binary
/// including its private items (the docs a reader of the layers uses).
#[test]
fn rustdoc_links_resolve() {
    for args in [
        &["doc", "-q", "--no-deps", "--lib"][..],
        &[
            "doc",
            "-q",
            "--no-deps",
            "-p",
            "foldkern-kernel",
            "--target",
            "s390x-unknown-linux-gnu",
            "--bin",
            "foldkern",
            "--document-private-items",
        ],
    ] {
        let out = Command::new(env!("CARGO"))
            .args(args)
            .env("RUSTDOCFLAGS", "-D warnings")
            .output()
            .expect("run cargo");
        let text = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "cargo {}:\n{text}", args.join(" "));
    }
}

#[test]
fn rustfmt_is_clean() {
    cargo(&["fmt", "--all", "--check"]);
}

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

#[test]
fn kernel_mutants_name_current_code() {
    let out = Command::new("python3")
        .args(["scripts/kernel-mutants.py", "--check"])
        .output();
    let out = out.expect("python3 runs scripts/kernel-mutants.py (apt-get install python3)");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
}
