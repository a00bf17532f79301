//! Property tests: random sequences of map / unmap / protect / upgrade across all
//! ASCE types against a reference model (a `BTreeMap` of page → frame and rights).
//! After every step the tables translate exactly like the model, the table bytes
//! equal what the mapped set requires (so empty tables were freed), and gup_fast's
//! fixed variants return the model's frames while the pre-fix variant fails exactly
//! where `prefix_walks_off` says.
//!
//! A second property races one gup_fast against one write: any entry the walk
//! depends on changes once, at any of the walker's reads of it.
//!
//! `PROPTEST_CASES=N` raises the number of cases (default 256).
mod common;
use common::{host, pa, store_after};
use foldkern::gup::{prefix_walks_off, GupFlags, Page, Variant};
use foldkern::mm::entry::{PteBits, RegionBits};
use foldkern::mm::race::RacingWrite;
use foldkern::mm::space::MapError;
use foldkern::mm::*;
use proptest::prelude::*;
use std::collections::btree_map::Entry;
use std::collections::{BTreeMap, BTreeSet};

/// Interesting places: just below each level boundary of each type.
const REGIONS: [u64; 8] = [
    0,
    (1 << 20) - 8 * PAGE_SIZE,
    (1 << 31) - 8 * PAGE_SIZE,
    0x100_7fff_f000 - 4 * PAGE_SIZE,
    (1 << 42) - 8 * PAGE_SIZE,
    (1 << 53) - 8 * PAGE_SIZE,
    0xffff_ffff_ffff_0000,
    (1 << 31) + (5 << 20),
];

/// Where 1 MiB frames (EDAT-1) go: slot k maps LARGE + k MiB to frame (2 + k) MiB.
const LARGE: u64 = 0x4000_0000;
const LARGE_SLOTS: u64 = 4;
/// Where the one 2 GiB frame (EDAT-2) goes: 2 TiB, mapped to frame 0.
const HUGE: u64 = 0x200_0000_0000;

#[derive(Clone, Debug)]
enum Op {
    Map {
        region: usize,
        page: u64,
        n: u64,
        write: bool,
    },
    Unmap {
        region: usize,
        page: u64,
        n: u64,
    },
    Protect {
        region: usize,
        page: u64,
        n: u64,
        write: bool,
    },
    Upgrade(u64),
    MapLarge {
        slot: u64,
        write: bool,
    },
    UnmapLarge {
        slot: u64,
    },
    MapHuge,
}

fn addr(region: usize, page: u64) -> u64 {
    REGIONS[region].wrapping_add(page * PAGE_SIZE)
}

fn op() -> impl Strategy<Value = Op> {
    let r = 0..REGIONS.len();
    prop_oneof![
        4 => (r.clone(), 0..16u64, 1..6u64, any::<bool>()).prop_map(|(region, page, n, write)| Op::Map { region, page, n, write }),
        2 => (r.clone(), 0..16u64, 1..8u64).prop_map(|(region, page, n)| Op::Unmap { region, page, n }),
        1 => (r, 0..16u64, 1..4u64, any::<bool>()).prop_map(|(region, page, n, write)| Op::Protect { region, page, n, write }),
        1 => prop_oneof![Just((1u64 << 31) + 1), Just(1 << 42), Just(1 << 53), Just(u64::MAX)].prop_map(Op::Upgrade),
        1 => (0..LARGE_SLOTS, any::<bool>()).prop_map(|(slot, write)| Op::MapLarge { slot, write }),
        1 => (0..LARGE_SLOTS).prop_map(|slot| Op::UnmapLarge { slot }),
        1 => Just(Op::MapHuge),
    ]
}

