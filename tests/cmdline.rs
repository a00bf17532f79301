//! The kernel's command-line parser, compiled for the host: every job, every
//! refusal, and every `gup=` line the docs quote; and `qemu-run.sh`'s refusals.
#[path = "../kernel/src/cmd/cmdline.rs"]
#[allow(dead_code)]
mod cmdline;

use cmdline::{parse, CmdlineError as E, Job, MAX_SCENARIO_PAGES};
use foldkern::gup::GupFlags;
use foldkern::mm::AsceType;

#[test]
fn every_job_parses() {
    assert_eq!(parse(""), Ok(Job::Demo));
    assert_eq!(parse("  demo \n"), Ok(Job::Demo));
    assert_eq!(parse("test"), Ok(Job::Test("")));
    assert_eq!(parse("test=mm::fault,gup::seed"), Ok(Job::Test("mm::fault,gup::seed")));
    assert_eq!(parse("list"), Ok(Job::List));
    assert_eq!(parse("bench"), Ok(Job::Bench(true)));
    assert_eq!(parse("bench=smoke"), Ok(Job::Bench(false)));
    let Ok(Job::Scenario(s)) = parse("gup=2:0xfe000-0x102000:write:ro:hole=0x100000") else {
        panic!("scenario not parsed")
    };
    assert_eq!(
        (s.ty, s.start, s.end, s.pages()),
        (AsceType::Segment, 0xfe000, 0x102000, 4)
    );
    assert_eq!((s.flags, s.ro, s.hole), (GupFlags::WRITE, true, Some(0x100000)));
    assert_eq!(s.decoy, None);
    let Ok(Job::Scenario(s)) = parse("gup=3:0x1007ffff000-0x10080001000:decoy=0x10000000000") else {
        panic!("scenario with a decoy not parsed")
    };
    assert_eq!((s.decoy, s.flags), (Some(0x100_0000_0000), GupFlags::empty()));
}

#[test]
fn anything_else_is_refused() {
    let max = format!("gup=3:0x0-{:#x}", (MAX_SCENARIO_PAGES as u64 + 1) * 4096);
    for (line, want) in [
        ("list extra", E::ExtraWord("extra")),
        ("gup=3:0x1000-0x2000 trailing", E::ExtraWord("trailing")),
        ("tests", E::UnknownJob("tests")),
        ("Demo", E::UnknownJob("Demo")),
        ("test=", E::BadFilters),
        ("test=a,,b", E::BadFilters),
        ("gup=7:0x1000-0x2000", E::Levels("7")),
        ("gup=03:0x1000-0x2000", E::Levels("03")),
        ("gup=3", E::NoRange),
        ("gup=3:4096-8192", E::NotHex("4096")),
        ("gup=3:0x+1000-0x2000", E::NotHex("0x+1000")),
        ("gup=3:0x-0x2000", E::NotHex("0x")),
        ("gup=3:0x10000000000000000-0x2000", E::NotHex("0x10000000000000000")),
        ("gup=3:0x1001-0x3000", E::Misaligned(0x1001)),
        ("gup=3:0x2000-0x1000", E::EmptyRange),
        ("gup=2:0x7fffe000-0x80002000", E::BeyondAsce),
        (max.as_str(), E::TooManyPages),
        ("gup=3:0x1000-0x3000:hole=0x5000", E::HoleOutside(0x5000)),
        ("gup=3:0x1000-0x3000:hole=0x1800", E::Misaligned(0x1800)),
        (
            "gup=3:0x1000-0x3000:hole=0x1000:hole=0x2000",
            E::Repeated("hole=0x2000"),
        ),
        ("gup=3:0x1000-0x3000:write:write", E::Repeated("write")),
        ("gup=3:0x1000-0x3000:ro:ro", E::Repeated("ro")),
        ("gup=3:0x1000-0x3000:rw", E::UnknownOption("rw")),
        ("gup=3:0x1000-0x3000:decoy=0x2000", E::DecoyPlace(0x2000)),
        ("gup=3:0x1000-0x3000:decoy=0x1000", E::DecoyPlace(0x1000)),
        (
            "gup=3:0x1000-0x3000:decoy=0x40000000000",
            E::DecoyPlace(0x400_0000_0000),
        ),
        ("gup=3:0x1000-0x3000:decoy=0x5001", E::Misaligned(0x5001)),
        (
            "gup=3:0x1000-0x3000:decoy=0x5000:decoy=0x6000",
            E::Repeated("decoy=0x6000"),
        ),
    ] {
        assert_eq!(parse(line), Err(want), "{line}");
    }
    let n = (0..33).map(|i| format!("f{i}")).collect::<Vec<_>>().join(",");
    assert_eq!(parse(&format!("test={n}")), Err(E::BadFilters));
}

