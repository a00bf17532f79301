//! The generic gup_fast walk over other architectures' folding rules
//! (`foldkern_host::model::folding`, docs/across-architectures.md).
//!
//! `cargo run --example folding` prints, for every configuration and walk,
//! the verdict over ranges crossing each level boundary; `cargo run --example
//! folding -- CONFIG START-END` traces each walk of one range in the kernel's
//! trace format. `cargo run --example folding -- arm64-pread FD LEN OFF AT [X4]`
//! prints, for a buffer at `AT` inside each of the 2048 pud indices, what
//! `foldkern_host::model::arm64` predicts Linux 6.12 with 36639013b346
//! reverted reads for the pud inside `pread64(FD, buf, LEN, OFF)` (x4 = X4, else 0) on a CPU
//! without LPA2 (scripts/linux-gup.py sets it beside the real kernel). Bad
//! arguments print the usage and the configurations and exit 2.
use foldkern_host::model::folding::{config, configs, rule, summary, trace, Walk};
use std::process::ExitCode;

fn usage() -> ExitCode {
    eprintln!("usage: folding [CONFIG START-END]   (hex addresses, page-aligned, START < END)");
    eprintln!(
        "       folding arm64-pread FD LEN OFF AT [X4]   (hex: the pread64 arguments, the buffer's offset in its pud, x4)"
    );
    eprintln!(
        "configurations: {}",
        configs().iter().map(|c| c.name).collect::<Vec<_>>().join(" ")
    );
    ExitCode::from(2)
}

fn hex(s: &str) -> Option<u64> {
    u64::from_str_radix(s.strip_prefix("0x")?, 16).ok()
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match &args[..] {
        [] => {
            println!("folding rules:");
            for c in configs() {
                println!("  {:<20} {}", c.name, rule(c.name));
            }
            println!();
            println!(
                "{:<20} {:<28} verdict over ranges crossing each level boundary",
                "configuration", "walk"
            );
            for c in configs() {
                for w in Walk::ALL {
                    let note = if w == Walk::ArchOverride {
                        format!(" [{}]", c.override_source)
                    } else {
                        String::new()
                    };
                    println!("{:<20} {:<28} {}{note}", c.name, w.name(), summary(c, w));
                }
            }
            ExitCode::SUCCESS
        }
        [cmd, fd, len, off, at, rest @ ..] if cmd == "arm64-pread" && rest.len() <= 1 => {
            use foldkern_host::model::arm64::{
                folded_pud_offset, outcome, pread_word, pt_regs_name, PTRS, PUD_SHIFT, VIRT_RAM_512M,
            };
            let x4 = rest.first().map_or(Some(0), |x| hex(x));
            let (Some(fd), Some(len), Some(off), Some(at), Some(x4)) = (hex(fd), hex(len), hex(off), hex(at), x4)
            else {
                return usage();
            };
            for i in 0..PTRS {
                let buf = (i << PUD_SHIFT) | at;
                let slot = folded_pud_offset(buf) / 8;
                let name = pt_regs_name(slot).unwrap_or_else(|| "a kernel frame".into());
                match pread_word(slot, fd, buf, len, off, x4) {
                    Some(w) => println!(
                        "pud {i}: stack +{:#x}, {name} = {w:#x}: {}",
                        8 * slot,
                        outcome(w, &VIRT_RAM_512M)
                    ),
                    None => println!("pud {i}: stack +{:#x}, {name}: not predicted", 8 * slot),
                }
            }
            ExitCode::SUCCESS
        }
        [name, range] => {
            let Some(c) = config(name) else { return usage() };
            let page = 1u64 << c.page_shift;
            let parsed = range.split_once('-').and_then(|(a, b)| Some((hex(a)?, hex(b)?)));
            let Some((start, end)) =
                parsed.filter(|&(a, b)| a < b && a % page == 0 && b % page == 0 && (b - a) / page <= 4096)
            else {
                return usage();
            };
            for w in Walk::ALL {
                print!("{}", trace(c, w, start, end));
            }
            ExitCode::SUCCESS
        }
        _ => usage(),
    }
}
