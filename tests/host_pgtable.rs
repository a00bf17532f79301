//! Host unit tests of the portable mm code: level and ASCE arithmetic, entry
//! encoding, `pXd_addr_end` (static and folded), folding decisions for every level
//! of every ASCE type, invalidation records, corrupted entries, and the shared
//! debug_vm_pgtable suite.
mod common;
use common::{host, pa};
use foldkern::gup::policy::GUARD;
use foldkern::gup::{get_user_pages_fast, GupError, GupFlags, Page, Variant};
use foldkern::mm::entry::*;
use foldkern::mm::host::Flush;
use foldkern::mm::pgtable::*;
use foldkern::mm::space::MapError;
use foldkern::mm::*;

#[test]
fn levels_shift_size_and_index_as_s390_lays_them_out() {
    assert_eq!(Level::ALL.map(|l| l.shift()), [53, 42, 31, 20, 12]);
    assert_eq!(Level::Pud.size(), 2 << 30);
    assert_eq!(Level::Pmd.entries(), 2048);
    assert_eq!(Level::Pte.entries(), 256);
    assert_eq!(Level::Pte.table_bytes(), 2048);
    assert_eq!(Level::Pud.index(0x100_7fff_f000), 0x200);
    assert_eq!(Level::Pud.index(0x100_8000_0000), 0x201);
    assert_eq!(Level::Pmd.index(0x100_7fff_f000), 0x7ff);
    assert_eq!(Level::Pte.index(0x100_7fff_f000), 0xff);
    assert_eq!(Level::Pgd.index(u64::MAX), 0x7ff);
    for l in Level::ALL {
        assert_eq!(l.below().and_then(|b| b.above()), l.below().map(|_| l));
    }
    assert_eq!(
        Level::ALL.map(|l| l.translation_exception()),
        [0x39, 0x3a, 0x3b, 0x10, 0x11]
    );
}

#[test]
fn each_asce_type_has_its_levels_and_its_limit() {
    assert_eq!(AsceType::ALL.map(|t| t.levels()), [2, 3, 4, 5]);
    assert_eq!(
        AsceType::ALL.map(|t| t.last_addr()),
        [(1 << 31) - 1, (1 << 42) - 1, (1 << 53) - 1, u64::MAX]
    );
    assert_eq!(AsceType::for_last_addr(0), AsceType::Segment);
    assert_eq!(AsceType::for_last_addr((1 << 31) - 1), AsceType::Segment);
    assert_eq!(AsceType::for_last_addr(1 << 31), AsceType::Region3);
    assert_eq!(AsceType::for_last_addr((1 << 42) - 1), AsceType::Region3);
    assert_eq!(AsceType::for_last_addr(1 << 42), AsceType::Region2);
    assert_eq!(AsceType::for_last_addr(1 << 53), AsceType::Region1);
    assert_eq!(AsceType::for_last_addr(u64::MAX), AsceType::Region1);
    for t in AsceType::ALL {
        assert_eq!(AsceType::from_dt_bits(t.dt_bits()), t);
        let a = Asce::new(pa(0x4000), t);
        assert_eq!((a.origin(), a.asce_type(), a.val() & 3), (pa(0x4000), t, 3));
    }
    // Folding per type: the levels above the top table are folded.
    let folded = |t: AsceType| Level::ALL.map(|l| t.is_folded(l));
    assert_eq!(folded(AsceType::Segment), [true, true, true, false, false]);
    assert_eq!(folded(AsceType::Region3), [true, true, false, false, false]);
    assert_eq!(folded(AsceType::Region2), [true, false, false, false, false]);
    assert_eq!(folded(AsceType::Region1), [false; 5]);
}

#[test]
fn entries_encode_type_origin_and_bits_as_the_pop_says() {
    assert_eq!(empty_entry(Level::Pgd), 0x2c);
    assert_eq!(empty_entry(Level::P4d), 0x28);
    assert_eq!(empty_entry(Level::Pud), 0x24);
    assert_eq!(empty_entry(Level::Pmd), 0x20);
    assert_eq!(empty_entry(Level::Pte), 0x400);
    assert_eq!(table_entry(Level::Pud, pa(0x8000)), 0x8007);
    assert_eq!(table_entry(Level::Pgd, pa(0x8000)), 0x800f);
    assert_eq!(table_entry(Level::Pmd, pa(0x8800)), 0x8800);
    let p = mk_pte(pa(0x5000), false);
    assert_eq!(p.val(), 0x5215, "read-only, clean, young: present, read, young, P");
    assert!(!p.write() && p.present() && !p.none() && !p.special() && !p.bad());
    // The rows of Linux's table above _ASCE_ORIGIN (arch/s390/include/asm/
    // pgtable.h): the hardware bits follow from the software ones.
    let rw = mk_pte(pa(0x5000), true);
    assert_eq!(rw.val() & 0xfff, 0x235, "read-write, clean, young (.01.xx1101.1)");
    assert_eq!(
        rw.mkdirty().val() & 0xfff,
        0x03f,
        "read-write, dirty, young, soft-dirty (.00.xx1111.1)"
    );
    assert_eq!(
        rw.mkdirty().mkold().val() & 0xfff,
        0x43b,
        "read-write, dirty, old (.10.xx1110.1)"
    );
    assert_eq!(rw.mkold().val() & 0xfff, 0x631, "read-write, clean, old (.11.xx1100.1)");
    assert_eq!(
        p.mkdirty().val() & 0xfff,
        0x21f,
        "read-only, dirty, young (.01.xx0111.1)"
    );
    assert_eq!(p.mkold().val() & 0xfff, 0x611, "read-only, clean, old (.11.xx0100.1)");
    assert_eq!(rw.mkdirty().wrprotect().val() & 0xfff, 0x21f, "wrprotect sets P");
    assert_eq!(
        p.mkdirty().mkwrite().val() & 0xfff,
        0x03f,
        "mkwrite of a dirty page clears P"
    );
    assert_eq!(p.mkwrite().val() & 0xfff, 0x235, "mkwrite of a clean page keeps P");
    assert!(Pte::new(0x5601).protnone() && !rw.protnone(), "present without read");
    assert_eq!(
        rw.mkdirty().modify(page_prot(false)).val() & 0xfff,
        0x21f,
        "pte_modify keeps dirty, young"
    );
    assert!(Pte::new(0x5800).bad());
    assert!(pgd_folded(Pgd::new(0x24)) && !pgd_folded(Pgd::new(0x2c)));
    assert!(p4d_folded(P4d::new(0x24)) && !p4d_folded(P4d::new(0x28)));
    assert!(pud_folded(Pud::new(0x20)) && !pud_folded(Pud::new(0x24)));
    // A folded level is never none, even when the real entry is invalid.
    assert!(!p4d_none(P4d::new(0x24)) && p4d_present(P4d::new(0x24)));
    assert!(pud_none(Pud::new(0x24)) && !pud_present(Pud::new(0x24)));
    assert!(pud_large(Pud::new(0x8000_0000 | 0x404)) && !pud_large(Pud::new(0x8000_0000 | 0x408)));
    assert!(pmd_large(Pmd::new(0x10_0400)) && !pmd_large(Pmd::new(0x10_0000)));
}

/// `pXd_addr_end` as Linux writes it (`include/linux/pgtable.h`): the
/// boundary after `addr`, masked, then `__boundary - 1 < end - 1`.
fn linux_addr_end(size: u64, addr: u64, end: u64) -> u64 {
    let boundary = addr.wrapping_add(size) & !(size - 1);
    if boundary.wrapping_sub(1) < end.wrapping_sub(1) {
        boundary
    } else {
        end
    }
}

