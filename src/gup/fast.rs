//! The lockless walk `gup_fast` (Linux `mm/gup.c`: `gup_pgd_range` →
//! `gup_p4d_range` → `gup_pud_range` → `gup_pmd_range` → `gup_pte_range`).
//!
//! The walk runs with interrupts disabled, reads every entry once into a local
//! copy, and passes copies down. What it does with the copy at the next level is
//! the whole story of the 2020 bug, so it is a [`Variant`]:
//!
//! * [`Variant::PreFix`] (v5.2..v5.8): `pud_offset(&p4d_copy, addr)`. On a folded
//!   level that returns the address of the copy, the loop steps by the *static*
//!   `pud_addr_end`, and `pudp++` reads the word after the copy.
//! * [`Variant::AddrEndFolded`] (RFC v2): same pointers, but the step comes from
//!   `pXd_addr_end_folded(entry, addr, end)`, so a folded loop runs exactly once.
//!   A large entry on a folded level is still re-checked through the copy, so a
//!   change after the read goes unseen (docs/fixes.md, "Beyond the seed").
//! * [`Variant::OffsetLockless`] (merged, v5.9): `pud_offset_lockless(p4dp, p4d,
//!   addr)` decides folding from the copy but, when folded, returns the *real*
//!   table pointer, so `pudp++` walks the real table.
//! * [`Variant::NextEntry`] (Jason Gunthorpe's idea in the thread): replace `pudp++`
//!   with `pud_next_entry(p4dp, pudp, next)` = `pud_offset(p4dp, next)`. With
//!   `p4dp` the address of the copy, a folded level hands back the *same* copy: the
//!   walk re-reads the previous top entry and pins pages of the wrong region.
//!
//! Copies live in a [`WalkStack`]: a frame of guard words with one slot per level,
//! so stepping off a copy is detected (and the guard word shown) instead of
//! reading somebody else's stack.
//!
//! Two builds share the `pgtable` functions and the PTE loop ([`super::pte`]):
//! the instrumented walker here (`Walker`: every variant, the trace and
//! invariant hooks, pointers that carry their object's bounds), and for the two
//! fixes without hooks the plain walk (`fast/plain.rs`), which takes the common case
//! and hands anything else to the walker.
use super::page::{Page, PageMap, PG_REFERENCED};
use super::pte::{pinnable_pfn, pte_defect, pte_range_for, unpin_taken};
use crate::mm::entry::{Asce, Leaf, P4d, Pgd, Pmd, Pud};
use crate::mm::pgtable::*;
use crate::mm::{Level, PhysAddr, Platform, VirtAddr, PAGE_SHIFT, PAGE_SIZE};
use bitflags::bitflags;
use core::fmt;

mod plain;

bitflags! {
    /// `FOLL_*` flags.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub struct GupFlags: u32 {
        /// `FOLL_WRITE`: the caller will write; read-only PTEs stop the fast walk.
        const WRITE = 0x01;
        /// `FOLL_GET`: take a reference (+1), released with `put_page`.
        const GET = 0x04;
        /// `FOLL_LONGTERM`: a FOLL_PIN held indefinitely (RDMA, VFIO): pages
        /// of a CMA range are refused ([`PageMap::set_cma`]).
        const LONGTERM = 0x10000;
        /// `FOLL_POPULATE`, slow path only: map zeroed frames where nothing is
        /// mapped (a fault).
        const POPULATE = 0x40;
        /// `FOLL_PIN`: take a pin (+`GUP_PIN_COUNTING_BIAS`), released with
        /// `unpin_user_page`.
        const PIN = 0x40000;
        /// `FOLL_FAST_ONLY`: the lockless walk only, never the slow path.
        const FAST_ONLY = 0x80000;
    }
}

