//! `struct page` as gup uses it (Linux v5.9 `try_grab_compound_head`,
//! `put_compound_head`, `page_maybe_dma_pinned`): compound pages take one grab
//! on their head, a page being freed is never grabbed, and FOLL_LONGTERM pins
//! refuse a CMA range.
mod common;
use common::{host, pa, Host};
use foldkern::gup::*;
use foldkern::mm::race::RacingWrite;
use foldkern::mm::*;

/// One gup_fast walk (offset_lockless, checked) of `n` pages from `start`,
/// references kept.
fn fast(h: &Host, s: &common::Space, start: u64, n: usize, flags: GupFlags) -> (GupOutcome, Vec<Page>) {
    let mut pages = vec![Page::default(); n];
    let mut g = GupFast::new(h.plat, s.asce(), h.pagemap, h.stack, Variant::OffsetLockless).checked(true);
    let o = gup_fast(&mut g, start, n, flags, &mut pages);
    pages.truncate(o.pinned);
    (o, pages)
}

/// A 1 MiB frame that is a compound page of order 8: gup_huge records the
/// subpages in `pages[]` and puts every reference on the head, FOLL_GET as the
/// count and FOLL_PIN as count and exact pin count (order > 1); each release
/// through a subpage finds the head, and the shape cannot change while
/// references are held.
#[test]
fn a_compound_segment_frame_takes_one_grab_on_its_head() {
    let h = host(16, true);
    let mut s = h.space(AsceType::Region3);
    let (head, va) = (pa(0x40_0000), 0x4000_0000);
    s.map_large(va, head, Level::Pmd, Prot::RW).unwrap();
    h.pagemap.prep_compound_page(head, 8).unwrap();
    assert_eq!(h.pagemap.compound_head(Page::of(pa(0x4f_f000))), Page::of(head));
    assert_eq!(h.pagemap.compound_order(Page::of(pa(0x41_0000))), 8);
    let start = va + 0xf_0000; // the last 16 pages: a grab of 16 references
    let want: Vec<Page> = (0..16).map(|i| Page::of(pa(0x4f_0000 + i * PAGE_SIZE))).collect();

    let (o, got) = fast(&h, &s, start, 16, GupFlags::GET);
    assert_eq!((o.pinned, o.error, &got), (16, None, &want), "FOLL_GET");
    assert_eq!(h.pagemap.page_count(head), 1 + 16, "all on the head");
    assert_eq!(h.pagemap.pins(got[7]), 16, "a subpage reports its head's count");
    assert!(!h.pagemap.page_maybe_dma_pinned(got[0]));
    assert_eq!(
        h.pagemap.destroy_compound_page(head),
        Err(CompoundError::Referenced(Page::of(head)))
    );
    release_pages(h.pagemap, &got).unwrap();

    let (o, pinned) = fast(&h, &s, start, 16, GupFlags::PIN | GupFlags::WRITE);
    assert_eq!((o.pinned, &pinned), (16, &want), "FOLL_PIN");
    assert_eq!(
        (h.pagemap.page_count(head), h.pagemap.compound_pincount(got[3])),
        (1 + 16, 16),
        "order > 1: +1 and one exact pin per subpage, no bias"
    );
    assert!(
        h.pagemap.page_maybe_dma_pinned(pa(0x40_0000)),
        "any subpage shows the pin"
    );
    unpin_user_pages(h.pagemap, &pinned[..15]).unwrap();
    assert!(h.pagemap.page_maybe_dma_pinned(head), "one pin left");
    unpin_user_page_is_exact(&h, pinned[15]);
    assert_eq!(h.pagemap.total_pins(), 0);
    h.pagemap.destroy_compound_page(head).unwrap();
    assert_eq!(h.pagemap.compound_head(want[0]), want[0]);
}