/// foldkern compares entry numbers instead of masked addresses; it must give
/// Linux's answer for every level and entry type, around every boundary,
/// with `end` 0 (2^64) and `addr` in the last entry.
#[test]
fn addr_end_agrees_with_linux_formula() {
    let mut cases = vec![];
    for shift in [12u32, 20, 31, 42, 53] {
        let size = 1u64 << shift;
        for base in [0, size, 5 * size, (1 << 63) - size, !(size - 1)] {
            for off in [0, 1, 0xfff, size / 2, size - 1] {
                for d in [1u64, 0x1000, size - 1, size, size + 1, 3 * size] {
                    let addr = base.wrapping_add(off) & !0xfff;
                    cases.push((shift, addr, addr.wrapping_add(d)));
                    cases.push((shift, addr, 0));
                }
            }
        }
    }
    for (shift, addr, end) in cases {
        let want = linux_addr_end(1 << shift, addr, end);
        if let Some(l) = Level::ALL.into_iter().find(|l| l.shift() == shift && *l != Level::Pte) {
            assert_eq!(addr_end(l, addr, end), want, "{l:?} {addr:#x} {end:#x}");
        }
        if shift >= 20 && (shift - 20) % 11 == 0 {
            let tt = u64::from((shift - 20) / 11) << 2;
            assert_eq!(
                rste_addr_end_folded(tt, addr, end),
                want,
                "tt {tt:#x} {addr:#x} {end:#x}"
            );
        }
    }
}

#[test]
fn addr_end_steps_by_the_level_or_folded_by_the_entry() {
    // The seed: pud_addr_end stops at 2 GiB, p4d/pgd run to the end.
    let (a, e) = (0x100_7fff_f000u64, 0x100_8000_1000u64);
    assert_eq!(pud_addr_end(a, e), 0x100_8000_0000);
    assert_eq!(p4d_addr_end(a, e), e);
    assert_eq!(pgd_addr_end(a, e), e);
    assert_eq!(pmd_addr_end(a, e), 0x100_8000_0000);
    // Folded: the step is that of the entry's own table.
    let r3 = Level::Pud.type_bits();
    assert_eq!(pgd_addr_end_folded(Pgd::new(r3), a, e), 0x100_8000_0000);
    assert_eq!(p4d_addr_end_folded(P4d::new(r3), a, e), 0x100_8000_0000);
    assert_eq!(rste_addr_end_folded(0, 0xff000, 0x101000), 0x100000);
    assert_eq!(
        rste_addr_end_folded(0x08, 0x3ff_ffff_f000, 0x400_0000_1000),
        0x400_0000_0000
    );
    // end == 0 means 2^64; the boundary computation wraps at the top.
    assert_eq!(pgd_addr_end(0xffff_ffff_ffff_f000, 0), 0);
    assert_eq!(pmd_addr_end(0xffff_ffff_fff0_0000, 0), 0);
    assert_eq!(pmd_addr_end(0xffff_ffff_ffe0_0000, 0), 0xffff_ffff_fff0_0000);
    for (addr, end) in [
        (0, 4096),
        (0xff000, 0x201000),
        (0x7fff_f000, 0x8000_1000),
        (1 << 42, 0),
        (0xffff_ffff_ffff_f000, 0),
    ] {
        debug_vm_pgtable::check_addr_end(addr, end).unwrap();
    }
}

#[test]
fn every_level_folds_as_its_entry_type_decides_in_every_type() {
    let h = host(16, false);
    for ty in AsceType::ALL {
        let mut s = h.space(ty);
        let va = 0x7fff_f000;
        s.map(va, pa(0x10000), 1, Prot::RW).unwrap();
        let pgdp: EntryPtr = pgd_offset(s.asce(), va);
        assert_eq!(pgdp.level(), ty.top(), "{ty:?}: pgd_offset indexes the top table");
        let p4dp = p4d_offset(h.plat, pgdp, va).unwrap();
        let pudp = pud_offset(h.plat, p4dp, va).unwrap();
        let pmdp = pmd_offset(h.plat, pudp, va).unwrap();
        let got = [p4dp == pgdp, pudp == p4dp, pmdp == pudp];
        let want = [
            ty <= AsceType::Region2,
            ty <= AsceType::Region3,
            ty == AsceType::Segment,
        ];
        assert_eq!(got, want, "{ty:?}: which of p4d/pud/pmd_offset return their argument");
        assert_eq!(pmdp.level(), Level::Pmd);
        let pmd = Pmd::new(read_entry(h.plat, pmdp).unwrap());
        let ptep = pte_offset(pmd, va);
        assert_eq!(Pte::new(read_entry(h.plat, ptep).unwrap()).frame(), pa(0x10000));
        assert_eq!(walk_to(h.plat, s.asce(), va, Level::Pte).unwrap(), ptep);
    }
}

#[test]
fn unmap_and_protect_record_invalidations() {
    let h = host(16, false);
    let mut s = h.space(AsceType::Region3);
    s.map(0x100_7fff_f000, pa(0x10000), 2, Prot::RW).unwrap();
    h.plat.flushes.borrow_mut().clear();
    s.protect(0x100_7fff_f000, 1, Prot::RO).unwrap();
    assert!(matches!(h.plat.flushes.borrow()[..], [Flush::Ipte(_, 0x100_7fff_f000)]));
    h.plat.flushes.borrow_mut().clear();
    s.unmap(0x100_7fff_f000, 2).unwrap();
    let f = h.plat.flushes.borrow().clone();
    let iptes = f.iter().filter(|x| matches!(x, Flush::Ipte(..))).count();
    let idtes: Vec<_> = f
        .iter()
        .filter_map(|x| if let Flush::Idte(_, l, _) = x { Some(*l) } else { None })
        .collect();
    assert_eq!(iptes, 2, "{f:?}");
    // Each page table is unhooked from its segment table, each segment table from the region-third table.
    assert_eq!(idtes, [Level::Pmd, Level::Pud, Level::Pmd, Level::Pud], "{f:?}");
    assert_eq!(s.table_bytes(), 16384);
}

#[test]
fn unmap_of_a_large_segment_is_one_idte() {
    // No PTEs to IPTE: the segment entry's IDTE is the only purge of the 1 MiB
    // frame's translations, and the top table stays (nothing to sync or free).
    let h = host(16, true);
    let mut s = h.space(AsceType::Segment);
    s.map_large(0x20_0000, pa(0x10_0000), Level::Pmd, Prot::RW).unwrap();
    h.plat.flushes.borrow_mut().clear();
    s.unmap(0x20_0000, 256).unwrap();
    let f = h.plat.flushes.borrow().clone();
    assert_eq!(f[..], [Flush::Idte(s.asce().origin(), Level::Pmd, 0x20_0000)], "{f:?}");
    assert_eq!(s.lookup(0x20_0000).unwrap(), None);
}

#[test]
fn drop_waits_for_walkers_and_purges_before_freeing() {
    // A lockless walker may still hold the dropped space's ASCE, and a new space
    // built on its top table gets the same ASCE: drop waits the walkers out and
    // purges the TLB (kernel::mm::dropped_space_leaves_no_translations shows why).
    let h = host(16, false);
    let mut s = h.space(AsceType::Region3);
    s.map(0x100_7fff_f000, pa(0x10000), 1, Prot::RW).unwrap();
    let asce = s.asce();
    let tables =
        [Level::Pud, Level::Pmd, Level::Pte].map(|l| walk_to(h.plat, asce, 0x100_7fff_f000, l).unwrap().base());
    let free = h.frames.lock().free_count();
    h.plat.flushes.borrow_mut().clear();
    drop(s);
    let f = h.plat.flushes.borrow().clone();
    assert_eq!(f[..], [Flush::GracePeriod, Flush::AsceChanged(asce, asce)], "{f:?}");
    // The region-third and segment tables (4 frames each) and the frame of the
    // one page table came back, poisoned like every freed table.
    assert_eq!(h.frames.lock().free_count(), free + 9, "frames freed by drop");
    let strict = h.plat.strict.replace(None);
    for t in tables {
        assert!(is_poison(h.plat.read_u64(t)), "table {t:?} after drop");
    }
    h.plat.strict.set(strict);
}

