//! The Linux-shaped walk API over live tables, with s390's *dynamic folding*
//! (mirrors `arch/s390/include/asm/pgtable.h`).
//!
//! `pgd_offset` indexes the top table with the shift of its ASCE type. Each
//! following `pXd_offset(parentp, addr)` looks at the *value* behind `parentp`: if
//! its table-type bits say it is an entry of a table above the requested level,
//! the entry points to a real next table and we index it; otherwise the level is
//! folded and the function returns `parentp` itself. So in a region-third (3-level)
//! space `pgd_offset`, `p4d_offset` and `pud_offset` all return the same pointer
//! into the region-third table, and `pmd_offset` is the first real step down.
//!
//! | ASCE type      | pgd_offset → | p4d_offset     | pud_offset     | pmd_offset     |
//! |----------------|--------------|----------------|----------------|----------------|
//! | segment (2)    | segment tbl  | folded (same)  | folded (same)  | folded (same)  |
//! | region-3 (3)   | region-3 tbl | folded (same)  | folded (same)  | segment tbl    |
//! | region-2 (4)   | region-2 tbl | folded (same)  | region-3 tbl   | segment tbl    |
//! | region-1 (5)   | region-1 tbl | region-2 tbl   | region-3 tbl   | segment tbl    |
//!
//! The checked walks' pointers are [`EntryPtr`]s: an address plus the object it
//! points into (a table of some level, or stack copies); the lockless walk's are
//! bare addresses, as Linux's, and [`TablePtr`] lets the same offsets serve both.
//! `EntryPtr::add` is C pointer arithmetic; [`check_bounds`] (and
//! [`read_entry`], which uses it) refuses to read outside the object and reports
//! it: the gup walk's explaining hooks call it before every read, and without
//! hooks the entry check names a word read off its object the same way
//! ([`check_entry_slow`]), which is how the pre-fix walk is caught stepping off
//! its stack copy.
use super::addr::{PhysAddr, VirtAddr};
use super::entry::*;
use super::level::{Level, CRST_ENTRIES};
use super::platform::Platform;
use core::fmt;

/// Copies in an [`Object::CopyRow`].
pub const COPY_ROW: u64 = 3;

/// What an [`EntryPtr`] points into.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Object {
    /// A live translation table of this level.
    Table(Level),
    /// A lone copy of an entry read from a table of this level, on the
    /// walker's stack (the walker's `READ_ONCE` copy).
    Copy(Level),
    /// [`COPY_ROW`] such copies in a row on the walker's stack. Which copy is
    /// which is the stack layout's (`gup::policy`).
    CopyRow(Level),
}

impl Object {
    /// Bytes of the object.
    pub const fn bytes(self) -> u64 {
        match self {
            Object::Table(l) => l.table_bytes(),
            Object::Copy(_) => 8,
            Object::CopyRow(_) => 8 * COPY_ROW,
        }
    }
}

/// A pointer to a table entry (`pgd_t *` ... `pte_t *`), with the bounds of the
/// object it was derived from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EntryPtr {
    pub(crate) addr: PhysAddr,
    pub(crate) base: PhysAddr,
    pub(crate) object: Object,
}

