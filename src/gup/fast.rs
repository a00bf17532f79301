//! The lockless walk `gup_fast`, one source for every variant (Linux
//! `mm/gup.c`: `gup_pgd_range` → `gup_p4d_range` → `gup_pud_range` →
//! `gup_pmd_range` → `gup_pte_range`, `gup_huge_pud`/`gup_huge_pmd`).
//!
//! The walk runs with interrupts disabled, reads every entry once into a local
//! copy and passes the copy down with the pointer it came from. Pointers are
//! bare addresses, as in Linux; only the hooks and an error see one named with
//! the object it points into (`name`). Each level's
//! `pXd_offset` decides folding from the entry's table-type bits, as s390's
//! does: a folded level gets back the pointer it was given. What it is given,
//! how a loop ends and how it steps are the [`Policy`]: the whole story of the
//! 2020 bug (`policy.rs`). What explains the walk (the trace, the invariant,
//! refusing to read off a copy) is the [`Hooks`] type (`hooks.rs`), empty in
//! the build `get_user_pages_fast` and the benchmark run.
//!
//! Reading order: [`gup_fast`], then `Walker::gup_pgd_range` down to
//! `Walker::gup_pte_range`, whose loop is `pte_range` in [`super::pte`].
use super::flags::GupFlags;
use super::hooks::{Explain, Hooks, NoHooks, Step, Violation};
use super::page::{Page, PageMap, PG_REFERENCED};
use super::policy::{
    AddrEndFolded, End, Layout, LinuxFrame, Next, NextEntry, Offset, OffsetLockless, Policy, PreFix, Variant, WalkStack,
};
use super::pte::{pte_defect, pte_range_for, unpin_taken, PteRange};
use crate::mm::entry::{Asce, Leaf, P4d, Pgd, Pmd, Pud};
use crate::mm::pgtable::*;
use crate::mm::platform::IrqFlags;
use crate::mm::{Level, PhysAddr, Platform, VirtAddr, PAGE_SHIFT, PAGE_SIZE};
use core::marker::PhantomData;

/// What a gup_fast call did.
#[derive(Clone, Copy, Debug, Default)]
pub struct GupOutcome {
    /// Pages pinned (always a prefix of the range).
    pub pinned: usize,
    /// The walk stopped abnormally (stepped off a copy, corrupt entry).
    pub error: Option<WalkError>,
    /// Invariant violations seen (when the hooks check it).
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

/// Options of gup_fast calls: `GupFast::new(..)` walks without hooks;
/// `.checked(on)`, `.traced(f)` or `.hooks(h)` choose what explains it.
pub struct GupFast<'a, P: Platform + ?Sized, H: Hooks = NoHooks> {
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
    /// What explains it.
    hooks: H,
}

impl<'a, P: Platform + ?Sized> GupFast<'a, P> {
    /// A plain call's options: no hooks.
    pub fn new(plat: &'a P, asce: Asce, pagemap: &'a PageMap, stack: WalkStack, variant: Variant) -> Self {
        GupFast {
            plat,
            asce,
            pagemap,
            stack,
            variant,
            hooks: NoHooks,
        }
    }
}

impl<'a, P: Platform + ?Sized, H: Hooks> GupFast<'a, P, H> {
    /// These options with `hooks` explaining the walk.
    pub fn hooks<H2: Hooks>(self, hooks: H2) -> GupFast<'a, P, H2> {
        GupFast {
            plat: self.plat,
            asce: self.asce,
            pagemap: self.pagemap,
            stack: self.stack,
            variant: self.variant,
            hooks,
        }
    }
}

impl<'a, P: Platform + ?Sized> GupFast<'a, P, NoHooks> {
    /// The explaining walk, with the invariant checked (`on`) or not.
    pub fn checked(self, on: bool) -> GupFast<'a, P, Explain<'a>> {
        self.hooks(Explain::new().checked(on))
    }
    /// The explaining walk, invariant checked, calling `trace` for every entry read.
    pub fn traced(self, trace: &'a mut dyn FnMut(&Step)) -> GupFast<'a, P, Explain<'a>> {
        self.hooks(Explain::new().traced(trace))
    }
}