impl GupFlags {
    /// The references one page that is not compound takes: 1 for FOLL_GET,
    /// the pin bias for FOLL_PIN, `None` unless exactly one of the two is set (Linux warns and
    /// takes nothing then).
    pub const fn refs(self) -> Option<u32> {
        match (self.names_one_kind(), self.contains(GupFlags::PIN)) {
            (false, _) => None,
            (true, false) => Some(1),
            (true, true) => Some(super::page::GUP_PIN_COUNTING_BIAS),
        }
    }
    /// Whether exactly one of FOLL_GET and FOLL_PIN is set: the two bits
    /// compared in place (a shift and an exclusive or).
    pub const fn names_one_kind(self) -> bool {
        const GAP: u32 = GupFlags::PIN.bits().trailing_zeros() - GupFlags::GET.bits().trailing_zeros();
        (self.bits() ^ self.bits() >> GAP) & GupFlags::GET.bits() != 0
    }
    /// These flags with FOLL_GET added unless they name the reference kind
    /// (the default of the test and demo helpers, which release what they take).
    pub const fn or_get(self) -> GupFlags {
        match self.refs() {
            Some(_) => self,
            None => self.union(GupFlags::GET),
        }
    }
}

/// Which gup_fast the walk is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Variant {
    /// Linux v5.2..v5.8: `pXd_offset(&copy)` with static `pXd_addr_end` (the bug),
    /// each copy between guard words: a step off a copy is caught.
    PreFix,
    /// The same walk over copies laid out as Linux's frames had them
    /// ([`WalkStack::linux_copy`]): a step off the p4d copy reads the pgd copy,
    /// the stale top entry, and pins pages one top entry lower, silently, as
    /// v5.2..v5.8 did.
    PreFixLinuxFrame,
    /// RFC v2: `pXd_addr_end_folded(entry, addr, end)`.
    AddrEndFolded,
    /// Linux v5.9: `pXd_offset_lockless(pointer, value, addr)`.
    OffsetLockless,
    /// The thread's `pXd_next_entry(parentp, pXdp, next)` instead of `pXdp++`.
    NextEntry,
}

impl Variant {
    /// All variants, in the order the demo shows them.
    pub const ALL: [Variant; 5] = [
        Variant::PreFix,
        Variant::PreFixLinuxFrame,
        Variant::AddrEndFolded,
        Variant::OffsetLockless,
        Variant::NextEntry,
    ];
    /// The variants that are correct fixes.
    pub const FIXED: [Variant; 2] = [Variant::AddrEndFolded, Variant::OffsetLockless];
    /// Short name.
    pub const fn name(self) -> &'static str {
        match self {
            Variant::PreFix => "pre-fix",
            Variant::PreFixLinuxFrame => "pre-fix, Linux's frame",
            Variant::AddrEndFolded => "addr_end_folded",
            Variant::OffsetLockless => "offset_lockless",
            Variant::NextEntry => "next_entry",
        }
    }
    /// Parse a short name.
    pub fn from_name(s: &str) -> Option<Variant> {
        Variant::ALL.into_iter().find(|v| v.name() == s)
    }
}

/// The condition under which the pre-fix walk steps off its stack copy: some
/// level is folded (fewer than 5 levels) and the range crosses a boundary of what
/// one entry of the top table maps (the static step of the last folded level).
/// `end` is exclusive (0 = 2^64). For a range that is not fully mapped, pass the
/// end of the part the walk actually reaches.
pub fn prefix_walks_off(ty: crate::mm::AsceType, start: VirtAddr, end: VirtAddr) -> bool {
    let size = ty.top().size();
    ty.levels() < 5 && start / size != end.wrapping_sub(1) / size
}

/// Guard word pattern ("STACK" + slot) around the copies.
pub const GUARD: u64 = 0x5354_4143_4b00_0000;

/// The frame holding a walker's per-level entry copies. Each copy lies between
/// guard words, so a pointer stepped off a copy is caught and names the word it
/// would have read; [`Variant::PreFixLinuxFrame`] uses the same frame laid out
/// as Linux's frames were ([`WalkStack::linux_copy`]).
#[derive(Clone, Copy, Debug)]
pub struct WalkStack {
    /// Base of the frame (4 KiB, the walker's own).
    pub(crate) base: PhysAddr,
}

