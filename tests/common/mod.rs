//! Shared host fixtures: a leaked arena, its allocator and page map.
#![allow(dead_code)]
use foldkern::gup::{
    GupContext, GupError, GupFast, GupFlags, GupOutcome, Page, PageMap, StructPage, Variant, WalkStack,
};
use foldkern::mm::host::HostPlatform;
use foldkern::mm::race::RacingWrite;
use foldkern::mm::{AddressSpace, FrameAllocator, PhysAddr, Platform, PAGE_SIZE};
use spin::Mutex;

/// A host "machine".
pub struct Host {
    pub plat: &'static HostPlatform,
    pub frames: &'static Mutex<FrameAllocator>,
    pub pagemap: &'static PageMap,
    pub stack: WalkStack,
}

type Parts = (&'static HostPlatform, &'static Mutex<FrameAllocator>, &'static PageMap);

thread_local! {
    /// Machines are reused per thread (reset on every `host()` call) so that
    /// thousands of property-test cases do not each leak an arena.
    static MACHINES: std::cell::RefCell<Vec<((u64, bool), Parts)>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// The physical address `v` (short for `PhysAddr::new`, which tests write often).
pub const fn pa(v: u64) -> PhysAddr {
    PhysAddr::new(v)
}

/// A fresh machine of `mib` MiB (zeroed memory, all frames free but frame 0,
/// no pins), with EDAT-1/EDAT-2 modelled when `edat`.
pub fn host(mib: u64, edat: bool) -> Host {
    let (plat, frames, pagemap) = MACHINES.with(|m| {
        let mut m = m.borrow_mut();
        if let Some((_, parts)) = m.iter().find(|(k, _)| *k == (mib, edat)) {
            return *parts;
        }
        let mut p = HostPlatform::new(mib << 20);
        p.edat1 = edat;
        p.edat2 = edat;
        let plat: &'static HostPlatform = Box::leak(Box::new(p));
        let frames: &'static Mutex<FrameAllocator> = Box::leak(Box::new(Mutex::new(plat.allocator())));
        let n = ((mib << 20) / PAGE_SIZE) as usize;
        let pages: &'static [StructPage] = Box::leak(
            (0..n)
                .map(|_| StructPage::default())
                .collect::<Vec<_>>()
                .into_boxed_slice(),
        );
        let pagemap: &'static PageMap = Box::leak(Box::new(PageMap::new(pages)));
        let parts = (plat, frames, pagemap);
        m.push(((mib, edat), parts));
        parts
    });
    plat.strict.set(None);
    plat.fill(pa(0), mib << 20, 0);
    plat.flushes.borrow_mut().clear();
    *frames.lock() = plat.allocator();
    pagemap.reset();
    let sf = frames.lock().alloc_frame().unwrap();
    // SAFETY: a frame allocated for the walker's stack, held while the host is.
    let stack = unsafe { WalkStack::new(plat, sf) };
    // From here on any access to memory the allocator has not handed out panics.
    plat.strict.set(Some(frames));
    Host {
        plat,
        frames,
        pagemap,
        stack,
    }
}

pub type Space = AddressSpace<'static, HostPlatform>;

impl Host {
    /// A new, empty address space of type `ty` on this machine.
    pub fn space(&self, ty: foldkern::mm::AsceType) -> Space {
        AddressSpace::new(self.plat, self.frames, ty).unwrap()
    }
    /// gup_fast with the invariant checked; unpins before returning. The walk is
    /// built with and without its explaining hooks, and the benchmark and
    /// `get_user_pages_fast` run it without, so every call also runs that build
    /// and insists both pin the same frames and stop the same way.
    pub fn gup(&self, s: &Space, v: Variant, start: u64, n: usize, flags: GupFlags) -> (GupOutcome, Vec<Page>) {
        let (plain, plain_pages) = self.gup_once(self.plat, s, v, start, n, flags, false);
        let (o, pages) = self.gup_once(self.plat, s, v, start, n, flags, true);
        assert_eq!(
            (plain.error, &plain_pages, plain.violations),
            (o.error, &pages, 0),
            "{v:?} {start:#x}+{n}: the walk without hooks differs from the explained one"
        );
        (o, pages)
    }
    /// The gup context of `s` on this machine, walking with `variant`.
    pub fn ctx<'c>(&'c self, s: &'c mut Space, variant: Variant) -> GupContext<'c, 'static, HostPlatform> {
        GupContext {
            space: s,
            pagemap: self.pagemap,
            stack: self.stack,
            variant,
            hooks: foldkern::gup::NoHooks,
        }
    }
    /// `gup_locked` on this machine (a fault takes this machine's frames).
    pub fn gup_locked(
        &self,
        s: &mut Space,
        start: u64,
        n: usize,
        flags: GupFlags,
        pages: &mut [Page],
    ) -> Result<usize, GupError> {
        foldkern::gup::gup_locked(
            &mut self.ctx(s, Variant::OffsetLockless),
            start,
            n,
            flags.or_get(),
            pages,
        )
    }
    /// `get_user_pages_fast` with the merged fix on this machine; with POPULATE in
    /// `flags` it faults holes in from this machine's frames.
    pub fn get_user_pages_fast(
        &self,
        s: &mut Space,
        start: u64,
        n: usize,
        flags: GupFlags,
        pages: &mut [Page],
    ) -> Result<(usize, GupOutcome), GupError> {
        foldkern::gup::get_user_pages_fast(&mut self.ctx(s, Variant::OffsetLockless), start, n, flags, pages)
    }
    /// Pages the software translation gives, up to the first page gup may not pin.
    pub fn expected(&self, s: &Space, start: u64, n: usize, write: bool) -> Vec<Page> {
        let mut v = Vec::new();
        for i in 0..n as u64 {
            match s.lookup(start.wrapping_add(i * PAGE_SIZE)).unwrap() {
                Some(t) if !t.special && (!write || t.write) => v.push(Page::of(t.pa)),
                _ => break,
            }
        }
        v
    }
}