/// Bytes of tables a space of type `ty` needs for `pages` and the large frames
/// (`large`: base → (frame, level)); the top table always.
fn required_bytes(ty: AsceType, pages: &BTreeMap<u64, (u64, bool)>, large: &BTreeMap<u64, (u64, Level)>) -> u64 {
    let mut tables: BTreeSet<(u8, u64)> = BTreeSet::new();
    for (&va, &(_, level)) in large {
        for (lvl, shift, l) in [(3u8, 31u32, Level::Pmd), (2, 42, Level::Pud), (1, 53, Level::P4d)] {
            // The entry sits in a table of level `level`; tables from there up to the top are needed.
            if l > ty.top() && l <= level {
                tables.insert((lvl, va >> shift));
            }
        }
    }
    for &va in pages.keys() {
        tables.insert((4, va >> 20)); // page table
        for (lvl, shift) in [(3u8, 31u32), (2, 42), (1, 53)] {
            // A table of level `lvl` (segment, region-3, region-2) exists below the top.
            let level = [Level::Pgd, Level::P4d, Level::Pud, Level::Pmd][lvl as usize];
            if level > ty.top() {
                tables.insert((lvl, va >> shift));
            }
        }
    }
    16384
        + tables
            .iter()
            .map(|(l, _)| if *l == 4 { 2048 } else { 16384 })
            .sum::<u64>()
}

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(256)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), ..ProptestConfig::default() })]

    #[test]
    fn tables_follow_the_model_through_any_operations(start_ty in 0..4usize, ops in prop::collection::vec(op(), 1..24)) {
        let h = host(8, true);
        let mut s = h.space(AsceType::ALL[start_ty]);
        let mut model: BTreeMap<u64, (u64, bool)> = BTreeMap::new();
        let mut large: BTreeMap<u64, (u64, Level)> = BTreeMap::new();
        let mut next_frame = 0x10_0000u64;
        for op in ops {
            match op {
                Op::Map { region, page, n, write } => {
                    let va = addr(region, page);
                    let n = if va.checked_add(n * PAGE_SIZE).is_none() { (0u64.wrapping_sub(va)) / PAGE_SIZE } else { n };
                    let frame = next_frame;
                    next_frame = 0x10_0000 + (next_frame + n * PAGE_SIZE - 0x10_0000) % (4 << 20);
                    let clash = (0..n).map(|i| va + i * PAGE_SIZE).find(|p| model.contains_key(p));
                    let r = s.map(va, pa(frame), n, if write { Prot::RW } else { Prot::RO });
                    if let Some(first) = clash {
                        // The first mapped page of the range is the one named.
                        prop_assert_eq!(r, Err(MapError::AlreadyMapped(first)));
                    } else if frame + n * PAGE_SIZE > 8 << 20 {
                        prop_assert!(r.is_err());
                    } else {
                        prop_assert_eq!(r, Ok(()));
                        for i in 0..n {
                            model.insert(va + i * PAGE_SIZE, (frame + i * PAGE_SIZE, write));
                        }
                    }
                }
                Op::Unmap { region, page, n } => {
                    let va = addr(region, page);
                    let r = s.unmap(va, n);
                    if va.checked_add(n * PAGE_SIZE).is_none() && va.wrapping_add(n * PAGE_SIZE) != 0 {
                        let wraps = matches!(r, Err(MapError::Wraps { .. }));
                        prop_assert!(wraps, "expected Wraps, got {:?}", r);
                    } else {
                        prop_assert_eq!(r, Ok(()));
                        for i in 0..n {
                            model.remove(&va.wrapping_add(i * PAGE_SIZE));
                        }
                    }
                }
                Op::Protect { region, page, n, write } => {
                    let va = addr(region, page);
                    let hole = (0..n).map(|i| va.wrapping_add(i * PAGE_SIZE)).find(|a| !model.contains_key(a));
                    let wraps = va.checked_add(n * PAGE_SIZE - 1).is_none();
                    let r = s.protect(va, n, if write { Prot::RW } else { Prot::RO });
                    match (wraps, hole) {
                        (true, _) => prop_assert!(r.is_err()),
                        // The first page that is not mapped is the one named.
                        (false, Some(h)) => prop_assert_eq!(r, Err(MapError::NotMapped(h))),
                        (false, None) => prop_assert_eq!(r, Ok(())),
                    }
                    if !wraps && hole.is_none() {
                        for i in 0..n {
                            model.get_mut(&(va + i * PAGE_SIZE)).unwrap().1 = write;
                        }
                    }
                }
                Op::Upgrade(last) => {
                    s.crst_table_upgrade(last).unwrap();
                    prop_assert!(s.last_addr() >= last);
                }
                Op::MapLarge { slot, write } => {
                    let va = LARGE + (slot << 20);
                    let r = s.map_large(va, pa((2 + slot) << 20), Level::Pmd, if write { Prot::RW } else { Prot::RO });
                    match large.entry(va) {
                        Entry::Occupied(_) => {
                            let already = matches!(r, Err(MapError::AlreadyMapped(_)));
                            prop_assert!(already, "expected AlreadyMapped, got {:?}", r);
                        }
                        Entry::Vacant(e) => {
                            prop_assert_eq!(r, Ok(()));
                            e.insert(((2 + slot) << 20, Level::Pmd));
                        }
                    }
                }
                Op::UnmapLarge { slot } => {
                    let va = LARGE + (slot << 20);
                    prop_assert_eq!(s.unmap(va, 256), Ok(()));
                    large.remove(&va);
                }
                Op::MapHuge => {
                    let r = s.map_large(HUGE, pa(0), Level::Pud, Prot::RW);
                    match large.entry(HUGE) {
                        Entry::Occupied(_) => prop_assert!(r.is_err()),
                        Entry::Vacant(e) => {
                            prop_assert_eq!(r, Ok(()));
                            e.insert((0, Level::Pud));
                        }
                    }
                }
            }
            for (&va, &(pa, level)) in &large {
                for off in [0, 0x1000, level.size() - 8] {
                    let t = s.lookup(va + off).unwrap();
                    prop_assert_eq!(t.map(|t| (t.pa.as_u64(), t.level)), Some((pa + off, level)), "large at {:#x}", va + off);
                }
            }
            // The tables translate exactly like the model.
            for (&va, &(pa, w)) in &model {
                let t = s.lookup(va).unwrap();
                prop_assert_eq!(t.map(|t| (t.pa.as_u64(), t.write)), Some((pa, w)), "at {:#x}", va);
            }
            for r in 0..REGIONS.len() {
                for p in [0u64, 7, 15, 20] {
                    let va = addr(r, p);
                    if !model.contains_key(&va) {
                        prop_assert!(s.lookup(va).unwrap().is_none(), "{:#x} should be unmapped", va);
                    }
                }
            }
            prop_assert_eq!(s.table_bytes(), required_bytes(s.asce_type(), &model, &large), "table bytes");
        }
        // Differential gup over every region and across the large frames.
        let starts: Vec<u64> = (0..REGIONS.len()).map(|r| addr(r, 0))
            .chain((0..LARGE_SLOTS).map(|k| LARGE + (k << 20) - 8 * PAGE_SIZE))
            .chain([HUGE - 4 * PAGE_SIZE, HUGE])
            .collect();
        for start in starts {
            let n = if start > u64::MAX - 24 * PAGE_SIZE { 16 } else { 24 };
            if start.wrapping_add(n as u64 * PAGE_SIZE).wrapping_sub(1) > s.last_addr() {
                continue;
            }
            for flags in [GupFlags::empty(), GupFlags::WRITE] {
                let want = h.expected(&s, start, n, flags.contains(GupFlags::WRITE));
                for v in Variant::FIXED {
                    let (o, got) = h.gup(&s, v, start, n, flags);
                    prop_assert_eq!((o.error, o.violations), (None, 0));
                    prop_assert_eq!(&got, &want, "{:?} at {:#x}", v, start);
                }
                let (o, _) = h.gup(&s, Variant::PreFix, start, n, flags);
                let reach = start.wrapping_add((want.len() as u64 + 1).min(n as u64) * PAGE_SIZE);
                prop_assert_eq!(o.error.is_some(), prefix_walks_off(s.asce_type(), start, reach), "pre-fix at {:#x} ({:?})", start, s.asce_type());
            }
        }
        drop(s);
        prop_assert_eq!(h.pagemap.total_pins(), 0);
    }
}