#[test]
fn unmap_of_many_tables_frees_them_in_batches() {
    // 600 page tables in one unmap: the batch of unhooked tables (a frame of
    // 512, as mmu_gather's is a page) fills once on the way, so two grace
    // periods pass, and every table and the batch frame are freed in the end.
    let h = host(16, false);
    let mut s = h.space(AsceType::Segment);
    let empty = s.table_bytes();
    let free = h.frames.lock().free_count();
    for i in 0..600u64 {
        s.map(i << 20, pa(0x10000), 1, Prot::RW).unwrap();
    }
    h.plat.flushes.borrow_mut().clear();
    s.unmap(0, 600 * 256).unwrap();
    let f = h.plat.flushes.borrow().clone();
    let graces = f.iter().filter(|x| **x == Flush::GracePeriod).count();
    let idtes = f.iter().filter(|x| matches!(x, Flush::Idte(..))).count();
    assert_eq!((graces, idtes, f.contains(&Flush::Sync)), (2, 600, false));
    assert_eq!((s.table_bytes(), h.frames.lock().free_count()), (empty, free));
}

#[test]
fn without_a_batch_frame_tables_are_freed_at_once_after_an_ipi() {
    // tlb_remove_table_one: no frame for the batch, so each unhooked table is
    // freed at once, after walkers answered an IPI, and nothing is lost.
    let h = host(16, false);
    let mut s = h.space(AsceType::Segment);
    let empty = s.table_bytes();
    for i in 0..3u64 {
        s.map(i << 20, pa(0x10000), 1, Prot::RW).unwrap();
    }
    let held: Vec<PhysAddr> = std::iter::from_fn(|| h.frames.lock().alloc_frame().ok()).collect();
    h.plat.flushes.borrow_mut().clear();
    s.unmap(0, 3 * 256).unwrap();
    let f = h.plat.flushes.borrow().clone();
    // The first unhook finds no frame: IPI, then freed at once. (The frees
    // themselves give frames back, so a later table can open a batch.)
    assert!(matches!(f[..2], [Flush::Idte(..), Flush::Sync]), "{f:?}");
    for k in (0..f.len()).filter(|&k| f[k] == Flush::Sync) {
        assert!(
            matches!(f[k - 1], Flush::Idte(..)),
            "an IPI right after its unhook: {f:?}"
        );
    }
    assert_eq!(s.table_bytes(), empty);
    for p in held {
        h.frames.lock().free_frame(p).unwrap();
    }
}

#[test]
fn unmap_leaves_cleared_ptes_empty() {
    // An invalid PTE that still names a frame is not "none" (Linux would take it
    // for a swap entry): what unmap clears must be exactly the empty PTE, also
    // where IPTE has already set the invalid bit.
    let h = host(16, false);
    let mut s = h.space(AsceType::Segment);
    s.map(0x1000, pa(0x10000), 4, Prot::RW).unwrap();
    s.unmap(0x2000, 2).unwrap(); // the pages around keep the page table
    let ptep = walk_to(h.plat, s.asce(), 0x1000, Level::Pte).unwrap();
    let ptes = [0, 1, 2, 3].map(|k| h.plat.read_u64(ptep.add(k).addr()));
    let empty = empty_entry(Level::Pte);
    assert_eq!(ptes, [0x1003f, empty, empty, 0x1303f], "{ptes:x?}");
}

#[test]
fn upgrade_keeps_translations_and_records_asce_change() {
    let h = host(16, false);
    let mut s = h.space(AsceType::Segment);
    s.map(0x1000, pa(0x20000), 1, Prot::RW).unwrap();
    let old = s.asce();
    s.map(0xffff_ffff_ffff_f000, pa(0x21000), 1, Prot::RO).unwrap();
    assert_eq!(s.asce_type(), AsceType::Region1);
    assert!(h.plat.flushes.borrow().contains(&Flush::AsceChanged(old, s.asce())));
    assert_eq!(s.lookup(0x1234).unwrap().unwrap().pa, pa(0x20234));
    let t = s.lookup(0xffff_ffff_ffff_fff8).unwrap().unwrap();
    assert_eq!((t.pa, t.write), (pa(0x21ff8), false));
}

#[test]
fn bad_requests_are_refused_without_change() {
    let h = host(16, false);
    let mut s = h.space(AsceType::Region3);
    s.map(0x1000, pa(0x20000), 1, Prot::RW).unwrap();
    let before = (s.table_bytes(), h.frames.lock().free_count());
    assert_eq!(
        s.map(0x1001, pa(0x20000), 1, Prot::RW),
        Err(MapError::Misaligned(0x1001))
    );
    assert_eq!(s.map(0, pa(0x30000), 2, Prot::RW), Err(MapError::AlreadyMapped(0x1000)));
    assert_eq!(
        s.map(0x5000, pa(16 << 20), 1, Prot::RW),
        Err(MapError::FrameOutsideMemory(pa(16 << 20)))
    );
    assert_eq!(
        s.map(0x5000, pa(0xffff_ffff_ffff_e000), 3, Prot::SPECIAL),
        Err(MapError::FrameOutsideMemory(pa(0xffff_ffff_ffff_e000))),
        "special frames that would wrap past 2^64"
    );
    assert_eq!(
        s.unmap(0xffff_ffff_ffff_f000, 2),
        Err(MapError::Wraps {
            start: 0xffff_ffff_ffff_f000,
            pages: 2
        })
    );
    assert_eq!(s.protect(0x2000, 1, Prot::RO), Err(MapError::NotMapped(0x2000)));
    assert_eq!((s.table_bytes(), h.frames.lock().free_count()), before);
    assert!(s.lookup(0).unwrap().is_none());
}

/// `map` and `protect` check a range one page table at a time: an overlap (or a
/// hole) deep in the range, or a large frame, is named exactly and nothing
/// changes; a clean range across several page tables maps (protects) every page.
#[test]
fn range_map_and_protect_check_each_page_table_once_and_name_the_culprit() {
    let h = host(16, true);
    let mut s = h.space(AsceType::Region3);
    let base = 0x4_0000_0000 - 5 * PAGE_SIZE; // 5 pages below a 2 GiB boundary
    let taken = base + (5 + 256 + 17) * PAGE_SIZE; // in the range's third page table
    s.map(taken, pa(0x20000), 1, Prot::RW).unwrap();
    s.map_large(0x4_0040_0000, pa(0x200000), Level::Pmd, Prot::RW).unwrap();
    let before = (s.table_bytes(), h.frames.lock().free_count());
    assert_eq!(
        s.map(base, pa(0x40000), 600, Prot::RW),
        Err(MapError::AlreadyMapped(taken))
    );
    assert_eq!(
        s.map(0x4_0032_0000, pa(0x40000), 512, Prot::RW),
        Err(MapError::AlreadyMapped(0x4_0040_0000)),
        "the large frame after the first page table of the range"
    );
    assert_eq!((s.table_bytes(), h.frames.lock().free_count()), before);
    for i in [0, 4, 5, 260] {
        assert!(
            s.lookup(base + i * PAGE_SIZE).unwrap().is_none(),
            "page {i} mapped by a refused map"
        );
    }
    // The same range without the clash: 600 pages over four page tables.
    s.unmap(taken, 1).unwrap();
    s.map(base, pa(0x40000), 600, Prot::RO).unwrap();
    for i in 0..600 {
        let t = s.lookup(base + i * PAGE_SIZE).unwrap().unwrap();
        assert_eq!((t.pa, t.write), (pa(0x40000 + i * PAGE_SIZE), false), "page {i}");
    }
    assert!(s.lookup(base + 600 * PAGE_SIZE).unwrap().is_none());
    // protect checks the same way: the first hole is named, a large frame refused,
    // and a refused protect changes no rights.
    assert_eq!(
        s.protect(base, 601, Prot::RW),
        Err(MapError::NotMapped(base + 600 * PAGE_SIZE))
    );
    assert_eq!(
        s.protect(0x4_0040_0000 - PAGE_SIZE, 2, Prot::RW),
        Err(MapError::NotMapped(0x4_0040_0000 - PAGE_SIZE))
    );
    s.map(0x4_0040_0000 - PAGE_SIZE, pa(0x30000), 1, Prot::RO).unwrap();
    assert_eq!(
        s.protect(0x4_0040_0000 - PAGE_SIZE, 2, Prot::RW),
        Err(MapError::LargeMapping(0x4_0040_0000))
    );
    assert!(!s.lookup(0x4_0040_0000 - PAGE_SIZE).unwrap().unwrap().write);
    assert!((0..600).all(|i| !s.lookup(base + i * PAGE_SIZE).unwrap().unwrap().write));
    s.protect(base, 600, Prot::RW).unwrap();
    assert!((0..600).all(|i| s.lookup(base + i * PAGE_SIZE).unwrap().unwrap().write));
}

