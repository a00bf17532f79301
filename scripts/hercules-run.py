#!/usr/bin/env python3
"""Boot the foldkern kernel in Hercules, headless, as QEMU boots it.

    scripts/hercules-run.py [--cpus N] [--mem MIB] [--timeout S] KERNEL [APPEND]

Hercules 3.13 has no ELF loader: the ELF is flattened with objcopy (file offset
0 is 0x10000), the command line APPEND goes where QEMU's -append puts it (0x10480,
NUL-terminated), and an rc file loads the image, sets a 64-bit PSW at 0x10000
and starts the CPU, which is already in z/Architecture mode (no IPL).

The guest's console lines are streamed to stdout (Hercules' own HHC messages
and SIGP logs are dropped). The run ends when the kernel loads a disabled wait
PSW: its address 0xfff means success (exit 0), anything else failure (exit 1).
Hercules does not exit by itself, so it is stopped then (SIGTERM, then SIGKILL:
with several CPUs its shutdown can hang). A run past the timeout exits 124 and
names the kernel test that started but did not finish.
"""
import argparse
import os
import re
import select
import shutil
import signal
import subprocess
import sys
import time

CMDLINE_OFFSET = 0x480  # 0x10480 - 0x10000
CMDLINE_MAX = 0x10800 - 0x10480
CONFIG = """ARCHMODE z/Arch
MAINSIZE {mem}
NUMCPU {cpus}
MAXCPU {cpus}
CPUMODEL 2064
CPUSERIAL 000001
OSTAILOR QUIET
CODEPAGE 819/037
000E 1403 /dev/null
"""
RC = """loadcore {image} 10000
psw sm=00 pk=0 cmwp=0 as=pri cc=0 pm=0 am=64 ia=10000
start
"""
# Hercules' own output: HHC messages, the PSW line after a wait, SIGP traces,
# and the commands it echoes from the rc file.
NOISE = re.compile(r'^(HHC[A-Z]{2}\d{3}[A-Z] |\s+PSW=|CPU\d{4}: SIGP|PSW=|loadcore |psw |start$)')
WAIT = re.compile(r'HHCCP011I CPU\d{4}: Disabled wait state')
WAIT_PSW = re.compile(r'PSW=([0-9A-F]{8}) ([0-9A-F]{8}) ([0-9A-F]{16})')


def flatten(kernel, append, workdir):
    image = os.path.join(workdir, 'kernel.bin')
    subprocess.run(['s390x-linux-gnu-objcopy', '-O', 'binary', kernel, image], check=True)
    line = append.encode() + b'\0'
    if len(line) > CMDLINE_MAX:
        sys.exit(f'hercules-run: the command line is longer than {CMDLINE_MAX - 1} bytes')
    data = bytearray(open(image, 'rb').read())
    data[CMDLINE_OFFSET:CMDLINE_OFFSET + len(line)] = line
    open(image, 'wb').write(data)
    return image


def stop(proc):
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=3)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--cpus', type=int, default=1)
    p.add_argument('--mem', type=int, default=256, help='MiB of storage')
    p.add_argument('--timeout', type=float, default=600)
    p.add_argument('kernel')
    p.add_argument('append', nargs='?', default='demo')
    a = p.parse_args()
    if not 1 <= a.cpus <= 8:
        sys.exit('hercules-run: --cpus takes 1 to 8 (the kernel drives at most 8)')
    workdir = os.path.join(os.path.dirname(os.path.abspath(a.kernel)), f'hercules-{os.getpid()}')
    os.makedirs(workdir, exist_ok=True)
    try:
        sys.exit(run(a, workdir))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def run(a, workdir):
    """Boot and watch; returns the exit status."""
    image = flatten(a.kernel, a.append, workdir)
    config = os.path.join(workdir, 'hercules.cnf')
    rc = os.path.join(workdir, 'hercules.rc')
    open(config, 'w').write(CONFIG.format(mem=a.mem, cpus=a.cpus))
    open(rc, 'w').write(RC.format(image=image))
    env = dict(os.environ, HERCULES_RC=rc)
    proc = subprocess.Popen(['hercules', '-f', config, '-d'], cwd=workdir, env=env, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + a.timeout
    started = None  # the kernel test that started and has no verdict yet
    status = None
    waiting = False
    out = proc.stdout.fileno()
    pending = ''
    while status is None:
        if time.monotonic() > deadline:
            stop(proc)
            print(f'hercules-run: timed out after {a.timeout:.0f} s; '
                  f'kernel test started but not finished: {started or "(none)"}', flush=True)
            return 124
        if not select.select([out], [], [], 0.1)[0]:
            continue
        chunk = os.read(out, 65536)
        if not chunk:
            proc.wait()
            print('hercules-run: Hercules ended before the kernel did', flush=True)
            return 1
        pending += chunk.decode(errors='replace')
        *lines, pending = pending.split('\n')
        for line in lines:
            if waiting and (m := WAIT_PSW.search(line)):
                status = 0 if int(m.group(3), 16) == 0xfff else 1
                break
            if WAIT.search(line):
                waiting = True
                continue
            if NOISE.match(line):
                continue
            print(line, flush=True)
            # KTAP: '# running: <name>' before each test, then its result line.
            if line.strip().startswith('# running: '):
                started = line.strip()[len('# running: '):]
            elif started and re.match(r'^\s+(not )?ok \d+ ', line):
                started = None
    stop(proc)
    return status


if __name__ == '__main__':
    main()
