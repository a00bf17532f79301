//! The narrated demo (`./qemu-run.sh`) and user scenarios (`-append gup=...`):
//! build address spaces, show how dynamic folding picks the ASCE type, and walk
//! the seed range with every gup_fast variant, step by step, on live tables.
use super::cmdline::Scenario;
use crate::arch::s390x::halt::{exit_failure, exit_success};
use crate::arch::s390x::insn::Lra;
use crate::arch::s390x::platform;
use crate::arch::s390x::sclp;
use crate::kernel::spaces::{lrag_frames, space, FrameBuf, Frames, Walk, SEED_PAGES, SEED_START};
use crate::kernel::{self, Msg};
use core::fmt::{self, Write};
use foldkern::gup::scenario::{describe, FatesLine, Outcome, ResultLine, TraceLine};
use foldkern::gup::{prefix_walks_off, GupFlags, Page, Step, Variant};
use foldkern::mm::{AsceType, PhysAddr, Prot, VirtAddr, PAGE_SIZE};

struct Console;
impl Write for Console {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        sclp::print(format_args!("{s}"));
        Ok(())
    }
}

fn rule(title: &str) {
    println!();
    print!("== {title} ");
    for _ in 0..74usize.saturating_sub(title.len()) {
        print!("=");
    }
    println!();
}

/// Most pages a scenario's walks print their traces for.
const TRACED_PAGES: usize = 64;
/// Most data frames a scenario maps its pages onto (round-robin).
const DATA_FRAMES: usize = 4096;

/// Walk `pages` pages from `start` in `w`'s space with every variant, printing traces,
/// and compare with per-page LRAG. Each variant's result is followed by each
/// page's fate: where a read into the range would put its data, in its own
/// frame, the `decoy`'s (a page mapped where a stale upper entry leads) or
/// elsewhere, or left to the slow path (`scripts/linux-gup.py` sets these
/// beside what Linux did). Returns whether the fixed variants agreed.
pub fn walk_all(
    w: &Walk,
    start: VirtAddr,
    pages: usize,
    flags: GupFlags,
    trace: bool,
    decoy: Option<VirtAddr>,
) -> Result<bool, Msg> {
    let s = w.space;
    let mut lrag_buf = FrameBuf::new(pages, PhysAddr::new(0))?;
    let mut r_buf = FrameBuf::new(pages, Page::default())?;
    let (lrag, r) = (lrag_buf.as_mut(), r_buf.as_mut());
    let n_lrag = lrag_frames(s, start, pages, flags.contains(GupFlags::WRITE), lrag).unwrap_or(0);
    let ty = s.asce_type();
    // Exclusive ends: 0 is 2^64 (a range ending with a 5-level space's top page).
    let end = start.wrapping_add(pages as u64 * PAGE_SIZE);
    println!(
        "range {start:#x}..{} ({pages} pages) in a {} space ({} levels); LRAG translates the first {n_lrag}",
        End(end),
        ty.name(),
        ty.levels()
    );
    // What one top-table entry maps: the static step of the last folded level.
    let reach = ty.top().size();
    // The walk stops at the first page it must leave alone (a hole, a read-only
    // page for FOLL_WRITE), so only the part up to and including that page can
    // take it across a boundary.
    let reached = start.wrapping_add((n_lrag + 1).min(pages) as u64 * PAGE_SIZE);
    println!(
        "prediction: the pre-fix walk {} (folded levels: {}; top entry maps {:#x} bytes; the walk reaches {})",
        if prefix_walks_off(ty, start, reached) {
            "steps off its stack copy"
        } else {
            "stays on real tables"
        },
        ty.levels() < 5,
        reach,
        End(reached)
    );
    if !trace {
        println!("(traces not shown: more than {TRACED_PAGES} pages; the results follow)");
    }
    // The reference translation, and with it the decoy's frame.
    let reference = |va| match platform::lrag_via(s.asce(), va) {
        Lra::Real(pa) => Some(PhysAddr::new(pa)),
        _ => None,
    };
    let decoy = decoy.and_then(reference).map(Page::of);
    let mut all_ok = true;
    let mut results = [(Variant::PreFix, 0usize, false, 0u32, Outcome::Wrong); Variant::ALL.len()];
    for (k, v) in Variant::ALL.into_iter().enumerate() {
        println!();
        println!("  [{}] {}", v.name(), describe(v, ty));
        let mut t = |st: &Step| println!("    {}", TraceLine(st));
        let o = w.gup_traced(v, start, pages, flags, r, if trace { Some(&mut t) } else { None });
        let o = match o {
            Ok(o) => o,
            Err(e) => {
                println!("    => {}", e.as_str());
                all_ok = false;
                continue;
            }
        };
        let outcome = Outcome::judge(ty, start, &o, r, &lrag[..n_lrag], reference);
        if let Some(viol) = o.first_violation {
            println!("    invariant violated: {viol}");
        }
        let line = ResultLine {
            outcome: &o,
            pages: r,
            lrag: &lrag[..n_lrag],
            verdict: outcome,
        };
        println!("    {line}");
        let fates = FatesLine {
            pinned: o.pinned,
            pages: &r[..pages],
            lrag: &lrag[..n_lrag],
            decoy,
        };
        println!("    {fates}");
        let matches = outcome == Outcome::Correct;
        if Variant::FIXED.contains(&v) && !matches {
            all_ok = false;
        }
        results[k] = (v, o.pinned, o.error.is_some(), o.violations, outcome);
    }
    println!();
    println!(
        "  {:<22} {:>7} {:>8} {:>11}  {}",
        "variant", "pinned", "stopped", "violations", "result"
    );
    for (v, pinned, stopped, viol, outcome) in results {
        println!(
            "  {:<22} {:>7} {:>8} {:>11}  {}",
            v.name(),
            pinned,
            if stopped { "yes" } else { "no" },
            viol,
            outcome.name()
        );
    }
    Ok(all_ok)
}

