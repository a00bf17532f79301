//! `struct page` analogue: one atomic pin count per physical frame (Linux keeps
//! `_refcount` plus a pin bias; one counter is enough to show pins balance), and
//! [`Page`], what gup hands back for each pinned page.
use crate::mm::{PhysAddr, PAGE_SHIFT};
use core::fmt;
use core::sync::atomic::{AtomicU32, Ordering};

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

/// What a FOLL_PIN reference adds to a page's count (Linux
/// `GUP_PIN_COUNTING_BIAS`); a FOLL_GET reference adds 1.
pub const GUP_PIN_COUNTING_BIAS: u32 = 1024;

/// Per-frame counts of gup's references (`mem_map`): each FOLL_GET adds 1,
/// each FOLL_PIN [`GUP_PIN_COUNTING_BIAS`], as v5.9 counts them in
/// `page->_refcount` for small pages. Deliberately less than Linux: the count
/// holds gup's references only (no mapping's reference, so no grab sees a
/// freed page's 0), and large frames are counted per 4 KiB page rather than
/// on a compound head.
pub struct PageMap {
    pins: &'static [AtomicU32],
}

/// Dropping a reference a page does not hold, or of a page that is not RAM.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UnpinError(pub Page);

impl PageMap {
    /// A map over `storage.len()` frames from physical 0.
    pub fn new(storage: &'static [AtomicU32]) -> PageMap {
        PageMap { pins: storage }
    }
    fn slot(&self, page: Page) -> Option<&AtomicU32> {
        self.pins.get(usize::try_from(page.pfn()).ok()?)
    }
    /// `try_grab_page(page, flags)`: take `refs` references (1 for FOLL_GET,
    /// [`GUP_PIN_COUNTING_BIAS`] for FOLL_PIN) on the page of `frame`; `None` if
    /// the frame has no page (is not RAM the map covers).
    pub fn try_grab(&self, frame: PhysAddr, refs: u32) -> Option<Page> {
        let page = Page::of(frame);
        self.slot(page).map(|c| {
            c.fetch_add(refs, Ordering::AcqRel);
            page
        })
    }
    /// The counters themselves, indexed by frame number, so a hot loop (gup_fast's
    /// PTE loop) can keep the slice in registers.
    pub fn counters(&self) -> &'static [AtomicU32] {
        self.pins
    }
    /// Drop `refs` references (the inverse of [`PageMap::try_grab`]).
    pub fn release(&self, page: Page, refs: u32) -> Result<(), UnpinError> {
        let c = self.slot(page).ok_or(UnpinError(page))?;
        c.fetch_update(Ordering::AcqRel, Ordering::Acquire, |v| v.checked_sub(refs))
            .map(|_| ())
            .map_err(|_| UnpinError(page))
    }
    /// `put_page`: drop a FOLL_GET reference.
    pub fn put_page(&self, page: Page) -> Result<(), UnpinError> {
        self.release(page, 1)
    }
    /// `unpin_user_page`: drop a FOLL_PIN reference.
    pub fn unpin_user_page(&self, page: Page) -> Result<(), UnpinError> {
        self.release(page, GUP_PIN_COUNTING_BIAS)
    }
    /// gup's references on a page, as counted (given as a [`Page`] or by its
    /// frame's address): FOLL_GET ones 1 each, FOLL_PIN ones 1024.
    pub fn pins(&self, page: impl Into<Page>) -> u32 {
        self.slot(page.into()).map_or(0, |c| c.load(Ordering::Acquire))
    }
    /// `page_maybe_dma_pinned`: whether the count shows a FOLL_PIN reference
    /// (or 1024 FOLL_GET ones, which Linux cannot tell apart either).
    pub fn page_maybe_dma_pinned(&self, page: impl Into<Page>) -> bool {
        self.pins(page) >= GUP_PIN_COUNTING_BIAS
    }
    /// Sum of all counts (O(frames); for tests).
    pub fn total_pins(&self) -> u64 {
        self.pins.iter().map(|c| c.load(Ordering::Relaxed) as u64).sum()
    }
}

/// Drop `refs` references on each page: what a gup call whose flags give
/// `refs` ([`GupFlags::refs`](super::GupFlags::refs)) took.
pub fn release_each(map: &PageMap, pages: &[Page], refs: u32) -> Result<(), UnpinError> {
    pages.iter().try_for_each(|&p| map.release(p, refs))
}

/// `unpin_user_pages`: drop a FOLL_PIN reference on each page.
pub fn unpin_user_pages(map: &PageMap, pages: &[Page]) -> Result<(), UnpinError> {
    release_each(map, pages, GUP_PIN_COUNTING_BIAS)
}

/// `release_pages` (`put_page` on each): drop a FOLL_GET reference on each page.
pub fn release_pages(map: &PageMap, pages: &[Page]) -> Result<(), UnpinError> {
    release_each(map, pages, 1)
}
