//! Host tests of gup_fast over tables in ordinary memory: the seed scenario for
//! each variant, every ASCE type and boundary, large EDAT-1/EDAT-2 frames (which
//! QEMU's TCG CPU cannot run), and the pre-fix failure predicate both ways.
mod common;
use common::{host, pa, store_after, Host};
use foldkern::gup::*;
use foldkern::mm::entry::{PteBits, RegionBits};
use foldkern::mm::pgtable::walk_to;
use foldkern::mm::race::RacingWrite;
use foldkern::mm::*;

const SEED: u64 = 0x100_7fff_f000;

fn seed_space(h: &Host, decoy: bool) -> common::Space {
    let mut s = h.space(AsceType::Region3);
    s.map(SEED, pa(0x10000), 1, Prot::RW).unwrap();
    s.map(SEED + PAGE_SIZE, pa(0x11000), 1, Prot::RW).unwrap();
    if decoy {
        s.map(0x100_0000_0000, pa(0x12000), 1, Prot::RW).unwrap();
    }
    s
}

#[test]
fn each_variant_walks_the_seed_range_as_the_docs_say() {
    let h = host(16, false);
    let s = seed_space(&h, true);
    let (o, p) = h.gup(&s, Variant::PreFix, SEED, 2, GupFlags::empty());
    assert_eq!(p, [pa(0x10000)]);
    match o.error {
        Some(WalkError::OffObject { ptr, word: Some(w) }) => {
            assert!(ptr.is_copy());
            assert_eq!(w & !0xfff, foldkern::gup::policy::GUARD);
        }
        e => panic!("{e:?}"),
    }
    assert_eq!(o.first_violation.unwrap().level, Level::Pud);
    for v in Variant::FIXED {
        let (o, p) = h.gup(&s, v, SEED, 2, GupFlags::WRITE);
        assert_eq!((o.error, o.violations), (None, 0), "{v:?}");
        assert_eq!(p, [pa(0x10000), pa(0x11000)], "{v:?}");
    }
    let (o, p) = h.gup(&s, Variant::NextEntry, SEED, 2, GupFlags::empty());
    assert_eq!(p, [pa(0x10000), pa(0x12000)], "next_entry re-reads the stale copy");
    assert!(o.violations > 0);
    assert_eq!(h.pagemap.total_pins(), 0);
}

/// The trace names every entry the walk reads, in order: for the seed range in
/// a region-third space under `offset_lockless`, the region-third entry three
/// times (pgd, then the folded p4d and pud levels re-read it through the same
/// real pointer), its segment entry and PTE, then `pudp++` to the next
/// region-third entry and down again. Tracing alone does not check the walk
/// invariant: with checking off, even next_entry's wrong step counts nothing.
#[test]
fn the_trace_names_every_entry_read_in_order() {
    let h = host(16, false);
    let s = seed_space(&h, true);
    let mut steps = Vec::new();
    let mut pages = [Page::from_pfn(0); 2];
    let mut record = |st: &Step| steps.push(*st);
    let mut g = GupFast::new(h.plat, s.asce(), h.pagemap, h.stack, Variant::OffsetLockless).traced(&mut record);
    let o = gup_fast(&mut g, SEED, 2, GupFlags::GET, &mut pages);
    release_pages(h.pagemap, &pages[..o.pinned]).unwrap();
    assert_eq!((o.pinned, o.error, o.violations), (2, None, 0));
    let levels: Vec<Level> = steps.iter().map(|st| st.level).collect();
    use Level::*;
    assert_eq!(levels, [Pgd, P4d, Pud, Pmd, Pte, Pud, Pmd, Pte]);
    let next = SEED + PAGE_SIZE;
    for (i, ty, addr) in [
        (0, Pud, SEED),
        (3, Pmd, SEED),
        (4, Pte, SEED),
        (5, Pud, next),
        (7, Pte, next),
    ] {
        let st = &steps[i];
        assert_eq!(
            (st.ptr, st.addr),
            (walk_to(h.plat, s.asce(), addr, ty).unwrap(), addr),
            "step {i}"
        );
        assert_eq!(st.val, h.plat.read_u64(st.ptr.addr()), "step {i}");
    }
    assert!(steps[..3].iter().all(|st| st.ptr == steps[0].ptr && !st.ptr.is_copy()));
    assert_eq!(steps[5].ptr, steps[2].ptr.add(1), "pudp++ on the real table");
    assert_eq!((steps[2].next, steps[7].next), (next, next + PAGE_SIZE));
    let text: Vec<String> = steps.iter().map(|st| st.to_string()).collect();
    assert!(
        text[0].starts_with("pgd addr 0x001007ffff000 next 0x0010080001000 entry")
            && text[0].contains("(region-third entry) via"),
        "{}",
        text[0]
    );
    assert!(
        text[3].starts_with("pmd ") && text[3].contains("(segment entry)"),
        "{}",
        text[3]
    );

    // PTEs are traced up to and including the one that stops the walk.
    let mut s = h.space(AsceType::Segment);
    s.map(0x10_0000, pa(0x10000), 3, Prot::RW).unwrap();
    s.map(0x10_4000, pa(0x14000), 1, Prot::RW).unwrap();
    let mut ptes = Vec::new();
    let mut record = |st: &Step| ptes.extend((st.level == Pte).then_some(st.addr));
    let mut pages = [Page::from_pfn(0); 5];
    let mut g = GupFast::new(h.plat, s.asce(), h.pagemap, h.stack, Variant::OffsetLockless).traced(&mut record);
    let o = gup_fast(&mut g, 0x10_0000, 5, GupFlags::GET, &mut pages);
    release_pages(h.pagemap, &pages[..o.pinned]).unwrap();
    assert_eq!((o.pinned, ptes), (3, vec![0x10_0000, 0x10_1000, 0x10_2000, 0x10_3000]));
    // Also where the PTE is valid but its frame is the first past the page map.
    let at = pgtable::walk_to(h.plat, s.asce(), 0x10_1000, Level::Pte).unwrap();
    let good = h.plat.read_u64(at.addr());
    h.plat
        .write_u64(at.addr(), (good & !entry::PAGE_ORIGIN) | h.plat.mem_end().as_u64());
    let mut ptes = Vec::new();
    let mut record = |st: &Step| ptes.extend((st.level == Pte).then_some(st.addr));
    let mut g = GupFast::new(h.plat, s.asce(), h.pagemap, h.stack, Variant::OffsetLockless).traced(&mut record);
    let o = gup_fast(&mut g, 0x10_0000, 5, GupFlags::GET, &mut pages);
    h.plat.write_u64(at.addr(), good);
    release_pages(h.pagemap, &pages[..o.pinned]).unwrap();
    assert_eq!((o.pinned, ptes), (1, vec![0x10_0000, 0x10_1000]));

    let mut pages = [Page::from_pfn(0); 2];
    let s = seed_space(&h, true);
    let mut steps = 0;
    let mut count = |_: &Step| steps += 1;
    let mut g = GupFast::new(h.plat, s.asce(), h.pagemap, h.stack, Variant::NextEntry)
        .checked(false)
        .traced(&mut count);
    let o = gup_fast(&mut g, SEED, 2, GupFlags::GET, &mut pages);
    release_pages(h.pagemap, &pages[..o.pinned]).unwrap();
    assert_eq!((o.pinned, o.violations, o.first_violation), (2, 0, None));
    assert!(steps > 0);
    assert_eq!(Variant::from_name(Variant::NextEntry.name()), Some(Variant::NextEntry));
    assert_eq!(Variant::from_name("next-entry"), None);
}

