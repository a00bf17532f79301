//! The generic lockless walk over other architectures' folding rules (host
//! only): why x86-64 and RISC-V were safe, why s390 broke in 2020 and arm64 in
//! 2024.
//!
//! Linux's gup_fast (mm/gup.c) walks pgd → p4d → pud → pmd → pte, reads each
//! entry once into a local copy and hands the next level either a pointer
//! derived from the copy (`pXd_offset(&copy)`, before v5.9 and the generic
//! `pXd_offset_lockless` default since) or the real pointer (an
//! architecture's own `pXd_offset_lockless`). Each level's loop steps with
//! `pXd_addr_end`, which uses that level's `*_SHIFT`, and moves on with
//! `pXdp++`. A [`Config`] describes one architecture as far as that walk needs:
//! for each Linux level its `*_SHIFT` and index width as the kernel sees them at
//! run time (constants, or variables such as x86's `pgdir_shift`), whether a
//! real table exists there, and how `pXd_offset` treats a folded level
//! (returning its argument, or, as arm64 does for a level folded at run time,
//! aligning the argument down to its page and indexing from there). Memory is
//! a set of objects, real tables and the walker's stack page with one copy per
//! level between guard words, and every pointer is checked against them before
//! it is read, so a step off a copy and a pointer into no table are caught and
//! named, as foldkern's kernel walk catches them.
//!
//! The rules the configurations show: the walk over copies is safe only if
//! both hold, or the pointer handed down is the real one:
//!
//! 1. no folded level's loop iterates (its static step is at least its
//!    parent's, so `pXd_addr_end` returns `end` at once and `pXdp++` never
//!    leaves the copy); s390 broke this in 2020;
//! 2. a pointer derived from the copy is never used as an address: folding
//!    returns its argument, and nothing computes another entry's address from
//!    it; arm64 broke this in 2024 (its run-time folding aligns the copy's
//!    address down to a page and indexes from there).
use std::collections::BTreeMap;
use std::fmt::Write;
use std::string::String;
use std::vec::Vec;

/// The Linux level names, top first.
pub const LEVELS: [&str; 5] = ["pgd", "p4d", "pud", "pmd", "pte"];

/// How `pXd_offset` treats a level without a table of its own.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Folded {
    /// Returns its argument as the child's pointer: `pgtable-nopXd.h` (folded
    /// at compile time), x86-64's and RISC-V's run-time p4d/pud, s390's
    /// run-time folding by entry type.
    Same,
    /// arm64's run-time folding (`p4d_to_folded_pud`, `pgd_to_folded_p4d`):
    /// `PTR_ALIGN_DOWN(parentp, PAGE_SIZE) + pXd_index(addr)`, which is the real
    /// entry only if the argument points into the real table.
    AlignDown,
}

/// One Linux level as the walk sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Level {
    /// `*_SHIFT` at run time (what `pXd_addr_end` and `pXd_index` use).
    pub shift: u32,
    /// `log2(PTRS_PER_*)`: the index width.
    pub bits: u32,
    /// `None`: a real table at this level; else how `pXd_offset` folds it.
    pub folded: Option<Folded>,
}

/// Which walk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Walk {
    /// Before v5.9: `pXd_offset(&copy, addr)` at every level.
    ValueCopy,
    /// v5.9's `pXd_offset_lockless` with the generic defaults only
    /// (`pXd_offset(&copy)`): the same pointers as [`Walk::ValueCopy`].
    GenericLockless,
    /// v5.9's walk with this architecture's own `pXd_offset_lockless` for the
    /// levels in [`Config::overrides`]: they take the real parent pointer.
    ArchOverride,
}

impl Walk {
    /// Every walk, in the order of the summary.
    pub const ALL: [Walk; 3] = [Walk::ValueCopy, Walk::GenericLockless, Walk::ArchOverride];
    /// Short name.
    pub const fn name(self) -> &'static str {
        match self {
            Walk::ValueCopy => "value-copy (pre-2020)",
            Walk::GenericLockless => "lockless, generic defaults",
            Walk::ArchOverride => "lockless, arch overrides",
        }
    }
}

