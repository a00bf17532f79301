//! Kernel state and bring-up: handlers first, then console, machine facts (SCLP,
//! STFLE), physical memory (frame allocator, page map) and the identity-mapped
//! kernel space with DAT on. The jobs above (`cmd`, `kunit`) find here what they
//! share: the machine, the frames, the page map, the kernel space, [`spaces`].
pub mod spaces;

use crate::arch::s390x::halt::exit_failure;
use crate::arch::s390x::{entry, insn, lowcore, platform, sclp, smp, traps};
use core::fmt::{self, Write};
use foldkern::gup::{PageMap, StructPage};
use foldkern::mm::frame::storage_words;
use foldkern::mm::space::MapError;
use foldkern::mm::{AddressSpace, FrameAllocator, PhysAddr, Prot, PAGE_SIZE};
use platform::{KernelPlatform, PLATFORM};
use spin::{Mutex, Once};

/// What the boot found out about the machine.
pub struct Machine {
    /// Bytes of memory (SCLP Read SCP Info).
    pub mem: u64,
    /// STFLE facility bits 0..255.
    pub facilities: [u64; 4],
    /// CPU address of the boot CPU.
    pub cpu_addr: u16,
    /// CPUs SCLP reports.
    pub scp: sclp::ScpInfo,
    /// Kernel image extent.
    pub kernel: (u64, u64),
    /// Memory used for allocator bitmaps and the page map.
    pub metadata: (u64, u64),
    /// Manufacturer (STSI 1.1.1, EBCDIC), if the machine reports one.
    pub manufacturer: Option<[u8; 16]>,
}

impl Machine {
    /// Whether this is QEMU (STSI 1.1.1 manufacturer "QEMU"), whose TCG answers
    /// some LRAG outcomes differently from the PoP (docs/emulators.md).
    pub fn is_qemu(&self) -> bool {
        const QEMU: [u8; 4] = [0xd8, 0xc5, 0xd4, 0xe4]; // "QEMU" in EBCDIC
        self.manufacturer
            .is_some_and(|m| m[..4] == QEMU && m[4..].iter().all(|&c| c == 0x40))
    }
    /// Whether STFLE reports facility `bit`.
    pub fn has_facility(&self, bit: usize) -> bool {
        self.facilities[bit / 64] >> (63 - bit % 64) & 1 != 0
    }
}

/// Machine facts.
pub static MACHINE: Once<Machine> = Once::new();
/// The frame allocator over all memory.
pub static FRAMES: Once<Mutex<FrameAllocator>> = Once::new();
/// Pin counts of every frame.
pub static PAGEMAP: Once<PageMap> = Once::new();
/// The kernel's identity-mapped address space (CR1).
pub static KSPACE: Once<Mutex<AddressSpace<'static, KernelPlatform>>> = Once::new();

/// Smallest memory the kernel accepts (image, metadata and room for tests).
pub const MIN_MEMORY: u64 = 24 << 20;

/// The machine facts (after boot).
pub fn machine() -> &'static Machine {
    MACHINE.get().expect("machine not initialised")
}
/// The frame allocator.
pub fn frames() -> &'static Mutex<FrameAllocator> {
    FRAMES.get().expect("frames not initialised")
}
/// The page map.
pub fn pagemap() -> &'static PageMap {
    PAGEMAP.get().expect("page map not initialised")
}

/// A message in a fixed buffer (the kernel has no heap): why a job failed, or a
/// test's name. Newlines become spaces, so a message stays one console line.
/// Not `Display`, so that anything `Display` converts into it with `?`.
pub struct Msg {
    buf: [u8; 480],
    len: usize,
}

impl Msg {
    /// Format a message.
    pub fn new(args: fmt::Arguments) -> Msg {
        let mut m = Msg { buf: [0; 480], len: 0 };
        let _ = m.write_fmt(args);
        m
    }
    /// The text.
    pub fn as_str(&self) -> &str {
        core::str::from_utf8(&self.buf[..self.len]).unwrap_or("?")
    }
}

