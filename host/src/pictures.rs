//! Pictures of a scenario (host only), drawn from the walk's own steps:
//! [`scene`] builds the `gup=` scenario's space on the host through the
//! `Platform` seam, and `study::run` walks it with the one gup_fast
//! walk of every variant, its explaining hooks recording each entry read into
//! a [`Recorder`]. For the scenario, one SVG per gup_fast variant (the tables the walk
//! read as boxes with the indices it used, the walker's stack copies beside
//! them, every pointer it followed as an arrow routed between the boxes, each
//! step numbered where it read, the step that left a copy or read a stale
//! entry in red, and where each page's data goes against the reference's
//! frame, from the `fates:` line), one SVG of the address space (the
//! ptdump block drawn as a tree), and an HTML page with each trace beside its
//! picture. Table addresses depend on the build, so the pictures name tables
//! by kind and index only and stay the same while the walk does.
use std::collections::BTreeMap;
use std::fmt::Write;
use std::format;
use std::string::{String, ToString};
use std::vec::Vec;

/// One entry a variant's walk read, as the kernel prints it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Step {
    /// Linux level name (pgd ... pte).
    pub level: String,
    /// The range of this step (`addr -> next`), as printed.
    pub range: String,
    /// Where the pointer pointed (the text in parentheses).
    pub place: Place,
    /// The pointer.
    pub at: u64,
}

/// Where a pointer pointed.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Place {
    /// Entry `index` of a table of `kind` at `base`.
    Table {
        /// "region-third", "segment", "page", ...
        kind: String,
        /// Its origin (build-dependent: not drawn).
        base: u64,
        /// The entry index.
        index: u64,
    },
    /// A copy in the walker's frame, with the kernel's description.
    Copy(String),
}

/// One variant's part of the output.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Variant {
    /// The heading, without the brackets' content split off.
    pub name: String,
    /// The heading line as printed.
    pub heading: String,
    /// The trace lines as printed (steps, invariant and result lines).
    pub lines: Vec<String>,
    /// The steps.
    pub steps: Vec<Step>,
    /// Step indices the kernel flagged: an invariant violation's pointer or
    /// the step that walked off.
    pub marked: Vec<usize>,
    /// The walk stopped off a copy (the pointer it would have read).
    pub off_copy: Option<u64>,
    /// The result line.
    pub result: String,
    /// The `fates:` line: where each page's data would go.
    pub fates: String,
}

/// A scenario: the ptdump block and each variant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Scenario {
    /// The ptdump lines (the `ASCE ...` line and the tree under it).
    pub tree: Vec<String>,
    /// The variants in the order printed.
    pub variants: Vec<Variant>,
}

fn hex_after(s: &str, key: &str) -> Option<u64> {
    let i = s.find(key)? + key.len();
    let t = s[i..].trim_start().trim_start_matches("0x");
    let end = t.find(|c: char| !c.is_ascii_hexdigit()).unwrap_or(t.len());
    u64::from_str_radix(&t[..end], 16).ok()
}

fn parse_place(s: &str) -> Option<Place> {
    if let Some(i) = s.find(" table 0x") {
        let kind = s[..i].trim().to_string();
        let rest = &s[i + 7..];
        let base = hex_after(rest, "")?;
        let index = hex_after(rest, "[")?;
        return Some(Place::Table { kind, base, index });
    }
    Some(Place::Copy(s.trim().to_string()))
}

/// Parse the kernel's output of one scenario (`gup=...`) or the demo's first
/// scenario. `None` if it holds no variant. (The pictures come from the host walk, `study::run`;
/// this reads what the kernel printed, so a test can hold the two together.)
pub fn parse(output: &str) -> Option<Scenario> {
    let mut tree = Vec::new();
    let mut variants: Vec<Variant> = Vec::new();
    let mut in_tree = false;
    for line in output.lines() {
        let t = line.trim_start();
        if t.starts_with("ASCE 0x") && variants.is_empty() && tree.is_empty() {
            in_tree = true;
        }
        if in_tree {
            if t.is_empty() || t.starts_with("range ") {
                in_tree = false;
            } else {
                tree.push(line.to_string());
                continue;
            }
        }
        if t.starts_with('[') && t.contains("] ") {
            if variants.len() == 5 {
                break; // the demo's later scenarios
            }
            let name = t[1..t.find(']').unwrap()].to_string();
            variants.push(Variant {
                name,
                heading: t.to_string(),
                lines: Vec::new(),
                steps: Vec::new(),
                marked: Vec::new(),
                off_copy: None,
                result: String::new(),
                fates: String::new(),
            });
            continue;
        }
        let Some(v) = variants.last_mut() else { continue };
        if !v.result.is_empty() {
            if t.starts_with("fates:") && v.fates.is_empty() {
                v.fates = t.to_string();
                v.lines.push(t.to_string());
            }
            continue;
        }
        let level = t.split(' ').next().unwrap_or("");
        if ["pgd", "p4d", "pud", "pmd", "pte"].contains(&level) && t.contains(" at 0x") {
            let at = hex_after(t, " at ")?;
            let open = t.rfind(" (")?;
            let place = parse_place(&t[open + 2..t.len() - 1])?;
            let range = t[4..t.find("  ").unwrap_or(4)].to_string();
            v.steps.push(Step {
                level: level.to_string(),
                range,
                place,
                at,
            });
            v.lines.push(t.to_string());
        } else if t.starts_with("invariant violated:") {
            let p = hex_after(t, " is ")?;
            if let Some(k) = v.steps.iter().rposition(|s| s.at == p) {
                v.marked.push(k);
            }
            v.lines.push(t.to_string());
        } else if t.starts_with("=>") {
            if t.contains("walked off the stack copy at") {
                v.off_copy = hex_after(t, "walked off the stack copy at");
            }
            v.result = t.to_string();
            v.lines.push(t.to_string());
        }
    }
    (!variants.is_empty()).then_some(Scenario { tree, variants })
}

