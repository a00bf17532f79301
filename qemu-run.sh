#!/usr/bin/env bash
# Build and boot the foldkern kernel in qemu-system-s390x.
#
#   ./qemu-run.sh                 build and boot the narrated demo (the main job)
#   ./qemu-run.sh test            run every test: host unit/property tests and every
#                                 in-kernel test, each reported by cargo test by name
#   ./qemu-run.sh kernel-test [F] boot the in-kernel suite directly (filter F)
#   ./qemu-run.sh gup=3:0x1007ffff000-0x10080001000   walk a scenario of your own
#   ./qemu-run.sh bench           deterministic benchmark (-icount shift=0)
#   ./qemu-run.sh bench linux     the same, then Linux's own gup_fast in the same
#                                 machine beside it (downloads Debian's s390x
#                                 kernel once; scripts/linux-bench.py)
#   ./qemu-run.sh linux           Linux itself, built here as shipped and with the fix
#                                 reverted (s390x 6.1: 2020; arm64 6.12: 2024), runs
#                                 the bugs' scenarios beside foldkern's predictions
#                                 (installs Debian's sources and cross tools; builds
#                                 once into ~/.cache/foldkern; scripts/linux-gup.py)
#   ./qemu-run.sh pictures gup=... [DIR [PREFIX]]
#                                 draw that scenario (an SVG per variant, one of the
#                                 address space, an HTML page, and PREFIX-explain.html,
#                                 a step-by-step explainer; default target/pictures):
#                                 the same walk, run on the host (no kernel booted)
#   ./qemu-run.sh --gdb [...]     wait for gdb-multiarch on :1234 before starting
#   ./qemu-run.sh [...] -- ARGS   pass ARGS to QEMU (e.g. -- -m 2G -smp 2); after
#                                 test, to cargo test (e.g. test -- kernel::gup::seed).
#                                 What the runner sets for the job (-kernel, -append;
#                                 -icount for bench) cannot be replaced there
#   ./qemu-run.sh --kernel ELF [...]  boot a given s390x ELF executable (cargo's
#                                 runner uses this)
#   ./qemu-run.sh --help, -h      print this usage
#   ./qemu-run.sh --emulator hercules [--cpus N] [job]
#                                 the same job in Hercules, a second implementation
#                                 of z/Architecture (scripts/hercules-run.py)
#
# One job at a time, each option at most once: anything else is refused.
#
# Installs what is missing when it can (the Rust target comes from
# rust-toolchain.toml via rustup; QEMU from Debian's qemu-system-misc when root),
# otherwise stops with the exact command to run.
set -euo pipefail
cd "$(dirname "$0")"

TARGET=s390x-unknown-linux-gnu
PROFILE=${FOLDKERN_PROFILE:-release}
KERNEL=target/$TARGET/$PROFILE/foldkern

need_qemu() {
    command -v qemu-system-s390x >/dev/null && return 0
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        echo "qemu-run.sh: installing qemu-system-misc (qemu-system-s390x)..." >&2
        export DEBIAN_FRONTEND=noninteractive
        apt-get install -y -q qemu-system-misc >&2 || { apt-get update -q >&2 && apt-get install -y -q qemu-system-misc >&2; }
        command -v qemu-system-s390x >/dev/null && return 0
    fi
    echo "qemu-run.sh: qemu-system-s390x is missing; install it with:" >&2
    echo "    sudo apt-get install qemu-system-misc" >&2
    exit 127
}

need_cargo() {
    command -v cargo >/dev/null && return 0
    echo "qemu-run.sh: cargo is missing; install Rust with:" >&2
    echo "    curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh" >&2
    exit 127
}

# rustup installs rust-toolchain.toml's targets only when it installs the toolchain
# itself; if the pinned toolchain is already there without the s390x target, add it.
need_target() {
    if command -v rustup >/dev/null; then
        if ! rustup target list --installed 2>/dev/null | grep -qx "$TARGET"; then
            echo "qemu-run.sh: installing the Rust target $TARGET (rustup target add)..." >&2
            rustup target add "$TARGET" >&2 || {
                echo "qemu-run.sh: could not add the target; run: rustup target add $TARGET" >&2
                exit 1
            }
        fi
        # Likewise its components: the test command runs clippy and rustfmt.
        for c in clippy rustfmt; do
            if ! rustup component list --installed 2>/dev/null | grep -q "^$c"; then
                echo "qemu-run.sh: installing the Rust component $c (rustup component add)..." >&2
                rustup component add "$c" >&2 || {
                    echo "qemu-run.sh: could not add $c; run: rustup component add $c" >&2
                    exit 1
                }
            fi
        done
    elif [ ! -d "$(rustc --print sysroot)/lib/rustlib/$TARGET" ]; then
        echo "qemu-run.sh: the Rust target $TARGET is missing; install it with:" >&2
        echo "    rustup target add $TARGET" >&2
        exit 127
    fi
}

