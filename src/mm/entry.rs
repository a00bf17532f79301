//! Entry formats of z/Architecture DAT (PoP "Translation Tables"), with Linux's
//! names from `arch/s390/include/asm/pgtable.h`. Values are newtypes over the raw
//! doubleword; bits are `bitflags`.
use super::addr::{PhysAddr, VirtAddr};
use super::level::{AsceType, Level};
use bitflags::bitflags;

bitflags! {
    /// Bits of an address-space-control element (CR1/CR7/CR13).
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub struct AsceBits: u64 {
        /// Designation type (`_ASCE_TYPE_MASK`): which table the origin names.
        const DT = 0x0c;
        /// Table length in units of 512 entries, minus one (`_ASCE_TABLE_LENGTH`).
        const TL = 0x03;
    }
}

bitflags! {
    /// Bits of a region-first/-second/-third table entry.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub struct RegionBits: u64 {
        /// Large frame (region-third only, EDAT-2: maps 2 GiB directly).
        const FC = 0x400;
        /// Protection (with EDAT-1) (`_REGION_ENTRY_PROTECT`).
        const P = 0x200;
        /// Table offset of the next table, in 512-entry units (`_REGION_ENTRY_OFFSET`).
        const TF = 0xc0;
        /// Invalid (`_REGION_ENTRY_INVALID`).
        const I = 0x20;
        /// Type of the table holding this entry (`_REGION_ENTRY_TYPE_MASK`).
        const TT = 0x0c;
        /// Length of the next table (`_REGION_ENTRY_LENGTH`).
        const TL = 0x03;
    }
}

bitflags! {
    /// Bits of a segment table entry.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub struct SegmentBits: u64 {
        /// Large 1 MiB frame (EDAT-1) (`_SEGMENT_ENTRY_LARGE`).
        const FC = 0x400;
        /// Protection (`_SEGMENT_ENTRY_PROTECT`).
        const P = 0x200;
        /// Invalid (`_SEGMENT_ENTRY_INVALID`).
        const I = 0x20;
        /// Table type: always 0 for a segment table (`_SEGMENT_ENTRY_TYPE_MASK`).
        const TT = 0x0c;
    }
}

bitflags! {
    /// Bits of a page table entry, as Linux s390 uses them (the table above
    /// `_ASCE_ORIGIN` in arch/s390/include/asm/pgtable.h): bits 0x0ff are
    /// ignored by the hardware and hold Linux's software state, and the
    /// hardware bits follow from it. An old page keeps I set and a clean one P,
    /// so that the first access, or the first write, traps and the fault path
    /// can mark it young or dirty.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub struct PteBits: u64 {
        /// Hardware, must be zero, else translation-specification exception
        /// (Linux `_PAGE_LARGE`, a software use of the bit).
        const ZERO_BIT = 0x800;
        /// Hardware invalid (`_PAGE_INVALID`): empty, not present, or old.
        const I = 0x400;
        /// Hardware page protection (`_PAGE_PROTECT`): read-only, or clean.
        const P = 0x200;
        /// Hardware no-execute (`_PAGE_NOEXEC`, facility 130); never set here.
        const NOEXEC = 0x100;
        /// Software: pgste usage state (`_PAGE_UNUSED`); never set here.
        const UNUSED = 0x080;
        /// Software: no `struct page` behind the frame (`_PAGE_SPECIAL`).
        const SPECIAL = 0x040;
        /// Software: writable (`_PAGE_WRITE`).
        const WRITE = 0x020;
        /// Software: readable (`_PAGE_READ`); present without it is prot-none.
        const READ = 0x010;
        /// Software: written since last cleaned (`_PAGE_DIRTY`).
        const DIRTY = 0x008;
        /// Software: accessed since last made old (`_PAGE_YOUNG`).
        const YOUNG = 0x004;
        /// Software: soft-dirty (`_PAGE_SOFT_DIRTY`).
        const SOFT_DIRTY = 0x002;
        /// Software: present (`_PAGE_PRESENT`).
        const PRESENT = 0x001;
    }
}

/// Region-entry bits that must be zero (0x800, 0x100, 0x010).
pub const REGION_RESERVED: u64 = 0x800 | 0x100 | 0x10;

/// Origin mask of an ASCE or region entry (4 KiB aligned).
pub const REGION_ORIGIN: u64 = !0xfff;
/// Origin mask of a segment entry (page-table origin, 2 KiB aligned).
pub const SEGMENT_ORIGIN: u64 = !0x7ff;
/// Frame mask of a large segment entry (1 MiB).
pub const SEGMENT_LARGE_ORIGIN: u64 = !0xfffff;
/// Frame mask of a large region-third entry (2 GiB).
pub const REGION3_LARGE_ORIGIN: u64 = !0x7fff_ffff;
/// Frame mask of a PTE.
pub const PAGE_ORIGIN: u64 = !0xfff;

