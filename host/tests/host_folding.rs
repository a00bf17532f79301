//! The bug class across architectures (`foldkern_host::model::folding`): the
//! generic gup_fast walk over each configuration's folding rule, against a
//! fresh walk of the real tables.
use foldkern::gup::prefix_walks_off;
use foldkern::mm::AsceType;
use foldkern_host::model::folding::*;
use proptest::prelude::*;

/// A space of `cfg` with the pages of `[start, end)` mapped but `holes`.
fn space(cfg: Config, start: u64, end: u64, holes: &[u64]) -> Space {
    let mut s = Space::new(cfg);
    let page = 1u64 << cfg.page_shift;
    for (i, a) in (start..end).step_by(page as usize).enumerate() {
        if !holes.contains(&(i as u64)) {
            s.map(a);
        }
    }
    s
}

/// What each configuration's walks do on ranges crossing every boundary, as
/// the sources say: x86-64 and RISC-V fold only where a folded level's static
/// step is at least its parent's, so no folded loop iterates and every walk is
/// correct; s390 folds by entry type under constant sizes, so below 5 levels
/// the walk over copies steps off one (its v5.9 override is correct); arm64
/// folds at run time by aligning a pointer down to its page, so a pointer
/// derived from a stack copy lands on the stack (its overrides are correct).
#[test]
fn every_configuration_gives_the_verdicts_its_sources_say() {
    for cfg in configs() {
        let broken = match cfg.name {
            "s390-2level" | "s390-3level" | "s390-4level" => Some("walked off the"),
            "arm64-16k-lpa2-off" | "arm64-4k-lpa2-off" => Some("stack page"),
            _ => None,
        };
        for walk in Walk::ALL {
            let v = summary(cfg, walk);
            match (broken, walk) {
                (Some(why), Walk::ValueCopy | Walk::GenericLockless) => {
                    assert!(v.contains(why), "{} {}: {v}", cfg.name, walk.name())
                }
                _ => assert_eq!(v, "correct", "{} {}", cfg.name, walk.name()),
            }
        }
    }
}

/// s390: the walk over copies leaves one exactly where foldkern's
/// `prefix_walks_off` says, for every crossing and two page counts.
#[test]
fn s390_walks_off_exactly_where_prefix_walks_off_says() {
    for n in 2..=5 {
        let cfg = s390(n);
        let ty = AsceType::ALL[n - 2];
        for (start, end) in crossings(&cfg) {
            for (a, b) in [(start, end), (start, start + 0x1000), (start + 0x1000, end)] {
                let o = space(cfg, a, b, &[]).gup(Walk::ValueCopy, a, b);
                let off = matches!(o.error, Some(WalkError::OffCopy { .. }));
                assert_eq!(
                    off,
                    prefix_walks_off(ty, a, b),
                    "{} {a:#x}-{b:#x}: {:?}",
                    cfg.name,
                    o.error
                );
            }
        }
    }
}

/// The trace names every entry read, in the kernel's columns, and the step
/// off the copy: the 3-level s390 seed crossing.
#[test]
fn the_trace_shows_the_step_off_the_copy() {
    let t = trace(s390(3), Walk::ValueCopy, 0x7fff_f000, 0x8000_1000);
    let lines: Vec<&str> = t.lines().collect();
    assert_eq!(lines[0], "[s390-3level] value-copy (pre-2020) 0x7ffff000-0x80001000");
    assert!(
        lines[2].contains("at 0x7fff00000000 (stack copy of the pgd entry)"),
        "{t}"
    );
    assert!(
        lines
            .last()
            .unwrap()
            .contains("pud pointer 0x7fff00000018 walked off the p4d copy"),
        "{t}"
    );
    assert!(lines.last().unwrap().contains("(1 of 2 pages pinned)"), "{t}");
}

