//! On live tables: every ASCE type, mappings straddling every level
//! boundary checked against LRAG and real loads/stores, the exact exception code
//! of each level, upgrades 2→5 levels, invalidation, bad input.
use super::{verify_fault, verify_page};
use crate::arch::s390x::insn::{self, Lra};
use crate::arch::s390x::platform::{self, PLATFORM};
use crate::kernel;
use crate::kernel::spaces::{space, user_load, user_store, AccessError, Frames, Walk};
use crate::kunit::{check, check_eq, kernel_test, TestResult};
use foldkern::gup::{GupFlags, Page, Variant};
use foldkern::mm::entry::{PteBits, RegionBits, SegmentBits, REGION_ORIGIN, SEGMENT_ORIGIN};
use foldkern::mm::space::{FaultError, MapError};
use foldkern::mm::{AsceType, Level, PhysAddr, Platform, Prot, PAGE_SIZE};

fn boundaries(ty: AsceType) -> TestResult {
    let mut pages = [0u64; 12];
    let mut n = 0;
    for va in foldkern::mm::debug_vm_pgtable::boundary_pages(ty) {
        pages[n] = va;
        n += 1;
    }
    let frames = Frames::new(n)?;
    let mut s = space(ty)?;
    let empty = s.table_bytes();
    for (i, &va) in pages[..n].iter().enumerate() {
        s.map(va, frames.get(i), 1, Prot::RW)?;
    }
    check_eq!(s.asce_type(), ty, "ASCE type after mapping inside its range");
    for &va in &pages[..n] {
        verify_page(&s, va)?;
    }
    for &va in &pages[..n] {
        s.unmap(va, 1)?;
        verify_fault(&s, va, s.expected_exception(va)?.unwrap_or(0), false)?;
    }
    check_eq!(s.table_bytes(), empty, "table bytes after unmapping everything");
    Ok(())
}

kernel_test!(
    /// Segment ASCE (2 levels): pages around 1 MiB and at the 2 GiB limit.
    ///
    /// Needs the kernel: LRAG and loads through the tables.
    fn pages_at_level_boundaries_translate_in_a_segment_space() {
        boundaries(AsceType::Segment)
    }
);
kernel_test!(
    /// Region-third ASCE (3 levels): + 2 GiB and the seed's 0x1007ffff000..0x10080001000.
    ///
    /// Needs the kernel: LRAG and loads through the tables.
    fn pages_at_level_boundaries_translate_in_a_region_third_space() {
        boundaries(AsceType::Region3)
    }
);
kernel_test!(
    /// Region-second ASCE (4 levels): + 4 TiB.
    ///
    /// Needs the kernel: LRAG and loads through the tables.
    fn pages_at_level_boundaries_translate_in_a_region_second_space() {
        boundaries(AsceType::Region2)
    }
);
kernel_test!(
    /// Region-first ASCE (5 levels): + 8 PiB and the last page below 2^64.
    ///
    /// Needs the kernel: LRAG and loads through the tables.
    fn pages_at_level_boundaries_translate_in_a_region_first_space() {
        boundaries(AsceType::Region1)
    }
);

/// In a space of type `ty` with one page mapped at 0x1000, an access to `va`
/// raises program interruption `code`.
fn fault_beside_one_page(ty: AsceType, va: u64, code: u16) -> TestResult {
    let f = Frames::new(1)?;
    let mut s = space(ty)?;
    s.map(0x1000, f.get(0), 1, Prot::RW)?;
    verify_fault(&s, va, code, false)
}

