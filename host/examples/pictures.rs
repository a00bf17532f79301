//! Pictures of a scenario (`foldkern_host::pictures`), drawn from the walk's own
//! steps: `cargo run --example pictures -- gup=... DIR [PREFIX]` runs the
//! `gup=` scenario (the kernel's command-line syntax) on the host, through the
//! same gup_fast walk the kernel runs, and writes an SVG per variant, an SVG
//! of the address space, an HTML page, and the step-by-step explainer
//! (`PREFIX-explain.html`, `foldkern_host::explain`) into DIR.
//! `./qemu-run.sh pictures gup=...` runs this.
#[path = "../../kernel/src/cmd/cmdline.rs"]
#[allow(dead_code)]
mod cmdline;

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (scenario, dir, prefix) = match &args[..] {
        [s, d] => (s, d, "scenario"),
        [s, d, p] => (s, d, p.as_str()),
        _ => {
            eprintln!("usage: pictures gup=<levels>:<start>-<end>[:...] DIR [PREFIX]");
            return ExitCode::from(2);
        }
    };
    let sc = match cmdline::parse(scenario) {
        Ok(cmdline::Job::Scenario(sc)) => sc,
        Ok(_) => {
            eprintln!("pictures: {scenario:?} is not a gup= scenario");
            return ExitCode::from(2);
        }
        Err(e) => {
            eprintln!("pictures: {e}");
            return ExitCode::from(2);
        }
    };
    let spec = foldkern_host::pictures::Spec {
        ty: sc.ty,
        start: sc.start,
        pages: sc.pages(),
        flags: sc.flags,
        ro: sc.ro,
        hole: sc.hole,
        decoy: sc.decoy,
    };
    let study = match foldkern_host::study::run(&spec) {
        Ok(study) => study,
        Err(e) => {
            eprintln!("pictures: the scenario failed: {e}");
            return ExitCode::FAILURE;
        }
    };
    if let Err(e) = std::fs::create_dir_all(dir) {
        eprintln!("pictures: {dir}: {e}");
        return ExitCode::FAILURE;
    }
    let explainer = (
        format!("{prefix}-explain.html"),
        foldkern_host::explain::html(scenario, &study.walks),
    );
    for (name, body) in foldkern_host::pictures::files(prefix, scenario, &study.scenario, false)
        .into_iter()
        .chain([explainer])
    {
        let path = std::path::Path::new(dir).join(&name);
        if let Err(e) = std::fs::write(&path, body) {
            eprintln!("pictures: {}: {e}", path.display());
            return ExitCode::FAILURE;
        }
        println!("{}", path.display());
    }
    ExitCode::SUCCESS
}
