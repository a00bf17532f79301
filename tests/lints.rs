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

/// The items a reader reads from `get_user_pages_fast` to the PTE loop, in
/// the order docs/README.md ("Reading the walk") gives: (file, how each
/// item's first line starts). The huge-entry branch (`gup_huge`) and the
/// cold naming of errors are listed too: a reader meets them on the way.
const READING_PATH: [(&str, &[&str]); 5] = [
    (
        "src/gup/slow.rs",
        &["pub fn get_user_pages_fast", "fn internal_get_user_pages_fast"],
    ),
    (
        "src/gup/policy.rs",
        &[
            "pub enum Offset",
            "pub enum End",
            "pub enum Next",
            "pub trait Policy",
            "impl<L: Layout> Policy for PreFix",
            "impl Policy for AddrEndFolded",
            "impl Policy for OffsetLockless",
            "impl Policy for NextEntry",
        ],
    ),
    (
        "src/gup/fast.rs",
        &[
            "pub fn gup_fast",
            "fn name<",
            "fn check_named",
            "fn off_page_table",
            "fn take_error",
            "const NO_PARENT",
            "fn broken",
            "struct Walker",
            "impl<'g, 'b, P: Platform + ?Sized, Pol: Policy, H: Hooks> Walker<",
            "fn gup_huge",
        ],
    ),
    (
        "src/gup/pte.rs",
        &[
            "pub(super) fn pte_range<",
            "pub(super) fn pte_range_for",
            "pub const fn pinnable_pfn",
        ],
    ),
    (
        "src/mm/pgtable.rs",
        &[
            "pub fn pgd_offset",
            "pub fn offset_lockless",
            "pub fn p4d_offset_lockless",
            "pub fn pud_offset_lockless",
            "pub fn pmd_offset_lockless",
            "pub fn pte_offset",
            "pub const fn addr_end",
            "const fn entry_end",
            "pub const fn rste_addr_end_folded",
            "pub const fn in_common_form",
        ],
    ),
];

/// Most lines of code (without comments, attributes and blank lines) on the
/// reading path: what it counts now, so that it does not grow unnoticed.
const READING_PATH_CEILING: usize = 580;

/// The lines of the item whose first line starts with `head` (after any
/// `pub` prefix given), up to its closing brace at column 0 (or the `;` of a
/// one-line item).
fn item<'a>(text: &'a str, head: &str) -> Vec<&'a str> {
    let lines: Vec<&str> = text.lines().collect();
    let start = lines
        .iter()
        .position(|l| l.starts_with(head))
        .unwrap_or_else(|| panic!("no item starting with {head:?}"));
    if lines[start].ends_with(';') {
        return vec![lines[start]];
    }
    let end = start + lines[start..].iter().position(|l| *l == "}").unwrap();
    lines[start..=end].to_vec()
}

/// The reading path of the walk, counted: per file, the lines of code of the
/// items a reader reads (`cargo test --test lints reading_path --
/// --nocapture` prints them). Held under [`READING_PATH_CEILING`].
#[test]
fn the_reading_path_is_counted_and_does_not_grow() {
    let mut total = 0;
    for (file, heads) in READING_PATH {
        let text = std::fs::read_to_string(file).unwrap();
        let code = heads
            .iter()
            .flat_map(|h| item(&text, h))
            .filter(|l| {
                let t = l.trim();
                !t.is_empty() && !t.starts_with("//") && !t.starts_with("#[")
            })
            .count();
        println!("{file}: {code} lines of code");
        total += code;
    }
    println!("reading path: {total} lines of code");
    assert!(
        total <= READING_PATH_CEILING,
        "the reading path grew to {total} lines of code (at most {READING_PATH_CEILING})"
    );
}