fn arb_range() -> impl Strategy<Value = (usize, u64, u64, Vec<u64>)> {
    (
        0..configs().len(),
        any::<u64>(),
        1u64..40,
        prop::collection::vec(0u64..40, 0..3),
    )
        .prop_map(|(c, r, n, holes)| {
            let cfg = configs()[c];
            let page = 1u64 << cfg.page_shift;
            // Near a boundary half the time: the interesting ranges.
            // The address space's top (s390's 5 levels reach 2^64: stop at 2^63).
            let top = 1u64 << va_bits(&cfg).min(63);
            let start = if r & 1 == 0 {
                let shifts: Vec<u32> = cfg
                    .levels
                    .iter()
                    .map(|l| l.shift)
                    .filter(|&s| (1u64 << s) < top)
                    .collect();
                let s = shifts[(r >> 1) as usize % shifts.len()];
                (1u64 << s).saturating_sub((r >> 8) % 20 * page).max(page)
            } else {
                ((r >> 1) % (top - 64 * page)) & !(page - 1)
            };
            (c, start, n.min((top - start) / page).max(1), holes)
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]
    /// The walk with the architecture's own overrides pins exactly what the
    /// real tables translate, holes included, on every configuration; on the
    /// configurations that never broke, so do the walks over copies; and a
    /// walk over copies that goes wrong says so (a step off a copy or a
    /// pointer into no table), never pinning wrong pages silently.
    #[test]
    fn fixed_walks_pin_what_the_tables_translate((c, start, n, holes) in arb_range()) {
        let cfg = configs()[c];
        let end = start + n * (1u64 << cfg.page_shift);
        let s = space(cfg, start, end, &holes);
        let want = s.reference(start, end);
        let o = s.gup(Walk::ArchOverride, start, end);
        prop_assert_eq!((&o.pinned, o.error), (&want, None), "{} {:#x}-{:#x}", cfg.name, start, end);
        for walk in [Walk::ValueCopy, Walk::GenericLockless] {
            let o = s.gup(walk, start, end);
            match o.error {
                None => prop_assert_eq!(&o.pinned, &want, "{} {}", cfg.name, walk.name()),
                Some(_) => prop_assert!(o.pinned.len() <= want.len() && want.starts_with(&o.pinned)),
            }
        }
    }
}

/// Every trace docs/across-architectures.md quotes (blocks fenced
/// "```trace folding CONFIG START-END") is what the model prints now.
#[test]
fn the_chapter_quotes_the_model_as_it_runs() {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/across-architectures.md")).unwrap();
    let mut lines = doc.lines();
    let mut blocks = 0;
    while let Some(l) = lines.next() {
        let Some(info) = l.strip_prefix("```trace folding ") else {
            continue;
        };
        let (name, range) = info.split_once(' ').expect("CONFIG START-END");
        let (a, b) = range.split_once('-').unwrap();
        let hex = |s: &str| u64::from_str_radix(s.trim_start_matches("0x"), 16).unwrap();
        let cfg = config(name).unwrap_or_else(|| panic!("no configuration {name}"));
        let all: String = Walk::ALL.iter().map(|&w| trace(cfg, w, hex(a), hex(b))).collect();
        let quoted: Vec<&str> = lines.by_ref().take_while(|q| !q.starts_with("```")).collect();
        let quoted = quoted.join("\n") + "\n";
        assert!(
            all.contains(&quoted),
            "docs quote of {name} {range} is not what the model prints:\n{quoted}\nit prints:\n{all}"
        );
        blocks += 1;
    }
    assert_eq!(blocks, 4, "the chapter's traced blocks");
}

/// foldkern's walk invariant in the model: every pointer is the one a fresh
/// walk from the top gives, or on a folded level's first step the parent's
/// copy. It holds for every correct walk on every crossing and is broken by
/// every walk that goes wrong, before the bounds catch it.
#[test]
fn the_invariant_catches_every_failure() {
    let mut failures = 0;
    for cfg in configs() {
        for (start, end) in crossings(&cfg) {
            let s = space(cfg, start, end, &[]);
            for walk in Walk::ALL {
                let o = s.gup(walk, start, end);
                let correct = o.error.is_none() && o.pinned == s.reference(start, end);
                assert_eq!(
                    o.violations.is_empty(),
                    correct,
                    "{} {} {start:#x}-{end:#x}: {:?}",
                    cfg.name,
                    walk.name(),
                    o.violations
                );
                failures += usize::from(!correct);
            }
        }
    }
    assert!(
        failures >= 14,
        "only {failures} failing walks: the table of failures shrank"
    );
}

/// Every configuration says in words what folds, when and on what.
#[test]
fn every_configuration_states_its_rule() {
    for cfg in configs() {
        let r = rule(cfg.name);
        assert!(!r.is_empty(), "{} has no rule", cfg.name);
        let folds = cfg.levels[1..].iter().any(|l| l.folded.is_some());
        assert_eq!(
            !r.starts_with("nothing folds") && !r.contains("nothing folds"),
            folds,
            "{}: {r}",
            cfg.name
        );
    }
}
