#!/usr/bin/env python3
"""Measure Linux's own gup_fast in the benchmark's emulated machine.

`./qemu-run.sh bench linux` runs foldkern's benchmark, then this script:

1. fetch: Debian's s390x kernel image and headers of one pinned version, and
   the matching host kbuild tools, through a private apt configuration and
   state directory under target/linux-bench/apt (the host's own apt
   configuration and architectures are not touched); the cross compiler
   (gcc-s390x-linux-gnu, libc6-dev-s390x-cross) is a host package, installed
   with apt-get if missing;
2. build: scripts/linux-bench/gupbench.c as an out-of-tree module against the
   extracted headers, and scripts/linux-bench/init.c as a static /init;
3. boot: the Debian kernel with that initramfs under the benchmark's own QEMU
   line (-m 2G, -icount shift=0, SCLP console);
4. merge: the figures, converted from TOD units to instructions, appended to
   target/bench/results.csv as region-third rows of walkers named linux_*,
   printed beside foldkern's with each call's fixed + per-page fit and the
   goals against Linux, and drawn into target/bench/gup-per-page.svg with
   foldkern's walkers.

Every step that fails stops the job with the step's name. `--parse FILE`
only turns a saved raw output into the CSV rows (what the test checks);
`--goals FILE RESULTS` prints the goals from a saved run and a benchmark's
CSV (what the docs quote).
"""
import csv
import os
import shutil
import subprocess
import sys

VERSION = "6.1.176-1"
ABI = "6.1.0-50"
FLAVOUR = f"{ABI}-s390x"
S390X_PACKAGES = [
    f"linux-image-{FLAVOUR}={VERSION}",
    f"linux-headers-{FLAVOUR}={VERSION}",
    f"linux-headers-{ABI}-common={VERSION}",
]
HOST_PACKAGES = ["linux-kbuild-6.1=" + VERSION]
CROSS = ["gcc-s390x-linux-gnu", "libc6-dev-s390x-cross"]
MIRROR = "http://deb.debian.org/debian"
# Under -icount shift=0 one instruction is 1 ns, and one TOD unit 1/4.096 ns.
TOD_PER_INSTRUCTION = 4.096
# What the module's calls are called in results.csv.
WALKERS = {
    "get_user_pages_fast": "linux_get",
    "pin_user_pages_fast": "linux_pin",
    "pin_user_pages_fast_longterm": "linux_pin_longterm",
    "get_user_pages_fast_only": "linux_get_fast_only",
    "pin_user_pages_fast_only": "linux_pin_fast_only",
}

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WORK = os.path.join(ROOT, "target", "linux-bench")


class StepFailed(Exception):
    pass


def run(step, cmd, **kw):
    r = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if r.returncode != 0:
        raise StepFailed(f"{step}: {' '.join(cmd)} exited {r.returncode}\n{r.stdout[-2000:]}{r.stderr[-2000:]}")
    return r.stdout


BOOKWORM = [(MIRROR, "bookworm"), (MIRROR, "bookworm-updates"),
            ("http://deb.debian.org/debian-security", "bookworm-security")]


def apt_opts(arch, base=None, suites=BOOKWORM):
    """apt options for a private state under `base` (default
    target/linux-bench/apt/<arch>) with `suites` ((mirror, suite) pairs) as
    its only sources: the host's apt configuration stays as it is."""
    base = base or os.path.join(WORK, "apt", arch)
    for d in ("state/lists/partial", "cache/archives/partial", "etc"):
        os.makedirs(os.path.join(base, d), exist_ok=True)
    status = os.path.join(base, "state", "status")
    open(status, "a").close()
    sources = os.path.join(base, "etc", "sources.list")
    with open(sources, "w") as f:
        keyring = "/usr/share/keyrings/debian-archive-keyring.gpg"
        for mirror, suite in suites:
            f.write(f"deb [arch={arch} signed-by={keyring}] {mirror} {suite} main\n")
    return [
        "-o", f"APT::Architecture={arch}",
        "-o", f"APT::Architectures::={arch}",
        "-o", f"Dir::State={base}/state",
        "-o", f"Dir::State::status={status}",
        "-o", f"Dir::Cache={base}/cache",
        "-o", f"Dir::Etc::SourceList={sources}",
        "-o", "Dir::Etc::SourceParts=/nonexistent",
        "-o", "APT::Sandbox::User=root",
    ]