#[test]
fn corrupted_entries_are_reported_never_followed() {
    let va = 0x100_7fff_f000;
    const END: u64 = 16 << 20; // the end of the hosts' memory
                               // (what, EDAT on the host, the space, the level of the corrupted entry, how
                               // its value is corrupted)
    type Corruption = (&'static str, bool, AsceType, Level, fn(u64) -> u64);
    let cases: [Corruption; 9] = [
        ("wrong table type", false, AsceType::Region3, Level::Pud, |v| {
            (v & !0x0c) | 0x08
        }),
        ("table length too short", false, AsceType::Region3, Level::Pud, |v| {
            v & !3
        }),
        ("PTE bit 0x800", false, AsceType::Region3, Level::Pte, |v| v | 0x800),
        ("origin outside memory", false, AsceType::Region3, Level::Pmd, |v| {
            (v & 0x7ff) | (64 << 20)
        }),
        (
            "page-table origin at the end of memory",
            false,
            AsceType::Region3,
            Level::Pmd,
            |v| (v & 0x7ff) | END,
        ),
        (
            "segment-table origin at the end of memory",
            false,
            AsceType::Region3,
            Level::Pud,
            |v| (v & !PAGE_ORIGIN) | END,
        ),
        ("large bit without EDAT-1", false, AsceType::Region3, Level::Pmd, |v| {
            v | 0x400
        }),
        (
            "large bit on a region-second entry",
            true,
            AsceType::Region2,
            Level::P4d,
            |v| v | 0x400,
        ),
        (
            "1 MiB frame at the end of memory",
            true,
            AsceType::Region3,
            Level::Pmd,
            |_| END | 0x400,
        ),
    ];
    for (name, edat, ty, level, f) in cases {
        let h = host(16, edat);
        let mut s = h.space(ty);
        s.map(va, pa(0x20000), 1, Prot::RW).unwrap();
        let (at, old) = s.poke_entry(va, level, f).unwrap();
        assert!(matches!(s.lookup(va), Err(WalkError::BadEntry { .. })), "{name}");
        for v in Variant::ALL {
            let (o, pages) = h.gup(&s, v, va, 1, GupFlags::empty());
            assert!(
                pages.is_empty() && matches!(o.error, Some(WalkError::BadEntry { .. })),
                "{name}: {v:?} {o:?}"
            );
        }
        // Put it back so the space frees cleanly.
        h.plat.write_u64(at.addr(), old);
    }
    // A valid PTE whose frame lies outside memory is corrupt too. gup_fast just
    // stops there (no struct page: Linux's fast path falls back), and the slow
    // path, which checks every entry, names it.
    let h = host(16, false);
    let mut s = h.space(AsceType::Region3);
    s.map(va, pa(0x20000), 1, Prot::RW).unwrap();
    let (at, old) = s.poke_entry(va, Level::Pte, |v| (v & !PAGE_ORIGIN) | END).unwrap();
    let outside = |e: &WalkError| {
        matches!(
            e,
            WalkError::BadEntry {
                defect: Defect::FrameOutsideMemory,
                ..
            }
        )
    };
    assert!(matches!(s.lookup(va), Err(ref e) if outside(e)), "{:?}", s.lookup(va));
    for v in Variant::FIXED {
        let (o, pages) = h.gup(&s, v, va, 1, GupFlags::empty());
        assert!(pages.is_empty() && o.error.is_none(), "{v:?} {o:?}");
        let mut pages = [Page::from_pfn(0)];
        let r = get_user_pages_fast(&mut h.ctx(&mut s, v), va, 1, GupFlags::empty(), &mut pages);
        assert!(matches!(r, Err(GupError::Walk(ref e)) if outside(e)), "{v:?} {r:?}");
    }
    h.plat.write_u64(at.addr(), old);
}

#[test]
fn host_arena_reports_stray_access() {
    let h = host(1, false);
    let plat = h.plat;
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| plat.read_u64(pa(1 << 20))));
    assert!(r.is_err(), "a read beyond the arena must be reported");
    // A walker pointer off its object is refused before any read happens.
    for p in [
        EntryPtr::table(Level::Pte, pa(0x1000), 255).add(1),
        EntryPtr::table(Level::Pmd, pa(0x4000), 0).add(-1),
    ] {
        assert_eq!(read_entry(h.plat, p), Err(WalkError::OffObject { ptr: p, word: None }));
    }
    // So is a pointer inside its own table but outside memory, or misaligned:
    // read_entry is the safe read through an EntryPtr, whatever made it.
    for p in [
        EntryPtr::table(Level::Pte, plat.mem_end(), 0),
        EntryPtr::stack_copy(Level::Pud, plat.mem_end()).add(1),
        EntryPtr::table(Level::Pmd, pa(0x4004), 0),
    ] {
        assert_eq!(
            read_entry(h.plat, p),
            Err(WalkError::OffObject { ptr: p, word: None }),
            "{p}"
        );
    }
    // Off a stack copy, the walker's own guard words just after it are shown
    // (what the pre-fix walk would have taken for an entry); nothing before it.
    let copy = EntryPtr::stack_copy(Level::Pud, h.stack.slot(Level::Pgd));
    let guard = |p: EntryPtr| GUARD | ((p.addr().as_u64() - h.stack.base().as_u64()) / 8);
    for (n, shown) in [(1, true), (7, true), (8, false), (-1, false)] {
        let p = copy.add(n);
        let word = shown.then(|| guard(p));
        assert_eq!(
            read_entry(h.plat, p),
            Err(WalkError::OffObject { ptr: p, word }),
            "copy{n:+}"
        );
    }
    assert_eq!(
        copy.add(1).to_string(),
        format!(
            "{:#x} (stack copy of a region-third entry, +8 bytes past it)",
            copy.addr().as_u64() + 8
        )
    );
    assert_eq!(
        copy.to_string(),
        format!("{:#x} (stack copy of a region-third entry)", copy.addr().as_u64())
    );
}

#[test]
fn allocator_packs_and_detects_double_free() {
    let h = host(1, false);
    let mut f = h.frames.lock();
    let free = f.free_count();
    let a = f.alloc_pt().unwrap();
    let b = f.alloc_pt().unwrap();
    assert_eq!(a.as_u64() & !0xfff, b.as_u64() & !0xfff);
    assert_eq!(f.free_count(), free - 1);
    f.free_pt(a).unwrap();
    assert_eq!(f.free_pt(a), Err(AllocError::DoubleFree(a)));
    let c = f.alloc_pt().unwrap();
    assert_eq!(c, a, "the free half is reused first");
    let frame = pa(b.as_u64() & !0xfff);
    assert_eq!(
        f.free_frame(frame),
        Err(AllocError::InUse(frame)),
        "a frame holding page tables"
    );
    f.free_pt(b).unwrap();
    f.free_pt(c).unwrap();
    assert_eq!(f.free_count(), free);
    let d = f.alloc_frame().unwrap();
    f.free_frame(d).unwrap();
    assert_eq!(f.free_frame(d), Err(AllocError::DoubleFree(d)), "a frame freed twice");
    let crst = f.alloc_crst().unwrap();
    assert_eq!(crst.as_u64() % 16384, 0);
    f.free_crst(crst).unwrap();
    assert_eq!(f.free_crst(crst), Err(AllocError::DoubleFree(crst)));
}