/// What a `gup=` scenario asks for (the kernel's command line, parsed).
#[derive(Clone, Copy, Debug)]
pub struct Spec {
    /// The space's ASCE type.
    pub ty: foldkern::mm::AsceType,
    /// The range's first page.
    pub start: u64,
    /// Pages in the range.
    pub pages: usize,
    /// FOLL_WRITE or not.
    pub flags: foldkern::gup::GupFlags,
    /// Map the pages read-only.
    pub ro: bool,
    /// A page left unmapped.
    pub hole: Option<u64>,
    /// A page mapped outside the range, where a stale upper entry leads.
    pub decoy: Option<u64>,
}

/// The scenarios the pictures and the explainer are held to the kernel's
/// trace with (the harness) and drawn by (the host tests): the seed with its
/// decoy, and one per other ASCE type: (name, the `gup=` line, the same as a
/// [`Spec`]).
pub fn one_scenario_per_asce_type() -> [(&'static str, &'static str, Spec); 4] {
    use foldkern::gup::GupFlags;
    use foldkern::mm::AsceType;
    let spec = |ty, start, pages, flags, hole, decoy| Spec {
        ty,
        start,
        pages,
        flags,
        ro: false,
        hole,
        decoy,
    };
    [
        (
            "seed",
            "gup=3:0x1007ffff000-0x10080001000:decoy=0x10000000000",
            spec(
                AsceType::Region3,
                0x100_7fff_f000,
                2,
                GupFlags::empty(),
                None,
                Some(0x100_0000_0000),
            ),
        ),
        (
            "segment",
            "gup=2:0xfe000-0x102000:write:hole=0x100000",
            spec(AsceType::Segment, 0xfe000, 4, GupFlags::WRITE, Some(0x100000), None),
        ),
        (
            "region-second",
            "gup=4:0x3fffffff000-0x40000001000",
            spec(AsceType::Region2, 0x3ff_ffff_f000, 2, GupFlags::empty(), None, None),
        ),
        (
            "region-first",
            "gup=5:0x1ffffffffff000-0x20000000001000",
            spec(AsceType::Region1, 0x1f_ffff_ffff_f000, 2, GupFlags::empty(), None, None),
        ),
    ]
}

/// Most data frames a scenario maps its pages onto (round-robin), as the kernel's.
const DATA_FRAMES: usize = 4096;
/// Most pages whose walks are traced, as the kernel's.
const TRACED_PAGES: usize = 64;

/// A scenario's space, built on the host as the kernel's `gup=` job builds
/// it (map the range onto data frames round-robin, read-only with `ro`, but
/// `hole`; the decoy page in a frame of its own), with what a walk of it
/// needs.
pub struct Scene {
    /// The host's memory.
    pub plat: &'static foldkern::mm::host::HostPlatform,
    /// Its struct pages.
    pub map: &'static foldkern::gup::PageMap,
    /// The walker's stack frame.
    pub stack: foldkern::gup::WalkStack,
    /// The space.
    pub space: foldkern::mm::AddressSpace<'static, foldkern::mm::host::HostPlatform>,
    /// Its ptdump lines.
    pub tree: Vec<String>,
    /// The reference: the software walk's frames, up to the first page gup
    /// must not pin (the kernel's reference is LRAG; the harness holds the two
    /// outputs together).
    pub want: Vec<foldkern::mm::PhysAddr>,
    /// The decoy page's frame, if the scenario maps one.
    pub decoy: Option<foldkern::gup::Page>,
}

impl Scene {
    /// Walk the scene's range with variant `v`, as the kernel's `gup=` job
    /// does, `record` called for every entry read; the references are
    /// released again. Returns what the walk did, the pages it took, and its
    /// result line as the kernel prints it.
    pub fn walk(
        &self,
        spec: &Spec,
        v: foldkern::gup::Variant,
        record: &mut dyn FnMut(&foldkern::gup::Step),
    ) -> Result<(foldkern::gup::GupOutcome, Vec<foldkern::gup::Page>), String> {
        use foldkern::gup::{release_each, GupFast, Page};
        let flags = spec.flags.or_get();
        let mut got = std::vec![Page::default(); spec.pages];
        let mut g = GupFast::new(self.plat, self.space.asce(), self.map, self.stack, v).traced(record);
        let o = foldkern::gup::gup_fast(&mut g, spec.start, spec.pages, flags, &mut got);
        release_each(self.map, &got[..o.pinned], flags).map_err(|x| format!("releasing {:?}", x.0))?;
        Ok((o, got))
    }

