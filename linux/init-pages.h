// SPDX-License-Identifier: MIT
// What both static inits of `./qemu-run.sh linux` (linux/gup-init.c for
// s390x, linux/arm64-init.c for arm64) do with a page: fill it with one
// 64-bit pattern, and test that it holds one. The includer defines PAGE, its
// architecture's page size.
#include <stdint.h>

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
