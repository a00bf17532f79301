//! Boot entry and interruption entry points, in assembly. QEMU starts the boot CPU
//! at `_start` (0x10000) in 64-bit mode with DAT off; we load a known PSW and CR0,
//! clear .bss, set up the stack and call `kernel_main`. The interruption stubs
//! save registers into the lowcore software area, switch to a per-CPU handler stack
//! and call into Rust (`traps.rs`), then resume the old PSW.
use super::insn::cr0;
use super::lowcore;
use core::arch::global_asm;

/// CR0 at boot: AFP registers, secondary-space mode, and the external-call
/// and emergency-signal subclasses (the inter-CPU signals). Boot adds EDAT
/// control where EDAT-1 is installed; secondaries take CPU 0's CR0.
pub const CR0_BOOT: u64 = cr0::AFP | cr0::SECONDARY_SPACE | cr0::EMERGENCY_SIGNAL | cr0::EXTERNAL_CALL;

global_asm!(
    r#"
    .section .head.text, "ax"
    .globl _start
_start:
    jg      _start64

    .text
    .globl _start64
_start64:
    larl    %r1, .Linit_psw
    lpswe   0(%r1)
.Lpsw_loaded:
    larl    %r1, .Linit_cr0
    lctlg   %c0, %c0, 0(%r1)
    larl    %r2, __bss_start
    larl    %r3, __bss_end
0:  clgr    %r2, %r3
    jhe     1f
    mvghi   0(%r2), 0
    aghi    %r2, 8
    j       0b
1:  larl    %r15, __boot_stack_top
    aghi    %r15, -160
    xc      0(8,%r15), 0(%r15)
    brasl   %r14, kernel_main
2:  j       2b

    .balign 8
.Linit_psw:
    .quad   {psw}, .Lpsw_loaded
.Linit_cr0:
    .quad   {cr0}

    /* Program check: save the GPRs in the lowcore, run on its own stack. */
    .globl  pgm_entry
pgm_entry:
    stmg    %r0, %r15, {pgm_save}
    lg      %r15, {pgm_stack}
    aghi    %r15, -160
    xc      0(8,%r15), 0(%r15)
    la      %r2, {pgm_save}
    brasl   %r14, program_check_handler
    lmg     %r0, %r15, {pgm_save}
    lpswe   {pgm_old_psw}

    /* External interruption: likewise, with its own save area and stack. */
    .globl  ext_entry
ext_entry:
    stmg    %r0, %r15, {ext_save}
    lg      %r15, {ext_stack}
    aghi    %r15, -160
    xc      0(8,%r15), 0(%r15)
    brasl   %r14, external_handler
    lmg     %r0, %r15, {ext_save}
    lpswe   {ext_old_psw}

    /* Restart: a secondary CPU starts here on its own stack. */
    .globl  restart_entry
restart_entry:
    larl    %r1, .Linit_cr0
    lctlg   %c0, %c0, 0(%r1)
    lg      %r15, {boot_stack}
    aghi    %r15, -160
    xc      0(8,%r15), 0(%r15)
    brasl   %r14, secondary_main
3:  j       3b

    /* Interruptions we never enable: report the class and stop. */
    .globl  svc_entry
svc_entry:
    mvghi   {int_class}, 1
    j       .Lunexpected
    .globl  mcck_entry
mcck_entry:
    mvghi   {int_class}, 2
    j       .Lunexpected
    .globl  io_entry
io_entry:
    mvghi   {int_class}, 3
.Lunexpected:
    stmg    %r0, %r15, {ext_save}
    lg      %r15, {pgm_stack}
    aghi    %r15, -160
    xc      0(8,%r15), 0(%r15)
    brasl   %r14, unexpected_interruption
4:  j       4b

    .section .bss.boot_stack, "aw", @nobits
    .balign 4096
__boot_stack:
    .skip   65536
    .globl  __boot_stack_top
__boot_stack_top:
    .skip   16
    .globl  __pgm_stack0
    .balign 4096
    .skip   32768
__pgm_stack0:
    .skip   16
    .balign 4096
    .skip   16384
    .globl  __ext_stack0
__ext_stack0:
    .skip   16
    .text
"#,
    cr0 = const CR0_BOOT,
    psw = const super::insn::PSW_MASK_KERNEL,
    pgm_save = const lowcore::PGM_SAVE,
    ext_save = const lowcore::EXT_SAVE,
    pgm_stack = const lowcore::PGM_STACK,
    ext_stack = const lowcore::EXT_STACK,
    boot_stack = const lowcore::BOOT_STACK,
    int_class = const lowcore::INT_CLASS,
    pgm_old_psw = const lowcore::PGM_OLD_PSW,
    ext_old_psw = const lowcore::EXT_OLD_PSW,
);

extern "C" {
    /// Program-check entry stub.
    pub fn pgm_entry();
    /// External-interruption entry stub.
    pub fn ext_entry();
    /// Restart entry stub (secondary CPUs).
    pub fn restart_entry();
    /// SVC entry stub (unexpected).
    pub fn svc_entry();
    /// Machine-check entry stub (unexpected).
    pub fn mcck_entry();
    /// I/O entry stub (unexpected).
    pub fn io_entry();
    /// Top of CPU 0's program-check stack.
    pub static __pgm_stack0: u8;
    /// Top of CPU 0's external-interruption stack.
    pub static __ext_stack0: u8;
    /// Linker symbols delimiting the kernel image.
    pub static __kernel_start: u8;
    /// End of .text (page aligned).
    pub static __text_end: u8;
    /// End of read-only data (page aligned).
    pub static __rodata_end: u8;
    /// End of the image including .bss (page aligned).
    pub static __kernel_end: u8;
}