    /// The reference translation of `va` (the software walk's frame; the
    /// kernel's is LRAG's), if it is mapped.
    pub fn reference(&self, va: u64) -> Option<foldkern::mm::PhysAddr> {
        self.space.lookup(va).ok().flatten().map(|t| t.pa)
    }

    /// The result line of walk `o` (pages `got`), judged against the
    /// scene's reference, as the kernel prints it.
    pub fn result(&self, spec: &Spec, o: &foldkern::gup::GupOutcome, got: &[foldkern::gup::Page]) -> String {
        use foldkern::gup::scenario::{Outcome, ResultLine};
        let verdict = Outcome::judge(spec.ty, spec.start, o, got, &self.want, |va| self.reference(va));
        ResultLine {
            outcome: o,
            pages: got,
            lrag: &self.want,
            verdict,
        }
        .to_string()
    }
}

/// Build scenario `spec`'s space on the host (see [`Scene`]).
pub fn scene(spec: &Spec) -> Result<Scene, String> {
    use foldkern::gup::{PageMap, StructPage, WalkStack};
    use foldkern::mm::host::HostPlatform;
    use foldkern::mm::{AddressSpace, Prot, PAGE_SIZE};
    use std::boxed::Box;
    let e = |e: &dyn core::fmt::Display| e.to_string();
    let data = spec.pages.min(DATA_FRAMES);
    // Data frames, tables (a page table per MiB, CRSTs), the stack frame.
    let bytes = (data as u64 * PAGE_SIZE + (spec.pages as u64 >> 8) * 2048 + (36 << 20)).next_multiple_of(1 << 20);
    let plat: &'static HostPlatform = Box::leak(Box::new(HostPlatform::new(bytes)));
    let frames: &'static spin::Mutex<foldkern::mm::FrameAllocator> =
        Box::leak(Box::new(spin::Mutex::new(plat.allocator())));
    let pages: &'static [StructPage] = Box::leak((0..bytes / PAGE_SIZE).map(|_| StructPage::default()).collect());
    let map: &'static PageMap = Box::leak(Box::new(PageMap::new(pages)));
    map.reset();
    // As in the kernel, whose image lies below: physical addresses of the
    // tables and frames then have as many digits as the kernel's, which the
    // pictures mask.
    frames
        .lock()
        .reserve(foldkern::mm::PhysAddr::new(0), foldkern::mm::PhysAddr::new(4 << 20));
    let block = frames.lock().alloc_frames(data, 1).map_err(|x| e(&x))?;
    let stack_frame = frames.lock().alloc_frame().map_err(|x| e(&x))?;
    // SAFETY: a frame just allocated for the walker's stack, never freed.
    let stack = unsafe { WalkStack::new(plat, stack_frame) };
    let decoy_frame = frames.lock().alloc_frame().map_err(|x| e(&x))?;
    let mut s = AddressSpace::new(plat, frames, spec.ty).map_err(|x| e(&x))?;
    let prot = if spec.ro { Prot::RO } else { Prot::RW };
    if let Some(d) = spec.decoy {
        s.map(d, decoy_frame, 1, prot).map_err(|x| e(&x))?;
    }
    for i in 0..spec.pages as u64 {
        let va = spec.start + i * PAGE_SIZE;
        if Some(va) != spec.hole {
            s.map(va, block.add((i % DATA_FRAMES as u64) * PAGE_SIZE), 1, prot)
                .map_err(|x| e(&x))?;
        }
    }
    let mut dump = String::new();
    foldkern::mm::ptdump::ptdump(&s, &mut dump).map_err(|x| e(&x))?;
    let tree = dump.lines().map(String::from).collect();
    let write = spec.flags.contains(foldkern::gup::GupFlags::WRITE);
    let mut want = Vec::new();
    for i in 0..spec.pages as u64 {
        match s.lookup(spec.start + i * PAGE_SIZE).map_err(|x| e(&x))? {
            Some(t) if t.write || !write => want.push(t.pa),
            _ => break,
        }
    }
    // The decoy's frame as the reference translates it, as the `fates:` line names it.
    let decoy = spec
        .decoy
        .and_then(|d| s.lookup(d).ok().flatten())
        .map(|t| foldkern::gup::Page::of(t.pa));
    Ok(Scene {
        plat,
        map,
        stack,
        space: s,
        tree,
        want,
        decoy,
    })
}

/// What the pictures keep of one variant's walk of a [`Scene`], recorded
/// step by step while the walk runs (`study::run` feeds it).
pub struct Recorder {
    /// The walk's variant.
    v: foldkern::gup::Variant,
    /// Whether the walk's steps are kept: as the kernel, which prints no
    /// trace past [`TRACED_PAGES`].
    traced: bool,
    steps: Vec<foldkern::gup::Step>,
}

impl Recorder {
    /// A recorder of variant `v`'s walk of scenario `spec`.
    pub fn new(spec: &Spec, v: foldkern::gup::Variant) -> Self {
        Recorder {
            v,
            traced: spec.pages <= TRACED_PAGES,
            steps: Vec::new(),
        }
    }

