"""The 2024 recurrence in the real kernel: arm64 Linux 6.12, shipped and with
36639013b346 reverted, beside foldkern's model (`foldkern_host::model::arm64`).

Used by scripts/linux-gup.py (`./qemu-run.sh linux`, `--arch arm64`):

1. packages: gcc-aarch64-linux-gnu, libc6-dev-arm64-cross and qemu-system-arm
   from the host's apt sources; linux-source-6.12 from bookworm-backports
   through a private apt configuration under the cache (downloaded and
   unpacked with dpkg-deb: the host's packages and sources stay as they are);
2. build: tinyconfig + linux/arm64-6.12.config (16 KiB pages, 52-bit VA with
   LPA2, 4 levels, VMAP_STACK off), shipped and with
   linux/revert-arm64-lockless-folded.patch, cached like the s390 kernels;
3. boot: each kernel in qemu-system-aarch64 -M virt, with -cpu max (LPA2) and
   -cpu max,lpa2=off, with linux/arm64-init.c as /init: named scenarios and a
   scan of all 2048 pud indices, each an O_DIRECT read of two 16 KiB pages;
4. compare: per scenario and per index, what the model predicts for the
   reverted kernel without LPA2 (the word at stack base + 8 * pud index and
   what the walk does with it) beside what each kernel did, including the
   register of each oops that holds that pointer.
"""
import os
import re
import subprocess

import importlib.util

_spec = importlib.util.spec_from_file_location(
    "linux_gup", os.path.join(os.path.dirname(os.path.abspath(__file__)), "linux-gup.py"))

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LINUX = os.path.join(ROOT, "linux")
FRAGMENT = os.path.join(LINUX, "arm64-6.12.config")
PATCH = os.path.join(LINUX, "revert-arm64-lockless-folded.patch")
INIT_C = os.path.join(LINUX, "arm64-init.c")
CROSS = "aarch64-linux-gnu-"
RECIPE = "arm64: tinyconfig + fragment, olddefconfig, Image; then the patch, Image"
PACKAGES = [
    ("/usr/bin/aarch64-linux-gnu-gcc", "gcc-aarch64-linux-gnu"),
    ("/usr/aarch64-linux-gnu/lib/libc.a", "libc6-dev-arm64-cross"),
    ("/usr/bin/qemu-system-aarch64", "qemu-system-arm"),
]
MIRROR = "http://deb.debian.org/debian"
KERNELS = ["shipped", "reverted"]
CPUS = [("lpa2", "max"), ("lpa2=off", "max,lpa2=off")]
# The pread the init issues: fd, length, offset, and the buffer's place in its pud.
FD, LEN, OFF, AT = 3, 0x8000, 0, 0x40000000
SCENARIOS = ["kernel-placed", "pmd-crossing", "pud-crossing", "x0-slot", "x8-slot", "exit-rcu-slot"]
PUD_SHIFT = 36


def helpers():
    lg = importlib.util.module_from_spec(_spec)
    _spec.loader.exec_module(lg)
    return lg


def apt(lg, cache, *args):
    """apt-get or apt-cache `args` over a private state with bookworm-backports
    as its only source (linux-bench.py's `apt_opts`); run in that state's
    directory, where `apt-get download` leaves the package."""
    base = os.path.join(os.path.dirname(cache), "apt-bookworm-backports")
    opts = lg.bench().apt_opts("amd64", base, [(MIRROR, "bookworm-backports")])
    return lg.run("source", [args[0]] + opts + list(args[1:]), cwd=base), base


