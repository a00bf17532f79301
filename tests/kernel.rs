//! Host harness for the kernel: builds it for s390x, boots it in QEMU with a
//! timeout, parses the serial console and reports every in-kernel test as its own
//! `cargo test` test (`kernel::<name>`), so `cargo test kernel::gup::seed` runs one
//! and a failing one fails with the kernel's own message. Also checks the failure
//! paths (panic, failed test, unexpected program check, hang, bad filter, too
//! little memory), the suite under other machine shapes (-m 64M and -m 2G with one
//! CPU, -smp 4, single-threaded TCG at -smp 4), the benchmark smoke run, and the
//! demo; and the whole suite again on Hercules (`hercules::kernel::<name>`). The
//! per-test run itself uses -smp 2 so the SMP race tests run by name.
//!
//! Environment: `FOLDKERN_TIMEOUT` (seconds per boot, default 600).
use libtest_mimic::{Arguments, Failed, Trial};
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const TARGET: &str = "s390x-unknown-linux-gnu";
const INSTALL: &str = "qemu-system-s390x not found: install it with `sudo apt-get install qemu-system-misc` (or run ./qemu-run.sh test, which installs it when run as root)";
const INSTALL_GDB: &str = "gdb-multiarch not found: install it with `sudo apt-get install gdb-multiarch` (or run ./qemu-run.sh test, which installs it when run as root)";
const INSTALL_HERCULES: &str = "Hercules not found: install it with `sudo apt-get install hercules binutils-s390x-linux-gnu` (or run ./qemu-run.sh test, which installs them when run as root)";
/// The one kernel test that must run, not skip, on Hercules (EDAT-1 there).
const MUST_RUN_ON_HERCULES: &str = "gup::large_segment_frames_pin_with_edat1";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// rustup installs rust-toolchain.toml's targets only together with the toolchain;
/// when the toolchain is there but the s390x target is not, add it.
fn ensure_target() {
    let listed = Command::new("rustup")
        .current_dir(root())
        .args(["target", "list", "--installed"])
        .output();
    if let Ok(o) = listed {
        if o.status.success() && !String::from_utf8_lossy(&o.stdout).lines().any(|l| l.trim() == TARGET) {
            eprintln!("kernel harness: adding the Rust target {TARGET} (rustup target add)");
            let _ = Command::new("rustup")
                .current_dir(root())
                .args(["target", "add", TARGET])
                .status();
        }
    }
}

fn build_kernel() -> Result<PathBuf, String> {
    ensure_target();
    let out = Command::new(env!("CARGO"))
        .current_dir(root())
        .args([
            "build",
            "--release",
            "-p",
            "foldkern-kernel",
            "--target",
            TARGET,
            "--bin",
            "foldkern",
        ])
        .output()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "kernel build failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(root().join("target").join(TARGET).join("release").join("foldkern"))
}

fn have_qemu() -> bool {
    Command::new("qemu-system-s390x")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok()
}

/// One QEMU run.
#[derive(Debug)]
struct Boot {
    output: String,
    /// Exit status, or None on timeout.
    status: Option<i32>,
    timeout: Duration,
}

impl Boot {
    fn timed_out(&self) -> bool {
        self.status.is_none()
    }
    fn tail(&self, n: usize) -> String {
        let lines: Vec<&str> = self.output.lines().collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }
    /// `Ok` if `ok`, else a failure saying what was `expected`, with the exit
    /// status and the end of the output.
    fn expect(&self, ok: bool, expected: &str) -> Result<(), Failed> {
        if ok {
            return Ok(());
        }
        Err(format!("expected {expected}; got status {:?}:\n{}", self.status, self.tail(12)).into())
    }
    fn has(&self, text: &str) -> bool {
        self.output.contains(text)
    }
}

fn have_hercules() -> bool {
    ["hercules", "s390x-linux-gnu-objcopy"].iter().all(|t| {
        Command::new("sh")
            .args(["-c", &format!("command -v {t}")])
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    })
}

/// One run in Hercules (scripts/hercules-run.py; status 124 is its timeout).
fn hercules(kernel: &Path, append: &str, cpus: u32, limit: Duration) -> Result<Boot, String> {
    if !have_hercules() {
        return Err(INSTALL_HERCULES.into());
    }
    let out = Command::new("python3")
        .current_dir(root())
        .arg("scripts/hercules-run.py")
        .args(["--cpus", &cpus.to_string(), "--timeout", &limit.as_secs().to_string()])
        .arg(kernel)
        .arg(append)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run scripts/hercules-run.py: {e}"))?;
    let output = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    let status = out.status.code().filter(|&c| c != 124);
    Ok(Boot {
        output,
        status,
        timeout: limit,
    })
}

/// A kernel test's result over the Hercules runs: failed in any, or missing
/// from one, fails; skipped in every run is ignored, except the test that must
/// run there.
fn hercules_verdict(name: &str, runs: &[(u32, &Result<Boot, String>)]) -> Result<bool, String> {
    let mut ran = false;
    let mut why = String::new();
    for (cpus, run) in runs {
        let b = run.as_ref().map_err(|e| e.clone())?;
        let p = parse(&b.output);
        match p.verdicts.get(name) {
            Some(Verdict::Ok) => ran = true,
            Some(Verdict::Skipped(w)) => why = w.clone(),
            Some(Verdict::Failed(m)) => return Err(format!("Hercules, {cpus} CPU(s): {m}")),
            None if b.timed_out() => {
                let last = p.unfinished.unwrap_or_default();
                return Err(format!(
                    "Hercules, {cpus} CPU(s): timed out after {:?} in {last}\n{}",
                    b.timeout,
                    b.tail(10)
                ));
            }
            None => {
                return Err(format!(
                    "Hercules, {cpus} CPU(s): no result (status {:?})\n{}",
                    b.status,
                    b.tail(10)
                ))
            }
        }
    }
    if !ran && name == MUST_RUN_ON_HERCULES {
        return Err(format!("skipped on Hercules, where EDAT-1 is installed: {why}"));
    }
    Ok(ran)
}

/// Add a harness test that gets its own handle on the kernel image.
fn harness(
    trials: &mut Vec<Trial>,
    kernel: &Path,
    name: &str,
    test: impl FnOnce(&Path) -> Result<(), Failed> + Send + 'static,
) {
    let k = kernel.to_path_buf();
    trials.push(Trial::test(format!("harness::{name}"), move || test(&k)));
}

fn timeout() -> Duration {
    Duration::from_secs(
        std::env::var("FOLDKERN_TIMEOUT")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(600),
    )
}