/// A table that starts where the walker's frame ends is named as a table:
/// the frame's words are the 4096 bytes from its base, and the next byte is
/// the table's first entry (the walk names a pointer by its address alone).
#[test]
fn a_table_right_after_the_walker_frame_is_a_table() {
    let h = host(16, false);
    let mut s = h.space(AsceType::Segment);
    let top = s.asce().origin();
    let below = PhysAddr::new(top.as_u64() - PAGE_SIZE);
    assert!(
        !h.frames.lock().is_allocated(below),
        "the frame below the segment table ({below}) is taken: the test needs it for the walker"
    );
    h.frames.lock().reserve(below, top);
    // SAFETY: a frame reserved above for this walker's stack.
    let stack = unsafe { WalkStack::new(h.plat, below) };
    assert_eq!(stack.base().as_u64() + PAGE_SIZE, top.as_u64());
    s.map(0, pa(0x10000), 1, Prot::RW).unwrap();
    let mut steps = Vec::new();
    let mut pages = [Page::from_pfn(0); 1];
    let mut record = |st: &Step| steps.push(*st);
    let mut g = GupFast::new(h.plat, s.asce(), h.pagemap, stack, Variant::OffsetLockless).traced(&mut record);
    let o = gup_fast(&mut g, 0, 1, GupFlags::GET, &mut pages);
    release_pages(h.pagemap, &pages[..o.pinned]).unwrap();
    assert_eq!((o.pinned, o.error, o.violations), (1, None, 0));
    let top_steps: Vec<EntryPtr> = steps
        .iter()
        .filter(|st| st.level < Level::Pte)
        .map(|st| st.ptr)
        .collect();
    assert_eq!(top_steps, [EntryPtr::table(Level::Pmd, top, 0); 4]);
}

/// A corrupt entry stops the whole walk, even where the range goes on past what
/// that entry maps: a range across a region-first (8 PiB) or region-second
/// (4 TiB) boundary whose first part has a bad region-second or region-third
/// entry pins nothing, although the part after the boundary is mapped.
#[test]
fn a_bad_entry_stops_the_walk_even_where_the_range_goes_on() {
    let h = host(16, false);
    for (ty, boundary, level) in [
        (AsceType::Region1, 1u64 << 53, Level::P4d),
        (AsceType::Region1, 1 << 42, Level::Pud),
        (AsceType::Region2, 1 << 42, Level::Pud),
        (AsceType::Region3, 1 << 31, Level::Pmd),
    ] {
        let mut s = h.space(ty);
        let start = boundary - PAGE_SIZE;
        s.map(start, pa(0x10000), 2, Prot::RW).unwrap();
        // A reserved bit of a region entry; table-type bits in a segment entry.
        let bad = if level == Level::Pmd {
            Level::Pud.type_bits()
        } else {
            entry::REGION_RESERVED
        };
        let (at, old) = s.poke_entry(start, level, |v| v | bad).unwrap();
        for v in Variant::FIXED {
            let (o, pages) = h.gup(&s, v, start, 2, GupFlags::empty());
            assert!(
                pages.is_empty() && matches!(o.error, Some(WalkError::BadEntry { at: a, .. }) if a == at),
                "{ty:?} bad {} entry before {boundary:#x}, {v:?}: {o:?} {pages:?}",
                level.hw_name()
            );
        }
        h.plat.write_u64(at.addr(), old);
    }
}

/// A top-table entry of all zeros (no type bits, no table length) is no entry
/// of a region table: every region ASCE type refuses it and names it. The top
/// entry has no parent, so the walk never takes it as a value already tested.
#[test]
fn a_zeroed_top_entry_is_refused() {
    let h = host(16, false);
    for ty in [AsceType::Region3, AsceType::Region2, AsceType::Region1] {
        let mut s = h.space(ty);
        s.map(0x10_0000, pa(0x10000), 2, Prot::RW).unwrap();
        let (at, old) = s.poke_entry(0x10_0000, ty.top(), |_| 0).unwrap();
        for v in Variant::FIXED {
            let (o, pages) = h.gup(&s, v, 0x10_0000, 2, GupFlags::empty());
            assert!(
                pages.is_empty() && matches!(o.error, Some(WalkError::BadEntry { at: a, .. }) if a == at),
                "{ty:?} {v:?}: {o:?} {pages:?}"
            );
        }
        h.plat.write_u64(at.addr(), old);
    }
}

#[test]
fn get_user_pages_fast_reports_prefix_walk_and_falls_back_for_holes() {
    let h = host(16, false);
    let mut s = seed_space(&h, false);
    let mut pages = [Page::from_pfn(0); 3];
    let r = get_user_pages_fast(
        &mut h.ctx(&mut s, Variant::PreFix),
        SEED,
        2,
        GupFlags::empty(),
        &mut pages,
    );
    assert!(matches!(r, Err(GupError::Walk(WalkError::OffObject { .. }))));
    assert_eq!(h.pagemap.total_pins(), 0, "pins from a failed walk are dropped");
    s.map(SEED + 2 * PAGE_SIZE, pa(0x13000), 1, Prot::RO).unwrap();
    let (n, fast) = get_user_pages_fast(
        &mut h.ctx(&mut s, Variant::OffsetLockless),
        SEED,
        3,
        GupFlags::empty(),
        &mut pages,
    )
    .unwrap();
    assert_eq!((n, fast.pinned), (3, 3));
    release_pages(h.pagemap, &pages[..n]).unwrap();
    assert_eq!(
        release_pages(h.pagemap, &pages[..1]),
        Err(page::UnpinError(pages[0])),
        "unpin below zero is refused"
    );
    // FOLL_WRITE on the read-only page: fast walk stops, slow path refuses too.
    let (n, fast) = get_user_pages_fast(
        &mut h.ctx(&mut s, Variant::OffsetLockless),
        SEED,
        3,
        GupFlags::WRITE,
        &mut pages,
    )
    .unwrap();
    assert_eq!((n, fast.pinned), (2, 2));
    release_pages(h.pagemap, &pages[..n]).unwrap();
    assert_eq!(h.pagemap.total_pins(), 0);
}

