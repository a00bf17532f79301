#!/usr/bin/env python3
"""Hand-picked mutations of the kernel-only code, each against the in-kernel suite.

    scripts/kernel-mutants.py [SUBSTRING]
    scripts/kernel-mutants.py --check     (only: is each text to change there once?)

scripts/mutants.sh (cargo-mutants) covers the portable code with the host tests; the code under
kernel/src/arch only runs in QEMU, too slow for a mutant per operator. This script
applies each change in MUTANTS below, one at a time, in a scratch clone
(target/kernel-mutants/repo) of the committed tree, boots the kernel suite
(`./qemu-run.sh kernel-test -- -smp 2`, 20-40 s each) and says whether the
suite caught it. A run past five minutes counts as caught (a hang). Each entry
says what is expected: `caught`, or why the change cannot be seen under QEMU's
TCG (then surviving is expected, and being caught is reported too, since the
reason would then be wrong). SUBSTRING selects the entries whose description
contains it. Exit status 1 if anything did not go as expected.
"""
import os
import signal
import subprocess
import sys


def run(cmd, repo, timeout, env=None):
    """Exit status and output of `cmd` in `repo`; a run past `timeout` seconds is
    killed whole (status 124)."""
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
    """target/NAME/repo: a clone of this checkout's HEAD, made or reset to it."""
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    repo = os.path.join(here, 'target', name, 'repo')
    if os.path.isdir(repo):
        subprocess.run(['git', 'fetch', '-q', here, 'HEAD'], cwd=repo, check=True)
        subprocess.run(['git', 'reset', '-q', '--hard', 'FETCH_HEAD'], cwd=repo, check=True)
    else:
        subprocess.run(['git', 'clone', '-q', here, repo], check=True)
    return repo


PLATFORM = 'kernel/src/arch/s390x/platform.rs'
INSN = 'kernel/src/arch/s390x/insn.rs'
TRAPS = 'kernel/src/arch/s390x/traps.rs'
SMP = 'kernel/src/arch/s390x/smp.rs'
SPACE = 'src/mm/space.rs'
CAUGHT = 'caught'

