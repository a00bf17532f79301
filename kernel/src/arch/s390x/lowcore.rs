//! The lowcore: the first 8 KiB of each CPU's prefix area, where the machine stores
//! old PSWs and interruption codes and fetches new PSWs (PoP chapter 3, "Assigned
//! Storage Locations"). Offsets below 0x200 are architected; 0x200..0x340 is this
//! kernel's per-CPU software area. All accesses are volatile real-address accesses
//! (the kernel's own space maps page 0 to real 0, which prefixing makes per-CPU).
// The architected offsets are listed in full, used or not, to read next to the PoP.
#![allow(dead_code)]
use core::ptr::NonNull;
use volatile::VolatilePtr;

/// Most CPUs this kernel drives (each has a lowcore of its own).
pub const MAX_CPUS: usize = 8;

/// Program-interruption ILC (instruction length in bytes, halfword).
pub const PGM_ILC: usize = 0x8c;
/// Program-interruption code (halfword).
pub const PGM_CODE: usize = 0x8e;
/// Translation-exception identification (failing address and space bits).
pub const TEID: usize = 0xa8;
/// External-interruption parameter (word; the SCCB address for a service signal).
pub const EXT_PARAMS: usize = 0x80;
/// External-interruption code (halfword) and CPU address of the signaller.
pub const EXT_CODE: usize = 0x86;
/// External-interruption CPU address (halfword).
pub const EXT_CPU_ADDR: usize = 0x84;

/// External-interruption codes (PoP "External Interruption"), as stored at
/// [`EXT_CODE`]: the clock
/// comparator (the tick).
pub const EXT_CLOCK_COMPARATOR: u16 = 0x1004;
/// Emergency signal (SIGP).
pub const EXT_EMERGENCY_SIGNAL: u16 = 0x1201;
/// External call (SIGP).
pub const EXT_EXTERNAL_CALL: u16 = 0x1202;
/// Service signal: an SCLP command completed.
pub const EXT_SERVICE_SIGNAL: u16 = 0x2401;

/// Old PSWs.
pub const RESTART_OLD_PSW: usize = 0x120;
/// External old PSW.
pub const EXT_OLD_PSW: usize = 0x130;
/// SVC old PSW.
pub const SVC_OLD_PSW: usize = 0x140;
/// Program old PSW.
pub const PGM_OLD_PSW: usize = 0x150;
/// Machine-check old PSW.
pub const MCCK_OLD_PSW: usize = 0x160;
/// I/O old PSW.
pub const IO_OLD_PSW: usize = 0x170;
/// New PSWs, in the order restart, external, SVC, program, machine check, I/O.
pub const RESTART_NEW_PSW: usize = 0x1a0;
/// External new PSW.
pub const EXT_NEW_PSW: usize = 0x1b0;
/// SVC new PSW.
pub const SVC_NEW_PSW: usize = 0x1c0;
/// Program new PSW.
pub const PGM_NEW_PSW: usize = 0x1d0;
/// Machine-check new PSW.
pub const MCCK_NEW_PSW: usize = 0x1e0;
/// I/O new PSW.
pub const IO_NEW_PSW: usize = 0x1f0;

// Software area (entry.rs's assembly takes these as constants).
/// Register save area of the program-check handler (16 doublewords).
pub const PGM_SAVE: usize = 0x200;
/// Register save area of the external/other handlers (16 doublewords).
pub const EXT_SAVE: usize = 0x280;
/// Stack top used by the program-check handler.
pub const PGM_STACK: usize = 0x300;
/// Stack top used by the external-interruption handler.
pub const EXT_STACK: usize = 0x308;
/// Stack top a secondary CPU starts on after SIGP RESTART.
pub const BOOT_STACK: usize = 0x310;
/// This CPU's logical index (0 = boot CPU).
pub const CPU_INDEX: usize = 0x318;
/// Nesting depth of the program-check handler.
pub const PGM_DEPTH: usize = 0x320;
/// Which unexpected interruption class was taken (for the generic handler).
pub const INT_CLASS: usize = 0x328;

fn ptr<T>(off: usize) -> VolatilePtr<'static, T> {
    // SAFETY: `off` is one of the lowcore offsets above, suitably aligned for `T`;
    // the lowcore is always mapped (real page 0 of this CPU) and never moves.
    unsafe { VolatilePtr::new(NonNull::new_unchecked(off as *mut T)) }
}

/// Read a lowcore field.
pub fn read<T: Copy + 'static>(off: usize) -> T {
    ptr::<T>(off).read()
}

/// Write a lowcore field.
pub fn write<T: Copy + 'static>(off: usize, val: T) {
    ptr::<T>(off).write(val)
}

/// Read a PSW (mask, address) stored at `off`.
pub fn read_psw(off: usize) -> [u64; 2] {
    [read::<u64>(off), read::<u64>(off + 8)]
}

/// Write a PSW (mask, address) at `off`.
pub fn write_psw(off: usize, psw: [u64; 2]) {
    write::<u64>(off, psw[0]);
    write::<u64>(off + 8, psw[1]);
}

/// Logical index of the executing CPU.
pub fn cpu_index() -> usize {
    read::<u64>(CPU_INDEX) as usize
}