    /// Keep the walk's step `st`.
    pub fn record(&mut self, st: &foldkern::gup::Step) {
        if self.traced {
            self.steps.push(*st);
        }
    }

    /// The variant's part of the output, as the kernel prints it, for the
    /// walk of `sc` (scenario `spec`) that ended with outcome `o`, pages
    /// `got` and the result line `result` ([`Scene::result`]).
    pub fn finish(
        self,
        sc: &Scene,
        spec: &Spec,
        o: &foldkern::gup::GupOutcome,
        got: &[foldkern::gup::Page],
        result: String,
    ) -> Variant {
        use foldkern::gup::scenario::{describe, FatesLine, TraceLine};
        use foldkern::mm::WalkError;
        let (v, steps) = (self.v, self.steps);
        let mut lines: Vec<String> = steps.iter().map(|st| TraceLine(st).to_string()).collect();
        if let Some(viol) = o.first_violation {
            lines.push(format!("invariant violated: {viol}"));
        }
        lines.push(result.clone());
        let fates = FatesLine {
            pinned: o.pinned,
            pages: got,
            lrag: &sc.want,
            decoy: sc.decoy,
        }
        .to_string();
        lines.push(fates.clone());
        let marked = o
            .first_violation
            .and_then(|viol| steps.iter().rposition(|st| st.ptr.addr() == viol.got.addr()))
            .into_iter()
            .collect();
        let off_copy = match o.error {
            Some(WalkError::OffObject { ptr, .. }) if ptr.is_copy() => Some(ptr.addr().as_u64()),
            _ => None,
        };
        Variant {
            name: v.name().to_string(),
            heading: format!("[{}] {}", v.name(), describe(v, spec.ty)),
            lines,
            steps: steps.iter().map(step).collect(),
            marked,
            off_copy,
            result,
            fates,
        }
    }
}

/// Where `ptr` points, in the walk's own words: what its trace line says in
/// parentheses ("stack copy of a region-third entry", "Linux's frame: the
/// p4d copy, a region-third entry", "segment table 0x...\[0x7ff\]").
pub fn described(ptr: foldkern::mm::EntryPtr) -> String {
    let d = foldkern::gup::policy::Named(ptr).to_string();
    d.find(" (").map_or(d.clone(), |i| d[i + 2..d.len() - 1].to_string())
}

/// A step of the walk as the pictures draw it.
fn step(s: &foldkern::gup::Step) -> Step {
    let place = match s.ptr.object() {
        foldkern::mm::Object::Table(l) => Place::Table {
            kind: l.hw_name().to_string(),
            base: s.ptr.base().as_u64(),
            index: s.ptr.index() as u64,
        },
        // A copy: the walk's own description of it.
        _ => Place::Copy(described(s.ptr)),
    };
    Step {
        level: s.level.name().to_string(),
        range: format!("{:#015x} -> {:#015x}", s.addr, s.next),
        place,
        at: s.ptr.addr().as_u64(),
    }
}

/// A box of the picture.
#[derive(Clone, Debug, PartialEq)]
pub struct Boxed {
    /// Left, top, width, height.
    pub rect: (f64, f64, f64, f64),
    /// Fill colour (`#rrggbb`).
    pub fill: &'static str,
    /// Its title ("segment table", "walker's stack frame", ...).
    pub title: String,
    /// One line per entry or copy it shows.
    pub rows: Vec<String>,
    /// The rows drawn on [`MARK_FILL`]: the guard word a walk stepped onto,
    /// a page whose data goes to a wrong frame.
    pub marked: Vec<usize>,
    /// Where its rows' text starts, from its left edge: after the widest
    /// step label drawn in it.
    pub indent: f64,
}

/// One variant's picture laid out: the boxes, and for each step of the walk
/// the point of the entry it read.
#[derive(Clone, Debug, PartialEq)]
pub struct Layout {
    /// Tables, the stack frame (with the guard word if the walk stepped on
    /// it), and the pages box.
    pub boxes: Vec<Boxed>,
    /// Where step `k`'s entry is drawn: the left edge of its row.
    pub anchors: Vec<(f64, f64)>,
    /// The y of the lane above the boxes that connector `k` runs along.
    pub lanes: Vec<f64>,
    /// Each anchor's label: the steps read there (`labels`).
    pub labels: Vec<((f64, f64), String)>,
    /// The step off a copy: from the last copy read to the word after it.
    pub step_off: Option<((f64, f64), (f64, f64))>,
}

/// Fill of a table box, of the stack frame, and of a flagged entry.
pub const TABLE_FILL: &str = "#dbe9f6";
/// Fill of the walker's stack frame.
pub const STACK_FILL: &str = "#fdebd0";
/// Fill of a box the kernel flagged (walked off, stale entry).
pub const MARK_FILL: &str = "#f5b7b1";

const KINDS: [&str; 5] = ["region-first", "region-second", "region-third", "segment", "page"];

