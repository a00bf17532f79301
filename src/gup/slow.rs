//! The slow path: `get_user_pages_fast` = gup_fast, then for whatever it left the
//! locked walk (`get_user_pages_unlocked` in v5.9, which takes the mmap lock; the
//! FOLL_LONGTERM path is `__gup_longterm_locked`): under the space's lock (`&mut`),
//! look each page up, optionally fault a zeroed frame in, and pin it.
use super::fast::{gup_fast, GupFast, GupOutcome};
use super::flags::GupFlags;
use super::hooks::{Hooks, NoHooks};
use super::page::{Page, PageMap, PG_DIRTY, PG_REFERENCED};
use super::policy::{Variant, WalkStack};
use crate::mm::{AddressSpace, MapError, Platform, Prot, VirtAddr, WalkError, PAGE_SIZE};
use core::fmt;

/// Why `get_user_pages_fast` pinned nothing (or stopped).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GupError {
    /// A walk met what it cannot walk: the lockless walk stepped off a copy
    /// (the pre-fix and next_entry variants) or either walk read a corrupt or
    /// freed table entry.
    Walk(WalkError),
    /// `-EFAULT`: the first page cannot be pinned (unmapped without POPULATE,
    /// read-only with WRITE, special, or outside the address space).
    Fault(u64),
    /// Populating failed.
    Map(MapError),
    /// The flags name no reference kind or both (`gup_locked`), or the caller
    /// named one the entry point sets itself, or FOLL_FAST_ONLY: `-EINVAL`.
    InvalidFlags(GupFlags),
    /// `FOLL_LONGTERM` met a page of the CMA range at this address. Linux
    /// migrates such a page out of CMA and pins the copy; foldkern does not
    /// migrate and refuses instead.
    Longterm(u64),
    /// The range from this start wraps past 2^64; nothing is pinned. (Later
    /// mainline answers `-EOVERFLOW`; v5.9's gup_fast returns 0 pages.)
    Overflow(u64),
}

impl fmt::Display for GupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GupError::Walk(e) => write!(f, "walk: {e}"),
            GupError::Fault(a) => write!(f, "fault at {a:#x}"),
            GupError::Map(e) => write!(f, "populate: {e}"),
            GupError::Longterm(a) => write!(f, "FOLL_LONGTERM on a CMA page at {a:#x} (no migration here)"),
            GupError::Overflow(a) => write!(f, "range from {a:#x} wraps past 2^64"),
            GupError::InvalidFlags(g) => write!(f, "invalid flags {g:?}: exactly one of FOLL_GET and FOLL_PIN"),
        }
    }
}

/// Whether `n` pages from the page of `start` run past 2^64 (Linux's
/// `check_add_overflow(start, len, &end)`).
fn wraps(start: VirtAddr, n: usize) -> bool {
    (start & !(PAGE_SIZE - 1)) as u128 + n as u128 * PAGE_SIZE as u128 > 1u128 << 64
}

/// What a gup call needs besides Linux's `(start, nr_pages, flags, pages)`: the
/// address space (`current->mm`; `&mut` is its lock, which the slow path takes),
/// the page map (`mem_map`), the lockless walker's stack frame, which walk and
/// what explains it ([`NoHooks`]: nothing, as Linux). A page faulted in
/// (FOLL_POPULATE) comes from the space's allocator.
pub struct GupContext<'c, 'a, P: Platform, H: Hooks = NoHooks> {
    /// The address space.
    pub space: &'c mut AddressSpace<'a, P>,
    /// Pin counts.
    pub pagemap: &'c PageMap,
    /// The lockless walker's stack frame for entry copies.
    pub stack: WalkStack,
    /// Which lockless walk.
    pub variant: Variant,
    /// What explains the lockless walk.
    pub hooks: H,
}

/// Pin through the locked walk only (`get_user_pages` under the mmap lock).
/// Returns the pages pinned, stopping at the first page it cannot pin; an error
/// only when not even the first page could be pinned (so no pin is ever lost
/// behind an error). Out of line, as gup_fast is: a call, whose flags its
/// caller's constants cannot fold away.
#[inline(never)]
pub fn gup_locked<P: Platform, H: Hooks>(
    ctx: &mut GupContext<'_, '_, P, H>,
    start: VirtAddr,
    nr_pages: usize,
    flags: GupFlags,
    pages: &mut [Page],
) -> Result<usize, GupError> {
    flags.refs().ok_or(GupError::InvalidFlags(flags))?;
    let want = nr_pages.min(pages.len());
    if wraps(start, want) {
        return Err(GupError::Overflow(start));
    }
    // Whole pages from the one holding `start` (Linux: `start & PAGE_MASK`).
    let start = start & !(PAGE_SIZE - 1);
    let mut nr = 0;
    let mut stop = None;
    while nr < want {
        let a = start.wrapping_add(nr as u64 * PAGE_SIZE);
        match pin_one(ctx.space, ctx.pagemap, a, flags) {
            Ok(Some(page)) => {
                pages[nr] = page;
                nr += 1;
            }
            Ok(None) => break,
            Err(e) => {
                stop = Some(e);
                break;
            }
        }
    }
    // As Linux: the pages pinned so far if any (the caller owns those pins),
    // else why not even the first.
    match (nr, stop) {
        (0, Some(e)) => Err(e),
        (0, None) if want > 0 => Err(GupError::Fault(start)),
        _ => Ok(nr),
    }
}

