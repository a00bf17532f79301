#!/usr/bin/env python3
"""Operator mutation testing of the portable code against the host tests.

    scripts/mutants.py [--calls] src/mm/space.rs [src/gup/fast.rs ...]

Works on a scratch clone (target/mutants/repo) of the committed tree, never on
the working tree. For each line of each file (comments, attributes, asserts, string
lines and format strings skipped) it applies one operator change at a time (== and !=,
< and <=, > and >=, && and ||, `if !x` to `if x`, + 1 and - 1, true and false,
and deleting a one-line call statement),
runs the host tests (`cargo test --test host_pgtable --test host_gup --test
host_props --test host_pages --test host_folding`, about 10 s each; a run still going after two minutes counts as
caught) and prints every mutant they did NOT catch.
`--calls` tries only the deleted calls. Mutants that do not compile are not counted. A survivor is either a test gap
or an equivalent mutant (the change cannot alter behaviour); docs/debugging.md
lists the known equivalent ones. The kernel-only code (kernel/src/arch, kernel/src/kunit)
is not covered: its tests boot QEMU, which is too slow per mutant.
"""
import os
import re
import signal
import subprocess
import sys

OPS = [(' == ', ' != '), (' != ', ' == '), (' < ', ' <= '), (' <= ', ' < '), (' > ', ' >= '),
       (' >= ', ' > '), (' && ', ' || '), (' || ', ' && '), ('if !', 'if '), (' + 1', ' - 1'),
       (' - 1', ' + 1'), ('true', 'false'), ('false', 'true')]
TESTS = 'cargo test -q --test host_pgtable --test host_gup --test host_props --test host_pages --test host_folding'
# A mutant can make a walk run (nearly) forever: that counts as caught. Failing
# property tests are not shrunk: whether they fail is all that matters here.
TIMEOUT = 120
ENV = dict(os.environ, PROPTEST_MAX_SHRINK_ITERS='0')


def skipped(line):
    s = line.strip()
    return (s.startswith('//') or s.startswith('#[') or s.startswith('"') or 'assert' in s
            or 'write!(' in s or 'println!' in s or 'format_args' in s)


def mutants(line):
    for a, b in OPS:
        pattern = r'\b' + a + r'\b' if a.isalpha() else re.escape(a)
        for m in re.finditer(pattern, line):
            yield a, b, line[:m.start()] + b + line[m.end():]
    if is_call_statement(line):
        yield 'call', 'deleted', ''


def is_call_statement(line):
    """A whole one-line statement that is a call (`self.plat.ipte(pto, a);`):
    deleting it is a mutant of its own (a missing flush, sync or unpin)."""
    s = line.strip()
    return (s.endswith(');') and re.match(r'[A-Za-z_]', s) is not None and ' = ' not in s
            and not s.startswith(('let ', 'return', 'Ok(', 'Err(', 'Some(', 'break')))


def run(cmd, repo, timeout, env=None):
    """Exit status and output of `cmd` in `repo`; a run past `timeout` seconds is
    killed whole (status 124). Shared with kernel-mutants.py."""
    p = subprocess.Popen(cmd, shell=True, cwd=repo, env=env, text=True, start_new_session=True,
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        out, _ = p.communicate(timeout=timeout)
        return p.returncode, out
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        p.communicate()
        return 124, 'timeout'


def scratch_clone(name):
    """target/NAME/repo: a clone of this checkout's HEAD, made or reset to it.
    Shared with kernel-mutants.py."""
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    repo = os.path.join(here, 'target', name, 'repo')
    if os.path.isdir(repo):
        subprocess.run(['git', 'fetch', '-q', here, 'HEAD'], cwd=repo, check=True)
        subprocess.run(['git', 'reset', '-q', '--hard', 'FETCH_HEAD'], cwd=repo, check=True)
    else:
        subprocess.run(['git', 'clone', '-q', here, repo], check=True)
    return repo


def main(files, calls_only=False):
    repo = scratch_clone('mutants')
    # The unmutated tests first: they must pass, and the build they leave makes
    # every mutant's build incremental (a full one could pass for a timeout).
    rc, out = run(TESTS, repo, 10 * TIMEOUT, ENV)
    if rc != 0:
        sys.exit('the unmutated host tests fail; fix that first:\n' + out[-2000:])
    total = caught = 0
    for f in files:
        path = os.path.join(repo, f)
        orig = open(path).read()
        lines = orig.split('\n')
        for i, line in enumerate(lines):
            if '#[cfg(test)]' in line:
                break
            if skipped(line):
                continue
            for a, b, new in mutants(line):
                if calls_only and a != 'call':
                    continue
                open(path, 'w').write('\n'.join(lines[:i] + [new] + lines[i + 1:]))
                rc, out = run(TESTS, repo, TIMEOUT, ENV)
                if rc != 0 and 'error[' in out:
                    continue  # does not compile
                total += 1
                if rc == 0:
                    print(f'not caught: {f}:{i + 1}: {line.strip()}   [{a.strip()} -> {b.strip()}]', flush=True)
                else:
                    caught += 1
        open(path, 'w').write(orig)
    print(f'{caught} of {total} mutants caught', flush=True)
    return 0 if caught == total else 1


if __name__ == '__main__':
    args = sys.argv[1:]
    calls = '--calls' in args
    files = [a for a in args if a != '--calls']
    if not files:
        sys.exit(__doc__)
    sys.exit(main(files, calls))
