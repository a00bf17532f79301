//! Yardsticks, not walkers to use: the merged (v5.9) lockless walk written for
//! the instruction count, in two builds.
//!
//! * `CHECK = false`, "unchecked": what Linux's `gup_fast` does and nothing more
//!   (`access_ok`, interrupts off, `pXd_offset_lockless` folding by the entry's
//!   table-type bits, `pXd_none`, the PTE stop bits, the grab as gup_fast's PTE loop takes it and the
//!   re-check).
//! * `CHECK = true`, "lean": the same plus foldkern's entry validation, in the
//!   cheapest form it has: every region and segment entry on the way down must be
//!   in the common form of the table it was read from (type, length, reserved
//!   bits: [`common_form`]) with its origin inside memory, else the walk stops.
//!   Each pointer carries its table's form; folded levels inherit it.
//!
//! Neither has what the real `gup_fast` adds for explaining itself: typed
//! pointers that know their object (so stepping off a stack copy is caught and
//! shown), large frames, naming what stopped the walk, the pre-fix variants.
//! The unchecked build would follow any origin on corrupt tables, so both only
//! run on the benchmark's own well-formed space (docs/bench.md, "Where
//! gup_fast's instructions go").
use foldkern::gup::pte::{pinnable_pfn, PTE_GROUP};
use foldkern::gup::{Grab, Page, PageMap};
use foldkern::mm::entry::{RegionBits, SegmentBits, REGION_ORIGIN, SEGMENT_ORIGIN};
use foldkern::mm::pgtable::{common_form, in_common_form, p4d_addr_end, pgd_addr_end, pmd_addr_end, pud_addr_end};
use foldkern::mm::{Asce, Level, PhysAddr, Platform, PAGE_SIZE};

/// Table-type bits of a region entry, and their values in a region-first,
/// -second and -third entry.
const TT: u64 = RegionBits::TT.bits();
const R1: u64 = Level::Pgd.type_bits();
const R2: u64 = Level::P4d.type_bits();
const R3: u64 = Level::Pud.type_bits();
/// Invalid bit of a region or segment entry (the same bit in both).
const INVALID: u64 = RegionBits::I.bits();
/// Large-frame bit of a segment entry.
const LARGE: u64 = SegmentBits::FC.bits();

/// Entry `level.index(addr)` of the table at `origin`.
fn entry(origin: u64, level: Level, addr: u64) -> u64 {
    origin + level.index(addr) as u64 * 8
}

/// Whether the walk may go on from `val`, read through a pointer into a table of
/// form `(mask, want)`: with `CHECK` the lean validation, else `pXd_none` of a
/// real (not folded) entry: `real` says whether `val` is of this loop's level.
#[inline(always)]
fn go_on<const CHECK: bool>(val: u64, (mask, want): (u64, u64), mem_end: u64, real: bool) -> bool {
    if CHECK {
        in_common_form(val, (mask, want), mem_end)
    } else {
        !(real && val & INVALID != 0)
    }
}

