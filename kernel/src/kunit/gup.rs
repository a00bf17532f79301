//! On live tables: the seed scenario for every gup_fast variant, and the
//! fixed variants against per-page LRAG and the locked slow path for every ASCE
//! type and ranges straddling every level boundary.
use crate::arch::s390x::insn::{self, Lra};
use crate::arch::s390x::platform::{self, PLATFORM};
use crate::kernel;
use crate::kernel::spaces::{gup_ctx, lrag_frames, space, unpin, Frames, Space, Walk, SEED_PAGES, SEED_START};
use crate::kunit::{check, check_eq, kernel_test, skip, TestFail, TestResult};
use core::fmt;
use foldkern::gup::policy::GUARD;
use foldkern::gup::*;
use foldkern::mm::entry::PteBits;
use foldkern::mm::pgtable::walk_to;
use foldkern::mm::race::RacingWrite;
use foldkern::mm::{AsceType, EntryPtr, Level, PhysAddr, Platform, Prot, WalkError, PAGE_SIZE};

/// Seed space: region-third, both seed pages mapped, optionally 0x10000000000 too.
fn seed_space(f: &Frames, decoy: bool) -> Result<Space, TestFail> {
    let mut s = space(AsceType::Region3)?;
    s.map(SEED_START, f.get(0), 1, Prot::RW)?;
    s.map(SEED_START + PAGE_SIZE, f.get(1), 1, Prot::RW)?;
    if decoy {
        s.map(0x100_0000_0000, f.get(2), 1, Prot::RW)?;
    }
    Ok(s)
}

kernel_test!(
    /// The pre-fix walk on the seed range steps off its stack copy of the
    /// region-third entry when it crosses 2 GiB; the invariant checker flags the
    /// same step.
    ///
    /// Needs the kernel: the tables DAT uses, LRAG the reference.
    fn seed_prefix_walks_off_stack_copy() {
        let f = Frames::new(4)?;
        let s = seed_space(&f, false)?;
        let w = Walk::new(&s, &f, 3);
        let mut pages = [Page::from_pfn(0); SEED_PAGES];
        let o = w.gup(Variant::PreFix, SEED_START, SEED_PAGES, GupFlags::empty(), &mut pages)?;
        check_eq!(o.pinned, 1, "pages pinned before the walk went wrong");
        match o.error {
            Some(WalkError::OffObject { ptr, word }) => {
                check!(ptr.is_copy(), "pointer {ptr} is not a stack copy");
                check_eq!(
                    ptr.addr(),
                    w.stack.slot(Level::P4d).add(8),
                    "pointer = the word after the p4d copy"
                );
                check_eq!(word.map(|w| w & !0xfff), Some(GUARD), "guard word read");
            }
            e => check!(false, "expected a walk off the stack copy, got {e:?}"),
        }
        let v = o
            .first_violation
            .ok_or_else(|| TestFail::from("no invariant violation recorded"))?;
        check_eq!(
            (v.level, v.addr),
            (Level::Pud, SEED_START + PAGE_SIZE),
            "first violation (level, address)"
        );
        check!(
            v.expected == EntryPtr::table(Level::Pud, s.asce().origin(), 0x201),
            "expected pointer {}",
            v.expected
        );
        check!(
            foldkern::gup::prefix_walks_off(AsceType::Region3, SEED_START, SEED_START + 2 * PAGE_SIZE),
            "predicate"
        );
        Ok(())
    }
);

kernel_test!(
    /// Both fixes pin exactly the frames LRAG translates the seed pages to, with
    /// no invariant violation, and the pins balance after unpin.
    ///
    /// Needs the kernel: LRAG, the reference the fixes are held to.
    fn seed_fixed_variants_pin_lrag_frames() {
        let f = Frames::new(4)?;
        let s = seed_space(&f, false)?;
        let w = Walk::new(&s, &f, 3);
        let mut want = [PhysAddr::new(0); SEED_PAGES];
        check_eq!(
            lrag_frames(&s, SEED_START, SEED_PAGES, false, &mut want)?,
            SEED_PAGES,
            "pages LRAG translates"
        );
        for v in Variant::FIXED {
            let mut pages = [Page::from_pfn(0); SEED_PAGES];
            let o = w.gup(v, SEED_START, SEED_PAGES, GupFlags::WRITE, &mut pages)?;
            check_eq!(o.error, None, "{} error", v.name());
            check_eq!(o.violations, 0, "{} invariant violations", v.name());
            check_eq!(o.pinned, SEED_PAGES, "{} pinned", v.name());
            check_eq!(pages, want, "{} frames vs LRAG", v.name());
            check_eq!(
                kernel::pagemap().pins(want[0]) + kernel::pagemap().pins(want[1]),
                0,
                "pins after unpin"
            );
        }
        Ok(())
    }
);