/// Offset in the frame of the Linux-layout copies: pud, p4d, pgd, one word apart.
const LINUX_COPIES: u64 = 1024;

impl WalkStack {
    /// Prepare a stack frame at `base` (one 4 KiB frame owned by the caller).
    pub fn new<P: Platform + ?Sized>(p: &P, base: PhysAddr) -> WalkStack {
        for i in 0..(PAGE_SIZE / 8) {
            p.write_u64(base.add(i * 8), GUARD | i);
        }
        WalkStack { base }
    }
    /// The frame's first byte.
    pub fn base(&self) -> PhysAddr {
        self.base
    }
    /// Slot of the copy passed down from a `level` loop (pgd..pmd).
    pub fn slot(&self, level: Level) -> PhysAddr {
        self.base.add(16 + 32 * level as u64)
    }
    /// The copy of an entry of a `table` table passed down from a `level` loop,
    /// laid out as the compiled v5.2..v5.8 walk had it: the pud, p4d and pgd
    /// copies one word apart, guard words after them, so the word after a copy
    /// is the copy of the level above. (Before v5.9 the word after the p4d copy
    /// "in general happens to be the previously read pgd": RFC, 28 Aug 2020.)
    pub fn linux_copy(&self, level: Level, table: Level) -> EntryPtr {
        let frame = self.base.add(LINUX_COPIES);
        match level {
            Level::Pud => EntryPtr::frame_copy(table, frame, frame),
            Level::P4d => EntryPtr::frame_copy(table, frame, frame.add(8)),
            Level::Pgd => EntryPtr::frame_copy(table, frame, frame.add(16)),
            _ => EntryPtr::stack_copy(table, self.slot(level)),
        }
    }
}

/// One step of the walk, for traces.
#[derive(Clone, Copy, Debug)]
pub struct Step {
    /// Loop level (pgd..pte).
    pub level: Level,
    /// Address the entry is for.
    pub addr: VirtAddr,
    /// `pXd_addr_end` the loop computed (next address).
    pub next: VirtAddr,
    /// The pointer dereferenced.
    pub ptr: EntryPtr,
    /// The value read.
    pub val: u64,
}

impl Step {
    /// What was read: "pte", or the entry of the table its TT bits name (a
    /// folded loop reads an entry of a higher table; a segment entry has none).
    pub fn kind(&self) -> &'static str {
        match self.level {
            Level::Pte => "pte",
            _ if self.ptr.level() == Level::Pmd => "segment entry",
            _ => Level::from_type_bits(self.val).entry_name(),
        }
    }
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:<3} addr {:#015x} next {:#015x} entry {:#018x} ({}) via {}",
            self.level.name(),
            self.addr,
            self.next,
            self.val,
            self.kind(),
            self.ptr
        )
    }
}

/// A broken walk invariant: after `pXdp++` (or next_entry), the pointer is not the
/// entry a fresh walk from the top reaches for the new address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Violation {
    /// Loop level.
    pub level: Level,
    /// The new address.
    pub addr: VirtAddr,
    /// The walker's pointer.
    pub got: EntryPtr,
    /// `pXd_offset` of a fresh walk for `addr`.
    pub expected: EntryPtr,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}p for {:#x} is {} but a walk from the top gives {}",
            self.level.name(),
            self.addr,
            self.got,
            self.expected
        )
    }
}

/// What a gup_fast call did.
#[derive(Clone, Copy, Debug, Default)]
pub struct GupOutcome {
    /// Pages pinned (always a prefix of the range).
    pub pinned: usize,
    /// The walk stopped abnormally (stepped off a copy, corrupt entry).
    pub error: Option<WalkError>,
    /// Invariant violations seen (when checking is on).
    pub violations: u32,
    /// The first violation.
    pub first_violation: Option<Violation>,
}

impl GupOutcome {
    /// `nr` pages pinned, nothing else to say.
    pub const fn pinned(nr: usize) -> GupOutcome {
        GupOutcome {
            pinned: nr,
            error: None,
            violations: 0,
            first_violation: None,
        }
    }
}