/// An address-space-control element.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Asce(pub(crate) u64);

impl Asce {
    /// The ASCE whose raw value is `v` (what a control register holds).
    pub const fn from_val(v: u64) -> Asce {
        Asce(v)
    }
    /// Raw value (what to load into a control register).
    pub const fn val(self) -> u64 {
        self.0
    }
    /// ASCE designating a full-length table of type `ty` at `origin`.
    pub fn new(origin: PhysAddr, ty: AsceType) -> Asce {
        Asce(origin.0 | ty.dt_bits() | AsceBits::TL.bits())
    }
    /// Table origin.
    pub fn origin(self) -> PhysAddr {
        PhysAddr(self.0 & REGION_ORIGIN)
    }
    /// Designation type.
    pub fn asce_type(self) -> AsceType {
        AsceType::from_dt_bits(self.0)
    }
}

macro_rules! entry_type {
    ($(#[$m:meta])* $t:ident, $lvl:expr) => {
        $(#[$m])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub struct $t(pub(crate) u64);
        impl $t {
            /// The entry whose raw value is `v`.
            pub const fn new(v: u64) -> Self {
                Self(v)
            }
            /// The level whose static (5-level) position this type names.
            pub const LEVEL: Level = $lvl;
            /// Raw value.
            pub const fn val(self) -> u64 {
                self.0
            }
        }
    };
}
entry_type!(
    /// A value read at the pgd position (`pgd_t`). Its TT bits say which table it really came from.
    Pgd, Level::Pgd);
entry_type!(
    /// A value read at the p4d position (`p4d_t`); may be a folded pgd.
    P4d, Level::P4d);
entry_type!(
    /// A value read at the pud position (`pud_t`); may be a folded p4d/pgd.
    Pud, Level::Pud);
entry_type!(
    /// A value read at the pmd position (`pmd_t`): a segment entry, or a folded region entry.
    Pmd, Level::Pmd);
entry_type!(
    /// A page table entry (`pte_t`).
    Pte, Level::Pte);

/// High bits of the pattern freed tables are filled with, so a walker that reads
/// a freed table recognises it (the low bits keep the entry invalid).
pub const POISON: u64 = 0xdead_beef_dead_b000;

/// Poisoned (freed-table) entry for a table of `level`: invalid, with its TT bits.
pub const fn poison_entry(level: Level) -> u64 {
    match level {
        Level::Pte => POISON | PteBits::I.bits(),
        l => POISON | l.type_bits() | RegionBits::I.bits(),
    }
}

/// Whether `v` is a poisoned entry.
pub const fn is_poison(v: u64) -> bool {
    v & !0xfff == POISON
}

/// Empty (invalid) entry for a table of `level`: `_REGION1_ENTRY_EMPTY`,
/// `_REGION2_ENTRY_EMPTY`, `_REGION3_ENTRY_EMPTY`, `_SEGMENT_ENTRY_EMPTY`,
/// `_PAGE_INVALID`. Region entries keep their TT bits even when invalid.
pub const fn empty_entry(level: Level) -> u64 {
    match level {
        Level::Pte => PteBits::I.bits(),
        Level::Pmd => SegmentBits::I.bits(),
        l => l.type_bits() | RegionBits::I.bits(),
    }
}

/// Entry of a table of `level` pointing at the next-lower table at `next`
/// (`pXd_populate`): origin | TT | full table length.
pub const fn table_entry(level: Level, next: PhysAddr) -> u64 {
    match level {
        Level::Pmd => next.0,
        Level::Pte => panic!("page tables have no next table"),
        l => next.0 | l.type_bits() | RegionBits::TL.bits(),
    }
}

/// `PAGE_RW`, `PAGE_RO` (without `_PAGE_NOEXEC`, which 6.1's `mk_pte_phys`
/// clears on a machine without facility 130, `MACHINE_HAS_NX`; later kernels
/// mask it from the protections, `page_noexec_mask`): present,
/// readable, old and clean.
pub const fn page_prot(writable: bool) -> u64 {
    let base = PteBits::PRESENT.bits() | PteBits::READ.bits() | PteBits::I.bits() | PteBits::P.bits();
    if writable {
        base | PteBits::WRITE.bits()
    } else {
        base
    }
}

/// A PTE mapping `frame`, read-only when `!writable` (`mk_pte`, which on s390
/// is `mk_pte_phys`: the protection, then `pte_mkyoung`): young and clean.
pub const fn mk_pte(frame: PhysAddr, writable: bool) -> Pte {
    Pte(frame.0 | page_prot(writable)).mkyoung()
}

/// Whether an entry value is invalid (I bit) for a table of `level`.
pub const fn is_invalid(level: Level, v: u64) -> bool {
    match level {
        Level::Pte => v & PteBits::I.bits() != 0,
        _ => v & RegionBits::I.bits() != 0,
    }
}

/// What an entry says, decoded in one place (PoP "Translation Tables"): invalid,
/// the origin of the next table, or the frame a leaf maps. For the software
/// walks (`hw_walk`, `lookup`, ptdump, freeing) and gup's large frames; the
/// Linux-shaped walk and the PTE loop keep the raw `pXd_*` tests they study.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Entry {
    /// Invalid: translation stops with this level's exception.
    Invalid,
    /// Designates the next-lower table at this origin.
    Table(PhysAddr),
    /// Maps a frame: a PTE, a large segment (EDAT-1) or region-third (EDAT-2) entry.
    Leaf(Leaf),
}

/// A frame an entry maps, with its rights.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Leaf {
    /// First byte of the frame: 4 KiB, 1 MiB or 2 GiB (`level.size()`), aligned.
    pub frame: PhysAddr,
    /// Level of the entry (`Pte`, `Pmd` or `Pud`).
    pub level: Level,
    /// Writable (protection bit clear).
    pub write: bool,
    /// Special: no struct page behind it (PTEs only).
    pub special: bool,
}