# need WHAT WHY CHECK [APT-OPTION] PKG...: unless the shell command CHECK
# succeeds, install PKG... from Debian's packages when root (one apt at a
# time: the test command installs from parallel tests), or stop naming the
# command that installs them.
need() {
    local what=$1 why=$2 check=$3
    shift 3
    eval "$check" && return 0
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        echo "qemu-run.sh: installing $what ($why)..." >&2
        export DEBIAN_FRONTEND=noninteractive
        flock /tmp/foldkern-apt.lock sh -c 'apt-get install -y -q "$@" \
            || { apt-get update -q && apt-get install -y -q "$@"; }' sh "$@" >&2
        eval "$check" && return 0
    fi
    echo "qemu-run.sh: $what is missing; install it with:" >&2
    echo "    sudo apt-get install $*" >&2
    exit 127
}

need_hercules() {
    need "Hercules" "the suite's second emulator" \
        'command -v hercules >/dev/null && command -v s390x-linux-gnu-objcopy >/dev/null' \
        hercules binutils-s390x-linux-gnu
}

build() {
    need_cargo
    need_target
    local flags=()
    [ "$PROFILE" = release ] && flags+=(--release)
    cargo build -q -p foldkern-kernel --target "$TARGET" --bin foldkern "${flags[@]}" "$@"
}

GDB=()
APPEND=""
ICOUNT=()
QEMU_EXTRA=()
MODE=demo
JOB=""
GIVEN_KERNEL=""
LINUX_BENCH=""
EMULATOR=qemu
CPUS=1
PICTURES=()
SEEN=" "
usage() {
    echo "qemu-run.sh: $1 (see the header of this script)" >&2
    exit 2
}
# A word shown back quoted, with non-ASCII and invisible characters escaped
# (bash's $'...' form) so that a no-break space can be seen.
shown() {
    local q
    q=$(LC_ALL=C printf '%q' "$1")
    if [ "$q" = "$1" ]; then printf "'%s'" "$1"; else printf '%s' "$q"; fi
}
# Each option at most once, and one job: a second word is refused, not ignored.
once() {
    case "$SEEN" in *" $1 "*) usage "'$1' given twice" ;; esac
    SEEN="$SEEN$1 "
}
job() {
    [ -z "$JOB" ] || usage "one job at a time: '$1' after '$JOB'"
    JOB=$1
}
while [ $# -gt 0 ]; do
    case "$1" in
        --help|-h)
            # The header of this script is its usage.
            sed -n '2,/^set -euo/{/^#/s/^# \{0,1\}//p}' "$0"
            exit 0 ;;
        --) shift; QEMU_EXTRA+=("$@"); break ;;
        --emulator)
            once "$1"
            case "${2:-}" in
                qemu|hercules) EMULATOR=$2; shift 2 ;;
                *) usage "--emulator takes qemu or hercules" ;;
            esac ;;
        --cpus)
            once "$1"
            case "${2:-}" in
                [1-8]) CPUS=$2; shift 2 ;;
                *) usage "--cpus takes 1 to 8" ;;
            esac ;;
        --gdb) once "$1"; GDB=(-s -S); shift ;;
        --kernel)
            once "$1"
            [ -n "${2:-}" ] || usage "--kernel takes the path of an ELF"
            GIVEN_KERNEL=$2; shift 2 ;;
        test) job "$1"; MODE=test; shift ;;
        kernel-test)
            job "$1"; MODE=kernel-test; shift; APPEND=test
            if [ $# -gt 0 ] && [ "${1#-}" = "$1" ]; then APPEND="test=$1"; shift; fi ;;
        bench)
            job "$1"; MODE=bench; APPEND=bench; ICOUNT=(-icount shift=0); shift
            if [ "${1:-}" = linux ]; then LINUX_BENCH=1; shift; fi ;;
        demo) job "$1"; APPEND=demo; shift ;;
        linux) job "$1"; MODE=linux; shift ;;
        pictures)
            job "$1"; MODE=pictures; shift
            case "${1:-}" in
                gup=*) ;;
                *) usage "pictures takes a scenario: pictures gup=<levels>:<start>-<end> [DIR [PREFIX]]" ;;
            esac
            # The scenario, then at most a directory and a prefix (not options).
            PICTURES=("$1"); shift
            while [ $# -gt 0 ] && [ ${#PICTURES[@]} -lt 3 ] && [ "${1#-}" = "$1" ]; do
                PICTURES+=("$1"); shift
            done ;;
        list|gup=*|test=*) job "$1"; APPEND="$1"; MODE=custom; shift ;;
        *) usage "unknown argument $(shown "$1")" ;;
    esac
