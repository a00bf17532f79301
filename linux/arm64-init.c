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
// Two crafted scenarios set x4 (pud slot 2010) to a table descriptor of a
// page the caller owns and build fake pmd and PTE tables in its own pages,
// naming two more of its own pages (physical addresses from
// /proc/self/pagemap): only the caller's memory is involved.
//
// Output, parsed by scripts/linux_arm64.py:
//   linux-gup-arm64: <scenario>: pud <index>: read returned <n>; data <ok|wrong>
//   linux-gup-arm64: crafted-<read|write>: pud 2010: x4 <value>; <read|write> returned <n>; data <where>
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
#include "init-pages.h"
#define PUD_SHIFT 36
/* Inside each pud's 64 GiB: clear of the binary's own mappings near 0. */
#define IN_PUD 0x40000000UL

static int fd = -1;

/* pread64 (nr 67) or pwrite64 (68) with x4 = `x4` and x5..x7 zero. */
static long rw_svc(long nr, int f, void *buf, size_t len, off_t off, long x4v)
{
	register long x0 __asm__("x0") = f;
	register long x1 __asm__("x1") = (long)buf;
	register long x2 __asm__("x2") = (long)len;
	register long x3 __asm__("x3") = off;
	register long x4 __asm__("x4") = x4v;
	register long x5 __asm__("x5") = 0;
	register long x6 __asm__("x6") = 0;
	register long x7 __asm__("x7") = 0;
	register long x8 __asm__("x8") = nr;
	__asm__ volatile("svc #0"
			 : "+r"(x0)
			 : "r"(x1), "r"(x2), "r"(x3), "r"(x4), "r"(x5), "r"(x6), "r"(x7), "r"(x8)
			 : "memory", "cc");
	return x0;
}

/* pread64 with every argument register but x0..x3 and x8 zero. */
static long pread_svc(int f, void *buf, size_t len, off_t off)
{
	return rw_svc(67, f, buf, len, off, 0);
}

#define DEV0 0x6465763000000000UL
#define DEV1 0x6465763100000000UL
/* The crafted scenarios' patterns: the buffer's, and the caller's own two pages'. */
#define BUF 0x6275660062756600UL  /* "buf" */
#define OWN0 0x6f776e306f776e30UL /* "own0" */
#define OWN1 0x6f776e316f776e31UL /* "own1" */

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

/* Run `scenario(name, addr)` (`read_at` or a crafted one) in a child; report
 * a kill. Returns 1 if killed, 2 if the data was wrong, 0 if right. */
