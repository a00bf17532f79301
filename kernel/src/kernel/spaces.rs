//! What every job shares on live tables: address spaces and frames owned for
//! the job's length, the seed range, and gup_fast calls checked against LRAG.
//! The demo, the scenarios and the in-kernel tests all build on these.
use super::{frames, pagemap, Msg};
use crate::arch::s390x::insn::Lra;
use crate::arch::s390x::platform::{self, KernelPlatform, PLATFORM};
use crate::arch::s390x::traps::ProgramCheck;
use foldkern::gup::{
    gup_fast, release_each, GupContext, GupFast, GupFlags, GupOutcome, NoHooks, Page, Step, Variant, WalkStack,
};
use foldkern::mm::{AddressSpace, AsceType, FaultError, PhysAddr, Platform, VirtAddr, PAGE_SIZE};

/// An address space on live tables.
pub type Space = AddressSpace<'static, KernelPlatform>;

/// A new space of type `ty`.
pub fn space(ty: AsceType) -> Result<Space, Msg> {
    Ok(AddressSpace::new(&PLATFORM, frames(), ty)?)
}

/// A buffer of `len` values of `T` in frames owned for the job (the kernel has
/// no heap and its stacks are small), freed when dropped.
pub struct FrameBuf<T: Copy + 'static> {
    base: PhysAddr,
    frames: usize,
    len: usize,
    _t: core::marker::PhantomData<T>,
}

impl<T: Copy + 'static> FrameBuf<T> {
    /// `len` copies of `v`.
    pub fn new(len: usize, v: T) -> Result<Self, Msg> {
        let n = (len * core::mem::size_of::<T>()).div_ceil(PAGE_SIZE as usize).max(1);
        let base = frames().lock().alloc_frames(n, 1)?;
        let mut b = FrameBuf {
            base,
            frames: n,
            len,
            _t: core::marker::PhantomData,
        };
        b.as_mut().fill(v);
        Ok(b)
    }
    /// The values.
    pub fn as_mut(&mut self) -> &mut [T] {
        // SAFETY: the frames were allocated for this buffer alone, are
        // identity-mapped, page-aligned (so aligned for T) and hold `len` Ts;
        // the borrow of `self` keeps them alive and unaliased.
        unsafe { core::slice::from_raw_parts_mut(self.base.as_u64() as *mut T, self.len) }
    }
}

impl<T: Copy + 'static> Drop for FrameBuf<T> {
    fn drop(&mut self) {
        frames()
            .lock()
            .free_frames(self.base, self.frames)
            .expect("FrameBuf: freeing its own frames");
    }
}

/// Frames owned by a job, freed when dropped.
pub struct Frames {
    list: [PhysAddr; 64],
    n: usize,
}

impl Frames {
    /// `n` fresh zeroed frames (at most 64).
    pub fn new(n: usize) -> Result<Frames, Msg> {
        let mut f = Frames {
            list: [PhysAddr::new(0); 64],
            n: 0,
        };
        if n > f.list.len() {
            return Err(Msg::from(format_args!(
                "Frames::new({n}): a job may own at most {} frames this way",
                f.list.len()
            )));
        }
        for _ in 0..n {
            let pa = frames().lock().alloc_frame()?;
            // SAFETY: the frame was just allocated for this job.
            unsafe { PLATFORM.fill(pa, PAGE_SIZE, 0) };
            f.list[f.n] = pa;
            f.n += 1;
        }
        Ok(f)
    }
    /// Frame `i` (asking for a frame it did not allocate is a bug in the job:
    /// it would map frame 0, the lowcore).
    pub fn get(&self, i: usize) -> PhysAddr {
        assert!(i < self.n, "Frames::get({i}) of {} frames", self.n);
        self.list[i]
    }
    /// Write the first word of frame `i` through the identity map (the
    /// job's own memory, so no `unsafe` for the caller).
    pub fn write(&self, i: usize, val: u64) {
        let pa = self.get(i);
        // SAFETY: a frame this job allocated and holds until `self` drops.
        unsafe { PLATFORM.write_u64(pa, val) }
    }
    /// Read the first word of frame `i` through the identity map.
    pub fn read(&self, i: usize) -> u64 {
        let pa = self.get(i);
        // SAFETY: as for `write`.
        unsafe { PLATFORM.read_u64(pa) }
    }
}