impl EntryPtr {
    /// Pointer to entry `index` of the table of `level` at `origin`.
    pub fn table(level: Level, origin: PhysAddr, index: usize) -> EntryPtr {
        EntryPtr {
            addr: origin.add(index as u64 * 8),
            base: origin,
            object: Object::Table(level),
        }
    }
    /// Pointer to the entry at `addr` of a `level` table, whose origin is
    /// `addr` rounded down to the table's size: foldkern allocates every table
    /// aligned to its size (a CRST to 16 KiB, a page table to 2 KiB), so an
    /// entry's address names its table.
    #[inline]
    pub fn in_table(level: Level, addr: PhysAddr) -> EntryPtr {
        let origin = PhysAddr(addr.0 & !(level.table_bytes() - 1));
        EntryPtr::table(level, origin, ((addr.0 - origin.0) / 8) as usize)
    }
    /// Pointer to the copy at `slot` of the [`Object::CopyRow`] from `first`,
    /// each an entry of a `level` table.
    pub fn row_copy(level: Level, first: PhysAddr, slot: PhysAddr) -> EntryPtr {
        EntryPtr {
            addr: slot,
            base: first,
            object: Object::CopyRow(level),
        }
    }
    /// Pointer to a lone stack copy at `slot` of an entry from a `level` table.
    pub fn stack_copy(level: Level, slot: PhysAddr) -> EntryPtr {
        EntryPtr {
            addr: slot,
            base: slot,
            object: Object::Copy(level),
        }
    }
    /// Address of the entry.
    #[inline]
    pub fn addr(&self) -> PhysAddr {
        self.addr
    }
    /// Start of the object the pointer was derived from.
    #[inline]
    pub fn base(&self) -> PhysAddr {
        self.base
    }
    /// The object the pointer was derived from.
    #[inline]
    pub fn object(&self) -> Object {
        self.object
    }
    /// Bytes of the object.
    #[inline]
    pub fn object_len(&self) -> u64 {
        self.object.bytes()
    }
    /// Whether the pointer is inside its object.
    #[inline]
    pub fn in_bounds(&self) -> bool {
        // Below the base wraps to a huge offset, so one comparison covers both ends.
        self.addr.0.wrapping_sub(self.base.0) < self.object.bytes()
    }
    /// `ptr + n` (C pointer arithmetic, e.g. `pudp++`). May leave the object.
    #[allow(clippy::should_implement_trait)] // named like `pointer::add`, not `+`
    pub fn add(self, n: i64) -> EntryPtr {
        EntryPtr {
            addr: PhysAddr(self.addr.0.wrapping_add((n * 8) as u64)),
            ..self
        }
    }
    /// Entry index inside the object.
    pub fn index(&self) -> i64 {
        (self.addr.0.wrapping_sub(self.base.0) as i64) / 8
    }
    /// The level of the table the entry came from.
    pub fn level(&self) -> Level {
        match self.object {
            Object::Table(l) | Object::Copy(l) | Object::CopyRow(l) => l,
        }
    }
    /// Whether this points at a stack copy rather than a live table.
    pub fn is_copy(&self) -> bool {
        matches!(self.object, Object::Copy(_) | Object::CopyRow(_))
    }
}

impl fmt::Display for EntryPtr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.object {
            Object::Table(l) => write!(
                f,
                "{:#x} ({} table {:#x}[{:#x}])",
                self.addr.0,
                l.hw_name(),
                self.base.0,
                self.index()
            ),
            Object::Copy(l) => {
                write!(f, "{:#x} (stack copy of a {} entry", self.addr.0, l.hw_name())?;
                if self.index() != 0 {
                    write!(f, ", {:+} bytes past it", self.index() * 8)?;
                }
                write!(f, ")")
            }
            Object::CopyRow(l) => write!(
                f,
                "{:#x} (word {} of {COPY_ROW} stack copies of {} entries)",
                self.addr.0,
                self.index(),
                l.hw_name()
            ),
        }
    }
}

/// Why a walk stopped abnormally.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WalkError {
    /// The walker dereferenced a pointer outside the object it was derived from.
    /// `word` is what lies there when the object is a stack copy (our own guard word).
    OffObject {
        /// The offending pointer.
        ptr: EntryPtr,
        /// The word an unchecked read would have used as an entry.
        word: Option<u64>,
    },
    /// An entry is corrupt; the walk did not follow it.
    BadEntry {
        /// Where the entry was read.
        at: EntryPtr,
        /// Its value.
        val: u64,
        /// What is wrong.
        defect: Defect,
    },
}

