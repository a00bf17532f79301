//! Invariant suite in the spirit of Linux `mm/debug_vm_pgtable.c`, plus the
//! folding invariant from the 2020 thread. It builds spaces of every ASCE type on
//! whatever [`Platform`] it is given, so the same checks run on the host and in
//! the kernel against live tables.
//!
//! Checked, for every type and for pages either side of every level boundary:
//! * a folded `pXd_offset` returns its argument; a real one returns a pointer into
//!   a table of its own level;
//! * stepping: `pXd_offset(parent(next), next) == pXdp + 1` whenever `next` stays in
//!   the same table (for real levels; on folded levels the static step leaves the
//!   space, which is exactly why `pXdp++` must never happen on a copy);
//! * `pXd_addr_end` is bounded by `end`, lands on a boundary or `end`, and is
//!   monotonic; `pXd_addr_end_folded` equals the static step of the level the entry
//!   really belongs to;
//! * entry helpers round-trip (`mk_pte`/`pte_write`/frame, empty = none, populated
//!   = present and not bad), and, as `pte_basic_tests` checks them, the
//!   `pte_mk*` pairs undo each other (`pte_young(pte_mkyoung(pte_mkold(p)))`,
//!   ...), with the hardware bits following Linux s390's rules: an old page is
//!   invalid, a clean or read-only one protected, and a young, dirty, writable
//!   one neither.
use super::entry::*;
use super::frame::FrameAllocator;
use super::level::{AsceType, Level, LEVEL_BOUNDARIES};
use super::pgtable::*;
use super::platform::Platform;
use super::space::{AddressSpace, Prot};
use super::{PhysAddr, VirtAddr, PAGE_SIZE};
use core::fmt;
use spin::Mutex;

/// The suite's checks, each reported by name with how often it held.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Check {
    /// `mk_pte` round-trips its frame and rights; the entry is present, not none, not bad.
    MkPte,
    /// The `pte_mk*` pairs undo each other, the hardware bits following s390's rules.
    PteMkPairs,
    /// An empty PTE and empty CRST entries are none (and the PTE not present).
    EmptyIsNone,
    /// Along every boundary page's path: the entry is not bad, a folded
    /// `pXd_offset` returns its argument, a real one a table of its level.
    Folding,
    /// `pXd_offset(parent(next), next) == pXdp + 1` within one table.
    Stepping,
    /// `pXd_addr_end` and `pXd_addr_end_folded` ([`check_addr_end`]).
    AddrEnd,
    /// Unmapping every page leaves only the top table.
    UnmapLeavesTheTop,
}

impl Check {
    /// Every check, in the order the suite makes them.
    pub const ALL: [Check; 7] = [
        Check::MkPte,
        Check::PteMkPairs,
        Check::EmptyIsNone,
        Check::Folding,
        Check::Stepping,
        Check::AddrEnd,
        Check::UnmapLeavesTheTop,
    ];
    /// Its name in reports.
    pub const fn name(self) -> &'static str {
        match self {
            Check::MkPte => "mk_pte round trip",
            Check::PteMkPairs => "pte_mk* pairs and the hardware bits",
            Check::EmptyIsNone => "empty entries are none",
            Check::Folding => "folded pXd_offset returns its argument, a real one a table of its level",
            Check::Stepping => "pXd_offset(parent(next), next) == pXdp + 1 within one table",
            Check::AddrEnd => "pXd_addr_end and pXd_addr_end_folded",
            Check::UnmapLeavesTheTop => "unmapping everything leaves only the top table",
        }
    }
}

/// How often each [`Check`] held in one run of the suite.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Report {
    held: [u32; Check::ALL.len()],
}

impl Report {
    /// How often `check` held.
    pub fn held(&self, check: Check) -> u32 {
        self.held[check as usize]
    }
    fn add(&mut self, check: Check) {
        self.held[check as usize] += 1;
    }
}

/// A broken invariant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InvariantError {
    /// Which check.
    pub what: &'static str,
    /// ASCE type of the space.
    pub ty: AsceType,
    /// Level.
    pub level: Level,
    /// Address.
    pub addr: VirtAddr,
}

impl fmt::Display for InvariantError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} ({} space, {} level, address {:#x})",
            self.what,
            self.ty.name(),
            self.level.name(),
            self.addr
        )
    }
}

/// Pages either side of every level boundary ([`LEVEL_BOUNDARIES`]) that a space
/// of `ty` can hold.
pub fn boundary_pages(ty: AsceType) -> impl Iterator<Item = u64> {
    LEVEL_BOUNDARIES
        .into_iter()
        .flat_map(|b| [b.wrapping_sub(PAGE_SIZE), b])
        .filter(move |&a| a != 0 && a <= ty.last_addr())
}

fn fail(what: &'static str, ty: AsceType, level: Level, addr: VirtAddr) -> InvariantError {
    InvariantError { what, ty, level, addr }
}

/// Check `pXd_addr_end` properties for one (addr, end).
pub fn check_addr_end(addr: VirtAddr, end: VirtAddr) -> Result<(), &'static str> {
    for l in [Level::Pgd, Level::P4d, Level::Pud, Level::Pmd] {
        let e = addr_end(l, addr, end);
        let in_range = e.wrapping_sub(1) >= addr && e.wrapping_sub(1) <= end.wrapping_sub(1);
        if !in_range {
            return Err("pXd_addr_end outside (addr, end]");
        }
        if e != end && !e.is_multiple_of(l.size()) {
            return Err("pXd_addr_end is neither end nor a level boundary");
        }
        if addr.checked_add(PAGE_SIZE).is_some_and(|a2| a2 < e) && addr_end(l, addr + PAGE_SIZE, end) != e {
            return Err("pXd_addr_end not constant inside one entry");
        }
        let tt = if l == Level::Pmd { 0 } else { l.type_bits() };
        if l != Level::Pmd && rste_addr_end_folded(tt, addr, end) != e {
            return Err("pXd_addr_end_folded differs from the static step of the entry's own level");
        }
    }
    Ok(())
}