impl Write for Msg {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for c in s.chars() {
            let c = if c == '\n' { ' ' } else { c };
            let mut b = [0; 4];
            let e = c.encode_utf8(&mut b);
            if self.len + e.len() > self.buf.len() {
                break;
            }
            self.buf[self.len..self.len + e.len()].copy_from_slice(e.as_bytes());
            self.len += e.len();
        }
        Ok(())
    }
}

impl<E: fmt::Display> From<E> for Msg {
    fn from(e: E) -> Self {
        Msg::new(format_args!("{e}"))
    }
}

fn linker_addr(s: &u8) -> u64 {
    s as *const u8 as u64
}

/// The kernel command line QEMU copied to 0x10480 (`-append`), or why it is
/// not text.
pub fn cmdline() -> Result<&'static str, core::str::Utf8Error> {
    const CMDLINE: usize = 0x10480;
    const MAX: usize = 0x10800 - CMDLINE;
    // SAFETY: 0x10480..0x10800 is inside the kernel image's .head padding, which
    // QEMU fills with the NUL-terminated command line before starting us.
    let bytes = unsafe { core::slice::from_raw_parts(CMDLINE as *const u8, MAX) };
    let len = bytes.iter().position(|&b| b == 0).unwrap_or(MAX);
    core::str::from_utf8(&bytes[..len])
}

/// Bring the boot CPU up to where a job can run (DAT on, all state set).
pub fn boot() {
    lowcore::write::<u64>(lowcore::CPU_INDEX, 0);
    let (pgm, ext) = traps::boot_stacks();
    traps::install(pgm, ext);
    if let Err(e) = sclp::init_console() {
        exit_failure(match e {
            sclp::SclpError::NotOperational => "no SCLP console: SCLP not operational",
            sclp::SclpError::Busy => "no SCLP console: SCLP busy",
            sclp::SclpError::Response(_) => "no SCLP console: Write Event Mask refused",
            sclp::SclpError::NoServiceSignal => "no SCLP console: no service signal",
            sclp::SclpError::NoConsole => "no SCLP console: neither ASCII nor message events",
        });
    }
    println!("foldkern: s390x reference kernel for dynamic page-table folding and gup_fast");
    let facilities = insn::facilities();
    check_facilities(&facilities);
    let scp = sclp::read_scp_info().unwrap_or_else(|e| {
        println!("sclp: Read SCP Info: {e}");
        exit_failure("SCLP Read SCP Info failed")
    });
    // SAFETY: only the addresses of linker symbols are taken.
    let kernel = unsafe { (linker_addr(&entry::__kernel_start), linker_addr(&entry::__kernel_end)) };
    let mem = scp.memory;
    let nframes = (mem / PAGE_SIZE) as usize;
    let (a, b) = storage_words(nframes);
    let meta_start = kernel.1;
    // The struct pages follow the allocator's words, 16-byte aligned.
    let pages_at = ((a + b) * 8).next_multiple_of(core::mem::align_of::<StructPage>());
    let meta_bytes = (pages_at + nframes * core::mem::size_of::<StructPage>()) as u64;
    let meta_end = (meta_start + meta_bytes).next_multiple_of(PAGE_SIZE);
    let need = MIN_MEMORY.max(meta_end + (8 << 20));
    if mem < need {
        println!(
            "foldkern: too little memory: {} KiB, need at least {} KiB (the larger of foldkern's floor, {} MiB, and the kernel's end {} KiB + metadata {} KiB + 8 MiB for tables and tests)",
            mem >> 10,
            need >> 10,
            MIN_MEMORY >> 20,
            kernel.1 >> 10,
            meta_bytes >> 10
        );
        exit_failure("too little memory");
    }
    // SAFETY: [meta_start, meta_end) lies after the kernel image inside memory
    // (checked above), is not used by anything else, and is reserved below;
    // meta_start (the linker aligns the kernel's end) is page-aligned, and
    // zeroed words and struct pages are valid.
    let (used, halves, pins) = unsafe {
        let base = meta_start as *mut u64;
        core::ptr::write_bytes(base as *mut u8, 0, meta_bytes as usize);
        (
            core::slice::from_raw_parts_mut(base, a),
            core::slice::from_raw_parts_mut(base.add(a), b),
            core::slice::from_raw_parts((base as *const u8).add(pages_at) as *const StructPage, nframes),
        )
    };
    let mut fa = FrameAllocator::new(nframes, used, halves);
    fa.reserve(PhysAddr::new(0), PhysAddr::new(meta_end));
    FRAMES.call_once(|| Mutex::new(fa));
    PAGEMAP.call_once(|| PageMap::new(pins));
    let m = MACHINE.call_once(|| Machine {
        mem,
        facilities,
        cpu_addr: insn::stap(),
        scp,
        kernel,
        metadata: (meta_start, meta_end),
        manufacturer: insn::stsi_manufacturer(),
    });
    platform::init(mem, m.has_facility(8), m.has_facility(78));
    if m.has_facility(8) {
        // SAFETY: EDAT control only makes the machine honour large-frame and
        // protection bits in segment and region entries, which the kernel's
        // own tables do not use (secondaries copy this CR0).
        unsafe { insn::lctlg::<0>(insn::stctg::<0>() | insn::cr0::EDAT) };
    }
    enable_dat();
}