/// One page of the locked walk: its page, pinned; `None` where the walk must
/// stop (not mapped, special, read-only for FOLL_WRITE, no struct page, or a
/// page being freed).
fn pin_one<P: Platform>(
    space: &mut AddressSpace<'_, P>,
    pagemap: &PageMap,
    a: u64,
    flags: GupFlags,
) -> Result<Option<Page>, GupError> {
    let t = match space.lookup(a).map_err(GupError::Walk)? {
        Some(t) => t,
        None if flags.contains(GupFlags::POPULATE) => {
            let fr = space.frames();
            let frame = fr.lock().alloc_frame().map_err(|_| GupError::Map(MapError::NoMemory))?;
            // SAFETY: the frame was just allocated for this page.
            unsafe { space.platform().fill(frame, PAGE_SIZE, 0) };
            // faultin_page: do_anonymous_page leaves a write fault's page young
            // and dirty, a read fault's young and clean (Linux would map the
            // zero page; foldkern maps a zeroed frame).
            let prot = if flags.contains(GupFlags::WRITE) {
                Prot::RW
            } else {
                Prot::RW.clean()
            };
            if let Err(e) = space.map(a, frame, 1, prot) {
                fr.lock().free_frame(frame).expect("freeing the frame just allocated");
                return Err(GupError::Map(e));
            }
            space.lookup(a).map_err(GupError::Walk)?.expect("just mapped")
        }
        None => return Ok(None),
    };
    // follow_page_pte: special pages have no struct page, and a prot-none one
    // (FOLL_NUMA) would need do_numa_page, which foldkern does not have.
    if t.special || t.protnone || (flags.contains(GupFlags::WRITE) && !t.write) {
        return Ok(None);
    }
    let page = Page::of(t.pa);
    // v5.9's check_and_migrate_cma_pages runs for any FOLL_LONGTERM, FOLL_GET
    // or FOLL_PIN (6.1 refuses FOLL_LONGTERM without FOLL_PIN, is_valid_gup_flags,
    // and its check_and_migrate_movable_pages adds ZONE_MOVABLE pages from
    // v5.13, which foldkern does not model).
    if flags.contains(GupFlags::LONGTERM) && pagemap.is_migrate_cma_page(pagemap.compound_head(page)) {
        return Err(GupError::Longterm(a));
    }
    let Some(page) = pagemap.try_grab_page(t.pa, flags) else {
        return Ok(None);
    };
    // FOLL_TOUCH, which the locked walk always sets: follow_page_pte marks the
    // page accessed, and dirty for a write through a clean PTE; the PTE itself
    // stays old or clean (a fault would change it, following does not).
    let dirty = flags.contains(GupFlags::WRITE) && !t.dirty;
    pagemap.set_page_flags(page, PG_REFERENCED | if dirty { PG_DIRTY } else { 0 });
    Ok(Some(page))
}