/// Options of one gup_fast call, built one way: `GupFast::new(..)`, then
/// optionally `.checked(on)` and `.traced(f)`.
pub struct GupFast<'a, P: Platform + ?Sized> {
    /// Memory and privileged operations.
    plat: &'a P,
    /// The address space (`mm->context.asce`, read once).
    asce: Asce,
    /// Pin counts.
    pagemap: &'a PageMap,
    /// The walker's stack frame for entry copies.
    stack: WalkStack,
    /// Which walk.
    variant: Variant,
    /// Check the walk invariant after every pointer step (default: debug builds).
    check_invariant: bool,
    /// Called for every entry read.
    trace: Option<&'a mut dyn FnMut(&Step)>,
}

impl<'a, P: Platform + ?Sized> GupFast<'a, P> {
    /// A plain call's options: the invariant checked as the build decides (debug
    /// builds: on), no trace.
    pub fn new(plat: &'a P, asce: Asce, pagemap: &'a PageMap, stack: WalkStack, variant: Variant) -> Self {
        GupFast {
            plat,
            asce,
            pagemap,
            stack,
            variant,
            check_invariant: cfg!(debug_assertions),
            trace: None,
        }
    }
    /// Check the walk invariant after every pointer step (`on`) or never.
    pub fn checked(self, on: bool) -> Self {
        GupFast {
            check_invariant: on,
            ..self
        }
    }
    /// Call `trace` for every entry read.
    pub fn traced(self, trace: &'a mut dyn FnMut(&Step)) -> Self {
        GupFast {
            trace: Some(trace),
            ..self
        }
    }
    /// These options for one walk, the trace borrowed from them.
    fn reborrow(&mut self) -> GupFast<'_, P> {
        GupFast {
            trace: self.trace.as_mut().map(|t| &mut **t as &mut dyn FnMut(&Step)),
            ..*self
        }
    }
}

/// `gup_fast(start, nr_pages, flags, pages)`: pin up to `nr_pages` pages from
/// `start` without locks, interrupts disabled. Returns how many it pinned (the
/// pages are in `pages[..pinned]`); it stops at the first page it cannot handle.
/// The options `g` are borrowed (a pointer, as Linux's walk finds `current->mm`),
/// so one set serves any number of calls.
// Never inlined, like the kernel function it is: its cost (and the benchmark's
// figure for it) then does not depend on the code of whoever calls it.
#[inline(never)]
pub fn gup_fast<P: Platform + ?Sized>(
    g: &mut GupFast<'_, P>,
    start: VirtAddr,
    nr_pages: usize,
    flags: GupFlags,
    pages: &mut [Page],
) -> GupOutcome {
    let start = start & !(PAGE_SIZE - 1);
    let nr_pages = nr_pages.min(pages.len());
    // access_ok: the range must be non-empty, not wrap and lie inside the ASCE.
    let last = (nr_pages as u64)
        .checked_mul(PAGE_SIZE)
        .and_then(|len| start.checked_add(len.checked_sub(1)?));
    let Some(last) = last.filter(|&last| last <= g.asce.asce_type().last_addr()) else {
        return GupOutcome::default();
    };
    // Exactly one of FOLL_GET and FOLL_PIN, or nothing is taken.
    if !flags.names_one_kind() {
        return GupOutcome::default();
    }
    // The exclusive end; 0 stands for 2^64, as pXd_addr_end expects.
    let end = last.wrapping_add(1);
    // One copy of the walk per variant and build, so the variant's choices and
    // the trace/invariant hooks cost nothing per step.
    const ADDR_END_FOLDED: u8 = Variant::AddrEndFolded as u8;
    const OFFSET_LOCKLESS: u8 = Variant::OffsetLockless as u8;
    match g.variant {
        _ if g.check_invariant || g.trace.is_some() => walk::<P, true>(g.reborrow(), flags, pages, start, end),
        // Without hooks the fixes take the plain walk, the others the walker.
        Variant::AddrEndFolded => plain::walk::<P, ADDR_END_FOLDED>(g, flags, pages, start, end),
        Variant::OffsetLockless => plain::walk::<P, OFFSET_LOCKLESS>(g, flags, pages, start, end),
        _ => walk::<P, false>(g.reborrow(), flags, pages, start, end),
    }
}

