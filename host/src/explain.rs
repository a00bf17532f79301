//! A step-by-step explainer of a scenario (host only): one static HTML page
//! that works from `file://`, built from the walk's own steps (the one
//! gup_fast walk of every variant, run on the host through the `Platform`
//! seam, its explaining hooks recording each entry read). For each step it
//! shows the C line of the Linux version being executed, how the pointer was
//! made, the pointer, the value read, and the memory around the pointer as
//! 8-byte words (a table's neighbouring entries, or the walker's stack frame
//! with its copies), the word read highlighted; at the end each page's pinned
//! frame beside the reference's. `./qemu-run.sh pictures gup=...` writes it;
//! `scripts/explainer-test.py` drives it in headless Chromium.
use crate::pictures::{described, esc, Scene, Spec};
use foldkern::gup::Variant;
use foldkern::mm::{Level, Object, PhysAddr, Platform};
use std::fmt::Write;
use std::format;
use std::string::{String, ToString};
use std::vec::Vec;

/// One 8-byte word shown around the pointer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Word {
    /// Its address.
    pub addr: u64,
    /// What it is (`[0x200]`, "the pud copy", "guard word", ...).
    pub label: String,
    /// Its value when the walk read the step's entry.
    pub val: u64,
    /// Whether it is the word the step read.
    pub hit: bool,
}

/// One entry the walk read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Step {
    /// Linux level of the loop (pgd ... pte).
    pub level: &'static str,
    /// The address and the loop's `next`.
    pub addr: u64,
    /// `pXd_addr_end` of the step.
    pub next: u64,
    /// The C line that made the pointer.
    pub how: String,
    /// The C line that read the entry.
    pub read: String,
    /// The C line that computed `next`.
    pub end: String,
    /// The pointer.
    pub ptr: u64,
    /// Where it points, as the walk names it.
    pub place: String,
    /// The value read, and what it is.
    pub val: u64,
    /// "region-third entry", "invalid pte", ...
    pub kind: &'static str,
    /// The memory around the pointer.
    pub words: Vec<Word>,
    /// This level's pointer before the step that made this one (after `++`).
    pub before: Option<u64>,
}

/// One variant's walk.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Walk {
    /// Short name.
    pub name: &'static str,
    /// Which Linux it is.
    pub version: &'static str,
    /// Its steps.
    pub steps: Vec<Step>,
    /// The result line, as the kernel prints it.
    pub result: String,
    /// Per page: its address, the frame pinned (if any), the reference's.
    pub pages: Vec<(u64, Option<u64>, Option<u64>)>,
}

/// Which Linux a variant stands for.
fn version(v: Variant) -> &'static str {
    match v {
        Variant::PreFix => "v5.8 (copies between guard words)",
        Variant::PreFixLinuxFrame => "v5.8, copies as Linux 6.1 with the fix reverted compiles them",
        Variant::AddrEndFolded => "RFC v2 (7 Sep 2020)",
        Variant::OffsetLockless => "v5.9 (the merged fix)",
        Variant::NextEntry => "the thread's pud_next_entry",
    }
}

/// The C lines of a step: how the pointer was made (`first`: the loop's
/// first entry, else a step of the loop), how the entry is read, how `next`
/// is computed.
fn c_lines(v: Variant, level: Level, first: bool) -> (String, String, String) {
    let l = level.name();
    let parent = level.above().map_or("", |p| p.name());
    let how = match (level, first, v) {
        (Level::Pgd, true, _) => "pgdp = pgd_offset(current->mm, addr);".to_string(),
        (Level::Pte, true, _) => "ptep = pte_offset_map(&pmd, addr);".to_string(),
        (_, true, Variant::OffsetLockless) => format!("{l}p = {l}_offset_lockless({parent}p, {parent}, addr);"),
        (_, true, _) => format!("{l}p = {l}_offset(&{parent}, addr);"),
        (Level::P4d | Level::Pud | Level::Pmd, false, Variant::NextEntry) => {
            format!("{l}p = {l}_next_entry(&{parent}, {l}p, next);")
        }
        (_, false, _) => format!("}} while ({l}p++, addr = next, addr != end);"),
    };
    let read = match level {
        Level::Pte => "pte_t pte = gup_get_pte(ptep);".to_string(),
        _ => format!("{l}_t {l} = READ_ONCE(*{l}p);"),
    };
    let end = match (level, v) {
        (Level::Pte, _) => "(the PTE loop: one page per entry)".to_string(),
        (_, Variant::AddrEndFolded) => format!("next = {l}_addr_end_folded({l}, addr, end);"),
        _ => format!("next = {l}_addr_end(addr, end);"),
    };
    (how, read, end)
}

