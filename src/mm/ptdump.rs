//! `ptdump`: print an address space compactly, one line per run of entries that
//! map consecutive frames (or point to tables) with the same rights.
use super::entry::{is_invalid, Entry};
use super::level::Level;
use super::platform::Platform;
use super::space::AddressSpace;
use super::PhysAddr;
use core::fmt::{self, Write};

/// Print `space` to `out`.
pub fn ptdump<P: Platform>(space: &AddressSpace<'_, P>, out: &mut dyn Write) -> fmt::Result {
    let asce = space.asce();
    let ty = space.asce_type();
    let (c, p) = space.table_counts();
    writeln!(
        out,
        "ASCE {:#018x}: {} table at {:#x}, {} levels, up to {:#x}, tables {} bytes ({} CRST + {} PT)",
        asce.0,
        ty.top().hw_name(),
        asce.origin().0,
        ty.levels(),
        ty.last_addr(),
        space.table_bytes(),
        c,
        p
    )?;
    dump_table(space.platform(), ty.top(), asce.origin(), 0, 1, out)
}

fn dump_table<P: Platform>(
    p: &P,
    level: Level,
    origin: PhysAddr,
    base_va: u64,
    depth: usize,
    out: &mut dyn Write,
) -> fmt::Result {
    let n = level.entries();
    let mut i = 0;
    while i < n {
        // SAFETY: `origin` is a table of the space being dumped, reached from
        // its ASCE through entries it wrote; the borrow keeps the space's
        // tables allocated.
        let v = unsafe { p.read_u64(origin.add(i as u64 * 8)) };
        let va = base_va + ((i as u64) << level.shift());
        let next = match Entry::decode(level, v) {
            Entry::Invalid => {
                i += 1;
                continue;
            }
            Entry::Table(next) => next,
            Entry::Leaf(leaf) => {
                // Collapse a run of leaves mapping consecutive frames with equal flags.
                let frame_mask = level.mask();
                let mut j = i + 1;
                while j < n {
                    // SAFETY: as above, a later entry of the same table.
                    let w = unsafe { p.read_u64(origin.add(j as u64 * 8)) };
                    let expect = (v & frame_mask) + ((j - i) as u64) * level.size();
                    if is_invalid(level, w) || w & frame_mask != expect || w & !frame_mask != v & !frame_mask {
                        break;
                    }
                    j += 1;
                }
                let end_va = base_va + ((j as u64) << level.shift()) - 1;
                let rights = if leaf.write { "rw" } else { "ro" };
                let special = if leaf.special { " special" } else { "" };
                writeln!(
                    out,
                    "{:indent$}{:<13} [{:#05x}-{:#05x}] {:#018x}-{:#018x} -> frames {:#x}.. {}{} ({} x {} KiB)",
                    "",
                    level.hw_name(),
                    i,
                    j - 1,
                    va,
                    end_va,
                    leaf.frame.0,
                    rights,
                    special,
                    j - i,
                    level.size() >> 10,
                    indent = depth * 2
                )?;
                i = j;
                continue;
            }
        };
        let below = level.below().unwrap();
        writeln!(
            out,
            "{:indent$}{:<13} [{:#05x}]       {:#018x}-{:#018x} -> {} table {:#x}",
            "",
            level.hw_name(),
            i,
            va,
            va + (level.size() - 1),
            below.hw_name(),
            next.0,
            indent = depth * 2
        )?;
        dump_table(p, below, next, va, depth + 1, out)?;
        i += 1;
    }
    Ok(())
}