fn unpin_user_page_is_exact(h: &Host, page: Page) {
    h.pagemap.unpin_user_page(page).unwrap();
    assert!(!h.pagemap.page_maybe_dma_pinned(page));
    assert_eq!(
        h.pagemap.unpin_user_page(page),
        Err(UnpinError(h.pagemap.compound_head(page)))
    );
}

/// The slow path takes a compound page's references the same way, one subpage
/// at a time (`try_grab_page`), so pins from either path release alike.
#[test]
fn the_slow_path_grabs_compound_pages_on_their_head() {
    let h = host(16, true);
    let mut s = h.space(AsceType::Region3);
    s.map_large(0x4000_0000, pa(0x40_0000), Level::Pmd, Prot::RW).unwrap();
    h.pagemap.prep_compound_page(pa(0x40_0000), 8).unwrap();
    let mut pages = [Page::default(); 3];
    let n = gup_locked(
        &mut h.ctx(&mut s, Variant::OffsetLockless),
        0x4000_1000,
        3,
        GupFlags::PIN,
        &mut pages,
    )
    .unwrap();
    assert_eq!(n, 3);
    assert_eq!(pages[0], pa(0x40_1000));
    assert_eq!(
        (
            h.pagemap.page_count(pa(0x40_0000)),
            h.pagemap.compound_pincount(pages[2])
        ),
        (4, 3)
    );
    unpin_user_pages(h.pagemap, &pages).unwrap();
    assert_eq!(h.pagemap.total_pins(), 0);
}

/// A 2 GiB region-third frame is a compound page of order 19 (a machine of
/// 2 GiB, so all of it has struct pages).
#[test]
fn a_compound_region_third_frame_takes_one_grab_on_its_head() {
    let h = host(2048, true);
    let mut s = h.space(AsceType::Region3);
    s.map_large(0x8000_0000, pa(0), Level::Pud, Prot::RO).unwrap();
    h.pagemap.prep_compound_page(pa(0), 19).unwrap();
    let (o, got) = fast(&h, &s, 0x8000_0000 + (1 << 30), 4, GupFlags::PIN);
    assert_eq!((o.pinned, got[0]), (4, Page::of(pa(1 << 30))));
    assert_eq!(
        (h.pagemap.page_count(pa(0)), h.pagemap.compound_pincount(pa(0))),
        (5, 4)
    );
    let (o, _) = fast(&h, &s, 0x8000_0000, 4, GupFlags::PIN | GupFlags::WRITE);
    assert_eq!(o.pinned, 0, "read-only: FOLL_WRITE takes nothing");
    unpin_user_pages(h.pagemap, &got).unwrap();
    h.pagemap.destroy_compound_page(pa(0)).unwrap();
    assert_eq!(h.pagemap.total_pins(), 0);
}

/// Making a compound page is refused, changing nothing, when it would not be
/// one page of the map: misaligned, beyond the map, overlapping another, or
/// over a page gup holds.
#[test]
fn compound_pages_are_refused_unless_whole_and_unreferenced() {
    let h = host(16, false);
    let m = h.pagemap;
    assert_eq!(
        m.prep_compound_page(pa(0x1000), 8),
        Err(CompoundError::Range(pa(0x1000)))
    );
    assert_eq!(
        m.prep_compound_page(pa(0xf0_0000), 9),
        Err(CompoundError::Range(pa(0xf0_0000)))
    );
    assert_eq!(
        m.prep_compound_page(pa(0x10_0000), 0),
        Err(CompoundError::Range(pa(0x10_0000)))
    );
    m.prep_compound_page(pa(0x10_0000), 8).unwrap();
    assert_eq!(
        m.prep_compound_page(pa(0), 9),
        Err(CompoundError::Compound(Page::of(pa(0x10_0000))))
    );
    assert_eq!(
        m.destroy_compound_page(pa(0x10_1000)),
        Err(CompoundError::Compound(Page::of(pa(0x10_1000))))
    );
    let held = m.try_grab_page(pa(0x30_5000), GupFlags::GET).unwrap();
    assert_eq!(
        m.prep_compound_page(pa(0x30_0000), 8),
        Err(CompoundError::Referenced(held))
    );
    assert_eq!(m.compound_head(held), held, "nothing changed");
    m.put_page(held).unwrap();
    m.destroy_compound_page(pa(0x10_0000)).unwrap();
    assert_eq!(m.total_pins(), 0);
}

