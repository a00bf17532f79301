//! Translation levels and ASCE types: the arithmetic of z/Architecture DAT
//! (PoP "Translation Tables") under Linux's names.
//!
//! | Linux | s390 table          | shift | entries | one entry maps |
//! |-------|---------------------|-------|---------|----------------|
//! | pgd   | region-first table  | 53    | 2048    | 8 PiB          |
//! | p4d   | region-second table | 42    | 2048    | 4 TiB          |
//! | pud   | region-third table  | 31    | 2048    | 2 GiB          |
//! | pmd   | segment table       | 20    | 2048    | 1 MiB          |
//! | pte   | page table          | 12    | 256     | 4 KiB          |
//!
//! Which of these exist in an address space is decided at run time by the ASCE
//! type: the top table is the one the ASCE designates, the levels above it are
//! *folded* (see `pgtable.rs`).

use super::addr::VirtAddr;

/// A level of the 5-level Linux layout (also: the kind of table holding an entry).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    /// Region-first table (Linux pgd).
    Pgd = 0,
    /// Region-second table (Linux p4d).
    P4d = 1,
    /// Region-third table (Linux pud).
    Pud = 2,
    /// Segment table (Linux pmd).
    Pmd = 3,
    /// Page table (Linux pte).
    Pte = 4,
}

/// Addresses where entries of some level end, the places tests straddle: 1 MiB
/// (segment), 2 GiB (region-third), the bug report's 0x10080000000 (a 2 GiB
/// boundary), 4 TiB (region-second), 8 PiB (region-first), and 2^64 written as 0.
pub const LEVEL_BOUNDARIES: [u64; 6] = [1 << 20, 1 << 31, 0x100_8000_0000, 1 << 42, 1 << 53, 0];

/// Entries in a region or segment table ("CRST": combined region/segment table).
pub const CRST_ENTRIES: usize = 2048;
/// Bytes of a CRST (16 KiB, naturally aligned).
pub const CRST_BYTES: u64 = 16384;
/// Entries in a page table.
pub const PTRS_PER_PTE: usize = 256;
/// Bytes of a page table (2 KiB; two share a 4 KiB frame).
pub const PT_BYTES: u64 = 2048;

impl Level {
    /// All levels, top to bottom.
    pub const ALL: [Level; 5] = [Level::Pgd, Level::P4d, Level::Pud, Level::Pmd, Level::Pte];

    /// Index shift of this level (Linux `PGDIR_SHIFT`, `P4D_SHIFT`, ...).
    pub const fn shift(self) -> u32 {
        match self {
            Level::Pgd => 53,
            Level::P4d => 42,
            Level::Pud => 31,
            Level::Pmd => 20,
            Level::Pte => 12,
        }
    }
    /// Bytes one entry of this level maps (Linux `PXD_SIZE`).
    pub const fn size(self) -> u64 {
        1 << self.shift()
    }
    /// Mask of the address bits above this level's entry (Linux `PXD_MASK`).
    pub const fn mask(self) -> u64 {
        !(self.size() - 1)
    }
    /// Entries in a table of this level.
    pub const fn entries(self) -> usize {
        match self {
            Level::Pte => PTRS_PER_PTE,
            _ => CRST_ENTRIES,
        }
    }
    /// Bytes of a table of this level.
    pub const fn table_bytes(self) -> u64 {
        self.entries() as u64 * 8
    }
    /// Index of `addr` in a table of this level (Linux `pXd_index`).
    pub const fn index(self, addr: VirtAddr) -> usize {
        ((addr >> self.shift()) as usize) & (self.entries() - 1)
    }
    /// The next level down.
    pub const fn below(self) -> Option<Level> {
        match self {
            Level::Pgd => Some(Level::P4d),
            Level::P4d => Some(Level::Pud),
            Level::Pud => Some(Level::Pmd),
            Level::Pmd => Some(Level::Pte),
            Level::Pte => None,
        }
    }
    /// The next level up.
    pub const fn above(self) -> Option<Level> {
        match self {
            Level::Pgd => None,
            Level::P4d => Some(Level::Pgd),
            Level::Pud => Some(Level::P4d),
            Level::Pmd => Some(Level::Pud),
            Level::Pte => Some(Level::Pmd),
        }
    }
    /// Linux name.
    pub const fn name(self) -> &'static str {
        match self {
            Level::Pgd => "pgd",
            Level::P4d => "p4d",
            Level::Pud => "pud",
            Level::Pmd => "pmd",
            Level::Pte => "pte",
        }
    }
    /// Hardware name of an entry of this level's table.
    pub const fn entry_name(self) -> &'static str {
        match self {
            Level::Pgd => "region-first entry",
            Level::P4d => "region-second entry",
            Level::Pud => "region-third entry",
            Level::Pmd => "segment entry",
            Level::Pte => "page-table entry",
        }
    }
    /// Hardware name of the table.
    pub const fn hw_name(self) -> &'static str {
        match self {
            Level::Pgd => "region-first",
            Level::P4d => "region-second",
            Level::Pud => "region-third",
            Level::Pmd => "segment",
            Level::Pte => "page",
        }
    }
    /// Table-type bits (TT, 0x0c) that entries of a table of this level carry
    /// (`_REGION_ENTRY_TYPE_R1/R2/R3`, segment 0). Page tables have none.
    pub const fn type_bits(self) -> u64 {
        match self {
            Level::Pgd => 0x0c,
            Level::P4d => 0x08,
            Level::Pud => 0x04,
            Level::Pmd | Level::Pte => 0x00,
        }
    }
    /// The CRST level whose entries carry table-type bits `tt` (0x0c mask).
    pub const fn from_type_bits(tt: u64) -> Level {
        match tt & 0x0c {
            0x0c => Level::Pgd,
            0x08 => Level::P4d,
            0x04 => Level::Pud,
            _ => Level::Pmd,
        }
    }
    /// Program-interruption code the hardware raises when an entry of a table of
    /// this level is invalid (PoP: region-first 0x39 ... page 0x11).
    pub const fn translation_exception(self) -> u16 {
        match self {
            Level::Pgd => 0x39,
            Level::P4d => 0x3a,
            Level::Pud => 0x3b,
            Level::Pmd => 0x10,
            Level::Pte => 0x11,
        }
    }
}