kernel_test!(
    /// `pud_next_entry(&p4d_copy, pudp, next)` = `pud_offset(&p4d_copy, next)`
    /// hands back the same copy: the walk re-reads the region-third entry of
    /// 0x10000000000..0x1007fffffff and pins the page of 0x10000000000 for
    /// 0x10080000000 (with the real parent pointer it would re-read the first
    /// region's entry too: a folded `pud_offset` returns its argument).
    ///
    /// Needs the kernel: LRAG, to name the page of the wrong region.
    fn seed_next_entry_pins_wrong_page() {
        let f = Frames::new(4)?;
        let s = seed_space(&f, true)?;
        let w = Walk::new(&s, &f, 3);
        let mut pages = [Page::from_pfn(0); SEED_PAGES];
        let o = w.gup(
            Variant::NextEntry,
            SEED_START,
            SEED_PAGES,
            GupFlags::empty(),
            &mut pages,
        )?;
        check_eq!(o.error, None, "next_entry error");
        check_eq!(o.pinned, 2, "next_entry pinned");
        check_eq!(
            platform::lrag_via(s.asce(), SEED_START + PAGE_SIZE),
            Lra::Real(f.get(1).as_u64()),
            "LRAG of 0x10080000000"
        );
        check_eq!(
            pages[1],
            f.get(2),
            "frame next_entry pinned for 0x10080000000 (the decoy at 0x10000000000)"
        );
        check!(o.violations > 0, "the invariant checker must flag the stale pointer");
        Ok(())
    }
);

/// One scenario: `pages` pages from `start`, `hole` (page index) left unmapped,
/// all read-only if `ro`, pinned with `flags`.
#[derive(Clone, Copy)]
struct Case {
    start: u64,
    pages: usize,
    hole: Option<usize>,
    ro: bool,
    flags: GupFlags,
}

impl Case {
    /// `pages` mapped read-write pages from `start`, pinned for reading.
    const fn new(start: u64, pages: usize) -> Case {
        Case {
            start,
            pages,
            hole: None,
            ro: false,
            flags: GupFlags::empty(),
        }
    }
    /// Leave page `i` unmapped.
    const fn hole(self, i: usize) -> Case {
        Case { hole: Some(i), ..self }
    }
    /// Map the pages read-only.
    const fn ro(self) -> Case {
        Case { ro: true, ..self }
    }
    /// Pin with FOLL_WRITE.
    const fn write(self) -> Case {
        Case {
            flags: GupFlags::WRITE,
            ..self
        }
    }
}

impl fmt::Display for Case {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#x}+{}", self.start, self.pages)?;
        if let Some(h) = self.hole {
            write!(f, " hole {h}")?;
        }
        if self.ro {
            write!(f, " ro")?;
        }
        if self.flags.contains(GupFlags::WRITE) {
            write!(f, " write")?;
        }
        Ok(())
    }
}

const MAXP: usize = 260;