/// `page_cache_add_speculative`: a page whose count is 0 is being freed (and
/// may already be someone else's), so no walk takes it, fast or slow, while
/// its PTE still names it; freeing is refused while gup holds a reference.
#[test]
fn a_page_being_freed_is_never_grabbed() {
    let h = host(16, false);
    let mut s = h.space(AsceType::Region3);
    s.map(0x10_0000, pa(0x20_0000), 4, Prot::RW).unwrap();
    let victim = Page::of(pa(0x20_2000));
    assert!(h.pagemap.page_ref_freeze(victim, 1));
    let (o, got) = fast(&h, &s, 0x10_0000, 4, GupFlags::GET);
    assert_eq!((o.pinned, o.error), (2, None), "stops before the frozen page, no error");
    release_pages(h.pagemap, &got).unwrap();
    let mut pages = [Page::default(); 4];
    let mut ctx = h.ctx(&mut s, Variant::OffsetLockless);
    let (n, _) = pin_user_pages_fast(&mut ctx, 0x10_0000, 4, GupFlags::empty(), &mut pages).unwrap();
    assert_eq!(n, 2, "the slow path stops there too");
    unpin_user_pages(h.pagemap, &pages[..2]).unwrap();
    assert_eq!(
        gup_locked(&mut ctx, 0x10_2000, 1, GupFlags::GET, &mut pages),
        Err(GupError::Fault(0x10_2000))
    );
    assert_eq!(h.pagemap.page_count(victim), 0, "nothing was added to the frozen count");
    h.pagemap.page_ref_unfreeze(victim, 1);
    let (o, got) = fast(&h, &s, 0x10_0000, 4, GupFlags::GET);
    assert_eq!(o.pinned, 4);
    assert!(!h.pagemap.page_ref_freeze(victim, 1), "held by gup: not freed");
    release_pages(h.pagemap, &got).unwrap();
    assert_eq!(h.pagemap.total_pins(), 0);
}

/// The same, with the page freed under the walk: right after the walker read
/// the PTE and before its grab, the other CPU drops the page's last reference
/// (the PTE still names it). The grab fails and the walk stops there.
#[test]
fn a_page_freed_under_the_walk_is_never_pinned() {
    let h = host(16, false);
    let mut s = h.space(AsceType::Region3);
    s.map(0x10_0000, pa(0x20_0000), 4, Prot::RW).unwrap();
    let ptep = foldkern::mm::pgtable::walk_to(h.plat, s.asce(), 0x10_1000, Level::Pte).unwrap();
    let map = h.pagemap;
    let victim = Page::of(pa(0x20_1000));
    let t = RacingWrite::new(h.plat, ptep.addr(), 1, move |_| assert!(map.page_ref_freeze(victim, 1)));
    let mut pages = [Page::default(); 4];
    let mut g = GupFast::new(&t, s.asce(), map, h.stack, Variant::OffsetLockless);
    let o = gup_fast(&mut g, 0x10_0000, 4, GupFlags::PIN, &mut pages);
    assert_eq!(
        (t.reads(), o.pinned, o.error),
        (1, 1, None),
        "the freed page is not pinned"
    );
    assert_eq!(map.page_count(victim), 0);
    unpin_user_pages(map, &pages[..1]).unwrap();
    map.page_ref_unfreeze(victim, 1);
    assert_eq!(map.total_pins(), 0);
}