kernel_test!(
    /// Beyond what a segment ASCE covers: ASCE-type exception 0x38.
    ///
    /// Needs the kernel: the program check DAT raises.
    fn fault_asce_type_0x38() {
        fault_beside_one_page(AsceType::Segment, 0x8000_0000, 0x38)
    }
);
kernel_test!(
    /// Invalid region-first entry: 0x39.
    ///
    /// Needs the kernel: the program check DAT raises.
    fn fault_region_first_0x39() {
        fault_beside_one_page(AsceType::Region1, 0x20_0000_0000_0000, 0x39)
    }
);
kernel_test!(
    /// Invalid region-second entry: 0x3a.
    ///
    /// Needs the kernel: the program check DAT raises.
    fn fault_region_second_0x3a() {
        fault_beside_one_page(AsceType::Region2, 0x400_0000_0000, 0x3a)
    }
);
kernel_test!(
    /// Invalid region-third entry: 0x3b.
    ///
    /// Needs the kernel: the program check DAT raises.
    fn fault_region_third_0x3b() {
        fault_beside_one_page(AsceType::Region3, 0x8000_0000, 0x3b)
    }
);
kernel_test!(
    /// Invalid segment entry: 0x10.
    ///
    /// Needs the kernel: the program check DAT raises.
    fn fault_segment_0x10() {
        fault_beside_one_page(AsceType::Region3, 0x10_0000, 0x10)
    }
);
kernel_test!(
    /// Invalid PTE: 0x11.
    ///
    /// Needs the kernel: the program check DAT raises.
    fn fault_page_0x11() {
        fault_beside_one_page(AsceType::Region3, 0x2000, 0x11)
    }
);
kernel_test!(
    /// A store to a read-only page: protection exception 0x04; loads still work.
    ///
    /// Needs the kernel: the program check DAT raises.
    fn fault_protection_0x04() {
        let f = Frames::new(1)?;
        let mut s = space(AsceType::Region3)?;
        s.map(0x5000, f.get(0), 1, Prot::RO)?;
        verify_page(&s, 0x5000)?;
        verify_fault(&s, 0x5000, 0x04, true)
    }
);

kernel_test!(
    /// Upgrade a live space 2→3→4→5 levels by mapping ever higher; after every
    /// step every earlier mapping still translates to its frame.
    ///
    /// Needs the kernel: LRAG after every upgrade.
    fn upgrade_2_to_5_levels() {
        let f = Frames::new(4)?;
        let mut s = space(AsceType::Segment)?;
        let empty = s.table_bytes();
        let steps = [
            (0x10_0000u64, AsceType::Segment),
            (0x8000_0000, AsceType::Region3),
            (0x400_0000_0000, AsceType::Region2),
            (0x20_0000_0000_0000, AsceType::Region1),
        ];
        for (i, &(va, ty)) in steps.iter().enumerate() {
            s.map(va, f.get(i), 1, Prot::RW)?;
            check_eq!(s.asce_type(), ty, "type after mapping {va:#x}");
            for &(old, _) in &steps[..=i] {
                verify_page(&s, old)?;
            }
        }
        for &(va, _) in &steps {
            s.unmap(va, 1)?;
        }
        // Only the top table stays (the type stays region-first: no downgrade);
        // the old top tables are ordinary lower tables now and were freed empty.
        check_eq!(s.asce_type(), AsceType::Region1, "type after unmapping");
        check_eq!(s.table_bytes(), empty, "tables after unmapping all");
        Ok(())
    }
);

kernel_test!(
    /// Unmap invalidates live translations (IPTE/IDTE) and frees empty tables.
    ///
    /// Needs the kernel: the TLB purges of IPTE and IDTE.
    fn unmap_invalidates_and_frees() {
        let f = Frames::new(8)?;
        let mut s = space(AsceType::Region3)?;
        let empty = s.table_bytes();
        let base = 0x7ff_fc000u64; // straddles 2 GiB: two segment tables
        for i in 0..8 {
            s.map(base + i * PAGE_SIZE, f.get(i as usize), 1, Prot::RW)?;
        }
        for i in 0..8 {
            verify_page(&s, base + i * PAGE_SIZE)?; // fills the TLB
        }
        s.unmap(base, 8)?;
        for i in 0..8 {
            let va = base + i * PAGE_SIZE;
            // Both segment tables were freed, so the region-third entries are invalid.
            verify_fault(&s, va, 0x3b, false)?;
        }
        check_eq!(s.table_bytes(), empty, "table bytes after unmap");
        Ok(())
    }
);