/// `s` escaped for HTML and SVG text.
pub(crate) fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// `s` with the numbers that depend on the build shown as `0x…`: physical
/// addresses (5 to 12 hexadecimal digits) and, unless `keep_16` (ptdump's
/// virtual ranges), 16-digit entry values. The kernel trace's 13-digit
/// virtual addresses and short indices stay.
pub fn masked(s: &str, keep_16: bool) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(i) = rest.find("0x") {
        out.push_str(&rest[..i]);
        let digits = rest[i + 2..].chars().take_while(|c| c.is_ascii_hexdigit()).count();
        if (5..=12).contains(&digits) || (digits == 16 && !keep_16) {
            out.push_str("0x…");
        } else {
            out.push_str(&rest[i..i + 2 + digits]);
        }
        rest = &rest[i + 2 + digits..];
    }
    out.push_str(rest);
    out
}

/// Lanes above the boxes for the connectors, 4 px apart, reused from the
/// first past this many.
const LANES: usize = 12;

/// Width of the label of the steps drawn at one row ("1,2,3").
fn label_width(label: &str) -> f64 {
    7.0 * label.len() as f64 + 8.0
}

/// Each step's number, joined per anchor: steps that read the same entry
/// (a folded level's re-read) share one label.
fn labels(anchors: &[(f64, f64)]) -> Vec<((f64, f64), String)> {
    let mut out: Vec<((f64, f64), String)> = Vec::new();
    for (k, &a) in anchors.iter().enumerate() {
        match out.iter_mut().find(|(p, _)| *p == a) {
            Some((_, l)) => l.push_str(&format!(",{}", k + 1)),
            None => out.push((a, (k + 1).to_string())),
        }
    }
    out
}

/// The rows of the pages box, from a `fates:` line: each page's fate (or,
/// past [`foldkern::gup::scenario::FATE_PAGES`], how many pages have each),
/// and whether the data goes to a wrong frame.
fn fate_rows(fates: &str, pinned: &[&str]) -> Vec<(String, bool)> {
    use foldkern::gup::scenario::Fate;
    let say = |f: Fate| match f {
        Fate::Buffer => "its own frame, as LRAG gives",
        Fate::Decoy => "the decoy's frame, not LRAG's",
        Fate::Elsewhere => "another frame, not LRAG's",
        Fate::SlowPath => "not taken: the slow path's",
    };
    let body = fates.strip_prefix("fates:").unwrap_or("");
    body.split(';')
        .filter_map(|part| {
            let (what, name) = part.trim().rsplit_once(": ")?;
            let fate = Fate::from_name(name)?;
            Some(match what.strip_prefix("page ") {
                Some(i) => {
                    // The frame taken, where the result line shows it.
                    let frame = i.parse::<usize>().ok().and_then(|i| pinned.get(i));
                    let frame = frame.map_or(String::new(), |f| format!("{f}, "));
                    (format!("page {i}: {frame}{}", say(fate)), fate.wrong())
                }
                None => (format!("{what} page(s): {}", say(fate)), fate.wrong()),
            })
        })
        .filter(|(row, _)| !row.starts_with("0 "))
        .collect()
}