/// Pin `nr_pages` pages from `start` (page aligned) read-only, as `gup_fast`
/// would on well-formed tables; returns how many it pinned. Out of line, as
/// gup_fast is, so both are measured as calls.
#[inline(never)]
pub fn gup_fast<P: Platform, const CHECK: bool>(
    p: &P,
    asce: u64,
    start: u64,
    nr_pages: usize,
    pages: &mut [Page],
    map: &PageMap,
) -> usize {
    let nr_pages = nr_pages.min(pages.len());
    let asce = Asce::from_val(asce);
    // access_ok: non-empty, no wrap, inside the ASCE's reach.
    let last = (nr_pages as u64)
        .checked_mul(PAGE_SIZE)
        .and_then(|len| start.checked_add(len.checked_sub(1)?));
    let Some(last) = last.filter(|&last| last <= asce.asce_type().last_addr()) else {
        return 0;
    };
    let end = last.wrapping_add(1); // 0 stands for 2^64
    let mem_end = p.mem_end().as_u64();
    p.irq_disabled(|| {
        let mut nr = 0;
        // pgd_offset: the top table, indexed with the shift of the ASCE type.
        let top = asce.asce_type().top();
        let (mut pgdp, pgd_form) = (entry(asce.origin().as_u64(), top, start), common_form(top));
        let mut addr = start;
        'walk: loop {
            let pgd = p.read_u64(PhysAddr::new(pgdp));
            let pgd_next = pgd_addr_end(addr, end);
            if !go_on::<CHECK>(pgd, pgd_form, mem_end, pgd & TT == R1) {
                break;
            }
            let (mut p4dp, p4d_form) = if pgd & TT == R1 {
                (entry(pgd & REGION_ORIGIN, Level::P4d, addr), common_form(Level::P4d))
            } else {
                (pgdp, pgd_form)
            };
            loop {
                let p4d = p.read_u64(PhysAddr::new(p4dp));
                let p4d_next = p4d_addr_end(addr, pgd_next);
                if !go_on::<CHECK>(p4d, p4d_form, mem_end, p4d & TT >= R2) {
                    break 'walk;
                }
                let (mut pudp, pud_form) = if p4d & TT >= R2 {
                    (entry(p4d & REGION_ORIGIN, Level::Pud, addr), common_form(Level::Pud))
                } else {
                    (p4dp, p4d_form)
                };
                loop {
                    let pud = p.read_u64(PhysAddr::new(pudp));
                    let pud_next = pud_addr_end(addr, p4d_next);
                    if !go_on::<CHECK>(pud, pud_form, mem_end, pud & TT >= R3) {
                        break 'walk;
                    }
                    let (mut pmdp, pmd_form) = if pud & TT >= R3 {
                        (entry(pud & REGION_ORIGIN, Level::Pmd, addr), common_form(Level::Pmd))
                    } else {
                        (pudp, pud_form)
                    };
                    loop {
                        let pmd = p.read_u64(PhysAddr::new(pmdp));
                        let pmd_next = pmd_addr_end(addr, pud_next);
                        // A large or invalid segment entry stops both builds.
                        if !go_on::<CHECK>(pmd, pmd_form, mem_end, true) || pmd & LARGE != 0 {
                            break 'walk;
                        }
                        let ptep = entry(pmd & SEGMENT_ORIGIN, Level::Pte, addr);
                        let n = (pmd_next.wrapping_sub(addr) / PAGE_SIZE) as usize;
                        let done = pte_loop(p, ptep, &mut pages[nr..nr + n], map);
                        nr += done;
                        addr = pmd_next;
                        if done != n || addr == end {
                            break 'walk;
                        }
                        if addr == pud_next {
                            break;
                        }
                        pmdp += 8;
                    }
                    if addr == p4d_next {
                        break;
                    }
                    pudp += 8;
                }
                if addr == pgd_next {
                    break;
                }
                p4dp += 8;
            }
            pgdp += 8;
        }
        nr
    })
}

/// The PTE loop, the same steps as gup_fast's (`PTE_GROUP` PTEs per loop test).
#[inline(never)]
fn pte_loop<P: Platform>(p: &P, ptep: u64, out: &mut [Page], map: &PageMap) -> usize {
    let pages = map.pages();
    let frames = pages.len() as u64;
    let pin = |pa: u64| -> Option<Page> {
        let pte = p.read_u64(PhysAddr::new(pa));
        let pfn = pinnable_pfn(pte, false); // a read pin, as gup_fast without FOLL_WRITE
                                            // gup_fast's inline grab; a page it leaves (compound, or being freed)
                                            // stops the yardstick, where gup_fast takes the out-of-line grab: the
                                            // benchmark's pages are never such pages.
        if pfn >= frames || !PageMap::try_grab_pte_page::<{ Grab::GET }>(pages, pfn, &(0..0)) {
            return None;
        }
        let page = Page::from_pfn(pfn);
        if p.read_u64(PhysAddr::new(pa)) != pte {
            map.put_page(page).expect("dropping the reference just taken");
            return None;
        }
        Some(page)
    };
    let mut pa = ptep;
    'pin: {
        let (groups, rest) = out.as_chunks_mut::<PTE_GROUP>();
        for group in groups {
            for slot in group {
                let Some(page) = pin(pa) else { break 'pin };
                *slot = page;
                pa += 8;
            }
        }
        for slot in rest {
            let Some(page) = pin(pa) else { break 'pin };
            *slot = page;
            pa += 8;
        }
        return out.len();
    }
    ((pa - ptep) / 8) as usize
}