kernel_test!(
    /// Unmapping whole page tables writes their PTEs without an IPTE each: the
    /// one IDTE that unhooks each table must purge every translation formed
    /// through it (here two full segments, each page used once, so in the TLB).
    ///
    /// Needs the kernel: IDTE's TLB purge.
    fn unmap_whole_page_tables_purges_through_idte() {
        let f = Frames::new(8)?;
        let mut s = space(AsceType::Region3)?;
        let base = 0x10_0000u64;
        let pages = 2 * 256;
        for i in 0..pages {
            s.map(base + i * PAGE_SIZE, f.get(i as usize % 8), 1, Prot::RW)?;
        }
        // A page in the next segment keeps the segment table (and the exception
        // a segment-translation one).
        let keep = base + pages * PAGE_SIZE;
        s.map(keep, f.get(0), 1, Prot::RW)?;
        for i in 0..pages {
            verify_page(&s, base + i * PAGE_SIZE)?;
        }
        s.unmap(base, pages)?;
        for i in 0..pages {
            verify_fault(&s, base + i * PAGE_SIZE, 0x10, false)?;
        }
        verify_page(&s, keep)
    }
);

kernel_test!(
    /// A dropped space's top table goes back to the allocator, and its ASCE value
    /// with it: the next space built on that table has the same ASCE, which the
    /// TLB cannot tell apart. So dropping a space must purge what the TLB holds
    /// for it (Linux flushes the mm at teardown), or the new space reaches the
    /// old one's frames.
    ///
    /// Needs the kernel: the TLB, which cannot tell two equal ASCEs apart.
    fn dropped_space_leaves_no_translations() {
        let f = Frames::new(2)?;
        let va = 0x1000u64;
        // Both spaces take the first free CRST from frame 0 on: the same one.
        kernel::frames().lock().reset_hint();
        let mut a = space(AsceType::Segment)?;
        a.map(va, f.get(0), 1, Prot::RW)?;
        verify_page(&a, va)?; // loads and stores through the TLB
        let old = a.asce();
        drop(a);
        kernel::frames().lock().reset_hint();
        let mut b = space(AsceType::Segment)?;
        check_eq!(b.asce(), old, "ASCE of a space built on the dropped space's top table");
        b.map(va, f.get(1), 1, Prot::RW)?;
        verify_page(&b, va)
    }
);

kernel_test!(
    /// crst_table_upgrade of the space this CPU runs in, as Linux upgrades the
    /// current mm: the new ASCE must replace the old one in every control register
    /// that held it (CR1 primary, CR7 secondary, CR13 home). A CR1 left with the
    /// old 2-level ASCE still translates everything below 2 GiB, so only a load
    /// above the old limit shows it (an ASCE-type exception instead of the page).
    ///
    /// Needs the kernel: the control registers of the running CPU.
    fn upgrade_of_the_running_space_reloads_its_control_registers() {
        let f = Frames::new(1)?;
        let mut s = kernel::identity_space()?;
        let saved = [insn::stctg::<1>(), insn::stctg::<7>(), insn::stctg::<13>()];
        let va = s.last_addr() + 1; // the first page the space's type cannot map
        let pattern = 0x5ca1_ab1e_0000_0000 ^ va;
        f.write(0, pattern);
        let old = s.asce();
        // SAFETY: `s` maps all memory at its own address (as the kernel space
        // does), so code, stack, lowcore and tables stay reachable; the kernel's
        // ASCE goes back below before anything can fail.
        unsafe {
            insn::lctlg::<1>(old.val());
            insn::lctlg::<7>(old.val());
            insn::lctlg::<13>(old.val());
        }
        let mapped = s.map(va, f.get(0), 1, Prot::RW);
        let crs = [insn::stctg::<1>(), insn::stctg::<7>(), insn::stctg::<13>()];
        let loaded = platform::load_primary(va);
        // SAFETY: back to what CR1/CR7/CR13 held before (the kernel's own space
        // in CR1, which maps everything the test space did).
        unsafe {
            insn::lctlg::<1>(saved[0]);
            insn::lctlg::<7>(saved[1]);
            insn::lctlg::<13>(saved[2]);
        }
        insn::ptlb();
        mapped?;
        check!(
            s.asce_type() > old.asce_type(),
            "mapping {va:#x} upgraded the space ({:?})",
            s.asce_type()
        );
        for (cr, got) in [1, 7, 13].into_iter().zip(crs) {
            check_eq!(
                got,
                s.asce().val(),
                "CR{cr} after the upgrade (old ASCE {:#x})",
                old.val()
            );
        }
        match loaded {
            Ok(v) => check_eq!(v, pattern, "load of {va:#x} in the upgraded primary space"),
            Err(pc) => check!(
                false,
                "load of {va:#x} in the upgraded primary space raised {:#x} ({})",
                pc.code,
                pc.name()
            ),
        }
        Ok(())
    }
);