impl Host {
    /// One plain gup_fast call on `plat` (no invariant checker: its extra walks
    /// would add reads); unpins before returning.
    pub fn gup_on<P: Platform>(
        &self,
        plat: &P,
        s: &Space,
        v: Variant,
        start: u64,
        n: usize,
        flags: GupFlags,
    ) -> (GupOutcome, Vec<Page>) {
        self.gup_once(plat, s, v, start, n, flags, false)
    }
    /// One gup_fast call on `plat`, the invariant checked or not; unpins before
    /// returning the outcome and the frames pinned.
    #[allow(clippy::too_many_arguments)]
    fn gup_once<P: Platform>(
        &self,
        plat: &P,
        s: &Space,
        v: Variant,
        start: u64,
        n: usize,
        flags: GupFlags,
        checked: bool,
    ) -> (GupOutcome, Vec<Page>) {
        let mut pages = vec![Page::from_pfn(0); n];
        let g = GupFast::new(plat, s.asce(), self.pagemap, self.stack, v);
        let flags = flags.or_get();
        let o = match checked {
            true => foldkern::gup::gup_fast(&mut g.checked(true), start, n, flags, &mut pages),
            false => foldkern::gup::gup_fast(&mut { g }, start, n, flags, &mut pages),
        };
        pages.truncate(o.pinned);
        foldkern::gup::release_each(self.pagemap, &pages, flags).unwrap();
        (o, pages)
    }
}

/// The other CPU, scripted: right after the `after`-th read of `at` (0 = never)
/// it stores `new` there.
pub fn store_after(
    plat: &'static HostPlatform,
    at: PhysAddr,
    after: u32,
    new: u64,
) -> RacingWrite<'static, HostPlatform, impl Fn(&HostPlatform)> {
    RacingWrite::new(plat, at, after, move |p: &HostPlatform| p.write_u64(at, new))
}
