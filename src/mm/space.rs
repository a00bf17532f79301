//! Address spaces: one ASCE and the tables under it, with `map`, `unmap`,
//! `protect` of 4 KiB pages, run-time upgrade to more levels
//! (`crst_table_upgrade`, `arch/s390/mm/pgalloc.c`), and the software translation
//! used to check the hardware. A new space gets the smallest ASCE type that covers
//! what it maps: that is dynamic folding.
//!
//! Callers hold `&mut AddressSpace` to change it (the "mmap lock"); lockless
//! readers (gup_fast) need only the ASCE value and the platform.
use super::addr::{PhysAddr, VirtAddr, PAGE_SIZE};
use super::entry::*;
use super::frame::{AllocError, FrameAllocator};
use super::level::{AsceType, Level, CRST_BYTES, PT_BYTES};
use super::pgtable::*;
use super::platform::Platform;
use core::fmt;
use spin::Mutex;

/// Access rights and state of a mapping.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Prot {
    /// Writable (`_PAGE_WRITE`).
    pub write: bool,
    /// Special mapping: no `struct page`, gup_fast must not pin it (`pte_special`).
    pub special: bool,
    /// Young (accessed): the hardware translates it; an old page traps on the
    /// first access.
    pub young: bool,
    /// Dirty: a writable dirty page the hardware lets be written; a clean one
    /// traps on the first write.
    pub dirty: bool,
}

impl Prot {
    /// Read/write, young and dirty: a page as a write fault leaves it
    /// (`do_anonymous_page`), which loads and stores reach without a fault.
    pub const RW: Prot = Prot {
        write: true,
        special: false,
        young: true,
        dirty: true,
    };
    /// Read-only and young.
    pub const RO: Prot = Prot {
        write: false,
        special: false,
        young: true,
        dirty: false,
    };
    /// Read/write special mapping (a PFN map: no `struct page`, never pinned).
    pub const SPECIAL: Prot = Prot {
        special: true,
        ..Prot::RW
    };
    /// The same, but old (as reclaim's `ptep_test_and_clear_young` leaves it).
    pub const fn old(self) -> Prot {
        Prot { young: false, ..self }
    }
    /// The same, but clean: writable and clean is how 6.1's `mk_pte` maps a
    /// page of a writable shared mapping without write notification whose
    /// page is not `PageDirty` (it dirties the PTE only for a dirty page).
    /// Not what writeback leaves: `page_mkclean` write-protects too, which is
    /// `Prot::RO.clean()`.
    pub const fn clean(self) -> Prot {
        Prot { dirty: false, ..self }
    }
    fn pte(self, frame: PhysAddr) -> Pte {
        let mut p = mk_pte(frame, self.write);
        if self.dirty {
            p = p.mkdirty();
        }
        if !self.young {
            p = p.mkold();
        }
        if self.special {
            p = p.mkspecial();
        }
        p
    }
}

/// Why `handle_pte_fault` could not resolve a fault (Linux would send SIGSEGV
/// or take a path foldkern does not have).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaultError {
    /// Nothing is mapped there (no swap, no demand paging here).
    NotMapped(VirtAddr),
    /// A write to a page the mapping does not allow writes to (Linux:
    /// `do_wp_page` for copy-on-write; there is none here).
    WriteProtected(VirtAddr),
    /// The address is mapped by a large entry (no young/dirty tracking there).
    LargeMapping(VirtAddr),
    /// The tables are corrupt.
    Walk(WalkError),
}

impl fmt::Display for FaultError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FaultError::NotMapped(a) => write!(f, "fault at {a:#x}: nothing mapped"),
            FaultError::WriteProtected(a) => write!(f, "write fault at {a:#x}: the mapping is read-only"),
            FaultError::LargeMapping(a) => write!(f, "fault at {a:#x}: a large entry maps it"),
            FaultError::Walk(e) => write!(f, "fault: {e}"),
        }
    }
}

/// Why `map`/`unmap`/`protect` refused. On every error the tables are unchanged
/// (except that an upgrade done before running out of memory stays).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MapError {
    /// An address is not aligned to its size (4 KiB pages; 1 MiB or 2 GiB for
    /// large frames).
    Misaligned(u64),
    /// Zero pages requested.
    Empty,
    /// `start + pages * 4 KiB` exceeds 2^64.
    Wraps {
        /// Start address.
        start: VirtAddr,
        /// Pages requested.
        pages: u64,
    },
    /// A frame lies outside physical memory.
    FrameOutsideMemory(PhysAddr),
    /// The page is already mapped.
    AlreadyMapped(VirtAddr),
    /// The page is not mapped.
    NotMapped(VirtAddr),
    /// The page is mapped by a large entry, which 4 KiB operations do not split.
    LargeMapping(VirtAddr),
    /// No memory for tables.
    NoMemory,
    /// The request needs what this machine or kernel does not offer (says what).
    Unsupported(&'static str),
    /// The tables are corrupt.
    Walk(WalkError),
}

impl From<WalkError> for MapError {
    fn from(e: WalkError) -> Self {
        MapError::Walk(e)
    }
}