impl<'a, P: Platform + ?Sized> GupFast<'a, P, Explain<'a>> {
    /// Call `trace` for every entry read.
    pub fn traced(self, trace: &'a mut dyn FnMut(&Step)) -> Self {
        let hooks = self.hooks.traced(trace);
        GupFast { hooks, ..self }
    }
}

/// `gup_fast(start, nr_pages, flags, pages)` (v5.9: `internal_get_user_pages_fast`'s
/// lockless part): pin up to `nr_pages` pages from `start` without locks,
/// interrupts disabled. Returns what it did ([`GupOutcome`]): how many it
/// pinned (the pages are in `pages[..pinned]`; it stops at the first page it
/// cannot handle) and why it stopped, if abnormally. The
/// options `g` are borrowed, so one set serves any number of calls.
// Never inlined, like the kernel function it is: its cost (and the benchmark's
// figure for it) then does not depend on the code of whoever calls it.
#[inline(never)]
pub fn gup_fast<P: Platform + ?Sized, H: Hooks>(
    g: &mut GupFast<'_, P, H>,
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
    match g.variant {
        Variant::OffsetLockless => Walker::<P, OffsetLockless, H>::run(g, flags, pages, start, end),
        Variant::AddrEndFolded => Walker::<P, AddrEndFolded, H>::run(g, flags, pages, start, end),
        Variant::PreFix => broken::<P, PreFix, H>(g, flags, pages, start, end),
        Variant::PreFixLinuxFrame => broken::<P, PreFix<LinuxFrame>, H>(g, flags, pages, start, end),
        Variant::NextEntry => broken::<P, NextEntry, H>(g, flags, pages, start, end),
    }
}

/// The walks that are not fixes, out of line and cold: they exist to show
/// what goes wrong, and inlined beside the fixes they would change their code.
#[cold]
#[inline(never)]
fn broken<P: Platform + ?Sized, Pol: Policy, H: Hooks>(
    g: &mut GupFast<'_, P, H>,
    flags: GupFlags,
    pages: &mut [Page],
    start: VirtAddr,
    end: VirtAddr,
) -> GupOutcome {
    Walker::<P, Pol, H>::run(g, flags, pages, start, end)
}

/// The state of one gup_fast walk: Linux's arguments that every range
/// function passes down (`flags`, `pages`, `nr`), what it finds through
/// `current`, and why it stopped. Its pointers are bare addresses, as Linux's
/// `pud_t *`: what a pointer points into is named only for the hooks and for
/// an error ([`Walker::name`]), so the walk without hooks carries none of it.
struct Walker<'g, 'b, P: Platform + ?Sized, Pol: Policy, H: Hooks> {
    p: &'g P,
    asce: Asce,
    pagemap: &'g PageMap,
    stack: WalkStack,
    hooks: &'g mut H,
    flags: GupFlags,
    /// The PTE loop's build for `flags`, chosen once per walk.
    pte_range: PteRange<P>,
    pages: &'b mut [Page],
    nr: usize,
    /// Why the walk stopped abnormally. The range functions return only
    /// whether the walk goes on (Linux's int, as an `Option`) and leave the
    /// reason here.
    err: Option<WalkError>,
    policy: PhantomData<Pol>,
}

/// The `level` loop's pointer `ptr`, named with the object it points into:
/// a copy on the walker's `stack` (the layout says which), or the table of
/// `level`, or the top table for a level folded onto it.
#[inline(always)]
fn name<L: Layout>(stack: WalkStack, asce: Asce, ptr: PhysAddr, level: Level) -> EntryPtr {
    let table = |l: Level| l.max(asce.asce_type().top());
    if ptr.0.wrapping_sub(stack.base().0) < PAGE_SIZE {
        L::name(stack, ptr, table)
    } else {
        EntryPtr::in_table(table(level), ptr)
    }
}

/// [`check_entry_slow`] of the entry `val` the `level` loop read at `ptr`,
/// named there: out of line, so the walk carries no names.
#[cold]
#[inline(never)]
fn check_named<P: Platform + ?Sized, L: Layout>(
    p: &P,
    stack: WalkStack,
    asce: Asce,
    ptr: PhysAddr,
    level: Level,
    val: u64,
) -> Result<(), WalkError> {
    let at = name::<L>(stack, asce, ptr, level);
    check_entry_slow(p, ptr, at.base(), at.object(), val)
}