kernel_test!(
    /// `protect` changes rights on live tables: RW→RO makes stores fault, RO→RW
    /// makes them land again. It keeps young and dirty (`pte_modify`), so the
    /// hardware bits they imply come back too: an old page still raises a
    /// page-translation exception on a load, a clean one protection on a store.
    ///
    /// Needs the kernel: stores and loads through the tables (DAT protection).
    fn protect_changes_rights() {
        let f = Frames::new(4)?;
        let mut s = space(AsceType::Region3)?;
        let (old, clean) = (0x40_2000, 0x40_3000);
        s.map(0x40_0000, f.get(0), 2, Prot::RW)?;
        s.map(old, f.get(2), 1, Prot::RW.old())?;
        s.map(clean, f.get(3), 1, Prot::RW.clean())?;
        verify_page(&s, 0x40_0000)?;
        s.protect(0x40_0000, 4, Prot::RO)?;
        verify_fault(&s, 0x40_0000, 0x04, true)?;
        verify_fault(&s, 0x40_1000, 0x04, true)?;
        verify_fault(&s, old, 0x11, false)?;
        s.protect(0x40_0000, 4, Prot::RW)?;
        verify_page(&s, 0x40_0000)?;
        verify_page(&s, 0x40_1000)?;
        verify_fault(&s, old, 0x11, false)?;
        verify_fault(&s, clean, 0x04, true)?;
        check_eq!(
            platform::load_via(s.asce(), clean).ok(),
            Some(0),
            "a load from the clean page"
        );
        let t = s.lookup(old)?.ok_or("the old page unmapped")?;
        check!(t.write && !t.young && t.dirty, "the old page after protect: {t:?}");
        let t = s.lookup(clean)?.ok_or("the clean page unmapped")?;
        check!(t.write && t.young && !t.dirty, "the clean page after protect: {t:?}");
        Ok(())
    }
);

kernel_test!(
    /// Bad requests get clear errors and change nothing.
    ///
    /// Needs the kernel: LRAG, which shows the live translations unchanged.
    fn bad_requests_change_nothing() {
        let f = Frames::new(3)?;
        let mut s = space(AsceType::Region3)?;
        s.map(0x1000, f.get(0), 2, Prot::RW)?;
        let bytes = s.table_bytes();
        check_eq!(
            s.map(0x1800, f.get(2), 1, Prot::RW),
            Err(MapError::Misaligned(0x1800)),
            "misaligned va"
        );
        check_eq!(
            s.map(0x9000, PhysAddr::new(f.get(2).as_u64() + 8), 1, Prot::RW),
            Err(MapError::Misaligned(f.get(2).as_u64() + 8)),
            "misaligned frame"
        );
        check_eq!(s.map(0x9000, f.get(2), 0, Prot::RW), Err(MapError::Empty), "zero pages");
        check_eq!(
            s.map(0xffff_ffff_ffff_f000, f.get(2), 2, Prot::RW),
            Err(MapError::Wraps {
                start: 0xffff_ffff_ffff_f000,
                pages: 2
            }),
            "wrap"
        );
        let outside = kernel::machine().mem;
        check_eq!(
            s.map(0x9000, PhysAddr::new(outside), 1, Prot::RW),
            Err(MapError::FrameOutsideMemory(PhysAddr::new(outside))),
            "frame outside memory"
        );
        check_eq!(
            s.map(0x0, f.get(2), 3, Prot::RW),
            Err(MapError::AlreadyMapped(0x1000)),
            "overlap"
        );
        check_eq!(
            s.protect(0x2000, 2, Prot::RO),
            Err(MapError::NotMapped(0x3000)),
            "protect unmapped"
        );
        check_eq!(s.asce_type(), AsceType::Region3, "type unchanged");
        check_eq!(s.table_bytes(), bytes, "table bytes unchanged");
        check!(s.lookup(0x0)?.is_none(), "0x0 got mapped by a failed request");
        check!(s.lookup(0x9000)?.is_none(), "0x9000 got mapped by a failed request");
        verify_page(&s, 0x1000)?;
        verify_page(&s, 0x2000)?;
        // Beyond the tables' range: a segment space cannot hold 2 GiB + but upgrades.
        Ok(())
    }
);