/// `internal_get_user_pages_fast`: the lockless walk, then (unless
/// FOLL_FAST_ONLY) the locked walk for the rest. `flags` must hold exactly one
/// of FOLL_GET and FOLL_PIN. Returns the total taken and the fast walk's
/// outcome. Inlined into the entry points and theirs into their callers, as
/// the wrappers they are: `gup_fast` and `gup_locked` stay calls, and a
/// caller's own code cannot decide whether the wrapper costs a call more.
#[inline(always)]
fn internal_get_user_pages_fast<P: Platform, H: Hooks>(
    ctx: &mut GupContext<'_, '_, P, H>,
    start: VirtAddr,
    nr_pages: usize,
    flags: GupFlags,
    pages: &mut [Page],
) -> Result<(usize, GupOutcome), GupError> {
    // gup_fast takes nothing for a range that wraps; that is refused below,
    // off the fast path. (The flags name exactly one reference kind: every
    // entry point sets its own through `with_kind`.)
    let mut g = GupFast::new(
        ctx.space.platform(),
        ctx.space.asce(),
        ctx.pagemap,
        ctx.stack,
        ctx.variant,
    )
    .hooks(&mut ctx.hooks);
    let out = gup_fast(&mut g, start, nr_pages, flags, pages);
    let want = nr_pages.min(pages.len());
    if let Some(e) = out.error {
        super::page::release_each(ctx.pagemap, &pages[..out.pinned], flags)
            .expect("dropping the references gup_fast took");
        return Err(GupError::Walk(e));
    }
    let n = out.pinned;
    if n == want {
        return Ok((n, out));
    }
    if wraps(start, want) {
        return Err(GupError::Overflow(start));
    }
    if flags.contains(GupFlags::FAST_ONLY) {
        return Ok((n, out));
    }
    let rest_start = (start & !(PAGE_SIZE - 1)).wrapping_add(n as u64 * PAGE_SIZE);
    match gup_locked(ctx, rest_start, nr_pages - n, flags, &mut pages[n..]) {
        Ok(m) => Ok((n + m, out)),
        Err(_) if n > 0 => Ok((n, out)),
        Err(e) => Err(e),
    }
}

/// The caller's flags, refused if they name the reference kind themselves
/// (Linux: `WARN_ON_ONCE` and `-EINVAL`).
fn with_kind(flags: GupFlags, kind: GupFlags) -> Result<GupFlags, GupError> {
    match flags.intersects(GupFlags::GET | GupFlags::PIN | GupFlags::FAST_ONLY) {
        true => Err(GupError::InvalidFlags(flags)),
        false => Ok(flags | kind),
    }
}

/// `get_user_pages_fast` (FOLL_GET, released with `put_page` or
/// `release_pages`): the lockless walk, then the locked walk for the rest.
/// Returns the total taken and the fast walk's outcome.
#[inline(always)]
pub fn get_user_pages_fast<P: Platform, H: Hooks>(
    ctx: &mut GupContext<'_, '_, P, H>,
    start: VirtAddr,
    nr_pages: usize,
    flags: GupFlags,
    pages: &mut [Page],
) -> Result<(usize, GupOutcome), GupError> {
    internal_get_user_pages_fast(ctx, start, nr_pages, with_kind(flags, GupFlags::GET)?, pages)
}

/// `pin_user_pages_fast` (FOLL_PIN, released with `unpin_user_pages`).
#[inline(always)]
pub fn pin_user_pages_fast<P: Platform, H: Hooks>(
    ctx: &mut GupContext<'_, '_, P, H>,
    start: VirtAddr,
    nr_pages: usize,
    flags: GupFlags,
    pages: &mut [Page],
) -> Result<(usize, GupOutcome), GupError> {
    internal_get_user_pages_fast(ctx, start, nr_pages, with_kind(flags, GupFlags::PIN)?, pages)
}

/// `get_user_pages_fast_only` (FOLL_GET | FOLL_FAST_ONLY): the lockless walk
/// only; any error gives 0 pages, as Linux's `-EFAULT`-free variant does.
pub fn get_user_pages_fast_only<P: Platform, H: Hooks>(
    ctx: &mut GupContext<'_, '_, P, H>,
    start: VirtAddr,
    nr_pages: usize,
    flags: GupFlags,
    pages: &mut [Page],
) -> usize {
    fast_only(
        ctx,
        start,
        nr_pages,
        with_kind(flags, GupFlags::GET | GupFlags::FAST_ONLY),
        pages,
    )
}

/// `pin_user_pages_fast_only` (FOLL_PIN | FOLL_FAST_ONLY).
pub fn pin_user_pages_fast_only<P: Platform, H: Hooks>(
    ctx: &mut GupContext<'_, '_, P, H>,
    start: VirtAddr,
    nr_pages: usize,
    flags: GupFlags,
    pages: &mut [Page],
) -> usize {
    fast_only(
        ctx,
        start,
        nr_pages,
        with_kind(flags, GupFlags::PIN | GupFlags::FAST_ONLY),
        pages,
    )
}

/// The pages the lockless walk alone takes with `flags`, 0 on any error.
fn fast_only<P: Platform, H: Hooks>(
    ctx: &mut GupContext<'_, '_, P, H>,
    start: VirtAddr,
    nr_pages: usize,
    flags: Result<GupFlags, GupError>,
    pages: &mut [Page],
) -> usize {
    flags
        .and_then(|f| internal_get_user_pages_fast(ctx, start, nr_pages, f, pages))
        .map_or(0, |(n, _)| n)
}