/// A PTE loop of `n` PTEs from `ptep` would leave its page table.
#[cold]
#[inline(never)]
fn off_page_table(ptep: PhysAddr, n: usize) -> WalkError {
    let ptr = EntryPtr::in_table(Level::Pte, ptep).add(n as i64 - 1);
    WalkError::OffObject { ptr, word: None }
}

/// The walk's error, out of line: see [`Walker::run`].
#[cold]
#[inline(never)]
fn take_error(err: &mut Option<WalkError>) -> Option<WalkError> {
    err.take()
}

/// The parent a pgd loop does not have: no pointer is this address.
const NO_PARENT: (PhysAddr, u64) = (PhysAddr(u64::MAX), 0);

impl<'g, 'b, P: Platform + ?Sized, Pol: Policy, H: Hooks> Walker<'g, 'b, P, Pol, H> {
    /// `local_irq_save`, `gup_pgd_range`, `local_irq_restore`.
    #[inline(always)]
    fn run<'a: 'g>(
        g: &'g mut GupFast<'a, P, H>,
        flags: GupFlags,
        pages: &'b mut [Page],
        start: VirtAddr,
        end: VirtAddr,
    ) -> GupOutcome {
        let mut w = Walker::<P, Pol, H> {
            p: g.plat,
            asce: g.asce,
            pagemap: g.pagemap,
            stack: g.stack,
            hooks: &mut g.hooks,
            flags,
            pte_range: pte_range_for::<P>(flags),
            pages,
            nr: 0,
            err: None,
            policy: PhantomData,
        };
        let mut irq = IrqFlags::default();
        w.p.local_irq_save(&mut irq);
        w.gup_pgd_range(start, end);
        w.p.local_irq_restore(&irq);
        let (violations, first_violation) = w.hooks.take_violations();
        GupOutcome {
            pinned: w.nr,
            // Copied out only when there is one (the copy is the size of
            // the error, and the walk rarely has one).
            error: if w.err.is_some() { take_error(&mut w.err) } else { None },
            violations,
            first_violation,
        }
    }

    /// Keep the value of `r`, or note its error and return `None`.
    #[inline(always)]
    fn ok<T>(&mut self, r: Result<T, WalkError>) -> Option<T> {
        r.map_err(|e| self.err = Some(e)).ok()
    }

    /// The `level` loop's pointer `ptr`, named ([`name`]).
    #[inline(always)]
    fn name(&self, ptr: PhysAddr, level: Level) -> EntryPtr {
        name::<Pol::Layout>(self.stack, self.asce, ptr, level)
    }

    /// `READ_ONCE(*ptr)` of the `level` loop's entry, and the entry check Linux
    /// does not make ([`check_entry`], here its first test inline and the rest
    /// in [`check_entry_slow`]: the walk follows origins it reads from
    /// memory). Its first test, the entry in the common form of its table,
    /// with `level`'s form: a loop that steps reads a table of its own level
    /// (one folded onto the top table runs once, access_ok having kept the
    /// range inside the space). A folded loop's first read re-reads its
    /// parent's slot: the value the parent accepted there passes without a
    /// second test. Anything else takes the whole check.
    #[inline(always)]
    fn read(&mut self, ptr: PhysAddr, level: Level, parent: (PhysAddr, u64)) -> Option<u64> {
        let p = self.p;
        let r = self.hooks.may_read(p, self.name(ptr, level));
        self.ok(r)?;
        // SAFETY: `ptr` comes from pgd_offset of the space's ASCE, from an
        // entry this walk checked (origin below the end of memory), or is the
        // walker's own stack slot, and stepping stays in its table (the
        // hooks may refuse first); reads have no side effect.
        let val = unsafe { p.read_u64(ptr) };
        if (ptr, val) == parent || in_common_form(val, common_form(level), p.mem_end().as_u64()) {
            return Some(val);
        }
        let r = check_named::<P, Pol::Layout>(p, self.stack, self.asce, ptr, level, val);
        self.ok(r).map(|()| val)
    }