kernel_test!(
    /// The kernel runs with DAT on in its identity space: CR1 holds its ASCE, LRAG
    /// of kernel addresses is the identity, and kernel text is read-only.
    ///
    /// Needs the kernel: CR1, LRAG and a store into the kernel text.
    fn kernel_space_identity_readonly_text() {
        let k = kernel::KSPACE.get().unwrap().lock();
        let asce = k.asce();
        drop(k);
        check_eq!(insn::stctg::<1>(), asce.val(), "CR1");
        let text = kernel_space_identity_readonly_text as *const () as u64;
        let stack = &asce as *const _ as u64;
        for a in [0x1d0u64, text, stack, kernel::machine().mem - 8] {
            check_eq!(
                platform::lrag_via(asce, a),
                Lra::Real(a),
                "LRAG of {a:#x} in the kernel space"
            );
        }
        match platform::store_via(asce, text & !7, 0) {
            Ok(()) => check!(false, "store into kernel text succeeded"),
            Err(pc) => check_eq!(pc.code, 0x04u16, "store into text"),
        }
        Ok(())
    }
);

/// A corruption: the level whose entry to overwrite, how, and the exception a
/// load through it raises (0: none). LRAG reports a translation-specification
/// or addressing exception as a program check, a segment-table entry past its
/// table as cc 3 with that entry's address (PoP "LOAD REAL ADDRESS").
struct Corruption {
    name: &'static str,
    level: Level,
    make: fn(u64, u64) -> u64,
    hw: u16,
}

const CORRUPTIONS: [Corruption; 5] = [
    // A region-third entry claiming to be region-second: TT mismatch.
    Corruption {
        name: "wrong table type",
        level: Level::Pud,
        make: |v, _| (v & !RegionBits::TT.bits()) | Level::P4d.type_bits(),
        hw: 0x12,
    },
    // Region-third entry whose segment table length covers 512 entries only.
    Corruption {
        name: "table length too short",
        level: Level::Pud,
        make: |v, _| v & !RegionBits::TL.bits(),
        hw: 0x10,
    },
    // PTE bit 0x800 must be zero.
    Corruption {
        name: "PTE bit 0x800",
        level: Level::Pte,
        make: |v, _| v | PteBits::ZERO_BIT.bits(),
        hw: 0x12,
    },
    // Segment entry pointing to a page table beyond memory.
    Corruption {
        name: "origin outside memory",
        level: Level::Pmd,
        make: |v, mem| (v & !SEGMENT_ORIGIN) | mem,
        hw: 0x05,
    },
    // Segment entry with the large-frame bit while EDAT-1 is absent: the machine
    // ignores the bit then (so translation still works); software flags it.
    // (With EDAT-1 the entry is a valid large frame: not run there.)
    Corruption {
        name: "large bit without EDAT-1",
        level: Level::Pmd,
        make: |v, _| v | SegmentBits::FC.bits(),
        hw: 0,
    },
];

