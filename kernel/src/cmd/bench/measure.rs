//! Running and timing the walkers: each measured call between two STCKF, every
//! walker's frames checked against the mapping, and the page-table memory of
//! three layouts.
use super::{Results, Walker, BASE, SIZES};
use crate::arch::s390x::halt::exit_failure;
use crate::arch::s390x::insn;
use crate::arch::s390x::platform::{KernelPlatform, PLATFORM};
use crate::kernel;
use foldkern::gup::pte::pinnable_pfn;
use foldkern::gup::{
    get_user_pages_fast, gup_fast, gup_locked, pin_user_pages_fast, Grab, GupContext, GupFast, GupFlags, Hooks,
    NoHooks, Page, PageMap, Step, Variant, Violation, WalkStack,
};
use foldkern::mm::entry::SEGMENT_ORIGIN;
use foldkern::mm::pgtable::{read_entry, walk_to};
use foldkern::mm::{
    AddressSpace, Asce, AsceType, EntryPtr, Level, PhysAddr, Platform, Prot, VirtAddr, WalkError, PAGE_SHIFT, PAGE_SIZE,
};

/// Instructions in `tod` TOD units.
fn instructions(tod: u64) -> u64 {
    // 4.096 TOD units per instruction under -icount shift=0.
    (tod * 1000 + 2048) / 4096
}

/// Instructions `f` executes, STCKF to STCKF.
fn measure(f: impl FnOnce()) -> u64 {
    let t0 = insn::stckf();
    f();
    instructions(insn::stckf() - t0)
}

fn buffer(pages: usize) -> (PhysAddr, &'static mut [Page]) {
    let frames = (pages * 8).div_ceil(PAGE_SIZE as usize);
    let pa = kernel::frames().lock().alloc_frames(frames, 1).unwrap_or_else(|e| {
        println!("bench: no memory for a {pages}-page result buffer: {e} (boot with more -m)");
        exit_failure("bench: out of memory")
    });
    // SAFETY: the frames were just allocated for this buffer alone and are
    // identity-mapped; the slice lives until `free_buffer`.
    (pa, unsafe {
        core::slice::from_raw_parts_mut(pa.as_u64() as *mut Page, pages)
    })
}

/// The floor: Linux's per-page duties of a FOLL_GET gup_fast and nothing else,
/// in the simplest source: read the PTE, test it, grab the page unless its
/// count is 0, re-read the PTE, mark the page referenced, store it (`pts`
/// holds the page-table origins, found outside the measurement). Returns the
/// pages taken (the benchmark's never stop it). Out of line, so that what the
/// benchmark does around it cannot change its code.
#[inline(never)]
fn floor(pts: &[PhysAddr], out: &mut [Page]) -> usize {
    let pages = kernel::pagemap().pages();
    for (k, chunk) in out.chunks_mut(256).enumerate() {
        let mut ptep = pts[k];
        for (i, slot) in chunk.iter_mut().enumerate() {
            // SAFETY: a PTE of the benchmark's own space (its page tables'
            // origins, read before the measurement), inside memory.
            let pte = unsafe { PLATFORM.read_u64(ptep) };
            let pfn = pinnable_pfn(pte, false);
            if pfn >= pages.len() as u64
                || !PageMap::try_grab_pte_page::<{ Grab::GET }>(pages, pfn, &(0..0))
                // SAFETY: the same PTE.
                || unsafe { PLATFORM.read_u64(ptep) } != pte
            {
                return k * 256 + i;
            }
            PageMap::set_pte_page_referenced(pages, pfn);
            *slot = Page::from_pfn(pfn);
            ptep = ptep.add(8);
        }
    }
    out.len()
}

/// A hooks type of the benchmark's own, every method empty: the entry points
/// built with it must cost exactly what they cost without hooks.
struct Empty;

// Inlined as the trait's defaults are, as any hooks type's methods should be.
impl Hooks for Empty {
    #[inline(always)]
    fn may_read<P: Platform + ?Sized>(&mut self, _: &P, _: EntryPtr) -> Result<(), WalkError> {
        Ok(())
    }
    #[inline(always)]
    fn step(&mut self, _: &Step) {}
    #[inline(always)]
    fn ptes<P: Platform + ?Sized>(&mut self, _: &P, _: EntryPtr, _: VirtAddr, _: usize, _: bool, _: u64) {}
    #[inline(always)]
    fn stepped<P: Platform + ?Sized>(&mut self, _: &P, _: Asce, _: Level, _: EntryPtr, _: VirtAddr) {}
    #[inline(always)]
    fn take_violations(&mut self) -> (u32, Option<Violation>) {
        (0, None)
    }
}

