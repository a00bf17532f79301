//! Interruption handling: installs the new PSWs, reports unexpected program checks
//! (code and name, ILC, old PSW, TEID, registers) and ends QEMU with a failure
//! status, and lets code *expect* a program check: [`expect_pgm`] runs a closure
//! and returns the interruption it took, so tests can assert on faults.
use super::lowcore::MAX_CPUS;
use super::{entry, insn, lowcore, sclp};
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// A program interruption as the machine reported it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProgramCheck {
    /// Program-interruption code (low 7 bits: the exception; 0x80 = PER).
    pub code: u16,
    /// Instruction length in bytes.
    pub ilc: u8,
    /// Translation-exception identification (DAT exceptions: failing page | space bits).
    pub teid: u64,
    /// Instruction address in the old PSW.
    pub addr: u64,
}

impl ProgramCheck {
    /// The exception's name per the PoP table of program-interruption codes.
    pub fn name(&self) -> &'static str {
        pgm_name(self.code)
    }
    /// The failing address from the TEID (bits 0-51).
    pub fn teid_addr(&self) -> u64 {
        self.teid & !0xfff
    }
}

/// Name of a program-interruption code.
pub fn pgm_name(code: u16) -> &'static str {
    match code & 0x7f {
        0x01 => "operation exception",
        0x02 => "privileged-operation exception",
        0x04 => "protection exception",
        0x05 => "addressing exception",
        0x06 => "specification exception",
        0x07 => "data exception",
        0x10 => "segment-translation exception",
        0x11 => "page-translation exception",
        0x12 => "translation-specification exception",
        0x13 => "special-operation exception",
        0x38 => "ASCE-type exception",
        0x39 => "region-first-translation exception",
        0x3a => "region-second-translation exception",
        0x3b => "region-third-translation exception",
        _ => "unknown exception",
    }
}

/// Nullifying exceptions leave the old PSW at the failing instruction; to resume
/// after an expected one we step over it (as kvm-unit-tests' fixup does).
pub fn is_nullifying(code: u16) -> bool {
    matches!(code & 0x7f, 0x10 | 0x11 | 0x38..=0x3b)
}

static EXPECTING: [AtomicBool; MAX_CPUS] = [const { AtomicBool::new(false) }; MAX_CPUS];
static CAUGHT: [AtomicU64; MAX_CPUS] = [const { AtomicU64::new(0) }; MAX_CPUS];
static CAUGHT_TEID: [AtomicU64; MAX_CPUS] = [const { AtomicU64::new(0) }; MAX_CPUS];
static CAUGHT_ADDR: [AtomicU64; MAX_CPUS] = [const { AtomicU64::new(0) }; MAX_CPUS];

/// Run `f`; if it takes a program check, return it instead of stopping the kernel.
/// The faulting instruction is skipped, so `f` should only use volatile accesses
/// whose results it does not depend on after a fault.
pub fn expect_pgm<R>(f: impl FnOnce() -> R) -> Result<R, ProgramCheck> {
    let cpu = lowcore::cpu_index();
    CAUGHT[cpu].store(0, Ordering::SeqCst);
    EXPECTING[cpu].store(true, Ordering::SeqCst);
    let r = f();
    EXPECTING[cpu].store(false, Ordering::SeqCst);
    let c = CAUGHT[cpu].load(Ordering::SeqCst);
    if c == 0 {
        Ok(r)
    } else {
        Err(ProgramCheck {
            code: c as u16,
            ilc: (c >> 16) as u8,
            teid: CAUGHT_TEID[cpu].load(Ordering::SeqCst),
            addr: CAUGHT_ADDR[cpu].load(Ordering::SeqCst),
        })
    }
}