/// The words around `ptr` (two before, three after), labelled.
fn words(sc: &Scene, ptr: foldkern::mm::EntryPtr) -> Vec<Word> {
    let at = ptr.addr().as_u64();
    (-2i64..=3)
        .filter_map(|k| {
            let p = ptr.add(k);
            let addr = p.addr().as_u64();
            // Only words of memory (a table's neighbours may lie outside it).
            if addr >= sc.plat.mem_end().as_u64() {
                return None;
            }
            let val = sc.plat.read_u64(PhysAddr::new(addr));
            let label = match p.object() {
                Object::Table(_) if p.in_bounds() => format!("[{:#x}]", p.index()),
                Object::Table(_) => "outside the table".to_string(),
                Object::CopyRow(_) => described(p),
                // Guarded copies, named by the loop that wrote each and their
                // offset in the walker's frame, as Linux's frame names its own.
                Object::Copy(table) => {
                    let off = addr.wrapping_sub(sc.stack.base().as_u64());
                    let l = sc.stack.slot_level(PhysAddr::new(addr));
                    if sc.stack.slot(l).as_u64() == addr {
                        format!("frame +{off}: the {} copy, a {} entry", l.name(), table.hw_name())
                    } else {
                        format!("frame +{off}: guard word")
                    }
                }
            };
            Some(Word {
                addr,
                label,
                val,
                hit: addr == at,
            })
        })
        .collect()
}

/// What the explainer keeps of one variant's walk, recorded step by step
/// while the walk runs (the words around each pointer are read then: later
/// variants overwrite the walker's frame). `study::run` feeds it
/// from the same walk that draws the pictures.
pub struct Recorder<'s> {
    sc: &'s Scene,
    v: Variant,
    steps: Vec<Step>,
    /// The level of the last step.
    last: Option<Level>,
    /// Each level's pointer at its last step.
    pointers: [Option<u64>; 5],
}

impl<'s> Recorder<'s> {
    /// Most steps kept.
    const STEPS: usize = 4096;
    /// Most pages shown in the final table.
    const PAGES: usize = 4096;

    /// A recorder of variant `v`'s walk of `sc`.
    pub fn new(sc: &'s Scene, v: Variant) -> Self {
        Recorder {
            sc,
            v,
            steps: Vec::new(),
            last: None,
            pointers: [None; 5],
        }
    }

    /// Keep the walk's step `st`.
    pub fn record(&mut self, st: &foldkern::gup::Step) {
        if self.steps.len() >= Self::STEPS {
            return;
        }
        // The loop's first entry when the walk came down from the level
        // above (or starts), else a step of the same loop.
        let first = self.last.is_none_or(|l| l < st.level);
        let (how, read, end) = c_lines(self.v, st.level, first);
        let slot = &mut self.pointers[st.level as usize];
        let before = if first { None } else { *slot };
        *slot = Some(st.ptr.addr().as_u64());
        self.last = Some(st.level);
        self.steps.push(Step {
            level: st.level.name(),
            addr: st.addr,
            next: st.next,
            how,
            read,
            end,
            ptr: st.ptr.addr().as_u64(),
            place: described(st.ptr),
            val: st.val,
            kind: st.kind(),
            words: words(self.sc, st.ptr),
            before,
        });
    }

    /// The walk, ended with outcome `o`, pages `got` and the result line
    /// `result` of scenario `spec`.
    pub fn finish(
        self,
        spec: &Spec,
        o: &foldkern::gup::GupOutcome,
        got: &[foldkern::gup::Page],
        result: String,
    ) -> Walk {
        let sc = self.sc;
        let pages = (0..spec.pages.min(Self::PAGES))
            .map(|i| {
                let va = spec.start.wrapping_add(i as u64 * foldkern::mm::PAGE_SIZE);
                let pinned = (i < o.pinned).then(|| got[i].phys().as_u64());
                (va, pinned, sc.reference(va).map(|p| p.as_u64()))
            })
            .collect();
        Walk {
            name: self.v.name(),
            version: version(self.v),
            steps: self.steps,
            result,
            pages,
        }
    }
}