/// What is wrong with an entry (`pXd_bad`, named). "(translation-specification)"
/// marks the entries the hardware itself refuses with that exception.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Defect {
    /// A read of a freed (poisoned) table: use after free.
    FreedTable,
    /// A PTE with its must-be-zero bit 0x800 set.
    PteBit800,
    /// A PTE's frame lies outside memory.
    FrameOutsideMemory,
    /// A segment entry with non-zero table-type bits.
    SegmentTableType,
    /// A large segment entry without EDAT-1.
    LargeWithoutEdat1,
    /// A large frame starts outside memory.
    LargeFrameOutsideMemory,
    /// A page-table origin outside memory.
    PageTableOutsideMemory,
    /// Table-type bits that are not those of the table holding the entry.
    TableTypeMismatch,
    /// Reserved region-entry bits set.
    ReservedBits,
    /// A large region entry without EDAT-2 or above region-third.
    LargeWithoutEdat2,
    /// A next table whose offset or length leaves entries out.
    PartialTable,
    /// A next-table origin outside memory.
    TableOutsideMemory,
    /// An invalid entry where a walk to a lower level needs a table.
    InvalidOnTheWay,
    /// The address lies beyond the ASCE type's range.
    BeyondAsce,
    /// No table of the asked level on the address's path.
    NoSuchLevel,
}

impl fmt::Display for Defect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Defect::FreedTable => "read a freed (poisoned) table: use after free",
            Defect::PteBit800 => "PTE bit 0x800 is set (translation-specification)",
            Defect::FrameOutsideMemory => "frame outside memory",
            Defect::SegmentTableType => "segment entry with non-zero table-type bits (translation-specification)",
            Defect::LargeWithoutEdat1 => "large-frame bit without EDAT-1 (translation-specification)",
            Defect::LargeFrameOutsideMemory => "large frame outside memory",
            Defect::PageTableOutsideMemory => "page-table origin outside memory",
            Defect::TableTypeMismatch => "table-type bits do not match the table (translation-specification)",
            Defect::ReservedBits => "reserved bits set",
            Defect::LargeWithoutEdat2 => {
                "large-frame bit without EDAT-2 or above region-third (translation-specification)"
            }
            Defect::PartialTable => {
                "next table offset/length does not cover all entries (region translation exception)"
            }
            Defect::TableOutsideMemory => "next-table origin outside memory",
            Defect::InvalidOnTheWay => "invalid entry on the way down",
            Defect::BeyondAsce => "beyond the ASCE",
            Defect::NoSuchLevel => "no table of that level on the path",
        })
    }
}

impl fmt::Display for WalkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WalkError::OffObject { ptr, word } if ptr.is_copy() => {
                write!(
                    f,
                    "walked off the stack copy at {:#x} ({} bytes past the copy",
                    ptr.addr.0,
                    ptr.index() * 8
                )?;
                match word {
                    Some(w) => write!(f, "; it would read {w:#018x} as an entry)"),
                    None => write!(f, ")"),
                }
            }
            WalkError::OffObject { ptr, .. } => {
                write!(f, "walked off the {} table at {:#x}", ptr.level().hw_name(), ptr.addr.0)
            }
            WalkError::BadEntry { at, val, defect } => write!(f, "bad entry {val:#018x} at {at}: {defect}"),
        }
    }
}

/// Whether the walk may read at `ptr`: an aligned word of memory inside its
/// object, or else the error that names it (a word outside memory as
/// [`WalkError::OffObject`] with no word read).
#[inline]
pub fn check_bounds<P: Platform + ?Sized>(p: &P, ptr: EntryPtr) -> Result<(), WalkError> {
    if !ptr.addr.is_aligned(8) || ptr.addr.0 >= p.mem_end().0 {
        return Err(WalkError::OffObject { ptr, word: None });
    }
    if ptr.in_bounds() {
        return Ok(());
    }
    // The words just after a stack copy (where `pXdp++` goes) are the walker's
    // own guard words: safe to show. Before it, or beyond a real table, lies
    // somebody else's memory: do not touch it.
    // SAFETY: an aligned word below the end of memory (checked above).
    let word = off_copy_word(ptr).then(|| unsafe { p.read_u64(ptr.addr) });
    Err(WalkError::OffObject { ptr, word })
}

