# gdb recipe (docs/debugging.md): stop wherever the explaining walk is about to
# read through a pointer stepped off the entry a walk from the top reaches
# (foldkern::gup::hooks::walk_strayed, called only by the hooks-on build), and
# show the stack words around that pointer. Its arguments are in %r2..%r5.
set pagination off
hbreak foldkern::gup::hooks::walk_strayed
commands
  silent
  printf "stray read: level %d, address %#lx: stepped to %#lx, a walk from the top gives %#lx\n", $r2, $r3, $r4, $r5
  x/6gx $r4-24
  continue
end
continue