fn run_case(ty: AsceType, c: Case, block: PhysAddr, stack: WalkStack) -> TestResult {
    let mut s = space(ty)?;
    let prot = if c.ro { Prot::RO } else { Prot::RW };
    for i in (0..c.pages).filter(|&i| Some(i) != c.hole) {
        s.map(c.start + i as u64 * PAGE_SIZE, block.add(i as u64 * PAGE_SIZE), 1, prot)?;
    }
    check_eq!(s.asce_type(), ty, "space type for case {c}");
    let mut want = [PhysAddr::new(0); MAXP];
    let n = lrag_frames(&s, c.start, c.pages, c.flags.contains(GupFlags::WRITE), &mut want)?;
    let mut pages = [Page::from_pfn(0); MAXP];
    let w = Walk { space: &s, stack };
    for v in Variant::FIXED {
        let o = w.gup(v, c.start, c.pages, c.flags, &mut pages)?;
        check_eq!(
            (o.error, o.violations, o.pinned),
            (None, 0, n),
            "{} at {c}: (error, invariant violations, pinned); LRAG translates {n}",
            v.name()
        );
        check!(pages[..n] == want[..n], "{} frames differ from LRAG at {c}", v.name());
    }
    match gup_locked(
        &mut gup_ctx(&mut s, stack, Variant::OffsetLockless),
        c.start,
        c.pages,
        c.flags | GupFlags::GET,
        &mut pages,
    ) {
        Ok(m) => {
            unpin(&pages[..m])?;
            check_eq!(m, n, "slow path pinned at {c}");
            check!(pages[..n] == want[..n], "slow path frames differ at {c}");
        }
        Err(e) => check!(n == 0, "slow path failed ({e}) at {c} where LRAG translates {n} pages"),
    }
    let o = Walk { space: &s, stack }.gup(Variant::PreFix, c.start, c.pages, c.flags, &mut pages)?;
    let reach = (c.start + n as u64 * PAGE_SIZE + PAGE_SIZE).min(c.start + c.pages as u64 * PAGE_SIZE);
    check_eq!(
        matches!(o.error, Some(WalkError::OffObject { .. })),
        prefix_walks_off(ty, c.start, reach),
        "pre-fix walks off at {c} ({})",
        ty.name()
    );
    Ok(())
}

fn variants_vs_lrag(ty: AsceType) -> TestResult {
    let f = Frames::new(1)?;
    // SAFETY: a frame of `f`, which outlives every walk here.
    let stack = unsafe { WalkStack::new(&PLATFORM, f.get(0)) };
    let block = kernel::frames().lock().alloc_frames(MAXP, 1)?;
    let p = PAGE_SIZE;
    let r = (|| -> TestResult {
        // Every boundary with two pages either side inside the space.
        let fits = |b: u64| b != 0 && b.checked_add(2 * p).is_some_and(|e| e - 1 <= ty.last_addr());
        for b in foldkern::mm::level::LEVEL_BOUNDARIES.into_iter().filter(|&b| fits(b)) {
            let around = Case::new(b - 2 * p, 4);
            for c in [
                around,
                Case::new(b - 3 * p, 3).write(),
                Case::new(b, 1),
                around.hole(1),
                around.hole(2),
                around.ro(),
                around.ro().write(),
            ] {
                run_case(ty, c, block, stack)?;
            }
        }
        for c in [
            // A whole page table, and one page more on each side.
            Case::new(1 << 20, 256),
            Case::new((1 << 20) - p, 258),
            // The segment type's last pages, ending exactly at its 2 GiB limit.
            Case::new((1 << 31) - 3 * p, 3),
        ] {
            run_case(ty, c, block, stack)?;
        }
        Ok(())
    })();
    kernel::frames().lock().free_frames(block, MAXP)?;
    r
}

kernel_test!(
    /// Segment ASCE: fixed variants = LRAG = slow path; pre-fix fails iff predicted.
    ///
    /// Needs the kernel: LRAG, the reference.
    fn variants_match_lrag_or_fail_as_predicted_in_a_segment_space() {
        variants_vs_lrag(AsceType::Segment)
    }
);
kernel_test!(
    /// Region-third ASCE: as above.
    ///
    /// Needs the kernel: LRAG, the reference.
    fn variants_match_lrag_or_fail_as_predicted_in_a_region_third_space() {
        variants_vs_lrag(AsceType::Region3)
    }
);
kernel_test!(
    /// Region-second ASCE: as above.
    ///
    /// Needs the kernel: LRAG, the reference.
    fn variants_match_lrag_or_fail_as_predicted_in_a_region_second_space() {
        variants_vs_lrag(AsceType::Region2)
    }
);
kernel_test!(
    /// Region-first ASCE: nothing is folded, so even the pre-fix walk is right.
    ///
    /// Needs the kernel: LRAG, the reference.
    fn variants_match_lrag_or_fail_as_predicted_in_a_region_first_space() {
        variants_vs_lrag(AsceType::Region1)
    }
);

