//! The in-kernel test framework. Tests are registered where they are written, with
//! [`kernel_test!`], as statics in the `.kernel_tests` linker section; the runner
//! iterates that section, so there is no hand-kept list. Output is KTAP v1
//! (Linux's `Documentation/dev-tools/ktap.rst`, as KUnit prints it): one
//! subtest per module, `ok`/`not ok` per test with `# SKIP <why>`, a
//! diagnostic `# running: <name>` before each test and, before a failure,
//! `# <name>: FAILED: <why>` and `# <name>: checks: <its doc>`, the plan lines, KUnit's per-suite and total
//! counts, then `N passed, N failed, N skipped`. The host harness
//! (`tests/kernel.rs`) parses it, and so does Linux's own `kunit.py parse`.
//!
//! Every test asserts an outcome read from live hardware tables: what LRAG
//! returns, what a load through the mapping reads, which program interruption
//! an access raises. The assertions on those outcomes live here.
pub mod boot;
pub mod gup;
pub mod mm;
pub mod smp;

use crate::arch::s390x::halt::{exit_failure, exit_success};
use crate::arch::s390x::insn::Lra;
use crate::arch::s390x::platform::{self, PLATFORM};
use crate::arch::s390x::sclp;
use crate::arch::s390x::traps::{self, ProgramCheck};
use crate::kernel::spaces::Space;
use crate::kernel::{self, Msg};
use core::fmt;
use foldkern::mm::entry::Entry;
use foldkern::mm::{Level, Platform, VirtAddr};

/// A registered kernel test.
#[repr(C)]
pub struct KernelTest {
    /// `module_path!()` of the test.
    pub module: &'static str,
    /// Function name.
    pub name: &'static str,
    /// The test.
    pub run: fn() -> TestResult,
    /// Run only when named exactly (deliberate failures for the harness's own tests).
    pub explicit: bool,
    /// Its doc comment: what it checks, against which PoP or Linux fact.
    pub doc: &'static str,
}

impl KernelTest {
    /// Its module path below `kunit::`, if it is in a module below it.
    pub fn module_below_kunit(&self) -> Option<&'static str> {
        let m = self.module.strip_prefix("foldkern::kunit").unwrap_or(self.module);
        m.strip_prefix("::")
    }
    /// Name as reported: module path below `kunit::`, then the function.
    pub fn full_name(&self) -> Msg {
        match self.module_below_kunit() {
            Some(m) => Msg::new(format_args!("{m}::{}", self.name)),
            None => Msg::new(format_args!("{}", self.name)),
        }
    }
}

