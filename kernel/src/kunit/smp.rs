//! gup_fast racing unmap / remap / protect / upgrade / address-space
//! replacement on another CPU, made safe by synchronising with lockless walkers
//! before freeing tables, plus the negative control with that synchronisation off.
use crate::arch::s390x::platform::PLATFORM;
use crate::arch::s390x::{insn, smp};
use crate::kernel;
use crate::kunit::{check, check_eq, kernel_test, skip, TestFail, TestResult};
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use foldkern::gup::{gup_fast, release_pages, GupFast, GupFlags, Page, Step, Variant, WalkStack};
use foldkern::mm::{
    AddressSpace, Asce, AsceType, Defect, Level, PhysAddr, Platform, Prot, VirtAddr, WalkError, PAGE_SIZE,
};

/// The raced range: 512 pages, two whole page tables.
const START: u64 = 0x10_0000;
const PAGES: usize = 512;
/// Mapping a page here upgrades the space one level each.
const UPGRADES: [u64; 3] = [0x8000_0000, 0x400_0000_0000, 0x20_0000_0000_0000];

static ASCE: AtomicU64 = AtomicU64::new(0);
static STOP: AtomicBool = AtomicBool::new(false);
static BLOCK: [AtomicU64; 2] = [AtomicU64::new(0), AtomicU64::new(0)];
static STACKS: [AtomicU64; 8] = [const { AtomicU64::new(0) }; 8];
/// Per walker: iterations, pages pinned, freed-table reads, wrong frames, other errors.
static STATS: [[AtomicU64; 5]; 8] = [const { [const { AtomicU64::new(0) }; 5] }; 8];
/// Spins after reading a segment entry: widens the window in which an unmap
/// could free the page table the walker is about to read.
const DELAY: u32 = 2000;
/// Forced window: a walker that has just read a segment entry announces it in
/// `IN_WINDOW` and waits (bounded) for CPU 0 to bump `GEN` after its unmap, so
/// every forced iteration unmaps while a walk holds a page-table pointer. This
/// makes the race deterministic even when vCPUs are time-sliced (single-threaded
/// TCG), where random interleaving rarely hits the window.
static IN_WINDOW: AtomicU64 = AtomicU64::new(0);
static GEN: AtomicU64 = AtomicU64::new(0);
/// TOD units a walker waits at most in the forced window (2 s: several
/// single-threaded TCG time slices, so CPU 0 gets to run meanwhile).
const WINDOW_TOD: u64 = 2000 * 4_096_000;
/// TOD units CPU 0 waits for a walker to enter the window (about 500 ms).
const ENTER_TOD: u64 = 500 * 4_096_000;
/// Every this many iterations CPU 0 forces the window.
const FORCE_EVERY: u32 = 4;