    /// `READ_ONCE(*ptr)` of the copy the `level` loop's `pXd_offset` reads
    /// (the loop above's).
    #[inline(always)]
    fn load(&mut self, ptr: PhysAddr, level: Level) -> Option<u64> {
        let r = self
            .hooks
            .may_read(self.p, self.name(ptr, level.above().unwrap_or(level)));
        self.ok(r)?;
        // SAFETY: a copy on the walker's own stack frame.
        Some(unsafe { self.p.read_u64(ptr) })
    }

    /// `pXd_addr_end` of the `level` loop for the entry `val` at `addr`.
    #[inline(always)]
    fn addr_end(level: Level, val: u64, addr: VirtAddr, end: VirtAddr) -> VirtAddr {
        match Pol::END {
            End::Folded => rste_addr_end_folded(val, addr, end),
            End::Static => addr_end(level, addr, end),
        }
    }

    /// `(parent, first)` for the `level` loop below the entry `val` read at
    /// `ptr`: `first` is its first pointer, made from `parent` (which
    /// `pXd_next_entry` offsets again) by `pXd_offset_lockless(ptr, val,
    /// addr)` with the value passed down (`parent` is `ptr`), or by
    /// `pXd_offset(&copy, addr)`, which reads the copy (`parent` is the
    /// walker's slot for the level above, `val` stored there first).
    #[inline(always)]
    fn offset(&mut self, level: Level, ptr: PhysAddr, val: u64, addr: VirtAddr) -> Option<(PhysAddr, PhysAddr)> {
        let (parent, val) = match Pol::OFFSET {
            Offset::Lockless => (ptr, val),
            Offset::Copy => {
                let above = level.above().unwrap_or(level);
                let copy = Pol::Layout::slot(self.stack, above);
                // SAFETY: a slot of the walker's own stack frame (WalkStack's
                // contract: a 4 KiB frame the caller owns).
                unsafe { self.p.write_u64(copy, val) };
                (copy, self.load(copy, level)?)
            }
        };
        Some((parent, offset_lockless(level, parent, val, addr)))
    }

    /// The `level` loop's next pointer after `ptr`, for `addr`: `pXdp++`, or
    /// `pXd_next_entry(parent, pXdp, addr)` = `pXd_offset(parent, addr)`.
    #[inline(always)]
    fn next(&mut self, level: Level, parent: PhysAddr, ptr: PhysAddr, addr: VirtAddr) -> Option<PhysAddr> {
        let next = match Pol::NEXT {
            Next::Increment => ptr.add(8),
            Next::Reoffset => {
                let val = self.load(parent, level)?;
                offset_lockless(level, parent, val, addr)
            }
        };
        self.hooks
            .stepped(self.p, self.asce, level, self.name(next, level), addr);
        Some(next)
    }

    /// Tell the hooks what the `level` loop read.
    #[inline(always)]
    fn step(&mut self, level: Level, addr: VirtAddr, next: VirtAddr, ptr: PhysAddr, val: u64) {
        let ptr = self.name(ptr, level);
        self.hooks.step(&Step {
            level,
            addr,
            next,
            ptr,
            val,
        });
    }

    /// `gup_pgd_range`. The range functions below it return Linux's int as
    /// an `Option`: `None` (Linux's 0) stops the walk, and `?` passes that up.
    /// Linux's `gup_pgd_range` returns nothing; this one returns the same
    /// `Option` so that its stops read as theirs do, and `run` ignores it.
    #[inline(always)]
    fn gup_pgd_range(&mut self, mut addr: VirtAddr, end: VirtAddr) -> Option<()> {
        let mut pgdp = pgd_offset(self.asce, addr);
        // The pgd loop reads the top table, whatever its level.
        let top = self.asce.asce_type().top();
        loop {
            let pgd = Pgd(self.read(pgdp, top, NO_PARENT)?);
            let next = Self::addr_end(Level::Pgd, pgd.0, addr, end);
            self.step(Level::Pgd, addr, next, pgdp, pgd.0);
            if pgd_none(pgd) {
                return None;
            }
            self.gup_p4d_range(pgdp, pgd, addr, next)?;
            addr = next;
            if addr == end {
                return Some(());
            }
            pgdp = pgdp.add(8);
            self.hooks
                .stepped(self.p, self.asce, Level::Pgd, self.name(pgdp, Level::Pgd), addr);
        }
    }