/// One variant's picture laid out: per table the walk read a box (its kind
/// and the indices it used; a column per kind, top level first), one box for
/// the stack frame (the copies used, in address order, and the guard word a
/// walk stepped onto), and below it the pages box (each page's fate against
/// LRAG). The boxes sit below a lane per connector, so no line crosses a box.
pub fn layout(v: &Variant) -> Layout {
    // Tables by (kind, origin) in the order first read, with their entries;
    // copies by address.
    let mut tables: Vec<((usize, u64), Vec<u64>)> = Vec::new();
    let mut copies: Vec<(u64, String)> = Vec::new();
    for s in &v.steps {
        match &s.place {
            Place::Table { kind, base, index } => {
                let key = (KINDS.iter().position(|k| k == kind).unwrap_or(4), *base);
                let i = tables.iter().position(|t| t.0 == key).unwrap_or_else(|| {
                    tables.push((key, Vec::new()));
                    tables.len() - 1
                });
                if !tables[i].1.contains(index) {
                    tables[i].1.push(*index);
                }
            }
            Place::Copy(what) => {
                if !copies.iter().any(|c| c.0 == s.at) {
                    copies.push((s.at, what.clone()));
                }
            }
        }
    }
    // A connector per step that moves to another entry, each on a lane.
    let moves = v
        .steps
        .windows(2)
        .filter(|w| w[0].place != w[1].place || w[0].at != w[1].at);
    let lanes_used = moves.count().clamp(1, LANES);
    let top = 60.0 + 4.0 * lanes_used as f64;
    let mut used: Vec<usize> = tables.iter().map(|t| t.0 .0).collect();
    used.sort_unstable();
    used.dedup();
    let mut boxes = Vec::new();
    let mut next_y: BTreeMap<usize, f64> = BTreeMap::new();
    for ((kind, _), entries) in &tables {
        let col = used.iter().position(|c| c == kind).unwrap();
        let y = *next_y.get(&col).unwrap_or(&top);
        let h = 26.0 + 18.0 * entries.len() as f64;
        boxes.push(Boxed {
            rect: (20.0 + 190.0 * col as f64, y, 170.0, h),
            fill: TABLE_FILL,
            title: format!("{} table", KINDS[*kind]),
            rows: entries.iter().map(|i| format!("[{i:#x}]")).collect(),
            marked: Vec::new(),
            indent: 0.0,
        });
        next_y.insert(col, y + h + 20.0);
    }
    // The stack frame's words in address order, each with its offset from
    // the first, so the adjacency the bug depends on shows: the word a step
    // off a copy reads is the row right after it.
    if let Some(off) = v.off_copy {
        // In Linux's frame that word is no guard: name what Linux keeps there.
        let linux = v.name == foldkern::gup::Variant::PreFixLinuxFrame.name();
        let what = match linux {
            true => format!(
                "guard word (Linux: {}): the step off the copy reads it",
                foldkern::gup::policy::LinuxFrame::AFTER.1
            ),
            false => String::from("guard word: the step off the copy reads it"),
        };
        copies.push((off, what));
    }
    copies.sort_by_key(|c| c.0);
    let first = copies.first().map_or(0, |c| c.0);
    let stack = boxes.len();
    let stack_x = 20.0 + 190.0 * used.len() as f64;
    let mut rows: Vec<String> = copies.iter().map(|c| format!("+{:<3} {}", c.0 - first, c.1)).collect();
    if rows.is_empty() {
        rows.push(String::from("no copy read as an entry"));
    }
    let title = String::from("walker's stack frame (8-byte words, offsets in bytes)");
    let stack_h = 26.0 + 18.0 * copies.len().max(1) as f64;
    let guard = v.off_copy.and_then(|off| copies.iter().position(|c| c.0 == off));
    boxes.push(Boxed {
        rect: (stack_x, top, 0.0, stack_h),
        fill: STACK_FILL,
        title,
        rows,
        marked: guard.into_iter().collect(),
        indent: 0.0,
    });
    // The frames the result line shows ("pinned 2 page(s): 0x400000 0x403000 -> ...").
    let pinned: Vec<&str> = v
        .result
        .split_once("page(s):")
        .map(|(_, r)| r.split_whitespace().take_while(|w| w.starts_with("0x")).collect())
        .unwrap_or_default();
    let pages: Vec<(String, bool)> = fate_rows(&v.fates, &pinned);
    boxes.push(Boxed {
        rect: (
            stack_x,
            top + stack_h + 20.0,
            0.0,
            26.0 + 18.0 * pages.len().max(1) as f64,
        ),
        fill: STACK_FILL,
        title: String::from("pages: where each page's data goes"),
        rows: pages
            .iter()
            .map(|(r, wrong)| if *wrong { format!("{r} (WRONG)") } else { r.clone() })
            .collect(),
        marked: (0..pages.len()).filter(|&i| pages[i].1).collect(),
        indent: 0.0,
    });
    let at_row = |b: &Boxed, row: usize| (b.rect.0, b.rect.1 + 34.0 + 18.0 * row as f64);
    let anchors: Vec<(f64, f64)> = v
        .steps
        .iter()
        .map(|s| match &s.place {
            Place::Table { kind, base, index } => {
                let key = (KINDS.iter().position(|k| k == kind).unwrap_or(4), *base);
                let t = tables.iter().position(|t| t.0 == key).unwrap();
                at_row(&boxes[t], tables[t].1.iter().position(|i| i == index).unwrap())
            }
            Place::Copy(_) => at_row(&boxes[stack], copies.iter().position(|c| c.0 == s.at).unwrap()),
        })
        .collect();
    let labels = labels(&anchors);
    // Each box's rows start after the widest label drawn in it.
    for b in &mut boxes {
        let (x, y, _, h) = b.rect;
        let inside = labels.iter().filter(|(a, _)| a.0 == x && a.1 > y && a.1 < y + h);
        b.indent = inside.map(|(_, l)| label_width(l)).fold(16.0, f64::max) + 8.0;
    }
    // The stack frame and pages boxes as wide as their longest row
    // (monospace, about 7.3 px a character) after the step labels.
    let widest = boxes[stack].indent - 8.0;
    for b in &mut boxes[stack..] {
        // Room for a masked number's full 14 characters, so the width is the
        // same whichever build's addresses a row shows.
        let room = |r: &String| {
            let m = masked(r, false);
            m.chars().count() + 11 * m.matches("0x…").count()
        };
        let chars = b.rows.iter().chain([&b.title]).map(room).max().unwrap_or(0);
        b.rect.2 = (chars as f64 * 7.3 + widest + 30.0).max(230.0);
    }
    let lanes = (0..anchors.len().saturating_sub(1))
        .map(|k| top - 8.0 - 4.0 * (k % lanes_used) as f64)
        .collect();
    let last_copy = v.steps.iter().rposition(|s| matches!(s.place, Place::Copy(_)));
    let step_off = guard
        .zip(last_copy)
        .map(|(row, k)| (anchors[k], at_row(&boxes[stack], row)));
    Layout {
        boxes,
        anchors,
        lanes,
        labels,
        step_off,
    }
}