/// What gup_fast leaves, the locked walk finishes: with FOLL_POPULATE a hole in
/// the middle is faulted in (a zeroed frame) and every page ends up pinned once;
/// without it, a range whose first page is unmapped is `-EFAULT` with nothing
/// pinned; and asking for no pages pins nothing and is no error.
#[test]
fn get_user_pages_fast_finishes_in_the_slow_path() {
    let h = host(16, false);
    let mut s = h.space(AsceType::Region3);
    let va = 0x4000_0000;
    s.map(va, pa(0x10000), 2, Prot::RW).unwrap();
    s.map(va + 3 * PAGE_SIZE, pa(0x13000), 1, Prot::RW).unwrap();
    // The frame the fault will get holds garbage, so the hole reads zero only
    // if the fault zeroes it.
    h.frames.lock().reset_hint();
    let next = h.frames.lock().alloc_frame().unwrap();
    h.plat.fill(next, PAGE_SIZE, 0x5a5a_5a5a_5a5a_5a5a);
    h.frames.lock().free_frame(next).unwrap();
    h.frames.lock().reset_hint();
    let mut pages = [Page::from_pfn(0); 4];
    let (n, fast) = h
        .get_user_pages_fast(&mut s, va, 4, GupFlags::POPULATE, &mut pages)
        .unwrap();
    assert_eq!((n, fast.pinned), (4, 2), "the fast walk stops at the hole");
    let hole = s
        .lookup(va + 2 * PAGE_SIZE)
        .unwrap()
        .expect("the hole was populated")
        .pa;
    assert_eq!(hole, next, "the fault took the frame filled with garbage");
    assert_eq!(pages, [pa(0x10000), pa(0x11000), hole, pa(0x13000)]);
    assert!((0..PAGE_SIZE).step_by(8).all(|o| h.plat.read_u64(hole.add(o)) == 0));
    assert!(pages.iter().all(|&f| h.pagemap.pins(f) == 1));
    release_pages(h.pagemap, &pages).unwrap();

    let unmapped = va + 8 * PAGE_SIZE;
    assert_eq!(
        h.get_user_pages_fast(&mut s, unmapped, 2, GupFlags::empty(), &mut pages)
            .map(|(n, _)| n),
        Err(GupError::Fault(unmapped))
    );
    assert_eq!(
        h.gup_locked(&mut s, unmapped, 2, GupFlags::empty(), &mut pages),
        Err(GupError::Fault(unmapped))
    );
    assert_eq!(
        h.get_user_pages_fast(&mut s, va, 0, GupFlags::empty(), &mut pages)
            .map(|(n, _)| n),
        Ok(0)
    );
    assert_eq!(h.gup_locked(&mut s, unmapped, 0, GupFlags::empty(), &mut pages), Ok(0));
    assert_eq!(h.pagemap.total_pins(), 0);
}

#[test]
fn invariant_names_the_loop_that_leaves_its_copy() {
    // The pre-fix walk steps off a copy in the loop of the lowest folded level,
    // at the first boundary of what one top entry maps: pmd in a segment space
    // (1 MiB), pud in region-third (2 GiB), p4d in region-second (4 TiB). The
    // invariant checker must name that loop and address; a 5-level space folds
    // nothing.
    let h = host(16, false);
    for (ty, boundary, level) in [
        (AsceType::Segment, 1u64 << 20, Some(Level::Pmd)),
        (AsceType::Region3, 1 << 31, Some(Level::Pud)),
        (AsceType::Region2, 1 << 42, Some(Level::P4d)),
        (AsceType::Region1, 1 << 53, None),
    ] {
        let mut s = h.space(ty);
        s.map(boundary - PAGE_SIZE, pa(0x10000), 2, Prot::RW).unwrap();
        let (o, _) = h.gup(&s, Variant::PreFix, boundary - PAGE_SIZE, 2, GupFlags::empty());
        let got = o.first_violation.map(|v| (v.level, v.addr));
        assert_eq!(got, level.map(|l| (l, boundary)), "{ty:?}");
    }
}

#[test]
fn large_frames_pin_across_a_region_boundary_and_refuse_a_write() {
    let h = host(64, true);
    for ty in [AsceType::Region3, AsceType::Region2, AsceType::Region1] {
        let mut s = h.space(ty);
        // A 1 MiB frame at 2 GiB - 1 MiB and a 2 GiB frame at 2 GiB: the range
        // crosses the region-third boundary from a large segment into a large region.
        s.map_large(0x7ff0_0000, pa(0x100000), Level::Pmd, Prot::RW).unwrap();
        s.map_large(0x8000_0000, pa(0), Level::Pud, Prot::RO).unwrap();
        let start = 0x7fff_e000;
        let want = [pa(0x1fe000), pa(0x1ff000), pa(0), pa(0x1000)];
        for v in Variant::FIXED {
            let (o, p) = h.gup(&s, v, start, 4, GupFlags::empty());
            assert_eq!((o.error, o.violations), (None, 0), "{ty:?} {v:?}");
            assert_eq!(p, want, "{ty:?} {v:?}");
            let (_, p) = h.gup(&s, v, start, 4, GupFlags::WRITE);
            assert_eq!(
                p,
                want[..2],
                "{ty:?} {v:?}: FOLL_WRITE stops at the read-only 2 GiB frame"
            );
        }
        let (o, _) = h.gup(&s, Variant::PreFix, start, 4, GupFlags::empty());
        assert_eq!(
            o.error.is_some(),
            prefix_walks_off(ty, start, start + 4 * PAGE_SIZE),
            "{ty:?}"
        );
        assert_eq!(s.lookup(0x8000_1234).unwrap().unwrap().pa, pa(0x1234));
        // Unmapping part of a large frame is refused before anything changes.
        s.map(0x7fe0_0000 - 2 * PAGE_SIZE, pa(0x30_0000), 2, Prot::RW).unwrap();
        assert_eq!(
            s.unmap(0x7fe0_0000 - 2 * PAGE_SIZE, 2 + 256 + 1),
            Err(foldkern::mm::space::MapError::LargeMapping(0x7ff0_0000))
        );
        assert!(
            s.lookup(0x7fe0_0000 - PAGE_SIZE).unwrap().is_some(),
            "{ty:?}: a 4 KiB page went"
        );
        assert_eq!(
            s.unmap(0x8000_0000, 1),
            Err(foldkern::mm::space::MapError::LargeMapping(0x8000_0000))
        );
        s.unmap(0x7fe0_0000 - 2 * PAGE_SIZE, 2 + 256 + 256).unwrap();
        assert!(
            s.lookup(0x7ff0_0000).unwrap().is_none(),
            "{ty:?}: the whole 1 MiB frame goes"
        );
        // A large frame must start in memory (64 MiB here); nothing changes.
        let bytes = s.table_bytes();
        assert_eq!(
            s.map_large(0x100_0000_0000, pa(64 << 20), Level::Pmd, Prot::RW),
            Err(foldkern::mm::space::MapError::FrameOutsideMemory(pa(64 << 20)))
        );
        assert_eq!(s.table_bytes(), bytes);
    }
    assert_eq!(h.pagemap.total_pins(), 0);
}

