// SPDX-License-Identifier: MIT OR GPL-2.0
/*
 * gupbench: time Linux's own gup_fast from inside the kernel, for
 * foldkern's side-by-side benchmark (docs/bench.md). A debugfs file takes
 * one ioctl per measurement: the user range, the page count, which call,
 * and FOLL_* flags. The module reads the TOD clock (STCKF) right before
 * and after the call, with pages[] allocated outside that window, drops
 * the references again, and returns the clock delta; under QEMU's
 * -icount shift=0 one TOD unit is 1/4.096 instruction.
 *
 * Dual MIT/GPL: the gup entry points are GPL-only exports.
 */
#include <linux/debugfs.h>
#include <linux/fs.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/slab.h>
#include <linux/uaccess.h>

struct gupbench_req {
	__u64 start;     /* user address */
	__u64 nr_pages;
	__u32 call;      /* GUPBENCH_* below */
	__u32 gup_flags; /* FOLL_WRITE, FOLL_LONGTERM */
	__u64 tod_delta; /* out: STCKF after - before */
	__s64 ret;       /* out: what the call returned */
};

enum { GUPBENCH_GET, GUPBENCH_PIN, GUPBENCH_GET_FAST_ONLY, GUPBENCH_PIN_FAST_ONLY };

#define GUPBENCH_IOCTL _IOWR('g', 1, struct gupbench_req)

static inline u64 stckf(void)
{
	u64 clk;

	asm volatile("stckf %0" : "=Q" (clk) : : "cc");
	return clk;
}

static long gupbench_ioctl(struct file *f, unsigned int cmd, unsigned long arg)
{
	struct gupbench_req req;
	struct page **pages;
	u64 t0, t1;
	long ret;

	if (cmd != GUPBENCH_IOCTL)
		return -ENOTTY;
	if (copy_from_user(&req, (void __user *)arg, sizeof(req)))
		return -EFAULT;
	if (req.nr_pages == 0 || req.nr_pages > (1UL << 20))
		return -EINVAL;
	pages = kvmalloc_array(req.nr_pages, sizeof(*pages), GFP_KERNEL);
	if (!pages)
		return -ENOMEM;
	switch (req.call) {
	case GUPBENCH_GET:
		t0 = stckf();
		ret = get_user_pages_fast(req.start, req.nr_pages, req.gup_flags, pages);
		t1 = stckf();
		break;
	case GUPBENCH_PIN:
		t0 = stckf();
		ret = pin_user_pages_fast(req.start, req.nr_pages, req.gup_flags, pages);
		t1 = stckf();
		break;
	case GUPBENCH_GET_FAST_ONLY:
		t0 = stckf();
		ret = get_user_pages_fast_only(req.start, req.nr_pages, req.gup_flags, pages);
		t1 = stckf();
		break;
	case GUPBENCH_PIN_FAST_ONLY:
		t0 = stckf();
		ret = pin_user_pages_fast_only(req.start, req.nr_pages, req.gup_flags, pages);
		t1 = stckf();
		break;
	default:
		kvfree(pages);
		return -EINVAL;
	}
	if (ret > 0) {
		long i;

		if (req.call == GUPBENCH_PIN || req.call == GUPBENCH_PIN_FAST_ONLY)
			unpin_user_pages(pages, ret);
		else
			for (i = 0; i < ret; i++)
				put_page(pages[i]);
	}
	kvfree(pages);
	req.tod_delta = t1 - t0;
	req.ret = ret;
	return copy_to_user((void __user *)arg, &req, sizeof(req)) ? -EFAULT : 0;
}

static const struct file_operations gupbench_fops = {
	.owner = THIS_MODULE,
	.unlocked_ioctl = gupbench_ioctl,
};

static struct dentry *gupbench_file;

static int __init gupbench_init(void)
{
	gupbench_file = debugfs_create_file("gupbench", 0600, NULL, NULL, &gupbench_fops);
	return IS_ERR(gupbench_file) ? PTR_ERR(gupbench_file) : 0;
}

static void __exit gupbench_exit(void)
{
	debugfs_remove(gupbench_file);
}

module_init(gupbench_init);
module_exit(gupbench_exit);
MODULE_LICENSE("Dual MIT/GPL");
MODULE_DESCRIPTION("Time gup_fast for foldkern's benchmark");