/// An exclusive end address as the output shows it: 0 is 2^64.
struct End(VirtAddr);

impl fmt::Display for End {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            0 => write!(f, "0x10000000000000000"),
            e => write!(f, "{e:#x}"),
        }
    }
}

/// Tell the story and exit.
pub fn run() -> ! {
    let r = (|| -> Result<bool, Msg> {
        rule("1. dynamic folding: the ASCE type follows what is mapped");
        let f = Frames::new(4)?;
        let mut s = space(AsceType::Segment)?;
        s.map(0x1000, f.get(0), 1, Prot::RW)?;
        println!(
            "map 0x1000            -> {} ASCE, {} levels, {} bytes of tables",
            s.asce_type().name(),
            s.asce_type().levels(),
            s.table_bytes()
        );
        s.map(SEED_START, f.get(1), 1, Prot::RW)?;
        s.map(SEED_START + PAGE_SIZE, f.get(2), 1, Prot::RW)?;
        println!(
            "map the seed range    -> {} ASCE, {} levels, {} bytes of tables (crst_table_upgrade)",
            s.asce_type().name(),
            s.asce_type().levels(),
            s.table_bytes()
        );
        s.unmap(0x1000, 1)?;
        println!(
            "unmap 0x1000          -> {} bytes of tables (empty tables freed)",
            s.table_bytes()
        );
        println!();
        foldkern::mm::ptdump::ptdump(&s, &mut Console)?;
        println!();
        println!("In this region-third space pgd_offset, p4d_offset and pud_offset all return the");
        println!("same pointer into the region-third table: pgd and p4d are folded. pmd_offset is");
        println!("the first real step down.");

        s.map(0x100_0000_0000, f.get(0), 1, Prot::RW)?;
        println!();
        println!("also mapped: 0x10000000000, the first page under region-third entry 0x200, so a");
        println!("walker that re-reads a stale copy of that entry has a real page to find.");

        rule("2. the seed scenario: gup_fast(0x1007ffff000, 2 pages) in a 3-level space");
        println!("columns: level, addr -> pXd_addr_end, entry value, entry type, pointer read");
        let decoy = Some(0x100_0000_0000);
        let ok = walk_all(
            &Walk::new(&s, &f, 3),
            SEED_START,
            SEED_PAGES,
            GupFlags::empty(),
            true,
            decoy,
        )?;
        drop(s);

        rule("3. verdict");
        println!("pre-fix:          pud_offset(&p4d_copy) returned the copy; pud_addr_end stepped by 2 GiB;");
        println!("                  pudp++ left the copy at the 2 GiB crossing (caught by the guard word).");
        println!("pre-fix, Linux's frame: the same walk with the copies as compiled: pudp++ reads the last pud copy,");
        println!("                  the stale region-third entry, and pins 0x10000000000's page: what v5.2..v5.8 did,");
        println!("                  and what Linux 6.1 with the fix reverted does (./qemu-run.sh linux).");
        println!("addr_end_folded:  the step comes from the region-third entry, so the folded loops run once.");
        println!("offset_lockless:  the folded level returns the real region-third pointer; pudp++ stays in it.");
        println!("next_entry:       pud_offset(&p4d_copy, next) is the same stale copy: wrong region, silently.");
        Ok(ok)
    })();
    match r {
        Ok(true) => {
            println!("verdict: the bug reproduces on live tables and both fixes pin exactly what LRAG translates");
            exit_success()
        }
        Ok(false) => exit_failure("a fixed variant disagreed with LRAG"),
        Err(m) => {
            println!("demo failed: {}", m.as_str());
            exit_failure("demo failed")
        }
    }
}

/// Run a scenario the command line described: map the range (all pages,
/// read-only with `ro`, except `hole`, and the `decoy` page) in a space of that
/// many levels and walk it with every variant.
pub fn scenario(sc: &Scenario) -> ! {
    let Scenario {
        ty,
        start,
        flags,
        ro,
        hole,
        decoy,
        ..
    } = *sc;
    let pages = sc.pages();
    let r = (|| -> Result<bool, Msg> {
        // Page i maps data frame i % DATA_FRAMES: a 1 GiB range needs no 1 GiB.
        let data = pages.min(DATA_FRAMES);
        let block = kernel::frames().lock().alloc_frames(data, 1)?;
        let f = Frames::new(2)?;
        let mut s = space(ty)?;
        if let Some(d) = decoy {
            s.map(d, f.get(1), 1, if ro { Prot::RO } else { Prot::RW })?;
        }
        for i in 0..pages as u64 {
            let va = start + i * PAGE_SIZE;
            if Some(va) != hole {
                let frame = block.add((i % DATA_FRAMES as u64) * PAGE_SIZE);
                s.map(va, frame, 1, if ro { Prot::RO } else { Prot::RW })?;
            }
        }
        rule("scenario");
        foldkern::mm::ptdump::ptdump(&s, &mut Console)?;
        let ok = walk_all(&Walk::new(&s, &f, 0), start, pages, flags, pages <= TRACED_PAGES, decoy)?;
        drop(s);
        kernel::frames().lock().free_frames(block, data)?;
        Ok(ok)
    })();
    match r {
        Ok(true) => {
            println!("verdict: both fixes agree with LRAG");
            exit_success()
        }
        Ok(false) => exit_failure("a fixed variant disagreed with LRAG"),
        Err(m) => {
            println!("scenario failed: {}", m.as_str());
            exit_failure("scenario failed")
        }
    }
}