/// How the racing write changes the entry.
#[derive(Clone, Copy, Debug)]
enum Change {
    /// Invalidate it (an unmap's IPTE/IDTE).
    Invalidate,
    /// Replace it with its neighbour in the same table (an unmap and remap).
    Sibling,
    /// Toggle a PTE's protection bit (mprotect); other entries are invalidated.
    Protect,
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), ..ProptestConfig::default() })]

    /// One writer races one gup_fast: an entry on the walk's path (any level,
    /// folded or not, 4 KiB or large) changes right after the walker's k-th read
    /// of it. Whatever k, each fixed variant pins, for every page it returns, the
    /// frame the tables gave either before or after the write, reports no error,
    /// never touches memory that is not a table or frame (strict host memory), and
    /// leaves no pin behind: a pin taken from a changed entry is given back.
    #[test]
    fn a_racing_write_leaves_each_fixed_walk_pinning_old_or_new_frames(
        ty in 0..4usize,
        maps in prop::collection::vec((0..REGIONS.len(), 0..16u64, 1..6u64, any::<bool>()), 1..8),
        with_large in any::<bool>(),
        start in any::<prop::sample::Index>(),
        back in 0..3u64,
        n in 1..24usize,
        write in any::<bool>(),
        pick in any::<prop::sample::Index>(),
        leaf in any::<bool>(),
        change in prop_oneof![Just(Change::Invalidate), Just(Change::Sibling), Just(Change::Protect)],
        k in 1..6u32,
    ) {
        let h = host(8, true);
        let mut s = h.space(AsceType::ALL[ty]);
        let mut next = 0x10_0000u64;
        // Where the range may start: a little below something mapped.
        let mut starts = Vec::new();
        for (region, page, pages, w) in maps {
            let prot = if w { Prot::RW } else { Prot::RO };
            if s.map(addr(region, page), pa(next), pages, prot).is_ok() {
                next += pages * PAGE_SIZE;
                starts.push(addr(region, page));
            }
        }
        if with_large {
            s.map_large(LARGE, pa(2 << 20), Level::Pmd, Prot::RW).unwrap();
            s.map_large(HUGE, pa(0), Level::Pud, Prot::RO).unwrap();
            starts.extend([LARGE, HUGE]);
        }
        prop_assume!(!starts.is_empty());
        let start = start.get(&starts).saturating_sub(back * PAGE_SIZE);
        let n = n.min(((u64::MAX - start) / PAGE_SIZE + 1) as usize);
        prop_assume!(start + (n as u64 - 1) * PAGE_SIZE <= s.last_addr());
        // Every entry the hardware would visit for the range's pages (half the
        // time only the last one of each page: a PTE or a large entry).
        let mut path: Vec<EntryPtr> = Vec::new();
        for i in 0..n as u64 {
            if let Some(p) = s.hw_walk(start + i * PAGE_SIZE).unwrap() {
                let p = p.entries();
                for (e, _) in &p[if leaf { p.len() - 1 } else { 0 }..] {
                    if !path.iter().any(|q| q.addr() == e.addr()) {
                        path.push(*e);
                    }
                }
            }
        }
        let entry = *pick.get(&path);
        let old = h.plat.read_u64(entry.addr());
        let pte = entry.level() == Level::Pte;
        let new = match change {
            Change::Sibling => h.plat.read_u64(entry.base().add((((entry.addr().as_u64() - entry.base().as_u64()) / 8) ^ 1) * 8)),
            Change::Protect if pte => old ^ PteBits::P.bits(),
            _ => old | if pte { PteBits::I.bits() } else { RegionBits::I.bits() },
        };
        let flags = if write { GupFlags::WRITE } else { GupFlags::empty() };
        let before = h.expected(&s, start, n, write);
        h.plat.write_u64(entry.addr(), new);
        let after = h.expected(&s, start, n, write);
        h.plat.write_u64(entry.addr(), old);
        for v in Variant::FIXED {
            let quiet = RacingWrite::counting(h.plat, entry.addr());
            h.gup_on(&quiet, &s, v, start, n, flags);
            let t = store_after(h.plat, entry.addr(), k, new);
            let (o, got) = h.gup_on(&t, &s, v, start, n, flags);
            h.plat.write_u64(entry.addr(), old);
            let what = format!("{v:?} {start:#x}+{n} {flags:?}: {entry} {old:#x} -> {new:#x} after read {k} of {}", t.reads());
            prop_assert_eq!(o.error, None, "{}", what);
            for (i, f) in got.iter().enumerate() {
                prop_assert!(before.get(i) == Some(f) || after.get(i) == Some(f),
                    "{}: page {} pinned {:?}, before {:?}, after {:?}", what, i, f, before.get(i), after.get(i));
            }
            if t.reads() < k {
                prop_assert_eq!(&got, &before, "{}: the write never happened", what);
            }
            if k < quiet.reads() {
                // The walker's last read of the entry saw the new value: what it
                // returns must agree with the tables after the write.
                prop_assert!(after.starts_with(&got), "{}: pinned {:?}, after the write {:?}", what, got, after);
            }
            prop_assert_eq!(h.pagemap.total_pins(), 0, "{}: a pin was left behind", what);
        }
    }
}