done
if [ "$EMULATOR" = qemu ]; then
    case "$SEEN" in *" --cpus "*) usage "--cpus is for --emulator hercules (QEMU: -- -smp N)" ;; esac
fi
if [ ${#GDB[@]} -gt 0 ]; then
    case "$MODE" in
        test|pictures|linux) usage "--gdb does not apply to $MODE" ;;
    esac
fi
if [ "$MODE" = test ] && [ -n "$GIVEN_KERNEL" ]; then
    usage "--kernel does not apply to test (cargo test builds the kernel it boots)"
fi
if [ "$MODE" = pictures ]; then
    # The scenario runs on the host, through the same gup_fast walk: no kernel
    # boots, so nothing that chooses or starts one applies.
    [ "$EMULATOR" = qemu ] || usage "pictures boots no emulator: it runs the walk on the host"
    [ -z "$GIVEN_KERNEL" ] || usage "--kernel does not apply to pictures (it runs the walk on the host)"
    [ ${#QEMU_EXTRA[@]} -eq 0 ] || usage "QEMU arguments do not apply to pictures (it runs the walk on the host)"
    need_cargo
    dir=${PICTURES[1]:-target/pictures}
    exec cargo run -q -p foldkern-host --example pictures -- "${PICTURES[0]}" "$dir" "${PICTURES[2]:-scenario}"
fi
# What the runner sets for a QEMU job may not be replaced after --: QEMU would
# take the last -append or -kernel and silently run something else.
if [ "$MODE" != test ]; then
    for a in "${QEMU_EXTRA[@]}"; do
        case "$a" in
            -append|-kernel|-initrd) usage "'$a' after -- would replace the job's own (use the job word, or --kernel)" ;;
            -icount) [ "$MODE" = bench ] && usage "'-icount' after -- would replace the benchmark's -icount shift=0" ;;
        esac
    done
fi
# A given kernel must be an s390x ELF executable: anything else would run
# nothing, silently, until killed.
if [ -n "$GIVEN_KERNEL" ]; then
    [ -f "$GIVEN_KERNEL" ] || usage "--kernel: '$GIVEN_KERNEL' is not a file"
    hdr=$(od -An -tx1 -N20 "$GIVEN_KERNEL" | tr -d ' \n')
    # ELF magic, 64-bit, big-endian; e_type 2 (executable); e_machine 22 (S390).
    case "$hdr" in
        7f454c460202*) ;;
        *) usage "--kernel: '$GIVEN_KERNEL' is not a 64-bit big-endian ELF file (an s390x kernel is)" ;;
    esac
    [ "${hdr:32:4}" = 0002 ] || usage "--kernel: '$GIVEN_KERNEL' is an ELF file but not an executable"
    [ "${hdr:36:4}" = 0016 ] || usage "--kernel: '$GIVEN_KERNEL' is an ELF executable for machine 0x${hdr:36:4}, not s390x (0x0016)"
fi
need_gdb() {
    need "gdb-multiarch" "the instruction counts docs/bench.md quotes" \
        'command -v gdb-multiarch >/dev/null' gdb-multiarch
}

