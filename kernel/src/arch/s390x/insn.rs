//! Thin wrappers around privileged z/Architecture instructions. Each wrapper names
//! the instruction, cites what it guarantees (Principles of Operation, SA22-7832)
//! and says why calling it is sound. This is the only file that issues them.
use super::lowcore;
use core::arch::asm;

/// PSW mask of the kernel: 64-bit addressing (EA|BA), DAT off, all interrupts off.
pub const PSW_MASK_KERNEL: u64 = 0x0000_0001_8000_0000;
/// PSW bit 14: wait state.
pub const PSW_MASK_WAIT: u64 = 0x0002_0000_0000_0000;
/// PSW bit 7: external interruptions enabled.
pub const PSW_MASK_EXT: u64 = 0x0100_0000_0000_0000;

/// CR0 bits (PoP "Control Registers"), as Linux's `CR0_*` names them.
pub mod cr0 {
    /// Bit 37: secondary-space control (SACF into secondary-space mode).
    pub const SECONDARY_SPACE: u64 = 1 << (63 - 37);
    /// Bit 40: EDAT control (EDAT-1 frames and protection honoured).
    pub const EDAT: u64 = 1 << (63 - 40);
    /// Bit 45: AFP-register control (compiled code may use all FPRs).
    pub const AFP: u64 = 1 << (63 - 45);
    /// Bit 49: emergency-signal subclass mask.
    pub const EMERGENCY_SIGNAL: u64 = 1 << (63 - 49);
    /// Bit 50: external-call subclass mask.
    pub const EXTERNAL_CALL: u64 = 1 << (63 - 50);
    /// Bit 52: clock-comparator subclass mask.
    pub const CLOCK_COMPARATOR: u64 = 1 << (63 - 52);
    /// Bit 54: service-signal subclass mask (SCLP completion).
    pub const SERVICE_SIGNAL: u64 = 1 << (63 - 54);
}

/// LCTLG: load control register `cr` with `val`.
///
/// # Safety
/// The caller must know what the control register governs (CR0 interruption
/// subclasses, CR1 primary ASCE, CR7 secondary ASCE) and that the new value keeps
/// the running code translatable.
pub unsafe fn lctlg<const CR: u8>(val: u64) {
    // SAFETY: forwarded to the caller; LCTLG only reads the 8-byte operand.
    unsafe { asm!("lctlg {cr},{cr},0({p})", cr = const CR, p = in(reg_addr) &val, options(nostack)) }
}

/// STCTG: store control register `CR`.
pub fn stctg<const CR: u8>() -> u64 {
    let mut val = 0u64;
    // SAFETY: STCTG only writes the 8-byte local `val`.
    unsafe { asm!("stctg {cr},{cr},0({p})", cr = const CR, p = in(reg_addr) &mut val, options(nostack)) }
    val
}

/// STOSM: OR `mask` into the system-mask byte of the PSW (e.g. 0x04 turns DAT on).
///
/// # Safety
/// Enabling DAT requires a valid primary ASCE in CR1 that maps the running code and
/// stack at their current addresses; enabling interrupts requires handlers.
pub unsafe fn stosm<const MASK: u8>() -> u8 {
    let mut old = 0u8;
    // SAFETY: forwarded to the caller; STOSM stores the old mask into `old`.
    unsafe { asm!("stosm 0({p}),{m}", p = in(reg_addr) &mut old, m = const MASK, options(nostack)) }
    old
}

/// Translate through `asce` from now on: load it as the primary (CR1),
/// secondary (CR7) and home (CR13) space, then turn DAT on (PoP "Dynamic
/// Address Translation"; Linux `__load_psw_mask` with `PSW_MASK_DAT`).
///
/// # Safety
/// `asce` must map the running code, its stack and the lowcore at their
/// current (real) addresses.
pub unsafe fn dat_on(asce: u64) {
    // SAFETY: forwarded to the caller.
    unsafe {
        lctlg::<1>(asce);
        lctlg::<7>(asce);
        lctlg::<13>(asce);
        stosm::<0x04>();
    }
}