/// Whether `ptr`, outside its object, is one of the few words just after a
/// stack copy, the walker's own guard words, which an error may show.
fn off_copy_word(ptr: EntryPtr) -> bool {
    ptr.is_copy() && (1..8).contains(&ptr.index())
}

/// Read an entry once (`READ_ONCE(*ptr)`), refusing pointers outside their
/// object or outside memory: the safe way to read through an [`EntryPtr`].
#[inline]
pub fn read_entry<P: Platform + ?Sized>(p: &P, ptr: EntryPtr) -> Result<u64, WalkError> {
    check_bounds(p, ptr)?;
    // SAFETY: check_bounds found an aligned word below the end of memory.
    Ok(unsafe { p.read_u64(ptr.addr) })
}

/// The common form of an entry, per table level (pgd..pte): `val & mask == want`.
/// Region entries: valid, designating a whole next table of the level below
/// (matching table type, length 3, offset 0, no large frame, reserved bits clear).
/// Segment entries: valid, table type 0, designating a page table. PTEs: valid,
/// bit 0x800 clear.
const COMMON_FORM: [(u64, u64); 5] = {
    const REGION: u64 = REGION_RESERVED
        | RegionBits::FC.bits()
        | RegionBits::TF.bits()
        | RegionBits::I.bits()
        | RegionBits::TT.bits()
        | RegionBits::TL.bits();
    const fn region(l: Level) -> (u64, u64) {
        (REGION, l.type_bits() | RegionBits::TL.bits())
    }
    let segment = (
        SegmentBits::TT.bits() | SegmentBits::I.bits() | SegmentBits::FC.bits(),
        0,
    );
    let pte = (PteBits::I.bits() | PteBits::ZERO_BIT.bits(), 0);
    [region(Level::Pgd), region(Level::P4d), region(Level::Pud), segment, pte]
};

/// The common form of an entry of a `level` table as `(mask, want)`: a valid
/// entry in it has `val & mask == want` (what [`check_entry`] tests first).
pub const fn common_form(level: Level) -> (u64, u64) {
    COMMON_FORM[level as usize]
}

/// Whether `val` is in the common form `(mask, want)` of its table with its
/// origin below `mem_end`: the first test of [`check_entry`], a mask, a compare
/// and a bound check.
#[inline(always)]
pub const fn in_common_form(val: u64, (mask, want): (u64, u64), mem_end: u64) -> bool {
    // In the common form bit 0x800 is clear at every level, so the segment origin
    // mask serves all (a poisoned entry's origin is never inside memory).
    val & mask == want && val & SEGMENT_ORIGIN < mem_end
}

/// Check that `val`, read through `at`, is a well-formed entry for the table it
/// came from: type bits match the table, reserved bits clear, full table length,
/// origin inside memory, large frames only with EDAT. Invalid entries only need
/// the right type bits. This is the walkers' `pXd_bad`; it names what is wrong.
///
/// The common case (`COMMON_FORM` with its origin inside memory) is a mask, a
/// compare and a bound check, inlined into the walkers; everything else takes
/// the out-of-line `check_entry_slow`.
#[inline(always)]
pub fn check_entry<P: Platform + ?Sized>(p: &P, at: EntryPtr, val: u64) -> Result<(), WalkError> {
    if in_common_form(val, common_form(at.level()), p.mem_end().0) {
        return Ok(());
    }
    // The pointer goes in parts (registers) so the common case never has to
    // build it in memory for this call.
    check_entry_slow(p, at.addr, at.base, at.object, val)
}

