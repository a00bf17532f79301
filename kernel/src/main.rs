//! The kernel binary, in layers, each using only those below it:
//!
//! 1. this file: boot, then the job the command line (`-append`) names;
//! 2. [`cmd`] (demo, scenarios, benchmark, the command line) and [`kunit`] (the
//!    in-kernel tests and their runner), which never use each other;
//! 3. [`kernel`]: the state every job shares, and bring-up;
//! 4. [`arch`]: the machine (entry, traps, SCLP, SMP, instructions, halting);
//! 5. the portable library, `foldkern` (`mm`, `gup`), another crate.
//!
//! The compiler keeps the library below (it cannot name this crate); inside
//! this crate `tests/lints.rs` keeps the order of 1 to 4. On the host this file
//! builds a stub (the workspace leaves this crate out of host builds, but
//! `cargo build -p foldkern-kernel` still compiles for the host).
#![cfg_attr(target_arch = "s390x", no_std, no_main)]
#![cfg_attr(target_arch = "s390x", warn(missing_docs))]
#![cfg_attr(not(target_arch = "s390x"), allow(dead_code, unused_imports))]
// A failing kernel test carries its message inline (`TestFail`, a fixed buffer:
// the kernel has no heap), so results are large by design.
#![allow(clippy::result_large_err, clippy::large_enum_variant)]

#[cfg(target_arch = "s390x")]
#[macro_use]
mod arch;
#[cfg(target_arch = "s390x")]
mod cmd;
#[cfg(target_arch = "s390x")]
mod kernel;
#[cfg(target_arch = "s390x")]
mod kunit;

#[cfg(target_arch = "s390x")]
#[no_mangle]
extern "C" fn kernel_main() -> ! {
    use arch::s390x::halt::{exit_failure, exit_success};
    use cmd::cmdline::{self, Job};
    kernel::boot();
    kernel::print_machine();
    let line = kernel::cmdline().unwrap_or_else(|e| {
        println!("the command line is not UTF-8 text ({e})\n{}", cmdline::USAGE);
        exit_failure("bad command line")
    });
    match cmdline::parse(line) {
        Ok(Job::Demo) => cmd::demo::run(),
        Ok(Job::Test(filters)) => kunit::run(filters),
        Ok(Job::List) => {
            kunit::list();
            exit_success()
        }
        Ok(Job::Bench(full)) => cmd::bench::run(full),
        Ok(Job::Scenario(s)) => cmd::demo::scenario(&s),
        Err(e) => {
            println!(
                "command line '{}': {e}\n{}",
                cmdline::Escaped(line.trim()),
                cmdline::USAGE
            );
            exit_failure("bad command line")
        }
    }
}

#[cfg(not(target_arch = "s390x"))]
fn main() {
    eprintln!(
        "foldkern is an s390x kernel: build it with `./qemu-run.sh` (or cargo build --target s390x-unknown-linux-gnu)"
    );
    std::process::exit(2);
}