/// Opcode 0x0000, which is not an instruction: an operation exception with
/// ILC 2 (PoP "Program-Interruption Conditions"), for the tests of the handler.
///
/// # Safety
/// A program-check handler must be installed; it decides what happens next.
pub unsafe fn invalid_opcode() {
    // SAFETY: forwarded to the caller; the two bytes change no state.
    unsafe { asm!(".short 0x0000", options(nostack)) }
}

/// STNSM: AND `mask` into the system mask (e.g. 0xfc disables I/O and external
/// interruptions), returning the old mask for [`ssm`].
pub fn stnsm<const MASK: u8>() -> u8 {
    let mut old = 0;
    stnsm_into::<MASK>(&mut old);
    old
}

/// [`stnsm`] storing the old mask into `old` (where [`ssm`] can take it
/// without a copy through a register).
pub fn stnsm_into<const MASK: u8>(old: &mut u8) {
    // SAFETY: only disables facilities (interrupts/DAT bits cleared by the caller's
    // mask); the kernel runs identity-mapped so turning DAT off keeps addresses valid.
    // STNSM stores one byte, to `old`.
    unsafe { asm!("stnsm 0({p}),{m}", p = in(reg_addr) old, m = const MASK, options(nostack)) }
}

/// SSM: restore a system mask saved by [`stnsm`]/[`stosm`].
///
/// # Safety
/// Same conditions as [`stosm`] for whatever the mask enables.
pub unsafe fn ssm(mask: &u8) {
    // SAFETY: forwarded to the caller.
    unsafe { asm!("ssm 0({p})", p = in(reg_addr) mask, options(nostack)) }
}

/// What LRAG answers (issued by `platform::lrag_via`), per the PoP's "LOAD
/// REAL ADDRESS" (Hercules follows it; QEMU's TCG answers every failure as
/// [`Lra::Exception`], see docs/emulators.md).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lra {
    /// cc 0: the real address.
    Real(u64),
    /// cc 1: the segment-table entry is invalid; the address of that entry.
    InvalidSegmentEntry(u64),
    /// cc 2: the page-table entry is invalid; the address of that entry.
    InvalidPageEntry(u64),
    /// cc 3 with bit 32 of R1 set: the program-interruption code (ASCE-type,
    /// region translation, or a segment-table entry past its table above 2 GiB).
    Exception(u16),
    /// cc 3 with bit 32 clear: the segment-table entry lies past its table
    /// (table length); bits 32-63 are its address, below 2 GiB.
    PastTable(u32),
    /// No condition code: the exception is a program interruption
    /// (translation specification, addressing).
    ProgramCheck(u16),
}

/// STSI 1.1.1: the machine's manufacturer (16 EBCDIC characters) from the
/// SYSIB 1.1.1 (PoP "STORE SYSTEM INFORMATION"), or `None` if not offered.
pub fn stsi_manufacturer() -> Option<[u8; 16]> {
    #[repr(C, align(4096))]
    struct Sysib([u8; 4096]);
    let mut sysib = Sysib([0; 4096]);
    let cc: u64;
    // SAFETY: STSI with function code 1, selectors 1.1 stores one 4 KiB SYSIB
    // into the page-aligned local.
    unsafe {
        asm!("stsi 0({p})", "ipm {cc}", "srlg {cc},{cc},28", p = in(reg_addr) sysib.0.as_mut_ptr(),
             cc = out(reg) cc, inout("r0") 0x1000_0001u64 => _, inout("r1") 1u64 => _, options(nostack))
    };
    let mut m = [0; 16];
    m.copy_from_slice(&sysib.0[32..48]);
    (cc & 3 == 0).then_some(m)
}

