//! In-kernel tests, one module per subject, plus the narrated demo. Every test
//! asserts an outcome read from live hardware tables: what LRAG returns, what a
//! load through the mapping reads, which program interruption an access raises.
//! Shared helpers live here.
pub mod boot;
pub mod demo;
pub mod gup;
pub mod mm;
pub mod smp;

use crate::arch::s390x::insn::Lra;
use crate::arch::s390x::platform::{self, KernelPlatform, PLATFORM};
use crate::arch::s390x::traps::{self, ProgramCheck};
use crate::kernel;
use crate::ktest::{check, check_eq, TestResult};
use foldkern::mm::{AddressSpace, AsceType, PhysAddr, Platform, PAGE_SIZE};

/// A test address space on live tables.
pub type Space = AddressSpace<'static, KernelPlatform>;

/// A new space of type `ty`.
pub fn space(ty: AsceType) -> Result<Space, crate::ktest::TestFail> {
    Ok(AddressSpace::new(&PLATFORM, kernel::frames(), ty)?)
}

/// Frames owned by a test, freed when dropped.
pub struct Frames {
    list: [PhysAddr; 64],
    n: usize,
}

impl Frames {
    /// `n` fresh zeroed frames (at most 64).
    pub fn new(n: usize) -> Result<Frames, crate::ktest::TestFail> {
        let mut f = Frames {
            list: [PhysAddr(0); 64],
            n: 0,
        };
        if n > f.list.len() {
            return Err(crate::ktest::TestFail::from(format_args!(
                "Frames::new({n}): a test may own at most {} frames this way",
                f.list.len()
            )));
        }
        for _ in 0..n {
            let pa = kernel::frames().lock().alloc_frame()?;
            PLATFORM.fill(pa, PAGE_SIZE, 0);
            f.list[f.n] = pa;
            f.n += 1;
        }
        Ok(f)
    }
    /// Frame `i` (a test asking for a frame it did not allocate is a bug in the
    /// test: it would map frame 0, the lowcore).
    pub fn get(&self, i: usize) -> PhysAddr {
        assert!(i < self.n, "Frames::get({i}) of {} frames", self.n);
        self.list[i]
    }
}

impl Drop for Frames {
    fn drop(&mut self) {
        for &f in &self.list[..self.n] {
            let _ = kernel::frames().lock().free_frame(f);
        }
    }
}

/// Check one mapped page against the hardware: LRAG equals the software walk,
/// a store through the mapping lands in the frame (read through the identity
/// map) and a load through the mapping reads it back.
pub fn verify_page(s: &Space, va: u64) -> TestResult {
    let Some(t) = s.lookup(va)? else {
        check!(false, "{va:#x} should be mapped");
        return Ok(());
    };
    let lra = platform::lrag_via(s.asce(), va);
    check_eq!(lra, Lra::Real(t.pa.0), "LRAG of {va:#x}");
    let pattern = 0xf01d_0000_0000_0000 ^ va;
    if t.write {
        platform::store_via(s.asce(), va + 8, pattern).map_err(|pc| pc_fail(pc, va))?;
        check_eq!(
            PLATFORM.read_u64(t.pa.add(8)),
            pattern,
            "frame word after storing through {va:#x}"
        );
    } else {
        PLATFORM.write_u64(t.pa.add(8), pattern);
    }
    let v = platform::load_via(s.asce(), va + 8).map_err(|pc| pc_fail(pc, va))?;
    check_eq!(v, pattern, "load through {va:#x}");
    Ok(())
}

/// Check an access to `va` raises `code` (load, or store if `write`), with the
/// TEID naming the page, LRAG agreeing, and the software predicting it.
pub fn verify_fault(s: &Space, va: u64, code: u16, write: bool) -> TestResult {
    if !write {
        check_eq!(s.expected_exception(va)?, Some(code), "software prediction for {va:#x}");
    }
    let r = if write {
        platform::store_via(s.asce(), va, 1).map(|_| 0)
    } else {
        platform::load_via(s.asce(), va)
    };
    match r {
        Ok(v) => check!(
            false,
            "access to {va:#x} succeeded (read {v:#x}), expected code {code:#x}"
        ),
        Err(pc) => {
            check_eq!(pc.code, code, "program-interruption code for {va:#x} ({})", pc.name());
            check_eq!(pc.teid_addr(), va & !0xfff, "TEID address for {va:#x}");
            check_old_psw(&pc)?;
        }
    }
    if !write {
        check_eq!(
            platform::lrag_via(s.asce(), va),
            Lra::Exception(code),
            "LRAG of {va:#x}"
        );
    }
    Ok(())
}

/// The old PSW of an access exception caught in `platform::load_via`/`store_via`:
/// ILC 6, and the instruction address at the LG/STG when the exception
/// nullifies (translation exceptions), just past it when it suppresses
/// (protection, translation specification, addressing). This is what the
/// handler's resume-after rule (`traps::is_nullifying`) rests on.
pub fn check_old_psw(pc: &ProgramCheck) -> TestResult {
    check_eq!(pc.ilc, 6, "ILC of the faulting access ({})", pc.name());
    let at = if traps::is_nullifying(pc.code) {
        pc.addr
    } else {
        pc.addr.wrapping_sub(6)
    };
    let (lo, hi) = kernel::machine().kernel;
    check!(
        at >= lo && at <= hi - 6,
        "old PSW {:#x} of a {} is outside the kernel image",
        pc.addr,
        pc.name()
    );
    // SAFETY: `at..at + 6` lies inside the kernel image (checked above), which
    // the kernel space maps readable at its own address.
    let insn = unsafe { core::ptr::read_volatile(at as *const [u8; 6]) };
    check!(
        insn[0] == 0xe3 && matches!(insn[5], 0x04 | 0x24),
        "old PSW {:#x} of a {}: the instruction at {at:#x} is {insn:02x?}, not the LG/STG",
        pc.addr,
        pc.name()
    );
    Ok(())
}

fn pc_fail(pc: ProgramCheck, va: u64) -> crate::ktest::TestFail {
    crate::ktest::TestFail::Failed(crate::ktest::Msg::new(format_args!(
        "access through {va:#x} raised {:#x} ({}) TEID {:#x}",
        pc.code,
        pc.name(),
        pc.teid
    )))
}