/// Run the suite; returns how often each check held, or the first that broke.
pub fn run<P: Platform>(plat: &P, frames: &Mutex<FrameAllocator>, frame: PhysAddr) -> Result<Report, InvariantError> {
    let mut report = Report::default();
    // Entry helpers.
    for w in [false, true] {
        let p = mk_pte(frame, w);
        if p.write() != w || p.frame() != frame || !p.present() || p.none() || p.bad() {
            return Err(fail("mk_pte round trip", AsceType::Segment, Level::Pte, frame.0));
        }
        report.add(Check::MkPte);
    }
    // pte_basic_tests, and the hardware bits each state implies.
    for w in [false, true] {
        let p = mk_pte(frame, w);
        let ok = p.mkold().mkyoung().young()
            && !p.mkyoung().mkold().young()
            && p.mkclean().mkdirty().dirty()
            && !p.mkdirty().mkclean().dirty()
            && p.wrprotect().mkwrite().write()
            && !p.mkwrite().wrprotect().write()
            && !p.mkold().hw_valid()
            && p.mkold().mkyoung().hw_valid()
            && p.mkclean().val() & PteBits::P.bits() != 0
            && (p.mkdirty().val() & PteBits::P.bits() == 0) == w
            && p.mkold().mkclean().frame() == frame
            && p.mkold().present()
            && !p.mkold().protnone();
        if !ok {
            return Err(fail(
                "pte_mk* pairs and the hardware bits",
                AsceType::Segment,
                Level::Pte,
                p.val(),
            ));
        }
        report.add(Check::PteMkPairs);
    }
    if !Pte(empty_entry(Level::Pte)).none() || Pte(empty_entry(Level::Pte)).present() {
        return Err(fail("empty PTE must be none", AsceType::Segment, Level::Pte, 0));
    }
    if !pmd_none(Pmd(empty_entry(Level::Pmd)))
        || !pud_none(Pud(empty_entry(Level::Pud)))
        || !p4d_none(P4d(empty_entry(Level::P4d)))
        || !pgd_none(Pgd(empty_entry(Level::Pgd)))
    {
        return Err(fail(
            "empty CRST entries must be none",
            AsceType::Segment,
            Level::Pmd,
            0,
        ));
    }
    report.add(Check::EmptyIsNone);
    for ty in AsceType::ALL {
        let mut s = AddressSpace::new(plat, frames, ty).map_err(|_| fail("cannot create space", ty, ty.top(), 0))?;
        for va in boundary_pages(ty) {
            s.map(va, frame, 1, Prot::RW)
                .map_err(|_| fail("cannot map", ty, Level::Pte, va))?;
        }
        let asce = s.asce();
        for va in boundary_pages(ty) {
            let mut parent = pgd_offset(asce, va);
            for l in [Level::P4d, Level::Pud, Level::Pmd, Level::Pte] {
                let v = read_entry(plat, parent).map_err(|_| fail("read", ty, l, va))?;
                check_entry(plat, parent, v).map_err(|_| fail("populated entry is bad", ty, l, va))?;
                let ptr = walk_to(plat, asce, va, l).map_err(|_| fail("walk", ty, l, va))?;
                let folded = l <= ty.top();
                if folded != (ptr.addr == parent.addr) {
                    return Err(fail(
                        "folded pXd_offset must return its argument, a real one a new table",
                        ty,
                        l,
                        va,
                    ));
                }
                if !folded && ptr.level() != l {
                    return Err(fail("real pXd_offset must point into a table of its level", ty, l, va));
                }
                report.add(Check::Folding);
                parent = ptr;
            }
            // Stepping invariant at every real level and at the top table.
            for l in [Level::Pgd, Level::P4d, Level::Pud, Level::Pmd] {
                if l < ty.top() {
                    continue;
                }
                let next = addr_end(l, va, 0);
                if next == 0 || next > ty.last_addr() {
                    continue;
                }
                let here = walk_to(plat, asce, va, l).map_err(|_| fail("walk", ty, l, va))?;
                if let Ok(there) = walk_to(plat, asce, next, l) {
                    if there.base == here.base && there.addr != here.add(1).addr {
                        return Err(fail(
                            "pXd_offset(parent(next), next) != pXdp + 1 within one table",
                            ty,
                            l,
                            va,
                        ));
                    }
                    report.add(Check::Stepping);
                }
            }
            for end in [
                va.wrapping_add(PAGE_SIZE),
                va.wrapping_add(3 << 20),
                va.wrapping_add(5 << 31),
                0,
            ] {
                if end == 0 || end > va {
                    check_addr_end(va, end).map_err(|w| fail(w, ty, Level::Pmd, va))?;
                    report.add(Check::AddrEnd);
                }
            }
        }
        for va in boundary_pages(ty) {
            s.unmap(va, 1).map_err(|_| fail("cannot unmap", ty, Level::Pte, va))?;
        }
        if s.table_bytes() != super::level::CRST_BYTES {
            return Err(fail(
                "unmapping everything must leave only the top table",
                ty,
                ty.top(),
                0,
            ));
        }
        report.add(Check::UnmapLeavesTheTop);
    }
    Ok(report)
}
