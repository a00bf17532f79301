"""The 2024 recurrence in the real kernel: arm64 Linux 6.12, shipped and with
36639013b346 reverted, beside foldkern's model (`foldkern_host::model::arm64`).

Used by scripts/linux-gup.py (`./qemu-run.sh linux`, `--arch arm64`):

1. packages: gcc-aarch64-linux-gnu, libc6-dev-arm64-cross and qemu-system-arm
   from the host's apt sources; linux-source-6.12 from bookworm-backports
   through a private apt configuration under the cache (downloaded and
   unpacked with dpkg-deb: the host's packages and sources stay as they are);
2. build: tinyconfig + linux/arm64-6.12.config (16 KiB pages, 52-bit VA with
   LPA2, 4 levels, VMAP_STACK off), every kernel with
   linux/arm64-count-gup-fast.patch (a console line of how many pages the
   lockless walk alone took); shipped, with
   linux/revert-arm64-lockless-folded.patch, and that with VMAP_STACK on;
   cached like the s390 kernels;
3. boot: each kernel in qemu-system-aarch64 -M virt, with -cpu max (LPA2) and
   -cpu max,lpa2=off, with linux/arm64-init.c as /init: named scenarios
   (two of them with x4 set to a table descriptor of the caller's own page)
   and a scan of all 2048 pud indices, each an O_DIRECT read of two 16 KiB
   pages;
4. compare: per scenario and per index, what the model predicts for the
   reverted kernels without LPA2 (the word at stack base + 8 * pud index and
   what the walk does with it) beside what each kernel did: the data, the
   pages the lockless walk took, and the register of each oops that holds
   that pointer.
"""
import os
import re

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LINUX = os.path.join(ROOT, "linux")
FRAGMENT = os.path.join(LINUX, "arm64-6.12.config")
PATCH = os.path.join(LINUX, "revert-arm64-lockless-folded.patch")
COUNT = os.path.join(LINUX, "arm64-count-gup-fast.patch")
INIT_C = os.path.join(LINUX, "arm64-init.c")
CROSS = "aarch64-linux-gnu-"
RECIPE = ("arm64: tinyconfig + fragment, olddefconfig, the count patch, Image; then the patch, Image;"
          " then VMAP_STACK=y, olddefconfig, Image")
# The third kernel: the reverted one with a vmalloc'd stack, as Debian's.
VARIANTS = [("reverted-vmap-stack", ["CONFIG_VMAP_STACK=y"])]
PACKAGES = [
    ("/usr/bin/aarch64-linux-gnu-gcc", "gcc-aarch64-linux-gnu"),
    ("/usr/aarch64-linux-gnu/lib/libc.a", "libc6-dev-arm64-cross"),
    ("/usr/bin/qemu-system-aarch64", "qemu-system-arm"),
]
MIRROR = "http://deb.debian.org/debian"
KERNELS = ["shipped", "reverted", "reverted-vmap-stack"]
CPUS = [("lpa2", "max"), ("lpa2=off", "max,lpa2=off")]
# The pread the init issues: fd, length, offset, and the buffer's place in its pud.
FD, LEN, OFF, AT = 3, 0x8000, 0, 0x40000000
SCENARIOS = ["kernel-placed", "pmd-crossing", "pud-crossing", "crafted-read", "crafted-write",
             "x0-slot", "x8-slot", "exit-rcu-slot"]
# Where the crafted scenarios' data goes when the walk follows the caller's
# fake tables, and when it walks the real ones.
CRAFTED = {"crafted-read": ("in the caller's own pages", "in the buffer"),
           "crafted-write": ("from the caller's own pages", "from the buffer")}


def apt(lg, *args):
    """apt-get or apt-cache `args` over a private state under the cache with
    bookworm-backports as its only source (linux-bench.py's `apt_opts`); run
    in that state's directory, where `apt-get download` leaves the package."""
    base = os.path.join(lg.cache_root(), "apt-bookworm-backports")
    opts = lg.bench().apt_opts("amd64", base, [(MIRROR, "bookworm-backports")])
    return lg.run("source", [args[0]] + opts + list(args[1:]), cwd=base), base


def source(lg):
    """linux-source-6.12's tarball, downloaded and unpacked under the cache."""
    apt(lg, "apt-get", "update", "-q")
    out, base = apt(lg, "apt-cache", "policy", "linux-source-6.12")
    m = re.search(r"Candidate: (\S+)", out)
    if not m or m.group(1) == "(none)":
        raise lg.StepFailed("source: linux-source-6.12 not found in bookworm-backports")
    version = m.group(1)
    tarball = os.path.join(base, "x", version, "usr", "src", "linux-source-6.12.tar.xz")
    if not os.path.exists(tarball):
        lg.say(f"downloading linux-source-6.12 {version} (bookworm-backports, private apt state)")
        apt(lg, "apt-get", "download", f"linux-source-6.12={version}")
        deb = next(f for f in os.listdir(base) if f.startswith("linux-source-6.12_") and f.endswith(".deb"))
        os.makedirs(os.path.join(base, "x", version), exist_ok=True)
        lg.run("source", ["dpkg-deb", "-x", os.path.join(base, deb), os.path.join(base, "x", version)])
        os.remove(os.path.join(base, deb))
    return version, tarball