impl Drop for Frames {
    fn drop(&mut self) {
        for &f in &self.list[..self.n] {
            // A frame this job allocated must go back: anything else is a kernel bug.
            frames().lock().free_frame(f).expect("Frames: freeing an owned frame");
        }
    }
}

/// The seed's range: 0x1007ffff000..0x10080001000, two pages across 2 GiB.
pub const SEED_START: u64 = 0x100_7fff_f000;
/// Pages in the seed's range.
pub const SEED_PAGES: usize = 2;

/// What every checked gup_fast call shares: the space and the walker's
/// stack frame for entry copies.
#[derive(Clone, Copy)]
pub struct Walk<'s> {
    /// The address space walked.
    pub space: &'s Space,
    /// The walker's stack frame.
    pub stack: WalkStack,
}

impl<'s> Walk<'s> {
    /// Walks of `space` with their entry copies in frame `i` of `frames`
    /// (prepared here, see [`WalkStack::new`]), which outlive the walks.
    pub fn new(space: &'s Space, frames: &'s Frames, i: usize) -> Self {
        // SAFETY: a frame the job owns for at least as long as this `Walk`
        // (both borrowed for 's).
        let stack = unsafe { WalkStack::new(&PLATFORM, frames.get(i)) };
        Walk { space, stack }
    }

    /// One gup_fast call with the invariant checker on, taking FOLL_GET
    /// references unless `flags` names the kind; they are dropped again, the
    /// frames stay in `out[..pinned]`.
    pub fn gup(&self, v: Variant, start: VirtAddr, n: usize, flags: GupFlags, out: &mut [Page]) -> GupResult {
        self.gup_traced(v, start, n, flags, out, None)
    }

    /// [`Walk::gup`] with `trace` called for every entry read. The walk is
    /// built with and without its explaining hooks, and the benchmark and
    /// `get_user_pages_fast` run it without, so that build runs first here and
    /// the explained one must pin the same frames (by hash) and stop the same way.
    pub fn gup_traced(
        &self,
        v: Variant,
        start: VirtAddr,
        n: usize,
        flags: GupFlags,
        out: &mut [Page],
        trace: Option<&mut dyn FnMut(&Step)>,
    ) -> GupResult {
        let new = || GupFast::new(&PLATFORM, self.space.asce(), pagemap(), self.stack, v);
        let flags = flags.or_get();
        let plain = gup_fast(&mut new(), start, n, flags, out);
        let plain_hash = frames_hash(&out[..plain.pinned]);
        release(flags, &out[..plain.pinned])?;
        let mut g = match trace {
            Some(t) => new().checked(true).traced(t),
            None => new().checked(true),
        };
        let o = gup_fast(&mut g, start, n, flags, out);
        release(flags, &out[..o.pinned])?;
        if (plain.pinned, plain.error, plain_hash) != (o.pinned, o.error, frames_hash(&out[..o.pinned])) {
            return Err(Msg::from(format_args!(
                "{} at {start:#x}+{n}: the walk without hooks pinned {} ({:?}), the explained one {} ({:?})",
                v.name(),
                plain.pinned,
                plain.error,
                o.pinned,
                o.error
            )));
        }
        Ok(o)
    }
}

/// What [`Walk::gup`] returns.
pub type GupResult = Result<GupOutcome, Msg>;

/// FNV-1a over the frames (no allocator here to keep a copy).
fn frames_hash(frames: &[Page]) -> u64 {
    frames.iter().fold(0xcbf2_9ce4_8422_2325, |h, f| {
        (h ^ f.pfn()).wrapping_mul(0x100_0000_01b3)
    })
}

/// Frames per-page LRAG gives for the range, up to the first page gup must not
/// pin (untranslatable, or read-only when writing).
pub fn lrag_frames(s: &Space, start: VirtAddr, n: usize, write: bool, out: &mut [PhysAddr]) -> Result<usize, Msg> {
    for (i, slot) in out[..n].iter_mut().enumerate() {
        let va = start + i as u64 * PAGE_SIZE;
        match platform::lrag_via(s.asce(), va) {
            Lra::Real(pa) => {
                // LRAG does not report rights; the software walk does.
                if write && !s.lookup(va)?.is_some_and(|t| t.write) {
                    return Ok(i);
                }
                *slot = PhysAddr::new(pa);
            }
            _ => return Ok(i),
        }
    }
    Ok(n)
}

