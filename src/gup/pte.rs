//! The PTE loop of `gup_pte_range` (Linux `mm/gup.c`), which the walk in
//! [`super::fast`] runs for each page table. Per PTE: a load, one rotate and
//! one compare for every stop condition ([`pinnable_pfn`]), the `struct
//! page`'s address, its compound test, the grab, the re-check,
//! `SetPageReferenced` and the store of the page; everything else leaves the
//! loop.
use super::flags::GupFlags;
use super::page::{release_each, Grab, Page, PageMap, PG_REFERENCED};
use crate::mm::entry::{is_poison, PteBits};
use crate::mm::{Defect, EntryPtr, Level, PhysAddr, Platform, WalkError, PAGE_SHIFT};

/// PTEs the PTE loop handles per loop test: the largest group the compiler
/// still unrolls completely (docs/bench.md, "The PTE loop"); the remainder
/// loop handles the rest, so short ranges cost the same whichever is chosen.
pub const PTE_GROUP: usize = 8;

/// Why the inline part of the PTE loop stopped.
#[derive(Clone, Copy)]
enum PteStop {
    /// At this PTE value: the walk stops here.
    Pte(u64),
    /// The PTE changed after this frame was grabbed: the grab goes back and
    /// the walk stops here.
    Changed(u64),
    /// The inline grab of this frame, read from this PTE, did not succeed.
    Grab(u64, u64),
}

/// Pin the PTEs from `ptep` into `out` (one page per slot) for a write pin if
/// `WRITE`, with the [`Grab`] kind `K`: the hot loop of `gup_pte_range`.
/// Returns how many were pinned before the first PTE the fast walk leaves
/// alone, and the PTE value it stopped at when that value is why (0 when all
/// were pinned or a grab stopped it); [`pte_defect`] names real damage.
/// `WRITE` and `K` are constants and everything lives in locals, so the
/// compiler keeps the loop in registers.
// Out of line on purpose: inlined into a walk it costs more per page table
// (register pressure in the caller); this way the loop owns all registers.
#[inline(never)]
pub(super) fn pte_range<P: Platform + ?Sized, const WRITE: bool, const K: u8>(
    p: &P,
    map: &PageMap,
    ptep: PhysAddr,
    out: &mut [Page],
) -> (usize, u64) {
    let pages = map.pages();
    let cma = if K == Grab::PIN_LONGTERM { map.cma() } else { 0..0 };
    // Frame numbers from here on have no struct page (not RAM the map covers).
    let frames = pages.len() as u64;
    // One PTE: its page, grabbed, or why the inline part stops.
    let pin = |pa: PhysAddr| -> Result<Page, PteStop> {
        // v5.9: gup_get_pte (ptep_get); later ptep_get_lockless.
        // SAFETY: `pa` is in the page table the checked segment entry names
        // (gup_pte_range keeps the range inside it), below the end of memory.
        let pte = unsafe { p.read_u64(pa) };
        let pfn = pinnable_pfn(pte, WRITE);
        if pfn >= frames {
            return Err(PteStop::Pte(pte));
        }
        // try_grab_compound_head(page, 1, flags), the common case inline.
        if !PageMap::try_grab_pte_page::<K>(pages, pfn, &cma) {
            return Err(PteStop::Grab(pfn, pte));
        }
        // Re-check: the PTE may have changed while we took the pin. Then the
        // pin goes back and the walk stops there (no error: gup falls back).
        // SAFETY: the same word as above.
        if unsafe { p.read_u64(pa) } != pte {
            return Err(PteStop::Changed(pfn));
        }
        PageMap::set_pte_page_referenced(pages, pfn); // SetPageReferenced(page)
        Ok(Page(pfn))
    };
    let n = out.len();
    let mut pa = ptep;
    loop {
        let done = ((pa.0 - ptep.0) / 8) as usize;
        let stop = 'pin: {
            // PTE_GROUP at a time, so the loop test runs once per group; the
            // few left over first, so nothing is live after the group loop.
            let (rest, groups) = out[done..].as_rchunks_mut::<PTE_GROUP>();
            for slot in rest {
                match pin(pa) {
                    Ok(frame) => *slot = frame,
                    Err(stop) => break 'pin stop,
                }
                pa = pa.add(8);
            }
            // Each PTE is found from its slot's address (both arrays step 8
            // bytes), so no pointer to the PTE is stepped beside the slot.
            let to_pte = pa.0.wrapping_sub(groups.as_ptr() as u64);
            let pte_of = |slot: &mut Page| PhysAddr((slot as *mut Page as u64).wrapping_add(to_pte));
            for group in groups.iter_mut() {
                for slot in group.iter_mut() {
                    match pin(pte_of(slot)) {
                        Ok(frame) => *slot = frame,
                        Err(stop) => {
                            pa = pte_of(slot);
                            break 'pin stop;
                        }
                    }
                }
            }
            return (n, 0);
        };
        let done = ((pa.0 - ptep.0) / 8) as usize;
        match stop {
            // A compound page, a CMA page for FOLL_LONGTERM, or a count that
            // is 0 or changed under the inline attempt: the full grab,
            // out of line, then on with the loop.
            PteStop::Grab(pfn, pte) if grab_cold(p, map, Grab::flags(K), pa, pfn, pte) => {
                out[done] = Page(pfn);
                pa = pa.add(8);
            }
            PteStop::Grab(..) => return (done, 0),
            PteStop::Changed(pfn) => {
                unpin_taken(map, &[Page(pfn)], Grab::flags(K));
                return (done, 0);
            }
            PteStop::Pte(pte) => return (done, pte),
        }
    }
}