/// FOLL_LONGTERM refuses pages of the CMA range: with FOLL_PIN the fast walk
/// stops before them (v5.9's `try_grab_compound_head`, since v5.7; 6.1's
/// `try_grab_folio`), and the slow path refuses them for FOLL_GET and FOLL_PIN alike
/// (where Linux migrates them out of CMA first: v5.9's
/// `check_and_migrate_cma_pages` runs for any FOLL_LONGTERM). The fast walk
/// takes them for FOLL_GET | FOLL_LONGTERM, and every path for references that
/// are not long-term.
#[test]
fn longterm_pins_refuse_cma_pages() {
    let h = host(16, false);
    let mut s = h.space(AsceType::Region3);
    s.map(0x10_0000, pa(0x20_0000), 4, Prot::RW).unwrap();
    h.pagemap.set_cma(pa(0x20_2000)..pa(0x40_0000));
    let longterm = GupFlags::PIN | GupFlags::LONGTERM;
    let (o, got) = fast(&h, &s, 0x10_0000, 4, longterm | GupFlags::WRITE);
    assert_eq!((o.pinned, o.error), (2, None));
    unpin_user_pages(h.pagemap, &got).unwrap();
    let mut pages = [Page::default(); 4];
    let mut ctx = h.ctx(&mut s, Variant::OffsetLockless);
    assert_eq!(
        pin_user_pages_fast_only(&mut ctx, 0x10_0000, 4, GupFlags::LONGTERM, &mut pages),
        2
    );
    unpin_user_pages(h.pagemap, &pages[..2]).unwrap();
    let (n, _) = pin_user_pages_fast(&mut ctx, 0x10_0000, 4, GupFlags::LONGTERM, &mut pages).unwrap();
    assert_eq!(n, 2, "the slow path stops at the CMA page");
    unpin_user_pages(h.pagemap, &pages[..2]).unwrap();
    let r = pin_user_pages_fast(&mut ctx, 0x10_2000, 2, GupFlags::LONGTERM, &mut pages);
    assert!(matches!(r, Err(GupError::Longterm(0x10_2000))), "{r:?}");
    // The locked walk takes a long-term pin outside CMA.
    let mut ctx = h.ctx(&mut s, Variant::OffsetLockless);
    assert_eq!(gup_locked(&mut ctx, 0x10_0000, 2, longterm, &mut pages), Ok(2));
    unpin_user_pages(h.pagemap, &pages[..2]).unwrap();
    let get_longterm = GupFlags::GET | GupFlags::LONGTERM;
    let (o, got) = fast(&h, &s, 0x10_0000, 4, get_longterm);
    assert_eq!(o.pinned, 4, "the fast walk checks long-term pins only");
    release_each(h.pagemap, &got, get_longterm).unwrap();
    let mut ctx = h.ctx(&mut s, Variant::OffsetLockless);
    assert_eq!(
        gup_locked(&mut ctx, 0x10_0000, 4, get_longterm, &mut pages),
        Ok(2),
        "the locked walk stops at the CMA page for FOLL_GET | FOLL_LONGTERM"
    );
    release_each(h.pagemap, &pages[..2], get_longterm).unwrap();
    assert_eq!(
        gup_locked(&mut ctx, 0x10_2000, 2, get_longterm, &mut pages),
        Err(GupError::Longterm(0x10_2000))
    );
    for (flags, what) in [(GupFlags::PIN, "a short-term pin"), (GupFlags::GET, "a plain FOLL_GET")] {
        let (o, got) = fast(&h, &s, 0x10_0000, 4, flags);
        assert_eq!(o.pinned, 4, "{what} takes CMA pages");
        release_each(h.pagemap, &got, flags).unwrap();
        let mut ctx = h.ctx(&mut s, Variant::OffsetLockless);
        assert_eq!(
            gup_locked(&mut ctx, 0x10_0000, 4, flags, &mut pages),
            Ok(4),
            "{what}, locked"
        );
        release_each(h.pagemap, &pages, flags).unwrap();
    }
    h.pagemap.set_cma(pa(0)..pa(0));
    assert_eq!(h.pagemap.total_pins(), 0);
}