/// The instrumented walker for `g.variant`: out of line, so the plain walks
/// inlined into [`gup_fast`] keep their own registers.
#[inline(never)]
fn walk<P: Platform + ?Sized, const INSTR: bool>(
    g: GupFast<'_, P>,
    flags: GupFlags,
    pages: &mut [Page],
    start: VirtAddr,
    end: VirtAddr,
) -> GupOutcome {
    const PRE_FIX: u8 = Variant::PreFix as u8;
    const PRE_FIX_LINUX_FRAME: u8 = Variant::PreFixLinuxFrame as u8;
    const ADDR_END_FOLDED: u8 = Variant::AddrEndFolded as u8;
    const OFFSET_LOCKLESS: u8 = Variant::OffsetLockless as u8;
    const NEXT_ENTRY: u8 = Variant::NextEntry as u8;
    match g.variant {
        Variant::PreFix => Walker::<P, PRE_FIX, INSTR>::new(g, flags, pages).run(start, end),
        Variant::PreFixLinuxFrame => linux_frame_walk::<P, PRE_FIX_LINUX_FRAME, INSTR>(g, flags, pages, start, end),
        Variant::AddrEndFolded => Walker::<P, ADDR_END_FOLDED, INSTR>::new(g, flags, pages).run(start, end),
        Variant::OffsetLockless => Walker::<P, OFFSET_LOCKLESS, INSTR>::new(g, flags, pages).run(start, end),
        Variant::NextEntry => Walker::<P, NEXT_ENTRY, INSTR>::new(g, flags, pages).run(start, end),
    }
}

/// The walk over Linux's frame layout, out of line and cold: it exists to
/// show the 2020 symptom, and inlined beside the others it would change their
/// code (the benchmark measures the fixes').
#[inline(never)]
#[cold]
fn linux_frame_walk<P: Platform + ?Sized, const V: u8, const INSTR: bool>(
    g: GupFast<'_, P>,
    flags: GupFlags,
    pages: &mut [Page],
    start: VirtAddr,
    end: VirtAddr,
) -> GupOutcome {
    Walker::<P, V, INSTR>::new(g, flags, pages).run(start, end)
}

// `Variant::ALL` lists the variants in declaration order, so `ALL[v as usize] == v`
// and a walker can name its variant from its `u8` parameter.
const _: () = {
    let mut i = 0;
    while i < Variant::ALL.len() {
        assert!(Variant::ALL[i] as usize == i);
        i += 1;
    }
};

/// The state of one gup_fast walk. `V` is the [`Variant`] (as `u8`: const generics
/// take integers) and `INSTR` whether the trace and invariant hooks exist at all;
/// both are compile-time, so there is one source for every variant and the
/// benchmarked walks carry no per-step tests for either.
struct Walker<'a, 'b, P: Platform + ?Sized, const V: u8, const INSTR: bool> {
    p: &'a P,
    asce: Asce,
    pagemap: &'a PageMap,
    stack: WalkStack,
    flags: GupFlags,
    check: bool,
    trace: Option<&'a mut dyn FnMut(&Step)>,
    pages: &'b mut [Page],
    nr: usize,
    violations: u32,
    first_violation: Option<Violation>,
    /// Why the walk stopped abnormally. The range functions return a plain
    /// "go on" bool (like Linux's) and leave the reason here.
    err: Option<WalkError>,
}

impl<'a, 'b, P: Platform + ?Sized, const V: u8, const INSTR: bool> Walker<'a, 'b, P, V, INSTR> {
    const VARIANT: Variant = Variant::ALL[V as usize];

