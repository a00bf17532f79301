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
use super::{GupFast, GupFlags, GupOutcome, Variant, WalkStack, Walker};
use crate::gup::page::{Page, PageMap};
use crate::gup::pte::{pte_defect, pte_range_for};
use crate::mm::entry::{Asce, P4d, Pgd, Pmd, Pud};
use crate::mm::pgtable::*;
use crate::mm::platform::IrqFlags;
use crate::mm::{Level, PhysAddr, Platform, VirtAddr, PAGE_SIZE};

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
    let out = range::<P, V>(p, asce, map, stack, flags, pages, start, end);
    p.local_irq_restore(&irq);
    out
}

/// `(mask, want)`: the common form of the table a pointer points into.
type Form = (u64, u64);

/// READ_ONCE of the entry at `ptr`, if it is in the common `form` of its table
/// with its origin below `mem_end`.
#[inline(always)]
fn read<P: Platform + ?Sized>(p: &P, mem_end: u64, ptr: EntryPtr, form: Form) -> Option<u64> {
    let val = p.read_u64(ptr.addr);
    in_common_form(val, form, mem_end).then_some(val)
}

/// The next level's first pointer below `val`, read at `ptr` (a table of
/// `form`) in the `level` loop, and its table's form: `pXd_offset_lockless(pXdp,
/// pXd, addr)` for the merged fix; for the RFC `pXd_offset(&copy, addr)`: the
/// copy goes to the walker's slot and the folding decision reads it back, as
/// the compiled RFC walk did. A folded level keeps its parent's table, and so
/// its form.
#[inline(always)]
fn offset<P: Platform + ?Sized, const V: u8>(
    p: &P,
    stack: WalkStack,
    level: Level,
    (ptr, form): (EntryPtr, Form),
    val: u64,
    addr: VirtAddr,
) -> (EntryPtr, Form) {
    let (ptr, val) = if V == Variant::AddrEndFolded as u8 {
        let copy = EntryPtr::stack_copy(ptr.level(), stack.slot(level));
        p.write_u64(copy.addr, val);
        (copy, p.read_u64(copy.addr))
    } else {
        (ptr, val)
    };
    let (next, folded, below) = match level {
        Level::Pgd => (
            p4d_offset_lockless(ptr, Pgd(val), addr),
            pgd_folded(Pgd(val)),
            Level::P4d,
        ),
        Level::P4d => (
            pud_offset_lockless(ptr, P4d(val), addr),
            p4d_folded(P4d(val)),
            Level::Pud,
        ),
        _ => (
            pmd_offset_lockless(ptr, Pud(val), addr),
            pud_folded(Pud(val)),
            Level::Pmd,
        ),
    };
    (next, if folded { form } else { common_form(below) })
}

/// `pXd_addr_end` of the `level` loop for the entry `val` at `addr`: the
/// RFC's `pXd_addr_end_folded` (the step of the table the entry came from),
/// the merged fix's static one.
#[inline(always)]
fn next<const V: u8>(level: Level, val: u64, addr: VirtAddr, end: VirtAddr) -> VirtAddr {
    if V == Variant::AddrEndFolded as u8 {
        rste_addr_end_folded(val, addr, end)
    } else {
        addr_end(level, addr, end)
    }
}

/// The walk itself, interrupts disabled.
#[inline(always)]
#[allow(clippy::too_many_arguments)] // the parts of GupFast, unpacked into registers
fn range<P: Platform + ?Sized, const V: u8>(
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
    let read = |(ptr, form)| read(p, mem_end, ptr, form);
    let offset = |level, ptr, val, addr| offset::<P, V>(p, stack, level, ptr, val, addr);
    // A pmd loop reads segment entries only: a folded one re-reads an entry
    // whose type bits said segment and which its own table's form accepted.
    let segment = common_form(Level::Pmd);
    let mut nr = 0;
    let mut addr = start;
    let top = asce.asce_type().top();
    let mut pgdp = (pgd_offset(asce, addr), common_form(top));
    let ended = 'walk: loop {
        let Some(pgd) = read(pgdp) else {
            break End::Explain(addr);
        };
        let pgd_next = next::<V>(Level::Pgd, pgd, addr, end);
        let mut p4dp = offset(Level::Pgd, pgdp, pgd, addr);
        loop {
            let Some(p4d) = read(p4dp) else {
                break 'walk End::Explain(addr);
            };
            let p4d_next = next::<V>(Level::P4d, p4d, addr, pgd_next);
            let mut pudp = offset(Level::P4d, p4dp, p4d, addr);
            loop {
                let Some(pud) = read(pudp) else {
                    break 'walk End::Explain(addr);
                };
                let pud_next = next::<V>(Level::Pud, pud, addr, p4d_next);
                let mut pmdp = offset(Level::Pud, pudp, pud, addr);
                loop {
                    let Some(pmd) = read((pmdp.0, segment)) else {
                        break 'walk End::Explain(addr);
                    };
                    let pmd_next = pmd_addr_end(addr, pud_next);
                    let ptep = pte_offset(Pmd(pmd), addr).addr;
                    let n = (pmd_next.wrapping_sub(addr) / PAGE_SIZE) as usize;
                    let (done, stop) = pte_range_for(p, map, flags, ptep, &mut pages[nr..nr + n]);
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
                    pmdp.0 = pmdp.0.add(1);
                }
                if addr == p4d_next {
                    break;
                }
                pudp.0 = pudp.0.add(1);
            }
            if addr == pgd_next {
                break;
            }
            p4dp.0 = p4dp.0.add(1);
        }
        pgdp.0 = pgdp.0.add(1);
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
