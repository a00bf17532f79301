//! `struct page` analogue: per physical frame the reference count, compound
//! page links and pin count gup uses ([`StructPage`], [`PageMap`]), and
//! [`Page`], what gup hands back for each pinned page.
use super::flags::{GupFlags, GUP_PIN_COUNTING_BIAS};
use crate::mm::{PhysAddr, PAGE_SHIFT};
use core::fmt;
use core::ops::Range;
use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};

/// One pinned page as gup returns it in `pages[]` (Linux: `struct page *`).
///
/// The page map is indexed by page frame number, so the frame number names the
/// page (`page_to_pfn`) and is all the PTE loop stores: it is the PTE shifted
/// right, which the loop has at hand anyway, where an address would cost one
/// more instruction per page. A page equals the frame it names, so tests can
/// compare `pages[]` with frame addresses.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Page(pub(crate) u64);

impl Page {
    /// The page whose frame number is `pfn` (`pfn_to_page`).
    pub const fn from_pfn(pfn: u64) -> Page {
        Page(pfn)
    }
    /// The page of `frame` (`phys_to_page`; the offset in the page is dropped).
    pub const fn of(frame: PhysAddr) -> Page {
        Page(frame.0 >> PAGE_SHIFT)
    }
    /// Its frame number (`page_to_pfn`).
    pub const fn pfn(self) -> u64 {
        self.0
    }
    /// The address of its frame (`page_to_phys`).
    pub const fn phys(self) -> PhysAddr {
        PhysAddr(self.0 << PAGE_SHIFT)
    }
}

impl From<PhysAddr> for Page {
    fn from(frame: PhysAddr) -> Page {
        Page::of(frame)
    }
}

impl PartialEq<PhysAddr> for Page {
    fn eq(&self, frame: &PhysAddr) -> bool {
        self.phys() == *frame
    }
}

impl fmt::Debug for Page {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "page P:{:#x}", self.phys().0)
    }
}

impl fmt::Display for Page {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#x}", self.phys().0)
    }
}

/// Linux `struct page`, only the fields gup reads and writes (16 bytes, so the
/// PTE loop finds a frame's entry with one shift).
#[repr(C, align(16))]
#[derive(Default)]
pub struct StructPage {
    /// `_refcount`: 0 while the page is free (no grab may take it) and on a
    /// compound page's tails, otherwise its owner's reference plus gup's.
    refcount: AtomicU32,
    /// Linux's `compound_head` (a tail page: head's frame number << 1 | 1) and,
    /// for a head, `compound_order` << 1 (Linux keeps the order in the first
    /// tail page); 0 for a page that is not part of a compound page.
    compound: AtomicU32,
    /// `hpage_pinned_refcount` of a head of order > 1: the FOLL_PIN references
    /// on the whole compound page (v5.9 keeps it in the third page,
    /// `page[2]`, hence order > 1; 6.1 keeps `compound_pincount` in the first
    /// tail and counts every large folio, order 1 included, exactly).
    pincount: AtomicU32,
    /// Page flags: [`PG_REFERENCED`], [`PG_DIRTY`] (on the head).
    flags: AtomicU32,
}

/// `PG_referenced`: accessed through gup's locked walk (`mark_page_accessed`)
/// or taken by gup_fast (`SetPageReferenced`, on every page it takes).
pub const PG_REFERENCED: u32 = 1 << 2;
/// `PG_dirty`: a FOLL_WRITE reference was taken through a clean PTE
/// (`set_page_dirty`): the data will change behind the PTE's back.
pub const PG_DIRTY: u32 = 1 << 4;

