#!/usr/bin/env bash
# Mutation testing with cargo-mutants and the project's .cargo/mutants.toml:
#
#   scripts/mutants.sh                      every mutant of the library (src/mm, src/gup)
#   scripts/mutants.sh -f src/gup/pte.rs    only that file's
#   scripts/mutants.sh -p foldkern-host     the host's folding model, against its tests
#   scripts/mutants.sh --list               list the mutants without running them
#
# Arguments go to `cargo mutants` as they are. Installs cargo-mutants from
# crates.io (`cargo install --locked cargo-mutants`) when it is missing. Results
# land in mutants.out/ (missed.txt: the mutants no test caught); docs/debugging.md
# lists the ones known to be equivalent.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! cargo mutants --version >/dev/null 2>&1; then
    echo "mutants.sh: installing cargo-mutants (cargo install --locked cargo-mutants)..." >&2
    cargo install --locked cargo-mutants >&2 || {
        echo "mutants.sh: could not install cargo-mutants; run: cargo install --locked cargo-mutants" >&2
        exit 127
    }
fi
exec cargo mutants "$@"
