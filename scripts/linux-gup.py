#!/usr/bin/env python3
"""Linux itself, before and after the 2020 fix, beside foldkern's prediction.

`./qemu-run.sh linux` runs this script:

1. packages: Debian's linux-source-6.1, the s390x cross compiler and libc, and
   the kernel's build tools (flex, bison, bc, libelf-dev, libssl-dev), from
   the host's own apt sources (installed with apt-get when root, otherwise the
   job stops with the command; the dpkg architecture list is not touched);
2. build: Linux 6.1 for s390x from `make tinyconfig` plus linux/s390x-6.1.config,
   twice: as shipped, and with linux/revert-gup-fast-folding.patch (the fix
   d3f7b1bb2040 undone in mm/gup.c). Both are cached outside the checkout
   (${FOLDKERN_CACHE:-~/.cache/foldkern}/linux-6.1-s390x-<key>), keyed by the
   source package's version, the compiler's, the fragment, the patch and this
   script's recipe, so fresh clones and CI on the same machine reuse them;
3. init: linux/gup-init.c as a static /init in a newc initramfs;
4. boot: each kernel in qemu-system-s390x -M s390-ccw-virtio; the init runs
   every scenario of SCENARIOS and CLAIMS and reports where each page's data
   went;
5. predict: foldkern (the ELF given with --kernel) boots the same scenarios
   through its command line (`gup=...:decoy=...`); its `offset_lockless`
   variant predicts the shipped kernel and its "pre-fix, Linux's frame"
   variant the reverted one;
6. compare: per scenario, both kernels beside the predictions, ending with
   `linux: N of N scenarios agree with foldkern`; then each of CLAIMS, a
   difference docs/linux-map.md states between foldkern and Linux, held
   against what both kernels did (`linux: N of N stated differences hold in
   the real kernels`). Exit status 1 when either falls short.

`--layout` prints the layout of the reverted kernel's stack copies, read from
the disassembly of its internal_get_user_pages_fast (the model's
`LinuxFrame::COPIES`; the harness test
`the_model_s_linux_frame_is_the_compiled_one` in tests/kernel.rs holds them
equal). `--build` stops after
step 2 and prints the cache directory. Every failing step stops the job
naming the step and, where it is a missing package, the command.
"""
import functools
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LINUX = os.path.join(ROOT, "linux")
FRAGMENT = os.path.join(LINUX, "s390x-6.1.config")
PATCH = os.path.join(LINUX, "revert-gup-fast-folding.patch")
INIT_C = os.path.join(LINUX, "gup-init.c")
WORK = os.path.join(ROOT, "target", "linux")
TARBALL = "/usr/src/linux-source-6.1.tar.xz"
CROSS = "s390x-linux-gnu-"
# Change this when the build steps below change: it is part of the cache key.
RECIPE = "tinyconfig + fragment, olddefconfig, bzImage; then the patch, bzImage"
# What building any of the kernels needs: (how to tell it is there, the
# Debian package).
BUILD_TOOLS = [
    ("/usr/bin/make", "make"),
    ("/usr/bin/gcc", "gcc"),
    ("/usr/include/stdio.h", "libc6-dev"),
    ("/usr/bin/patch", "patch"),
    ("/usr/bin/flex", "flex"),
    ("/usr/bin/bison", "bison"),
    ("/usr/bin/bc", "bc"),
    ("/usr/include/libelf.h", "libelf-dev"),
    ("/usr/include/openssl/ssl.h", "libssl-dev"),
]
# And the s390x kernels: the source, the cross compiler, the emulator.
PACKAGES = BUILD_TOOLS + [
    (TARBALL, "linux-source-6.1"),
    (shutil.which(CROSS + "gcc") or "/usr/bin/" + CROSS + "gcc", "gcc-s390x-linux-gnu"),
    ("/usr/s390x-linux-gnu/lib/libc.a", "libc6-dev-s390x-cross"),
    ("/usr/bin/qemu-system-s390x", "qemu-system-misc"),
]