    /// `gup_p4d_range(pgdp, pgd, addr, end)`.
    #[inline(always)]
    fn gup_p4d_range(&mut self, pgdp: PhysAddr, pgd: Pgd, mut addr: VirtAddr, end: VirtAddr) -> Option<()> {
        let (parent, mut p4dp) = self.offset(Level::P4d, pgdp, pgd.0, addr)?;
        loop {
            let p4d = P4d(self.read(p4dp, Level::P4d, (parent, pgd.0))?);
            let next = Self::addr_end(Level::P4d, p4d.0, addr, end);
            self.step(Level::P4d, addr, next, p4dp, p4d.0);
            if p4d_none(p4d) {
                return None;
            }
            self.gup_pud_range(p4dp, p4d, addr, next)?;
            addr = next;
            if addr == end {
                return Some(());
            }
            p4dp = self.next(Level::P4d, parent, p4dp, addr)?;
        }
    }

    /// `gup_pud_range(p4dp, p4d, addr, end)`, with `gup_huge_pud`.
    #[inline(always)]
    fn gup_pud_range(&mut self, p4dp: PhysAddr, p4d: P4d, mut addr: VirtAddr, end: VirtAddr) -> Option<()> {
        let (parent, mut pudp) = self.offset(Level::Pud, p4dp, p4d.0, addr)?;
        loop {
            let pud = Pud(self.read(pudp, Level::Pud, (parent, p4d.0))?);
            let next = Self::addr_end(Level::Pud, pud.0, addr, end);
            self.step(Level::Pud, addr, next, pudp, pud.0);
            if !pud_present(pud) {
                return None;
            }
            if pud_large(pud) {
                self.huge(pudp, pud.0, Level::Pud, addr, next)?;
            } else {
                self.gup_pmd_range(pudp, pud, addr, next)?;
            }
            addr = next;
            if addr == end {
                return Some(());
            }
            pudp = self.next(Level::Pud, parent, pudp, addr)?;
        }
    }

    /// `gup_pmd_range(pudp, pud, addr, end)`, with `gup_huge_pmd`.
    #[inline(always)]
    fn gup_pmd_range(&mut self, pudp: PhysAddr, pud: Pud, mut addr: VirtAddr, end: VirtAddr) -> Option<()> {
        let (parent, mut pmdp) = self.offset(Level::Pmd, pudp, pud.0, addr)?;
        loop {
            let pmd = Pmd(self.read(pmdp, Level::Pmd, (parent, pud.0))?);
            // A segment entry maps 1 MiB whether or not this level is folded, so
            // pmd_addr_end_folded would equal the static step here.
            let next = pmd_addr_end(addr, end);
            self.step(Level::Pmd, addr, next, pmdp, pmd.0);
            if !pmd_present(pmd) {
                return None;
            }
            if pmd_large(pmd) {
                self.huge(pmdp, pmd.0, Level::Pmd, addr, next)?;
            } else {
                self.gup_pte_range(pmd, addr, next)?;
            }
            addr = next;
            if addr == end {
                return Some(());
            }
            pmdp = self.next(Level::Pmd, parent, pmdp, addr)?;
        }
    }

    /// [`gup_huge`] for the large entry `val` at `ptr`, taking its pages after
    /// the walk's.
    #[inline(always)]
    fn huge(&mut self, ptr: PhysAddr, val: u64, level: Level, addr: VirtAddr, end: VirtAddr) -> Option<()> {
        let (stack, asce) = (self.stack, self.asce);
        let name = move |ptr| name::<Pol::Layout>(stack, asce, ptr, level);
        let pages = &mut self.pages[self.nr..];
        let (n, went_on, err) = gup_huge(
            self.p,
            &mut *self.hooks,
            self.pagemap,
            self.flags,
            pages,
            (ptr, val, level, name),
            addr,
            end,
        );
        self.nr += n;
        if err.is_some() {
            self.err = err;
        }
        went_on.then_some(())
    }

