// SPDX-License-Identifier: MIT
// The static /init that `./qemu-run.sh linux` boots in Linux 6.12 for arm64
// (16 KiB pages, 52-bit VA through LPA2, 4 levels), shipped and with
// 36639013b346 reverted, on a CPU with and without LPA2. Without LPA2 the
// pud level folds at run time, and the reverted kernel's gup_fast takes its
// pud pointer from the walker's stack page: stack base + 8 * pud_index(addr)
// (p4d_to_folded_pud aligns the pgd copy's address down to the 16 KiB stack).
// Each scenario reads 2 pages from /dev/ram0 with O_DIRECT into a buffer
// (one gup_fast call, FOLL_WRITE) and reports what happened to the data; a
// process the kernel kills after an oops is reported by the parent.
//
// The pread is issued with an inline `svc`, so the registers the syscall
// saves in pt_regs (the top 42 words of the stack: x0 at pud slot 2006, x8
// at 2014, ...) are known: x0 = fd, x1 = buffer, x2 = length, x3 = offset,
// x8 = 67 (pread64), every other argument register 0.
//
// Output, parsed by scripts/linux-gup.py:
//   linux-gup-arm64: <scenario>: pud <index>: read returned <n>; data <ok|wrong>
//   linux-gup-arm64: <scenario>: pud <index>: killed by signal <n>
//   linux-gup-arm64: scan: <n> correct, <n> killed: <indices>
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define PAGE 16384UL
#define PUD_SHIFT 36
/* Inside each pud's 64 GiB: clear of the binary's own mappings near 0. */
#define IN_PUD 0x40000000UL

static int fd = -1;

/* pread64 with every argument register but x0..x3 and x8 zero. */
static long pread_svc(int f, void *buf, size_t len, off_t off)
{
	register long x0 __asm__("x0") = f;
	register long x1 __asm__("x1") = (long)buf;
	register long x2 __asm__("x2") = (long)len;
	register long x3 __asm__("x3") = off;
	register long x4 __asm__("x4") = 0;
	register long x5 __asm__("x5") = 0;
	register long x6 __asm__("x6") = 0;
	register long x7 __asm__("x7") = 0;
	register long x8 __asm__("x8") = 67; /* __NR_pread64 */
	__asm__ volatile("svc #0"
			 : "+r"(x0)
			 : "r"(x1), "r"(x2), "r"(x3), "r"(x4), "r"(x5), "r"(x6), "r"(x7), "r"(x8)
			 : "memory", "cc");
	return x0;
}

static void fill(void *p, uint64_t v)
{
	for (uint64_t *w = p; w < (uint64_t *)((char *)p + PAGE); w++)
		*w = v;
}

static int holds(const void *p, uint64_t v)
{
	for (const uint64_t *w = p; w < (const uint64_t *)((const char *)p + PAGE); w++)
		if (*w != v)
			return 0;
	return 1;
}

#define DEV0 0x6465763000000000UL
#define DEV1 0x6465763100000000UL

/* Read the device's two blocks into 2 pages at `addr` (0: kernel-chosen). */
static int read_at(const char *name, unsigned long addr)
{
	int flags = MAP_PRIVATE | MAP_ANONYMOUS | (addr ? MAP_FIXED_NOREPLACE : 0);
	char *buf = mmap((void *)addr, 2 * PAGE, PROT_READ | PROT_WRITE, flags, -1, 0);
	if (buf == MAP_FAILED || (addr && (unsigned long)buf != addr)) {
		printf("linux-gup-arm64: %s: error: mmap %#lx: %s\n", name, addr, strerror(errno));
		return 1;
	}
	memset(buf, 'x', 2 * PAGE); /* present, writable PTEs */
	long n = pread_svc(fd, buf, 2 * PAGE, 0);
	int ok = n == (long)(2 * PAGE) && holds(buf, DEV0) && holds(buf + PAGE, DEV1);
	printf("linux-gup-arm64: %s: pud %lu: read returned %ld; data %s\n", name,
	       ((unsigned long)buf >> PUD_SHIFT) & 2047, n, ok ? "ok" : "wrong");
	fflush(stdout);
	munmap(buf, 2 * PAGE);
	return ok ? 0 : 2;
}

/* Run `read_at(addr)` in a child; report a kill. Returns 1 if killed, 2 if
 * the data was wrong, 0 if right. */
static int child(const char *name, unsigned long addr, int quiet)
{
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		if (quiet) /* the scan prints only its summary */
			freopen("/dev/null", "w", stdout);
		_exit(read_at(name, addr));
	}
	int status = 0;
	waitpid(pid, &status, 0);
	if (WIFSIGNALED(status)) {
		if (!quiet)
			printf("linux-gup-arm64: %s: pud %lu: killed by signal %d\n", name,
			       (addr >> PUD_SHIFT) & 2047, WTERMSIG(status));
		return 1;
	}
	return WIFEXITED(status) && WEXITSTATUS(status) == 2 ? 2 : 0;
}

int main(void)
{
	mkdir("/dev", 0755);
	mount("devtmpfs", "/dev", "devtmpfs", 0, NULL);
	int con = open("/dev/console", O_RDWR);
	if (con >= 0) {
		dup2(con, 1);
		dup2(con, 2);
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	/* The device as fd 3, the value the model expects in x0. */
	fd = open("/dev/ram0", O_RDWR | O_DIRECT);
	if (fd >= 0 && fd != 3) {
		dup2(fd, 3);
		close(fd);
		fd = 3;
	}
	char *tmp = mmap(NULL, 2 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	fill(tmp, DEV0);
	fill(tmp + PAGE, DEV1);
	if (fd < 0 || pwrite(fd, tmp, 2 * PAGE, 0) != (ssize_t)(2 * PAGE)) {
		printf("linux-gup-arm64: error: preparing /dev/ram0: %s\n", strerror(errno));
		goto out;
	}
	printf("linux-gup-arm64: start\n");
	child("kernel-placed", 0, 0);
	/* Across a pmd boundary (32 MiB) and across a pud boundary (64 GiB). */
	child("pmd-crossing", (1000UL << PUD_SHIFT) + IN_PUD + (1UL << 25) - PAGE, 0);
	child("pud-crossing", (1001UL << PUD_SHIFT) - PAGE, 0);
	/* The pt_regs slots of x0 (fd), x8 (67) and exit_rcu (0). */
	child("x0-slot", (2006UL << PUD_SHIFT) + IN_PUD, 0);
	child("x8-slot", (2014UL << PUD_SHIFT) + IN_PUD, 0);
	child("exit-rcu-slot", (2047UL << PUD_SHIFT) + IN_PUD, 0);
	/* Every pud index. */
	int killed = 0, wrong = 0;
	static char list[2048 * 6], wlist[2048 * 6];
	for (unsigned long i = 0; i < 2048; i++) {
		int r = child("scan", (i << PUD_SHIFT) + IN_PUD, 1);
		if (r == 1) {
			killed++;
			sprintf(list + strlen(list), " %lu", i);
		} else if (r == 2) {
			wrong++;
			sprintf(wlist + strlen(wlist), " %lu", i);
		}
	}
	printf("linux-gup-arm64: scan: %d correct, %d wrong:%s; %d killed:%s\n", 2048 - killed - wrong,
	       wrong, wlist, killed, list);
out:
	printf("linux-gup-arm64: done\n");
	fflush(stdout);
	sync();
	reboot(RB_POWER_OFF);
	return 0;
}