/// One architecture configuration.
#[derive(Clone, Copy, Debug)]
pub struct Config {
    /// Name (what the example takes).
    pub name: &'static str,
    /// `PAGE_SHIFT`.
    pub page_shift: u32,
    /// pgd, p4d, pud, pmd, pte.
    pub levels: [Level; 5],
    /// The shift and width `pgd_offset` indexes the top table with (s390's
    /// `pgd_offset_raw` takes them from the real top table's type).
    pub pgd_index: (u32, u32),
    /// What the hardware walks: (Linux level of the entries, shift, index
    /// width) of each real table, top first.
    pub hw: &'static [(usize, u32, u32)],
    /// Levels (1 = p4d ... 3 = pmd) with an architecture `pXd_offset_lockless`,
    /// and the Linux release that has it; empty where none exists.
    pub overrides: &'static [usize],
    /// Where the overrides come from.
    pub override_source: &'static str,
}

const fn real(shift: u32, bits: u32) -> Level {
    Level {
        shift,
        bits,
        folded: None,
    }
}

const fn folded(shift: u32, bits: u32, how: Folded) -> Level {
    Level {
        shift,
        bits,
        folded: Some(how),
    }
}

/// s390 with `n` real levels (2..=5): the top table holds the entries of
/// level `5 - n`, and `pXd_offset` returns its argument at every level down to
/// that one (the entry read already is that level's: folding by entry type at
/// run time); every `*_SHIFT` is a constant of the 5-level layout, and
/// `pgd_offset_raw` indexes with the real top's shift.
pub const fn s390(n: usize) -> Config {
    const SHIFTS: [u32; 5] = [53, 42, 31, 20, 12];
    const BITS: [u32; 5] = [11, 11, 11, 11, 8];
    const HW: [(usize, u32, u32); 5] = [(0, 53, 11), (1, 42, 11), (2, 31, 11), (3, 20, 11), (4, 12, 8)];
    let top = 5 - n;
    let mut levels = [real(0, 0); 5];
    let mut i = 0;
    while i < 5 {
        levels[i] = if i >= 1 && i <= top {
            folded(SHIFTS[i], BITS[i], Folded::Same)
        } else {
            real(SHIFTS[i], BITS[i])
        };
        i += 1;
    }
    let (name, hw): (&str, &[(usize, u32, u32)]) = match n {
        2 => ("s390-2level", HW.split_at(3).1),
        3 => ("s390-3level", HW.split_at(2).1),
        4 => ("s390-4level", HW.split_at(1).1),
        _ => ("s390-5level", &HW),
    };
    Config {
        name,
        page_shift: 12,
        levels,
        pgd_index: (SHIFTS[top], BITS[top]),
        hw,
        overrides: &[1, 2, 3],
        override_source: "s390 v5.9 (d3f7b1bb2040)",
    }
}

