// SPDX-License-Identifier: MIT
// The static /init that `./qemu-run.sh linux` boots in Linux 6.1 (shipped and
// with the 2020 fix reverted): each scenario maps a 2-page buffer across a
// boundary, optionally a "decoy" page where a stale upper entry leads, and
// moves 8 KiB between it and /dev/ram0 with O_DIRECT. Block-device direct I/O
// takes the buffer's pages with one get_user_pages_fast() call (6.1:
// bio_iov_iter_get_pages -> iov_iter_get_pages2), so where the data lands is
// where that walk's frames were. The scenario table is scripts/linux-gup.py's
// SCENARIOS and CLAIMS; each runs in a fresh process (a new mm starts at 3 levels:
// init_new_context), which the mappings then upgrade as crst_table_upgrade
// does.
//
// Output, one line per scenario (parsed by scripts/linux-gup.py):
//   linux-gup: <name>: <read|write> returned <n>; page 0: <fate>; page 1: <fate>
// where a fate is "buffer" (the data went to or came from the buffer's own
// page), "decoy" (it went to or came from the decoy instead) or "lost".
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
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

#define PAGE 4096UL
#include "init-pages.h"

struct scenario {
	const char *name;
	unsigned long buf;     /* first of the 2 buffer pages */
	unsigned long decoy;   /* a page mapped where a stale entry leads, or 0 */
	unsigned long upgrade; /* a page mapped only to add levels, or 0 */
	int write;             /* O_DIRECT write from the buffer, not a read */
	int prot_none;         /* the buffer made PROT_NONE once it is filled */
};

static const struct scenario scenarios[] = {
	{ "3-level-read-decoy", 0x1007ffff000UL, 0x10000000000UL, 0, 0 },
	{ "3-level-read", 0x1007ffff000UL, 0, 0, 0 },
	{ "4-level-read-decoy", 0x7fffffff000UL, 0x40000000000UL, 0, 0 },
	{ "4-level-read-2g-decoy", 0x1007ffff000UL, 0x10000000000UL, 0x80000000000UL, 0 },
	{ "3-level-write-decoy", 0x1007ffff000UL, 0x10000000000UL, 0, 1 },
	{ "5-level-read-2g-decoy", 0x1007ffff000UL, 0x10000000000UL, 0x20000000000000UL, 0 },
	/* Not a folding scenario: what gup_fast does with a PAGE_NONE PTE. */
	{ "3-level-write-prot-none", 0x10000000UL, 0, 0, 1, 1 },
};

/* Fill patterns: one 64-bit word repeated over a page. */
#define DEV0 0x6465763000000000UL   /* "dev0": block 0 of the device */
#define DEV1 0x6465763100000000UL   /* "dev1": block 1 */
#define UNTOUCHED 0x7878787878787878UL /* "xxxxxxxx": the buffer before */
#define DECOY 0x6465636f79000000UL  /* "decoy" */
#define BUF0 0x6275663000000000UL   /* "buf0": the buffer's page 0 to write */
#define BUF1 0x6275663100000000UL   /* "buf1" */

static void die(const char *name, const char *what)
{
	printf("linux-gup: %s: error: %s: %s\n", name, what, strerror(errno));
	fflush(stdout);
	exit(1);
}

static void *map_at(const struct scenario *s, unsigned long addr, unsigned long len)
{
	void *p = mmap((void *)addr, len, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	if (p == MAP_FAILED || (unsigned long)p != addr)
		die(s->name, "mmap");
	return p;
}

/* Block i of the device, read through an aligned buffer the kernel placed. */
static uint64_t block(const struct scenario *s, int fd, int i, char *tmp)
{
	if (pread(fd, tmp, PAGE, i * PAGE) != (ssize_t)PAGE)
		die(s->name, "read back");
	return *(uint64_t *)tmp;
}

static int run(const struct scenario *s)
{
	int fd = open("/dev/ram0", O_RDWR | O_DIRECT);
	if (fd < 0)
		die(s->name, "open /dev/ram0");
	char *tmp = mmap(NULL, 2 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (tmp == MAP_FAILED)
		die(s->name, "mmap");
	/* The device's two blocks, written from kernel-placed pages. */
	fill(tmp, DEV0);
	fill(tmp + PAGE, DEV1);
	if (pwrite(fd, tmp, 2 * PAGE, 0) != (ssize_t)(2 * PAGE))
		die(s->name, "prepare the device");
	if (s->upgrade)
		fill(map_at(s, s->upgrade, PAGE), 0);
	char *decoy = s->decoy ? map_at(s, s->decoy, PAGE) : NULL;
	if (decoy)
		fill(decoy, DECOY);
	/* Every page written first, so gup_fast finds present, writable PTEs
	 * (the PROT_NONE scenario then takes their read bit away). */
	char *buf = map_at(s, s->buf, 2 * PAGE);
	const char *fate[2];
	ssize_t n;
	if (!s->write) {
		fill(buf, UNTOUCHED);
		fill(buf + PAGE, UNTOUCHED);
		n = pread(fd, buf, 2 * PAGE, 0);
		const uint64_t want[2] = { DEV0, DEV1 };
		for (int i = 0; i < 2; i++)
			fate[i] = holds(buf + i * PAGE, want[i]) ? "buffer"
				: decoy && holds(decoy, want[i]) ? "decoy" : "lost";
	} else {
		fill(buf, BUF0);
		fill(buf + PAGE, BUF1);
		/* Present PTEs without the read bit: PAGE_NONE. */
		if (s->prot_none && mprotect(buf, 2 * PAGE, PROT_NONE))
			die(s->name, "mprotect");
		n = pwrite(fd, buf, 2 * PAGE, 0);
		const uint64_t want[2] = { BUF0, BUF1 };
		for (int i = 0; i < 2; i++) {
			uint64_t got = block(s, fd, i, tmp);
			fate[i] = got == want[i] ? "buffer" : got == DECOY ? "decoy" : "lost";
		}
	}
	printf("linux-gup: %s: %s returned %zd; page 0: %s; page 1: %s\n", s->name,
	       s->write ? "write" : "read", n, fate[0], fate[1]);
	fflush(stdout);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 3 && !strcmp(argv[1], "run")) {
		for (size_t i = 0; i < sizeof(scenarios) / sizeof(scenarios[0]); i++)
			if (!strcmp(argv[2], scenarios[i].name))
				return run(&scenarios[i]);
		return 2;
	}
	/* PID 1: a console, /dev, then each scenario in a process of its own. */
	mkdir("/dev", 0755);
	if (mount("devtmpfs", "/dev", "devtmpfs", 0, NULL) && errno != EBUSY)
		perror("mount devtmpfs");
	int con = open("/dev/console", O_RDWR);
	if (con >= 0) {
		dup2(con, 1);
		dup2(con, 2);
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	printf("linux-gup: start\n");
	for (size_t i = 0; i < sizeof(scenarios) / sizeof(scenarios[0]); i++) {
		pid_t pid = fork();
		if (pid == 0) {
			char *args[] = { "/init", "run", (char *)scenarios[i].name, NULL };
			execv("/init", args);
			_exit(127);
		}
		int status = 0;
		waitpid(pid, &status, 0);
		if (!WIFEXITED(status) || WEXITSTATUS(status))
			printf("linux-gup: %s: error: the scenario's process ended with status %#x\n",
			       scenarios[i].name, status);
	}
	printf("linux-gup: done\n");
	fflush(stdout);
	sync();
	reboot(RB_POWER_OFF);
	return 0;
}