    fn new(g: GupFast<'a, P>, flags: GupFlags, pages: &'b mut [Page]) -> Self {
        Walker {
            p: g.plat,
            asce: g.asce,
            pagemap: g.pagemap,
            stack: g.stack,
            flags,
            check: g.check_invariant,
            trace: g.trace,
            pages,
            nr: 0,
            violations: 0,
            first_violation: None,
            err: None,
        }
    }

    /// `local_irq_save`, the walk, `local_irq_restore`.
    fn run(mut self, start: VirtAddr, end: VirtAddr) -> GupOutcome {
        let p = self.p;
        p.irq_disabled(|| self.gup_pgd_range(start, end));
        GupOutcome {
            pinned: self.nr,
            error: self.err,
            violations: self.violations,
            first_violation: self.first_violation,
        }
    }

    fn step(&mut self, level: Level, addr: VirtAddr, next: VirtAddr, ptr: EntryPtr, val: u64) {
        if !INSTR {
            return;
        }
        if let Some(t) = self.trace.as_mut() {
            t(&Step {
                level,
                addr,
                next,
                ptr,
                val,
            });
        }
    }

    /// Keep the value of `r`, or note its error and return `None`.
    fn ok<T>(&mut self, r: Result<T, WalkError>) -> Option<T> {
        r.map_err(|e| self.err = Some(e)).ok()
    }

    /// READ_ONCE and sanity-check an entry.
    #[inline(always)]
    fn read(&mut self, ptr: EntryPtr) -> Option<u64> {
        let r = read_entry(self.p, ptr).and_then(|v| check_entry(self.p, ptr, v).map(|()| v));
        self.ok(r)
    }

    /// The pointer the next level's `pXd_offset` gets as parent: the address of the
    /// caller's copy (`&pgd`), except for the lockless variant, which passes the
    /// real pointer along with the value.
    fn parent(&self, level: Level, real: EntryPtr, val: u64) -> EntryPtr {
        match Self::VARIANT {
            Variant::OffsetLockless => real,
            Variant::PreFixLinuxFrame => {
                let copy = self.stack.linux_copy(level, real.level());
                self.p.write_u64(copy.addr, val);
                copy
            }
            _ => {
                let slot = self.stack.slot(level);
                self.p.write_u64(slot, val);
                EntryPtr::stack_copy(real.level(), slot)
            }
        }
    }

    /// Jason's invariant, stated against the live tables: after stepping, the
    /// pointer must be what a fresh top-down walk gives for the new address.
    fn check_step(&mut self, level: Level, got: EntryPtr, addr: VirtAddr) {
        if !INSTR || !self.check {
            return;
        }
        if let Ok(expected) = walk_to(self.p, self.asce, addr, level) {
            if expected.addr != got.addr {
                self.violations += 1;
                if self.first_violation.is_none() {
                    self.first_violation = Some(Violation {
                        level,
                        addr,
                        got,
                        expected,
                    });
                }
            }
        }
    }

    /// `gup_pgd_range`. Like every range function: returns whether the walk goes on.
    fn gup_pgd_range(&mut self, mut addr: VirtAddr, end: VirtAddr) -> bool {
        let mut pgdp = pgd_offset(self.asce, addr);
        loop {
            let Some(pgd) = self.read(pgdp).map(Pgd) else {
                return false;
            };
            let next = match Self::VARIANT {
                Variant::AddrEndFolded => pgd_addr_end_folded(pgd, addr, end),
                _ => pgd_addr_end(addr, end),
            };
            self.step(Level::Pgd, addr, next, pgdp, pgd.0);
            if pgd_none(pgd) || !self.gup_p4d_range(pgdp, pgd, addr, next) {
                return false;
            }
            addr = next;
            if addr == end {
                return true;
            }
            pgdp = pgdp.add(1);
            self.check_step(Level::Pgd, pgdp, addr);
        }
    }