def fetch():
    debs = os.path.join(WORK, "debs")
    root = os.path.join(WORK, "root")
    stamp = os.path.join(root, f".extracted-{VERSION}")
    if os.path.exists(stamp):
        return root
    os.makedirs(debs, exist_ok=True)
    for arch, pkgs in (("s390x", S390X_PACKAGES), ("amd64", HOST_PACKAGES)):
        opts = apt_opts(arch)
        run("fetch (apt-get update, private state)", ["apt-get", *opts, "update"])
        try:
            run("fetch (apt-get download)", ["apt-get", *opts, "download", *pkgs], cwd=debs)
        except StepFailed as e:
            raise StepFailed(
                f"{e}\nfetch: Debian no longer offers {', '.join(pkgs)}; pin a current version "
                f"in scripts/linux-bench.py (VERSION, ABI) and re-measure")
    shutil.rmtree(root, ignore_errors=True)
    os.makedirs(root)
    for d in sorted(os.listdir(debs)):
        if d.endswith(".deb") and VERSION in d:
            run("extract", ["dpkg-deb", "-x", os.path.join(debs, d), root])
    # The flavour's Makefile includes the common one by absolute path.
    mk = os.path.join(root, "usr", "src", f"linux-headers-{FLAVOUR}", "Makefile")
    with open(mk) as f:
        text = f.read()
    with open(mk, "w") as f:
        f.write(text.replace("/usr/src/", os.path.join(root, "usr", "src") + "/"))
    open(stamp, "w").close()
    return root


def cross_compiler():
    if shutil.which("s390x-linux-gnu-gcc") and os.path.exists("/usr/s390x-linux-gnu/lib/libc.a"):
        return
    if os.geteuid() != 0:
        raise StepFailed("cross compiler: missing; install it with: sudo apt-get install " + " ".join(CROSS))
    print("linux-bench: installing " + " ".join(CROSS) + " ...", file=sys.stderr)
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    run("cross compiler (apt-get install)", ["flock", "/tmp/foldkern-apt.lock", "apt-get", "install", "-y", "-q", *CROSS], env=env)


def build(root):
    src = os.path.join(ROOT, "scripts", "linux-bench")
    out = os.path.join(WORK, "build")
    os.makedirs(out, exist_ok=True)
    for f in ("gupbench.c", "Kbuild"):
        shutil.copy(os.path.join(src, f), out)
    headers = os.path.join(root, "usr", "src", f"linux-headers-{FLAVOUR}")
    run("build (module)", ["make", "-s", "-C", headers, f"M={out}", "ARCH=s390",
                           "CROSS_COMPILE=s390x-linux-gnu-", "modules"])
    run("build (/init)", ["s390x-linux-gnu-gcc", "-static", "-O2", "-Wall", "-Werror", "-o",
                          os.path.join(out, "init"), os.path.join(src, "init.c")])
    return out


def cpio_newc(entries):
    """An uncompressed newc archive of (name, mode, data) entries."""
    out = bytearray()
    for ino, (name, mode, data) in enumerate(entries + [("TRAILER!!!", 0, b"")], 1):
        nm = name.encode() + b"\0"
        fields = [ino, mode, 0, 0, 1, 0, len(data), 0, 0, 0, 0, len(nm), 0]
        out += b"070701" + b"".join(b"%08x" % v for v in fields) + nm
        out += b"\0" * (-len(out) % 4) + data
        out += b"\0" * (-len(out) % 4)
    return bytes(out)