impl Leaf {
    /// The physical address `addr` translates to inside this frame.
    #[inline]
    pub const fn translate(self, addr: VirtAddr) -> PhysAddr {
        PhysAddr(self.frame.0 | (addr & (self.level.size() - 1)))
    }
}

impl Leaf {
    /// The leaf a large entry `v` of `level` (Pmd or Pud, FC bit set) maps.
    #[inline]
    pub const fn large(level: Level, v: u64) -> Leaf {
        let origin = match level {
            Level::Pud => REGION3_LARGE_ORIGIN,
            _ => SEGMENT_LARGE_ORIGIN,
        };
        Leaf {
            frame: PhysAddr(v & origin),
            level,
            // The same bit (0x200) protects in segment and region entries.
            write: v & RegionBits::P.bits() == 0,
            special: false,
        }
    }
}

impl Entry {
    /// Decode `v`, read from a table of `level` (entries already checked with
    /// `check_entry`: a large bit above region-third was refused there, and
    /// the type bits match the table, so the FC bit alone says "large" where
    /// `Pmd::large`/`Pud::large` also test the type: one instruction a level
    /// less on the slow path).
    #[inline]
    pub const fn decode(level: Level, v: u64) -> Entry {
        match level {
            _ if is_invalid(level, v) => Entry::Invalid,
            Level::Pte => Entry::Leaf(Leaf {
                frame: PhysAddr(v & PAGE_ORIGIN),
                level,
                write: v & PteBits::P.bits() == 0,
                special: v & PteBits::SPECIAL.bits() != 0,
            }),
            Level::Pmd if v & SegmentBits::FC.bits() != 0 => Entry::Leaf(Leaf::large(level, v)),
            Level::Pmd => Entry::Table(PhysAddr(v & SEGMENT_ORIGIN)),
            Level::Pud if v & RegionBits::FC.bits() != 0 => Entry::Leaf(Leaf::large(level, v)),
            _ => Entry::Table(PhysAddr(v & REGION_ORIGIN)),
        }
    }
}

/// A large entry for `frame` at `level` (Pmd: 1 MiB, Pud: 2 GiB), read-only
/// unless `write` (Linux `pmd_mkhuge`/`pud_mkhuge` with the rights).
pub const fn large_entry(level: Level, frame: PhysAddr, write: bool) -> u64 {
    let protect = if write { 0 } else { RegionBits::P.bits() };
    match level {
        Level::Pud => frame.0 | Level::Pud.type_bits() | RegionBits::FC.bits() | protect,
        _ => frame.0 | SegmentBits::FC.bits() | protect,
    }
}

impl Pmd {
    /// `pmd_large`: a segment entry mapping a 1 MiB frame (EDAT-1).
    pub const fn large(self) -> bool {
        self.0 & SegmentBits::TT.bits() == 0 && self.0 & SegmentBits::FC.bits() != 0
    }
    /// `pmd_none`: an invalid segment entry.
    pub const fn none(self) -> bool {
        self.0 & SegmentBits::I.bits() != 0
    }
    /// The page table a valid, not large segment entry designates
    /// (`pmd_page_vaddr`).
    pub const fn page_table(self) -> PhysAddr {
        PhysAddr(self.0 & SEGMENT_ORIGIN)
    }
}