/// Build the identity map of all memory (kernel text and read-only data mapped
/// read-only), load it as the primary, secondary and home space, turn DAT on.
fn enable_dat() {
    let space = identity_space().unwrap_or_else(|e| {
        println!("foldkern: cannot build the kernel address space: {e}");
        exit_failure("no kernel address space")
    });
    let asce = space.asce();
    // SAFETY: the space maps all memory at its own address, so the running code,
    // stack, lowcore and every frame stay reachable when DAT turns on.
    unsafe { insn::dat_on(asce.val()) };
    KSPACE.call_once(|| Mutex::new(space));
}

/// A new address space with the kernel's layout: all memory mapped at its own
/// address, kernel text and read-only data read-only, the smallest ASCE type
/// that covers memory. The kernel runs in one; a test may run in another.
pub fn identity_space() -> Result<AddressSpace<'static, KernelPlatform>, MapError> {
    let mem = machine().mem;
    let mut space = AddressSpace::new_covering(&PLATFORM, frames(), mem - 1)?;
    // SAFETY: only linker symbol addresses are taken.
    let (ro_start, ro_end) = unsafe { (linker_addr(&entry::__kernel_start), linker_addr(&entry::__rodata_end)) };
    for (from, to, prot) in [
        (0, ro_start, Prot::RW),
        (ro_start, ro_end, Prot::RO),
        (ro_end, mem, Prot::RW),
    ] {
        if to > from {
            space.map(from, PhysAddr::new(from), (to - from) / PAGE_SIZE, prot)?;
        }
    }
    Ok(space)
}

/// Bring every configured CPU online (they idle until given work), at most
/// [`lowcore::MAX_CPUS`]; a machine with more is told so, not silently cut.
/// Failure to start a CPU SCLP lists is reported and fails the run.
pub fn start_secondaries() {
    if machine().scp.cpus < 2 {
        return;
    }
    let asce = KSPACE.get().unwrap().lock().asce().val();
    let m = machine();
    match smp::bring_up(asce, m.cpu_addr, &m.scp.cpu_addrs[..m.scp.cpus], frames()) {
        Ok(n) if n < m.scp.cpus => println!(
            "smp: {n} of {} CPUs online: foldkern runs at most {}, the others stay stopped",
            m.scp.cpus,
            lowcore::MAX_CPUS
        ),
        Ok(n) => println!("smp: {n} CPUs online"),
        Err(e) => {
            println!("smp: bringing up secondary CPUs failed: {e}");
            exit_failure("SMP bring-up failed")
        }
    }
}

