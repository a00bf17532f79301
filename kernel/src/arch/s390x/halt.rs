//! The ends of a run: every other CPU stopped (SIGP STOP), the console flushed,
//! then a disabled wait whose address is the verdict (QEMU's `-no-reboot` and
//! `-action panic=exit-failure` turn it into the exit status). The panic
//! handler ends here too.
use super::{insn, sclp, smp};

/// Stop the machine with the success status.
pub fn exit_success() -> ! {
    smp::stop_others();
    sclp::CONSOLE.lock().flush();
    insn::disabled_wait(0xfff)
}

/// Stop the machine with the failure status after saying why.
pub fn exit_failure(why: &str) -> ! {
    smp::stop_others();
    sclp::fail(why)
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    sclp::print_fatal(format_args!("\n!!! kernel panic: {}\n", info));
    exit_failure("panic")
}

/// The prebuilt `core` references this symbol; we never unwind.
#[no_mangle]
extern "C" fn rust_eh_personality() {}
