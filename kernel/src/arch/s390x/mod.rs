//! IBM Z (z/Architecture) support: boot entry, lowcore, interruption handlers, the
//! SCLP console, the privileged instructions, and the [`Platform`](foldkern::mm::Platform)
//! implementation that lets the portable page-table code drive live hardware tables.
pub mod ebcdic;
pub mod entry;
pub mod halt;
pub mod insn;
pub mod lowcore;
pub mod platform;
#[macro_use]
pub mod sclp;
pub mod smp;
pub mod traps;