# name: (what it is, foldkern's scenario; the init's table in linux/gup-init.c
# has the same names, addresses and directions).
SCENARIOS = {
    "3-level-read-decoy": (
        "3 levels, O_DIRECT read into 0x1007ffff000-0x10080001000 (across 2 GiB), decoy 2 GiB lower",
        "gup=3:0x1007ffff000-0x10080001000:write:decoy=0x10000000000",
    ),
    "3-level-read": (
        "3 levels, the same crossing, nothing mapped 2 GiB lower",
        "gup=3:0x1007ffff000-0x10080001000:write",
    ),
    "4-level-read-decoy": (
        "4 levels, read into 0x7fffffff000-0x80000001000 (across 8 TiB), decoy 4 TiB lower",
        "gup=4:0x7fffffff000-0x80000001000:write:decoy=0x40000000000",
    ),
    "4-level-read-2g-decoy": (
        "4 levels (a page at 8 TiB), read across 2 GiB, decoy 2 GiB lower",
        "gup=4:0x1007ffff000-0x10080001000:write:decoy=0x10000000000",
    ),
    "3-level-write-decoy": (
        "3 levels, O_DIRECT write from a buffer across 2 GiB, decoy 2 GiB lower",
        "gup=3:0x1007ffff000-0x10080001000:decoy=0x10000000000",
    ),
    "5-level-read-2g-decoy": (
        "5 levels (a page at 8 PiB), read across 2 GiB, decoy 2 GiB lower",
        "gup=5:0x1007ffff000-0x10080001000:write:decoy=0x10000000000",
    ),
}
# What the real kernels must do where docs/linux-map.md says foldkern differs
# from them: (what, the Kconfig option the claim rests on being off, what each
# kernel's line must say). Not folding scenarios: foldkern is not booted for
# them.
CLAIMS = {
    # Without CONFIG_NUMA_BALANCING s390 has no pte_protnone, and the generic
    # pte_access_permitted (pte_present) lets gup_fast pin a PAGE_NONE page
    # for a read of it; the slow path would refuse the VMA (check_vma_flags:
    # no VM_READ, -EFAULT). foldkern's PTE loop stops at it.
    "3-level-write-prot-none": (
        "O_DIRECT write from a PROT_NONE buffer (PAGE_NONE PTEs): gup_fast pins it "
        "without NUMA_BALANCING; foldkern's PTE loop does not (linux-map.md)",
        "CONFIG_NUMA_BALANCING",
        ("write", 8192, ["buffer", "buffer"]),
    ),
}
# Which foldkern variant stands for which kernel.
KERNELS = [("shipped", "offset_lockless"), ("reverted", "pre-fix, Linux's frame")]
# What the slow path does with a page gup_fast did not take: the right thing.
FOLDKERN_TO_LINUX = {"buffer": "buffer", "decoy": "decoy", "slow path": "buffer", "elsewhere": "lost"}


class StepFailed(Exception):
    pass


def say(msg):
    print(f"linux: {msg}", file=sys.stderr, flush=True)


def run(step, cmd, **kw):
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, **kw)
    except OSError as e:
        raise StepFailed(f"{step}: cannot run {cmd[0]}: {e}")
    if r.returncode != 0:
        raise StepFailed(f"{step}: {' '.join(cmd)} exited {r.returncode}\n{r.stdout[-3000:]}{r.stderr[-3000:]}")
    return r.stdout