kernel_test!(
    /// Special PTEs stop the fast walk and the slow path refuses them (-EFAULT).
    ///
    /// Needs the kernel: LRAG, which translates the page gup refuses.
    fn special_pages_not_pinned() {
        let f = Frames::new(2)?;
        let mut s = space(AsceType::Region3)?;
        s.map(0x1000, f.get(0), 1, Prot::SPECIAL)?;
        let w = Walk::new(&s, &f, 1);
        let mut pages = [Page::from_pfn(0); 1];
        for v in Variant::FIXED {
            let o = w.gup(v, 0x1000, 1, GupFlags::empty(), &mut pages)?;
            check_eq!(o.pinned, 0, "{} pinned a special page", v.name());
        }
        let stack = w.stack;
        check_eq!(
            gup_locked(
                &mut gup_ctx(&mut s, stack, Variant::OffsetLockless),
                0x1000,
                1,
                GupFlags::GET,
                &mut pages
            ),
            Err(GupError::Fault(0x1000)),
            "slow path"
        );
        Ok(())
    }
);

kernel_test!(
    /// A PTE with a software bit foldkern never sets (0x080, `_PAGE_UNUSED`,
    /// which KVM's pgste handling uses): the hardware ignores
    /// it (LRAG and a load go through), gup_fast's one-compare PTE check stops
    /// there, and `get_user_pages_fast` pins the page through the slow path, the
    /// frame LRAG names.
    ///
    /// Needs the kernel: LRAG and a load, which show the hardware ignores the bit.
    fn pte_software_bit_sends_the_page_to_the_slow_path() {
        let f = Frames::new(4)?;
        let mut s = space(AsceType::Region3)?;
        for i in 0..3 {
            s.map(0x10_0000 + i as u64 * PAGE_SIZE, f.get(i), 1, Prot::RW)?;
        }
        let frame = f.get(1);
        f.write(1, 0x5eed_5eed);
        let ptep = walk_to(&PLATFORM, s.asce(), 0x10_1000, Level::Pte)?;
        // SAFETY: the PTE of this test's own space, corrupted on purpose and
        // put back below; no other CPU walks the space.
        let good = unsafe { PLATFORM.read_u64(ptep.addr()) };
        // SAFETY: as above.
        unsafe { PLATFORM.write_u64(ptep.addr(), good | PteBits::UNUSED.bits()) };
        let result = (|| -> TestResult {
            check_eq!(
                platform::lrag_via(s.asce(), 0x10_1000),
                Lra::Real(frame.as_u64()),
                "LRAG"
            );
            check_eq!(platform::load_via(s.asce(), 0x10_1000).ok(), Some(0x5eed_5eed), "load");
            let w = Walk::new(&s, &f, 3);
            let mut pages = [Page::from_pfn(0); 3];
            for v in Variant::FIXED {
                let o = w.gup(v, 0x10_0000, 3, GupFlags::empty(), &mut pages)?;
                check_eq!(
                    (o.pinned, o.error),
                    (1, None),
                    "{}: the fast walk stops at the PTE",
                    v.name()
                );
            }
            // SAFETY: a frame of `f`, which outlives every walk here.
            let stack = unsafe { WalkStack::new(&PLATFORM, f.get(3)) };
            let (n, fast) = get_user_pages_fast(
                &mut gup_ctx(&mut s, stack, Variant::OffsetLockless),
                0x10_0000,
                3,
                GupFlags::empty(),
                &mut pages,
            )?;
            unpin(&pages[..n])?;
            check_eq!((fast.pinned, n), (1, 3), "fast walk, then slow path");
            check_eq!(pages, [f.get(0), frame, f.get(2)], "pages vs the mapping");
            Ok(())
        })();
        // SAFETY: as above: the PTE put back.
        unsafe { PLATFORM.write_u64(ptep.addr(), good) };
        result
    }
);