/// The naive walk: a bounds-checked walk from the top for every page
/// (`walk_to`), then the PTE read. Out of line, as the floor, so that the
/// benchmark's own code around it cannot change its code.
#[inline(never)]
fn naive(asce: Asce, out: &mut [Page]) {
    // Measured code: the loop stays in the same form as the floor's.
    #[allow(clippy::needless_range_loop)]
    for i in 0..out.len() {
        let ptep = walk_to(&PLATFORM, asce, BASE + i as u64 * PAGE_SIZE, Level::Pte).expect("walk");
        out[i] = Page::from_pfn(read_entry(&PLATFORM, ptep).expect("read") >> PAGE_SHIFT);
    }
}

/// A value no walker returns, so a walker that leaves a slot alone is caught.
const NO_PAGE: Page = Page::from_pfn(u64::MAX);

fn clear(out: &mut [Page]) {
    out.fill(NO_PAGE);
}

/// Every walker must return the frames the benchmark mapped (page `i` of the
/// range is data frame `i % 4096`): a fast but wrong walk would measure nothing.
fn check_frames(out: &[Page], data: PhysAddr, walker: Walker) {
    for (i, f) in out.iter().enumerate() {
        let want = data.add((i as u64 % 4096) * PAGE_SIZE);
        if *f != want {
            println!(
                "bench: {} returned {f:?} for page {i} of the range, which maps {want:?}",
                walker.name()
            );
            exit_failure("bench: a walker returned a wrong frame");
        }
    }
}