#[test]
fn prefix_walks_off_exactly_when_its_predicate_says() {
    // Crossing the top entry's size in a folded space: walks off.
    assert!(prefix_walks_off(AsceType::Segment, 0xff000, 0x101000));
    assert!(prefix_walks_off(AsceType::Region3, 0x100_7fff_f000, 0x100_8000_1000));
    assert!(prefix_walks_off(AsceType::Region2, (1 << 42) - 4096, (1 << 42) + 4096));
    // Not crossing, ending exactly on the boundary, or nothing folded: stays.
    assert!(!prefix_walks_off(AsceType::Segment, 0xfe000, 0x100000));
    assert!(!prefix_walks_off(AsceType::Region3, 0x7fff_f000, 0x8000_0000));
    assert!(
        !prefix_walks_off(AsceType::Region3, 0xff000, 0x101000),
        "1 MiB crossings are real steps in 3 levels"
    );
    assert!(!prefix_walks_off(AsceType::Region1, 0x100_7fff_f000, 0x100_8000_1000));
}

/// The pages the pre-fix walk over Linux's frame layout must pin: page `i`'s
/// own translation up to the first crossing of a top entry's reach, then the
/// translation one top entry lower (the stale entry it re-reads), up to the
/// first page without one.
fn one_top_entry_lower(s: &common::Space, start: u64, n: usize) -> Vec<Page> {
    let reach = s.asce_type().top().size();
    let crossing = (start / reach + 1) * reach;
    (0..n as u64)
        .map(|i| start + i * PAGE_SIZE)
        .map(|va| s.lookup(if va < crossing { va } else { va - reach }).unwrap())
        .map_while(|t| t.map(|t| Page::of(t.pa)))
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases()))]
    /// Over Linux's frame layout (as 6.1 compiles it) the pre-fix walk never
    /// reads outside its frame: crossing a top entry's reach in 3 or 4 levels
    /// it re-reads the stale top entry (the next loop's previous copy) and
    /// pins exactly the pages one top entry lower, with no error; in 2 levels
    /// the word after the pud copy is a saved register, and it walks off there.
    /// A walk that crosses nothing pins what the fixes pin.
    #[test]
    fn prefix_over_linux_frame_pins_one_top_entry_lower(
        levels in 2usize..=4,
        boundary in 2u64..4,
        before in 1u64..6,
        after in 1u64..6,
        holes in proptest::collection::btree_set(0u64..12, 0..3),
    ) {
        let ty = AsceType::ALL[levels - 2];
        let reach = ty.top().size();
        let h = host(16, false);
        let mut s = h.space(ty);
        let crossing = boundary * reach;
        let start = crossing - before * PAGE_SIZE;
        let n = (before + after) as usize;
        // The range and the pages one top entry below it, some left as holes.
        let mut frame = 0x10_0000;
        for (k, va) in (0..n as u64).flat_map(|i| [start + i * PAGE_SIZE, start + i * PAGE_SIZE - reach]).enumerate() {
            if !holes.contains(&(k as u64)) {
                s.map(va, pa(frame), 1, Prot::RW).unwrap();
                frame += PAGE_SIZE;
            }
        }
        let (o, got) = h.gup(&s, Variant::PreFixLinuxFrame, start, n, GupFlags::empty());
        let want = one_top_entry_lower(&s, start, n);
        if levels == 2 && want.len() >= before as usize {
            // It reaches the crossing, where a saved register follows the pud copy.
            prop_assert!(matches!(o.error, Some(WalkError::OffObject { ptr, .. }) if ptr.is_copy()), "{:?}", o.error);
            prop_assert_eq!(&got[..], &want[..before as usize]);
        } else {
            prop_assert_eq!(o.error, None);
            prop_assert_eq!(&got, &want, "{:?} from {:#x}", ty, start);
        }
        drop(s);
        prop_assert_eq!(h.pagemap.total_pins(), 0);
    }
}