def initramfs(out):
    with open(os.path.join(out, "init"), "rb") as f:
        init = f.read()
    with open(os.path.join(out, "gupbench.ko"), "rb") as f:
        ko = f.read()
    entries = [(d, 0o040755, b"") for d in ("dev", "proc", "sys")]
    entries += [("init", 0o100755, init), ("gupbench.ko", 0o100644, ko)]
    path = os.path.join(out, "initramfs.cpio")
    with open(path, "wb") as f:
        f.write(cpio_newc(entries))
    return path


def boot(root, initrd):
    kernel = os.path.join(root, "boot", f"vmlinuz-{FLAVOUR}")
    cmd = ["qemu-system-s390x", "-nodefaults", "-nographic", "-no-reboot",
           "-machine", "s390-ccw-virtio,accel=tcg", "-m", "2G", "-icount", "shift=0",
           "-chardev", "stdio,id=con0", "-device", "sclpconsole,chardev=con0",
           "-kernel", kernel, "-initrd", initrd, "-append", "console=ttysclp0 rdinit=/init quiet"]
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    except subprocess.TimeoutExpired:
        raise StepFailed("boot: Linux did not power off within 600 s")
    with open(os.path.join(WORK, "output.txt"), "w") as f:
        f.write(r.stdout)
    if "END-LINUX" not in r.stdout:
        tail = "\n".join(r.stdout.splitlines()[-15:])
        raise StepFailed(f"boot: no END-LINUX in Linux's output (QEMU status {r.returncode}); it ends:\n{tail}")
    return r.stdout


def parse(text):
    """The CSV rows (asce_type, walker, pages, instructions, instructions per
    page) of a raw output."""
    if "BEGIN-LINUX" not in text or "END-LINUX" not in text:
        raise StepFailed("parse: no BEGIN-LINUX ... END-LINUX block")
    block = text.split("BEGIN-LINUX", 1)[1].split("END-LINUX", 1)[0]
    rows = []
    for line in block.split():
        fields = line.split(",")
        if len(fields) != 3 or fields[0] not in WALKERS or not all(f.isdigit() for f in fields[1:]):
            raise StepFailed(f"parse: not a <call>,<pages>,<TOD units> line: {line!r}")
        n, t = int(fields[1]), int(fields[2])
        if n == 0:
            raise StepFailed(f"parse: zero pages: {line!r}")
        ins = round(t / TOD_PER_INSTRUCTION)
        rows.append(("region-third", WALKERS[fields[0]], n, ins, f"{ins / n:.3f}"))
    if not rows:
        raise StepFailed("parse: the block is empty")
    return rows


def fit(rows, walker):
    """Fixed + per page from 64 and 256 pages, as docs/bench.md fits foldkern."""
    at = {int(r[2]): int(r[3]) for r in rows if r[1] == walker and r[0] == "region-third"}
    if 64 not in at or 256 not in at:
        return None
    per = (at[256] - at[64]) / 192
    return at[64] - 64 * per, per