fn boot(kernel: &Path, append: &str, extra: &[&str], limit: Duration) -> Result<Boot, String> {
    if !have_qemu() {
        return Err(INSTALL.into());
    }
    // Extra arguments may choose the accelerator themselves (-accel tcg,thread=single).
    let machine = if extra.contains(&"-accel") {
        "s390-ccw-virtio"
    } else {
        "s390-ccw-virtio,accel=tcg"
    };
    let mut child = Command::new("qemu-system-s390x")
        .args([
            "-nodefaults",
            "-nographic",
            "-no-reboot",
            "-machine",
            machine,
            "-m",
            "256M",
        ])
        .args([
            "-chardev",
            "stdio,id=con0",
            "-device",
            "sclpconsole,chardev=con0",
            "-action",
            "panic=exit-failure",
        ])
        .arg("-kernel")
        .arg(kernel)
        .args(["-append", append])
        .args(extra)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start qemu-system-s390x: {e}"))?;
    let output = Arc::new(Mutex::new(String::new()));
    let mut readers = Vec::new();
    for stream in [
        Box::new(child.stdout.take().unwrap()) as Box<dyn std::io::Read + Send>,
        Box::new(child.stderr.take().unwrap()),
    ] {
        let out = output.clone();
        readers.push(std::thread::spawn(move || {
            for line in BufReader::new(stream).lines().map_while(Result::ok) {
                let mut o = out.lock().unwrap();
                o.push_str(&line);
                o.push('\n');
            }
        }));
    }
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().map_err(|e| e.to_string())? {
            break Some(s.code().unwrap_or(-1));
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    for r in readers {
        let _ = r.join();
    }
    let output = output.lock().unwrap().clone();
    Ok(Boot {
        output,
        status,
        timeout: limit,
    })
}

#[derive(Clone, Debug)]
enum Verdict {
    Ok,
    Failed(String),
    Skipped(String),
}

/// Results per test name, the name of a test that started but never finished,
/// and the summary line.
struct Parsed {
    verdicts: BTreeMap<String, Verdict>,
    unfinished: Option<String>,
    summary: Option<(u32, u32, u32)>,
}

/// A KTAP result line of a test inside a module's subtest (indented):
/// `ok N name`, `ok N name # SKIP why` or `not ok N name`.
fn ktap_result(line: &str) -> Option<(&str, Verdict)> {
    if !line.starts_with("    ") {
        return None;
    }
    let l = line.trim_start();
    let (ok, rest) = match l.strip_prefix("not ok ") {
        Some(r) => (false, r),
        None => (true, l.strip_prefix("ok ")?),
    };
    let (num, rest) = rest.split_once(' ')?;
    num.parse::<u32>().ok()?;
    let (name, directive) = match rest.split_once(" # ") {
        Some((n, d)) => (n, Some(d)),
        None => (rest, None),
    };
    let v = match (ok, directive.and_then(|d| d.strip_prefix("SKIP"))) {
        (true, Some(why)) => Verdict::Skipped(why.trim().to_string()),
        (true, None) => Verdict::Ok,
        (false, _) => Verdict::Failed(String::new()),
    };
    Some((name, v))
}

/// Parse the kernel's KTAP output: each test's verdict by its full name (the
/// `# running: <name>` diagnostic before it names it; `# <name>: FAILED:
/// <why>` lines carry a failure's message), the test still running when the
/// output ends, and the closing counts.
fn parse(output: &str) -> Parsed {
    let mut p = Parsed {
        verdicts: BTreeMap::new(),
        unfinished: None,
        summary: None,
    };
    let mut current: Option<String> = None;
    let mut why = String::new();
    let mut fatal = String::new();
    for line in output.lines() {
        if let Some(name) = line.trim_start().strip_prefix("# running: ") {
            current = Some(name.trim().to_string());
            why.clear();
            continue;
        }
        if let Some(name) = &current {
            if let Some(m) = line.trim_start().strip_prefix(&format!("# {name}: FAILED: ")) {
                why.push_str(if why.is_empty() { "" } else { " | " });
                why.push_str(m);
                continue;
            }
            if let Some((short, v)) = ktap_result(line) {
                if name.rsplit("::").next() == Some(short) {
                    let v = match v {
                        Verdict::Failed(_) => Verdict::Failed(std::mem::take(&mut why)),
                        v => v,
                    };
                    p.verdicts.insert(name.clone(), v);
                    current = None;
                    continue;
                }
            }
        }
        if line.starts_with("!!!") || line.starts_with("kernel: stopping") {
            fatal.push_str(line);
            fatal.push_str(" | ");
        }
        let words: Vec<&str> = line.split_whitespace().collect();
        if words.len() == 6 && words[1] == "passed," && words[3] == "failed," && words[5] == "skipped" {
            p.summary = Some((
                words[0].parse().unwrap_or(0),
                words[2].parse().unwrap_or(0),
                words[4].parse().unwrap_or(0),
            ));
        }
    }
    if let Some(name) = current {
        if !fatal.is_empty() {
            p.verdicts
                .insert(name.clone(), Verdict::Failed(format!("the kernel stopped: {fatal}")));
        } else {
            p.unfinished = Some(name);
        }
    }
    p
}

fn check_suite(b: &Boot, what: &str) -> Result<(), Failed> {
    let p = parse(&b.output);
    if b.timed_out() {
        return Err(format!(
            "{what}: timed out after {:?}; last test started: {}\n{}",
            b.timeout,
            p.unfinished.unwrap_or_default(),
            b.tail(15)
        )
        .into());
    }
    let failed: Vec<String> = p
        .verdicts
        .iter()
        .filter(|(_, v)| matches!(v, Verdict::Failed(_)))
        .map(|(n, v)| format!("{n}: {v:?}"))
        .collect();
    match p.summary {
        Some((passed, 0, _)) if b.status == Some(0) && passed > 0 && failed.is_empty() => Ok(()),
        _ => Err(format!("{what}: status {:?}, failures: {failed:?}\n{}", b.status, b.tail(20)).into()),
    }
}

/// The lines of the demo from the one starting with `marker` to the next blank line.
fn section(out: &str, marker: &str) -> String {
    out.lines()
        .skip_while(|l| !l.contains(marker))
        .take_while(|l| !l.trim().is_empty())
        .collect::<Vec<_>>()
        .join("\n")
}

fn pinned_line(s: &str) -> String {
    s.lines()
        .find(|l| l.contains("=> pinned"))
        .unwrap_or("")
        .trim()
        .to_string()
}

/// A line of kernel output with what varies from build to build masked:
/// physical addresses (5 to 8 hex digits) and the origin in a 16-digit entry
/// value (all but its low 3 digits, the flags); spaces collapsed.
fn masked(line: &str) -> String {
    let mut out = String::new();
    let mut rest = line;
    while let Some(i) = rest.find("0x") {
        out.push_str(&rest[..i]);
        let n = rest[i + 2..].chars().take_while(char::is_ascii_hexdigit).count();
        let digits = &rest[i + 2..i + 2 + n];
        match n {
            5..=8 => out.push_str("0x<pa>"),
            16 => out.push_str(&format!("0x<origin>{}", &digits[13..])),
            _ => out.push_str(&rest[i..i + 2 + n]),
        }
        rest = &rest[i + 2 + n..];
    }
    out.push_str(rest);
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The first line of `quote` (but blank ones and `...`) that `output` does not
/// print, in order, both masked (`masked`); `None` if all are there.
fn first_unquoted(output: &str, quote: &[&str]) -> Option<String> {
    let out: Vec<String> = output.lines().map(masked).collect();
    let mut at = 0;
    for q in quote.iter().map(|q| masked(q)) {
        if q.is_empty() || q == "..." {
            continue;
        }
        match out[at..].iter().position(|o| *o == q) {
            Some(i) => at += i + 1,
            None => return Some(q),
        }
    }
    None
}

/// Every `text` block in README.md and docs/ quotes kernel output: of the demo,
/// or of the job its info string names (```text bench=smoke). Each quoted line
/// (but `...`) must appear in that job's output, in order, addresses masked.
fn docs_quote_the_kernel(k: &Path) -> Result<(), Failed> {
    let mut docs = vec![root().join("README.md")];
    docs.extend(
        std::fs::read_dir(root().join("docs"))
            .unwrap()
            .map(|e| e.unwrap().path()),
    );
    docs.sort();
    let mut outputs: BTreeMap<String, String> = BTreeMap::new();
    let mut blocks = 0;
    for doc in docs.iter().filter(|d| d.extension().is_some_and(|x| x == "md")) {
        let text = std::fs::read_to_string(doc).unwrap();
        let mut lines = text.lines();
        while let Some(l) = lines.next() {
            let Some(info) = l.strip_prefix("```text") else {
                continue;
            };
            let job = match info.trim() {
                "" => "demo",
                j => j,
            };
            if !outputs.contains_key(job) {
                let extra: &[&str] = match job {
                    "bench" => &["-icount", "shift=0", "-m", "2G"],
                    j if j.starts_with("bench") => &["-icount", "shift=0"],
                    _ => &[],
                };
                let b = boot(k, job, extra, timeout())?;
                b.expect(b.status == Some(0), &format!("{job} to run for the docs' quotes"))?;
                outputs.insert(job.to_string(), b.output);
            }
            let quote: Vec<&str> = lines.by_ref().take_while(|q| !q.starts_with("```")).collect();
            if let Some(q) = first_unquoted(&outputs[job], &quote) {
                return Err(format!(
                    "{}: a quote of `{job}` the kernel does not print (in order):\n{q}",
                    doc.display()
                )
                .into());
            }
            blocks += 1;
        }
    }
    if blocks < 3 {
        return Err(format!("only {blocks} quoted blocks found in the docs").into());
    }
    Ok(())
}

/// docs/bench.md's ```count block is `fk-phases 21` of scripts/count-insns.py
/// (gdb single-stepping the one-page merged-fix call of the smoke benchmark in
/// a region-third space): every quoted line must be in its output, in order.
/// Boot `append` with QEMU's gdb stub waiting (-S) and run gdb-multiarch in
/// batch mode against it with `gdb_args` (after connecting): the boot and
/// gdb's standard output.
fn under_gdb(k: &Path, append: &str, extra: &[&str], gdb_args: &[&std::ffi::OsStr]) -> Result<(Boot, String), Failed> {
    if Command::new("gdb-multiarch").arg("--version").output().is_err() {
        return Err(INSTALL_GDB.into());
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map_err(|e| format!("no free port for QEMU's gdb stub: {e}"))?
        .port();
    let kernel = k.to_path_buf();
    let stub = format!("tcp:127.0.0.1:{port}");
    let (append, mut qemu_args) = (
        append.to_string(),
        extra.iter().map(|a| a.to_string()).collect::<Vec<_>>(),
    );
    qemu_args.extend(["-gdb".to_string(), stub, "-S".to_string()]);
    // QEMU waits for gdb (-S); gdb retries its connection until QEMU listens.
    let qemu = std::thread::spawn(move || {
        let a: Vec<&str> = qemu_args.iter().map(String::as_str).collect();
        boot(&kernel, &append, &a, Duration::from_secs(300))
    });
    let gdb = Command::new("gdb-multiarch")
        .args(["-batch", "-nx", "-ex", "set architecture s390:64-bit"])
        // A loaded machine may start QEMU late: gdb retries for up to 2 minutes.
        .args(["-ex", "set tcp connect-timeout 120"])
        .args(["-ex", &format!("target remote 127.0.0.1:{port}")])
        .args(gdb_args)
        .arg(k)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("gdb-multiarch: {e}"))?;
    let b = qemu.join().unwrap()?;
    Ok((
        b,
        String::from_utf8_lossy(&gdb.stdout).to_string() + &String::from_utf8_lossy(&gdb.stderr),
    ))
}

fn docs_quote_the_counts(k: &Path) -> Result<(), Failed> {
    let script = root().join("scripts/count-insns.py");
    let (b, out) = under_gdb(
        k,
        "bench=smoke",
        &["-icount", "shift=0"],
        &[
            "-x".as_ref(),
            script.as_os_str(),
            "-ex".as_ref(),
            "fk-phases 21".as_ref(),
        ],
    )?;
    // Stepping one call changes what STCKF measures for it, so the benchmark's
    // own check that both runs agree fails; only gdb's count matters here.
    b.expect(!b.timed_out(), "the smoke benchmark to end under gdb")?;
    let block = quoted_block("docs/bench.md", "count")?;
    let quoted: Vec<&str> = block.lines().collect();
    if let Some(q) = first_unquoted(&out, &quoted) {
        return Err(format!("docs/bench.md's ```count block is not what fk-phases 21 gives (at `{q}`):\n{out}").into());
    }
    if quoted.len() < 3 {
        return Err("docs/bench.md has no ```count block of fk-phases' lines".into());
    }
    Ok(())
}

/// docs/debugging.md's recipe, `scripts/stray-read.gdb`, on the seed with its
/// decoy: gdb stops at `walk_strayed` before each stray read at the 2 GiB
/// crossing and shows the stack words around the pointer: the guarded pre-fix
/// walk stepped onto a guard word, the walk over Linux's frame onto the pud
/// copy, which holds the same region-third entry as the p4d copy before it.
fn gdb_stops_at_the_stray_read_and_shows_the_stack_words(k: &Path) -> Result<(), Failed> {
    let script = root().join("scripts/stray-read.gdb");
    let (b, out) = under_gdb(
        k,
        "gup=3:0x1007ffff000-0x10080001000:decoy=0x10000000000",
        &[],
        &["-x".as_ref(), script.as_os_str()],
    )?;
    b.expect(b.status == Some(0), "the scenario to end under gdb")?;
    // The words gdb showed, by address.
    let mut words = BTreeMap::new();
    for l in out.lines() {
        let mut f = l.split_whitespace();
        if let Some(a) = f
            .next()
            .and_then(|a| a.strip_suffix(':'))
            .and_then(|a| u64::from_str_radix(a.trim_start_matches("0x"), 16).ok())
        {
            for (i, w) in f.enumerate() {
                if let Ok(w) = u64::from_str_radix(w.trim_start_matches("0x"), 16) {
                    words.insert(a + 8 * i as u64, w);
                }
            }
        }
    }
    let stops: Vec<u64> = out
        .lines()
        .filter_map(|l| l.strip_prefix("stray read: level 2, address 0x10080000000: stepped to 0x"))
        .filter_map(|l| u64::from_str_radix(l.split(',').next()?, 16).ok())
        .collect();
    let guard = stops
        .iter()
        .any(|p| words.get(p).is_some_and(|w| w >> 24 == 0x53_5441_434b));
    let stale = stops
        .iter()
        .any(|p| matches!((words.get(p), words.get(&(p - 8))), (Some(w), Some(v)) if w == v && w & 0xc == 0x4));
    if stops.len() < 2 || !guard || !stale {
        return Err(format!("expected stops at the guard word and at the stale pud copy:\n{out}").into());
    }
    Ok(())
}

/// The functions a function of the kernel calls (`brasl` targets, and
/// functions whose address it loads, as `pte_range` for the call through a
/// pointer), by mangled name, and the functions of the walk among them, whose
/// calls count too: what the compiled code reached from `root` can call.
fn callees(k: &Path, root: &str) -> Result<std::collections::BTreeSet<String>, Failed> {
    let mut seen = std::collections::BTreeSet::new();
    let mut todo = vec![format!("'{root}'")];
    let mut done = std::collections::BTreeSet::new();
    while let Some(f) = todo.pop() {
        if !done.insert(f.clone()) || done.len() > 64 {
            continue;
        }
        let out = Command::new("gdb-multiarch")
            .args(["-batch", "-nx", "-ex", "set architecture s390:64-bit"])
            .args(["-ex", &format!("disassemble {f}")])
            .arg(k)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("gdb-multiarch: {e}"))?;
        let text = String::from_utf8_lossy(&out.stdout);
        if !text.contains("Dump of assembler code") {
            return Err(format!(
                "gdb cannot disassemble {f}:\n{text}{}",
                String::from_utf8_lossy(&out.stderr)
            )
            .into());
        }
        for line in text.lines().filter(|l| l.contains("brasl") || l.contains("larl")) {
            let (Some(a), Some(b)) = (line.rfind('<'), line.rfind('>')) else {
                continue;
            };
            let name = line[a + 1..b].to_string();
            let addr = line[..a].split(',').next_back().unwrap_or("").trim().to_string();
            // The walk's own out-of-line parts: follow them.
            if name.contains("3gup4fast") && !name.contains('+') {
                todo.push(addr.clone());
            }
            seen.insert(name);
        }
    }
    Ok(seen)
}

/// What explains a walk compiles away: what `get_user_pages_fast` without
/// hooks reaches (inlined into the benchmark's `entry_point::<NoHooks, _>`, which
/// calls gup_fast) calls no hook and no invariant walk, while the same walk
/// with the explaining hooks does (which shows the test can see them).
fn no_hook_in_get_user_pages_fast(k: &Path) -> Result<(), Failed> {
    if Command::new("gdb-multiarch").arg("--version").output().is_err() {
        return Err(INSTALL_GDB.into());
    }
    // get_user_pages_fast and pin_user_pages_fast, each in its own build.
    let mut plain = callees(
        k,
        "foldkern::cmd::bench::measure::entry_point<foldkern::gup::hooks::NoHooks, false>",
    )?;
    plain.extend(callees(
        k,
        "foldkern::cmd::bench::measure::entry_point<foldkern::gup::hooks::NoHooks, true>",
    )?);
    let explained = callees(
        k,
        "foldkern::gup::fast::gup_fast<foldkern::arch::s390x::platform::KernelPlatform, foldkern::gup::hooks::Explain>",
    )?;
    let hook = |n: &String| n.contains("hooks") || n.contains("7walk_to");
    if !plain.iter().any(|n| n.contains("8gup_fast")) || !plain.iter().any(|n| n.contains("9pte_range")) {
        return Err(format!("entry_point::<NoHooks, _> reaches no gup_fast and PTE loop: {plain:?}").into());
    }
    if let Some(h) = plain.iter().find(|n| hook(n)) {
        return Err(format!("get_user_pages_fast without hooks calls {h}").into());
    }
    if !explained.iter().any(hook) {
        return Err(format!("the explaining gup_fast calls no hook (the test cannot see them): {explained:?}").into());
    }
    Ok(())
}

/// A check of the harness's own: given the kernel, whether it holds.
type Check = fn(&Path) -> Result<(), Failed>;

/// The whole suite again under other machine shapes: (label, QEMU arguments).
const SHAPES: &[(&str, &[&str])] = &[
    ("m64M", &["-m", "64M"]),
    // An odd number of MiB: the identity map's page tables leave a frame
    // with one half free.
    ("m33M", &["-m", "33M"]),
    ("m2G", &["-m", "2G"]),
    ("smp4", &["-smp", "4"]),
    // Idle CPUs wait, so four time-sliced vCPUs still finish in time.
    (
        "smp4_single_threaded_tcg",
        &["-smp", "4", "-accel", "tcg,thread=single"],
    ),
];

/// The harness's own checks, each a function of the kernel it boots, in the
/// order they are reported.
const HARNESS: &[(&str, Check)] = &[
    (
        "hercules_hang_times_out_naming_the_test",
        hercules_hang_times_out_naming_the_test,
    ),
    // Failure paths of the kernel itself.
    ("panic_fails_the_run", panic_fails_the_run),
    ("failed_test_fails_the_run", failed_test_fails_the_run),
    (
        "unexpected_program_check_is_reported",
        unexpected_program_check_is_reported,
    ),
    ("hang_times_out_naming_the_test", hang_times_out_naming_the_test),
    (
        "unknown_filter_lists_tests_and_fails",
        unknown_filter_lists_tests_and_fails,
    ),
    ("too_little_memory_is_refused", too_little_memory_is_refused),
    (
        "an_older_cpu_is_refused_naming_the_missing_facilities",
        an_older_cpu_is_refused_naming_the_missing_facilities,
    ),
    (
        "more_cpus_than_foldkern_runs_are_named",
        more_cpus_than_foldkern_runs_are_named,
    ),
    ("scenario_from_the_command_line", scenario_from_the_command_line),
    ("bench_smoke_is_deterministic", bench_smoke_is_deterministic),
    (
        "pictures_of_the_host_walk_are_the_kernel_trace_and_the_docs",
        pictures_of_the_host_walk_are_the_kernel_trace_and_the_docs,
    ),
    (
        "the_explainer_in_a_real_browser_follows_the_kernel_s_trace",
        the_explainer_in_a_real_browser_follows_the_kernel_s_trace,
    ),
    ("docs_quote_the_goals_against_linux", docs_quote_the_goals_against_linux),
    ("docs_quote_the_instruction_counts", docs_quote_the_counts),
    ("no_hook_in_get_user_pages_fast", no_hook_in_get_user_pages_fast),
    (
        "gdb_stops_at_the_stray_read_and_shows_the_stack_words",
        gdb_stops_at_the_stray_read_and_shows_the_stack_words,
    ),
    ("bench_full_scales_to_4_gib", bench_full_scales_to_4_gib),
    ("docs_quote_the_kernel_as_it_runs", docs_quote_the_kernel),
    ("demo_shows_seed_failure_and_fixes", demo_shows_seed_failure_and_fixes),
    (
        "linux_6_1_shipped_and_reverted_do_what_foldkern_predicts",
        linux_6_1_shipped_and_reverted_do_what_foldkern_predicts,
    ),
    (
        "the_model_s_linux_frame_is_the_compiled_one",
        the_model_s_linux_frame_is_the_compiled_one,
    ),
    (
        "linux_s_kunit_py_parses_the_kernel_s_ktap_on_qemu_and_hercules",
        linux_s_kunit_py_parses_the_kernel_s_ktap_on_qemu_and_hercules,
    ),
    (
        "linux_6_12_arm64_reverted_reads_the_stack_word_the_model_names",
        linux_6_12_arm64_reverted_reads_the_stack_word_the_model_names,
    ),
];

/// Linux's own KTAP parser (`tools/testing/kunit/kunit.py parse`, taken at
/// test time from Debian's linux-source-6.1) reads a real run, on QEMU and on
/// Hercules, with a passing, a failing and a skipped test: it reports the same
/// tests with the same results and counts as the harness's own parser.
fn linux_s_kunit_py_parses_the_kernel_s_ktap_on_qemu_and_hercules(k: &Path) -> Result<(), Failed> {
    let tool = linux_gup(&["--kunit-tool"])?.trim().to_string();
    let filter = "test=boot::deliberate_failure,gup::large_segment_frames_pin_with_edat1,mm::protect_changes_rights";
    let qemu = boot(k, filter, &[], timeout())?;
    let herc = hercules(k, filter, 1, timeout())?;
    for (what, b, skipped) in [("QEMU", &qemu, 1), ("Hercules", &herc, 0)] {
        let ours = parse(&b.output);
        let want = (1 + (1 - skipped), 1, skipped);
        if ours.summary != Some(want) || ours.verdicts.len() != 3 {
            return Err(format!(
                "{what}: the harness read {:?} {:?}, expected {want:?}",
                ours.summary, ours.verdicts
            )
            .into());
        }
        let path = std::env::temp_dir().join(format!("foldkern-ktap-{}-{what}.txt", std::process::id()));
        std::fs::write(&path, &b.output).unwrap();
        let out = Command::new("python3")
            .arg(&tool)
            .arg("parse")
            .arg(&path)
            .output()
            .map_err(|e| format!("python3 {tool}: {e}"))?;
        std::fs::remove_file(&path).ok();
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        let summary = format!(
            "Ran 3 tests: passed: {}, failed: 1{}",
            want.0,
            if skipped > 0 { ", skipped: 1" } else { "" }
        );
        let each = ours.verdicts.iter().all(|(name, v)| {
            let short = name.rsplit("::").next().unwrap_or(name);
            let tag = match v {
                Verdict::Ok => "[PASSED]",
                Verdict::Failed(_) => "[FAILED]",
                Verdict::Skipped(_) => "[SKIPPED]",
            };
            text.lines().any(|l| l.contains(&format!("{tag} {short}")))
        });
        // kunit.py exits 1 when a test failed, as here.
        if !text.contains(&summary) || !each || out.status.code() != Some(1) {
            return Err(format!("{what}: kunit.py parse disagrees with the harness ({summary}):\n{text}").into());
        }
    }
    Ok(())
}

/// Linux 6.12 for arm64 (16 KiB pages, LPA2, 4 levels), shipped, with
/// 36639013b346 reverted, and reverted with VMAP_STACK on, on a CPU with and
/// without LPA2: every read is right, its pages all taken by the lockless
/// walk, but in the reverted kernels without LPA2, which take the word at the
/// stack base plus 8 times the pud index for the pud
/// (`foldkern_host::model::arm64`): they oops exactly where the model finds a
/// table descriptor among the syscall's saved registers (each oops of a named
/// scenario holding that pointer in a register), leave every read they
/// survive to the slow path (the lockless walk takes 0 pages), and with x4
/// set to a table descriptor of the caller's own page move the data into and
/// out of the caller's own pages.
fn linux_6_12_arm64_reverted_reads_the_stack_word_the_model_names(_: &Path) -> Result<(), Failed> {
    let out = linux_gup(&["--arch", "arm64"])?;
    let line = out.lines().find(|l| l.starts_with("linux: arm64: ")).unwrap_or("");
    let agree = line
        .strip_prefix("linux: arm64: ")
        .and_then(|l| l.split_once(" of "))
        .and_then(|(a, b)| Some((a.parse::<u32>().ok()?, b.split(' ').next()?.parse::<u32>().ok()?)));
    match agree {
        Some((a, n))
            if a == n
                && n >= 14
                && out.contains("= stack base + 0x3eb0")
                && out.contains("reverted-vmap-stack, lpa2=off:  in the caller's own pages, took 2")
                && out.contains("reverted, lpa2=off:             ok, took 0") =>
        {
            Ok(())
        }
        _ => Err(format!("expected every arm64 check to agree:\n{out}").into()),
    }
}

/// `scripts/linux-gup.py` with `args`: its standard output, or a failure with
/// its error (a missing package names the command that installs it).
fn linux_gup(args: &[&str]) -> Result<String, Failed> {
    let out = Command::new("python3")
        .arg(root().join("scripts/linux-gup.py"))
        .args(args)
        .output()
        .map_err(|e| format!("python3: {e}"))?;
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    if !out.status.success() {
        return Err(format!(
            "scripts/linux-gup.py {} failed:\n{stdout}{}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        )
        .into());
    }
    Ok(stdout)
}

/// The lines of the benchmark's CSV block (between `BEGIN-CSV` and `END-CSV`).
fn csv_lines(output: &str) -> Vec<&str> {
    output
        .lines()
        .skip_while(|l| *l != "BEGIN-CSV")
        .skip(1)
        .take_while(|l| *l != "END-CSV")
        .collect()
}

/// The ```` ```tag ```` block of a doc, or a failure naming it.
fn quoted_block(doc: &str, tag: &str) -> Result<String, Failed> {
    let text = std::fs::read_to_string(root().join(doc)).map_err(|e| format!("{doc}: {e}"))?;
    let block: String = text
        .lines()
        .skip_while(|l| *l != format!("```{tag}"))
        .skip(1)
        .take_while(|l| !l.starts_with("```"))
        .map(|l| format!("{l}\n"))
        .collect();
    if block.is_empty() {
        return Err(format!("{doc} has no ```{tag} block").into());
    }
    Ok(block)
}

/// Linux 6.1 built here, as shipped and with d3f7b1bb2040 reverted, runs each
/// scenario with O_DIRECT I/O on a 2-page buffer; foldkern boots the same
/// scenarios and its `offset_lockless` and "pre-fix, Linux's frame" variants
/// must predict, page by page, where each kernel put the data. Both kernels
/// also pin a PROT_NONE buffer's pages in gup_fast (no NUMA_BALANCING), as
/// linux-map.md says they do where foldkern does not. the-bug.md quotes the
/// comparison as it runs.
fn linux_6_1_shipped_and_reverted_do_what_foldkern_predicts(k: &Path) -> Result<(), Failed> {
    let out = linux_gup(&["--arch", "s390x", "--kernel", &k.to_string_lossy()])?;
    let n = out.lines().filter(|l| l.contains(" returned ")).count();
    if n == 0 || !out.contains("linux: 6 of 6 scenarios agree with foldkern") {
        return Err(format!("expected 6 of 6 scenarios to agree:\n{out}").into());
    }
    if !out.contains("linux: 1 of 1 stated differences hold in the real kernels") {
        return Err(format!("expected the stated difference (PROT_NONE) to hold in both kernels:\n{out}").into());
    }
    let quoted = quoted_block("docs/the-bug.md", "linux")?;
    if quoted != out {
        return Err(
            format!("docs/the-bug.md's ```linux block is not what ./qemu-run.sh linux prints now:\n{out}").into(),
        );
    }
    Ok(())
}

/// The layout of the model's Linux frame ([`foldkern::gup::LinuxFrame`]) is
/// the one the reverted 6.1 build's disassembly has: the words whose address
/// its walk takes, in the order it stores them, above the caller's stack
/// pointer, and the saved register after them. the-bug.md quotes the lines.
fn the_model_s_linux_frame_is_the_compiled_one(_: &Path) -> Result<(), Failed> {
    use foldkern::gup::LinuxFrame;
    let out = linux_gup(&["--layout"])?;
    let found: Vec<(String, u64)> = out
        .lines()
        .filter_map(|l| l.split_once(" copy "))
        .map(|(n, o)| (n.to_string(), o.parse().unwrap_or(u64::MAX)))
        .collect();
    let model: Vec<(String, u64)> = LinuxFrame::COPIES
        .iter()
        .map(|(l, o)| (l.name().to_string(), *o))
        .collect();
    let after = format!("after {} {}", LinuxFrame::AFTER.0, LinuxFrame::AFTER.1);
    if found != model || !out.lines().any(|l| l == after) {
        return Err(
            format!("the model's Linux frame ({model:?}, then '{after}') is not the compiled one:\n{out}").into(),
        );
    }
    let quoted = quoted_block("docs/the-bug.md", "linux-layout")?;
    if quoted != out {
        return Err(format!("docs/the-bug.md's ```linux-layout block is not what --layout prints now:\n{out}").into());
    }
    Ok(())
}

fn hercules_hang_times_out_naming_the_test(k: &Path) -> Result<(), Failed> {
    let b = hercules(k, "test=boot::deliberate_hang", 1, Duration::from_secs(10))?;
    b.expect(
        b.timed_out() && b.has("not finished: boot::deliberate_hang"),
        "Hercules' run to time out naming boot::deliberate_hang",
    )
}

/// On `-cpu z900` (which QEMU's TCG runs, refusing none of the newer
/// instructions) the kernel stops at boot, naming the facilities of its z196
/// build the CPU lacks, with a failure status, before any job runs.
fn an_older_cpu_is_refused_naming_the_missing_facilities(k: &Path) -> Result<(), Failed> {
    let b = boot(k, "list", &["-cpu", "z900"], timeout())?;
    b.expect(
        b.status.is_some_and(|s| s != 0)
            && b.has("this CPU lacks facilities the kernel needs")
            && b.has(" 3 (DAT enhancement")
            && b.has(" 45 (distinct operands")
            && !b.has("gup::"),
        "a refusal naming facilities 3 and 45 and a failure status, no job run",
    )
}

fn panic_fails_the_run(k: &Path) -> Result<(), Failed> {
    let b = boot(k, "test=boot::deliberate_panic", &[], timeout())?;
    b.expect(
        b.status != Some(0) && b.has("kernel panic") && b.has("deliberate panic from boot::deliberate_panic"),
        "a reported panic and a failure status",
    )
}

fn failed_test_fails_the_run(k: &Path) -> Result<(), Failed> {
    let b = boot(k, "test=boot::deliberate_failure", &[], timeout())?;
    let p = parse(&b.output);
    let v = p.verdicts.get("boot::deliberate_failure");
    b.expect(
        matches!(v, Some(Verdict::Failed(m)) if m.contains("1 + 1 is not 3"))
            && b.status != Some(0)
            && p.summary == Some((0, 1, 0)),
        &format!("FAILED with the kernel's message, '0 passed, 1 failed' and status != 0 (verdict {v:?})"),
    )
}

fn unexpected_program_check_is_reported(k: &Path) -> Result<(), Failed> {
    let b = boot(k, "test=boot::unexpected_program_check", &[], timeout())?;
    let v = parse(&b.output).verdicts.get("boot::unexpected_program_check").cloned();
    b.expect(
        b.status != Some(0)
            && b.has("unexpected program check")
            && b.has("(operation exception)")
            && b.has("old PSW")
            && b.has("r0 -r3")
            && matches!(v, Some(Verdict::Failed(_))),
        &format!("a register dump, a FAILED verdict and a failure status (verdict {v:?})"),
    )
}

fn hang_times_out_naming_the_test(k: &Path) -> Result<(), Failed> {
    let b = boot(k, "test=boot::deliberate_hang", &[], Duration::from_secs(20))?;
    let p = parse(&b.output);
    b.expect(
        b.timed_out() && p.unfinished.as_deref() == Some("boot::deliberate_hang"),
        &format!(
            "a timeout naming boot::deliberate_hang (unfinished: {:?})",
            p.unfinished
        ),
    )
}

fn unknown_filter_lists_tests_and_fails(k: &Path) -> Result<(), Failed> {
    let b = boot(k, "test=no_such_test", &[], timeout())?;
    b.expect(
        b.status != Some(0)
            && b.has("unknown test filter 'no_such_test'")
            && b.has("boot::the_console_takes_every_write"),
        "the list of tests and a failure",
    )
}

fn too_little_memory_is_refused(k: &Path) -> Result<(), Failed> {
    let b = boot(k, "test", &["-m", "16M"], timeout())?;
    b.expect(
        b.status != Some(0)
            && b.has("too little memory: 16384 KiB, need at least 24576 KiB (the larger of foldkern's floor, 24 MiB,"),
        "'too little memory', the need and where it comes from, and a failure",
    )?;
    for (job, m, need) in [("bench=smoke", "127M", 128), ("bench", "1023M", 1024)] {
        let b = boot(k, job, &["-icount", "shift=0", "-m", m], timeout())?;
        b.expect(
            b.status != Some(0) && b.has(&format!("bench: {job} needs at least {need} MiB")) && !b.has("panic"),
            &format!("{job} with -m {m} refused before it runs"),
        )?;
    }
    Ok(())
}

fn more_cpus_than_foldkern_runs_are_named(k: &Path) -> Result<(), Failed> {
    let b = boot(
        k,
        "test=smp::every_cpu_runs_in_the_kernel_space",
        &["-smp", "9"],
        timeout(),
    )?;
    b.expect(
        b.status == Some(0) && b.has("smp: 8 of 9 CPUs online: foldkern runs at most 8"),
        "eight CPUs brought up, and the ninth named as left stopped",
    )
}

fn scenario_from_the_command_line(k: &Path) -> Result<(), Failed> {
    // 2 levels: the pre-fix walk steps off its copy at the 1 MiB crossing.
    let b = boot(k, "gup=2:0xfe000-0x102000", &[], timeout())?;
    b.expect(
        b.status == Some(0)
            && section(&b.output, "[pre-fix]").contains("walked off the stack copy")
            && b.has("verdict: both fixes agree with LRAG"),
        "the pre-fix walk off its copy and both fixes agreeing with LRAG",
    )?;
    // 1 GiB (the most a scenario takes) across a 2 GiB boundary.
    let b = boot(k, "gup=3:0x7ff00000-0xbff00000", &[], timeout())?;
    b.expect(
        b.status == Some(0) && b.has("traces not shown") && b.has("verdict: both fixes agree with LRAG"),
        "a 1 GiB scenario with results only and both fixes agreeing",
    )?;
    // A hole before the crossing: the walk never gets there, and the
    // prediction, made for the part it reaches, says so.
    let b = boot(
        k,
        "gup=3:0x1007fffe000-0x10080001000:hole=0x1007ffff000",
        &[],
        timeout(),
    )?;
    b.expect(
        b.status == Some(0)
            && b.has("prediction: the pre-fix walk stays on real tables")
            && !section(&b.output, "[pre-fix]").contains("walked off"),
        "a prediction and a pre-fix walk that both stop at the hole",
    )?;
    for bad in [
        "gup=7:0x1000-0x2000",
        "gup=3:0x1001-0x3000",
        "gup=2:0x7fffe000-0x80002000",
        "gup=3:0x2000-0x1000",
        "gup=3:0x1000-0x3000:hole=0x5000",
        "gup=3:0x1000-0x3000:hole=0x1800",
        "gup=3:0x1000-0x2000 trailing",
        "list extra",
        "tests",
    ] {
        let b = boot(k, bad, &[], timeout())?;
        b.expect(
            b.status != Some(0) && b.has("bad command line") && b.has("usage: one of demo"),
            &format!("'{bad}' refused with the usage line"),
        )?;
    }
    Ok(())
}

fn bench_smoke_is_deterministic(k: &Path) -> Result<(), Failed> {
    let b = boot(k, "bench=smoke", &["-icount", "shift=0"], timeout())?;
    let csv = csv_lines(&b.output).len();
    b.expect(
        b.status == Some(0)
            && b.has("deterministic: yes")
            && csv > 50
            && b.has("<svg")
            && b.has("dense 1 GiB")
            && b.has("cost inside one page table")
            && b.has("closest to <= 1.25x the floor")
            && b.has("met  the entry points with an empty hooks type cost what they cost without hooks")
            && b.output
                .lines()
                .any(|l| l.starts_with("  region-third") && l.contains("offset_lockless")),
        &format!("a deterministic run with tables, CSV (got {csv} rows), SVG and the fixed+per-page fit"),
    )
}

/// A scenario line as the kernel traced it and as the host's walk studied it.
struct Studied {
    /// The kernel's trace, read back.
    kernel: foldkern_host::pictures::Scenario,
    /// The same scenario walked on the host: pictures and explainer.
    host: foldkern_host::study::Study,
}

/// Scenario `line` (`spec` on the host) booted once and walked on the host
/// once, for both tests that hold the kernel's trace against the host's walk
/// (the pictures and the explainer); the second to ask waits for the first.
/// Kept by line and spec together, so one line never answers for another
/// spec.
fn studied(k: &Path, line: &str, spec: &foldkern_host::pictures::Spec) -> Result<Arc<Studied>, String> {
    type Slot = Arc<Mutex<Option<Result<Arc<Studied>, String>>>>;
    static DONE: Mutex<BTreeMap<String, Slot>> = Mutex::new(BTreeMap::new());
    let key = format!("{line} {spec:?}");
    let slot = DONE
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .entry(key)
        .or_default()
        .clone();
    // A test that panicked while studying leaves the slot empty: the next
    // one studies again and reports its own failure.
    let mut slot = slot.lock().unwrap_or_else(|e| e.into_inner());
    let result = slot.get_or_insert_with(|| {
        let b = boot(k, line, &[], timeout())?;
        if b.status != Some(0) {
            return Err(format!(
                "expected {line} to pass; got status {:?}:\n{}",
                b.status,
                b.tail(12)
            ));
        }
        let kernel =
            foldkern_host::pictures::parse(&b.output).ok_or(format!("no variant's trace in {line}'s output"))?;
        let host = foldkern_host::study::run(spec)?;
        Ok(Arc::new(Studied { kernel, host }))
    });
    result.clone()
}

/// The explainer page (`foldkern_host::explain`) of the seed with its decoy
/// and of one scenario per ASCE type: its steps are the kernel's trace of the
/// same scenario (level, addresses, and the table entry or copy read, step by
/// step, for every variant), and in headless Chromium
/// (`scripts/explainer-test.py`) it shows each step forward and back with the
/// word read highlighted, the final pinned-versus-reference table, and no text
/// outside its panel at 1000 and 1400 px; screenshots stay in
/// target/explain/shots.
fn the_explainer_in_a_real_browser_follows_the_kernel_s_trace(k: &Path) -> Result<(), Failed> {
    use foldkern_host::pictures::Place;
    let scenarios = foldkern_host::pictures::one_scenario_per_asce_type();
    let dir = root().join("target/explain");
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut pages = Vec::new();
    for (name, line, spec) in scenarios {
        let studied = studied(k, line, &spec)?;
        let (kernel, walks) = (&studied.kernel, &studied.host.walks);
        if walks.len() != kernel.variants.len() {
            return Err(format!(
                "{line}: {} walks explained, {} traced by the kernel",
                walks.len(),
                kernel.variants.len()
            )
            .into());
        }
        for (w, kv) in walks.iter().zip(&kernel.variants) {
            let ours: Vec<(String, String, String)> = w
                .steps
                .iter()
                .map(|s| {
                    let place = match s.place.split_once(" table 0x") {
                        Some((kind, rest)) => format!("{kind} [{}", rest.split_once('[').map_or("", |x| x.1)),
                        None => s.place.clone(),
                    };
                    (
                        s.level.to_string(),
                        format!("{:#015x} -> {:#015x}", s.addr, s.next),
                        place,
                    )
                })
                .collect();
            let theirs: Vec<(String, String, String)> = kv
                .steps
                .iter()
                .map(|s| {
                    let place = match &s.place {
                        Place::Table { kind, index, .. } => format!("{kind} [{index:#x}]"),
                        Place::Copy(c) => c.clone(),
                    };
                    (s.level.clone(), s.range.clone(), place)
                })
                .collect();
            if ours != theirs || w.name != kv.name {
                return Err(format!(
                    "{line}, {}: the explainer's steps are not the kernel's trace:\n{ours:#?}\n---\n{theirs:#?}",
                    w.name
                )
                .into());
            }
        }
        let path = dir.join(format!("{name}-explain.html"));
        std::fs::write(&path, foldkern_host::explain::html(line, walks)).unwrap();
        pages.push(path);
    }
    let out = Command::new("/usr/bin/python3")
        .arg(root().join("scripts/explainer-test.py"))
        .arg(dir.join("shots"))
        .args(&pages)
        .output()
        .map_err(|e| format!("/usr/bin/python3: {e} (install it with: sudo apt-get install python3 chromium chromium-driver python3-selenium)"))?;
    let text = String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    if !out.status.success() || text.lines().filter(|l| l.ends_with("as recorded")).count() != 2 * pages.len() {
        return Err(format!(
            "the explainer in headless Chromium (scripts/explainer-test.py; needs: sudo apt-get install chromium chromium-driver python3-selenium):\n{text}"
        )
        .into());
    }
    Ok(())
}

/// the same scenario, read back, must draw the same pictures (one scenario
/// per ASCE type, the seed among them), and the seed's are the ones
/// docs/pictures holds.
fn pictures_of_the_host_walk_are_the_kernel_trace_and_the_docs(k: &Path) -> Result<(), Failed> {
    use foldkern::mm::AsceType;
    let scenarios = foldkern_host::pictures::one_scenario_per_asce_type().map(|(_, line, spec)| (line, spec));
    for (k_line, spec) in scenarios {
        let studied = studied(k, k_line, &spec)?;
        let (kernel, host) = (&studied.kernel, &studied.host.scenario);
        let (from_kernel, from_host) = (
            foldkern_host::pictures::files("seed", k_line, kernel, true),
            foldkern_host::pictures::files("seed", k_line, host, true),
        );
        if from_host.len() != 7 || from_kernel.len() != from_host.len() {
            return Err(format!(
                "{k_line}: {} pictures from the host, {} from the kernel's trace",
                from_host.len(),
                from_kernel.len()
            )
            .into());
        }
        for ((name, body), (_, kbody)) in from_host.iter().zip(&from_kernel) {
            if body != kbody {
                return Err(format!("{k_line}, {name}: the host's walk draws differently from the kernel's trace:\n{body}\n---\n{kbody}").into());
            }
        }
        if spec.ty != AsceType::Region3 {
            continue;
        }
        // The committed seed pictures show the host walk's real (and, on the
        // host, reproducible) values, as the pictures job writes them.
        for (name, body) in foldkern_host::pictures::files("seed", k_line, host, false) {
            let path = root().join("docs/pictures").join(&name);
            let have = std::fs::read_to_string(&path).unwrap_or_default();
            if have != body {
                return Err(format!(
                    "{} differs from what the seed scenario draws now; regenerate with ./qemu-run.sh pictures gup=3:0x1007ffff000-0x10080001000:decoy=0x10000000000 docs/pictures seed",
                    path.display()
                )
                .into());
            }
        }
    }
    Ok(())
}

fn docs_quote_the_goals_against_linux(k: &Path) -> Result<(), Failed> {
    let b = boot(k, "bench", &["-icount", "shift=0", "-m", "2G"], timeout())?;
    b.expect(b.status == Some(0), "the full benchmark")?;
    let csv = csv_lines(&b.output);
    let path = std::env::temp_dir().join(format!("foldkern-results-{}.csv", std::process::id()));
    std::fs::write(&path, csv.join("\n") + "\n").unwrap();
    let out = Command::new("python3")
        .arg(root().join("scripts/linux-bench.py"))
        .arg("--goals")
        .arg(root().join("tests/data/linux-bench-output.txt"))
        .arg(&path)
        .output()
        .map_err(|e| format!("python3: {e}"))?;
    std::fs::remove_file(&path).ok();
    let goals = String::from_utf8_lossy(&out.stdout).to_string();
    let quoted = quoted_block("docs/bench.md", "goals")?;
    if !out.status.success() || goals != quoted {
        return Err(format!(
            "docs/bench.md's goals are not what this build and the saved Linux run give:\n{goals}{}",
            String::from_utf8_lossy(&out.stderr)
        )
        .into());
    }
    Ok(())
}

fn bench_full_scales_to_4_gib(k: &Path) -> Result<(), Failed> {
    let b = boot(k, "bench", &["-icount", "shift=0", "-m", "2G"], timeout())?;
    let scale = b
        .output
        .lines()
        .find(|l| l.starts_with("scale: one call of 1048576 pages"));
    b.expect(
        b.status == Some(0) && b.has("deterministic: yes") && scale.is_some_and(|l| l.contains("pin_user_pages_fast")),
        "the full benchmark, deterministic, with its 4 GiB call of each entry point",
    )
}

fn demo_shows_seed_failure_and_fixes(k: &Path) -> Result<(), Failed> {
    let b = boot(k, "demo", &[], timeout())?;
    b.expect(b.status == Some(0), "the demo to exit 0")?;
    // The pre-fix walk must stop exactly at the 2 GiB crossing, off the stack copy.
    let prefix = section(&b.output, "[pre-fix]");
    for want in [
        "invariant violated: pudp for 0x10080000000",
        "STOPPED: walked off the stack copy",
        "1 page(s) pinned before",
    ] {
        if !prefix.contains(want) {
            return Err(format!("pre-fix trace lacks '{want}':\n{prefix}").into());
        }
    }
    // Both fixes pin the same two frames, equal to LRAG.
    let a = pinned_line(&section(&b.output, "[addr_end_folded]"));
    let l = pinned_line(&section(&b.output, "[offset_lockless]"));
    if a.is_empty() || a != l || !a.contains("pinned 2 page(s)") || !a.contains("same frames as LRAG") {
        return Err(format!("fixed variants differ or are wrong:\n{a}\n{l}").into());
    }
    if !section(&b.output, "[next_entry]").contains("WRONG: the frames LRAG gives one top entry lower") {
        return Err("next_entry should pin the decoy page".into());
    }
    // Over Linux's own frame layout the pre-fix walk does not walk off: it
    // re-reads the stale region-third entry and pins the decoy, silently.
    let linux = section(&b.output, "[pre-fix, Linux's frame]");
    for want in [
        "(Linux's frame: the pgd copy, a region-third entry)",
        "=> pinned 2 page(s)",
        "WRONG: the frames LRAG gives one top entry lower",
    ] {
        if !linux.contains(want) || linux.contains("STOPPED") {
            return Err(format!("the Linux-frame trace lacks '{want}':\n{linux}").into());
        }
    }
    if !b.has("verdict: the bug reproduces on live tables") {
        return Err("no closing verdict".into());
    }
    Ok(())
}

fn main() {
    let args = Arguments::from_args();
    let kernel = build_kernel();
    let qemu = have_qemu();
    let mut trials = Vec::new();

    // The list of kernel tests comes from the kernel itself.
    let names: Result<Vec<String>, String> = match (&kernel, qemu) {
        (Err(e), _) => Err(e.clone()),
        (_, false) => Err(INSTALL.into()),
        (Ok(k), true) => boot(k, "list", &[], timeout()).and_then(|b| {
            if b.status != Some(0) {
                return Err(format!("listing kernel tests failed:\n{}", b.tail(20)));
            }
            let start = b
                .output
                .lines()
                .position(|l| l.starts_with("DAT:"))
                .map_or(0, |i| i + 1);
            Ok(b.output
                .lines()
                .skip(start)
                .filter(|l| !l.is_empty() && !l.ends_with("(explicit)"))
                .map(str::to_string)
                .collect())
        }),
    };
    let names = match names {
        Ok(n) => n,
        Err(e) => {
            trials.push(Trial::test("kernel::suite", move || Err(e.into())));
            libtest_mimic::run(&args, trials).exit();
        }
    };
    let kernel = kernel.unwrap();

    let selected = |full: &str| -> bool {
        let by_filter = match &args.filter {
            None => true,
            Some(f) if args.exact => full == f,
            Some(f) => full.contains(f.as_str()),
        };
        by_filter && !args.skip.iter().any(|s| full.contains(s.as_str()))
    };
    let wanted: Vec<&String> = names.iter().filter(|n| selected(&format!("kernel::{n}"))).collect();
    let run: Option<Result<Boot, String>> = if args.list || wanted.is_empty() {
        None
    } else {
        let named = format!(
            "test={}",
            wanted.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(",")
        );
        // The kernel takes at most 32 filters, and QEMU a command line of at
        // most 896 bytes: past either, run the whole suite (only the selected
        // tests are reported).
        let filter = if wanted.len() == names.len() || wanted.len() > 24 || named.len() > 800 {
            "test".to_string()
        } else {
            named
        };
        // Two CPUs, so the SMP tests run too; -smp 1 is covered by the other shapes.
        Some(boot(&kernel, &filter, &["-smp", "2"], timeout()))
    };
    let parsed = run.as_ref().map(|r| r.as_ref().map(|b| (parse(&b.output), b)));
    for n in &names {
        let name = format!("kernel::{n}");
        let result: Result<(), String> = match &parsed {
            None => Ok(()),
            Some(Err(e)) => Err(e.to_string()),
            Some(Ok((p, b))) => match p.verdicts.get(n) {
                Some(Verdict::Ok) => Ok(()),
                Some(Verdict::Failed(m)) => Err(m.clone()),
                Some(Verdict::Skipped(why)) => {
                    eprintln!("kernel test {n} skipped: {why}");
                    trials.push(Trial::test(name, || Ok(())).with_ignored_flag(true));
                    continue;
                }
                None if b.timed_out() => Err(format!(
                    "timed out after {:?}: kernel test {} started but did not finish\n{}",
                    b.timeout,
                    p.unfinished.clone().unwrap_or_else(|| "(none)".into()),
                    b.tail(10)
                )),
                None => Err(format!(
                    "no result: the kernel stopped (status {:?}) before this test\n{}",
                    b.status,
                    b.tail(10)
                )),
            },
        };
        trials.push(Trial::test(name, move || result.map_err(Failed::from)));
    }

    // The same suite on Hercules, a second implementation of the architecture,
    // at one and two CPUs: each kernel test reported once, by name.
    let on_hercules: Vec<&String> = names
        .iter()
        .filter(|n| selected(&format!("hercules::kernel::{n}")))
        .collect();
    if !args.list && !on_hercules.is_empty() {
        let runs = [1, 2].map(|cpus| (cpus, hercules(&kernel, "test", cpus, timeout())));
        for n in &names {
            let name = format!("hercules::kernel::{n}");
            match hercules_verdict(n, &runs.iter().map(|(c, r)| (*c, r)).collect::<Vec<_>>()) {
                Ok(false) => trials.push(Trial::test(name, || Ok(())).with_ignored_flag(true)),
                r => trials.push(Trial::test(name, move || r.map(|_| ()).map_err(Failed::from))),
            }
        }
    } else {
        for n in &names {
            trials.push(Trial::test(format!("hercules::kernel::{n}"), || Ok(())));
        }
    }

    for &(label, extra) in SHAPES {
        harness(&mut trials, &kernel, &format!("suite_passes_with_{label}"), move |k| {
            check_suite(&boot(k, "test", extra, timeout())?, label)
        });
    }
    for (name, check) in HARNESS {
        harness(&mut trials, &kernel, name, *check);
    }
    libtest_mimic::run(&args, trials).exit();
}
