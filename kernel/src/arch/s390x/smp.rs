//! Secondary CPUs and inter-processor signals (PoP "SIGNAL PROCESSOR").
//!
//! Bring-up: for each CPU SCLP lists, give it a prefix area (8 KiB) holding a copy
//! of the new PSWs and its own stacks, then SIGP STOP, SET PREFIX, RESTART; it
//! starts at `restart_entry`, loads the kernel's ASCE, turns DAT on and idles in
//! [`secondary_main`] waiting for work. SIGP "busy" answers are retried with a
//! bound and reported.
//!
//! Synchronisation with lockless walkers ([`sync_all`], Linux
//! `tlb_remove_table_sync_one`): send every other online CPU an emergency signal
//! and wait until each has acknowledged it from its external-interruption handler.
//! A CPU inside gup_fast has interrupts disabled, so its acknowledgement comes only
//! after its walk ends: once all have answered, no walk that could have seen an
//! unhooked table is still running.
use super::{insn, lowcore, sclp};
use core::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use foldkern::mm::FrameAllocator;
use spin::Mutex;

/// SIGP orders used here.
pub mod order {
    /// External call (wakes an idle CPU).
    pub const EXTERNAL_CALL: u8 = 0x02;
    /// Emergency signal.
    pub const EMERGENCY_SIGNAL: u8 = 0x03;
    /// Stop.
    pub const STOP: u8 = 0x05;
    /// Restart.
    pub const RESTART: u8 = 0x06;
    /// Set prefix.
    pub const SET_PREFIX: u8 = 0x0d;
}

/// Bound on SIGP busy retries (TCG can answer busy for thousands of tries).
const SIGP_RETRIES: u32 = 10_000_000;
/// Bound on waiting for an acknowledgement or a CPU to come online (TOD units: 10 s).
const WAIT_TOD: u64 = 10 * 4_096_000_000;

struct Cpu {
    addr: AtomicU64,
    online: AtomicBool,
    acks: AtomicU64,
    /// Times it was outside any lockless walk: interruptions taken, waits
    /// left (what `grace_period` counts; not RCU's quiescent states).
    outside_walks: AtomicU64,
    /// In the idle wait (outside any walk while it lasts).
    idle: AtomicBool,
    work: AtomicUsize,
    arg: AtomicUsize,
    busy: AtomicBool,
}

static CPUS: [Cpu; lowcore::MAX_CPUS] = [const {
    Cpu {
        addr: AtomicU64::new(0),
        online: AtomicBool::new(false),
        acks: AtomicU64::new(0),
        outside_walks: AtomicU64::new(0),
        idle: AtomicBool::new(false),
        work: AtomicUsize::new(0),
        arg: AtomicUsize::new(0),
        busy: AtomicBool::new(false),
    }
}; lowcore::MAX_CPUS];
static NCPUS: AtomicUsize = AtomicUsize::new(1);
/// CPUs given a restart (online or not): all must be stopped before exiting.
static STARTED: AtomicUsize = AtomicUsize::new(1);
static KERNEL_ASCE: AtomicU64 = AtomicU64::new(0);
/// CR0 every secondary CPU loads: the boot CPU's (EDAT control included).
static KERNEL_CR0: AtomicU64 = AtomicU64::new(0);
/// Sum of SIGP busy retries (reported by the stress test).
pub static SIGP_BUSY_RETRIES: AtomicU64 = AtomicU64::new(0);
static SYNCS: AtomicU64 = AtomicU64::new(0);
static GRACE_PERIODS: AtomicU64 = AtomicU64::new(0);
static EXPEDITED: AtomicU64 = AtomicU64::new(0);
/// A CPU running work ticks this often (TOD units: 1 ms), so it takes
/// interruptions, each outside any walk, while it runs enabled.
const TICK_TOD: u64 = 4_096_000;
/// How long a grace period waits for a CPU before it signals it (100 ms).
const EXPEDITE_TOD: u64 = 100 * 4_096_000;

/// Why SIGP failed.
#[derive(Clone, Copy, Debug)]
pub enum SigpError {
    /// Still busy after the retry bound.
    Busy(u8),
    /// cc 1 with this status word.
    Status(u8, u32),
    /// cc 3: not operational.
    NotOperational(u8),
    /// No memory for a CPU's prefix area and stacks.
    NoMemory,
    /// The CPU with this address was restarted but never came online.
    NoResponse(u16),
}

