//! A deterministic stand-in for another CPU, for tests: a [`Platform`] that runs
//! one action (a store, an IPTE) right after the k-th read of one doubleword, so a
//! race with a lockless walker happens at exactly the read chosen. Everything
//! else goes to the platform underneath, interrupt masking included.
use super::addr::{PhysAddr, VirtAddr};
use super::entry::Asce;
use super::level::Level;
use super::platform::{IrqFlags, Platform};
use core::cell::Cell;

/// `inner`, plus `action` run once, right after the `after`-th read of `at`
/// (counting from 1; 0 = never). The reader keeps the value it read; every
/// later read sees what the action left.
pub struct RacingWrite<'a, P: Platform + ?Sized, F: Fn(&P)> {
    inner: &'a P,
    at: PhysAddr,
    after: u32,
    action: F,
    reads: Cell<u32>,
}

/// The action of a [`RacingWrite`] that only counts.
pub type Nothing<P> = fn(&P);

impl<'a, P: Platform + ?Sized, F: Fn(&P)> RacingWrite<'a, P, F> {
    /// Run `action` on `inner` right after the `after`-th read of `at`.
    pub fn new(inner: &'a P, at: PhysAddr, after: u32, action: F) -> Self {
        RacingWrite {
            inner,
            at,
            after,
            action,
            reads: Cell::new(0),
        }
    }
    /// Reads of `at` so far.
    pub fn reads(&self) -> u32 {
        self.reads.get()
    }
}

impl<'a, P: Platform + ?Sized> RacingWrite<'a, P, Nothing<P>> {
    /// Only count the reads of `at`.
    pub fn counting(inner: &'a P, at: PhysAddr) -> Self {
        let nothing: Nothing<P> = |_| {};
        RacingWrite::new(inner, at, 0, nothing)
    }
}

impl<P: Platform + ?Sized, F: Fn(&P)> Platform for RacingWrite<'_, P, F> {
    unsafe fn read_u64(&self, pa: PhysAddr) -> u64 {
        // SAFETY: the caller keeps the contract, which is the inner platform's.
        let v = unsafe { self.inner.read_u64(pa) };
        if pa == self.at {
            self.reads.set(self.reads.get() + 1);
            if self.reads.get() == self.after {
                (self.action)(self.inner);
            }
        }
        v
    }
    unsafe fn write_u64(&self, pa: PhysAddr, val: u64) {
        // SAFETY: the caller keeps the contract, which is the inner platform's.
        unsafe { self.inner.write_u64(pa, val) }
    }
    fn mem_end(&self) -> PhysAddr {
        self.inner.mem_end()
    }
    fn ipte(&self, pto: PhysAddr, addr: VirtAddr) {
        self.inner.ipte(pto, addr)
    }
    fn idte(&self, table: PhysAddr, level: Level, addr: VirtAddr) {
        self.inner.idte(table, level, addr)
    }
    fn asce_changed(&self, old: Asce, new: Asce) {
        self.inner.asce_changed(old, new)
    }
    fn edat1(&self) -> bool {
        self.inner.edat1()
    }
    fn edat2(&self) -> bool {
        self.inner.edat2()
    }
    fn sync_lockless_walkers(&self) {
        self.inner.sync_lockless_walkers()
    }
    fn grace_period(&self) {
        self.inner.grace_period()
    }
    #[inline(always)]
    fn local_irq_save(&self, flags: &mut IrqFlags) {
        self.inner.local_irq_save(flags)
    }
    fn local_irq_restore(&self, flags: &IrqFlags) {
        self.inner.local_irq_restore(flags)
    }
    unsafe fn fill(&self, pa: PhysAddr, bytes: u64, val: u64) {
        // SAFETY: the caller keeps the contract, which is the inner platform's.
        unsafe { self.inner.fill(pa, bytes, val) }
    }
}
