//! A yardstick, not a walker to use: the merged (v5.9) lockless walk with every
//! check this kernel adds taken out. It keeps what Linux's `gup_fast` does
//! (`access_ok`, interrupts off, `pXd_offset_lockless` folding by the entry's
//! table-type bits, `pXd_none`, the PTE stop bits, the pin and its re-check) and
//! drops what foldkern adds on top: the object bounds of every pointer, the
//! well-formedness of every region and segment entry (type, length, reserved
//! bits, origin inside memory), large frames, and naming what stopped the walk.
//!
//! On corrupt tables it would follow any origin it finds, so it only ever runs
//! on the benchmark's own well-formed space. Its cost against the real
//! `gup_fast` is the price of those checks, and its fixed part is the least a
//! walk down this shape can take (docs/bench.md, "Where gup_fast's instructions go").
use core::sync::atomic::{AtomicU32, Ordering};
use foldkern::mm::entry::{PAGE_ORIGIN, REGION_ORIGIN, SEGMENT_ORIGIN};
use foldkern::mm::pgtable::{p4d_addr_end, pgd_addr_end, pmd_addr_end, pud_addr_end};
use foldkern::mm::{Asce, Level, PhysAddr, Platform, PAGE_SIZE};

/// Table-type bits of a region entry, and the values of a region-first,
/// -second and -third entry (`_REGION_ENTRY_TYPE_R1` ...).
const TT: u64 = 0x0c;
const R1: u64 = 0x0c;
const R2: u64 = 0x08;
const R3: u64 = 0x04;
/// Invalid bit of a region or segment entry; large-frame bit of a segment entry.
const INVALID: u64 = 0x20;
const LARGE: u64 = 0x400;
/// PTE bits that stop the walk: 0x800, invalid, special.
const PTE_STOP: u64 = 0x800 | 0x400 | 0x040;

/// Entry `level.index(addr)` of the table at `origin`.
fn entry(origin: u64, level: Level, addr: u64) -> u64 {
    origin + level.index(addr) as u64 * 8
}

/// Pin `nr_pages` pages from `start` (page aligned) read-only, as `gup_fast`
/// would on well-formed tables; returns how many it pinned.
pub fn gup_fast<P: Platform>(
    p: &P,
    asce: u64,
    start: u64,
    nr_pages: usize,
    pages: &mut [PhysAddr],
    pins: &[AtomicU32],
) -> usize {
    let nr_pages = nr_pages.min(pages.len());
    let asce = Asce(asce);
    // access_ok: non-empty, no wrap, inside the ASCE's reach.
    let last = (nr_pages as u64)
        .checked_mul(PAGE_SIZE)
        .and_then(|len| start.checked_add(len.checked_sub(1)?));
    let Some(last) = last.filter(|&last| last <= asce.asce_type().last_addr()) else {
        return 0;
    };
    let end = last.wrapping_add(1); // 0 stands for 2^64
    let irq = p.local_irq_save();
    let mut nr = 0;
    // pgd_offset: the top table, indexed with the shift of the ASCE type.
    let mut pgdp = entry(asce.origin().0, asce.asce_type().top(), start);
    let mut addr = start;
    'walk: loop {
        let pgd = p.read_u64(PhysAddr(pgdp));
        let pgd_next = pgd_addr_end(addr, end);
        if pgd & TT == R1 && pgd & INVALID != 0 {
            break;
        }
        let mut p4dp = if pgd & TT == R1 {
            entry(pgd & REGION_ORIGIN, Level::P4d, addr)
        } else {
            pgdp
        };
        loop {
            let p4d = p.read_u64(PhysAddr(p4dp));
            let p4d_next = p4d_addr_end(addr, pgd_next);
            if p4d & TT >= R2 && p4d & INVALID != 0 {
                break 'walk;
            }
            let mut pudp = if p4d & TT >= R2 {
                entry(p4d & REGION_ORIGIN, Level::Pud, addr)
            } else {
                p4dp
            };
            loop {
                let pud = p.read_u64(PhysAddr(pudp));
                let pud_next = pud_addr_end(addr, p4d_next);
                if pud & TT >= R3 && pud & INVALID != 0 {
                    break 'walk;
                }
                let mut pmdp = if pud & TT >= R3 {
                    entry(pud & REGION_ORIGIN, Level::Pmd, addr)
                } else {
                    pudp
                };
                loop {
                    let pmd = p.read_u64(PhysAddr(pmdp));
                    let pmd_next = pmd_addr_end(addr, pud_next);
                    if pmd & (INVALID | LARGE) != 0 {
                        break 'walk;
                    }
                    let ptep = entry(pmd & SEGMENT_ORIGIN, Level::Pte, addr);
                    let n = (pmd_next.wrapping_sub(addr) / PAGE_SIZE) as usize;
                    let done = pte_loop(p, ptep, &mut pages[nr..nr + n], pins);
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
    p.local_irq_restore(irq);
    nr
}

/// The PTE loop, the same steps as gup_fast's (eight PTEs per loop test).
#[inline(never)]
fn pte_loop<P: Platform>(p: &P, ptep: u64, out: &mut [PhysAddr], pins: &[AtomicU32]) -> usize {
    let limit = pins.len() as u64 * PAGE_SIZE;
    let pin = |pa: u64| -> Option<PhysAddr> {
        let pte = p.read_u64(PhysAddr(pa));
        if pte & PTE_STOP != 0 || pte >= limit {
            return None;
        }
        // SAFETY: pte < limit = pins.len() * PAGE_SIZE, so the index is in bounds.
        let counter = unsafe { pins.get_unchecked((pte / PAGE_SIZE) as usize) };
        counter.fetch_add(1, Ordering::AcqRel);
        if p.read_u64(PhysAddr(pa)) != pte {
            counter.fetch_sub(1, Ordering::AcqRel);
            return None;
        }
        Some(PhysAddr(pte & PAGE_ORIGIN))
    };
    let mut pa = ptep;
    'pin: {
        let mut groups = out.chunks_exact_mut(8);
        for group in &mut groups {
            for slot in group {
                let Some(frame) = pin(pa) else { break 'pin };
                *slot = frame;
                pa += 8;
            }
        }
        for slot in groups.into_remainder() {
            let Some(frame) = pin(pa) else { break 'pin };
            *slot = frame;
            pa += 8;
        }
        return out.len();
    }
    ((pa - ptep) / 8) as usize
}