impl StructPage {
    /// `page_ref_add_unless(page, refs, 0)`, which `page_cache_add_speculative`
    /// is on SMP: take `refs` references unless the count is 0 (the page is
    /// being freed and may already belong to someone else).
    #[inline(always)]
    fn add_unless_zero(&self, refs: u32) -> bool {
        self.refcount
            .fetch_update(Ordering::AcqRel, Ordering::Relaxed, |v| (v != 0).then(|| v + refs))
            .is_ok()
    }
    /// One attempt of [`StructPage::add_unless_zero`], no retry loop (so the
    /// PTE loop can be unrolled): false if the count is 0 or changed under it;
    /// the caller then takes the out-of-line grab, which retries.
    #[inline(always)]
    fn add_unless_zero_once(&self, refs: u32) -> bool {
        let v = self.refcount.load(Ordering::Relaxed);
        v != 0
            && self
                .refcount
                .compare_exchange(v, v + refs, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
    }
}

/// The PTE loop's kinds of grab, as its constant parameter (an integer, which
/// const generics take).
pub struct Grab;

impl Grab {
    /// FOLL_GET.
    pub const GET: u8 = 0;
    /// FOLL_PIN.
    pub const PIN: u8 = 1;
    /// FOLL_PIN | FOLL_LONGTERM.
    pub const PIN_LONGTERM: u8 = 2;
    /// The kind `flags` ask for (FOLL_GET unless they pin).
    pub const fn of(flags: GupFlags) -> u8 {
        match (flags.contains(GupFlags::PIN), flags.contains(GupFlags::LONGTERM)) {
            (false, _) => Grab::GET,
            (true, false) => Grab::PIN,
            (true, true) => Grab::PIN_LONGTERM,
        }
    }
    /// The flags of kind `k`.
    pub const fn flags(k: u8) -> GupFlags {
        match k {
            Grab::GET => GupFlags::GET,
            Grab::PIN => GupFlags::PIN,
            _ => GupFlags::PIN.union(GupFlags::LONGTERM),
        }
    }
}

/// Dropping a reference a page does not hold, or of a page that is not RAM.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UnpinError(pub Page);

impl fmt::Display for UnpinError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "dropping a reference {:?} does not hold", self.0)
    }
}

/// Why a compound page cannot be made or unmade.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CompoundError {
    /// The head is not aligned to its order, or the page would reach past the map.
    Range(PhysAddr),
    /// This page is already part of a compound page (making), or the head is
    /// not one (unmaking).
    Compound(Page),
    /// This page holds gup references: it cannot change shape under them.
    Referenced(Page),
}

impl fmt::Display for CompoundError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CompoundError::Range(h) => write!(f, "no compound page of that order fits at {h}"),
            CompoundError::Compound(p) => write!(f, "{p:?}: wrong compound state"),
            CompoundError::Referenced(p) => write!(f, "{p:?} holds gup references"),
        }
    }
}

/// Per-frame `struct page`s (`mem_map`) from physical 0. Every frame starts in
/// use by its owner with no other reference (count 1), as a page the kernel
/// handed out has; [`PageMap::page_ref_freeze`] takes a page to 0 as freeing
/// does, and then no grab succeeds. Deliberately less than Linux: a mapping
/// does not add to the count (the owner's reference stands for it), and
/// compound pages are made by [`PageMap::prep_compound_page`], not by an
/// allocator. A pages range may be declared CMA ([`PageMap::set_cma`]), which
/// FOLL_LONGTERM pins refuse.
pub struct PageMap {
    pages: &'static [StructPage],
    /// Frame numbers of the CMA range: start in the high half, end in the low.
    cma: AtomicU64,
}