/// The designation type of an ASCE: which table is the top one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum AsceType {
    /// Segment table on top: 2 levels, 2 GiB.
    Segment,
    /// Region-third table on top: 3 levels, 4 TiB (Linux's default for new tasks).
    Region3,
    /// Region-second table on top: 4 levels, 8 PiB.
    Region2,
    /// Region-first table on top: 5 levels, 16 EiB.
    Region1,
}

impl AsceType {
    /// All types, smallest first.
    pub const ALL: [AsceType; 4] = [
        AsceType::Segment,
        AsceType::Region3,
        AsceType::Region2,
        AsceType::Region1,
    ];

    /// Number of translation levels.
    pub const fn levels(self) -> usize {
        match self {
            AsceType::Segment => 2,
            AsceType::Region3 => 3,
            AsceType::Region2 => 4,
            AsceType::Region1 => 5,
        }
    }
    /// The level of the table the ASCE designates.
    pub const fn top(self) -> Level {
        match self {
            AsceType::Segment => Level::Pmd,
            AsceType::Region3 => Level::Pud,
            AsceType::Region2 => Level::P4d,
            AsceType::Region1 => Level::Pgd,
        }
    }
    /// Highest address the type can translate (Linux `asce_limit - 1`).
    pub const fn last_addr(self) -> u64 {
        // 2^31, 2^42, 2^53, 2^64 bytes: 11 index bits more per level (one
        // shift, where a match became a jump table in the walks' access_ok).
        u64::MAX >> (33 - 11 * self as u32)
    }
    /// DT bits of the ASCE (0x0c).
    pub const fn dt_bits(self) -> u64 {
        self.top().type_bits()
    }
    /// Decode DT bits.
    pub const fn from_dt_bits(dt: u64) -> AsceType {
        match dt & 0x0c {
            0x0c => AsceType::Region1,
            0x08 => AsceType::Region2,
            0x04 => AsceType::Region3,
            _ => AsceType::Segment,
        }
    }
    /// The smallest type whose range covers `last` (dynamic folding's choice).
    pub const fn for_last_addr(last: VirtAddr) -> AsceType {
        if last <= AsceType::Segment.last_addr() {
            AsceType::Segment
        } else if last <= AsceType::Region3.last_addr() {
            AsceType::Region3
        } else if last <= AsceType::Region2.last_addr() {
            AsceType::Region2
        } else {
            AsceType::Region1
        }
    }
    /// The next larger type.
    pub const fn upgrade(self) -> Option<AsceType> {
        match self {
            AsceType::Segment => Some(AsceType::Region3),
            AsceType::Region3 => Some(AsceType::Region2),
            AsceType::Region2 => Some(AsceType::Region1),
            AsceType::Region1 => None,
        }
    }
    /// Short name.
    pub const fn name(self) -> &'static str {
        match self {
            AsceType::Segment => "segment",
            AsceType::Region3 => "region-third",
            AsceType::Region2 => "region-second",
            AsceType::Region1 => "region-first",
        }
    }
    /// Whether Linux level `l` is folded in this type (above the top table).
    pub const fn is_folded(self, l: Level) -> bool {
        (l as usize) < (self.top() as usize)
    }
}
