//! `foldkern`: the portable half of a reference kernel for IBM Z dynamic page-table
//! folding and the 2020 Linux bug "mm/gup: fix gup_fast with dynamic page table
//! folding".
//!
//! Everything here compiles for the s390x kernel *and* for the host: entry types,
//! ASCE and level arithmetic, the Linux-shaped walk API with run-time folding,
//! address spaces (map/unmap/protect/upgrade), the frame allocator, and `gup_fast`
//! with its pre-fix and fixed variants. Memory and the privileged instructions are
//! reached only through [`mm::Platform`]: live hardware in the kernel
//! (`kernel/src/arch/s390x/platform.rs`), a bounds-checked arena on the host
//! (`mm::host::HostPlatform`, host builds only).
//!
//! The crates are the layers: this library names neither the kernel
//! (`kernel/`, the s390x binary) nor the host's study code (`host/`: the
//! cross-architecture model, the pictures, the harness), which both use it.
#![no_std]
#![warn(missing_docs)]

#[cfg(not(target_arch = "s390x"))]
extern crate std;

pub mod gup;
pub mod mm;
