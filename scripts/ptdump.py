# gdb helper for foldkern: print an address space's translation tables from a
# stopped kernel.
#
#   gdb-multiarch -x scripts/ptdump.py target/s390x-unknown-linux-gnu/release/foldkern
#   (gdb) target remote :1234        # QEMU started by ./qemu-run.sh --gdb
#   (gdb) hbreak kernel_main ; continue ; ...
#   (gdb) fk-ptdump                  # the primary space (CR1)
#   (gdb) fk-ptdump cr7              # the secondary space tests use
#   (gdb) fk-ptdump 0x140007         # any ASCE value
#
# Tables are read through the kernel's identity map (all memory is mapped at its
# own address), so this works with DAT on or off. Runs of leaf entries mapping
# consecutive frames are collapsed, like the kernel's own ptdump.
import gdb
import struct

LEVELS = [("region-first", 53), ("region-second", 42), ("region-third", 31), ("segment", 20), ("page", 12)]


def read_table(addr, n):
    """The n entries of the table at addr, in one read (one gdb round trip
    per table, not per entry: the 256 MiB identity map has 128 page tables)."""
    mem = gdb.selected_inferior().read_memory(addr, 8 * n)
    return struct.unpack(">%dQ" % n, bytes(mem))


def invalid(level, v):
    return bool(v & (0x400 if level == 4 else 0x20))


def leaf(level, v):
    return level == 4 or (level in (2, 3) and v & 0x400)


def dump(level, origin, base, depth, out):
    n = 256 if level == 4 else 2048
    name, shift = LEVELS[level]
    table = read_table(origin, n)
    i = 0
    while i < n:
        v = table[i]
        if invalid(level, v):
            i += 1
            continue
        va = base + (i << shift)
        if leaf(level, v):
            mask = ~((1 << shift) - 1) & 0xFFFFFFFFFFFFFFFF
            j = i + 1
            while j < n:
                w = table[j]
                if invalid(level, w) or (w & mask) != (v & mask) + ((j - i) << shift) or (w & ~mask) != (v & ~mask):
                    break
                j += 1
            rights = "ro" if v & 0x200 else "rw"
            out.append("%s%-13s [%#05x-%#05x] %#018x-%#018x -> frames %#x.. %s (%d)" % (
                "  " * depth, name, i, j - 1, va, base + (j << shift) - 1, v & mask, rights, j - i))
            i = j
            continue
        nxt = v & (~0x7FF if level == 3 else ~0xFFF) & 0xFFFFFFFFFFFFFFFF
        out.append("%s%-13s [%#05x]       %#018x-%#018x -> %s table %#x" % (
            "  " * depth, name, i, va, va + (1 << shift) - 1, LEVELS[level + 1][0], nxt))
        dump(level + 1, nxt, va, depth + 1, out)
        i += 1


class FkPtdump(gdb.Command):
    """fk-ptdump [cr1|cr7|cr13|ASCE]: print the tables of an address space."""

    def __init__(self):
        super().__init__("fk-ptdump", gdb.COMMAND_DATA)

    def invoke(self, arg, from_tty):
        arg = arg.strip() or "cr1"
        if arg.startswith("cr"):
            asce = int(gdb.parse_and_eval("$" + arg)) & 0xFFFFFFFFFFFFFFFF
        else:
            asce = int(gdb.parse_and_eval(arg)) & 0xFFFFFFFFFFFFFFFF
        dt = (asce >> 2) & 3
        top = 3 - dt  # segment table = level 3, region-first = level 0
        out = ["ASCE %#018x: %s table at %#x, %d levels" % (asce, LEVELS[top][0], asce & ~0xFFF, 5 - top)]
        dump(top, asce & ~0xFFF & 0xFFFFFFFFFFFFFFFF, 0, 1, out)
        print("\n".join(out))


FkPtdump()
print("foldkern: fk-ptdump [cr1|cr7|cr13|ASCE] is available")
