//! The kernel's [`Platform`]: table memory is reached through the identity map with
//! volatile accesses, invalidation uses the real IPTE/IDTE (M4=0: all CPUs), and an
//! upgraded ASCE is reloaded into whichever of CR1/CR7/CR13 holds the old one.
//! Also the helpers that access memory *through* another address space: they load
//! its ASCE into CR7 and run one instruction in secondary-space mode, so the
//! kernel's own code keeps running from its primary (identity) space.
use super::insn::{self, Lra};
use super::traps::{expect_pgm, ProgramCheck};
use core::arch::asm;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use foldkern::mm::platform::IrqFlags;
use foldkern::mm::{Asce, Level, PhysAddr, Platform, VirtAddr};

/// Live-hardware platform (a unit struct: all state is the machine's).
pub struct KernelPlatform;

/// Shared instance.
pub static PLATFORM: KernelPlatform = KernelPlatform;

static MEM_END: AtomicU64 = AtomicU64::new(0);
static EDAT1: AtomicBool = AtomicBool::new(false);
static EDAT2: AtomicBool = AtomicBool::new(false);

/// Record machine facts the platform reports.
pub fn init(mem_end: u64, edat1: bool, edat2: bool) {
    MEM_END.store(mem_end, Ordering::Relaxed);
    EDAT1.store(edat1, Ordering::Relaxed);
    EDAT2.store(edat2, Ordering::Relaxed);
}

impl Platform for KernelPlatform {
    unsafe fn read_u64(&self, pa: PhysAddr) -> u64 {
        debug_assert!(pa.as_u64().is_multiple_of(8) && pa.as_u64() < self.mem_end().as_u64());
        // SAFETY: the caller passes an 8-aligned address below the end of
        // memory (the contract; checked above in debug builds), and all memory
        // is identity-mapped, so the load reaches that doubleword of storage.
        unsafe { core::ptr::read_volatile(pa.as_u64() as *const u64) }
    }
    unsafe fn write_u64(&self, pa: PhysAddr, val: u64) {
        debug_assert!(pa.as_u64().is_multiple_of(8) && pa.as_u64() < self.mem_end().as_u64());
        // SAFETY: as for read_u64; the contract makes the word the caller's.
        unsafe { core::ptr::write_volatile(pa.as_u64() as *mut u64, val) }
    }
    fn mem_end(&self) -> PhysAddr {
        PhysAddr::new(MEM_END.load(Ordering::Relaxed))
    }
    fn ipte(&self, pto: PhysAddr, addr: VirtAddr) {
        // SAFETY: `pto` is a live page table of an address space the caller holds.
        unsafe { insn::ipte(pto.as_u64(), addr) }
    }
    fn idte(&self, table: PhysAddr, level: Level, addr: VirtAddr) {
        let dt = level.type_bits();
        // SAFETY: `table` is a live CRST of `level`; DT = its type. The address is
        // cut to the entry's index bits: bits 44-51 must be zero (else
        // specification exception) and bits 53-63 (additional entries) too.
        unsafe { insn::idte(table.as_u64() | dt, addr & level.mask()) }
    }
    fn asce_changed(&self, old: Asce, new: Asce) {
        // SAFETY: `new` maps everything `old` did at the same addresses (upgrade
        // only adds levels), so reloading a CR holding `old` keeps code running.
        unsafe {
            if insn::stctg::<1>() == old.val() {
                insn::lctlg::<1>(new.val());
            }
            if insn::stctg::<7>() == old.val() {
                insn::lctlg::<7>(new.val());
            }
            if insn::stctg::<13>() == old.val() {
                insn::lctlg::<13>(new.val());
            }
        }
        insn::ptlb();
    }
    fn edat1(&self) -> bool {
        EDAT1.load(Ordering::Relaxed)
    }
    fn edat2(&self) -> bool {
        EDAT2.load(Ordering::Relaxed)
    }
    fn grace_period(&self) {
        if !super::smp::grace_period() {
            super::halt::exit_failure("grace period failed");
        }
    }
    fn sync_lockless_walkers(&self) {
        if !super::smp::sync_all() {
            super::halt::exit_failure("walker synchronisation failed");
        }
    }
    #[inline(always)]
    fn local_irq_save(&self, flags: &mut IrqFlags) {
        // STNSM stores the old mask straight into `flags`.
        insn::stnsm_into::<0xfc>(&mut flags.0);
    }
    #[inline(always)]
    fn local_irq_restore(&self, flags: &IrqFlags) {
        // SAFETY: restores a mask local_irq_save saved on this CPU (or
        // IrqFlags' default, every interruption class off).
        unsafe { insn::ssm(&flags.0) };
    }
}