/// Every configuration the model covers.
pub fn configs() -> Vec<Config> {
    use Folded::*;
    let none: &[usize] = &[];
    let mut v = Vec::new();
    for n in 2..=5 {
        v.push(s390(n));
    }
    let cfg = |name, page_shift, levels, pgd_index, hw, overrides, override_source| Config {
        name,
        page_shift,
        levels,
        pgd_index,
        hw,
        overrides,
        override_source,
    };
    const X4: &[(usize, u32, u32)] = &[(0, 39, 9), (2, 30, 9), (3, 21, 9), (4, 12, 9)];
    const X5: &[(usize, u32, u32)] = &[(0, 48, 9), (1, 39, 9), (2, 30, 9), (3, 21, 9), (4, 12, 9)];
    // x86-64: pgdir_shift and ptrs_per_p4d are variables with CONFIG_X86_5LEVEL.
    v.push(cfg(
        "x86-64-4level",
        12,
        [real(39, 9), folded(39, 0, Same), real(30, 9), real(21, 9), real(12, 9)],
        (39, 9),
        X4,
        none,
        "none",
    ));
    v.push(cfg(
        "x86-64-5level",
        12,
        [real(48, 9), real(39, 9), real(30, 9), real(21, 9), real(12, 9)],
        (48, 9),
        X5,
        none,
        "none",
    ));
    // RISC-V: PGDIR_SHIFT and P4D_SHIFT chosen at boot (pgtable-64.h); p4d and
    // pud fold at run time.
    const SV39: &[(usize, u32, u32)] = &[(0, 30, 9), (3, 21, 9), (4, 12, 9)];
    v.push(cfg(
        "riscv-sv39",
        12,
        [
            real(30, 9),
            folded(30, 0, Same),
            folded(30, 0, Same),
            real(21, 9),
            real(12, 9),
        ],
        (30, 9),
        SV39,
        none,
        "none",
    ));
    v.push(cfg(
        "riscv-sv48",
        12,
        [real(39, 9), folded(39, 0, Same), real(30, 9), real(21, 9), real(12, 9)],
        (39, 9),
        X4,
        none,
        "none",
    ));
    v.push(cfg(
        "riscv-sv57",
        12,
        [real(48, 9), real(39, 9), real(30, 9), real(21, 9), real(12, 9)],
        (48, 9),
        X5,
        none,
        "none",
    ));
    // arm64, 16 KiB pages: 11 index bits a level.
    const A16_3: &[(usize, u32, u32)] = &[(0, 36, 11), (3, 25, 11), (4, 14, 11)];
    const A16_4: &[(usize, u32, u32)] = &[(0, 47, 5), (2, 36, 11), (3, 25, 11), (4, 14, 11)];
    const A16_4_OFF: &[(usize, u32, u32)] = &[(2, 36, 11), (3, 25, 11), (4, 14, 11)];
    const A4_5: &[(usize, u32, u32)] = &[(0, 48, 4), (1, 39, 9), (2, 30, 9), (3, 21, 9), (4, 12, 9)];
    const A4_5_OFF: &[(usize, u32, u32)] = &[(1, 39, 9), (2, 30, 9), (3, 21, 9), (4, 12, 9)];
    v.push(cfg(
        "arm64-16k-3level",
        14,
        [
            real(36, 11),
            folded(36, 0, Same),
            folded(36, 0, Same),
            real(25, 11),
            real(14, 11),
        ],
        (36, 11),
        A16_3,
        none,
        "none",
    ));
    v.push(cfg(
        "arm64-16k-lpa2-on",
        14,
        [
            real(47, 5),
            folded(47, 0, Same),
            real(36, 11),
            real(25, 11),
            real(14, 11),
        ],
        (47, 5),
        A16_4,
        &[1, 2],
        "arm64 2024 fix",
    ));
    // Without LPA2 the top table holds pud entries; pgd_index is 0 below 2^47.
    v.push(cfg(
        "arm64-16k-lpa2-off",
        14,
        [
            real(47, 5),
            folded(47, 0, Same),
            folded(36, 11, AlignDown),
            real(25, 11),
            real(14, 11),
        ],
        (47, 5),
        A16_4_OFF,
        &[1, 2],
        "arm64 2024 fix",
    ));
    v.push(cfg(
        "arm64-4k-4level",
        12,
        [real(39, 9), folded(39, 0, Same), real(30, 9), real(21, 9), real(12, 9)],
        (39, 9),
        X4,
        none,
        "none",
    ));
    v.push(cfg(
        "arm64-4k-lpa2-on",
        12,
        [real(48, 4), real(39, 9), real(30, 9), real(21, 9), real(12, 9)],
        (48, 4),
        A4_5,
        &[1],
        "arm64 v6.9 (5 levels)",
    ));
    v.push(cfg(
        "arm64-4k-lpa2-off",
        12,
        [
            real(48, 4),
            folded(39, 9, AlignDown),
            real(30, 9),
            real(21, 9),
            real(12, 9),
        ],
        (48, 4),
        A4_5_OFF,
        &[1],
        "arm64 v6.9 (5 levels)",
    ));
    v
}