/// The same through a large frame: gup_huge takes the pins on the compound
/// head, which FOLL_LONGTERM refuses only inside the CMA range.
#[test]
fn longterm_pins_of_a_compound_frame_refuse_only_cma() {
    let h = host(16, true);
    let mut s = h.space(AsceType::Region3);
    let (head, va) = (pa(0x40_0000), 0x4000_0000);
    s.map_large(va, head, Level::Pmd, Prot::RW).unwrap();
    h.pagemap.prep_compound_page(head, 8).unwrap();
    let longterm = GupFlags::PIN | GupFlags::LONGTERM;
    let (o, got) = fast(&h, &s, va, 4, longterm);
    assert_eq!(
        (o.pinned, o.error, h.pagemap.compound_pincount(head)),
        (4, None, 4),
        "outside CMA"
    );
    unpin_user_pages(h.pagemap, &got).unwrap();
    h.pagemap.set_cma(head..pa(0x50_0000));
    let (o, _) = fast(&h, &s, va, 4, longterm);
    assert_eq!((o.pinned, o.error), (0, None), "inside CMA");
    h.pagemap.set_cma(pa(0)..pa(0));
    h.pagemap.destroy_compound_page(head).unwrap();
    assert_eq!(h.pagemap.total_pins(), 0);
}

/// FOLL_TOUCH: the locked walk marks each page it takes accessed, and dirty
/// when it takes a write reference through a clean PTE; the PTE stays as it
/// was (old, clean). A page it faults in for a write is young and dirty, for a
/// read young and clean.
#[test]
fn the_slow_path_marks_pages_as_following_and_faulting_in_would() {
    let h = host(16, false);
    let mut s = h.space(AsceType::Region3);
    s.map(0x10_0000, pa(0x20_0000), 2, Prot::RW.old().clean()).unwrap();
    let mut pages = [Page::default(); 1];
    let mut ctx = h.ctx(&mut s, Variant::OffsetLockless);
    gup_locked(&mut ctx, 0x10_0000, 1, GupFlags::GET, &mut pages).unwrap();
    gup_locked(&mut ctx, 0x10_1000, 1, GupFlags::GET | GupFlags::WRITE, &mut pages[..]).unwrap();
    assert_eq!(h.pagemap.page_flags(pa(0x20_0000)), PG_REFERENCED);
    assert_eq!(h.pagemap.page_flags(pa(0x20_1000)), PG_REFERENCED | PG_DIRTY);
    let t = ctx.space.lookup(0x10_1000).unwrap().unwrap();
    assert!(!t.young && !t.dirty, "following leaves the PTE as it was: {t:?}");
    release_pages(h.pagemap, &[Page::of(pa(0x20_0000)), Page::of(pa(0x20_1000))]).unwrap();
    for (va, flags, dirty) in [
        (0x30_0000, GupFlags::WRITE, true),
        (0x30_1000, GupFlags::empty(), false),
    ] {
        let (n, _) = get_user_pages_fast(&mut ctx, va, 1, flags | GupFlags::POPULATE, &mut pages).unwrap();
        assert_eq!(n, 1);
        let t = ctx.space.lookup(va).unwrap().unwrap();
        assert_eq!((t.young, t.dirty), (true, dirty), "faulted in at {va:#x}");
        release_pages(h.pagemap, &pages).unwrap();
    }
    assert_eq!(h.pagemap.total_pins(), 0);
}