/// The path of connector `k` from anchor `a` to `b` (left edges of rows):
/// left into the gap beside `a`'s box, along the gap to `b`'s row if the two
/// boxes share a column, else up to the connector's lane above the boxes,
/// across, and down the gap beside `b`'s box; then right to `b`. The gaps
/// and the lanes hold no box, so no line crosses a title or a row.
fn route(k: usize, (ax, ay): (f64, f64), (bx, by): (f64, f64), lane: f64) -> String {
    let dx = 4.0 + 3.0 * (k % 5) as f64;
    if ax == bx {
        format!("M {ax:.0} {ay:.0} H {:.0} V {by:.0} H {bx:.0}", ax - dx)
    } else {
        format!(
            "M {ax:.0} {ay:.0} H {:.0} V {lane:.0} H {:.0} V {by:.0} H {bx:.0}",
            ax - dx,
            bx - dx
        )
    }
}

/// The SVG of one variant; with `mask`, the numbers that depend on the build
/// shown as `0x…` ([`masked`]).
pub fn variant_svg(v: &Variant, mask: bool) -> String {
    let m = |s: &str| if mask { masked(s, false) } else { s.to_string() };
    let Layout {
        boxes: bx,
        anchors,
        lanes,
        labels,
        step_off,
    } = layout(v);
    // Wide enough for the boxes, the heading (14 px monospace, about 8.5 px
    // a character) and the result line (12 px, about 7.3), masked or not.
    let text_w = (20.0 + 8.5 * v.heading.chars().count() as f64).max(20.0 + 7.3 * v.result.chars().count() as f64);
    let w = bx.iter().map(|b| b.rect.0 + b.rect.2).fold(text_w, f64::max) + 20.0;
    let h = bx.iter().map(|b| b.rect.1 + b.rect.3).fold(0.0, f64::max) + 40.0;
    let mut o = String::new();
    let _ = writeln!(
        o,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w:.0}" height="{h:.0}" font-family="monospace" font-size="12">"#
    );
    let _ = writeln!(
        o,
        r##"<defs><marker id="arrow" viewBox="0 0 8 8" refX="7" refY="4" markerWidth="6" markerHeight="6" orient="auto"><path d="M 0 0 L 8 4 L 0 8 z" fill="context-stroke"/></marker></defs>"##
    );
    let _ = writeln!(o, r#"<rect width="{w:.0}" height="{h:.0}" fill="white"/>"#);
    let _ = writeln!(o, r#"<text x="20" y="24" font-size="14">{}</text>"#, esc(&v.heading));
    let _ = writeln!(o, r#"<text x="20" y="44">{}</text>"#, esc(&m(&v.result)));
    for b in &bx {
        let (x, y, bw, bh) = b.rect;
        let _ = writeln!(
            o,
            r#"<rect class="box" x="{x:.0}" y="{y:.0}" width="{bw:.0}" height="{bh:.0}" fill="{}" stroke="black"/>"#,
            b.fill
        );
        let _ = writeln!(
            o,
            r#"<text x="{:.0}" y="{:.0}">{}</text>"#,
            x + 6.0,
            y + 16.0,
            esc(&b.title)
        );
        let tx = x + b.indent;
        for (i, r) in b.rows.iter().enumerate() {
            if b.marked.contains(&i) {
                let _ = writeln!(
                    o,
                    r#"<rect x="{:.0}" y="{:.0}" width="{:.0}" height="18" fill="{MARK_FILL}"/>"#,
                    x + 1.0,
                    y + 25.0 + 18.0 * i as f64,
                    bw - 2.0
                );
            }
            let _ = writeln!(
                o,
                r#"<text x="{tx:.0}" y="{:.0}">{}</text>"#,
                y + 38.0 + 18.0 * i as f64,
                esc(&m(r))
            );
        }
    }
    let colour = |k: usize| if v.marked.contains(&k) { "#c0392b" } else { "#34495e" };
    // The connectors first, then the step labels over them, so no line hides
    // a step's number.
    for (k, pair) in anchors.windows(2).enumerate() {
        if pair[0] == pair[1] {
            continue; // a re-read of the same entry: the label says it
        }
        let _ = writeln!(
            o,
            r#"<path d="{}" fill="none" stroke="{}" stroke-width="1.5" marker-end="url(#arrow)"/>"#,
            route(k, pair[0], pair[1], lanes[k]),
            colour(k + 1)
        );
    }
    // The step off a copy: from that copy down the gap to the guard word
    // after it.
    if let Some((from, to)) = step_off {
        let _ = writeln!(
            o,
            r##"<path d="{}" fill="none" stroke="#c0392b" stroke-width="2" stroke-dasharray="4 3" marker-end="url(#arrow)"/>"##,
            route(anchors.len(), from, to, 0.0)
        );
    }
    for ((x, y), label) in &labels {
        // Red if any step there is one the kernel flagged.
        let steps = label.split(',').filter_map(|n| n.parse::<usize>().ok());
        let fill = steps.map(|n| colour(n - 1)).max().unwrap_or("#34495e");
        let lw = label_width(label);
        let _ = writeln!(
            o,
            r#"<rect x="{:.0}" y="{:.0}" width="{lw:.0}" height="14" rx="7" fill="{fill}"/><text x="{:.0}" y="{:.0}" fill="white" font-size="10">{label}</text>"#,
            x + 3.0,
            y - 7.0,
            x + 7.0,
            y + 3.5
        );
    }
    o.push_str("</svg>\n");
    o
}

/// The SVG of the address space: the ptdump block as a tree, one box a line,
/// indented by level; frames and origins, which vary, left out.
pub fn tree_svg(s: &Scenario) -> String {
    let mut o = String::new();
    let lines: Vec<&String> = s.tree.iter().skip(1).collect();
    let h = 60.0 + 30.0 * lines.len() as f64;
    let _ = writeln!(
        o,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="760" height="{h:.0}" font-family="monospace" font-size="12">"#
    );
    let _ = writeln!(o, r#"<rect width="760" height="{h:.0}" fill="white"/>"#);
    let head = s
        .tree
        .first()
        .map(|l| {
            l.split(": ")
                .nth(1)
                .unwrap_or("")
                .split(',')
                .next()
                .unwrap_or("")
                .to_string()
        })
        .unwrap_or_default();
    let _ = writeln!(
        o,
        r#"<text x="20" y="24" font-size="14">address space: {}</text>"#,
        esc(&masked(&head, true))
    );
    for (i, l) in lines.iter().enumerate() {
        let indent = (l.len() - l.trim_start().len()) as f64;
        let t = l.trim();
        let mut words = t.split_whitespace();
        let kind = words.next().unwrap_or("");
        let index = words.next().unwrap_or("");
        let range = words.next().unwrap_or("");
        let x = 20.0 + 12.0 * indent;
        let y = 40.0 + 30.0 * i as f64;
        let _ = writeln!(
            o,
            r#"<rect class="box" x="{x:.0}" y="{y:.0}" width="440" height="24" fill="{TABLE_FILL}" stroke="black"/>"#
        );
        let _ = writeln!(
            o,
            r#"<text x="{:.0}" y="{:.0}">{} {} {}</text>"#,
            x + 6.0,
            y + 16.0,
            esc(kind),
            esc(index),
            esc(range)
        );
    }
    o.push_str("</svg>\n");
    o
}

/// File-name stem of a variant ("pre-fix, Linux's frame" → "pre-fix-linux-frame").
pub fn stem(v: &Variant) -> String {
    let mut s = String::new();
    for c in v.name.chars() {
        match c {
            'a'..='z' | '0'..='9' | '_' => s.push(c),
            'A'..='Z' => s.push(c.to_ascii_lowercase()),
            _ if !s.ends_with('-') => s.push('-'),
            _ => {}
        }
    }
    s.replace("-s-", "-").trim_matches('-').to_string()
}

/// Every file for `scenario` under the name `prefix`: (file name, contents):
/// `<prefix>-<variant>.svg`, `<prefix>-tree.svg` and `<prefix>.html`.
/// The files of scenario `title` (its `gup=` line): an SVG per variant, one
/// of the address space, and an HTML page of each trace beside its picture,
/// trace lines numbered as the picture's steps. With `mask`, addresses that
/// vary between the kernel and the host are masked in the HTML (to compare
/// the two); without, a reader sees the real values.
pub fn files(prefix: &str, title: &str, sc: &Scenario, mask: bool) -> Vec<(String, String)> {
    let m = |s: &str, keep_16: bool| if mask { masked(s, keep_16) } else { s.to_string() };
    let mut out = Vec::new();
    let mut html = String::new();
    let _ = writeln!(
        html,
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{}</title>",
        esc(title)
    );
    html.push_str("<style>body{font-family:sans-serif} pre{font-size:11px;white-space:pre-wrap;overflow-wrap:anywhere;min-width:0;flex:1 1 50%} .v{display:flex;gap:1em;align-items:flex-start} img{max-width:50%}</style></head><body>\n");
    let _ = writeln!(
        html,
        "<h1>{}</h1>\n<div class=\"v\"><pre>{}</pre><img src=\"{prefix}-tree.svg\" alt=\"address space\"></div>",
        esc(title),
        esc(&sc
            .tree
            .iter()
            .enumerate()
            .map(|(i, l)| m(l, i > 0)) // the ASCE line's value varies too
            .collect::<Vec<_>>()
            .join("\n"))
    );
    for v in &sc.variants {
        let name = format!("{prefix}-{}.svg", stem(v));
        // Step lines numbered as the picture's labels.
        let mut k = 0;
        let lines: Vec<String> = v
            .lines
            .iter()
            .map(|l| {
                let step = ["pgd ", "p4d ", "pud ", "pmd ", "pte "]
                    .iter()
                    .any(|p| l.starts_with(p));
                k += step as usize;
                if step {
                    format!("{k:>2} {l}")
                } else {
                    format!("   {l}")
                }
            })
            .collect();
        let _ = writeln!(
            html,
            "<h2>{}</h2>\n<div class=\"v\"><pre>{}</pre><img src=\"{name}\" alt=\"{}\"></div>",
            esc(&v.heading),
            esc(&m(&lines.join("\n"), false)),
            esc(&v.name)
        );
        out.push((name, variant_svg(v, mask)));
    }
    html.push_str("</body></html>\n");
    out.push((format!("{prefix}-tree.svg"), tree_svg(sc)));
    out.push((format!("{prefix}.html"), html));
    out
}