# (description, file, text, replacement, expectation)
MUTANTS = [
    ('IPTE does nothing', PLATFORM,
     'unsafe { insn::ipte(pto.as_u64(), addr) }', 'let _ = (pto, addr);', CAUGHT),
    ('IDTE does nothing', PLATFORM,
     'unsafe { insn::idte(table.as_u64() | dt, addr & level.mask()) }', 'let _ = (table, dt, addr);', CAUGHT),
    ('IDTE gets the whole address (index bits not cut)', PLATFORM,
     'insn::idte(table.as_u64() | dt, addr & level.mask())', 'insn::idte(table.as_u64() | dt, addr)', CAUGHT),
    ('upgrade leaves CR1 (primary) with the old ASCE', PLATFORM,
     'insn::lctlg::<1>(new.val());', '', CAUGHT),
    ('upgrade leaves CR7 (secondary) with the old ASCE', PLATFORM,
     'insn::lctlg::<7>(new.val());', '', CAUGHT),
    ('upgrade leaves CR13 (home) with the old ASCE', PLATFORM,
     'insn::lctlg::<13>(new.val());', '', CAUGHT),
    ('no PTLB after an ASCE change', PLATFORM,
     '        insn::ptlb();\n    }\n    fn edat1', '    }\n    fn edat1',
     'QEMU flushes its whole TLB on every LCTLG, IPTE and IDTE, so no stale entry is left for PTLB to purge'),
    ('crst_table_upgrade does not tell the platform of the new ASCE', SPACE,
     'self.plat.asce_changed(old, asce);', '', CAUGHT),
    ('an emptied table is unhooked without IDTE', SPACE,
     'self.plat.idte(parent.base, parent.level(), addr);', '', CAUGHT),
    ('a large segment is unmapped without IDTE', SPACE,
     'self.plat.idte(last.base, Level::Pmd, addr);', '',
     'EDAT-1 is absent under TCG, so the kernel never maps a large segment '
     '(host_pgtable::unmap_of_a_large_segment_is_one_idte covers the call)'),
    ('dropping a space purges nothing', SPACE,
     '        self.plat.asce_changed(asce, asce);\n', '', CAUGHT),
    ("dat_on leaves the home space (CR13) unloaded, on every CPU", INSN,
     '        lctlg::<13>(asce);\n', '', CAUGHT),
    ("dat_on leaves the secondary space (CR7) unloaded, on every CPU", INSN,
     '        lctlg::<7>(asce);\n', '',
     'nothing uses the secondary space without set_secondary loading CR7 first'),
    ('the program-check nesting depth not cleared at install', TRAPS,
     '    lowcore::write::<u64>(lowcore::PGM_DEPTH, 0);\n', '',
     "every lowcore starts zeroed (QEMU's memory at boot, each secondary's zeroed prefix area)"),
    ('set_secondary never loads CR7', PLATFORM,
     'if insn::stctg::<7>() != asce.val() {', 'if false {', CAUGHT),
    ('LRAG cc 3 read as an invalid entry', PLATFORM,
     '_ if res & 0x8000_0000 != 0 => Lra::Exception((res & 0xffff) as u16),',
     '_ if res & 0x8000_0000 != 0 => Lra::InvalidSegmentEntry(res),', CAUGHT),
    ('LRAG cc 1 read as a translation', PLATFORM,
     '0 => Lra::Real(res),', '0 | 1 => Lra::Real(res),',
     "QEMU's LRAG reports every failed translation with cc 3 and the exception code "
     "(Hercules gives cc 1: the hercules::kernel:: tests catch it; this script runs QEMU)"),
    ('local_irq_save leaves interrupts on', PLATFORM,
     'insn::stnsm_into::<0xfc>(&mut flags.0);', 'insn::stnsm_into::<0xff>(&mut flags.0);', CAUGHT),
    ('gup_fast never disables interrupts', 'src/gup/fast.rs',
     '        w.p.local_irq_save(&mut irq);\n', '', CAUGHT),
    ('gup_fast leaves interrupts disabled', 'src/gup/fast.rs',
     '        w.p.local_irq_restore(&irq);\n', '', CAUGHT),
    ('IPTE without the branch that ends the translation block', INSN,
     'asm!("ipte {o},{a}", "j 0f", "0:",', 'asm!("ipte {o},{a}",',
     'every IPTE is followed by a branch (at the latest, the return of Platform::ipte) before '
     'anything accesses memory through the entry it changed'),
    ('IDTE without the branch that ends the translation block', INSN,
     'asm!("idte {o},%r0,{a}", "j 0f", "0:",', 'asm!("idte {o},%r0,{a}",',
     'as for IPTE'),
    ('walker synchronisation does not wait for the other CPUs', SMP,
     'if i != me && !wait_until(|| c.acks.load(Ordering::Acquire) != before[i]) {', 'if false {', CAUGHT),
    ('walker synchronisation skipped', SMP,
     'pub fn sync_all() -> bool {\n    if online() < 2 {', 'pub fn sync_all() -> bool {\n    if true {', CAUGHT),
    ('a grace period ends at once', SMP,
     'if !waiting {', 'if true {', CAUGHT),
    ('a grace period is never expedited', SMP,
     'EXPEDITED.fetch_add(1, Ordering::AcqRel);\n            return sync_all();',
     'EXPEDITED.fetch_add(0, Ordering::AcqRel);', CAUGHT),
    ('an idle CPU is not counted as quiescent', SMP,
     "!c.idle.load(Ordering::SeqCst) && ", '', CAUGHT),
    ('translation specification (suppressing) taken as nullifying', TRAPS,
     'matches!(code & 0x7f, 0x10 | 0x11 | 0x38..=0x3b)', 'matches!(code & 0x7f, 0x10 | 0x11 | 0x12 | 0x38..=0x3b)',
     CAUGHT),
    ('addressing (suppressing) taken as nullifying', TRAPS,
     'matches!(code & 0x7f, 0x10 | 0x11 | 0x38..=0x3b)', 'matches!(code & 0x7f, 0x05 | 0x10 | 0x11 | 0x38..=0x3b)',
     CAUGHT),
    ('page translation (nullifying) taken as suppressing', TRAPS,
     'matches!(code & 0x7f, 0x10 | 0x11 | 0x38..=0x3b)', 'matches!(code & 0x7f, 0x10 | 0x38..=0x3b)', CAUGHT),
    ('caught exception loses its TEID', TRAPS,
     'CAUGHT_TEID[cpu].store(teid, Ordering::SeqCst);', 'CAUGHT_TEID[cpu].store(0, Ordering::SeqCst);', CAUGHT),
    ('caught exception loses its old PSW', TRAPS,
     'CAUGHT_ADDR[cpu].store(psw[1], Ordering::SeqCst);', 'CAUGHT_ADDR[cpu].store(0, Ordering::SeqCst);', CAUGHT),
    ('caught exception reads the ILC wrongly', TRAPS,
     '((ilc as u64 & 0x6) << 16)', '((ilc as u64 & 0x4) << 16)', CAUGHT),
]

