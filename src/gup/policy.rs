//! The three choices the 2020 thread argued over, as policies of the one walk
//! in [`super::fast`], and where the walker keeps its entry copies.
//!
//! Each range function below the top (`gup_p4d_range`, `gup_pud_range`,
//! `gup_pmd_range`) gets its parent's pointer and value. A [`Policy`] says
//! (the end for the pgd, p4d and pud loops; the pmd loop's is always the
//! static 1 MiB step):
//!
//! * what the level's `pXd_offset` is given ([`Offset`]): the address of the
//!   parent's stack copy (`pud_offset(&p4d, addr)`, v5.2..v5.8), or the table
//!   pointer with the value (`pud_offset_lockless(p4dp, p4d, addr)`, v5.9);
//! * how the loop computes its end ([`End`]): the static `pXd_addr_end`, or
//!   the RFC's `pXd_addr_end_folded(pXd, addr, end)` from the entry's bits
//!   (the RFC folded the pgd and p4d ends; foldkern applies the rule to the
//!   pud end too, where the p4d end already bounds the range);
//! * how the loop reaches its next entry ([`Next`]): `pudp++`, or the thread's
//!   `pud_next_entry(p4dp, pudp, next)` = `pud_offset(p4dp, next)`.
//!
//! Folding itself is never a policy: every policy decides it per entry, from
//! the entry's table-type bits, as s390's `pXd_offset` does.
use crate::mm::pgtable::COPY_ROW;
use crate::mm::{AsceType, EntryPtr, Level, Object, PhysAddr, Platform, VirtAddr, PAGE_SIZE};
use core::fmt;

/// Which gup_fast the walk is: the name of a [`Policy`], chosen at run time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Variant {
    /// Linux v5.2..v5.8 ([`PreFix`]): `pXd_offset(&copy)` with static
    /// `pXd_addr_end` (the bug), each copy between guard words: a step off a
    /// copy is caught.
    PreFix,
    /// The same walk over copies laid out as Linux's frames had them
    /// ([`LinuxFrame`]): a step off a folded loop's copy reads the next loop's
    /// previous copy, the stale top entry, and pins pages one top entry lower,
    /// silently, as v5.2..v5.8 did (and 6.1 with the fix reverted does).
    PreFixLinuxFrame,
    /// RFC v2 ([`AddrEndFolded`]): `pXd_addr_end_folded(entry, addr, end)`.
    AddrEndFolded,
    /// Linux v5.9 ([`OffsetLockless`]): `pXd_offset_lockless(pointer, value, addr)`.
    OffsetLockless,
    /// The thread's `pXd_next_entry(parentp, pXdp, next)` instead of `pXdp++`
    /// ([`NextEntry`]).
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

/// What a level's `pXd_offset` is given.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Offset {
    /// The address of the parent's copy: `pud_offset(&p4d, addr)`. On a folded
    /// level that returns the copy's address.
    Copy,
    /// The parent's table pointer and value: `pud_offset_lockless(p4dp, p4d,
    /// addr)`. On a folded level that returns the table pointer.
    Lockless,
}

/// How a loop computes its end.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum End {
    /// `pud_addr_end(addr, end)`: the level's compile-time size.
    Static,
    /// `pud_addr_end_folded(pud, addr, end)`: what one entry of the table the
    /// value came from maps, so a folded loop runs once.
    Folded,
}

/// How a loop reaches its next entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Next {
    /// `pudp++`.
    Increment,
    /// `pud_next_entry(p4dp, pudp, next)` = `pud_offset(p4dp, next)`: from the
    /// parent again (which, given the copy, is the same copy).
    Reoffset,
}

/// One gup_fast: the three choices, and where its copies live.
pub trait Policy {
    /// What `pXd_offset` is given.
    const OFFSET: Offset;
    /// How a loop computes its end.
    const END: End;
    /// How a loop reaches its next entry.
    const NEXT: Next;
    /// Where the copies `pXd_offset` is given lie on the walker's stack.
    type Layout: Layout;
}

/// Linux v5.2..v5.8, copies between guard words (`L` = [`Guarded`]) or laid
/// out as Linux's frames had them (`L` = [`LinuxFrame`]).
pub struct PreFix<L = Guarded>(core::marker::PhantomData<L>);
/// RFC v2 (7 Sep 2020): `pXd_addr_end_folded`.
pub struct AddrEndFolded;
/// Linux v5.9 (commit d3f7b1bb2040): `pXd_offset_lockless`.
pub struct OffsetLockless;
/// The thread's `pXd_next_entry` (Jason Gunthorpe, 10 Sep 2020).
pub struct NextEntry;