    fn gup_p4d_range(&mut self, pgdp: EntryPtr, pgd: Pgd, mut addr: VirtAddr, end: VirtAddr) -> bool {
        let parent = self.parent(Level::Pgd, pgdp, pgd.0);
        let first = match Self::VARIANT {
            Variant::OffsetLockless => Ok(p4d_offset_lockless(pgdp, pgd, addr)),
            _ => p4d_offset(self.p, parent, addr),
        };
        let Some(mut p4dp) = self.ok(first) else {
            return false;
        };
        loop {
            let Some(p4d) = self.read(p4dp).map(P4d) else {
                return false;
            };
            let next = match Self::VARIANT {
                Variant::AddrEndFolded => p4d_addr_end_folded(p4d, addr, end),
                _ => p4d_addr_end(addr, end),
            };
            self.step(Level::P4d, addr, next, p4dp, p4d.0);
            if p4d_none(p4d) || !self.gup_pud_range(p4dp, p4d, addr, next) {
                return false;
            }
            addr = next;
            if addr == end {
                return true;
            }
            p4dp = match Self::VARIANT {
                Variant::NextEntry => match self.ok(p4d_offset(self.p, parent, addr)) {
                    Some(p) => p,
                    None => return false,
                },
                _ => p4dp.add(1),
            };
            self.check_step(Level::P4d, p4dp, addr);
        }
    }

    fn gup_pud_range(&mut self, p4dp: EntryPtr, p4d: P4d, mut addr: VirtAddr, end: VirtAddr) -> bool {
        let parent = self.parent(Level::P4d, p4dp, p4d.0);
        let first = match Self::VARIANT {
            Variant::OffsetLockless => Ok(pud_offset_lockless(p4dp, p4d, addr)),
            _ => pud_offset(self.p, parent, addr),
        };
        let Some(mut pudp) = self.ok(first) else {
            return false;
        };
        loop {
            let Some(pud) = self.read(pudp).map(Pud) else {
                return false;
            };
            let next = match Self::VARIANT {
                Variant::AddrEndFolded => pud_addr_end_folded(pud, addr, end),
                _ => pud_addr_end(addr, end),
            };
            self.step(Level::Pud, addr, next, pudp, pud.0);
            if pud_none(pud) {
                return false;
            }
            let went_on = if pud_large(pud) {
                self.gup_huge(pudp, pud.0, Level::Pud, addr, next)
            } else {
                self.gup_pmd_range(pudp, pud, addr, next)
            };
            if !went_on {
                return false;
            }
            addr = next;
            if addr == end {
                return true;
            }
            pudp = match Self::VARIANT {
                Variant::NextEntry => match self.ok(pud_offset(self.p, parent, addr)) {
                    Some(p) => p,
                    None => return false,
                },
                _ => pudp.add(1),
            };
            self.check_step(Level::Pud, pudp, addr);
        }
    }

    fn gup_pmd_range(&mut self, pudp: EntryPtr, pud: Pud, mut addr: VirtAddr, end: VirtAddr) -> bool {
        let parent = self.parent(Level::Pud, pudp, pud.0);
        let first = match Self::VARIANT {
            Variant::OffsetLockless => Ok(pmd_offset_lockless(pudp, pud, addr)),
            _ => pmd_offset(self.p, parent, addr),
        };
        let Some(mut pmdp) = self.ok(first) else {
            return false;
        };
        loop {
            let Some(pmd) = self.read(pmdp).map(Pmd) else {
                return false;
            };
            // A segment entry maps 1 MiB whether or not this level is folded, so
            // pmd_addr_end_folded would equal the static step here.
            let next = pmd_addr_end(addr, end);
            self.step(Level::Pmd, addr, next, pmdp, pmd.0);
            if !pmd_present(pmd) {
                return false;
            }
            let went_on = if pmd_large(pmd) {
                self.gup_huge(pmdp, pmd.0, Level::Pmd, addr, next)
            } else {
                self.gup_pte_range(pmd, addr, next)
            };
            if !went_on {
                return false;
            }
            addr = next;
            if addr == end {
                return true;
            }
            pmdp = match Self::VARIANT {
                Variant::NextEntry => match self.ok(pmd_offset(self.p, parent, addr)) {
                    Some(p) => p,
                    None => return false,
                },
                _ => pmdp.add(1),
            };
            self.check_step(Level::Pmd, pmdp, addr);
        }
    }

