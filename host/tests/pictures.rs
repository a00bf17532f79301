//! The pictures in docs/pictures/ rendered by a real SVG renderer (resvg):
//! each image is not blank, and every box the SVG declares is drawn in its
//! colour where it says. (That they are what the walk draws now, and what the
//! kernel's trace of the same scenario draws, is a harness test in
//! tests/kernel.rs, which boots the kernel.)
use resvg::{tiny_skia, usvg};

/// (x, y, width, height, fill) of every `<rect class="box" ...>`.
fn boxes(svg: &str) -> Vec<(f32, f32, f32, f32, [u8; 3])> {
    svg.lines()
        .filter(|l| l.contains(r#"class="box""#))
        .map(|l| {
            let attr = |name: &str| {
                let i = l.find(&format!(" {name}=\"")).unwrap() + name.len() + 3;
                &l[i..i + l[i..].find('"').unwrap()]
            };
            let f = |name| attr(name).parse::<f32>().unwrap();
            let fill = attr("fill").trim_start_matches('#');
            let c = |k: usize| u8::from_str_radix(&fill[k..k + 2], 16).unwrap();
            (f("x"), f("y"), f("width"), f("height"), [c(0), c(2), c(4)])
        })
        .collect()
}

#[test]
fn every_picture_renders_with_its_boxes() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/pictures");
    let mut n = 0;
    for e in std::fs::read_dir(dir).unwrap() {
        let path = e.unwrap().path();
        if path.extension().is_none_or(|x| x != "svg") {
            continue;
        }
        let svg = std::fs::read_to_string(&path).unwrap();
        let tree = usvg::Tree::from_str(&svg, &usvg::Options::default()).unwrap();
        let size = tree.size().to_int_size();
        let mut pix = tiny_skia::Pixmap::new(size.width(), size.height()).unwrap();
        resvg::render(&tree, tiny_skia::Transform::default(), &mut pix.as_mut());
        let at = |x: f32, y: f32| {
            let p = pix.pixel(x as u32, y as u32).unwrap();
            [p.red(), p.green(), p.blue()]
        };
        let ink = pix
            .pixels()
            .iter()
            .filter(|p| (p.red(), p.green(), p.blue()) != (255, 255, 255))
            .count();
        assert!(ink > 1000, "{}: blank ({ink} pixels drawn)", path.display());
        let bx = boxes(&svg);
        assert!(bx.len() >= 3, "{}: {} boxes", path.display(), bx.len());
        for (x, y, w, h, fill) in bx {
            // Most of the box is its fill; labels and arrows cover the rest.
            let (mut inside, mut filled) = (0, 0);
            for py in (y as u32 + 2)..(y + h) as u32 - 1 {
                for px in (x as u32 + 2)..(x + w) as u32 - 1 {
                    inside += 1;
                    filled += u32::from(at(px as f32, py as f32) == fill);
                }
            }
            assert!(
                filled * 2 > inside,
                "{}: box at ({x}, {y}) is {filled} of {inside} pixels its colour",
                path.display()
            );
        }
        if let Some(out) = std::env::var_os("FOLDKERN_PICTURES_PNG") {
            let name = path.with_extension("png");
            pix.save_png(std::path::Path::new(&out).join(name.file_name().unwrap()))
                .unwrap();
        }
        n += 1;
    }
    assert_eq!(n, 6, "the seed scenario's five variants and its address space");
}

/// The horizontal and vertical segments of every arrow (`<path d="M x y H x V y ...">`).
fn segments(svg: &str) -> Vec<((f32, f32), (f32, f32))> {
    let mut out = Vec::new();
    for l in svg
        .lines()
        .filter(|l| l.starts_with("<path d=\"M ") && l.contains("marker-end"))
    {
        let d = &l[9..9 + l[9..].find('"').unwrap()];
        let mut words = d.split(' ').skip(1);
        let mut num = || words.next().unwrap().parse::<f32>().unwrap();
        let (mut x, mut y) = (num(), num());
        let mut words = d.split(' ').skip(3);
        while let (Some(op), Some(v)) = (words.next(), words.next()) {
            let v: f32 = v.parse().unwrap();
            let next = match op {
                "H" => (v, y),
                "V" => (x, v),
                _ => panic!("a curve in an arrow: {d}"),
            };
            out.push(((x, y), next));
            (x, y) = next;
        }
    }
    out
}

/// Every arrow of every variant's picture, for the seed and a scenario of
/// each other ASCE type, runs in the gaps between boxes and the lanes above
/// them: no segment passes through a box (its title or rows), only ends at
/// one's edge.
#[test]
fn no_arrow_crosses_a_box() {
    use foldkern::gup::GupFlags;
    use foldkern::mm::AsceType;
    use foldkern_host::pictures::{one_scenario_per_asce_type, variant_svg, Spec};
    use foldkern_host::study::run;
    let mut scenarios: Vec<Spec> = one_scenario_per_asce_type().map(|(_, _, spec)| spec).to_vec();
    // And a range of 16 pages.
    scenarios.push(Spec {
        ty: AsceType::Region3,
        start: 0x7ff_f000,
        pages: 16,
        flags: GupFlags::empty(),
        ro: false,
        hole: None,
        decoy: None,
    });
    let mut arrows = 0;
    for s in scenarios {
        for v in run(&s).unwrap().scenario.variants {
            let svg = variant_svg(&v, false);
            let segs = segments(&svg);
            arrows += segs.len();
            for (x, y, w, h, _) in boxes(&svg) {
                for &((x1, y1), (x2, y2)) in &segs {
                    let (lo_x, hi_x) = (x1.min(x2).max(x + 1.0), x1.max(x2).min(x + w - 1.0));
                    let (lo_y, hi_y) = (y1.min(y2).max(y + 1.0), y1.max(y2).min(y + h - 1.0));
                    assert!(
                        lo_x > hi_x || lo_y > hi_y,
                        "{:?} {}: the segment ({x1}, {y1})-({x2}, {y2}) crosses the box at ({x}, {y}), {w} x {h}",
                        s.ty,
                        v.name
                    );
                }
            }
        }
    }
    assert!(arrows > 100, "only {arrows} arrow segments drawn");
}