/// A new space takes the smallest ASCE type covering the last address it is
/// made for (`AddressSpace::new_covering`), at each type's limit.
#[test]
fn a_new_space_takes_the_smallest_type_covering_its_range() {
    let h = host(16, false);
    for (last, ty) in [
        (0x7fff_ffffu64, AsceType::Segment),
        (0x8000_0000, AsceType::Region3),
        (0x3ff_ffff_ffff, AsceType::Region3),
        (0x400_0000_0000, AsceType::Region2),
        (0x20_0000_0000_0000, AsceType::Region1),
    ] {
        let s = AddressSpace::new_covering(h.plat, h.frames, last).unwrap();
        assert_eq!(s.asce_type(), ty, "type for last address {last:#x}");
    }
}

/// Two page tables of one space share a 4 KiB frame: a region-third space
/// with two segments mapped holds its top table, a segment table and one
/// frame for both page tables.
#[test]
fn two_page_tables_of_one_space_share_a_frame() {
    let h = host(16, false);
    let before = h.frames.lock().free_count();
    let mut s = h.space(AsceType::Region3);
    s.map(0x10_0000, pa(0x40_0000), 1, Prot::RW).unwrap();
    s.map(0x20_0000, pa(0x40_1000), 1, Prot::RW).unwrap();
    assert_eq!(s.table_counts(), (2, 2), "(CRSTs, page tables)");
    assert_eq!(before - h.frames.lock().free_count(), 4 + 4 + 1, "frames used");
}

/// The allocator's edges: every frame can be allocated, the last one and the
/// last free one included; reserved frames are never handed out; frees of
/// misaligned or out-of-range addresses are refused by name; too little
/// bitmap storage is refused at construction.
#[test]
fn allocator_hands_out_every_frame_and_refuses_bad_frees() {
    let h = host(1, false);
    let mut f = h.frames.lock();
    let n = f.total_frames();
    let end = pa(n as u64 * PAGE_SIZE);
    assert!(f.is_allocated(pa(0)), "frame 0 is reserved");
    assert!(!f.is_allocated(end), "past the end is not allocated");
    f.reserve(pa(0x8000), pa(0xa001));
    assert!((8..11).all(|i| f.is_allocated(pa(i * PAGE_SIZE))) && !f.is_allocated(pa(0xb000)));
    let free = f.free_count();
    let got: Vec<PhysAddr> = std::iter::from_fn(|| f.alloc_frame().ok()).collect();
    assert_eq!(
        (got.len(), f.free_count()),
        (free, 0),
        "every free frame, the last one too"
    );
    assert!(got.contains(&pa(end.as_u64() - PAGE_SIZE)), "the last frame of memory");
    assert!(
        !got.iter().any(|a| (8..11).contains(&(a.as_u64() / PAGE_SIZE))),
        "a reserved frame was handed out"
    );
    for a in &got {
        f.free_frame(*a).unwrap();
    }
    for bad in [pa(0x20800), end] {
        assert_eq!(f.free_frames(bad, 1), Err(AllocError::BadAddress(bad)));
    }
    for bad in [pa(0x20c00), end] {
        assert_eq!(f.free_pt(bad), Err(AllocError::BadAddress(bad)));
    }
    assert_eq!(f.free_count(), free);
    drop(f);
    let small = std::panic::catch_unwind(|| {
        FrameAllocator::new(128, Box::leak(Box::new([0u64; 2])), Box::leak(Box::new([0u64; 3])))
    });
    assert!(small.is_err(), "128 frames need 4 words of page-table bits");
    // Storage that held something else (a previous allocator's bits) is cleared:
    // every frame starts free, and page tables start in empty frames.
    let mut f = FrameAllocator::new(
        128,
        Box::leak(Box::new([!0u64; 2])),
        Box::leak(Box::new([0x5555_5555_5555_5555u64; 4])),
    );
    assert_eq!(f.free_count(), 128);
    assert_eq!(f.alloc_frame(), Ok(pa(0)));
    assert_eq!(
        f.alloc_pt(),
        Ok(pa(PAGE_SIZE)),
        "a whole frame for the first page table"
    );
    assert_eq!(f.alloc_pt(), Ok(pa(PAGE_SIZE + 2048)), "its other half for the second");
}

#[test]
fn aligned_allocation_past_a_full_bitmap_word_stays_aligned() {
    let h = host(4, false);
    let mut f = h.frames.lock();
    // Fill frames 0..64, one bitmap word (frame 0 is reserved, 1 holds the stack).
    while !f.is_allocated(pa(63 * PAGE_SIZE)) {
        f.alloc_frame().unwrap();
    }
    for (n, align) in [(1, 256), (1, 128), (2, 96), (3, 3), (1, 0), (0, 64)] {
        let a = f.alloc_frames(n, align).unwrap();
        let frame = (a.as_u64() / PAGE_SIZE) as usize;
        assert_eq!(
            frame % align.max(1),
            0,
            "{n} frames aligned to {align} got frame {frame}"
        );
        assert!(frame >= 64, "{n} frames aligned to {align} got used frame {frame}");
        f.free_frames(a, n).unwrap();
        f.reset_hint();
    }
}

/// The debug_vm_pgtable suite holds on the host, every check by name: the
/// entry helpers once each, the folding check at every level of every
/// boundary page's path, the unmap check once per ASCE type, and the stepping
/// and `pXd_addr_end` checks wherever a boundary page has a next entry.
#[test]
fn debug_vm_pgtable_suite_holds_check_by_check_on_the_host() {
    use debug_vm_pgtable::Check;
    let h = host(32, false);
    let frame = h.frames.lock().alloc_frame().unwrap();
    let r = debug_vm_pgtable::run(h.plat, h.frames, frame).unwrap();
    let pages: u32 = AsceType::ALL
        .iter()
        .map(|&ty| debug_vm_pgtable::boundary_pages(ty).count() as u32)
        .sum();
    for (check, want) in [
        (Check::MkPte, Some(2)),
        (Check::PteMkPairs, Some(2)),
        (Check::EmptyIsNone, Some(1)),
        (Check::Folding, Some(4 * pages)),
        (Check::Stepping, None),
        (Check::AddrEnd, None),
        (Check::UnmapLeavesTheTop, Some(4)),
    ] {
        let held = r.held(check);
        match want {
            Some(n) => assert_eq!(held, n, "{}", check.name()),
            None => assert!(held >= pages, "{}: held {held} times for {pages} pages", check.name()),
        }
    }
}

/// The whole dump of a region-third space: each table named by kind with the
/// entry indices used, the sixteen read-only pages one run.
#[test]
fn ptdump_names_each_level_of_a_region_third_space() {
    let h = host(16, false);
    let mut s = h.space(AsceType::Region3);
    s.map(0x100_7fff_0000, pa(0x40000), 16, Prot::RO).unwrap();
    let mut out = String::new();
    ptdump::ptdump(&s, &mut out).unwrap();
    let want = "\
ASCE 0x0000000000004007: region-third table at 0x4000, 3 levels, up to 0x3ffffffffff, tables 34816 bytes (2 CRST + 1 PT)
  region-third  [0x200]       0x0000010000000000-0x000001007fffffff -> segment table 0x8000
    segment       [0x7ff]       0x000001007ff00000-0x000001007fffffff -> page table 0xc000
      page          [0x0f0-0x0ff] 0x000001007fff0000-0x000001007fffffff -> frames 0x40000.. ro (16 x 4 KiB)
";
    assert_eq!(out, want);
}

