//! Physical frame allocator: 4 KiB frames from a bitmap, 16 KiB naturally aligned
//! CRSTs (region/segment tables), and 2 KiB page tables packed two to a frame as
//! Linux's `page_table_alloc` does. Double frees and frees of unallocated halves are
//! reported, never silently accepted.
use super::addr::{PhysAddr, PAGE_SIZE};
use super::level::{CRST_BYTES, PT_BYTES};
use core::fmt;

/// Allocation failures.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AllocError {
    /// No free memory of the requested shape.
    OutOfMemory,
    /// The frame (or page-table half) was not allocated.
    DoubleFree(PhysAddr),
    /// Address outside the managed memory or misaligned for the kind freed.
    BadAddress(PhysAddr),
    /// Freeing a frame that still holds a live page table.
    InUse(PhysAddr),
}

impl fmt::Display for AllocError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AllocError::OutOfMemory => write!(f, "out of memory"),
            AllocError::DoubleFree(a) => write!(f, "double free of {a}"),
            AllocError::BadAddress(a) => write!(f, "free of bad address {a}"),
            AllocError::InUse(a) => write!(f, "free of {a}, which still holds a page table"),
        }
    }
}

/// Bitmap frame allocator over physical frames `0..nframes`.
pub struct FrameAllocator {
    nframes: usize,
    used: &'static mut [u64],
    /// Two bits per frame: which 2 KiB halves hold page tables.
    pt_halves: &'static mut [u64],
    partial: usize,
    free: usize,
    hint: usize,
}

/// Doublewords of bitmap storage [`FrameAllocator::new`] needs for `nframes`.
pub const fn storage_words(nframes: usize) -> (usize, usize) {
    (nframes.div_ceil(64), (2 * nframes).div_ceil(64))
}