impl<L: Layout> Policy for PreFix<L> {
    const OFFSET: Offset = Offset::Copy;
    const END: End = End::Static;
    const NEXT: Next = Next::Increment;
    type Layout = L;
}
impl Policy for AddrEndFolded {
    const OFFSET: Offset = Offset::Copy;
    const END: End = End::Folded;
    const NEXT: Next = Next::Increment;
    type Layout = Guarded;
}
impl Policy for OffsetLockless {
    const OFFSET: Offset = Offset::Lockless;
    const END: End = End::Static;
    const NEXT: Next = Next::Increment;
    type Layout = Guarded;
}
impl Policy for NextEntry {
    const OFFSET: Offset = Offset::Copy;
    const END: End = End::Static;
    const NEXT: Next = Next::Reoffset;
    type Layout = Guarded;
}

/// The condition under which the pre-fix walk steps off its stack copy: some
/// level is folded (fewer than 5 levels) and the range crosses a boundary of what
/// one entry of the top table maps (the static step of the last folded level).
/// `end` is exclusive (0 = 2^64). For a range that is not fully mapped, pass the
/// end of the part the walk actually reaches.
pub fn prefix_walks_off(ty: AsceType, start: VirtAddr, end: VirtAddr) -> bool {
    let size = ty.top().size();
    ty.levels() < 5 && start / size != end.wrapping_sub(1) / size
}

/// Guard word pattern ("STACK" + slot) around the copies.
pub const GUARD: u64 = 0x5354_4143_4b00_0000;

/// The frame holding a walker's per-level entry copies: one 4 KiB frame the
/// caller owns, every word a guard word until a copy is written. Where in it a
/// copy goes is the policy's [`Layout`].
#[derive(Clone, Copy, Debug)]
pub struct WalkStack {
    /// Base of the frame.
    base: PhysAddr,
}

impl WalkStack {
    /// Prepare a stack frame at `base`: every word a guard word.
    ///
    /// # Safety
    ///
    /// `base` is a 4 KiB frame of memory the caller owns for as long as walks
    /// use the stack: they write their copies into it.
    pub unsafe fn new<P: Platform + ?Sized>(p: &P, base: PhysAddr) -> WalkStack {
        for i in 0..(PAGE_SIZE / 8) {
            // SAFETY: a word of the frame the caller owns.
            unsafe { p.write_u64(base.add(i * 8), GUARD | i) };
        }
        WalkStack { base }
    }
    /// The frame's first byte.
    pub fn base(&self) -> PhysAddr {
        self.base
    }
    /// Slot of the guarded copy passed down from a `level` loop (pgd..pud):
    /// a guard word before it and three after.
    pub fn slot(&self, level: Level) -> PhysAddr {
        self.base.add(16 + 32 * level as u64)
    }
    /// The inverse of [`WalkStack::slot`] for the loops that pass copies down
    /// (pgd..pud): the loop whose slot is `addr`, or, for a guard word, the
    /// nearest slot before it.
    #[inline]
    pub fn slot_level(&self, addr: PhysAddr) -> Level {
        let i = addr.0.wrapping_sub(self.base.0).saturating_sub(16) / 32;
        Level::ALL[(i as usize).min(Level::Pud as usize)]
    }
}

/// Where the copies lie on the walker's stack.
pub trait Layout {
    /// The slot the `level` loop (pgd..pud) writes the copy it passes down to.
    fn slot(stack: WalkStack, level: Level) -> PhysAddr;
    /// A pointer at `addr` in the walker's frame, named by the copy it points
    /// into or stepped off; `table(level)` is the table the copy of the
    /// `level` loop came from.
    fn name(stack: WalkStack, addr: PhysAddr, table: impl Fn(Level) -> Level) -> EntryPtr;
    /// The copy of an entry of a `table` table that the `level` loop passes down.
    fn copy(stack: WalkStack, level: Level, table: Level) -> EntryPtr {
        Self::name(stack, Self::slot(stack, level), |_| table)
    }
}

/// Each copy alone between guard words, so a pointer stepped off it is caught
/// and names the guard word it would read.
pub struct Guarded;