def build(lg):
    lg.packages(lg.BUILD_TOOLS + PACKAGES)
    os.makedirs(lg.cache_root(), exist_ok=True)
    version, tarball = source(lg)
    cache = lg.cache_dir("linux-6.12-arm64", version, CROSS, RECIPE, FRAGMENT, PATCH, COUNT)
    return lg.build_pair("Linux 6.12 for arm64", cache, tarball, version, "arm64", CROSS, FRAGMENT, PATCH,
                         os.path.join("arch", "arm64", "boot", "Image"), base=COUNT, variants=VARIANTS)


def initramfs(lg):
    return lg.initramfs(INIT_C, CROSS, "arm64")


LINE = re.compile(r"^linux-gup-arm64: (\S+): pud (\d+): (?:read returned (-?\d+); data (\w+)|killed by signal (\d+)"
                  r"|x4 (0x[0-9a-f]+); (?:read|write) returned (-?\d+); data (.*))$")
COUNTED = re.compile(r"foldkern: gup_fast took (\d+) of (\d+)")
SCAN = re.compile(r"^linux-gup-arm64: scan: (\d+) correct, (\d+) wrong:([\d ]*); (\d+) killed:([\d ]*)$")
REG = re.compile(r"\b(x\d+|sp|lr|pc)\s*: ([0-9a-f]{16})")


def boot(lg, cache, kernel, cpu, initrd):
    lg.say(f"booting Linux 6.12 {kernel} on -cpu {cpu}")
    cmd = ["qemu-system-aarch64", "-M", "virt", "-cpu", cpu, "-m", "512M", "-nographic", "-no-reboot",
           "-kernel", os.path.join(cache, kernel, "Image"), "-initrd", initrd,
           "-append", "console=ttyAMA0 quiet"]
    _, out = lg.console(f"boot (arm64 {kernel}, {cpu})", cmd, 600)
    if "linux-gup-arm64: done" not in out:
        raise lg.StepFailed(f"boot (arm64 {kernel}, {cpu}): no 'linux-gup-arm64: done'; the console ended:\n{out[-3000:]}")
    return parse(out)


def parse(out):
    """Scenario results (index, what happened, the pages the lockless walk
    took: None where no count line came before), the scan (with the counts
    during it), and the oopses in order, each with its registers."""
    results, oopses, scan, cur = {}, [], None, None
    started, took, scan_took, x4 = False, None, [], {}
    for line in out.splitlines():
        line = line.strip()
        m = COUNTED.search(line)
        if m and started:
            if len(results) == len(SCENARIOS):
                scan_took.append(int(m.group(1)))
            elif took is None:  # the scenario's own call (a write's read-back comes after)
                took = int(m.group(1))
            continue
        if line == "linux-gup-arm64: start":
            started = True
        m = LINE.match(line)
        if m:
            name, idx = m.group(1), int(m.group(2))
            if m.group(5):
                what = "killed"
            elif m.group(8):
                what = m.group(8) if int(m.group(7)) == 2 * 16384 else "wrong"
                x4[name] = int(m.group(6), 16)
            else:
                what = "ok" if m.group(4) == "ok" and int(m.group(3)) == 2 * 16384 else "wrong"
            results[name] = (idx, what, took)
            took = None
            continue
        m = SCAN.match(line)
        if m:
            scan = {"correct": int(m.group(1)), "wrong": [int(x) for x in m.group(3).split()],
                    "killed": [int(x) for x in m.group(5).split()], "took": scan_took}
            continue
        if "Unable to handle kernel paging request at virtual address" in line:
            cur = {"address": line.split()[-1], "regs": {}}
            oopses.append(cur)
        elif cur is not None:
            if line.startswith("pc :"):
                cur["pc"] = line.split(":", 1)[1].strip().split()[0]
            for reg, val in REG.findall(line):
                cur["regs"].setdefault(reg, int(val, 16))
    results["x4"] = x4
    return results, scan, oopses


def model(lg, x4=0):
    out = lg.run("model", ["cargo", "run", "-q", "-p", "foldkern-host", "--example", "folding", "--",
                           "arm64-pread", hex(FD), hex(LEN), hex(OFF), hex(AT), hex(x4)], cwd=ROOT)
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