/// What folds in configuration `name`, when (compile time or run time) and
/// on what, and which of the sizes the walk uses are run-time values: the
/// facts [`configs`] encodes, in words.
pub fn rule(name: &str) -> &'static str {
    match name {
        "s390-2level" | "s390-3level" | "s390-4level" => {
            "run time, per entry: the levels above the top table fold by the entry's table type (TT bits); every *_SHIFT is a constant of the 5-level layout"
        }
        "s390-5level" => "nothing folds; every *_SHIFT is a constant",
        "x86-64-4level" => {
            "CONFIG_X86_5LEVEL without LA57: p4d folds at run time (pgtable_l5_enabled() false); pgdir_shift (39) and ptrs_per_p4d (1) are run-time variables, P4D_SHIFT the constant 39"
        }
        "x86-64-5level" => "LA57 on: nothing folds (pgdir_shift 48, ptrs_per_p4d 512)",
        "riscv-sv39" => {
            "p4d and pud fold at run time (pgtable_l4_enabled, pgtable_l5_enabled false); PGDIR_SHIFT and P4D_SHIFT are run-time values (30 and 30), PUD_SHIFT the constant 30"
        }
        "riscv-sv48" => "p4d folds at run time (pgtable_l5_enabled false); PGDIR_SHIFT and P4D_SHIFT run-time values (39 and 39)",
        "riscv-sv57" => "nothing folds (PGDIR_SHIFT 48 at run time)",
        "arm64-16k-3level" => "CONFIG_PGTABLE_LEVELS=3: p4d and pud fold at compile time (pgtable-nopXd.h); all sizes constants",
        "arm64-16k-lpa2-on" => "CONFIG_PGTABLE_LEVELS=4: p4d folds at compile time; with LPA2 the pud level is real",
        "arm64-16k-lpa2-off" => {
            "CONFIG_PGTABLE_LEVELS=4 on a CPU without LPA2: p4d folds at compile time, pud at run time (pgtable_l4_enabled() false) by aligning the pointer down (p4d_to_folded_pud)"
        }
        "arm64-4k-4level" => "CONFIG_PGTABLE_LEVELS=4: p4d folds at compile time; all sizes constants",
        "arm64-4k-lpa2-on" => "CONFIG_PGTABLE_LEVELS=5 with LPA2: nothing folds",
        "arm64-4k-lpa2-off" => {
            "CONFIG_PGTABLE_LEVELS=5 without LPA2: p4d folds at run time (pgtable_l5_enabled() false) by aligning the pointer down (pgd_to_folded_p4d)"
        }
        _ => "",
    }
}

/// The configuration called `name`.
pub fn config(name: &str) -> Option<Config> {
    configs().into_iter().find(|c| c.name == name)
}

/// Why a walk stopped abnormally.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WalkError {
    /// `pXdp++` left a stack copy: the pointer is on a guard word.
    OffCopy {
        /// Linux level (0 = pgd).
        level: usize,
        /// The pointer.
        at: u64,
    },
    /// A pointer lies in no table and on no copy (arm64's align-down of a
    /// stack address).
    OutsideTable {
        /// Linux level.
        level: usize,
        /// The pointer.
        at: u64,
    },
}

/// One entry the walk read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Step {
    /// Linux level (0 = pgd).
    pub level: usize,
    /// Address and `pXd_addr_end`.
    pub addr: u64,
    /// The end of this step.
    pub next: u64,
    /// Where the pointer points.
    pub at: u64,
    /// What that is.
    pub what: String,
    /// The value read.
    pub val: u64,
}

/// What a walk did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    /// The frames pinned, in order.
    pub pinned: Vec<u64>,
    /// Why it stopped, if abnormally.
    pub error: Option<WalkError>,
    /// Every entry read.
    pub steps: Vec<Step>,
    /// (level, pointer, what a fresh walk gives) for every pointer that was
    /// neither the one a fresh walk from the top gives for that level and
    /// address nor, on a folded level's first step, the parent's copy
    /// (foldkern's walk invariant).
    pub violations: Vec<(usize, u64, u64)>,
}

/// Where the walker's copies live: one page, a copy per level every 16
/// bytes, a guard word after each.
const STACK: u64 = 0x7fff_0000_0000;
/// The guard word pattern ("STACK" + slot), as foldkern's walker frame.
const GUARD: u64 = 0x5354_4143_4b00_0000;
/// First table's address; tables are placed 64 KiB apart.
const TABLES: u64 = 0x1000_0000;

/// An address space of one configuration: real tables only where the
/// configuration has them.
pub struct Space {
    /// Its configuration.
    pub cfg: Config,
    tables: BTreeMap<u64, (usize, Vec<u64>)>,
    top: u64,
}