kernel_test!(
    /// Corrupted entries: the software walkers report the bad entry and pin
    /// nothing; the hardware's own verdict (LRAG) is the documented exception.
    ///
    /// Needs the kernel: LRAG's verdict on each corruption.
    fn corrupted_entries_software_vs_hardware() {
        let f = Frames::new(2)?;
        let va = 0x100_7fff_f000u64;
        let mem = kernel::machine().mem;
        let edat1 = kernel::machine().has_facility(8);
        for c in CORRUPTIONS
            .iter()
            .filter(|c| !(edat1 && c.name == "large bit without EDAT-1"))
        {
            let mut s = space(AsceType::Region3)?;
            s.map(va, f.get(0), 1, Prot::RW)?;
            let (at, old) = s.poke_entry(va, c.level, |v| (c.make)(v, mem.next_multiple_of(1 << 20)))?;
            let r = (|| -> TestResult {
                insn::ptlb();
                let sw = s.lookup(va);
                check!(
                    matches!(sw, Err(foldkern::mm::WalkError::BadEntry { .. })),
                    "{}: software walk gave {sw:?}",
                    c.name
                );
                let w = crate::kernel::spaces::Walk::new(&s, &f, 1);
                let mut pages = [foldkern::gup::Page::from_pfn(0); 1];
                for v in foldkern::gup::Variant::ALL {
                    let o = w.gup(v, va, 1, foldkern::gup::GupFlags::empty(), &mut pages)?;
                    check_eq!(o.pinned, 0, "{}: {} pinned from a corrupt entry", c.name, v.name());
                    check!(
                        matches!(o.error, Some(foldkern::mm::WalkError::BadEntry { .. })),
                        "{}: {} reported {:?}",
                        c.name,
                        v.name(),
                        o.error
                    );
                }
                let hw = platform::lrag_via(s.asce(), va);
                let pop = match c.hw {
                    0 => Lra::Real(f.get(0).as_u64()),
                    // The segment-table entry past the table, below 2 GiB.
                    0x10 => Lra::PastTable((old & REGION_ORIGIN) as u32 + Level::Pmd.index(va) as u32 * 8),
                    code => Lra::ProgramCheck(code),
                };
                check_eq!(hw, super::on_this_machine(pop), "{}: LRAG (the PoP: {pop:x?})", c.name);
                // A load through the mapping raises what LRAG reports (or reads the
                // frame), and execution goes on after it whether the exception
                // nullifies (translation) or suppresses (translation specification).
                let word = 0xc0de_0000_0000_0000 ^ va;
                f.write(0, word);
                match (platform::load_via(s.asce(), va), c.hw) {
                    (Ok(v), 0) => check_eq!(v, word, "{}: load through the mapping", c.name),
                    (Ok(v), code) => check!(false, "{}: load read {v:#x}, expected code {code:#x}", c.name),
                    (Err(pc), code) => {
                        check_eq!(pc.code, code, "{}: load raised {}", c.name, pc.name());
                        super::check_old_psw(&pc)?;
                    }
                }
                Ok(())
            })();
            // Put it back through the pointer (the corrupt path cannot be walked),
            // whatever the checks found: freeing the space follows its entries.
            // SAFETY: the entry of this test's own space it corrupted above.
            unsafe { PLATFORM.write_u64(at.addr(), old) };
            insn::ptlb();
            r?;
        }
        Ok(())
    }
);

