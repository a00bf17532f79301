//! Foundation tests: console, caught program checks, the failure paths.
use crate::arch::s390x::{insn, sclp, traps};
use crate::kernel;
use crate::kunit::{check, check_eq, kernel_test, TestFail};
use core::sync::atomic::Ordering;

kernel_test!(
    /// A console write is accepted by the SCLP (normal completion, 0x0020) and
    /// completes with exactly one service signal, and every console write
    /// before it was accepted too.
    ///
    /// Needs the kernel: the SCLP and its service signal.
    fn the_console_takes_every_write() {
        let signals = sclp::SERVICE_SIGNALS.load(Ordering::Acquire);
        let r = sclp::write_bytes(b"(console write from boot::the_console_takes_every_write)\n");
        check_eq!(r, Ok(()), "SCLP Write Event Data");
        check_eq!(
            sclp::SERVICE_SIGNALS.load(Ordering::Acquire) - signals,
            1,
            "service-signal interruptions for one write (the architected completion)"
        );
        check_eq!(
            sclp::REFUSED_WRITES.load(Ordering::Relaxed),
            0,
            "console writes refused so far"
        );
        Ok(())
    }
);

kernel_test!(
    /// An invalid opcode raises an operation exception (0x01, ILC 2), caught.
    ///
    /// Needs the kernel: a real program check.
    fn operation_exception_caught() {
        // SAFETY: the handler reports the operation exception and resumes after
        // the 2-byte instruction.
        let r = traps::expect_pgm(|| unsafe { insn::invalid_opcode() });
        let pc = r.err().ok_or_else(|| TestFail::from("no program check"))?;
        check_eq!(pc.code, 0x01u16, "interruption code");
        check_eq!(pc.ilc, 2u8, "instruction length");
        check!(pc.name() == "operation exception", "name {}", pc.name());
        Ok(())
    }
);

kernel_test!(
    /// Machine facts: SCLP memory size matches what the allocator manages, z/Arch
    /// facility (2) is reported, the boot CPU has a CPU address SCLP lists.
    ///
    /// Needs the kernel: the SCLP's and STFLE's answers.
    fn the_machine_reports_its_memory_facilities_and_cpus() {
        let m = kernel::machine();
        check!(m.mem >= kernel::MIN_MEMORY, "memory {} below minimum", m.mem);
        check_eq!(
            kernel::frames().lock().total_frames() as u64 * 4096,
            m.mem,
            "frames managed"
        );
        check!(m.has_facility(2), "STFLE does not report z/Architecture (facility 2)");
        check!(
            m.scp.cpu_addrs[..m.scp.cpus].contains(&m.cpu_addr),
            "boot CPU {} not in SCLP CPU list",
            m.cpu_addr
        );
        Ok(())
    }
);

kernel_test!(
    /// Deliberately panics: the host checks the panic path ends QEMU with failure.
    ///
    /// Needs the kernel: the kernel's panic path (run only by the harness).
    explicit fn deliberate_panic() {
        panic!("deliberate panic from boot::deliberate_panic");
    }
);

kernel_test!(
    /// Deliberately fails: the host checks a failed test fails the run.
    ///
    /// Needs the kernel: the kernel's failure path (run only by the harness).
    explicit fn deliberate_failure() {
        check!(1 + 1 == 3, "deliberate failure: 1 + 1 is not 3");
        Ok(())
    }
);

kernel_test!(
    /// Takes an unexpected program check: the host checks the report and status.
    ///
    /// Needs the kernel: a real program check (run only by the harness).
    explicit fn unexpected_program_check() {
        // SAFETY: deliberately unexpected; the handler stops the machine.
        unsafe { insn::invalid_opcode() };
        Ok(())
    }
);

kernel_test!(
    /// Never finishes: the host checks its timeout names this test.
    ///
    /// Needs the kernel: the harness's timeout (run only by the harness).
    explicit fn deliberate_hang() {
        loop {
            core::hint::spin_loop();
        }
    }
);
