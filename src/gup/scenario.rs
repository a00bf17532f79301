//! What a scenario says of each gup_fast walk, in the kernel (the demo,
//! `gup=`) and on the host (the pictures): the trace line of each entry read,
//! the variant described in its loop's words, and the verdict against a
//! reference translation (LRAG in the kernel, the software walk on the host).
//! One text for both, so a picture drawn on the host says what the kernel
//! printed.
use super::fast::GupOutcome;
use super::hooks::Step;
use super::page::Page;
use super::policy::{Named, Variant};
use crate::mm::{AsceType, PhysAddr, VirtAddr, WalkError, PAGE_SIZE};
use core::fmt;

/// A step as a scenario prints it: level, address -> `pXd_addr_end`, entry
/// value, entry type, the pointer read.
pub struct TraceLine<'a>(pub &'a Step);

impl fmt::Display for TraceLine<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.0;
        write!(
            f,
            "{:<3} {:#015x} -> {:#015x}  {:#018x} {:<19} at {}",
            s.level.name(),
            s.addr,
            s.next,
            s.val,
            s.kind(),
            Named(s.ptr)
        )
    }
}

/// What variant `v` does, in the words of the loop that walks over a copy in a
/// space of type `ty`: the first real level below the folded ones (`pmdp++` in
/// 2 levels, `pudp++` in 3, `p4dp++` in 4; in 5 nothing is folded).
pub fn describe(v: Variant, ty: AsceType) -> &'static str {
    let k = match ty {
        AsceType::Segment => 0,
        AsceType::Region3 => 1,
        _ => 2,
    };
    let pick = |s: [&'static str; 3]| s[k];
    match v {
        Variant::PreFix => pick([
            "v5.2..v5.8: pmd_offset(&pud_copy), static pmd_addr_end, pmdp++",
            "v5.2..v5.8: pud_offset(&p4d_copy), static pud_addr_end, pudp++",
            "v5.2..v5.8: p4d_offset(&pgd_copy), static p4d_addr_end, p4dp++",
        ]),
        Variant::PreFixLinuxFrame => pick([
            "the same, copies laid out as Linux 6.1 compiles them: after the pud copy lies a saved register",
            "the same, copies laid out as Linux 6.1 compiles them: after the p4d copy lies the last pud copy",
            "the same, copies laid out as Linux 6.1 compiles them: after the pgd copy lies the last p4d copy",
        ]),
        Variant::AddrEndFolded => "RFC v2: pXd_addr_end_folded(entry, addr, end) steps by the entry's real size",
        Variant::OffsetLockless => "v5.9: pXd_offset_lockless(pointer, value, addr) keeps the real table pointer",
        Variant::NextEntry => pick([
            "thread idea: pmdp = pmd_next_entry(&pud_copy, pmdp, next) instead of pmdp++",
            "thread idea: pudp = pud_next_entry(&p4d_copy, pudp, next) instead of pudp++",
            "thread idea: p4dp = p4d_next_entry(&pgd_copy, p4dp, next) instead of p4dp++",
        ]),
    }
}

/// How a walk's pages compare with the reference translation's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Exactly the reference's.
    Correct,
    /// Stopped with a walk error.
    WalkedOff,
    /// A prefix of the reference's.
    Early,
    /// The reference's up to the first crossing of a top entry's reach, then
    /// those one top entry lower.
    OneLower,
    /// Anything else.
    Wrong,
}

impl Outcome {
    /// Judge the walk `o` of `got` pages from `start` in a space of type `ty`
    /// against `want`, the reference's frames up to the first page gup must
    /// not pin; `reference(va)` translates any address (for the pages one top
    /// entry lower).
    pub fn judge(
        ty: AsceType,
        start: VirtAddr,
        o: &GupOutcome,
        got: &[Page],
        want: &[PhysAddr],
        reference: impl Fn(VirtAddr) -> Option<PhysAddr>,
    ) -> Outcome {
        let got = &got[..o.pinned];
        let prefix_ok = got.len() <= want.len() && got.iter().zip(want).all(|(p, w)| *p == *w);
        let matches = o.error.is_none() && got.len() == want.len() && prefix_ok;
        // Page `i` past the first crossing of a top entry's reach maps to what
        // the reference gives one top entry lower (before it, the page itself).
        let reach = ty.top().size();
        let first_crossing = ((start / reach + 1) * reach - start) / PAGE_SIZE;
        let one_lower = |i: usize, p: &Page| {
            let va = start + i as u64 * PAGE_SIZE;
            let va = if (i as u64) < first_crossing {
                va
            } else {
                va.wrapping_sub(reach)
            };
            reference(va) == Some(p.phys())
        };
        let stale = !prefix_ok && got.iter().enumerate().all(|(i, p)| one_lower(i, p));
        match (matches, o.error.is_some(), prefix_ok, stale) {
            (true, ..) => Outcome::Correct,
            (_, true, ..) => Outcome::WalkedOff,
            (_, _, true, _) => Outcome::Early,
            (_, _, _, true) => Outcome::OneLower,
            _ => Outcome::Wrong,
        }
    }
    /// The summary table's word for it.
    pub fn name(self) -> &'static str {
        match self {
            Outcome::Correct => "correct (= LRAG)",
            Outcome::WalkedOff => "walked off its copy",
            Outcome::Early => "stopped early",
            Outcome::OneLower => "WRONG pages (one top entry lower)",
            Outcome::Wrong => "WRONG pages",
        }
    }
}