def predict(p, name, buggy):
    """What a kernel does in scenario `name` whose pud word the model says `p`
    of: (what happens to the data, the pages the lockless walk takes; None
    where the model does not say). `buggy`: the reverted kernel without LPA2."""
    if name in CRAFTED:
        if not buggy:
            return CRAFTED[name][1], 2
        # x4 is a table descriptor of the caller's own page, which the buggy
        # walk reads as a pmd table: the caller's fake tables, then its pages.
        if p["outcome"].startswith("a page of RAM"):
            return CRAFTED[name][0], 2
        return f"what the model does not say ({p['outcome']})", None
    if not buggy:
        return "ok", 2
    if p["outcome"].startswith("oops"):
        return "killed", None
    if p["outcome"] == "fallback":
        return "ok", 0
    return None, None


def compare(lg):
    cache = build(lg)
    initrd = initramfs(lg)
    pred = model(lg)
    runs = {(k, c): boot(lg, cache, k, cpu, initrd) for k in KERNELS for c, cpu in CPUS}
    # The crafted scenarios' word: the x4 the reverted kernel's run without LPA2 set.
    results = runs[("reverted", "lpa2=off")][0]
    x4 = results["x4"].get("crafted-read", 0)
    crafted = model(lg, x4=x4)[results.get("crafted-read", (2010,))[0]]
    print("\narm64, Linux 6.12 (16 KiB pages, 52-bit VA with LPA2, 4 levels): O_DIRECT reads of two pages;")
    print("without LPA2 the reverted kernels' pud pointer is stack base + 8 * pud index (foldkern_host::model::arm64);")
    print("'took' is how many of the 2 pages the lockless walk alone took (the slow path takes the rest)")
    agree = total = 0
    for name in SCENARIOS:
        total += 1
        ok = True
        idx = runs[("shipped", "lpa2")][0][name][0]
        p = crafted if name in CRAFTED else pred[idx]
        word = f"x4 = {x4:#x}, a table descriptor of the caller's own page" if name in CRAFTED else p["word"]
        print(f"\n{name}: pud {idx}, stack +{p['offset']:#x} ({word}): model: {p['outcome']}")
        for (k, c), (results, _, oopses) in runs.items():
            got, took = results.get(name, (idx, "missing", None))[1:]
            want, want_took = predict(p, name, k.startswith("reverted") and c == "lpa2=off")
            same = (want is None or got == want) and (want_took is None or took == want_took)
            note = "" if took is None else f", took {took}"
            if got == "killed":
                # This scenario's oops is the one printed before its kill line: the
                # named scenarios run first, in order, so count kills before it.
                killed_before = [s for s in SCENARIOS[:SCENARIOS.index(name)] if results.get(s, (0, ""))[1] == "killed"]
                oops = oopses[len(killed_before)] if len(oopses) > len(killed_before) else None
                reg = oops and pointer_register(oops, p["offset"])
                note += f"; oops at {oops['address'] if oops else '?'}, {reg or 'no register'} = stack base + {p['offset']:#x}"
                same &= bool(reg)
            ok &= same
            print(f"  Linux 6.12 {k + ', ' + c + ':':<31} {got}{note}{'' if same else '  DIFFERS'}")
        agree += ok
    # The scan.
    print("\nscan: a read at each of the 2048 pud indices")
    oops_pred = {i for i, p in pred.items() if p["outcome"].startswith("oops")}
    ok_pred = {i for i, p in pred.items() if p["outcome"] == "fallback"}
    for (k, c), (_, scan, _) in runs.items():
        total += 1
        s = scan or {"correct": 0, "wrong": ["?"], "killed": ["?"], "took": []}
        took = s["took"]
        if k.startswith("reverted") and c == "lpa2=off":
            killed = set(s["killed"])
            # Every read the walk survives, it leaves to the slow path.
            same = (oops_pred <= killed and not (killed & ok_pred) and not s["wrong"]
                    and len(took) == 2048 - len(killed) and not any(took))
            others = sorted(killed - oops_pred)
            print(f"  Linux 6.12 {k + ', ' + c + ':':<31} {s['correct']} correct, the lockless walk taking"
                  f" {sum(took)} pages in {len(took)} calls, {len(s['killed'])} killed by an oops;"
                  f" model: oops at {sorted(oops_pred)} (pt_regs words naming a table at physical 0),"
                  f" fallback at the {len(ok_pred)} words it knows to be invalid;"
                  f" the kernel's own frames (not predicted) oopsed at {others}{'' if same else '  DIFFERS'}")
        else:
            same = s["correct"] == 2048 and took == [2] * 2048
            print(f"  Linux 6.12 {k + ', ' + c + ':':<31} {s['correct']} correct, the lockless walk taking"
                  f" both pages in {took.count(2)} of {len(took)} calls{'' if same else '  DIFFERS'}")
        agree += same
    print(f"\nlinux: arm64: {agree} of {total} checks agree with foldkern")
    return agree == total
