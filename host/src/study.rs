//! A scenario studied on the host: the `gup=` scenario's space built as the
//! kernel's job builds it ([`crate::pictures::scene`]) and walked once with
//! every variant, each walk feeding both what the pictures draw
//! ([`crate::pictures::Recorder`]) and what the explainer page shows
//! ([`crate::explain::Recorder`]). Above both modules, so that neither
//! depends on the other's way of being fed.
use crate::explain::{self, Walk};
use crate::pictures::{self, Scenario, Spec};
use std::string::String;
use std::vec::Vec;

/// What its pictures draw, and what its explainer page shows, from one walk
/// of each variant.
pub struct Study {
    /// The ptdump block and each variant's trace, as the kernel prints them.
    pub scenario: Scenario,
    /// Each variant's walk, step by step, for the explainer.
    pub walks: Vec<Walk>,
}

/// Run scenario `spec` on the host as the kernel's `gup=` job runs it and
/// collect what each variant's walk read, through the walk's explaining
/// hooks: one walk per variant feeds both the pictures and the explainer.
pub fn run(spec: &Spec) -> Result<Study, String> {
    let sc = pictures::scene(spec)?;
    let (mut variants, mut walks) = (Vec::new(), Vec::new());
    for v in foldkern::gup::Variant::ALL {
        let mut drawn = pictures::Recorder::new(spec, v);
        let mut explained = explain::Recorder::new(&sc, v);
        let mut record = |st: &foldkern::gup::Step| {
            drawn.record(st);
            explained.record(st);
        };
        let (o, got) = sc.walk(spec, v, &mut record)?;
        // The result line, judged once for both.
        let result = sc.result(spec, &o, &got);
        variants.push(drawn.finish(&sc, spec, &o, &got, result.clone()));
        walks.push(explained.finish(spec, &o, &got, result));
    }
    let scenario = Scenario {
        tree: sc.tree.clone(),
        variants,
    };
    Ok(Study { scenario, walks })
}