impl core::fmt::Display for SigpError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            SigpError::Busy(o) => write!(f, "SIGP order {o:#x}: still busy after {SIGP_RETRIES} tries"),
            SigpError::Status(o, s) => write!(f, "SIGP order {o:#x}: status {s:#x}"),
            SigpError::NotOperational(o) => write!(f, "SIGP order {o:#x}: CPU not operational"),
            SigpError::NoMemory => write!(f, "no memory for a CPU's prefix area and stacks"),
            SigpError::NoResponse(a) => write!(f, "CPU {a} was restarted but did not come online"),
        }
    }
}

/// Spin until `done()` holds, at most [`WAIT_TOD`]; false on timeout.
fn wait_until(done: impl Fn() -> bool) -> bool {
    let t0 = insn::stckf();
    while !done() {
        if insn::stckf() - t0 > WAIT_TOD {
            return false;
        }
        core::hint::spin_loop();
    }
    true
}

/// SIGP with busy retries.
pub fn sigp(cpu: u16, ord: u8, param: u64) -> Result<(), SigpError> {
    for _ in 0..SIGP_RETRIES {
        // SAFETY: callers only send orders whose preconditions they established
        // (prefix area prepared before SET PREFIX/RESTART; signals need handlers).
        let (cc, status) = unsafe { insn::sigp(cpu, ord, param) };
        match cc {
            0 => return Ok(()),
            1 => return Err(SigpError::Status(ord, status)),
            2 => {
                SIGP_BUSY_RETRIES.fetch_add(1, Ordering::Relaxed);
                core::hint::spin_loop()
            }
            _ => return Err(SigpError::NotOperational(ord)),
        }
    }
    Err(SigpError::Busy(ord))
}

/// CPUs online (including the boot CPU).
pub fn online() -> usize {
    NCPUS.load(Ordering::Acquire)
}

/// Bring up every CPU of `cpu_addrs` (what SCLP lists) but `boot_cpu`, each
/// running in the space `kernel_asce`, their prefix areas and stacks taken from
/// `frames` (idempotent). Returns how many are online.
pub fn bring_up(
    kernel_asce: u64,
    boot_cpu: u16,
    cpu_addrs: &[u16],
    frames: &Mutex<FrameAllocator>,
) -> Result<usize, SigpError> {
    if online() > 1 {
        return Ok(online());
    }
    KERNEL_ASCE.store(kernel_asce, Ordering::Release);
    KERNEL_CR0.store(insn::stctg::<0>(), Ordering::Release);
    CPUS[0].addr.store(boot_cpu as u64, Ordering::Relaxed);
    CPUS[0].online.store(true, Ordering::Release);
    let mut idx = 1;
    for &addr in cpu_addrs {
        if addr == boot_cpu || idx >= lowcore::MAX_CPUS {
            continue;
        }
        let mut fa = frames.lock();
        let (Ok(prefix), Ok(stack), Ok(pgm), Ok(ext)) = (
            fa.alloc_frames(2, 2),
            fa.alloc_frames(16, 1),
            fa.alloc_frames(4, 1),
            fa.alloc_frames(4, 1),
        ) else {
            return Err(SigpError::NoMemory);
        };
        drop(fa);
        // The new CPU's lowcore: zeroed, our new PSWs, its stacks and index.
        // SAFETY: the 8 KiB were just allocated for this prefix area alone and
        // are identity-mapped; absolute = real for addresses outside CPU 0's prefix.
        unsafe {
            core::ptr::write_bytes(prefix.as_u64() as *mut u8, 0, 8192);
            core::ptr::copy_nonoverlapping(0x1a0 as *const u8, (prefix.as_u64() + 0x1a0) as *mut u8, 0x60);
            let w = |off: usize, v: u64| core::ptr::write_volatile((prefix.as_u64() + off as u64) as *mut u64, v);
            w(lowcore::BOOT_STACK, stack.as_u64() + 16 * 4096);
            w(lowcore::PGM_STACK, pgm.as_u64() + 4 * 4096);
            w(lowcore::EXT_STACK, ext.as_u64() + 4 * 4096);
            w(lowcore::CPU_INDEX, idx as u64);
        }
        CPUS[idx].addr.store(addr as u64, Ordering::Relaxed);
        STARTED.store(idx + 1, Ordering::Release);
        sigp(addr, order::STOP, 0)?;
        sigp(addr, order::SET_PREFIX, prefix.as_u64())?;
        sigp(addr, order::RESTART, 0)?;
        if !wait_until(|| CPUS[idx].online.load(Ordering::Acquire)) {
            return Err(SigpError::NoResponse(addr));
        }
        idx += 1;
        NCPUS.store(idx, Ordering::Release);
    }
    Ok(online())
}