/// gup_fast marks every page it takes referenced, as Linux's
/// `gup_pte_range` does (`SetPageReferenced`; 6.1 `folio_set_referenced`),
/// for FOLL_GET and FOLL_PIN alike, and on a compound page's head when it
/// takes a tail; it marks nothing dirty and leaves the PTEs as they were. A
/// large frame that is not one compound page is taken page by page, and
/// only the pages taken are marked.
#[test]
fn gup_fast_marks_every_page_it_takes_referenced() {
    let h = host(16, true);
    let mut s = h.space(AsceType::Region3);
    s.map(0x10_0000, pa(0x20_0000), 4, Prot::RW.old().clean()).unwrap();
    h.pagemap.prep_compound_page(pa(0x30_0000), 2).unwrap();
    s.map(0x20_0000, pa(0x30_1000), 1, Prot::RW).unwrap();
    s.map_large(0x100_0000, pa(0x50_0000), Level::Pmd, Prot::RW).unwrap();
    assert_eq!(h.pagemap.page_flags(pa(0x20_0000)), 0);
    // The walk as get_user_pages_fast runs it: no hooks.
    let fast = |start, n, flags| {
        let mut pages = vec![Page::default(); n];
        let mut g = GupFast::new(h.plat, s.asce(), h.pagemap, h.stack, Variant::OffsetLockless);
        let o = gup_fast(&mut g, start, n, flags, &mut pages);
        pages.truncate(o.pinned);
        (o, pages)
    };
    let (o, got) = fast(0x10_0000, 2, GupFlags::GET | GupFlags::WRITE);
    assert_eq!(o.pinned, 2);
    let (o2, pinned) = fast(0x10_2000, 1, GupFlags::PIN);
    assert_eq!(o2.pinned, 1);
    let (o3, tail) = fast(0x20_0000, 1, GupFlags::GET);
    assert_eq!((o3.pinned, tail[0]), (1, Page::of(pa(0x30_1000))));
    let flags = [0x20_0000, 0x20_1000, 0x20_2000, 0x20_3000].map(|f| h.pagemap.page_flags(pa(f)));
    assert_eq!(
        flags,
        [PG_REFERENCED, PG_REFERENCED, PG_REFERENCED, 0],
        "the page not taken is not marked"
    );
    assert_eq!(
        h.pagemap.page_flags(pa(0x30_0000)),
        PG_REFERENCED,
        "a tail marks its head"
    );
    let t = s.lookup(0x10_0000).unwrap().unwrap();
    assert!(!t.young && !t.dirty, "the PTE stays old and clean: {t:?}");
    let (o4, large) = fast(0x100_2000, 2, GupFlags::GET);
    assert_eq!(o4.pinned, 2);
    let flags = [0x50_0000, 0x50_1000, 0x50_2000, 0x50_3000, 0x50_4000].map(|f| h.pagemap.page_flags(pa(f)));
    assert_eq!(
        flags,
        [0, 0, PG_REFERENCED, PG_REFERENCED, 0],
        "a large frame's pages taken, none else"
    );
    release_pages(h.pagemap, &large).unwrap();
    release_pages(h.pagemap, &got).unwrap();
    release_pages(h.pagemap, &tail).unwrap();
    foldkern::gup::unpin_user_pages(h.pagemap, &pinned).unwrap();
    h.pagemap.destroy_compound_page(pa(0x30_0000)).unwrap();
    assert_eq!(h.pagemap.total_pins(), 0);
}

/// `PageMap::reset` (which `host` runs when a test asks for the same machine
/// again) gives back what `PageMap::new` gave: every page in use with no other
/// reference, none compound, no pin count, no flags, no CMA range.
#[test]
fn reset_gives_back_the_page_map_new_gives() {
    let h = host(16, true);
    let (head, single) = (pa(0x40_0000), Page::of(pa(0x30_0000)));
    h.pagemap.prep_compound_page(head, 8).unwrap();
    let sub = Page::of(pa(0x40_1000));
    assert_eq!(
        h.pagemap.try_grab_compound_head(sub, 2, GupFlags::PIN),
        Some(Page::of(head))
    );
    h.pagemap.set_page_flags(single, 0x14);
    assert!(h.pagemap.page_ref_freeze(single, 1));
    h.pagemap.set_cma(pa(0x20_0000)..pa(0x28_0000));
    h.pagemap.reset();
    for p in [Page::of(head), sub, single] {
        assert_eq!(
            (h.pagemap.page_count(p), h.pagemap.pins(p), h.pagemap.page_flags(p)),
            (1, 0, 0),
            "{p:?}"
        );
        assert_eq!(h.pagemap.compound_head(p), p, "{p:?}");
    }
    assert_eq!(
        (h.pagemap.compound_pincount(head), h.pagemap.compound_order(sub)),
        (0, 0)
    );
    assert!(h.pagemap.cma().is_empty());
    assert_eq!(h.pagemap.total_pins(), 0);
}