impl Space {
    /// An empty space of `cfg`.
    pub fn new(cfg: Config) -> Space {
        let mut s = Space {
            cfg,
            tables: BTreeMap::new(),
            top: 0,
        };
        s.top = s.alloc(0);
        s
    }
    /// A table for step `k` of the hardware chain.
    fn alloc(&mut self, k: usize) -> u64 {
        let base = TABLES + self.tables.len() as u64 * 0x10000;
        let (level, _, bits) = self.cfg.hw[k];
        self.tables.insert(base, (level, std::vec![0; 1 << bits]));
        base
    }
    /// The real table `p` points into: its origin, the Linux level of its
    /// entries, and the entries.
    fn table_at(&self, p: u64) -> Option<(u64, usize, &Vec<u64>)> {
        let (&base, (level, t)) = self.tables.range(..=p).next_back()?;
        (p < base + 8 * t.len() as u64).then_some((base, *level, t))
    }
    /// `pgd_offset(mm, addr)`.
    fn pgd_offset(&self, addr: u64) -> u64 {
        let (shift, bits) = self.cfg.pgd_index;
        self.top + 8 * ((addr >> shift) & ((1 << bits) - 1))
    }
    /// A space of `cfg` with every page of `[start, end)` mapped.
    pub fn mapped(cfg: Config, start: u64, end: u64) -> Space {
        let mut s = Space::new(cfg);
        for a in (start..end).step_by(1 << cfg.page_shift) {
            s.map(a);
        }
        s
    }
    /// Map the page of `addr` to the frame of the same address (identity).
    pub fn map(&mut self, addr: u64) {
        let chain = self.cfg.hw;
        let mut table = self.top;
        for (k, &(_, shift, bits)) in chain.iter().enumerate() {
            let i = ((addr >> shift) & ((1 << bits) - 1)) as usize;
            if k + 1 == chain.len() {
                self.tables.get_mut(&table).unwrap().1[i] = (addr & !((1 << self.cfg.page_shift) - 1)) | 1;
                return;
            }
            let v = self.tables[&table].1[i];
            table = if v == 0 {
                let next = self.alloc(k + 1);
                self.tables.get_mut(&table).unwrap().1[i] = next | 1;
                next
            } else {
                v & !1
            };
        }
    }
    /// What the hardware translates `addr` to: a fresh walk of the real tables.
    pub fn translate(&self, addr: u64) -> Option<u64> {
        let mut table = self.top;
        let chain = self.cfg.hw;
        for (k, &(_, shift, bits)) in chain.iter().enumerate() {
            let v = self.tables[&table].1[((addr >> shift) & ((1 << bits) - 1)) as usize];
            if v == 0 {
                return None;
            }
            if k + 1 == chain.len() {
                return Some(v & !1);
            }
            table = v & !1;
        }
        None
    }
    /// The frames a correct gup pins for `[start, end)`: every page up to the
    /// first hole.
    pub fn reference(&self, start: u64, end: u64) -> Vec<u64> {
        let page = 1u64 << self.cfg.page_shift;
        (0..(end - start) / page)
            .map_while(|i| self.translate(start + i * page))
            .collect()
    }

    /// What is at `p`: a real table entry, a stack copy (and whose), a guard
    /// word, or nothing.
    fn object(&self, p: u64) -> Result<(u64, String), (bool, String)> {
        if (STACK..STACK + 16 * 5).contains(&p) {
            let slot = ((p - STACK) / 16) as usize;
            return match (p - STACK) % 16 {
                0 => Ok((0, std::format!("stack copy of the {} entry", LEVELS[slot]))),
                _ => Err((true, std::format!("guard word after the {} copy", LEVELS[slot]))),
            };
        }
        match self.table_at(p) {
            Some((base, level, t)) => {
                let k = (p - base) / 8;
                Ok((
                    t[k as usize],
                    std::format!("{}-level table {base:#x}[{k:#x}]", LEVELS[level]),
                ))
            }
            None => Err((false, String::from("no table"))),
        }
    }
    fn read(&self, p: u64, copies: &[u64; 5]) -> Result<(u64, String), (bool, String)> {
        let (v, what) = self.object(p)?;
        if (STACK..STACK + 80).contains(&p) {
            return Ok((copies[((p - STACK) / 16) as usize], what));
        }
        Ok((v, what))
    }