/// The whole dump of a small segment-table space: a run of pages with
/// consecutive frames is one line; a special page, a page after a hole, a page
/// with other rights or a non-consecutive frame starts a new one; large frames
/// with consecutive origins collapse like pages.
#[test]
fn ptdump_names_every_run_exactly() {
    let h = host(16, true);
    let mut s = h.space(AsceType::Segment);
    s.map(0x1000, pa(0x10000), 3, Prot::RW).unwrap();
    s.map(0x4000, pa(0x13000), 1, Prot::SPECIAL).unwrap();
    s.map(0x5000, pa(0x14000), 1, Prot::RO).unwrap();
    s.map(0x8000, pa(0x15000), 2, Prot::RO).unwrap();
    s.map(0xa000, pa(0x30000), 1, Prot::RO).unwrap();
    s.map_large(0x20_0000, pa(0x10_0000), Level::Pmd, Prot::RW).unwrap();
    s.map_large(0x30_0000, pa(0x20_0000), Level::Pmd, Prot::RW).unwrap();
    s.map_large(0x7ff0_0000, pa(0x30_0000), Level::Pmd, Prot::RO).unwrap();
    let mut out = String::new();
    ptdump::ptdump(&s, &mut out).unwrap();
    let want = "\
ASCE 0x0000000000004003: segment table at 0x4000, 2 levels, up to 0x7fffffff, tables 18432 bytes (1 CRST + 1 PT)
  segment       [0x000]       0x0000000000000000-0x00000000000fffff -> page table 0x8000
    page          [0x001-0x003] 0x0000000000001000-0x0000000000003fff -> frames 0x10000.. rw (3 x 4 KiB)
    page          [0x004-0x004] 0x0000000000004000-0x0000000000004fff -> frames 0x13000.. rw special (1 x 4 KiB)
    page          [0x005-0x005] 0x0000000000005000-0x0000000000005fff -> frames 0x14000.. ro (1 x 4 KiB)
    page          [0x008-0x009] 0x0000000000008000-0x0000000000009fff -> frames 0x15000.. ro (2 x 4 KiB)
    page          [0x00a-0x00a] 0x000000000000a000-0x000000000000afff -> frames 0x30000.. ro (1 x 4 KiB)
  segment       [0x002-0x003] 0x0000000000200000-0x00000000003fffff -> frames 0x100000.. rw (2 x 1024 KiB)
  segment       [0x7ff-0x7ff] 0x000000007ff00000-0x000000007fffffff -> frames 0x300000.. ro (1 x 1024 KiB)
";
    assert_eq!(out, want, "\n{out}");
    // A 2 GiB frame is a region-third leaf.
    let mut s = h.space(AsceType::Region3);
    s.map_large(1 << 31, pa(0), Level::Pud, Prot::RO).unwrap();
    let mut out = String::new();
    ptdump::ptdump(&s, &mut out).unwrap();
    let leaf =
        "  region-third  [0x001-0x001] 0x0000000080000000-0x00000000ffffffff -> frames 0x0.. ro (1 x 2097152 KiB)\n";
    assert!(out.ends_with(leaf) && out.lines().count() == 2, "\n{out}");
}

#[test]
fn freed_tables_are_poisoned_after_walker_sync() {
    let h = host(16, false);
    let mut s = h.space(AsceType::Region3);
    s.map(0x100_7fff_f000, pa(0x10000), 1, Prot::RW).unwrap();
    let pte = walk_to(h.plat, s.asce(), 0x100_7fff_f000, Level::Pte).unwrap();
    let seg = walk_to(h.plat, s.asce(), 0x100_7fff_f000, Level::Pmd).unwrap();
    h.plat.flushes.borrow_mut().clear();
    s.unmap(0x100_7fff_f000, 1).unwrap();
    let f = h.plat.flushes.borrow().clone();
    let last_idte = f.iter().rposition(|x| matches!(x, Flush::Idte(..))).unwrap();
    let sync = f
        .iter()
        .position(|x| *x == Flush::GracePeriod)
        .expect("no grace period before freeing");
    assert!(
        sync > last_idte,
        "tables must be unhooked (IDTE) before the grace period: {f:?}"
    );
    // The host arena reports any access to the freed tables...
    let plat = h.plat;
    let stale = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| plat.read_u64(pte.base())));
    assert!(stale.is_err(), "strict host memory must report a read of a freed table");
    // ...and (looking on purpose) both hold poison, which every walker recognises.
    h.plat.strict.set(None);
    assert!(entry::is_poison(h.plat.read_u64(pte.base())) && entry::is_poison(h.plat.read_u64(seg.base())));
    let e = check_entry(h.plat, pte, h.plat.read_u64(pte.base())).unwrap_err();
    assert!(matches!(
        e,
        WalkError::BadEntry {
            defect: Defect::FreedTable,
            ..
        }
    ));
}

/// Running out of memory part-way through a map leaves the space as it was: no
/// page of the range mapped and no table left behind, whether the allocation
/// that fails is the first segment table, a page table under a segment table it
/// just added, or a table for a later part of the range.
#[test]
fn out_of_memory_during_map_changes_nothing() {
    // (spare CRSTs, spare page tables, range): where it runs out.
    let h = host(16, false);
    let base = 0x8000_0000u64; // region-third space: one segment table per 2 GiB
    let cases = [
        (0, 0, base, 2u64, "the segment table"),
        (1, 0, base, 2, "the page table under a new segment table"),
        (1, 1, base - 2 * PAGE_SIZE, 4, "the second segment table of the range"),
        (2, 1, base - 2 * PAGE_SIZE, 4, "the second page table of the range"),
    ];
    for (crsts, pts, va, n, what) in cases {
        let mut s = h.space(AsceType::Region3);
        let held = squeeze(&h, crsts, pts);
        let before = tables_and_free(&h, &s);
        assert_eq!(s.map(va, pa(0x10000), n, Prot::RW), Err(MapError::NoMemory), "{what}");
        assert_eq!(tables_and_free(&h, &s), before, "{what}: tables left behind");
        for i in 0..n {
            assert!(
                s.lookup(va + i * PAGE_SIZE).unwrap().is_none(),
                "{what}: page {i} mapped"
            );
        }
        release(&h, held);
    }
    // map_large in a 5-level space needs a region-second, a region-third and a
    // segment table: run out after one or two of them.
    let h = host(16, true);
    for spare in 0..3 {
        let mut s = h.space(AsceType::Region1);
        let held = squeeze(&h, spare, 0);
        let before = tables_and_free(&h, &s);
        assert_eq!(
            s.map_large(1 << 53, pa(0x100000), Level::Pmd, Prot::RW),
            Err(MapError::NoMemory),
            "{spare} spare CRSTs"
        );
        assert_eq!(
            tables_and_free(&h, &s),
            before,
            "map_large with {spare} spare CRSTs left tables behind"
        );
        release(&h, held);
    }
}

/// Hold every free frame but room for `spare_crsts` CRSTs and `spare_pts` page
/// tables (a freed page-table half returns its whole frame when both halves are
/// free); returns the frames held.
fn squeeze(h: &common::Host, spare_crsts: usize, spare_pts: usize) -> Vec<PhysAddr> {
    let mut f = h.frames.lock();
    let crsts: Vec<PhysAddr> = (0..spare_crsts).map(|_| f.alloc_crst().unwrap()).collect();
    let pts: Vec<PhysAddr> = (0..spare_pts).map(|_| f.alloc_pt().unwrap()).collect();
    let held = std::iter::from_fn(|| f.alloc_frame().ok()).collect();
    for c in crsts {
        f.free_crst(c).unwrap();
    }
    for p in pts {
        f.free_pt(p).unwrap();
    }
    held
}

/// Give back what [`squeeze`] held.
fn release(h: &common::Host, held: Vec<PhysAddr>) {
    let mut f = h.frames.lock();
    for fr in held {
        f.free_frame(fr).unwrap();
    }
}

/// Table bytes, table counts and free frames: what a refused map must not change.
fn tables_and_free(h: &common::Host, s: &common::Space) -> (u64, (u64, u64), usize) {
    (s.table_bytes(), s.table_counts(), h.frames.lock().free_count())
}