/// Only a compound page of order > 1 has room for an exact pin count
/// (`hpage_pincount_available`): an order-1 page counts FOLL_PIN with the
/// bias, as a single page does. Destroyed, its tails are pages of their own
/// again; a page that is not compound is not a head to destroy.
#[test]
fn an_order_1_compound_page_counts_pins_with_the_bias() {
    let h = host(16, true);
    let (one, two) = (pa(0x40_0000), pa(0x41_0000));
    h.pagemap.prep_compound_page(one, 1).unwrap();
    h.pagemap.prep_compound_page(two, 2).unwrap();
    let sub = |head: PhysAddr| Page::of(head.add(PAGE_SIZE));
    for head in [one, two] {
        assert_eq!(
            h.pagemap.try_grab_compound_head(sub(head), 1, GupFlags::PIN),
            Some(Page::of(head))
        );
    }
    assert_eq!(
        (h.pagemap.page_count(one), h.pagemap.compound_pincount(one)),
        (1 + GUP_PIN_COUNTING_BIAS, 0),
        "order 1: the bias"
    );
    assert_eq!(
        (h.pagemap.page_count(two), h.pagemap.compound_pincount(two)),
        (1 + 1, 1),
        "order 2: the exact pin count"
    );
    for head in [one, two] {
        h.pagemap.unpin_user_page(sub(head)).unwrap();
        h.pagemap.destroy_compound_page(head).unwrap();
        // A former tail is a page of its own again, in use: it can be grabbed.
        let grabbed = h.pagemap.try_grab_page(head.add(PAGE_SIZE), GupFlags::GET);
        assert_eq!(grabbed, Some(sub(head)), "a former tail");
        h.pagemap.put_page(sub(head)).unwrap();
    }
    assert_eq!(
        h.pagemap.destroy_compound_page(one),
        Err(CompoundError::Compound(Page::of(one))),
        "no longer compound"
    );
}

/// The PTE loop leaves its inline grab for a compound page's tail (whose count
/// is 0) and comes back to the PTEs after it: every page lands in its own
/// slot, whether the tail is among the PTEs before the first group of eight
/// or inside a group.
#[test]
fn a_tail_page_inside_a_range_keeps_every_page_in_its_slot() {
    let h = host(16, false);
    let mut s = h.space(AsceType::Region3);
    h.pagemap.prep_compound_page(pa(0x30_0000), 2).unwrap();
    let frames: Vec<PhysAddr> = (0..12u64)
        .map(|i| match i {
            1 => pa(0x30_1000),
            9 => pa(0x30_2000),
            _ => pa(0x40_0000 + i * PAGE_SIZE),
        })
        .collect();
    for (i, f) in frames.iter().enumerate() {
        s.map(0x10_0000 + i as u64 * PAGE_SIZE, *f, 1, Prot::RW).unwrap();
    }
    let mut pages = vec![Page::default(); 12];
    let mut g = GupFast::new(h.plat, s.asce(), h.pagemap, h.stack, Variant::OffsetLockless);
    let o = gup_fast(&mut g, 0x10_0000, 12, GupFlags::GET, &mut pages);
    assert_eq!(o.pinned, 12);
    assert_eq!(pages, frames.iter().map(|&f| Page::of(f)).collect::<Vec<_>>());
    release_pages(h.pagemap, &pages).unwrap();
    h.pagemap.destroy_compound_page(pa(0x30_0000)).unwrap();
    assert_eq!(h.pagemap.total_pins(), 0);
}
