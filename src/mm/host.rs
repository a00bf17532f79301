//! Host backend: "physical memory" is an arena of doublewords; every access is
//! bounds- and alignment-checked (a stray read is a reported error, not UB), and the
//! privileged operations are recorded so tests can assert on invalidations.
extern crate std;
use super::addr::{PhysAddr, VirtAddr, PAGE_SIZE};
use super::entry::{Asce, PteBits, RegionBits};
use super::frame::{storage_words, FrameAllocator};
use super::level::Level;
use super::platform::Platform;
use core::cell::{Cell, RefCell};
use std::boxed::Box;
use std::vec;
use std::vec::Vec;

/// A privileged operation the host backend was asked to perform.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flush {
    /// IPTE(page table origin, address).
    Ipte(PhysAddr, VirtAddr),
    /// IDTE(table, level, address).
    Idte(PhysAddr, Level, VirtAddr),
    /// ASCE replaced.
    AsceChanged(Asce, Asce),
    /// Synchronised with lockless walkers by IPI (the fallback).
    Sync,
    /// Waited for a grace period (the normal path before freeing tables).
    GracePeriod,
}

/// Memory arena plus flush log.
pub struct HostPlatform {
    mem: Vec<Cell<u64>>,
    /// Every flush, in order.
    pub flushes: RefCell<Vec<Flush>>,
    /// Pretend EDAT-1 is installed.
    pub edat1: bool,
    /// Pretend EDAT-2 is installed.
    pub edat2: bool,
    /// When set, every access must hit a frame this allocator has handed out:
    /// a read or write of free memory (a freed table, say) is reported at once.
    pub strict: Cell<Option<&'static spin::Mutex<FrameAllocator>>>,
}

impl HostPlatform {
    /// `bytes` of zeroed memory at physical 0.
    pub fn new(bytes: u64) -> HostPlatform {
        HostPlatform {
            mem: vec![Cell::new(0); (bytes / 8) as usize],
            flushes: RefCell::new(Vec::new()),
            edat1: false,
            edat2: false,
            strict: Cell::new(None),
        }
    }
    fn cell(&self, pa: PhysAddr) -> &Cell<u64> {
        assert!(pa.is_aligned(8), "host memory: misaligned access at {pa}");
        if let Some(fa) = self.strict.get() {
            // The allocator may be locked by our own caller (allocating); then skip.
            if let Some(fa) = fa.try_lock() {
                assert!(
                    fa.is_allocated(pa),
                    "host memory: access to free memory at {pa} (use after free?)"
                );
            }
        }
        match self.mem.get((pa.0 / 8) as usize) {
            Some(c) => c,
            None => panic!("host memory: access outside memory at {pa}"),
        }
    }
    /// A frame allocator over this memory, with frame 0 reserved (like the lowcore).
    pub fn allocator(&self) -> FrameAllocator {
        let n = (self.mem.len() as u64 * 8 / PAGE_SIZE) as usize;
        let (a, b) = storage_words(n);
        let mut f = FrameAllocator::new(
            n,
            Box::leak(vec![0; a].into_boxed_slice()),
            Box::leak(vec![0; b].into_boxed_slice()),
        );
        f.reserve(PhysAddr(0), PhysAddr(PAGE_SIZE));
        f
    }
}

impl HostPlatform {
    /// Read the doubleword at `pa`: safe, because the arena checks it (a
    /// misaligned or outside access, or with `strict` one of free memory,
    /// panics).
    pub fn read_u64(&self, pa: PhysAddr) -> u64 {
        self.cell(pa).get()
    }
    /// Write the doubleword at `pa`, checked as [`HostPlatform::read_u64`].
    pub fn write_u64(&self, pa: PhysAddr, val: u64) {
        self.cell(pa).set(val)
    }
    /// Fill `bytes` at `pa` with copies of `val`, each word checked.
    pub fn fill(&self, pa: PhysAddr, bytes: u64, val: u64) {
        (0..bytes / 8).for_each(|i| self.write_u64(pa.add(i * 8), val));
    }
}

impl Platform for HostPlatform {
    unsafe fn read_u64(&self, pa: PhysAddr) -> u64 {
        HostPlatform::read_u64(self, pa)
    }
    unsafe fn write_u64(&self, pa: PhysAddr, val: u64) {
        HostPlatform::write_u64(self, pa, val)
    }
    fn mem_end(&self) -> PhysAddr {
        PhysAddr(self.mem.len() as u64 * 8)
    }
    fn ipte(&self, pto: PhysAddr, addr: VirtAddr) {
        let pte = pto.add(Level::Pte.index(addr) as u64 * 8);
        self.write_u64(pte, self.read_u64(pte) | PteBits::I.bits());
        self.flushes.borrow_mut().push(Flush::Ipte(pto, addr));
    }
    fn idte(&self, table: PhysAddr, level: Level, addr: VirtAddr) {
        let e = table.add(level.index(addr) as u64 * 8);
        self.write_u64(e, self.read_u64(e) | RegionBits::I.bits());
        self.flushes.borrow_mut().push(Flush::Idte(table, level, addr));
    }
    fn asce_changed(&self, old: Asce, new: Asce) {
        self.flushes.borrow_mut().push(Flush::AsceChanged(old, new));
    }
    fn sync_lockless_walkers(&self) {
        self.flushes.borrow_mut().push(Flush::Sync);
    }
    fn grace_period(&self) {
        self.flushes.borrow_mut().push(Flush::GracePeriod);
    }
    fn edat1(&self) -> bool {
        self.edat1
    }
    fn edat2(&self) -> bool {
        self.edat2
    }
}