    /// Run `walk` over `[start, end)` (`end` exclusive, page-aligned).
    pub fn gup(&self, walk: Walk, start: u64, end: u64) -> Outcome {
        let mut w = Walker {
            s: self,
            walk,
            copies: [GUARD; 5],
            out: Outcome {
                pinned: Vec::new(),
                error: None,
                steps: Vec::new(),
                violations: Vec::new(),
            },
        };
        w.range(0, self.pgd_offset(start), start, end);
        w.out
    }
}

struct Walker<'s> {
    s: &'s Space,
    walk: Walk,
    copies: [u64; 5],
    out: Outcome,
}

impl Walker<'_> {
    fn addr_end(&self, level: usize, addr: u64, end: u64) -> u64 {
        let size = 1u64.checked_shl(self.s.cfg.levels[level].shift).unwrap_or(0);
        let boundary = (addr.wrapping_add(size)) & !(size.wrapping_sub(1));
        if boundary.wrapping_sub(1) < end.wrapping_sub(1) {
            boundary
        } else {
            end
        }
    }
    /// `pXd_offset(p, addr)` for `level` as this configuration folds it:
    /// the next table from `parent` (the value at `p`), or `p` itself, or
    /// arm64's `p` aligned down to its page and indexed.
    fn derive(&self, level: usize, p: u64, parent: u64, addr: u64) -> u64 {
        let lv = self.s.cfg.levels[level];
        let index = 8 * ((addr >> lv.shift) & ((1u64 << lv.bits) - 1));
        match lv.folded {
            None => (parent & !1) + index,
            Some(Folded::Same) => p,
            Some(Folded::AlignDown) => (p & !((1u64 << self.s.cfg.page_shift) - 1)) + index,
        }
    }
    /// `pXd_offset` / `pXd_offset_lockless` for `level`, given the parent's
    /// real pointer and its value (whose copy is in its slot): derived from
    /// the real pointer where this walk has the architecture's override for
    /// the level, else from the copy.
    fn offset(&self, level: usize, parentp: u64, parent: u64, addr: u64) -> u64 {
        let real_parent = self.walk == Walk::ArchOverride && self.s.cfg.overrides.contains(&level);
        let p = if real_parent {
            parentp
        } else {
            STACK + 16 * (level as u64 - 1)
        };
        self.derive(level, p, parent, addr)
    }
    /// The pointer a walk from the top that always passes the real pointer
    /// gives for `level` and `addr`; `None` past an empty entry.
    fn fresh(&self, level: usize, addr: u64) -> Option<u64> {
        let mut p = self.s.pgd_offset(addr);
        for l in 1..=level {
            let v = self.s.object(p).ok()?.0;
            if v == 0 && self.s.cfg.levels[l].folded.is_none() {
                return None;
            }
            p = self.derive(l, p, v, addr);
        }
        Some(p)
    }
    fn range(&mut self, level: usize, mut p: u64, mut addr: u64, end: u64) -> bool {
        let mut first = true;
        loop {
            let copy_of_parent = level > 0 && p == STACK + 16 * (level as u64 - 1);
            let folds = self.s.cfg.levels[level].folded == Some(Folded::Same);
            if let Some(f) = self.fresh(level, addr).filter(|&f| f != p) {
                if !(first && folds && copy_of_parent) {
                    self.out.violations.push((level, p, f));
                }
            }
            first = false;
            // arm64's align-down is the real entry only from a real table.
            if self.s.cfg.levels[level].folded == Some(Folded::AlignDown) && self.s.table_at(p).is_none() {
                self.out.error = Some(WalkError::OutsideTable { level, at: p });
                return false;
            }
            let (val, what) = match self.s.read(p, &self.copies) {
                Ok(v) => v,
                Err((guard, _)) => {
                    self.out.error = Some(match guard {
                        true => WalkError::OffCopy { level, at: p },
                        false => WalkError::OutsideTable { level, at: p },
                    });
                    return false;
                }
            };
            let next = if level == 4 {
                addr + (1 << self.s.cfg.page_shift)
            } else {
                self.addr_end(level, addr, end)
            };
            self.out.steps.push(Step {
                level,
                addr,
                next,
                at: p,
                what,
                val,
            });
            // pXd_none is false on a level whose child folds (the nopXd
            // headers, arm64's and s390's run-time folding): the entry is
            // tested where it really belongs.
            let child_folds = level < 4 && self.s.cfg.levels[level + 1].folded.is_some();
            if val == 0 && !child_folds {
                return false;
            }
            if level == 4 {
                self.out.pinned.push(val & !1);
            } else {
                self.copies[level] = val;
                let child = self.offset(level + 1, p, val, addr);
                if !self.range(level + 1, child, addr, next) {
                    return false;
                }
            }
            p += 8;
            addr = next;
            if addr == end {
                return true;
            }
        }
    }
}