/// A large frame over pages that are already mapped is refused before anything
/// changes (not even the ASCE type), naming the first mapped page.
#[test]
fn large_frame_over_mapped_pages_names_the_first_and_changes_nothing() {
    use foldkern::mm::space::MapError::AlreadyMapped;
    let h = host(64, true);
    let mut s = h.space(AsceType::Segment);
    s.map(0x10_5000, pa(0x20_0000), 2, Prot::RW).unwrap();
    let bytes = s.table_bytes();
    assert_eq!(
        s.map_large(0x10_0000, pa(0x30_0000), Level::Pmd, Prot::RW),
        Err(AlreadyMapped(0x10_5000))
    );
    // A 2 GiB frame at 0 covers the same pages.
    assert_eq!(
        s.map_large(0, pa(0), Level::Pud, Prot::RW),
        Err(AlreadyMapped(0x10_5000))
    );
    assert_eq!((s.asce_type(), s.table_bytes()), (AsceType::Segment, bytes));
    assert_eq!(s.lookup(0x10_0000).unwrap(), None);
    assert_eq!(s.lookup(0x10_5000).unwrap().unwrap().pa, pa(0x20_0000));
    // Next to them it goes in, and over it nothing more.
    s.map_large(0x20_0000, pa(0x30_0000), Level::Pmd, Prot::RW).unwrap();
    assert_eq!(
        s.map(0x2f_f000, pa(0x20_0000), 1, Prot::RW),
        Err(AlreadyMapped(0x2f_f000))
    );
    // A 2 GiB frame is a region-third entry, so a segment-only space grows a
    // region-third table for one even at address 0.
    let mut s = h.space(AsceType::Segment);
    s.map_large(0, pa(0), Level::Pud, Prot::RO).unwrap();
    assert_eq!(s.asce_type(), AsceType::Region3);
    assert_eq!(
        s.lookup(0x1234).unwrap().map(|t| (t.pa, t.level)),
        Some((pa(0x1234), Level::Pud))
    );
    let (o, p) = h.gup(&s, Variant::OffsetLockless, 0x1000, 2, GupFlags::empty());
    assert_eq!((o.error, p), (None, vec![Page::of(pa(0x1000)), Page::of(pa(0x2000))]));
}

#[test]
fn large_frames_refused_without_edat() {
    use foldkern::mm::space::MapError::Unsupported;
    let h = host(16, false);
    let mut s = h.space(AsceType::Region3);
    assert_eq!(
        s.map_large(0x10_0000, pa(0x100000), Level::Pmd, Prot::RW),
        Err(Unsupported("1 MiB frames need EDAT-1 (facility 8)"))
    );
    assert_eq!(
        s.map_large(0x8000_0000, pa(0), Level::Pud, Prot::RW),
        Err(Unsupported("2 GiB frames need EDAT-2 (facility 78)"))
    );
    assert!(matches!(
        s.map_large(0x1000, pa(0x1000), Level::Pte, Prot::RW),
        Err(Unsupported(_))
    ));
    assert_eq!(s.table_bytes(), 16384);
    // With EDAT: a special large frame is refused (gup_fast could not tell it
    // from a pinnable one), and nothing changes.
    let h = host(16, true);
    let mut s = h.space(AsceType::Region3);
    assert_eq!(
        s.map_large(0x10_0000, pa(0x100000), Level::Pmd, Prot::SPECIAL),
        Err(Unsupported("special large frames"))
    );
    assert_eq!(s.table_bytes(), 16384);
}

#[test]
fn fixed_variants_match_translation_everywhere() {
    let h = host(16, false);
    let p = PAGE_SIZE;
    for ty in AsceType::ALL {
        for b in foldkern::mm::level::LEVEL_BOUNDARIES
            .into_iter()
            .chain([0u64.wrapping_sub(8 * p)])
        {
            if b.wrapping_add(4 * p).wrapping_sub(1) > ty.last_addr() || b < 4 * p {
                continue;
            }
            for (start, n, hole, write) in [
                (b - 2 * p, 4usize, None, false),
                (b - 3 * p, 3, None, true),
                (b, 1, None, false),
                (b - 2 * p, 4, Some(2u64), false),
            ] {
                let mut s = h.space(ty);
                for i in 0..n as u64 {
                    if Some(i) != hole {
                        s.map(
                            start + i * p,
                            pa(0x100000 + i * p),
                            1,
                            if i == 3 { Prot::RO } else { Prot::RW },
                        )
                        .unwrap();
                    }
                }
                let want = h.expected(&s, start, n, write);
                let flags = if write { GupFlags::WRITE } else { GupFlags::empty() };
                for v in Variant::FIXED {
                    let (o, got) = h.gup(&s, v, start, n, flags);
                    assert_eq!((o.error, o.violations), (None, 0), "{ty:?} {v:?} {start:#x}");
                    assert_eq!(got, want, "{ty:?} {v:?} {start:#x}");
                }
                let (o, _) = h.gup(&s, Variant::PreFix, start, n, flags);
                let reach = (start + (want.len() as u64 + 1) * p).min(start + n as u64 * p);
                assert_eq!(
                    o.error.is_some(),
                    prefix_walks_off(ty, start, reach),
                    "{ty:?} pre-fix {start:#x}+{n}"
                );
            }
        }
    }
    assert_eq!(h.pagemap.total_pins(), 0);
}

#[test]
fn out_of_range_requests_pin_nothing() {
    let h = host(16, false);
    let s = seed_space(&h, false);
    for (start, n) in [
        (1u64 << 42, 1usize),
        ((1 << 42) - PAGE_SIZE, 2),
        (u64::MAX - PAGE_SIZE + 1, 2),
    ] {
        for v in Variant::ALL {
            let (o, p) = h.gup(&s, v, start, n, GupFlags::empty());
            assert!(p.is_empty() && o.error.is_none(), "{v:?} {start:#x}");
        }
    }
}