def source(lg, cache_base):
    """linux-source-6.12's tarball, downloaded and unpacked under the cache."""
    apt(lg, cache_base, "apt-get", "update", "-q")
    out, base = apt(lg, cache_base, "apt-cache", "policy", "linux-source-6.12")
    m = re.search(r"Candidate: (\S+)", out)
    if not m or m.group(1) == "(none)":
        raise lg.StepFailed("source: linux-source-6.12 not found in bookworm-backports")
    version = m.group(1)
    tarball = os.path.join(base, "x", version, "usr", "src", "linux-source-6.12.tar.xz")
    if not os.path.exists(tarball):
        lg.say(f"downloading linux-source-6.12 {version} (bookworm-backports, private apt state)")
        apt(lg, cache_base, "apt-get", "download", f"linux-source-6.12={version}")
        deb = next(f for f in os.listdir(base) if f.startswith("linux-source-6.12_") and f.endswith(".deb"))
        os.makedirs(os.path.join(base, "x", version), exist_ok=True)
        lg.run("source", ["dpkg-deb", "-x", os.path.join(base, deb), os.path.join(base, "x", version)])
        os.remove(os.path.join(base, deb))
    return version, tarball


def build(lg):
    lg.packages()
    lg.packages(PACKAGES)
    base = os.environ.get("FOLDKERN_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "foldkern")
    os.makedirs(base, exist_ok=True)
    version, tarball = source(lg, os.path.join(base, "x"))
    cache = lg.cache_dir("linux-6.12-arm64", version, CROSS, RECIPE, FRAGMENT, PATCH)
    return lg.build_pair("Linux 6.12 for arm64", cache, tarball, version, "arm64", CROSS, FRAGMENT, PATCH,
                         os.path.join("arch", "arm64", "boot", "Image"))


def initramfs(lg):
    return lg.initramfs(INIT_C, CROSS, "arm64")


LINE = re.compile(r"^linux-gup-arm64: (\S+): pud (\d+): (?:read returned (-?\d+); data (\w+)|killed by signal (\d+))")
SCAN = re.compile(r"^linux-gup-arm64: scan: (\d+) correct, (\d+) wrong:([\d ]*); (\d+) killed:([\d ]*)$")
REG = re.compile(r"\b(x\d+|sp|lr|pc)\s*: ([0-9a-f]{16})")


def boot(lg, cache, kernel, cpu, initrd):
    lg.say(f"booting Linux 6.12 {kernel} on -cpu {cpu}")
    cmd = ["qemu-system-aarch64", "-M", "virt", "-cpu", cpu, "-m", "512M", "-nographic", "-no-reboot",
           "-kernel", os.path.join(cache, kernel, "Image"), "-initrd", initrd,
           "-append", "console=ttyAMA0 quiet"]
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=600, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise lg.StepFailed(f"boot (arm64 {kernel}, {cpu}): no end after 600 s")
    out = r.stdout + r.stderr
    if "linux-gup-arm64: done" not in out:
        raise lg.StepFailed(f"boot (arm64 {kernel}, {cpu}): no 'linux-gup-arm64: done'; the console ended:\n{out[-3000:]}")
    return parse(out)


def parse(out):
    """Scenario results, the scan, and the oopses in order, each with its
    registers."""
    results, oopses, scan, cur = {}, [], None, None
    for line in out.splitlines():
        line = line.strip()
        m = LINE.match(line)
        if m:
            name, idx = m.group(1), int(m.group(2))
            results[name] = (idx, "killed" if m.group(5) else ("ok" if m.group(4) == "ok" and int(m.group(3)) == 2 * 16384 else "wrong"))
            continue
        m = SCAN.match(line)
        if m:
            scan = {"correct": int(m.group(1)), "wrong": [int(x) for x in m.group(3).split()],
                    "killed": [int(x) for x in m.group(5).split()]}
            continue
        if "Unable to handle kernel paging request at virtual address" in line:
            cur = {"address": line.split()[-1], "regs": {}}
            oopses.append(cur)
        elif cur is not None:
            if line.startswith("pc :"):
                cur["pc"] = line.split(":", 1)[1].strip().split()[0]
            for reg, val in REG.findall(line):
                cur["regs"].setdefault(reg, int(val, 16))
    return results, scan, oopses


def model(lg):
    out = lg.run("model", ["cargo", "run", "-q", "-p", "foldkern-host", "--example", "folding", "--",
                           "arm64-pread", hex(FD), hex(LEN), hex(OFF), hex(AT)], cwd=ROOT)
    pred = {}
    for line in out.splitlines():
        m = re.match(r"^pud (\d+): stack \+(0x[0-9a-f]+), (.*?)(?: = (0x[0-9a-f]+))?: (.*)$", line)
        if m:
            pred[int(m.group(1))] = {"offset": int(m.group(2), 16), "word": m.group(3), "outcome": m.group(5)}
    if len(pred) != 2048:
        raise lg.StepFailed(f"model: expected 2048 predictions, got {len(pred)}:\n{out[-1000:]}")
    return pred


def pointer_register(oops, offset):
    """The register of an oops holding stack base + offset (the base from its sp)."""
    sp = oops["regs"].get("sp")
    if sp is None:
        return None
    want = (sp & ~0x3fff) + offset
    return next((r for r, v in oops["regs"].items() if v == want and r != "sp"), None)


def compare(lg):
    cache = build(lg)
    initrd = initramfs(lg)
    pred = model(lg)
    runs = {(k, c): boot(lg, cache, k, cpu, initrd) for k in KERNELS for c, cpu in CPUS}
    print("\narm64, Linux 6.12 (16 KiB pages, 52-bit VA with LPA2, 4 levels): O_DIRECT reads of two pages;")
    print("without LPA2 the reverted kernel's pud pointer is stack base + 8 * pud index (foldkern_host::model::arm64)")
    agree = total = 0
    for name in SCENARIOS:
        total += 1
        ok = True
        idx = runs[("shipped", "lpa2")][0][name][0]
        p = pred[idx]
        word = p["word"]
        print(f"\n{name}: pud {idx}, stack +{p['offset']:#x} ({word}): model: {p['outcome']}")
        for (k, c), (results, _, oopses) in runs.items():
            got = results.get(name, (idx, "missing"))[1]
            if (k, c) == ("reverted", "lpa2=off"):
                if p["outcome"].startswith("oops"):
                    want = "killed"
                elif p["outcome"] == "fallback":
                    want = "ok"
                else:
                    want = None  # not predicted
            else:
                want = "ok"
            same = want is None or got == want
            note = ""
            if got == "killed":
                # This scenario's oops is the one printed before its kill line: the
                # named scenarios run first, in order, so count kills before it.
                killed_before = [s for s in SCENARIOS[:SCENARIOS.index(name)] if results.get(s, (0, ""))[1] == "killed"]
                oops = oopses[len(killed_before)] if len(oopses) > len(killed_before) else None
                reg = oops and pointer_register(oops, p["offset"])
                note = f"; oops at {oops['address'] if oops else '?'}, {reg or 'no register'} = stack base + {p['offset']:#x}"
                same &= bool(reg)
            ok &= same
            print(f"  Linux 6.12 {k + ', ' + c + ':':<20} {got}{note}{'' if same else '  DIFFERS'}")
        agree += ok
    # The scan.
    print("\nscan: a read at each of the 2048 pud indices")
    for (k, c), (_, scan, _) in runs.items():
        total += 1
        s = scan or {"correct": 0, "wrong": ["?"], "killed": ["?"]}
        if (k, c) == ("reverted", "lpa2=off"):
            oops_pred = {i for i, p in pred.items() if p["outcome"].startswith("oops")}
            ok_pred = {i for i, p in pred.items() if p["outcome"] == "fallback"}
            killed = set(s["killed"])
            same = oops_pred <= killed and not (killed & ok_pred) and not s["wrong"]
            others = sorted(killed - oops_pred)
            print(f"  Linux 6.12 {k + ', ' + c + ':':<20} {s['correct']} correct, {len(s['killed'])} killed by an oops;"
                  f" model: oops at {sorted(oops_pred)} (pt_regs words naming a table at physical 0),"
                  f" fallback at the {len(ok_pred)} words it knows to be invalid;"
                  f" the kernel's own frames (not predicted) oopsed at {others}{'' if same else '  DIFFERS'}")
        else:
            same = s["correct"] == 2048
            print(f"  Linux 6.12 {k + ', ' + c + ':':<20} {s['correct']} correct{'' if same else '  DIFFERS'}")
        agree += same
    print(f"\nlinux: arm64: {agree} of {total} checks agree with foldkern")
    return agree == total