/// The facilities the kernel's code needs, each with why. The compiler's
/// part is Linux's list for a kernel built with `-march=z196`
/// (`FACILITIES_ALS` in arch/s390/tools/gen_facilities.c: what code built
/// for z196 may use, as `.cargo/config.toml` builds foldkern) without the
/// two it never emits (27 MVCOS, 32/33 compare-and-swap-and-store), plus
/// the floating-point extension z196 code may use; the rest is what arch
/// code issues by hand.
pub const REQUIRED_FACILITIES: [(usize, &str); 11] = [
    (0, "N3 instructions"),
    (1, "z/Architecture installed"),
    (2, "z/Architecture active"),
    (3, "DAT enhancement: IDTE, CSPG"),
    (18, "long displacement (z196 code)"),
    (21, "extended immediate (z196 code)"),
    (25, "store clock fast: STCKF"),
    (34, "general instructions extension (z196 code)"),
    (35, "execute extensions (z196 code)"),
    (37, "floating-point extension (z196 code)"),
    (
        45,
        "distinct operands, interlocked access 1, load/store on condition (z196 code)",
    ),
];

/// Stop at once, naming every required facility STFL/STFLE does not report
/// (as Linux's boot stops: "The Linux kernel requires more recent processor
/// hardware"). Runs first thing after the console: the code before it (entry,
/// trap setup, the SCLP console) is compiled for z196 too, so a real machine
/// older than that may stop there with an operation exception instead.
fn check_facilities(f: &[u64; 4]) {
    let has = |bit: usize| f[bit / 64] >> (63 - bit % 64) & 1 != 0;
    if REQUIRED_FACILITIES.iter().all(|&(b, _)| has(b)) {
        return;
    }
    print!("foldkern: this CPU lacks facilities the kernel needs (it is built for z196; QEMU: -cpu z196 or newer, the default; Hercules: its default):");
    for (b, why) in REQUIRED_FACILITIES.iter().filter(|&&(b, _)| !has(b)) {
        print!(" {b} ({why});");
    }
    println!();
    exit_failure("missing facilities");
}

/// Print what the boot found: memory, CPUs, facilities, the kernel's extent.
pub fn print_machine() {
    let m = machine();
    let f = frames().lock();
    println!(
        "machine:   {} MiB memory, {} CPU(s), boot CPU address {}",
        m.mem >> 20,
        m.scp.cpus,
        m.cpu_addr
    );
    println!(
        "facilities: z/Arch(2) {}  DAT-enh(3) {}  EDAT-1(8) {}  interlocked-access(45) {}  EDAT-2(78) {}  vector(129) {}  IEP(130) {}",
        yn(m.has_facility(2)), yn(m.has_facility(3)), yn(m.has_facility(8)), yn(m.has_facility(45)), yn(m.has_facility(78)),
        yn(m.has_facility(129)), yn(m.has_facility(130))
    );
    println!(
        "kernel:    image {:#x}..{:#x} ({} KiB), metadata {:#x}..{:#x}, {} of {} frames free",
        m.kernel.0,
        m.kernel.1,
        (m.kernel.1 - m.kernel.0) >> 10,
        m.metadata.0,
        m.metadata.1,
        f.free_count(),
        f.total_frames()
    );
    drop(f);
    let k = KSPACE.get().unwrap().lock();
    println!(
        "DAT:       on; kernel space {} ({} levels), identity map of all memory, text read-only, tables {} KiB",
        k.asce_type().name(),
        k.asce_type().levels(),
        k.table_bytes() >> 10
    );
}

fn yn(b: bool) -> &'static str {
    if b {
        "yes"
    } else {
        "no"
    }
}