    /// `gup_pte_range(pmd, addr, end)`: the loop is [`super::pte::pte_range`].
    #[inline(always)]
    fn gup_pte_range(&mut self, pmd: Pmd, addr: VirtAddr, end: VirtAddr) -> Option<()> {
        let ptep: PhysAddr = pte_offset(pmd, addr);
        // [addr, end) lies inside one segment (pmd_addr_end), so the loop stays in
        // this page table; check that once instead of on every PTE.
        let n = (end.wrapping_sub(addr) / PAGE_SIZE) as usize;
        if Level::Pte.index(addr) + n > Level::Pte.entries() {
            self.err = Some(off_page_table(ptep, n));
            return None;
        }
        let write = self.flags.contains(GupFlags::WRITE);
        let frames = self.pagemap.pages().len() as u64;
        self.hooks
            .ptes(self.p, EntryPtr::in_table(Level::Pte, ptep), addr, n, write, frames);
        let out = &mut self.pages[self.nr..self.nr + n];
        let (done, stop) = (self.pte_range)(self.p, self.pagemap, ptep, out);
        self.nr += done;
        if done == n {
            return Some(());
        }
        if let Some(e) = pte_defect(ptep.add(done as u64 * 8), stop) {
            self.err = Some(e);
        }
        None
    }
}

/// `gup_huge_pmd` / `gup_huge_pud` for the entry `val` read at `ptr` of a
/// `level` loop, over `[addr, end)`, its pages going to `pages`:
/// `record_subpages`, then one grab of that many references on the large
/// frame's compound head, then the re-check. A large entry over frames that
/// are not one compound page of its size (the tests alias RAM that way; Linux
/// never maps such a frame) is grabbed page by page instead. Returns the
/// pages taken, whether the walk goes on, and why it stopped abnormally.
/// Out of line and cold, and given only what it needs, so the walk's own
/// state stays in registers.
#[inline(never)]
#[cold]
#[allow(clippy::too_many_arguments)] // the walk's state it needs, in registers
fn gup_huge<P: Platform + ?Sized, H: Hooks>(
    p: &P,
    hooks: &mut H,
    map: &PageMap,
    flags: GupFlags,
    pages: &mut [Page],
    (ptr, val, level, name): (PhysAddr, u64, Level, impl Fn(PhysAddr) -> EntryPtr),
    addr: VirtAddr,
    end: VirtAddr,
) -> (usize, bool, Option<WalkError>) {
    let leaf = Leaf::large(level, val);
    if flags.contains(GupFlags::WRITE) && !leaf.write {
        return (0, false, None);
    }
    let head = Page::of(leaf.frame);
    let order = (level.size() >> PAGE_SHIFT).trailing_zeros();
    let refs = (end.wrapping_sub(addr) / PAGE_SIZE) as usize;
    let mut nr = 0;
    let mut all = true;
    let compound = map.is_compound_head(head, order);
    if compound {
        // record_subpages: the subpages go into pages[]; the references
        // all go on the head.
        let sub = Page::of(leaf.translate(addr)).pfn();
        for (i, slot) in pages[..refs].iter_mut().enumerate() {
            *slot = Page(sub + i as u64);
        }
        if map.try_grab_compound_head(head, refs as u32, flags).is_none() {
            return (0, false, None);
        }
        nr = refs;
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
            pages[nr] = page;
            nr += 1;
            a = a.wrapping_add(PAGE_SIZE);
        }
    }
    // Re-check the entry through `ptr`, as gup_huge_pmd does after taking the
    // pins. Where `ptr` is a stack copy (a folded level under the pre-fix,
    // addr_end_folded and next_entry walks, as in Linux v5.2..v5.8) this
    // compares the copy with itself and cannot see a concurrent change.
    // SAFETY: the large entry the walk read and checked at `ptr` before.
    match hooks.may_read(p, name(ptr)).map(|()| unsafe { p.read_u64(ptr) }) {
        Ok(now) if now == val => {
            // SetPageReferenced(head) on what was taken: the compound head,
            // or each frame taken page by page (each its own head).
            if compound {
                map.set_page_flags(head, PG_REFERENCED);
            } else {
                pages[..nr].iter().for_each(|&pg| map.set_page_flags(pg, PG_REFERENCED));
            }
            (nr, all, None)
        }
        now => {
            unpin_taken(map, &pages[..nr], flags);
            (0, false, now.err())
        }
    }
}