#[test]
fn every_scenario_the_docs_quote_parses() {
    let docs = [
        "README.md",
        "docs/scenarios.md",
        "docs/the-bug.md",
        "docs/fixes.md",
        "docs/debugging.md",
    ];
    let mut seen = 0;
    for doc in docs {
        let text = std::fs::read_to_string(doc).unwrap();
        for word in text.split(|c: char| c.is_whitespace() || "`'\"()".contains(c)) {
            if let Some(at) = word.find("gup=") {
                let word = word[at..].trim_end_matches(|c: char| ",.;".contains(c));
                if word.contains('-') && !word.contains('<') {
                    assert!(matches!(parse(word), Ok(Job::Scenario(_))), "{doc}: {word}");
                    seen += 1;
                }
            }
        }
    }
    assert!(seen >= 5, "only {seen} scenarios found in the docs");
}

/// `qemu-run.sh` is as strict as the kernel: a second job, a repeated option,
/// an option its job cannot use or a missing value is refused (status 2, with
/// the reason) before anything is built or booted.
#[test]
fn qemu_run_refuses_what_its_header_does_not_describe() {
    for (args, want) in [
        (&["demo", "list"][..], "one job at a time: 'list' after 'demo'"),
        (
            &["list", "gup=2:0x1000-0x2000"],
            "one job at a time: 'gup=2:0x1000-0x2000' after 'list'",
        ),
        (&["test", "bench"], "one job at a time: 'bench' after 'test'"),
        (&["kernel-test", "mm::fault", "extra"], "unknown argument 'extra'"),
        (&["bench", "linux", "linux"], "one job at a time: 'linux' after 'bench'"),
        (&["linux", "demo"], "one job at a time: 'demo' after 'linux'"),
        (&["--gdb", "linux"], "--gdb does not apply to linux"),
        (&["--emulator", "hercules", "linux"], "linux runs on QEMU only"),
        (&["linux", "--", "-m", "2G"], "QEMU arguments do not apply to linux"),
        (&["--kernel"], "--kernel takes the path of an ELF"),
        (&["--kernel", "a", "--kernel", "b"], "'--kernel' given twice"),
        (&["--gdb", "--gdb"], "'--gdb' given twice"),
        (&["--cpus", "2", "--cpus", "3"], "'--cpus' given twice"),
        (&["--cpus", "9"], "--cpus takes 1 to 8"),
        (&["--emulator", "bochs"], "--emulator takes qemu or hercules"),
        (&["--gdb", "test"], "--gdb does not apply to test"),
        (&["--kernel", "elf", "test"], "--kernel does not apply to test"),
        (&["pictures", "list"], "pictures takes a scenario"),
        (
            &["pictures", "gup=3:0x1000-0x2000", "dir", "prefix", "more"],
            "unknown argument 'more'",
        ),
        (
            &["--emulator", "hercules", "pictures", "gup=3:0x1000-0x2000"],
            "pictures boots no emulator",
        ),
        (
            &["--gdb", "pictures", "gup=3:0x1000-0x2000"],
            "--gdb does not apply to pictures",
        ),
        (
            &["--cpus", "2", "pictures", "gup=3:0x1000-0x2000"],
            "--cpus is for --emulator hercules",
        ),
        (&["--cpus", "2", "demo"], "--cpus is for --emulator hercules"),
        (&["--cpus", "1", "demo"], "--cpus is for --emulator hercules"),
        (&["demo\u{a0}"], "unknown argument $'demo\\302\\240'"),
        (
            &["--kernel", "README.md", "list"],
            "is not a 64-bit big-endian ELF file",
        ),
        (
            &["--kernel", "/bin/true", "list"],
            "is not a 64-bit big-endian ELF file",
        ),
        (&["--kernel", "no-such-file", "list"], "'no-such-file' is not a file"),
        (
            &["kernel-test", "mm::", "--", "-append", "list"],
            "'-append' after -- would replace",
        ),
        (&["--", "-kernel", "x"], "'-kernel' after -- would replace"),
        (&["bench", "--", "-icount", "1"], "'-icount' after -- would replace"),
        (
            &["--kernel", "elf", "pictures", "gup=3:0x1000-0x2000"],
            "--kernel does not apply to pictures",
        ),
        (
            &["pictures", "gup=3:0x1000-0x2000", "--", "-m", "2G"],
            "QEMU arguments do not apply to pictures",
        ),
    ] {
        let out = std::process::Command::new("bash")
            .arg("qemu-run.sh")
            .args(args)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.code() == Some(2) && err.contains(want) && err.contains("see the header"),
            "{args:?}: status {:?}, stderr {err}",
            out.status
        );
    }
}