impl fmt::Display for MapError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MapError::Misaligned(a) => write!(f, "address {a:#x} is not aligned to its page or frame size"),
            MapError::Empty => write!(f, "empty range"),
            MapError::Wraps { start, pages } => write!(f, "range {start:#x} + {pages} pages wraps past 2^64"),
            MapError::FrameOutsideMemory(p) => write!(f, "frame {p} is outside memory"),
            MapError::AlreadyMapped(v) => write!(f, "{v:#x} is already mapped"),
            MapError::NotMapped(v) => write!(f, "{v:#x} is not mapped"),
            MapError::LargeMapping(v) => write!(f, "{v:#x} is mapped by a large entry"),
            MapError::Unsupported(why) => write!(f, "unsupported: {why}"),
            MapError::NoMemory => write!(f, "out of memory for page tables"),
            MapError::Walk(e) => write!(f, "{e}"),
        }
    }
}

/// A successful software translation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Translation {
    /// The physical address `addr` translates to.
    pub pa: PhysAddr,
    /// Writable.
    pub write: bool,
    /// Special (no struct page).
    pub special: bool,
    /// Present but not readable (`pte_protnone`).
    pub protnone: bool,
    /// Young (large frames: always).
    pub young: bool,
    /// Dirty (large frames: when writable).
    pub dirty: bool,
    /// Level of the entry that mapped it (Pte, or Pmd/Pud for large frames).
    pub level: Level,
}

/// An address space: ASCE, tables, and the allocator they come from.
pub struct AddressSpace<'a, P: Platform> {
    plat: &'a P,
    frames: &'a Mutex<FrameAllocator>,
    asce: Asce,
    crsts: u64,
    pts: u64,
    /// The frame holding the tables unhooked but not yet freed, one word each
    /// (origin | level), as Linux's `mmu_table_batch` is a page; none while
    /// nothing waits.
    batch: Option<PhysAddr>,
    npending: usize,
}

/// Tables one batch frame holds.
const BATCH_MAX: usize = (PAGE_SIZE / 8) as usize;

/// Freeing a table of the space's own can only fail on a kernel bug (the
/// allocator refuses bad frees by name instead of corrupting its state).
const FREE_OWN_TABLE: &str = "freeing a table of the space's own";

/// Validate a range of `pages` pages at `start`; return its exclusive end
/// (0 = 2^64).
pub fn range_end(start: VirtAddr, pages: u64) -> Result<u64, MapError> {
    if !start.is_multiple_of(PAGE_SIZE) {
        return Err(MapError::Misaligned(start));
    }
    if pages == 0 {
        return Err(MapError::Empty);
    }
    let end = start as u128 + pages as u128 * PAGE_SIZE as u128;
    if end > 1u128 << 64 {
        return Err(MapError::Wraps { start, pages });
    }
    Ok(end as u64)
}

/// The parts of `[start, end)` (`end` 0 = 2^64) that each lie in one segment
/// (1 MiB, what one page table maps), in order: the `pmd_addr_end` steps.
fn segments(start: VirtAddr, end: VirtAddr) -> impl Iterator<Item = (u64, u64)> {
    let mut a = start;
    core::iter::from_fn(move || {
        if a == end {
            return None;
        }
        let part = (a, pmd_addr_end(a, end));
        a = part.1;
        Some(part)
    })
}

/// The entries DAT visits for one address, top first: at most one per level,
/// ending at the first invalid or leaf entry.
#[derive(Clone, Copy, Debug)]
pub struct HwPath {
    entries: [(EntryPtr, u64); 5],
    len: usize,
    /// The last entry, decoded.
    end: Entry,
}

impl HwPath {
    /// Each entry's pointer and value, top first.
    pub fn entries(&self) -> &[(EntryPtr, u64)] {
        &self.entries[..self.len]
    }
    /// Where DAT stopped: the invalid entry, or the leaf.
    pub fn last(&self) -> (EntryPtr, u64) {
        self.entries[self.len - 1]
    }
    /// [`HwPath::last`], decoded.
    pub fn end(&self) -> (EntryPtr, Entry) {
        (self.last().0, self.end)
    }
}

/// Whether `[addr, end)` is exactly one segment (what one segment entry maps).
fn whole_segment(addr: VirtAddr, end: VirtAddr) -> bool {
    addr.is_multiple_of(Level::Pmd.size()) && end.wrapping_sub(addr) == Level::Pmd.size()
}

/// What a walk finds for one segment (1 MiB) of an address space.
enum SegmentView {
    /// No page table: an entry on the way is invalid, or the address lies beyond
    /// the ASCE type's range.
    NoTable,
    /// A large frame maps it: a segment (EDAT-1, `Level::Pmd`) or region-third
    /// (EDAT-2, `Level::Pud`) entry.
    Large(Level),
    /// A page table: the PTE for the address walked, and its (checked) value.
    PageTable(EntryPtr, u64),
}

