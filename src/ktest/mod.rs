//! The in-kernel test framework. Tests are registered where they are written, with
//! [`kernel_test!`], as statics in the `.kernel_tests` linker section; the runner
//! iterates that section, so there is no hand-kept list. Output, one line per test:
//! `test <name> ... ok`, `... FAILED: <why>`, `... skipped: <why>`, then
//! `N passed, N failed, N skipped`. The host harness (`tests/kernel.rs`) parses it.
use crate::arch::s390x::sclp;
use crate::kernel;
use core::fmt::{self, Write};

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
}

impl KernelTest {
    /// Name as reported: module path below `tests::`, then the function.
    pub fn full_name(&self) -> Name {
        let m = self.module.strip_prefix("foldkern::tests").unwrap_or(self.module);
        let m = m.strip_prefix("::").unwrap_or(m);
        let mut n = Name { buf: [0; 128], len: 0 };
        if m.is_empty() {
            let _ = write!(n, "{}", self.name);
        } else {
            let _ = write!(n, "{m}::{}", self.name);
        }
        n
    }
}

/// A short fixed-size string (no heap in the kernel).
pub struct Name {
    buf: [u8; 128],
    len: usize,
}

impl Name {
    /// The text.
    pub fn as_str(&self) -> &str {
        core::str::from_utf8(&self.buf[..self.len]).unwrap_or("?")
    }
}

impl Write for Name {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let n = s.len().min(self.buf.len() - self.len);
        self.buf[self.len..self.len + n].copy_from_slice(&s.as_bytes()[..n]);
        self.len += n;
        Ok(())
    }
}

/// Why a test did not pass.
pub enum TestFail {
    /// It failed; the message says what was expected and what happened.
    Failed(Msg),
    /// It could not run here; the reason says why.
    Skipped(&'static str),
}

impl TestFail {
    /// The message or the reason for skipping. (Not `Display`: that would clash
    /// with the `From<impl Display>` that `?` uses.)
    pub fn text(&self) -> &str {
        match self {
            TestFail::Failed(m) => m.as_str(),
            TestFail::Skipped(r) => r,
        }
    }
}

/// A failure message (fixed buffer).
pub struct Msg {
    buf: [u8; 480],
    len: usize,
}

impl Msg {
    /// Format a message.
    pub fn new(args: fmt::Arguments) -> Msg {
        let mut m = Msg { buf: [0; 480], len: 0 };
        let _ = m.write_fmt(args);
        m
    }
    /// The text.
    pub fn as_str(&self) -> &str {
        core::str::from_utf8(&self.buf[..self.len]).unwrap_or("?")
    }
}

impl Write for Msg {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for c in s.chars() {
            let c = if c == '\n' { ' ' } else { c };
            let mut b = [0; 4];
            let e = c.encode_utf8(&mut b);
            if self.len + e.len() > self.buf.len() {
                break;
            }
            self.buf[self.len..self.len + e.len()].copy_from_slice(e.as_bytes());
            self.len += e.len();
        }
        Ok(())
    }
}

impl<E: fmt::Display> From<E> for TestFail {
    fn from(e: E) -> Self {
        TestFail::Failed(Msg::new(format_args!("{e}")))
    }
}

/// Result of a kernel test.
pub type TestResult = Result<(), TestFail>;

/// Register a kernel test: `kernel_test!(fn name() { ... Ok(()) })`, or
/// `kernel_test!(explicit fn name() { ... })` for one that runs only when named.
macro_rules! kernel_test {
    (@reg $explicit:expr, $(#[$m:meta])*, $name:ident, $body:block) => {
        $(#[$m])*
        fn $name() -> $crate::ktest::TestResult $body
        const _: () = {
            #[link_section = ".kernel_tests"]
            #[used]
            static TEST: $crate::ktest::KernelTest = $crate::ktest::KernelTest {
                module: module_path!(),
                name: stringify!($name),
                run: $name,
                explicit: $explicit,
            };
        };
    };
    ($(#[$m:meta])* explicit fn $name:ident() $body:block) => { kernel_test!(@reg true, $(#[$m])*, $name, $body); };
    ($(#[$m:meta])* fn $name:ident() $body:block) => { kernel_test!(@reg false, $(#[$m])*, $name, $body); };
}
pub(crate) use kernel_test;

/// Fail the test unless `cond` holds.
macro_rules! check {
    ($cond:expr, $($arg:tt)+) => {
        if !$cond {
            return Err($crate::ktest::TestFail::Failed($crate::ktest::Msg::new(format_args!($($arg)+))));
        }
    };
}
pub(crate) use check;

/// Fail the test unless `a == b`, showing both.
macro_rules! check_eq {
    ($a:expr, $b:expr, $($arg:tt)+) => {{
        let (a, b) = (&$a, &$b);
        if a != b {
            return Err($crate::ktest::TestFail::Failed($crate::ktest::Msg::new(format_args!(
                "{}: got {:x?}, expected {:x?}", format_args!($($arg)+), a, b))));
        }
    }};
}
pub(crate) use check_eq;

/// Skip the test with a reason.
#[allow(unused_macros)]
macro_rules! skip {
    ($why:expr) => {
        return Err($crate::ktest::TestFail::Skipped($why))
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
    let mut filters: [&str; 32] = [""; 32];
    let mut nf = 0;
    for f in filter.split(',').map(str::trim).filter(|f| !f.is_empty()) {
        if nf == filters.len() {
            kernel::exit_failure("too many test filters (32 at most)");
        }
        filters[nf] = f;
        nf += 1;
    }
    let filters = &filters[..nf];
    for f in filters {
        if !all().iter().any(|t| selected(t, core::slice::from_ref(f))) {
            println!("unknown test filter '{f}'; available tests:");
            list();
            kernel::exit_failure("unknown test filter");
        }
    }
    crate::kernel::start_secondaries();
    let total = all().iter().filter(|t| selected(t, filters)).count();
    println!("running {total} kernel tests");
    let (mut passed, mut failed, mut skipped) = (0, 0, 0);
    for t in all().iter().filter(|t| selected(t, filters)) {
        print!("test {} ... ", t.full_name().as_str());
        sclp::CONSOLE.lock().flush();
        let free_before = kernel::frames().lock().free_count();
        let pins_before = kernel::pagemap().total_pins();
        let mut r = (t.run)();
        let free_after = kernel::frames().lock().free_count();
        let pins_after = kernel::pagemap().total_pins();
        if r.is_ok() && free_after != free_before {
            r = Err(TestFail::Failed(Msg::new(format_args!(
                "leaked {} frames ({} free before, {} after)",
                free_before as i64 - free_after as i64,
                free_before,
                free_after
            ))));
        }
        if r.is_ok() && pins_after != pins_before {
            r = Err(TestFail::Failed(Msg::new(format_args!(
                "pins unbalanced: {pins_before} before, {pins_after} after"
            ))));
        }
        match r {
            Ok(()) => {
                passed += 1;
                println!("ok");
            }
            Err(TestFail::Failed(m)) => {
                failed += 1;
                println!("FAILED: {}", m.as_str());
            }
            Err(TestFail::Skipped(why)) => {
                skipped += 1;
                println!("skipped: {why}");
            }
        }
    }
    println!("{passed} passed, {failed} failed, {skipped} skipped");
    if failed == 0 {
        kernel::exit_success()
    }
    kernel::exit_failure("kernel tests failed")
}