/// `--help` and `-h` print the usage (the script's header) and exit 0.
#[test]
fn qemu_run_prints_its_usage_on_help() {
    for flag in ["--help", "-h"] {
        let out = std::process::Command::new("bash")
            .arg("qemu-run.sh")
            .arg(flag)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && text.contains("./qemu-run.sh test") && text.contains("--kernel ELF"),
            "{flag}: status {:?}, stdout {text}",
            out.status
        );
    }
}

/// The top page of every ASCE type can be named, with `<start>+<pages>`
/// (a 5-level space's ends at 2^64, which `<end>` cannot write), and the
/// count is checked like every other number.
#[test]
fn the_top_page_of_every_space_can_be_named() {
    for (levels, top) in [
        (2, 0x7fff_f000u64),
        (3, 0x3ff_ffff_f000),
        (4, 0x1f_ffff_ffff_f000),
        (5, 0xffff_ffff_ffff_f000),
    ] {
        let line = format!("gup={levels}:{top:#x}+1");
        let Ok(Job::Scenario(s)) = parse(&line) else {
            panic!("{line} not parsed: {:?}", parse(&line))
        };
        assert_eq!(
            (s.start, s.end.wrapping_sub(1), s.pages()),
            (top, top + 0xfff, 1),
            "{line}"
        );
        let beyond = format!("gup={levels}:{top:#x}+2");
        assert_eq!(parse(&beyond), Err(E::BeyondAsce), "{beyond}");
    }
    let Ok(Job::Scenario(s)) = parse("gup=3:0x1007ffff000+2:hole=0x10080000000") else {
        panic!("a counted range with a hole not parsed")
    };
    assert_eq!((s.end, s.hole), (0x100_8000_1000, Some(0x100_8000_0000)));
    for (line, want) in [
        ("gup=3:0x1000+0", E::BadCount("0")),
        ("gup=3:0x1000+x", E::BadCount("x")),
        ("gup=3:0x1000++1", E::BadCount("+1")),
        ("gup=3:0x1000+262145", E::BadCount("262145")),
        ("gup=5:0xfffffffffffff000+1:hole=0x0", E::HoleOutside(0)),
    ] {
        assert_eq!(parse(line), Err(want), "{line}");
    }
}

/// A repeated test filter is refused like every other repeat, and a refused
/// word is shown with invisible and non-ASCII characters escaped.
#[test]
fn repeats_are_refused_and_refused_words_are_shown_escaped() {
    assert_eq!(parse("test=mm::,gup::,mm::"), Err(E::RepeatedFilter("mm::")));
    let same = vec!["gup::seed"; 32].join(",");
    assert_eq!(parse(&format!("test={same}")), Err(E::RepeatedFilter("gup::seed")));
    for (line, shown) in [
        ("demo\u{a0}", "unknown job 'demo\\u{a0}'"),
        ("gup=3:0x1000-0x2000:\u{200b}write", "unknown option '\\u{200b}write'"),
        ("list t\u{e9}st", "one job word only, but 't\\u{e9}st' follows it"),
    ] {
        let e = parse(line).expect_err(line);
        assert!(e.to_string().starts_with(shown), "{line}: {e}");
    }
}
