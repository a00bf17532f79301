//! Shared host fixtures: a leaked arena, its allocator and page map.
#![allow(dead_code)]
use foldkern::gup::{GupFast, GupFlags, GupOutcome, PageMap, Variant, WalkStack};
use foldkern::mm::host::HostPlatform;
use foldkern::mm::{AddressSpace, FrameAllocator, PhysAddr, PAGE_SIZE};
use spin::Mutex;
use std::sync::atomic::AtomicU32;

/// A host "machine".
pub struct Host {
    pub plat: &'static HostPlatform,
    pub frames: &'static Mutex<FrameAllocator>,
    pub pagemap: &'static PageMap,
    pub stack: WalkStack,
}

pub fn host(mib: u64, edat: bool) -> Host {
    let mut p = HostPlatform::new(mib << 20);
    p.edat1 = edat;
    p.edat2 = edat;
    let plat: &'static HostPlatform = Box::leak(Box::new(p));
    let frames: &'static Mutex<FrameAllocator> = Box::leak(Box::new(Mutex::new(plat.allocator())));
    let n = ((mib << 20) / PAGE_SIZE) as usize;
    let pins: &'static [AtomicU32] = Box::leak((0..n).map(|_| AtomicU32::new(0)).collect::<Vec<_>>().into_boxed_slice());
    let pagemap: &'static PageMap = Box::leak(Box::new(PageMap::new(pins)));
    let sf = frames.lock().alloc_frame().unwrap();
    let stack = WalkStack::new(plat, sf);
    Host { plat, frames, pagemap, stack }
}

pub type Space = AddressSpace<'static, HostPlatform>;

impl Host {
    pub fn gup(&self, s: &Space, v: Variant, start: u64, n: usize, flags: GupFlags) -> (GupOutcome, Vec<PhysAddr>) {
        let mut pages = vec![PhysAddr(0); n];
        let g = GupFast { plat: self.plat, asce: s.asce(), pagemap: self.pagemap, stack: self.stack, variant: v, check_invariant: true, trace: None };
        let o = foldkern::gup::gup_fast(g, start, n, flags, &mut pages);
        pages.truncate(o.pinned);
        foldkern::gup::unpin_user_pages(self.pagemap, &pages).unwrap();
        (o, pages)
    }
    /// Frames the software translation gives, up to the first page gup may not pin.
    pub fn expected(&self, s: &Space, start: u64, n: usize, write: bool) -> Vec<PhysAddr> {
        let mut v = Vec::new();
        for i in 0..n as u64 {
            match s.lookup(start.wrapping_add(i * PAGE_SIZE)).unwrap() {
                Some(t) if !t.special && (!write || t.write) => v.push(PhysAddr(t.pa.0 & !0xfff)),
                _ => break,
            }
        }
        v
    }
}