fn js(s: &str) -> String {
    let mut o = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            '<' => o.push_str("\\u003c"),
            c if (c as u32) < 0x20 => {
                let _ = write!(o, "\\u{:04x}", c as u32);
            }
            c => o.push(c),
        }
    }
    o.push('"');
    o
}

fn hex(v: u64) -> String {
    js(&format!("{v:#x}"))
}

/// The walks as the page's data (`window.FK`).
pub fn data_js(title: &str, walks: &[Walk]) -> String {
    let mut o = format!("window.FK = {{\"title\": {}, \"variants\": [", js(title));
    for (k, w) in walks.iter().enumerate() {
        if k > 0 {
            o.push(',');
        }
        let _ = write!(
            o,
            "\n{{\"name\": {}, \"version\": {}, \"result\": {}, \"steps\": [",
            js(w.name),
            js(w.version),
            js(&w.result)
        );
        for (i, s) in w.steps.iter().enumerate() {
            if i > 0 {
                o.push(',');
            }
            let words: Vec<String> = s
                .words
                .iter()
                .map(|x| {
                    format!(
                        "{{\"addr\": {}, \"label\": {}, \"val\": {}, \"hit\": {}}}",
                        hex(x.addr),
                        js(&x.label),
                        hex(x.val),
                        x.hit
                    )
                })
                .collect();
            let _ = write!(
                o,
                "\n {{\"level\": {}, \"addr\": {}, \"next\": {}, \"how\": {}, \"read\": {}, \"end\": {}, \"ptr\": {}, \"place\": {}, \"val\": {}, \"kind\": {}, \"before\": {}, \"words\": [{}]}}",
                js(s.level),
                hex(s.addr),
                hex(s.next),
                js(&s.how),
                js(&s.read),
                js(&s.end),
                hex(s.ptr),
                js(&s.place),
                hex(s.val),
                js(s.kind),
                s.before.map_or("null".to_string(), hex),
                words.join(", ")
            );
        }
        o.push_str("], \"pages\": [");
        let pages: Vec<String> = w
            .pages
            .iter()
            .map(|(va, p, r)| {
                format!(
                    "[{}, {}, {}]",
                    hex(*va),
                    p.map_or("null".to_string(), hex),
                    r.map_or("null".to_string(), hex)
                )
            })
            .collect();
        o.push_str(&pages.join(", "));
        o.push_str("]}");
    }
    o.push_str("]};\n");
    o
}

