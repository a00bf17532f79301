//! The plain walk: gup_fast for the two fixes ([`Variant::AddrEndFolded`],
//! [`Variant::OffsetLockless`]) when no trace and no invariant check are
//! asked for: how the entry points (`get_user_pages_fast` ...) and the
//! benchmark run them in a release build.
//!
//! It is the same walk as the instrumented [`Walker`] for the common case, and
//! only that: every region and segment entry on the way down must be in the
//! common form of the table it was read from with its origin inside memory
//! ([`in_common_form`], the test `check_entry` makes first), small pages, the
//! shared PTE loop. Anything else (an invalid entry, a large frame, an entry
//! `check_entry` would name) hands the rest of the range to the instrumented
//! walker, still with interrupts disabled, which decides and explains it as
//! it would have from the start. What it drops is what only explains:
//! pointers that carry their object's bounds (the fixes never leave a table,
//! pXd_addr_end keeps each loop inside its parent's entry), the walker's
//! state kept for traces and variants, the per-step hooks.
//!
//! The common form fixes each entry's type bits to its table's, so what the
//! walk would decide from them is known from the ASCE type, and the walk is
//! built once per type (`TOP`, the top table's level): which levels fold onto
//! the top table (`pXd_offset_lockless` keeps the pointer), and that a level
//! above the top table spans the whole space (its static `pXd_addr_end` is the
//! range's end). A folded level still re-reads its slot, as Linux does: the
//! value its parent accepted needs no second test, any other value (a changed
//! entry, the next slot once its loop steps) is tested in the top table's form.
use super::{GupFast, GupFlags, GupOutcome, Variant, WalkStack, Walker};
use crate::gup::page::{Page, PageMap};
use crate::gup::pte::{pte_defect, pte_range_for};
use crate::mm::entry::{Asce, P4d, Pgd, Pmd, Pud};
use crate::mm::pgtable::*;
use crate::mm::platform::IrqFlags;
use crate::mm::{AsceType, Level, PhysAddr, Platform, VirtAddr, PAGE_SIZE};

/// Where the plain walk ended.
enum End {
    /// The whole range is pinned.
    Done,
    /// The PTE loop stopped at the PTE at this address, of this value.
    Pte(PhysAddr, u64),
    /// An entry outside the common case, on the way to this address: the
    /// instrumented walker takes the rest from there.
    Explain(VirtAddr),
}

/// `gup_pgd_range` .. `gup_pte_range` for variant `V` (one of the fixes) inside
/// `local_irq_save` / `local_irq_restore`.
#[inline(always)]
pub(super) fn walk<P: Platform + ?Sized, const V: u8>(
    g: &GupFast<'_, P>,
    flags: GupFlags,
    pages: &mut [Page],
    start: VirtAddr,
    end: VirtAddr,
) -> GupOutcome {
    const { assert!(V == Variant::AddrEndFolded as u8 || V == Variant::OffsetLockless as u8) };
    // No trace: the parts of `g` the walk reads are all it needs.
    let (p, asce, map, stack) = (g.plat, g.asce, g.pagemap, g.stack);
    // Not `irq_disabled`: its closure, the whole walk, was not always inlined.
    let mut irq = IrqFlags::default();
    p.local_irq_save(&mut irq);
    let out = match asce.asce_type() {
        AsceType::Segment => range::<P, V, { Level::Pmd as u8 }>(p, asce, map, stack, flags, pages, start, end),
        AsceType::Region3 => range::<P, V, { Level::Pud as u8 }>(p, asce, map, stack, flags, pages, start, end),
        AsceType::Region2 => range::<P, V, { Level::P4d as u8 }>(p, asce, map, stack, flags, pages, start, end),
        AsceType::Region1 => range::<P, V, { Level::Pgd as u8 }>(p, asce, map, stack, flags, pages, start, end),
    };
    p.local_irq_restore(&irq);
    out
}