/// A walk's result line: why it stopped, or the frames it pinned (the first
/// four) and the verdict.
pub struct ResultLine<'a> {
    /// What the walk did.
    pub outcome: &'a GupOutcome,
    /// The pages it pinned (at least `outcome.pinned`).
    pub pages: &'a [Page],
    /// The frames LRAG gives for the range, up to the first page gup must
    /// not pin.
    pub lrag: &'a [PhysAddr],
    /// The verdict.
    pub verdict: Outcome,
}

impl fmt::Display for ResultLine<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let o = self.outcome;
        match o.error {
            Some(e @ WalkError::OffObject { .. }) => {
                write!(f, "=> STOPPED: {e}; {} page(s) pinned before", o.pinned)
            }
            Some(e) => write!(f, "=> STOPPED: {e}"),
            None => {
                write!(f, "=> pinned {} page(s):", o.pinned)?;
                for p in &self.pages[..o.pinned.min(4)] {
                    write!(f, " {p}")?;
                }
                let verdict = match self.verdict {
                    Outcome::Correct => "same frames as LRAG",
                    Outcome::Early => "stopped early (the slow path would finish)",
                    Outcome::OneLower => "WRONG: the frames LRAG gives one top entry lower",
                    _ => "WRONG: differs from LRAG",
                };
                write!(f, "{} -> {verdict}", if o.pinned > 4 { " ..." } else { "" })?;
                // Past the four shown, name the first page that differs.
                let first = self.pages[..o.pinned].iter().zip(self.lrag).position(|(p, &l)| *p != l);
                match first {
                    Some(i) if i >= 4 => write!(
                        f,
                        " (first difference: page {i}, pinned {}, LRAG {:#x})",
                        self.pages[i],
                        self.lrag[i].as_u64()
                    ),
                    _ => Ok(()),
                }
            }
        }
    }
}

/// Where a page's data goes when Linux reads into it with the frames a walk
/// took (block-device direct I/O takes them with one `get_user_pages_fast`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fate {
    /// The page's own frame (the reference's): correct.
    Buffer,
    /// The decoy's frame: the data lands one top entry away, silently.
    Decoy,
    /// Some other frame.
    Elsewhere,
    /// Not taken: the walk stopped first, and the slow path (which walks
    /// under the mmap lock) takes the right frame.
    SlowPath,
}

impl Fate {
    /// Every fate, in the order a `fates:` line counts them.
    pub const ALL: [Fate; 4] = [Fate::Buffer, Fate::Decoy, Fate::Elsewhere, Fate::SlowPath];
    /// The word a `fates:` line uses.
    pub const fn name(self) -> &'static str {
        match self {
            Fate::Buffer => "buffer",
            Fate::Decoy => "decoy",
            Fate::Elsewhere => "elsewhere",
            Fate::SlowPath => "slow path",
        }
    }
    /// The fate named `name` in a `fates:` line.
    pub fn from_name(name: &str) -> Option<Fate> {
        Fate::ALL.into_iter().find(|f| f.name() == name)
    }
    /// Whether the data goes to the wrong frame.
    pub const fn wrong(self) -> bool {
        matches!(self, Fate::Decoy | Fate::Elsewhere)
    }
}

/// Most pages whose fates a `fates:` line lists one by one; past that it
/// counts them.
pub const FATE_PAGES: usize = 8;

/// The `fates:` line after a walk's result: each page's [`Fate`], from the
/// pages it took (`pages[..pinned]`) against the reference's frames (`lrag`)
/// and the decoy's frame. `scripts/linux-gup.py` sets it beside what Linux did.
pub struct FatesLine<'a> {
    /// Pages the walk took.
    pub pinned: usize,
    /// The range's pages, as the walk filled them.
    pub pages: &'a [Page],
    /// The reference's frames, as far as it translates.
    pub lrag: &'a [PhysAddr],
    /// The decoy's frame, if the scenario maps one.
    pub decoy: Option<Page>,
}

impl FatesLine<'_> {
    /// Page `i`'s fate.
    pub fn fate(&self, i: usize) -> Fate {
        match self.pages.get(i) {
            Some(&p) if i < self.pinned && self.lrag.get(i).is_some_and(|&f| p == f) => Fate::Buffer,
            Some(&p) if i < self.pinned && Some(p) == self.decoy => Fate::Decoy,
            _ if i < self.pinned => Fate::Elsewhere,
            _ => Fate::SlowPath,
        }
    }
}

impl fmt::Display for FatesLine<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.pages.len();
        write!(f, "fates:")?;
        if n <= FATE_PAGES {
            for i in 0..n {
                write!(f, " page {i}: {};", self.fate(i).name())?;
            }
        } else {
            for fate in Fate::ALL {
                write!(
                    f,
                    " {}: {};",
                    fate.name(),
                    (0..n).filter(|&i| self.fate(i) == fate).count()
                )?;
            }
        }
        Ok(())
    }
}