if [ "$MODE" = linux ]; then
    # Both Linux kernels and foldkern boot in QEMU, each with its own command
    # line: nothing that chooses an emulator or adds to QEMU's applies.
    [ "$EMULATOR" = qemu ] || usage "linux runs on QEMU only"
    [ ${#QEMU_EXTRA[@]} -eq 0 ] || usage "QEMU arguments do not apply to linux (it boots several kernels)"
    need_qemu
    [ -n "$GIVEN_KERNEL" ] && KERNEL=$GIVEN_KERNEL || build
    exec python3 scripts/linux-gup.py --kernel "$KERNEL"
fi
need_chromium() {
    need "headless Chromium" "the explainer's browser test" \
        "[ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ] && /usr/bin/python3 -c 'import selenium' 2>/dev/null" \
        --no-install-recommends chromium chromium-driver python3-selenium
}

if [ "$EMULATOR" = hercules ]; then
    case "$MODE" in
        test|bench) echo "qemu-run.sh: --emulator hercules runs demo, kernel-test [F], gup=... or list ($MODE runs on QEMU; ./qemu-run.sh test covers Hercules too)" >&2; exit 2 ;;
    esac
    if [ ${#QEMU_EXTRA[@]} -gt 0 ] || [ ${#GDB[@]} -gt 0 ]; then
        echo "qemu-run.sh: QEMU arguments and --gdb do not apply to Hercules" >&2; exit 2
    fi
    need_hercules
    [ -n "$GIVEN_KERNEL" ] && KERNEL=$GIVEN_KERNEL || build
    exec python3 scripts/hercules-run.py --cpus "$CPUS" "$KERNEL" "${APPEND:-demo}"
fi

# The checks of the whole tree, before the tests: formatting, clippy with
# -D warnings on the host and for s390x, rustdoc's links (the library and the
# host code; the kernel with its private items), and that the kernel mutants'
# list names current code. Each stops the run with what to do.
checks() {
    local step
    for step in "rustfmt:cargo fmt --all --check" \
        "clippy (host):cargo clippy -q --all-targets -- -D warnings" \
        "clippy (s390x):cargo clippy -q -p foldkern-kernel --release --target $TARGET --bin foldkern -- -D warnings" \
        "rustdoc (library, host code):env RUSTDOCFLAGS=-Dwarnings cargo doc -q --no-deps --lib" \
        "rustdoc (kernel):env RUSTDOCFLAGS=-Dwarnings cargo doc -q --no-deps -p foldkern-kernel --target $TARGET --bin foldkern --document-private-items" \
        "the kernel mutants' list:python3 scripts/kernel-mutants.py --check"; do
        echo "qemu-run.sh: check: ${step%%:*}" >&2
        if ! ${step#*:}; then
            echo "qemu-run.sh: check failed: ${step%%:*} (${step#*:})" >&2
            exit 1
        fi
    done
}

if [ "$MODE" = test ]; then
    need_cargo
    need_target
    need_qemu
    # Without Hercules or gdb their tests fail, each naming the install command.
    (need_hercules) || true
    (need_gdb) || true
    (need_chromium) || true
    # A run narrowed to some tests (test -- NAME) skips the checks.
    [ ${#QEMU_EXTRA[@]} -eq 0 ] && checks
    exec cargo test "${QEMU_EXTRA[@]}"
fi

need_qemu
# Name the accelerator only when the user did not (-- -accel tcg,thread=single).
MACHINE=s390-ccw-virtio,accel=tcg
for a in "${QEMU_EXTRA[@]}"; do
    [ "$a" = -accel ] && MACHINE=s390-ccw-virtio
done
if [ -n "$GIVEN_KERNEL" ]; then
    KERNEL=$GIVEN_KERNEL
else
    build
fi
[ -n "$APPEND" ] || APPEND=demo
if [ "$MODE" = bench ]; then
    # Deterministic: -icount shift=0 makes the TOD clock count instructions.
    mkdir -p target/bench
    set +e # a failing run still has its status and output looked at below
    qemu-system-s390x -nodefaults -nographic -no-reboot \
        -machine "$MACHINE" -m 2G \
        -chardev stdio,id=con0 -device sclpconsole,chardev=con0 \
        -action panic=exit-failure "${ICOUNT[@]}" "${GDB[@]}" \
        -kernel "$KERNEL" -append "$APPEND" "${QEMU_EXTRA[@]}" | tee target/bench/output.txt \
        | sed '/^BEGIN-CSV/,/^END-CSV/d;/^BEGIN-SVG/,/^END-SVG/d'
    status=${PIPESTATUS[0]}
    set -e
    if [ "$status" != 0 ]; then
        echo "qemu-run.sh: the benchmark failed (QEMU exit status $status)" >&2
        # The filter above hides the CSV and SVG blocks, so a run that died inside
        # one (no END marker) would hide its own panic message: show how it ended.
        if awk '/^BEGIN-(CSV|SVG)$/ { open = 1 } /^END-(CSV|SVG)$/ { open = 0 } END { exit !open }' \
            target/bench/output.txt; then
            echo "qemu-run.sh: it stopped inside its CSV/SVG output, which ends:" >&2
            tail -n 4 target/bench/output.txt >&2
        fi
        exit "$status"
    fi
    sed -n '/^BEGIN-CSV/,/^END-CSV/p' target/bench/output.txt | sed '1d;$d' > target/bench/results.csv
    sed -n '/^BEGIN-SVG/,/^END-SVG/p' target/bench/output.txt | sed '1d;$d' > target/bench/gup-per-page.svg
    echo "qemu-run.sh: wrote target/bench/results.csv and target/bench/gup-per-page.svg" >&2
    if [ -n "$LINUX_BENCH" ]; then
        exec python3 scripts/linux-bench.py
    fi
    exit "$status"
fi
if [ ${#GDB[@]} -gt 0 ]; then
    echo "qemu-run.sh: waiting for gdb: gdb-multiarch -ex 'set architecture s390:64-bit' -ex 'target remote :1234' $KERNEL" >&2
fi
exec qemu-system-s390x -nodefaults -nographic -no-reboot \
    -machine "$MACHINE" -m 256M \
    -chardev stdio,id=con0 -device sclpconsole,chardev=con0 \
    -action panic=exit-failure \
    "${ICOUNT[@]}" "${GDB[@]}" \
    -kernel "$KERNEL" -append "$APPEND" "${QEMU_EXTRA[@]}"