kernel_test!(
    /// `get_user_pages_fast` with POPULATE: the fast walk stops at a hole, the slow
    /// path faults a zeroed frame in and pins it; LRAG agrees afterwards.
    ///
    /// Needs the kernel: LRAG, which must agree with the frame faulted in.
    fn slow_path_populates_holes() {
        let f = Frames::new(3)?;
        let mut s = space(AsceType::Region3)?;
        s.map(0x10_0000, f.get(0), 1, Prot::RW)?;
        s.map(0x10_2000, f.get(1), 1, Prot::RW)?;
        // SAFETY: a frame of `f`, which outlives every walk here.
        let stack = unsafe { WalkStack::new(&PLATFORM, f.get(2)) };
        let mut pages = [Page::from_pfn(0); 3];
        let (n, fast) = get_user_pages_fast(
            &mut gup_ctx(&mut s, stack, Variant::OffsetLockless),
            0x10_0000,
            3,
            GupFlags::WRITE | GupFlags::POPULATE,
            &mut pages,
        )?;
        unpin(&pages[..n])?;
        check_eq!(fast.pinned, 1, "fast walk pinned before the hole");
        check_eq!(n, 3, "total pinned");
        check_eq!(
            platform::lrag_via(s.asce(), 0x10_1000),
            Lra::Real(pages[1].phys().as_u64()),
            "LRAG of the populated page"
        );
        check_eq!(
            platform::load_via(s.asce(), 0x10_1000).ok(),
            Some(0),
            "populated page reads zero"
        );
        s.unmap(0x10_1000, 1)?;
        kernel::frames().lock().free_frame(pages[1].phys())?;
        Ok(())
    }
);

kernel_test!(
    /// gup_fast runs with I/O and external interruptions disabled, and restores the
    /// caller's mask afterwards.
    ///
    /// Needs the kernel: the CPU's real system mask.
    fn walk_runs_with_interrupts_disabled() {
        let f = Frames::new(4)?;
        let s = seed_space(&f, false)?;
        let w = Walk::new(&s, &f, 3);
        let mut pages = [Page::from_pfn(0); SEED_PAGES];
        // SAFETY: enabling external interruptions: CR0 enables only the SIGP
        // external-call/emergency subclasses, which nothing sends in this test.
        unsafe { insn::stosm::<0x01>() };
        let mut seen = 0u32;
        let mut enabled_inside = false;
        let mut t = |_: &Step| {
            seen += 1;
            enabled_inside |= insn::stnsm::<0xff>() & 0x03 != 0;
        };
        w.gup_traced(
            Variant::OffsetLockless,
            SEED_START,
            SEED_PAGES,
            GupFlags::empty(),
            &mut pages,
            Some(&mut t),
        )?;
        let after = insn::stnsm::<0xfe>();
        check!(seen > 0, "trace saw no steps");
        check!(!enabled_inside, "interruptions were enabled during the walk");
        check!(after & 0x01 != 0, "external mask not restored after the walk");
        Ok(())
    }
);

kernel_test!(
    /// The other CPU, scripted on live tables: right after gup_fast has read the
    /// fourth PTE (and before it re-reads it to check), a real IPTE invalidates
    /// it. The pin taken for it goes back, the walk stops there with three pages
    /// and no error (the slow path would go on), and LRAG agrees the page is gone.
    ///
    /// Needs the kernel: a second CPU and a real IPTE.
    fn racing_ipte_between_pin_and_recheck() {
        let f = Frames::new(9)?;
        let mut s = space(AsceType::Region3)?;
        let va = 0x100_7fff_0000u64;
        for i in 0..8 {
            s.map(va + i * PAGE_SIZE, f.get(i as usize), 1, Prot::RW)?;
        }
        let victim = va + 3 * PAGE_SIZE;
        let ptep = walk_to(&PLATFORM, s.asce(), victim, Level::Pte)?;
        // SAFETY: a frame of `f`, which outlives every walk here.
        let stack = unsafe { WalkStack::new(&PLATFORM, f.get(8)) };
        for v in Variant::FIXED {
            let other_cpu = RacingWrite::new(&PLATFORM, ptep.addr(), 1, |p: &platform::KernelPlatform| {
                p.ipte(ptep.base(), victim)
            });
            let mut g = GupFast::new(&other_cpu, s.asce(), kernel::pagemap(), stack, v).checked(false);
            let mut pages = [Page::from_pfn(0); 8];
            let o = gup_fast(&mut g, va, 8, GupFlags::GET, &mut pages);
            unpin(&pages[..o.pinned])?;
            check_eq!(
                (o.pinned, o.error, other_cpu.reads()),
                (3, None, 2),
                "{}: (pinned, error, reads of the PTE)",
                v.name()
            );
            check_eq!(
                pages[..3],
                [f.get(0), f.get(1), f.get(2)],
                "{}: frames pinned before the raced page",
                v.name()
            );
            check_eq!(
                kernel::pagemap().pins(f.get(3)),
                0,
                "{}: pin on the raced page",
                v.name()
            );
            // The IPTE left an invalid PTE: LRAG names it (cc 2).
            super::check_lrag(&s, victim)?;
            check!(
                matches!(super::pop_lra(&s, victim)?, Lra::InvalidPageEntry(_)),
                "the page the IPTE invalidated still translates"
            );
            // Clear and map it again for the next variant (IPTE set only I: the
            // PTE is still present to Linux, as between ptep_get_and_clear's IPTE
            // and its store).
            s.unmap(victim, 1)?;
            s.map(victim, f.get(3), 1, Prot::RW)?;
        }
        Ok(())
    }
);

