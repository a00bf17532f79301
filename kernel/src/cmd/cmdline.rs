//! The kernel command line (`-append`): exactly one job word, parsed strictly.
//! Anything [`USAGE`] does not describe is refused before anything runs, with a
//! typed [`CmdlineError`] (shown with the usage line). Portable: the host test
//! `tests/cmdline.rs` compiles this file too.
use core::fmt;
use foldkern::gup::GupFlags;
use foldkern::mm::{AsceType, PAGE_SIZE};

/// Every form the command line accepts; nothing else is.
pub const USAGE: &str = "usage: one of demo (the default), test, test=<filter>[,<filter>...] (at most 32, \
     each once), list, bench, bench=smoke, \
     gup=<levels 2-5>:<start>-<end>|<start>+<pages>[:write][:ro][:hole=<addr>][:decoy=<addr>] \
     (addresses 0x-prefixed hex, 4 KiB aligned, end exclusive; pages decimal; each option at most once)";

/// Most pages a scenario may span: 1 GiB.
pub const MAX_SCENARIO_PAGES: usize = 262_144;

/// Most test filters.
pub const MAX_FILTERS: usize = 32;

/// What the command line asks the kernel to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Job<'a> {
    /// The narrated demo.
    Demo,
    /// The in-kernel tests whose names contain one of the comma-separated
    /// filters (every test when empty).
    Test(&'a str),
    /// List the in-kernel tests.
    List,
    /// The benchmark, in full (`true`) or its smoke run.
    Bench(bool),
    /// A scenario of the user's.
    Scenario(Scenario),
}

/// `gup=<levels>:<start>-<end>[:write][:ro][:hole=<addr>][:decoy=<addr>]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Scenario {
    /// The space's ASCE type (from the level count).
    pub ty: AsceType,
    /// First page.
    pub start: u64,
    /// End (exclusive; above `start`, inside the ASCE type's range). 0 stands
    /// for 2^64, the end of a range that ends with the top page of a 5-level
    /// space (`<start>+<pages>` names it).
    pub end: u64,
    /// `write`: ask gup for write access.
    pub flags: GupFlags,
    /// `ro`: map the pages read-only.
    pub ro: bool,
    /// `hole=<addr>`: a page of the range left unmapped.
    pub hole: Option<u64>,
    /// `decoy=<addr>`: one more page, outside the range, mapped where a stale
    /// upper entry leads (one top entry lower), so a walk that re-reads a
    /// stale copy finds a real page and pins it, as Linux did, instead of
    /// stopping.
    pub decoy: Option<u64>,
}

impl Scenario {
    /// Pages in the range.
    pub fn pages(&self) -> usize {
        (self.end.wrapping_sub(self.start) / PAGE_SIZE) as usize
    }
}

/// Why a command line was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CmdlineError<'a> {
    /// More than one word: the one after the job.
    ExtraWord(&'a str),
    /// A word that names no job.
    UnknownJob(&'a str),
    /// `test=` with an empty filter, or more than [`MAX_FILTERS`].
    BadFilters,
    /// A `test=` filter given twice.
    RepeatedFilter(&'a str),
    /// `<start>+<pages>` with a count that is not 1 to [`MAX_SCENARIO_PAGES`]
    /// in decimal.
    BadCount(&'a str),
    /// A `gup=` level count other than 2 to 5.
    Levels(&'a str),
    /// Not `0x` and 1 to 16 hex digits.
    NotHex(&'a str),
    /// No `<start>-<end>` part.
    NoRange,
    /// An address that is not 4 KiB aligned.
    Misaligned(u64),
    /// `end` not above `start`.
    EmptyRange,
    /// The range leaves the ASCE type's addresses.
    BeyondAsce,
    /// More than [`MAX_SCENARIO_PAGES`] pages.
    TooManyPages,
    /// The hole is not a page of the range.
    HoleOutside(u64),
    /// The decoy is a page of the range, or beyond the ASCE type.
    DecoyPlace(u64),
    /// An option that is not `write`, `ro` or `hole=`.
    UnknownOption(&'a str),
    /// An option given twice.
    Repeated(&'a str),
}

impl fmt::Display for CmdlineError<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CmdlineError::ExtraWord(w) => write!(f, "one job word only, but '{}' follows it", Escaped(w)),
            CmdlineError::UnknownJob(w) => write!(f, "unknown job '{}'", Escaped(w)),
            CmdlineError::BadFilters => write!(f, "test= needs 1 to {MAX_FILTERS} non-empty filters"),
            CmdlineError::RepeatedFilter(w) => write!(f, "test filter '{}' given twice", Escaped(w)),
            CmdlineError::BadCount(w) => write!(
                f,
                "'{}' is not a page count (1 to {MAX_SCENARIO_PAGES}, decimal)",
                Escaped(w)
            ),
            CmdlineError::Levels(w) => write!(f, "levels '{}' must be 2, 3, 4 or 5", Escaped(w)),
            CmdlineError::NotHex(w) => write!(f, "'{}' is not an address (0x and 1 to 16 hex digits)", Escaped(w)),
            CmdlineError::NoRange => write!(f, "missing <start>-<end>"),
            CmdlineError::Misaligned(a) => write!(f, "{a:#x} is not 4 KiB aligned"),
            CmdlineError::EmptyRange => write!(f, "end must be above start"),
            CmdlineError::BeyondAsce => write!(f, "the range does not fit a space of that many levels"),
            CmdlineError::TooManyPages => write!(f, "at most {MAX_SCENARIO_PAGES} pages"),
            CmdlineError::HoleOutside(h) => write!(f, "the hole {h:#x} is not a page of the range"),
            CmdlineError::DecoyPlace(d) => write!(
                f,
                "the decoy {d:#x} must be a page outside the range, inside the space's addresses"
            ),
            CmdlineError::UnknownOption(w) => write!(
                f,
                "unknown option '{}' (write, ro, hole=<addr>, decoy=<addr>)",
                Escaped(w)
            ),
            CmdlineError::Repeated(w) => write!(f, "option '{}' given twice", Escaped(w)),
        }
    }
}

/// A word as the kernel shows it back: printable ASCII as it is, anything
/// else (non-ASCII, control and invisible characters) as `\u{..}`, so a
/// no-break or zero-width space in a refused word can be seen.
pub struct Escaped<'a>(pub &'a str);

impl fmt::Display for Escaped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for c in self.0.chars() {
            if c.is_ascii_graphic() || c == ' ' {
                write!(f, "{c}")?;
            } else {
                write!(f, "\\u{{{:x}}}", c as u32)?;
            }
        }
        Ok(())
    }
}

/// Parse the whole command line.
pub fn parse(line: &str) -> Result<Job<'_>, CmdlineError<'_>> {
    let mut words = line.split_ascii_whitespace();
    let job = words.next().unwrap_or("demo");
    if let Some(extra) = words.next() {
        return Err(CmdlineError::ExtraWord(extra));
    }
    Ok(match job {
        "demo" => Job::Demo,
        "test" => Job::Test(""),
        "list" => Job::List,
        "bench" => Job::Bench(true),
        "bench=smoke" => Job::Bench(false),
        _ => {
            if let Some(filters) = job.strip_prefix("test=") {
                let n = filters.split(',').count();
                if filters.split(',').any(str::is_empty) || n > MAX_FILTERS {
                    return Err(CmdlineError::BadFilters);
                }
                let mut seen = filters.split(',');
                while let Some(f) = seen.next() {
                    if seen.clone().any(|g| g == f) {
                        return Err(CmdlineError::RepeatedFilter(f));
                    }
                }
                Job::Test(filters)
            } else if let Some(spec) = job.strip_prefix("gup=") {
                Job::Scenario(scenario(spec)?)
            } else {
                return Err(CmdlineError::UnknownJob(job));
            }
        }
    })
}

/// `0x` and 1 to 16 hex digits.
fn hex(w: &str) -> Result<u64, CmdlineError<'_>> {
    match w.strip_prefix("0x") {
        Some(d) if (1..=16).contains(&d.len()) && d.bytes().all(|b| b.is_ascii_hexdigit()) => {
            Ok(u64::from_str_radix(d, 16).expect("checked hex digits"))
        }
        _ => Err(CmdlineError::NotHex(w)),
    }
}