static int child(const char *name, unsigned long addr, int quiet,
		 int (*scenario)(const char *, unsigned long))
{
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		if (quiet) /* the scan prints only its summary */
			freopen("/dev/null", "w", stdout);
		_exit(scenario(name, addr));
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

/* The physical address of the page at `p` (/proc/self/pagemap, as root). */
static uint64_t phys_of(void *p)
{
	uint64_t e = 0;
	int f = open("/proc/self/pagemap", O_RDONLY);
	if (f < 0 || pread(f, &e, 8, (uint64_t)p / PAGE * 8) != 8)
		e = 0;
	close(f);
	return e >> 63 ? (e & ((1UL << 55) - 1)) * PAGE : 0;
}

/* arm64 descriptors as gup_fast reads them (16 KiB granule, output address
 * below 2^48): a table descriptor, and a valid, young, writable (DBM), user,
 * never-executable page descriptor. */
#define TABLE(pa) ((pa) | 3)
#define USER_PAGE(pa) ((pa) | 3 | 1UL << 6 | 1UL << 10 | 1UL << 51 | 1UL << 54)

/* A read (or with `write`, a write) of 2 pages at a buffer at `addr`,
 * issued with x4 set to a table descriptor of a page the caller owns, filled
 * as a pmd table whose entry for the buffer names a second page of the
 * caller's, filled as a PTE table naming two more of its pages, D. Only the
 * caller's own pages are touched. Reports where the data went: into the
 * buffer, or into D (read), or which the device got (write). */
static int crafted(const char *name, unsigned long addr, int write)
{
	unsigned long slot = (addr >> PUD_SHIFT) & 2047;
	char *buf = mmap((void *)addr, 2 * PAGE, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	char *own = mmap(NULL, 4 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (buf != (char *)addr || own == MAP_FAILED) {
		printf("linux-gup-arm64: %s: error: mmap: %s\n", name, strerror(errno));
		return 3;
	}
	uint64_t *pmds = (uint64_t *)own, *ptes = (uint64_t *)(own + PAGE);
	char *d = own + 2 * PAGE;
	memset(own, 0, 2 * PAGE);
	fill(buf, BUF);
	fill(buf + PAGE, BUF);
	fill(d, OWN0);
	fill(d + PAGE, OWN1);
	uint64_t pmd_pa = phys_of(pmds), pte_pa = phys_of(ptes), d0 = phys_of(d), d1 = phys_of(d + PAGE);
	if (!pmd_pa || !pte_pa || !d0 || !d1) {
		printf("linux-gup-arm64: %s: error: no physical address in /proc/self/pagemap\n", name);
		return 3;
	}
	pmds[(addr >> 25) & 2047] = TABLE(pte_pa);
	ptes[(addr >> 14) & 2047] = USER_PAGE(d0);
	ptes[((addr >> 14) & 2047) + 1] = USER_PAGE(d1);
	long n = rw_svc(write ? 68 : 67, fd, buf, 2 * PAGE, write ? 2 * PAGE : 0, TABLE(pmd_pa));
	const char *where;
	if (write) {
		/* What the device got, read back through a buffer of the kernel's choosing. */
		char *back = mmap(NULL, 2 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		memset(back, 'x', 2 * PAGE);
		pread_svc(fd, back, 2 * PAGE, 2 * PAGE);
		where = holds(back, BUF) && holds(back + PAGE, BUF) ? "from the buffer"
			: holds(back, OWN0) && holds(back + PAGE, OWN1)
				? "from the caller's own pages"
				: "wrong";
	} else {
		where = holds(buf, DEV0) && holds(buf + PAGE, DEV1) ? "in the buffer"
			: holds(d, DEV0) && holds(d + PAGE, DEV1) && holds(buf, BUF)
				? "in the caller's own pages"
				: "wrong";
	}
	printf("linux-gup-arm64: %s: pud %lu: x4 %#lx; %s returned %ld; data %s\n", name, slot,
	       (unsigned long)TABLE(pmd_pa), write ? "write" : "read", n, where);
	fflush(stdout);
	return 0;
}

static int crafted_read(const char *name, unsigned long addr)
{
	return crafted(name, addr, 0);
}

static int crafted_write(const char *name, unsigned long addr)
{
	return crafted(name, addr, 1);
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
	child("kernel-placed", 0, 0, read_at);
	/* Across a pmd boundary (32 MiB) and across a pud boundary (64 GiB). */
	child("pmd-crossing", (1000UL << PUD_SHIFT) + IN_PUD + (1UL << 25) - PAGE, 0, read_at);
	child("pud-crossing", (1001UL << PUD_SHIFT) - PAGE, 0, read_at);
	/* x4's pt_regs slot, which the caller sets to a table descriptor of its
	 * own page: a read, then a write. */
	mkdir("/proc", 0555);
	mount("proc", "/proc", "proc", 0, NULL);
	child("crafted-read", (2010UL << PUD_SHIFT) + IN_PUD, 0, crafted_read);
	child("crafted-write", (2010UL << PUD_SHIFT) + IN_PUD, 0, crafted_write);
	/* The pt_regs slots of x0 (fd), x8 (67) and exit_rcu (0). */
	child("x0-slot", (2006UL << PUD_SHIFT) + IN_PUD, 0, read_at);
	child("x8-slot", (2014UL << PUD_SHIFT) + IN_PUD, 0, read_at);
	child("exit-rcu-slot", (2047UL << PUD_SHIFT) + IN_PUD, 0, read_at);
	/* Every pud index. */
	int killed = 0, wrong = 0;
	static char list[2048 * 6], wlist[2048 * 6];
	for (unsigned long i = 0; i < 2048; i++) {
		int r = child("scan", (i << PUD_SHIFT) + IN_PUD, 1, read_at);
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