kernel_test!(
    /// Large segment frames (EDAT-1) on live tables.
    ///
    /// Needs the kernel: EDAT-1 in the hardware's translation (LRAG).
    fn large_segment_frames_pin_with_edat1() {
        if !kernel::machine().has_facility(8) {
            skip!("EDAT-1 (facility 8) is not installed (QEMU's TCG lacks it; it runs on Hercules); the large-frame walk is covered by host tests");
        }
        let f = Frames::new(1)?;
        let block = kernel::frames().lock().alloc_frames(256, 256)?;
        let mut s = space(AsceType::Region3)?;
        let r = (|| -> TestResult {
            s.map_large(0x100_0000, block, Level::Pmd, Prot::RW)?;
            let w = Walk::new(&s, &f, 0);
            let mut pages = [Page::from_pfn(0); 4];
            for v in Variant::FIXED {
                let o = w.gup(v, 0x100_0000 + 0xfe000, 4, GupFlags::empty(), &mut pages)?;
                check_eq!(o.pinned, 2, "{} pinned in a 1 MiB frame followed by a hole", v.name());
                check_eq!(pages[0], block.add(0xfe000), "frame");
            }
            // As a compound page (order 8) the frame takes one grab on its head.
            let map = kernel::pagemap();
            map.prep_compound_page(block, 8)?;
            let stack = w.stack;
            let mut ctx = gup_ctx(&mut s, stack, Variant::OffsetLockless);
            let got = pin_user_pages_fast_only(&mut ctx, 0x100_0000 + 0x10_000, 4, GupFlags::WRITE, &mut pages);
            let counts = (
                map.page_count(block),
                map.compound_pincount(pages[3]),
                map.pins(block.add(0x1000)),
            );
            unpin_user_pages(map, &pages[..got])?;
            map.destroy_compound_page(block)?;
            check_eq!((got, pages[0]), (4, Page::of(block.add(0x10_000))), "pinned subpages");
            check_eq!(counts, (5, 4, 4), "head's count, pin count, a subpage's view");
            Ok(())
        })();
        drop(s);
        kernel::frames().lock().free_frames(block, 256)?;
        r
    }
);

kernel_test!(
    /// Large region-third frames (EDAT-2) on live tables: a read-only 2 GiB frame
    /// (physical 0, so its first pages are RAM) pins with FOLL_WRITE refused, and
    /// LRAG agrees.
    ///
    /// Needs the kernel: EDAT-2 in the hardware's translation (LRAG).
    fn large_region_third_frames_pin_with_edat2() {
        if !kernel::machine().has_facility(78) {
            skip!("EDAT-2 (facility 78) is not installed (QEMU's TCG and Debian's Hercules lack it, docs/emulators.md); the large-frame walk is covered by host tests");
        }
        let f = Frames::new(1)?;
        let mut s = space(AsceType::Region3)?;
        s.map_large(0x8000_0000, PhysAddr::new(0), Level::Pud, Prot::RO)?;
        let w = Walk::new(&s, &f, 0);
        let mut pages = [Page::from_pfn(0); 4];
        for v in Variant::FIXED {
            let o = w.gup(v, 0x8000_0000, 4, GupFlags::empty(), &mut pages)?;
            check_eq!(o.pinned, 4, "{} pinned in a 2 GiB frame", v.name());
            check_eq!(
                pages,
                [
                    PhysAddr::new(0),
                    PhysAddr::new(0x1000),
                    PhysAddr::new(0x2000),
                    PhysAddr::new(0x3000)
                ],
                "{} frames",
                v.name()
            );
            let o = w.gup(v, 0x8000_0000, 4, GupFlags::WRITE, &mut pages)?;
            check_eq!(o.pinned, 0, "{} pinned a read-only 2 GiB frame for writing", v.name());
        }
        check_eq!(
            platform::lrag_via(s.asce(), 0x8000_1234),
            Lra::Real(0x1234),
            "LRAG inside the 2 GiB frame"
        );
        Ok(())
    }
);