/// The explainer page of scenario `title` (the `gup=` line).
pub fn html(title: &str, walks: &[Walk]) -> String {
    format!(
        r#"<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>foldkern explainer: {title_html}</title>
<style>
body {{ font-family: sans-serif; margin: 1em; min-width: 980px; }}
h1 {{ font-size: 1.2em; }}
.mono, code, td {{ font-family: monospace; }}
.row {{ display: flex; gap: 1em; flex-wrap: wrap; }}
.box {{ border: 1px solid #888; border-radius: 4px; padding: 0.5em; min-width: 0; flex: 1 1 440px; overflow-wrap: anywhere; }}
.box h2 {{ font-size: 1em; margin: 0 0 0.4em 0; }}
button {{ font-size: 1em; margin-right: 0.3em; }}
button.on {{ background: #cde; }}
table {{ border-collapse: collapse; width: 100%; table-layout: fixed; }}
td, th {{ border: 1px solid #ccc; padding: 2px 4px; overflow-wrap: anywhere; text-align: left; }}
tr.hit td {{ background: #fe9; font-weight: bold; }}
tr.bad td {{ background: #fbb; }}
#code div {{ white-space: pre-wrap; }}
#code .now {{ background: #fe9; }}
</style></head>
<body>
<h1>gup_fast, step by step: <span class="mono" id="title"></span></h1>
<div id="variants"></div>
<p><button id="prev">&larr; back</button><button id="next">forward &rarr;</button>
<span id="counter" class="mono"></span> (arrow keys step too)</p>
<div class="row">
 <div class="box" id="codebox"><h2>The C line (<span id="version"></span>)</h2><div id="code" class="mono"></div></div>
 <div class="box" id="ptrbox"><h2>The pointer and what it read</h2>
  <div>level <b id="level" class="mono"></b>, address <span id="addr" class="mono"></span> &rarr; next <span id="nextaddr" class="mono"></span></div>
  <div>pointer <span id="ptr" class="mono"></span><span id="before" class="mono"></span></div>
  <div>points at: <span id="place"></span></div>
  <div>value read: <span id="val" class="mono"></span> (<span id="kind"></span>)</div>
 </div>
</div>
<div class="row">
 <div class="box" id="wordsbox"><h2>Memory around the pointer, 8-byte words (highlighted: the word read)</h2>
  <table id="words"><thead><tr><th style="width:28%">address</th><th style="width:42%">what</th><th style="width:30%">value</th></tr></thead><tbody></tbody></table>
 </div>
 <div class="box" id="pagesbox"><h2>At the end: each page's pinned frame beside the reference's</h2>
  <div id="result" class="mono"></div>
  <table id="pages"><thead><tr><th>page</th><th>pinned</th><th>reference (LRAG)</th></tr></thead><tbody></tbody></table>
 </div>
</div>
<script>
{data}
</script>
<script>
(function () {{
  var v = 0, i = 0;
  var $ = function (id) {{ return document.getElementById(id); }};
  function cell(tr, text) {{ var td = document.createElement('td'); td.textContent = text; tr.appendChild(td); }}
  function render() {{
    var w = FK.variants[v], n = w.steps.length, s = w.steps[i];
    $('title').textContent = FK.title;
    Array.prototype.forEach.call($('variants').children, function (b, k) {{ b.className = k === v ? 'on' : ''; }});
    $('counter').textContent = n ? ('step ' + (i + 1) + ' of ' + n) : 'no steps';
    $('version').textContent = w.version;
    var code = $('code'); code.innerHTML = '';
    if (s) {{
      [s.how, s.read, s.end].forEach(function (line, k) {{
        var d = document.createElement('div'); d.textContent = line; if (k === 1) d.className = 'now'; code.appendChild(d);
      }});
      $('level').textContent = s.level; $('addr').textContent = s.addr; $('nextaddr').textContent = s.next;
      $('ptr').textContent = s.ptr; $('before').textContent = s.before ? ' (before the step: ' + s.before + ')' : '';
      $('place').textContent = s.place; $('val').textContent = s.val; $('kind').textContent = s.kind;
    }}
    var tb = $('words').tBodies[0]; tb.innerHTML = '';
    (s ? s.words : []).forEach(function (x) {{
      var tr = document.createElement('tr'); if (x.hit) tr.className = 'hit';
      cell(tr, x.addr); cell(tr, x.label); cell(tr, x.val); tb.appendChild(tr);
    }});
    $('result').textContent = w.result;
    var pb = $('pages').tBodies[0]; pb.innerHTML = '';
    w.pages.forEach(function (p) {{
      var tr = document.createElement('tr'); if (p[1] !== null && p[1] !== p[2]) tr.className = 'bad';
      cell(tr, p[0]); cell(tr, p[1] === null ? 'not taken (slow path)' : p[1]); cell(tr, p[2] === null ? 'none' : p[2]);
      pb.appendChild(tr);
    }});
  }}
  function go(d) {{ var n = FK.variants[v].steps.length; i = Math.max(0, Math.min(n - 1, i + d)); render(); }}
  FK.variants.forEach(function (w, k) {{
    var b = document.createElement('button'); b.textContent = w.name;
    b.onclick = function () {{ v = k; i = 0; render(); }}; $('variants').appendChild(b);
  }});
  $('prev').onclick = function () {{ go(-1); }}; $('next').onclick = function () {{ go(1); }};
  document.addEventListener('keydown', function (e) {{
    if (e.key === 'ArrowRight') go(1); else if (e.key === 'ArrowLeft') go(-1);
  }});
  render();
}})();
</script>
</body></html>
"#,
        title_html = esc(title),
        data = data_js(title, walks)
    )
}