pub(super) fn run_once(nsizes: usize) -> Results {
    let mut r = Results {
        walk: [[[0; SIZES.len()]; Walker::ALL.len()]; 4],
        map: [0; 4],
        map_range: [0; 4],
        unmap: [0; 4],
        upgrade: [0; 3],
        memory: [(0, 0, 0); 3],
        shape: [(AsceType::Segment, 0, 0, 0); 3],
        scale: [0; 2],
    };
    let max = SIZES[nsizes - 1];
    kernel::frames().lock().reset_hint();
    let (bufpa, out) = buffer(max);
    let data = kernel::frames()
        .lock()
        .alloc_frames(4096, 1)
        .expect("bench data frames");
    let stackf = kernel::frames().lock().alloc_frame().expect("bench stack frame");
    // SAFETY: a frame allocated for the benchmark's walks and never freed.
    let stack = unsafe { WalkStack::new(&PLATFORM, stackf) };
    for (ti, ty) in AsceType::ALL.into_iter().enumerate() {
        let mut s: AddressSpace<'static, KernelPlatform> =
            AddressSpace::new(&PLATFORM, kernel::frames(), ty).expect("bench space");
        r.map[ti] = measure(|| {
            for i in 0..max as u64 {
                s.map(BASE + i * PAGE_SIZE, data.add((i % 4096) * PAGE_SIZE), 1, Prot::RW)
                    .expect("bench map");
            }
        });
        // Page-table origins for the floor loop (outside the measurement).
        let mut pts = [PhysAddr::new(0); 1024];
        for (k, pt) in pts.iter_mut().enumerate().take(max.div_ceil(256)) {
            let pmdp = walk_to(&PLATFORM, s.asce(), BASE + ((k as u64) << 20), Level::Pmd).expect("walk");
            *pt = PhysAddr::new(read_entry(&PLATFORM, pmdp).expect("read") & SEGMENT_ORIGIN);
        }
        for (si, &n) in SIZES[..nsizes].iter().enumerate() {
            clear(&mut out[..n]);
            let mut pinned = 0;
            r.walk[ti][Walker::Floor as usize][si] = measure(|| pinned = floor(&pts, &mut out[..n]));
            assert_eq!(pinned, n, "bench: the floor took too few");
            check_frames(&out[..n], data, Walker::Floor);
            foldkern::gup::release_pages(kernel::pagemap(), &out[..n]).expect("unpin");
            for (w, v) in [
                (Walker::AddrEndFolded, Variant::AddrEndFolded),
                (Walker::OffsetLockless, Variant::OffsetLockless),
            ] {
                let mut g = GupFast::new(&PLATFORM, s.asce(), kernel::pagemap(), stack, v);
                let mut pinned = 0;
                clear(&mut out[..n]);
                r.walk[ti][w as usize][si] = measure(|| pinned = gup_fast(&mut g, BASE, n, GupFlags::GET, out).pinned);
                assert_eq!(pinned, n, "bench: gup_fast pinned too few");
                check_frames(&out[..n], data, w);
                foldkern::gup::release_pages(kernel::pagemap(), &out[..n]).expect("unpin");
            }
            // The entry points, as Linux's figures are taken (FOLL_WRITE),
            // without hooks and with the empty hooks type.
            let out = &mut out[..n];
            r.walk[ti][Walker::GetUserPagesFast as usize][si] =
                entry_point::<_, false>(&mut s, stack, NoHooks, out, data);
            r.walk[ti][Walker::PinUserPagesFast as usize][si] =
                entry_point::<_, true>(&mut s, stack, NoHooks, out, data);
            r.walk[ti][Walker::GetEmptyHooks as usize][si] = entry_point::<_, false>(&mut s, stack, Empty, out, data);
            r.walk[ti][Walker::PinEmptyHooks as usize][si] = entry_point::<_, true>(&mut s, stack, Empty, out, data);
            let mut pinned = 0;
            clear(&mut out[..n]);
            let mut ctx = GupContext {
                space: &mut s,
                pagemap: kernel::pagemap(),
                stack,
                variant: Variant::OffsetLockless,
                hooks: NoHooks,
            };
            r.walk[ti][Walker::Slow as usize][si] =
                measure(|| pinned = gup_locked(&mut ctx, BASE, n, GupFlags::GET, out).unwrap_or(0));
            assert_eq!(pinned, n, "bench: slow path pinned too few");
            check_frames(&out[..n], data, Walker::Slow);
            foldkern::gup::release_pages(kernel::pagemap(), &out[..n]).expect("unpin");
            clear(&mut out[..n]);
            let asce = s.asce();
            r.walk[ti][Walker::Naive as usize][si] = measure(|| naive(asce, &mut out[..n]));
            check_frames(&out[..n], data, Walker::Naive);
        }
        r.unmap[ti] = measure(|| s.unmap(BASE, max as u64).expect("bench unmap"));
        r.map_range[ti] = measure(|| {
            for start in (0..max as u64).step_by(4096) {
                let n = (max as u64 - start).min(4096);
                s.map(BASE + start * PAGE_SIZE, data, n, Prot::RW).expect("bench map");
            }
        });
        s.unmap(BASE, max as u64).expect("bench unmap");
    }
    // Upgrade cost on a live space with a mapping in each step's range.
    let mut s: AddressSpace<'static, KernelPlatform> =
        AddressSpace::new(&PLATFORM, kernel::frames(), AsceType::Segment).expect("space");
    s.map(BASE, data, 1, Prot::RW).expect("map");
    for (k, last) in [(1u64 << 31), (1 << 42), (1 << 53)].into_iter().enumerate() {
        r.upgrade[k] = measure(|| s.crst_table_upgrade(last).expect("upgrade"));
    }
    drop(s);
    r.memory = memory(data, &mut r.shape);
    if nsizes == SIZES.len() {
        r.scale = scale(data, stack);
    }
    kernel::frames().lock().free_frame(stackf).ok();
    kernel::frames().lock().free_frames(data, 4096).ok();
    kernel::frames()
        .lock()
        .free_frames(bufpa, (max * 8).div_ceil(PAGE_SIZE as usize))
        .ok();
    r
}

/// Instructions of one `get_user_pages_fast` call, or with `PIN` one
/// `pin_user_pages_fast` call (FOLL_WRITE, the merged walk, `hooks`
/// explaining it), of `out.len()` pages from [`BASE`] in `s`; the frames
/// checked and the references dropped after.
// Out of line, and one function per hooks type and entry point, so the code
// around each measured call holds no choice and cannot differ between the
// hooks types.
#[inline(never)]
fn entry_point<H: Hooks, const PIN: bool>(
    s: &mut AddressSpace<'static, KernelPlatform>,
    stack: WalkStack,
    hooks: H,
    out: &mut [Page],
    data: PhysAddr,
) -> u64 {
    let n = out.len();
    let mut ctx = GupContext {
        space: s,
        pagemap: kernel::pagemap(),
        stack,
        variant: Variant::OffsetLockless,
        hooks,
    };
    let w = if PIN {
        Walker::PinUserPagesFast
    } else {
        Walker::GetUserPagesFast
    };
    let mut pinned = 0;
    clear(out);
    let t = measure(|| {
        pinned = match PIN {
            false => get_user_pages_fast(&mut ctx, BASE, n, GupFlags::WRITE, out),
            true => pin_user_pages_fast(&mut ctx, BASE, n, GupFlags::WRITE, out),
        }
        .map_or(0, |(n, _)| n)
    });
    assert_eq!(pinned, n, "bench: {} pinned too few", w.name());
    check_frames(out, data, w);
    let flags = if PIN { GupFlags::PIN } else { GupFlags::GET };
    foldkern::gup::release_each(kernel::pagemap(), out, flags).expect("unpin");
    t
}