/// Why a test did not pass.
pub enum TestFail {
    /// It failed; the message says what was expected and what happened.
    Failed(Msg),
    /// It could not run here; the reason says why.
    Skipped(&'static str),
}

impl<E: fmt::Display> From<E> for TestFail {
    fn from(e: E) -> Self {
        TestFail::Failed(Msg::from(e))
    }
}

impl From<Msg> for TestFail {
    fn from(m: Msg) -> Self {
        TestFail::Failed(m)
    }
}

/// Result of a kernel test.
pub type TestResult = Result<(), TestFail>;

/// Register a kernel test: `kernel_test!(fn name() { ... Ok(()) })`, or
/// `kernel_test!(explicit fn name() { ... })` for one that runs only when named.
macro_rules! kernel_test {
    (@reg $explicit:expr, $(#[doc = $doc:expr])*, $name:ident, $body:block) => {
        $(#[doc = $doc])*
        fn $name() -> $crate::kunit::TestResult $body
        const _: () = {
            #[link_section = ".kernel_tests"]
            #[used]
            static TEST: $crate::kunit::KernelTest = $crate::kunit::KernelTest {
                module: module_path!(),
                name: stringify!($name),
                run: $name,
                explicit: $explicit,
                doc: concat!($($doc, "\n"),*),
            };
        };
    };
    ($(#[doc = $doc:expr])* explicit fn $name:ident() $body:block) => { kernel_test!(@reg true, $(#[doc = $doc])*, $name, $body); };
    ($(#[doc = $doc:expr])* fn $name:ident() $body:block) => { kernel_test!(@reg false, $(#[doc = $doc])*, $name, $body); };
}
pub(crate) use kernel_test;

/// Fail the test unless `cond` holds.
macro_rules! check {
    ($cond:expr, $($arg:tt)+) => {
        if !$cond {
            return Err($crate::kunit::TestFail::Failed($crate::kernel::Msg::new(format_args!($($arg)+))));
        }
    };
}
pub(crate) use check;

/// Fail the test unless `a == b`, showing both.
macro_rules! check_eq {
    ($a:expr, $b:expr, $($arg:tt)+) => {{
        let (a, b) = (&$a, &$b);
        if a != b {
            return Err($crate::kunit::TestFail::Failed($crate::kernel::Msg::new(format_args!(
                "{}: got {:x?}, expected {:x?}", format_args!($($arg)+), a, b))));
        }
    }};
}
pub(crate) use check_eq;

/// Skip the test with a reason.
#[allow(unused_macros)]
macro_rules! skip {
    ($why:expr) => {
        return Err($crate::kunit::TestFail::Skipped($why))
    };
}
#[allow(unused_imports)]
pub(crate) use skip;

// Linker symbols, never called from C: only their addresses are used.
#[allow(improper_ctypes)]
extern "C" {
    static __kernel_tests_start: KernelTest;
    static __kernel_tests_end: KernelTest;
}

/// Every registered test.
pub fn all() -> &'static [KernelTest] {
    // SAFETY: the linker script places only `KernelTest` statics (8-aligned, same
    // type) between these two symbols.
    unsafe {
        let start = &__kernel_tests_start as *const KernelTest;
        let end = &__kernel_tests_end as *const KernelTest;
        core::slice::from_raw_parts(start, end.offset_from(start) as usize)
    }
}

fn selected(t: &KernelTest, filters: &[&str]) -> bool {
    let name = t.full_name();
    if filters.is_empty() {
        return !t.explicit;
    }
    filters.iter().any(|f| {
        if t.explicit {
            name.as_str() == *f
        } else {
            name.as_str().contains(f)
        }
    })
}

/// Print every test name, one per line (`-append list`).
pub fn list() {
    for t in all() {
        println!(
            "{}{}",
            t.full_name().as_str(),
            if t.explicit { " (explicit)" } else { "" }
        );
    }
}

/// Run the tests the comma-separated `filter` selects (all if empty) and end QEMU
/// with the verdict.
pub fn run(filter: &str) -> ! {
    // The command line has checked: at most 32 filters, none empty.
    let mut filters: [&str; 32] = [""; 32];
    let mut nf = 0;
    for f in filter.split(',').filter(|f| !f.is_empty()) {
        filters[nf] = f;
        nf += 1;
    }
    let filters = &filters[..nf];
    for f in filters {
        if !all().iter().any(|t| selected(t, core::slice::from_ref(f))) {
            println!("unknown test filter '{f}'; available tests:");
            list();
            exit_failure("unknown test filter");
        }
    }
    kernel::start_secondaries();
    // KTAP v1 (Linux's Documentation/dev-tools/ktap.rst), as KUnit prints it:
    // one subtest per module, each test's result inside it.
    let mut suites: [&str; 16] = [""; 16];
    let mut ns = 0;
    for t in all().iter().filter(|t| selected(t, filters)) {
        let m = suite_of(t);
        if !suites[..ns].contains(&m) {
            assert!(ns < suites.len(), "more than {} test modules", suites.len());
            suites[ns] = m;
            ns += 1;
        }
    }
    println!("KTAP version 1");
    println!("1..{ns}");
    let (mut passed, mut failed, mut skipped) = (0, 0, 0);
    for (si, suite) in suites[..ns].iter().enumerate() {
        let tests = || all().iter().filter(|t| selected(t, filters) && suite_of(t) == *suite);
        let n = tests().count();
        println!("    KTAP version 1");
        println!("    # Subtest: {suite}");
        println!("    1..{n}");
        let (mut sp, mut sf, mut ss) = (0, 0, 0);
        for (ti, t) in tests().enumerate() {
            let name = t.full_name();
            // A diagnostic line before the test: a hang is then named.
            println!("    # running: {}", name.as_str());
            sclp::CONSOLE.lock().flush();
            match run_one(t) {
                Ok(()) => {
                    sp += 1;
                    println!("    ok {} {}", ti + 1, t.name);
                }
                Err(TestFail::Failed(m)) => {
                    sf += 1;
                    for line in m.as_str().lines() {
                        println!("    # {}: FAILED: {line}", name.as_str());
                    }
                    // What the test holds the machine to: its doc's first
                    // paragraph (the PoP or Linux fact it checks against).
                    for line in t.doc.lines().map(str::trim).take_while(|l| !l.is_empty()) {
                        println!("    # {}: checks: {line}", name.as_str());
                    }
                    println!("    not ok {} {}", ti + 1, t.name);
                }
                Err(TestFail::Skipped(why)) => {
                    ss += 1;
                    println!("    ok {} {} # SKIP {why}", ti + 1, t.name);
                }
            }
        }
        println!("# {suite}: pass:{sp} fail:{sf} skip:{ss} total:{n}");
        let verdict = if sf > 0 { "not ok" } else { "ok" };
        println!("{verdict} {} {suite}{}", si + 1, if ss == n { " # SKIP" } else { "" });
        (passed, failed, skipped) = (passed + sp, failed + sf, skipped + ss);
    }
    println!(
        "# Totals: pass:{passed} fail:{failed} skip:{skipped} total:{}",
        passed + failed + skipped
    );
    println!("{passed} passed, {failed} failed, {skipped} skipped");
    if failed == 0 {
        exit_success()
    }
    exit_failure("kernel tests failed")
}

/// The KTAP subtest (suite) a test reports under: its module below `kunit::`.
fn suite_of(t: &KernelTest) -> &'static str {
    t.module_below_kunit().unwrap_or("kunit")
}

/// Run one test, failing it on leaked frames or unbalanced pins.
fn run_one(t: &KernelTest) -> TestResult {
    let free_before = kernel::frames().lock().free_count();
    let pins_before = kernel::pagemap().total_pins();
    let r = (t.run)();
    let free_after = kernel::frames().lock().free_count();
    let pins_after = kernel::pagemap().total_pins();
    if r.is_ok() && free_after != free_before {
        return Err(TestFail::Failed(Msg::new(format_args!(
            "leaked {} frames ({} free before, {} after)",
            free_before as i64 - free_after as i64,
            free_before,
            free_after
        ))));
    }
    if r.is_ok() && pins_after != pins_before {
        return Err(TestFail::Failed(Msg::new(format_args!(
            "pins unbalanced: {pins_before} before, {pins_after} after"
        ))));
    }
    r
}

/// Check one mapped page against the hardware: LRAG equals the software walk,
/// a store through the mapping lands in the frame (read through the identity
/// map) and a load through the mapping reads it back.
pub fn verify_page(s: &Space, va: VirtAddr) -> TestResult {
    let Some(t) = s.lookup(va)? else {
        check!(false, "{va:#x} should be mapped");
        return Ok(());
    };
    let lra = platform::lrag_via(s.asce(), va);
    check_eq!(lra, Lra::Real(t.pa.as_u64()), "LRAG of {va:#x}");
    let pattern = 0xf01d_0000_0000_0000 ^ va;
    if t.write {
        platform::store_via(s.asce(), va + 8, pattern).map_err(|pc| pc_fail(pc, va))?;
        check_eq!(
            // SAFETY: a word of the frame `s` maps at `va`, which the test owns.
            unsafe { PLATFORM.read_u64(t.pa.add(8)) },
            pattern,
            "frame word after storing through {va:#x}"
        );
    } else {
        // SAFETY: a word of the frame `s` maps at `va`, which the test owns.
        unsafe { PLATFORM.write_u64(t.pa.add(8), pattern) };
    }
    let v = platform::load_via(s.asce(), va + 8).map_err(|pc| pc_fail(pc, va))?;
    check_eq!(v, pattern, "load through {va:#x}");
    Ok(())
}

/// Check an access to `va` raises `code` (load, or store if `write`), with the
/// TEID naming the page, LRAG agreeing, and the software predicting it.
pub fn verify_fault(s: &Space, va: VirtAddr, code: u16, write: bool) -> TestResult {
    if !write {
        check_eq!(s.expected_exception(va)?, Some(code), "software prediction for {va:#x}");
    }
    let r = if write {
        platform::store_via(s.asce(), va, 1).map(|_| 0)
    } else {
        platform::load_via(s.asce(), va)
    };
    match r {
        Ok(v) => check!(
            false,
            "access to {va:#x} succeeded (read {v:#x}), expected code {code:#x}"
        ),
        Err(pc) => {
            check_eq!(pc.code, code, "program-interruption code for {va:#x} ({})", pc.name());
            check_eq!(pc.teid_addr(), va & !0xfff, "TEID address for {va:#x}");
            check_old_psw(&pc)?;
        }
    }
    if !write {
        check_lrag(s, va)?;
    }
    Ok(())
}

/// What the PoP says LRAG answers for `va` in `s`, from the software walk:
/// the real address, cc 1 or 2 with the address of the invalid segment or
/// page-table entry, or cc 3 with the exception of an invalid region entry
/// (or of an address beyond the ASCE type).
pub fn pop_lra(s: &Space, va: VirtAddr) -> Result<Lra, TestFail> {
    let Some(path) = s.hw_walk(va)? else {
        return Ok(Lra::Exception(0x38));
    };
    Ok(match path.end() {
        (_, Entry::Leaf(leaf)) => Lra::Real(leaf.translate(va).as_u64()),
        (ptr, _) => match ptr.level() {
            Level::Pmd => Lra::InvalidSegmentEntry(ptr.addr().as_u64()),
            Level::Pte => Lra::InvalidPageEntry(ptr.addr().as_u64()),
            l => Lra::Exception(l.translation_exception()),
        },
    })
}

/// QEMU's answer where it departs from the PoP's `want` (its TCG reports every
/// failed translation, translation specification included, as cc 3 with the
/// exception code); `want` elsewhere.
pub fn on_this_machine(want: Lra) -> Lra {
    if !kernel::machine().is_qemu() {
        return want;
    }
    match want {
        Lra::InvalidSegmentEntry(_) | Lra::PastTable(_) => Lra::Exception(0x10),
        Lra::InvalidPageEntry(_) => Lra::Exception(0x11),
        // Translation specification and addressing too: program checks in the PoP.
        Lra::ProgramCheck(code) => Lra::Exception(code),
        w => w,
    }
}

/// LRAG of `va` gives what the PoP says ([`pop_lra`]), or on QEMU what QEMU
/// answers instead ([`on_this_machine`]).
pub fn check_lrag(s: &Space, va: VirtAddr) -> TestResult {
    let want = pop_lra(s, va)?;
    let got = platform::lrag_via(s.asce(), va);
    check!(
        got == on_this_machine(want),
        "LRAG of {va:#x}: got {got:x?}; the PoP says {want:x?}{}",
        if kernel::machine().is_qemu() {
            " (QEMU: cc 3 with the exception code)"
        } else {
            ""
        }
    );
    Ok(())
}

/// The old PSW of an access exception caught in `platform::load_via`/`store_via`:
/// ILC 6, and the instruction address at the LG/STG when the exception
/// nullifies (translation exceptions), just past it when it suppresses
/// (protection, translation specification, addressing). This is what the
/// handler's resume-after rule (`traps::is_nullifying`) rests on.
pub fn check_old_psw(pc: &ProgramCheck) -> TestResult {
    check_eq!(pc.ilc, 6, "ILC of the faulting access ({})", pc.name());
    let at = if traps::is_nullifying(pc.code) {
        pc.addr
    } else {
        pc.addr.wrapping_sub(6)
    };
    let (lo, hi) = kernel::machine().kernel;
    check!(
        at >= lo && at <= hi - 6,
        "old PSW {:#x} of a {} is outside the kernel image",
        pc.addr,
        pc.name()
    );
    // SAFETY: `at..at + 6` lies inside the kernel image (checked above), which
    // the kernel space maps readable at its own address.
    let insn = unsafe { core::ptr::read_volatile(at as *const [u8; 6]) };
    check!(
        insn[0] == 0xe3 && matches!(insn[5], 0x04 | 0x24),
        "old PSW {:#x} of a {}: the instruction at {at:#x} is {insn:02x?}, not the LG/STG",
        pc.addr,
        pc.name()
    );
    Ok(())
}

fn pc_fail(pc: ProgramCheck, va: VirtAddr) -> TestFail {
    TestFail::Failed(Msg::new(format_args!(
        "access through {va:#x} raised {:#x} ({}) TEID {:#x}",
        pc.code,
        pc.name(),
        pc.teid
    )))
}