/// IPTE with M4=0: set the invalid bit of the PTE for `addr` in the page table at
/// `pto` and purge the TLBs of all CPUs (PoP "INVALIDATE PAGE TABLE ENTRY").
///
/// # Safety
/// `pto` must be a live page table (256 PTEs, 2 KiB aligned) whose entries are
/// only changed under the caller's lock.
pub unsafe fn ipte(pto: u64, addr: u64) {
    // SAFETY: forwarded to the caller; IPTE writes only that one PTE. The branch
    // after it ends QEMU's translation block, where a broadcast (M4=0) purge takes
    // effect on the issuing CPU.
    unsafe { asm!("ipte {o},{a}", "j 0f", "0:", o = in(reg_addr) pto, a = in(reg_addr) addr, options(nostack)) }
}

/// IDTE with M4=0: invalidate the region/segment entry selected by `addr` in the
/// table designated by `table_designation` (origin | DT) and purge all TLBs
/// (PoP "INVALIDATE DAT TABLE ENTRY", invalidation-and-clearing form).
///
/// # Safety
/// `table_designation` must name a live table of the type its DT says.
pub unsafe fn idte(table_designation: u64, addr: u64) {
    // SAFETY: forwarded to the caller; IDTE writes only the selected entry.
    unsafe {
        // The branch ends QEMU's translation block (see `ipte`).
        asm!("idte {o},%r0,{a}", "j 0f", "0:", o = in(reg_addr) table_designation, a = in(reg_addr) addr,
             options(nostack));
    }
}

/// PTLB: purge this CPU's TLB.
pub fn ptlb() {
    // SAFETY: purging the TLB can only make translation slower, never wrong.
    unsafe { asm!("ptlb", options(nostack)) }
}

/// STFL: facilities 0..31, stored at real address 200 (the lowcore), read back.
/// Every z/Architecture CPU has it, unlike STFLE (facility 7).
pub fn stfl() -> u32 {
    // SAFETY: STFL stores 4 bytes at real address 200, an architected lowcore
    // word nothing else uses.
    unsafe {
        asm!("stfl 0", options(nostack));
        core::ptr::read_volatile(200 as *const u32)
    }
}

/// STFLE: store facility list (up to 4 doublewords = facilities 0..255).
/// Needs facility 7 (see [`facilities`]).
pub fn stfle() -> [u64; 4] {
    let mut list = [0u64; 4];
    // SAFETY: r0 = 3 limits the store to the 32-byte local array.
    unsafe {
        asm!("lghi %r0,3", "stfle 0({p})", p = in(reg_addr) list.as_mut_ptr(),
             out("r0") _, options(nostack));
    }
    list
}

/// Facility bits 0..255: STFLE when STFL reports it (facility 7), else the
/// 32 bits STFL stores.
pub fn facilities() -> [u64; 4] {
    let first = stfl();
    if first >> (31 - 7) & 1 != 0 {
        stfle()
    } else {
        [(first as u64) << 32, 0, 0, 0]
    }
}

/// STAP: the CPU address of the executing CPU.
pub fn stap() -> u16 {
    let mut a = 0u16;
    // SAFETY: STAP writes the 2-byte local.
    unsafe { asm!("stap 0({p})", p = in(reg_addr) &mut a, options(nostack)) }
    a
}

/// STCKF: the TOD clock (bit 51 = 1 microsecond; under `-icount shift=0` one
/// instruction = 4.096 units).
pub fn stckf() -> u64 {
    let mut t = 0u64;
    // SAFETY: STCKF writes the 8-byte local.
    unsafe { asm!("stckf 0({p})", p = in(reg_addr) &mut t, options(nostack)) }
    t
}

/// STCKC: the clock comparator's value.
pub fn stckc() -> u64 {
    let mut v = 0u64;
    // SAFETY: STCKC only writes the 8-byte local.
    unsafe { asm!("stckc 0({p})", p = in(reg_addr) &mut v, options(nostack)) }
    v
}

/// SCKC: set the clock comparator; a clock-comparator external interruption
/// is pending while the TOD clock is past it (PoP "Clock Comparator").
pub fn sckc(tod: u64) {
    // SAFETY: SCKC only reads the 8-byte operand; the interruption it may make
    // pending is taken only where the caller enables its subclass (CR0 bit 52).
    unsafe { asm!("sckc 0({p})", p = in(reg_addr) &tod, options(nostack)) }
}

