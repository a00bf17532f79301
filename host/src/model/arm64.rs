//! What Linux 6.12's arm64 gup_fast reads for the pud when 36639013b346 is
//! reverted and the CPU has no LPA2 (host only; `./qemu-run.sh linux` holds
//! it to the real kernel).
//!
//! Configuration: 16 KiB pages, 52-bit VA through LPA2, four levels, p4d
//! folded at compile time; on a CPU without LPA2 the pud folds at run time.
//! Without arm64's `p4d_offset_lockless_folded`, the generic
//! `p4d_offset_lockless` returns `p4d_offset(&pgd, addr)`, the address of
//! the walker's stack copy, and the run-time-folded `pud_offset_lockless`
//! computes `p4d_to_folded_pud(p4dp, addr)` =
//! `PTR_ALIGN_DOWN(p4dp, PAGE_SIZE) + pud_index(addr)`. With VMAP_STACK off
//! the kernel stack is one aligned 16 KiB page, so the pud pointer is
//! **stack base + 8 * pud_index(addr)**: the user address alone picks the
//! word ([`folded_pud_offset`]). The top 42 words of that page are the
//! syscall's `struct pt_regs` ([`pt_regs_name`]), whose values the caller
//! partly fixes ([`pread_word`]); the rest are the kernel's own frames of
//! the syscall path, zero where it never reached (stacks are allocated
//! zeroed), which this model does not predict. What the walk then does with
//! the word is [`outcome`].
use std::ops::Range;

/// `PUD_SHIFT`: each pud entry maps 64 GiB.
pub const PUD_SHIFT: u32 = 36;
/// Entries of a 16 KiB table.
pub const PTRS: u64 = 2048;
/// The stack page's word where `struct pt_regs` begins: its 42 words
/// (336 bytes in 6.12) end the 16 KiB stack.
pub const PT_REGS_FIRST: u64 = PTRS - 42;
/// `__NR_pread64` on arm64.
pub const NR_PREAD64: u64 = 67;

/// The folded pud pointer's offset in the walker's stack page.
pub const fn folded_pud_offset(addr: u64) -> u64 {
    8 * ((addr >> PUD_SHIFT) & (PTRS - 1))
}

/// The `struct pt_regs` field at word `slot` of the stack page, if any.
pub fn pt_regs_name(slot: u64) -> Option<String> {
    const AFTER_REGS: [&str; 11] = [
        "sp",
        "pc",
        "pstate",
        "orig_x0",
        "syscallno",
        "sdei_ttbr1",
        "pmr_save",
        "stackframe[0]",
        "stackframe[1]",
        "lockdep_hardirqs",
        "exit_rcu",
    ];
    let k = slot.checked_sub(PT_REGS_FIRST)?;
    match k {
        0..=30 => Some(format!("x{k}")),
        _ => AFTER_REGS.get(k as usize - 31).map(|s| s.to_string()),
    }
}

/// The value of word `slot` while the walk runs inside `pread64(fd, buf,
/// len, off)` issued with x4 = `x4` and x5..x7 zero, where the caller or the
/// kernel fixes it; `None` where the model cannot say (the caller's other
/// registers, its sp, pc and pstate, the frame record, and the kernel's own
/// frames below `pt_regs`).
pub fn pread_word(slot: u64, fd: u64, buf: u64, len: u64, off: u64, x4: u64) -> Option<u64> {
    match pt_regs_name(slot)?.as_str() {
        "x0" | "orig_x0" => Some(fd),
        "x1" => Some(buf),
        "x2" => Some(len),
        "x3" => Some(off),
        "x4" => Some(x4),
        "x5" | "x6" | "x7" => Some(0),
        "x8" => Some(NR_PREAD64),
        // syscallno, with the unused upper half 0.
        "syscallno" => Some(NR_PREAD64),
        // Written only by SDEI, EL1 exceptions, or with GIC priority masking
        // (pseudo-NMI, not configured): the stack's zeroed words.
        "sdei_ttbr1" | "pmr_save" | "lockdep_hardirqs" => Some(0),
        // Never written on entry from user space (only from kernel mode), so
        // 0: exec clears the top pt_regs and fork copies it.
        "exit_rcu" => Some(0),
        _ => None,
    }
}

/// What gup_fast does with `word` in place of a pud entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Not present (bit 0 clear): gup_fast stops, the slow path pins the
    /// right pages.
    Fallback,
    /// A table descriptor naming a table outside RAM: the pmd read through
    /// the linear map faults, an oops in the walk.
    Oops {
        /// The physical address the descriptor names.
        table: u64,
    },
    /// A table descriptor naming a page of RAM, read as a pmd table: what
    /// follows depends on that page.
    TableInRam {
        /// The physical address the descriptor names.
        table: u64,
    },
    /// A block descriptor: the walk takes it as a pud leaf.
    Block,
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Outcome::Fallback => write!(f, "fallback"),
            Outcome::Oops { table } => write!(f, "oops (a table at physical {table:#x}, outside RAM)"),
            Outcome::TableInRam { table } => write!(f, "a page of RAM at {table:#x} read as a pmd table"),
            Outcome::Block => write!(f, "a pud leaf"),
        }
    }
}

/// The output address of a 16 KiB-granule table descriptor with LPA2
/// (bits 49..14, and 51..50 from bits 9..8).
pub const fn table_address(word: u64) -> u64 {
    (word & 0x0003_ffff_ffff_c000) | ((word >> 8) & 3) << 50
}

/// What the walk does with `word`, given where RAM is.
pub fn outcome(word: u64, ram: &Range<u64>) -> Outcome {
    match word & 3 {
        0 | 2 => Outcome::Fallback,
        3 => {
            let table = table_address(word);
            if ram.contains(&table) {
                Outcome::TableInRam { table }
            } else {
                Outcome::Oops { table }
            }
        }
        _ => Outcome::Block,
    }
}

/// RAM of `qemu-system-aarch64 -M virt -m 512M`: from 1 GiB.
pub const VIRT_RAM_512M: Range<u64> = 0x4000_0000..0x6000_0000;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pt_regs_ends_the_stack_page() {
        assert_eq!(pt_regs_name(2006).as_deref(), Some("x0"));
        assert_eq!(pt_regs_name(2014).as_deref(), Some("x8"));
        assert_eq!(pt_regs_name(2047).as_deref(), Some("exit_rcu"));
        assert_eq!(pt_regs_name(2005), None);
        assert_eq!(folded_pud_offset(2006 << PUD_SHIFT | 0x4000_0000), 8 * 2006);
    }

    #[test]
    fn the_syscall_s_own_words_decide_the_walk() {
        let w = |slot| pread_word(slot, 3, 0x7d64_0000_0000, 0x8000, 0, 0).unwrap();
        let ram = VIRT_RAM_512M;
        assert_eq!(outcome(w(2006), &ram), Outcome::Oops { table: 0 });
        assert_eq!(outcome(w(2014), &ram), Outcome::Oops { table: 0 });
        assert_eq!(outcome(w(2047), &ram), Outcome::Fallback);
        assert_eq!(outcome(w(2007), &ram), Outcome::Fallback);
        assert_eq!(pread_word(2037, 3, 0, 0, 0, 0), None);
        // x4 set by the caller to a table descriptor of its own page.
        let crafted = pread_word(2010, 3, 0, 0, 0, 0x4123_c003).unwrap();
        assert_eq!(outcome(crafted, &ram), Outcome::TableInRam { table: 0x4123_c000 });
    }
}