/// A [`pte_range`] build.
pub(super) type PteRange<P> = fn(&P, &PageMap, PhysAddr, &mut [Page]) -> (usize, u64);

/// The [`pte_range`] build for the flags' kind of grab and FOLL_WRITE.
#[inline(always)]
pub(super) fn pte_range_for<P: Platform + ?Sized>(flags: GupFlags) -> PteRange<P> {
    match (flags.contains(GupFlags::WRITE), Grab::of(flags)) {
        (false, Grab::GET) => pte_range::<P, false, { Grab::GET }>,
        (false, Grab::PIN) => pte_range::<P, false, { Grab::PIN }>,
        (false, _) => pte_range::<P, false, { Grab::PIN_LONGTERM }>,
        (true, Grab::GET) => pte_range::<P, true, { Grab::GET }>,
        (true, Grab::PIN) => pte_range::<P, true, { Grab::PIN }>,
        (true, _) => pte_range::<P, true, { Grab::PIN_LONGTERM }>,
    }
}

/// What is wrong with the PTE `pte` at `pa`, where [`pte_range`] stopped, if it
/// is damage rather than a normal stop (not present, read-only, special).
#[cold]
#[inline(never)]
pub(super) fn pte_defect(pa: PhysAddr, pte: u64) -> Option<WalkError> {
    let defect = if is_poison(pte) {
        Defect::FreedTable
    } else if pte & PteBits::ZERO_BIT.bits() != 0 {
        Defect::PteBit800
    } else {
        return None;
    };
    let at = EntryPtr::in_table(Level::Pte, pa);
    Some(WalkError::BadEntry { at, val: pte, defect })
}

/// The PTE loop's grab of `pfn` (read as `pte` at `pa`) that the inline part
/// left: [`PageMap::try_grab_compound_head`] and the re-check. Out of line, so
/// the loop itself stays small enough to unroll.
#[cold]
#[inline(never)]
fn grab_cold<P: Platform + ?Sized>(p: &P, map: &PageMap, flags: GupFlags, pa: PhysAddr, pfn: u64, pte: u64) -> bool {
    if map.try_grab_compound_head(Page(pfn), 1, flags).is_none() {
        return false;
    }
    // SAFETY: the PTE the loop just read at `pa`.
    if unsafe { p.read_u64(pa) } != pte {
        unpin_taken(map, &[Page(pfn)], flags);
        return false;
    }
    map.set_page_flags(Page(pfn), PG_REFERENCED); // on the head, as PG_referenced is
    true
}

/// Drop references a walk took (the entry changed under it). Out of line: a
/// failed release is a kernel bug and panics, and the walk should not carry
/// that path.
#[cold]
#[inline(never)]
pub(super) fn unpin_taken(pagemap: &PageMap, pages: &[Page], flags: GupFlags) {
    if let Err(e) = release_each(pagemap, pages, flags) {
        panic!("gup_fast: releasing {}, a reference this walk took, failed", e.0);
    }
}

/// The PTE bits below the frame a pinnable PTE must have set: `pte_present`,
/// not `pte_protnone` (readable), and `pte_write` for FOLL_WRITE
/// (`pte_access_permitted`).
const fn pte_required(write: bool) -> u64 {
    let r = PteBits::PRESENT.bits() | PteBits::READ.bits();
    if write {
        r | PteBits::WRITE.bits()
    } else {
        r
    }
}

/// The PTE bits below the frame that do not matter to the fast walk: the
/// hardware's I and P (an old page and a clean writable one are pinned, as in
/// v5.9), young, dirty, soft-dirty, and write for a read pin. Those left must
/// be clear: special (no struct page), the must-be-zero bit 0x800, and the two
/// bits foldkern never sets (no-execute 0x100, unused 0x080), which the slow
/// path then handles.
const fn pte_ignored(write: bool) -> u64 {
    let i = PteBits::I.bits() | PteBits::P.bits() | PteBits::YOUNG.bits() | PteBits::DIRTY.bits();
    let i = i | PteBits::SOFT_DIRTY.bits();
    if write {
        i
    } else {
        i | PteBits::WRITE.bits()
    }
}

/// `pte`'s frame number if the fast walk may pin it (for a write pin if `write`),
/// and otherwise at least 2^52, above any frame number: the PTE with its ignored
/// bits set, XORed with those and the required ones (so every bit below the
/// frame is 0 exactly when the PTE may be pinned), rotated right by 12 so the
/// frame number lands in the low bits and every other bit below the frame
/// above it. `pinnable_pfn(pte, write) < frames` is then, in one compare,
/// "pinnable, and the frame has a struct page". (s390x: a rotate, an OR and an
/// XOR immediate on the high halfword and word.)
#[inline(always)]
pub const fn pinnable_pfn(pte: u64, write: bool) -> u64 {
    // Rotated first, so the compiler can keep the PTE (for the re-check) and
    // apply both constants to the rotated copy.
    let ignored = pte_ignored(write).rotate_right(PAGE_SHIFT);
    let required = pte_required(write).rotate_right(PAGE_SHIFT);
    (pte.rotate_right(PAGE_SHIFT) | ignored) ^ (ignored | required)
}