/// The edges of every ASCE type and of memory: the last byte a type translates
/// maps without an upgrade (no ASCE change, no TLB purge), the last frame of
/// memory maps and the frame after it does not, and the exception DAT must raise
/// near the mapped page is the one of the first entry missing on the way down.
#[test]
fn edges_of_each_asce_type_and_of_memory() {
    let h = host(16, false);
    let last_frame = pa(h.plat.mem_end().as_u64() - PAGE_SIZE);
    for ty in AsceType::ALL {
        let mut s = h.space(ty);
        let last = ty.last_addr();
        h.plat.flushes.borrow_mut().clear();
        s.map(last & !(PAGE_SIZE - 1), last_frame, 1, Prot::RW).unwrap();
        assert_eq!(s.asce_type(), ty, "{ty:?}: mapping its last page upgraded it");
        assert!(
            !h.plat
                .flushes
                .borrow()
                .iter()
                .any(|f| matches!(f, Flush::AsceChanged(..))),
            "{ty:?}: mapping inside its range changed the ASCE: {:?}",
            h.plat.flushes.borrow()
        );
        let t = s.lookup(last).unwrap().expect("the last byte translates");
        assert_eq!(t.pa, pa(last_frame.as_u64() | 0xfff), "{ty:?}");
        assert_eq!(s.expected_exception(last).unwrap(), None, "{ty:?}");
        assert_eq!(s.expected_exception(last - PAGE_SIZE).unwrap(), Some(0x11), "{ty:?}");
        // One entry down at each level from the segment to the top: that entry
        // is the first invalid one (all lower index bits of `last` are ones).
        let mut l = Level::Pmd;
        loop {
            assert_eq!(
                s.expected_exception(last - l.size()).unwrap(),
                Some(l.translation_exception()),
                "{ty:?}: {} entry below the last",
                l.hw_name()
            );
            if l == ty.top() {
                break;
            }
            l = l.above().unwrap();
        }
        if ty != AsceType::Region1 {
            assert_eq!(s.expected_exception(last + 1).unwrap(), Some(0x38), "{ty:?}: ASCE-type");
            assert!(s.lookup(last + 1).unwrap().is_none(), "{ty:?}");
        }
        assert_eq!(
            s.map(0, h.plat.mem_end(), 1, Prot::RW),
            Err(MapError::FrameOutsideMemory(h.plat.mem_end()))
        );
        // A special page (a PFN map: no struct page) may lie beyond memory; it
        // translates, and gup leaves it alone.
        s.map(0, h.plat.mem_end(), 1, Prot::SPECIAL).unwrap();
        let t = s
            .lookup(0x10)
            .unwrap()
            .expect("a special page beyond memory translates");
        assert_eq!((t.pa, t.special), (pa(h.plat.mem_end().as_u64() | 0x10), true));
        let (o, pages) = h.gup(&s, Variant::OffsetLockless, 0, 1, GupFlags::empty());
        assert!(pages.is_empty() && o.error.is_none(), "{ty:?}: {o:?}");
    }
}

/// A large frame must have both its virtual and its physical address aligned to
/// its size; the error names the misaligned one.
#[test]
fn large_frames_refuse_either_misalignment_by_name() {
    let h = host(16, true);
    let mut s = h.space(AsceType::Region3);
    let (va, frame) = (0x4000_0000u64, pa(0x20_0000));
    assert_eq!(
        s.map_large(va, pa(frame.as_u64() + PAGE_SIZE), Level::Pmd, Prot::RW),
        Err(MapError::Misaligned(frame.as_u64() + PAGE_SIZE))
    );
    assert_eq!(
        s.map_large(va + PAGE_SIZE, frame, Level::Pmd, Prot::RW),
        Err(MapError::Misaligned(va + PAGE_SIZE))
    );
    assert_eq!(
        s.map_large(va + (1 << 20), pa(0), Level::Pud, Prot::RW),
        Err(MapError::Misaligned(va + (1 << 20)))
    );
    assert_eq!(s.table_bytes(), 16384, "a refused map_large added tables");
    s.map_large(va, frame, Level::Pmd, Prot::RW).unwrap();
    assert_eq!(s.lookup(va + 0x1234).unwrap().unwrap().pa, pa(frame.as_u64() + 0x1234));
}

/// Unmapping part of a page table invalidates exactly the pages that were
/// mapped (one IPTE each, none for holes); unmapping a whole page table clears
/// it without any IPTE and unhooks it with one IDTE, which purges them all.
#[test]
fn unmap_invalidates_each_mapped_page_once_or_the_whole_table_at_once() {
    let h = host(16, false);
    let mut s = h.space(AsceType::Segment);
    for va in [0x1000, 0x3000, 0x8000] {
        s.map(va, pa(0x10000), 1, Prot::RW).unwrap();
    }
    s.map(1 << 20, pa(0x20000), 256, Prot::RW).unwrap();
    let pto = walk_to(h.plat, s.asce(), 0x1000, Level::Pte).unwrap().base();
    h.plat.flushes.borrow_mut().clear();
    s.unmap(0x1000, 3).unwrap();
    assert_eq!(
        h.plat.flushes.borrow()[..],
        [Flush::Ipte(pto, 0x1000), Flush::Ipte(pto, 0x3000)],
        "partial unmap over a hole"
    );
    h.plat.flushes.borrow_mut().clear();
    s.unmap(1 << 20, 256).unwrap();
    let f = h.plat.flushes.borrow().clone();
    assert!(!f.iter().any(|x| matches!(x, Flush::Ipte(..))), "{f:?}");
    assert_eq!(
        f.iter().filter(|x| matches!(x, Flush::Idte(_, Level::Pmd, _))).count(),
        1,
        "{f:?}"
    );
    assert!(s.lookup(1 << 20).unwrap().is_none() && s.lookup(0x8000).unwrap().is_some());
    // Tables freed by one unmap wait for lockless walkers once, together
    // (Linux's mmu_gather table batch), not once each.
    for seg in 2..5u64 {
        s.map(seg << 20, pa(0x10000), 1, Prot::RW).unwrap();
    }
    h.plat.flushes.borrow_mut().clear();
    s.unmap(2 << 20, 3 * 256).unwrap();
    let f = h.plat.flushes.borrow().clone();
    assert_eq!(f.iter().filter(|x| matches!(x, Flush::Idte(..))).count(), 3, "{f:?}");
    assert_eq!(f.iter().filter(|x| **x == Flush::GracePeriod).count(), 1, "{f:?}");
}

/// Dropping a space frees every table it has, whatever its type and whatever
/// maps its pages (4 KiB pages in several tables, 1 MiB and 2 GiB frames).
#[test]
fn dropping_a_space_frees_every_table() {
    let h = host(16, true);
    let free = h.frames.lock().free_count();
    for ty in AsceType::ALL {
        let mut s = h.space(ty);
        s.map(0x1000, pa(0x10000), 2, Prot::RW).unwrap();
        s.map(0x7ff0_0000, pa(0x10000), 1, Prot::RO).unwrap();
        s.map_large(0x4000_0000, pa(0x10_0000), Level::Pmd, Prot::RW).unwrap();
        if ty != AsceType::Segment {
            s.map(ty.last_addr() & !0xfff, pa(0x10000), 1, Prot::RW).unwrap();
            s.map_large(1 << 32, pa(0), Level::Pud, Prot::RO).unwrap();
        }
        assert_eq!(s.asce_type(), ty);
        assert!(h.frames.lock().free_count() < free);
        drop(s);
        assert_eq!(h.frames.lock().free_count(), free, "{ty:?}: tables leaked");
    }
}

/// An upgrade that needs several new top tables and gets only some changes
/// nothing: same ASCE, the tables it did get go back.
#[test]
fn out_of_memory_part_way_through_an_upgrade_changes_nothing() {
    let h = host(16, false);
    for (ty, spare) in [(AsceType::Segment, 1), (AsceType::Segment, 2), (AsceType::Region3, 1)] {
        let mut s = h.space(ty);
        s.map(0x1000, pa(0x10000), 1, Prot::RW).unwrap();
        let asce = s.asce();
        let held = squeeze(&h, spare, 0);
        let before = tables_and_free(&h, &s);
        assert_eq!(
            s.map(!0xfff, pa(0x10000), 1, Prot::RW),
            Err(MapError::NoMemory),
            "{ty:?} with {spare} spare CRSTs"
        );
        assert_eq!(s.asce(), asce);
        assert_eq!(tables_and_free(&h, &s), before, "{ty:?} with {spare} spare CRSTs");
        assert_eq!(s.lookup(0x1000).unwrap().unwrap().pa, pa(0x10000));
        release(&h, held);
    }
}