fn walker(idx: usize) {
    // SAFETY: the frame `start` allocated for this walker's stack, freed only
    // after every walker has stopped.
    let stack = unsafe { WalkStack::new(&PLATFORM, PhysAddr::new(STACKS[idx].load(Ordering::Acquire))) };
    let (a, b) = (BLOCK[0].load(Ordering::Acquire), BLOCK[1].load(Ordering::Acquire));
    let mut pages = [Page::from_pfn(0); PAGES];
    let st = &STATS[idx];
    let mut n = 0u64;
    while !STOP.load(Ordering::Acquire) {
        // mm->context.asce, read inside the interrupt-disabled section.
        let o = PLATFORM.irq_disabled(|| {
            let asce = Asce::from_val(ASCE.load(Ordering::Acquire));
            let mut delay = |s: &Step| {
                if s.level == Level::Pmd {
                    if IN_WINDOW
                        .compare_exchange(0, idx as u64, Ordering::AcqRel, Ordering::Acquire)
                        .is_ok()
                    {
                        let (g, y, gp) = (GEN.load(Ordering::Acquire), smp::syncs(), smp::grace_periods().0);
                        let t0 = insn::stckf();
                        // Leave when CPU 0 has unmapped (GEN), or has unhooked tables
                        // and waits for a grace period or a synchronisation (it then
                        // waits for this walk, which still holds a pointer into them,
                        // to end before freeing).
                        let waiting = || smp::syncs() != y || smp::grace_periods().0 != gp;
                        while GEN.load(Ordering::Acquire) == g && !waiting() && insn::stckf() - t0 < WINDOW_TOD {
                            core::hint::spin_loop();
                        }
                        IN_WINDOW.store(0, Ordering::Release);
                    } else {
                        for _ in 0..DELAY {
                            core::hint::spin_loop();
                        }
                    }
                }
            };
            let flags = if n.is_multiple_of(2) {
                GupFlags::GET
            } else {
                GupFlags::GET | GupFlags::WRITE
            };
            let g = GupFast::new(&PLATFORM, asce, kernel::pagemap(), stack, Variant::OffsetLockless);
            // Two walks in eight (one of each flags) run without hooks, as the
            // entry points run them (so no widened window); the others are
            // traced, the delay widening the window between reads.
            match n % 8 >= 6 {
                true => gup_fast(&mut { g }, START, PAGES, flags, &mut pages),
                false => gup_fast(
                    &mut g.checked(false).traced(&mut delay),
                    START,
                    PAGES,
                    flags,
                    &mut pages,
                ),
            }
        });
        for (i, f) in pages[..o.pinned].iter().enumerate() {
            let off = i as u64 * PAGE_SIZE;
            if f.phys().as_u64() != a + off && f.phys().as_u64() != b + off {
                st[3].fetch_add(1, Ordering::Relaxed);
            }
        }
        if release_pages(kernel::pagemap(), &pages[..o.pinned]).is_err() {
            st[4].fetch_add(1, Ordering::Relaxed);
        }
        match o.error {
            Some(WalkError::BadEntry {
                defect: Defect::FreedTable,
                ..
            }) => {
                st[2].fetch_add(1, Ordering::Relaxed);
            }
            Some(_) => {
                st[4].fetch_add(1, Ordering::Relaxed);
            }
            None => {}
        }
        st[0].fetch_add(1, Ordering::Relaxed);
        st[1].fetch_add(o.pinned as u64, Ordering::Relaxed);
        n += 1;
    }
}

/// The kernel's platform but for one thing: it never synchronises with
/// lockless walkers before freeing tables. The negative control's spaces run
/// over it, so production code needs no switch to turn synchronisation off.
struct Unsynced;

impl Platform for Unsynced {
    unsafe fn read_u64(&self, pa: PhysAddr) -> u64 {
        // SAFETY: the caller keeps the contract, which is the kernel platform's.
        unsafe { PLATFORM.read_u64(pa) }
    }
    unsafe fn write_u64(&self, pa: PhysAddr, val: u64) {
        // SAFETY: as for read_u64.
        unsafe { PLATFORM.write_u64(pa, val) }
    }
    fn mem_end(&self) -> PhysAddr {
        PLATFORM.mem_end()
    }
    fn ipte(&self, pto: PhysAddr, addr: VirtAddr) {
        PLATFORM.ipte(pto, addr)
    }
    fn idte(&self, table: PhysAddr, level: Level, addr: VirtAddr) {
        PLATFORM.idte(table, level, addr)
    }
    fn asce_changed(&self, old: Asce, new: Asce) {
        PLATFORM.asce_changed(old, new)
    }
}