fn page(w: &str) -> Result<u64, CmdlineError<'_>> {
    let a = hex(w)?;
    match a.is_multiple_of(PAGE_SIZE) {
        true => Ok(a),
        false => Err(CmdlineError::Misaligned(a)),
    }
}

fn scenario(spec: &str) -> Result<Scenario, CmdlineError<'_>> {
    let mut parts = spec.split(':');
    let levels = parts.next().unwrap_or("");
    let ty = match levels {
        "2" => AsceType::Segment,
        "3" => AsceType::Region3,
        "4" => AsceType::Region2,
        "5" => AsceType::Region1,
        _ => return Err(CmdlineError::Levels(levels)),
    };
    let range = parts.next().ok_or(CmdlineError::NoRange)?;
    // <start>-<end>, or <start>+<pages>, whose end may be 2^64 (stored as 0).
    let (start, end) = if let Some((a, b)) = range.split_once('-') {
        (page(a)?, page(b)?)
    } else if let Some((a, n)) = range.split_once('+') {
        let start = page(a)?;
        let count = match n.parse::<u64>() {
            Ok(c) if (1..=MAX_SCENARIO_PAGES as u64).contains(&c) && n.bytes().all(|b| b.is_ascii_digit()) => c,
            _ => return Err(CmdlineError::BadCount(n)),
        };
        match start.checked_add((count - 1) * PAGE_SIZE) {
            Some(last) => (start, last.wrapping_add(PAGE_SIZE)),
            None => return Err(CmdlineError::BeyondAsce),
        }
    } else {
        return Err(CmdlineError::NoRange);
    };
    let mut s = Scenario {
        ty,
        start,
        end,
        flags: GupFlags::empty(),
        ro: false,
        hole: None,
        decoy: None,
    };
    for opt in parts {
        let repeated = match opt {
            "write" => {
                let had = s.flags.contains(GupFlags::WRITE);
                s.flags |= GupFlags::WRITE;
                had
            }
            "ro" => core::mem::replace(&mut s.ro, true),
            _ => {
                if let Some(h) = opt.strip_prefix("hole=") {
                    s.hole.replace(page(h)?).is_some()
                } else if let Some(d) = opt.strip_prefix("decoy=") {
                    s.decoy.replace(page(d)?).is_some()
                } else {
                    return Err(CmdlineError::UnknownOption(opt));
                }
            }
        };
        if repeated {
            return Err(CmdlineError::Repeated(opt));
        }
    }
    // The last byte: `end` is exclusive, and 0 stands for 2^64.
    let last = end.wrapping_sub(1);
    if end != 0 && end <= start {
        return Err(CmdlineError::EmptyRange);
    }
    if last > ty.last_addr() {
        return Err(CmdlineError::BeyondAsce);
    }
    if s.pages() > MAX_SCENARIO_PAGES {
        return Err(CmdlineError::TooManyPages);
    }
    match (s.hole, s.decoy) {
        (Some(h), _) if h < start || h > last => Err(CmdlineError::HoleOutside(h)),
        (_, Some(d)) if (start..=last).contains(&d) || d > ty.last_addr() => Err(CmdlineError::DecoyPlace(d)),
        _ => Ok(s),
    }
}
