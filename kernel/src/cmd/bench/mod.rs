//! The benchmark (`./qemu-run.sh bench`, QEMU `-icount shift=0`): under icount
//! the TOD clock advances 4.096 units per executed instruction, so STCKF deltas
//! count instructions exactly and repeat run to run. Measures, per ASCE type and
//! range size, instructions per page of gup_fast (each fixed variant), the entry
//! points without hooks and with an empty hooks type (which must cost the
//! same), the locked slow path, a naive top-down walk per page and the floor (a
//! loop that does exactly Linux's per-page duties for FOLL_GET and nothing
//! else), every walker's frames checked; map/unmap/upgrade costs; and
//! page-table memory against the minimum and an always-5-level layout. Prints a table, CSV and an SVG plot between
//! markers that `qemu-run.sh` writes to `target/bench/`.
//!
//! `measure.rs` runs the walkers and times them, `report.rs` prints what they
//! measured; this file names the walkers and holds the results between them.
use crate::arch::s390x::halt::{exit_failure, exit_success};
use crate::kernel;
use foldkern::mm::AsceType;

mod measure;
mod report;

/// Range sizes (pages) of the full benchmark; the smoke run uses the first few.
const SIZES: [usize; 10] = [1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144];
/// Where every measured range starts: 1 GiB, which fits every ASCE type.
const BASE: u64 = 0x4000_0000;

/// What the benchmark measures, in the order of its tables and CSV.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Walker {
    /// A loop over the PTEs that does Linux's per-page duties for FOLL_GET
    /// and nothing else (`measure::floor`).
    Floor,
    /// gup_fast, the RFC's fix.
    AddrEndFolded,
    /// gup_fast, the merged fix.
    OffsetLockless,
    /// `get_user_pages_fast` with FOLL_WRITE (the merged walk, through the
    /// entry point Linux's figures are measured at).
    GetUserPagesFast,
    /// `pin_user_pages_fast` with FOLL_WRITE.
    PinUserPagesFast,
    /// `get_user_pages_fast` built with an empty hooks type of the
    /// benchmark's own (`measure::Empty`): must equal [`Walker::GetUserPagesFast`].
    GetEmptyHooks,
    /// `pin_user_pages_fast` built with the empty hooks type.
    PinEmptyHooks,
    /// The locked slow path (`gup_locked`).
    Slow,
    /// A top-down walk per page.
    Naive,
}

impl Walker {
    const ALL: [Walker; 9] = [
        Walker::Floor,
        Walker::AddrEndFolded,
        Walker::OffsetLockless,
        Walker::GetUserPagesFast,
        Walker::PinUserPagesFast,
        Walker::GetEmptyHooks,
        Walker::PinEmptyHooks,
        Walker::Slow,
        Walker::Naive,
    ];
    /// The FOLL_GET walks the floor goal is about.
    const GUP_FAST: [Walker; 3] = [Walker::AddrEndFolded, Walker::OffsetLockless, Walker::GetUserPagesFast];
    /// Name in the tables, the CSV and the SVG legend.
    const fn name(self) -> &'static str {
        match self {
            Walker::Floor => "floor",
            Walker::AddrEndFolded => "addr_end_folded",
            Walker::OffsetLockless => "offset_lockless",
            Walker::GetUserPagesFast => "get_user_pages_fast",
            Walker::PinUserPagesFast => "pin_user_pages_fast",
            Walker::GetEmptyHooks => "get_empty_hooks",
            Walker::PinEmptyHooks => "pin_empty_hooks",
            Walker::Slow => "slow",
            Walker::Naive => "naive",
        }
    }
    /// The walker without hooks this one must equal (the empty-hooks builds).
    const fn without_hooks(self) -> Option<Walker> {
        match self {
            Walker::GetEmptyHooks => Some(Walker::GetUserPagesFast),
            Walker::PinEmptyHooks => Some(Walker::PinUserPagesFast),
            _ => None,
        }
    }
}

/// Results of one run: instructions by `[type][walker][size]`, plus map/unmap/upgrade.
#[derive(PartialEq)]
struct Results {
    walk: [[[u64; SIZES.len()]; Walker::ALL.len()]; 4],
    /// Mapping one page per call.
    map: [u64; 4],
    /// Mapping up to 4096 pages per call (the data frames are contiguous).
    map_range: [u64; 4],
    unmap: [u64; 4],
    upgrade: [u64; 3],
    memory: [(u64, u64, u64); 3],
    /// (type chosen, CRSTs, page tables, 4 KiB frames used) per memory set.
    shape: [(AsceType, u64, u64, u64); 3],
    /// `get_user_pages_fast`, `pin_user_pages_fast` of 4 GiB in one call (full runs).
    scale: [u64; 2],
}

impl Results {
    /// Instructions of walker `w` in the space of type index `ti`, size index `si`.
    fn at(&self, ti: usize, w: Walker, si: usize) -> u64 {
        self.walk[ti][w as usize][si]
    }
}

/// Run the benchmark (`full`: all sizes; else the smoke sizes) and exit.
pub fn run(full: bool) -> ! {
    let nsizes = if full { SIZES.len() } else { 5 };
    // The memory table's five-level space over 4 TiB takes tens of MiB of
    // tables; the full sizes' 1 GiB call needs its result buffer too.
    let (job, need_mib) = if full { ("bench", 1024) } else { ("bench=smoke", 128) };
    if kernel::machine().mem < need_mib << 20 {
        println!("bench: {job} needs at least {need_mib} MiB (-m {need_mib}M); qemu-run.sh bench passes -m 2G");
        exit_failure("bench: too little memory");
    }
    println!(
        "bench: {} sizes, each walker run twice for determinism (instructions via STCKF under -icount shift=0)",
        nsizes
    );
    let a = measure::run_once(nsizes);
    let b = measure::run_once(nsizes);
    let same = a == b;
    report::print(&a, nsizes, same);
    if same {
        exit_success()
    }
    exit_failure("benchmark runs differ")
}