/// Pages of the scale measurement: 4 GiB in one call.
pub(super) const SCALE_PAGES: usize = 1 << 20;

/// Instructions of one `get_user_pages_fast` and one `pin_user_pages_fast`
/// call (FOLL_WRITE) of [`SCALE_PAGES`] pages in a region-third space, its
/// pages mapped onto the data frames as the other ranges are; every frame
/// checked.
fn scale(data: PhysAddr, stack: WalkStack) -> [u64; 2] {
    let (bufpa, out) = buffer(SCALE_PAGES);
    let mut s: AddressSpace<'static, KernelPlatform> =
        AddressSpace::new(&PLATFORM, kernel::frames(), AsceType::Region3).expect("bench space");
    for start in (0..SCALE_PAGES as u64).step_by(4096) {
        s.map(BASE + start * PAGE_SIZE, data, 4096, Prot::RW)
            .expect("bench map");
    }
    let res = [
        entry_point::<_, false>(&mut s, stack, NoHooks, out, data),
        entry_point::<_, true>(&mut s, stack, NoHooks, out, data),
    ];
    s.unmap(BASE, SCALE_PAGES as u64).expect("bench unmap");
    drop(s);
    kernel::frames()
        .lock()
        .free_frames(bufpa, (SCALE_PAGES * 8).div_ceil(PAGE_SIZE as usize))
        .ok();
    res
}

/// (bytes used, minimum bytes, bytes with an always-5-level layout) for: dense
/// 1 GiB, 2048 pages spread over 4 TiB (one per 2 GiB), one page above 4 TiB.
fn memory(data: PhysAddr, shape: &mut [(AsceType, u64, u64, u64); 3]) -> [(u64, u64, u64); 3] {
    let sets: [(u64, u64, u64); 3] = [
        (BASE, PAGE_SIZE, 262144),
        (0, 2 << 30, 2048),
        ((1 << 42) + (7 << 20), PAGE_SIZE, 1),
    ];
    let mut res = [(0, 0, 0); 3];
    for (k, &(start, stride, n)) in sets.iter().enumerate() {
        let last = start + (n - 1) * stride;
        let free0 = kernel::frames().lock().free_count();
        let mut fit: AddressSpace<'static, KernelPlatform> =
            AddressSpace::new_covering(&PLATFORM, kernel::frames(), last).expect("space");
        for i in 0..n {
            fit.map(start + i * stride, data, 1, Prot::RW).expect("map");
        }
        let frames = free0 - kernel::frames().lock().free_count();
        let mut five: AddressSpace<'static, KernelPlatform> =
            AddressSpace::new(&PLATFORM, kernel::frames(), AsceType::Region1).expect("space");
        for i in 0..n {
            five.map(start + i * stride, data, 1, Prot::RW).expect("map");
        }
        res[k] = (
            fit.table_bytes(),
            minimum(fit.asce_type(), start, stride, n),
            five.table_bytes(),
        );
        let (c, p) = fit.table_counts();
        shape[k] = (fit.asce_type(), c, p, frames as u64);
    }
    res
}

/// The fewest table bytes a space of `ty` needs for `n` pages `stride` apart.
fn minimum(ty: AsceType, start: u64, stride: u64, n: u64) -> u64 {
    let mut bytes = 16384;
    for (level, shift, size) in [
        (Level::Pte, 20u32, 2048u64),
        (Level::Pmd, 31, 16384),
        (Level::Pud, 42, 16384),
        (Level::P4d, 53, 16384),
    ] {
        if level > ty.top() {
            // distinct tables of this level = distinct (addr >> shift) values
            let first = start >> shift;
            let last = (start + (n - 1) * stride) >> shift;
            let distinct = if stride >= 1 << shift { n } else { last - first + 1 };
            bytes += distinct * size;
        }
    }
    bytes
}