/// The copies laid out as Linux compiles the pre-fix walk: Debian's 6.1 with
/// the fix reverted, gcc 12, -O2, `-march=z10` ([`LinuxFrame::COMPILED_BY`]),
/// whose `internal_get_user_pages_fast` keeps them in its caller's register
/// save area, ascending: the pgd copy, the p4d copy, the pud copy, then the
/// caller's saved %r6. So the word after a folded loop's copy is the copy the
/// next loop down made in its previous iteration (`pudp++` from the p4d copy
/// reads the last pud copy; `p4dp++` from the pgd copy the last p4d copy), and
/// after the pud copy a saved register, no entry. `scripts/linux-gup.py
/// --layout` reads these offsets from the build's disassembly and a test holds
/// [`LinuxFrame::COPIES`] to it. The source fixes only that each folded loop
/// starts at a copy's address and steps to the next word; the order is this
/// compiler's choice (the RFC, 28 Aug 2020: "in general, this happens to be
/// the previously read pgd ... depending on compiler decisions").
pub struct LinuxFrame;

/// Offset in the [`WalkStack`] of the caller's stack pointer the
/// [`LinuxFrame`] offsets count from.
const LINUX_CALLER_SP: u64 = 1024;

impl LinuxFrame {
    /// The kernel build the layout was read from.
    pub const COMPILED_BY: &'static str = "Debian 6.1, gcc 12, -O2, z10";
    /// Each copy, named by the loop that made it, and its offset in bytes above
    /// the caller's stack pointer, in the order they lie.
    pub const COPIES: [(Level, u64); COPY_ROW as usize] = [(Level::Pgd, 48), (Level::P4d, 56), (Level::Pud, 64)];
    /// The word after the last copy: its offset and what it holds.
    pub const AFTER: (u64, &'static str) = (72, "the caller's saved %r6");
}

impl Layout for Guarded {
    #[inline(always)]
    fn slot(stack: WalkStack, level: Level) -> PhysAddr {
        stack.slot(level)
    }
    /// The copy at or before `addr` (the words after a copy are its guard words).
    fn name(stack: WalkStack, addr: PhysAddr, table: impl Fn(Level) -> Level) -> EntryPtr {
        let level = stack.slot_level(addr);
        let slot = stack.slot(level);
        EntryPtr::stack_copy(table(level), slot).add((addr.0 as i64 - slot.0 as i64) / 8)
    }
}

impl Layout for LinuxFrame {
    fn slot(stack: WalkStack, level: Level) -> PhysAddr {
        match LinuxFrame::COPIES.iter().find(|&&(l, _)| l == level) {
            Some(&(_, off)) => stack.base.add(LINUX_CALLER_SP + off),
            None => stack.slot(level),
        }
    }
    /// A word of the row of copies, or the word after it, is a word of the
    /// row; any other is named as [`Guarded`] names it.
    fn name(stack: WalkStack, addr: PhysAddr, table: impl Fn(Level) -> Level) -> EntryPtr {
        let first = Self::slot(stack, LinuxFrame::COPIES[0].0);
        if addr.0.wrapping_sub(first.0) > 8 * COPY_ROW {
            return Guarded::name(stack, addr, table);
        }
        let at = |&&(l, _): &&(Level, u64)| Self::slot(stack, l) == addr;
        let level = LinuxFrame::COPIES.iter().find(at).map_or(Level::Pud, |&(l, _)| l);
        EntryPtr::row_copy(table(level), first, addr)
    }
}

/// A pointer as the walk's output names it: the pointer's own description,
/// but the copies of [`LinuxFrame`] named by what each holds.
pub struct Named(pub EntryPtr);

impl fmt::Display for Named {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let p = self.0;
        let Object::CopyRow(table) = p.object() else {
            return write!(f, "{p}");
        };
        let off = LinuxFrame::COPIES[0].1 as i64 + p.index() * 8;
        match LinuxFrame::COPIES.iter().find(|&&(_, o)| o as i64 == off) {
            Some((l, _)) => write!(
                f,
                "{:#x} (Linux's frame: the {} copy, a {} entry)",
                p.addr().as_u64(),
                l.name(),
                table.hw_name()
            ),
            None if off == LinuxFrame::AFTER.0 as i64 => write!(
                f,
                "{:#x} (Linux's frame: {}, not an entry)",
                p.addr().as_u64(),
                LinuxFrame::AFTER.1
            ),
            None => write!(f, "{:#x} (Linux's frame, caller's sp {off:+})", p.addr().as_u64()),
        }
    }
}