/// The gup context of `space` for `variant`, its walker's copies in `stack`.
pub fn gup_ctx(space: &mut Space, stack: WalkStack, variant: Variant) -> GupContext<'_, 'static, KernelPlatform> {
    GupContext {
        space,
        pagemap: pagemap(),
        stack,
        variant,
        hooks: NoHooks,
    }
}

/// Drop the FOLL_GET references on `p`.
pub fn unpin(p: &[Page]) -> Result<(), Msg> {
    release(GupFlags::GET, p)
}

/// Drop the references a gup call with `flags` (naming their kind) took on `p`.
pub fn release(flags: GupFlags, p: &[Page]) -> Result<(), Msg> {
    release_each(pagemap(), p, flags.or_get()).map_err(|e| Msg::from(format_args!("dropping a reference on {:?}", e.0)))
}

/// Why a user access through [`user_load`] or [`user_store`] failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AccessError {
    /// An exception the fault path does not handle (a region, segment or
    /// ASCE-type exception, a protection exception other than DAT protection),
    /// or the same fault again after it was handled.
    Exception(ProgramCheck),
    /// The fault path refused (nothing mapped, a write to a read-only page).
    Fault(FaultError),
}

impl core::fmt::Display for AccessError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            AccessError::Exception(pc) => write!(f, "{} (code {:#x}) at {:#x}", pc.name(), pc.code, pc.teid_addr()),
            AccessError::Fault(e) => write!(f, "{e}"),
        }
    }
}

/// TEID bit 61: the address in the TEID is valid (for a protection exception:
/// DAT protection, not low-address protection; Linux `teid.b61`).
const TEID_ADDRESS_VALID: u64 = 0x4;

/// `do_dat_exception` / `do_protection_exception` for an access made by `f`
/// through `s`: on a page-translation exception (an old page) or a DAT
/// protection exception (a write to a clean page) at the page of `va`, run
/// `handle_pte_fault` and make the access again, as the hardware re-executes
/// the instruction when the handler returns. A store to an old, clean page
/// takes both in turn (foldkern does not read the TEID's store indication).
/// The same fault again after it was handled is an error: foldkern has no
/// spurious faults, since the IPTE before a changed entry purges the old one
/// on every CPU.
fn user_access<T>(
    s: &mut Space,
    va: VirtAddr,
    write: bool,
    f: impl Fn(&Space) -> Result<T, ProgramCheck>,
) -> Result<T, AccessError> {
    let page = va & !(PAGE_SIZE - 1);
    // Handled already: a page-translation exception, a protection exception.
    let mut handled = [false; 2];
    loop {
        let pc = match f(s) {
            Ok(v) => return Ok(v),
            Err(pc) => pc,
        };
        let code = pc.code & 0x7f;
        let ours = match code {
            0x11 => pc.teid_addr() == page,
            0x04 => write && pc.teid & TEID_ADDRESS_VALID != 0 && pc.teid_addr() == page,
            _ => false,
        };
        let which = usize::from(code == 0x04);
        if !ours || handled[which] {
            return Err(AccessError::Exception(pc));
        }
        handled[which] = true;
        s.handle_pte_fault(va, code == 0x04).map_err(AccessError::Fault)?;
    }
}

/// A load of the doubleword at `va` through `s`, faulting the page young as
/// Linux would.
pub fn user_load(s: &mut Space, va: VirtAddr) -> Result<u64, AccessError> {
    user_access(s, va, false, |s| platform::load_via(s.asce(), va))
}

/// A store of `val` at `va` through `s`, faulting the page young and dirty as
/// Linux would.
pub fn user_store(s: &mut Space, va: VirtAddr, val: u64) -> Result<(), AccessError> {
    user_access(s, va, true, |s| platform::store_via(s.asce(), va, val))
}