RUN = './qemu-run.sh kernel-test -- -smp 2'
TIMEOUT = 300


def first_failure(out):
    for line in out.splitlines():
        if 'FAILED' in line or '!!!' in line or line.startswith('kernel: stopping'):
            return line.strip()[:150]
    return out.strip().splitlines()[-1][:150] if out.strip() else ''


def stale(root):
    """The entries whose text to change does not occur exactly once under root."""
    return [(what, f, open(os.path.join(root, f)).read().count(old))
            for what, f, old, _, _ in MUTANTS if open(os.path.join(root, f)).read().count(old) != 1]


def main(select):
    repo = scratch_clone('kernel-mutants')
    rc, out = run(RUN, repo, TIMEOUT)
    if rc != 0:
        sys.exit('the unmutated suite fails; fix that first:\n' + first_failure(out))
    surprises = 0
    for what, f, old, new, expect in MUTANTS:
        if select and select not in what:
            continue
        path = os.path.join(repo, f)
        orig = open(path).read()
        if orig.count(old) != 1:
            print(f'STALE: {what}: the text to change occurs {orig.count(old)} times in {f}', flush=True)
            surprises += 1
            continue
        open(path, 'w').write(orig.replace(old, new))
        rc, out = run(RUN, repo, TIMEOUT)
        open(path, 'w').write(orig)
        if 'error[' in out:
            print(f'STALE: {what}: does not compile', flush=True)
            surprises += 1
        elif rc != 0:
            note = '' if expect == CAUGHT else '   UNEXPECTED: the reason given for surviving is wrong'
            surprises += expect != CAUGHT
            print(f'caught:     {what}: {first_failure(out)}{note}', flush=True)
        elif expect == CAUGHT:
            surprises += 1
            print(f'NOT CAUGHT: {what}', flush=True)
        else:
            print(f'survives:   {what} (expected: {expect})', flush=True)
    print('all as expected' if surprises == 0 else f'{surprises} not as expected', flush=True)
    return 0 if surprises == 0 else 1


if __name__ == '__main__':
    if sys.argv[1:] == ['--check']:
        bad = stale(os.path.join(os.path.dirname(os.path.abspath(__file__)), '..'))
        for what, f, n in bad:
            print(f'STALE: {what}: the text to change occurs {n} times in {f}')
        sys.exit(1 if bad else 0)
    if len(sys.argv) > 2 or (len(sys.argv) == 2 and sys.argv[1].startswith('-')):
        sys.exit(__doc__)
    sys.exit(main(sys.argv[1] if len(sys.argv) == 2 else None))
