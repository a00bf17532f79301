// SPDX-License-Identifier: MIT
/*
 * /init of the initramfs that measures Linux's gup_fast for foldkern's
 * benchmark: mount proc, sysfs and debugfs, load gupbench.ko, map and touch
 * the user range (1 MiB aligned, transparent huge pages off, so every call
 * walks PTEs as foldkern's benchmark does), then for every call and size take
 * the minimum of REPS measurements and print one line per figure between
 * BEGIN-LINUX and END-LINUX:  <call>,<pages>,<TOD units>
 * Any failure prints "gupbench: FAILED <step>: <errno>" and powers off.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/syscall.h>
#include <unistd.h>

struct gupbench_req {
	uint64_t start, nr_pages;
	uint32_t call, gup_flags;
	uint64_t tod_delta;
	int64_t ret;
};
#define GUPBENCH_IOCTL _IOWR('g', 1, struct gupbench_req)

enum { GET, PIN, GET_FAST_ONLY, PIN_FAST_ONLY };
#define FOLL_WRITE 0x01
#define FOLL_LONGTERM 0x10000
#define REPS 8
#define MAX_PAGES 65536UL
#define PAGE 4096UL

static void fail(const char *step)
{
	printf("gupbench: FAILED %s: %s\n", step, strerror(errno));
	fflush(stdout);
	reboot(RB_POWER_OFF);
	_exit(1);
}

int main(void)
{
	static const struct { const char *name; uint32_t call, flags; } calls[] = {
		{ "get_user_pages_fast", GET, FOLL_WRITE },
		{ "pin_user_pages_fast", PIN, FOLL_WRITE },
		{ "pin_user_pages_fast_longterm", PIN, FOLL_WRITE | FOLL_LONGTERM },
		{ "get_user_pages_fast_only", GET_FAST_ONLY, FOLL_WRITE },
		{ "pin_user_pages_fast_only", PIN_FAST_ONLY, FOLL_WRITE },
	};
	static const uint64_t sizes[] = { 1, 4, 16, 64, 256, 1024, 4096, 16384, 65536 };
	char *raw, *buf;
	int fd, mod;

	if (mount("proc", "/proc", "proc", 0, NULL) || mount("sysfs", "/sys", "sysfs", 0, NULL) ||
	    mount("debugfs", "/sys/kernel/debug", "debugfs", 0, NULL))
		fail("mount");
	mod = open("/gupbench.ko", O_RDONLY);
	if (mod < 0 || syscall(SYS_finit_module, mod, "", 0))
		fail("finit_module");
	raw = mmap(NULL, (MAX_PAGES + 256) * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (raw == MAP_FAILED)
		fail("mmap");
	buf = (char *)(((uintptr_t)raw + (1UL << 20) - 1) & ~((1UL << 20) - 1));
	if (madvise(buf, MAX_PAGES * PAGE, MADV_NOHUGEPAGE))
		fail("madvise");
	for (uint64_t i = 0; i < MAX_PAGES; i++)
		buf[i * PAGE] = 1;
	fd = open("/sys/kernel/debug/gupbench", O_RDWR);
	if (fd < 0)
		fail("open gupbench");
	printf("BEGIN-LINUX\n");
	for (unsigned c = 0; c < sizeof(calls) / sizeof(calls[0]); c++) {
		for (unsigned s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
			uint64_t best = UINT64_MAX;

			for (int r = 0; r < REPS; r++) {
				struct gupbench_req req = {
					.start = (uintptr_t)buf, .nr_pages = sizes[s],
					.call = calls[c].call, .gup_flags = calls[c].flags,
				};
				if (ioctl(fd, GUPBENCH_IOCTL, &req))
					fail("ioctl");
				if (req.ret != (int64_t)sizes[s]) {
					errno = req.ret < 0 ? (int)-req.ret : 0;
					printf("gupbench: %s of %lu pages took %ld\n", calls[c].name,
					       (unsigned long)sizes[s], (long)req.ret);
					fail("pages taken");
				}
				if (req.tod_delta < best)
					best = req.tod_delta;
			}
			printf("%s,%lu,%lu\n", calls[c].name, (unsigned long)sizes[s], (unsigned long)best);
		}
	}
	printf("END-LINUX\n");
	fflush(stdout);
	reboot(RB_POWER_OFF);
	return 0;
}