/// [`check_entry`] for everything but the common case, the pointer in parts
/// (registers): what a walk that made the common-case test itself calls.
#[inline(never)]
#[cold]
pub fn check_entry_slow<P: Platform + ?Sized>(
    p: &P,
    addr: PhysAddr,
    base: PhysAddr,
    object: Object,
    val: u64,
) -> Result<(), WalkError> {
    let at = EntryPtr { addr, base, object };
    // A walk without bounds hooks read a word off its object (a pre-fix walk
    // stepping off its copy): the word is never an entry of the table the
    // pointer names, so name where it was read, as the bounds check would.
    if !at.in_bounds() {
        let word = off_copy_word(at).then_some(val);
        return Err(WalkError::OffObject { ptr: at, word });
    }
    let bad = |defect| Err(WalkError::BadEntry { at, val, defect });
    if is_poison(val) {
        return bad(Defect::FreedTable);
    }
    let level = at.level();
    match level {
        Level::Pte => {
            if val & PteBits::ZERO_BIT.bits() != 0 {
                return bad(Defect::PteBit800);
            }
            let pte = Pte(val);
            if pte.present() && !pte.special() && pte.frame().0 >= p.mem_end().0 {
                return bad(Defect::FrameOutsideMemory);
            }
            Ok(())
        }
        Level::Pmd => {
            if val & SegmentBits::TT.bits() != 0 {
                return bad(Defect::SegmentTableType);
            }
            if val & SegmentBits::I.bits() != 0 {
                return Ok(());
            }
            if val & SegmentBits::FC.bits() != 0 {
                if !p.edat1() {
                    return bad(Defect::LargeWithoutEdat1);
                }
                if val & SEGMENT_LARGE_ORIGIN >= p.mem_end().0 {
                    return bad(Defect::LargeFrameOutsideMemory);
                }
                return Ok(());
            }
            if val & SEGMENT_ORIGIN >= p.mem_end().0 {
                return bad(Defect::PageTableOutsideMemory);
            }
            Ok(())
        }
        l => {
            if val & RegionBits::TT.bits() != l.type_bits() {
                return bad(Defect::TableTypeMismatch);
            }
            if val & RegionBits::I.bits() != 0 {
                return Ok(());
            }
            if val & REGION_RESERVED != 0 {
                return bad(Defect::ReservedBits);
            }
            if val & RegionBits::FC.bits() != 0 {
                if l != Level::Pud || !p.edat2() {
                    return bad(Defect::LargeWithoutEdat2);
                }
                if val & REGION3_LARGE_ORIGIN >= p.mem_end().0 {
                    return bad(Defect::LargeFrameOutsideMemory);
                }
                return Ok(());
            }
            if val & (RegionBits::TF | RegionBits::TL).bits() != RegionBits::TL.bits() {
                return bad(Defect::PartialTable);
            }
            if val & REGION_ORIGIN >= p.mem_end().0 {
                return bad(Defect::TableOutsideMemory);
            }
            Ok(())
        }
    }
}

/// `pgd_offset`: the entry of the top table for `addr`, indexed with the shift of
/// the ASCE's type. Linux's `pgd_offset_raw` takes the type from entry 0 of the
/// top table instead (shift = 20 + 11 × type); the two agree on every table
/// foldkern builds, whose entries all carry the table's own type bits.
#[inline]
pub fn pgd_offset<T: TablePtr>(asce: Asce, addr: VirtAddr) -> T {
    let top = asce.asce_type().top();
    T::table(top, asce.origin(), top.index(addr))
}

/// What a `pXd_offset` returns: a bare address, as Linux's `pud_t *` (the
/// lockless walk), or an [`EntryPtr`] that also knows its table (the walks
/// that check bounds). Either way the same decisions make it.
pub trait TablePtr: Copy + PartialEq {
    /// Entry `index` of the `level` table at `origin`.
    fn table(level: Level, origin: PhysAddr, index: usize) -> Self;
}

impl TablePtr for PhysAddr {
    #[inline(always)]
    fn table(_level: Level, origin: PhysAddr, index: usize) -> PhysAddr {
        origin.add(index as u64 * 8)
    }
}

impl TablePtr for EntryPtr {
    #[inline(always)]
    fn table(level: Level, origin: PhysAddr, index: usize) -> EntryPtr {
        EntryPtr::table(level, origin, index)
    }
}