/// Install the new PSWs of this CPU's lowcore (call first thing on every CPU).
pub fn install(pgm_stack: u64, ext_stack: u64) {
    let m = insn::PSW_MASK_KERNEL;
    lowcore::write::<u64>(lowcore::PGM_STACK, pgm_stack);
    lowcore::write::<u64>(lowcore::EXT_STACK, ext_stack);
    lowcore::write::<u64>(lowcore::PGM_DEPTH, 0);
    lowcore::write_psw(lowcore::PGM_NEW_PSW, [m, entry::pgm_entry as *const () as u64]);
    lowcore::write_psw(lowcore::EXT_NEW_PSW, [m, entry::ext_entry as *const () as u64]);
    lowcore::write_psw(lowcore::SVC_NEW_PSW, [m, entry::svc_entry as *const () as u64]);
    lowcore::write_psw(lowcore::MCCK_NEW_PSW, [m, entry::mcck_entry as *const () as u64]);
    lowcore::write_psw(lowcore::IO_NEW_PSW, [m, entry::io_entry as *const () as u64]);
    lowcore::write_psw(lowcore::RESTART_NEW_PSW, [m, entry::restart_entry as *const () as u64]);
}

/// Boot CPU's handler stacks (symbols from entry.rs).
pub fn boot_stacks() -> (u64, u64) {
    // SAFETY: only the addresses of the linker-provided stack tops are taken.
    unsafe {
        (
            &entry::__pgm_stack0 as *const u8 as u64,
            &entry::__ext_stack0 as *const u8 as u64,
        )
    }
}

#[no_mangle]
extern "C" fn program_check_handler(regs: &mut [u64; 16]) {
    let code: u16 = lowcore::read(lowcore::PGM_CODE);
    let ilc: u16 = lowcore::read(lowcore::PGM_ILC);
    let teid: u64 = lowcore::read(lowcore::TEID);
    let mut psw = lowcore::read_psw(lowcore::PGM_OLD_PSW);
    let cpu = lowcore::cpu_index();
    let depth: u64 = lowcore::read(lowcore::PGM_DEPTH);
    if depth == 0 && cpu < MAX_CPUS && EXPECTING[cpu].swap(false, Ordering::SeqCst) {
        CAUGHT[cpu].store(code as u64 | ((ilc as u64 & 0x6) << 16) | 1 << 32, Ordering::SeqCst);
        CAUGHT_TEID[cpu].store(teid, Ordering::SeqCst);
        CAUGHT_ADDR[cpu].store(psw[1], Ordering::SeqCst);
        if is_nullifying(code) {
            psw[1] += (ilc & 0x6) as u64;
            lowcore::write_psw(lowcore::PGM_OLD_PSW, psw);
        }
        return;
    }
    lowcore::write::<u64>(lowcore::PGM_DEPTH, depth + 1);
    sclp::print_fatal(format_args!(
        "\n!!! unexpected program check on CPU {cpu}{}: code {code:#06x} ({}), ILC {}\n\
         !!! old PSW {:016x} {:016x}  TEID {teid:#018x}\n",
        if depth > 0 {
            " (inside the program-check handler)"
        } else {
            ""
        },
        pgm_name(code),
        ilc & 0x6,
        psw[0],
        psw[1]
    ));
    for (i, r) in regs.chunks(4).enumerate() {
        sclp::print_fatal(format_args!(
            "!!! r{:<2}-r{:<2} {:016x} {:016x} {:016x} {:016x}\n",
            i * 4,
            i * 4 + 3,
            r[0],
            r[1],
            r[2],
            r[3]
        ));
    }
    super::halt::exit_failure("unexpected program check");
}

#[no_mangle]
extern "C" fn unexpected_interruption() {
    let class: u64 = lowcore::read(lowcore::INT_CLASS);
    let (name, old) = match class {
        1 => ("SVC", lowcore::SVC_OLD_PSW),
        2 => ("machine-check", lowcore::MCCK_OLD_PSW),
        _ => ("I/O", lowcore::IO_OLD_PSW),
    };
    let psw = lowcore::read_psw(old);
    sclp::print_fatal(format_args!(
        "\n!!! unexpected {name} interruption on CPU {}: old PSW {:016x} {:016x}\n",
        lowcore::cpu_index(),
        psw[0],
        psw[1]
    ));
    super::halt::exit_failure("unexpected interruption");
}
