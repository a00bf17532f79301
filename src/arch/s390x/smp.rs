//! Secondary CPUs and inter-processor signals. For now: the external-interruption
//! handler (which reports unexpected signals) and the secondary entry point; SMP
//! bring-up for the gup race (issue 7) builds on these.
use super::{lowcore, sclp};

#[no_mangle]
extern "C" fn external_handler() {
    let code: u16 = lowcore::read(lowcore::EXT_CODE);
    sclp::print_fatal(format_args!("\n!!! unexpected external interruption {code:#06x} on CPU {}\n", lowcore::cpu_index()));
    crate::exit_failure("unexpected external interruption");
}

#[no_mangle]
extern "C" fn secondary_main() -> ! {
    sclp::print_fatal(format_args!("\n!!! secondary CPU started but SMP is not supported yet\n"));
    crate::exit_failure("unexpected secondary CPU");
}
