//! `./qemu-run.sh bench linux` downloads Debian's kernel, so it stays out of
//! `cargo test`; what it does with Linux's output is checked here on a saved
//! run (tests/data/linux-bench-output.txt): every call at every size becomes
//! one region-third CSV row in instructions, and output that is not exactly
//! the block the module's /init prints is refused, naming what is wrong.
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

static SAMPLES: AtomicUsize = AtomicUsize::new(0);

fn parse(sample: &str) -> (bool, String, String) {
    let n = SAMPLES.fetch_add(1, Ordering::Relaxed);
    let path = std::env::temp_dir().join(format!("linux-bench-{}-{n}.txt", std::process::id()));
    std::fs::write(&path, sample).unwrap();
    let out = Command::new("python3")
        .args(["scripts/linux-bench.py", "--parse"])
        .arg(&path)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("python3 runs scripts/linux-bench.py");
    std::fs::remove_file(&path).unwrap();
    (
        out.status.success(),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

#[test]
fn a_saved_linux_run_becomes_csv_rows() {
    let raw = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/linux-bench-output.txt"
    ))
    .unwrap();
    let (ok, csv, err) = parse(&raw);
    assert!(ok, "{err}");
    let rows: Vec<Vec<&str>> = csv.lines().map(|l| l.split(',').collect()).collect();
    let calls = [
        "linux_get",
        "linux_pin",
        "linux_pin_longterm",
        "linux_get_fast_only",
        "linux_pin_fast_only",
    ];
    assert_eq!(rows.len(), calls.len() * 9, "5 calls x 9 sizes");
    for (i, r) in rows.iter().enumerate() {
        assert_eq!((r[0], r[1]), ("region-third", calls[i / 9]), "row {i}");
        assert_eq!(
            r[2].parse::<u64>().unwrap(),
            4u64.pow((i % 9) as u32),
            "sizes 1 to 65,536"
        );
    }
    // The first line of the block: 1216 TOD units = 297 instructions (4.096 each).
    assert!(raw.contains("get_user_pages_fast,1,1216\n"));
    assert_eq!(rows[0], ["region-third", "linux_get", "1", "297", "297.000"]);
}

#[test]
fn output_that_is_not_the_block_is_refused_by_name() {
    for (sample, why) in [
        ("KASLR disabled\n", "no BEGIN-LINUX"),
        (
            "BEGIN-LINUX\nget_user_pages_fast,1,1216\n",
            "no BEGIN-LINUX ... END-LINUX",
        ),
        ("BEGIN-LINUX\nEND-LINUX\n", "empty"),
        (
            "BEGIN-LINUX\nset_user_pages_fast,1,1216\nEND-LINUX\n",
            "set_user_pages_fast",
        ),
        ("BEGIN-LINUX\nget_user_pages_fast,1\nEND-LINUX\n", "not a <call>"),
        ("BEGIN-LINUX\nget_user_pages_fast,0,1216\nEND-LINUX\n", "zero pages"),
        ("BEGIN-LINUX\nget_user_pages_fast,1,-5\nEND-LINUX\n", "not a <call>"),
    ] {
        let (ok, csv, err) = parse(sample);
        assert!(!ok && csv.is_empty(), "{sample:?} was accepted: {csv}");
        assert!(
            err.contains("linux-bench: FAILED at parse") && err.contains(why),
            "{sample:?}: {err}"
        );
    }
}

/// docs/bench.md's table of Linux's figures is the saved run: each row's one,
/// 64 and 65,536-page figures and its fit.
#[test]
fn the_docs_quote_the_saved_run() {
    let raw = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/linux-bench-output.txt"
    ))
    .unwrap();
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/bench.md")).unwrap();
    let (ok, csv, err) = parse(&raw);
    assert!(ok, "{err}");
    let at = |walker: &str, n: u64| -> u64 {
        csv.lines()
            .map(|l| l.split(',').collect::<Vec<_>>())
            .find(|r| r[1] == walker && r[2].parse::<u64>().unwrap() == n)
            .map(|r| r[3].parse().unwrap())
            .unwrap()
    };
    let thousands = |v: u64| {
        let s = v.to_string();
        let mut out = String::new();
        for (i, c) in s.chars().enumerate() {
            if i > 0 && (s.len() - i).is_multiple_of(3) {
                out.push(',');
            }
            out.push(c);
        }
        out
    };
    for (row, walker) in [
        ("| Linux `get_user_pages_fast` (FOLL_WRITE) |", "linux_get"),
        ("| Linux `get_user_pages_fast_only` |", "linux_get_fast_only"),
        ("| Linux `pin_user_pages_fast` (FOLL_WRITE) |", "linux_pin"),
        ("| Linux `pin_user_pages_fast_only` |", "linux_pin_fast_only"),
        ("| Linux `pin_user_pages_fast`, FOLL_LONGTERM |", "linux_pin_longterm"),
    ] {
        let line = doc
            .lines()
            .find(|l| l.starts_with(row))
            .unwrap_or_else(|| panic!("no row {row}"));
        let (a, b) = (at(walker, 64) as f64, at(walker, 256) as f64);
        let per = (b - a) / 192.0;
        let want = format!(
            "{row} {} | {} | {} | {:.0} + {per:.2} |",
            at(walker, 1),
            thousands(at(walker, 64)),
            thousands(at(walker, 65536)),
            a - 64.0 * per
        );
        assert_eq!(line, want, "docs/bench.md");
    }
}