def packages(wanted=None):
    wanted = PACKAGES if wanted is None else wanted
    missing = sorted({pkg for path, pkg in wanted if not os.path.exists(path)})
    if not missing:
        return
    cmd = ["apt-get", "install", "-y", "-q", "--no-install-recommends"] + missing
    if os.geteuid() == 0 and shutil.which("apt-get"):
        say(f"installing {' '.join(missing)} (apt-get)...")
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        # One apt at a time: the test command installs from parallel tests.
        with open("/tmp/foldkern-apt.lock", "w") as lock:
            import fcntl

            fcntl.flock(lock, fcntl.LOCK_EX)
            r = subprocess.run(cmd, env=env, capture_output=True, text=True)
            if r.returncode != 0:
                subprocess.run(["apt-get", "update", "-q"], env=env, capture_output=True)
                r = subprocess.run(cmd, env=env, capture_output=True, text=True)
        missing = sorted({pkg for path, pkg in wanted if not os.path.exists(path)})
        if not missing:
            return
    raise StepFailed(f"packages: missing {' '.join(missing)}; install them with:\n    sudo {' '.join(cmd[:2])} {' '.join(missing)}")


def source_version():
    out = run("packages", ["dpkg-query", "-W", "-f", "${Version}", "linux-source-6.1"])
    return out.strip()


def cache_dir(name, version, cross, recipe, fragment, patch, *extra):
    """The cache directory of a kernel pair: `name` and a key of everything
    the build depends on (source version, compiler, recipe, fragment, patch,
    and any `extra` files)."""
    gcc = run("packages", [cross + "gcc", "--version"]).splitlines()[0]
    h = hashlib.sha256()
    for part in (version, gcc, recipe):
        h.update(part.encode() + b"\0")
    for path in (fragment, patch, *extra):
        with open(path, "rb") as f:
            h.update(f.read() + b"\0")
    return os.path.join(cache_root(), f"{name}-" + h.hexdigest()[:16])