kernel_test!(
    /// The pre-fix walk over copies laid out as Linux 6.1 compiles them, on
    /// live tables, across a top entry's reach: in 3 and 4 levels the word
    /// after the folded loop's copy is the next loop's previous copy, the stale
    /// top entry, and it pins, with no error, the frame LRAG gives one top entry
    /// lower (what Linux with the fix reverted does, `./qemu-run.sh linux`); in
    /// 2 levels the word after the pud copy is the caller's saved %r6, not an
    /// entry, and the walk steps off the copies there.
    ///
    /// Needs the kernel: LRAG, to name the frames one top entry lower.
    fn prefix_over_linux_frame_pins_one_top_entry_lower() {
        for ty in [AsceType::Segment, AsceType::Region3, AsceType::Region2] {
            let reach = ty.top().size();
            let crossing = if ty == AsceType::Region3 {
                SEED_START + PAGE_SIZE
            } else {
                reach
            };
            let f = Frames::new(4)?;
            let mut s = space(ty)?;
            s.map(crossing - PAGE_SIZE, f.get(0), 1, Prot::RW)?;
            s.map(crossing, f.get(1), 1, Prot::RW)?;
            s.map(crossing - reach, f.get(2), 1, Prot::RW)?;
            let lower = platform::lrag_via(s.asce(), crossing - reach);
            check_eq!(
                lower,
                Lra::Real(f.get(2).as_u64()),
                "LRAG one top entry below {crossing:#x}"
            );
            let mut pages = [Page::default(); 2];
            let o = Walk::new(&s, &f, 3).gup(
                Variant::PreFixLinuxFrame,
                crossing - PAGE_SIZE,
                2,
                GupFlags::empty(),
                &mut pages,
            )?;
            if ty.levels() == 2 {
                check!(
                    matches!(o.error, Some(WalkError::OffObject { ptr, .. }) if ptr.is_copy()) && o.pinned == 1,
                    "{}: expected a walk off the pud copy after one page, got {:?} ({} pinned)",
                    ty.name(),
                    o.error,
                    o.pinned
                );
            } else {
                check_eq!((o.error, o.pinned), (None, 2), "{}: (error, pinned)", ty.name());
                check_eq!(
                    pages,
                    [f.get(0), f.get(2)],
                    "{}: pages (the second is one top entry lower)",
                    ty.name()
                );
            }
        }
        Ok(())
    }
);