impl PageMap {
    /// A map over `storage.len()` frames from physical 0, every page in use and
    /// none compound.
    pub fn new(storage: &'static [StructPage]) -> PageMap {
        assert!(storage.len() < 1 << 31, "compound links hold frame numbers in 31 bits");
        let m = PageMap {
            pages: storage,
            cma: AtomicU64::new(0),
        };
        m.reset();
        m
    }
    /// Back to the state [`PageMap::new`] gives: all pages in use, no
    /// references, no compound pages, no CMA range.
    pub fn reset(&self) {
        for p in self.pages {
            p.refcount.store(1, Ordering::Relaxed);
            p.compound.store(0, Ordering::Relaxed);
            p.pincount.store(0, Ordering::Relaxed);
            p.flags.store(0, Ordering::Relaxed);
        }
        self.cma.store(0, Ordering::Release);
    }
    fn get(&self, page: Page) -> Option<&StructPage> {
        self.pages.get(usize::try_from(page.pfn()).ok()?)
    }
    /// The `struct page`s, indexed by frame number, so a hot loop (gup_fast's
    /// PTE loop) can keep the slice in registers; its length is the number of
    /// frames that have one.
    pub fn pages(&self) -> &'static [StructPage] {
        self.pages
    }

    /// `compound_head`: the head of the compound page `page` is part of, or
    /// `page` itself.
    pub fn compound_head(&self, page: Page) -> Page {
        match self.get(page).map(|p| p.compound.load(Ordering::Acquire)) {
            Some(c) if c & 1 == 1 => Page(u64::from(c >> 1)),
            _ => page,
        }
    }
    /// `compound_order` of the page's head (0 for a page that is not compound).
    pub fn compound_order(&self, page: Page) -> u32 {
        let head = self.compound_head(page);
        self.get(head).map_or(0, |p| p.compound.load(Ordering::Acquire) >> 1)
    }
    /// Whether `head` is the head of a compound page of `order`.
    pub fn is_compound_head(&self, head: Page, order: u32) -> bool {
        order > 0
            && self
                .get(head)
                .is_some_and(|p| p.compound.load(Ordering::Acquire) == order << 1)
    }
    /// `hpage_pincount_available`: pins on a compound page of order > 1 are
    /// counted exactly in its pin count, others as [`GUP_PIN_COUNTING_BIAS`].
    fn hpage_pincount_available(&self, head: Page) -> bool {
        self.compound_order(head) > 1
    }

    /// `prep_compound_page`: make the 2^`order` frames from `head` one compound
    /// page. Refused, changing nothing, if the range is not aligned or not all
    /// covered, or any page in it is already compound or holds gup references.
    pub fn prep_compound_page(&self, head: PhysAddr, order: u32) -> Result<(), CompoundError> {
        let pages = self.compound_range(head, order)?;
        for pfn in pages.clone() {
            let p = &self.pages[pfn as usize];
            if p.compound.load(Ordering::Acquire) != 0 {
                return Err(CompoundError::Compound(Page(pfn)));
            }
            if p.refcount.load(Ordering::Acquire) != 1 {
                return Err(CompoundError::Referenced(Page(pfn)));
            }
        }
        // A tail's references live on the head: its own count is 0.
        let h = pages.start;
        for pfn in pages.clone().skip(1) {
            let p = &self.pages[pfn as usize];
            p.compound.store((h as u32) << 1 | 1, Ordering::Release);
            p.refcount.store(0, Ordering::Release);
        }
        self.pages[h as usize].compound.store(order << 1, Ordering::Release);
        Ok(())
    }
    /// Split the compound page headed by `head` back into single pages.
    /// Refused, changing nothing, while it holds gup references.
    pub fn destroy_compound_page(&self, head: PhysAddr) -> Result<(), CompoundError> {
        let h = Page::of(head);
        let order = self.compound_order(h);
        if h.phys() != head || !self.is_compound_head(h, order) {
            return Err(CompoundError::Compound(h));
        }
        let p = &self.pages[h.pfn() as usize];
        if p.refcount.load(Ordering::Acquire) != 1 || p.pincount.load(Ordering::Acquire) != 0 {
            return Err(CompoundError::Referenced(h));
        }
        for pfn in self.compound_range(head, order)?.skip(1) {
            let p = &self.pages[pfn as usize];
            p.refcount.store(1, Ordering::Release);
            p.compound.store(0, Ordering::Release);
        }
        p.compound.store(0, Ordering::Release);
        Ok(())
    }
    fn compound_range(&self, head: PhysAddr, order: u32) -> Result<Range<u64>, CompoundError> {
        let n = 1u64.checked_shl(order).filter(|_| order > 0 && order < 31);
        let start = Page::of(head).pfn();
        match n {
            Some(n) if head.0.is_multiple_of(n << PAGE_SHIFT) && start + n <= self.pages.len() as u64 => {
                Ok(start..start + n)
            }
            _ => Err(CompoundError::Range(head)),
        }
    }

    /// Declare the frames of `range` CMA (`MIGRATE_CMA` pageblocks): pages that
    /// must stay movable, so FOLL_LONGTERM pins refuse them. An empty range
    /// clears it.
    pub fn set_cma(&self, range: Range<PhysAddr>) {
        let (s, e) = (range.start.0 >> PAGE_SHIFT, range.end.0 >> PAGE_SHIFT);
        assert!(s < 1 << 32 && e < 1 << 32, "CMA range beyond 16 TiB");
        self.cma.store(s << 32 | e, Ordering::Release);
    }
    /// The CMA range's frame numbers.
    pub fn cma(&self) -> Range<u64> {
        let v = self.cma.load(Ordering::Acquire);
        (v >> 32)..(v & 0xffff_ffff)
    }
    /// `is_migrate_cma_page`.
    pub fn is_migrate_cma_page(&self, page: Page) -> bool {
        self.cma().contains(&page.pfn())
    }

    /// `try_grab_compound_head(page, refs, flags)`: take the references for
    /// `refs` subpages of the compound page `page` is part of, all on its head,
    /// which is returned. FOLL_GET adds `refs`; FOLL_PIN adds `refs` and as
    /// many to the pin count on a compound page of order > 1, else `refs` times
    /// the pin bias. `None`, taking nothing, if the page has no `struct page`,
    /// its count is 0 (being freed), the flags name no reference kind, or a
    /// FOLL_LONGTERM pin meets a CMA page (gup_fast leaves it to the slow path).
    pub fn try_grab_compound_head(&self, page: Page, refs: u32, flags: GupFlags) -> Option<Page> {
        let head = self.compound_head(page);
        let p = self.get(head)?;
        if flags.contains(GupFlags::PIN | GupFlags::LONGTERM) && self.is_migrate_cma_page(head) {
            return None;
        }
        let (add, exact) = self.references(head, refs, flags)?;
        if !p.add_unless_zero(add) {
            return None;
        }
        if exact {
            p.pincount.fetch_add(refs, Ordering::AcqRel);
        }
        Some(head)
    }
    /// What `refs` subpages' references of kind `flags` amount to on `head`:
    /// the addition to its count, and whether they are also counted exactly
    /// in its pin count (FOLL_PIN on a compound page of order 2 or more);
    /// `None` unless the flags name exactly one of FOLL_GET and FOLL_PIN.
    fn references(&self, head: Page, refs: u32, flags: GupFlags) -> Option<(u32, bool)> {
        match (flags.contains(GupFlags::GET), flags.contains(GupFlags::PIN)) {
            (true, false) => Some((refs, false)),
            (false, true) if self.hpage_pincount_available(head) => Some((refs, true)),
            (false, true) => refs.checked_mul(GUP_PIN_COUNTING_BIAS).map(|n| (n, false)),
            _ => None,
        }
    }
    /// `try_grab_page`: one subpage's references as [`try_grab_compound_head`]
    /// takes them; returns the page of `frame` (not its head), as gup records it.
    ///
    /// [`try_grab_compound_head`]: PageMap::try_grab_compound_head
    pub fn try_grab_page(&self, frame: PhysAddr, flags: GupFlags) -> Option<Page> {
        let page = Page::of(frame);
        self.try_grab_compound_head(page, 1, flags).map(|_| page)
    }
    /// The inline part of the PTE loop's grab of the page `pfn` (<
    /// `pages.len()`, `pages` being [`PageMap::pages`] held in a register),
    /// for the [`Grab`] kind `K`: one attempt at the count update of a page
    /// that is not compound (for a pin) or not CMA (for a long-term pin).
    /// False if it does not apply or fails: the caller then takes
    /// [`try_grab_compound_head`]. A tail page's count is 0, as in Linux, so
    /// FOLL_GET needs no compound test: the attempt fails on a tail.
    ///
    /// [`try_grab_compound_head`]: PageMap::try_grab_compound_head
    #[inline(always)]
    pub fn try_grab_pte_page<const K: u8>(pages: &[StructPage], pfn: u64, cma: &Range<u64>) -> bool {
        // SAFETY: the caller passes pfn < pages.len().
        let p = unsafe { pages.get_unchecked(pfn as usize) };
        let inline = match K {
            Grab::GET => true,
            Grab::PIN => p.compound.load(Ordering::Relaxed) == 0,
            _ => p.compound.load(Ordering::Relaxed) == 0 && !cma.contains(&pfn),
        };
        let refs = if K == Grab::GET { 1 } else { GUP_PIN_COUNTING_BIAS };
        inline && p.add_unless_zero_once(refs)
    }

    /// `SetPageReferenced(page)` (6.1: `folio_set_referenced(folio)`) of a
    /// page the PTE loop took inline: `pfn < pages.len()`, and the page is its
    /// own head (the inline grab fails on a tail, whose count is 0). An atomic
    /// OR, as Linux's `set_bit`.
    #[inline(always)]
    pub fn set_pte_page_referenced(pages: &[StructPage], pfn: u64) {
        // SAFETY: the caller passes pfn < pages.len().
        let p = unsafe { pages.get_unchecked(pfn as usize) };
        p.flags.fetch_or(PG_REFERENCED, Ordering::Relaxed);
    }

    /// `put_compound_head(head, refs, flags)`: drop what
    /// [`PageMap::try_grab_compound_head`] took for `refs` subpages.
    pub fn put_compound_head(&self, head: Page, refs: u32, flags: GupFlags) -> Result<(), UnpinError> {
        let p = self.get(head).ok_or(UnpinError(head))?;
        let (sub, exact) = self.references(head, refs, flags).ok_or(UnpinError(head))?;
        if exact {
            p.pincount
                .fetch_update(Ordering::AcqRel, Ordering::Acquire, |v| v.checked_sub(refs))
                .map_err(|_| UnpinError(head))?;
        }
        // The owner's reference stays: dropping into it is a bad release.
        p.refcount
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |v| {
                v.checked_sub(sub).filter(|&n| n > 0)
            })
            .map(|_| ())
            .map_err(|_| UnpinError(head))
    }
    /// Drop one subpage's references taken with `flags` (FOLL_GET or FOLL_PIN).
    pub fn release(&self, page: Page, flags: GupFlags) -> Result<(), UnpinError> {
        self.put_compound_head(self.compound_head(page), 1, flags)
    }
    /// `put_page`: drop a FOLL_GET reference.
    pub fn put_page(&self, page: Page) -> Result<(), UnpinError> {
        self.release(page, GupFlags::GET)
    }
    /// `unpin_user_page`: drop a FOLL_PIN reference.
    pub fn unpin_user_page(&self, page: Page) -> Result<(), UnpinError> {
        self.release(page, GupFlags::PIN)
    }

    /// `page_count`: the count of the page's head (given as a [`Page`] or by
    /// its frame's address); 0 for a frame without a `struct page`.
    pub fn page_count(&self, page: impl Into<Page>) -> u32 {
        let head = self.compound_head(page.into());
        self.get(head).map_or(0, |p| p.refcount.load(Ordering::Acquire))
    }
    /// gup's references on the page's head: its count less the owner's
    /// reference (FOLL_GET ones 1 each, FOLL_PIN ones 1024, or 1 on a compound
    /// page of order > 1, whose pins [`PageMap::compound_pincount`] counts).
    pub fn pins(&self, page: impl Into<Page>) -> u32 {
        self.page_count(page).saturating_sub(1)
    }
    /// `compound_pincount`: FOLL_PIN references on the compound page of order
    /// 2 or more that `page` is part of; 0 for any other page.
    pub fn compound_pincount(&self, page: impl Into<Page>) -> u32 {
        let head = self.compound_head(page.into());
        match self.hpage_pincount_available(head) {
            true => self.get(head).map_or(0, |p| p.pincount.load(Ordering::Acquire)),
            false => 0,
        }
    }
    /// `page_maybe_dma_pinned`: the exact pin count on a compound page of
    /// order 2 or more; otherwise whether the count shows a FOLL_PIN reference
    /// (or 1024 FOLL_GET ones, which Linux cannot tell apart either).
    pub fn page_maybe_dma_pinned(&self, page: impl Into<Page>) -> bool {
        let page = page.into();
        match self.hpage_pincount_available(self.compound_head(page)) {
            true => self.compound_pincount(page) > 0,
            false => self.page_count(page) >= GUP_PIN_COUNTING_BIAS,
        }
    }
    /// Set `flags` ([`PG_REFERENCED`], [`PG_DIRTY`]) on the page's head
    /// (`mark_page_accessed`, `set_page_dirty`, `SetPageReferenced`).
    pub fn set_page_flags(&self, page: Page, flags: u32) {
        if let Some(p) = self.get(self.compound_head(page)) {
            p.flags.fetch_or(flags, Ordering::AcqRel);
        }
    }
    /// The flags of the page's head.
    pub fn page_flags(&self, page: impl Into<Page>) -> u32 {
        let head = self.compound_head(page.into());
        self.get(head).map_or(0, |p| p.flags.load(Ordering::Acquire))
    }
    /// `page_ref_freeze(page, count)`: take the count from `count` to 0, as
    /// freeing a page does; fails (changing nothing) if it is not `count`, for
    /// instance while gup holds a reference.
    pub fn page_ref_freeze(&self, page: Page, count: u32) -> bool {
        self.get(page).is_some_and(|p| {
            p.refcount
                .compare_exchange(count, 0, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
        })
    }
    /// `page_ref_unfreeze(page, count)`: a frozen page back in use with `count`.
    pub fn page_ref_unfreeze(&self, page: Page, count: u32) {
        if let Some(p) = self.get(page) {
            let was = p.refcount.swap(count, Ordering::AcqRel);
            assert_eq!(was, 0, "page_ref_unfreeze of {page:?}, which was not frozen");
        }
    }
    /// gup's references on all pages, pins on compound pages included
    /// (O(frames); for tests): 0 when every reference taken was dropped.
    pub fn total_pins(&self) -> u64 {
        self.pages
            .iter()
            .map(|p| {
                let c = u64::from(p.refcount.load(Ordering::Relaxed).saturating_sub(1));
                c + u64::from(p.pincount.load(Ordering::Relaxed))
            })
            .sum()
    }
}

/// Drop the references a gup call with `flags` (FOLL_GET or FOLL_PIN) took on
/// each page.
pub fn release_each(map: &PageMap, pages: &[Page], flags: GupFlags) -> Result<(), UnpinError> {
    pages.iter().try_for_each(|&p| map.release(p, flags))
}

/// `unpin_user_pages`: drop a FOLL_PIN reference on each page.
pub fn unpin_user_pages(map: &PageMap, pages: &[Page]) -> Result<(), UnpinError> {
    release_each(map, pages, GupFlags::PIN)
}

/// `release_pages` (`put_page` on each): drop a FOLL_GET reference on each page.
pub fn release_pages(map: &PageMap, pages: &[Page]) -> Result<(), UnpinError> {
    release_each(map, pages, GupFlags::GET)
}