/// Whether the `level` loop reads the top table (of level `top`): the top
/// level's own loop and the loops folded onto it above.
const fn in_top_table(level: Level, top: u8) -> bool {
    level as u8 <= top
}

/// Whether `level` lies above the top table (of level `top`): folded onto it,
/// and one entry of it would span more than the whole space.
const fn above_top(level: Level, top: u8) -> bool {
    (level as u8) < top
}

/// READ_ONCE of the entry at `ptr`, a pointer into a `table` table, if it is in
/// that table's common form with its origin below `mem_end`. A value equal to
/// `accepted`, one that passed the same test, needs no second test.
#[inline(always)]
fn read<P: Platform + ?Sized>(p: &P, mem_end: u64, ptr: EntryPtr, table: Level, accepted: Option<u64>) -> Option<u64> {
    let val = p.read_u64(ptr.addr);
    (Some(val) == accepted || in_common_form(val, common_form(table), mem_end)).then_some(val)
}

/// The `level + 1` loop's first pointer below `val`, read at `ptr` in the
/// `level` loop of a space whose top table is of level `TOP`:
/// `pXd_offset_lockless(pXdp, pXd, addr)` for the merged fix; for the RFC
/// `pXd_offset(&copy, addr)`: the copy goes to the walker's slot and the
/// folding decision reads it back, as the compiled RFC walk did.
///
/// `val` is in its table's common form, so its type bits are the table's, and
/// the folding `pXd_offset_lockless` would decide from them is known from
/// `TOP`: a level above the top table hands its own pointer down (the next
/// level folds onto the same table), without the test.
#[inline(always)]
fn offset<P: Platform + ?Sized, const V: u8, const TOP: u8>(
    p: &P,
    stack: WalkStack,
    level: Level,
    ptr: EntryPtr,
    val: u64,
    addr: VirtAddr,
) -> EntryPtr {
    let (ptr, val) = if V == Variant::AddrEndFolded as u8 {
        let copy = EntryPtr::stack_copy(ptr.level(), stack.slot(level));
        p.write_u64(copy.addr, val);
        (copy, p.read_u64(copy.addr))
    } else {
        (ptr, val)
    };
    if above_top(level, TOP) {
        return ptr;
    }
    match level {
        Level::Pgd => p4d_offset_lockless(ptr, Pgd(val), addr),
        Level::P4d => pud_offset_lockless(ptr, P4d(val), addr),
        _ => pmd_offset_lockless(ptr, Pud(val), addr),
    }
}

/// `pXd_addr_end` of the `level` loop for the entry `val` at `addr` in a space
/// whose top table is of level `TOP`: the RFC's `pXd_addr_end_folded` (the
/// step of the table the entry came from), the merged fix's static one. A
/// level above the top table spans more than the whole space, and access_ok
/// kept the range inside it, so its static end is the range's: the merged
/// fix's loops over such levels run once.
#[inline(always)]
fn next<const V: u8, const TOP: u8>(level: Level, val: u64, addr: VirtAddr, end: VirtAddr) -> VirtAddr {
    if V == Variant::AddrEndFolded as u8 {
        rste_addr_end_folded(val, addr, end)
    } else if above_top(level, TOP) {
        end
    } else {
        addr_end(level, addr, end)
    }
}