/// `poke_entry` for a level the path does not have (a folded one) refuses and
/// names the last entry the walk read.
#[test]
fn poke_entry_refuses_a_level_not_on_the_path() {
    let h = host(16, false);
    let mut s = h.space(AsceType::Segment);
    s.map(0x1000, pa(0x10000), 1, Prot::RW).unwrap();
    let ptep = walk_to(h.plat, s.asce(), 0x1000, Level::Pte).unwrap();
    match s.poke_entry(0x1000, Level::Pud, |v| v ^ 1) {
        Err(WalkError::BadEntry { at, val, defect }) => {
            assert_eq!((at, defect), (ptep, Defect::NoSuchLevel));
            assert_eq!(val, read_entry(h.plat, ptep).unwrap());
        }
        r => panic!("{r:?}"),
    }
    assert_eq!(s.lookup(0x1000).unwrap().unwrap().pa, pa(0x10000));
}

/// `common_form` (what `check_entry` and the gup walk test first) accepts every valid entry on a live path, in the table it
/// was read from, and rejects each single corruption `check_entry` names.
#[test]
fn common_form_accepts_live_entries_and_rejects_corruptions() {
    let va = 0x4000_0000;
    for ty in AsceType::ALL {
        let h = host(16, false);
        let mut s = h.space(ty);
        s.map(va, pa(0x20000), 1, Prot::RW).unwrap();
        let mut seen = 0;
        for l in [Level::P4d, Level::Pud, Level::Pmd, Level::Pte] {
            // The pointer a walk reads at the level above `l`, and the table it is in.
            let ptr = walk_to(h.plat, s.asce(), va, l.above().unwrap()).unwrap();
            let (mask, want) = common_form(ptr.level());
            let val = h.plat.read_u64(ptr.addr());
            assert_eq!(
                val & mask,
                want,
                "{} entry {val:#x} of a {} table",
                ty.name(),
                ptr.level().hw_name()
            );
            let bad: &[u64] = if ptr.level() == Level::Pmd {
                &[0x04, 0x20, 0x400] // type bits, invalid, large
            } else {
                &[0x20, 0x10, 0x100, 0x800, 0x400] // invalid, reserved bits, large
            };
            for &bit in bad {
                assert_ne!((val ^ bit) & mask, want, "{} entry {val:#x} ^ {bit:#x}", ty.name());
            }
            if ptr.level() != Level::Pmd {
                assert_ne!((val & !3) & mask, want, "{}: a short table length", ty.name());
                assert_ne!((val ^ 0x0c) & mask, want, "{}: another table type", ty.name());
            }
            seen += 1;
        }
        assert_eq!(seen, 4);
    }
}

/// `handle_pte_fault` as Linux runs it for a present PTE: a fault on an old
/// page makes it young (no IPTE: the hardware held no translation), a write
/// fault on a clean writable page makes it dirty through IPTE and the new entry
/// (`ptep_set_access_flags`), a fault nothing needs changes nothing, and the
/// faults Linux would not resolve this way are refused, changing nothing.
#[test]
fn handle_pte_fault_marks_young_and_dirty_as_linux_does() {
    let h = host(16, true);
    let mut s = h.space(AsceType::Region3);
    s.map(0x1000, pa(0x10000), 1, Prot::RW.old().clean()).unwrap();
    s.map(0x2000, pa(0x11000), 1, Prot::RO).unwrap();
    s.map_large(0x10_0000, pa(0x20_0000), Level::Pmd, Prot::RW).unwrap();
    let ptep = walk_to(h.plat, s.asce(), 0x1000, Level::Pte).unwrap();
    let pte = || Pte::new(h.plat.read_u64(ptep.addr()));
    assert_eq!(
        (s.expected_exception(0x1000).unwrap(), pte().young()),
        (Some(0x11), false)
    );
    h.plat.flushes.borrow_mut().clear();
    assert_eq!(s.handle_pte_fault(0x1234, false), Ok(true));
    assert!(pte().young() && pte().hw_valid() && !pte().dirty());
    assert!(
        h.plat.flushes.borrow().is_empty(),
        "no IPTE for an entry the hardware ignored"
    );
    assert_eq!(
        s.expected_store_exception(0x1000).unwrap(),
        Some(0x04),
        "clean: a store traps"
    );
    assert_eq!(s.handle_pte_fault(0x1000, true), Ok(true));
    assert!(pte().dirty() && s.expected_store_exception(0x1000).unwrap().is_none());
    assert_eq!(
        *h.plat.flushes.borrow(),
        [Flush::Ipte(ptep.base(), 0x1000)],
        "IPTE, then the new entry"
    );
    assert_eq!(s.handle_pte_fault(0x1000, true), Ok(false), "nothing to do");
    let before = pte();
    assert_eq!(
        s.handle_pte_fault(0x2008, true),
        Err(FaultError::WriteProtected(0x2000))
    );
    assert_eq!(s.handle_pte_fault(0x3000, false), Err(FaultError::NotMapped(0x3000)));
    assert_eq!(
        s.handle_pte_fault(0x10_1000, true),
        Err(FaultError::LargeMapping(0x10_1000))
    );
    assert_eq!(pte(), before);
}

/// `protect` is `pte_modify`: it keeps young and dirty and derives the
/// hardware bits from them again, so an old page stays invalid for the
/// hardware and a clean writable one stays protected, whichever rights come
/// and go.
#[test]
fn protect_keeps_old_pages_invalid_and_clean_ones_protected() {
    let h = host(16, true);
    let mut s = h.space(AsceType::Region3);
    let (young, old, clean) = (0x1000, 0x2000, 0x3000);
    s.map(young, pa(0x10000), 1, Prot::RW).unwrap();
    s.map(old, pa(0x11000), 1, Prot::RW.old()).unwrap();
    s.map(clean, pa(0x12000), 1, Prot::RW.clean()).unwrap();
    let exceptions = |s: &common::Space| {
        [young, old, clean].map(|a| (s.expected_exception(a).unwrap(), s.expected_store_exception(a).unwrap()))
    };
    s.protect(young, 3, Prot::RO).unwrap();
    assert_eq!(
        exceptions(&s),
        [(None, Some(0x04)), (Some(0x11), Some(0x11)), (None, Some(0x04))]
    );
    s.protect(young, 3, Prot::RW).unwrap();
    assert_eq!(
        exceptions(&s),
        [(None, None), (Some(0x11), Some(0x11)), (None, Some(0x04))]
    );
    let t = [young, old, clean].map(|a| s.lookup(a).unwrap().map(|t| (t.write, t.young, t.dirty)));
    assert_eq!(
        t,
        [
            Some((true, true, true)),
            Some((true, false, true)),
            Some((true, true, false))
        ]
    );
}

/// What `lookup` reports for each kind of mapping: a read-only page is young
/// and clean (`mk_pte`), and a large frame, which has no young or dirty bit of
/// its own, is young, and dirty where writable.
#[test]
fn lookup_reports_young_and_dirty_as_linux_keeps_them() {
    let h = host(16, true);
    let mut s = h.space(AsceType::Region3);
    s.map(0x1000, pa(0x10000), 1, Prot::RO).unwrap();
    s.map_large(0x10_0000, pa(0x20_0000), Level::Pmd, Prot::RW).unwrap();
    s.map_large(0x20_0000, pa(0x30_0000), Level::Pmd, Prot::RO).unwrap();
    let t = [0x1000, 0x10_0000, 0x20_0000].map(|a| s.lookup(a).unwrap().map(|t| (t.write, t.young, t.dirty, t.level)));
    assert_eq!(
        t,
        [
            Some((false, true, false, Level::Pte)),
            Some((true, true, true, Level::Pmd)),
            Some((false, true, false, Level::Pmd)),
        ]
    );
}
