//! What explains a walk, as a type parameter of the one walk in
//! [`super::fast`]: the trace of every entry read, the per-step invariant,
//! refusing to read off a stack copy. [`NoHooks`] has none of it, and since
//! every method is an empty inline default the build without hooks carries no
//! trace of them (the benchmark measures that build beside one with an
//! empty hooks type of its own, and the figures must be equal).
use super::policy::Named;
use crate::mm::pgtable::{check_bounds, walk_to};
use crate::mm::{Asce, EntryPtr, Level, Platform, VirtAddr, WalkError, PAGE_SIZE};
use core::fmt;

/// The walk's explanations. Every method defaults to nothing.
pub trait Hooks {
    /// Before `READ_ONCE(*ptr)`: whether the walk may read there. Without
    /// hooks it reads, as Linux does: a guard word off a copy then fails the
    /// entry check, which names it the same way
    /// ([`crate::mm::pgtable::check_entry`]); the word after a copy of Linux's
    /// frame is the next copy, which passes, as it did in Linux.
    #[inline(always)]
    fn may_read<P: Platform + ?Sized>(&mut self, _p: &P, _ptr: EntryPtr) -> Result<(), WalkError> {
        Ok(())
    }
    /// An entry of a pgd..pmd loop was read.
    #[inline(always)]
    fn step(&mut self, _step: &Step) {}
    /// The PTE loop is about to take `n` PTEs from `ptep` for `addr`
    /// (`frames`: the page map's length; `write`: FOLL_WRITE).
    #[inline(always)]
    fn ptes<P: Platform + ?Sized>(
        &mut self,
        _p: &P,
        _ptep: EntryPtr,
        _addr: VirtAddr,
        _n: usize,
        _write: bool,
        _frames: u64,
    ) {
    }
    /// After `pXdp++` (or the next-entry step) in the `level` loop: `ptr` is
    /// the pointer for `addr` in `asce`.
    #[inline(always)]
    fn stepped<P: Platform + ?Sized>(&mut self, _p: &P, _asce: Asce, _level: Level, _ptr: EntryPtr, _addr: VirtAddr) {}
    /// The invariant violations seen since the last call, and the first of
    /// them; the count starts again from 0.
    #[inline(always)]
    fn take_violations(&mut self) -> (u32, Option<Violation>) {
        (0, None)
    }
}

/// Hooks borrowed, so a caller's hooks outlive the call (the entry points
/// borrow the context's).
impl<H: Hooks> Hooks for &mut H {
    #[inline(always)]
    fn may_read<P: Platform + ?Sized>(&mut self, p: &P, ptr: EntryPtr) -> Result<(), WalkError> {
        (**self).may_read(p, ptr)
    }
    #[inline(always)]
    fn step(&mut self, step: &Step) {
        (**self).step(step)
    }
    #[inline(always)]
    fn ptes<P: Platform + ?Sized>(
        &mut self,
        p: &P,
        ptep: EntryPtr,
        addr: VirtAddr,
        n: usize,
        write: bool,
        frames: u64,
    ) {
        (**self).ptes(p, ptep, addr, n, write, frames)
    }
    #[inline(always)]
    fn stepped<P: Platform + ?Sized>(&mut self, p: &P, asce: Asce, level: Level, ptr: EntryPtr, addr: VirtAddr) {
        (**self).stepped(p, asce, level, ptr, addr)
    }
    #[inline(always)]
    fn take_violations(&mut self) -> (u32, Option<Violation>) {
        (**self).take_violations()
    }
}

/// No explanations: how `get_user_pages_fast` and the benchmark walk.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoHooks;

impl Hooks for NoHooks {}

/// The explaining walk: reads refused off their object, an optional trace,
/// and the walk invariant checked after every pointer step.
pub struct Explain<'a> {
    /// Called for every entry read.
    trace: Option<&'a mut dyn FnMut(&Step)>,
    /// Check the invariant.
    check: bool,
    violations: u32,
    first_violation: Option<Violation>,
}