fn new_space<P: Platform>(plat: &'static P, block: u64) -> Result<AddressSpace<'static, P>, TestFail> {
    let mut s = AddressSpace::new(plat, kernel::frames(), AsceType::Segment)?;
    s.map(START, PhysAddr::new(block), PAGES as u64, Prot::RW)?;
    Ok(s)
}

/// What one race saw.
struct Race {
    /// Freed-table reads, wrong frames, other errors.
    freed: u64,
    wrong: u64,
    other: u64,
    /// Iterations CPU 0 completed.
    done: u32,
}

/// Run the race for `iters` iterations (and at most `secs` seconds of TOD
/// time), or until the walkers have seen `until` freed-table reads or wrong
/// frames (0: no such stop).
fn race<P: Platform>(plat: &'static P, iters: u32, secs: u64, until: u64, label: &str) -> Result<Race, TestFail> {
    let cpus = smp::online();
    let mut fa = kernel::frames().lock();
    let a = fa.alloc_frames(PAGES, 1)?;
    let b = fa.alloc_frames(PAGES, 1)?;
    let up = fa.alloc_frame()?;
    drop(fa);
    BLOCK[0].store(a.as_u64(), Ordering::Release);
    BLOCK[1].store(b.as_u64(), Ordering::Release);
    for i in 1..cpus {
        let f = kernel::frames().lock().alloc_frame()?;
        // SAFETY: a frame just allocated for walker `i`'s stack.
        unsafe { WalkStack::new(&PLATFORM, f) };
        STACKS[i].store(f.as_u64(), Ordering::Release);
        for s in &STATS[i] {
            s.store(0, Ordering::Relaxed);
        }
    }
    let mut s = new_space(plat, a.as_u64())?;
    ASCE.store(s.asce().val(), Ordering::Release);
    STOP.store(false, Ordering::Release);
    for i in 1..cpus {
        smp::run_on(i, walker, i);
    }
    let t0 = insn::stckf();
    let mut last_progress = t0;
    let mut done = 0;
    let mut upgrades = 0;
    let mut r: TestResult = Ok(());
    for it in 0..iters {
        if (insn::stckf() - t0) >> 12 > secs * 1_000_000 {
            break;
        }
        let step = (|| -> TestResult {
            if it.is_multiple_of(FORCE_EVERY) {
                let t = insn::stckf();
                while IN_WINDOW.load(Ordering::Acquire) == 0 && insn::stckf() - t < ENTER_TOD {
                    core::hint::spin_loop();
                }
            }
            s.unmap(START, PAGES as u64)?;
            GEN.fetch_add(1, Ordering::AcqRel);
            s.map(
                START,
                PhysAddr::new(BLOCK[(it as usize + 1) % 2].load(Ordering::Relaxed)),
                PAGES as u64,
                Prot::RW,
            )?;
            s.protect(START + 254 * PAGE_SIZE, 4, Prot::RO)?;
            s.protect(START + 254 * PAGE_SIZE, 4, Prot::RW)?;
            if it % 8 == 7 && upgrades < UPGRADES.len() {
                s.map(UPGRADES[upgrades], up, 1, Prot::RW)?;
                upgrades += 1;
                ASCE.store(s.asce().val(), Ordering::Release);
            }
            if it % 32 == 31 {
                // Replace the address space (exec/exit): publish the new one, then
                // drop the old, which synchronises with walkers before freeing.
                let n = new_space(plat, BLOCK[it as usize % 2].load(Ordering::Relaxed))?;
                ASCE.store(n.asce().val(), Ordering::Release);
                s = n;
                upgrades = 0;
            }
            Ok(())
        })();
        if step.is_err() {
            r = step;
            break;
        }
        done = it + 1;
        let seen = (1..cpus).fold(0, |x, i| {
            x + STATS[i][2].load(Ordering::Relaxed) + STATS[i][3].load(Ordering::Relaxed)
        });
        if until > 0 && seen >= until {
            break;
        }
        // Progress every 50 iterations or ~5 s, whichever comes first.
        if it % 50 == 49 || insn::stckf() - last_progress > 5 * 4_096_000_000 {
            last_progress = insn::stckf();
            let (wi, pins) = (1..cpus).fold((0, 0), |(x, y), i| {
                (
                    x + STATS[i][0].load(Ordering::Relaxed),
                    y + STATS[i][1].load(Ordering::Relaxed),
                )
            });
            let (gp, exp) = smp::grace_periods();
            println!("  [{label}] iteration {}/{iters}: walker iterations {wi}, pages pinned {pins}, grace periods {gp} ({exp} expedited), syncs {}, SIGP busy retries {}", it + 1, smp::syncs(), smp::SIGP_BUSY_RETRIES.load(Ordering::Relaxed));
        }
    }
    STOP.store(true, Ordering::Release);
    for i in 1..cpus {
        smp::wait_idle(i);
    }
    drop(s);
    let mut tot = [0u64; 5];
    for i in 1..cpus {
        for (k, t) in tot.iter_mut().enumerate() {
            *t += STATS[i][k].load(Ordering::Relaxed);
        }
        kernel::frames()
            .lock()
            .free_frame(PhysAddr::new(STACKS[i].load(Ordering::Relaxed)))?;
    }
    let mut fa = kernel::frames().lock();
    fa.free_frames(a, PAGES)?;
    fa.free_frames(b, PAGES)?;
    fa.free_frame(up)?;
    drop(fa);
    println!(
        "  [{label}] {done} iterations on CPU 0; {} walker iterations on {} CPU(s), {} pages pinned; freed-table reads {}, wrong frames {}, other errors {}",
        tot[0], cpus - 1, tot[1], tot[2], tot[3], tot[4]
    );
    r?;
    check!(tot[0] > 0, "walkers made no progress");
    Ok(Race {
        freed: tot[2],
        wrong: tot[3],
        other: tot[4],
        done,
    })
}

/// Per CPU: CR1, CR13, the system mask and CR0 it reported.
static SEEN: [[AtomicU64; 4]; 8] = [const { [const { AtomicU64::new(0) }; 4] }; 8];

fn report_translation_state(i: usize) {
    SEEN[i][0].store(insn::stctg::<1>(), Ordering::Release);
    SEEN[i][1].store(insn::stctg::<13>(), Ordering::Release);
    // AND with 0xff: reads the system mask without changing it.
    SEEN[i][2].store(insn::stnsm::<0xff>() as u64, Ordering::Release);
    SEEN[i][3].store(insn::stctg::<0>(), Ordering::Release);
}

kernel_test!(
    /// Every CPU runs in the kernel's identity space: CR1 (primary) and CR13
    /// (home) hold its ASCE and DAT is on (system-mask bit 0x04); and EDAT
    /// control (CR0 bit 40) is on exactly where EDAT-1 (facility 8) is
    /// installed, or the machine would ignore large-frame bits.
    ///
    /// Needs the kernel: every CPU of an SMP machine.
    fn every_cpu_runs_in_the_kernel_space() {
        let kernel_asce = kernel::KSPACE.get().unwrap().lock().asce().val();
        let cpus = smp::online().min(SEEN.len());
        report_translation_state(0);
        for i in 1..cpus {
            smp::run_on(i, report_translation_state, i);
            smp::wait_idle(i);
        }
        let edat = kernel::machine().has_facility(8);
        for (i, seen) in SEEN.iter().enumerate().take(cpus) {
            let [cr1, cr13, mask, cr0] = seen.each_ref().map(|v| v.load(Ordering::Acquire));
            check_eq!(
                cr0 & insn::cr0::EDAT != 0,
                edat,
                "CR0 EDAT control of CPU {i} (facility 8: {edat})"
            );
            check_eq!(cr1, kernel_asce, "CR1 of CPU {i}");
            check_eq!(cr13, kernel_asce, "CR13 of CPU {i}");
            check!(mask & 0x04 != 0, "CPU {i} runs with DAT off (system mask {mask:#04x})");
        }
        Ok(())
    }
);

kernel_test!(
    /// CPU 0 unmaps, remaps to other frames, protects, upgrades and replaces the
    /// space while every other CPU runs gup_fast over the range. With walker
    /// synchronisation before table freeing no walker reads a freed table, every
    /// pinned frame is one that was mapped there, and pins balance.
    ///
    /// Needs the kernel: CPUs racing on shared tables.
    fn gup_races_unmap_and_upgrade() {
        if smp::online() < 2 {
            skip!("needs at least 2 CPUs (the harness runs the suite with -smp 2 and -smp 4)");
        }
        let r = race(&PLATFORM, 200, 12, 0, "synchronised")?;
        check_eq!(
            (r.freed, r.wrong, r.other),
            (0, 0, 0),
            "(freed-table reads, wrong frames, other errors)"
        );
        Ok(())
    }
);

kernel_test!(
    /// Negative control: the same race without the synchronisation (its spaces
    /// run over [`Unsynced`]) runs until it has seen [`NEGATIVE_CONTROL_READS`]
    /// use-after-frees (a walker reading a freed, poisoned page table, or
    /// pinning a frame no longer mapped there), within a generous bound; then
    /// the synchronised race runs as many iterations and must see none. Both
    /// are printed: the margin is a count, not luck.
    ///
    /// Needs the kernel: CPUs racing on shared tables.
    fn negative_control_without_sync_detects_use_after_free() {
        if smp::online() < 2 {
            skip!("needs at least 2 CPUs (the harness runs the suite with -smp 2 and -smp 4)");
        }
        let bad = race(&Unsynced, 4000, 60, NEGATIVE_CONTROL_READS, "no sync")?;
        check!(
            bad.freed + bad.wrong >= NEGATIVE_CONTROL_READS,
            "without synchronisation only {} use-after-frees in {} iterations (wanted {NEGATIVE_CONTROL_READS})",
            bad.freed + bad.wrong,
            bad.done
        );
        let good = race(&PLATFORM, bad.done.max(200), 120, 0, "synchronised, as many iterations")?;
        println!(
            "  without synchronisation: {} use-after-frees in {} iterations; with it: {} in {}",
            bad.freed + bad.wrong,
            bad.done,
            good.freed + good.wrong,
            good.done
        );
        check_eq!(
            (good.freed, good.wrong, good.other, good.done >= bad.done),
            (0, 0, 0, true),
            "the synchronised race over as many iterations: (freed-table reads, wrong frames, other errors, iterations done)"
        );
        Ok(())
    }
);

/// Use-after-frees the negative control must see before it stops.
const NEGATIVE_CONTROL_READS: u64 = 20;

static SPINNING: AtomicBool = AtomicBool::new(false);
static HELD_UNTIL: AtomicU64 = AtomicU64::new(0);
/// How long `hold_disabled` keeps interruptions off (300 ms of TOD).
const HOLD_TOD: u64 = 300 * 4_096_000;

/// Work that spins with interruptions enabled (as work runs) until stopped.
fn spin_enabled(_: usize) {
    SPINNING.store(true, Ordering::Release);
    while SPINNING.load(Ordering::Acquire) {
        core::hint::spin_loop();
    }
}

/// Work that keeps interruptions disabled for [`HOLD_TOD`], as a long lockless
/// walk would, and says when it let go.
fn hold_disabled(_: usize) {
    PLATFORM.irq_disabled(|| {
        SPINNING.store(true, Ordering::Release);
        let t0 = insn::stckf();
        while insn::stckf() - t0 < HOLD_TOD {
            core::hint::spin_loop();
        }
        HELD_UNTIL.store(insn::stckf(), Ordering::Release);
    });
}

kernel_test!(
    /// Grace periods (foldkern's, for readers that run disabled): with the
    /// other CPU idle or running work with interruptions enabled it ends at
    /// its next wait or 1 ms tick, not expedited; with the
    /// other CPU inside a 300 ms interruption-disabled section it never ends
    /// inside it: after 100 ms it is expedited with the emergency signal,
    /// which is answered only when the section ends.
    ///
    /// Needs the kernel: other CPUs and their interruptions.
    fn grace_period_waits_for_walks_and_expedites() {
        if smp::online() < 2 {
            skip!("needs at least 2 CPUs (the harness runs the suite with -smp 2 and -smp 4)");
        }
        let measure = || {
            let ((g0, e0), t0) = (smp::grace_periods(), insn::stckf());
            let ok = smp::grace_period();
            let ((g1, e1), t1) = (smp::grace_periods(), insn::stckf());
            (ok, g1 - g0, e1 - e0, t0, t1)
        };
        // Idle: ends at once, by the wait.
        let (ok, n, expedited, ..) = measure();
        check_eq!(
            (ok, n, expedited),
            (true, 1, 0),
            "grace period with CPU 1 idle: (ended, counted, expedited)"
        );
        // Busy with interruptions enabled: ends by a tick. A host that
        // deschedules the vCPU past 100 ms can make one expedited, so a tick
        // must end one of twenty.
        SPINNING.store(false, Ordering::Release);
        smp::run_on(1, spin_enabled, 0);
        while !SPINNING.load(Ordering::Acquire) {
            core::hint::spin_loop();
        }
        let mut ticked = 0;
        let mut counted = 0;
        for _ in 0..20 {
            let (ok, n, expedited, ..) = measure();
            counted += (ok && n == 1) as u32;
            ticked += (expedited == 0) as u32;
        }
        SPINNING.store(false, Ordering::Release);
        smp::wait_idle(1);
        check_eq!(counted, 20, "grace periods with CPU 1 ticking that ended, one each");
        check!(ticked > 0, "twenty grace periods with CPU 1 ticking were all expedited");
        // Interruptions disabled for 300 ms: never ends inside them, and
        // waiting past 100 ms for the still-disabled CPU sends the signal.
        HELD_UNTIL.store(0, Ordering::Release);
        smp::run_on(1, hold_disabled, 0);
        while !SPINNING.load(Ordering::Acquire) {
            core::hint::spin_loop();
        }
        let (ok, n, expedited, began, ended) = measure();
        smp::wait_idle(1);
        let held = HELD_UNTIL.load(Ordering::Acquire);
        check_eq!((ok, n), (true, 1), "grace period with CPU 1 disabled: (ended, counted)");
        check!(
            held != 0 && held <= ended,
            "the grace period ended at {ended:#x}, inside CPU 1's disabled section (left at {held:#x})"
        );
        let expedite = 100 * 4_096_000;
        check!(
            expedited == 1 || held < began + expedite,
            "a grace period waited {} ms for a CPU still disabled after 100 ms without expediting",
            (ended - began) / 4_096_000
        );
        Ok(())
    }
);