/// `pgd_folded`: this value is not a region-first entry, so the pgd level is folded.
pub fn pgd_folded(pgd: Pgd) -> bool {
    pgd.0 & RegionBits::TT.bits() < Level::Pgd.type_bits()
}
/// `p4d_folded`: the value is below region-second, so the p4d level is folded.
pub fn p4d_folded(p4d: P4d) -> bool {
    p4d.0 & RegionBits::TT.bits() < Level::P4d.type_bits()
}
/// `pud_folded`: the value is below region-third, so the pud level is folded.
pub fn pud_folded(pud: Pud) -> bool {
    pud.folded()
}
/// `pgd_none`: a real, invalid region-first entry (never true when folded).
/// Deliberately different: Linux's s390 `pXd_none` compare the entry with the
/// exact empty value (`_REGION1_ENTRY_EMPTY` ...) and `pXd_present` test the
/// origin; foldkern tests the invalid bit, which every empty entry it writes
/// has (corrupt ones are `check_entry`'s to name).
pub fn pgd_none(pgd: Pgd) -> bool {
    !pgd_folded(pgd) && pgd.0 & RegionBits::I.bits() != 0
}
/// `p4d_none`.
pub fn p4d_none(p4d: P4d) -> bool {
    !p4d_folded(p4d) && p4d.0 & RegionBits::I.bits() != 0
}
/// `pud_none`.
pub fn pud_none(pud: Pud) -> bool {
    !pud_folded(pud) && pud.0 & RegionBits::I.bits() != 0
}
/// `pmd_none`: an invalid segment entry.
pub fn pmd_none(pmd: Pmd) -> bool {
    pmd.none()
}
/// `pgd_present` (folded levels are always present).
pub fn pgd_present(pgd: Pgd) -> bool {
    !pgd_none(pgd)
}
/// `p4d_present`.
pub fn p4d_present(p4d: P4d) -> bool {
    !p4d_none(p4d)
}
/// `pud_present`.
pub fn pud_present(pud: Pud) -> bool {
    !pud_none(pud)
}
/// `pmd_present`.
pub fn pmd_present(pmd: Pmd) -> bool {
    !pmd_none(pmd)
}
/// `pud_large`: a region-third entry mapping a 2 GiB frame (EDAT-2).
pub fn pud_large(pud: Pud) -> bool {
    pud.large()
}
/// `pmd_large`: a segment entry mapping a 1 MiB frame (EDAT-1).
pub fn pmd_large(pmd: Pmd) -> bool {
    pmd.large()
}

/// `p4d_offset(pgdp, addr)` = `p4d_offset_lockless(pgdp, *pgdp, addr)`.
pub fn p4d_offset<P: Platform + ?Sized>(p: &P, pgdp: EntryPtr, addr: VirtAddr) -> Result<EntryPtr, WalkError> {
    Ok(p4d_offset_lockless(pgdp, Pgd(read_entry(p, pgdp)?), addr))
}
/// `pud_offset(p4dp, addr)` = `pud_offset_lockless(p4dp, *p4dp, addr)`.
pub fn pud_offset<P: Platform + ?Sized>(p: &P, p4dp: EntryPtr, addr: VirtAddr) -> Result<EntryPtr, WalkError> {
    Ok(pud_offset_lockless(p4dp, P4d(read_entry(p, p4dp)?), addr))
}
/// `pmd_offset(pudp, addr)` = `pmd_offset_lockless(pudp, *pudp, addr)`.
pub fn pmd_offset<P: Platform + ?Sized>(p: &P, pudp: EntryPtr, addr: VirtAddr) -> Result<EntryPtr, WalkError> {
    Ok(pmd_offset_lockless(pudp, Pud(read_entry(p, pudp)?), addr))
}