/// The walk itself, interrupts disabled.
#[inline(always)]
#[allow(clippy::too_many_arguments)] // the parts of GupFast, unpacked into registers
fn range<P: Platform + ?Sized, const V: u8, const TOP: u8>(
    p: &P,
    asce: Asce,
    map: &PageMap,
    stack: WalkStack,
    flags: GupFlags,
    pages: &mut [Page],
    start: VirtAddr,
    end: VirtAddr,
) -> GupOutcome {
    let mem_end = p.mem_end().0;
    // The PTE loop's build for the flags, chosen once for the whole walk.
    let pte_range = pte_range_for::<P>(flags);
    // A level folded onto the top table reads the top table, and in its first
    // round re-reads its parent's slot: the value the parent accepted is taken
    // without a second test. (The pgd loop has no parent.)
    let read = |ptr, level: Level, parent: Option<u64>| {
        let (table, accepted) = if in_top_table(level, TOP) {
            (Level::ALL[TOP as usize], parent)
        } else {
            (level, None)
        };
        read(p, mem_end, ptr, table, accepted)
    };
    let offset = |level, ptr, val, addr| offset::<P, V, TOP>(p, stack, level, ptr, val, addr);
    let mut nr = 0;
    let mut addr = start;
    let mut pgdp = pgd_offset(asce, addr);
    let ended = 'walk: loop {
        let Some(pgd) = read(pgdp, Level::Pgd, None) else {
            break End::Explain(addr);
        };
        let pgd_next = next::<V, TOP>(Level::Pgd, pgd, addr, end);
        let mut p4dp = offset(Level::Pgd, pgdp, pgd, addr);
        loop {
            let Some(p4d) = read(p4dp, Level::P4d, Some(pgd)) else {
                break 'walk End::Explain(addr);
            };
            let p4d_next = next::<V, TOP>(Level::P4d, p4d, addr, pgd_next);
            let mut pudp = offset(Level::P4d, p4dp, p4d, addr);
            loop {
                let Some(pud) = read(pudp, Level::Pud, Some(p4d)) else {
                    break 'walk End::Explain(addr);
                };
                let pud_next = next::<V, TOP>(Level::Pud, pud, addr, p4d_next);
                let mut pmdp = offset(Level::Pud, pudp, pud, addr);
                loop {
                    let Some(pmd) = read(pmdp, Level::Pmd, Some(pud)) else {
                        break 'walk End::Explain(addr);
                    };
                    let pmd_next = pmd_addr_end(addr, pud_next);
                    let ptep = pte_offset(Pmd(pmd), addr).addr;
                    let n = (pmd_next.wrapping_sub(addr) / PAGE_SIZE) as usize;
                    let (done, stop) = pte_range(p, map, ptep, &mut pages[nr..nr + n]);
                    nr += done;
                    if done != n {
                        break 'walk End::Pte(ptep.add(done as u64 * 8), stop);
                    }
                    addr = pmd_next;
                    if addr == end {
                        break 'walk End::Done;
                    }
                    if addr == pud_next {
                        break;
                    }
                    pmdp = pmdp.add(1);
                }
                if addr == p4d_next {
                    break;
                }
                pudp = pudp.add(1);
            }
            if addr == pgd_next {
                break;
            }
            p4dp = p4dp.add(1);
        }
        pgdp = pgdp.add(1);
    };
    match ended {
        End::Done => GupOutcome::pinned(nr),
        End::Pte(pa, pte) => GupOutcome {
            error: pte_defect(pa, pte),
            ..GupOutcome::pinned(nr)
        },
        End::Explain(addr) => {
            let g = GupFast::new(p, asce, map, stack, Variant::ALL[V as usize]).checked(false);
            explain_rest::<P, V>(g, flags, pages, nr, addr, end)
        }
    }
}

/// The rest of the range from `addr` (`nr` pages pinned before it) through the
/// instrumented walker, without hooks: it re-walks from the top for `addr` and
/// decides what the plain walk left. Out of line and cold.
#[cold]
#[inline(never)]
fn explain_rest<P: Platform + ?Sized, const V: u8>(
    g: GupFast<'_, P>,
    flags: GupFlags,
    pages: &mut [Page],
    nr: usize,
    addr: VirtAddr,
    end: VirtAddr,
) -> GupOutcome {
    let rest = Walker::<P, V, false>::new(g, flags, &mut pages[nr..]).run(addr, end);
    GupOutcome {
        pinned: nr + rest.pinned,
        ..rest
    }
}