/// v5.9's decision for one PTE, written as `gup_pte_range` has it, on the
/// raw value: `pte_protnone`, `pte_access_permitted(pte, write)`,
/// `pte_special` (arch/s390 definitions). foldkern also stops on the bits it
/// never sets (0x080, 0x100), which stay clear here.
fn linux_pins(pte: u64, write: bool) -> bool {
    let present = pte & 0x001 != 0;
    let protnone = present && pte & 0x010 == 0;
    let access_permitted = present && (!write || pte & 0x020 != 0);
    let special = pte & 0x040 != 0;
    !protnone && access_permitted && !special
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases()))]
    /// Pages in random Linux states (read-only or writable, old or young,
    /// clean or dirty, special, prot-none, not present): gup_fast pins exactly
    /// the prefix v5.9's test lets through, read or write; the hardware traps
    /// exactly where s390's encoding says (an old page on any access, a clean
    /// or read-only page on a store); and after `handle_pte_fault` for each
    /// trapping access of a page that allows it, nothing traps any more and the
    /// page is young, and dirty where it was written.
    #[test]
    fn linux_pte_states_decide_gup_and_faults(
        states in prop::collection::vec((any::<bool>(), any::<bool>(), any::<bool>(), 0u8..8), 1..12),
        write in any::<bool>(),
    ) {
        let h = host(16, false);
        let mut s = h.space(AsceType::Region3);
        let va = 0x4000_0000u64;
        for (i, &(rw, young, dirty, kind)) in states.iter().enumerate() {
            let mut prot = if rw { Prot::RW } else { Prot::RO };
            prot = if young { prot } else { prot.old() };
            prot = if dirty { prot } else { prot.clean() };
            let a = va + i as u64 * PAGE_SIZE;
            s.map(a, pa(0x10_0000 + i as u64 * PAGE_SIZE), 1, Prot { special: kind == 0, ..prot }).unwrap();
            let ptep = foldkern::mm::pgtable::walk_to(h.plat, s.asce(), a, Level::Pte).unwrap();
            let v = h.plat.read_u64(ptep.addr());
            match kind {
                1 => h.plat.write_u64(ptep.addr(), v & !PteBits::READ.bits()), // prot-none
                2 => h.plat.write_u64(ptep.addr(), v & !PteBits::PRESENT.bits()), // not present
                _ => {}
            }
        }
        let ptes: Vec<u64> = (0..states.len())
            .map(|i| {
                let p = foldkern::mm::pgtable::walk_to(h.plat, s.asce(), va + i as u64 * PAGE_SIZE, Level::Pte).unwrap();
                h.plat.read_u64(p.addr())
            })
            .collect();
        let want = ptes.iter().take_while(|&&p| linux_pins(p, write)).count();
        let flags = if write { GupFlags::WRITE } else { GupFlags::empty() };
        for v in Variant::FIXED {
            let (o, got) = h.gup(&s, v, va, states.len(), flags);
            prop_assert_eq!((got.len(), o.error), (want, None), "{:?}: {:x?}", v, ptes);
        }
        for (i, &p) in ptes.iter().enumerate() {
            let a = va + i as u64 * PAGE_SIZE;
            let (hw_valid, hw_protected) = (p & 0x400 == 0, p & 0x200 != 0);
            prop_assert_eq!(s.expected_exception(a).unwrap(), (!hw_valid).then_some(0x11), "{:#x}", p);
            let store = if !hw_valid { Some(0x11) } else if hw_protected { Some(0x04) } else { None };
            prop_assert_eq!(s.expected_store_exception(a).unwrap(), store, "{:#x}", p);
            let pte = Pte::new(p);
            if !pte.present() || pte.protnone() {
                prop_assert!(s.handle_pte_fault(a, false).is_err());
                continue;
            }
            let w = write && pte.write();
            if s.expected_exception(a).unwrap().is_some() {
                s.handle_pte_fault(a, false).unwrap();
            }
            if w && s.expected_store_exception(a).unwrap().is_some() {
                s.handle_pte_fault(a, true).unwrap();
            }
            prop_assert_eq!(s.expected_exception(a).unwrap(), None);
            prop_assert_eq!(s.expected_store_exception(a).unwrap().is_none(), pte.write() && (w || pte.dirty()));
            let t = s.lookup(a).unwrap().unwrap();
            prop_assert!(t.young && (t.dirty == (pte.dirty() || w)), "{:?}", t);
        }
        drop(s);
        prop_assert_eq!(h.pagemap.total_pins(), 0);
    }
}