/// `p4d_offset_lockless(pgdp, pgd, addr)` (v5.9): decide folding from the *value*
/// `pgd`; if folded, return the *pointer* `pgdp` (which must be the real table
/// pointer for lockless walks to stay in the table).
#[inline]
pub fn p4d_offset_lockless<T: TablePtr>(pgdp: T, pgd: Pgd, addr: VirtAddr) -> T {
    if pgd.0 & RegionBits::TT.bits() == Level::Pgd.type_bits() {
        T::table(Level::P4d, PhysAddr(pgd.0 & REGION_ORIGIN), Level::P4d.index(addr))
    } else {
        pgdp
    }
}
/// `pud_offset_lockless(p4dp, p4d, addr)`.
#[inline]
pub fn pud_offset_lockless<T: TablePtr>(p4dp: T, p4d: P4d, addr: VirtAddr) -> T {
    if p4d.0 & RegionBits::TT.bits() >= Level::P4d.type_bits() {
        T::table(Level::Pud, PhysAddr(p4d.0 & REGION_ORIGIN), Level::Pud.index(addr))
    } else {
        p4dp
    }
}
/// `pmd_offset_lockless(pudp, pud, addr)`.
#[inline]
pub fn pmd_offset_lockless<T: TablePtr>(pudp: T, pud: Pud, addr: VirtAddr) -> T {
    if pud.0 & RegionBits::TT.bits() >= Level::Pud.type_bits() {
        T::table(Level::Pmd, PhysAddr(pud.0 & REGION_ORIGIN), Level::Pmd.index(addr))
    } else {
        pudp
    }
}
/// `pXd_offset_lockless` of the `level` (p4d, pud or pmd) loop, below the
/// entry `parent` read at `parentp`.
#[inline(always)]
pub fn offset_lockless<T: TablePtr>(level: Level, parentp: T, parent: u64, addr: VirtAddr) -> T {
    match level {
        Level::P4d => p4d_offset_lockless(parentp, Pgd(parent), addr),
        Level::Pud => pud_offset_lockless(parentp, P4d(parent), addr),
        _ => pmd_offset_lockless(parentp, Pud(parent), addr),
    }
}
/// `pte_offset_map(&pmd, addr)`: the PTE for `addr` in the page table the segment
/// entry value `pmd` designates.
#[inline]
pub fn pte_offset<T: TablePtr>(pmd: Pmd, addr: VirtAddr) -> T {
    T::table(Level::Pte, pmd.page_table(), Level::Pte.index(addr))
}

/// `pXd_addr_end(addr, end)` with the *static* size of `level`: the next `level`
/// boundary after `addr`, or `end` if that comes first. `end == 0` means 2^64.
#[inline]
pub const fn addr_end(level: Level, addr: VirtAddr, end: VirtAddr) -> u64 {
    entry_end(level.shift(), addr, end)
}

/// The end of the entry of `1 << shift` bytes that holds `addr`, or `end` if
/// that comes first: Linux's `__boundary - 1 < end - 1`, compared by entry
/// number. The boundary's last byte has `addr`'s entry number and every bit
/// below it set, so it lies below `end - 1` exactly when `end - 1` is in a
/// later entry. (Shifts instead of two 64-bit masks kept across the walk.)
#[inline(always)]
const fn entry_end(shift: u32, addr: VirtAddr, end: VirtAddr) -> u64 {
    if addr >> shift < end.wrapping_sub(1) >> shift {
        ((addr >> shift) + 1) << shift
    } else {
        end
    }
}
/// `pgd_addr_end` (static 8 PiB).
#[inline]
pub const fn pgd_addr_end(addr: VirtAddr, end: VirtAddr) -> u64 {
    addr_end(Level::Pgd, addr, end)
}
/// `p4d_addr_end` (static 4 TiB).
#[inline]
pub const fn p4d_addr_end(addr: VirtAddr, end: VirtAddr) -> u64 {
    addr_end(Level::P4d, addr, end)
}
/// `pud_addr_end` (static 2 GiB).
#[inline]
pub const fn pud_addr_end(addr: VirtAddr, end: VirtAddr) -> u64 {
    addr_end(Level::Pud, addr, end)
}
/// `pmd_addr_end` (static 1 MiB).
#[inline]
pub const fn pmd_addr_end(addr: VirtAddr, end: VirtAddr) -> u64 {
    addr_end(Level::Pmd, addr, end)
}

