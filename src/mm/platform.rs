//! The one seam between portable page-table code and the machine: memory access to
//! table storage and the privileged TLB/ASCE operations. The kernel implements it
//! with volatile loads through the identity map and real IPTE/IDTE/LCTLG
//! (`kernel/src/arch/s390x/platform.rs`); the host with a bounds-checked arena that
//! records every flush (`super::host::HostPlatform`, host builds only).
use super::addr::{PhysAddr, VirtAddr};
use super::entry::Asce;
use super::level::Level;

/// The interrupt state [`Platform::local_irq_save`] saves (Linux's `unsigned
/// long flags`; on s390 the system-mask byte STNSM stores).
#[derive(Clone, Copy, Debug, Default)]
pub struct IrqFlags(pub u8);

/// Memory and privileged operations the page-table code needs.
///
/// Memory is reached by physical address through [`Platform::read_u64`] and
/// [`Platform::write_u64`], which are `unsafe`: in the kernel they reach any
/// doubleword of storage. The host's arena checks every access
/// (`super::host::HostPlatform`, whose inherent methods of the same names are
/// safe for that reason).
pub trait Platform {
    /// Read the doubleword at `pa` exactly once (`READ_ONCE`).
    ///
    /// # Safety
    ///
    /// `pa` is 8-byte aligned and below [`Platform::mem_end`]. Reading has no
    /// side effect, so any such word may be read: a table of a space the
    /// caller holds, its own frame or stack slot, or, in a lockless walk, a
    /// table the walk reached, which interrupts disabled and the grace period
    /// before frees keep from being reused under it.
    unsafe fn read_u64(&self, pa: PhysAddr) -> u64;
    /// Write the doubleword at `pa` exactly once (`WRITE_ONCE`).
    ///
    /// # Safety
    ///
    /// `pa` is 8-byte aligned, below [`Platform::mem_end`], and the word is
    /// the caller's to write: an entry of a table of a space it holds
    /// exclusively (`&mut`), a frame it allocated, or its own stack slot. A
    /// write anywhere else corrupts memory the rest of the kernel relies on.
    unsafe fn write_u64(&self, pa: PhysAddr, val: u64);
    /// One past the last byte of memory: table origins beyond it are corrupt.
    fn mem_end(&self) -> PhysAddr;
    /// IPTE: invalidate the PTE for `addr` in the page table at `pto` (sets its I
    /// bit) and purge every TLB entry derived from it (Linux `__ptep_ipte`).
    fn ipte(&self, pto: PhysAddr, addr: VirtAddr);
    /// IDTE: invalidate the entry for `addr` in the CRST at `table` of `level`
    /// (sets its I bit) and purge TLB entries derived from it (Linux `__pmdp_idte`,
    /// `__pudp_idte`).
    fn idte(&self, table: PhysAddr, level: Level, addr: VirtAddr);
    /// An address space replaced its ASCE (upgrade): reload any control register
    /// holding `old` and purge the TLB (Linux `crst_table_upgrade`'s reload).
    fn asce_changed(&self, old: Asce, new: Asce);
    /// Whether EDAT-1 (facility 8: 1 MiB segment frames) is installed.
    fn edat1(&self) -> bool {
        false
    }
    /// Whether EDAT-2 (facility 78: 2 GiB region-third frames) is installed.
    fn edat2(&self) -> bool {
        false
    }
    /// Wait for a grace period: until every other CPU has passed a point
    /// outside any lockless walk since this call began. s390 Linux frees page
    /// tables this way (MMU_GATHER_RCU_TABLE_FREE: `tlb_remove_table` batches
    /// them, and the batch is freed after an RCU-sched grace period, which a
    /// walk with interrupts disabled holds up). The normal path before
    /// unhooked tables, or a dropped space's, are freed.
    fn grace_period(&self) {}
    /// Wait until every CPU has been outside any lockless walk at least once
    /// (Linux `tlb_remove_table_sync_one`: an IPI every CPU must acknowledge, which
    /// a CPU walking with interrupts disabled cannot do before its walk ends).
    /// The fallback when a table cannot join a batch (`tlb_remove_table_one`).
    fn sync_lockless_walkers(&self) {}
    /// `local_irq_save(flags)`: disable interrupts on this CPU, the old state
    /// into `flags` (which stays in memory until the restore).
    fn local_irq_save(&self, _flags: &mut IrqFlags) {}
    /// `local_irq_restore(flags)`.
    fn local_irq_restore(&self, _flags: &IrqFlags) {}
    /// Run `f` with interrupts disabled on this CPU, the bracket of the
    /// lockless walk.
    #[inline(always)]
    fn irq_disabled<R>(&self, f: impl FnOnce() -> R) -> R {
        let mut flags = IrqFlags::default();
        self.local_irq_save(&mut flags);
        let r = f();
        self.local_irq_restore(&flags);
        r
    }
    /// Fill `bytes` at `pa` with copies of `val`.
    ///
    /// # Safety
    ///
    /// As for [`Platform::write_u64`], for every word of the range.
    unsafe fn fill(&self, pa: PhysAddr, bytes: u64, val: u64) {
        let mut off = 0;
        while off < bytes {
            // SAFETY: the caller's contract covers every word of the range.
            unsafe { self.write_u64(pa.add(off), val) };
            off += 8;
        }
    }
}