impl<'a, P: Platform> AddressSpace<'a, P> {
    /// Read a word of one of this space's tables or its batch frame.
    ///
    /// The space's own memory: every caller in this module passes a word of a
    /// table it allocated and still holds (reached from its ASCE through
    /// entries it wrote, or an address it allocated), which `&self` keeps
    /// allocated.
    fn get(&self, pa: PhysAddr) -> u64 {
        // SAFETY: a word of this space's own tables (see above), inside memory.
        unsafe { self.plat.read_u64(pa) }
    }
    /// Write a word of one of this space's tables or its batch frame (the
    /// space's own memory, as for [`AddressSpace::get`]; writers hold `&mut
    /// self` or, for the tables a walk may read, follow the invalidation
    /// rules of the caller).
    fn set(&self, pa: PhysAddr, val: u64) {
        // SAFETY: a word of this space's own tables (see `get`), which nothing
        // outside the space writes.
        unsafe { self.plat.write_u64(pa, val) }
    }
    /// Fill one of this space's tables (or a frame it just allocated).
    fn fill(&self, pa: PhysAddr, bytes: u64, val: u64) {
        // SAFETY: as for `set`, every word of the table.
        unsafe { self.plat.fill(pa, bytes, val) }
    }
    /// Read an entry of this space's own tables (`READ_ONCE(*ptr)`), refusing
    /// a pointer outside its table: [`read_entry`] without the memory bound,
    /// which the space's tables meet by construction.
    fn entry(&self, ptr: EntryPtr) -> Result<u64, WalkError> {
        if !ptr.in_bounds() {
            return Err(WalkError::OffObject { ptr, word: None });
        }
        Ok(self.get(ptr.addr))
    }
    /// Whether every entry of this space's CRST at `origin` is empty.
    fn crst_is_empty(&self, origin: PhysAddr, level: Level) -> bool {
        // SAFETY: one of this space's CRSTs (see `get`).
        unsafe { crst_is_empty(self.plat, origin, level) }
    }