/// The kernel trace's format for one step.
pub fn format_step(s: &Step) -> String {
    std::format!(
        "  {} {:#015x} -> {:#015x}  {:#018x} at {:#x} ({})",
        LEVELS[s.level],
        s.addr,
        s.next,
        s.val,
        s.at,
        s.what
    )
}

/// One word for an outcome against the reference.
pub fn verdict(s: &Space, o: &Outcome, start: u64, end: u64) -> String {
    match o.error {
        Some(WalkError::OffCopy { level, at }) => std::format!(
            "{} pointer {at:#x} walked off the {} copy",
            LEVELS[level],
            LEVELS[((at - STACK) / 16) as usize]
        ),
        Some(WalkError::OutsideTable { level, at }) if (STACK..STACK + (1 << s.cfg.page_shift)).contains(&at) => {
            std::format!(
                "{} pointer {at:#x} is on the walker's stack page (offset {:#x}), in no table",
                LEVELS[level],
                at - STACK
            )
        }
        Some(WalkError::OutsideTable { level, at }) => std::format!("{} pointer {at:#x} is in no table", LEVELS[level]),
        None if o.pinned == s.reference(start, end) => String::from("correct"),
        None => String::from("WRONG pages"),
    }
}

/// The walk of `walk` over `[start, end)` in a space of `cfg` with every page
/// of the range mapped, traced: steps and the verdict.
pub fn trace(cfg: Config, walk: Walk, start: u64, end: u64) -> String {
    let s = Space::mapped(cfg, start, end);
    let page = 1u64 << cfg.page_shift;
    let o = s.gup(walk, start, end);
    let mut out = String::new();
    let _ = writeln!(out, "[{}] {} {start:#x}-{end:#x}", cfg.name, walk.name());
    for st in &o.steps {
        let _ = writeln!(out, "{}", format_step(st));
    }
    for &(level, p, f) in &o.violations {
        let _ = writeln!(
            out,
            "  invariant violated: {} pointer {p:#x}, a walk from the top gives {f:#x}",
            LEVELS[level]
        );
    }
    let _ = writeln!(
        out,
        "  => {} ({} of {} pages pinned)",
        verdict(&s, &o, start, end),
        o.pinned.len(),
        (end - start) / page
    );
    out
}

/// The bits of virtual address the configuration translates.
pub fn va_bits(cfg: &Config) -> u32 {
    cfg.hw[0].1 + cfg.hw[0].2
}

/// A range of two pages around every boundary a walk can cross: each level's
/// `*_SHIFT` (static and real) below the top of the address space.
pub fn crossings(cfg: &Config) -> Vec<(u64, u64)> {
    let page = 1u64 << cfg.page_shift;
    let mut shifts: Vec<u32> = cfg
        .levels
        .iter()
        .map(|l| l.shift)
        .chain(cfg.hw.iter().map(|h| h.1))
        .collect();
    shifts.sort_unstable();
    shifts.dedup();
    shifts
        .into_iter()
        .filter(|&s| s > cfg.page_shift && s < va_bits(cfg))
        .map(|s| ((1u64 << s) - page, (1u64 << s) + page))
        .collect()
}

/// The verdict of every walk on every crossing of `cfg`, summed up: the
/// first failing one, or "correct".
pub fn summary(cfg: Config, walk: Walk) -> String {
    for (start, end) in crossings(&cfg) {
        let s = Space::mapped(cfg, start, end);
        let o = s.gup(walk, start, end);
        let v = verdict(&s, &o, start, end);
        if v != "correct" {
            return std::format!("{v} ({start:#x}-{end:#x})");
        }
    }
    String::from("correct")
}
