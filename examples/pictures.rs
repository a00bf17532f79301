//! Pictures of a scenario from the kernel's own output (`foldkern::pictures`):
//! `cargo run --example pictures -- OUTPUT DIR [PREFIX]` reads what the kernel
//! printed for a `gup=` scenario (or the demo) from OUTPUT and writes an SVG per
//! variant, an SVG of the address space and an HTML page into DIR.
//! `./qemu-run.sh pictures gup=...` runs the scenario and this in one go.
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (input, dir, prefix) = match &args[..] {
        [i, d] => (i, d, "scenario"),
        [i, d, p] => (i, d, p.as_str()),
        _ => {
            eprintln!("usage: pictures OUTPUT DIR [PREFIX]");
            return ExitCode::from(2);
        }
    };
    let text = match std::fs::read_to_string(input) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("pictures: {input}: {e}");
            return ExitCode::FAILURE;
        }
    };
    let Some(sc) = foldkern::pictures::parse(&text) else {
        eprintln!("pictures: {input} holds no gup_fast variant's trace");
        return ExitCode::FAILURE;
    };
    if let Err(e) = std::fs::create_dir_all(dir) {
        eprintln!("pictures: {dir}: {e}");
        return ExitCode::FAILURE;
    }
    for (name, body) in foldkern::pictures::files(prefix, &sc) {
        let path = std::path::Path::new(dir).join(&name);
        if let Err(e) = std::fs::write(&path, body) {
            eprintln!("pictures: {}: {e}", path.display());
            return ExitCode::FAILURE;
        }
        println!("{}", path.display());
    }
    ExitCode::SUCCESS
}