/// Wait, with external interruptions enabled, for one external interruption
/// and take it here rather than in the handler (PoP "Wait State"; Linux's
/// `sclp_early_wait_irq`): the external new PSW is pointed at the instruction
/// after the wait for that one interruption, so the CPU resumes here with
/// interruptions disabled, on its own stack, in any context (the fatal paths
/// print from inside handlers). Returns the external-interruption code; the
/// parameter is in the lowcore.
///
/// # Safety
/// CR0 must enable only the subclasses the caller handles from the code.
pub unsafe fn wait_external() -> u16 {
    let (hi, lo): (u64, u64);
    // SAFETY: EPSW only reads the current PSW into two registers.
    unsafe { asm!("epsw {h},{l}", h = out(reg) hi, l = out(reg) lo, options(nostack, nomem)) };
    let mask = (hi << 32) | (lo & 0xffff_ffff);
    let handler = lowcore::read_psw(lowcore::EXT_NEW_PSW);
    let wait = [mask | PSW_MASK_WAIT | PSW_MASK_EXT, 0u64];
    // SAFETY: forwarded to the caller. The resume PSW (this PSW's mask, the
    // label's address) goes into this CPU's external new PSW, then the wait
    // PSW is loaded; the interruption lands at 0: with every register intact.
    unsafe {
        asm!("larl {t},0f", "stg {m},{new}", "stg {t},{new}+8", "lpswe 0({w})", "0:",
             m = in(reg) mask, t = out(reg) _, w = in(reg_addr) wait.as_ptr(),
             new = const lowcore::EXT_NEW_PSW, options(nostack))
    };
    lowcore::write_psw(lowcore::EXT_NEW_PSW, handler);
    lowcore::read(lowcore::EXT_CODE)
}

/// SERVC: issue SCLP command `cmd` with the SCCB at real address `sccb`.
/// Returns the condition code (0 accepted, 2 busy, 3 not operational).
///
/// # Safety
/// `sccb` must point to a valid SCCB below 2 GiB that stays untouched until the
/// command completes.
pub unsafe fn servc(cmd: u32, sccb: u64) -> u32 {
    let cc: u64;
    // SAFETY: forwarded to the caller.
    unsafe {
        asm!(".insn rre,0xb2200000,{c},{s}", "ipm {cc}", "srlg {cc},{cc},28",
             c = in(reg) cmd as u64, s = in(reg) sccb, cc = out(reg) cc, options(nostack));
    }
    (cc & 3) as u32
}

/// SIGP: signal processor `cpu` with `order`, parameter `param`.
/// Returns (condition code, status word stored on cc 1).
///
/// # Safety
/// Orders such as RESTART or SET PREFIX start or reconfigure another CPU; the
/// caller must have prepared its prefix area and handlers.
pub unsafe fn sigp(cpu: u16, order: u8, param: u64) -> (u32, u32) {
    let cc: u64;
    let status: u64;
    // SAFETY: forwarded to the caller. R1 = r2 (even): the parameter is taken
    // from the odd register r3 and a status word is stored into r2.
    unsafe {
        asm!("sigp %r2,{cpu},0({ord})", "ipm {cc}", "srlg {cc},{cc},28",
             cpu = in(reg) cpu as u64, ord = in(reg_addr) order as u64, cc = out(reg) cc,
             inout("r2") 0u64 => status, in("r3") param, options(nostack));
    }
    ((cc & 3) as u32, status as u32)
}

/// LPSWE a disabled-wait PSW: ends QEMU. Address 0xfff means success (exit
/// status 0); with `-action panic=exit-failure` any other address is a failure.
pub fn disabled_wait(addr: u64) -> ! {
    let psw: [u64; 2] = [PSW_MASK_WAIT | PSW_MASK_KERNEL, addr];
    // SAFETY: a disabled wait stops the CPU; nothing runs after it.
    unsafe { asm!("lpswe 0({p})", p = in(reg_addr) psw.as_ptr(), options(noreturn, nostack)) }
}