impl FrameAllocator {
    /// An allocator for `nframes` frames starting at physical 0, all free, using the
    /// given bitmap storage (sizes from [`storage_words`]; cleared here, whatever
    /// it held).
    pub fn new(nframes: usize, used: &'static mut [u64], pt_halves: &'static mut [u64]) -> Self {
        let (a, b) = storage_words(nframes);
        assert!(
            used.len() >= a && pt_halves.len() >= b,
            "frame allocator: bitmap storage too small"
        );
        used.fill(0);
        pt_halves.fill(0);
        FrameAllocator {
            nframes,
            used,
            pt_halves,
            partial: 0,
            free: nframes,
            hint: 0,
        }
    }
    fn is_used(&self, f: usize) -> bool {
        self.used[f / 64] >> (f % 64) & 1 != 0
    }
    fn set_used(&mut self, f: usize, v: bool) {
        if v {
            self.used[f / 64] |= 1 << (f % 64);
            self.free -= 1;
        } else {
            self.used[f / 64] &= !(1 << (f % 64));
            self.free += 1;
        }
    }
    fn halves(&self, f: usize) -> u64 {
        self.pt_halves[f / 32] >> (2 * (f % 32)) & 3
    }
    fn set_halves(&mut self, f: usize, v: u64) {
        let w = &mut self.pt_halves[f / 32];
        *w = (*w & !(3 << (2 * (f % 32)))) | (v << (2 * (f % 32)));
    }
    /// Mark `[start, end)` (rounded out to frames) as permanently allocated.
    pub fn reserve(&mut self, start: PhysAddr, end: PhysAddr) {
        let first = (start.0 / PAGE_SIZE) as usize;
        let last = (end.0.div_ceil(PAGE_SIZE) as usize).min(self.nframes);
        for f in first..last {
            if !self.is_used(f) {
                self.set_used(f, true);
            }
        }
    }
    /// Restart allocation scans from frame 0 (benchmarks: makes repeated runs
    /// allocate the same frames in the same order).
    pub fn reset_hint(&mut self) {
        self.hint = 0;
    }
    /// Whether the frame holding `pa` is allocated (or reserved).
    pub fn is_allocated(&self, pa: PhysAddr) -> bool {
        let f = (pa.0 / PAGE_SIZE) as usize;
        f < self.nframes && self.is_used(f)
    }
    /// Total frames managed.
    pub fn total_frames(&self) -> usize {
        self.nframes
    }
    /// Number of free frames.
    pub fn free_count(&self) -> usize {
        self.free
    }
    /// Allocate `n` contiguous frames aligned to `align` frames (0 counts as 1).
    pub fn alloc_frames(&mut self, n: usize, align: usize) -> Result<PhysAddr, AllocError> {
        if self.free < n {
            return Err(AllocError::OutOfMemory);
        }
        let align = align.max(1);
        let start = self.hint / align * align;
        let mut tried = 0;
        let mut f = start;
        while tried < self.nframes + align {
            if f + n.max(1) > self.nframes {
                f = 0;
            }
            if self.used[f / 64] == u64::MAX {
                // Frame f and the rest of its bitmap word are in use: go on at
                // the first aligned frame after the word.
                let next = (f / 64 + 1) * 64;
                let next = next.next_multiple_of(align);
                tried += next - f;
                f = next;
                continue;
            }
            if (f..f + n).all(|i| !self.is_used(i)) {
                for i in f..f + n {
                    self.set_used(i, true);
                }
                self.hint = f + n;
                return Ok(PhysAddr(f as u64 * PAGE_SIZE));
            }
            f += align;
            tried += align;
        }
        Err(AllocError::OutOfMemory)
    }
    /// Allocate one 4 KiB frame.
    pub fn alloc_frame(&mut self) -> Result<PhysAddr, AllocError> {
        self.alloc_frames(1, 1)
    }
    /// Free `n` frames at `pa`.
    pub fn free_frames(&mut self, pa: PhysAddr, n: usize) -> Result<(), AllocError> {
        if !pa.is_aligned(PAGE_SIZE) || (pa.0 / PAGE_SIZE) as usize + n > self.nframes {
            return Err(AllocError::BadAddress(pa));
        }
        let first = (pa.0 / PAGE_SIZE) as usize;
        if let Some(f) = (first..first + n).find(|&f| !self.is_used(f)) {
            return Err(AllocError::DoubleFree(PhysAddr(f as u64 * PAGE_SIZE)));
        }
        if let Some(f) = (first..first + n).find(|&f| self.halves(f) != 0) {
            return Err(AllocError::InUse(PhysAddr(f as u64 * PAGE_SIZE)));
        }
        for f in first..first + n {
            self.set_used(f, false);
        }
        Ok(())
    }
    /// Free one frame.
    pub fn free_frame(&mut self, pa: PhysAddr) -> Result<(), AllocError> {
        self.free_frames(pa, 1)
    }
    /// Allocate a CRST: 16 KiB, naturally aligned (Linux `crst_table_alloc`).
    pub fn alloc_crst(&mut self) -> Result<PhysAddr, AllocError> {
        self.alloc_frames((CRST_BYTES / PAGE_SIZE) as usize, 4)
    }
    /// Free a CRST.
    pub fn free_crst(&mut self, pa: PhysAddr) -> Result<(), AllocError> {
        if !pa.is_aligned(CRST_BYTES) {
            return Err(AllocError::BadAddress(pa));
        }
        self.free_frames(pa, (CRST_BYTES / PAGE_SIZE) as usize)
    }
    /// Allocate a 2 KiB page table, preferring the free half of a frame that
    /// already holds one (Linux `page_table_alloc`).
    pub fn alloc_pt(&mut self) -> Result<PhysAddr, AllocError> {
        if self.partial > 0 {
            for w in 0..self.pt_halves.len() {
                let v = self.pt_halves[w];
                // A frame with exactly one half used has bit pattern 01 or 10.
                let one = (v ^ (v >> 1)) & 0x5555_5555_5555_5555;
                if one != 0 {
                    let f = w * 32 + one.trailing_zeros() as usize / 2;
                    let h = self.halves(f);
                    let free_half = if h == 1 { 1 } else { 0 };
                    self.set_halves(f, 3);
                    self.partial -= 1;
                    return Ok(PhysAddr(f as u64 * PAGE_SIZE + free_half * PT_BYTES));
                }
            }
        }
        let pa = self.alloc_frame()?;
        self.set_halves((pa.0 / PAGE_SIZE) as usize, 1);
        self.partial += 1;
        Ok(pa)
    }
    /// Free a 2 KiB page table; the frame goes back when both halves are free.
    pub fn free_pt(&mut self, pa: PhysAddr) -> Result<(), AllocError> {
        let f = (pa.0 / PAGE_SIZE) as usize;
        if !pa.is_aligned(PT_BYTES) || f >= self.nframes {
            return Err(AllocError::BadAddress(pa));
        }
        let bit = 1 << ((pa.0 % PAGE_SIZE) / PT_BYTES);
        let h = self.halves(f);
        if h & bit == 0 || !self.is_used(f) {
            return Err(AllocError::DoubleFree(pa));
        }
        let left = h & !bit;
        self.set_halves(f, left);
        if left == 0 {
            self.partial -= 1;
            self.set_used(f, false);
        } else {
            self.partial += 1;
        }
        Ok(())
    }
    /// Frames holding exactly one page table (the other half free).
    pub fn partial_pt_frames(&self) -> usize {
        self.partial
    }
}