kernel_test!(
    /// Linux's PTE encoding on live tables: an old page keeps the hardware's
    /// invalid bit, so a load raises a page-translation exception (0x11, the
    /// TEID naming the page) and LRAG reports an invalid page entry, as the
    /// software prediction says; gup_fast pins it all the same (v5.9 tests
    /// `pte_present`, not the hardware bit), the frame the software walk gives.
    /// The fault path (`handle_pte_fault`) makes it young and the load, made
    /// again, reads the page.
    ///
    /// Needs the kernel: the page-translation exception DAT raises.
    fn old_page_traps_then_faults_in_young() {
        let f = Frames::new(2)?;
        let mut s = space(AsceType::Region3)?;
        let va = 0x10_0000;
        s.map(va, f.get(0), 1, Prot::RW.old().clean())?;
        f.write(0, 0x01d_0001d);
        let pc = platform::load_via(s.asce(), va);
        check!(
            matches!(pc, Err(p) if p.code == 0x11 && p.teid_addr() == va),
            "a load from an old page: {pc:?}"
        );
        check_eq!(s.expected_exception(va)?, Some(0x11), "software prediction");
        check!(
            matches!(super::pop_lra(&s, va)?, Lra::InvalidPageEntry(_)),
            "the PoP's LRAG of an old page"
        );
        super::check_lrag(&s, va)?;
        let w = Walk::new(&s, &f, 1);
        let mut pages = [Page::default(); 1];
        let o = w.gup(Variant::OffsetLockless, va, 1, GupFlags::empty(), &mut pages)?;
        check_eq!(
            (o.pinned, pages[0]),
            (1, Page::of(f.get(0))),
            "gup_fast pins the old page"
        );
        check_eq!(user_load(&mut s, va), Ok(0x01d_0001d), "the load after the fault");
        let t = s.lookup(va)?.ok_or("unmapped by the fault")?;
        check!(t.young && !t.dirty, "young, still clean: {t:?}");
        check_eq!(
            super::pop_lra(&s, va)?,
            Lra::Real(f.get(0).as_u64()),
            "the PoP's LRAG after"
        );
        super::check_lrag(&s, va)
    }
);

kernel_test!(
    /// A writable but clean page keeps the hardware's protection bit: loads go
    /// through, the first store raises a protection exception (0x04, DAT
    /// protection: TEID bit 61 and the page), as the software prediction says;
    /// gup_fast write-pins it all the same (`pte_write` is the software bit).
    /// The fault path makes it dirty (IPTE, then the new entry), the store made
    /// again lands, and later stores need no fault. A store to a read-only page
    /// is refused by the fault path.
    ///
    /// Needs the kernel: the protection exception DAT raises.
    fn clean_page_traps_on_the_first_write_then_dirties() {
        let f = Frames::new(3)?;
        let mut s = space(AsceType::Region3)?;
        let (va, ro) = (0x10_0000, 0x10_1000);
        s.map(va, f.get(0), 1, Prot::RW.clean())?;
        s.map(ro, f.get(1), 1, Prot::RO)?;
        f.write(0, 7);
        check_eq!(
            platform::load_via(s.asce(), va).ok(),
            Some(7),
            "a load from a clean page"
        );
        let pc = platform::store_via(s.asce(), va, 8);
        check!(
            matches!(pc, Err(p) if p.code == 0x04 && p.teid & 4 != 0 && p.teid_addr() == va),
            "the first store to a clean page: {pc:?}"
        );
        if let Err(p) = pc {
            super::check_old_psw(&p)?;
        }
        check_eq!(f.read(0), 7, "the refused store changed nothing");
        check_eq!(s.expected_store_exception(va)?, Some(0x04), "software prediction");
        let w = Walk::new(&s, &f, 2);
        let mut pages = [Page::default(); 1];
        let o = w.gup(Variant::OffsetLockless, va, 1, GupFlags::WRITE, &mut pages)?;
        check_eq!(o.pinned, 1, "gup_fast write-pins the clean page");
        check_eq!(user_store(&mut s, va, 8), Ok(()), "the store after the fault");
        check_eq!(f.read(0), 8, "what the store wrote");
        let t = s.lookup(va)?.ok_or("unmapped by the fault")?;
        check!(t.young && t.dirty && t.write, "young and dirty: {t:?}");
        check_eq!(platform::store_via(s.asce(), va, 9).ok(), Some(()), "a later store");
        check_eq!(s.expected_store_exception(va)?, None, "software prediction after");
        check_eq!(
            user_store(&mut s, ro, 1),
            Err(AccessError::Fault(FaultError::WriteProtected(ro))),
            "a store to a read-only page"
        );
        Ok(())
    }
);
