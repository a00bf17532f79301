//! The kernel binary: boot, console, machine facts, the identity-mapped DAT space,
//! then either the narrated demo, the in-kernel test suite, a user scenario, or the
//! benchmark, as the command line (`-append`) says. On the host this file builds a
//! stub, so `cargo test` can compile the crate for the host.
#![cfg_attr(target_arch = "s390x", no_std, no_main)]
#![cfg_attr(target_arch = "s390x", warn(missing_docs))]
#![cfg_attr(not(target_arch = "s390x"), allow(dead_code, unused_imports))]
// A failing kernel test carries its message inline (`TestFail`, a fixed buffer:
// the kernel has no heap), so results are large by design.
#![allow(clippy::result_large_err, clippy::large_enum_variant)]

#[cfg(target_arch = "s390x")]
#[macro_use]
mod kprint;
#[cfg(target_arch = "s390x")]
mod arch;
#[cfg(target_arch = "s390x")]
mod bench;
#[cfg(target_arch = "s390x")]
mod kernel;
#[cfg(target_arch = "s390x")]
mod ktest;
#[cfg(target_arch = "s390x")]
mod tests;

#[cfg(target_arch = "s390x")]
pub use kernel::{exit_failure, exit_success};

#[cfg(not(target_arch = "s390x"))]
fn main() {
    eprintln!(
        "foldkern is an s390x kernel: build it with `./qemu-run.sh` (or cargo build --target s390x-unknown-linux-gnu)"
    );
    std::process::exit(2);
}