def cache_root():
    """Where built kernels and downloaded sources are kept, outside the
    checkout: $FOLDKERN_CACHE, or ~/.cache/foldkern."""
    return os.environ.get("FOLDKERN_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "foldkern")


def built(cache):
    """Whether a complete build is there: its stamp is written last."""
    return os.path.exists(os.path.join(cache, "complete"))


def make(step, src, obj, *targets, arch="s390", cross=CROSS):
    """Run make, printing a line of progress every 20 s (objects built so far)."""
    cmd = ["make", "-C", src, f"O={obj}", f"ARCH={arch}", f"CROSS_COMPILE={cross}", f"-j{os.cpu_count() or 1}"]
    cmd += list(targets)
    log = os.path.join(obj, f"make-{step.replace(' ', '-')}.log")
    count = [0]
    start = time.monotonic()
    with open(log, "w") as out:
        try:
            p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        except OSError as e:
            raise StepFailed(f"build ({step}): cannot run make: {e}")
        done = threading.Event()

        def tick():
            while not done.wait(20):
                say(f"  {step}: {count[0]} files built, {time.monotonic() - start:.0f} s")

        t = threading.Thread(target=tick, daemon=True)
        t.start()
        for line in p.stdout:
            out.write(line)
            if line.startswith("  CC ") or line.startswith("  AS "):
                count[0] += 1
        p.wait()
        done.set()
    if p.returncode != 0:
        with open(log) as f:
            tail = f.read()[-3000:]
        raise StepFailed(f"build ({step}): {' '.join(cmd)} exited {p.returncode}; the end of {log}:\n{tail}")
    say(f"  {step}: done in {time.monotonic() - start:.0f} s")


def merge(src, obj, mk, fragment):
    """Merge the Kconfig `fragment` into obj/.config (merge_config.sh, then
    olddefconfig), failing if Kconfig dropped any of its lines."""
    # merge_config.sh keeps its temporary files in the working directory.
    run("configure", [os.path.join(src, "scripts", "kconfig", "merge_config.sh"), "-m", "-O", obj,
                      os.path.join(obj, ".config"), fragment], cwd=obj)
    run("configure", mk + ["olddefconfig"])
    with open(os.path.join(obj, ".config")) as f:
        config = set(f.read().splitlines())
    with open(fragment) as f:
        wanted = [line for line in f.read().splitlines() if line.startswith(("CONFIG_", "# CONFIG_"))]
    lost = [w for w in wanted if w not in config]
    if lost:
        raise StepFailed(f"configure: Kconfig dropped {', '.join(lost)} from {fragment}")


def build_pair(what, cache, tarball, version, arch, cross, fragment, patch, image, keep=(), base=None, variants=()):
    """Build the kernels of KERNELS into `cache` (shipped, then with `patch`)
    from `tarball`'s tinyconfig plus `fragment`, unless a complete build is
    there; with `base`, a patch applied to both first; then each of
    `variants`, (name, Kconfig lines), the reverted kernel with those lines
    merged. Each kernel's `image` (a path under the object tree), its `keep`
    files and its .config go to cache/<kernel>."""
    if built(cache):
        return cache
    os.makedirs(cache, exist_ok=True)
    import fcntl

    with open(os.path.join(cache, ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another run may be building it
        if built(cache):
            return cache
        say(f"building {what}, shipped and with the fix reverted, into {cache}")
        say("(each full build takes about 2 minutes on 2 cores; later runs reuse them)")
        work = os.path.join(cache, "work")
        shutil.rmtree(work, ignore_errors=True)
        os.makedirs(work)
        say(f"  unpacking {os.path.basename(tarball)} ({version})")
        run("unpack", ["tar", "-xf", tarball, "-C", work])
        src = os.path.join(work, os.path.basename(tarball).removesuffix(".tar.xz"))
        obj = os.path.join(work, "obj")
        os.makedirs(obj)
        mk = ["make", "-C", src, f"O={obj}", f"ARCH={arch}", f"CROSS_COMPILE={cross}"]
        run("configure", mk + ["tinyconfig"])
        merge(src, obj, mk, fragment)
        if base:
            run("patch", ["patch", "-p1", "-d", src, "-i", base])
        for kernel, lines in [(k, None) for k, _ in KERNELS] + list(variants):
            if kernel == "reverted":
                run("patch", ["patch", "-p1", "-d", src, "-i", patch])
            if lines:
                more = os.path.join(obj, f"{kernel}.config")
                with open(more, "w") as f:
                    f.write("\n".join(lines) + "\n")
                merge(src, obj, mk, more)
            make(f"{arch} {kernel}", src, obj, os.path.basename(image), arch=arch, cross=cross)
            # Into a fresh directory, renamed into place when complete: an
            # interrupted copy leaves nothing a later run would take.
            out, part = os.path.join(cache, kernel), os.path.join(work, kernel)
            os.makedirs(part)
            for f in (image, *keep):
                shutil.copy(os.path.join(obj, f), part)
            shutil.copy(os.path.join(obj, ".config"), os.path.join(part, "config"))
            shutil.rmtree(out, ignore_errors=True)
            os.rename(part, out)
        open(os.path.join(cache, "complete"), "w").close()
        shutil.rmtree(work)
    return cache


def build():
    """Both s390x kernels, from the cache when it has them."""
    packages()
    version = source_version()
    cache = cache_dir("linux-6.1-s390x", version, CROSS, RECIPE, FRAGMENT, PATCH)
    return build_pair("Linux 6.1 for s390x", cache, TARBALL, version, "s390", CROSS, FRAGMENT, PATCH,
                      os.path.join("arch", "s390", "boot", "bzImage"), keep=("vmlinux",))


@functools.cache
def script(name, file):
    """scripts/`file` loaded (once) as the module `name`."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(name, os.path.join(os.path.dirname(os.path.abspath(__file__)), file))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def bench():
    """scripts/linux-bench.py as a module: its newc writer and private apt state."""
    return script("linux_bench", "linux-bench.py")


def newc(entries):
    """A newc cpio archive of (name, mode, data) entries (linux-bench.py's)."""
    return bench().cpio_newc(entries)


def initramfs(init_c=INIT_C, cross=CROSS, name="s390x"):
    """`init_c` built static with `cross`, as /init of a newc initramfs."""
    os.makedirs(WORK, exist_ok=True)
    exe = os.path.join(WORK, f"{name}-init")
    run("init", [cross + "gcc", "-static", "-O2", "-Wall", "-Werror", "-o", exe, init_c])
    with open(exe, "rb") as f:
        data = f.read()
    path = os.path.join(WORK, f"{name}-initramfs.cpio")
    with open(path, "wb") as f:
        f.write(newc([("dev", 0o040755, b""), ("init", 0o100755, data)]))
    return path


def console(step, cmd, timeout):
    """Run the machine `cmd` to its end: its exit status and its console
    (stdout and stderr). Past `timeout` seconds the step fails with the
    console's end."""
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired as e:
        out = (e.stdout or b"").decode(errors="replace") if isinstance(e.stdout, bytes) else (e.stdout or "")
        raise StepFailed(f"{step}: no end after {timeout} s; the console ended:\n{out[-2000:]}")
    return r.returncode, r.stdout + r.stderr


def qemu(step, kernel, args, timeout=300):
    """Boot `kernel` (s390x) with `args` under QEMU: see `console`."""
    cmd = ["qemu-system-s390x", "-nodefaults", "-nographic", "-no-reboot", "-machine", "s390-ccw-virtio,accel=tcg",
           "-chardev", "stdio,id=con0", "-device", "sclpconsole,chardev=con0", "-kernel", kernel] + args
    return console(step, cmd, timeout)


LINUX_LINE = re.compile(r"^linux-gup: (\S+): (read|write) returned (-?\d+); page 0: (\w+); page 1: (\w+)")


def boot_linux(cache, kernel, initrd):
    say(f"booting Linux 6.1 {kernel}")
    status, out = qemu(f"boot ({kernel})", os.path.join(cache, kernel, "bzImage"),
                       ["-m", "512M", "-initrd", initrd, "-append", "console=ttysclp0 quiet"])
    got = {}
    for line in out.splitlines():
        m = LINUX_LINE.match(line.strip())
        if m:
            got[m.group(1)] = (m.group(2), int(m.group(3)), [m.group(4), m.group(5)])
    if "linux-gup: done" not in out or set(got) != set(SCENARIOS) | set(CLAIMS):
        raise StepFailed(f"boot ({kernel}): expected a line for each of {', '.join([*SCENARIOS, *CLAIMS])} and "
                         f"'linux-gup: done' (QEMU exit status {status}); the console ended:\n{out[-3000:]}")
    return got


def linux_line(kernel, result):
    """What `kernel` did in one scenario, `result` as `boot_linux` parsed it."""
    op, n, got = result
    return f"  Linux 6.1 {kernel + ':':<24} {op} returned {n}; page 0: {got[0]}; page 1: {got[1]}"


def claim(cache, linux, name):
    """Whether both kernels did what CLAIMS[name] says, printed beside it;
    a kernel built with the claim's option on cannot hold it."""
    what, option, want = CLAIMS[name]
    print(f"\n{name}: {what}")
    ok = True
    for kernel, _ in KERNELS:
        with open(os.path.join(cache, kernel, "config")) as f:
            off = f"{option}=y" not in f.read().splitlines()
        same = off and linux[kernel][name] == want
        ok &= same
        print(linux_line(kernel, linux[kernel][name])
              + f"{'' if off else f'  (built with {option}=y)'}{'' if same else '  DIFFERS'}")
    return ok


def foldkern(elf, spec):
    status, out = qemu(f"foldkern {spec}", elf, ["-m", "256M", "-append", spec], timeout=120)
    if status != 0:
        raise StepFailed(f"foldkern {spec}: exit status {status}; the console ended:\n{out[-2000:]}")
    fates, variant = {}, None
    for line in out.splitlines():
        m = re.match(r"^  \[(.+?)\] ", line)
        if m:
            variant = m.group(1)
        m = re.match(r"^    fates: page 0: ([a-z ]+); page 1: ([a-z ]+);$", line)
        if m and variant:
            fates[variant] = [m.group(1), m.group(2)]
    want = [v for _, v in KERNELS]
    if not all(v in fates for v in want):
        raise StepFailed(f"foldkern {spec}: no fates for {', '.join(want)}; the console ended:\n{out[-2000:]}")
    return fates


LA = re.compile(r"^\s*[0-9a-f]+:\s+la\s+%r(\d+),(\d+)\(%r15\)$")
STEP = re.compile(r"^\s*[0-9a-f]+:\s+la\s+%r(\d+),8\(%r(\d+)\)$")
STG = re.compile(r"^\s*([0-9a-f]+):\s+stg\s+%r\d+,(\d+)\(%r15\)$")
FRAME = re.compile(r"^\s*[0-9a-f]+:\s+lay\s+%r15,-(\d+)\(%r15\)$")
STMG = re.compile(r"^\s*[0-9a-f]+:\s+stmg\s+%r(\d+),%r\d+,(\d+)\(%r15\)$")


def layout(vmlinux):
    """The stack copies of the pre-fix walk in a kernel's
    internal_get_user_pages_fast: the words whose address the walk takes
    (`la %rN,OFF(%r15)`: pXd_offset(&copy) on a folded level), named in the
    order the walk first stores them (pgd, p4d, pud), as offsets above the
    caller's stack pointer; and what the word after them holds."""
    syms = run("layout", [CROSS + "nm", vmlinux])
    addrs = sorted(int(a, 16) for a, t, n in (line.split() for line in syms.splitlines() if line.count(" ") == 2))
    start = next(int(line.split()[0], 16) for line in syms.splitlines()
                 if line.endswith(" internal_get_user_pages_fast"))
    stop = next(a for a in addrs if a > start)
    dis = run("layout", [CROSS + "objdump", "-d", "--no-show-raw-insn", f"--start-address={start:#x}",
                         f"--stop-address={stop:#x}", vmlinux]).splitlines()
    frame = next(int(m.group(1)) for m in map(FRAME.match, dis) if m)
    taken = {int(m.group(2)) for m in map(LA.match, dis) if m}
    # The registers a copy's address is loaded into: their `la %rN,8(%rN)`
    # is a pXdp++ kept in a register (the others live in stack slots: agsi).
    pointer_regs = {m.group(1) for m in map(LA.match, dis) if m}
    first_store = {}
    for m in map(STG.match, dis):
        if m and int(m.group(2)) in taken:
            first_store.setdefault(int(m.group(2)), int(m.group(1), 16))
    if len(first_store) != 3:
        raise StepFailed(f"layout: expected 3 stack copies whose address is taken, found {sorted(taken)}")
    order = sorted(first_store, key=first_store.get)
    copies = [(name, off - frame) for name, off in zip(("pgd", "p4d", "pud"), order)]
    after = copies[-1][1] + 8
    saves = next(m for m in map(STMG.match, dis) if m)
    first_reg, save_off = int(saves.group(1)), int(saves.group(2))
    reg = first_reg + (after - save_off) // 8
    holds = f"the caller's saved %r{reg}" if after >= save_off and (after - save_off) % 8 == 0 else "unknown"
    def step(line):
        m = STEP.match(line)
        return bool(m) and m.group(1) == m.group(2) and m.group(1) in pointer_regs

    lines = [line.strip() for line in dis if FRAME.match(line) or STMG.match(line) or LA.match(line)
             or (STG.match(line) and int(STG.match(line).group(1), 16) in first_store.values())
             or re.search(r"\sagsi\s", line) or step(line)]
    return frame, copies, (after, holds), lines


def print_layout(cache):
    frame, copies, (after, holds), lines = layout(os.path.join(cache, "reverted", "vmlinux"))
    print(f"frame {frame}")
    for name, off in copies:
        print(f"{name} copy {off}")
    print(f"after {after} {holds}")
    for line in lines:
        print("  " + re.sub(r"^[0-9a-f]+:\s+", "", line).replace("\t", " "))


def main(argv):
    elf = None
    mode = "compare"
    arches = ["s390x", "arm64"]
    while argv:
        a = argv.pop(0)
        if a == "--kernel" and argv:
            elf = argv.pop(0)
        elif a in ("--layout", "--build"):
            mode = a[2:]
        elif a == "--arch" and argv and argv[0] in ("s390x", "arm64"):
            arches = [argv.pop(0)]
        elif a == "--kunit-tool":
            return kunit_tool()
        else:
            print(f"linux-gup.py: unknown argument '{a}' (--kernel ELF, --arch s390x|arm64, --layout, --build)",
                  file=sys.stderr)
            return 2
    ok = True
    if "s390x" in arches:
        ok = s390x(mode, elf)
        if mode != "compare":
            return 0 if ok else 1
    if "arm64" in arches:
        try:
            ok &= script("linux_arm64", "linux_arm64.py").compare(sys.modules[__name__])
        except StepFailed as e:
            print(f"linux: arm64: failed: {e}", file=sys.stderr)
            ok = False
    return 0 if ok else 1


def kunit_tool():
    """Print the path of Linux 6.1's kunit.py, extracted (once) from Debian's
    linux-source-6.1 into target/kunit: the harness runs `kunit.py parse`
    over the kernel's KTAP output."""
    try:
        packages([(TARBALL, "linux-source-6.1")])
        dest = os.path.join(ROOT, "target", "kunit")
        tool = os.path.join(dest, "linux-source-6.1", "tools", "testing", "kunit", "kunit.py")
        if not os.path.exists(tool):
            os.makedirs(dest, exist_ok=True)
            run("kunit", ["tar", "-xf", TARBALL, "-C", dest, "--wildcards", "linux-source-6.1/tools/testing/kunit/*"])
        print(tool)
        return 0
    except StepFailed as e:
        print(f"linux: failed: {e}", file=sys.stderr)
        return 1


def s390x(mode, elf):
    """The s390x kernels, shipped and reverted, beside foldkern's kernel."""
    try:
        cache = build()
        if mode == "build":
            print(cache)
            return True
        if mode == "layout":
            print_layout(cache)
            return True
        if not elf:
            raise StepFailed("predict: no foldkern kernel given (--kernel ELF)")
        initrd = initramfs()
        linux = {k: boot_linux(cache, k, initrd) for k, _ in KERNELS}
        frame, copies, (after, holds), _ = layout(os.path.join(cache, "reverted", "vmlinux"))
        print(f"Linux 6.1 reverted, internal_get_user_pages_fast (frame {frame} bytes): stack copies at "
              + ", ".join(f"{n} +{o}" for n, o in copies) + f" above the caller's stack pointer, then +{after}: {holds}")
        agree = 0
        for name, (what, spec) in SCENARIOS.items():
            say(f"foldkern {spec}")
            fates = foldkern(elf, spec)
            print(f"\n{name}: {what}")
            print(f"  (foldkern: ./qemu-run.sh {spec})")
            ok = True
            for kernel, variant in KERNELS:
                _, n, got = linux[kernel][name]
                raw = fates[variant]
                want = [FOLDKERN_TO_LINUX[f] for f in raw]
                same = got == want and n == 8192
                shown = [w + (" (the slow path's)" if r == "slow path" else "") for w, r in zip(want, raw)]
                ok &= same
                print(linux_line(kernel, linux[kernel][name]))
                print(f"    foldkern {variant + ':':<23} page 0: {shown[0]}; page 1: {shown[1]}"
                      f"{'' if same else '  DIFFERS'}")
            agree += ok
        print(f"\nlinux: {agree} of {len(SCENARIOS)} scenarios agree with foldkern")
        held = sum(claim(cache, linux, name) for name in CLAIMS)
        print(f"linux: {held} of {len(CLAIMS)} stated differences hold in the real kernels")
        return agree == len(SCENARIOS) and held == len(CLAIMS)
    except StepFailed as e:
        print(f"linux: failed: {e}", file=sys.stderr)
        return False


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