/// Run `f(arg)` on CPU `idx` (asynchronously; see [`wait_idle`]), waking it
/// from its idle wait with an external call.
pub fn run_on(idx: usize, f: fn(usize), arg: usize) {
    let c = &CPUS[idx];
    c.busy.store(true, Ordering::Release);
    c.arg.store(arg, Ordering::Release);
    c.work.store(f as usize, Ordering::Release);
    if let Err(e) = sigp(c.addr.load(Ordering::Relaxed) as u16, order::EXTERNAL_CALL, 0) {
        println!("smp: waking CPU {idx}: {e}");
        stop_others();
        sclp::fail("SIGP external call failed");
    }
}

/// Wait until CPU `idx` finished its work.
pub fn wait_idle(idx: usize) {
    while CPUS[idx].busy.load(Ordering::Acquire) {
        core::hint::spin_loop();
    }
}

/// Synchronise with every lockless walker (see the module docs). Returns false
/// if a CPU did not answer within the bound (reported on the console).
pub fn sync_all() -> bool {
    if online() < 2 {
        return true;
    }
    SYNCS.fetch_add(1, Ordering::AcqRel);
    let me = lowcore::cpu_index();
    let mut before = [0u64; lowcore::MAX_CPUS];
    for (i, c) in CPUS.iter().enumerate().take(online()) {
        if i != me {
            before[i] = c.acks.load(Ordering::Acquire);
            if let Err(e) = sigp(c.addr.load(Ordering::Relaxed) as u16, order::EMERGENCY_SIGNAL, 0) {
                println!("smp: emergency signal to CPU {i}: {e}");
                return false;
            }
        }
    }
    for (i, c) in CPUS.iter().enumerate().take(online()) {
        if i != me && !wait_until(|| c.acks.load(Ordering::Acquire) != before[i]) {
            println!("smp: CPU {i} did not acknowledge the walker synchronisation");
            return false;
        }
    }
    true
}

/// Wait until every other online CPU has been idle or taken an interruption
/// since the call began, neither of which it can do inside a lockless walk
/// (walks run disabled). Where s390 Linux frees page tables after an RCU-sched
/// grace period, this simpler condition suffices because the tables' only
/// lockless readers run with interrupts disabled (the argument of
/// `tlb_remove_table_sync_one`); it is not RCU. CPUs running work tick (1 ms),
/// idle ones count while they wait. One that keeps interruptions disabled past
/// 100 ms is sent the emergency signal, answered when its walk ends (counted
/// as "expedited": it ends the wait for a tick, not an RCU expedited grace
/// period). False if that fails (reported on the console).
pub fn grace_period() -> bool {
    if online() < 2 {
        return true;
    }
    GRACE_PERIODS.fetch_add(1, Ordering::AcqRel);
    let me = lowcore::cpu_index();
    let mut seen = [0u64; lowcore::MAX_CPUS];
    for (i, c) in CPUS.iter().enumerate().take(online()) {
        seen[i] = c.outside_walks.load(Ordering::SeqCst);
    }
    let t0 = insn::stckf();
    loop {
        let waiting = CPUS.iter().enumerate().take(online()).any(|(i, c)| {
            i != me && !c.idle.load(Ordering::SeqCst) && c.outside_walks.load(Ordering::SeqCst) == seen[i]
        });
        if !waiting {
            return true;
        }
        if insn::stckf() - t0 > EXPEDITE_TOD {
            EXPEDITED.fetch_add(1, Ordering::AcqRel);
            return sync_all();
        }
        core::hint::spin_loop();
    }
}

/// Grace periods waited for, and how many of them were expedited.
pub fn grace_periods() -> (u64, u64) {
    (GRACE_PERIODS.load(Ordering::Acquire), EXPEDITED.load(Ordering::Acquire))
}

