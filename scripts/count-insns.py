# gdb helper: count the instructions of one call, per function (and per source
# line inside the function named by FK_FOCUS), by single-stepping.
#
#   ./qemu-run.sh --gdb gup=3:0x1007ffff000-0x10080040000      # 65 pages: no trace
#   gdb-multiarch -ex 'set architecture s390:64-bit' -ex 'target remote :1234' \
#       -x scripts/count-insns.py \
#       -ex 'fk-count 0x<address of gup_fast> 3' target/s390x-unknown-linux-gnu/release/foldkern
#
# `fk-count ADDR N` stops at ADDR (a hardware breakpoint), then steps each of the
# next N calls to completion and prints a histogram. Find ADDR with
# `llvm-objdump -d ... | grep '<_ZN8foldkern3gup4fast8gup_fast'`.
import collections
import gdb

FOCUS = "gup_fast"


class FkCount(gdb.Command):
    """fk-count ADDR N: instruction histogram of N calls of the function at ADDR."""

    def __init__(self):
        super().__init__("fk-count", gdb.COMMAND_RUNNING)

    def invoke(self, arg, from_tty):
        addr, calls = arg.split()
        gdb.execute("set pagination off")
        gdb.execute("hbreak *%s" % addr)
        for call in range(int(calls)):
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
                if FOCUS in sym:
                    sal = gdb.find_pc_line(pc)
                    name = sal.symtab.filename.split("/")[-1] if sal.symtab else "?"
                    hist["%s:%d" % (name, sal.line)] += 1
                else:
                    hist[sym[:70]] += 1
                n += 1
                gdb.execute("stepi", to_string=True)
            print("call %d: %d instructions" % (call, n))
            for k, v in hist.most_common(25):
                print("  %6d  %s" % (v, k))


FkCount()
print("foldkern: fk-count ADDR N is available")