impl<'a> Explain<'a> {
    /// Bounds and the invariant checked, no trace.
    pub fn new() -> Self {
        Explain {
            trace: None,
            check: true,
            violations: 0,
            first_violation: None,
        }
    }
    /// Check the walk invariant after every pointer step (`on`) or never.
    pub fn checked(self, on: bool) -> Self {
        Explain { check: on, ..self }
    }
    /// Call `trace` for every entry read.
    pub fn traced(self, trace: &'a mut dyn FnMut(&Step)) -> Self {
        Explain {
            trace: Some(trace),
            ..self
        }
    }
}

impl Default for Explain<'_> {
    fn default() -> Self {
        Explain::new()
    }
}

impl Hooks for Explain<'_> {
    fn may_read<P: Platform + ?Sized>(&mut self, p: &P, ptr: EntryPtr) -> Result<(), WalkError> {
        check_bounds(p, ptr)
    }
    fn step(&mut self, step: &Step) {
        if let Some(t) = self.trace.as_mut() {
            t(step);
        }
    }
    fn ptes<P: Platform + ?Sized>(
        &mut self,
        p: &P,
        ptep: EntryPtr,
        addr: VirtAddr,
        n: usize,
        write: bool,
        frames: u64,
    ) {
        let Some(t) = self.trace.as_mut() else {
            return;
        };
        // The PTEs the loop will read, up to the first it stops at.
        for i in 0..n {
            let a = addr.wrapping_add(i as u64 * PAGE_SIZE);
            let ptr = ptep.add(i as i64);
            // SAFETY: a PTE of the page table the walk reached through a
            // checked segment entry, inside that table (the loop's range).
            let val = unsafe { p.read_u64(ptr.addr()) };
            t(&Step {
                level: Level::Pte,
                addr: a,
                next: a.wrapping_add(PAGE_SIZE),
                ptr,
                val,
            });
            if super::pte::pinnable_pfn(val, write) >= frames {
                break;
            }
        }
    }
    /// Jason's invariant, stated against the live tables: after stepping, the
    /// pointer must be what a fresh top-down walk gives for the new address.
    fn stepped<P: Platform + ?Sized>(&mut self, p: &P, asce: Asce, level: Level, got: EntryPtr, addr: VirtAddr) {
        if !self.check {
            return;
        }
        if let Ok(expected) = walk_to(p, asce, addr, level) {
            if expected.addr() != got.addr() {
                walk_strayed(level as u64, addr, got.addr().as_u64(), expected.addr().as_u64());
                self.violations += 1;
                self.first_violation.get_or_insert(Violation {
                    level,
                    addr,
                    got,
                    expected,
                });
            }
        }
    }
    fn take_violations(&mut self) -> (u32, Option<Violation>) {
        let v = (self.violations, self.first_violation.take());
        self.violations = 0;
        v
    }
}

/// Where the explaining walk finds the pointer it stepped to is not the one a
/// walk from the top gives: called, never inlined, just before the walk reads
/// through it, so `break foldkern::gup::hooks::walk_strayed` stops a debugger
/// at the stray read (docs/debugging.md). Its arguments are in %r2..%r5 on
/// s390x: the loop's level (0 pgd .. 4 pte), the address, the pointer stepped
/// to and the pointer a walk from the top gives. Only [`Explain`] calls it:
/// the walk without hooks has no such call.
#[inline(never)]
pub fn walk_strayed(level: u64, addr: VirtAddr, stepped_to: u64, from_the_top: u64) {
    core::hint::black_box((level, addr, stepped_to, from_the_top));
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
    /// An entry with its invalid bit set says so ("invalid segment entry"):
    /// its type bits still name its table, but it maps nothing.
    pub fn kind(&self) -> &'static str {
        let table = match self.level {
            Level::Pte => Level::Pte,
            _ if self.ptr.level() == Level::Pmd => Level::Pmd,
            _ => Level::from_type_bits(self.val),
        };
        match (table, crate::mm::entry::is_invalid(table, self.val)) {
            (Level::Pte, false) => "pte",
            (Level::Pte, true) => "invalid pte",
            (l, false) => l.entry_name(),
            (Level::Pgd, true) => "invalid region-first entry",
            (Level::P4d, true) => "invalid region-second entry",
            (Level::Pud, true) => "invalid region-third entry",
            (_, true) => "invalid segment entry",
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
            Named(self.ptr)
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
            Named(self.got),
            Named(self.expected)
        )
    }
}