/// `rste_addr_end_folded` (RFC v2): the step size comes from the entry's table-type
/// bits, i.e. what one entry of the table it *really* came from maps. On a folded
/// level that is the top table's entry size, so the loop over the copy runs once.
#[inline]
pub const fn rste_addr_end_folded(rste: u64, addr: VirtAddr, end: VirtAddr) -> u64 {
    let ty = (rste & RegionBits::TT.bits()) >> 2;
    entry_end(20 + 11 * ty as u32, addr, end)
}
/// `pgd_addr_end_folded(pgd, addr, end)`.
#[inline]
pub const fn pgd_addr_end_folded(pgd: Pgd, addr: VirtAddr, end: VirtAddr) -> u64 {
    rste_addr_end_folded(pgd.0, addr, end)
}
/// `p4d_addr_end_folded(p4d, addr, end)`.
#[inline]
pub const fn p4d_addr_end_folded(p4d: P4d, addr: VirtAddr, end: VirtAddr) -> u64 {
    rste_addr_end_folded(p4d.0, addr, end)
}
/// `pud_addr_end_folded(pud, addr, end)`. RFC v2 defined no s390 override here
/// (the generic one is the static `pud_addr_end`) and rejected segment-type
/// values with `VM_BUG_ON`; foldkern extends the entry rule to this level, so a
/// folded pud loop in a 2-level space runs once too.
#[inline]
pub const fn pud_addr_end_folded(pud: Pud, addr: VirtAddr, end: VirtAddr) -> u64 {
    rste_addr_end_folded(pud.0, addr, end)
}

/// The pointer a fresh top-down walk reaches for `addr` at Linux level `level`
/// (`pgd_offset` then `p4d_offset` ... on live tables). This is the reference for
/// the walk invariant "after `pXdp++`, `pXdp` is the entry for `next`".
pub fn walk_to<P: Platform + ?Sized>(p: &P, asce: Asce, addr: VirtAddr, level: Level) -> Result<EntryPtr, WalkError> {
    let mut ptr = pgd_offset(asce, addr);
    // The top table is checked against memory once; every pointer below comes
    // from an entry check_entry accepted (an aligned origin below the end of
    // memory, so the whole table is in memory) and stays in its table.
    check_bounds(p, ptr)?;
    for l in [Level::P4d, Level::Pud, Level::Pmd, Level::Pte] {
        if l > level {
            break;
        }
        if !ptr.in_bounds() {
            return Err(WalkError::OffObject { ptr, word: None });
        }
        // SAFETY: inside a table that lies in memory (see above).
        let v = unsafe { p.read_u64(ptr.addr) };
        check_entry(p, ptr, v)?;
        if is_invalid(ptr.level(), v) && l > asce.asce_type().top() {
            return Err(WalkError::BadEntry {
                at: ptr,
                val: v,
                defect: Defect::InvalidOnTheWay,
            });
        }
        ptr = match l {
            Level::P4d => p4d_offset_lockless(ptr, Pgd(v), addr),
            Level::Pud => pud_offset_lockless(ptr, P4d(v), addr),
            Level::Pmd => pmd_offset_lockless(ptr, Pud(v), addr),
            _ => pte_offset(Pmd(v), addr),
        };
    }
    Ok(ptr)
}

/// Whether every entry of the CRST at `origin` (of `level`) is empty.
///
/// # Safety
///
/// `origin` is a CRST (16 KiB, aligned) inside memory.
pub unsafe fn crst_is_empty<P: Platform + ?Sized>(p: &P, origin: PhysAddr, level: Level) -> bool {
    // SAFETY: every word of the CRST the caller names.
    (0..CRST_ENTRIES).all(|i| unsafe { p.read_u64(origin.add(i as u64 * 8)) } == empty_entry(level))
}