/// Make `asce` the secondary address space (CR7) if it is not already.
fn set_secondary(asce: Asce) {
    if insn::stctg::<7>() != asce.val() {
        // SAFETY: CR7 is only used by the secondary-space helpers below; the
        // primary space (CR1) that the kernel runs in is untouched.
        unsafe { insn::lctlg::<7>(asce.val()) };
    }
}

/// Load a doubleword at `addr` translated through `asce` (secondary-space mode).
pub fn load_via(asce: Asce, addr: VirtAddr) -> Result<u64, ProgramCheck> {
    set_secondary(asce);
    expect_pgm(|| {
        let mut v: u64 = 0;
        // SAFETY: SACF 256 switches operand translation to CR7 for the one LG; a
        // failing translation is caught by expect_pgm, which skips the LG. Code
        // keeps being fetched through the primary space.
        unsafe {
            asm!("sacf 256", "lg {v},0({a})", "sacf 0", v = inout(reg) v, a = in(reg_addr) addr, options(nostack))
        };
        v
    })
}

/// Load a doubleword at `addr` in the primary space (CR1), the one the kernel's
/// own code and data are reached through.
pub fn load_primary(addr: VirtAddr) -> Result<u64, ProgramCheck> {
    expect_pgm(|| {
        let mut v: u64 = 0;
        // SAFETY: one LG in the current (primary) space; a failing translation
        // is caught by expect_pgm, which skips it. The frame is the caller's.
        unsafe { asm!("lg {v},0({a})", v = inout(reg) v, a = in(reg_addr) addr, options(nostack)) };
        v
    })
}

/// Store a doubleword at `addr` translated through `asce`.
pub fn store_via(asce: Asce, addr: VirtAddr, val: u64) -> Result<(), ProgramCheck> {
    set_secondary(asce);
    expect_pgm(|| {
        // SAFETY: as in load_via; the store goes to whatever frame `asce` maps,
        // which tests own.
        unsafe {
            asm!("sacf 256", "stg {v},0({a})", "sacf 0", v = in(reg) val, a = in(reg_addr) addr, options(nostack))
        };
    })
}

/// LRAG of `addr` through `asce`.
pub fn lrag_via(asce: Asce, addr: VirtAddr) -> Lra {
    set_secondary(asce);
    let mut res: u64 = 0;
    let mut cc: u64 = 0;
    let pc = expect_pgm(|| {
        // SAFETY: one asm block, so nothing the compiler emits (spills to the
        // stack) runs in secondary-space mode; LRAG only reads tables. A program
        // check LRAG cannot report in its cc is caught and skips the LRAG; the
        // SACF 0 after it still runs.
        unsafe {
            asm!("sacf 256", "lrag {r},0({a})", "ipm {c}", "sacf 0", "srlg {c},{c},28",
                 r = inout(reg) res, a = in(reg_addr) addr, c = inout(reg) cc, options(nostack));
        }
    });
    match pc {
        Ok(()) => match cc & 3 {
            0 => Lra::Real(res),
            1 => Lra::InvalidSegmentEntry(res),
            2 => Lra::InvalidPageEntry(res),
            // Bits 0-31 of R1 are left unchanged: only bits 32-63 are the answer.
            _ if res & 0x8000_0000 != 0 => Lra::Exception((res & 0xffff) as u16),
            _ => Lra::PastTable(res as u32),
        },
        Err(p) => Lra::ProgramCheck(p.code),
    }
}