/// Number of synchronisations started (the stress test's walkers watch it).
pub fn syncs() -> u64 {
    SYNCS.load(Ordering::Acquire)
}

/// Stop every other online CPU (before ending QEMU: it exits only when no CPU runs).
pub fn stop_others() {
    let me = lowcore::cpu_index();
    for (i, c) in CPUS.iter().enumerate().take(STARTED.load(Ordering::Acquire)) {
        if i != me {
            let _ = sigp(c.addr.load(Ordering::Relaxed) as u16, order::STOP, 0);
        }
    }
}

#[no_mangle]
extern "C" fn external_handler() {
    let code: u16 = lowcore::read(lowcore::EXT_CODE);
    let me = lowcore::cpu_index();
    if me < lowcore::MAX_CPUS {
        // Taking an interruption puts this CPU outside any walk (none runs enabled).
        CPUS[me].outside_walks.fetch_add(1, Ordering::SeqCst);
        if code == lowcore::EXT_CLOCK_COMPARATOR {
            insn::sckc(insn::stckf() + TICK_TOD);
            return;
        }
        if acknowledge(me, code) {
            return;
        }
    }
    sclp::print_fatal(format_args!(
        "\n!!! unexpected external interruption {code:#06x} on CPU {me}\n"
    ));
    stop_others();
    sclp::fail("unexpected external interruption");
}

/// Count a signal from another CPU on CPU `me`: every interruption a CPU takes
/// shows it is outside any lockless walk (those run disabled), which is what
/// [`sync_all`] waits for. False for any other interruption.
fn acknowledge(me: usize, code: u16) -> bool {
    let signal = matches!(code, lowcore::EXT_EMERGENCY_SIGNAL | lowcore::EXT_EXTERNAL_CALL);
    if signal {
        CPUS[me].acks.fetch_add(1, Ordering::AcqRel);
    }
    signal
}

#[no_mangle]
extern "C" fn secondary_main() -> ! {
    let me = lowcore::cpu_index();
    let asce = KERNEL_ASCE.load(Ordering::Acquire);
    // SAFETY: the boot CPU's CR0 (the same subclasses and EDAT control), and
    // the kernel space identity-maps all memory, so turning DAT on keeps this
    // code, its stack and its lowcore where they are.
    unsafe {
        insn::lctlg::<0>(KERNEL_CR0.load(Ordering::Acquire));
        insn::dat_on(asce)
    };
    CPUS[me].online.store(true, Ordering::Release);
    loop {
        let w = CPUS[me].work.swap(0, Ordering::AcqRel);
        if w != 0 {
            // SAFETY: `run_on` stored a `fn(usize)` here.
            let f: fn(usize) = unsafe { core::mem::transmute::<usize, fn(usize)>(w) };
            // Work runs enabled and ticking, as a kernel thread does, so it
            // answers the walker synchronisation and counts for grace periods
            // whenever it is outside a lockless walk.
            let cr0 = insn::stctg::<0>();
            insn::sckc(insn::stckf() + TICK_TOD);
            // SAFETY: the external handler is installed (copied new PSWs) and
            // takes clock-comparator interruptions (the tick).
            unsafe {
                insn::lctlg::<0>(cr0 | insn::cr0::CLOCK_COMPARATOR);
                insn::stosm::<0x01>()
            };
            f(CPUS[me].arg.load(Ordering::Acquire));
            insn::stnsm::<0xfe>();
            insn::sckc(u64::MAX);
            // SAFETY: back to the subclasses the CPU idles with.
            unsafe { insn::lctlg::<0>(cr0) };
            CPUS[me].busy.store(false, Ordering::Release);
            continue;
        }
        // Idle until another CPU signals: an external call brings work, an
        // emergency signal asks for the walker synchronisation's acknowledgement.
        CPUS[me].idle.store(true, Ordering::SeqCst);
        // SAFETY: CR0 enables only those two subclasses.
        let code = unsafe { insn::wait_external() };
        CPUS[me].idle.store(false, Ordering::SeqCst);
        CPUS[me].outside_walks.fetch_add(1, Ordering::SeqCst);
        if !acknowledge(me, code) {
            sclp::print_fatal(format_args!(
                "\n!!! CPU {me} woke from idle with external interruption {code:#06x}\n"
            ));
            stop_others();
            sclp::fail("unexpected external interruption");
        }
    }
}