/// The PTE loop pins sixteen PTEs per loop test and keeps a remainder loop: check it
/// stops exactly at the first PTE it must leave alone, wherever that falls in a
/// group or the remainder, names damaged PTEs, and leaves no pin behind.
#[test]
fn pte_loop_stops_exactly_at_the_first_bad_pte() {
    let h = host(16, false);
    let mem_end = h.plat.mem_end().as_u64();
    let mut s = h.space(AsceType::Segment);
    // Start 3 entries into a page table, so groups do not start at index 0.
    let base = 0x40_0000 + 3 * PAGE_SIZE;
    s.map(base, pa(0x10_0000), 35, Prot::RW).unwrap();
    let ptep = |i: usize| pgtable::walk_to(h.plat, s.asce(), base + i as u64 * PAGE_SIZE, Level::Pte).unwrap();
    type Damage = (&'static str, fn(u64, u64) -> u64, Option<Defect>);
    let damages: [Damage; 7] = [
        ("not present", |v, _| v & !entry::PteBits::PRESENT.bits(), None),
        ("prot-none", |v, _| v & !entry::PteBits::READ.bits(), None),
        ("special", |v, _| v | entry::PteBits::SPECIAL.bits(), None),
        ("no-execute 0x100", |v, _| v | entry::PteBits::NOEXEC.bits(), None),
        (
            "bit 0x800",
            |v, _| v | entry::PteBits::ZERO_BIT.bits(),
            Some(Defect::PteBit800),
        ),
        (
            "poisoned",
            |_, _| entry::poison_entry(Level::Pte),
            Some(Defect::FreedTable),
        ),
        (
            "frame beyond the page map",
            |v, end| (v & !entry::PAGE_ORIGIN) | end,
            None,
        ),
    ];
    // Up to two groups and a remainder of three.
    for n in 1..=35usize {
        let (o, p) = h.gup(&s, Variant::OffsetLockless, base, n, GupFlags::empty());
        assert_eq!((p.len(), o.error), (n, None), "n={n}, nothing damaged");
        for k in 0..n {
            for (name, damage, why) in damages {
                let at = ptep(k);
                let good = h.plat.read_u64(at.addr());
                h.plat.write_u64(at.addr(), damage(good, mem_end));
                let (o, p) = h.gup(&s, Variant::OffsetLockless, base, n, GupFlags::empty());
                h.plat.write_u64(at.addr(), good);
                let frames: Vec<_> = (0..k as u64).map(|i| pa(0x10_0000 + i * PAGE_SIZE)).collect();
                assert_eq!(p, frames, "n={n}, {name} PTE {k}");
                match (o.error, why) {
                    (None, None) => {}
                    (Some(WalkError::BadEntry { at: e, defect, .. }), Some(want)) => {
                        // The whole pointer: the page table and the index.
                        assert_eq!((e, defect), (at, want), "n={n}, {name} PTE {k}")
                    }
                    (e, _) => panic!("n={n}, {name} PTE {k}: {e:?}"),
                }
                assert_eq!(h.pagemap.total_pins(), 0, "n={n}, {name} PTE {k}: a pin leaked");
            }
        }
    }
}

/// The PTE loop's one compare (`pinnable_pfn`) decides as v5.9's
/// `pte_protnone`, `pte_access_permitted` and `pte_special` do, on Linux's
/// software bits: each of the twelve bits below the frame of a young, dirty,
/// writable PTE is flipped in turn. The hardware's I and P do not matter (an
/// old page, a clean one), nor young, dirty and soft-dirty; present and read
/// must be set, write for FOLL_WRITE; special stops it, and so do the two bits
/// foldkern never sets, whose pages the slow path then pins. Bit 0x800 is
/// damage: an error, nothing pinned.
#[test]
fn the_fast_walk_decides_on_linux_software_bits() {
    let h = host(16, false);
    let mut s = h.space(AsceType::Region3);
    let va = 0x4000_0000;
    s.map(va, pa(0x10_0000), 3, Prot::RW).unwrap();
    let at = pgtable::walk_to(h.plat, s.asce(), va + PAGE_SIZE, Level::Pte).unwrap();
    let good = h.plat.read_u64(at.addr());
    assert_eq!(good & 0xfff, 0x03f, "present, soft-dirty, young, dirty, read, write");
    use entry::PteBits as B;
    // bit flipped: pages (of 3) the fast walk pins for a read, for a write; the
    // same for get_user_pages_fast (fast walk, then the slow path).
    let table: [(B, [usize; 4]); 12] = [
        (B::PRESENT, [1, 1, 1, 1]),
        (B::SOFT_DIRTY, [3, 3, 3, 3]),
        (B::YOUNG, [3, 3, 3, 3]),
        (B::DIRTY, [3, 3, 3, 3]),
        (B::READ, [1, 1, 1, 1]),
        (B::WRITE, [3, 1, 3, 1]),
        (B::SPECIAL, [1, 1, 1, 1]),
        (B::UNUSED, [1, 1, 3, 3]),
        (B::NOEXEC, [1, 1, 3, 3]),
        (B::P, [3, 3, 3, 3]),
        (B::I, [3, 3, 3, 3]),
        (B::ZERO_BIT, [1, 1, 0, 0]),
    ];
    let frames = [pa(0x10_0000), pa(0x10_1000), pa(0x10_2000)];
    for (bit, want) in table {
        h.plat.write_u64(at.addr(), good ^ bit.bits());
        for (i, flags) in [GupFlags::empty(), GupFlags::WRITE].into_iter().enumerate() {
            let (o, p) = h.gup(&s, Variant::OffsetLockless, va, 3, flags);
            assert_eq!(p.len(), want[i], "PTE bit {bit:?} flipped, {flags:?}: {o:?}");
            assert_eq!(p[..], frames[..want[i]]);
            let mut pages = [Page::from_pfn(0); 3];
            let pinned = match h.get_user_pages_fast(&mut s, va, 3, flags, &mut pages) {
                Ok((n, _)) => n,
                Err(GupError::Walk(WalkError::BadEntry { at: e, defect, .. })) => {
                    assert_eq!((e.addr(), defect), (at.addr(), Defect::PteBit800), "{bit:?}");
                    0
                }
                Err(e) => panic!("PTE bit {bit:?} flipped, {flags:?}: {e:?}"),
            };
            assert_eq!(pinned, want[2 + i], "PTE bit {bit:?} flipped, {flags:?}: slow path");
            assert_eq!(pages[..pinned], frames[..pinned]);
            release_pages(h.pagemap, &pages[..pinned]).unwrap();
            assert_eq!(h.pagemap.total_pins(), 0, "PTE bit {bit:?}: a pin leaked");
        }
    }
    h.plat.write_u64(at.addr(), good);
}

/// A range that wraps past 2^64 is refused whole by both paths (`-EOVERFLOW`),
/// even when the page at 0 is mapped: the locked walk used to wrap around and pin
/// page 0 as the page after 0xfffffffffffff000.
#[test]
fn wrapping_ranges_are_refused_by_the_slow_path_too() {
    let h = host(16, false);
    let mut s = h.space(AsceType::Region1);
    let top = 0u64.wrapping_sub(PAGE_SIZE);
    s.map(top, pa(0x10000), 1, Prot::RW).unwrap();
    s.map(0, pa(0x11000), 1, Prot::RW).unwrap();
    let mut pages = [Page::from_pfn(0); 2];
    for flags in [GupFlags::empty(), GupFlags::POPULATE] {
        assert_eq!(
            h.gup_locked(&mut s, top, 2, flags, &mut pages),
            Err(GupError::Overflow(top))
        );
        let r = get_user_pages_fast(
            &mut h.ctx(&mut s, Variant::OffsetLockless),
            top + 0x123,
            2,
            flags,
            &mut pages,
        );
        assert!(matches!(r, Err(GupError::Overflow(a)) if a == top + 0x123), "{r:?}");
    }
    assert_eq!(h.pagemap.total_pins(), 0);
    // One page at the very top is fine.
    assert_eq!(h.gup_locked(&mut s, top, 1, GupFlags::empty(), &mut pages), Ok(1));
    assert_eq!(pages[0], pa(0x10000));
    release_pages(h.pagemap, &pages[..1]).unwrap();
}

/// The locked walk returns the pages it pinned when it stops on an error after
/// the first (here: no frame to populate a hole), as Linux's get_user_pages
/// does, so the caller owns and can drop every pin; an error only when not even
/// the first page could be pinned.
#[test]
fn slow_path_keeps_no_pin_behind_an_error() {
    let h = host(16, false);
    let mut s = h.space(AsceType::Region3);
    s.map(0x10_0000, pa(0x10000), 1, Prot::RW).unwrap();
    // The hole shares the first page's page table: only the frame to populate
    // it with is missing.
    let held: Vec<PhysAddr> = std::iter::from_fn(|| h.frames.lock().alloc_frame().ok()).collect();
    let mut pages = [Page::from_pfn(0); 2];
    assert_eq!(
        h.gup_locked(&mut s, 0x10_0000, 2, GupFlags::POPULATE, &mut pages),
        Ok(1)
    );
    assert_eq!(h.pagemap.total_pins(), 1);
    release_pages(h.pagemap, &pages[..1]).unwrap();
    assert_eq!(
        h.gup_locked(&mut s, 0x10_1000, 1, GupFlags::POPULATE, &mut pages),
        Err(GupError::Map(foldkern::mm::space::MapError::NoMemory))
    );
    assert_eq!(h.pagemap.total_pins(), 0);
    for f in held {
        h.frames.lock().free_frame(f).unwrap();
    }
}

/// Across a boundary between two entries of the top table, the walk reads the
/// second entry once, in the loop that steps onto it, in every ASCE type (a
/// walk that started again from the top would read it twice).
#[test]
fn the_walk_reads_the_next_top_entry_once_when_it_steps_onto_it() {
    let h = host(16, false);
    for ty in AsceType::ALL {
        let mut s = h.space(ty);
        let boundary = 1u64 << ty.top().shift();
        let start = boundary - 2 * PAGE_SIZE;
        s.map(start, pa(0x10_0000), 2, Prot::RW).unwrap();
        s.map(boundary, pa(0x20_0000), 2, Prot::RW).unwrap();
        let second = walk_to(h.plat, s.asce(), boundary, ty.top()).unwrap();
        let want = [pa(0x10_0000), pa(0x10_1000), pa(0x20_0000), pa(0x20_1000)];
        for v in Variant::FIXED {
            let t = RacingWrite::counting(h.plat, second.addr());
            let (o, p) = h.gup_on(&t, &s, v, start, 4, GupFlags::empty());
            assert_eq!((o.pinned, o.error, t.reads()), (4, None, 1), "{ty:?} {v:?}");
            assert_eq!(p, want, "{ty:?} {v:?}");
        }
    }
}

/// gup_pte_range re-reads each PTE after pinning its page; if it changed (an
/// unmap, or an unmap and remap, racing the walk) the pin goes back and the walk
/// stops there without an error, leaving the rest to the slow path.
#[test]
fn a_pte_changed_under_the_walk_loses_its_pin_and_stops_the_walk() {
    let h = host(16, false);
    let mut s = h.space(AsceType::Region3);
    let (va, frames) = (0x10_0000, pa(0x20_0000));
    s.map(va, frames, 8, Prot::RW).unwrap();
    let ptep = pgtable::walk_to(h.plat, s.asce(), va + 3 * PAGE_SIZE, Level::Pte).unwrap();
    let old = h.plat.read_u64(ptep.addr());
    let want: Vec<PhysAddr> = (0..8).map(|i| frames.add(i * PAGE_SIZE)).collect();
    for v in Variant::FIXED {
        let t = RacingWrite::counting(h.plat, ptep.addr());
        let (o, p) = h.gup_on(&t, &s, v, va, 8, GupFlags::empty());
        assert_eq!(
            (o.pinned, t.reads()),
            (8, 2),
            "{v:?}: the PTE is read to pin and to re-check"
        );
        assert_eq!(p, want);
        for new in [old | PteBits::I.bits(), old + 16 * PAGE_SIZE] {
            let t = store_after(h.plat, ptep.addr(), 1, new);
            let (o, p) = h.gup_on(&t, &s, v, va, 8, GupFlags::empty());
            h.plat.write_u64(ptep.addr(), old);
            assert_eq!((o.pinned, o.error), (3, None), "{v:?}, PTE {old:#x} -> {new:#x}");
            assert_eq!(p, want[..3]);
            assert_eq!(h.pagemap.total_pins(), 0, "{v:?}: the changed PTE's pin went back");
        }
    }
}

/// gup_huge_pmd/pud re-check the large entry through the pointer they were given
/// after taking the pins. The merged fix hands down the real pointer, so an entry
/// invalidated after the walker read it loses every pin taken from it. Under the
/// RFC's addr_end_folded (as in Linux before v5.9) a large entry on a folded level
/// is re-checked through the walker's stack copy: the copy equals itself, the
/// change goes unnoticed and the walk returns pins of a mapping that is gone. A
/// segment entry in a region-third space is not folded, so both notice there.
#[test]
fn a_large_entry_changed_under_the_walk_loses_its_pins_unless_rechecked_through_a_copy() {
    use Variant::{AddrEndFolded, OffsetLockless};
    let h = host(64, true);
    // (space, where, level of the large entry, its frame, variant, reads of the
    // real entry by an undisturbed walk, pages pinned when it is invalidated after
    // the walker's last read of it before the pins, where the four pages start).
    // A folded level re-reads the top entry: the merged fix reads a large
    // segment entry of a segment space at every level and once more to
    // re-check it, the RFC's walk once (the rest read the copies).
    let (seg, r3) = (AsceType::Segment, AsceType::Region3);
    // Inside the frame, or its last two pages and two 4 KiB pages of the next
    // segment: a dropped pin must stop the walk, not skip to the next mapping.
    let (inside, across) = (0x2000, (1 << 20) - 0x2000);
    let cases = [
        (seg, 0x10_0000, Level::Pmd, pa(0x10_0000), OffsetLockless, 5, 0, inside),
        (seg, 0x10_0000, Level::Pmd, pa(0x10_0000), AddrEndFolded, 1, 4, inside),
        (r3, 0x8000_0000, Level::Pud, pa(0), OffsetLockless, 4, 0, inside),
        (r3, 0x8000_0000, Level::Pud, pa(0), AddrEndFolded, 1, 4, inside),
        (r3, 0x10_0000, Level::Pmd, pa(0x10_0000), OffsetLockless, 2, 0, inside),
        (r3, 0x10_0000, Level::Pmd, pa(0x10_0000), AddrEndFolded, 2, 0, inside),
        (seg, 0x10_0000, Level::Pmd, pa(0x10_0000), OffsetLockless, 5, 0, across),
        (seg, 0x10_0000, Level::Pmd, pa(0x10_0000), AddrEndFolded, 1, 4, across),
        (r3, 0x10_0000, Level::Pmd, pa(0x10_0000), OffsetLockless, 2, 0, across),
    ];
    for (ty, va, level, frame, v, reads, pinned, off) in cases {
        let what = format!("{v:?}, large {} entry in a {ty:?} space, +{off:#x}", level.name());
        let mut s = h.space(ty);
        s.map_large(va, frame, level, Prot::RW).unwrap();
        if off == across {
            s.map(va + (1 << 20), pa(0x40_0000), 2, Prot::RW).unwrap();
        }
        let entry = pgtable::walk_to(h.plat, s.asce(), va, level).unwrap();
        let old = h.plat.read_u64(entry.addr());
        let start = va + off;
        let t = RacingWrite::counting(h.plat, entry.addr());
        let (o, p) = h.gup_on(&t, &s, v, start, 4, GupFlags::empty());
        assert_eq!((o.pinned, t.reads()), (4, reads), "{what}: undisturbed");
        assert_eq!(p[0], frame.add(off), "{what}");
        // Its re-check reads the real entry last unless it reads a copy.
        let last_before_pins = if pinned == 0 { reads - 1 } else { reads };
        let t = store_after(h.plat, entry.addr(), last_before_pins, old | RegionBits::I.bits());
        let (o, _) = h.gup_on(&t, &s, v, start, 4, GupFlags::empty());
        h.plat.write_u64(entry.addr(), old);
        assert_eq!(
            (o.pinned, o.error),
            (pinned, None),
            "{what}: invalidated under the walk"
        );
        assert_eq!(h.pagemap.total_pins(), 0, "{what}: pins balance");
    }
}

/// A 2 GiB frame reaching past the end of memory: the walk pins the subpages
/// that have a struct page and stops at the first that has none; the pins it
/// keeps are re-checked like any others.
#[test]
fn a_large_frame_past_the_end_of_memory_pins_up_to_it_and_still_rechecks() {
    let h = host(64, true);
    let mut s = h.space(AsceType::Region3);
    s.map_large(0x8000_0000, pa(0), Level::Pud, Prot::RW).unwrap();
    let entry = pgtable::walk_to(h.plat, s.asce(), 0x8000_0000, Level::Pud).unwrap();
    let old = h.plat.read_u64(entry.addr());
    let start = 0x8000_0000 + (64 << 20) - 2 * PAGE_SIZE;
    let v = Variant::OffsetLockless;
    let (o, p) = h.gup_on(h.plat, &s, v, start, 4, GupFlags::empty());
    assert_eq!((o.pinned, o.error), (2, None));
    assert_eq!(p, [pa((64 << 20) - 2 * PAGE_SIZE), pa((64 << 20) - PAGE_SIZE)]);
    // Invalidated after the walker's last read before the pins (the folded
    // region-third entry is read at the pgd, p4d and pud levels).
    let t = store_after(h.plat, entry.addr(), 3, old | RegionBits::I.bits());
    let (o, _) = h.gup_on(&t, &s, v, start, 4, GupFlags::empty());
    h.plat.write_u64(entry.addr(), old);
    assert_eq!(
        (o.pinned, o.error),
        (0, None),
        "pins of an entry that changed are dropped"
    );
    // The walk stops at the first subpage without a struct page: nothing after
    // it is pinned, even where the range goes on into the next mapping.
    s.map(0x1_0000_0000, pa(0x10000), 1, Prot::RW).unwrap();
    let from = 0x8000_0000 + (64 << 20) - PAGE_SIZE;
    let n = ((0x1_0000_1000 - from) / PAGE_SIZE) as usize;
    let (o, p) = h.gup_on(h.plat, &s, v, from, n, GupFlags::empty());
    assert_eq!(
        (o.pinned, o.error, p),
        (1, None, vec![Page::of(pa((64 << 20) - PAGE_SIZE))])
    );
    assert_eq!(h.pagemap.total_pins(), 0);
}

/// The slow path takes any address inside the first page, as Linux's
/// get_user_pages does (`start & PAGE_MASK`): it pins whole pages and faults a
/// hole in at the page, not at the unaligned address.
#[test]
fn slow_path_takes_an_unaligned_start() {
    let h = host(16, false);
    let mut s = h.space(AsceType::Region3);
    s.map(0x10_0000, pa(0x10000), 1, Prot::RW).unwrap();
    let mut pages = [Page::from_pfn(0); 2];
    let flags = GupFlags::WRITE | GupFlags::POPULATE;
    let r = h.gup_locked(&mut s, 0x10_0123, 2, flags, &mut pages);
    assert_eq!(r, Ok(2));
    assert_eq!(pages[0], pa(0x10000));
    let populated = s.lookup(0x10_1000).unwrap().expect("the hole was faulted in");
    assert_eq!(pages[1], populated.pa);
    release_pages(h.pagemap, &pages).unwrap();
    assert_eq!(h.pagemap.total_pins(), 0);
}

/// FOLL_GET and FOLL_PIN count as v5.9 counts them: `get_user_pages_fast`
/// takes 1 per page (dropped by `release_pages`), `pin_user_pages_fast` the pin
/// bias (dropped by `unpin_user_pages`, seen by `page_maybe_dma_pinned`); each
/// sets its own kind and refuses a caller's, and the walks take nothing
/// unless exactly one kind is set.
#[test]
fn get_and_pin_count_as_linux_counts_them() {
    let h = host(16, true);
    let mut s = h.space(AsceType::Region3);
    s.map(0x10_0000, pa(0x20_0000), 3, Prot::RW).unwrap();
    s.map_large(0x4000_0000, pa(0x40_0000), Level::Pmd, Prot::RW).unwrap();
    let mut pages = [Page::default(); 3];
    for (start, frame) in [(0x10_0000, 0x20_0000), (0x4000_0000, 0x40_0000)] {
        let (n, _) = get_user_pages_fast(
            &mut h.ctx(&mut s, Variant::OffsetLockless),
            start,
            3,
            GupFlags::empty(),
            &mut pages,
        )
        .unwrap();
        assert_eq!(
            (n, h.pagemap.pins(pa(frame)), h.pagemap.page_maybe_dma_pinned(pa(frame))),
            (3, 1, false)
        );
        let (n, _) = pin_user_pages_fast(
            &mut h.ctx(&mut s, Variant::OffsetLockless),
            start,
            3,
            GupFlags::WRITE,
            &mut pages,
        )
        .unwrap();
        assert_eq!(n, 3);
        assert_eq!(h.pagemap.pins(pa(frame + 2 * PAGE_SIZE)), 1 + GUP_PIN_COUNTING_BIAS);
        assert!(h.pagemap.page_maybe_dma_pinned(pa(frame)), "a FOLL_PIN reference shows");
        unpin_user_pages(h.pagemap, &pages).unwrap();
        assert_eq!(
            (h.pagemap.pins(pa(frame)), h.pagemap.page_maybe_dma_pinned(pa(frame))),
            (1, false)
        );
        release_pages(h.pagemap, &pages).unwrap();
        assert_eq!(h.pagemap.total_pins(), 0, "from {start:#x}");
        assert_eq!(
            release_pages(h.pagemap, &pages[..1]),
            Err(page::UnpinError(pages[0])),
            "below zero"
        );
    }
    // Each entry point sets its own kind; naming one is -EINVAL.
    let mut ctx = h.ctx(&mut s, Variant::OffsetLockless);
    for flags in [GupFlags::GET, GupFlags::PIN, GupFlags::FAST_ONLY] {
        let get = get_user_pages_fast(&mut ctx, 0x10_0000, 1, flags, &mut pages);
        assert!(matches!(get, Err(GupError::InvalidFlags(f)) if f == flags), "{get:?}");
        let pin = pin_user_pages_fast(&mut ctx, 0x10_0000, 1, flags, &mut pages);
        assert!(matches!(pin, Err(GupError::InvalidFlags(f)) if f == flags), "{pin:?}");
    }
    // The walks themselves: exactly one kind, or nothing.
    for flags in [GupFlags::empty(), GupFlags::GET | GupFlags::PIN] {
        let mut g = GupFast::new(h.plat, ctx.space.asce(), h.pagemap, h.stack, Variant::OffsetLockless);
        assert_eq!(gup_fast(&mut g, 0x10_0000, 3, flags, &mut pages).pinned, 0, "{flags:?}");
        assert_eq!(
            gup_locked(&mut ctx, 0x10_0000, 3, flags, &mut pages),
            Err(GupError::InvalidFlags(flags))
        );
    }
    assert_eq!(h.pagemap.total_pins(), 0);
}

/// `*_fast_only` (FOLL_FAST_ONLY) never take the slow path: a hole stops them
/// (even with FOLL_POPULATE, which only the slow path acts on) and stays a
/// hole, and an error gives 0 pages.
#[test]
fn fast_only_never_falls_back() {
    let h = host(16, false);
    let mut s = h.space(AsceType::Region3);
    s.map(0x10_0000, pa(0x20_0000), 1, Prot::RW).unwrap();
    s.map(0x10_2000, pa(0x20_2000), 1, Prot::RW).unwrap();
    let mut pages = [Page::default(); 3];
    let mut ctx = h.ctx(&mut s, Variant::OffsetLockless);
    assert_eq!(
        get_user_pages_fast_only(&mut ctx, 0x10_0000, 3, GupFlags::POPULATE, &mut pages),
        1
    );
    assert_eq!(h.pagemap.pins(pa(0x20_0000)), 1);
    release_pages(h.pagemap, &pages[..1]).unwrap();
    assert_eq!(
        pin_user_pages_fast_only(&mut ctx, 0x10_0000, 3, GupFlags::WRITE, &mut pages),
        1
    );
    assert_eq!(h.pagemap.pins(pa(0x20_0000)), GUP_PIN_COUNTING_BIAS);
    unpin_user_pages(h.pagemap, &pages[..1]).unwrap();
    assert!(
        ctx.space.lookup(0x10_1000).unwrap().is_none(),
        "the hole was faulted in"
    );
    // The slow path would fill it.
    let (n, _) = get_user_pages_fast(&mut ctx, 0x10_0000, 3, GupFlags::POPULATE, &mut pages).unwrap();
    assert_eq!(n, 3);
    release_pages(h.pagemap, &pages).unwrap();
    // An error (a walk off the copy) is 0 pages, nothing kept.
    let mut s = seed_space(&h, false);
    let mut ctx = h.ctx(&mut s, Variant::PreFix);
    assert_eq!(
        pin_user_pages_fast_only(&mut ctx, SEED, 2, GupFlags::empty(), &mut pages),
        0
    );
    assert_eq!(h.pagemap.total_pins(), 0);
}

/// The walk's output names the copies of Linux's frame by what each holds (the
/// pgd, p4d and pud copies one word apart, as Linux 6.1 compiles them), the
/// word after them as the saved register it is, any other word by its offset
/// from the caller's stack pointer, and a guarded copy as the pointer itself
/// does.
#[test]
fn the_copies_of_linux_frame_are_named_by_what_they_hold() {
    use foldkern::gup::policy::{Guarded, Layout, LinuxFrame, Named};
    let h = host(16, false);
    let copy = |level| <LinuxFrame as Layout>::copy(h.stack, level, Level::Pud);
    let name = |p: EntryPtr| Named(p).to_string();
    let at = |p: EntryPtr| format!("{:#x}", p.addr().as_u64());
    let pgd = copy(Level::Pgd);
    for (k, (level, word)) in [(Level::Pgd, "pgd"), (Level::P4d, "p4d"), (Level::Pud, "pud")]
        .into_iter()
        .enumerate()
    {
        let p = copy(level);
        assert_eq!(p.addr(), pgd.add(k as i64).addr());
        assert_eq!(
            name(p),
            format!("{} (Linux's frame: the {word} copy, a region-third entry)", at(p))
        );
    }
    let saved = copy(Level::Pud).add(1);
    assert_eq!(
        name(saved),
        format!("{} (Linux's frame: the caller's saved %r6, not an entry)", at(saved))
    );
    let past = saved.add(1);
    assert_eq!(name(past), format!("{} (Linux's frame, caller's sp +80)", at(past)));
    let before = pgd.add(-1);
    assert_eq!(name(before), format!("{} (Linux's frame, caller's sp +40)", at(before)));
    let lone = <Guarded as Layout>::copy(h.stack, Level::P4d, Level::Pud);
    assert_eq!(name(lone), lone.to_string());
    assert_eq!(name(lone), format!("{} (stack copy of a region-third entry)", at(lone)));
}

/// The entry points take their hooks from the context, and those explain the
/// walk as `gup_fast`'s own do: `get_user_pages_fast` with the thread's
/// next-entry walk and a traced `Explain` on the seed range pins the decoy
/// silently, and the trace holds every entry and PTE read, and the outcome
/// the invariant's violation.
#[test]
fn the_entry_points_explain_the_walk_through_their_context_hooks() {
    let h = host(16, false);
    let mut s = seed_space(&h, true);
    let mut steps: Vec<Step> = Vec::new();
    let mut record = |st: &Step| steps.push(*st);
    let mut pages = [Page::default(); 2];
    let mut ctx = GupContext {
        space: &mut s,
        pagemap: h.pagemap,
        stack: h.stack,
        variant: Variant::NextEntry,
        hooks: Explain::new().traced(&mut record),
    };
    let (n, o) = get_user_pages_fast(&mut ctx, SEED, 2, GupFlags::empty(), &mut pages).unwrap();
    assert_eq!(
        (n, pages),
        (2, [Page::of(pa(0x10000)), Page::of(pa(0x12000))]),
        "the decoy, silently"
    );
    let v = o.first_violation.expect("the next-entry walk breaks the invariant");
    assert!(o.violations > 0, "{o:?}");
    assert!(
        v.to_string().starts_with("pudp for 0x10080000000 is ") && v.to_string().contains("a walk from the top gives"),
        "{v}"
    );
    // What each step read, as the trace names it.
    let kinds: Vec<(Level, &str)> = steps.iter().map(|st| (st.level, st.kind())).collect();
    for want in [
        (Level::Pud, "region-third entry"),
        (Level::Pmd, "segment entry"),
        (Level::Pte, "pte"),
    ] {
        assert!(kinds.contains(&want), "{want:?} not in {kinds:?}");
    }
    release_pages(h.pagemap, &pages).unwrap();
}

/// Why `get_user_pages_fast` took nothing, as its errors say it.
#[test]
fn gup_errors_say_what_went_wrong() {
    let bad = WalkError::BadEntry {
        at: EntryPtr::table(Level::Pmd, pa(0x8000), 3),
        val: 0x20,
        defect: Defect::PageTableOutsideMemory,
    };
    for (e, want) in [
        (GupError::Walk(bad), format!("walk: {bad}")),
        (GupError::Fault(0x1000), "fault at 0x1000".into()),
        (
            GupError::Map(MapError::NoMemory),
            format!("populate: {}", MapError::NoMemory),
        ),
        (
            GupError::Longterm(0x2000),
            "FOLL_LONGTERM on a CMA page at 0x2000 (no migration here)".into(),
        ),
        (GupError::Overflow(0x3000), "range from 0x3000 wraps past 2^64".into()),
        (
            GupError::InvalidFlags(GupFlags::WRITE),
            format!(
                "invalid flags {:?}: exactly one of FOLL_GET and FOLL_PIN",
                GupFlags::WRITE
            ),
        ),
    ] {
        assert_eq!(e.to_string(), want);
    }
}

/// `get_user_pages_fast` takes exactly `nr_pages` pages, however long the
/// array: where the fast walk stops at a hole, the slow path faults in only
/// what is left of the request.
#[test]
fn the_slow_path_takes_only_what_the_request_left() {
    let h = host(16, false);
    let mut s = h.space(AsceType::Region3);
    s.map(0x10_0000, pa(0x20_0000), 1, Prot::RW).unwrap();
    let mut pages = [Page::default(); 4];
    let mut ctx = h.ctx(&mut s, Variant::OffsetLockless);
    let (n, o) = get_user_pages_fast(&mut ctx, 0x10_0000, 2, GupFlags::POPULATE, &mut pages).unwrap();
    assert_eq!((n, o.pinned), (2, 1), "one page from the fast walk, one faulted in");
    assert!(
        ctx.space.lookup(0x10_2000).unwrap().is_none(),
        "a page past the request was faulted in"
    );
    release_pages(h.pagemap, &pages[..n]).unwrap();
    assert_eq!(h.pagemap.total_pins(), 0);
}