def plot(rows, walkers):
    """Instructions per page against pages (both axes log2) for each walker."""
    import math
    w, h, left, bottom = 720, 420, 70, 40
    pts = {c: sorted((int(r[2]), int(r[3]) / int(r[2])) for r in rows if r[1] == c) for c in walkers}
    xs = [n for v in pts.values() for n, _ in v]
    ys = [y for v in pts.values() for _, y in v]
    x0, x1 = math.log2(min(xs)), math.log2(max(xs))
    y0, y1 = math.log2(min(ys)), math.log2(max(ys))
    sx = lambda n: left + (math.log2(n) - x0) / max(x1 - x0, 1) * (w - left - 160)
    sy = lambda y: h - bottom - (math.log2(y) - y0) / max(y1 - y0, 1) * (h - 2 * bottom)
    colours = ["#c0392b", "#8e44ad", "#d35400", "#7f8c8d", "#95a5a6", "#2471a3", "#17a589",
               "#000000", "#b7950b", "#1e8449", "#5b2c6f", "#a04000", "#17202a", "#7d6608"]
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" font-family="sans-serif" font-size="12">',
           f'<rect width="{w}" height="{h}" fill="white"/>',
           f'<text x="{left}" y="20">instructions per page (log), Linux {FLAVOUR} and foldkern, region-third</text>',
           f'<line x1="{left}" y1="{h - bottom}" x2="{w - 160}" y2="{h - bottom}" stroke="black"/>',
           f'<line x1="{left}" y1="{bottom}" x2="{left}" y2="{h - bottom}" stroke="black"/>',
           f'<text x="{(w - 160) // 2}" y="{h - 8}">pages per call (log)</text>']
    for n in sorted(set(xs)):
        out.append(f'<text x="{sx(n):.0f}" y="{h - bottom + 15}" text-anchor="middle">{n}</text>')
    for k in range(int(y0), int(y1) + 2):
        if y0 <= k <= y1 + 0.5:
            out.append(f'<text x="{left - 6}" y="{sy(2 ** k) + 4:.0f}" text-anchor="end">{2 ** k}</text>')
    for i, c in enumerate(walkers):
        line = " ".join(f"{sx(n):.1f},{sy(y):.1f}" for n, y in pts[c])
        col = colours[i % len(colours)]
        out.append(f'<polyline fill="none" stroke="{col}" stroke-width="2" points="{line}"/>')
        out.append(f'<text x="{w - 150}" y="{bottom + 16 * i}" fill="{col}">{c}</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


def goals(rows):
    """The goals against Linux: each line the measured and the allowed value,
    and for goals over several sizes the closest case."""
    def at(walker, n):
        v = [int(r[3]) for r in rows if r[1] == walker and int(r[2]) == n and r[0] == "region-third"]
        return v[0] if v else None

    print("goals against Linux (reported, not enforced; region-third, FOLL_WRITE):")
    lines = []
    for ours, linux in (("get_user_pages_fast", "linux_get"), ("pin_user_pages_fast", "linux_pin")):
        f, g = fit(rows, ours), fit(rows, linux)
        if f and g:
            lines.append((f[0] <= g[0], f"{ours} fixed part {f[0]:.0f}, at most {g[0]:.0f} ({linux})"))
            lines.append((f[1] <= g[1] / 4, f"{ours} per page {f[1]:.2f}, at most {g[1] / 4:.2f} (a quarter of {linux})"))
    one, linux_one = at("get_user_pages_fast", 1), at("linux_get", 1)
    if one and linux_one:
        lines.append((one <= linux_one, f"one page: get_user_pages_fast {one}, at most {linux_one} (linux_get)"))
    # From 256 pages, per page at most 1.25x the floor: a loop doing exactly
    # Linux's per-page duties for FOLL_GET (the benchmark's `floor`).
    worst = None
    for n in sorted({int(r[2]) for r in rows if r[0] == "region-third" and int(r[2]) >= 256}):
        g, floor = at("get_user_pages_fast", n), at("floor", n)
        if g and floor and (worst is None or g / floor > worst[0]):
            worst = (g / floor, n, g, floor)
    if worst:
        r, n, g, floor = worst
        lines.append((r <= 1.25, f"from 256 pages at most 1.25x the floor of Linux's per-page duties: closest {n} pages, "
                                 f"get_user_pages_fast {g} against {floor * 1.25:.0f} allowed ({r:.2f}x)"))
    big, at4096 = at("get_user_pages_fast", 1 << 20), at("get_user_pages_fast", 4096)
    if big and at4096:
        flat = big / (1 << 20) <= at4096 / 4096
        lines.append((flat, f"4 GiB in one call: get_user_pages_fast {big / (1 << 20):.2f}/page, "
                            f"at most {at4096 / 4096:.2f}/page (its cost at 4096 pages)"))
    else:
        lines.append((False, "4 GiB (1,048,576 pages) in one call: not in target/bench/results.csv"))
    for ok, text in lines:
        print(("  met  " if ok else "  MISS ") + text)


def report(rows):
    results = os.path.join(ROOT, "target", "bench", "results.csv")
    ours = []
    if os.path.exists(results):
        with open(results) as f:
            r = csv.reader(f)
            header = next(r)
            ours = [tuple(row) for row in r if not row[1].startswith("linux_")]
        with open(results, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(header)
            w.writerows(ours)
            w.writerows(rows)
    print(f"Linux {FLAVOUR} ({VERSION}) gup_fast, region-third user space, FOLL_WRITE, instructions per call:")
    sizes = sorted({r[2] for r in rows})
    walkers = list(dict.fromkeys(r[1] for r in rows))
    ours_walkers = [w for w in ("get_user_pages_fast", "pin_user_pages_fast", "offset_lockless") if any(r[1] == w for r in ours)]
    cols = walkers + ours_walkers
    every = list(rows) + [r for r in ours if r[0] == "region-third"]
    print("  " + "pages".rjust(7) + "".join(c.rjust(22) for c in cols))
    for n in sizes:
        cells = []
        for c in cols:
            v = [r for r in every if r[1] == c and int(r[2]) == n]
            cells.append(f"{int(v[0][3]):,}".rjust(22) if v else "-".rjust(22))
        print("  " + str(n).rjust(7) + "".join(cells))
    print("  (linux_* and foldkern's get/pin_user_pages_fast: FOLL_WRITE; offset_lockless: foldkern's")
    print("   gup_fast alone, FOLL_GET for reads; from this run's benchmark; one page table up to 256 pages)")
    print("fixed + per page (fitted to 64 and 256 pages):")
    for c in cols:
        f = fit(every, c)
        if f:
            print(f"  {c:<22} {f[0]:.0f} + {f[1]:.2f}/page")
    if ours:
        goals(every)
    # The benchmark's plot (region-third, every walker) redrawn with Linux's
    # calls in it: the same SVG, foldkern's and Linux's lines together.
    svg = os.path.join(ROOT, "target", "bench", "gup-per-page.svg")
    os.makedirs(os.path.dirname(svg), exist_ok=True)
    walkers = list(dict.fromkeys(r[1] for r in every if int(r[2]) <= 262144 and r[1] not in ("map", "map_range", "unmap")))
    with open(svg, "w") as f:
        f.write(plot([r for r in every if int(r[2]) <= 262144], walkers))
    print("linux-bench: redrew target/bench/gup-per-page.svg with Linux's calls", file=sys.stderr)
    if not ours:
        print("(no target/bench/results.csv: run ./qemu-run.sh bench first for foldkern's columns)")
    else:
        print(f"linux-bench: appended {len(rows)} rows to target/bench/results.csv", file=sys.stderr)


def main(argv):
    if len(argv) == 2 and argv[0] == "--parse":
        with open(argv[1]) as f:
            text = f.read()
        try:
            rows = parse(text)
        except StepFailed as e:
            print(f"linux-bench: FAILED at {e}", file=sys.stderr)
            return 1
        for r in rows:
            print(",".join(str(v) for v in r))
        return 0
    if len(argv) == 3 and argv[0] == "--goals":
        # The goals from a saved Linux run and a benchmark's results.csv
        # (what the docs quote; a harness test runs this).
        try:
            with open(argv[1]) as f:
                rows = parse(f.read())
            with open(argv[2]) as f:
                r = csv.reader(f)
                next(r)
                ours = [tuple(row) for row in r if not row[1].startswith("linux_")]
        except (OSError, StepFailed, StopIteration) as e:
            print(f"linux-bench: FAILED at goals: {e}", file=sys.stderr)
            return 1
        goals(list(rows) + [o for o in ours if o[0] == "region-third"])
        return 0
    if argv:
        print("usage: linux-bench.py [--parse RAW-OUTPUT | --goals RAW-OUTPUT RESULTS-CSV]", file=sys.stderr)
        return 2
    try:
        os.makedirs(WORK, exist_ok=True)
        root = fetch()
        cross_compiler()
        out = build(root)
        text = boot(root, initramfs(out))
        report(parse(text))
    except StepFailed as e:
        print(f"linux-bench: FAILED at {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