    fn gup_pte_range(&mut self, pmd: Pmd, addr: VirtAddr, end: VirtAddr) -> bool {
        let ptep = pte_offset(pmd, addr);
        // [addr, end) lies inside one segment (pmd_addr_end), so the loop stays in
        // this page table; check that once instead of on every PTE.
        let n = (end.wrapping_sub(addr) / PAGE_SIZE) as usize;
        if Level::Pte.index(addr) + n > Level::Pte.entries() {
            self.err = Some(WalkError::OffObject {
                ptr: ptep.add(n as i64 - 1),
                word: None,
            });
            return false;
        }
        if INSTR && self.trace.is_some() {
            let write = self.flags.contains(GupFlags::WRITE);
            let frames = self.pagemap.pages().len() as u64;
            for i in 0..n {
                let a = addr.wrapping_add(i as u64 * PAGE_SIZE);
                let pte = self.p.read_u64(ptep.addr.add(i as u64 * 8));
                self.step(Level::Pte, a, a.wrapping_add(PAGE_SIZE), ptep.add(i as i64), pte);
                if pinnable_pfn(pte, write) >= frames {
                    break;
                }
            }
        }
        let out = &mut self.pages[self.nr..self.nr + n];
        let (done, stop) = pte_range_for(self.flags)(self.p, self.pagemap, ptep.addr, out);
        self.nr += done;
        if done == n {
            return true;
        }
        if let Some(e) = pte_defect(ptep.addr.add(done as u64 * 8), stop) {
            self.err = Some(e);
        }
        false
    }

    /// `gup_huge_pmd` / `gup_huge_pud`: `record_subpages`, then one grab of
    /// that many references on the large frame's compound head, then the
    /// re-check. A large entry over frames that are not one compound page of
    /// its size (the tests alias RAM that way; Linux never maps such a frame)
    /// is grabbed page by page instead.
    fn gup_huge(&mut self, ptr: EntryPtr, val: u64, level: Level, addr: VirtAddr, end: VirtAddr) -> bool {
        let leaf = Leaf::large(level, val);
        if self.flags.contains(GupFlags::WRITE) && !leaf.write {
            return false;
        }
        let (map, flags, first) = (self.pagemap, self.flags, self.nr);
        let head = Page::of(leaf.frame);
        let order = (level.size() >> PAGE_SHIFT).trailing_zeros();
        let refs = (end.wrapping_sub(addr) / PAGE_SIZE) as usize;
        let mut all = true;
        if map.is_compound_head(head, order) {
            // record_subpages: the subpages go into pages[]; the references
            // all go on the head.
            let sub = Page::of(leaf.translate(addr)).pfn();
            for (i, slot) in self.pages[first..first + refs].iter_mut().enumerate() {
                *slot = Page(sub + i as u64);
            }
            if map.try_grab_compound_head(head, refs as u32, flags).is_none() {
                return false;
            }
            self.nr += refs;
        } else {
            // Subpages past the end of the page map (no struct page) stop the
            // walk; the pins taken before them are kept only if the re-check
            // passes.
            let mut a = addr;
            while a != end {
                let Some(page) = map.try_grab_page(leaf.translate(a), flags) else {
                    all = false;
                    break;
                };
                self.pages[self.nr] = page;
                self.nr += 1;
                a = a.wrapping_add(PAGE_SIZE);
            }
        }
        // Re-check the entry through `ptr`, as gup_huge_pmd does after taking the
        // pins. Where `ptr` is a stack copy (a folded level under the pre-fix and
        // addr_end_folded walks, as in Linux before v5.9) this compares the copy
        // with itself and cannot see a concurrent change.
        match self.ok(read_entry(self.p, ptr)) {
            Some(now) if now == val => {
                map.set_page_flags(head, PG_REFERENCED); // SetPageReferenced(head)
                all
            }
            _ => {
                unpin_taken(map, &self.pages[first..self.nr], flags);
                self.nr = first;
                false
            }
        }
    }
}