impl Pud {
    /// `pud_large`: a region-third entry mapping a 2 GiB frame (EDAT-2).
    pub const fn large(self) -> bool {
        self.0 & RegionBits::TT.bits() == Level::Pud.type_bits() && self.0 & RegionBits::FC.bits() != 0
    }
    /// `pud_folded`: the value comes from below region-third (a segment entry
    /// read at the pud position of a folded walk).
    pub const fn folded(self) -> bool {
        self.0 & RegionBits::TT.bits() < Level::Pud.type_bits()
    }
}

impl Pte {
    /// `pte_none`: empty.
    pub const fn none(self) -> bool {
        self.0 == PteBits::I.bits()
    }
    /// `pte_present`: maps a page (the software bit; an old page is present
    /// although the hardware does not translate it).
    pub const fn present(self) -> bool {
        self.0 & PteBits::PRESENT.bits() != 0
    }
    /// `pte_write`: the mapping allows writes (a clean page still has P set).
    pub const fn write(self) -> bool {
        self.0 & PteBits::WRITE.bits() != 0
    }
    /// `pte_young`.
    pub const fn young(self) -> bool {
        self.0 & PteBits::YOUNG.bits() != 0
    }
    /// `pte_dirty`.
    pub const fn dirty(self) -> bool {
        self.0 & PteBits::DIRTY.bits() != 0
    }
    /// `pte_special`: no struct page behind it.
    pub const fn special(self) -> bool {
        self.0 & PteBits::SPECIAL.bits() != 0
    }
    /// `pte_protnone`: present but not readable (`PAGE_NONE`, NUMA hinting).
    pub const fn protnone(self) -> bool {
        self.present() && self.0 & PteBits::READ.bits() == 0
    }
    /// Whether the hardware translates through it (I clear).
    pub const fn hw_valid(self) -> bool {
        self.0 & PteBits::I.bits() == 0
    }
    /// The frame (`pte_pfn << PAGE_SHIFT`).
    pub const fn frame(self) -> PhysAddr {
        PhysAddr(self.0 & PAGE_ORIGIN)
    }
    /// Bad: bit 0x800 set (the hardware raises translation-specification).
    pub const fn bad(self) -> bool {
        self.0 & PteBits::ZERO_BIT.bits() != 0
    }
    const fn set(self, b: PteBits) -> Pte {
        Pte(self.0 | b.bits())
    }
    const fn clear(self, b: PteBits) -> Pte {
        Pte(self.0 & !b.bits())
    }
    /// `pte_mkold`: not young, and invalid for the hardware, so the next
    /// access traps.
    pub const fn mkold(self) -> Pte {
        self.clear(PteBits::YOUNG).set(PteBits::I)
    }
    /// `pte_mkyoung`: young, and valid for the hardware if readable.
    pub const fn mkyoung(self) -> Pte {
        let p = self.set(PteBits::YOUNG);
        if p.0 & PteBits::READ.bits() != 0 {
            p.clear(PteBits::I)
        } else {
            p
        }
    }
    /// `pte_mkclean`: not dirty, and protected for the hardware, so the next
    /// write traps.
    pub const fn mkclean(self) -> Pte {
        self.clear(PteBits::DIRTY).set(PteBits::P)
    }
    /// `pte_mkdirty`: dirty (and soft-dirty), and writable for the hardware if
    /// the mapping is.
    pub const fn mkdirty(self) -> Pte {
        let p = self.set(PteBits::DIRTY).set(PteBits::SOFT_DIRTY);
        if p.write() {
            p.clear(PteBits::P)
        } else {
            p
        }
    }
    /// `pte_wrprotect`: not writable, and protected for the hardware.
    pub const fn wrprotect(self) -> Pte {
        self.clear(PteBits::WRITE).set(PteBits::P)
    }
    /// `pte_mkwrite`: writable, and writable for the hardware if dirty.
    pub const fn mkwrite(self) -> Pte {
        let p = self.set(PteBits::WRITE);
        if p.dirty() {
            p.clear(PteBits::P)
        } else {
            p
        }
    }
    /// `pte_mkspecial`.
    pub const fn mkspecial(self) -> Pte {
        self.set(PteBits::SPECIAL)
    }
    /// `pte_modify(pte, newprot)`: the frame, special, young and dirty bits
    /// (`_PAGE_CHG_MASK`) with the new protection ([`page_prot`]), the hardware
    /// bits derived again.
    pub const fn modify(self, newprot: u64) -> Pte {
        let keep = PAGE_ORIGIN
            | PteBits::SPECIAL.bits()
            | PteBits::DIRTY.bits()
            | PteBits::YOUNG.bits()
            | PteBits::SOFT_DIRTY.bits();
        let mut p = Pte(self.0 & keep | newprot);
        if p.young() && p.0 & PteBits::READ.bits() != 0 {
            p = p.clear(PteBits::I);
        }
        if p.dirty() && p.write() {
            p = p.clear(PteBits::P);
        }
        p
    }
}