    /// A new, empty space of type `ty`.
    pub fn new(plat: &'a P, frames: &'a Mutex<FrameAllocator>, ty: AsceType) -> Result<Self, MapError> {
        let top = frames.lock().alloc_crst().map_err(|_| MapError::NoMemory)?;
        // SAFETY: the CRST was just allocated for this space.
        unsafe { plat.fill(top, CRST_BYTES, empty_entry(ty.top())) };
        Ok(AddressSpace {
            plat,
            frames,
            asce: Asce::new(top, ty),
            crsts: 1,
            pts: 0,
            batch: None,
            npending: 0,
        })
    }
    /// A new space of the smallest type that covers `last` (dynamic folding).
    pub fn new_covering(plat: &'a P, frames: &'a Mutex<FrameAllocator>, last: VirtAddr) -> Result<Self, MapError> {
        Self::new(plat, frames, AsceType::for_last_addr(last))
    }
    /// The ASCE (load it into CR1/CR7 to translate through this space).
    pub fn asce(&self) -> Asce {
        self.asce
    }
    /// The ASCE type.
    pub fn asce_type(&self) -> AsceType {
        self.asce.asce_type()
    }
    /// The allocator its tables (and the frames gup faults in) come from.
    pub fn frames(&self) -> &'a Mutex<FrameAllocator> {
        self.frames
    }
    /// The platform.
    pub fn platform(&self) -> &'a P {
        self.plat
    }
    /// Highest address the current ASCE type translates (`asce_limit - 1`).
    pub fn last_addr(&self) -> u64 {
        self.asce_type().last_addr()
    }
    /// Bytes of translation tables this space uses.
    pub fn table_bytes(&self) -> u64 {
        self.crsts * CRST_BYTES + self.pts * PT_BYTES
    }
    /// (CRSTs, page tables) allocated.
    pub fn table_counts(&self) -> (u64, u64) {
        (self.crsts, self.pts)
    }

    /// The hardware's view: the entries DAT visits for `addr`, top first (PoP
    /// 3.11.4), ending at the first invalid or leaf entry. Returns `None` past the
    /// ASCE type's range (ASCE-type exception).
    pub fn hw_walk(&self, addr: VirtAddr) -> Result<Option<HwPath>, WalkError> {
        let mut path = HwPath {
            entries: [(EntryPtr::table(Level::Pte, PhysAddr(0), 0), 0u64); 5],
            len: 0,
            end: Entry::Invalid,
        };
        let Some((_, _, end)) = self.descend(addr, |ptr, v| {
            // At most five levels: a walk never visits more.
            if let Some(slot) = path.entries.get_mut(path.len) {
                *slot = (ptr, v);
                path.len += 1;
            }
        })?
        else {
            return Ok(None);
        };
        path.end = end;
        Ok(Some(path))
    }

    /// Where [`AddressSpace::hw_walk`] ends, without recording the path: the
    /// pointer, value and decoded view of the first entry that designates no
    /// table (what lookups, faults and the map's per-segment walks need).
    pub fn hw_walk_end(&self, addr: VirtAddr) -> Result<Option<(EntryPtr, u64, Entry)>, WalkError> {
        self.descend(addr, |_, _| {})
    }

    /// The walk of [`AddressSpace::hw_walk`]: every entry read, checked and
    /// shown to `visit`, down to the first that designates no table. Returns
    /// that entry's pointer, value and decoded view.
    #[inline(always)]
    fn descend(
        &self,
        addr: VirtAddr,
        mut visit: impl FnMut(EntryPtr, u64),
    ) -> Result<Option<(EntryPtr, u64, Entry)>, WalkError> {
        if addr > self.last_addr() {
            return Ok(None);
        }
        let mut ptr = pgd_offset(self.asce, addr);
        loop {
            let v = self.entry(ptr)?;
            check_entry(self.plat, ptr, v)?;
            visit(ptr, v);
            let end = Entry::decode(ptr.level(), v);
            let (Entry::Table(origin), Some(below)) = (end, ptr.level().below()) else {
                return Ok(Some((ptr, v, end)));
            };
            ptr = EntryPtr::table(below, origin, below.index(addr));
        }
    }

    /// Software translation (`follow_page`): where `addr` maps, if anywhere,
    /// by Linux's software bits for a PTE (an old page is mapped although the
    /// hardware does not translate it). It records no path: the slow path
    /// calls it for every page.
    pub fn lookup(&self, addr: VirtAddr) -> Result<Option<Translation>, WalkError> {
        let Some((ptr, v, end)) = self.hw_walk_end(addr)? else {
            return Ok(None);
        };
        if ptr.level() == Level::Pte {
            let pte = Pte(v);
            return Ok(pte.present().then(|| Translation {
                pa: PhysAddr(pte.frame().0 | (addr & (PAGE_SIZE - 1))),
                write: pte.write(),
                special: pte.special(),
                protnone: pte.protnone(),
                young: pte.young(),
                dirty: pte.dirty(),
                level: Level::Pte,
            }));
        }
        let Entry::Leaf(leaf) = end else {
            return Ok(None);
        };
        Ok(Some(Translation {
            pa: leaf.translate(addr),
            write: leaf.write,
            special: leaf.special,
            protnone: false,
            young: true,
            dirty: leaf.write,
            level: leaf.level,
        }))
    }

    /// `handle_pte_fault` for a present PTE, after a page-translation
    /// exception (an old page) or a protection exception (a write to a clean
    /// one): make it young, and dirty for a write, through
    /// `ptep_set_access_flags` (IPTE first when the hardware may hold the old
    /// entry). Returns whether the entry changed (false: a spurious fault,
    /// another CPU fixed it first).
    pub fn handle_pte_fault(&mut self, addr: VirtAddr, write: bool) -> Result<bool, FaultError> {
        let page = addr & !(PAGE_SIZE - 1);
        let (ptep, v, end) = self
            .hw_walk_end(page)
            .map_err(FaultError::Walk)?
            .ok_or(FaultError::NotMapped(page))?;
        if ptep.level() != Level::Pte {
            return Err(match end {
                Entry::Leaf(_) => FaultError::LargeMapping(page),
                _ => FaultError::NotMapped(page),
            });
        }
        let old = Pte(v);
        if !old.present() || old.protnone() {
            return Err(FaultError::NotMapped(page));
        }
        let mut entry = old;
        if write {
            if !old.write() {
                return Err(FaultError::WriteProtected(page));
            }
            entry = entry.mkdirty();
        }
        entry = entry.mkyoung();
        if entry == old {
            return Ok(false);
        }
        // ptep_xchg_direct: purge the old translation before installing the new.
        if old.hw_valid() {
            self.plat.ipte(ptep.base, page);
        }
        self.set(ptep.addr, entry.0);
        Ok(true)
    }

    /// The program-interruption code the hardware must raise for a load from
    /// `addr`, or `None` if it translates.
    pub fn expected_exception(&self, addr: VirtAddr) -> Result<Option<u16>, WalkError> {
        let Some((ptr, _, e)) = self.hw_walk_end(addr)? else {
            return Ok(Some(0x38));
        };
        Ok((e == Entry::Invalid).then(|| ptr.level().translation_exception()))
    }

    /// The program-interruption code the hardware must raise for a store to
    /// `addr`: a load's, else protection (0x04) where the entry is protected.
    pub fn expected_store_exception(&self, addr: VirtAddr) -> Result<Option<u16>, WalkError> {
        if let Some(code) = self.expected_exception(addr)? {
            return Ok(Some(code));
        }
        let protected = matches!(self.hw_walk_end(addr)?, Some((_, _, Entry::Leaf(l))) if !l.write);
        Ok(protected.then_some(0x04))
    }

    fn alloc_table(&mut self, level: Level) -> Result<PhysAddr, MapError> {
        let mut f = self.frames.lock();
        let pa = if level == Level::Pte {
            f.alloc_pt()
        } else {
            f.alloc_crst()
        }
        .map_err(|_| MapError::NoMemory)?;
        drop(f);
        self.fill(pa, level.table_bytes(), empty_entry(level));
        if level == Level::Pte {
            self.pts += 1;
        } else {
            self.crsts += 1;
        }
        Ok(pa)
    }

    fn free_table(&mut self, level: Level, pa: PhysAddr) -> Result<(), AllocError> {
        let mut f = self.frames.lock();
        if level == Level::Pte {
            f.free_pt(pa)?;
            self.pts -= 1;
        } else {
            f.free_crst(pa)?;
            self.crsts -= 1;
        }
        Ok(())
    }

    /// Queue an unhooked table for freeing (`tlb_remove_table`). The batch is a
    /// frame; when none can be had, the table is freed at once after an IPI
    /// every CPU must answer (`tlb_remove_table_one`).
    fn defer_free(&mut self, level: Level, pa: PhysAddr) {
        if self.npending == BATCH_MAX {
            self.flush_frees();
        }
        let batch = match self.batch {
            Some(b) => b,
            None => {
                let frame = self.frames.lock().alloc_frame();
                match frame {
                    Ok(b) => *self.batch.insert(b),
                    Err(_) => {
                        self.plat.sync_lockless_walkers();
                        return self.release_table(level, pa);
                    }
                }
            }
        };
        self.set(batch.add(self.npending as u64 * 8), pa.0 | level as u64);
        self.npending += 1;
    }

    /// Poison a table no walker can still be reading (so a reader that slipped
    /// through is caught) and return it to the allocator.
    fn release_table(&mut self, level: Level, pa: PhysAddr) {
        self.fill(pa, level.table_bytes(), poison_entry(level));
        self.free_table(level, pa).expect(FREE_OWN_TABLE);
    }

    /// Free the batch once no lockless walker can still be reading its tables:
    /// after a grace period (`tlb_remove_table_rcu`), then the batch frame too.
    fn flush_frees(&mut self) {
        let Some(batch) = self.batch.take() else {
            return;
        };
        self.plat.grace_period();
        for i in 0..core::mem::take(&mut self.npending) {
            let w = self.get(batch.add(i as u64 * 8));
            self.release_table(Level::ALL[(w & 7) as usize], PhysAddr(w & !7));
        }
        self.frames
            .lock()
            .free_frame(batch)
            .expect("freeing the space's batch frame");
    }

    /// `pXd_alloc`: if the real entry at `ptr` is empty, give it a new next table.
    /// Folded positions are never "none", so nothing is allocated there.
    fn populate(&mut self, ptr: EntryPtr, none: fn(u64) -> bool) -> Result<u64, MapError> {
        let v = self.entry(ptr)?;
        check_entry(self.plat, ptr, v)?;
        if !none(v) {
            return Ok(v);
        }
        let below = ptr.level().below().unwrap();
        let t = self.alloc_table(below)?;
        let nv = table_entry(ptr.level(), t);
        self.set(ptr.addr, nv);
        Ok(nv)
    }

    /// The Linux allocation walk (`pgd_offset` → `p4d_alloc` → `pud_alloc` →
    /// `pmd_alloc` → `pte_alloc`): the PTE pointer for `addr`, creating tables.
    /// Private: on running out of memory part-way it leaves the tables it added,
    /// which only `map` knows to prune.
    fn pte_alloc(&mut self, addr: VirtAddr) -> Result<EntryPtr, MapError> {
        let pgdp = pgd_offset(self.asce, addr);
        let pgd = self.populate(pgdp, |v| pgd_none(Pgd(v)))?;
        let p4dp = p4d_offset_lockless(pgdp, Pgd(pgd), addr);
        let p4d = self.populate(p4dp, |v| p4d_none(P4d(v)))?;
        let pudp = pud_offset_lockless(p4dp, P4d(p4d), addr);
        let pud = self.populate(pudp, |v| pud_none(Pud(v)))?;
        if pud_large(Pud(pud)) {
            return Err(MapError::LargeMapping(addr));
        }
        let pmdp = pmd_offset_lockless(pudp, Pud(pud), addr);
        let pmd = self.populate(pmdp, |v| pmd_none(Pmd(v)))?;
        if pmd_large(Pmd(pmd)) {
            return Err(MapError::LargeMapping(addr));
        }
        Ok(pte_offset(Pmd(pmd), addr))
    }

    /// `crst_table_upgrade`: add top tables until the space covers `last`. Each new
    /// top table's entry 0 points to the old top table (or stays empty when the old
    /// top table maps nothing: it is freed instead, so no empty table lingers, where
    /// Linux never frees the old top table); the
    /// new ASCE is installed and the TLB purged. Existing mappings keep translating
    /// to the same frames. All tables are allocated first, so running out of memory
    /// changes nothing.
    pub fn crst_table_upgrade(&mut self, last: VirtAddr) -> Result<(), MapError> {
        let old = self.asce;
        let target = AsceType::for_last_addr(last);
        if target <= old.asce_type() {
            return Ok(());
        }
        let steps = target as usize - old.asce_type() as usize;
        let mut new = [PhysAddr(0); 3];
        let mut ty = old.asce_type();
        for i in 0..steps {
            ty = ty.upgrade().unwrap();
            match self.alloc_table(ty.top()) {
                Ok(t) => new[i] = t,
                Err(e) => {
                    for (j, t) in new[..i].iter().enumerate() {
                        let l = AsceType::ALL[old.asce_type() as usize + j + 1].top();
                        self.free_table(l, *t).expect(FREE_OWN_TABLE);
                    }
                    return Err(e);
                }
            }
        }
        let mut asce = old;
        for t in &new[..steps] {
            let ty = asce.asce_type().upgrade().unwrap();
            if self.crst_is_empty(asce.origin(), asce.asce_type().top()) {
                self.defer_free(asce.asce_type().top(), asce.origin());
            } else {
                self.set(*t, table_entry(ty.top(), asce.origin()));
            }
            asce = Asce::new(*t, ty);
        }
        self.asce = asce;
        self.plat.asce_changed(old, asce);
        self.flush_frees();
        Ok(())
    }

    /// Map `pages` pages at `va` to consecutive frames from `pa`.
    pub fn map(&mut self, va: VirtAddr, pa: PhysAddr, pages: u64, prot: Prot) -> Result<(), MapError> {
        let end = range_end(va, pages)?;
        if !pa.is_aligned(PAGE_SIZE) {
            return Err(MapError::Misaligned(pa.0));
        }
        // Special frames need not be RAM (think PFN maps) but must not run past
        // 2^64; anything else must be RAM.
        let frames_end = pa.0 as u128 + pages as u128 * PAGE_SIZE as u128;
        let limit = if prot.special {
            1u128 << 64
        } else {
            self.plat.mem_end().0 as u128
        };
        if frames_end > limit {
            return Err(MapError::FrameOutsideMemory(pa));
        }
        // Refuse any overlap before changing anything: one walk per page table.
        for (a, next) in segments(va, end) {
            if let Some(hit) = self.first_mapped_in_segment(a, next)? {
                return Err(MapError::AlreadyMapped(hit));
            }
        }
        self.crst_table_upgrade(end.wrapping_sub(1))?;
        // One allocation walk per page table, then its PTEs.
        for (a, next) in segments(va, end) {
            let ptep = match self.pte_alloc(a) {
                Ok(ptep) => ptep,
                Err(e) => {
                    // Out of memory part-way: take back what this call mapped and
                    // the tables it added (the ASCE type stays upgraded, as Linux
                    // never downgrades).
                    if a != va {
                        self.unmap(va, (a - va) / PAGE_SIZE)
                            .expect("unmapping what this map just mapped");
                    }
                    self.prune_empty_tables(a);
                    return Err(e);
                }
            };
            // The bits below the frame are the same for every page.
            let bits = prot.pte(PhysAddr(0)).0;
            for k in 0..next.wrapping_sub(a) / PAGE_SIZE {
                let frame = pa.add(a - va + k * PAGE_SIZE);
                self.set(ptep.add(k as i64).addr, frame.0 | bits);
            }
        }
        Ok(())
    }

    /// What one walk for `addr` finds for its segment (1 MiB).
    fn segment_view(&self, addr: VirtAddr) -> Result<SegmentView, WalkError> {
        let Some((ptr, v, end)) = self.hw_walk_end(addr)? else {
            return Ok(SegmentView::NoTable); // beyond the ASCE type's range
        };
        Ok(match (ptr.level(), end) {
            (Level::Pte, _) => SegmentView::PageTable(ptr, v),
            (_, Entry::Leaf(leaf)) => SegmentView::Large(leaf.level),
            _ => SegmentView::NoTable,
        })
    }

    /// The first page of `[addr, end)` (inside the page table of `ptep`, the PTE
    /// for `addr`, whose value `pte` the walk read) whose PTE maps a page
    /// (`valid`: `pte_present`, old pages included) or does not (`!valid`).
    fn first_pte_where(
        &self,
        ptep: EntryPtr,
        pte: u64,
        addr: VirtAddr,
        end: VirtAddr,
        valid: bool,
    ) -> Result<Option<u64>, WalkError> {
        if Pte(pte).present() == valid {
            return Ok(Some(addr));
        }
        for k in 1..end.wrapping_sub(addr) / PAGE_SIZE {
            let p = ptep.add(k as i64);
            let pte = self.entry(p)?;
            check_entry(self.plat, p, pte)?;
            if Pte(pte).present() == valid {
                return Ok(Some(addr + k * PAGE_SIZE));
            }
        }
        Ok(None)
    }

    /// The first mapped page in `[addr, end)`, a range inside one segment, found
    /// with one walk: `addr` if a large frame covers it, else the first valid PTE.
    fn first_mapped_in_segment(&self, addr: VirtAddr, end: VirtAddr) -> Result<Option<u64>, WalkError> {
        match self.segment_view(addr)? {
            SegmentView::NoTable => Ok(None),
            SegmentView::Large(_) => Ok(Some(addr)),
            SegmentView::PageTable(ptep, pte) => self.first_pte_where(ptep, pte, addr, end, true),
        }
    }

    /// Map a large frame (`level` Pmd: 1 MiB with EDAT-1; Pud: 2 GiB with EDAT-2).
    pub fn map_large(&mut self, va: VirtAddr, pa: PhysAddr, level: Level, prot: Prot) -> Result<(), MapError> {
        match level {
            Level::Pmd if !self.plat.edat1() => {
                return Err(MapError::Unsupported("1 MiB frames need EDAT-1 (facility 8)"))
            }
            Level::Pud if !self.plat.edat2() => {
                return Err(MapError::Unsupported("2 GiB frames need EDAT-2 (facility 78)"))
            }
            Level::Pmd | Level::Pud => {}
            _ => return Err(MapError::Unsupported("large frames are 1 MiB (Pmd) or 2 GiB (Pud)")),
        }
        if prot.special {
            // Segment and region entries have no software "special" bit here, and
            // gup_fast would pin the frame: refuse rather than map it pinnable.
            return Err(MapError::Unsupported("special large frames"));
        }
        if !va.is_multiple_of(level.size()) || !pa.0.is_multiple_of(level.size()) {
            return Err(MapError::Misaligned(if !va.is_multiple_of(level.size()) {
                va
            } else {
                pa.0
            }));
        }
        // A large frame must start in RAM: the walkers' check_entry treats one
        // whose origin lies beyond memory as a corrupt entry. (Its tail may lie
        // beyond: those pages have no struct page, so gup stops there.)
        if pa.0 >= self.plat.mem_end().0 {
            return Err(MapError::FrameOutsideMemory(pa));
        }
        // Refuse any overlap before changing anything, naming the first mapped
        // page as `map` does (beyond the ASCE type's range nothing is mapped).
        let end = va.wrapping_add(level.size());
        for (a, next) in segments(va, end) {
            if let Some(hit) = self.first_mapped_in_segment(a, next)? {
                return Err(MapError::AlreadyMapped(hit));
            }
        }
        // A 2 GiB frame is a region-third entry: a segment-only space needs a
        // region-third table first, even for a frame inside its 2 GiB.
        let last = end.wrapping_sub(1);
        self.crst_table_upgrade(if level == Level::Pud { last.max(1 << 31) } else { last })?;
        let r = self.install_large(va, pa, level, prot);
        if r.is_err() {
            // Out of memory for a table on the way: take back those it added.
            self.prune_empty_tables(va);
        }
        r
    }

    /// The allocation walk of `map_large` and the large entry itself.
    fn install_large(&mut self, va: VirtAddr, pa: PhysAddr, level: Level, prot: Prot) -> Result<(), MapError> {
        let pgdp = pgd_offset(self.asce, va);
        let pgd = self.populate(pgdp, |v| pgd_none(Pgd(v)))?;
        let p4dp = p4d_offset_lockless(pgdp, Pgd(pgd), va);
        let p4d = self.populate(p4dp, |v| p4d_none(P4d(v)))?;
        let pudp = pud_offset_lockless(p4dp, P4d(p4d), va);
        if level == Level::Pud {
            if self.entry(pudp)? != empty_entry(Level::Pud) || pudp.level() != Level::Pud {
                return Err(MapError::AlreadyMapped(va));
            }
            self.set(pudp.addr, large_entry(level, pa, prot.write));
            return Ok(());
        }
        let pud = self.populate(pudp, |v| pud_none(Pud(v)))?;
        let pmdp = pmd_offset_lockless(pudp, Pud(pud), va);
        if self.entry(pmdp)? != empty_entry(Level::Pmd) {
            return Err(MapError::AlreadyMapped(va));
        }
        self.set(pmdp.addr, large_entry(level, pa, prot.write));
        Ok(())
    }

    /// Unmap `pages` pages at `va` (unmapped pages are skipped). PTEs are cleared
    /// with IPTE; tables left empty are unhooked with IDTE and freed, except the top.
    /// A range that would split a large frame (part of a 1 MiB one, any of a 2 GiB
    /// one) is refused before anything changes.
    pub fn unmap(&mut self, va: VirtAddr, pages: u64) -> Result<(), MapError> {
        let end = range_end(va, pages)?;
        // Large frames cannot be split: refuse before changing anything.
        for (a, next) in segments(va, end) {
            if let SegmentView::Large(level) = self.segment_view(a)? {
                if level != Level::Pmd || !whole_segment(a, next) {
                    return Err(MapError::LargeMapping(a));
                }
            }
        }
        let mut r = Ok(());
        for (addr, next) in segments(va, end) {
            if addr <= self.last_addr() {
                r = self.unmap_pmd_range(addr, next);
                if r.is_err() {
                    break;
                }
            }
        }
        self.flush_frees();
        r
    }

    fn unmap_pmd_range(&mut self, addr: VirtAddr, end: VirtAddr) -> Result<(), MapError> {
        let Some(path) = self.hw_walk(addr)? else {
            return Ok(());
        };
        let (last, e) = path.end();
        let whole = whole_segment(addr, end);
        if last.level() != Level::Pte {
            if e == Entry::Invalid {
                return Ok(());
            }
            // A large entry: `unmap` has refused, before changing anything, any
            // range that would split one, so this is a whole 1 MiB segment frame.
            debug_assert!(
                last.level() == Level::Pmd && whole,
                "unmap let a large frame split through"
            );
            self.plat.idte(last.base, Level::Pmd, addr);
            self.set(last.addr, empty_entry(Level::Pmd));
            self.free_empty_tables(path.entries(), addr, end);
            return Ok(());
        }
        let pto = last.base;
        // Clearing a whole page table: the IDTE that unhooks it below purges every
        // TLB entry formed through it, so the PTEs need no IPTE each (Linux's
        // mmu_gather does the same with one flush for a freed table).
        let mut a = addr;
        while a != end {
            let ptep = EntryPtr::table(Level::Pte, pto, Level::Pte.index(a));
            if !whole && Pte(self.get(ptep.addr)).hw_valid() {
                self.plat.ipte(pto, a);
            }
            self.set(ptep.addr, empty_entry(Level::Pte));
            a = a.wrapping_add(PAGE_SIZE);
        }
        self.free_empty_tables(path.entries(), addr, end);
        Ok(())
    }

    /// Unhook (IDTE) and queue for freeing every table on `path` (top first)
    /// that is now empty, bottom-up; the top table (`path[0]`'s) stays. The
    /// caller has just cleared the entries for `[addr, end)` (one segment at most)
    /// in the deepest table of the path.
    fn free_empty_tables(&mut self, path: &[(EntryPtr, u64)], addr: VirtAddr, end: VirtAddr) {
        for i in (1..path.len()).rev() {
            let (child, _) = path[i];
            let level = child.level();
            // Only the entries not just cleared need reading: those after the
            // cleared ones first, because when a range is unmapped from low to
            // high addresses the next entry is the one still in use, and a table
            // that is not empty is then known after one read.
            let lo = level.index(addr);
            let hi = if level == Level::Pte {
                lo + (end.wrapping_sub(addr) / PAGE_SIZE) as usize
            } else {
                lo + 1
            };
            let is_empty = |k: usize| self.get(child.base.add(k as u64 * 8)) == empty_entry(level);
            let empty = (hi..level.entries()).all(is_empty) && (0..lo).all(is_empty);
            if !empty {
                break;
            }
            let (parent, _) = path[i - 1];
            self.plat.idte(parent.base, parent.level(), addr);
            self.set(parent.addr, empty_entry(parent.level()));
            self.defer_free(child.level(), child.base);
        }
    }

    /// Unhook and free the tables on the way to `addr` that map nothing (after a
    /// failed allocation walk left some behind); the top table stays.
    fn prune_empty_tables(&mut self, addr: VirtAddr) {
        if let Ok(Some(path)) = self.hw_walk(addr) {
            // Only from an invalid entry: free_empty_tables takes the deepest
            // entry as cleared.
            if path.end().1 == Entry::Invalid {
                self.free_empty_tables(path.entries(), addr, addr.wrapping_add(PAGE_SIZE));
                self.flush_frees();
            }
        }
    }

    /// Change the rights of `pages` mapped pages at `va` (all must be mapped by
    /// PTEs) to `prot.write` (`change_protection`: each PTE keeps its frame,
    /// special, young and dirty bits, `pte_modify`).
    pub fn protect(&mut self, va: VirtAddr, pages: u64, prot: Prot) -> Result<(), MapError> {
        let end = range_end(va, pages)?;
        // Check every page before changing any: one walk per page table.
        for (a, next) in segments(va, end) {
            let hole = match self.segment_view(a)? {
                SegmentView::NoTable => Some(a),
                SegmentView::Large(_) => return Err(MapError::LargeMapping(a)),
                SegmentView::PageTable(ptep, pte) => self.first_pte_where(ptep, pte, a, next, false)?,
            };
            if let Some(h) = hole {
                return Err(MapError::NotMapped(h));
            }
        }
        for (a, next) in segments(va, end) {
            let first = walk_to(self.plat, self.asce, a, Level::Pte)?;
            for k in 0..next.wrapping_sub(a) / PAGE_SIZE {
                let ptep = first.add(k as i64);
                let old = Pte(self.entry(ptep)?);
                // ptep_modify_prot_start: invalidate (IPTE) before changing rights;
                // pte_modify keeps the frame, special, young and dirty.
                self.plat.ipte(ptep.base, a + k * PAGE_SIZE);
                self.set(ptep.addr, old.modify(page_prot(prot.write)).0);
            }
        }
        Ok(())
    }

    /// Replace the entry at `level` on the path of `addr` by `f(old)` (tests of
    /// corrupted tables; no TLB flush). Returns where the entry is and its old
    /// value, so the caller can put it back once the path no longer walks.
    pub fn poke_entry(
        &mut self,
        addr: VirtAddr,
        level: Level,
        f: impl FnOnce(u64) -> u64,
    ) -> Result<(EntryPtr, u64), WalkError> {
        let Some(path) = self.hw_walk(addr)? else {
            return Err(WalkError::BadEntry {
                at: pgd_offset(self.asce, addr),
                val: 0,
                defect: Defect::BeyondAsce,
            });
        };
        for (ptr, old) in path.entries() {
            if ptr.level() == level {
                self.set(ptr.addr, f(*old));
                return Ok((*ptr, *old));
            }
        }
        Err(WalkError::BadEntry {
            at: path.last().0,
            val: path.last().1,
            defect: Defect::NoSuchLevel,
        })
    }

    fn free_subtree(&mut self, level: Level, origin: PhysAddr) {
        if let Some(below) = level.below() {
            for i in 0..level.entries() {
                let v = self.get(origin.add(i as u64 * 8));
                // A table of its own level only (the TT bits guard against
                // following a corrupt entry into some other table).
                if let Entry::Table(next) = Entry::decode(level, v) {
                    if v & RegionBits::TT.bits() == level.type_bits() {
                        self.free_subtree(below, next);
                    }
                }
            }
        }
        self.fill(origin, level.table_bytes(), poison_entry(level));
        self.free_table(level, origin).expect(FREE_OWN_TABLE);
    }
}

impl<P: Platform> Drop for AddressSpace<'_, P> {
    /// Free every table (frames mapped by the space are not owned by it).
    fn drop(&mut self) {
        let asce = self.asce;
        self.flush_frees();
        // Lockless walkers may still hold this ASCE: wait them out first.
        self.plat.grace_period();
        self.plat.asce_changed(asce, asce);
        self.free_subtree(asce.asce_type().top(), asce.origin());
    }
}