kernel_test!(
    /// FOLL_GET and FOLL_PIN on live tables, across the seed's 2 GiB crossing:
    /// `pin_user_pages_fast` adds the pin bias to the frames LRAG gives, and
    /// `page_maybe_dma_pinned` sees it; `get_user_pages_fast` adds 1; each is
    /// dropped by its own release.
    ///
    /// Needs the kernel: LRAG, the frames the references must be on.
    fn get_and_pin_take_linux_references() {
        let f = Frames::new(4)?;
        let mut s = seed_space(&f, false)?;
        let mut lrag = [PhysAddr::new(0); SEED_PAGES];
        check_eq!(
            lrag_frames(&s, SEED_START, SEED_PAGES, true, &mut lrag)?,
            SEED_PAGES,
            "pages LRAG translates"
        );
        // SAFETY: a frame of `f`, which outlives every walk here.
        let stack = unsafe { WalkStack::new(&PLATFORM, f.get(3)) };
        let mut pinned = [Page::default(); SEED_PAGES];
        let mut got = [Page::default(); SEED_PAGES];
        let mut ctx = gup_ctx(&mut s, stack, Variant::OffsetLockless);
        let (n, _) = pin_user_pages_fast(&mut ctx, SEED_START, SEED_PAGES, GupFlags::WRITE, &mut pinned)?;
        check_eq!((n, pinned), (SEED_PAGES, lrag.map(Page::of)), "pinned pages");
        let (n, _) = get_user_pages_fast(&mut ctx, SEED_START, SEED_PAGES, GupFlags::empty(), &mut got)?;
        check_eq!(n, SEED_PAGES, "pages got");
        for pa in lrag {
            check_eq!(
                kernel::pagemap().pins(pa),
                GUP_PIN_COUNTING_BIAS + 1,
                "references on {pa:?}"
            );
            check!(kernel::pagemap().page_maybe_dma_pinned(pa), "{pa:?} not seen as pinned");
        }
        unpin_user_pages(kernel::pagemap(), &pinned)?;
        check!(
            !kernel::pagemap().page_maybe_dma_pinned(lrag[0]),
            "still pinned after unpin_user_pages"
        );
        unpin(&got)?;
        Ok(())
    }
);

/// Restores the page map's CMA range and unfreezes a frozen page when a test
/// ends, however it ends.
struct PageMapGuard(Option<Page>);

impl Drop for PageMapGuard {
    fn drop(&mut self) {
        let map = kernel::pagemap();
        map.set_cma(PhysAddr::new(0)..PhysAddr::new(0));
        if let Some(p) = self.0.take() {
            if map.page_count(p) == 0 {
                map.page_ref_unfreeze(p, 1);
            }
        }
    }
}

kernel_test!(
    /// On live tables, gup never takes a page being freed (count 0, its PTE
    /// still valid: LRAG translates it), and FOLL_LONGTERM pins refuse a page of
    /// the CMA range; both walks take the pages before it, the frames LRAG gives.
    ///
    /// Needs the kernel: LRAG, which still translates the page being freed.
    fn gup_leaves_freed_and_cma_pages() {
        let f = Frames::new(4)?;
        let mut s = space(AsceType::Region3)?;
        for i in 0..3 {
            s.map(0x10_0000 + i as u64 * PAGE_SIZE, f.get(i), 1, Prot::RW)?;
        }
        let map = kernel::pagemap();
        let mut guard = PageMapGuard(None);
        let victim = Page::of(f.get(2));
        check!(map.page_ref_freeze(victim, 1), "freezing an unreferenced page");
        guard.0 = Some(victim);
        check!(
            matches!(platform::lrag_via(s.asce(), 0x10_2000), Lra::Real(pa) if pa == f.get(2).as_u64()),
            "the frozen page's PTE still translates"
        );
        // SAFETY: a frame of `f`, which outlives every walk here.
        let stack = unsafe { WalkStack::new(&PLATFORM, f.get(3)) };
        let mut pages = [Page::default(); 3];
        let mut ctx = gup_ctx(&mut s, stack, Variant::OffsetLockless);
        let (n, _) = pin_user_pages_fast(&mut ctx, 0x10_0000, 3, GupFlags::WRITE, &mut pages)?;
        let count = map.page_count(victim);
        unpin_user_pages(map, &pages[..n])?;
        check_eq!((n, count), (2, 0), "pinned, and the frozen page's count");
        check_eq!(&pages[..2], &[Page::of(f.get(0)), Page::of(f.get(1))], "pinned frames");
        map.page_ref_unfreeze(victim, 1);
        guard.0 = None;
        map.set_cma(f.get(1)..f.get(1).add(PAGE_SIZE));
        let n = pin_user_pages_fast_only(&mut ctx, 0x10_0000, 3, GupFlags::LONGTERM, &mut pages);
        unpin_user_pages(map, &pages[..n])?;
        check_eq!(n, 1, "FOLL_LONGTERM pages before the CMA page");
        let n = pin_user_pages_fast_only(&mut ctx, 0x10_0000, 3, GupFlags::empty(), &mut pages);
        unpin_user_pages(map, &pages[..n])?;
        check_eq!(n, 3, "a short-term pin takes the CMA page");
        Ok(())
    }
);
