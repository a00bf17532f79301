# gdb helper: count the instructions of calls of one function, per function (and
# per source line inside the gup_fast walker), by single-stepping.
#
#   qemu-system-s390x ... -icount shift=0 -s -S -kernel KERNEL -append bench=smoke
#   gdb-multiarch -ex 'set architecture s390:64-bit' -ex 'target remote :1234' \
#       -x scripts/count-insns.py -ex 'fk-count walk 1 17' KERNEL
#
# `fk-count WHERE N [SKIP]` stops at WHERE (a hardware breakpoint), lets SKIP
# calls run, then steps each of the next N calls to completion and prints a
# histogram. `fk-trace WHERE [SKIP]` prints every instruction of one call with its
# source line (how docs/bench.md found the stack traffic in the walk down). WHERE is
# an address, `gup_fast` (or `walk`) for the whole call without hooks (the fixes'
# walks are inlined into gup_fast: the benchmark measures it), or `walk-instr`
# for the same walk with the explaining hooks (the `gup=` scenarios and the tests).
# `fk-phases [SKIP]` splits one plain gup_fast call into what comes before
# interrupts go off, the walk down, the PTE loop and what follows it (the
# figures docs/bench.md quotes; a harness test compares them).
import collections
import gdb

GUP_FAST = "foldkern::gup::fast::gup_fast<foldkern::arch::s390x::platform::KernelPlatform, foldkern::gup::hooks::NoHooks>"
WALKERS = {
    "gup_fast": [GUP_FAST],
    "walk": [GUP_FAST],
    "walk-instr": ["foldkern::gup::fast::gup_fast<foldkern::arch::s390x::platform::KernelPlatform, foldkern::gup::hooks::Explain>"],
}


def resolve(where):
    if where in WALKERS:
        for name in WALKERS[where]:
            syms = gdb.lookup_static_symbols(name)
            if syms:
                print("foldkern: %s is %s" % (where, name))
                return "0x%x" % int(syms[0].value().address)
        raise gdb.GdbError("no symbol for %s: %s (inlined?)" % (where, ", ".join(WALKERS[where])))
    return where


def stop_at(addr, skip):
    """Stop at the entry of the call of `addr` after `skip` calls; its return
    address and stack pointer (the call has ended when both are back)."""
    gdb.execute("set pagination off")
    gdb.execute("hbreak *%s" % addr)
    for _ in range(skip + 1):
        gdb.execute("continue", to_string=True)
    return int(gdb.parse_and_eval("$r14")) & 0xFFFFFFFFFFFFFFFF, int(gdb.parse_and_eval("$r15"))


def in_walker(sym):
    return "gup::fast" in sym


class FkCount(gdb.Command):
    """fk-count WHERE N [SKIP]: instruction histogram of N calls of WHERE after SKIP calls."""

    def __init__(self):
        super().__init__("fk-count", gdb.COMMAND_RUNNING)

    def invoke(self, arg, from_tty):
        args = arg.split()
        addr, calls = resolve(args[0]), int(args[1])
        skip = int(args[2]) if len(args) > 2 else 0
        gdb.execute("set pagination off")
        gdb.execute("hbreak *%s" % addr)
        for _ in range(skip):
            gdb.execute("continue", to_string=True)
        for call in range(calls):
            gdb.execute("continue", to_string=True)
            ret = int(gdb.parse_and_eval("$r14")) & 0xFFFFFFFFFFFFFFFF
            sp = int(gdb.parse_and_eval("$r15"))
            hist = collections.Counter()
            n = 0
            while n < 100000:
                pc = int(gdb.parse_and_eval("$pc")) & 0xFFFFFFFFFFFFFFFF
                if pc == ret and int(gdb.parse_and_eval("$r15")) == sp:
                    break
                sym = gdb.execute("info symbol %d" % pc, to_string=True).split(" in section")[0].split("+")[0].strip()
                if in_walker(sym):
                    sal = gdb.find_pc_line(pc)
                    name = sal.symtab.filename.split("/")[-1] if sal.symtab else "?"
                    hist["%s:%d" % (name, sal.line)] += 1
                else:
                    hist[sym[:70]] += 1
                n += 1
                gdb.execute("stepi", to_string=True)
            print("call %d: %d instructions" % (skip + call, n))
            for k, v in hist.most_common(25):
                print("  %6d  %s" % (v, k))


class FkTrace(gdb.Command):
    """fk-trace WHERE [SKIP]: every instruction of one call of WHERE (after SKIP calls),
    with its function and source line, as the CPU executed them."""

    def __init__(self):
        super().__init__("fk-trace", gdb.COMMAND_RUNNING)

    def invoke(self, arg, from_tty):
        args = arg.split()
        skip = int(args[1]) if len(args) > 1 else 0
        ret, sp = stop_at(resolve(args[0]), skip)
        arch = gdb.selected_frame().architecture()
        n = 0
        while n < 100000:
            pc = int(gdb.parse_and_eval("$pc")) & 0xFFFFFFFFFFFFFFFF
            if pc == ret and int(gdb.parse_and_eval("$r15")) == sp:
                break
            insn = arch.disassemble(pc)[0]["asm"]
            sal = gdb.find_pc_line(pc)
            where = "%s:%d" % (sal.symtab.filename.split("/")[-1], sal.line) if sal.symtab else "?"
            print("%6d  %#x  %-40s %s" % (n, pc, insn[:40], where))
            n += 1
            gdb.execute("stepi", to_string=True)
        print("call %d: %d instructions" % (skip, n))


class FkPhases(gdb.Command):
    """fk-phases [SKIP]: one plain gup_fast call (after SKIP calls) split into
    its phases: up to interrupts off (STNSM), the walk down, the PTE loop (what
    gup_fast calls), and what follows the last PTE loop."""

    def __init__(self):
        super().__init__("fk-phases", gdb.COMMAND_RUNNING)

    def invoke(self, arg, from_tty):
        skip = int(arg) if arg.strip() else 0
        addr = resolve("gup_fast")
        ret, sp = stop_at(addr, skip)
        # gup_fast's own code: its outermost block (the fixes' walks are inlined).
        start = int(addr, 16)
        block = gdb.block_for_pc(start)
        while block.superblock is not None and not block.superblock.is_static:
            block = block.superblock
        hi = block.end
        arch = gdb.selected_frame().architecture()
        tags = []
        irqs_off = False
        while len(tags) < 100000:
            pc = int(gdb.parse_and_eval("$pc")) & 0xFFFFFFFFFFFFFFFF
            if pc == ret and int(gdb.parse_and_eval("$r15")) == sp:
                break
            insn = arch.disassemble(pc)[0]["asm"]
            if not irqs_off:
                tags.append("before")
                irqs_off = insn.startswith("stnsm")
            elif start <= pc < hi:
                tags.append("walk")
            else:
                tags.append("pte")
            gdb.execute("stepi", to_string=True)
        last = max((i for i, t in enumerate(tags) if t == "pte"), default=len(tags))
        tags = ["after" if i > last else t for i, t in enumerate(tags)]
        print("call %d: %d instructions" % (skip, len(tags)))
        for tag, what in [
            ("before", "up to interrupts off (access_ok, the flags, the walk chosen)"),
            ("walk", "the walk down, to the PTE loop"),
            ("pte", "the PTE loop"),
            ("after", "after it (the outcome, interrupts back on)"),
        ]:
            print("  %-62s %4d" % (what, tags.count(tag)))


FkCount()
FkTrace()
FkPhases()
print("foldkern: fk-count WHERE N [SKIP], fk-trace WHERE [SKIP] and fk-phases [SKIP] are available")
